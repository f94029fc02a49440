"""Evaluate step of the image classifier pipeline: the trained model, served as the endpoint will serve it,
scored on the held-out test images.

Runs as a SageMaker Processing job (`python3 evaluate.py --metric accuracy --engine onnx-int8`) on the
platform's PyTorch image and, unchanged, on a developer machine with that image's package
(`pytorch_container`). Layout, below `$SM_ML_ROOT` (default `/opt/ml`):

- `processing/model/model.tar.gz`: the training job's artifact;
- `processing/test/<class>/<image>`: the test split (the Prepare step's);
- `processing/evaluation/evaluation.json`: the result, SageMaker Model Monitor's model quality format
  (`multiclass_classification_metrics`: accuracy, weighted precision, recall and F1, each
  `{"value", "standard_deviation"}` (bootstrap), and the confusion matrix), plus `problem_type`
  (`image_classification`), `metric` (the gate's), `engine` and `top_k`;
- `output/message`: the reason of a failure.

Each test image goes through the model server's own path: its file bytes and content type into
`Predictor.classify` with the engine the endpoint will run (`--engine`), and the top class of the answer
is the prediction, so the registered metric is what the deployed endpoint gives (the deploy repository's
staging tests measure it again there).

This file is uploaded to the job alone, so it imports nothing from the rest of the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import metrics as skm

EVALUATION_FILE = "evaluation.json"
PROBLEM_TYPE = "image_classification"
SECTION = "multiclass_classification_metrics"
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
BOOTSTRAP_ROUNDS = 50
TOP_K = 3  # the seeds' answer: the three most probable classes


class EvaluationError(Exception):
    """A model or test split the step cannot score; the message names the problem."""


def test_images(directory: Path) -> list[tuple[str, Path]]:
    """(class name, file) of every test image, in sorted order."""
    found = [
        (path.relative_to(directory).parts[0], path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.suffix.lower() in CONTENT_TYPES and not path.name.startswith(".")
    ]
    if not found:
        raise EvaluationError(f"no test images (<class>/<image>.png|jpg) in {directory}")
    return found


def _bootstrap_sd(metric: Callable[[np.ndarray, np.ndarray], float], truth: np.ndarray, guess: np.ndarray) -> float:
    """Standard deviation of `metric` over seeded resamples of the test images."""
    rng = np.random.default_rng(0)
    values = []
    for _ in range(BOOTSTRAP_ROUNDS):
        rows = rng.integers(0, len(truth), len(truth))
        values.append(metric(truth[rows], guess[rows]))
    return float(np.std(values))


def metrics(truth: np.ndarray, guess: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, weighted precision/recall/F1 and the confusion matrix of predicted class indices."""
    indices = list(range(len(classes)))
    weighted: dict[str, Any] = {"average": "weighted", "labels": indices, "zero_division": 0}
    scorers: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "accuracy": lambda y, p: float(skm.accuracy_score(y, p)),
        "weighted_precision": lambda y, p: float(skm.precision_score(y, p, **weighted)),
        "weighted_recall": lambda y, p: float(skm.recall_score(y, p, **weighted)),
        "weighted_f1": lambda y, p: float(skm.f1_score(y, p, **weighted)),
    }
    section: dict[str, Any] = {
        name: {"value": scorer(truth, guess), "standard_deviation": _bootstrap_sd(scorer, truth, guess)}
        for name, scorer in scorers.items()
    }
    matrix = skm.confusion_matrix(truth, guess, labels=indices)
    section["confusion_matrix"] = {
        actual: {predicted: int(matrix[i, j]) for j, predicted in enumerate(classes)}
        for i, actual in enumerate(classes)
    }
    return section


def classify_all(model_dir: Path, engine: str, images: list[tuple[str, Path]]) -> tuple[list[str], list[str]]:
    """The class names of the model, and the top class the predictor answers for each image."""
    from pytorch_container.predictor import Predictor, PredictorSettings  # the PyTorch image's package

    predictor = Predictor(model_dir, PredictorSettings(engine=engine, top_k=TOP_K))
    classes = [str(name) for name in predictor.class_names]
    tops = []
    for _, path in images:
        answer = predictor.classify(path.read_bytes(), CONTENT_TYPES[path.suffix.lower()])
        tops.append(str(answer[0]["className"]))
    return classes, tops


def evaluate(truth_names: list[str], predicted: list[str], classes: list[str], metric: str) -> dict[str, Any]:
    """evaluation.json for the true and predicted class names of the test images."""
    unknown = sorted(set(truth_names) - set(classes))
    if unknown:
        raise EvaluationError(f"test classes {unknown} are not classes of the model {classes}")
    index = {name: i for i, name in enumerate(classes)}
    truth = np.array([index[name] for name in truth_names])
    guess = np.array([index[name] for name in predicted])
    section = metrics(truth, guess, classes)
    if metric not in section:
        raise EvaluationError(
            f"--metric {metric!r} is not one of {sorted(k for k in section if k != 'confusion_matrix')}"
        )
    return {SECTION: section, "problem_type": PROBLEM_TYPE, "metric": metric, "test_images": len(truth)}


def run(base_dir: Path, metric: str, engine: str) -> dict[str, Any]:
    """Execute the step below `base_dir`; return the evaluation."""
    images = test_images(base_dir / "test")
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = Path(scratch)
        try:
            with tarfile.open(base_dir / "model" / "model.tar.gz") as bundle:
                bundle.extractall(model_dir, filter="data")
        except (OSError, tarfile.TarError) as error:
            raise EvaluationError(f"cannot unpack the model artifact: {error}") from None
        classes, predicted = classify_all(model_dir, engine, images)
    evaluation = evaluate([name for name, _ in images], predicted, classes, metric)
    evaluation.update(engine=engine, top_k=TOP_K)
    output = base_dir / "evaluation"
    output.mkdir(parents=True, exist_ok=True)
    (output / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2) + "\n")
    return evaluation


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the process exit status."""
    ml_root = Path(os.environ.get("SM_ML_ROOT", "/opt/ml"))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base-dir", type=Path, default=ml_root / "processing")
    parser.add_argument("--metric", default="accuracy", help="the quality gate's metric (printed and recorded)")
    parser.add_argument("--engine", default="onnx-int8", help="the predictor engine the endpoint serves with")
    args = parser.parse_args(argv)
    try:
        evaluation = run(args.base_dir, args.metric, args.engine)
    except EvaluationError as error:
        return _fail(ml_root, f"evaluate failed: {error}")
    except Exception as error:  # every failure must reach output/message, without a backtrace
        first_line = (str(error).strip().splitlines() or [""])[0]
        return _fail(ml_root, f"evaluate failed with an unexpected error: {type(error).__name__}: {first_line}")
    value = evaluation[SECTION][args.metric]
    print(
        f"evaluate: engine {args.engine}, {evaluation['test_images']} test images, "
        f"test {args.metric}={value['value']:.4f} standard_deviation={value['standard_deviation']:.4f}"
    )
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
