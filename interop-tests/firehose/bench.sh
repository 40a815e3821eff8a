#!/usr/bin/env bash
# Firehose delivery benchmark: our relay (release, with its local PLC directory) and the
# reference PDS (@atproto/pds via @atproto/dev-env, ../e2e/reference-pds.mjs), on this machine,
# in the same run, driven by the same client (crates/firehose/examples/firehose_bench.rs):
# N subscribers x target write rates (open-loop createRecord), delivery latency p50/p99/max,
# delivered fraction, gaps and the server's RSS.
#
#   interop-tests/firehose/bench.sh                  # 1/100/1000 subs x 100/1000 ev/s, 10 s
#   interop-tests/firehose/bench.sh --quick          # 1/100 subs x 100 ev/s, 3 s (CI)
#   interop-tests/firehose/bench.sh --no-reference   # ours only
#   interop-tests/firehose/bench.sh --out FILE       # report elsewhere
#   interop-tests/firehose/bench.sh --no-reference --subscribers 1000 --rates 1000 --seconds 10
#                                                    # one level (iterating on performance)
#
# Default report: docs/benchmarks-firehose-run.md (full) or $TMPDIR/benchmarks-firehose-quick.md.
# RELAY_BIN / BENCH_BIN: prebuilt binaries (default: cargo build --release).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../e2e/lib/stack.sh
source "$here/../e2e/lib/stack.sh"

quick=0; reference=1; out=""; o_subs=""; o_rates=""; o_seconds=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-reference) reference=0 ;;
    --out) out="$2"; shift ;;
    --subscribers) o_subs="$2"; shift ;;
    --rates) o_rates="$2"; shift ;;
    --seconds) o_seconds="$2"; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  subs=1,100; rates=100; seconds=3
  out="${out:-${TMPDIR:-/tmp}/benchmarks-firehose-quick.md}"
else
  subs=1,100,1000; rates=100,1000; seconds=10
  out="${out:-$root/docs/benchmarks-firehose-run.md}"
fi
subs="${o_subs:-$subs}"; rates="${o_rates:-$rates}"; seconds="${o_seconds:-$seconds}"
if [ -n "$o_subs$o_rates$o_seconds" ] && [ "$out" = "$root/docs/benchmarks-firehose-run.md" ]; then
  out="${TMPDIR:-/tmp}/benchmarks-firehose-custom.md"
fi
log() { echo "[bench] $*" >&2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
if [ -z "${RELAY_BIN:-}" ] || [ -z "${BENCH_BIN:-}" ]; then
  log "building relay and firehose_bench (release) ..."
  (cd "$root" && cargo build -q --release --locked -p relay && cargo build -q --release --locked -p firehose --example firehose_bench)
fi
RELAY_BIN="${RELAY_BIN:-$target_dir/release/relay}"
BENCH_BIN="${BENCH_BIN:-$target_dir/release/examples/firehose_bench}"
export RELAY_BIN

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-firehose.XXXXXX")
REF_PID=""
status=1
cleanup() {
  if [ -n "$REF_PID" ]; then kill "$REF_PID" 2>/dev/null || true; wait "$REF_PID" 2>/dev/null || true; fi
  stop_stack "$status"
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting our relay (release) ..."
STACK_PROFILE=release start_stack
log "relay: $subs subscribers x $rates events/s, ${seconds}s each ..."
"$BENCH_BIN" --pds "$PDS_URL" --pid "$RELAY_PID" --label relay --subscribers "$subs" \
  --rates "$rates" --seconds "$seconds" --json "$work/results.jsonl" >&2
stop_stack 0

if [ "$reference" = 1 ]; then
  if [ ! -d "$here/../e2e/reference/node_modules/@atproto/dev-env" ]; then
    log "installing the reference PDS (npm ci in interop-tests/e2e/reference) ..."
    (cd "$here/../e2e/reference" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  log "starting the reference PDS ..."
  node "$here/../e2e/reference-pds.mjs" >"$work/reference.json" 2>"$work/reference.log" &
  REF_PID=$!
  for _ in $(seq 1 600); do
    [ -s "$work/reference.json" ] && break
    kill -0 "$REF_PID" 2>/dev/null || { cat "$work/reference.log" >&2; exit 1; }
    sleep 0.1
  done
  ref_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pdsUrl"])' "$work/reference.json")
  ref_version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["versions"]["@atproto/pds"])' "$work/reference.json")
  log "reference @atproto/pds $ref_version: $subs subscribers x $rates events/s ..."
  "$BENCH_BIN" --pds "$ref_url" --pid "$REF_PID" --label "reference (@atproto/pds $ref_version)" \
    --subscribers "$subs" --rates "$rates" --seconds "$seconds" --json "$work/results.jsonl" >&2
fi

rev=$(cd "$root" && git rev-parse --short HEAD)
cmd="interop-tests/firehose/bench.sh$([ "$quick" = 1 ] && echo " --quick" || true)$([ "$reference" = 0 ] && echo " --no-reference" || true)"
[ -n "$o_subs$o_rates$o_seconds" ] && cmd="$cmd --subscribers $subs --rates $rates --seconds $seconds"
python3 - "$work/results.jsonl" "$out" "$cmd" "$rev" <<'PY'
import json, sys, datetime, platform, os
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out, cmd, rev = sys.argv[2], sys.argv[3], sys.argv[4]
lines = [
    "# Firehose benchmark (generated)", "",
    f"Command: `{cmd}` at `{rev}`, {datetime.date.today()}, {os.cpu_count()} CPUs, {platform.platform()}.",
    "Client and servers share the machine. Latency = receive time - event `time` (ms resolution).",
    f"The client reads with {rows[0].get('client_threads', 1) if rows else 1} subscriber thread(s) and writes with one more.", "",
    "Server and client CPU: % of one core over the level (writes + drain), from /proc/PID/stat.",
    "Machine busy and steal: % of all CPUs' time over the same window, from /proc/stat (steal: time the",
    "hypervisor gave these CPUs to other guests; a level with steal ran on a noisy host).", "",
    "| server | subscribers | target ev/s | achieved ev/s | frames delivered | gaps | closed early | p50 ms | p99 ms | max ms | RSS before MiB | RSS max MiB | server CPU % | client CPU % | server µs/frame | machine busy % | steal % |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
]
for r in rows:
    lines.append(
        f"| {r['label']} | {r['subscribers']} ({r['connected']} connected) | {r['target_rate']} | {r['achieved_rate']} | "
        f"{r['delivered']*100:.2f}% | {r['gaps']} | {r['closed_early']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | "
        f"{r['rss_before_mib']} | {r['rss_max_mib']} | {r.get('server_cpu_pct')} | {r.get('client_cpu_pct')} | {r.get('server_us_per_frame')} | "
        f"{r.get('machine_busy_pct')} | {r.get('machine_steal_pct')} |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
log "wrote $out"
status=0
