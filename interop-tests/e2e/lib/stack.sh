# Shared start/stop logic for the end-to-end tests (sourced by interop-tests/e2e/run.sh,
# interop-tests/python/run.sh and interop-tests/e2e/bench.sh; not executable on its own).
#
# start_stack starts, on 127.0.0.1 and free ports, our local PLC directory (`relay plc serve`,
# in memory) and `relay serve` pointed at it with a fresh temporary data directory, waits for
# both health endpoints, and exports:
#   PDS_URL, PLC_URL        base URLs (http://127.0.0.1:PORT)
#   RELAY_PID, PLC_PID      process ids (for kill, /proc/PID/status)
#   STACK_TMP               the temporary folder (data dir + logs)
#   PDS_OUTBOX_DIR          where relay serve writes emails (<data dir>/outbox)
# stop_stack kills both (by pid), prints the tails of their logs when asked to (a failure), and
# removes STACK_TMP unless KEEP_TMP=1. Callers install `trap stop_stack EXIT`.
#
# The relay binary comes from $RELAY_BIN; when unset, `cargo build -p relay` (debug) is run
# and the workspace's target dir is used. Extra `RELAY_*` settings for `relay serve` may be
# passed in STACK_RELAY_ENV (space-separated NAME=value words).

STACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"

stack_log() { echo "[stack] $*" >&2; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# resolve_relay_bin [profile]: sets RELAY_BIN (builds it when unset; profile debug|release).
resolve_relay_bin() {
  local profile="${1:-debug}"
  if [ -n "${RELAY_BIN:-}" ]; then
    if [ ! -x "$RELAY_BIN" ]; then
      stack_log "RELAY_BIN=$RELAY_BIN is not an executable file (build it with: cargo build -p relay)"
      return 1
    fi
    return 0
  fi
  local target_dir flag=()
  [ "$profile" = release ] && flag=(--release)
  target_dir=$(cd "$STACK_ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  stack_log "RELAY_BIN unset: building relay ($profile) ..."
  (cd "$STACK_ROOT" && cargo build -q -p relay --locked "${flag[@]}") || {
    stack_log "cargo build -p relay failed: the end-to-end tests need the relay binary"
    return 1
  }
  RELAY_BIN="$target_dir/$profile/relay"
  export RELAY_BIN
}

# wait_http URL PID NAME LOG: polls URL until it answers 200 (30 s), failing early if PID died.
wait_http() {
  local url="$1" pid="$2" name="$3" log="$4" i
  for i in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      stack_log "$name exited before answering $url; its log:"
      tail -n 40 "$log" >&2
      return 1
    fi
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  stack_log "$name did not answer $url within 30 s; its log:"
  tail -n 40 "$log" >&2
  return 1
}

start_stack() {
  resolve_relay_bin "${STACK_PROFILE:-debug}" || return 1
  STACK_TMP=$(mktemp -d "${TMPDIR:-/tmp}/relay-e2e.XXXXXX")
  local plc_port pds_port
  plc_port=$(free_port)
  pds_port=$(free_port)
  while [ "$pds_port" = "$plc_port" ]; do pds_port=$(free_port); done
  PLC_URL="http://127.0.0.1:$plc_port"
  PDS_URL="http://127.0.0.1:$pds_port"

  "$RELAY_BIN" plc serve --bind 127.0.0.1 --port "$plc_port" >"$STACK_TMP/plc.log" 2>&1 &
  PLC_PID=$!
  wait_http "$PLC_URL/_health" "$PLC_PID" "relay plc serve" "$STACK_TMP/plc.log" || return 1

  # A clean environment for the server: no RELAY_CONFIG or other RELAY_* from the caller.
  # public_url uses 127.0.0.1 (what the DID document's #atproto_pds endpoint will say), since
  # clients follow that endpoint after login and the server listens on IPv4 loopback only.
  # RUST_LOG=warn: per-request info lines would cost the benchmark (override with STACK_RUST_LOG).
  # shellcheck disable=SC2086
  env -u RELAY_CONFIG \
    RUST_LOG="${STACK_RUST_LOG:-warn}" \
    RELAY_DATA_DIR="$STACK_TMP/data" \
    RELAY_BIND=127.0.0.1 \
    RELAY_PORT="$pds_port" \
    RELAY_HOSTNAME=localhost \
    RELAY_PUBLIC_URL="$PDS_URL" \
    RELAY_SERVICE_HANDLE_DOMAINS=.test \
    RELAY_PLC_URL="$PLC_URL" \
    RELAY_ALLOW_PRIVATE_OUTBOUND=true \
    RELAY_APPVIEW_DID= \
    ${STACK_RELAY_ENV:-} \
    "$RELAY_BIN" serve >"$STACK_TMP/relay.log" 2>&1 &
  RELAY_PID=$!
  wait_http "$PDS_URL/xrpc/_health" "$RELAY_PID" "relay serve" "$STACK_TMP/relay.log" || return 1
  # Where the default mailer (no smtp_url) writes emails; lib/outbox.mjs reads the codes.
  PDS_OUTBOX_DIR="$STACK_TMP/data/outbox"
  export PDS_URL PLC_URL RELAY_PID PLC_PID STACK_TMP PDS_OUTBOX_DIR
  stack_log "relay serve pid $RELAY_PID at $PDS_URL, relay plc serve pid $PLC_PID at $PLC_URL (logs: $STACK_TMP)"
}

# stop_stack [show_logs]: kills our two processes (by pid) and cleans up.
stop_stack() {
  local show="${1:-0}" pid
  for pid in ${RELAY_PID:-} ${PLC_PID:-}; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in ${RELAY_PID:-} ${PLC_PID:-}; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "${STACK_TMP:-}" ] && [ -d "$STACK_TMP" ]; then
    if [ "$show" != 0 ]; then
      stack_log "last lines of relay serve's log:"
      tail -n 30 "$STACK_TMP/relay.log" >&2 || true
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then
      stack_log "kept $STACK_TMP"
    else
      rm -rf "$STACK_TMP"
    fi
  fi
  RELAY_PID=
  PLC_PID=
}
