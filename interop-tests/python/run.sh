#!/usr/bin/env bash
# Python `atproto` SDK smoke test: starts our local PLC directory and `relay serve` on loopback
# (the shared start logic in ../e2e/lib/stack.sh), runs smoke.py against them, stops both.
#
#   RELAY_BIN=/path/to/relay interop-tests/python/run.sh
#
# The SDK (pinned in requirements.txt) is installed into .venv here on first use (gitignored).
# RELAY_BIN unset: `cargo build -p relay` and the workspace's debug binary. KEEP_TMP=1 keeps the
# server's data dir and logs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../e2e/lib/stack.sh
source "$here/../e2e/lib/stack.sh"

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$venv/.requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/.requirements.txt"
fi

status=1
trap 'stop_stack "$status"' EXIT
trap 'exit 130' INT TERM
start_stack

set +e
PDS_URL="$PDS_URL" PLC_URL="$PLC_URL" "$venv/bin/python" "$here/smoke.py"
status=$?
set -e
exit "$status"
