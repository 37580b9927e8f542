#!/usr/bin/env bash
# Installs the real third-party tools the tests and the demo run, once per machine.
#
# Go-built tools are cached by version under $PA_CACHE/bin/<tool>-<version>/ (outside the
# repository, never committed), Debian packages are installed with apt when missing.
# Usage: hack/tools.sh TOOL...   (prints nothing on a warm cache; progress on a cold one)
# Tools: apt containers cosign cosign2 oras helm kubectl controlplane source-controller
#        prometheus-operator-crds actionlint all
# `hack/tools.sh path TOOL` prints the path of one installed binary.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PA_CACHE=${PA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/provenance-auditor}
BIN=$PA_CACHE/bin

COSIGN_VERSION=v3.1.2
COSIGN2_VERSION=v2.6.4
ORAS_VERSION=v1.3.6
HELM_VERSION=v3.22.0
K8S_VERSION=v1.36.3
SOURCE_CONTROLLER_VERSION=v1.9.1
# The newest release the Go module proxy serves in full (v0.86+ answer 403 there).
PROMETHEUS_OPERATOR_VERSION=v0.85.0
# Lints .github/workflows (make lint).
ACTIONLINT_VERSION=v1.7.12

export GOFLAGS=${GOFLAGS:-} CGO_ENABLED=0 GOTOOLCHAIN=local

log() { printf '[tools] %s\n' "$*" >&2; }

# go_install NAME VERSION MODULE_PATH: `go install` into its own versioned directory.
go_install() {
  local name=$1 version=$2 pkg=$3 dir=$BIN/$1-$2
  [ -x "$dir/$name" ] && return 0
  log "building $name $version from its Go module (once per machine; a few minutes)…"
  mkdir -p "$dir.tmp"
  GOBIN=$dir.tmp go install -trimpath -ldflags '-s -w' "$pkg@$version"
  mv "$dir.tmp/$(basename "${pkg%%/cmd/*}")" "$dir.tmp/$name" 2>/dev/null || true
  [ -x "$dir.tmp/$name" ] || mv "$dir.tmp"/* "$dir.tmp/$name"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  log "built $dir/$name"
}

# go_build_wrapper NAME VERSION WRAPPER_DIR LDFLAGS TAGS PKG...: builds binaries from one of the
# wrapper modules under hack/tools/ (needed where upstream go.mod has replace directives).
# Builds into <dir>.tmp and renames when every binary is there, so an interrupted build is never
# mistaken for a finished one; a lock makes a concurrent caller wait for the running build.
go_build_wrapper() {
  local name=$1 version=$2 wrapper=$3 ldflags=$4 tags=$5; shift 5
  local dir=$BIN/$name-$version
  [ -f "$dir/.done" ] && return 0
  mkdir -p "$BIN"
  local lock
  exec {lock}>"$BIN/.$name-$version.lock"
  if ! flock -n "$lock"; then
    log "another process is building $name $version; waiting for it…"
    flock "$lock"
  fi
  if [ -f "$dir/.done" ]; then exec {lock}>&-; return 0; fi
  log "building $name $version ($*) from Go modules (once per machine; 5-15 minutes on 2 cores)…"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
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
      go build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" -o "$dir.tmp/$(basename "$pkg")" "$pkg"
      kill $hb 2>/dev/null; trap - EXIT
    done
  )
  rm -rf "$work"
  touch "$dir.tmp/.done"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  exec {lock}>&-
  log "built $dir"
}

# source_controller_crds: copies the CRDs of the same source-controller version out of the Go
# module cache next to the binary (the stack applies them from there).
source_controller_crds() {
  local dir=$BIN/source-controller-$SOURCE_CONTROLLER_VERSION
  [ -f "$dir/crds/.done" ] && return 0
  local mod
  mod=$(go mod download -json "github.com/fluxcd/source-controller@$SOURCE_CONTROLLER_VERSION" | jq -r .Dir)
  rm -rf "$dir/crds" && mkdir -p "$dir/crds"
  cp "$mod"/config/crd/bases/*.yaml "$dir/crds/"
  touch "$dir/crds/.done"
}

# prometheus_operator_crds: the ServiceMonitor/PrometheusRule CRDs (and the rest of
# monitoring.coreos.com) from the prometheus-operator Go module, for the chart's install test.
prometheus_operator_crds() {
  local dir=$BIN/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION
  [ -f "$dir/.done" ] && return 0
  local mod
  mod=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" | jq -r .Dir)
  rm -rf "$dir" && mkdir -p "$dir"
  cp "$mod"/example/prometheus-operator-crd/*.yaml "$dir/"
  touch "$dir/.done"
}

apt_tools() {
  local missing=()
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  command -v jq >/dev/null || missing+=(jq)
  [ -x /usr/bin/time ] || missing+=(time)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  # actionlint checks the workflows' `run:` scripts with it.
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  # Keep the packages' post-install scripts from starting daemons on public interfaces.
  local prc=/usr/sbin/policy-rc.d had_prc=0
  [ -e $prc ] && had_prc=1
  [ $had_prc = 1 ] || { printf '#!/bin/sh\nexit 101\n' >$prc; chmod +x $prc; }
  apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ $had_prc = 1 ] || rm -f $prc
  # Debian's units may still have been started on systems with systemd; we run our own instances.
  for svc in docker-registry prometheus prometheus-node-exporter; do
    systemctl stop "$svc" >/dev/null 2>&1 || true
  done
}

# containers: Debian's podman and buildah with the runc runtime (crun fails on hybrid cgroups),
# for `make image` and the image e2e test.
container_tools() {
  command -v podman >/dev/null && command -v buildah >/dev/null && [ -x /usr/sbin/runc ] && return 0
  log "installing Debian packages: podman buildah runc"
  apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc >/dev/null
}

tool_path() {
  case $1 in
    cosign) echo "$BIN/cosign-$COSIGN_VERSION/cosign" ;;
    cosign2) echo "$BIN/cosign2-$COSIGN2_VERSION/cosign2" ;;
    oras) echo "$BIN/oras-$ORAS_VERSION/oras" ;;
    helm) echo "$BIN/helm-$HELM_VERSION/helm" ;;
    actionlint) echo "$BIN/actionlint-$ACTIONLINT_VERSION/actionlint" ;;
    kubectl) echo "$BIN/kubectl-$K8S_VERSION/kubectl" ;;
    kube-apiserver|kube-controller-manager|etcd) echo "$BIN/controlplane-$K8S_VERSION/$1" ;;
    source-controller) echo "$BIN/source-controller-$SOURCE_CONTROLLER_VERSION/source-controller" ;;
    source-controller-crds) echo "$BIN/source-controller-$SOURCE_CONTROLLER_VERSION/crds" ;;
    prometheus-operator-crds) echo "$BIN/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION" ;;
    *) echo "unknown tool $1" >&2; return 2 ;;
  esac
}

install_tool() {
  case $1 in
    apt) apt_tools ;;
    containers) container_tools ;;
    cosign) go_install cosign "$COSIGN_VERSION" github.com/sigstore/cosign/v3/cmd/cosign ;;
    cosign2) go_install cosign2 "$COSIGN2_VERSION" github.com/sigstore/cosign/v2/cmd/cosign ;;
    oras) go_install oras "$ORAS_VERSION" oras.land/oras/cmd/oras ;;
    helm) go_install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm ;;
    actionlint) go_install actionlint "$ACTIONLINT_VERSION" github.com/rhysd/actionlint/cmd/actionlint ;;
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
      source_controller_crds ;;
    prometheus-operator-crds) prometheus_operator_crds ;;
    all) for t in apt cosign helm kubectl controlplane source-controller; do install_tool $t; done ;;
    *) echo "unknown tool $1" >&2; return 2 ;;
  esac
}

if [ "${1:-}" = path ]; then tool_path "$2"; exit; fi
for t in "$@"; do install_tool "$t"; done
