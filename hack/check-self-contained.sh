#!/usr/bin/env bash
# Fails when a tracked file reads anything from beside the clone: the team's machines have a
# shared reference directory next to it, a user's clone has nothing next to it. Test data the tests
# read is vendored into the repository with its licence and origin instead.
set -euo pipefail
cd "$(dirname "$0")/.."
# The pattern is split so that this script does not match itself.
pattern='\.\./'"shared"'\b'
if hits=$(git grep -nIE "$pattern" -- . 2>/dev/null); then
  printf '%s\n' "$hits" >&2
  echo "check-self-contained: the files above reference a directory outside the repository; vendor what they need (with its licence and origin) instead" >&2
  exit 1
fi
