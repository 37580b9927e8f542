#!/usr/bin/env bash
# make test: every check, in order, stopping at the first that fails; each step's wall time
# and the total printed at the end.
#
# The Rust builds the later steps need (the dev-profile binaries and test harnesses, and the
# release binary the image test packages) start at once in the background at the lowest CPU
# priority (hack/prebuild.sh). They take the cycles the foreground leaves idle: Go links and
# module downloads while the tools build, the end-to-end tests' waits on controllers. A
# foreground step that needs one of those builds waits for it on cargo's own lock of the
# profile's directory, then finds it done. The background build ends with this script,
# whatever its outcome. PREBUILD=0 turns it off.
#
# Env: TEST_STEPS (default: all of them, in order), PREBUILD (default 1).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit
MAKE=${MAKE:-make}
STEPS=${TEST_STEPS:-tools lint test-alerts test-unit chart-check test-e2e demo-check}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$TARGET"

prebuild_pid=
T0=$SECONDS
TIMES=()
finish() {
  local rc=$?
  if [ -n "$prebuild_pid" ] && kill -0 "$prebuild_pid" 2>/dev/null; then
    # Its own process group (setsid): end the cargo and rustc processes under it too.
    kill -TERM -- "-$prebuild_pid" 2>/dev/null || true
  fi
  printf '\n[test] step times:\n' >&2
  for t in "${TIMES[@]}"; do printf '[test]   %s\n' "$t" >&2; done
  printf '[test] total %dm%02ds (%s)\n' $(((SECONDS - T0) / 60)) $(((SECONDS - T0) % 60)) \
    "$([ "$rc" = 0 ] && echo passed || echo "failed, exit $rc")" >&2
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

if [ "${PREBUILD:-1}" = 1 ]; then
  printf '[test] building the Rust targets in the background (nice 19; log %s)\n' \
    "$TARGET/prebuild.log" >&2
  setsid nice -n 19 "$ROOT/hack/prebuild.sh" >"$TARGET/prebuild.log" 2>&1 </dev/null &
  prebuild_pid=$!
fi

for step in $STEPS; do
  t=$SECONDS
  printf '\n[test] == make %s\n' "$step" >&2
  "$MAKE" --no-print-directory "$step"
  rc=$?
  TIMES+=("$(printf '%-12s %3dm%02ds%s' "$step" $(((SECONDS - t) / 60)) $(((SECONDS - t) % 60)) \
    "$([ "$rc" = 0 ] || echo "  FAILED")")")
  [ "$rc" = 0 ] || exit "$rc"
done
