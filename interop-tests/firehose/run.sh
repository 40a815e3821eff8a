#!/usr/bin/env bash
# Firehose interop: starts our local PLC directory and `relay serve` on loopback (the shared
# start logic in ../e2e/lib/stack.sh), then
#   1. `node --test` here: @atproto/sync's Firehose (signatures + MST proofs verified, DIDs
#      resolved through the local PLC), raw frames decoded with cborg/@ipld/dag-cbor, inversion
#      with @atproto/repo, cursor replay (firehose.test.mjs);
#   2. the Python `atproto` SDK's firehose client decoding a sample of frames (firehose_check.py).
#
#   RELAY_BIN=/path/to/relay interop-tests/firehose/run.sh [node --test args...]
#
# RELAY_BIN unset: `cargo build -p relay` and the workspace's debug binary. KEEP_TMP=1 keeps the
# data dir and logs. npm packages: `npm ci` when node_modules is absent; the Python SDK (pinned
# in ../python/requirements.txt) goes into .venv here (gitignored). SKIP_PYTHON=1 skips step 2.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../e2e/lib/stack.sh
source "$here/../e2e/lib/stack.sh"

cd "$here"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error

venv="$here/.venv"
reqs="$here/../python/requirements.txt"
if [ "${SKIP_PYTHON:-0}" != 1 ]; then
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$reqs" "$venv/.requirements.txt"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$reqs"
    cp "$reqs" "$venv/.requirements.txt"
  fi
fi

status=1
trap 'stop_stack "$status"' EXIT
trap 'exit 130' INT TERM
start_stack

set +e
PDS_URL="$PDS_URL" PLC_URL="$PLC_URL" node --test "$@"
status=$?
if [ "$status" = 0 ] && [ "${SKIP_PYTHON:-0}" != 1 ]; then
  PDS_URL="$PDS_URL" "$venv/bin/python" "$here/firehose_check.py"
  status=$?
fi
set -e
if [ "$status" != 0 ]; then
  echo "firehose interop failed (exit $status); server logs follow" >&2
fi
exit "$status"
