#!/usr/bin/env bash
# Starts the local stack on 127.0.0.1 with all state under $STACK_DIR (default <repo>/.stack):
# etcd, kube-apiserver, kube-controller-manager, a plain-HTTP registry, a password registry and
# Flux source-controller (CRDs applied). Writes admin.kubeconfig, auditor.kubeconfig (the
# config/rbac ServiceAccount, TokenRequest token) and a sourceable `env`.
# Reuses a healthy running stack; replaces a broken one. Exits non-zero with the failing
# component's log tail when something does not become healthy.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

T0=$(date +%s)
TOOLS=$ROOT/hack/tools.sh
# Seconds each component gets to become healthy.
HEALTH_TIMEOUT=${STACK_HEALTH_TIMEOUT:-90}

for cmd in openssl curl docker-registry htpasswd python3 go; do
  command -v "$cmd" >/dev/null || die "$cmd is not installed (try: hack/tools.sh apt)"
done
# kubectl at the API server's version, built once per machine (a new machine has none).
"$TOOLS" kubectl
PATH=$(dirname "$("$TOOLS" path kubectl)"):$PATH
export PATH

# --- reuse a running stack -------------------------------------------------------------------
if [ -f "$STACK_DIR/env" ]; then
  load_env
  # (auditor.kubeconfig's TokenRequest token expires after 24h: an older stack is restarted.)
  if all_healthy && kubectl --kubeconfig "$STACK_DIR/auditor.kubeconfig" --request-timeout=5s \
    auth can-i list ocirepositories.source.toolkit.fluxcd.io -A >/dev/null 2>&1; then
    slog "stack already running and healthy; reusing it"
    cat "$STACK_DIR/summary" >&2
    exit 0
  fi
  slog "found a stack in $STACK_DIR that is not fully healthy; stopping what it recorded and starting afresh"
fi
stop_all
rm -rf "$STACK_DIR"

# --- tools (built once per machine, cached by version) ---------------------------------------
"$TOOLS" controlplane source-controller notification-controller
ETCD_BIN=$("$TOOLS" path etcd)
APISERVER_BIN=$("$TOOLS" path kube-apiserver)
KCM_BIN=$("$TOOLS" path kube-controller-manager)
SC_BIN=$("$TOOLS" path source-controller)
NC_BIN=$("$TOOLS" path notification-controller)

# CRDs of the same source-controller version, copied from the Go module cache by tools.sh.
CRD_DIR=$("$TOOLS" path source-controller-crds)
[ -d "$CRD_DIR" ] || die "source-controller CRDs not found in $CRD_DIR"
NC_CRD_DIR=$("$TOOLS" path notification-controller-crds)
[ -d "$NC_CRD_DIR" ] || die "notification-controller CRDs not found in $NC_CRD_DIR"

mkdir -p "$STACK_DIR"/{pids,logs,pki,etcd,registry,registry-auth,source-controller/storage,source-controller/tuf,notification-controller,kcm}
chmod 700 "$STACK_DIR/pki" "$STACK_DIR/etcd"

# --- ports -----------------------------------------------------------------------------------
# Free ports from 20000-32767 (below Linux's ephemeral range, so outgoing connections do not take
# them between the check and the bind), checked by binding 127.0.0.1.
read -r ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT REG_PORT REG_AUTH_PORT SC_STORAGE_PORT SC_METRICS_PORT SC_HEALTH_PORT NC_EVENTS_PORT NC_RECEIVER_PORT NC_METRICS_PORT NC_HEALTH_PORT < <(
  python3 - 13 <<'PY'
import random, socket, sys
n = int(sys.argv[1]); ports = []; socks = []
cands = list(range(20000, 32768)); random.shuffle(cands)
for p in cands:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close(); continue
    socks.append(s); ports.append(p)
    if len(ports) == n: break
print(*ports)
PY
)

# --- PKI -------------------------------------------------------------------------------------
PKI=$STACK_DIR/pki
slog "generating certificates in $PKI"
(
  cd "$PKI"
  exec 2>openssl.log
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=provenance-stack-ca" -keyout ca.key -out ca.crt
  leaf() { # name subject ext
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr"
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile "$1.ext" -out "$1.crt"
  }
  leaf apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  leaf admin "/O=system:masters/CN=stack-admin" \
    "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key
  openssl pkey -in sa.key -pubout -out sa.pub
) || { cat "$PKI/openssl.log" >&2; die "certificate generation failed"; }

KUBE_APISERVER=https://127.0.0.1:$API_PORT
b64() { base64 -w0 <"$1"; }
cat >"$STACK_DIR/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: stack
  cluster:
    server: $KUBE_APISERVER
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: stack-admin
  user:
    client-certificate-data: $(b64 "$PKI/admin.crt")
    client-key-data: $(b64 "$PKI/admin.key")
contexts:
- name: stack-admin
  context: {cluster: stack, user: stack-admin}
current-context: stack-admin
EOF
chmod 600 "$STACK_DIR/admin.kubeconfig"

AUTH_REGISTRY_USER=e2e
AUTH_REGISTRY_PASSWORD=$(openssl rand -hex 12)

# --- env (written before starting, so health probes and a later stack-down can use it) -------
cat >"$STACK_DIR/env" <<EOF
# Written by hack/stack/stack-up.sh; sourceable. All endpoints bind 127.0.0.1.
STACK_DIR=$STACK_DIR
KUBECONFIG_ADMIN=$STACK_DIR/admin.kubeconfig
KUBECONFIG_AUDITOR=$STACK_DIR/auditor.kubeconfig
KUBE_APISERVER=$KUBE_APISERVER
KUBE_CA_FILE=$PKI/ca.crt
KUBE_CONTROLLER_MANAGER=https://127.0.0.1:$KCM_PORT
ETCD_ENDPOINT=http://127.0.0.1:$ETCD_PORT
REGISTRY=127.0.0.1:$REG_PORT
AUTH_REGISTRY=127.0.0.1:$REG_AUTH_PORT
AUTH_REGISTRY_USER=$AUTH_REGISTRY_USER
AUTH_REGISTRY_PASSWORD=$AUTH_REGISTRY_PASSWORD
SOURCE_CONTROLLER_STORAGE=http://127.0.0.1:$SC_STORAGE_PORT
SOURCE_CONTROLLER_STORAGE_PATH=$STACK_DIR/source-controller/storage
SOURCE_CONTROLLER_METRICS=http://127.0.0.1:$SC_METRICS_PORT
SOURCE_CONTROLLER_HEALTH=http://127.0.0.1:$SC_HEALTH_PORT
SOURCE_CONTROLLER_NAMESPACE=flux-system
NOTIFICATION_CONTROLLER_EVENTS=http://127.0.0.1:$NC_EVENTS_PORT/
NOTIFICATION_CONTROLLER_HEALTH=http://127.0.0.1:$NC_HEALTH_PORT
NOTIFICATION_CONTROLLER_METRICS=http://127.0.0.1:$NC_METRICS_PORT
STACK_LOGS=$LOGS
EOF
load_env

# --- process management: start() is in lib.sh ------------------------------------------------
fail() { # NAME MESSAGE
  tail_log "$1"
  slog "$1: $2"
  slog "stopping the components this run started (logs kept in $LOGS)"
  stop_all
  rm -f "$STACK_DIR/env"
  exit 1
}

wait_healthy() { # NAME
  local name=$1 deadline=$(($(date +%s) + HEALTH_TIMEOUT))
  until healthy "$name"; do
    pid_of "$name" >/dev/null || fail "$name" "process exited before becoming healthy"
    [ "$(date +%s)" -lt "$deadline" ] || fail "$name" "not healthy after ${HEALTH_TIMEOUT}s"
    sleep 0.3 # polling interval of the health probe, inside the timeout loop above
  done
  slog "$name healthy"
}

KUBECTL=(kubectl --kubeconfig "$STACK_DIR/admin.kubeconfig" --request-timeout=30s)

# --- etcd ------------------------------------------------------------------------------------
start etcd "$ETCD_BIN" --name=stack --data-dir="$STACK_DIR/etcd" \
  --listen-client-urls="$ETCD_ENDPOINT" --advertise-client-urls="$ETCD_ENDPOINT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="stack=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync --log-level=warn
wait_healthy etcd

# --- kube-apiserver --------------------------------------------------------------------------
start kube-apiserver "$APISERVER_BIN" \
  --etcd-servers="$ETCD_ENDPOINT" --bind-address=127.0.0.1 --secure-port="$API_PORT" \
  --cert-dir="$PKI" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" --authorization-mode=RBAC \
  --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
  --disable-admission-plugins=ServiceAccount --endpoint-reconciler-type=none \
  --service-account-issuer="$KUBE_APISERVER/" --service-account-key-file="$PKI/sa.pub" \
  --service-account-signing-key-file="$PKI/sa.key" \
  --profiling="${STACK_APISERVER_PROFILING:-false}"  # true: /debug/pprof for the bench's diagnosis
wait_healthy kube-apiserver

# --- kube-controller-manager -----------------------------------------------------------------
start kube-controller-manager "$KCM_BIN" \
  --kubeconfig="$STACK_DIR/admin.kubeconfig" \
  --authentication-kubeconfig="$STACK_DIR/admin.kubeconfig" \
  --authorization-kubeconfig="$STACK_DIR/admin.kubeconfig" --authentication-skip-lookup=true \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$STACK_DIR/kcm" \
  --controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --use-service-account-credentials=false --leader-elect=false
wait_healthy kube-controller-manager

# --- registries ------------------------------------------------------------------------------
registry_config() { # DIR PORT [htpasswd-file]
  cat <<EOF
version: 0.1
log:
  level: info
  accesslog: {disabled: true}
storage:
  filesystem: {rootdirectory: $1/data}
  delete: {enabled: true}
  maintenance:
    uploadpurging: {enabled: false}
http:
  addr: 127.0.0.1:$2
  secret: $(openssl rand -hex 16)
EOF
  if [ -n "${3:-}" ]; then
    printf 'auth:\n  htpasswd:\n    realm: provenance-stack\n    path: %s\n' "$3"
  fi
}
registry_config "$STACK_DIR/registry" "$REG_PORT" >"$STACK_DIR/registry/config.yml"
htpasswd -Bbn "$AUTH_REGISTRY_USER" "$AUTH_REGISTRY_PASSWORD" >"$STACK_DIR/registry-auth/htpasswd" 2>/dev/null
registry_config "$STACK_DIR/registry-auth" "$REG_AUTH_PORT" "$STACK_DIR/registry-auth/htpasswd" \
  >"$STACK_DIR/registry-auth/config.yml"
REGISTRY_BIN=$(command -v docker-registry)
start registry "$REGISTRY_BIN" serve "$STACK_DIR/registry/config.yml"
start registry-auth "$REGISTRY_BIN" serve "$STACK_DIR/registry-auth/config.yml"

# --- CRDs, namespaces, RBAC, auditor kubeconfig (while the registries start) -----------------
slog "applying source-controller $(basename "$CRD_DIR" | sed 's/^source-controller-crds-//') and notification-controller $(basename "$NC_CRD_DIR" | sed 's/^notification-controller-crds-//') CRDs, the report CRDs (config/thirdparty) and config/rbac"
# The policy report kinds of both formats (`run --reports=…`), as a cluster with Kyverno or
# Policy Reporter has them (the CRD files only: the directories also hold a kustomization).
crd_files=(-f "$CRD_DIR" -f "$NC_CRD_DIR")
for f in "$ROOT"/config/thirdparty/*/*_*.yaml; do crd_files+=(-f "$f"); done
"${KUBECTL[@]}" apply --server-side --force-conflicts "${crd_files[@]}" >"$LOGS/kubectl.log" 2>&1 ||
  { cat "$LOGS/kubectl.log" >&2; fail kube-apiserver "applying CRDs failed"; }
"${KUBECTL[@]}" wait --for=condition=Established --timeout=60s "${crd_files[@]}" >>"$LOGS/kubectl.log" 2>&1 ||
  { cat "$LOGS/kubectl.log" >&2; fail kube-apiserver "CRDs not Established"; }
"${KUBECTL[@]}" create namespace "$SOURCE_CONTROLLER_NAMESPACE" >>"$LOGS/kubectl.log" 2>&1 ||
  { cat "$LOGS/kubectl.log" >&2; fail kube-apiserver "creating namespace failed"; }
"${KUBECTL[@]}" apply -k "$ROOT/config/rbac" >>"$LOGS/kubectl.log" 2>&1 ||
  { cat "$LOGS/kubectl.log" >&2; fail kube-apiserver "applying config/rbac failed"; }
# And what `run --reports=…` needs on top (config/reports: its own report kinds only).
"${KUBECTL[@]}" apply -k "$ROOT/config/reports" >>"$LOGS/kubectl.log" 2>&1 ||
  { cat "$LOGS/kubectl.log" >&2; fail kube-apiserver "applying config/reports failed"; }
AUDITOR_TOKEN=$("${KUBECTL[@]}" -n provenance-system create token provenance-auditor --duration=24h 2>>"$LOGS/kubectl.log") ||
  { cat "$LOGS/kubectl.log" >&2; fail kube-apiserver "TokenRequest for provenance-system/provenance-auditor failed"; }
cat >"$STACK_DIR/auditor.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: stack
  cluster:
    server: $KUBE_APISERVER
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: provenance-auditor
  user:
    token: $AUDITOR_TOKEN
contexts:
- name: provenance-auditor
  context: {cluster: stack, user: provenance-auditor, namespace: provenance-system}
current-context: provenance-auditor
EOF
chmod 600 "$STACK_DIR/auditor.kubeconfig"
# Prove the token authenticates as the ServiceAccount (and nothing more than RBAC grants).
[ "$(kubectl --kubeconfig "$STACK_DIR/auditor.kubeconfig" auth can-i list ocirepositories.source.toolkit.fluxcd.io -A 2>/dev/null)" = yes ] ||
  fail kube-apiserver "auditor.kubeconfig cannot list ocirepositories"
[ "$(kubectl --kubeconfig "$STACK_DIR/auditor.kubeconfig" auth can-i create secrets -n default 2>/dev/null)" = no ] ||
  fail kube-apiserver "auditor.kubeconfig has more rights than config/rbac grants"

wait_healthy registry
wait_healthy registry-auth

# --- source-controller -----------------------------------------------------------------------
start source-controller KUBECONFIG="$STACK_DIR/admin.kubeconfig" TUF_ROOT="$STACK_DIR/source-controller/tuf" \
  HOME="$STACK_DIR/source-controller" RUNTIME_NAMESPACE="$SOURCE_CONTROLLER_NAMESPACE" \
  "$SC_BIN" --storage-path="$SOURCE_CONTROLLER_STORAGE_PATH" \
  --storage-addr="127.0.0.1:$SC_STORAGE_PORT" --storage-adv-addr="127.0.0.1:$SC_STORAGE_PORT" \
  --metrics-addr="127.0.0.1:$SC_METRICS_PORT" --health-addr="127.0.0.1:$SC_HEALTH_PORT" \
  --enable-leader-election=false --watch-all-namespaces=true --log-level=debug

# --- notification-controller -----------------------------------------------------------------
# Flux's Alerts and Providers: the events the auditor posts (`run --flux-notification-url`) reach
# a Provider's address as they do in a cluster. Its webhook receiver is bound too (unused).
start notification-controller KUBECONFIG="$STACK_DIR/admin.kubeconfig" HOME="$STACK_DIR/notification-controller" \
  RUNTIME_NAMESPACE="$SOURCE_CONTROLLER_NAMESPACE" \
  "$NC_BIN" --events-addr="127.0.0.1:$NC_EVENTS_PORT" --receiverAddr="127.0.0.1:$NC_RECEIVER_PORT" \
  --metrics-addr="127.0.0.1:$NC_METRICS_PORT" --health-addr="127.0.0.1:$NC_HEALTH_PORT" \
  --enable-leader-election=false --watch-all-namespaces=true --log-level=debug
wait_healthy source-controller
wait_healthy notification-controller

# --- summary ---------------------------------------------------------------------------------
{
  echo "[stack] up in $STACK_DIR (logs: $LOGS)"
  echo "  kube-apiserver           $KUBE_APISERVER  (admin: $STACK_DIR/admin.kubeconfig, auditor: $STACK_DIR/auditor.kubeconfig)"
  echo "  etcd                     $ETCD_ENDPOINT"
  echo "  kube-controller-manager  $KUBE_CONTROLLER_MANAGER"
  echo "  registry (plain HTTP)    $REGISTRY"
  echo "  registry (password)      $AUTH_REGISTRY  user $AUTH_REGISTRY_USER, password in $STACK_DIR/env"
  echo "  source-controller        storage $SOURCE_CONTROLLER_STORAGE, health $SOURCE_CONTROLLER_HEALTH, metrics $SOURCE_CONTROLLER_METRICS"
  echo "  notification-controller  events $NOTIFICATION_CONTROLLER_EVENTS, health $NOTIFICATION_CONTROLLER_HEALTH, metrics $NOTIFICATION_CONTROLLER_METRICS"
  echo "  use it:                  . $STACK_DIR/env; kubectl --kubeconfig \$KUBECONFIG_ADMIN get ocirepositories -A"
} >"$STACK_DIR/summary"
cat "$STACK_DIR/summary" >&2
slog "stack-up took $(($(date +%s) - T0))s"
