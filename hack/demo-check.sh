#!/usr/bin/env bash
# make demo-check: CI's proof that `make demo` works from a fresh clone.
#
# Removes exactly the two binaries the demo runs, so the demo must build them itself (a missing
# build step fails here instead of passing on a stale binary), runs hack/demo.sh, and checks its
# final table: the five demo sources with their expected verdicts, and the table fits a
# 160-column terminal. Then stops the demo's controller, Prometheus and chart repository (the e2e tests share the
# stack and must not race a second controller); the stack itself stays up for `make stack-down`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. hack/stack/lib.sh
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
# Not a cold rebuild (minutes of dependencies on a 2-core machine, every CI run): the
# demo's own binaries are what a missing build step would leave stale.
rm -f "$TARGET/debug/provenance-auditor" "$TARGET/debug/sigstore-forge"
out=$(mktemp)
cleanup() {
  # The demo leaves its add-ons running on purpose; a check must not.
  [ -d "$PIDS" ] && { stop_component demo-controller; stop_component demo-prometheus; stop_component demo-charts; stop_component demo-receiver; }
  rm -f "$out"
}
trap cleanup EXIT
hack/demo.sh | tee "$out"
load_env
PATH=$(dirname "$(hack/tools.sh path kubectl)"):$PATH
# What a user sees without the other namespaces the e2e tests may still be deleting.
table=$(kubectl --kubeconfig "$KUBECONFIG_ADMIN" get sourceaudits -A --field-selector metadata.namespace=demo)
python3 hack/demo-table.py "$out" <<<"$table"
# The Report: the two verified sources pass signature and identity; unsigned fails the
# signature, wrong-identity the identity. And the notifications: exactly those two as errors.
report=$(kubectl --kubeconfig "$KUBECONFIG_ADMIN" -n demo get reports.openreports.io provenance-auditor -o json)
for want in key-signed:signature:pass key-signed:identity:pass keyless-signed:signature:pass \
  keyless-signed:identity:pass unsigned:signature:fail wrong-identity:identity:fail; do
  IFS=: read -r src rule result <<<"$want"
  got=$(jq -r --arg s "$src" --arg r "$rule" '.results[] | select(.resources[0].kind == "OCIRepository"
    and .resources[0].name == $s and .rule == $r) | .result' <<<"$report")
  [ "$got" = "$result" ] || { echo "demo-check: Report: $src $rule is '$got', expected $result" >&2; exit 1; }
done
errors=$(jq -rs '[.[] | select(.severity == "error") | .reason + ":" + .involvedObject.name] | sort | join(" ")' \
  "$STACK_DIR/demo/notifications.jsonl")
case $errors in
  *ProvenanceIdentityMismatch:wrong-identity*ProvenanceUnsigned:unsigned*) ;;
  *) echo "demo-check: error notifications [$errors], expected wrong-identity and unsigned" >&2; exit 1 ;;
esac
case $errors in *key-signed*) echo "demo-check: a verified source sent an error notification: $errors" >&2; exit 1 ;; esac
grep -Eq '^  total [0-9]+m[0-9]{2}s$' "$out" || { echo "demo-check: the demo did not print its total time" >&2; exit 1; }
echo "demo-check: the demo built its binaries, printed the five expected verdicts, its Report and the Flux notifications"
