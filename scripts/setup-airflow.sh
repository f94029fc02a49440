#!/usr/bin/env bash
# Installs the pinned Airflow virtualenv (.venv-airflow, requirements-airflow.txt) that the DAG tests and
# `make airflow-demo` run the DAGs in. Idempotent: a stamp holding the pin file's hash makes a second run
# take well under a second; a lock lets parallel test workers call it at once.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=.venv-airflow
stamp=$(sha256sum requirements-airflow.txt | cut -d' ' -f1)

exec 9>".venv-airflow.lock"
flock 9
if [ "$(cat "$VENV/.setup-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "setup-airflow: installing Apache Airflow and the Amazon provider into $VENV (about a minute)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip==25.3
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-airflow.txt
  "$VENV/bin/python" -m pip check
  echo "$stamp" > "$VENV/.setup-stamp"
fi
echo "setup-airflow: ready ($VENV)"
