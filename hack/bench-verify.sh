#!/usr/bin/env bash
# make bench-verify: N (default 100) Flux artifacts signed by real cosign v3 (key, bundle format)
# in a local docker-registry; `provenance-auditor verify` over all of them vs `cosign verify` over
# the same references, side by side in one run. Registry requests are counted from the
# registry's own access log, for both tools alike. Then N more artifacts, each signed AND
# attested (an SPDX SBOM and SLSA provenance v1, `cosign attest --key`): the requests per
# artifact with attestations present, and with the provenance required (`--attestation`):
# bundle attestations are found in the referrer list already fetched for the signature (no
# request more); requiring one adds at most the probe of the legacy `.att` tag.
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

echo "[bench] pushing $N more artifacts, signed and attested (SBOM + SLSA provenance) with cosign…"
cat >"$work/sbom.json" <<'JSON'
{"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "bench",
 "documentNamespace": "https://example.com/spdx/bench",
 "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: syft-1.20.0"]},
 "packages": [{"SPDXID": "SPDXRef-Package-0", "name": "pkg-0", "versionInfo": "1.0.0", "downloadLocation": "NOASSERTION"}]}
JSON
cat >"$work/provenance.json" <<'JSON'
{"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1",
  "externalParameters": {"workflow": {"repository": "https://github.com/example/app", "path": ".github/workflows/release.yml", "ref": "refs/tags/v1.2.3"}},
  "resolvedDependencies": [{"uri": "git+https://github.com/example/app@refs/tags/v1.2.3", "digest": {"gitCommit": "4f2e1c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e"}}]},
 "runDetails": {"builder": {"id": "https://github.com/example/app/.github/workflows/release.yml@refs/tags/v1.2.3"},
  "metadata": {"invocationId": "https://github.com/example/app/actions/runs/1/attempts/1"}}}
JSON
arefs=()
for i in $(seq "$N"); do
  echo "attested artifact $i $RANDOM" >"$work/acontent-$i"
  d=$("$FORGE" push-artifact "$host/bench/att$i:v1" "$work/acontent-$i")
  arefs+=("$host/bench/att$i@$d")
done
flags=(--yes --key cosign.key --tlog-upload=false --use-signing-config=false)
export COSIGN FLAGS="${flags[*]}"
printf '%s\n' "${arefs[@]}" | (cd "$work" && COSIGN_PASSWORD= HOME=$work xargs -P 2 -I{} sh -c \
  '"$COSIGN" sign $FLAGS "$1" && "$COSIGN" attest $FLAGS --type spdxjson --predicate sbom.json "$1" &&
   "$COSIGN" attest $FLAGS --type slsaprovenance1 --predicate provenance.json "$1"' _ {} >/dev/null 2>&1) ||
  { echo "[bench] cosign sign/attest failed"; exit 1; }
a0=$(count)
"$PA" verify --key "$work/cosign.pub" --concurrency "${BENCH_CONCURRENCY:-32}" -o json "${arefs[@]}" >"$work/pa-att.json"
a1=$(count)
averified=$(jq '[.results[] | select(.verdict == "Verified")] | length' "$work/pa-att.json")
# The same with the provenance required, when this build's CLI knows attestations.
if "$PA" verify --help 2>/dev/null | grep -q -- '--attestation'; then
  a2=$(count)
  "$PA" verify --key "$work/cosign.pub" --attestation slsaprovenance1 --concurrency "${BENCH_CONCURRENCY:-32}" -o json "${arefs[@]}" >"$work/pa-req.json" ||
    { echo "[bench] verify --attestation slsaprovenance1 failed:"; head -c 2000 "$work/pa-req.json"; exit 1; }
  a3=$(count)
else
  echo "[bench] this build's verify has no --attestation flag: the required-provenance row is skipped"
  a2=0 a3=-1
fi

cpu() { awk '{u += $1 + $2} END {printf "%.3f", u}' "$1"; }
python3 - "$N" "$verified" "$t0" "$t1" "$r0" "$r1" "$r2" "$r3" "$t2" "$t3" "$c0" "$c1" "$t4" "$t5" "$c2" "$c3" "$(cpu "$work/pa.cpu")" "$(cpu "$work/cp.cpu")" "$(cpu "$work/cb.cpu")" "$averified" "$a0" "$a1" "$a2" "$a3" <<'PY'
import sys
n, verified = int(sys.argv[1]), int(sys.argv[2])
t0, t1, r0, r1, r2, r3, t2, t3, c0, c1, t4, t5, c2, c3, pa_cpu, cp_cpu, cb_cpu = map(float, sys.argv[3:20])
averified = int(sys.argv[20])
a0, a1, a2, a3 = map(float, sys.argv[21:25])
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
signed, attested = (r1 - r0) / n, (a1 - a0) / n
print(f"\nwith attestations (provenance-auditor, one run, all refs; requests/verification):")
print(f"  signed only{signed:>45.2f}")
print(f"  signed + SPDX SBOM + SLSA provenance{attested:>20.2f}")
if a3 >= 0:
    required = (a3 - a2) / n
    print(f"  same, provenance required (--attestation){required:>15.2f}  (+{required - attested:.2f}: the legacy .att tag, read only when required; must be at most 1)")
print(f"verified with attestations present: {averified}/{n} (an attestation never changes the signature verdict)")
if verified != n:
    sys.exit("not every artifact verified")
if averified != n:
    sys.exit("not every signed and attested artifact verified")
# Bundle attestations come from the referrer list already read for the signature: requiring
# one may add only the probe of cosign v2's legacy `sha256-<hex>.att` tag.
if a3 >= 0 and (a3 - a2) - (a1 - a0) > n:
    sys.exit("requiring the provenance cost more than the .att tag beyond the signature's discovery")
PY
if [ -n "${BENCH_KEEP:-}" ]; then
  printf '%s\n' "${refs[@]}" >"$work/refs"
  echo "[bench] kept $work (registry stopped; restart: docker-registry serve $work/registry.yml)"
fi
