# mlship: the one interface. CI, pre-commit and the README call these targets.
SHELL := /bin/bash
# Fail closed: every recipe line stops at its first failing command, unset variable
# or failing pipe stage.
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
INSTALLED := $(VENV)/.installed
# Strict mode (CI): a component the tests need but cannot find is a failure, not a skip.
MLSHIP_STRICT ?= $(if $(CI),1,0)
export MLSHIP_STRICT

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

# ---------------------------------------------------------------- environment
# INSTALL_REQUIREMENTS=requirements-delivery.txt installs only what the delivery jobs use.
INSTALL_REQUIREMENTS ?= requirements-dev.txt
$(INSTALLED): requirements-dev.txt requirements-delivery.txt model/requirements.txt api/requirements.txt \
	api/requirements-sklearn.txt model/pyproject.toml api/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "mlship needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(INSTALL_REQUIREMENTS)
	touch $@

.PHONY: install
install: $(INSTALLED) ## Create .venv with both packages (editable) and the dev tools

# ---------------------------------------------------------------- quality
.PHONY: lint
lint: $(INSTALLED) ## pre-commit on every file: ruff, mypy, schemas, hadolint, shellcheck, promtool, hygiene
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

.PHONY: fmt
fmt: $(INSTALLED) ## Format and auto-fix with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# ---------------------------------------------------------------- tests
PYTEST_ARGS ?=
.PHONY: test
test: $(INSTALLED) ## Run every suite this machine can run (strict when CI is set)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: $(INSTALLED) ## Unit tests only (no external process)
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

# ---------------------------------------------------------------- model lifecycle (mlship CLI)
MLFLOW_PORT ?= 5000
MLFLOW_TRACKING_URI ?= http://127.0.0.1:$(MLFLOW_PORT)
MODEL_NAME ?= IrisClassifier
# validate: THRESHOLDS=file overrides the packaged gate policy; MODEL_VERSION=N picks a version.
THRESHOLDS ?=
MODEL_VERSION ?=
GATE_REPORT_DIR ?= .mlship/reports
FEATURES ?=
MLSHIP_CLI = MLFLOW_TRACKING_URI=$(MLFLOW_TRACKING_URI) MODEL_NAME=$(MODEL_NAME) $(BIN)/mlship
LIFECYCLE_ENV = VENV_BIN=$(BIN) MLFLOW_BIN=$(BIN)/mlflow MLFLOW_PORT=$(MLFLOW_PORT) \
  MLFLOW_TRACKING_URI=$(MLFLOW_TRACKING_URI) MODEL_NAME=$(MODEL_NAME)

.PHONY: mlflow mlflow-stop model-train model-validate promote rollback status model-predict demo demo-stop down
mlflow: $(INSTALLED) ## Start the embedded MLflow server (SQLite + artifacts in .mlship/, port MLFLOW_PORT)
	@$(LIFECYCLE_ENV) platform/scripts/mlflow-server.sh start

mlflow-stop: ## Stop the embedded MLflow server
	@$(LIFECYCLE_ENV) platform/scripts/mlflow-server.sh stop

model-train: $(INSTALLED) ## Train and register a new version of MODEL_NAME
	$(MLSHIP_CLI) train

model-validate: $(INSTALLED) ## Gate a version (MODEL_VERSION, default latest; THRESHOLDS=file); pass -> challenger
	$(MLSHIP_CLI) validate --report-dir $(GATE_REPORT_DIR) \
	  $(if $(MODEL_VERSION),--version $(MODEL_VERSION)) $(if $(THRESHOLDS),--thresholds $(THRESHOLDS))

promote: $(INSTALLED) ## production <- challenger (or MODEL_VERSION=N), previous <- old production
	$(MLSHIP_CLI) promote $(if $(MODEL_VERSION),--version $(MODEL_VERSION))

rollback: $(INSTALLED) ## production <- previous (run again to undo)
	$(MLSHIP_CLI) rollback

status: $(INSTALLED) ## Aliases, versions, key metrics and gate results of MODEL_NAME
	$(MLSHIP_CLI) status

model-predict: $(INSTALLED) ## Predict FEATURES (default: the model's first smoke row) with the production model
	$(MLSHIP_CLI) predict $(if $(FEATURES),--features $(FEATURES))

demo: $(INSTALLED) ## Embedded MLflow, train, gate, promote, predict, then serve the API and call it
	@$(LIFECYCLE_ENV) platform/scripts/demo.sh
	@printf '\n\033[1m==> 6/7 start the inference API on models:/$(MODEL_NAME)@production\033[0m\n'
	@$(MAKE) --no-print-directory api-run
	@$(LIFECYCLE_ENV) API_PORT=$(API_PORT) platform/scripts/demo.sh call-api

demo-stop: api-stop ## Stop what make demo started (the API and the embedded MLflow server)
	@$(LIFECYCLE_ENV) platform/scripts/demo.sh stop

down: demo-stop stack-down ## Stop everything started locally

# ---------------------------------------------------------------- api
# The service reads API_* variables (see api/README.md); these are the ones make passes.
API_PORT ?= 8000
API_MODEL_URI ?= models:/$(MODEL_NAME)@production
API_READY_TIMEOUT ?= 90
API_PID := .mlship/api.pid
API_LOG := .mlship/api.log
API_ENV = API_PORT=$(API_PORT) API_MODEL_URI=$(API_MODEL_URI) MLFLOW_TRACKING_URI=$(MLFLOW_TRACKING_URI)

.PHONY: serve api-run api-stop bench fuzz
serve: $(INSTALLED) ## Run the inference API in the foreground (API_PORT, API_MODEL_URI, API_KEYS, ...)
	$(API_ENV) $(BIN)/mlship-api

api-run: $(INSTALLED) ## Start the API in the background (log .mlship/api.log) and wait until it is ready
	@mkdir -p .mlship
	@if [[ -f $(API_PID) ]] && kill -0 "$$(cat $(API_PID))" 2>/dev/null; then \
	  echo "api: already running (pid $$(cat $(API_PID))) on http://127.0.0.1:$(API_PORT)"; exit 0; fi; \
	$(API_ENV) nohup $(BIN)/mlship-api >>$(API_LOG) 2>&1 & echo $$! >$(API_PID); \
	$(BIN)/python -m mlship.api.wait --url http://127.0.0.1:$(API_PORT) --timeout $(API_READY_TIMEOUT) \
	  || { echo "api: see $(API_LOG); stop it with make api-stop"; exit 1; }

api-stop: ## Stop the background API started by api-run
	@if [[ -f $(API_PID) ]] && kill -0 "$$(cat $(API_PID))" 2>/dev/null; then \
	  kill "$$(cat $(API_PID))" && echo "api: stopped (pid $$(cat $(API_PID)))"; \
	else echo "api: not running"; fi; rm -f $(API_PID)

# With a Docker engine the API image is built first, for the image_layers_mb goal.
bench: $(INSTALLED) ## API vs MLServer vs mlflow models serve vs an ASGI floor, Iris and forest (bench/results.json; BENCH_ROUNDS, BENCH_SECONDS)
	if docker info >/dev/null 2>&1; then $(DOCKER_BUILD) -q -f platform/api/Dockerfile -t mlship-api:bench . \
	  || echo "bench: the API image did not build (PYTHON_IMAGE?): image_layers_mb is not measured"; \
	else echo "bench: no Docker engine: image_layers_mb is not measured"; fi
	$(BIN)/python -m tests.bench.run

FUZZ_EXAMPLES ?= 100
FUZZ_SECONDS ?= 240
fuzz: $(INSTALLED) ## Fuzz a real API process with Schemathesis (>= 1,000 requests; report in .mlship/fuzz)
	$(BIN)/python -m tests.fuzz.run --out .mlship/fuzz --max-examples $(FUZZ_EXAMPLES) --max-seconds $(FUZZ_SECONDS)

# ---------------------------------------------------------------- observability
PROMTOOL ?= promtool
OBS_PROMETHEUS := observability/prometheus

.PHONY: obs-check
obs-check: $(INSTALLED) ## Rules and dashboards current with their generator; promtool config, rules, rule tests; dashboard lint
	$(BIN)/python -m observability.generator --check
	$(PROMTOOL) check config $(OBS_PROMETHEUS)/prometheus.yml
	$(PROMTOOL) check rules $(OBS_PROMETHEUS)/rules/*.yml
	$(PROMTOOL) test rules $(OBS_PROMETHEUS)/tests/*.test.yml
	$(BIN)/python -m pytest -q -p no:cacheprovider \
	  tests/observability/test_observability_generator.py tests/observability/test_observability_rules.py \
	  tests/observability/test_observability_dashboards.py tests/observability/test_observability_compose.py

.PHONY: obs-generate dashboards
obs-generate: $(INSTALLED) ## Regenerate the Prometheus rules, their unit tests and the Grafana dashboards from observability/generator
	$(BIN)/python -m observability.generator
dashboards: obs-generate ## Same as obs-generate (the dashboards and rules have one generator)

.PHONY: obs-test
obs-test: $(INSTALLED) ## The observability suite, including the live stack (API, MLflow, Prometheus)
	$(BIN)/python -m pytest tests/observability $(PYTEST_ARGS)

# ---------------------------------------------------------------- containers
# Images build from the repository root (classic builder or BuildKit). The base
# images can come from a mirror: PYTHON_IMAGE, POSTGRES_IMAGE, PROMETHEUS_IMAGE, GRAFANA_IMAGE.
PYTHON_IMAGE ?= python:3.11.14-slim-bookworm
API_IMAGE ?= mlship/api:local
MLFLOW_IMAGE ?= mlship/mlflow:local
TRAINER_IMAGE ?= mlship/trainer:local
# The model image-api bakes in ("MODEL_URI=" builds an image that reads the registry).
MODEL_URI ?= models:/$(or $(MODEL_NAME),IrisClassifier)@production
# Services `make up` starts (default: all but the trainer), e.g. UP_SERVICES="mlflow api".
UP_SERVICES ?=
SERVICE ?=
TRAIN_ARGS ?=
DOCKER_BUILD := docker build --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE)
COMPOSE := PYTHON_IMAGE=$(PYTHON_IMAGE) API_IMAGE=$(API_IMAGE) MLFLOW_IMAGE=$(MLFLOW_IMAGE) \
	TRAINER_IMAGE=$(TRAINER_IMAGE) docker compose -f docker-compose.yml

.PHONY: images image-api image-api-base image-mlflow image-trainer up stack-down train logs smoke

images: image-api-base image-mlflow image-trainer ## Build the API (no model), MLflow and trainer images

image-api-base: ## Build API_IMAGE without a model (serves API_MODEL_URI from a registry)
	$(DOCKER_BUILD) -f platform/api/Dockerfile -t $(API_IMAGE) .

image-mlflow: ## Build MLFLOW_IMAGE, the tracking server configured by environment
	$(DOCKER_BUILD) -f platform/mlflow/Dockerfile -t $(MLFLOW_IMAGE) .

image-trainer: ## Build TRAINER_IMAGE, the mlship CLI (train, gate, promote)
	$(DOCKER_BUILD) -f platform/trainer/Dockerfile -t $(TRAINER_IMAGE) .

# The model is fetched on this machine into the build context, then copied in: the
# build needs no registry, so no address or credential enters a build argument.
IMAGE_MODEL_DIR := .mlship/image-model/local
image-api: $(INSTALLED) ## Build API_IMAGE with MODEL_URI (from MLFLOW_TRACKING_URI) baked in
	rm -rf $(IMAGE_MODEL_DIR)
	API_MODEL_URI=$(MODEL_URI) API_TRACKING_URI=$(MLFLOW_TRACKING_URI) $(BIN)/mlship-api fetch $(IMAGE_MODEL_DIR)
	$(DOCKER_BUILD) -f platform/api/Dockerfile --build-arg MODEL_DIR=$(IMAGE_MODEL_DIR) -t $(API_IMAGE) .
	@docker image inspect --format 'image-api: $(API_IMAGE) {{.Size}} bytes' $(API_IMAGE)

up: images ## Start the local stack (docker-compose.yml, needs .env) and wait until healthy
	@test -f .env || { echo "up: no .env: cp .env.example .env and set the passwords" >&2; exit 2; }
	$(COMPOSE) up --detach --wait --no-build $(UP_SERVICES)
	@$(COMPOSE) ps

# Placeholders satisfy the required secrets: taking the stack down needs none of them.
stack-down: ## Stop the local stack (keeps its volumes; docker compose down -v deletes them)
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
	  POSTGRES_PASSWORD=$${POSTGRES_PASSWORD:-unused} API_KEYS=$${API_KEYS:-unused} \
	  GRAFANA_ADMIN_PASSWORD=$${GRAFANA_ADMIN_PASSWORD:-unused} MLFLOW_ADMIN_PASSWORD=$${MLFLOW_ADMIN_PASSWORD:-unused} \
	  MLFLOW_DELIVERY_PASSWORD=$${MLFLOW_DELIVERY_PASSWORD:-unused} MLFLOW_READER_PASSWORD=$${MLFLOW_READER_PASSWORD:-unused} \
	  $(COMPOSE) --profile manual down --remove-orphans; \
	fi

train: ## Trainer container: train, gate, promote (TRAIN_ARGS="status" runs another mlship command)
	$(COMPOSE) --profile manual run --rm trainer $(TRAIN_ARGS)

logs: ## Follow the stack's logs (SERVICE=api for one service)
	$(COMPOSE) logs --follow --tail=100 $(SERVICE)

smoke: $(INSTALLED) ## Smoke-test API_IMAGE (baked model): predictions, /metrics, Prometheus target up
	$(BIN)/python -m pytest -m smoke tests/smoke --api-image=$(API_IMAGE) $(PYTEST_ARGS)

# ---------------------------------------------------------------- delivery (the workflows' steps)
# Each step of the GitOps delivery contract is one target; the workflows call
# them, act runs the workflows locally. .github/scripts/delivery.sh holds the steps.
CI_DIR := .mlship/ci
BUNDLE_DIR ?= .mlship/bundle
# Each model's deploy record is DEPLOY_RELEASE_DIR/<model name>/kustomization.yaml.
DEPLOY_RELEASE_DIR := platform/k8s/overlays/prod/release
DEPLOY_BRANCH ?= deploy/production
DELIVERY = MLSHIP=$(BIN)/mlship PYTHON=$(BIN)/python CI_DIR=$(CI_DIR) BUNDLE_DIR=$(BUNDLE_DIR) \
	MODEL_NAME=$(MODEL_NAME) MLFLOW_TRACKING_URI=$(MLFLOW_TRACKING_URI) DEPLOY_RELEASE_DIR=$(DEPLOY_RELEASE_DIR) \
	DEPLOY_BRANCH=$(DEPLOY_BRANCH) GATE_REPORT_DIR=$(GATE_REPORT_DIR) PYTHON_IMAGE=$(PYTHON_IMAGE) \
	.github/scripts/delivery.sh

.PHONY: ci-train ci-gate ci-export ci-store ci-merged-pr ci-fetch ci-verify ci-register ci-gate-registered \
	ci-image ci-promote ci-restore ci-push ci-record ci-rollback ci-report ci-wait-mlflow deploy-check ci-tools \
	ci-mlflow-up ci-mlflow-down ci-need-registry ci-push-mlflow ci-models

ci-train: $(INSTALLED) ## Train one version into MLFLOW_TRACKING_URI (its number -> .mlship/ci/train.json)
	@$(DELIVERY) train

ci-gate: $(INSTALLED) ## Gate the version ci-train registered, by number (MLSHIP_BASELINE_URI: production elsewhere)
	@$(DELIVERY) gate train

ci-export: $(INSTALLED) ## The gated version as a bundle: model, gate report, manifest of SHA-256 digests
	@$(DELIVERY) export_bundle

ci-store: ## Keep the bundle in ARTIFACT_STORE under model-<name>-<HEAD_SHA> (act's artifact storage)
	@$(DELIVERY) store

ci-merged-pr: ## The head commit of the pull request this push merged (MLSHIP_MERGED_HEAD_SHA under act)
	@$(DELIVERY) merged_pr

ci-fetch: $(INSTALLED) ## The bundle of HEAD_SHA (ARTIFACT_STORE, else the pull request run's artifact)
	@$(DELIVERY) fetch

ci-verify: $(INSTALLED) ## Every digest of the bundle, and its git SHA against HEAD_SHA
	@$(DELIVERY) verify

ci-register: $(INSTALLED) ## Register the verified bundle with its lineage (-> .mlship/ci/register.json)
	@$(DELIVERY) register

ci-gate-registered: $(INSTALLED) ## Gate the registered version again, against the current production
	@$(DELIVERY) gate register

ci-image: $(INSTALLED) ## Build API_IMAGE with the verified bundle baked in, provenance labels
	@$(DELIVERY) image

ci-promote: $(INSTALLED) ## production <- the registered version (state before -> .mlship/ci/promotion.json)
	@$(DELIVERY) promote

ci-restore: $(INSTALLED) ## Put the aliases back as they were before this run's promotion
	@$(DELIVERY) restore

ci-push: ## Push API_IMAGE and record its digest (.mlship/ci/image-digest)
	@$(DELIVERY) push

ci-record: $(INSTALLED) ## Commit the deploy record (digest, model version) on DEPLOY_BRANCH of DEPLOY_REMOTE
	@$(DELIVERY) record

ci-rollback: $(INSTALLED) ## Revert the newest deploy record on DEPLOY_BRANCH and set the aliases from it
	@$(DELIVERY) rollback

deploy-check: $(INSTALLED) ## Does production agree with the deploy record (DEPLOY_REMOTE's deploy branch, or DEPLOY_RECORD_FILE)?
	@$(DELIVERY) check

# The throwaway tracking server a job trains into: built from this checkout's
# platform/mlflow (so a pull request is tested against its own server) and started by
# a step, since a service container cannot use an image built in the same job.
CI_MLFLOW_IMAGE ?= mlship-ci/mlflow:local
CI_MLFLOW_CONTAINER ?= mlship-ci-mlflow-$(CI_MLFLOW_PORT)
ci-mlflow-up: ## Build platform/mlflow and run it (open: throwaway) on CI_MLFLOW_PORT against PostgreSQL on CI_POSTGRES_PORT
	$(DOCKER_BUILD) -q -f platform/mlflow/Dockerfile -t $(CI_MLFLOW_IMAGE) .
	docker rm -f $(CI_MLFLOW_CONTAINER) >/dev/null 2>&1 || true
	docker run -d --name $(CI_MLFLOW_CONTAINER) --network host -e MLFLOW_AUTH=off -e MLFLOW_METRICS_PORT= \
	  -e MLFLOW_PORT=$(CI_MLFLOW_PORT) -e MLFLOW_HOST=127.0.0.1 \
	  -e MLFLOW_BACKEND_STORE_URI=postgresql+psycopg2://mlflow:$${CI_POSTGRES_PASSWORD:?the service password}@127.0.0.1:$(CI_POSTGRES_PORT)/mlflow \
	  $(CI_MLFLOW_IMAGE)
	@for _ in $$(seq 360); do \
	  if curl -fsS --max-time 2 http://127.0.0.1:$(CI_MLFLOW_PORT)/health >/dev/null 2>&1; then echo "ci-mlflow-up: ready on port $(CI_MLFLOW_PORT)"; exit 0; fi; \
	  if [ "$$(docker inspect -f '{{.State.Running}}' $(CI_MLFLOW_CONTAINER))" != true ]; then \
	    docker logs --tail 40 $(CI_MLFLOW_CONTAINER) >&2; echo "ci-mlflow-up: the tracking server exited" >&2; exit 1; fi; \
	  sleep 0.5; \
	done; docker logs --tail 40 $(CI_MLFLOW_CONTAINER) >&2; echo "ci-mlflow-up: not healthy after 3 min" >&2; exit 1

ci-mlflow-down: ## Stop the throwaway tracking server (its log first, for the job's record)
	@docker logs --tail 50 $(CI_MLFLOW_CONTAINER) 2>&1 || true
	docker rm -f $(CI_MLFLOW_CONTAINER)

ci-need-registry: ## Fail unless MLFLOW_TRACKING_URI names the persistent registry
	@test -n "$${MLFLOW_TRACKING_URI:-}" || { echo "ci-need-registry: no persistent registry: set the repository variable MLFLOW_REGISTRY_URI (and the delivery identity's secrets)" >&2; exit 2; }

# platform/k8s pins the MLflow image by the MLflow version it carries: push that tag.
MLFLOW_VERSION = $(shell sed -n 's/^mlflow==//p' platform/mlflow/requirements.txt)
ci-push-mlflow: ## Push MLFLOW_IMAGE and the same image tagged with its MLflow version
	docker push $(MLFLOW_IMAGE)
	docker tag $(MLFLOW_IMAGE) $(firstword $(subst :, ,$(MLFLOW_IMAGE))):$(MLFLOW_VERSION)
	docker push $(firstword $(subst :, ,$(MLFLOW_IMAGE))):$(MLFLOW_VERSION)

# Tools a job needs beyond GitHub's documented runner image (.github/runner-tools.toml).
TOOLS ?=
ci-tools: ## Install TOOLS (e.g. TOOLS=promtool) that .github/runner-tools.toml maps to packages
	@$(PYTHON) .github/scripts/runner_tools.py install $(TOOLS)

ci-wait-mlflow: ## Wait (up to 2 min) until MLFLOW_TRACKING_URI answers /health
	@uri="$${MLFLOW_TRACKING_URI:-http://127.0.0.1:5000}"; \
	for _ in $$(seq 240); do \
	  if curl -fsS --max-time 2 "$$uri/health" >/dev/null 2>&1; then echo "tracking server $$uri is up"; exit 0; fi; \
	  sleep 0.5; \
	done; echo "ci-wait-mlflow: no tracking server at $$uri after 2 min" >&2; exit 1

# The models a change touches (changed_models.py), for the workflows' matrices:
# BASE_SHA...HEAD_SHA (no BASE_SHA: every model). System Python: nothing to install.
ci-models: ## JSON list of the models BASE_SHA...HEAD_SHA touches -> GITHUB_OUTPUT models=
	@models="$$($(PYTHON) .github/scripts/changed_models.py changed --base "$${BASE_SHA:-}" --head "$${HEAD_SHA:-HEAD}")"; \
	echo "ci-models: $$models"; \
	if [ -n "$${GITHUB_OUTPUT:-}" ]; then echo "models=$$models" >> "$$GITHUB_OUTPUT"; fi

ci-report: $(INSTALLED) ## Markdown report (gate, metrics vs production, aliases) -> job summary
	@mkdir -p $(CI_DIR)
	@# Best effort: a report of a failed run may find the registry down.
	@$(MLSHIP_CLI) status --json --limit 50 > $(CI_DIR)/status.json || \
	  echo '{"model_name": "$(MODEL_NAME)", "aliases": {}, "versions": []}' > $(CI_DIR)/status.json
	@$(BIN)/python .github/scripts/mlship_ci.py report --status $(CI_DIR)/status.json \
	  --gate $(GATE_REPORT_DIR)/gate_report.json --images $(CI_DIR)/image-digest \
	  --commit "$${HEAD_SHA:-$${GITHUB_SHA:-}}" --outcome "$${REPORT_OUTCOME:-}" \
	  --title "$${GITHUB_WORKFLOW:-mlship}: $(MODEL_NAME)" --model "$(MODEL_NAME)" --out $(CI_DIR)/report.md
	@if [ -n "$${GITHUB_STEP_SUMMARY:-}" ]; then cat $(CI_DIR)/report.md >> "$$GITHUB_STEP_SUMMARY"; \
	else cat $(CI_DIR)/report.md; fi

# ---------------------------------------------------------------- workflows (act)
# act runs the GitHub workflows on this machine in container mode: every job in a
# runner image that carries only the tools GitHub's ubuntu-24.04 image documents
# (.github/act/Dockerfile), act starting the `services:` itself. act-up starts the
# local production the runs deliver to, kept until act-down.
ACT := $(BIN)/act
ACT_RUNNER_IMAGE ?= mlship/act-runner:local
# Ports of the throwaway services under act (GitHub's runners use 5432 and 5000).
CI_POSTGRES_PORT ?= 55432
CI_MLFLOW_PORT ?= 55000
ACT_PROD_DIR ?= $(CURDIR)/.mlship/act-prod
export ACT_PROD_DIR
ACT_PRODUCTION = .github/scripts/act-production.sh
# More act options, e.g. ACT_FLAGS='--var MODEL_NAME=Other' or ACT_FLAGS='-j train'.
ACT_FLAGS ?=
# Base images the steps build on: pulled on GitHub, stand-ins where no registry is reachable.
ACT_IMAGES = --env PYTHON_IMAGE=$(PYTHON_IMAGE) $(if $(PROMETHEUS_IMAGE),--env PROMETHEUS_IMAGE=$(PROMETHEUS_IMAGE)) \
	$(if $(POSTGRES_IMAGE),--var POSTGRES_IMAGE=$(POSTGRES_IMAGE))
# act passes its own environment to the steps: drop make's. --rm: a failed job's
# containers (its services too) go, as on GitHub, instead of being kept for debugging. The local production's
# state directory is mounted at the same path (artifact store, deploy remote); pip's
# cache is a volume the runs share (setup-python caches on GitHub).
ACT_RUN = env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(ACT) -P ubuntu-24.04=$(ACT_RUNNER_IMAGE) --pull=false --rm \
	--no-cache-server --env-file /dev/null --var-file /dev/null $(ACT_IMAGES) \
	--container-options "-v $(ACT_PROD_DIR):$(ACT_PROD_DIR) -v mlship-act-pip-cache:/root/.cache/pip" \
	--var CI_MLFLOW_PORT=$(CI_MLFLOW_PORT) --var CI_POSTGRES_PORT=$(CI_POSTGRES_PORT) \
	$$($(ACT_PRODUCTION) flags) $(ACT_FLAGS)

# $(call act_run,ARGS): act, timed.
define act_run
	@start=$$(date +%s); status=0; $(ACT_RUN) $(1) || status=$$?; \
	echo "act: make $@ finished with status $$status in $$(( $$(date +%s) - start )) s"; \
	exit $$status
endef

.PHONY: act-list act-up act-down act-pr act-main act-rollback act-runner-image

act-list: $(INSTALLED) ## List the workflows' jobs and their events (act's parser)
	@$(ACT) --list

act-runner-image: ## Build the runner image act runs the jobs in (documented runner tools only)
	@docker build -q --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) -f .github/act/Dockerfile \
	  -t $(ACT_RUNNER_IMAGE) .github/act >/dev/null

act-up: $(INSTALLED) ## Start the local production act-pr/act-main/act-rollback share (registry, OCI registry, deploy remote)
	@MLFLOW_BIN=$(BIN)/mlflow PYTHON_BIN=$(BIN)/python $(ACT_PRODUCTION) up

act-down: ## Stop the local production and delete its state
	@MLFLOW_BIN=$(BIN)/mlflow PYTHON_BIN=$(BIN)/python $(ACT_PRODUCTION) down

act-pr: act-up act-runner-image ## Run the pull-request workflow locally (act): lint, unit, train, gate, bundle
	$(call act_run,pull_request -W .github/workflows/pr.yml)

# The merged pull request's head is this commit: the one act-pr trained.
act-main: act-up act-runner-image ## Run the delivery workflow locally (act): verify, register, gate, image, promote, push, record
	$(call act_run,push -W .github/workflows/main.yml --var MERGED_HEAD_SHA=$$(git rev-parse HEAD))

# Read from the environment by the shell, so that any text is passed as it is.
ROLLBACK_REASON ?= manual rollback (act)
act-rollback: export ROLLBACK_REASON := $(ROLLBACK_REASON)
act-rollback: act-up act-runner-image ## Run the rollback workflow locally (act): revert the deploy record, set the aliases
	$(call act_run,workflow_dispatch -W .github/workflows/rollback.yml \
	  --input "reason=$$ROLLBACK_REASON" --input "model=$(MODEL_NAME)")

# ---------------------------------------------------------------- load and faults
# Locust against an API started for the run (local model directory, loopback only).
LOADTEST_SECONDS ?= 30
LOADTEST_USERS ?= 20
LOADTEST_SPAWN_RATE ?= 10
LOADTEST_WORKERS ?= 1
SOAK_SECONDS ?= 300
LOAD_ARGS = --users $(LOADTEST_USERS) --spawn-rate $(LOADTEST_SPAWN_RATE) --workers $(LOADTEST_WORKERS)

.PHONY: loadtest soak test-faults
loadtest: $(INSTALLED) ## Locust headless for LOADTEST_SECONDS (reports in bench/load/)
	$(BIN)/python -m tests.load.run loadtest --seconds $(LOADTEST_SECONDS) $(LOAD_ARGS)

soak: $(INSTALLED) ## Soak at 80 % of the measured maximum for SOAK_SECONDS: 0 errors, RSS growth < 10 %
	$(BIN)/python -m tests.load.run soak --seconds $(SOAK_SECONDS) $(LOAD_ARGS)

test-faults: $(INSTALLED) ## Fault drills: PostgreSQL restart, broken artifact, API worker killed
	$(BIN)/python -m pytest tests/faults $(PYTEST_ARGS)

# ---------------------------------------------------------------- kubernetes
K8S_OVERLAYS := dev prod
K8S_OVERLAY ?=
K8S_RENDER_DIR ?= .mlship/k8s
K8S_VERSION ?= 1.37.0
# The venv's kubectl (Kustomize v5). The rules and dashboards ConfigMaps are
# generated from observability/, outside the kustomization root: restrictor off.
KUSTOMIZE := $(BIN)/kubectl kustomize --load-restrictor=LoadRestrictionsNone

# One API workload and one deploy record per model of model/models/ (Kustomize cannot
# loop): generated, and rendering refuses files that no longer match the specifications.
K8S_MODELS = $(BIN)/python .github/scripts/k8s_models.py
.PHONY: k8s-generate k8s-check
k8s-generate: $(INSTALLED) ## Write platform/k8s/models/ and the prod record index from model/models/*.toml
	@$(K8S_MODELS) generate

k8s-check: $(INSTALLED) ## Fail unless the per-model Kubernetes files match model/models/ (make k8s-generate)
	@$(K8S_MODELS) check

.PHONY: k8s-render
k8s-render: k8s-check ## Render the dev and prod overlays to .mlship/k8s/<overlay>.yaml
	@mkdir -p $(K8S_RENDER_DIR)
	@for overlay in $(K8S_OVERLAYS); do \
	  $(KUSTOMIZE) platform/k8s/overlays/$$overlay > $(K8S_RENDER_DIR)/$$overlay.yaml.tmp || exit 1; \
	  mv $(K8S_RENDER_DIR)/$$overlay.yaml.tmp $(K8S_RENDER_DIR)/$$overlay.yaml; \
	  echo "k8s: wrote $(K8S_RENDER_DIR)/$$overlay.yaml"; \
	done

.PHONY: k8s-validate
k8s-validate: k8s-render ## Validate the rendered manifests strictly against the Kubernetes schemas
	$(BIN)/kubernetes-validate --strict --quiet --kubernetes-version $(K8S_VERSION) \
	  $(foreach overlay,$(K8S_OVERLAYS),$(K8S_RENDER_DIR)/$(overlay).yaml)

.PHONY: k8s-apply
k8s-apply: k8s-render ## Apply one overlay to the current kubectl context (K8S_OVERLAY=dev|prod)
	@case "$(K8S_OVERLAY)" in dev|prod) ;; \
	  *) echo "k8s-apply: set K8S_OVERLAY to dev or prod (got '$(K8S_OVERLAY)')" >&2; exit 2;; esac
	$(BIN)/kubectl apply --server-side -f $(K8S_RENDER_DIR)/$(K8S_OVERLAY).yaml

# ---------------------------------------------------------------- housekeeping
.PHONY: clean
clean: ## Remove the venv, caches and local state (stop services first with make down)
	rm -rf $(VENV) .mlship .pytest_cache .mypy_cache .ruff_cache bench/results.json api/build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
