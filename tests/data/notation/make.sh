#!/usr/bin/env bash
# Makes the Notation test data in this directory with the real notation CLI (hack/tools.sh
# notation) against a plain-HTTP registry on 127.0.0.1 (e.g. the stack's: `. $STACK_DIR/env`).
# Usage: REGISTRY=127.0.0.1:PORT tests/data/notation/make.sh
# Writes: artifact.digest (the signed manifest), {jws,cose}.sig (envelopes signed by
# "provenance-test", referrers of artifact.digest), expired.jws.sig (signed with --expiry 1s),
# provenance-test.crt (its self-signed test certificate) and other.crt (another test
# certificate, "other-ca"); and, timestamped by a local RFC 3161 TSA (tsa/ca.sh, tsa/server.py:
# `openssl ts -reply` on 127.0.0.1), tsa.{jws,cose}.sig (the same artifact, signed with
# --timestamp-url), tsa-root.crt (that TSA's root) and other-tsa-root.crt (another TSA's root);
# and tokens made by `openssl ts -reply` for the signature of tsa.jws.sig by two more TSAs:
# tsa-coarse.token (accuracy two days) and tsa-ocsp.token (its certificate names an OCSP
# responder), with their roots tsa-coarse-root.crt and tsa-ocsp-root.crt.
# The private keys stay in a temporary directory and are deleted.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTATION=$("$HERE/../../../hack/tools.sh" path notation)
: "${REGISTRY:?REGISTRY=host:port of a plain-HTTP registry on 127.0.0.1}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/config HOME=$work
# A fresh repository per run: signatures of an earlier run must not be picked up.
repo=notation-testdata/app-$(date +%s)-$RANDOM
# A one-layer OCI artifact.
printf 'notation test data\n' >"$work/layer"
push_blob() { # FILE -> digest
  local d; d="sha256:$(sha256sum "$1" | cut -d' ' -f1)"
  local loc; loc=$(curl -fsS -D - -o /dev/null -X POST "http://$REGISTRY/v2/$repo/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  case $loc in http*) ;; *) loc="http://$REGISTRY$loc" ;; esac
  case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$loc${sep}digest=$d" >/dev/null
  echo "$d"
}
printf '{}' >"$work/config.json"
cfg=$(push_blob "$work/config.json"); layer=$(push_blob "$work/layer")
cat >"$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.provenance.test","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"$cfg","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$layer","size":$(stat -c %s "$work/layer")}]}
JSON
curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$work/manifest.json" "http://$REGISTRY/v2/$repo/manifests/v1" >/dev/null
# The same artifact in a second repository, for the timestamped signatures.
tsrepo=$repo-tsa; main=$repo; repo=$tsrepo
push_blob "$work/config.json" >/dev/null; push_blob "$work/layer" >/dev/null
curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$work/manifest.json" "http://$REGISTRY/v2/$repo/manifests/v1" >/dev/null
repo=$main
digest="sha256:$(sha256sum "$work/manifest.json" | cut -d' ' -f1)"
"$NOTATION" cert generate-test other-ca >/dev/null
"$NOTATION" cert generate-test --default provenance-test >/dev/null
ref="$REGISTRY/$repo@$digest"
sign() { "$NOTATION" sign --insecure-registry "$@" "$ref" >/dev/null; }
sign --signature-format jws
sign --signature-format cose
sign --signature-format jws --expiry 1s
# The local TSA, and another whose root only other-tsa-root.crt holds.
"$HERE/tsa/ca.sh" "$work/tsa" >/dev/null
"$HERE/tsa/ca.sh" "$work/other-tsa" other-tsa >/dev/null
python3 "$HERE/tsa/server.py" "$work/tsa" >"$work/tsa.port" & tsa_pid=$!
trap 'kill $tsa_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/tsa.port" ] && break; sleep 0.1; done
tsa_url="http://127.0.0.1:$(cat "$work/tsa.port")"
for format in jws cose; do
  "$NOTATION" sign --insecure-registry --signature-format $format --timestamp-url "$tsa_url" \
    --timestamp-root-cert "$work/tsa/root.crt" "$REGISTRY/$tsrepo@$digest" >/dev/null
done
# Each signature is a referrer: its manifest's one layer is the envelope.
# The referrers API, or (Debian's registry has none) its tag fallback sha256-<hex>.
referrers() {
  curl -fsS "http://$REGISTRY/v2/$repo/referrers/$digest" 2>/dev/null ||
    curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$REGISTRY/v2/$repo/manifests/${digest/:/-}"
}
fetch() { curl -fsS "http://$REGISTRY/v2/$repo/blobs/$1"; }
layer_of() { # MANIFEST-DIGEST -> "media-type blob-digest" of its one layer
  curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REGISTRY/v2/$repo/manifests/$1" |
    jq -r '.layers[0].mediaType + " " + .layers[0].digest'
}
signatures() { referrers | jq -r '.manifests[] | select(.artifactType=="application/vnd.cncf.notary.signature") | .digest'; }
referrers=$(referrers)
for m in $(echo "$referrers" | jq -r '.manifests[] | select(.artifactType=="application/vnd.cncf.notary.signature") | .digest'); do
  man=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REGISTRY/v2/$repo/manifests/$m")
  mt=$(echo "$man" | jq -r '.layers[0].mediaType'); blob=$(echo "$man" | jq -r '.layers[0].digest')
  case $mt in
    application/cose) fetch "$blob" >"$HERE/cose.sig" ;;
    application/jose+json)
      fetch "$blob" >"$work/env.json"
      # The expired one carries io.cncf.notary.expiry in its protected header.
      if python3 -c 'import base64,json,sys; p=json.load(open(sys.argv[1]))["protected"]; h=json.loads(base64.urlsafe_b64decode(p+"=="*2)); sys.exit(0 if "io.cncf.notary.expiry" in h else 1)' "$work/env.json"; then
        cp "$work/env.json" "$HERE/expired.jws.sig"
      else cp "$work/env.json" "$HERE/jws.sig"; fi ;;
  esac
done
store=$XDG_CONFIG_HOME/notation/localkeys
cp "$store/provenance-test.crt" "$HERE/provenance-test.crt"
cp "$store/other-ca.crt" "$HERE/other.crt"
repo=$tsrepo
for m in $(signatures); do
  read -r mt blob <<<"$(layer_of "$m")"
  case $mt in
    application/cose) fetch "$blob" >"$HERE/tsa.cose.sig" ;;
    application/jose+json) fetch "$blob" >"$HERE/tsa.jws.sig" ;;
  esac
done
# Tokens for that signature's bytes, straight from openssl (no TSA needed by notation).
python3 -c 'import base64,json,sys; s=json.load(open(sys.argv[1]))["signature"]; sys.stdout.buffer.write(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))' "$HERE/tsa.jws.sig" >"$work/jws.signature"
token() { # NAME ACCURACY EXTENSION -> $HERE/tsa-NAME.token, $HERE/tsa-NAME-root.crt
  "$HERE/tsa/ca.sh" "$work/$1" "$1-tsa" "$2" "$3" >/dev/null
  openssl ts -query -data "$work/jws.signature" -sha256 -cert -out "$work/$1.tsq" 2>/dev/null
  openssl ts -reply -config "$work/$1/tsa.cnf" -queryfile "$work/$1.tsq" -inkey "$work/$1/tsa.key" \
    -signer "$work/$1/tsa.crt" -chain "$work/$1/root.crt" -token_out -out "$HERE/tsa-$1.token" 2>/dev/null
  cp "$work/$1/root.crt" "$HERE/tsa-$1-root.crt"
}
token coarse secs:172800 ''
token ocsp '' 'authorityInfoAccess=OCSP;URI:http://127.0.0.1:9/'
cp "$work/tsa/root.crt" "$HERE/tsa-root.crt"
cp "$work/other-tsa/root.crt" "$HERE/other-tsa-root.crt"
echo "$digest" >"$HERE/artifact.digest"
echo "made in $HERE for $digest"
