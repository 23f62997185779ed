#!/bin/sh
# With arguments: run that `mlship` command (e.g. `status`, `rollback`).
# Without: the lifecycle a merge runs — train a new version, gate it, and promote
# it when it passes. A failed gate exits non-zero and leaves the aliases alone.
set -eu

if [ "$#" -gt 0 ]; then
  exec mlship "$@"
fi

trained="$(mlship train --json)"
printf '%s\n' "$trained"
# MLflow may print run links before the JSON document: decode from its first line.
# shellcheck disable=SC2016 # the Python program is literal on purpose
version="$(printf '%s' "$trained" | python -c '
import json, re, sys
text = sys.stdin.read()
start = re.search(r"^\{", text, re.MULTILINE)
if start is None:
    sys.exit("trainer: `mlship train --json` printed no JSON document")
print(json.JSONDecoder().raw_decode(text, start.start())[0]["version"])
')"
echo "trainer: gating version ${version}"
mlship validate --version "$version"
mlship promote --version "$version"
