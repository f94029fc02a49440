"""The model artifact format (`xgboost-model` + `model-metadata.json`) shared with the model server."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost

from xgboost_container import model_format

from .conftest import regression_data


@pytest.fixture(scope="module")
def booster() -> xgboost.Booster:
    data = regression_data(100, features=3)
    return xgboost.train({"objective": "reg:squarederror"}, xgboost.DMatrix(data[:, 1:], label=data[:, 0]), 5)


def test_round_trip_keeps_predictions_and_metadata(booster, tmp_path):
    saved = model_format.save_model(
        booster, tmp_path / "model", feature_names=["a", "b", "c"], label="rings", objective="reg:squarederror"
    )
    loaded, metadata = model_format.load_model(tmp_path / "model")
    assert metadata == saved == model_format.ModelMetadata(["a", "b", "c"], 3, "rings", "reg:squarederror")
    assert json.loads((tmp_path / "model" / "model-metadata.json").read_text()) == {
        "feature_names": ["a", "b", "c"],
        "num_features": 3,
        "label": "rings",
        "objective": "reg:squarederror",
    }
    data = xgboost.DMatrix(regression_data(10, features=3)[:, 1:])
    np.testing.assert_array_equal(loaded.predict(data), booster.predict(data))


def test_model_file_is_xgboost_s_own_format(booster, tmp_path):
    model_format.save_model(booster, tmp_path, feature_names=["a", "b", "c"], label="y", objective="reg:squarederror")
    # Booster.save_model with an explicit .ubj extension writes the same bytes.
    booster.save_model(str(tmp_path / "reference.ubj"))
    assert (tmp_path / "xgboost-model").read_bytes() == (tmp_path / "reference.ubj").read_bytes()


def test_feature_names_must_match_the_booster(booster, tmp_path):
    with pytest.raises(model_format.ModelFormatError, match="trained on 3 features but 2 feature names"):
        model_format.save_model(booster, tmp_path, feature_names=["a", "b"], label="y", objective="reg:squarederror")


def write_valid(booster, directory):
    model_format.save_model(booster, directory, feature_names=["a", "b", "c"], label="y", objective="reg:squarederror")
    return json.loads((directory / "model-metadata.json").read_text())


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("no-model", "xgboost-model not found"),
        ("no-metadata", "model-metadata.json not found"),
        ("corrupt-model", "is not an XGBoost model"),
        ("metadata-not-json", "is not valid JSON"),
        ("metadata-list", "must hold a JSON object, found list"),
        ("missing-label", "lacks the field 'label'"),
        ("count-as-string", "field 'num_features' must be an integer, found '3'"),
        ("name-not-string", "feature_names must all be strings"),
        ("count-disagrees", "num_features is 4 but 3 feature names are given"),
        ("booster-disagrees", "expects 3 features but"),
    ],
)
def test_load_names_what_is_wrong(booster, tmp_path, breakage, expected):
    metadata = write_valid(booster, tmp_path)
    metadata_path = tmp_path / "model-metadata.json"
    if breakage == "no-model":
        (tmp_path / "xgboost-model").unlink()
    elif breakage == "no-metadata":
        metadata_path.unlink()
    elif breakage == "corrupt-model":
        (tmp_path / "xgboost-model").write_bytes(b"\x00not a model")
    elif breakage == "metadata-not-json":
        metadata_path.write_text("{")
    elif breakage == "metadata-list":
        metadata_path.write_text("[]")
    elif breakage == "missing-label":
        metadata_path.write_text(json.dumps({k: v for k, v in metadata.items() if k != "label"}))
    elif breakage == "count-as-string":
        metadata_path.write_text(json.dumps({**metadata, "num_features": "3"}))
    elif breakage == "name-not-string":
        metadata_path.write_text(json.dumps({**metadata, "feature_names": ["a", 2, "c"]}))
    elif breakage == "count-disagrees":
        metadata_path.write_text(json.dumps({**metadata, "num_features": 4}))
    elif breakage == "booster-disagrees":
        metadata_path.write_text(json.dumps({**metadata, "feature_names": ["a", "b"], "num_features": 2}))
    with pytest.raises(model_format.ModelFormatError) as raised:
        model_format.load_model(tmp_path)
    assert expected in str(raised.value)
