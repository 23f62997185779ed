#!/usr/bin/env bash
# The whole model lifecycle on a bare machine, against the embedded tracking server:
# start MLflow, train, gate, promote, predict. Safe to re-run: every run registers
# a new version and gates it against the current production one. `make demo` then
# starts the API (make api-run) and calls it (demo.sh call-api).
#
#   demo.sh          run the lifecycle part of the demo
#   demo.sh call-api POST the seed example to the running API and print the URLs
#   demo.sh stop     stop the tracking server the demo started
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

if [[ "${1:-}" == "call-api" ]]; then
  api="http://127.0.0.1:${API_PORT:-8000}"
  step "7/7 POST $api/predict with the model's example row"
  # The first configured key, if the user set any (the demo itself configures none).
  models="$("$bin/mlship" models --json)"
  "$bin/python" - "$api" "$(keys="${API_KEYS:-}"; echo "${keys%%,*}")" "$MODEL_NAME" "$models" <<'PY'
import json
import sys
import urllib.request

api, key, name, models = sys.argv[1:5]
example = next(model["example"] for model in json.loads(models) if model["name"] == name)
headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
body = json.dumps({"features": example}).encode()
request = urllib.request.Request(f"{api}/predict", data=body, headers=headers)
with urllib.request.urlopen(request, timeout=10) as response:
    print(json.dumps(json.load(response), indent=2))
PY
  printf '\nAPI docs:   %s/docs\nmetrics:    %s/metrics\nMLflow UI:  %s\n' "$api" "$api" "$MLFLOW_TRACKING_URI"
  printf '\nBoth services keep running: stop them with make down\n'
  exit 0
fi

step "1/7 start the embedded MLflow tracking server"
platform/scripts/mlflow-server.sh start
echo "note: the embedded registry is open (no login) and listens on 127.0.0.1 only; every"
echo "      registry that persists (compose, Kubernetes, delivery) requires authentication"

step "2/7 train and register a new version of $MODEL_NAME"
"$bin/mlship" train

step "3/7 gate the new version (thresholds, production comparison, signature, smoke sample)"
"$bin/mlship" validate --report-dir "$state/reports"

step "4/7 promote the challenger: previous <- production, production <- challenger"
"$bin/mlship" promote

step "5/7 load models:/$MODEL_NAME@production and predict the model's example row"
"$bin/mlship" predict
