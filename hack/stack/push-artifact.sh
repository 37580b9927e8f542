#!/usr/bin/env bash
# push-artifact.sh REF DIR [--source URL] [--revision REV] [--annotation KEY=VALUE]...
# Pushes DIR as a Flux OCI artifact (what `flux push artifact` makes): config
# application/vnd.cncf.flux.config.v1+json, one layer application/vnd.cncf.flux.content.v1.tar+gzip,
# annotations org.opencontainers.image.source/.revision/.created. Prints the manifest digest.
# REF is host:port/repo:tag (oci:// prefix allowed), plain HTTP. Password registry of the stack:
# credentials are taken from $STACK_DIR/env (or REGISTRY_USER/REGISTRY_PASSWORD).
. "$(dirname "$0")/oci.sh"
[ $# -ge 2 ] || die "usage: $0 REF DIR [--source URL] [--revision REV] [--annotation KEY=VALUE]..."
REF=$1 DIR=$2; shift 2
[ -d "$DIR" ] || die "$DIR is not a directory"
SOURCE=https://example.invalid/provenance-e2e.git REVISION= ANN=()
while [ $# -gt 0 ]; do
  case $1 in
    --source) SOURCE=$2; shift 2 ;;
    --revision) REVISION=$2; shift 2 ;;
    --annotation) ANN+=("$2"); shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
split_ref "$REF"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
reproducible_tgz "$DIR" "$W/layer.tgz"
printf '{}' >"$W/config.json"
[ -n "$REVISION" ] || REVISION="main@sha1:$(sha1sum "$W/layer.tgz" | cut -d' ' -f1)"
CONFIG_DIGEST=$(push_blob "$W/config.json")
LAYER_DIGEST=$(push_blob "$W/layer.tgz")
ann_json=$(jq -n --arg s "$SOURCE" --arg r "$REVISION" --arg c "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  '{"org.opencontainers.image.source":$s,"org.opencontainers.image.revision":$r,"org.opencontainers.image.created":$c}')
for kv in "${ANN[@]}"; do
  ann_json=$(jq --arg k "${kv%%=*}" --arg v "${kv#*=}" '. + {($k): $v}' <<<"$ann_json")
done
jq -cn --arg cd "$CONFIG_DIGEST" --argjson cs "$(stat -c %s "$W/config.json")" \
  --arg ld "$LAYER_DIGEST" --argjson ls "$(stat -c %s "$W/layer.tgz")" --argjson ann "$ann_json" '{
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {mediaType: "application/vnd.cncf.flux.config.v1+json", digest: $cd, size: $cs},
  layers: [{mediaType: "application/vnd.cncf.flux.content.v1.tar+gzip", digest: $ld, size: $ls}],
  annotations: $ann
}' | tr -d '\n' >"$W/manifest.json"
push_manifest "$W/manifest.json" application/vnd.oci.image.manifest.v1+json "$OCI_TAG"
