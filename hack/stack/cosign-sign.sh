#!/usr/bin/env bash
# cosign-sign.sh --key KEY [--format bundle|legacy] REF@sha256:DIGEST
# Signs with the real cosign (hack/tools.sh path cosign), offline: no transparency log upload, no
# signing config. bundle = cosign v3 default (Sigstore bundle attached as an OCI 1.1 referrer, or
# the sha256-<hex> tag fallback on registries without the referrers API); legacy = `.sig` tag.
# KEY is a cosign private key (password in COSIGN_PASSWORD, default empty). Credentials for the
# stack's password registry come from $STACK_DIR/env.
. "$(dirname "$0")/lib.sh"
set -euo pipefail
KEY= FORMAT=bundle REF=
while [ $# -gt 0 ]; do
  case $1 in
    --key) KEY=$2; shift 2 ;;
    --format) FORMAT=$2; shift 2 ;;
    -*) die "unknown flag $1" ;;
    *) REF=${1#oci://}; shift ;;
  esac
done
[ -n "$KEY" ] && [ -n "$REF" ] || die "usage: $0 --key KEY [--format bundle|legacy] REF@sha256:DIGEST"
[[ $REF == *@sha256:* ]] || die "sign by digest: $REF has no @sha256:"
COSIGN=${COSIGN:-$("$ROOT/hack/tools.sh" path cosign)}
[ -x "$COSIGN" ] || die "cosign not found at $COSIGN (run: hack/tools.sh cosign)"
case $FORMAT in
  bundle) fmt=() ;;
  legacy) fmt=(--new-bundle-format=false) ;;
  *) die "--format must be bundle or legacy" ;;
esac
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
# Never reach for the public-good TUF root from tests.
export TUF_ROOT=$W/tuf COSIGN_PASSWORD=${COSIGN_PASSWORD-} COSIGN_YES=true
host=${REF%%/*}
if [ -f "$STACK_DIR/env" ]; then
  load_env
  if [ "$host" = "${AUTH_REGISTRY:-}" ]; then
    mkdir -p "$W/docker"
    printf '{"auths":{"%s":{"auth":"%s"}}}' "$host" "$(printf '%s:%s' "$AUTH_REGISTRY_USER" "$AUTH_REGISTRY_PASSWORD" | base64 -w0)" \
      >"$W/docker/config.json"
    export DOCKER_CONFIG=$W/docker
  fi
fi
"$COSIGN" sign --yes --key "$KEY" --tlog-upload=false --use-signing-config=false "${fmt[@]}" "$REF" >"$W/out" 2>&1 ||
  { cat "$W/out" >&2; die "cosign sign failed"; }
