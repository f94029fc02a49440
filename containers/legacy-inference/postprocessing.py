"""Postprocessing of the screening model: probabilities in, referral decisions and a report out.

Runs in script mode on the pre-built scikit-learn image, like preprocessing.py. Patients at or above
the referral threshold are referred to a specialist; `report.json` counts the decisions and, when
the input carried diagnoses, how many malignant cases were referred.
Written for Python 3.9+ and pandas 1.x to 3.x.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

PROCESSING_ROOT = Path(os.environ.get("PROCESSING_ROOT", "/opt/ml/processing"))
LABEL_COLUMN = "diagnosis"
PROBABILITY_COLUMN = "malignant_probability"
DEFAULT_THRESHOLD = 0.5


def decide(predictions: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """`refer` at or above the threshold, `routine` below it."""
    decisions = predictions.copy()
    decisions["decision"] = ["refer" if p >= threshold else "routine" for p in decisions[PROBABILITY_COLUMN]]
    return decisions


def report(decisions: pd.DataFrame, threshold: float) -> dict[str, object]:
    """Counts of the decisions, and their quality when diagnoses are known."""
    referred = decisions["decision"] == "refer"
    summary: dict[str, object] = {
        "patients": int(len(decisions)),
        "referred": int(referred.sum()),
        "routine": int((~referred).sum()),
        "referral_threshold": threshold,
    }
    if LABEL_COLUMN in decisions.columns and len(decisions):
        malignant = decisions[LABEL_COLUMN] == "malignant"
        summary["accuracy"] = round(float((referred == malignant).mean()), 4)
        summary["malignant_referred"] = f"{int((referred & malignant).sum())}/{int(malignant.sum())}"
    return summary


def main(argv: list[str] | None = None) -> int:
    """Command line of the processing job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions-dir", type=Path, default=PROCESSING_ROOT / "input" / "predictions")
    parser.add_argument("--output-dir", type=Path, default=PROCESSING_ROOT / "output" / "report")
    parser.add_argument("--referral-threshold", type=float, default=DEFAULT_THRESHOLD)
    args = parser.parse_args(argv)
    if not 0.0 < args.referral_threshold < 1.0:
        print(f"postprocessing: --referral-threshold must be in (0, 1), got {args.referral_threshold}", file=sys.stderr)
        return 2
    predictions = pd.read_csv(args.predictions_dir / "predictions.csv", dtype={"patient_id": str})
    decisions = decide(predictions, args.referral_threshold)
    summary = report(decisions, args.referral_threshold)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    decisions.to_csv(args.output_dir / "decisions.csv", index=False)
    (args.output_dir / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"postprocessing: {json.dumps(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
