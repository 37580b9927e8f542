#!/usr/bin/env bash
# make bench-verify: N (default 100) Flux artifacts signed by real cosign v3 (key, bundle format)
# in a local docker-registry; `provenance-auditor verify` over all of them vs `cosign verify` over
# the same references, side by side in one run. Registry requests are counted from the
# registry's own access log, for both tools alike.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${BENCH_N:-100}
COSIGN=$("$ROOT/hack/tools.sh" path cosign)
[ -x "$COSIGN" ] || "$ROOT/hack/tools.sh" cosign

echo "[bench] building release binaries…"
(cd "$ROOT" && cargo build --release --quiet -p provenance-auditor -p sigstore-forge --bins)
PA=${CARGO_TARGET_DIR:-$ROOT/target}/release/provenance-auditor
FORGE=${CARGO_TARGET_DIR:-$ROOT/target}/release/sigstore-forge

work=$(mktemp -d)
reg_pid=
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
host=127.0.0.1:$port

echo "[bench] pushing and signing $N artifacts with cosign (bundle format)…"
(cd "$work" && COSIGN_PASSWORD= "$COSIGN" generate-key-pair >/dev/null 2>&1)
refs=()
for i in $(seq "$N"); do
  echo "artifact $i $RANDOM" >"$work/content-$i"
  d=$("$FORGE" push-artifact "$host/bench/app$i:v1" "$work/content-$i")
  refs+=("$host/bench/app$i@$d")
done
printf '%s\n' "${refs[@]}" | (cd "$work" && COSIGN_PASSWORD= HOME=$work xargs -P 2 -I{} "$COSIGN" sign --yes --key cosign.key \
  --tlog-upload=false --use-signing-config=false {} >/dev/null 2>&1)

count() { grep -cE '"(GET|HEAD|POST|PUT|PATCH) /v2/' "$work/registry.log" || true; }
now() { date +%s.%N; }

# provenance-auditor: all references in one process (verified concurrently).
r0=$(count); t0=$(now)
/usr/bin/time -f '%U %S' -o "$work/pa.cpu" "$PA" verify --key "$work/cosign.pub" --concurrency "${BENCH_CONCURRENCY:-32}" -o json "${refs[@]}" >"$work/pa.json"
t1=$(now); r1=$(count)
verified=$(jq '[.results[] | select(.verdict == "Verified")] | length' "$work/pa.json")
# One digest-pinned verification on its own (a fresh process: includes the referrers-API probe).
r2=$(count); "$PA" verify --key "$work/cosign.pub" -o json "${refs[0]}" >/dev/null; r3=$(count)

# cosign: the same references in one process.
c0=$(count); t2=$(now)
(cd "$work" && HOME=$work /usr/bin/time -f '%U %S' -o "$work/cb.cpu" "$COSIGN" verify --key cosign.pub --insecure-ignore-tlog "${refs[@]}" >/dev/null 2>"$work/cosign.err") \
  || { echo "[bench] cosign verify failed:"; tail -5 "$work/cosign.err"; exit 1; }
t3=$(now); c1=$(count)
# cosign: one invocation per artifact, as scripts and CI loops run it.
c2=$(count); t4=$(now)
for r in "${refs[@]}"; do
  (cd "$work" && HOME=$work /usr/bin/time -a -f '%U %S' -o "$work/cp.cpu" "$COSIGN" verify --key cosign.pub --insecure-ignore-tlog "$r" >/dev/null 2>&1) || { echo "[bench] cosign verify $r failed"; exit 1; }
done
t5=$(now); c3=$(count)

cpu() { awk '{u += $1 + $2} END {printf "%.3f", u}' "$1"; }
python3 - "$N" "$verified" "$t0" "$t1" "$r0" "$r1" "$r2" "$r3" "$t2" "$t3" "$c0" "$c1" "$t4" "$t5" "$c2" "$c3" "$(cpu "$work/pa.cpu")" "$(cpu "$work/cp.cpu")" "$(cpu "$work/cb.cpu")" <<'PY'
import sys
n, verified = int(sys.argv[1]), int(sys.argv[2])
t0, t1, r0, r1, r2, r3, t2, t3, c0, c1, t4, t5, c2, c3, pa_cpu, cp_cpu, cb_cpu = map(float, sys.argv[3:])
pa_cpu, cp_cpu, cb_cpu = (x * 1000 / n for x in (pa_cpu, cp_cpu, cb_cpu))
pa_ms, cb_ms, cp_ms = (t1 - t0) * 1000 / n, (t3 - t2) * 1000 / n, (t5 - t4) * 1000 / n
print(f"\nbench-verify: {n} cosign-signed (key, bundle format) Flux artifacts, digest-pinned, local docker-registry")
print(f"{'':38}{'wall/artifact':>14}{'ratio':>8}{'client CPU/artifact':>21}{'ratio':>8}{'requests/verification':>23}")
print(f"{'provenance-auditor (one run, all refs)':38}{pa_ms:>11.1f} ms{'':>8}{pa_cpu:>18.2f} ms{'':>8}{(r1 - r0) / n:>23.2f}")
print(f"{'cosign verify (one run per artifact)':38}{cp_ms:>11.1f} ms{cp_ms / pa_ms:>7.1f}x{cp_cpu:>18.2f} ms{cp_cpu / pa_cpu:>7.1f}x{(c3 - c2) / n:>23.2f}")
print(f"{'cosign verify (one run, all refs)':38}{cb_ms:>11.1f} ms{cb_ms / pa_ms:>7.1f}x{cb_cpu:>18.2f} ms{cb_cpu / pa_cpu:>7.1f}x{(c1 - c0) / n:>23.2f}")
print("wall time is bound by the registry's own CPU (Debian docker-registry, same 2 cores) for both tools")
print(f"provenance-auditor, a single digest-pinned ref in a fresh process: {int(r3 - r2)} requests (incl. the one-time referrers-API probe)")
print(f"verified by provenance-auditor: {verified}/{n}")
if verified != n:
    sys.exit("not every artifact verified")
PY
if [ -n "${BENCH_KEEP:-}" ]; then
  printf '%s\n' "${refs[@]}" >"$work/refs"
  echo "[bench] kept $work (registry stopped; restart: docker-registry serve $work/registry.yml)"
fi
