#!/usr/bin/env bash
# make bench-controller: 1,000 OCIRepositories over 100 cosign-signed artifacts on the local stack.
# The sources are suspended (source-controller leaves them alone) and their Flux status is set by
# this script, so only the auditor works. Measures: time from controller start until all 1,000
# SourceAudits say Verified=True, registry requests, peak RSS, and CPU and registry requests
# during a steady state of resyncs compressed to a 10 s interval, with the re-verify interval
# compressed too (BENCH_REVERIFY_SECONDS, default 30): the steady-state cost of re-verification is
# reported as registry requests per distinct (repository, digest) per re-verify interval.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N_ART=${BENCH_ARTIFACTS:-100}
N_SRC=${BENCH_SOURCES:-1000}
STEADY=${BENCH_STEADY_SECONDS:-90}
REVERIFY=${BENCH_REVERIFY_SECONDS:-30}
NS=bench-controller
say() { printf '[bench] %s\n' "$*"; }

make --no-print-directory stack-up >/dev/null
. "${STACK_DIR:-$ROOT/.stack}/env"
COSIGN=$(hack/tools.sh path cosign)
K="kubectl --kubeconfig $KUBECONFIG_ADMIN"
# BENCH_PROFILE=debug measures request counts without a release build (timings then mean less).
PROFILE=${BENCH_PROFILE:-release}
say "building the $PROFILE binaries…"
cargo build --profile "$([ "$PROFILE" = debug ] && echo dev || echo "$PROFILE")" --quiet \
  -p provenance-auditor -p sigstore-forge --bins
PA=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/provenance-auditor
FORGE=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/sigstore-forge

work=$(mktemp -d)
ctl_pid=
cleanup() {
  [ -n "$ctl_pid" ] && kill "$ctl_pid" 2>/dev/null && wait "$ctl_pid" 2>/dev/null
  $K delete namespace $NS --wait=false >/dev/null 2>&1 || true
  $K delete provenancepolicy bench-controller >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

say "pushing and signing $N_ART artifacts…"
(cd "$work" && COSIGN_PASSWORD= "$COSIGN" generate-key-pair >/dev/null 2>&1)
: >"$work/digests"
for i in $(seq 0 $((N_ART - 1))); do
  echo "bench artifact $i $RANDOM" >"$work/c$i"
  d=$("$FORGE" push-artifact "$REGISTRY/bench/app$i:v1" "$work/c$i")
  echo "$d" >>"$work/digests"
  echo "$REGISTRY/bench/app$i@$d"
done | (cd "$work" && COSIGN_PASSWORD= HOME=$work xargs -P 2 -I{} "$COSIGN" sign --yes --key cosign.key \
  --tlog-upload=false --use-signing-config=false {} >/dev/null 2>&1)

say "creating $N_SRC suspended OCIRepositories with a Flux status…"
$K apply --server-side -f config/crd/bases >/dev/null
$K create namespace $NS >/dev/null
$K -n $NS create secret generic cosign-pub --from-file=cosign.pub="$work/cosign.pub" >/dev/null
$K apply --server-side -f - >/dev/null <<YAML
apiVersion: provenance.dev/v1alpha1
kind: ProvenancePolicy
metadata: {name: bench-controller}
spec:
  match: {namespaces: [$NS]}
  verify: {provider: cosign, secretRef: {namespace: $NS, name: cosign-pub}}
YAML
mapfile -t DIGESTS <"$work/digests"
for s in $(seq 0 $((N_SRC - 1))); do
  a=$((s % N_ART))
  printf -- '---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata: {name: src%s, namespace: %s}\nspec: {url: "oci://%s/bench/app%s", ref: {tag: v1}, interval: 10m, suspend: true, insecure: true}\n' \
    "$s" "$NS" "$REGISTRY" "$a"
done >"$work/sources.yaml"
$K apply --server-side -f "$work/sources.yaml" >/dev/null
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for s in $(seq 0 $((N_SRC - 1))); do
  d=${DIGESTS[$((s % N_ART))]}
  printf '%s\t{"status":{"observedGeneration":1,"artifact":{"revision":"v1@%s","digest":"sha256:%064d","path":"p/%s.tar.gz","url":"http://127.0.0.1/p/%s.tar.gz","lastUpdateTime":"%s","size":1},"conditions":[{"type":"Ready","status":"True","reason":"Succeeded","message":"stored artifact for digest v1@%s","lastTransitionTime":"%s","observedGeneration":1}]}}\n' \
    "src$s" "$d" 0 "$s" "$s" "$now" "$d" "$now"
done | xargs -P 4 -L 1 -d '\n' bash -c 'IFS=$'"'"'\t'"'"' read -r name patch <<<"$0"; '"$K"' -n '"$NS"' patch ocirepository "$name" --subresource=status --type=merge -p "$patch" >/dev/null'

reg_log=$STACK_LOGS/registry.log
requests() { grep -c 'response completed' "$reg_log" || true; }
# Progress from the controller's own metrics (cheap); the API objects are checked once at the end.
verified() {
  curl -fs "http://127.0.0.1:$port/metrics" 2>/dev/null \
    | grep -c "^provenance_source_verified{.*namespace=\"$NS\".*reason=\"Verified\".*} 1" || true
}
audits_verified() {
  $K -n $NS get sourceaudits -o json \
    | jq '[.items[] | select(any(.status.conditions[]?; .type == "Verified" and .status == "True"))] | length'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
say "starting the controller (resync 10s, re-verify ${REVERIFY}s) with the chart's least-privilege identity…"
r0=$(requests); t0=$(date +%s.%N)
"$PA" run --kubeconfig "$KUBECONFIG_AUDITOR" --resync-interval 10s --concurrency 16 \
  --reverify-interval "${REVERIFY}s" --metrics-addr "127.0.0.1:$port" >"$work/controller.log" 2>&1 &
ctl_pid=$!
deadline=$((SECONDS + 600))
while :; do
  v=$(verified)
  [ "${v:-0}" -ge "$N_SRC" ] && break
  [ $SECONDS -ge $deadline ] && { say "timed out with $v/$N_SRC verified"; tail -20 "$work/controller.log"; exit 1; }
  kill -0 "$ctl_pid" 2>/dev/null || { say "controller exited"; tail -20 "$work/controller.log"; exit 1; }
  sleep 0.5  # polling interval of the wait loop (bounded by the deadline above)
done
t1=$(date +%s.%N); r1=$(requests)
a=$(audits_verified)
[ "$a" -ge "$N_SRC" ] || { say "metrics say $N_SRC verified but only $a SourceAudits say so"; exit 1; }
say "all $N_SRC audits Verified; steady state for ${STEADY}s of 10-second resyncs…"
c0=$(cpu_ticks "$ctl_pid"); r2=$(requests)
sleep "$STEADY"  # the measurement window itself, not a wait for a condition
c1=$(cpu_ticks "$ctl_pid"); r3=$(requests)
rss=$(awk '/VmHWM/ {print $2}' "/proc/$ctl_pid/status")
hz=$(getconf CLK_TCK)
python3 - "$N_SRC" "$N_ART" "$t0" "$t1" "$r0" "$r1" "$r2" "$r3" "$c0" "$c1" "$hz" "$rss" "$STEADY" "$REVERIFY" <<'PY'
import sys
n_src, n_art = int(sys.argv[1]), int(sys.argv[2])
t0, t1, r0, r1, r2, r3, c0, c1, hz, rss, steady, reverify = map(float, sys.argv[3:])
print(f"\nbench-controller: {n_src} OCIRepositories over {n_art} cosign-signed artifacts, local stack")
print(f"  all audits Verified after      {t1 - t0:8.1f} s from controller start")
print(f"  registry requests until then   {int(r1 - r0):8d} ({(r1 - r0) / n_art:.2f} per distinct artifact)")
print(f"  peak RSS                       {rss / 1024:8.1f} MiB")
print(f"  steady state, {int(steady)} s of 10 s resyncs: CPU {100 * (c1 - c0) / hz / steady:.1f}% of one core, registry requests {int(r3 - r2)}")
print(f"  re-verification, every {int(reverify)} s:   {(r3 - r2) / n_art / (steady / reverify):8.2f} registry requests per distinct (repository, digest) per interval")
PY
