#!/usr/bin/env bash
# make demo: the auditor on a local cluster, end to end.
#
# Starts (or reuses) the local stack — etcd, kube-apiserver, Flux source-controller, a registry —
# installs the CRDs and three ProvenancePolicies, pushes four artifacts as Flux OCIRepositories
# (signed with a cosign key, signed keyless by a private Sigstore, unsigned, signed keyless by
# the wrong workflow), serves one Helm chart signed with `helm package --sign` (a gpg key) from
# a plain HTTP chart repository as a Flux HelmChart, runs the controller with the ServiceAccount
# config/rbac grants (with OpenReports on, and Flux notifications posted to a receiver it
# starts), and a real
# Prometheus with config/prometheus/rules.yaml scraping it. Prints `kubectl get sourceaudits -A`,
# the alerts, the metrics, the events on the sources, the notifications received and the
# namespace's Report, and leaves everything running; `make stack-down` stops it all.
# Everything listens on 127.0.0.1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. hack/stack/lib.sh
# Each step's wall time, printed when the next starts and once more at the end with the total.
DEMO_T0=$SECONDS STEP_T0=$SECONDS STEP= TIMES=()
step_done() {
  [ -n "$STEP" ] || return 0
  local secs=$((SECONDS - STEP_T0))
  TIMES+=("$(printf '  %-5s %4ds  %s' "${STEP%% *}" "$secs" "${STEP#* }")")
  printf '   \033[2m(%s took %ds)\033[0m\n' "${STEP%% *}" "$secs"
}
say() { step_done; STEP=$* STEP_T0=$SECONDS; printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { tail_log "$1"; die "$1: $2"; }
NS=demo
ISSUER=https://token.actions.githubusercontent.com
GOOD=https://github.com/example/infra/.github/workflows/publish.yml@refs/heads/main
EVIL=https://github.com/example/infra-fork/.github/workflows/publish.yml@refs/heads/main
# An anchored, escaped regex for exactly one string (what the suggested spec.verify block does).
exactly() { printf '^%s$' "$(printf '%s' "$1" | sed 's/[].[\\*^$+?(){}|]/\\&/g')"; }

say "1/7 tools (Debian packages; cosign, helm, kubectl, kube-apiserver, etcd, source-controller built once per machine)"
hack/tools.sh apt cosign helm
HELM=$(hack/tools.sh path helm)
say "2/7 building provenance-auditor and the private-Sigstore helper"
# Both packages by name: `--bin X -p Y` would build only Y (and a stale X once hid that).
cargo build --quiet -p provenance-auditor -p sigstore-forge --bins
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PA=$TARGET/debug/provenance-auditor
FORGE=$TARGET/debug/sigstore-forge

say "3/7 the local stack (reused when already up)"
hack/stack/stack-up.sh 2>&1 | grep -v '^  ' || true
load_env
[ -n "${KUBE_APISERVER:-}" ] || die "the stack did not come up; see $LOGS"
PATH=$(dirname "$(hack/tools.sh path kubectl)"):$PATH
K=(kubectl --kubeconfig "$KUBECONFIG_ADMIN")
"${K[@]}" apply --server-side --force-conflicts -f config/crd/bases >/dev/null
"${K[@]}" wait --for=condition=Established --timeout=60s -f config/crd/bases >/dev/null
# A demo run replaces the previous one's objects.
"${K[@]}" delete namespace "$NS" --ignore-not-found --wait=true >/dev/null
"${K[@]}" delete provenancepolicies -l app.kubernetes.io/part-of=provenance-demo --ignore-not-found >/dev/null
"${K[@]}" create namespace "$NS" >/dev/null

say "4/7 four artifacts in $REGISTRY/$NS, signed four ways"
work=$STACK_DIR/demo
rm -rf "$work" && mkdir -p "$work"
for app in key-signed keyless-signed unsigned wrong-identity; do
  mkdir -p "$work/$app" && printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n' "$app" >"$work/$app/app.yaml"
  d=$("$FORGE" push-artifact "$REGISTRY/$NS/$app:v1" "$work/$app")
  printf '  %-15s %s@%s\n' "$app" "$REGISTRY/$NS/$app" "$d"
  eval "D_${app//-/_}=$d"
done
hack/stack/cosign-keygen.sh "$work/keys" >/dev/null
hack/stack/cosign-sign.sh --key "$work/keys/cosign.key" --format bundle "$REGISTRY/$NS/key-signed@$D_key_signed" >/dev/null
"$FORGE" init "$work/sigstore" >/dev/null
"$FORGE" sign --dir "$work/sigstore" --identity "$GOOD" --issuer "$ISSUER" "$REGISTRY/$NS/keyless-signed@$D_keyless_signed" >/dev/null
"$FORGE" sign --dir "$work/sigstore" --identity "$EVIL" --issuer "$ISSUER" --format legacy "$REGISTRY/$NS/wrong-identity@$D_wrong_identity" >/dev/null
cat <<EOF
  key-signed:     cosign v3.1.2 with a key (Sigstore bundle); its OCIRepository has spec.verify
  keyless-signed: a private Sigstore (test Fulcio CA, Rekor, CT log) as workflow
                  $GOOD
  unsigned:       nothing
  wrong-identity: keyless, legacy .sig, by a fork's workflow
                  $EVIL
EOF
# An HTTP Helm chart repository: one chart signed by helm with a gpg key (its .prov beside it),
# served by a plain static file server.
export GNUPGHOME=$work/gnupg HELM_CONFIG_HOME=$work/helm/config HELM_CACHE_HOME=$work/helm/cache HELM_DATA_HOME=$work/helm/data
mkdir -p "$GNUPGHOME" "$work/charts" "$work/chart-src" && chmod 700 "$GNUPGHOME"
gpg=(gpg --batch --quiet --pinentry-mode loopback --passphrase '')
"${gpg[@]}" --quick-gen-key 'Demo Chart Signer <charts@example.com>' ed25519 sign never
"${gpg[@]}" --export-secret-keys >"$work/secring.gpg"
"${gpg[@]}" --armor --export charts@example.com >"$work/chart-signer.asc"
(cd "$work/chart-src" && "$HELM" create signed-chart >/dev/null &&
  "$HELM" package --sign --key 'Demo Chart Signer' --keyring "$work/secring.gpg" signed-chart -d "$work/charts" >/dev/null)
"$HELM" repo index "$work/charts"
stop_component demo-charts
CHARTS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start demo-charts "$(command -v python3)" -m http.server "$CHARTS_PORT" --bind 127.0.0.1 --directory "$work/charts"
echo "  signed-chart:   helm package --sign (gpg key Demo Chart Signer), http://127.0.0.1:$CHARTS_PORT/"

say "5/7 Secrets, three ProvenancePolicies, four Flux OCIRepositories, one HelmChart"
"${K[@]}" -n "$NS" create secret generic cosign-pub --from-file=cosign.pub="$work/keys/cosign.pub" >/dev/null
"${K[@]}" -n "$NS" create secret generic chart-signers --from-file=chart-signer.asc="$work/chart-signer.asc" >/dev/null
"${K[@]}" -n "$NS" create secret generic sigstore-root --from-file=trusted_root.json="$work/sigstore/trusted_root.json" >/dev/null
"${K[@]}" apply --server-side -f - >/dev/null <<EOF
apiVersion: provenance.dev/v1alpha1
kind: ProvenancePolicy
metadata: {name: demo-release-key, labels: {app.kubernetes.io/part-of: provenance-demo}}
spec:
  match: {namespaces: [$NS], selector: {matchLabels: {signing: key}}}
  verify:
    provider: cosign
    secretRef: {namespace: $NS, name: cosign-pub}
---
apiVersion: provenance.dev/v1alpha1
kind: ProvenancePolicy
metadata: {name: demo-github-actions, labels: {app.kubernetes.io/part-of: provenance-demo}}
spec:
  match: {namespaces: [$NS], selector: {matchLabels: {signing: keyless}}}
  verify:
    provider: cosign
    matchOIDCIdentity:
      - issuer: '$(exactly "$ISSUER")'
        subject: '$(exactly "$GOOD")'
    trustedRootSecretRef: {namespace: $NS, name: sigstore-root}
---
apiVersion: provenance.dev/v1alpha1
kind: ProvenancePolicy
metadata: {name: demo-chart-signers, labels: {app.kubernetes.io/part-of: provenance-demo}}
spec:
  match: {namespaces: [$NS], kinds: [HelmChart]}
  verify:
    openpgp:
      secretRef: {namespace: $NS, name: chart-signers}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: $NS}
spec: {url: "http://127.0.0.1:$CHARTS_PORT/", interval: 10m}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: signed-chart, namespace: $NS}
spec:
  chart: signed-chart
  version: 0.1.0
  interval: 10m
  sourceRef: {kind: HelmRepository, name: charts}
EOF
for app in key-signed keyless-signed unsigned wrong-identity; do
  signing=keyless verify=
  if [ $app = key-signed ]; then
    signing=key verify='  verify: {provider: cosign, secretRef: {name: cosign-pub}}'
  fi
  "${K[@]}" apply --server-side -f - >/dev/null <<EOF
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: $app, namespace: $NS, labels: {signing: $signing}}
spec:
  url: oci://$REGISTRY/$NS/$app
  ref: {tag: v1}
  interval: 10m
  insecure: true
$verify
EOF
done

say "6/7 the controller (as ServiceAccount provenance-system/provenance-auditor) and Prometheus"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
stop_component demo-controller
stop_component demo-prometheus
stop_component demo-receiver
METRICS_PORT=$(port)
# Verdict changes go to the stack's Flux notification-controller, as in a cluster; an Alert on
# the demo's sources forwards them to a generic webhook Provider, here a receiver on 127.0.0.1
# (docs/notifications.md).
RECEIVER_PORT=$(port)
NOTIFICATIONS=$work/notifications.jsonl
: >"$NOTIFICATIONS"
start demo-receiver /usr/bin/python3 "$ROOT/hack/stack/flux-event-receiver.py" "$RECEIVER_PORT" "$NOTIFICATIONS"
"${K[@]}" apply -f - >/dev/null <<EOF
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: demo-webhook, namespace: $NS}
spec: {type: generic, address: "http://127.0.0.1:$RECEIVER_PORT/"}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: demo-sources, namespace: $NS}
spec:
  providerRef: {name: demo-webhook}
  eventSeverity: info
  eventSources: [{kind: OCIRepository, name: "*"}, {kind: HelmChart, name: "*"}]
EOF
start demo-controller RUST_LOG=info "$PA" run --kubeconfig "$KUBECONFIG_AUDITOR" \
  --metrics-addr "127.0.0.1:$METRICS_PORT" --resync-interval 5m \
  --flux-notification-url "$NOTIFICATION_CONTROLLER_EVENTS" --reports openreports
PROM_PORT=$(port)
mkdir -p "$work/prometheus"
cat >"$work/prometheus/prometheus.yml" <<EOF
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: [$ROOT/config/prometheus/rules.yaml]
scrape_configs:
  - job_name: provenance-auditor
    static_configs: [{targets: ["127.0.0.1:$METRICS_PORT"]}]
EOF
start demo-prometheus /usr/bin/prometheus --config.file="$work/prometheus/prometheus.yml" \
  --storage.tsdb.path="$work/prometheus/data" --web.listen-address="127.0.0.1:$PROM_PORT"
DEMO_METRICS=http://127.0.0.1:$METRICS_PORT DEMO_PROMETHEUS=http://127.0.0.1:$PROM_PORT
wait_for() { # SECONDS WHAT COMMAND...
  local deadline=$(($(date +%s) + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "timed out waiting for $what"
    sleep 1
  done
}
wait_for 60 "the controller's /readyz" curl -sf "http://127.0.0.1:$METRICS_PORT/readyz"
audited() {
  [ "$("${K[@]}" -n "$NS" get sourceaudits -o json |
    jq '[.items[] | select(.status.conditions // [] | any(.type == "Verified" and .status != "Unknown"))] | length')" = 5 ]
}
wait_for 120 "a verdict for all five sources" audited
policies_reported() {
  [ "$("${K[@]}" get provenancepolicies -l app.kubernetes.io/part-of=provenance-demo -o json |
    jq '[.items[] | select(.status.observedGeneration == .metadata.generation)] | length')" = 3 ]
}
wait_for 30 "the policies' status" policies_reported
echo "  all five audited"

say "7/7 what the auditor says"
echo "\$ kubectl get sourceaudits -A"
"${K[@]}" get sourceaudits -A
echo
echo "\$ kubectl get provenancepolicies"
"${K[@]}" get provenancepolicies -l app.kubernetes.io/part-of=provenance-demo
echo
echo "\$ kubectl -n $NS get sourceaudit ocirepository-keyless-signed -o jsonpath='{.status.suggestedVerify.yaml}'"
"${K[@]}" -n "$NS" get sourceaudit ocirepository-keyless-signed -o jsonpath='{.status.suggestedVerify.yaml}' | sed 's/^/  /'
firing() {
  curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/alerts" |
    jq -e '[.data.alerts[] | select(.state == "firing" and .labels.namespace == "'$NS'")] | length > 0'
}
wait_for 60 "Prometheus to fire the first alert" firing
echo
echo "\$ curl $DEMO_PROMETHEUS/api/v1/alerts   (firing now; 'pending' ones fire after their 'for:')"
curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/alerts" | jq -r '.data.alerts[] | select(.labels.namespace == "'$NS'")
  | [.state, .labels.alertname, .labels.severity, .labels.name, .labels.reason // ""] | @tsv' |
  sort | awk -F'\t' 'BEGIN {printf "  %-8s %-32s %-9s %-16s %s\n", "STATE", "ALERT", "SEVERITY", "SOURCE", "REASON"}
                     {printf "  %-8s %-32s %-9s %-16s %s\n", $1, $2, $3, $4, $5}'
echo
echo "\$ curl -s $DEMO_METRICS/metrics | grep '^provenance_source_verified'"
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | grep "^provenance_source_verified{namespace=\"$NS\"" | sed 's/^/  /'

# The two definite findings reach Flux's notification format; the verified sources send none.
notified() {
  [ "$(jq -s '[.[] | select(.severity == "error") | .involvedObject.name] | unique | length' "$NOTIFICATIONS")" -ge 2 ]
}
wait_for 60 "the Flux notifications of unsigned and wrong-identity" notified
echo
echo "\$ kubectl -n $NS events --for OCIRepository/wrong-identity   (events on the Flux source, docs/notifications.md)"
"${K[@]}" -n "$NS" events --for OCIRepository/wrong-identity | grep -E 'REASON|Provenance' | cut -c1-160 | sed 's/^/  /'
echo
echo "Flux notifications received on 127.0.0.1:$RECEIVER_PORT (from notification-controller: Alert $NS/demo-sources, generic Provider):"
jq -r '[.severity, .reason, "\(.involvedObject.kind)/\(.involvedObject.name)", .message] | @tsv' "$NOTIFICATIONS" |
  awk -F'\t' 'BEGIN {printf "  %-8s %-28s %-30s %s\n", "SEVERITY", "REASON", "SOURCE", "MESSAGE"}
               {printf "  %-8s %-28s %-30s %.70s\n", $1, $2, $3, $4}'
reported() {
  "${K[@]}" -n "$NS" get reports.openreports.io provenance-auditor -o json |
    jq -e '[.results[] | select(.rule == "signature" or .rule == "identity")] | length >= 8'
}
wait_for 60 "the demo namespace's OpenReports Report" reported
echo
echo "\$ kubectl -n $NS get reports.openreports.io   (OpenReports, for Policy Reporter)"
"${K[@]}" -n "$NS" get reports.openreports.io | sed 's/^/  /'
echo "  signature and identity results:"
"${K[@]}" -n "$NS" get reports.openreports.io provenance-auditor -o json |
  jq -r '.results[] | select(.rule == "signature" or .rule == "identity")
    | [.resources[0].kind + "/" + .resources[0].name, .rule, .result, .message] | @tsv' | sort |
  awk -F'\t' '{printf "  %-30s %-10s %-5s %.80s\n", $1, $2, $3, $4}'

echo
echo "\$ kubectl get ocirepositories,provenancepolicies -o yaml | provenance-auditor lint -   (docs/lint.md)"
{ "${K[@]}" -n "$NS" get ocirepositories -o yaml; echo ---
  "${K[@]}" get provenancepolicies -l app.kubernetes.io/part-of=provenance-demo -o yaml; } |
  "$PA" lint - | sed 's/^/  /' || true
step_done
total=$((SECONDS - DEMO_T0))
echo
echo "Time per step:"
printf '%s\n' "${TIMES[@]}" | cut -c1-100
printf '  total %dm%02ds\n' $((total / 60)) $((total % 60))
cat <<EOF

Still running, on 127.0.0.1 only:
  controller metrics  $DEMO_METRICS/metrics   (log: $LOGS/demo-controller.log)
  Flux event receiver http://127.0.0.1:$RECEIVER_PORT/   (notifications: $NOTIFICATIONS)
  Prometheus          $DEMO_PROMETHEUS/alerts
  chart repository    http://127.0.0.1:$CHARTS_PORT/index.yaml
  kubectl             kubectl --kubeconfig $KUBECONFIG_ADMIN get sourceaudits -A
  one-shot audit      $PA audit --kubeconfig $KUBECONFIG_AUDITOR -n $NS
Stop everything (stack, controller, Prometheus, chart repository): make stack-down
EOF
