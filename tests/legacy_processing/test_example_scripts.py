"""The example legacy project on real data: the three scripts reproduce the desktop script exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from dockerfile_parse import DockerfileParser

from local_lifecycle.legacy_emulator import EXAMPLE
from local_lifecycle.processing_runner import LocalImageError, image_from_dockerfile
from tooling.requirement_pins import read_pins

pytestmark = pytest.mark.xdist_group("legacy")


def run_pipeline(patients_csv: Path, model_dir: Path, root: Path) -> Path:
    """Preprocessing -> inference -> postprocessing, each through its command line; the report dir."""
    import postprocessing
    import predict
    import preprocessing

    (root / "data").mkdir(parents=True)
    (root / "data" / "patients.csv").write_bytes(patients_csv.read_bytes())
    assert preprocessing.main(["--input-dir", f"{root}/data", "--features-dir", f"{root}/features",
                               "--rejected-dir", f"{root}/rejected"]) == 0  # fmt: skip
    assert predict.main(["--features-dir", f"{root}/features", "--output-dir", f"{root}/predictions",
                         "--model-dir", str(model_dir)]) == 0  # fmt: skip
    assert postprocessing.main(["--predictions-dir", f"{root}/predictions", "--output-dir", f"{root}/report"]) == 0
    return root / "report"


def test_migrated_scripts_produce_exactly_what_the_desktop_script_produced(example, tmp_path):
    report_dir = run_pipeline(example.patients_csv, example.model_dir, tmp_path / "processing")
    legacy = subprocess.run(
        [sys.executable, str(EXAMPLE / "legacy_screening.py"), str(example.patients_csv), str(tmp_path / "legacy")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert legacy.returncode == 0
    assert (report_dir / "decisions.csv").read_text() == (tmp_path / "legacy" / "decisions.csv").read_text()
    report = json.loads((report_dir / "report.json").read_text())
    assert report == json.loads((tmp_path / "legacy" / "report.json").read_text())
    assert report["patients"] == 171 and report["referred"] + report["routine"] == 171
    assert report["accuracy"] > 0.95


def test_model_metadata_records_its_library_and_holdout_accuracy(example):
    import sklearn

    metadata = json.loads((example.model_dir / "model.json").read_text())
    assert metadata["scikit_learn"] == sklearn.__version__
    assert metadata["training_patients"] == 398 and metadata["holdout_accuracy"] > 0.95
    assert len(metadata["features"]) == 30


def test_preprocessing_keeps_every_row_it_cannot_score_with_the_reason(example, tmp_path):
    import preprocessing

    raw = pd.read_csv(example.patients_csv, dtype=str)
    raw.loc[0, "mean radius"] = "n/a"
    raw.loc[1, "diagnosis"] = "unsure"
    raw = pd.concat([raw, raw.iloc[[2]]], ignore_index=True)
    features, rejected = preprocessing.clean(raw)
    assert len(features) + len(rejected) == len(raw)
    assert list(rejected["reason"]) == [
        "not a number: mean_radius",
        "diagnosis is not one of malignant, benign",
        "duplicate patient_id",
    ]
    assert list(features.columns) == ["patient_id", *preprocessing.FEATURES, "diagnosis"]


def test_preprocessing_fails_naming_every_missing_column(example, tmp_path, capsys):
    import preprocessing

    (tmp_path / "data").mkdir()
    raw = pd.read_csv(example.patients_csv, dtype=str).drop(columns=["mean radius", "worst area"])
    raw.to_csv(tmp_path / "data" / "patients.csv", index=False)
    assert preprocessing.main(["--input-dir", str(tmp_path / "data"), "--features-dir", str(tmp_path / "f")]) == 1
    assert capsys.readouterr().err.strip() == "preprocessing: missing columns: mean_radius, worst_area"
    assert not (tmp_path / "f").exists()


def test_predict_refuses_features_without_the_model_columns(example, tmp_path):
    import predict

    features = pd.DataFrame({"patient_id": ["P1"], "mean_radius": [1.0]})
    with pytest.raises(ValueError, match="features.csv lacks the model's columns: mean_texture"):
        predict.predict(features, example.model_dir)


def test_postprocessing_threshold_decides_referrals_and_rejects_nonsense(tmp_path, capsys):
    import postprocessing

    (tmp_path / "predictions").mkdir()
    pd.DataFrame({"patient_id": ["A", "B", "C"], "malignant_probability": [0.1, 0.3, 0.9]}).to_csv(
        tmp_path / "predictions" / "predictions.csv", index=False
    )
    arguments = ["--predictions-dir", str(tmp_path / "predictions"), "--output-dir", str(tmp_path / "report")]
    assert postprocessing.main([*arguments, "--referral-threshold", "0.25"]) == 0
    decisions = pd.read_csv(tmp_path / "report" / "decisions.csv")
    assert list(decisions["decision"]) == ["routine", "refer", "refer"]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report == {"patients": 3, "referred": 2, "routine": 1, "referral_threshold": 0.25}
    assert postprocessing.main([*arguments, "--referral-threshold", "1.5"]) == 2
    assert "--referral-threshold must be in (0, 1), got 1.5" in capsys.readouterr().err


def test_scripts_default_to_the_processing_layout_under_processing_root(tmp_path):
    """What SageMaker runs (predict.py gets no arguments) finds /opt/ml/processing; PROCESSING_ROOT moves it."""
    import postprocessing
    import predict
    import preprocessing

    assert {str(m.PROCESSING_ROOT) for m in (predict, preprocessing, postprocessing)} == {"/opt/ml/processing"}
    code = "import predict, postprocessing as p; print(predict.PROCESSING_ROOT, p.PROCESSING_ROOT)"
    moved = subprocess.run(
        [sys.executable, "-c", code],
        cwd=EXAMPLE,
        env={"PROCESSING_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert moved.stdout.split() == [str(tmp_path)] * 2, moved.stderr


def test_inference_image_pins_equal_the_platform_pins(repo_root):
    image = read_pins(EXAMPLE / "requirements.txt")
    platform = read_pins(repo_root / "requirements-dev.txt")
    assert {name: platform.get(name) for name in image} == image


def test_inference_image_trains_at_build_and_runs_predict_as_its_entrypoint():
    parser = DockerfileParser(path=str(EXAMPLE / "Dockerfile"))
    steps = [(item["instruction"], item["value"]) for item in parser.structure]
    assert parser.baseimage.startswith("python:3.12.")
    assert ("RUN", "python3 /opt/program/train.py --model-dir /opt/program/model") in steps
    assert ("ENTRYPOINT", '["python3", "/opt/program/predict.py"]') in steps
    copied = " ".join(value for instruction, value in steps if instruction == "COPY")
    assert all(script in copied for script in ("preprocessing.py", "train.py", "predict.py"))


def test_local_image_build_follows_the_dockerfile(tmp_path):
    image = image_from_dockerfile("repo:1", EXAMPLE / "Dockerfile", tmp_path)
    program = tmp_path / "opt" / "program"
    assert image.entrypoint == ("python3", "/opt/program/predict.py")
    assert image.paths == {"/opt/program": program}
    assert sorted(p.name for p in program.iterdir()) == [
        "model",
        "predict.py",
        "preprocessing.py",
        "requirements.txt",
        "train.py",
    ]
    assert (program / "model" / "model.joblib").is_file()


def test_local_image_build_refuses_steps_it_cannot_reproduce(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.12.11-slim\nRUN apt-get install -y curl\n")
    with pytest.raises(LocalImageError, match="cannot reproduce `RUN apt-get install -y curl` locally"):
        image_from_dockerfile("repo:1", tmp_path / "Dockerfile", tmp_path / "build")
