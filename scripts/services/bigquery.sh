#!/usr/bin/env bash
# BigQuery emulator (PyPI `bqemulator`: REST + Storage Read/Write gRPC) on 127.0.0.1 for the tests.
#
# Idempotent: installs into .services/bq-venv when missing, starts the emulator in the background
# when it is not already answering, waits until both ports are ready, then exports
#   BQ_EMULATOR_REST    (http://127.0.0.1:$BQ_EMULATOR_REST_PORT, default 9050)
#   BQ_EMULATOR_GRPC    (http://127.0.0.1:$BQ_EMULATOR_GRPC_PORT, default 9060)
#   BQ_EMULATOR_PROJECT (default "hub-test")
# Use it sourced (`source scripts/services/bigquery.sh`) or as `eval "$(scripts/services/bigquery.sh)"`.
# `scripts/services/bigquery.sh stop` stops the emulator this script started. When sourced by
# scripts/test.sh, an emulator started here is added to its SERVICE_PIDS (stopped when it exits).
# Nothing is downloaded at run time: DuckDB's spatial/avro extensions come from the pinned wheels.

_bq_main() {
  set -euo pipefail
  local here root svc venv home log pidfile portsfile rest_port grpc_port project sp
  BQ_EMULATOR_STARTED_PID=""
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  source "$here/lib/wait.sh"
  root="$(cd "$here/../.." && pwd)"
  svc="$root/.services"
  venv="$svc/bq-venv"
  home="$svc/bq-home" # DuckDB keeps installed extensions under $HOME/.duckdb
  log="$svc/bq-emulator.log"
  pidfile="$svc/bq-emulator.pid"
  portsfile="$svc/bq-emulator.ports"
  rest_port="${BQ_EMULATOR_REST_PORT:-9050}"
  grpc_port="${BQ_EMULATOR_GRPC_PORT:-9060}"
  project="${BQ_EMULATOR_PROJECT:-hub-test}"
  mkdir -p "$svc"

  if [[ "${1:-}" == "stop" ]]; then
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      local pid i
      pid="$(cat "$pidfile")"
      kill "$pid"
      # A wedged emulator ignores SIGTERM: give it 5 s, then SIGKILL.
      for i in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      echo "bigquery emulator stopped" >&2
    fi
    rm -f "$pidfile" "$portsfile"
    return 0
  fi

  # An emulator this checkout started keeps the ports it got (they may not be the defaults).
  if [[ -f "$pidfile" && -f "$portsfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    read -r rest_port grpc_port <"$portsfile" || true
  fi

  _bq_ready() {
    curl -sf -m 2 "http://127.0.0.1:$rest_port/bigquery/v2/projects/$project/datasets" >/dev/null &&
      (exec 3<>"/dev/tcp/127.0.0.1/$grpc_port") 2>/dev/null
  }

  if ! _bq_ready; then
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import bqemulator, duckdb' 2>/dev/null; then
      echo "bigquery emulator: installing into $venv" >&2
      python3 -m venv "$venv"
      "$venv/bin/pip" install -q --disable-pip-version-check 'bqemulator==1.4.0' 'duckdb==1.5.5' \
        'duckdb-extension-spatial==1.5.5' 'duckdb-extension-avro==1.5.5' numpy >&2
    fi
    sp="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    if [[ ! -f "$home/.duckdb/extensions/v1.5.5/linux_amd64/spatial.duckdb_extension" ||
      ! -f "$home/.duckdb/extensions/v1.5.5/linux_amd64/avro.duckdb_extension" ]]; then
      mkdir -p "$home"
      HOME="$home" "$venv/bin/python" - "$sp" <<'PY' >&2
import sys, duckdb
sp = sys.argv[1]
con = duckdb.connect()
for ext in ("spatial", "avro"):
    con.execute(f"INSTALL '{sp}/duckdb_extension_{ext}/extensions/v1.5.5/{ext}.duckdb_extension'")
    con.execute(f"LOAD {ext}")
print("bigquery emulator: duckdb extensions installed from the wheels")
PY
    fi
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "bigquery emulator: pid $(cat "$pidfile") is running but not ready yet" >&2
    else
      # Something else holds a default port: take free ones instead of failing.
      if (exec 3<>"/dev/tcp/127.0.0.1/$rest_port") 2>/dev/null || (exec 3<>"/dev/tcp/127.0.0.1/$grpc_port") 2>/dev/null; then
        rest_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        grpc_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        echo "bigquery emulator: default ports busy, using $rest_port / $grpc_port" >&2
      fi
      echo "bigquery emulator: starting on REST $rest_port / gRPC $grpc_port (log: $log)" >&2
      HOME="$home" nohup "$venv/bin/python" "$here/bqemulator_compat.py" start \
        --rest-port "$rest_port" --grpc-port "$grpc_port" --project "$project" \
        --log-format json --log-level warning >"$log" 2>&1 </dev/null &
      echo $! >"$pidfile"
      echo "$rest_port $grpc_port" >"$portsfile"
      BQ_EMULATOR_STARTED_PID=$!
    fi
    service_wait "bigquery emulator" _bq_ready "$pidfile" "$log" 30 || return 1
  fi
  BQ_EMULATOR_REST="http://127.0.0.1:$rest_port"
  BQ_EMULATOR_GRPC="http://127.0.0.1:$grpc_port"
  BQ_EMULATOR_PROJECT="$project"
  echo "bigquery emulator: ready at $BQ_EMULATOR_REST (gRPC $BQ_EMULATOR_GRPC)" >&2
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  # Sourced: run in a subshell so `set -e` does not leak, then export into the caller.
  if _bq_out="$( (_bq_main "$@" && printf '%s\n%s\n%s\n%s\n' "$BQ_EMULATOR_REST" "$BQ_EMULATOR_GRPC" \
    "$BQ_EMULATOR_PROJECT" "${BQ_EMULATOR_STARTED_PID:-}"))"; then
    if [[ "${1:-}" != "stop" ]]; then
      # The pid line is empty when the emulator was already running ($(...) drops it): no `set -e` trip.
      { read -r BQ_EMULATOR_REST; read -r BQ_EMULATOR_GRPC; read -r BQ_EMULATOR_PROJECT; read -r _bq_pid || true; } <<<"$_bq_out"
      export BQ_EMULATOR_REST BQ_EMULATOR_GRPC BQ_EMULATOR_PROJECT
      if [[ -n "${_bq_pid:-}" ]] && declare -p SERVICE_PIDS >/dev/null 2>&1; then
        SERVICE_PIDS+=("$_bq_pid")
      fi
      unset _bq_pid
    fi
    unset _bq_out
  else
    unset _bq_out
    return 1
  fi
else
  _bq_main "$@"
  if [[ "${1:-}" != "stop" ]]; then
    printf 'export BQ_EMULATOR_REST=%q\nexport BQ_EMULATOR_GRPC=%q\nexport BQ_EMULATOR_PROJECT=%q\n' \
      "$BQ_EMULATOR_REST" "$BQ_EMULATOR_GRPC" "$BQ_EMULATOR_PROJECT"
  fi
fi
