#!/usr/bin/env bash
# make bench-controller: BENCH_SOURCES (default 1,000) OCIRepositories over BENCH_ARTIFACTS
# (default 100) keyless-signed artifacts on the local stack, the controller at its default
# resync and re-verify intervals.
#
# The sources are suspended (source-controller leaves them alone) and their Flux status is set by
# this script, so only the auditor works. Set-up is batched: artifacts are pushed and statuses
# written by one client (hack/bench-controller.py), signed by a few `sigstore-forge sign-many`
# processes (a private Sigstore: keyless bundles, like CI signing), never one process per object.
#
# Measures (printed as a table):
# - time from controller start until every audit says Verified=True, peak RSS, controller and
#   kube-apiserver CPU, API requests per source by verb/resource (kube-apiserver's own
#   apiserver_request_total, before/after), writes per source, registry requests;
# - steady state at the default resync (BENCH_STEADY_SECONDS): controller CPU, API requests and
#   registry requests while nothing changes;
# - policy churn: one ProvenancePolicy matching every source edited without changing its
#   fingerprint: time until every source was re-audited, registry requests (should be 0), and
#   the controller CPU per (no-op) reconcile it cost;
# - change latency: BENCH_CHANGES new signed revisions spread over BENCH_CHANGE_SECONDS, from the
#   OCIRepository watch event to the SourceAudit watch event showing the new digest;
# - re-verification: one round of the scheduled re-check of every verdict after a restart (the
#   controller remembers nothing of what it read, so every artifact is read again, paced per
#   registry: time, registry requests, writes, CPU), then one interval of the steady re-check
#   round with nothing changed (HEADs only): registry requests and manifest GETs per verdict,
#   from the registry's own access log, the round's spread over the interval, writes and CPU;
#   reported apart from the steady state.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N_ART=${BENCH_ARTIFACTS:-100}
N_SRC=${BENCH_SOURCES:-1000}
STEADY=${BENCH_STEADY_SECONDS:-60}
N_CHG=${BENCH_CHANGES:-100}
# How long the controller gets to verify every source (BENCH_DEADLINE_SECONDS, default 900).
CHG_SECONDS=${BENCH_CHANGE_SECONDS:-60}
NS=bench-controller
ISSUER=https://token.actions.githubusercontent.com
SIGNER=https://github.com/bench/app/.github/workflows/release.yml@refs/heads/main
say() { printf '[bench] %s %s\n' "$(date -u +%T)" "$*"; }
T_BEGIN=$SECONDS

make --no-print-directory stack-up >/dev/null
set -a; . "${STACK_DIR:-$ROOT/.stack}/env"; set +a  # exported: the Python client reads KUBECONFIG_ADMIN
K="kubectl --kubeconfig $KUBECONFIG_ADMIN"
PY="python3 $ROOT/hack/bench-controller.py"
# BENCH_PROFILE=debug measures request counts without a release build (timings then mean less).
PROFILE=${BENCH_PROFILE:-release}
say "building the $PROFILE controller (and the debug sigstore-forge, set-up only)…"
# BENCH_BINARY: a controller binary built earlier (e.g. the one before a change, for a before/after).
if [ -z "${BENCH_BINARY:-}" ]; then
  cargo build --profile "$([ "$PROFILE" = debug ] && echo dev || echo "$PROFILE")" --quiet \
    -p provenance-auditor --bin provenance-auditor
fi
cargo build --quiet -p sigstore-forge --bin sigstore-forge
PA=${BENCH_BINARY:-${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/provenance-auditor}
FORGE=${CARGO_TARGET_DIR:-$ROOT/target}/debug/sigstore-forge
# The bench's own time starts here: the stack is up and the binaries are built.
T_BUILT=$SECONDS

work=$(mktemp -d)
ctl_pid=
cleanup() {
  [ -n "$ctl_pid" ] && kill "$ctl_pid" 2>/dev/null && wait "$ctl_pid" 2>/dev/null
  $K delete namespace $NS --wait=false >/dev/null 2>&1 || true
  $K delete provenancepolicy bench-controller >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# A previous run's namespace must be gone before its sources are created again.
if $K get namespace $NS >/dev/null 2>&1; then
  $K delete namespace $NS --timeout=300s >/dev/null
fi

say "pushing $N_ART artifacts and $N_CHG new revisions, signing them keyless…"
"$FORGE" init "$work/forge" >/dev/null
$PY push "$REGISTRY" "$N_ART" v1 >"$work/digests"
$PY push "$REGISTRY" "$N_CHG" v2 "$N_ART" >"$work/changes"
cat "$work/digests" "$work/changes" | split -n r/4 - "$work/tosign."
for f in "$work"/tosign.*; do
  "$FORGE" sign-many --dir "$work/forge" --identity "$SIGNER" --issuer "$ISSUER" <"$f" >/dev/null &
done
wait

say "creating $N_SRC suspended OCIRepositories with a Flux status…"
$K apply --server-side --force-conflicts -f config/crd/bases >/dev/null
$K create namespace $NS >/dev/null
$K -n $NS create secret generic trusted-root --from-file=trusted_root.json="$work/forge/trusted_root.json" >/dev/null
policy() {
  $K apply --server-side -f - >/dev/null <<YAML
apiVersion: provenance.dev/v1alpha1
kind: ProvenancePolicy
metadata: {name: bench-controller}
spec:
  match: {namespaces: [$1]}
  verify:
    provider: cosign
    matchOIDCIdentity: [{issuer: "^https://token\\\\.actions\\\\.githubusercontent\\\\.com\$", subject: "^https://github\\\\.com/bench/app/"}]
    trustedRootSecretRef: {namespace: $NS, name: trusted-root}
YAML
}
policy "$NS"
$PY sources $NS "$N_SRC" "$REGISTRY" "$work/digests"
T_SETUP=$((SECONDS - T_BUILT))

reg_log=$STACK_LOGS/registry.log
requests() { grep -c 'response completed' "$reg_log" || true; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
scrape() { curl -fs "http://127.0.0.1:$port/metrics" 2>/dev/null || true; }
# Progress from the controller's own metrics (cheap); the API objects are checked once at the end.
verified() { scrape | grep -c "^provenance_source_verified{.*namespace=\"$NS\".*reason=\"Verified\".*} 1" || true; }
reconciles() { scrape | awk '/^provenance_reconciles_total / {print $2}'; }
audits_verified() {
  $K -n $NS get sourceaudits -o json \
    | jq '[.items[] | select(any(.status.conditions[]?; .type == "Verified" and .status == "True"))] | length'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
apiserver_pid=$(awk '{print $1}' "$STACK_DIR/pids/kube-apiserver.pid")
# A snapshot: time, controller CPU ticks, kube-apiserver CPU ticks, registry requests, reconciles,
# and kube-apiserver's request counters (a JSON file).
snap() {
  local n=$1
  echo "$(date +%s.%N) $(cpu_ticks "$ctl_pid") $(cpu_ticks "$apiserver_pid") $(requests) $(reconciles)" >"$work/snap.$n"
  $PY apiserver-metrics >"$work/api.$n"
}

say "set-up took ${T_SETUP}s; starting the controller (default resync and re-verify) with the chart's least-privilege identity…"
"$PA" run --kubeconfig "$KUBECONFIG_AUDITOR" --concurrency 16 \
  --metrics-addr "127.0.0.1:$port" >"$work/controller.log" 2>&1 &
ctl_pid=$!
snap start
# BENCH_APISERVER_PROFILE=FILE (with a stack started with STACK_APISERVER_PROFILING=true): a 30 s
# CPU profile of kube-apiserver from controller start (`go tool pprof -top FILE`).
if [ -n "${BENCH_APISERVER_PROFILE:-}" ]; then
  $K get --raw '/debug/pprof/profile?seconds=30' >"$BENCH_APISERVER_PROFILE" &
fi
deadline=$((SECONDS + ${BENCH_DEADLINE_SECONDS:-900}))
while :; do
  v=$(verified)
  [ "${v:-0}" -ge "$N_SRC" ] && break
  [ $SECONDS -ge $deadline ] && { say "timed out with $v/$N_SRC verified"; tail -20 "$work/controller.log"; exit 1; }
  kill -0 "$ctl_pid" 2>/dev/null || { say "controller exited"; tail -20 "$work/controller.log"; exit 1; }
  # Polling interval of the wait loop (bounded by the deadline above): each poll renders the
  # whole /metrics page (megabytes at 10,000 sources), which is controller CPU and memory.
  sleep 1
done
snap verified
a=$(audits_verified)
[ "$a" -ge "$N_SRC" ] || { say "metrics say $N_SRC verified but only $a SourceAudits say so"; exit 1; }

say "all $N_SRC audits Verified; steady state for ${STEADY}s…"
sleep 5  # let the last status writes and events of the initial audit land outside the window
snap steady0
sleep "$STEADY"  # the measurement window itself, not a wait for a condition
snap steady1
# What one Prometheus scrape costs the controller (outside the steady-state window).
scrape_cpu0=$(cpu_ticks "$ctl_pid")
for _ in 1 2 3 4 5; do scrape >"$work/metrics.txt"; done
scrape_cpu1=$(cpu_ticks "$ctl_pid")
scrape_bytes=$(wc -c <"$work/metrics.txt")

say "policy churn: editing the policy (its fingerprint unchanged for every source)…"
r_before=$(reconciles)
policy "$NS, bench-elsewhere"
snap churn0
deadline=$((SECONDS + 300))
while [ "$(echo "$(reconciles) - $r_before < $N_SRC" | bc)" = 1 ]; do
  [ $SECONDS -ge $deadline ] && { say "policy churn: not every source re-audited after 300 s"; break; }
  sleep 1  # polling interval of the wait loop (bounded by the deadline above; see above)
done
snap churn1

say "change latency: $N_CHG new revisions over ${CHG_SECONDS}s…"
snap change0
$PY latency $NS "$N_CHG" "$CHG_SECONDS" "$work/changes" >"$work/latency.json"
snap change1
rss=$(awk '/VmHWM/ {print $2}' "/proc/$ctl_pid/status")

# The scheduled re-verification (every verdict checked against the registry again once per
# --reverify-interval, 1 h by default) is the steady state's one periodic cost, reported apart:
# one round of it, by restarting the controller with a 120 s interval once the last verdict is
# older than that, so that every verdict is due at once, and none twice before the round ends.
# Done when every audit's status was written again (its lastVerifiedTime moves), counted by
# kube-apiserver, and every verdict in use was asked about again (the registry's log).
REVERIFY=120
say "re-verification: one round of re-checking every verdict (restart with --reverify-interval ${REVERIFY}s, once the last verdict is that old)…"
sleep $((REVERIFY + 5))  # the interval itself, not a wait for a condition: the change phase just verified
kill "$ctl_pid" 2>/dev/null || true
wait "$ctl_pid" 2>/dev/null || true
status_writes() {
  $PY apiserver-metrics | python3 -c 'import json, sys; print(int(json.load(sys.stdin)["requests"].get("PATCH sourceaudits/status", 0)))'
}
w0=$(status_writes)
off_r0=$(stat -c %s "$reg_log")
"$PA" run --kubeconfig "$KUBECONFIG_AUDITOR" --concurrency 16 --reverify-interval "${REVERIFY}s" \
  --metrics-addr "127.0.0.1:$port" >"$work/controller-reverify.log" 2>&1 &
ctl_pid=$!
snap reverify0
deadline=$((SECONDS + 600))
while [ $(($(status_writes) - w0)) -lt "$N_SRC" ]; do
  [ $SECONDS -ge $deadline ] && { say "re-verification: not every audit re-checked after 600 s"; break; }
  sleep 1  # polling interval of the wait loop (bounded by the deadline above)
done
# Counting status writes is not enough: a source whose verdict fell due again within the round
# (at its slot of the short interval) is written twice, so the count reaches N_SRC while the
# verdicts of single sources late in a long queue may not have been read yet, and their first
# read then lands in the unchanged round below. The round also waits until every verdict in use
# has been asked about since the restart: the N_CHG new revisions (one source each) and the
# original artifacts some unchanged source still uses.
in_use=$((N_CHG < N_SRC ? N_CHG : N_SRC))
rest=$((N_SRC - in_use))
in_use=$((in_use + (rest < N_ART ? rest : N_ART)))
verdicts_asked() {
  $PY registry-log "$reg_log" "$off_r0" "$(stat -c %s "$reg_log")" "$REVERIFY" | jq .verdicts
}
while [ "$(verdicts_asked)" -lt "$in_use" ]; do
  [ $SECONDS -ge $deadline ] && { say "re-verification: not every verdict asked about after 600 s"; break; }
  sleep 2  # polling interval of the wait loop (bounded by the deadline above; each poll reads the log)
done
snap reverify1
off_r1=$(stat -c %s "$reg_log")

# The steady round: after the round above, each verdict is re-checked at its own slot of the
# interval, once per interval. One interval after that round every verdict has had its first
# re-check at its slot; the next interval holds exactly one re-check of each, nothing changed.
say "unchanged re-check round: one interval (${REVERIFY}s) of re-checks with nothing changed, an interval after the first round…"
sleep "$REVERIFY"  # until every verdict has been re-checked at its own slot (an interval, not a condition)
off_u0=$(stat -c %s "$reg_log")
snap unchanged0
sleep "$REVERIFY"  # the measurement window itself: exactly one interval
snap unchanged1
off_u1=$(stat -c %s "$reg_log")
$PY registry-log "$reg_log" "$off_r0" "$off_r1" "$REVERIFY" >"$work/reverify.json"
$PY registry-log "$reg_log" "$off_u0" "$off_u1" "$REVERIFY" >"$work/unchanged.json"

python3 - "$work" "$N_SRC" "$N_ART" "$N_CHG" "$(getconf CLK_TCK)" "$rss" "$T_SETUP" "$((SECONDS - T_BUILT))" "$((T_BUILT - T_BEGIN))" \
  "$((scrape_cpu1 - scrape_cpu0))" "$scrape_bytes" "$REVERIFY" <<'PY'
import json, sys
work, n_src, n_art, n_chg, hz, rss, t_setup, t_total, t_build, scrape_ticks, scrape_bytes, reverify = sys.argv[1], *map(int, sys.argv[2:])
def snap(n):
    t, c, a, r, rec = open(f"{work}/snap.{n}").read().split()
    api = json.load(open(f"{work}/api.{n}"))
    return dict(t=float(t), cpu=int(c) / hz, api_cpu=int(a) / hz, reg=int(r), rec=float(rec or 0), api=api)
s = {n: snap(n) for n in ["start", "verified", "steady0", "steady1", "churn0", "churn1", "change0", "change1", "reverify0", "reverify1", "unchanged0", "unchanged1"]}
rv, un = (json.load(open(f"{work}/{n}.json")) for n in ("reverify", "unchanged"))
per = lambda x, k: x[k] / max(x["verdicts"], 1)
def d(a, b, k): return s[b][k] - s[a][k]
def api(a, b):
    x, y = s[a]["api"]["requests"], s[b]["api"]["requests"]
    out = {k: y[k] - x.get(k, 0) for k in y if y[k] - x.get(k, 0) > 0}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
def latency(a, b):
    x, y = s[a]["api"], s[b]["api"]
    out = {}
    for verb, total in y["duration_sum"].items():
        n = y["duration_count"].get(verb, 0) - x["duration_count"].get(verb, 0)
        if n > 0:
            out[verb] = (total - x["duration_sum"].get(verb, 0)) / n * 1000
    return out
# Server-side apply counts as APPLY. PATCH ocirepositories are never the controller's (it may not
# write Flux objects): the bench's status changes, or source-controller's finalizers when a
# source lacks one.
writes = lambda reqs: sum(v for k, v in reqs.items()
                          if k.split()[0] in ("POST", "PUT", "PATCH", "APPLY", "DELETE")
                          and not k.startswith("PATCH ocirepositories"))
lat = json.load(open(f"{work}/latency.json"))
initial = api("start", "verified")
t_all = d("start", "verified", "t")
steady_t = d("steady0", "steady1", "t")
churn_rec = d("churn0", "churn1", "rec")
rows = [
    ("set-up (push, sign, create, status)", f"{t_setup} s"),
    ("all Verified=True from controller start", f"{t_all:.1f} s"),
    ("peak RSS", f"{rss / 1024:.0f} MiB"),
    ("controller CPU until then", f"{d('start', 'verified', 'cpu'):.1f} s ({100 * d('start', 'verified', 'cpu') / t_all:.0f}% of a core)"),
    ("kube-apiserver CPU until then", f"{d('start', 'verified', 'api_cpu'):.1f} s ({100 * d('start', 'verified', 'api_cpu') / t_all:.0f}% of a core)"),
    ("  per API request (all clients)", f"{1000 * d('start', 'verified', 'api_cpu') / max(sum(initial.values()), 1):.1f} ms"),
    ("API requests per source", f"{sum(initial.values()) / n_src:.2f}"),
    ("  of which writes per source", f"{writes(initial) / n_src:.2f}"),
    ("  mean API latency by verb", ", ".join(f"{k} {v:.1f} ms" for k, v in latency("start", "verified").items())),
    ("registry requests until then", f"{d('start', 'verified', 'reg')} ({d('start', 'verified', 'reg') / n_art:.1f} per artifact)"),
    (f"steady state ({steady_t:.0f} s, default resync): controller CPU", f"{100 * d('steady0', 'steady1', 'cpu') / steady_t:.2f}% of a core"),
    ("  API requests / writes / registry requests", f"{sum(api('steady0', 'steady1').values()):.0f} / {writes(api('steady0', 'steady1')):.0f} / {d('steady0', 'steady1', 'reg')}"),
    # The default resync (1 h) re-audits every source once an hour: that many no-op reconciles
    # at the churn's CPU per reconcile, spread over the hour (the registry re-checks of the
    # re-verify interval are apart: the unchanged round below).
    ("  with the hourly resync of every source, amortised", f"{100 * n_src * d('churn0', 'churn1', 'cpu') / max(churn_rec, 1) / 3600 + 100 * d('steady0', 'steady1', 'cpu') / steady_t:.2f}% of a core"),
    ("  one /metrics scrape: size, controller CPU", f"{scrape_bytes / 2**20:.1f} MiB, {1000 * scrape_ticks / hz / 5:.0f} ms"),
    ("policy churn: all re-audited after", f"{d('churn0', 'churn1', 't'):.1f} s ({churn_rec:.0f} reconciles)"),
    ("  registry requests / API writes", f"{d('churn0', 'churn1', 'reg')} / {writes(api('churn0', 'churn1')):.0f}"),
    ("  CPU per no-op reconcile", f"{1000 * d('churn0', 'churn1', 'cpu') / max(churn_rec, 1):.2f} ms"),
    (f"change latency ({lat['n']} changes, {lat['missing']} missed)", f"p50 {lat['p50']:.2f} s, p99 {lat['p99']:.2f} s, max {lat['max']:.2f} s"),
    ("  registry requests for them", f"{d('change0', 'change1', 'reg')}"),
    ("re-verification, one round after a restart (everything read again): all re-checked after", f"{d('reverify0', 'reverify1', 't'):.1f} s"),
    ("  registry requests / API writes (of which status)", f"{d('reverify0', 'reverify1', 'reg')} / {writes(api('reverify0', 'reverify1')):.0f} ({api('reverify0', 'reverify1').get('PATCH sourceaudits/status', 0):.0f})"),
    ("  per verdict: manifest GETs / registry requests", f"{per(rv, 'manifest_gets'):.2f} / {per(rv, 'requests'):.2f} ({rv['verdicts']} verdicts)"),
    ("  controller / kube-apiserver CPU (an hour's share at the default 1 h)", f"{d('reverify0', 'reverify1', 'cpu'):.1f} s / {d('reverify0', 'reverify1', 'api_cpu'):.1f} s ({100 * d('reverify0', 'reverify1', 'cpu') / 3600:.2f}% / {100 * d('reverify0', 'reverify1', 'api_cpu') / 3600:.2f}% of a core)"),
    (f"unchanged re-check round ({reverify} s interval, nothing changed): manifest GETs / requests per verdict", f"{per(un, 'manifest_gets'):.2f} / {per(un, 'requests'):.2f} ({un['verdicts']} verdicts; {json.dumps(un['by_method'])})"),
    ("  spread: most re-checks in any 1 % of the interval", f"{un['densest_pct']:.2f}% (first to last {un['span']:.0f} s of {reverify} s)"),
    ("  API writes (of which status)", f"{writes(api('unchanged0', 'unchanged1')):.0f} ({api('unchanged0', 'unchanged1').get('PATCH sourceaudits/status', 0):.0f})"),
    ("  controller / kube-apiserver CPU (an hour's share at the default 1 h)", f"{d('unchanged0', 'unchanged1', 'cpu'):.1f} s / {d('unchanged0', 'unchanged1', 'api_cpu'):.1f} s ({100 * d('unchanged0', 'unchanged1', 'cpu') / 3600:.2f}% / {100 * d('unchanged0', 'unchanged1', 'api_cpu') / 3600:.2f}% of a core)"),
    ("bench wall time, set-up included", f"{t_total} s (before it: stack and build {t_build} s)"),
]
print(f"\nbench-controller: {n_src} OCIRepositories over {n_art} keyless-signed artifacts, local stack")
w = max(len(r[0]) for r in rows)
for k, v in rows:
    print(f"  {k:<{w}}  {v}")
print("\nAPI requests until all Verified, by verb and resource (per source):")
for k, v in list(initial.items())[:12]:
    print(f"  {k:<50} {v:8.0f}  {v / n_src:6.2f}")
print("API requests in the steady state:", json.dumps(api("steady0", "steady1")))
print("API requests in the policy churn:", json.dumps(api("churn0", "churn1")))
print("API requests in the re-verification round:", json.dumps(api("reverify0", "reverify1")))
print("API requests in the unchanged round:", json.dumps(api("unchanged0", "unchanged1")))
print(f"\nunchanged re-check: {per(un, 'manifest_gets'):.2f} manifest GETs, {per(un, 'requests'):.2f} registry requests per verdict ({un['verdicts']} verdicts, {d('unchanged0', 'unchanged1', 't'):.0f} s)")
PY
