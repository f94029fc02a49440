"""`make local-build` (local_lifecycle.local_build): the model build steps end to end against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data" / "abalone-dataset.csv"
SUMMARY_KEYS = {
    "mode",
    "costs",
    "status",
    "pipeline_name",
    "execution_id",
    "input_data",
    "model_package_group_name",
    "model_package_arn",
    "model_approval_status",
    "problem_type",
    "quality_gate",
    "metric_value",
    "metrics",
    "tuning",
    "training_image_uri",
    "cpu_image_uri",
    "gpu_image_uri",
    "artifacts",
    "step_seconds",
    "failed_step",
    "failure_reason",
    "total_seconds",
}


def generated_abalone(path: Path, rows: int = 600) -> Path:
    """An Abalone-shaped CSV (used where the shared data set is absent)."""
    rng = np.random.default_rng(11)
    length = rng.uniform(0.1, 0.8, rows)
    whole = 4 * length**3
    rings = np.clip(np.round(4 + 30 * whole + rng.normal(0, 1.5, rows)), 1, 29)
    with path.open("w") as handle:
        for sex, ln, w, r in zip(rng.choice(list("MFI"), rows), length, whole, rings, strict=True):
            handle.write(
                f"{sex},{ln:.3f},{0.8 * ln:.3f},{0.3 * ln:.3f},"
                f"{w:.4f},{0.45 * w:.4f},{0.2 * w:.4f},{0.3 * w:.4f},{int(r)}\n"
            )
    return path


@pytest.mark.e2e
def test_local_build_trains_registers_and_reports_the_configured_metric(tmp_path):
    data = SHARED_DATA if SHARED_DATA.is_file() else generated_abalone(tmp_path / "abalone.csv")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "XGBOOST_"))}
    env.update(LOCAL_BUILD_DIR=str(tmp_path / "build"), PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(
        [sys.executable, "-m", "local_lifecycle.local_build", str(data)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    last_line = result.stdout.strip().splitlines()[-1]
    assert last_line.startswith("test_mse=")
    summary = json.loads((tmp_path / "build" / "run-summary.json").read_text())
    assert set(summary) == SUMMARY_KEYS
    assert summary["status"] == "Succeeded" and summary["model_approval_status"] == "PendingManualApproval"
    assert summary["model_package_arn"].startswith("arn:aws:sagemaker:us-east-1:")
    assert float(last_line.split("=")[1]) == pytest.approx(summary["metric_value"], abs=1e-6)
    assert summary["quality_gate"] == {"metric": "mse", "max": 6.0} and summary["metric_value"] <= 6.0
    assert set(summary["step_seconds"]) == {"Preprocess", "Train", "Evaluate", "CheckQualityGate", "RegisterModel"}
    assert summary["artifacts"]["model_data_url"].endswith("/model/model.tar.gz")
    assert [item["step"] for item in summary["costs"]["steps"]] == ["Preprocess", "Train", "Evaluate"]
    assert summary["costs"]["estimated_cost"] > 0 and "cost[total]=" in result.stdout
    if data == SHARED_DATA:
        # The seeded 70/15/15 split of the 4,177 rows and the published reference (about 4.91).
        assert summary["input_data"].endswith("/dataset/abalone-dataset.csv")
        assert summary["metric_value"] < 5.0


def test_missing_data_file_is_reported(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "local_lifecycle.local_build", str(tmp_path / "absent.csv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and f"local-build: data file {tmp_path}/absent.csv not found" in result.stderr
