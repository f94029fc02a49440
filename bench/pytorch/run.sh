#!/usr/bin/env bash
# PyTorch serving benchmark (`make bench-pytorch`): our model server (each engine) vs LitServe, on loopback.
# Creates LitServe's own pinned venv (bench/.venv-litserve) on first use, with the PyTorch ML core's pins
# (torch 2.13.0, never another) and the image's package for the same pre-processing, then runs bench.py.
# Extra arguments go to bench.py (e.g. --rounds 5 --duration 3 --cases digits).
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=bench/.venv-litserve
PINS=bench/pytorch/requirements-litserve.txt

stamp=$(cat "$PINS" requirements-pytorch.txt containers/pytorch/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.bench-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "bench: creating $VENV (LitServe 0.2.19 beside torch 2.13.0, pinned; about a minute)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  # One resolution of both pin files: pip fails rather than install a torch other than requirements-pytorch.txt's.
  if ! { "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip==25.3 &&
         "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
           ${PYTORCH_INDEX_URL:+--extra-index-url "$PYTORCH_INDEX_URL"} -r requirements-pytorch.txt -r "$PINS" &&
         "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e containers/pytorch &&
         "$VENV/bin/python" -c 'import sys, torch; sys.exit(torch.__version__.split("+")[0] != "2.13.0")'; } \
       > "$VENV/install.log" 2>&1; then
    tail -30 "$VENV/install.log" >&2
    echo "bench: installing $PINS into $VENV failed (log above)" >&2
    exit 1
  fi
  echo "$stamp" > "$VENV/.bench-stamp"
fi

# The repository root on the path: the benchmark reuses the platform's process helpers.
exec env PYTHONPATH=. .venv/bin/python bench/pytorch/bench.py \
  --pytorch-python .venv-pytorch/bin/python --litserve-python "$VENV/bin/python" "$@"
