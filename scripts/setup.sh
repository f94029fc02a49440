#!/usr/bin/env bash
# Installs everything the platform needs on a fresh Debian machine with Python 3.11 and Node 20:
# the pinned Python venv (.venv), checkov in its own pinned venv (.venv-checkov: its pins clash with
# the project's), the pinned npm tools (node_modules), and Debian's rsync (gitlab-ci-local) and
# chromium (browser test of the demo's run report).
# Idempotent: a stamp holding the hash of every pin file makes a second run take well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)'; then
  echo "setup: Python 3.11 or newer is required, found $("$PYTHON" --version 2>&1)" >&2
  exit 1
fi
command -v node >/dev/null || { echo "setup: Node.js 20 or newer is required (node not found on PATH)" >&2; exit 1; }

stamp_of() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }

# Debian packages: rsync (gitlab-ci-local), chromium (the browser test of the demo's HTML run report).
missing=()
command -v rsync >/dev/null || missing+=(rsync)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian package(s) ${missing[*]}"
  SUDO=(env); [ "$(id -u)" -eq 0 ] || SUDO=(sudo env)
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

py_stamp=$(stamp_of requirements.txt requirements-dev.txt containers/http_serving/pyproject.toml \
  containers/xgboost/pyproject.toml containers/xgboost/requirements-builtin-image.txt \
  containers/pytorch/pyproject.toml containers/model_fetch/pyproject.toml)
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$py_stamp" ]; then
  echo "setup: installing pinned Python packages into .venv"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip==25.3
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  # The model servers' shared HTTP layer, the ML core of the XGBoost image, the PyTorch image's package
  # (its ONNX engines run without torch: the image classifier Lambda) and the model-fetch package,
  # installed editable so that tests and local runs use the same code the images and the Lambda run.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
    -e containers/http_serving -e containers/xgboost -e containers/pytorch -e containers/model_fetch
  # The XGBoost of SageMaker's built-in image, on its own path (PYTHONPATH=.venv/builtin-xgboost):
  # the artifact compatibility test loads our models with it.
  rm -rf .venv/builtin-xgboost
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
    --target .venv/builtin-xgboost -r containers/xgboost/requirements-builtin-image.txt
  echo "$py_stamp" > .venv/.setup-stamp
fi

checkov_stamp=$(stamp_of requirements-checkov.txt)
if [ "$(cat .venv-checkov/.setup-stamp 2>/dev/null)" != "$checkov_stamp" ]; then
  echo "setup: installing pinned checkov into .venv-checkov"
  [ -x .venv-checkov/bin/python ] || "$PYTHON" -m venv .venv-checkov
  .venv-checkov/bin/python -m pip install -q --disable-pip-version-check --upgrade pip==25.3
  .venv-checkov/bin/python -m pip install -q --disable-pip-version-check -r requirements-checkov.txt
  echo "$checkov_stamp" > .venv-checkov/.setup-stamp
fi

node_stamp=$(stamp_of package.json package-lock.json)
if [ "$(cat node_modules/.setup-stamp 2>/dev/null)" != "$node_stamp" ]; then
  echo "setup: installing pinned npm packages (aws-cdk@2, gitlab-ci-local)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$node_stamp" > node_modules/.setup-stamp
fi
echo "setup: ready (.venv, .venv-checkov, node_modules)"
