#!/usr/bin/env bash
# Makes a local RFC 3161 timestamp authority with Debian's openssl: a self-signed root CA and a
# TSA signing certificate it issues (critical extendedKeyUsage timeStamping, critical keyUsage
# digitalSignature, not a CA), plus the `openssl ts` configuration server.py answers with.
# Usage: ca.sh DIR [NAME] [ACCURACY] [EXTENSION]   (ACCURACY as openssl's `accuracy`, e.g.
# secs:1, or empty for none; EXTENSION one more line for the TSA certificate, e.g. an
# authorityInfoAccess). No accuracy by default: with one, a signature made in the first second
# of a fresh signing certificate is rightly refused (genTime - accuracy is before notBefore).
# Writes DIR/root.crt, DIR/tsa.crt, DIR/tsa.key, DIR/tsa.cnf (and openssl's serial file).
set -euo pipefail
dir=$1 name=${2:-provenance-test-tsa} accuracy=${3:-} extension=${4:-}
mkdir -p "$dir"; cd "$dir"
cat >ext.cnf <<CNF
[root]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[tsa]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=critical,timeStamping
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
$extension
CNF
# The root's extensions from ext.cnf, appended to openssl's own configuration (its OPENSSLDIR).
system_cnf="$(openssl version -d | sed 's/^[^"]*"\(.*\)"$/\1/')/openssl.cnf"
openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.crt -days 3650 \
  -subj "/C=US/O=Provenance Test/CN=$name root" -extensions root -config <(cat "$system_cnf" ext.cnf) 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout tsa.key -out tsa.csr -subj "/C=US/O=Provenance Test/CN=$name" 2>/dev/null
openssl x509 -req -in tsa.csr -CA root.crt -CAkey root.key -CAcreateserial -days 3650 \
  -extfile ext.cnf -extensions tsa -out tsa.crt 2>/dev/null
rm -f tsa.csr root.key root.srl ext.cnf
echo 01 >serial
cat >tsa.cnf <<CNF
[tsa]
default_tsa = tsa_config
[tsa_config]
serial = $PWD/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
${accuracy:+accuracy = $accuracy}
ordering = no
tsa_name = yes
ess_cert_id_chain = no
# SigningCertificateV2 (SHA-256 ESSCertIDv2): what notation's tspclient-go requires.
ess_cert_id_alg = sha256
CNF
