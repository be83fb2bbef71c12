#!/usr/bin/env bash
# Benchmark of the hub's foundation (not a test): start-up time, requests/s and p99 of `POST /` and
# the form call under wrk on 127.0.0.1, release binary sizes and idle RSS.
# Usage: scripts/bench/hub.sh [seconds per load run, default 10]; HUB_BIN=path skips the build
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-10}
TARGET=${CARGO_TARGET_DIR:-target}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
# HUB_BIN=path runs an already built hub (e.g. two commits side by side) and skips the build.
if [ -n "${HUB_BIN:-}" ]; then
  BIN=$HUB_BIN
else
  cargo build --release --workspace --bins -q
  BIN="$TARGET/release/hub"
fi
TMP=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
export HUB_TOKENS=bench-secret HUB_OUTBOUND_ALLOW=127.0.0.1 HUB_BIND=127.0.0.1 HUB_STORE_PATH="$TMP/s.sqlite" RUST_LOG=warn

echo "== start-up: process start -> first successful POST / (20 runs)"
python3 - "$BIN" <<'PY'
import os, socket, statistics, subprocess, sys, time
bin_ = sys.argv[1]
req = (b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Token token=\"bench-secret\"\r\n"
       b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
times = []
for i in range(20):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    env = dict(os.environ, PORT=str(port))
    t0 = time.perf_counter()
    p = subprocess.Popen([bin_], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=1)
            c.sendall(req)
            data = c.recv(64)
            c.close()
            if data.startswith(b"HTTP/1.1 200"):
                break
        except OSError:
            time.sleep(0.0005)
    times.append((time.perf_counter() - t0) * 1000)
    p.terminate(); p.wait()
print(f"median {statistics.median(times):.1f} ms, min {min(times):.1f} ms, max {max(times):.1f} ms")
PY

PORT=18765
PORT=$PORT "$BIN" >/dev/null 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done
sleep 1
echo "== idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$PID/status)"

cat > "$TMP/list.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Authorization"] = 'Token token="bench-secret"'
wrk.headers["Content-Type"] = "application/json"
LUA
cat > "$TMP/form.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"type":"cell","data":{"value":"ORD-1001"},"form_params":{}}'
wrk.headers["Authorization"] = 'Token token="bench-secret"'
wrk.headers["Content-Type"] = "application/json"
LUA
for what in list form; do
  path=/; [ $what = form ] && path=/actions/mark_suspicious/form
  echo "== wrk POST $path: 2 threads, 64 connections, ${DURATION}s"
  wrk -t2 -c64 -d"${DURATION}s" --latency -s "$TMP/$what.lua" "http://127.0.0.1:$PORT$path" \
    | grep -E "Requests/sec|^ +(50|99)%|Non-2xx|Socket errors"
done
echo "== peak RSS under load: $(awk '/VmHWM/ {print $2, $3}' /proc/$PID/status)"
echo "== release binary sizes"
[ -n "${HUB_BIN:-}" ] && { du -h "$BIN"; exit 0; }
for b in actions_list action_form action_execute oauth_initiate oauth_callback hub; do
  printf '%-16s %s\n' "$b" "$(du -h "$TARGET/release/$b" | cut -f1)"
done
