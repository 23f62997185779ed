#!/bin/sh
# MLflow tracking server configured by environment variables alone, so the image
# also works as a CI service container, where no command can be given.
#   MLFLOW_BACKEND_STORE_URI      SQLAlchemy URI (postgresql+psycopg2://user:pass@host/db)
#   MLFLOW_ARTIFACTS_DESTINATION  where proxied artifacts are stored
#   MLFLOW_EXPOSE_PROMETHEUS      exporter directory; /metrics is served when set
#   MLFLOW_ALLOWED_HOSTS          Host headers the server accepts (comma-separated)
#   MLFLOW_HOST, MLFLOW_PORT, MLFLOW_WORKERS
# The URIs and the exporter directory are read by `mlflow server` itself.
set -eu

case "${MLFLOW_WORKERS}" in
  '' | *[!0-9]*) echo "mlflow-entrypoint: MLFLOW_WORKERS must be a positive integer, got '${MLFLOW_WORKERS}'" >&2; exit 2 ;;
esac
if [ -z "${MLFLOW_BACKEND_STORE_URI:-}" ]; then
  echo "mlflow-entrypoint: MLFLOW_BACKEND_STORE_URI is empty" >&2
  exit 2
fi

exec mlflow server \
  --host "${MLFLOW_HOST}" \
  --port "${MLFLOW_PORT}" \
  --workers "${MLFLOW_WORKERS}" \
  --serve-artifacts \
  --allowed-hosts "${MLFLOW_ALLOWED_HOSTS}" \
  "$@"
