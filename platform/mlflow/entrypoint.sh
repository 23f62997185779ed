#!/bin/sh
# MLflow tracking server configured by environment variables alone, so the image
# also works as a CI service container, where no command can be given.
#   MLFLOW_BACKEND_STORE_URI      SQLAlchemy URI (postgresql+psycopg2://user:pass@host/db)
#   MLFLOW_ARTIFACTS_DESTINATION  where proxied artifacts are stored
#   MLFLOW_EXPOSE_PROMETHEUS      exporter directory; metrics are collected when set
#   MLFLOW_METRICS_PORT           port serving those metrics at /metrics without a
#                                 login (metrics_exporter.py); empty: none
#   MLFLOW_ALLOWED_HOSTS          Host headers the server accepts (comma-separated)
#   MLFLOW_HOST, MLFLOW_PORT, MLFLOW_WORKERS
#   MLFLOW_AUTH                   on (default): MLflow's basic-auth app, users from
#                                 provision_auth.py (MLFLOW_{ADMIN,DELIVERY,READER}_
#                                 {USERNAME,PASSWORD}[_FILE], MLFLOW_AUTH_DATABASE_URI);
#                                 off: no authentication, for a throwaway registry only
#   MLFLOW_FLASK_SERVER_SECRET_KEY[_FILE]  CSRF key of the auth app's sign-up form;
#                                 a random one per start when unset
# Every start migrates the backend store (`mlflow db upgrade`) and, with
# authentication, the auth tables, then provisions the users (idempotent).
# The URIs and the exporter directory are read by `mlflow server` itself.
set -eu

say() { echo "mlflow-entrypoint: $*" >&2; }
fail() { say "$*"; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)

case "${MLFLOW_WORKERS}" in
  '' | *[!0-9]*) fail "MLFLOW_WORKERS must be a positive integer, got '${MLFLOW_WORKERS}'" ;;
esac
if [ -z "${MLFLOW_BACKEND_STORE_URI:-}" ]; then
  fail "MLFLOW_BACKEND_STORE_URI is empty"
fi
case "${MLFLOW_METRICS_PORT:-}" in
  *[!0-9]*) fail "MLFLOW_METRICS_PORT must be a port number or empty, got '${MLFLOW_METRICS_PORT}'" ;;
esac
auth="${MLFLOW_AUTH:-on}"
case "$auth" in
  on | off) ;;
  *) fail "MLFLOW_AUTH must be 'on' or 'off', got '${auth}'" ;;
esac

# Refuse bad credentials before touching the database.
if [ "$auth" = on ]; then
  python "$here/provision_auth.py" check
fi

say "migrating the backend store (mlflow db upgrade)"
mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"

set -- --host "${MLFLOW_HOST}" --port "${MLFLOW_PORT}" --workers "${MLFLOW_WORKERS}" \
  --serve-artifacts --allowed-hosts "${MLFLOW_ALLOWED_HOSTS}" "$@"

if [ "$auth" = on ]; then
  config="${TMPDIR:-/tmp}/mlflow-auth/basic_auth.ini"
  python "$here/provision_auth.py" apply "$config"
  export MLFLOW_AUTH_CONFIG_PATH="$config"
  key_file="${MLFLOW_FLASK_SERVER_SECRET_KEY_FILE:-}"
  if [ -n "$key_file" ]; then
    [ -r "$key_file" ] || fail "MLFLOW_FLASK_SERVER_SECRET_KEY_FILE: cannot read ${key_file}"
    MLFLOW_FLASK_SERVER_SECRET_KEY=$(cat "$key_file")
  fi
  if [ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then
    MLFLOW_FLASK_SERVER_SECRET_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  fi
  export MLFLOW_FLASK_SERVER_SECRET_KEY
  # The users exist now: the server needs none of their passwords.
  unset MLFLOW_ADMIN_PASSWORD MLFLOW_DELIVERY_PASSWORD MLFLOW_READER_PASSWORD \
    MLFLOW_AUTH_DATABASE_URI MLFLOW_FLASK_SERVER_SECRET_KEY_FILE
  # Workspaces on: only identities granted the workspace may create (provision_auth.py).
  set -- --app-name basic-auth --enable-workspaces "$@"
  say "authentication on: basic-auth with workspaces, no anonymous access"
else
  say "WARNING: ==================================================================="
  say "WARNING: MLFLOW_AUTH=off: authentication is DISABLED. Anyone who reaches"
  say "WARNING: port ${MLFLOW_PORT} can read, write and delete every experiment and model."
  say "WARNING: Only for a throwaway registry; never where the registry persists."
  say "WARNING: ==================================================================="
fi

if [ -n "${MLFLOW_EXPOSE_PROMETHEUS:-}" ]; then
  # prometheus_client's multiprocess files of an earlier run (a restarted container)
  # would be summed with this run's; the directory itself may be a mount point.
  mkdir -p "${MLFLOW_EXPOSE_PROMETHEUS}"
  rm -f "${MLFLOW_EXPOSE_PROMETHEUS}"/*.db
fi
if [ -n "${MLFLOW_EXPOSE_PROMETHEUS:-}" ] && [ -n "${MLFLOW_METRICS_PORT:-}" ]; then
  python "$here/metrics_exporter.py" --host "${MLFLOW_HOST}" --port "${MLFLOW_METRICS_PORT}" \
    --directory "${MLFLOW_EXPOSE_PROMETHEUS}" &
fi

exec mlflow server "$@"
