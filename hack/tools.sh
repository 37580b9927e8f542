#!/usr/bin/env bash
# Installs the real third-party tools the tests and the demo run, once per machine.
#
# Go-built tools are cached by version under $PA_CACHE/bin/<tool>-<version>/ (outside the
# repository, never committed), Debian packages are installed with apt when missing.
# Usage: hack/tools.sh TOOL...   (prints nothing on a warm cache; progress on a cold one)
# Tools: apt containers cosign notation helm kubectl controlplane source-controller
#        source-controller-crds notification-controller notification-controller-crds
#        prometheus-operator-crds actionlint moto, and `test` (all of them: what `make test` needs).
# `hack/tools.sh path TOOL` prints the path of one installed tool; `hack/tools.sh check TOOL...`
# fails, saying how to install it, when one is missing (tests check, they never install).
# Safe when several processes install at once: one lock per tool, and each install is built in
# a temporary directory and renamed into place when complete.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PA_CACHE=${PA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/provenance-auditor}
BIN=$PA_CACHE/bin

COSIGN_VERSION=v3.1.2
# Signs the Notary Project test artifacts (the same notation-go source-controller verifies with).
NOTATION_VERSION=v1.3.2
HELM_VERSION=v3.22.0
K8S_VERSION=v1.36.3
SOURCE_CONTROLLER_VERSION=v1.9.6
# Flux's Alerts and Providers on the stack: the newest version the Go module proxy serves (it
# lists none; v1.9.3 is served by its exact version).
NOTIFICATION_CONTROLLER_VERSION=v1.9.3
# The newest release the Go module proxy serves in full (v0.86+ answer 403 there).
PROMETHEUS_OPERATOR_VERSION=v0.85.0
# Lints .github/workflows (make lint).
ACTIONLINT_VERSION=v1.7.12
# AWS emulator (STS, ECR) for the cloud identity tests, from PyPI; its dependencies are pinned in
# hack/tools/moto/requirements.txt.
MOTO_VERSION=5.2.6

export GOFLAGS=${GOFLAGS:-} CGO_ENABLED=0 GOTOOLCHAIN=local

log() { printf '[tools] %s\n' "$*" >&2; }

# locked NAME COMMAND...: runs COMMAND holding the lock of NAME ($BIN/.locks/NAME.lock), so that
# two processes installing the same thing at once never build over each other: the second waits
# for the first, then finds the tool installed. Every installer below also builds into a fresh
# temporary directory and renames it into place when complete, so a tool directory that exists
# is always whole, and an interrupted install leaves nothing that looks finished.
locked() {
  local name=$1; shift
  mkdir -p "$BIN/.locks"
  local lock
  exec {lock}>"$BIN/.locks/$name.lock"
  if ! flock -n "$lock"; then
    log "another process is installing $name; waiting for it…"
    flock "$lock"
  fi
  "$@"
  exec {lock}>&-
}

# fresh_dir NAME: a new empty directory beside the tools, for one install to fill.
fresh_dir() { mkdir -p "$BIN" && mktemp -d "$BIN/.$1.XXXXXX"; }

# place TMP DIR: moves a completed install into place (one rename; DIR must not exist).
place() { rm -rf "$2" && mv "$1" "$2"; }

# go_install NAME VERSION MODULE_PATH: `go install` into its own versioned directory.
go_install() {
  local name=$1 version=$2 pkg=$3
  [ -x "$BIN/$name-$version/$name" ] && return 0
  locked "$name-$version" go_install_locked "$@"
}
go_install_locked() {
  local name=$1 version=$2 pkg=$3 dir=$BIN/$1-$2
  [ -x "$dir/$name" ] && return 0
  log "building $name $version from its Go module (once per machine; a few minutes)…"
  local tmp; tmp=$(fresh_dir "$name-$version")
  GOBIN=$tmp go install -trimpath -ldflags '-s -w' "$pkg@$version"
  [ -x "$tmp/$name" ] || mv "$tmp/$(basename "${pkg%%/cmd/*}")" "$tmp/$name" 2>/dev/null || true
  [ -x "$tmp/$name" ] || mv "$tmp"/* "$tmp/$name"
  place "$tmp" "$dir"
  log "built $dir/$name"
}

# go_build_wrapper NAME VERSION WRAPPER_DIR LDFLAGS TAGS PKG...: builds binaries from one of the
# wrapper modules under hack/tools/ (needed where upstream go.mod has replace directives).
go_build_wrapper() {
  [ -f "$BIN/$1-$2/.done" ] && return 0
  locked "$1-$2" go_build_wrapper_locked "$@"
}
go_build_wrapper_locked() {
  local name=$1 version=$2 wrapper=$3 ldflags=$4 tags=$5; shift 5
  local dir=$BIN/$name-$version
  [ -f "$dir/.done" ] && return 0
  log "building $name $version ($*) from Go modules (once per machine; 5-15 minutes on 2 cores)…"
  local tmp; tmp=$(fresh_dir "$name-$version")
  local work; work=$(mktemp -d)
  cp -r "$ROOT/hack/tools/$wrapper/." "$work/"
  (
    cd "$work"
    for pkg in "$@"; do
      log "  go build $pkg"
      # Heartbeat so a cold build shows progress instead of minutes of silence.
      ( s=$SECONDS; while sleep 30; do log "  … still building $(basename "$pkg") ($((SECONDS - s))s)"; done ) &
      local hb=$!
      trap 'kill $hb 2>/dev/null' EXIT
      go build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" -o "$tmp/$(basename "$pkg")" "$pkg"
      kill $hb 2>/dev/null; trap - EXIT
    done
  )
  rm -rf "$work"
  touch "$tmp/.done"
  place "$tmp" "$dir"
  log "built $dir"
}

# module_files NAME MODULE@VERSION SUBDIR GLOB: copies files of a Go module (from the module
# cache) into $BIN/NAME, e.g. the CRDs that belong to a controller's version.
module_files() {
  [ -f "$BIN/$1/.done" ] && return 0
  locked "$1" module_files_locked "$@"
}
module_files_locked() {
  local name=$1 module=$2 subdir=$3 glob=$4 dir=$BIN/$1
  [ -f "$dir/.done" ] && return 0
  local mod tmp
  mod=$(go mod download -json "$module" | jq -r .Dir)
  [ -d "$mod/$subdir" ] || { log "$module has no $subdir"; return 1; }
  tmp=$(fresh_dir "$name")
  # shellcheck disable=SC2086 # the glob is ours
  cp "$mod/$subdir"/$glob "$tmp/"
  touch "$tmp/.done"
  place "$tmp" "$dir"
}

# python_venv NAME VERSION REQUIREMENTS: a Python virtualenv with exactly the pinned packages of
# REQUIREMENTS (no resolution: --no-deps), run as `$BIN/NAME-VERSION/bin/python -m MODULE` (a
# venv's scripts hard-code the directory they were installed in; `python -m` survives the rename).
python_venv() {
  [ -f "$BIN/$1-$2/.done" ] && return 0
  locked "$1-$2" python_venv_locked "$@"
}
python_venv_locked() {
  local name=$1 version=$2 req=$3 dir=$BIN/$1-$2
  [ -f "$dir/.done" ] && return 0
  grep -q "^$name==$version\$" "$req" || { log "$req does not pin $name==$version"; return 1; }
  log "installing $name $version from PyPI into a virtualenv (once per machine)…"
  local tmp; tmp=$(fresh_dir "$name-$version")
  python3 -m venv "$tmp"
  "$tmp/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$req"
  touch "$tmp/.done"
  place "$tmp" "$dir"
  "$dir/bin/python" -c "import $name" || { log "$name does not import after the install"; return 1; }
  log "installed $dir"
}

# apt_install PACKAGE...: Debian packages, one apt-get at a time: ours wait on our lock, and
# apt-get itself waits (up to 10 minutes) for dpkg's lock if something else holds it.
apt_install() { locked apt apt_install_locked "$@"; }
apt_install_locked() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  # Keep the packages' post-install scripts from starting daemons on public interfaces.
  local prc=/usr/sbin/policy-rc.d had_prc=0
  [ -e $prc ] && had_prc=1
  [ $had_prc = 1 ] || { printf '#!/bin/sh\nexit 101\n' >$prc; chmod +x $prc; }
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -qq)
  "${apt[@]}" update >/dev/null || true
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
  [ $had_prc = 1 ] || rm -f $prc
  # Debian's units may still have been started on systems with systemd; we run our own instances.
  for svc in docker-registry prometheus prometheus-node-exporter; do
    systemctl stop "$svc" >/dev/null 2>&1 || true
  done
}

# The Debian packages the tests and the demo use (command → package); gnupg makes the keys
# that sign Helm charts (`helm package --sign`) in the HTTP chart tests and the demo.
APT_COMMANDS=(docker-registry:docker-registry promtool:prometheus openssl:openssl curl:curl
  jq:jq /usr/bin/time:time htpasswd:apache2-utils shellcheck:shellcheck
  gpg:gnupg)
# Debian's podman and buildah with the runc runtime (crun fails on hybrid cgroups), for
# `make image` and the image e2e test.
CONTAINER_COMMANDS=(podman:podman buildah:buildah /usr/sbin/runc:runc)

# missing_packages COMMAND:PACKAGE...: the packages whose command is not there.
missing_packages() {
  local pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || printf '%s\n' "${pair#*:}"
  done
}

apt_tools() {
  local missing
  mapfile -t missing < <(missing_packages "${APT_COMMANDS[@]}")
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

container_tools() {
  local missing
  mapfile -t missing < <(missing_packages "${CONTAINER_COMMANDS[@]}")
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

tool_path() {
  case $1 in
    cosign) echo "$BIN/cosign-$COSIGN_VERSION/cosign" ;;
    notation) echo "$BIN/notation-$NOTATION_VERSION/notation" ;;
    helm) echo "$BIN/helm-$HELM_VERSION/helm" ;;
    actionlint) echo "$BIN/actionlint-$ACTIONLINT_VERSION/actionlint" ;;
    moto) echo "$BIN/moto-$MOTO_VERSION/bin/python" ;;
    kubectl) echo "$BIN/kubectl-$K8S_VERSION/kubectl" ;;
    kube-apiserver|kube-controller-manager|etcd) echo "$BIN/controlplane-$K8S_VERSION/$1" ;;
    source-controller) echo "$BIN/source-controller-$SOURCE_CONTROLLER_VERSION/source-controller" ;;
    source-controller-crds) echo "$BIN/source-controller-crds-$SOURCE_CONTROLLER_VERSION" ;;
    notification-controller) echo "$BIN/notification-controller-$NOTIFICATION_CONTROLLER_VERSION/notification-controller" ;;
    notification-controller-crds) echo "$BIN/notification-controller-crds-$NOTIFICATION_CONTROLLER_VERSION" ;;
    prometheus-operator-crds) echo "$BIN/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION" ;;
    *) echo "unknown tool $1" >&2; return 2 ;;
  esac
}

# installed TOOL: whether TOOL is complete on this machine (what `check` answers).
installed() {
  local missing
  case $1 in
    apt) mapfile -t missing < <(missing_packages "${APT_COMMANDS[@]}"); [ ${#missing[@]} -eq 0 ] ;;
    containers) mapfile -t missing < <(missing_packages "${CONTAINER_COMMANDS[@]}"); [ ${#missing[@]} -eq 0 ] ;;
    controlplane) [ -f "$BIN/controlplane-$K8S_VERSION/.done" ] ;;
    kubectl) [ -f "$BIN/kubectl-$K8S_VERSION/.done" ] ;;
    source-controller) [ -f "$BIN/source-controller-$SOURCE_CONTROLLER_VERSION/.done" ] && installed source-controller-crds ;;
    notification-controller) [ -f "$BIN/notification-controller-$NOTIFICATION_CONTROLLER_VERSION/.done" ] && installed notification-controller-crds ;;
    source-controller-crds|notification-controller-crds|prometheus-operator-crds) [ -f "$(tool_path "$1")/.done" ] ;;
    moto) [ -f "$BIN/moto-$MOTO_VERSION/.done" ] ;;
    *) [ -x "$(tool_path "$1")" ] ;;
  esac
}

install_tool() {
  case $1 in
    apt) apt_tools ;;
    containers) container_tools ;;
    cosign) go_install cosign "$COSIGN_VERSION" github.com/sigstore/cosign/v3/cmd/cosign ;;
    # From a wrapper module: `go install …@version` reads the version list, which the proxy refuses.
    notation) go_build_wrapper notation "$NOTATION_VERSION" notation "" "" github.com/notaryproject/notation/cmd/notation ;;
    helm) go_install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm ;;
    actionlint) go_install actionlint "$ACTIONLINT_VERSION" github.com/rhysd/actionlint/cmd/actionlint ;;
    # `$(hack/tools.sh path moto) -m moto.server`: the AWS emulator of the cloud identity tests.
    moto) python_venv moto "$MOTO_VERSION" "$ROOT/hack/tools/moto/requirements.txt" ;;
    # kubectl at the control plane's version, from the same wrapper module: the stack, the
    # install test (`kubectl apply -k`) and the demo (`kubectl get sourceaudits -A`) use it, and a
    # new machine has none.
    kubectl)
      local kminor=${K8S_VERSION#v1.}; kminor=${kminor%%.*}
      go_build_wrapper kubectl "$K8S_VERSION" controlplane \
        "-X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$kminor -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kminor" "" \
        k8s.io/kubernetes/cmd/kubectl ;;
    controlplane)
      local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
      go_build_wrapper controlplane "$K8S_VERSION" controlplane \
        "-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" "" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager ./etcd ;;
    source-controller)
      go_build_wrapper source-controller "$SOURCE_CONTROLLER_VERSION" source-controller "" \
        "netgo,osusergo,static_build" github.com/fluxcd/source-controller
      install_tool source-controller-crds ;;
    # The CRDs of the same source-controller version (the stack applies them).
    source-controller-crds)
      module_files "source-controller-crds-$SOURCE_CONTROLLER_VERSION" \
        "github.com/fluxcd/source-controller@$SOURCE_CONTROLLER_VERSION" config/crd/bases '*.yaml' ;;
    notification-controller)
      go_build_wrapper notification-controller "$NOTIFICATION_CONTROLLER_VERSION" notification-controller "" \
        "netgo,osusergo,static_build" github.com/fluxcd/notification-controller
      install_tool notification-controller-crds ;;
    notification-controller-crds)
      module_files "notification-controller-crds-$NOTIFICATION_CONTROLLER_VERSION" \
        "github.com/fluxcd/notification-controller@$NOTIFICATION_CONTROLLER_VERSION" config/crd/bases '*.yaml' ;;
    # The ServiceMonitor/PrometheusRule CRDs (and the rest of monitoring.coreos.com), for the
    # chart's install test.
    prometheus-operator-crds)
      module_files "prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION" \
        "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
        example/prometheus-operator-crd '*.yaml' ;;
    # Everything `make test` uses, installed before any test runs.
    test) for t in apt containers cosign notation helm actionlint moto kubectl controlplane source-controller notification-controller prometheus-operator-crds; do install_tool $t; done ;;
    all) install_tool test ;;
    *) echo "unknown tool $1" >&2; return 2 ;;
  esac
}

case ${1:-} in
  path) tool_path "$2" ;;
  check)
    shift
    for t in "$@"; do
      installed "$t" || { echo "$t is not installed: run \`make tools\` (hack/tools.sh $t)" >&2; exit 1; }
    done ;;
  *) for t in "$@"; do install_tool "$t"; done ;;
esac
