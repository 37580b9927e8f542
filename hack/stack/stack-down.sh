#!/usr/bin/env bash
# Stops exactly the processes hack/stack/stack-up.sh started (by recorded pid and executable, whole
# process group) and removes $STACK_DIR. Safe to run when nothing is up.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ ! -d "$STACK_DIR" ]; then slog "no stack in $STACK_DIR"; exit 0; fi
stop_all
rm -rf "$STACK_DIR"
slog "stack stopped; $STACK_DIR removed"
