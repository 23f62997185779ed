#!/usr/bin/env bash
# A tracking server from the venv's MLflow, the one way the demo (embedded: SQLite,
# background) and the test suites (PostgreSQL, in the foreground under their own
# supervision) start one: local artifact store proxied by the server, one worker,
# loopback only. State lives in $MLSHIP_STATE_DIR/mlflow.
#
#   mlflow-server.sh start|stop|status   the embedded server, in the background
#   mlflow-server.sh run                 the server in the foreground (exec)
#
# Environment: MLFLOW_PORT (5000), MLSHIP_STATE_DIR (.mlship), MLFLOW_BIN (mlflow
# from .venv), MLFLOW_START_TIMEOUT seconds to wait for /health (120),
# MLFLOW_BACKEND_STORE_URI (default SQLite in the state directory),
# MLFLOW_ARTIFACTS_DESTINATION (default the state directory's artifacts/),
# MLFLOW_EXPOSE_PROMETHEUS (a directory: serve /metrics; default off).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
port="${MLFLOW_PORT:-5000}"
state="${MLSHIP_STATE_DIR:-$root/.mlship}/mlflow"
mlflow_bin="${MLFLOW_BIN:-$root/.venv/bin/mlflow}"
python_bin="$(dirname "$mlflow_bin")/python"
timeout="${MLFLOW_START_TIMEOUT:-120}"
pid_file="$state/mlflow.pid"
log_file="$state/mlflow.log"
url="http://127.0.0.1:$port"

healthy() {
  "$python_bin" - "$url/health" <<'PY' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
    sys.exit(0 if response.status == 200 else 1)
PY
}

running_pid() {
  [[ -f "$pid_file" ]] || return 1
  local pid
  pid="$(cat "$pid_file")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
  if pid="$(running_pid)"; then
    echo "mlflow: already running (pid $pid) on $url"
    return 0
  fi
  if healthy; then
    echo "mlflow: a server not started here already answers on $url; using it"
    return 0
  fi
  [[ -x "$mlflow_bin" ]] || { echo "mlflow: $mlflow_bin not found (run make install)" >&2; exit 1; }
  mkdir -p "$state"
  echo "mlflow: starting on $url (SQLite $state/mlflow.db, artifacts $state/artifacts, log $log_file)"
  # setsid: the server and its workers form one process group that stop() ends together.
  setsid "$0" run >>"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
  local deadline=$((SECONDS + timeout))
  until healthy; do
    if ! running_pid >/dev/null; then
      echo "mlflow: server exited during start-up; last log lines:" >&2
      tail -n 20 "$log_file" >&2
      rm -f "$pid_file"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "mlflow: not healthy after ${timeout}s; see $log_file" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "mlflow: ready at $url"
}

run() {
  local artifacts="${MLFLOW_ARTIFACTS_DESTINATION:-$state/artifacts}" metrics=()
  mkdir -p "$state" "$artifacts"
  if [[ -n "${MLFLOW_EXPOSE_PROMETHEUS:-}" ]]; then
    mkdir -p "$MLFLOW_EXPOSE_PROMETHEUS"
    metrics=(--expose-prometheus "$MLFLOW_EXPOSE_PROMETHEUS")
  fi
  # Job execution (huey consumers for GenAI features this platform does not use) is off:
  # five idle processes less on a small machine.
  export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"
  exec "$mlflow_bin" server \
    --backend-store-uri "${MLFLOW_BACKEND_STORE_URI:-sqlite:///$state/mlflow.db}" \
    --artifacts-destination "$artifacts" \
    --serve-artifacts \
    --host 127.0.0.1 \
    --port "$port" \
    --workers 1 \
    "${metrics[@]}"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$pid_file"
    echo "mlflow: not running"
    return 0
  fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
  fi
  rm -f "$pid_file"
  echo "mlflow: stopped (pid $pid)"
}

status() {
  if pid="$(running_pid)"; then
    echo "mlflow: running (pid $pid) on $url"
  else
    echo "mlflow: not running"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  run) run ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|run|stop|status" >&2; exit 2 ;;
esac
