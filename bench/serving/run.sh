#!/usr/bin/env bash
# Serving benchmark (`make bench`): our model server vs MLServer vs in-process predict, on loopback.
# Creates MLServer's own pinned venv (bench/.venv-mlserver) on first use, then runs bench.py.
# Extra arguments go to bench.py (e.g. --rounds 5 --duration 5 --concurrency 16).
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=bench/.venv-mlserver
PINS=bench/serving/requirements-mlserver.txt

stamp=$(sha256sum "$PINS" | cut -d' ' -f1)
if [ "$(cat "$VENV/.bench-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "bench: creating $VENV (MLServer 1.7.1 + mlserver-xgboost, pinned; about a minute)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  # --no-deps: every dependency is pinned in $PINS (xgboost-cpu in place of the full xgboost).
  if ! { "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip==25.3 &&
         "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$PINS"; } \
       > "$VENV/install.log" 2>&1; then
    tail -30 "$VENV/install.log" >&2
    echo "bench: installing $PINS into $VENV failed (log above)" >&2
    exit 1
  fi
  echo "$stamp" > "$VENV/.bench-stamp"
fi

# The repository root on the path: the benchmark reuses the platform's process helpers.
# First what one prediction call costs in process (the model server's fixed cost per call).
env PYTHONPATH=.:bench/serving .venv/bin/python bench/serving/predict_cost.py
exec env PYTHONPATH=. .venv/bin/python bench/serving/bench.py --mlserver "$VENV/bin/mlserver" "$@"
