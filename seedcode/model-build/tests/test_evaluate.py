"""The evaluate step on a small model trained here: metrics, report layout and bad input."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import xgboost
from pipelines.abalone import evaluate


def make_data(count: int, features: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, features))
    y = 10 + 3 * x[:, 0] - 2 * x[:, 1] + rng.normal(0, 0.5, count)
    return np.column_stack([y, x])


def pack(archive: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(archive, "w:gz") as bundle:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            bundle.addfile(info, io.BytesIO(content))


@pytest.fixture
def trained(tmp_path: Path):
    """A booster trained on generated data, packed like the training step's `model.tar.gz`."""
    data = make_data(300)
    booster = xgboost.train(
        {"objective": "reg:squarederror", "max_depth": 3}, xgboost.DMatrix(data[:, 1:], label=data[:, 0]), 20
    )
    root = tmp_path
    (root / "processing" / "model").mkdir(parents=True)
    (root / "processing" / "test").mkdir(parents=True)
    pack(root / "processing" / "model" / "model.tar.gz", {"xgboost-model": bytes(booster.save_raw("ubj"))})
    return root, booster


def write_test(root: Path, matrix: np.ndarray | None, text: str | None = None) -> None:
    path = root / "processing" / "test" / "test.csv"
    if text is not None:
        path.write_text(text)
    else:
        np.savetxt(path, matrix, delimiter=",")


def run_main(root: Path, monkeypatch) -> int:
    monkeypatch.setenv("SM_ML_ROOT", str(root))
    return evaluate.main([])


def test_reports_mse_and_error_standard_deviation(trained, monkeypatch):
    root, booster = trained
    test = make_data(80, seed=1)
    write_test(root, test)
    assert run_main(root, monkeypatch) == 0
    report = json.loads((root / "processing" / "evaluation" / "evaluation.json").read_text())
    errors = test[:, 0] - booster.predict(xgboost.DMatrix(test[:, 1:]))
    assert report == {
        "regression_metrics": {
            "mse": {
                "value": pytest.approx(float(np.mean(errors**2))),
                "standard_deviation": pytest.approx(float(np.std(errors))),
            }
        }
    }
    assert 0 < report["regression_metrics"]["mse"]["value"] < np.var(test[:, 0])


def test_a_model_in_xgboost_s_json_format_is_accepted(trained, monkeypatch):
    """The built-in XGBoost image may write either of XGBoost's formats under the same name."""
    root, booster = trained
    pack(root / "processing" / "model" / "model.tar.gz", {"xgboost-model": bytes(booster.save_raw("json"))})
    write_test(root, make_data(20, seed=2))
    assert run_main(root, monkeypatch) == 0


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("no-archive", "model archive"),
        ("not-a-tar", "is not a readable tar.gz archive"),
        ("no-model-file", "does not contain xgboost-model"),
        ("corrupt-model", "xgboost-model in"),
        ("feature-mismatch", "the test set has 2 feature columns, the model expects 3"),
        ("empty-test", "is empty"),
        ("non-numeric-test", "is not a numeric CSV file"),
        ("no-test-file", "no test CSV file found"),
    ],
)
def test_bad_input_fails_with_a_message_naming_the_problem(trained, monkeypatch, capsys, breakage, expected):
    root, booster = trained
    archive = root / "processing" / "model" / "model.tar.gz"
    write_test(root, make_data(20, seed=3))
    if breakage == "no-archive":
        archive.unlink()
    elif breakage == "not-a-tar":
        archive.write_bytes(b"plain text")
    elif breakage == "no-model-file":
        pack(archive, {"model.json": b"{}"})
    elif breakage == "corrupt-model":
        pack(archive, {"xgboost-model": b"\x00garbage"})
    elif breakage == "feature-mismatch":
        write_test(root, make_data(20, features=2))
    elif breakage == "empty-test":
        write_test(root, None, "")
    elif breakage == "non-numeric-test":
        write_test(root, None, "1,2,3,x\n")
    elif breakage == "no-test-file":
        (root / "processing" / "test" / "test.csv").unlink()
    assert run_main(root, monkeypatch) == 1
    message = (root / "output" / "message").read_text()
    assert message.startswith("evaluate failed: ") and expected in message
    assert expected in capsys.readouterr().err
    assert not (root / "processing" / "evaluation" / "evaluation.json").exists()


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
def test_a_test_set_value_that_is_not_a_finite_number_fails_naming_the_row(trained, monkeypatch, content, expected):
    root, _ = trained
    (root / "processing" / "test" / "test.csv").write_bytes(content)
    assert run_main(root, monkeypatch) == 1
    message = (root / "output" / "message").read_text()
    assert message.startswith("evaluate failed: ") and expected in message


def test_an_unexpected_failure_still_writes_the_message(trained, monkeypatch):
    root, _ = trained
    write_test(root, make_data(20, seed=3))

    def explode(*args, **kwargs):
        raise MemoryError("cannot allocate\n  at frame 1")

    monkeypatch.setattr(evaluate, "evaluate", explode)
    assert run_main(root, monkeypatch) == 1
    assert (root / "output" / "message").read_text().strip() == (
        "evaluate failed with an unexpected error: MemoryError: cannot allocate"
    )
