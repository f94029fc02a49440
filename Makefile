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
CONFIG ?= config/default.yaml
PYTEST_ARGS ?=
FRAUD_TRANSACTIONS ?= 1000

.PHONY: help setup airflow-venv pytorch-env check generate synth lint test diff deploy demo airflow-demo local-build legacy-demo fraud-demo pytorch-train bench bench-http bench-pytorch bench-pytorch-quantization fuzz lock clean serve-demo cost-report bench-image-lambda

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## Install the pinned venv, npm tools and Debian packages (idempotent)
	@scripts/setup.sh

airflow-venv: ## Install the pinned Airflow (MWAA 3.3.1) virtualenv .venv-airflow (idempotent)
	@scripts/setup-airflow.sh

pytorch-env: ## Install the PyTorch ML core's own pinned venv (.venv-pytorch: torch 2.13.0, ONNX Runtime; idempotent)
	@scripts/setup-pytorch.sh

check: setup pytorch-env ## Code gates: ruff (lint + format), mypy (strict on the platform, the seeds' own settings), generated files
	@ruff format --check . && ruff check .
	@mypy
	@mypy --python-executable .venv-pytorch/bin/python containers/pytorch/pytorch_container
	@cd seedcode/model-build && mypy .
	@cd seedcode/model-deploy && mypy .
	@$(PY) -m tooling.generated --check

generate: setup ## Rewrite the files generated from the platform's single sources (seed copies, diagram)
	@$(PY) -m tooling.generated

synth: setup ## Synthesize every stack and product template into cdk.out/
	@$(PY) -m tooling.synth --outdir $(CDK_OUT)

lint: synth ## cfn-lint and checkov on every template in cdk.out/ (product templates too), and cdk-nag findings
	@$(PY) -m tooling.lint --outdir $(CDK_OUT)

test: setup airflow-venv pytorch-env ## Run the whole test suite (PYTEST_ARGS narrows it); JUnit report in build/test-report.xml
	@$(PY) -m pytest -n 2 --dist loadgroup --junitxml=build/test-report.xml $(PYTEST_ARGS)

diff: setup ## cdk diff of every stack against the AWS account (CONFIG=config/<env>.yaml, AWS credentials)
	@npx cdk diff --all -c config=$(CONFIG)

deploy: setup ## cdk deploy of every stack (CONFIG=config/<env>.yaml, AWS credentials)
	@npx cdk deploy --all -c config=$(CONFIG) --require-approval never

demo: setup ## The whole MLOps lifecycle locally: synth+lint, seed, build, approve, deploy, test, promote
	@$(PY) -m local_lifecycle --data $(DATA)

airflow-demo: setup airflow-venv ## The Airflow (MWAA) variant offline: GitLab pipelines, trigger Lambda, DAG runs, endpoint
	@$(PY) -m local_airflow --data $(DATA)

local-build: setup ## Run the model build pipeline's steps locally on the Abalone data set
	@$(PY) -m local_lifecycle.local_build $(DATA)

legacy-demo: setup ## Legacy ML code on SageMaker: the Step Functions workflow on the emulator, jobs run locally
	@$(PY) -m local_lifecycle.legacy_demo

fraud-demo: setup ## Fraud detection offline: train the model, replay FRAUD_TRANSACTIONS through the three architectures
	@$(PY) -m local_lifecycle.fraud_demo --transactions $(FRAUD_TRANSACTIONS)

serve-demo: setup pytorch-env ## The image classifier served both ways offline: Lambda handler vs always-on server, same images
	@$(PY) -m local_lifecycle.serve_demo

cost-report: setup pytorch-env ## Serving cost vs requests/month (Lambda, Fargate, Beanstalk, SageMaker): crossovers + build/cost-report/serving-cost.png
	@$(PY) -m tooling.serving_cost

pytorch-train: pytorch-env ## Train the PyTorch image classifier locally on the digits (the image's code; job in .local-run/pytorch)
	@rm -rf .local-run/pytorch && mkdir -p .local-run/pytorch
	@SM_ML_ROOT=.local-run/pytorch OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} .venv-pytorch/bin/python -m pytorch_container.train

bench: setup ## Serving benchmark: our model server vs MLServer vs in-process predict (and a zero-work HTTP baseline)
	@bench/serving/run.sh

bench-http: setup ## The serving benchmark with the other HTTP layers measured too (uvicorn-worker, gunicorn ASGI)
	@bench/serving/run.sh --candidates uvicorn,gunicorn-asgi

FUZZ_EXAMPLES ?= 3000
fuzz: setup ## Long hypothesis fuzz of the real model server (FUZZ_EXAMPLES per test, default 3000)
	@MODEL_SERVER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/xgboost_server/test_server_fuzz.py \
	  -p no:randomly -n 0 -q --hypothesis-show-statistics

bench-pytorch: setup pytorch-env ## PyTorch serving: our server (each engine) vs LitServe 0.2.19, digits and ResNet-18 224
	@bench/pytorch/run.sh

bench-pytorch-quantization: pytorch-env ## In-process: the PyTorch engines and int8 variants (static/dynamic), speed and accuracy
	@OMP_NUM_THREADS=1 .venv-pytorch/bin/python bench/pytorch/quantization.py

bench-image-lambda: setup pytorch-env ## The classifier Lambda's packaging: lean zip (ONNX Runtime) vs torch image, sizes and cold init
	@OMP_NUM_THREADS=1 $(PY) bench/image_serving/lambda_packaging.py

lock: ## Re-resolve the pins from requirements*.in (needs network)
	@scripts/lock.sh

clean: ## Remove generated output (keeps .venv and node_modules)
	rm -rf $(CDK_OUT) .build .local-run .pytest_cache
