#!/usr/bin/env bash
# `make lock`: re-resolve the pins of requirements.txt and requirements-dev.txt from their .in files
# (needs the package index). Each is resolved in a scratch venv and frozen; requirements-dev.txt
# keeps `-r requirements.txt` and lists only what the CDK app's pins do not.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

freeze() {  # freeze <venv> <requirements...>: the exact pins of a fresh install
  "$PYTHON" -m venv "$1"
  "$1/bin/python" -m pip install -q --disable-pip-version-check "${@:2}"
  "$1/bin/python" -m pip freeze --exclude-editable | grep -v '^-e ' | sort -f
}

{
  echo "# Pinned runtime dependencies of the CDK app (Python 3.11). Regenerate with \`make lock\`."
  freeze "$scratch/app" -r requirements.in
} > requirements.txt.new

{
  echo "# Pinned test, lint, local-run and ML-core dependencies. Regenerate with \`make lock\`."
  echo "-r requirements.txt"
  freeze "$scratch/dev" -r requirements.in -r requirements-dev.in \
    | grep -v -i -F -x -f <(grep -v '^#' requirements.txt.new)
} > requirements-dev.txt.new

{
  echo "# Pinned dependencies of the PyTorch ML core's venv (.venv-pytorch, Python 3.11): training, exports, serving"
  echo "# and the package's tests. Regenerate with \`make lock\`; containers/pytorch/requirements-*.txt hold the same pins."
  # torch==2.13.0 resolves to the CPU wheel on the build machines (2.13.0+cpu); the pin keeps the public version.
  freeze "$scratch/pytorch" -r requirements-pytorch.in | sed -E 's/^(torch==[^+]+)\+.*/\1/'
  "$scratch/pytorch/bin/python" -m pip freeze --all | grep -i '^setuptools=='  # torch needs it at run time
} > requirements-pytorch.txt.new

mv requirements.txt.new requirements.txt
mv requirements-dev.txt.new requirements-dev.txt
mv requirements-pytorch.txt.new requirements-pytorch.txt
echo "lock: wrote requirements.txt, requirements-dev.txt and requirements-pytorch.txt; run \`make test\` before committing"
