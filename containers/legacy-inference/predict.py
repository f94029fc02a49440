"""Inference of the screening model: the entrypoint of the custom inference image.

SageMaker runs it as a Processing job with the image's ENTRYPOINT and no arguments: features come
from `/opt/ml/processing/input/features`, predictions go to `/opt/ml/processing/output/predictions`
(`PROCESSING_ROOT` moves that root for local runs). The model was baked into the image by train.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import joblib
import pandas as pd

PROCESSING_ROOT = Path(os.environ.get("PROCESSING_ROOT", "/opt/ml/processing"))
MODEL_DIR = Path(os.environ.get("MODEL_DIR", Path(__file__).resolve().with_name("model")))
ID_COLUMN = "patient_id"
LABEL_COLUMN = "diagnosis"
PROBABILITY_COLUMN = "malignant_probability"


def predict(features: pd.DataFrame, model_dir: Path) -> pd.DataFrame:
    """Probability of malignancy per patient (the diagnosis travels along when present)."""
    model = joblib.load(model_dir / "model.joblib")
    columns = json.loads((model_dir / "model.json").read_text())["features"]
    missing = [name for name in columns if name not in features.columns]
    if missing:
        raise ValueError(f"features.csv lacks the model's columns: {', '.join(missing)}")
    predictions = features[[ID_COLUMN]].copy()
    predictions[PROBABILITY_COLUMN] = model.predict_proba(features[columns])[:, 1].round(6)
    if LABEL_COLUMN in features.columns:
        predictions[LABEL_COLUMN] = features[LABEL_COLUMN]
    return predictions


def main(argv: list[str] | None = None) -> int:
    """Command line of the processing job (the image's ENTRYPOINT)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features-dir", type=Path, default=PROCESSING_ROOT / "input" / "features")
    parser.add_argument("--output-dir", type=Path, default=PROCESSING_ROOT / "output" / "predictions")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    args = parser.parse_args(argv)
    features = pd.read_csv(args.features_dir / "features.csv", dtype={ID_COLUMN: str})
    try:
        predictions = predict(features, args.model_dir)
    except ValueError as error:
        print(f"predict: {error}", file=sys.stderr)
        return 1
    args.output_dir.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(args.output_dir / "predictions.csv", index=False)
    print(f"predict: scored {len(predictions)} patients")
    return 0


if __name__ == "__main__":
    sys.exit(main())
