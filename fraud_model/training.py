"""Train the fraud model with the XGBoost image's training code and evaluate it on the held-out split.

Training runs `xgboost_container.train` (the code the model build pipeline's training step runs in
the image) on the generated data. Evaluation reports the precision-recall AUC (average precision)
of the newest 15 % of payments, precision and recall at the configured thresholds, suggests
thresholds from the validation split, and draws the precision-recall curve.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from fraud_model.dataset import time_split, write_training_channels
from fraud_model.transactions import LABEL
from fraud_scoring.schema import FEATURE_NAMES
from fraud_scoring.scoring import Thresholds
from xgboost_container import model_format, paths
from xgboost_container import train as image_train

# What the suggested thresholds aim for on the validation split.
BLOCK_PRECISION = 0.9
INVESTIGATE_RECALL = 0.85


@dataclass(frozen=True)
class ThresholdMetrics:
    """How the model does at one threshold on the test split."""

    threshold: float
    precision: float
    recall: float
    flagged_share: float


@dataclass(frozen=True)
class Evaluation:
    """The model's figures on the test split (the newest payments, never seen in training)."""

    test_transactions: int
    test_fraud: int
    fraud_share: float
    pr_auc: float
    roc_auc: float
    investigate: ThresholdMetrics
    block: ThresholdMetrics
    suggested_investigate: float
    suggested_block: float


def train_model(table: pd.DataFrame, job_dir: Path) -> tuple[Path, dict[str, pd.DataFrame]]:
    """Run the image's training entry point on the time split of `table`; returns (model dir, splits)."""
    splits = time_split(table)
    write_training_channels(splits, job_dir)
    container = paths.resolve({"SM_ML_ROOT": str(job_dir)})
    image_train.train(container)
    return container.model, splits


def predict(model_dir: Path, frame: pd.DataFrame) -> np.ndarray:
    """Fraud probabilities of the rows of `frame` with the saved model."""
    booster, _ = model_format.load_model(model_dir)
    matrix = xgboost.DMatrix(frame[list(FEATURE_NAMES)].to_numpy(dtype=np.float32))
    return np.asarray(booster.predict(matrix))


def _at(threshold: float, labels: np.ndarray, scores: np.ndarray) -> ThresholdMetrics:
    flagged = scores >= threshold
    true_positive = int((flagged & (labels == 1)).sum())
    return ThresholdMetrics(
        threshold=threshold,
        precision=true_positive / max(int(flagged.sum()), 1),
        recall=true_positive / max(int((labels == 1).sum()), 1),
        flagged_share=float(flagged.mean()),
    )


def suggest_thresholds(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(investigate, block): the highest threshold with recall >= 0.85, the lowest with precision >= 0.9."""
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    precise = np.nonzero(precision[:-1] >= BLOCK_PRECISION)[0]
    block = float(thresholds[precise[0]]) if len(precise) else float(thresholds[-1])
    recalled = np.nonzero(recall[:-1] >= INVESTIGATE_RECALL)[0]
    investigate = float(thresholds[recalled[-1]]) if len(recalled) else float(thresholds[0])
    return round(min(investigate, block / 2), 3), round(block, 3)


def evaluate(model_dir: Path, splits: dict[str, pd.DataFrame], thresholds: Thresholds) -> Evaluation:
    """Figures on the test split at `thresholds`, and thresholds suggested by the validation split."""
    test = splits["test"]
    labels = test[LABEL].to_numpy()
    scores = predict(model_dir, test)
    validation_scores = predict(model_dir, splits["validation"])
    suggested = suggest_thresholds(splits["validation"][LABEL].to_numpy(), validation_scores)
    return Evaluation(
        test_transactions=len(test),
        test_fraud=int(labels.sum()),
        fraud_share=float(labels.mean()),
        pr_auc=float(average_precision_score(labels, scores)),
        roc_auc=float(roc_auc_score(labels, scores)),
        investigate=_at(thresholds.investigate, labels, scores),
        block=_at(thresholds.block, labels, scores),
        suggested_investigate=suggested[0],
        suggested_block=suggested[1],
    )


def plot_pr_curve(model_dir: Path, splits: dict[str, pd.DataFrame], evaluation: Evaluation, path: Path) -> Path:
    """Draw the test split's precision-recall curve with the two thresholds marked; returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = splits["test"][LABEL].to_numpy()
    precision, recall, _ = precision_recall_curve(labels, predict(model_dir, splits["test"]))
    figure, axes = plt.subplots(figsize=(6, 4.5), dpi=100)
    axes.plot(recall, precision, label=f"model (PR-AUC {evaluation.pr_auc:.3f})")
    axes.axhline(evaluation.fraud_share, linestyle=":", color="grey", label=f"chance ({evaluation.fraud_share:.2%})")
    for name, point, marker in (("investigate", evaluation.investigate, "o"), ("block", evaluation.block, "s")):
        axes.plot(point.recall, point.precision, marker, markersize=8, label=f"{name} >= {point.threshold:g}")
    axes.set(xlabel="recall (fraud caught)", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
    axes.set_title(f"Fraud model, test split ({evaluation.test_transactions} payments, {evaluation.test_fraud} fraud)")
    axes.legend(loc="lower left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def package_model(model_dir: Path, archive: Path) -> Path:
    """`model.tar.gz` as SageMaker deploys it (the model directory's files at the archive root)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for file in sorted(model_dir.iterdir()):
            tar.add(file, arcname=file.name)
    return archive


def write_metrics(evaluation: Evaluation, path: Path) -> Path:
    """The evaluation as JSON (what the report quotes)."""
    path.write_text(json.dumps(asdict(evaluation), indent=2) + "\n")
    return path
