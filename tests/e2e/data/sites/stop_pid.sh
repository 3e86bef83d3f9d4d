# Sourced by the site scripts: stop_pid FILE TENTHS stops the process whose pid FILE
# holds (SIGTERM, then SIGKILL if it still runs TENTHS tenths of a second later) and
# removes FILE; nothing when FILE is absent.
stop_pid() {
  local f=$1 tenths=$2 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq "$tenths"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
