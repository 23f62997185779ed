#!/usr/bin/env bash
# The whole model lifecycle on a bare machine, against the embedded tracking server:
# start MLflow, train, gate, promote, predict. Safe to re-run: every run registers
# a new version and gates it against the current production one.
#
#   demo.sh          run the demo
#   demo.sh stop     stop what the demo started
#
# Environment (the Makefile passes these): VENV_BIN, MLFLOW_PORT,
# MLFLOW_TRACKING_URI, MODEL_NAME, MLSHIP_STATE_DIR.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bin="${VENV_BIN:-$root/.venv/bin}"
state="${MLSHIP_STATE_DIR:-$root/.mlship}"
export MLFLOW_PORT="${MLFLOW_PORT:-5000}"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-http://127.0.0.1:$MLFLOW_PORT}"
export MODEL_NAME="${MODEL_NAME:-IrisClassifier}"
export MLSHIP_STATE_DIR="$state" MLFLOW_BIN="$bin/mlflow"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if [[ "${1:-}" == "stop" ]]; then
  platform/scripts/mlflow-server.sh stop
  exit 0
fi

step "1/5 start the embedded MLflow tracking server"
platform/scripts/mlflow-server.sh start

step "2/5 train and register a new version of $MODEL_NAME"
"$bin/mlship" train

step "3/5 gate the new version (thresholds, production comparison, signature, smoke sample)"
"$bin/mlship" validate --report-dir "$state/reports"

step "4/5 promote the challenger: previous <- production, production <- challenger"
"$bin/mlship" promote

step "5/5 load models:/$MODEL_NAME@production and predict the seed example"
"$bin/mlship" predict --features 5.1,3.5,1.4,0.2

printf '\nMLflow UI: %s   registry status: make status   stop: make demo-stop\n' "$MLFLOW_TRACKING_URI"
