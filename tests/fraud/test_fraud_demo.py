"""`make fraud-demo` end to end (small sizes): it trains, replays, accounts for everything and says so last."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.xdist_group("fraud"), pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_loses_nothing_and_prints_its_summary_line_last() -> None:
    command = [sys.executable, "-m", "local_lifecycle.fraud_demo", "--transactions", "150"]
    command += ["--event-transactions", "15", "--cards", "300", "--days", "14"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=os.environ, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    match = re.fullmatch(r"fraud_lost=0 fraud_calls_per_txn=([0-9.]+) fraud_tps=([0-9.]+)", lines[-1])
    assert match, lines[-1]
    assert float(match.group(1)) <= 0.1
    for architecture in ("stream", "firehose", "events"):
        assert any(line.startswith(architecture) and "lost=0" in line for line in lines), architecture
    curve = next(line for line in lines if line.startswith("PR curve: ")).removeprefix("PR curve: ")
    assert Path(curve).read_bytes()[:4] == b"\x89PNG"
