#!/usr/bin/env bash
# Keeps one comment per pull request with the gate report: edits the comment that
# carries the marker, or creates it. Needs GH_TOKEN, REPORT, PR_NUMBER, REPOSITORY.
set -euo pipefail

marker="<!-- mlship-gate-report -->"
[[ -f "$REPORT" ]] || {
  echo "sticky-comment: no report at $REPORT" >&2
  exit 1
}
body="$(cat "$REPORT")"
[[ "$body" == *"$marker"* ]] || body="$(printf '%s\n%s' "$body" "$marker")"

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
