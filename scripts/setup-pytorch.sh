#!/usr/bin/env bash
# Installs the PyTorch ML core's own pinned venv (.venv-pytorch) from requirements-pytorch.txt, with the
# image's package (containers/pytorch) and the model servers' shared HTTP layer (containers/http_serving)
# editable, so that local runs and tests execute the image's code.
# Idempotent: a stamp holding the hash of the pin file and the packages' pyproject.toml files makes a second run
# take well under a second. `make pytorch-env` and `make test` run it. PYTORCH_INDEX_URL (the platform's CI
# sets https://download.pytorch.org/whl/cpu) adds the index torch's CPU wheel comes from where no local copy
# is configured; without it, PyPI's torch 2.13.0 on Linux is the CUDA build, several GB.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=.venv-pytorch
stamp=$(cat requirements-pytorch.txt containers/pytorch/pyproject.toml containers/http_serving/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.setup-stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
echo "setup: installing the PyTorch venv ($VENV: torch 2.13.0, ONNX Runtime; about a minute)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
if ! { "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip==25.3 &&
       "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
         ${PYTORCH_INDEX_URL:+--extra-index-url "$PYTORCH_INDEX_URL"} -r requirements-pytorch.txt &&
       "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e containers/http_serving -e containers/pytorch; } \
     > "$VENV/install.log" 2>&1; then
  tail -30 "$VENV/install.log" >&2
  echo "setup: installing requirements-pytorch.txt into $VENV failed (log above)" >&2
  exit 1
fi
echo "$stamp" > "$VENV/.setup-stamp"
echo "setup: ready ($VENV)"
