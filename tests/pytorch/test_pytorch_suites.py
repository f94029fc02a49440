"""The PyTorch image's own tests (containers/pytorch/tests), run in its venv, `.venv-pytorch`.

torch and ONNX Runtime live in their own pinned venv (requirements-pytorch.txt; `make pytorch-env`, which
`make test` runs first), not in the platform's. This test runs the package's two suites, `training` and
`serving`, as two pytest processes in that venv at the same time (each mostly waits on one core), and
passes when every test of both passes. Their JUnit reports are written beside the platform's
(build/pytorch-<suite>.xml); a failure shows the failing suite's output.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-pytorch" / "bin" / "python"
PACKAGE = ROOT / "containers" / "pytorch"
SUITES = ("training", "serving")


def test_the_pytorch_suites_pass_in_the_pytorch_venv() -> None:
    assert PYTHON.exists(), f"{PYTHON} is missing: run `make pytorch-env` (make test does) to install it"
    env = {name: value for name, value in os.environ.items() if not name.startswith(("SM_", "MODEL_", "PYTEST_"))}
    env["OMP_NUM_THREADS"] = "1"  # one thread per process: the suites share the machine with the rest
    running = {
        suite: subprocess.Popen(
            [
                str(PYTHON),
                "-m",
                "pytest",
                f"tests/{suite}",
                "-q",
                f"--junitxml={ROOT / 'build' / f'pytorch-{suite}.xml'}",
            ],
            cwd=PACKAGE,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for suite in SUITES
    }
    outputs = {suite: process.communicate(timeout=900)[0] for suite, process in running.items()}
    failed = [suite for suite, process in running.items() if process.returncode != 0]
    summary = {suite: output.strip().splitlines()[-1] if output.strip() else "" for suite, output in outputs.items()}
    assert not failed, "\n\n".join(f"{suite} suite failed:\n{outputs[suite][-12000:]}" for suite in failed)
    assert all(" passed" in line for line in summary.values()), summary
