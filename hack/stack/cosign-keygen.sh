#!/usr/bin/env bash
# cosign-keygen.sh DIR: writes DIR/cosign.key and DIR/cosign.pub (empty password) with real cosign.
. "$(dirname "$0")/lib.sh"
set -euo pipefail
[ $# -eq 1 ] || die "usage: $0 DIR"
COSIGN=${COSIGN:-$("$ROOT/hack/tools.sh" path cosign)}
[ -x "$COSIGN" ] || die "cosign not found at $COSIGN (run: hack/tools.sh cosign)"
mkdir -p "$1" && cd "$1"
COSIGN_PASSWORD= "$COSIGN" generate-key-pair >/dev/null 2>"$1/keygen.log" || { cat "$1/keygen.log" >&2; die "cosign generate-key-pair failed"; }
rm -f keygen.log
