# Shared by the service scripts (sourced; not a service itself, so it sits outside the *.sh glob
# that scripts/test.sh sources).

# service_wait NAME READY_FUNCTION PIDFILE LOG SECONDS
# Wait until READY_FUNCTION succeeds, polling every 0.2 s for up to SECONDS; fail with the log's
# last lines as soon as the process in PIDFILE is gone, or when the time is up.
service_wait() {
  local name="$1" ready="$2" pidfile="$3" log="$4" seconds="$5" i
  for i in $(seq 1 $((seconds * 5))); do
    "$ready" && return 0
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "$name: failed to start; last log lines:" >&2
      tail -n 20 "$log" >&2
      return 1
    fi
    sleep 0.2
  done
  "$ready" && return 0
  echo "$name: not ready after $seconds s; last log lines:" >&2
  tail -n 20 "$log" >&2
  return 1
}
