#!/usr/bin/env bash
# Load test of the all-in-one hub (release build) on 127.0.0.1 — not part of the test suite.
#   scripts/load.sh [seconds, default 60] [query concurrency, default 2] [rows per query, default 20000]
# wrk drives a mix of list, form and cell executes (scripts/load/mix.lua, 64 connections) while
# a client keeps query executes running (rudder_track streaming a download_url to a local data
# plane, scripts/load/helpers.py). Reports requests/s, p50/p99, errors, the query executes and the
# hub's peak RSS (VmHWM).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
QUERIES=${2:-2}
ROWS=${3:-20000}
TARGET=${CARGO_TARGET_DIR:-target}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q --bin hub
TMP=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"' EXIT

python3 scripts/load/helpers.py serve "$TMP/plane.port" "$ROWS" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$TMP/plane.port" ] && break; sleep 0.1; done
PLANE="http://127.0.0.1:$(cat "$TMP/plane.port")"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HUB="http://127.0.0.1:$PORT"
HUB_TOKENS=load-secret HUB_OUTBOUND_ALLOW=127.0.0.1 HUB_BIND=127.0.0.1 PORT=$PORT HUB_STORE_PATH="$TMP/s.sqlite" \
  RUST_LOG=warn "$TARGET/release/hub" >"$TMP/hub.log" 2>&1 &
HUB_PID=$!
PIDS+=($HUB_PID)
for _ in $(seq 100); do curl -sf "$HUB/healthz" >/dev/null && break; sleep 0.05; done
echo "== idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$HUB_PID/status)"

echo "== ${SECS}s: wrk (2 threads, 64 connections: list 45 %, form 45 %, cell execute 10 %)" \
  "+ $QUERIES concurrent query executes of $ROWS rows"
# RSS every 10 s, to see whether it settles.
( while sleep 10; do printf '%s ' "$(awk '/VmRSS/ {print int($2/1024)}' /proc/$HUB_PID/status)"; done ) \
  >"$TMP/rss.txt" 2>/dev/null &
PIDS+=($!)
if [ "$QUERIES" -gt 0 ]; then
  python3 scripts/load/helpers.py queries "$HUB" "$PLANE" "$SECS" "$QUERIES" "$ROWS" >"$TMP/queries.txt" &
  QPID=$!
fi
if [ "${LOAD_WRK:-1}" = 1 ]; then
  wrk -t2 -c64 -d"${SECS}s" --latency -s scripts/load/mix.lua "$HUB" >"$TMP/wrk.txt"
  grep -E "Requests/sec|^ +(50|99)%|Non-2xx|Socket errors|not successful|requests in" "$TMP/wrk.txt"
fi
if [ "$QUERIES" -gt 0 ]; then
  wait $QPID
  cat "$TMP/queries.txt"
fi
echo "== hub RSS every 10 s (MiB): $(cat "$TMP/rss.txt")"
echo "data plane: $(curl -s -X PUT "$PLANE/")"
echo "== hub peak RSS (VmHWM): $(awk '/VmHWM/ {print $2, $3}' /proc/$HUB_PID/status)"
echo "== rows written by cell executes: $(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from suspicious_marks').fetchone()[0])" "$TMP/s.sqlite")"
if grep -qiE "panic|error" "$TMP/hub.log"; then
  echo "== hub log has errors:"; grep -iE "panic|error" "$TMP/hub.log" | head -5
fi
