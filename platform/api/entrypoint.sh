#!/bin/sh
# Start the inference service. A model baked into the image is served unless
# API_MODEL_URI says otherwise. `exec` hands signals straight to uvicorn, so
# SIGTERM stops accepting connections and drains in-flight requests first.
set -eu

baked=/opt/mlship/model
if [ -z "${API_MODEL_URI:-}" ] && [ -f "$baked/MLmodel" ]; then
  export API_MODEL_URI="$baked"
fi

exec mlship-api "$@"
