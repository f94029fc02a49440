"""The HTML run report of `make demo`: one self-contained page about one lifecycle run.

It shows the lifecycle's steps with their timings, the model build pipeline's steps, the problem
type, the quality gate and every test metric (and the tuning trials when the run tuned), the cost
of each step (instance type and count, spot or not, billable seconds, estimate), the
evaluation plots the Evaluate step attached to the model version, the staging test's figures with
a histogram of the endpoint's single-row latencies, and where everything is (repositories, logs,
bucket, endpoints). Every image is embedded as PNG data, so the file can be mailed or archived.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot  # noqa: E402 - the non-interactive backend first

from local_lifecycle.steps import StepResult  # noqa: E402

REPORT_FILE = "run-report.html"


@dataclass
class Figure:
    """One embedded picture."""

    title: str
    png: bytes

    @property
    def data_uri(self) -> str:
        """The PNG as a `data:` URI."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


@dataclass
class RunReport:
    """What the page shows; `write` renders it."""

    steps: list[StepResult]
    build_summary: Mapping[str, Any]
    facts: Mapping[str, str]
    evaluation_plots: list[Figure] = field(default_factory=list)
    staging: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def figures(self) -> list[Figure]:
        """The evaluation plots, then the latency histogram and the tuning trials where there are figures for them."""
        figures = list(self.evaluation_plots)
        latencies = latency_samples(self.staging)
        if latencies:
            figures.append(Figure("Staging endpoint latency (single-row requests)", latency_histogram(latencies)))
        tuning = self.build_summary.get("tuning")
        if tuning:
            figures.append(Figure(f"Tuning trials ({tuning['objective_metric']})", tuning_plot(tuning)))
        return figures

    def write(self, path: Path) -> Path:
        """Render the page to `path`; return it."""
        summary = self.build_summary
        gate = summary.get("quality_gate") or {}
        bound = next((key for key in ("min", "max") if key in gate), None)
        html = _TEMPLATE.render(
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            steps=self.steps,
            total=sum(step.seconds for step in self.steps),
            pipeline_steps=summary.get("step_seconds", {}),
            problem_type=summary.get("problem_type", "?"),
            gate=f"{gate.get('metric')} {'>=' if bound == 'min' else '<='} {gate.get(bound)}" if bound else "?",
            metric_value=summary.get("metric_value"),
            metrics=summary.get("metrics", {}),
            tuning=summary.get("tuning"),
            costs=summary.get("costs"),
            staging=self.staging,
            figures=self.figures(),
            facts=self.facts,
            artifacts=summary.get("artifacts", {}),
        )
        path.write_text(html, encoding="utf-8")
        return path


def latency_samples(staging: Mapping[str, Mapping[str, str]]) -> list[float]:
    """The single-row latencies (ms) the staging latency test recorded."""
    recorded = staging.get("test_latency_percentiles", {}).get("latencies_ms")
    return [float(value) for value in json.loads(recorded)] if recorded else []


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return buffer.getvalue()


def latency_histogram(latencies: list[float]) -> bytes:
    """Histogram of the latencies with the p50, p90 and p99 marked (nearest rank, as the staging test)."""
    figure, axes = pyplot.subplots(figsize=(6, 4), dpi=100)
    axes.hist(latencies, bins=20)
    ordered = sorted(latencies)
    for label, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        value = ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
        axes.axvline(value, color="black", linestyle="--", linewidth=1)
        axes.annotate(f"{label} {value:.1f} ms", (value, 0), rotation=90, va="bottom", ha="right")
    axes.set_xlabel("latency (ms)")
    axes.set_ylabel("requests")
    return _png(figure)


def tuning_plot(tuning: Mapping[str, Any]) -> bytes:
    """Objective value of each trial and the best so far."""
    trials = [trial for trial in tuning["trials"] if trial["value"] is not None]
    numbers = [trial["number"] for trial in trials]
    values = [trial["value"] for trial in trials]
    pick = max if tuning["objective_type"] == "Maximize" else min
    best = [pick(values[: index + 1]) for index in range(len(values))]
    figure, axes = pyplot.subplots(figsize=(6, 4), dpi=100)
    axes.scatter(numbers, values, s=12, label="trial")
    axes.step(numbers, best, where="post", color="black", label="best so far")
    axes.set_xlabel("trial")
    axes.set_ylabel(tuning["objective_metric"])
    axes.legend()
    return _png(figure)


def read_evaluation_plots(s3: Any, plots_url: str | None) -> list[Figure]:
    """The PNG plots the Evaluate step wrote under `plots_url` (an `s3://` prefix), by file name."""
    if not plots_url:
        return []
    bucket, _, prefix = plots_url.removeprefix("s3://").partition("/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    figures = []
    for item in sorted(listed, key=lambda entry: str(entry["Key"])):
        name = str(item["Key"]).rsplit("/", 1)[-1]
        if name.endswith(".png"):
            title = name.removesuffix(".png").replace("_", " ").capitalize()
            figures.append(Figure(title, s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
    return figures


_TEMPLATE = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True, undefined=jinja2.StrictUndefined
).get_template("run_report.html.j2")
