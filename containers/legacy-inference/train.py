"""Trains the screening model when the inference image is built (`RUN python3 train.py ...`).

The model is baked into the image, as the article's custom container carries its artifacts, and is
trained by the image's own pinned scikit-learn, so the pickle always matches the library that loads
it. `--export-holdout` writes the held-out patients as a lab export: the example input data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import joblib
import pandas as pd
import sklearn
from preprocessing import FEATURES, ID_COLUMN, LABEL_COLUMN, LABELS, RAW_FEATURES, clean
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

MODEL_FILE = "model.joblib"
METADATA_FILE = "model.json"
HOLDOUT_FRACTION = 0.3
SEED = 42


def patients() -> pd.DataFrame:
    """The data set scikit-learn ships, shaped like the lab's export (raw column names, IDs, labels)."""
    data = load_breast_cancer()
    frame = pd.DataFrame(data.data, columns=list(RAW_FEATURES))
    frame.insert(0, ID_COLUMN, [f"P{index:04d}" for index in range(len(frame))])
    frame[LABEL_COLUMN] = [LABELS[target] for target in data.target]
    return frame


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training, held-out) patients, stratified by diagnosis, the same on every run."""
    training, holdout = train_test_split(
        frame, test_size=HOLDOUT_FRACTION, random_state=SEED, stratify=frame[LABEL_COLUMN]
    )
    return training.sort_index(), holdout.sort_index()


def fit(features: pd.DataFrame) -> Pipeline:
    """Standardized logistic regression predicting `malignant`."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(features[list(FEATURES)], features[LABEL_COLUMN] == "malignant")
    return model


def accuracy(model: Pipeline, features: pd.DataFrame) -> float:
    """Share of patients whose diagnosis the model gets right at probability 0.5."""
    predicted = model.predict(features[list(FEATURES)])
    return float((predicted == (features[LABEL_COLUMN] == "malignant")).mean())


def main(argv: list[str] | None = None) -> int:
    """Command line of the image build (and of the example data export)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="write model.joblib and model.json here")
    parser.add_argument("--export-holdout", type=Path, help="write the held-out patients as a CSV here")
    args = parser.parse_args(argv)
    training, holdout = split(patients())
    if args.export_holdout:
        args.export_holdout.parent.mkdir(parents=True, exist_ok=True)
        holdout.to_csv(args.export_holdout, index=False)
        print(f"train: wrote {len(holdout)} held-out patients to {args.export_holdout}")
    if args.model_dir:
        model = fit(clean(training)[0])
        args.model_dir.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, args.model_dir / MODEL_FILE)
        metadata = {
            "features": list(FEATURES),
            "scikit_learn": sklearn.__version__,
            "training_patients": len(training),
            "holdout_accuracy": round(accuracy(model, clean(holdout)[0]), 4),
        }
        (args.model_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        print(f"train: model with hold-out accuracy {metadata['holdout_accuracy']} in {args.model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
