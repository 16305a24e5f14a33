# One task file; CI runs `make test` (see .ci/run). `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup system-deps venv demo test check lint typecheck unit integration up status down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: system-deps venv ## install everything: system packages, Python env, Kafka jars
	$(BIN)/fraudstream prepare

system-deps: ## install java, maven, redis-server, kcat, chromium, prometheus when missing (apt-get)
	bash scripts/install-system-deps.sh

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)

venv: $(UV) ## create .venv with the locked Python dependencies
	$(UV) sync --locked --extra dev --quiet

demo: setup ## set up, start the local infrastructure and run the demo
	$(BIN)/fraudstream demo

test: setup check ## set up and run lint, type checks and the whole test suite
	$(BIN)/pytest

check: lint typecheck ## ruff and mypy

lint: venv ## ruff (lint and format check)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv ## mypy (strict)
	$(BIN)/mypy

unit: venv ## only the unit tests
	$(BIN)/pytest -m unit

integration: setup ## only the integration tests (real Kafka, Redis, MLflow)
	$(BIN)/pytest -m integration

up: setup ## start the local infrastructure
	$(BIN)/fraudstream up

status: venv ## report the health of Kafka, Redis, MLflow
	$(BIN)/fraudstream status

down: venv ## stop the local infrastructure (keeps data)
	$(BIN)/fraudstream down

clean: ## remove the virtualenvs and caches of this checkout
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
