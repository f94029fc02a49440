# The platform's entry points. On a fresh machine: `make demo` (the whole MLOps lifecycle,
# locally) and `make test` (the test suite). Both run `setup` first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export SAGEMAKER_SUPPRESS_V2_WARNING := 1
export PYTHONDONTWRITEBYTECODE := 1
CDK_OUT ?= cdk.out
DATA ?= ../shared/data/abalone-dataset.csv

.PHONY: help setup airflow-venv check synth lint test demo airflow-demo local-build bench lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## Install the pinned venv, npm tools and Debian packages (idempotent)
	@scripts/setup.sh

airflow-venv: ## Install the pinned Airflow (MWAA 3.3.1) virtualenv .venv-airflow (idempotent)
	@scripts/setup-airflow.sh

check: setup ## Code gates: ruff (lint + format) and mypy (strict on the platform, the seeds' own settings)
	@ruff format --check --quiet . && ruff check --quiet .
	@mypy

synth: setup ## Synthesize every stack and product template into cdk.out/
	@$(PY) -m tooling.synth --outdir $(CDK_OUT)

lint: synth ## cfn-lint every template in cdk.out/ (product templates too) and report cdk-nag findings
	@$(PY) -m tooling.lint --outdir $(CDK_OUT)

test: setup airflow-venv ## Run the whole test suite
	@$(PY) -m pytest -n 2 --dist loadgroup

demo: setup ## The whole MLOps lifecycle locally: synth+lint, seed, build, approve, deploy, test, promote
	@$(PY) -m local_lifecycle --data $(DATA)

airflow-demo: setup airflow-venv ## The Airflow (MWAA) variant offline: GitLab pipelines, trigger Lambda, DAG runs, endpoint
	@$(PY) -m local_airflow --data $(DATA)

local-build: setup ## Run the model build pipeline's steps locally on the Abalone data set
	@scripts/local-build.sh $(DATA)

bench: setup ## Serving benchmark: our model server vs MLServer vs in-process predict
	@bench/serving/run.sh

lock: ## Re-resolve the pins from requirements*.in (needs network)
	@scripts/lock.sh

clean: ## Remove generated output (keeps .venv and node_modules)
	rm -rf $(CDK_OUT) .build .local-run .pytest_cache
