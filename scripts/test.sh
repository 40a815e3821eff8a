#!/usr/bin/env bash
# The project's test command (README "Test"). Runs, in order:
#   1. every Rust test in the workspace (unit, property, shared-vector and MST-suite tests);
#      `--show-output` makes each vector test print how many cases it ran per file;
#   2. the checks with code we did not write: `@atproto/repo` reads our CARs and we read its
#      (interop-tests/node); `@atproto/api` and the Python `atproto` SDK drive a real
#      `relay serve` with our local PLC directory (interop-tests/e2e, interop-tests/python);
#      `@atproto/sync` and the Python SDK consume our firehose (interop-tests/firehose).
# Needs: the Rust toolchain, Node.js + npm, python3, and Debian's chromium for the OAuth page test
# (skipped with a reason when absent, outside CI; npm and PyPI packages are installed on
# first use).
# MST_TEST_SUITE may point at the 16,384-case MST suite; default ../shared/mst-test-suite.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

echo "== cargo test (workspace)"
cargo test --workspace --all-targets --locked -- --show-output

echo "== node cross-checks (@atproto/repo)"
cargo build -q -p relay --locked
export RELAY_BIN="$target_dir/debug/relay"
(cd "$root/interop-tests/node" && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && node --test)

echo "== end to end: @atproto/api and @atproto/oauth-client-node against relay serve + local PLC"
bash "$root/interop-tests/e2e/run.sh"

echo "== end to end: Python atproto SDK"
bash "$root/interop-tests/python/run.sh"

echo "== firehose: @atproto/sync and the Python SDK against subscribeRepos"
bash "$root/interop-tests/firehose/run.sh"
