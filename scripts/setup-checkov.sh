#!/usr/bin/env bash
# Installs checkov into its own virtualenv (.venv-checkov) from requirements-checkov.txt, once:
# a stamp holding the hash of the pin file makes later runs return at once. Prints checkov's path.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=$(sha256sum requirements-checkov.txt | cut -d' ' -f1)
if [ "$(cat .venv-checkov/.setup-stamp 2>/dev/null)" != "$stamp" ]; then
  echo "setup-checkov: installing pinned checkov into .venv-checkov" >&2
  [ -x .venv-checkov/bin/python ] || "$PYTHON" -m venv .venv-checkov
  .venv-checkov/bin/python -m pip install -q --disable-pip-version-check -r requirements-checkov.txt >&2
  echo "$stamp" > .venv-checkov/.setup-stamp
fi
echo "$PWD/.venv-checkov/bin/checkov"
