#!/usr/bin/env bash
# make demo: the verification engine on a local registry, end to end, with real cosign.
# Pushes four Flux artifacts — signed with a cosign key, signed keyless by a private Sigstore
# (CA + Rekor + CT log, trusted_root.json), unsigned, and signed by the wrong identity — and
# shows what `provenance-auditor verify` says about each. Everything runs on 127.0.0.1 and is
# removed at the end. (The in-cluster controller demo comes with the controller.)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing tools (cached per machine)"
hack/tools.sh apt cosign
COSIGN=$(hack/tools.sh path cosign)
say "building provenance-auditor and the private-Sigstore helper"
cargo build --release --quiet -p provenance-auditor -p sigstore-forge --bins
PA=${CARGO_TARGET_DIR:-$ROOT/target}/release/provenance-auditor
FORGE=${CARGO_TARGET_DIR:-$ROOT/target}/release/sigstore-forge

work=$(mktemp -d)
reg_pid=
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
  "$work/storage" "$port" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
R=127.0.0.1:$port
ISSUER=https://token.actions.githubusercontent.com
GOOD=https://github.com/example/infra/.github/workflows/publish.yml@refs/heads/main
EVIL=https://github.com/example/infra-fork/.github/workflows/publish.yml@refs/heads/main

say "a local registry at $R; pushing four Flux artifacts"
for app in key-signed keyless-signed unsigned wrong-identity; do
  mkdir -p "$work/$app" && echo "manifests of $app" >"$work/$app/app.yaml"
  d=$("$FORGE" push-artifact "$R/demo/$app:v1" "$work/$app")
  printf '  %-16s %s@%s\n' "$app" "$R/demo/$app" "$d"
  eval "D_${app//-/_}=$d"
done
(cd "$work" && COSIGN_PASSWORD= "$COSIGN" generate-key-pair >/dev/null 2>&1)
(cd "$work" && COSIGN_PASSWORD= HOME=$work "$COSIGN" sign --yes --key cosign.key --tlog-upload=false \
  --use-signing-config=false "$R/demo/key-signed@$D_key_signed" >/dev/null 2>&1)
"$FORGE" init "$work/sigstore" >/dev/null
"$FORGE" sign --dir "$work/sigstore" --identity "$GOOD" --issuer "$ISSUER" "$R/demo/keyless-signed@$D_keyless_signed" >/dev/null
"$FORGE" sign --dir "$work/sigstore" --identity "$EVIL" --issuer "$ISSUER" --format legacy "$R/demo/wrong-identity@$D_wrong_identity" >/dev/null
echo "  key-signed: cosign v3 (bundle format, key); keyless: private Sigstore (bundle); wrong-identity: legacy .sig by a fork's workflow"

say "1. who signed what? (no policy: discovery only)"
"$PA" verify --trusted-root "$work/sigstore/trusted_root.json" "$R/demo/keyless-signed:v1" || true

say "2. the key-signed artifact against its key (Flux secretRef semantics)"
"$PA" verify --key "$work/cosign.pub" "$R/demo/key-signed:v1" || true

say "3. every artifact against the expected keyless identity"
"$PA" verify --trusted-root "$work/sigstore/trusted_root.json" \
  --certificate-identity-regexp "^https://github\\.com/example/infra/\\.github/workflows/publish\\.yml@refs/heads/main\$" \
  --certificate-oidc-issuer-regexp "^https://token\\.actions\\.githubusercontent\\.com\$" \
  -o json "$R/demo/key-signed:v1" "$R/demo/keyless-signed:v1" "$R/demo/unsigned:v1" "$R/demo/wrong-identity:v1" >"$work/out.json" || true
jq -r '.results[] | [.reference, .verdict, (.signatures[0].signer.subject // .signatures[0].signer.keyHint // "-")] | @tsv' "$work/out.json" \
  | awk -F'\t' 'BEGIN {printf "  %-48s %-18s %s\n", "REFERENCE", "VERDICT", "SIGNER"} {printf "  %-48s %-18s %s\n", $1, $2, $3}'

say "done: the registry and all keys were temporary and are removed now"
