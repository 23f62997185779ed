#!/usr/bin/env bash
# The local "production" that make act-pr, act-main and act-rollback share until
# make act-down, built from the same images as the compose stack:
#   - the persistent registry: PostgreSQL (POSTGRES_IMAGE) and the MLflow server
#     image of platform/mlflow with authentication on (admin, delivery, reader;
#     passwords generated here, in a file only root reads);
#   - a local OCI registry (REGISTRY_IMAGE) standing in for GitHub's container registry;
#   - a bare git repository standing in for GitHub's (its deploy branch holds the
#     deploy record) and a directory standing in for GitHub's artifact storage.
# Usage: act-production.sh up|down|flags   (flags: the act options that point a run here)
#
# Settings (environment): ACT_PROD_DIR (state, default .mlship/act-prod),
# ACT_PROD_MLFLOW_PORT, ACT_PROD_REGISTRY_PORT, PYTHON_IMAGE, POSTGRES_IMAGE, REGISTRY_IMAGE.
set -euo pipefail

state="$(realpath -m "${ACT_PROD_DIR:-.mlship/act-prod}")"
mlflow_port="${ACT_PROD_MLFLOW_PORT:-55001}"
registry_port="${ACT_PROD_REGISTRY_PORT:-55002}"
# Containers, network and volumes are named after the registry port: one production per port.
name="mlship-act-prod-$registry_port"
mlflow_image="mlship/mlflow:act-prod"
say() { echo "act-production: $*" >&2; }
die() {
  say "$*"
  exit 1
}

secret() { od -An -tx1 -N18 /dev/urandom | tr -d ' \n'; }

write_secrets() {
  [[ -s "$state/secrets.env" ]] && return
  (
    umask 077
    printf '%s=%s\n' POSTGRES_PASSWORD "$(secret)" MLFLOW_ADMIN_PASSWORD "$(secret)" \
      MLFLOW_DELIVERY_PASSWORD "$(secret)" MLFLOW_READER_PASSWORD "$(secret)" >"$state/secrets.env"
  )
}

running() { [[ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" == true ]]; }

wait_for() {
  local what="$1" container="$2" deadline=$((SECONDS + 240))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ! running "$container" || ((SECONDS > deadline)); then
      docker logs --tail 40 "$container" >&2 || true
      die "$what did not become ready (container $container)"
    fi
    sleep 0.5
  done
}

up() {
  mkdir -p "$state/artifacts"
  write_secrets
  # shellcheck source=/dev/null
  source "$state/secrets.env"
  docker network inspect "$name" >/dev/null 2>&1 || docker network create "$name" >/dev/null
  if ! running "$name-postgres"; then
    docker rm -f "$name-postgres" >/dev/null 2>&1 || true
    docker run -d --name "$name-postgres" --network "$name" -v "$name-postgres:/var/lib/postgresql/data" \
      -e POSTGRES_USER=mlflow -e POSTGRES_DB=mlflow -e POSTGRES_PASSWORD="$POSTGRES_PASSWORD" \
      "${POSTGRES_IMAGE:-postgres:15.14-bookworm}" >/dev/null
  fi
  wait_for PostgreSQL "$name-postgres" docker exec "$name-postgres" pg_isready -U mlflow -d mlflow
  if ! running "$name-mlflow"; then
    docker build -q --build-arg "PYTHON_IMAGE=${PYTHON_IMAGE:-python:3.11.14-slim-bookworm}" \
      -f platform/mlflow/Dockerfile -t "$mlflow_image" . >/dev/null
    docker rm -f "$name-mlflow" >/dev/null 2>&1 || true
    docker run -d --name "$name-mlflow" --network "$name" -p "127.0.0.1:$mlflow_port:5000" \
      -v "$name-artifacts:/var/lib/mlflow/artifacts" \
      -e MLFLOW_BACKEND_STORE_URI="postgresql+psycopg2://mlflow:$POSTGRES_PASSWORD@$name-postgres:5432/mlflow" \
      -e MLFLOW_ADMIN_PASSWORD="$MLFLOW_ADMIN_PASSWORD" \
      -e MLFLOW_DELIVERY_PASSWORD="$MLFLOW_DELIVERY_PASSWORD" \
      -e MLFLOW_READER_PASSWORD="$MLFLOW_READER_PASSWORD" \
      "$mlflow_image" >/dev/null
  fi
  wait_for "the MLflow server" "$name-mlflow" curl -fsS --max-time 2 "http://127.0.0.1:$mlflow_port/health"
  if ! running "$name-registry"; then
    docker rm -f "$name-registry" >/dev/null 2>&1 || true
    docker run -d --name "$name-registry" -p "127.0.0.1:$registry_port:5000" \
      "${REGISTRY_IMAGE:-registry:2.8.3}" >/dev/null
  fi
  wait_for "the OCI registry" "$name-registry" curl -fsS --max-time 2 "http://127.0.0.1:$registry_port/v2/"
  [[ -d "$state/deploy.git" ]] || git init --quiet --bare "$state/deploy.git"
  say "up: MLflow http://127.0.0.1:$mlflow_port (authenticated), OCI registry 127.0.0.1:$registry_port, deploy remote $state/deploy.git"
}

down() {
  docker rm -f "$name-mlflow" "$name-postgres" "$name-registry" >/dev/null 2>&1 || true
  docker volume rm "$name-postgres" "$name-artifacts" >/dev/null 2>&1 || true
  docker network rm "$name" >/dev/null 2>&1 || true
  rm -rf "$state"
  say "down"
}

# The act options that point a run at this production: repository variables, and the
# registry identities as secrets (a file act reads, so no password is on a command line).
flags() {
  [[ -s "$state/secrets.env" && -d "$state/deploy.git" ]] || die "not up: run make act-up first"
  # shellcheck source=/dev/null
  source "$state/secrets.env"
  (
    umask 077
    printf '%s=%s\n' MLFLOW_DELIVERY_PASSWORD "$MLFLOW_DELIVERY_PASSWORD" \
      MLFLOW_READER_PASSWORD "$MLFLOW_READER_PASSWORD" >"$state/act.secrets"
  )
  printf -- '--var %s ' \
    "MLFLOW_REGISTRY_URI=http://127.0.0.1:$mlflow_port" \
    "IMAGE_NAMESPACE=127.0.0.1:$registry_port/mlship" \
    "DEPLOY_REMOTE=$state/deploy.git" \
    "ARTIFACT_STORE=$state/artifacts"
  echo "--secret-file $state/act.secrets"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  flags) flags ;;
  *) say "usage: $0 up|down|flags" && exit 2 ;;
esac
