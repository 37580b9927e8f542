#!/usr/bin/env bash
# The Rust builds `make test` needs, ahead of the steps that use them (hack/test.sh starts this
# in the background at nice 19). Each is exactly the command its step runs — the same packages
# selected, so the same features and the same artifacts — in the order the steps come: clippy
# (lint), the unit and interop test harnesses (test-unit), the end-to-end harnesses and the
# binaries they and the demo run (test-e2e, demo-check), then the release binary the image
# test packages (hack/image/build.sh). A failure here only costs time: the step that needs the
# build runs it again and reports the error.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
CARGO=${CARGO:-cargo}
start=$SECONDS
run() {
  local t=$SECONDS
  echo "[prebuild] $*"
  "$@"
  echo "[prebuild] exit $? after $((SECONDS - t)) s: $*"
}
run "$CARGO" clippy --workspace --all-targets -- -D warnings
run "$CARGO" test --workspace --exclude provenance-e2e --no-run
run "$CARGO" test -p provenance-e2e --no-run
run "$CARGO" build --quiet --bin provenance-auditor
run "$CARGO" build --quiet -p provenance-auditor -p sigstore-forge --bins
run "$CARGO" build --quiet --release --locked -p provenance-auditor --bin provenance-auditor
echo "[prebuild] done after $((SECONDS - start)) s"
