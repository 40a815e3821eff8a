#!/usr/bin/env bash
# The project's test command (README "Test"). Runs, in order:
#   1. every Rust test in the workspace (unit, property, shared-vector and MST-suite tests);
#      `--show-output` makes each vector test print how many cases it ran per file;
#   2. the cross-implementation checks with code we did not write (Node, `@atproto/repo`).
# Needs: the Rust toolchain, Node.js + npm (the npm packages are installed on first use).
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
cd "$root/interop-tests/node"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
node --test
