"""The HTML run report of `make demo`, rendered in headless Chromium: every image must load."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from matplotlib import pyplot

from local_lifecycle.run_report import Figure, RunReport, latency_samples
from local_lifecycle.steps import StepResult


def png(title: str) -> bytes:
    figure, axes = pyplot.subplots(figsize=(3, 2), dpi=60)
    axes.plot([0, 1, 2], [1, 0, 2])
    axes.set_title(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return buffer.getvalue()


def report(**changes) -> RunReport:
    values = {
        "steps": [StepResult(1, "synthesize", 2.5, {"templates": "4"}), StepResult(2, "model build", 9.1, {})],
        "build_summary": {
            "problem_type": "regression",
            "quality_gate": {"metric": "mse", "max": 6.0},
            "metric_value": 4.5,
            "metrics": {"mse": 4.5, "rmse": 2.12},
            "step_seconds": {"Preprocess": 1.2, "Tune": 3.4},
            "tuning": {
                "objective_metric": "validation:rmse",
                "objective_type": "Minimize",
                "trials": [{"number": 0, "value": 2.4}, {"number": 1, "value": 2.3}, {"number": 2, "value": 2.5}],
                "best_value": 2.3,
                "best_hyperparameters": {"eta": "0.05", "max_depth": "5"},
                "seconds": 3.0,
            },
            "artifacts": {"model_data_url": "s3://bucket/p/e/model/model.tar.gz"},
            "costs": {
                "currency": "USD",
                "prices_as_of": "2023-05-01",
                "price_source": "list prices",
                "region": "us-east-1",
                "steps": [
                    {
                        "step": "Tune",
                        "job": "tune-001",
                        "kind": "training",
                        "instance_type": "ml.g5.xlarge",
                        "instance_count": 1,
                        "spot": True,
                        "run_seconds": 500.0,
                        "billable_seconds": 100.0,
                        "basis": "BillableTimeInSeconds",
                        "price_per_hour": 1.408,
                        "cost": 0.039111,
                    }
                ],
                "billable_instance_seconds": 100.0,
                "estimated_cost": 0.039111,
                "unpriced": [],
            },
        },
        "facts": {"model build repo": "/tmp/gitlab/1", "staging endpoint": "abalone-staging <script>"},
        "evaluation_plots": [Figure("Residuals", png("residuals")), Figure("Feature importance", png("gain"))],
        "staging": {
            "test_metric_matches_registered": {"metric": "mse", "value": "4.5000", "registered": "4.5000"},
            "test_latency_percentiles": {"p99_ms": "3.1", "latencies_ms": json.dumps([1.5, 2.0, 2.2, 3.1, 2.8])},
        },
    }
    values.update(changes)
    return RunReport(**values)


def test_every_image_of_the_report_loads_in_chromium(tmp_path: Path, image_report) -> None:
    page = report().write(tmp_path / "run-report.html")
    rendered = image_report(page)
    assert rendered["title"] == "MLOps lifecycle run report"
    assert [image["alt"] for image in rendered["images"]] == [
        "Residuals",
        "Feature importance",
        "Staging endpoint latency (single-row requests)",
        "Tuning trials (validation:rmse)",
    ]
    assert all(image["loaded"] for image in rendered["images"]), rendered["images"]
    text = page.read_text()
    for fact in ("mse &lt;= 6.0", "validation:rmse", "/tmp/gitlab/1", "model_data_url".replace("_", " "), "Tune"):
        assert fact in text
    # The cost table: the job, spot, billable of run seconds, the estimate and the prices' date.
    for fact in ("tune-001", "1 x ml.g5.xlarge", "<td>yes</td>", "<td>100.0</td>", "0.039111", "as of 2023-05-01"):
        assert fact in text
    assert "<script>" not in text  # values are escaped


def test_a_broken_image_is_reported_as_not_loaded(tmp_path: Path, image_report) -> None:
    """The check itself: a picture whose data is not a PNG does not count as loaded."""
    broken = Figure("Broken", base64.b64decode(base64.b64encode(b"not a png at all")))
    page = report(evaluation_plots=[broken], staging={}, build_summary={"tuning": None}).write(tmp_path / "r.html")
    assert [image["loaded"] for image in image_report(page)["images"]] == [False]


def test_latencies_come_from_the_staging_test_s_properties() -> None:
    assert latency_samples({"test_latency_percentiles": {"latencies_ms": "[1.0, 2.5]"}}) == [1.0, 2.5]
    assert latency_samples({}) == []


@pytest.mark.parametrize("objective_type", ["Minimize", "Maximize"])
def test_tuning_figure_for_either_direction(objective_type: str, tmp_path: Path) -> None:
    summary = {**report().build_summary}
    summary["tuning"] = {**summary["tuning"], "objective_type": objective_type}
    figures = report(build_summary=summary).figures()
    assert figures[-1].png.startswith(b"\x89PNG")
