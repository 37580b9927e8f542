#!/usr/bin/env bash
# Makes the certificate chains of the Notation chain-rule tests with openssl (Debian's): a
# root CA, an intermediate CA and leaves that each break one Notary Project certificate rule.
# Usage: tests/data/notation/chains/make.sh   (writes *.pem here; keys are thrown away)
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
ec() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }
subj() { echo "/C=US/ST=WA/O=Provenance Test/CN=$1"; }
# cert NAME ISSUER_NAME EXTENSIONS [KEYSPEC]: a certificate for NAME's key, signed by ISSUER.
cert() {
  local name=$1 issuer=$2 ext=$3 key=$work/$1.key
  [ -f "$key" ] || { if [ "${4:-}" = rsa1024 ]; then openssl genrsa -out "$key" 1024 2>/dev/null; else ec "$key"; fi; }
  printf '%b\n' "$ext" >"$work/$name.ext"
  openssl req -new -key "$key" -subj "$(subj "$name")" -out "$work/$name.csr" 2>/dev/null
  if [ "$issuer" = "$name" ]; then
    openssl x509 -req -in "$work/$name.csr" -signkey "$key" -days 36500 -sha256 \
      -extfile "$work/$name.ext" -out "$work/$name.pem" 2>/dev/null
  else
    openssl x509 -req -in "$work/$name.csr" -CA "$work/$issuer.pem" -CAkey "$work/$issuer.key" \
      -CAcreateserial -days 36500 -sha256 -extfile "$work/$name.ext" -out "$work/$name.pem" 2>/dev/null
  fi
}
CA='basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign'
LEAF='keyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning'
cert root root "$CA"
cert root0 root0 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign'
cert int root "$CA"
cert int-under-root0 root0 "$CA"
cert int-not-ca root 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyCertSign'
cert int-no-certsign root 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature'
cert leaf int "$LEAF"
cert leaf-ca int "basicConstraints=critical,CA:TRUE\n$LEAF"
cert leaf-no-ku int 'extendedKeyUsage=codeSigning'
cert leaf-ku-not-critical int 'keyUsage=digitalSignature\nextendedKeyUsage=codeSigning'
cert leaf-ku-no-digital-signature int 'keyUsage=critical,nonRepudiation\nextendedKeyUsage=codeSigning'
cert leaf-ku-key-agreement int 'keyUsage=critical,digitalSignature,keyAgreement'
cert leaf-eku-server-auth int 'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth'
cert leaf-eku-time-stamping int 'keyUsage=critical,digitalSignature\nextendedKeyUsage=timeStamping'
cert leaf-rsa1024 int "$LEAF" rsa1024
cert leaf-under-int-not-ca int-not-ca "$LEAF"
cert leaf-under-int-no-certsign int-no-certsign "$LEAF"
cert leaf-under-root0 int-under-root0 "$LEAF"
chain() { local out=$1; shift; for c in "$@"; do cat "$work/$c.pem"; done >"$out.pem"; }
chain good leaf int root
chain leaf-ca leaf-ca int root
chain leaf-no-ku leaf-no-ku int root
chain leaf-ku-not-critical leaf-ku-not-critical int root
chain leaf-ku-no-digital-signature leaf-ku-no-digital-signature int root
chain leaf-ku-key-agreement leaf-ku-key-agreement int root
chain leaf-eku-server-auth leaf-eku-server-auth int root
chain leaf-eku-time-stamping leaf-eku-time-stamping int root
chain leaf-rsa1024 leaf-rsa1024 int root
chain intermediate-not-ca leaf-under-int-not-ca int-not-ca root
chain intermediate-without-keycertsign leaf-under-int-no-certsign int-no-certsign root
chain path-length-exceeded leaf-under-root0 int-under-root0 root0
chain no-root leaf int
chain out-of-order leaf root int
chain self-signed-leaf root
echo "made chains in $PWD"
