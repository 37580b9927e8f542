#!/usr/bin/env bash
# cosign-attest.sh --key KEY --type TYPE --predicate FILE [--format bundle|legacy] REF@sha256:DIGEST
# Attests with the real cosign (hack/tools.sh path cosign), offline like cosign-sign.sh: no
# transparency log upload, no signing config. TYPE is a cosign --type (slsaprovenance1, spdxjson,
# cyclonedx, …) or a predicate type URI. bundle = cosign v3 default (a Sigstore bundle holding the
# DSSE in-toto statement, attached as an OCI 1.1 referrer or through the sha256-<hex> tag
# fallback); legacy = cosign v2's `sha256-<hex>.att` tag.
. "$(dirname "$0")/lib.sh"
set -euo pipefail
KEY= TYPE= PREDICATE= FORMAT=bundle REF=
while [ $# -gt 0 ]; do
  case $1 in
    --key) KEY=$2; shift 2 ;;
    --type) TYPE=$2; shift 2 ;;
    --predicate) PREDICATE=$2; shift 2 ;;
    --format) FORMAT=$2; shift 2 ;;
    -*) die "unknown flag $1" ;;
    *) REF=${1#oci://}; shift ;;
  esac
done
[ -n "$KEY" ] && [ -n "$TYPE" ] && [ -n "$PREDICATE" ] && [ -n "$REF" ] ||
  die "usage: $0 --key KEY --type TYPE --predicate FILE [--format bundle|legacy] REF@sha256:DIGEST"
[[ $REF == *@sha256:* ]] || die "attest by digest: $REF has no @sha256:"
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
"$COSIGN" attest --yes --key "$KEY" --type "$TYPE" --predicate "$PREDICATE" --tlog-upload=false \
  --use-signing-config=false "${fmt[@]}" "$REF" >"$W/out" 2>&1 ||
  { cat "$W/out" >&2; die "cosign attest failed"; }
