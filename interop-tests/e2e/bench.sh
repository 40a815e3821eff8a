#!/usr/bin/env bash
# Side-by-side server benchmark: our relay (release build, with its local PLC directory) and the
# reference PDS (@atproto/pds via @atproto/dev-env, PLC in the same process), on this machine, in
# the same run, driven by the same load driver (crates/loadgen):
#   - createRecord closed loop, one account per worker, at concurrency 1, 8, 32 (10 s each,
#     1 s warm-up), the two servers alternating at each level;
#   - getRepo of a 10k-record repo (seeded by applyWrites batches of 200), 5 timed downloads;
#   - idle RSS (after start) and loaded RSS (after everything) of both.
#
#   interop-tests/e2e/bench.sh            # full run, writes docs/benchmarks-pds.md
#   interop-tests/e2e/bench.sh --quick    # concurrency 1 and 8, 3 s each, 1k-record repo;
#                                         # writes $TMPDIR/benchmarks-pds-quick.md (for CI)
#   interop-tests/e2e/bench.sh --out FILE # write the report elsewhere
#
# RELAY_BIN / LOADGEN_BIN: prebuilt binaries (default: cargo build --release). The reference's
# packages are installed on first use (npm ci in reference/; better-sqlite3 compiles, minutes).
# Everything listens on 127.0.0.1; both servers are stopped on exit (by pid).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=lib/stack.sh
source "$here/lib/stack.sh"

quick=0
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  levels=(1 8); duration=3s; records=1000; iterations=3
  out="${out:-${TMPDIR:-/tmp}/benchmarks-pds-quick.md}"
else
  levels=(1 8 32); duration=10s; records=10000; iterations=5
  out="${out:-$root/docs/benchmarks-pds.md}"
fi

log() { echo "[bench] $*" >&2; }

# --- binaries -----------------------------------------------------------------------------
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
if [ -z "${RELAY_BIN:-}" ] || [ -z "${LOADGEN_BIN:-}" ]; then
  log "building relay and loadgen (release) ..."
  (cd "$root" && cargo build -q --release --locked -p relay -p loadgen)
fi
RELAY_BIN="${RELAY_BIN:-$target_dir/release/relay}"
LOADGEN_BIN="${LOADGEN_BIN:-$target_dir/release/loadgen}"
export RELAY_BIN

# --- the reference ------------------------------------------------------------------------
if [ ! -d "$here/reference/node_modules/@atproto/dev-env" ]; then
  log "installing the reference PDS (npm ci in interop-tests/e2e/reference) ..."
  (cd "$here/reference" && npm ci --no-audit --no-fund --loglevel=error)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-pds.XXXXXX")
REF_PID=""
status=1
cleanup() {
  if [ -n "$REF_PID" ]; then
    kill "$REF_PID" 2>/dev/null || true
    wait "$REF_PID" 2>/dev/null || true
  fi
  stop_stack "$status"
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting the reference PDS ..."
node "$here/reference-pds.mjs" >"$work/reference.json" 2>"$work/reference.log" &
REF_PID=$!
for _ in $(seq 1 600); do
  [ -s "$work/reference.json" ] && break
  kill -0 "$REF_PID" 2>/dev/null || { cat "$work/reference.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/reference.json" ] || { log "the reference did not start in 60 s"; exit 1; }
ref_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pdsUrl"])' "$work/reference.json")
ref_pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$work/reference.json")
[ "$ref_pid" = "$REF_PID" ] || log "note: reference reports pid $ref_pid, started $REF_PID"

log "starting our relay (release) ..."
STACK_PROFILE=release start_stack

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
sleep 3
echo "{\"reference\": $(rss_kib "$ref_pid"), \"relay\": $(rss_kib "$RELAY_PID"), \"relay_plc\": $(rss_kib "$PLC_PID")}" >"$work/rss-idle.json"
log "idle RSS (KiB): $(cat "$work/rss-idle.json")"

# --- createRecord ---------------------------------------------------------------------------
for c in "${levels[@]}"; do
  for side in reference relay; do
    if [ "$side" = reference ]; then url="$ref_url"; pid="$ref_pid"; else url="$PDS_URL"; pid="$RELAY_PID"; fi
    log "createRecord: $side, concurrency $c, $duration ..."
    "$LOADGEN_BIN" create-records --url "$url" --accounts "$c" --concurrency "$c" \
      --duration "$duration" --warmup 1s --server-pid "$pid" --label "$side" \
      --json "$work/cr-$side-$c.json" >&2
  done
done

# --- getRepo --------------------------------------------------------------------------------
for side in reference relay; do
  if [ "$side" = reference ]; then url="$ref_url"; pid="$ref_pid"; else url="$PDS_URL"; pid="$RELAY_PID"; fi
  log "getRepo: $side, $records records ..."
  "$LOADGEN_BIN" get-repo --url "$url" --records "$records" --iterations "$iterations" \
    --server-pid "$pid" --label "$side" --json "$work/gr-$side.json" >&2
done

echo "{\"reference\": [$(rss_kib "$ref_pid"), $(hwm_kib "$ref_pid")], \"relay\": [$(rss_kib "$RELAY_PID"), $(hwm_kib "$RELAY_PID")], \"relay_plc\": [$(rss_kib "$PLC_PID"), $(hwm_kib "$PLC_PID")]}" >"$work/rss-loaded.json"

# --- report ---------------------------------------------------------------------------------
relay_rev=$(cd "$root" && git rev-parse --short HEAD)
relay_dirty=$(cd "$root" && git status --porcelain -- relay crates | grep -q . && echo " + uncommitted changes" || true)
cmd="interop-tests/e2e/bench.sh$([ "$quick" = 1 ] && echo " --quick" || true)"
python3 "$here/lib/bench_report.py" "$work" "$out" \
  --command "$cmd" --levels "${levels[*]}" --duration "$duration" --records "$records" \
  --iterations "$iterations" --relay-rev "$relay_rev$relay_dirty" \
  --relay-bin "$RELAY_BIN" --loadgen-bin "$LOADGEN_BIN"
log "wrote $out"
status=0
