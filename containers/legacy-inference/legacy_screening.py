"""BEFORE the migration: the desktop script a data scientist ran by hand, kept for comparison.

    python legacy_screening.py patients.csv out/

It trained the model on every run, scored the lab's export and wrote decisions and a report.
preprocessing.py, train.py + predict.py (the inference image) and postprocessing.py are this
script split along its three stages; tests check that they produce exactly what it produces.
"""

import json
import sys
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def snake(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.strip().lower()).strip("_").replace("__", "_")


data = load_breast_cancer()
history = pd.DataFrame(data.data, columns=[snake(n) for n in data.feature_names])
history.insert(0, "patient_id", [f"P{i:04d}" for i in range(len(history))])
history["diagnosis"] = [data.target_names[t] for t in data.target]
train, _ = train_test_split(history, test_size=0.3, random_state=42, stratify=history["diagnosis"])
features = [snake(n) for n in data.feature_names]
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
model.fit(train.sort_index()[features], train.sort_index()["diagnosis"] == "malignant")

patients = pd.read_csv(sys.argv[1], dtype=str).rename(columns=snake)
numbers = patients[features].apply(pd.to_numeric, errors="coerce")
ok = numbers.notna().all(axis=1) & patients["patient_id"].notna() & ~patients["patient_id"].duplicated()
if "diagnosis" in patients:
    ok &= patients["diagnosis"].isin(["malignant", "benign"])
scored = patients.loc[ok, ["patient_id"]].reset_index(drop=True)
scored["malignant_probability"] = model.predict_proba(numbers.loc[ok])[:, 1].round(6)
if "diagnosis" in patients:
    scored["diagnosis"] = patients.loc[ok, "diagnosis"].to_numpy()
scored["decision"] = ["refer" if p >= 0.5 else "routine" for p in scored["malignant_probability"]]

out = Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
scored.to_csv(out / "decisions.csv", index=False)
referred = scored["decision"] == "refer"
summary: dict[str, object] = {"patients": len(scored), "referred": int(referred.sum())}
summary.update(routine=int((~referred).sum()), referral_threshold=0.5)
if "diagnosis" in scored:
    malignant = scored["diagnosis"] == "malignant"
    summary["accuracy"] = round(float((referred == malignant).mean()), 4)
    summary["malignant_referred"] = f"{int((referred & malignant).sum())}/{int(malignant.sum())}"
(out / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
print(summary)
