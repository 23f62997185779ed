#!/usr/bin/env bash
# The local "production" that make act-pr, act-main and act-rollback share until
# make act-down: a persistent registry (PostgreSQL + MLflow), a local OCI registry
# standing in for GitHub's container registry, a bare git repository standing in
# for GitHub's (its deploy branch holds the deploy record), and a directory
# standing in for GitHub's artifact storage.  Usage: act-production.sh up|down|vars
#
# Settings (environment): ACT_PROD_DIR (state, default .mlship/act-prod),
# ACT_PROD_POSTGRES_PORT, ACT_PROD_MLFLOW_PORT, ACT_PROD_REGISTRY_PORT,
# REGISTRY_IMAGE (the OCI registry image, from ../shared/docker-offline or registry:2).
set -euo pipefail

state="$(realpath -m "${ACT_PROD_DIR:-.mlship/act-prod}")"
postgres_port="${ACT_PROD_POSTGRES_PORT:-55433}"
mlflow_port="${ACT_PROD_MLFLOW_PORT:-55001}"
registry_port="${ACT_PROD_REGISTRY_PORT:-55002}"
registry_image="${REGISTRY_IMAGE:-registry:2.8.3}"
container="mlship-act-registry-$registry_port"
services() {
  CI_POSTGRES_PORT="$postgres_port" CI_MLFLOW_PORT="$mlflow_port" CI_SERVICES_DIR="$state/registry" \
    .github/scripts/ci-services.sh "$@"
}
say() { echo "act-production: $*" >&2; }

up() {
  mkdir -p "$state/artifacts"
  services up
  if [[ -z "$(docker ps -q --filter "name=^$container\$")" ]]; then
    docker rm -f "$container" >/dev/null 2>&1 || true
    docker run -d --name "$container" -p "127.0.0.1:$registry_port:5000" "$registry_image" >/dev/null
  fi
  local deadline=$((SECONDS + 60))
  until curl -fsS "http://127.0.0.1:$registry_port/v2/" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || {
      docker logs "$container" >&2 || true
      say "the OCI registry did not answer on port $registry_port"
      exit 1
    }
    sleep 0.5
  done
  [[ -d "$state/deploy.git" ]] || git init --quiet --bare "$state/deploy.git"
  say "up: MLflow http://127.0.0.1:$mlflow_port, OCI registry 127.0.0.1:$registry_port, deploy remote $state/deploy.git"
}

down() {
  docker rm -f "$container" >/dev/null 2>&1 || true
  services down
  rm -rf "$state"
  say "down"
}

# The act --var options that point the workflows at this production.
vars() {
  [[ -d "$state/deploy.git" ]] || {
    say "not up: run make act-up first"
    exit 1
  }
  printf -- '--var %s ' \
    "MLFLOW_REGISTRY_URI=http://127.0.0.1:$mlflow_port" \
    "IMAGE_NAMESPACE=127.0.0.1:$registry_port/mlship" \
    "DEPLOY_REMOTE=$state/deploy.git" \
    "ARTIFACT_STORE=$state/artifacts"
  echo
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  vars) vars ;;
  *) say "usage: $0 up|down|vars" && exit 2 ;;
esac
