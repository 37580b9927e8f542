#!/usr/bin/env bash
# push-helm-chart.sh REPO CHART_DIR: packages CHART_DIR (a chart with Chart.yaml) and pushes it the
# way `helm push` does to oci://REPO/<name>:<version>: config application/vnd.cncf.helm.config.v1+json
# (the chart metadata as JSON), layer application/vnd.cncf.helm.chart.content.v1.tar+gzip.
# REPO is host:port/path (no chart name). Prints the manifest digest.
. "$(dirname "$0")/oci.sh"
[ $# -eq 2 ] || die "usage: $0 HOST:PORT/PATH CHART_DIR"
REPO=${1#oci://} CHART=$2
[ -f "$CHART/Chart.yaml" ] || die "$CHART/Chart.yaml not found"
field() { sed -n "s/^$1:[[:space:]]*//p" "$CHART/Chart.yaml" | head -1 | tr -d "\"'"; }
NAME=$(field name) VERSION=$(field version) API=$(field apiVersion) DESC=$(field description)
[ -n "$NAME" ] && [ -n "$VERSION" ] || die "Chart.yaml needs name and version"
split_ref "$REPO/$NAME:$VERSION"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
reproducible_tgz "$CHART" "$W/chart.tgz" "$NAME"
jq -cn --arg n "$NAME" --arg v "$VERSION" --arg a "${API:-v2}" --arg d "$DESC" \
  '{name: $n, version: $v, apiVersion: $a} + (if $d == "" then {} else {description: $d} end)' | tr -d '\n' >"$W/config.json"
CONFIG_DIGEST=$(push_blob "$W/config.json")
LAYER_DIGEST=$(push_blob "$W/chart.tgz")
jq -cn --arg cd "$CONFIG_DIGEST" --argjson cs "$(stat -c %s "$W/config.json")" \
  --arg ld "$LAYER_DIGEST" --argjson ls "$(stat -c %s "$W/chart.tgz")" \
  --arg n "$NAME" --arg v "$VERSION" --arg c "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '{
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {mediaType: "application/vnd.cncf.helm.config.v1+json", digest: $cd, size: $cs},
  layers: [{mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", digest: $ld, size: $ls}],
  annotations: {"org.opencontainers.image.title": $n, "org.opencontainers.image.version": $v, "org.opencontainers.image.created": $c}
}' | tr -d '\n' >"$W/manifest.json"
push_manifest "$W/manifest.json" application/vnd.oci.image.manifest.v1+json "$OCI_TAG"
