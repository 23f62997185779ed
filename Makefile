# mlship: the one interface. CI, pre-commit and the README call these targets.
SHELL := /bin/bash
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
$(INSTALLED): requirements-dev.txt model/requirements.txt api/requirements.txt model/pyproject.toml api/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "mlship needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

.PHONY: install
install: $(INSTALLED) ## Create .venv with both packages (editable) and the dev tools

# ---------------------------------------------------------------- quality
.PHONY: lint
lint: $(INSTALLED) ## Ruff (lint + format check) and mypy on both packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy model/src api/src tests conftest.py

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

# ---------------------------------------------------------------- api

# ---------------------------------------------------------------- observability

# ---------------------------------------------------------------- containers

# ---------------------------------------------------------------- workflows (act)

# ---------------------------------------------------------------- housekeeping
.PHONY: clean
clean: ## Remove the venv, caches and local state (stop services first with make down)
	rm -rf $(VENV) .mlship .pytest_cache .mypy_cache .ruff_cache bench/results.json
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
