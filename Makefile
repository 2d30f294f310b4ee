# Two commands on a fresh machine (Python 3.11+, Node.js, the package registries):
#   make local   set up and run the whole platform locally
#   make test    set up and run every test tier
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
PYTHON ?= $(shell scripts/find-python)
export UV_PYTHON_DOWNLOADS := never
# The CDK bundler exports the lock file with uv: it must find the pinned one.
export PATH := $(CURDIR)/$(TOOLS)/bin:$(PATH)
# Compiled bytecode in the environment: imports (and the cold-path benchmark) do not pay for compiling.
export UV_COMPILE_BYTECODE := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: help setup local test test-fast lint typecheck check bench invoke synth clean

help:
	@echo "make local    run the platform locally (API on http://127.0.0.1:$${LOYALTY_API_PORT:-3000})"
	@echo "make test     run all test tiers (unit, integration, infrastructure, e2e)"
	@echo "make bench    print the benchmark figures"
	@echo "make check    lint, type-check and test"
	@echo "make invoke FN=earn EVENT=events/api_earn_post_order.json   run one handler against the running local stack"
	@echo "make synth    synthesize the CDK app (npx cdk synth)"

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The environment is rebuilt only when the lock file changes.
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python "$(PYTHON)"
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.synced node_modules/.installed

local: setup
	$(PY) -m infra.local

test: setup
	$(PYTEST) -n 2 --dist loadfile tests/unit tests/integration tests/infrastructure tests/e2e

test-fast: setup
	$(PYTEST) -n 2 tests/unit tests/integration

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

check: lint typecheck test

bench: setup
	$(PY) -m tests.bench

invoke: setup
	$(PY) -m infra.local.invoke $(FN) $(EVENT)

synth: setup
	npx cdk synth --quiet

clean:
	rm -rf $(VENV) $(TOOLS) node_modules cdk.out .build .local
