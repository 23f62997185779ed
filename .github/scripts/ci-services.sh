#!/usr/bin/env bash
# PostgreSQL and an MLflow tracking server on loopback, standing in for the
# service containers of the workflows when act runs them in host mode (act
# skips `services:` there). Usage: ci-services.sh up|down|status
#
# Settings (environment):
#   CI_POSTGRES_PORT  port of the throwaway PostgreSQL cluster (default 5432)
#   CI_MLFLOW_PORT    port of the MLflow server (default 5000)
#   CI_POSTGRES_DSN   use this existing server instead of a throwaway cluster
#   CI_SERVICES_DIR   state directory: data, logs, pid files (default .mlship/ci-services)
#   MLFLOW_BIN        the mlflow executable (default .venv/bin/mlflow)
#   PYTHON_BIN        a Python with psycopg2 (default .venv/bin/python)
set -euo pipefail

postgres_port="${CI_POSTGRES_PORT:-5432}"
mlflow_port="${CI_MLFLOW_PORT:-5000}"
# Absolute: the PostgreSQL server resolves relative paths from its data directory.
state="$(realpath -m "${CI_SERVICES_DIR:-.mlship/ci-services}")"
mlflow_bin="${MLFLOW_BIN:-.venv/bin/mlflow}"
python_bin="${PYTHON_BIN:-.venv/bin/python}"

say() { echo "ci-services: $*" >&2; }
die() {
  say "$*"
  exit 1
}

pg_tool() {
  local found
  found="$(find /usr/lib/postgresql -path "*/bin/$1" 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$found" ]] || found="$(command -v "$1" || true)"
  [[ -n "$found" ]] || die "$1 not found: install PostgreSQL or set CI_POSTGRES_DSN"
  echo "$found"
}

# initdb and pg_ctl refuse to run as root: run them as the postgres user then.
as_postgres() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_is_free() {
  "$python_bin" - "$1" <<'PY'
import socket
import sys

with socket.socket() as sock:
    try:
        sock.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PY
}

# Creates the mlflow database if needed and prints its SQLAlchemy URL (psycopg2 driver:
# SQLAlchemy 2.1 maps a plain postgresql:// URL to psycopg 3).
mlflow_database() {
  "$python_bin" - "$1" <<'PY'
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg2

dsn = sys.argv[1]
connection = psycopg2.connect(dsn, connect_timeout=5)
connection.autocommit = True
with connection.cursor() as cursor:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = 'mlflow'")
    if cursor.fetchone() is None:
        cursor.execute("CREATE DATABASE mlflow")
connection.close()
parts = urlsplit(dsn)
print(urlunsplit(("postgresql+psycopg2", parts.netloc, "/mlflow", parts.query, "")))
PY
}

wait_for_mlflow() {
  local deadline=$((SECONDS + 240))
  until curl -fsS "http://127.0.0.1:$mlflow_port/health" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$state/mlflow.pid")" 2>/dev/null; then
      tail -n 30 "$state/mlflow.log" >&2 || true
      die "mlflow server exited while starting (log: $state/mlflow.log)"
    fi
    if ((SECONDS > deadline)); then
      tail -n 30 "$state/mlflow.log" >&2 || true
      die "mlflow server not healthy after 240 s (log: $state/mlflow.log)"
    fi
    sleep 0.5
  done
}

start_postgres() {
  if [[ -n "${CI_POSTGRES_DSN:-}" ]]; then
    echo "$CI_POSTGRES_DSN" >"$state/postgres.dsn"
    return
  fi
  port_is_free "$postgres_port" || die "port $postgres_port is taken: set CI_POSTGRES_PORT"
  local pg_ctl data
  pg_ctl="$(pg_tool pg_ctl)"
  # A directory of its own under TMPDIR: as root the cluster runs as postgres,
  # which may not traverse the state directory's parents.
  data="$(mktemp -d -t mlship-ci-postgres.XXXXXX)"
  echo "$data" >"$state/postgres.data"
  [[ "$(id -u)" == 0 ]] && chown postgres "$data"
  as_postgres "$pg_ctl" initdb -s -D "$data" -o "--auth=trust -U postgres" >/dev/null
  as_postgres "$pg_ctl" start -w -s -D "$data" -l "$data/server.log" \
    -o "-p $postgres_port -k $data -h 127.0.0.1 -c fsync=off" >/dev/null
  echo "postgresql://postgres@127.0.0.1:$postgres_port/postgres" >"$state/postgres.dsn"
}

start_mlflow() {
  port_is_free "$mlflow_port" || die "port $mlflow_port is taken: set CI_MLFLOW_PORT"
  local backend
  backend="$(mlflow_database "$(cat "$state/postgres.dsn")")"
  mkdir -p "$state/artifacts"
  # A session of its own, so that `down` stops the server and its workers, nothing else.
  setsid "$mlflow_bin" server \
    --backend-store-uri "$backend" \
    --artifacts-destination "$state/artifacts" \
    --serve-artifacts \
    --host 127.0.0.1 --port "$mlflow_port" --workers 1 \
    >"$state/mlflow.log" 2>&1 </dev/null &
  echo $! >"$state/mlflow.pid"
  wait_for_mlflow
}

up() {
  if [[ -f "$state/mlflow.pid" ]] && kill -0 "$(cat "$state/mlflow.pid")" 2>/dev/null; then
    say "already up (MLflow on port $(cat "$state/mlflow.port"))"
    return
  fi
  [[ -x "$mlflow_bin" ]] || die "$mlflow_bin not found: run make install"
  # Both ports first: fail before anything starts.
  port_is_free "$mlflow_port" || die "port $mlflow_port is taken: set CI_MLFLOW_PORT"
  mkdir -p "$state"
  echo "$mlflow_port" >"$state/mlflow.port"
  # Whatever fails while starting (set -e or die), stop what already runs.
  trap down EXIT
  start_postgres
  start_mlflow
  trap - EXIT
  say "PostgreSQL $(sed -E 's#//[^@]*@#//#' "$state/postgres.dsn"), MLflow http://127.0.0.1:$mlflow_port"
}

down() {
  if [[ -f "$state/mlflow.pid" ]]; then
    local pid
    pid="$(cat "$state/mlflow.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || true
      for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
  fi
  if [[ -f "$state/postgres.data" ]]; then
    local data
    data="$(cat "$state/postgres.data")"
    if [[ -f "$data/PG_VERSION" ]]; then
      as_postgres "$(pg_tool pg_ctl)" stop -s -m fast -D "$data" >/dev/null 2>&1 || true
    fi
    rm -rf "$data"
  fi
  rm -rf "$state"
}

status() {
  if [[ -f "$state/mlflow.pid" ]] && kill -0 "$(cat "$state/mlflow.pid")" 2>/dev/null; then
    echo "up: MLflow http://127.0.0.1:$(cat "$state/mlflow.port")"
  else
    echo "down"
    return 1
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
