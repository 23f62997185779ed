#!/usr/bin/env bash
# The steps of the GitOps delivery contract, one subcommand each, called by the
# Makefile's ci-* targets (and so by the workflows and by act). Every step fails
# closed: a missing input stops it with a message naming what is missing, and no
# step guesses a version (no "latest", no shared alias).
#
#   pull request:  train -> gate train -> export -> store (act) / upload (GitHub)
#   main:          merged-pr -> fetch -> verify -> register -> gate register -> image
#                  -> smoke (make smoke) -> promote -> push -> record; restore on failure
#   rollback:      rollback (revert the record, set the aliases from it, push the branch)
#
# Each run acts on one model, MODEL_NAME (the workflows' matrices run one leg per
# model): its artifact model-<name>-<sha>, its deploy record <release dir>/<name>/.
#
# Environment: MLSHIP (the mlship CLI), PYTHON, CI_DIR, BUNDLE_DIR, IMAGE_MODEL_DIR,
# MODEL_NAME, MLFLOW_TRACKING_URI, HEAD_SHA, API_IMAGE, DEPLOY_RELEASE_DIR,
# DEPLOY_REMOTE, DEPLOY_BRANCH, ARTIFACT_STORE (act's stand-in for GitHub's artifact storage).
set -euo pipefail

mlship="${MLSHIP:-.venv/bin/mlship}"
python="${PYTHON:-.venv/bin/python}"
ci_dir="${CI_DIR:-.mlship/ci}"
bundle="${BUNDLE_DIR:-.mlship/bundle}"
model_name="${MODEL_NAME:-IrisClassifier}"
release_dir="${DEPLOY_RELEASE_DIR:-platform/k8s/overlays/prod/release}"

say() { echo "delivery: $*" >&2; }
die() {
  say "$*"
  exit 1
}
# The name becomes a path, an image tag and an artifact name: model/models' own rule.
[[ "$model_name" =~ ^[A-Za-z][A-Za-z0-9_.-]*$ ]] || die "MODEL_NAME '$model_name' is not a model name"
record="$release_dir/$model_name/kustomization.yaml"
need() { [[ -n "${!1:-}" ]] || die "$2 (set $1)"; }
field() { "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
artifact_name() { echo "model-${model_name}-${HEAD_SHA}"; }

mkdir -p "$ci_dir"

# The version a step acts on, by number, from the file the step before wrote.
version_from() {
  [[ -s "$ci_dir/$1.json" ]] || die "no $ci_dir/$1.json: run the '$1' step first"
  local version
  version="$(field "$ci_dir/$1.json" version)"
  [[ "$version" =~ ^[1-9][0-9]*$ ]] || die "$ci_dir/$1.json names no version ($version)"
  echo "$version"
}

train() {
  "$mlship" train --json >"$ci_dir/train.json"
  say "trained $model_name version $(version_from train)"
}

gate() {
  local source="${1:?gate needs train or register}" version
  version="$(version_from "$source")"
  "$mlship" validate --version "$version" --report-dir "${GATE_REPORT_DIR:-.mlship/reports}"
}

export_bundle() {
  rm -rf "$bundle"
  "$mlship" export --version "$(version_from train)" --out "$bundle"
}

store() {
  need ARTIFACT_STORE "no artifact store"
  need HEAD_SHA "no head commit to key the artifact by"
  local target
  target="$ARTIFACT_STORE/$(artifact_name)"
  rm -rf "$target.partial" && mkdir -p "$ARTIFACT_STORE"
  cp -R "$bundle" "$target.partial"
  rm -rf "$target" && mv "$target.partial" "$target"
  say "stored $(artifact_name)"
}

# The head commit of the pull request this push merged (empty: a direct push, or a
# manual run, which has no merge to take bundles from: the model is trained here).
merged_pr() {
  local head="${MLSHIP_MERGED_HEAD_SHA:-}"
  if [[ -z "$head" && -n "${GITHUB_REPOSITORY:-}" && -z "${ACT:-}" &&
    "${GITHUB_EVENT_NAME:-}" != workflow_dispatch ]]; then
    need GH_TOKEN "no token to look the merged pull request up"
    head="$(gh api "repos/$GITHUB_REPOSITORY/commits/$GITHUB_SHA/pulls" \
      --jq '[.[] | select(.merged_at != null)][0].head.sha // empty')"
  fi
  local train_here=false
  [[ -n "$head" ]] || train_here=true
  # The steps after this one read HEAD_SHA (the commit the model comes from) and TRAIN_HERE.
  if [[ -n "${GITHUB_ENV:-}" ]]; then
    printf 'HEAD_SHA=%s\nTRAIN_HERE=%s\n' "${head:-${GITHUB_SHA:?}}" "$train_here" >>"$GITHUB_ENV"
  fi
  say "merged pull request head: ${head:-none (a direct push: the model is trained here)}"
}

fetch() {
  need HEAD_SHA "no pull request head commit to fetch the model of"
  rm -rf "$bundle"
  local how="re-run the pull request workflow on $HEAD_SHA to produce it again"
  if [[ -n "${ARTIFACT_STORE:-}" ]]; then
    [[ -d "$ARTIFACT_STORE/$(artifact_name)" ]] ||
      die "no artifact $(artifact_name) in $ARTIFACT_STORE: $how"
    cp -R "$ARTIFACT_STORE/$(artifact_name)" "$bundle"
  else
    need GITHUB_REPOSITORY "no artifact store and no GitHub repository"
    local run
    run="$(gh run list --repo "$GITHUB_REPOSITORY" --workflow pr.yml --commit "$HEAD_SHA" \
      --status success --limit 1 --json databaseId --jq '.[0].databaseId // empty')"
    [[ -n "$run" ]] || die "no successful pull request run for $HEAD_SHA: $how"
    gh run download "$run" --repo "$GITHUB_REPOSITORY" --name "$(artifact_name)" --dir "$bundle" ||
      die "artifact $(artifact_name) of run $run is missing or expired: $how"
  fi
  say "fetched $(artifact_name)"
}

verify() {
  need HEAD_SHA "no commit to check the model's lineage against"
  "$mlship" verify "$bundle" --git-sha "$HEAD_SHA"
}

register() {
  "$mlship" register "$bundle" --json >"$ci_dir/register.json"
  say "registered as $model_name version $(version_from register)"
}

# Stage the verified model directory in the build context with the registry facts the
# API reports (name, version, run), then build API_IMAGE with provenance labels.
image() {
  need API_IMAGE "no image name"
  local version staged="${IMAGE_MODEL_DIR:-.mlship/image-model/delivery}"
  version="$(version_from register)"
  "$mlship" verify "$bundle" --git-sha "${HEAD_SHA:?}"
  rm -rf "$staged" && mkdir -p "$(dirname "$staged")"
  cp -R "$bundle/model" "$staged"
  "$python" - "$bundle/manifest.json" "$ci_dir/register.json" "$staged/registered_model.json" <<'PY'
import json
import sys

manifest, registered = (json.load(open(path)) for path in sys.argv[1:3])
facts = {
    "name": registered["model_name"],
    "version": str(registered["version"]),
    "run_id": registered["run_id"],
    "aliases": [],
    "source": f"models:/{registered['model_name']}/{registered['version']}",
}
open(sys.argv[3], "w").write(json.dumps(facts, indent=2) + "\n")
PY
  docker build -f platform/api/Dockerfile --build-arg "PYTHON_IMAGE=${PYTHON_IMAGE:?}" \
    --build-arg "MODEL_DIR=$staged" --build-arg "SOURCE_URL=${SOURCE_URL:-}" \
    --build-arg "GIT_SHA=${HEAD_SHA}" --build-arg "MODEL_NAME=$model_name" \
    --build-arg "MODEL_VERSION=$version" \
    --build-arg "DATA_SHA256=$(field "$bundle/manifest.json" data_sha256)" \
    -t "$API_IMAGE" .
  echo "$API_IMAGE" >"$ci_dir/image"
  say "built $API_IMAGE with $model_name version $version"
}

promote() {
  "$mlship" promote --version "$(version_from register)" --json >"$ci_dir/promotion.json"
  cat "$ci_dir/promotion.json"
}

# After a failure: put the aliases back as they were before this run's promotion.
restore() {
  if [[ ! -s "$ci_dir/promotion.json" ]]; then
    say "no promotion in this run: aliases untouched"
    return 0
  fi
  "$mlship" restore --from "$ci_dir/promotion.json"
}

push() {
  need API_IMAGE "no image name"
  docker push "$API_IMAGE"
  local repository="${API_IMAGE%:*}" reference
  reference="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$API_IMAGE" |
    grep -m1 "^$repository@sha256:" || true)"
  [[ -n "$reference" ]] || die "the registry returned no digest for $API_IMAGE"
  echo "$reference" >"$ci_dir/image-digest"
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then echo "image=$reference" >>"$GITHUB_OUTPUT"; fi
  say "pushed $reference"
}

# Commit the deploy record on DEPLOY_BRANCH: main's manifests merged in, then the record.
record() {
  need DEPLOY_REMOTE "no git remote for the deploy branch"
  local branch="${DEPLOY_BRANCH:-deploy/production}" tree="$ci_dir/deploy-tree" version
  [[ -s "$ci_dir/image-digest" ]] || die "no pushed image digest: run the 'push' step first"
  version="$(version_from register)"
  deploy_checkout "$branch" "$tree"
  git -C "$tree" merge --no-edit -X ours --allow-unrelated-histories "${GITHUB_SHA:-HEAD}" >/dev/null
  # A record the prod overlay does not include would deploy nothing, silently.
  "$python" .github/scripts/k8s_models.py check --root "$tree" >&2 ||
    die "the manifests on $branch do not match model/models/ (make k8s-generate on main)"
  "$python" .github/scripts/deploy_record.py write --record "$tree/$record" \
    --image "$(cat "$ci_dir/image-digest")" --model-name "$model_name" --model-version "$version" \
    --git-sha "$HEAD_SHA" --bundle-sha256 "$(field "$ci_dir/register.json" bundle_sha256)"
  git -C "$tree" add "$record"
  if git -C "$tree" diff --cached --quiet; then
    say "$branch already records $model_name version $version with this image"
    return 0
  fi
  git -C "$tree" commit --quiet -m "deploy: $model_name version $version" \
    -m "image $(cat "$ci_dir/image-digest")" -m "source $HEAD_SHA"
  deploy_push "$branch" "$tree"
}

deploy_checkout() {
  local branch="$1" tree="$2"
  git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
  if git fetch --quiet --no-tags "$DEPLOY_REMOTE" "+refs/heads/$branch:refs/mlship/deploy" 2>/dev/null; then
    git worktree add --quiet --detach "$tree" refs/mlship/deploy
  else
    say "no branch $branch on the remote yet: it starts here"
    git worktree add --quiet --detach "$tree" HEAD
  fi
  git -C "$tree" config user.name "${GIT_AUTHOR_NAME:-mlship delivery}"
  git -C "$tree" config user.email "${GIT_AUTHOR_EMAIL:-delivery@mlship.invalid}"
}

deploy_push() {
  git -C "$2" push --quiet "$DEPLOY_REMOTE" "HEAD:refs/heads/$1"
  say "recorded on $1: $(git -C "$2" log -1 --format=%s)"
}

# Revert the newest commit of this model's record (a delivery, or a rollback: running
# it again rolls forward), point its aliases at the version it restores, push. Only
# the branch's own commits count (first parent, no merges): never a commit of main.
rollback() {
  need DEPLOY_REMOTE "no git remote for the deploy branch"
  local branch="${DEPLOY_BRANCH:-deploy/production}" tree="$ci_dir/deploy-tree" last version
  deploy_checkout "$branch" "$tree"
  last="$(git -C "$tree" log -1 --first-parent --no-merges --format=%H -- "$record")"
  [[ -n "$last" ]] || die "no deploy record of $model_name on $branch: nothing to roll back"
  git -C "$tree" revert --no-edit "$last" >/dev/null ||
    die "reverting $last on $branch failed"
  "$python" .github/scripts/deploy_record.py show --record "$tree/$record" --json >"$ci_dir/record.json" ||
    die "the record of $model_name before $last names no delivery: nothing to roll back to"
  version="$(field "$ci_dir/record.json" model_version)"
  "$mlship" promote --version "$version" --json >"$ci_dir/promotion.json"
  deploy_push "$branch" "$tree" || {
    restore
    die "pushing the rollback of $branch failed: aliases restored"
  }
}

# Does the registry's production alias agree with the record on the deploy branch?
check() {
  local record_file="${DEPLOY_RECORD_FILE:-}"
  if [[ -z "$record_file" ]]; then
    local remote="${DEPLOY_REMOTE:-origin}" branch="${DEPLOY_BRANCH:-deploy/production}"
    git fetch --quiet --no-tags "$remote" "+refs/heads/$branch:refs/mlship/deploy" ||
      die "no branch $branch on $remote: nothing is recorded as deployed"
    record_file="$ci_dir/deployed-record.yaml"
    git show "refs/mlship/deploy:$record" >"$record_file"
  fi
  "$mlship" status --json --limit 1 >"$ci_dir/status.json"
  "$python" .github/scripts/deploy_record.py check --record "$record_file" --status "$ci_dir/status.json"
}

case "${1:-}" in
train | export_bundle | store | merged_pr | fetch | verify | register | image | promote | restore | push | record | rollback | check)
  "$1"
  ;;
gate) gate "${2:-}" ;;
*) die "unknown step '${1:-}' (see the header of $0)" ;;
esac
