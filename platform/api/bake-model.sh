#!/bin/sh
# Build-time step of the API image: download MODEL_URI (e.g. models:/IrisClassifier@production)
# from MLFLOW_TRACKING_URI into the directory given as $1, so the image serves it with no
# registry. With MODEL_URI empty the directory stays empty and the API reads the registry.
set -eu
destination="$1"
if [ -z "${MODEL_URI:-}" ]; then
  mkdir -p "$destination"
  echo "bake-model: MODEL_URI not set, no model baked in (the API will read the registry)"
  exit 0
fi
if [ -z "${MLFLOW_TRACKING_URI:-}" ]; then
  echo "bake-model: MODEL_URI=${MODEL_URI} needs the build argument MLFLOW_TRACKING_URI" >&2
  exit 2
fi
download="$(mktemp -d)"
# `mlship-api fetch` resolves the alias and records name, version and run beside the model.
API_MODEL_URI="$MODEL_URI" API_TRACKING_URI="$MLFLOW_TRACKING_URI" mlship-api fetch "$download"
mlmodel="$(find "$download" -maxdepth 3 -name MLmodel -type f | head -n 1)"
if [ -z "$mlmodel" ]; then
  echo "bake-model: ${MODEL_URI} holds no MLmodel file" >&2
  exit 1
fi
rm -rf "$destination"
mkdir -p "$(dirname "$destination")"
mv "$(dirname "$mlmodel")" "$destination"
rm -rf "$download"
ls -l "$destination"
