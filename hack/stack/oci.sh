# Minimal OCI distribution client on curl (sourced by push-artifact.sh and push-helm-chart.sh).
# Talks plain HTTP to the stack's registries; credentials come from REGISTRY_USER/REGISTRY_PASSWORD
# or, for the stack's password registry, from $STACK_DIR/env.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -euo pipefail

# split_ref REF: sets OCI_HOST, OCI_REPO, OCI_TAG from host:port/repo[:tag].
split_ref() {
  local ref=${1#oci://}
  OCI_HOST=${ref%%/*}
  local rest=${ref#*/}
  if [[ ${rest##*/} == *:* ]]; then OCI_TAG=${rest##*:}; OCI_REPO=${rest%:*}; else OCI_TAG=latest; OCI_REPO=$rest; fi
  [ -n "$OCI_HOST" ] && [ -n "$OCI_REPO" ] && [ "$OCI_HOST" != "$ref" ] || die "bad reference '$1' (want host:port/repo:tag)"
  OCI_AUTH=()
  local user=${REGISTRY_USER:-} pass=${REGISTRY_PASSWORD:-}
  if [ -z "$user" ] && [ -f "$STACK_DIR/env" ]; then
    load_env
    if [ "$OCI_HOST" = "${AUTH_REGISTRY:-}" ]; then user=$AUTH_REGISTRY_USER; pass=$AUTH_REGISTRY_PASSWORD; fi
  fi
  [ -z "$user" ] || OCI_AUTH=(-u "$user:$pass")
}

sha256_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# push_blob FILE: uploads FILE (monolithic upload) unless the registry has it; prints its digest.
push_blob() {
  local file=$1 digest loc code
  digest=$(sha256_of "$file")
  code=$(curl -s -o /dev/null -w '%{http_code}' "${OCI_AUTH[@]}" -I "http://$OCI_HOST/v2/$OCI_REPO/blobs/$digest")
  if [ "$code" != 200 ]; then
    loc=$(curl -sf -D - -o /dev/null "${OCI_AUTH[@]}" -X POST "http://$OCI_HOST/v2/$OCI_REPO/blobs/uploads/" |
      tr -d '\r' | sed -n 's/^[Ll]ocation: //p') || die "starting a blob upload to $OCI_HOST/$OCI_REPO failed"
    case $loc in http*) ;; *) loc=http://$OCI_HOST$loc ;; esac
    case $loc in *\?*) loc="$loc&digest=$digest" ;; *) loc="$loc?digest=$digest" ;; esac
    curl -sf -o /dev/null "${OCI_AUTH[@]}" -X PUT -H 'Content-Type: application/octet-stream' \
      --data-binary "@$file" "$loc" || die "uploading blob $digest to $OCI_HOST/$OCI_REPO failed"
  fi
  echo "$digest"
}

# push_manifest FILE MEDIATYPE TAG: PUTs the manifest under TAG; prints its digest.
push_manifest() {
  local file=$1 mt=$2 tag=$3 digest
  digest=$(sha256_of "$file")
  curl -sf -o /dev/null "${OCI_AUTH[@]}" -X PUT -H "Content-Type: $mt" --data-binary "@$file" \
    "http://$OCI_HOST/v2/$OCI_REPO/manifests/$tag" || die "pushing manifest to $OCI_HOST/$OCI_REPO:$tag failed"
  echo "$digest"
}

# reproducible_tgz SRC_DIR OUT [PREFIX]: tar+gzip of SRC_DIR's content with fixed metadata.
reproducible_tgz() {
  local src=$1 out=$2 prefix=${3:-}
  local args=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu)
  if [ -n "$prefix" ]; then
    tar "${args[@]}" -C "$(dirname "$src")" --transform "s|^$(basename "$src")|$prefix|" -cf - "$(basename "$src")"
  else
    tar "${args[@]}" -C "$src" -cf - .
  fi | gzip -n >"$out"
}
