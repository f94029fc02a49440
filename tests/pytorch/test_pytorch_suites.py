"""The PyTorch image's own tests (containers/pytorch/tests), run in its venv, `.venv-pytorch`.

torch and ONNX Runtime live in their own pinned venv (requirements-pytorch.txt; `make pytorch-env`, which
`make test` runs first), not in the platform's. Each suite is one test here that runs pytest in that venv and
passes when every test of the suite passes; the two suites run in parallel under `pytest -n 2`. Their JUnit
reports are written beside the platform's (build/pytorch-<suite>.xml).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-pytorch" / "bin" / "python"
PACKAGE = ROOT / "containers" / "pytorch"


@pytest.mark.parametrize("suite", ["training", "serving"])
def test_suite_passes_in_the_pytorch_venv(suite: str) -> None:
    assert PYTHON.exists(), f"{PYTHON} is missing: run `make pytorch-env` (make test does) to install it"
    env = {name: value for name, value in os.environ.items() if not name.startswith(("SM_", "MODEL_", "PYTEST_"))}
    env["OMP_NUM_THREADS"] = "1"  # one thread per process: the suites share the machine with the rest
    report = ROOT / "build" / f"pytorch-{suite}.xml"
    result = subprocess.run(
        [str(PYTHON), "-m", "pytest", f"tests/{suite}", "-q", f"--junitxml={report}"],
        cwd=PACKAGE,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"{suite} suite failed:\n{result.stdout[-12000:]}\n{result.stderr[-4000:]}"
