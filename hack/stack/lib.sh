# Shared by the hack/stack scripts (sourced, not executed).
# Resolves STACK_DIR exactly like the e2e harness does: $STACK_DIR if set, else <repo>/.stack.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK_DIR=${STACK_DIR:-$ROOT/.stack}
case $STACK_DIR in /*) ;; *) STACK_DIR=$PWD/$STACK_DIR ;; esac
export STACK_DIR
PIDS=$STACK_DIR/pids
LOGS=$STACK_DIR/logs
# Components in start order; stack-down stops them in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager registry registry-auth source-controller notification-controller)

slog() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# pid_of NAME: the recorded pid, if that process is still the one we started (same executable).
pid_of() {
  local f=$PIDS/$1.pid pid exe
  [ -f "$f" ] || return 1
  read -r pid exe <"$f" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # A binary rebuilt while it runs (cargo replaces target/debug/…) shows as "<path> (deleted)".
  case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in "$exe" | "$exe (deleted)") ;; *) return 1 ;; esac
  echo "$pid"
}

# stop_component NAME: TERM the process group we started (setsid made pid == pgid), then KILL.
stop_component() {
  local name=$1 pid pgid i
  pid=$(pid_of "$name") || { rm -f "$PIDS/$name.pid"; return 0; }
  pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
  if [ "$pgid" = "$pid" ]; then kill -TERM -- "-$pid" 2>/dev/null || true
  else kill -TERM "$pid" 2>/dev/null || true; fi
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    [ "$i" = 100 ] || { sleep 0.1; continue; }
    slog "$name (pid $pid) did not stop on TERM; killing"
    if [ "$pgid" = "$pid" ]; then kill -KILL -- "-$pid" 2>/dev/null || true
    else kill -KILL "$pid" 2>/dev/null || true; fi
  done
  # Reap stragglers left in the group (e.g. helper children).
  if [ "$pgid" = "$pid" ] && pgrep -g "$pid" >/dev/null 2>&1; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  rm -f "$PIDS/$name.pid"
}

# start NAME [VAR=value...] BINARY ARGS...: own session and process group (pid == pgid), output
# to logs/NAME.log, pid + executable recorded so stack-down only ever kills what it started.
# The caller defines `fail NAME MESSAGE`. Add-ons (the demo's controller and Prometheus) are
# started with it too; stop_all stops anything recorded that is not a core component first.
start() {
  local name=$1; shift
  local envs=()
  while [[ $1 == *=* ]]; do envs+=("$1"); shift; done
  local bin=$1
  env "${envs[@]}" setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 &
  local pid=$!
  # setsid only forks when already a group leader, which a background job of this script is not.
  printf '%s %s\n' "$pid" "$(readlink -f "$bin")" >"$PIDS/$name.pid"
  # env execs setsid, setsid execs the binary: wait until the pid shows the final executable.
  local i
  for i in $(seq 1 50); do
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$bin")" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null || fail "$name" "exited immediately"
}

# stop_all: add-ons, then clients (in parallel), then kube-apiserver, then etcd.
stop_all() {
  local c f
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    c=$(basename "$f" .pid)
    [[ " ${COMPONENTS[*]} " == *" $c "* ]] || stop_component "$c"
  done
  for c in notification-controller source-controller kube-controller-manager registry registry-auth; do stop_component "$c" & done
  wait
  stop_component kube-apiserver
  stop_component etcd
}

tail_log() {
  local f=$LOGS/$1.log
  printf '\n----- last 40 lines of %s -----\n' "$f" >&2
  tail -n 40 "$f" >&2 2>/dev/null || echo "(no log)" >&2
  printf -- '----- end of %s -----\n\n' "$1" >&2
}

# load_env: sources $STACK_DIR/env (written by stack-up) if present.
load_env() { [ -f "$STACK_DIR/env" ] && . "$STACK_DIR/env"; }

# healthy NAME: one health probe of a component (needs the env loaded).
healthy() {
  case $1 in
    etcd) curl -sf --max-time 2 "$ETCD_ENDPOINT/health" | grep -q '"health":"true"' ;;
    kube-apiserver)
      [ "$(curl -s --max-time 3 --cacert "$STACK_DIR/pki/ca.crt" --cert "$STACK_DIR/pki/admin.crt" \
        --key "$STACK_DIR/pki/admin.key" "$KUBE_APISERVER/readyz")" = ok ] ;;
    kube-controller-manager) [ "$(curl -sk --max-time 2 "$KUBE_CONTROLLER_MANAGER/healthz")" = ok ] ;;
    registry) [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$REGISTRY/v2/")" = 200 ] ;;
    registry-auth)
      [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$AUTH_REGISTRY/v2/")" = 401 ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -u "$AUTH_REGISTRY_USER:$AUTH_REGISTRY_PASSWORD" \
          "http://$AUTH_REGISTRY/v2/")" = 200 ] ;;
    source-controller)
      curl -sf --max-time 2 -o /dev/null "$SOURCE_CONTROLLER_HEALTH/readyz" &&
        curl -s --max-time 2 -o /dev/null "$SOURCE_CONTROLLER_STORAGE/" ;;
    notification-controller) curl -sf --max-time 2 -o /dev/null "$NOTIFICATION_CONTROLLER_HEALTH/readyz" ;;
    *) return 1 ;;
  esac
}

all_healthy() {
  local c
  for c in "${COMPONENTS[@]}"; do
    pid_of "$c" >/dev/null && healthy "$c" || return 1
  done
}
