"""The evaluate step on small models trained here: metrics per problem type, plots, report and bad input."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import xgboost
from pipelines.abalone import evaluate

needs_platform_format = pytest.mark.skipif(
    importlib.util.find_spec("xgboost_container") is None,
    reason="the platform image's model layout is read by its xgboost_container package",
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_data(count: int, features: int = 3, seed: int = 0, classes: int = 0) -> np.ndarray:
    """Label first: a regression target, or a class index when `classes` is given."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, features))
    if classes:
        edges = np.linspace(-0.8, 0.8, classes - 1)
        return np.column_stack([np.digitize(x[:, 0] + 0.3 * rng.normal(size=count), edges), x])
    return np.column_stack([10 + 3 * x[:, 0] - 2 * x[:, 1] + rng.normal(0, 0.5, count), x])


def pack(archive: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(archive, "w:gz") as bundle:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            bundle.addfile(info, io.BytesIO(content))


OBJECTIVES: dict[str, tuple[dict[str, object], int, list[str] | None]] = {
    "regression": ({"objective": "reg:squarederror"}, 0, None),
    "binary_classification": ({"objective": "binary:logistic"}, 2, ["no", "yes"]),
    "multiclass_classification": ({"objective": "multi:softprob", "num_class": 3}, 3, ["low", "mid", "high"]),
}


def lay_out(root: Path, problem_type: str, seed: int = 0) -> xgboost.Booster:
    """A model trained on generated data (built-in layout), the test split and features.json."""
    params, classes, names = OBJECTIVES[problem_type]
    data = make_data(300, classes=classes, seed=seed)
    booster = xgboost.train(
        {**params, "max_depth": 3, "nthread": 1}, xgboost.DMatrix(data[:, 1:], label=data[:, 0]), 20
    )
    for name in ("model", "test", "features"):
        (root / "processing" / name).mkdir(parents=True, exist_ok=True)
    pack(root / "processing" / "model" / "model.tar.gz", {"xgboost-model": bytes(booster.save_raw("ubj"))})
    features = {"feature_names": ["a", "b", "c"], "label": "y", "problem_type": problem_type, "classes": names}
    (root / "processing" / "features" / "features.json").write_text(json.dumps(features))
    write_test(root, make_data(90, classes=classes, seed=seed + 1))
    return booster


def write_test(root: Path, matrix: np.ndarray | None, text: str | None = None) -> None:
    path = root / "processing" / "test" / "test.csv"
    if matrix is not None:
        np.savetxt(path, matrix, delimiter=",")
    else:
        path.write_text(text or "")


def run_main(root: Path, monkeypatch, metric: str = "mse") -> int:
    monkeypatch.setenv("SM_ML_ROOT", str(root))
    return evaluate.main(["--metric", metric])


def outputs_of(root: Path) -> tuple[dict, list[Path], str]:
    output = root / "processing" / "evaluation"
    return (
        json.loads((output / "evaluation.json").read_text()),
        sorted((output / "plots").glob("*.png")),
        (output / "report.html").read_text(),
    )


def test_regression_metrics_plots_and_report(tmp_path, monkeypatch, capsys):
    booster = lay_out(tmp_path, "regression")
    assert run_main(tmp_path, monkeypatch) == 0
    report, plots, page = outputs_of(tmp_path)
    test = np.loadtxt(tmp_path / "processing" / "test" / "test.csv", delimiter=",")
    errors = test[:, 0] - booster.predict(xgboost.DMatrix(test[:, 1:]))
    section = report["regression_metrics"]
    assert section["mse"] == {
        "value": pytest.approx(float(np.mean(errors**2))),
        "standard_deviation": pytest.approx(float(np.std(errors))),
    }
    assert section["rmse"]["value"] == pytest.approx(np.sqrt(np.mean(errors**2)))
    assert section["mae"]["value"] == pytest.approx(np.mean(np.abs(errors)))
    r2 = 1 - np.sum(errors**2) / np.sum((test[:, 0] - test[:, 0].mean()) ** 2)
    assert section["r2"]["value"] == pytest.approx(r2)
    assert all(section[name]["standard_deviation"] > 0 for name in ("rmse", "mae", "r2"))
    assert (report["problem_type"], report["metric"]) == ("regression", "mse")
    assert [p.name for p in plots] == ["feature_importance.png", "predicted_vs_actual.png", "residuals.png"]
    assert all(p.read_bytes().startswith(PNG_SIGNATURE) for p in plots)
    assert page.count('src="data:image/png;base64,') == 3 and "<td>mse</td>" in page
    assert "evaluate: test mse=" in capsys.readouterr().out


def test_binary_classification_metrics_curves_and_confusion_matrix(tmp_path, monkeypatch):
    booster = lay_out(tmp_path, "binary_classification")
    assert run_main(tmp_path, monkeypatch, "auc") == 0
    report, plots, page = outputs_of(tmp_path)
    test = np.loadtxt(tmp_path / "processing" / "test" / "test.csv", delimiter=",")
    labels, scores = test[:, 0].astype(int), booster.predict(xgboost.DMatrix(test[:, 1:]))
    section = report["binary_classification_metrics"]
    # AUC: the share of (positive, negative) pairs ranked correctly.
    positives, negatives = scores[labels == 1], scores[labels == 0]
    pairs = (positives[:, None] > negatives[None, :]).mean() + 0.5 * (positives[:, None] == negatives[None, :]).mean()
    assert section["auc"]["value"] == pytest.approx(pairs)
    predicted = (scores >= 0.5).astype(int)
    assert section["accuracy"]["value"] == pytest.approx(np.mean(predicted == labels))
    true_positive = np.sum((predicted == 1) & (labels == 1))
    assert section["precision"]["value"] == pytest.approx(true_positive / predicted.sum())
    assert section["recall"]["value"] == pytest.approx(true_positive / labels.sum())
    clipped = np.clip(scores, 1e-15, 1 - 1e-15)
    expected_loss = -np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))
    assert section["log_loss"]["value"] == pytest.approx(expected_loss, rel=1e-5)
    assert section["confusion_matrix"]["yes"]["yes"] == true_positive
    assert sum(sum(row.values()) for row in section["confusion_matrix"].values()) == len(labels)
    curve = section["receiver_operating_characteristic_curve"]
    assert len(curve["false_positive_rates"]) == len(curve["true_positive_rates"]) >= 2
    assert set(section["precision_recall_curve"]) == {"precisions", "recalls"}
    assert [p.name for p in plots] == [
        "confusion_matrix.png",
        "feature_importance.png",
        "precision_recall_curve.png",
        "roc_curve.png",
    ]
    assert page.count("data:image/png;base64,") == 4 and "yes" in page


def test_multiclass_metrics(tmp_path, monkeypatch):
    booster = lay_out(tmp_path, "multiclass_classification")
    assert run_main(tmp_path, monkeypatch, "weighted_f1") == 0
    report, plots, _ = outputs_of(tmp_path)
    test = np.loadtxt(tmp_path / "processing" / "test" / "test.csv", delimiter=",")
    labels, probabilities = test[:, 0].astype(int), booster.predict(xgboost.DMatrix(test[:, 1:]))
    section = report["multiclass_classification_metrics"]
    assert section["accuracy"]["value"] == pytest.approx(np.mean(probabilities.argmax(axis=1) == labels))
    expected_loss = -np.mean(np.log(probabilities[np.arange(len(labels)), labels]))
    assert section["log_loss"]["value"] == pytest.approx(expected_loss, rel=1e-5)
    assert set(section["confusion_matrix"]) == {"low", "mid", "high"}
    assert 0.5 < section["auc"]["value"] <= 1 and 0 < section["weighted_f1"]["value"] <= 1
    assert [p.name for p in plots] == ["confusion_matrix.png", "feature_importance.png", "roc_curve.png"]


@needs_platform_format
def test_the_platform_image_s_artifact_is_the_builtin_layout(tmp_path, monkeypatch):
    """The platform's training writes `xgboost-model` alone (its metadata inside the booster)."""
    from xgboost_container import model_format

    booster = lay_out(tmp_path, "regression")
    model_dir = tmp_path / "model-dir"
    model_format.save_model(booster, model_dir, feature_names=["a", "b", "c"], label="y")
    archive = tmp_path / "processing" / "model" / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        for path in sorted(model_dir.iterdir()):
            bundle.add(path, arcname=path.name)
    assert run_main(tmp_path, monkeypatch) == 0


@pytest.mark.parametrize(
    ("problem_type", "metric", "expected"),
    [
        ("regression", "auc", "--metric 'auc' is not a regression metric"),
        ("binary_classification", "mse", "--metric 'mse' is not a binary_classification metric"),
    ],
)
def test_a_metric_of_another_problem_type_fails(tmp_path, monkeypatch, problem_type, metric, expected):
    lay_out(tmp_path, problem_type)
    assert run_main(tmp_path, monkeypatch, metric) == 1
    assert expected in (tmp_path / "output" / "message").read_text()


def test_a_regression_model_cannot_pass_for_a_classifier(tmp_path, monkeypatch):
    lay_out(tmp_path, "regression")
    features = tmp_path / "processing" / "features" / "features.json"
    binary = {"problem_type": "binary_classification", "classes": ["no", "yes"]}
    features.write_text(json.dumps({**json.loads(features.read_text()), **binary}))
    assert run_main(tmp_path, monkeypatch, "auc") == 1
    assert "train with binary:logistic" in (tmp_path / "output" / "message").read_text()


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("no-archive", "model archive"),
        ("not-a-tar", "is not a readable tar.gz archive"),
        ("unknown-layout", "holds ['model.json']: expected the model file xgboost-model alone"),
        ("corrupt-model", "xgboost-model in"),
        ("feature-mismatch", "the test set has 2 feature columns, the model expects 3"),
        ("empty-test", "is empty"),
        ("non-numeric-test", "is not a numeric CSV file"),
        ("no-test-file", "no test CSV file found"),
        ("no-features", "feature description"),
    ],
)
def test_bad_input_fails_with_a_message_naming_the_problem(tmp_path, monkeypatch, capsys, breakage, expected):
    lay_out(tmp_path, "regression")
    archive = tmp_path / "processing" / "model" / "model.tar.gz"
    breakages = {
        "no-archive": archive.unlink,
        "not-a-tar": lambda: archive.write_bytes(b"plain text"),
        "unknown-layout": lambda: pack(archive, {"model.json": b"{}"}),
        "corrupt-model": lambda: pack(archive, {"xgboost-model": b"\x00garbage"}),
        "feature-mismatch": lambda: write_test(tmp_path, make_data(20, features=2)),
        "empty-test": lambda: write_test(tmp_path, None, ""),
        "non-numeric-test": lambda: write_test(tmp_path, None, "1,2,3,x\n"),
        "no-test-file": (tmp_path / "processing" / "test" / "test.csv").unlink,
        "no-features": (tmp_path / "processing" / "features" / "features.json").unlink,
    }
    breakages[breakage]()
    assert run_main(tmp_path, monkeypatch) == 1
    message = (tmp_path / "output" / "message").read_text()
    assert message.startswith("evaluate failed: ") and expected in message
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "processing" / "evaluation" / "evaluation.json").exists()


def test_a_model_in_xgboost_s_json_format_is_accepted(tmp_path, monkeypatch):
    """The built-in XGBoost image may write either of XGBoost's formats under the same name."""
    booster = lay_out(tmp_path, "regression")
    pack(tmp_path / "processing" / "model" / "model.tar.gz", {"xgboost-model": bytes(booster.save_raw("json"))})
    assert run_main(tmp_path, monkeypatch) == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"1,1,2,3\ninf,1,2,3\n", "data row 2: [inf, 1.0, 2.0, 3.0] holds a label that is not a finite number"),
        (b"nan,1,2,3\n", "data row 1: [nan, 1.0, 2.0, 3.0]"),
        (b"1,1,-inf,3\n", "data row 1: [1.0, 1.0, -inf, 3.0]"),
        (b"1,2,\xff,3\n", "is not a numeric CSV file"),
    ],
    ids=["infinite-label", "missing-label", "infinite-feature", "not-utf8"],
)
def test_a_test_set_value_that_is_not_a_finite_number_fails_naming_the_row(tmp_path, monkeypatch, content, expected):
    lay_out(tmp_path, "regression")
    (tmp_path / "processing" / "test" / "test.csv").write_bytes(content)
    assert run_main(tmp_path, monkeypatch) == 1
    message = (tmp_path / "output" / "message").read_text()
    assert message.startswith("evaluate failed: ") and expected in message


def test_an_unexpected_failure_still_writes_the_message(tmp_path, monkeypatch):
    lay_out(tmp_path, "regression")

    def explode(*args, **kwargs):
        raise MemoryError("cannot allocate\n  at frame 1")

    monkeypatch.setattr(evaluate, "run", explode)
    assert run_main(tmp_path, monkeypatch) == 1
    assert (tmp_path / "output" / "message").read_text().strip() == (
        "evaluate failed with an unexpected error: MemoryError: cannot allocate"
    )
