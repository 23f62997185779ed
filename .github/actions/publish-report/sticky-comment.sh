#!/usr/bin/env bash
# Keeps one comment per pull request and model with the gate report: edits the
# comment that carries the report's marker (<!-- mlship-gate-report:MODEL -->, its
# last line, written by mlship_ci.py), or creates it. Each matrix leg reports on its
# own model, so legs never overwrite each other's comment.
# Needs GH_TOKEN, REPORT, PR_NUMBER, REPOSITORY.
set -euo pipefail

[[ -f "$REPORT" ]] || {
  echo "sticky-comment: no report at $REPORT" >&2
  exit 1
}
body="$(cat "$REPORT")"
# Model names are [A-Za-z][A-Za-z0-9_.-]*: the marker is safe inside the jq string below.
marker="$(grep -oE '<!-- mlship-gate-report:[A-Za-z][A-Za-z0-9_.-]* -->' "$REPORT" | tail -n 1 || true)"
[[ -n "$marker" ]] || {
  echo "sticky-comment: $REPORT carries no model marker" >&2
  exit 1
}

existing="$(gh api --paginate "repos/$REPOSITORY/issues/$PR_NUMBER/comments" \
  --jq ".[] | select(.user.type == \"Bot\" and (.body | contains(\"$marker\"))) | .id" |
  head -n 1)"

if [[ -n "$existing" ]]; then
  gh api --method PATCH "repos/$REPOSITORY/issues/comments/$existing" -f body="$body" >/dev/null
  echo "updated comment $existing"
else
  gh api --method POST "repos/$REPOSITORY/issues/$PR_NUMBER/comments" -f body="$body" >/dev/null
  echo "created the report comment"
fi
