"""Evaluation step: score the trained model on the test split; write metrics, plots and a report.

Runs as a SageMaker Processing job (`python3 evaluate.py --metric <gate metric>`) on the XGBoost
image and, unchanged, on a developer machine (`PIPELINE_EXECUTION_MODE=local`). Layout, below
`$SM_ML_ROOT` (default `/opt/ml`):

- `processing/model/model.tar.gz`: the training (or best tuning) job's artifact, `xgboost-model`
  alone (SageMaker's built-in XGBoost image and the platform's image write the same layout);
- `processing/test/`: the test split (CSV without header, label first);
- `processing/features/features.json`: the preprocess step's description of the features, the
  label, the problem type and the classes;
- `processing/evaluation/evaluation.json`: the metrics in SageMaker Model Monitor's model quality
  format (`regression_metrics`, `binary_classification_metrics` or
  `multiclass_classification_metrics`; each metric `{"value", "standard_deviation"}`), which the
  model registry shows, plus `problem_type` and `metric` (the quality gate's metric);
- `processing/evaluation/plots/*.png` and `processing/evaluation/report.html` (the plots embedded);
- `output/message`: the reason of a failure.

`standard_deviation` is that of the prediction errors for `mse` (as in SageMaker's abalone
example) and a seeded bootstrap estimate for every other metric.

This file is uploaded to the job alone, so it imports nothing from the rest of the repository.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xgboost
from sklearn import metrics as skm

REGRESSION = "regression"
BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
SECTIONS = {
    REGRESSION: "regression_metrics",
    BINARY: "binary_classification_metrics",
    MULTICLASS: "multiclass_classification_metrics",
}
# The metrics a quality gate can name, per problem type, and the bound that applies to each:
# "max" for a metric where lower is better, "min" where higher is better.
GATE_METRICS: dict[str, dict[str, str]] = {
    REGRESSION: {"mse": "max", "rmse": "max", "mae": "max", "r2": "min"},
    BINARY: {"auc": "min", "accuracy": "min", "f1": "min", "precision": "min", "recall": "min", "log_loss": "max"},
    MULTICLASS: {
        "accuracy": "min",
        "weighted_f1": "min",
        "weighted_precision": "min",
        "weighted_recall": "min",
        "auc": "min",
        "log_loss": "max",
    },
}
MODEL_FILE = "xgboost-model"  # the whole artifact, as SageMaker's built-in XGBoost algorithm writes it
EVALUATION_FILE = "evaluation.json"
REPORT_FILE = "report.html"
PLOTS_DIR = "plots"
BOOTSTRAP_ROUNDS = 50
ROC_POINTS = 200  # curves are thinned to about this many points in evaluation.json


class EvaluationError(Exception):
    """A missing or malformed model, test set or setting; the message names it."""


def metric_path(problem_type: str, metric: str) -> str:
    """JSON path of a metric's value in evaluation.json (what the pipeline's condition reads)."""
    return f"{SECTIONS[problem_type]}.{metric}.value"


def load_booster(archive: Path) -> xgboost.Booster:
    """Unpack `model.tar.gz` and load its Booster (built-in layout, or the platform image's)."""
    if not archive.is_file():
        raise EvaluationError(f"model archive {archive} not found")
    with tempfile.TemporaryDirectory(prefix="model-") as scratch:
        model_dir = Path(scratch)
        try:
            with tarfile.open(archive) as bundle:
                # The "data" filter (no links out, no absolute paths) exists from Python 3.10.12 on.
                safe: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                bundle.extractall(model_dir, **safe)
        except (tarfile.TarError, OSError) as error:
            raise EvaluationError(f"{archive} is not a readable tar.gz archive: {error}") from error
        files = sorted(str(path.relative_to(model_dir)) for path in model_dir.rglob("*") if path.is_file())
        if files != [MODEL_FILE]:
            raise EvaluationError(f"{archive} holds {files}: expected the model file {MODEL_FILE} alone")
        return _load_raw(model_dir / MODEL_FILE, archive)


def _load_raw(path: Path, archive: Path) -> xgboost.Booster:
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(path.read_bytes()))
    except xgboost.core.XGBoostError as error:
        first_line = (str(error).strip().splitlines() or [repr(error)])[0]
        raise EvaluationError(f"{path.name} in {archive} is not an XGBoost model: {first_line}") from None
    return booster


def load_test_set(directory: Path) -> np.ndarray:
    """Read every CSV file of the test split into one matrix (label in column 0)."""
    files = sorted(path for path in directory.glob("*.csv") if path.is_file())
    if not files:
        raise EvaluationError(f"no test CSV file found in {directory}")
    parts = []
    for path in files:
        try:
            part = np.loadtxt(path, delimiter=",", ndmin=2)
        except (ValueError, UnicodeDecodeError) as error:
            raise EvaluationError(f"test file {path} is not a numeric CSV file: {error}") from error
        if part.size == 0:
            raise EvaluationError(f"test file {path} is empty")
        labels, features = ~np.isfinite(part[:, 0]), np.isinf(part[:, 1:])
        if labels.any() or features.any():
            row = int(np.flatnonzero(labels | features.any(axis=1))[0])
            raise EvaluationError(
                f"test file {path}, data row {row + 1}: {part[row].tolist()} holds a label that is not a finite "
                "number or an infinite feature (features must be finite; nan marks a missing one)"
            )
        parts.append(part)
    widths = {part.shape[1] for part in parts}
    if len(widths) > 1:
        raise EvaluationError(f"test files in {directory} have different column counts {sorted(widths)}")
    return np.vstack(parts)


def load_features(path: Path) -> dict[str, Any]:
    """The preprocess step's `features.json`, checked for what evaluation uses."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise EvaluationError(f"feature description {path} not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EvaluationError(f"feature description {path} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("feature_names"), list):
        raise EvaluationError(f"{path} must hold an object with a 'feature_names' list")
    problem_type = document.get("problem_type", REGRESSION)
    if problem_type not in SECTIONS:
        raise EvaluationError(f"{path}: problem_type {problem_type!r} is not one of {list(SECTIONS)}")
    classes = document.get("classes")
    if problem_type != REGRESSION and not (isinstance(classes, list) and len(classes) >= 2):
        raise EvaluationError(f"{path}: a {problem_type} problem needs its 'classes', found {classes!r}")
    return {**document, "problem_type": problem_type}


def predict(booster: xgboost.Booster, test: np.ndarray, features: dict[str, Any]) -> np.ndarray:
    """The model's outputs for the test rows, checked against the problem type."""
    count = test.shape[1] - 1
    for expected, source in ((booster.num_features(), "the model"), (len(features["feature_names"]), "features.json")):
        if count != expected:
            raise EvaluationError(f"the test set has {count} feature columns, {source} expects {expected}")
    outputs = np.asarray(booster.predict(xgboost.DMatrix(test[:, 1:])), dtype=float)
    problem_type = features["problem_type"]
    if problem_type == BINARY and (outputs.ndim != 1 or outputs.min() < 0 or outputs.max() > 1):
        raise EvaluationError("binary_classification needs one probability per row: train with binary:logistic")
    if problem_type == MULTICLASS and (outputs.ndim != 2 or outputs.shape[1] != len(features["classes"])):
        raise EvaluationError(
            f"multiclass_classification needs {len(features['classes'])} class probabilities per row, "
            f"the model gives shape {outputs.shape[1:]}: train with multi:softprob"
        )
    return outputs


def _bootstrap_sd(metric: Callable[[np.ndarray, np.ndarray], float], labels: np.ndarray, outputs: np.ndarray) -> float:
    """Standard deviation of `metric` over seeded resamples of the test rows (skipping degenerate ones)."""
    rng = np.random.default_rng(0)
    values = []
    for _ in range(BOOTSTRAP_ROUNDS):
        rows = rng.integers(0, len(labels), len(labels))
        try:
            values.append(metric(labels[rows], outputs[rows]))
        except ValueError:  # a resample that holds a single class has no AUC
            continue
    return float(np.std(values)) if values else 0.0


def _metric(
    metric: Callable[[np.ndarray, np.ndarray], float], labels: np.ndarray, outputs: np.ndarray
) -> dict[str, float]:
    try:
        value = float(metric(labels, outputs))
    except ValueError as error:
        raise EvaluationError(f"the test split cannot be scored: {error}") from None
    return {"value": value, "standard_deviation": _bootstrap_sd(metric, labels, outputs)}


def regression_metrics(labels: np.ndarray, outputs: np.ndarray) -> dict[str, Any]:
    """MSE (with the standard deviation of the errors), RMSE, MAE and R²."""
    errors = labels - outputs
    return {
        "mse": {"value": float(np.mean(errors**2)), "standard_deviation": float(np.std(errors))},
        "rmse": _metric(lambda y, p: float(np.sqrt(skm.mean_squared_error(y, p))), labels, outputs),
        "mae": _metric(skm.mean_absolute_error, labels, outputs),
        "r2": _metric(skm.r2_score, labels, outputs),
    }


def _thin(*curves: np.ndarray) -> list[list[float]]:
    """Every curve cut to about ROC_POINTS points (same indices), as plain lists."""
    step = max(1, len(curves[0]) // ROC_POINTS)
    return [[float(value) for value in curve[::step]] + [float(curve[-1])] for curve in curves]


def _confusion(labels: np.ndarray, predicted: np.ndarray, classes: list[str]) -> dict[str, dict[str, int]]:
    """`{actual class: {predicted class: count}}`, Model Monitor's layout."""
    matrix = skm.confusion_matrix(labels, predicted, labels=list(range(len(classes))))
    return {actual: {guess: int(matrix[i, j]) for j, guess in enumerate(classes)} for i, actual in enumerate(classes)}


def binary_metrics(labels: np.ndarray, outputs: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """AUC, accuracy, precision, recall, F1 (threshold 0.5), log loss, confusion matrix, ROC and PR curves."""
    y = labels.astype(int)

    def hard(metric: Callable[..., float]) -> Callable[[np.ndarray, np.ndarray], float]:
        return lambda truth, p: float(metric(truth, (p >= 0.5).astype(int)))

    def zero_safe(metric: Callable[..., float]) -> Callable[..., float]:
        return lambda truth, guess: metric(truth, guess, zero_division=0)

    false_positive, true_positive, _ = skm.roc_curve(y, outputs)
    precisions, recalls, _ = skm.precision_recall_curve(y, outputs)
    fpr, tpr = _thin(false_positive, true_positive)
    pr_precisions, pr_recalls = _thin(precisions, recalls)
    return {
        "auc": _metric(skm.roc_auc_score, y, outputs),
        "accuracy": _metric(hard(skm.accuracy_score), y, outputs),
        "precision": _metric(hard(zero_safe(skm.precision_score)), y, outputs),
        "recall": _metric(hard(zero_safe(skm.recall_score)), y, outputs),
        "f1": _metric(hard(zero_safe(skm.f1_score)), y, outputs),
        "log_loss": _metric(lambda truth, p: skm.log_loss(truth, p, labels=[0, 1]), y, outputs),
        "confusion_matrix": _confusion(y, (outputs >= 0.5).astype(int), classes),
        "receiver_operating_characteristic_curve": {"false_positive_rates": fpr, "true_positive_rates": tpr},
        "precision_recall_curve": {"precisions": pr_precisions, "recalls": pr_recalls},
    }


def multiclass_metrics(labels: np.ndarray, outputs: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, weighted precision/recall/F1, one-vs-rest AUC, log loss and the confusion matrix."""
    y = labels.astype(int)
    indices = list(range(len(classes)))

    def hard(metric: Callable[..., float], **options: Any) -> Callable[[np.ndarray, np.ndarray], float]:
        return lambda truth, p: float(metric(truth, p.argmax(axis=1), **options))

    weighted = {"average": "weighted", "labels": indices, "zero_division": 0}
    return {
        "accuracy": _metric(hard(skm.accuracy_score), y, outputs),
        "weighted_precision": _metric(hard(skm.precision_score, **weighted), y, outputs),
        "weighted_recall": _metric(hard(skm.recall_score, **weighted), y, outputs),
        "weighted_f1": _metric(hard(skm.f1_score, **weighted), y, outputs),
        "auc": _metric(
            lambda truth, p: skm.roc_auc_score(truth, p, multi_class="ovr", average="weighted", labels=indices),
            y,
            outputs,
        ),
        "log_loss": _metric(lambda truth, p: skm.log_loss(truth, p, labels=indices), y, outputs),
        "confusion_matrix": _confusion(y, outputs.argmax(axis=1), classes),
    }


def evaluate(labels: np.ndarray, outputs: np.ndarray, features: dict[str, Any], metric: str) -> dict[str, Any]:
    """The content of evaluation.json for the problem type; `metric` is the quality gate's metric."""
    problem_type = features["problem_type"]
    if metric not in GATE_METRICS[problem_type]:
        raise EvaluationError(
            f"--metric {metric!r} is not a {problem_type} metric; one of {sorted(GATE_METRICS[problem_type])}"
        )
    if problem_type == REGRESSION:
        section = regression_metrics(labels, outputs)
    elif problem_type == BINARY:
        section = binary_metrics(labels, outputs, features["classes"])
    else:
        section = multiclass_metrics(labels, outputs, features["classes"])
    return {SECTIONS[problem_type]: section, "problem_type": problem_type, "metric": metric}


def draw_plots(
    directory: Path, labels: np.ndarray, outputs: np.ndarray, features: dict[str, Any], booster: xgboost.Booster
) -> dict[str, str]:
    """Write the problem type's PNG plots into `directory`; return `{file name: title}`."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise EvaluationError(
            "plots need matplotlib, which this image lacks: install matplotlib in the processing image"
        ) from None
    directory.mkdir(parents=True, exist_ok=True)
    problem_type, classes = features["problem_type"], features.get("classes") or []
    plots: dict[str, tuple[str, Callable[[Any], None]]] = {}
    if problem_type == REGRESSION:
        plots["predicted_vs_actual.png"] = ("Predicted vs actual", lambda ax: _scatter(ax, labels, outputs))
        plots["residuals.png"] = ("Residuals (actual - predicted)", lambda ax: _residuals(ax, labels - outputs))
    else:
        probabilities = outputs if outputs.ndim == 2 else np.column_stack([1 - outputs, outputs])
        y = labels.astype(int)
        plots["roc_curve.png"] = ("ROC curve", lambda ax: _roc(ax, y, probabilities, classes))
        if problem_type == BINARY:
            plots["precision_recall_curve.png"] = ("Precision-recall curve", lambda ax: _pr(ax, y, outputs))
        plots["confusion_matrix.png"] = (
            "Confusion matrix",
            lambda ax: _confusion_plot(ax, y, probabilities.argmax(axis=1), classes),
        )
    plots["feature_importance.png"] = (
        "Feature importance (gain)",
        lambda ax: _importance(ax, booster, features["feature_names"]),
    )
    for name, (title, draw) in plots.items():
        figure, axes = pyplot.subplots(figsize=(6, 4.5), dpi=100)
        draw(axes)
        axes.set_title(title)
        figure.tight_layout()
        figure.savefig(directory / name, format="png")
        pyplot.close(figure)
    return {name: title for name, (title, _) in plots.items()}


def _scatter(ax: Any, labels: np.ndarray, outputs: np.ndarray) -> None:
    ax.scatter(labels, outputs, s=8, alpha=0.5)
    low, high = float(min(labels.min(), outputs.min())), float(max(labels.max(), outputs.max()))
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")


def _residuals(ax: Any, errors: np.ndarray) -> None:
    ax.hist(errors, bins=30)
    ax.set_xlabel("residual")
    ax.set_ylabel("rows")


def _roc(ax: Any, y: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> None:
    shown = [1] if probabilities.shape[1] == 2 else range(len(classes))
    for index in shown:
        if len(np.unique(y == index)) < 2:
            continue
        fpr, tpr, _ = skm.roc_curve(y == index, probabilities[:, index])
        ax.plot(fpr, tpr, label=f"{classes[index]} (AUC {skm.auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")


def _pr(ax: Any, y: np.ndarray, outputs: np.ndarray) -> None:
    precisions, recalls, _ = skm.precision_recall_curve(y, outputs)
    ax.plot(recalls, precisions)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")


def _confusion_plot(ax: Any, y: np.ndarray, predicted: np.ndarray, classes: list[str]) -> None:
    skm.ConfusionMatrixDisplay.from_predictions(
        y, predicted, labels=list(range(len(classes))), display_labels=classes, ax=ax, colorbar=False
    )


def _importance(ax: Any, booster: xgboost.Booster, names: list[str]) -> None:
    scores = booster.get_score(importance_type="gain")
    named = {names[int(key[1:])] if key[1:].isdigit() else key: value for key, value in scores.items()}
    top = sorted(named.items(), key=lambda item: item[1])[-20:]
    ax.barh([name for name, _ in top], [value for _, value in top])
    ax.set_xlabel("average gain")


def write_report(path: Path, evaluation: dict[str, Any], plots: dict[str, str], features: dict[str, Any]) -> None:
    """A self-contained HTML page: the metrics table and every plot (embedded as PNG data)."""
    problem_type = evaluation["problem_type"]
    section = evaluation[SECTIONS[problem_type]]
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{value['value']:.6g}</td><td>{value['standard_deviation']:.4g}</td></tr>"
        for name, value in section.items()
        if isinstance(value, dict) and "value" in value
    )
    images = "".join(
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
        f'{base64.b64encode((path.parent / PLOTS_DIR / name).read_bytes()).decode()}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
        for name, title in plots.items()
    )
    classes = features.get("classes")
    facts = [
        ("problem type", problem_type),
        ("label", str(features.get("label", "label"))),
        ("features", str(len(features["feature_names"]))),
        ("quality gate metric", evaluation["metric"]),
    ]
    if classes:
        facts.append(("classes", ", ".join(str(name) for name in classes)))
    fact_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    path.write_text(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Model evaluation</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}figure{display:inline-block;margin:0 1em 1em 0}"
        "</style></head><body><h1>Model evaluation (test split)</h1>"
        f"<table>{fact_rows}</table><h2>Metrics</h2><table><tr><th>metric</th><th>value</th>"
        f"<th>standard deviation</th></tr>{rows}</table><h2>Plots</h2>{images}</body></html>\n",
        encoding="utf-8",
    )


def run(base_dir: Path, metric: str) -> dict[str, Any]:
    """Execute the step below `base_dir`; return the evaluation."""
    features = load_features(base_dir / "features" / "features.json")
    booster = load_booster(base_dir / "model" / "model.tar.gz")
    test = load_test_set(base_dir / "test")
    outputs = predict(booster, test, features)
    labels = test[:, 0]
    if features["problem_type"] != REGRESSION and (labels.min() < 0 or labels.max() >= len(features["classes"])):
        raise EvaluationError(f"test labels must be class indices below {len(features['classes'])}")
    evaluation = evaluate(labels, outputs, features, metric)
    output = base_dir / "evaluation"
    plots = draw_plots(output / PLOTS_DIR, labels, outputs, features, booster)
    (output / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2) + "\n")
    write_report(output / REPORT_FILE, evaluation, plots, features)
    return evaluation


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the process exit status."""
    ml_root = Path(os.environ.get("SM_ML_ROOT", "/opt/ml"))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base-dir", type=Path, default=ml_root / "processing")
    parser.add_argument("--metric", default="mse", help="the quality gate's metric (printed and recorded)")
    args = parser.parse_args(argv)
    try:
        evaluation = run(args.base_dir, args.metric)
    except EvaluationError as error:
        return _fail(ml_root, f"evaluate failed: {error}")
    except Exception as error:  # every failure must reach output/message, without a backtrace
        first_line = (str(error).strip().splitlines() or [""])[0]
        return _fail(ml_root, f"evaluate failed with an unexpected error: {type(error).__name__}: {first_line}")
    value = evaluation[SECTIONS[evaluation["problem_type"]]][args.metric]
    print(f"evaluate: test {args.metric}={value['value']:.4f} standard_deviation={value['standard_deviation']:.4f}")
    return 0


def _fail(ml_root: Path, message: str) -> int:
    """Report `message` on stderr and in `output/message`; return the failing exit status."""
    print(message, file=sys.stderr)
    message_file = ml_root / "output" / "message"
    message_file.parent.mkdir(parents=True, exist_ok=True)
    message_file.write_text(message + "\n", encoding="utf-8")
    return 1


if __name__ == "__main__":
    sys.exit(main())
