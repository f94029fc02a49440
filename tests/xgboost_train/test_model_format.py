"""The model artifact format (one `xgboost-model`, metadata in a booster attribute) shared with serving."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import xgboost

from xgboost_container import model_format, train

from .conftest import regression_data

ROOT = Path(__file__).resolve().parents[2]
BUILTIN_XGBOOST = ROOT / ".venv" / "builtin-xgboost"  # installed by scripts/setup.sh


@pytest.fixture(scope="module")
def booster() -> xgboost.Booster:
    data = regression_data(100, features=3)
    return xgboost.train({"objective": "reg:squarederror"}, xgboost.DMatrix(data[:, 1:], label=data[:, 0]), 5)


def test_round_trip_keeps_predictions_and_metadata(booster, tmp_path):
    saved = model_format.save_model(booster, tmp_path / "model", feature_names=["a", "b", "c"], label="rings")
    loaded, metadata = model_format.load_model(tmp_path / "model")
    assert metadata == saved == model_format.ModelMetadata(["a", "b", "c"], 3, "rings", "reg:squarederror")
    assert json.loads(loaded.attr(model_format.METADATA_ATTRIBUTE)) == {
        "feature_names": ["a", "b", "c"],
        "label": "rings",
    }
    data = xgboost.DMatrix(regression_data(10, features=3)[:, 1:])
    np.testing.assert_array_equal(loaded.predict(data), booster.predict(data))


def test_the_artifact_is_one_file_in_xgboost_s_json_format_with_a_plain_intercept(booster, tmp_path):
    model_format.save_model(booster, tmp_path / "model", feature_names=["a", "b", "c"], label="y")
    assert [path.name for path in (tmp_path / "model").iterdir()] == ["xgboost-model"]
    document = json.loads((tmp_path / "model" / "xgboost-model").read_bytes())
    written = document["learner"]["learner_model_param"]["base_score"]
    native = json.loads(booster.save_raw("json"))["learner"]["learner_model_param"]["base_score"]
    assert native.startswith("[") and written == native.strip("[]")  # XGBoost 3.2 writes a list


def test_a_model_with_one_intercept_per_class_keeps_the_list(tmp_path):
    data = regression_data(90, features=3)
    labels = np.digitize(data[:, 0], np.quantile(data[:, 0], [1 / 3, 2 / 3]))
    booster = xgboost.train(
        {"objective": "multi:softprob", "num_class": 3}, xgboost.DMatrix(data[:, 1:], label=labels), 3
    )
    model_format.save_model(booster, tmp_path, feature_names=["a", "b", "c"], label="y")
    written = json.loads((tmp_path / "xgboost-model").read_bytes())["learner"]["learner_model_param"]["base_score"]
    assert written.startswith("[") and written.count(",") == 2
    loaded, _ = model_format.load_model(tmp_path)
    rows = xgboost.DMatrix(data[:5, 1:])
    np.testing.assert_array_equal(loaded.predict(rows), booster.predict(rows))


def test_saving_leaves_the_callers_booster_unchanged(booster, tmp_path):
    model_format.save_model(booster, tmp_path, feature_names=["a", "b", "c"], label="y")
    assert booster.attr(model_format.METADATA_ATTRIBUTE) is None


def test_feature_names_must_match_the_booster(booster, tmp_path):
    with pytest.raises(model_format.ModelFormatError, match="trained on 3 features but 2 feature names"):
        model_format.save_model(booster, tmp_path, feature_names=["a", "b"], label="y")


def test_a_booster_without_metadata_loads_with_generic_names(booster, tmp_path):
    """A model trained by SageMaker's built-in container (or an older artifact) carries no attribute."""
    (tmp_path / "xgboost-model").write_bytes(booster.save_raw("ubj"))
    (tmp_path / "model-metadata.json").write_text("{ignored")  # an older artifact's file is not read
    _, metadata = model_format.load_model(tmp_path)
    assert metadata == model_format.ModelMetadata(["f0", "f1", "f2"], 3, "label", "reg:squarederror")


def with_attribute(booster, value: str) -> xgboost.Booster:
    copy = booster.copy()
    copy.set_attr(**{model_format.METADATA_ATTRIBUTE: value})
    return copy


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("no-model", "xgboost-model not found"),
        ("corrupt-model", "is not an XGBoost model"),
        ("metadata-not-json", "attribute platform_metadata is not valid JSON"),
        ("metadata-list", 'must hold {"feature_names": [strings], "label": string}'),
        ("missing-label", 'must hold {"feature_names": [strings], "label": string}'),
        ("name-not-string", 'must hold {"feature_names": [strings], "label": string}'),
        ("booster-disagrees", "the booster expects 3 features but its metadata names 2"),
    ],
)
def test_load_names_what_is_wrong(booster, tmp_path, breakage, expected):
    model_path = tmp_path / "xgboost-model"
    attributes = {
        "metadata-not-json": "{",
        "metadata-list": "[]",
        "missing-label": json.dumps({"feature_names": ["a", "b", "c"]}),
        "name-not-string": json.dumps({"feature_names": ["a", 2, "c"], "label": "y"}),
        "booster-disagrees": json.dumps({"feature_names": ["a", "b"], "label": "y"}),
    }
    if breakage == "corrupt-model":
        model_path.write_bytes(b"\x00not a model")
    elif breakage in attributes:
        model_path.write_bytes(with_attribute(booster, attributes[breakage]).save_raw("ubj"))
    with pytest.raises(model_format.ModelFormatError) as raised:
        model_format.load_model(tmp_path)
    assert expected in str(raised.value)


# --- SageMaker's built-in XGBoost container ------------------------------------------------------


def builtin_container_load(model_dir, *, ensemble: bool) -> list[xgboost.Booster]:
    """Load a model directory the way aws/sagemaker-xgboost-container's serving code does.

    It lists the directory (dot files skipped), takes the first file (every file when its
    `SAGEMAKER_INFERENCE_ENSEMBLE` setting is on, the default), tries pickle, then
    `Booster.load_model` on the path, and fails to start when neither loads a file. The listing is
    sorted here, the first file being what the issue's probe found; the ensemble mode shows that
    any order works.
    """
    files = sorted(name for name in os.listdir(model_dir) if not name.startswith("."))
    boosters = []
    for name in files if ensemble else files[:1]:
        path = os.path.join(model_dir, name)
        try:
            with open(path, "rb") as handle:
                boosters.append(pickle.load(handle))
            continue
        except Exception:  # noqa: BLE001 - the built-in loader falls back to XGBoost's format on any error
            pass
        loaded = xgboost.Booster()
        loaded.load_model(path)  # raises for a file that is not a model: the container does not start
        boosters.append(loaded)
    return boosters


@pytest.mark.filterwarnings("ignore:.*Unknown file format")  # the built-in loader passes a bare file name
@pytest.mark.parametrize("ensemble", [False, True])
def test_sagemaker_s_builtin_container_loads_the_trained_artifact(job, tmp_path, ensemble):
    """Train with the image's entrypoint, pack as SageMaker does, unpack, load as the built-in image does."""
    job.features(["a", "b", "c", "d"], label="rings")
    assert train.main() == 0
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        for path in sorted(job.model.iterdir()):
            bundle.add(path, arcname=path.name)
    unpacked = tmp_path / "opt-ml-model"
    with tarfile.open(archive) as bundle:
        bundle.extractall(unpacked, filter="data")

    [served] = builtin_container_load(unpacked, ensemble=ensemble)
    ours, _ = model_format.load_model(job.model)
    rows = xgboost.DMatrix(regression_data(20, seed=9)[:, 1:])
    np.testing.assert_array_equal(served.predict(rows, validate_features=False), ours.predict(rows))


def test_the_builtin_loader_refuses_a_directory_with_a_metadata_file_first(booster, tmp_path):
    """What stopped the built-in container before: `model-metadata.json` sorts before `xgboost-model`."""
    (tmp_path / "xgboost-model").write_bytes(booster.save_raw("ubj"))
    (tmp_path / "model-metadata.json").write_text(json.dumps({"num_features": 3}))
    with pytest.raises(xgboost.core.XGBoostError):
        builtin_container_load(tmp_path, ensemble=False)


BUILTIN_PREDICT = """
import json, sys, warnings
import numpy as np, xgboost
warnings.simplefilter("ignore")
model_path, rows_path = sys.argv[1:]
booster = xgboost.Booster()
booster.load_model(model_path)  # what the built-in container does after pickle fails
rows = xgboost.DMatrix(np.loadtxt(rows_path, delimiter=",", ndmin=2))
predictions = booster.predict(rows, validate_features=False).tolist()
print(json.dumps({"version": xgboost.__version__, "predictions": predictions}))
"""


@pytest.mark.parametrize("objective", ["reg:squarederror", "binary:logistic"])
def test_the_built_in_image_s_xgboost_predicts_what_we_predict(job, tmp_path, objective):
    """XGBoost 3.0.5 (SageMaker's built-in image 3.0-5) serving our artifact gives our predictions.

    Before the intercept was written as a number, 3.0.5 loaded the artifact without an error and
    predicted every value shifted by the intercept (by about 10 on this regression).
    """
    job.hyperparameters({"num_round": "20", "objective": objective})
    if objective == "binary:logistic":
        data = regression_data(300)
        job.channel("train", np.column_stack([data[:, 0] > 10, data[:, 1:]]))
        job.channel("validation", np.column_stack([data[:60, 0] > 10, data[:60, 1:]]))
    assert train.main() == 0
    rows = regression_data(25, seed=4)[:, 1:]
    np.savetxt(tmp_path / "rows.csv", rows, delimiter=",")
    result = subprocess.run(
        [sys.executable, "-c", BUILTIN_PREDICT, str(job.model / "xgboost-model"), str(tmp_path / "rows.csv")],
        env={**os.environ, "PYTHONPATH": str(BUILTIN_XGBOOST)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    served = json.loads(result.stdout)
    ours, _ = model_format.load_model(job.model)
    assert served["version"] == "3.0.5"
    np.testing.assert_allclose(served["predictions"], ours.predict(xgboost.DMatrix(rows)), rtol=1e-6)


def test_the_built_in_xgboost_pin_is_the_version_of_the_image_the_model_build_records():
    pin = (ROOT / "containers" / "xgboost" / "requirements-builtin-image.txt").read_text()
    recorded = re.search(
        r'BUILTIN_XGBOOST_VERSION = "(\d+)\.(\d+)-(\d+)"',
        (ROOT / "seedcode" / "model-build" / "pipelines" / "abalone" / "pipeline.py").read_text(),
    )
    assert recorded and f"xgboost-cpu=={'.'.join(recorded.groups())}" in pin
