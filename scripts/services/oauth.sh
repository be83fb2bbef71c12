# shellcheck shell=bash
# The real OAuth2 authorization server the tests log in against: npm oauth2-mock-server 8.2.3
# (pinned by oauth/package-lock.json; 9.x needs Node 22) made strict by oauth/server.mjs — codes
# are single-use and bound to client and redirect URI, secrets and refresh tokens are checked.
#
# Sourced by scripts/test.sh: installs it once into $HUB_TEST_SERVICES_DIR/oauth (git-ignored),
# starts it on 127.0.0.1 (a free port), waits until it answers and exports OAUTH_SERVER_URL; the
# test script stops it on exit. Run on its own (`bash scripts/services/oauth.sh`) it prints the
# export line and leaves the server running (its pid is in .services/oauth/server.pid).

oauth_service_start() {
  local root src dir pidfile urlfile log stamp want old
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  src="$root/scripts/services/oauth"
  dir="${HUB_TEST_SERVICES_DIR:-$root/.services}/oauth"
  pidfile="$dir/server.pid"
  urlfile="$dir/server.url"
  log="$dir/server.log"
  mkdir -p "$dir"

  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "oauth.sh: node and npm are required (Node >= 20.19)" >&2
    return 1
  fi

  # Install the pinned packages when the lock file differs from the last install.
  stamp="$dir/.installed"
  want=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -d "$dir/node_modules/oauth2-mock-server" ]; then
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || return 1
    echo "$want" >"$stamp"
  fi

  # One server at a time: a leftover from an earlier standalone run is replaced.
  old=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$old" ] && kill -0 "$old" 2>/dev/null; then
    kill "$old" 2>/dev/null || true
  fi
  rm -f "$urlfile"
  # Own session and no inherited stdio: CI's pipes close when the tests end.
  setsid node "$src/server.mjs" --host 127.0.0.1 --port "${OAUTH_SERVER_PORT:-0}" \
    --url-file "$urlfile" --modules "$dir/node_modules" </dev/null >"$log" 2>&1 &
  echo $! >"$pidfile"
  if declare -p SERVICE_PIDS >/dev/null 2>&1; then
    SERVICE_PIDS+=("$(cat "$pidfile")")
  fi

  local i
  for i in $(seq 1 100); do
    if [ -s "$urlfile" ] && curl -fsS --max-time 1 "$(cat "$urlfile")/__test/health" >/dev/null 2>&1; then
      export OAUTH_SERVER_URL
      OAUTH_SERVER_URL=$(cat "$urlfile")
      echo "OAuth test server: $OAUTH_SERVER_URL (log: $log)" >&2
      return 0
    fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || break
    sleep 0.1
  done
  echo "oauth.sh: the OAuth test server did not start (waited ${i}x100 ms); its log:" >&2
  cat "$log" >&2
  return 1
}

oauth_service_start || exit 1
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "export OAUTH_SERVER_URL=$OAUTH_SERVER_URL"
fi
