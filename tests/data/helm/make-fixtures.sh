#!/usr/bin/env bash
# Regenerates the OpenPGP fixtures of the Helm provenance unit tests (src/engine/helm/) with
# Debian's gpg: keys of each kind OpenPGP distinguishes, and clear-signed Helm provenance
# bodies (the layout `helm package --sign` writes, signed by gpg --clearsign as Helm's own
# OpenPGP library would). Made for this project; Apache-2.0 like the rest of it.
# The package the bodies sign is the 13 bytes "chart package" (see PACKAGE_SHA256 in the tests).
set -euo pipefail
cd "$(dirname "$0")"
G=$(mktemp -d); trap 'rm -rf "$G"' EXIT
export GNUPGHOME=$G
gpg=(gpg --batch --quiet --pinentry-mode loopback --passphrase '' --no-tty)
sum=$(printf 'chart package' | sha256sum | cut -d' ' -f1)
body() { # NAME VERSION FILE SUM
  printf 'apiVersion: v2\nname: %s\nversion: %s\n\n...\nfiles:\n  %s: sha256:%s\n' "$1" "$2" "$3" "$4"
}
body demo 0.1.0 demo-0.1.0.tgz "$sum" > body.txt
# signer: ed25519, signs with its primary key.
"${gpg[@]}" --quick-gen-key 'Chart Signer <signer@example.com>' ed25519 sign never
"${gpg[@]}" --armor --export signer@example.com > signer.asc
"${gpg[@]}" --export signer@example.com > signer.gpg
"${gpg[@]}" -u signer@example.com --clearsign --digest-algo SHA512 < body.txt > signed.prov
"${gpg[@]}" -u signer@example.com --clearsign --digest-algo SHA1 --allow-weak-digest-algos < body.txt > sha1-data.prov 2>/dev/null || true
body demo 0.1.0 demo-0.1.0.tgz "$(printf 'another package' | sha256sum | cut -d' ' -f1)" \
  | "${gpg[@]}" -u signer@example.com --clearsign > other-digest.prov
body other 0.1.0 demo-0.1.0.tgz "$sum" | "${gpg[@]}" -u signer@example.com --clearsign > other-name.prov
# several files: entries, the package's among them.
{ printf 'apiVersion: v2\nname: demo\nversion: 0.1.0\n\n...\nfiles:\n  README.md: sha256:%s\n  demo-0.1.0.tgz: sha256:%s\n' "$(printf x | sha256sum | cut -d' ' -f1)" "$sum"; } \
  | "${gpg[@]}" -u signer@example.com --clearsign > several-files.prov
# other: another key.
"${gpg[@]}" --quick-gen-key 'Someone Else <else@example.com>' ed25519 sign never
"${gpg[@]}" --armor --export else@example.com > other.asc
"${gpg[@]}" -u else@example.com --clearsign < body.txt > other-key.prov
# two signatures: by the other key and by the signer.
"${gpg[@]}" -u else@example.com -u signer@example.com --clearsign < body.txt > two-signatures.prov
# subkey: a certification-only primary with a signing subkey that signs.
"${gpg[@]}" --quick-gen-key 'Subkey Signer <sub@example.com>' ed25519 cert never
fpr=$("${gpg[@]}" --with-colons --list-keys sub@example.com | awk -F: '/^fpr/{print $10; exit}')
"${gpg[@]}" --quick-add-key "$fpr" ed25519 sign never
sub=$("${gpg[@]}" --with-colons --list-keys sub@example.com | awk -F: '/^fpr/{n++} /^fpr/&&n==2{print $10}')
"${gpg[@]}" --armor --export sub@example.com > subkey.asc
"${gpg[@]}" -u "$sub!" --clearsign < body.txt > subkey.prov
# expired: made and used in 2020, valid for a day.
old=(--faked-system-time 20200101T000000!)
"${gpg[@]}" "${old[@]}" --quick-gen-key 'Expired Signer <expired@example.com>' ed25519 sign 1d
"${gpg[@]}" "${old[@]}" -u expired@example.com --clearsign < body.txt > expired.prov
"${gpg[@]}" --armor --export expired@example.com > expired.asc
# revoked (key compromised), after signing.
"${gpg[@]}" --quick-gen-key 'Revoked Signer <revoked@example.com>' ed25519 sign never
"${gpg[@]}" -u revoked@example.com --clearsign < body.txt > revoked.prov
rfpr=$("${gpg[@]}" --with-colons --list-keys revoked@example.com | awk -F: '/^fpr/{print $10; exit}')
# gpg writes a revocation (reason: none given) at key generation, its armor line defused
# with ':': imported, the key is revoked.
sed 's/^:-----/-----/' "$G/openpgp-revocs.d/$rfpr.rev" > "$G/revoke.asc"
"${gpg[@]}" --import "$G/revoke.asc" 2>/dev/null
"${gpg[@]}" --armor --export revoked@example.com > revoked.asc
# sha1: a key whose self-signatures use SHA-1.
"${gpg[@]}" --cert-digest-algo SHA1 --allow-weak-key-signatures --quick-gen-key 'SHA1 Signer <sha1@example.com>' rsa2048 sign never
"${gpg[@]}" -u sha1@example.com --clearsign < body.txt > sha1-key.prov
"${gpg[@]}" --armor --export sha1@example.com > sha1-key.asc
# CRLF: the signed document with CRLF line endings (the signature hashes CRLF anyway).
sed 's/$/\r/' signed.prov > crlf.prov
rm -f body.txt
ls
