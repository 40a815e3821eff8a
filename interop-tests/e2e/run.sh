#!/usr/bin/env bash
# End-to-end tests with clients we did not write: starts our local PLC directory and
# `relay serve` on loopback (lib/stack.sh), runs `node --test` here against them, stops both.
#
#   RELAY_BIN=/path/to/relay interop-tests/e2e/run.sh [node --test args...]
#
# RELAY_BIN unset: `cargo build -p relay` and the workspace's debug binary. KEEP_TMP=1 keeps
# the data dir and server logs. Installs the npm packages (npm ci) when node_modules is absent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/stack.sh
source "$here/lib/stack.sh"

cd "$here"
# Reinstall when package-lock.json changed since the last install.
[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error

status=1
trap 'stop_stack "$status"' EXIT
trap 'exit 130' INT TERM
start_stack

set +e
PDS_URL="$PDS_URL" PLC_URL="$PLC_URL" node --test "$@"
status=$?
set -e
if [ "$status" != 0 ]; then
  echo "e2e: node --test failed (exit $status); server logs follow" >&2
fi
exit "$status"
