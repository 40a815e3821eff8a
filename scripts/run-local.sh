#!/usr/bin/env bash
# Runs a usable PDS on this machine with nothing else installed: `relay serve` on its embedded
# defaults (SQLite and blobs under ./data, secrets generated on first start into
# ./data/secrets.toml) plus the local did:plc directory from the same binary (`relay plc serve`,
# operations kept in ./data/plc.jsonl), so accounts can be created offline. Handles end in .test.
#
#   bash scripts/run-local.sh            # PDS on http://localhost:2583, PLC on 127.0.0.1:2582
#
# Point any atproto client (e.g. @atproto/api's AtpAgent) at http://localhost:2583. For a public
# deployment use the real PLC directory instead (see relay/relay.example.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p relay
bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/relay"
mkdir -p data
"$bin" plc serve --port "${PLC_PORT:-2582}" --data data/plc.jsonl &
plc_pid=$!
trap 'kill "$plc_pid" 2>/dev/null || true' EXIT
export RELAY_PLC_URL="${RELAY_PLC_URL:-http://127.0.0.1:${PLC_PORT:-2582}}"
export RELAY_ALLOW_PRIVATE_OUTBOUND="${RELAY_ALLOW_PRIVATE_OUTBOUND:-true}"
"$bin" serve "$@"
