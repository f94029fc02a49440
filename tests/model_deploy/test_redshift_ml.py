"""Redshift ML remote inference: the SQL the deploy job writes, and the CSV contract against the real model server.

Redshift's contract for `CREATE MODEL ... SAGEMAKER` (its developer guide, "Bring your own model - remote
inference"): the endpoint takes `text/csv` rows, one per line, without a header, the function's arguments
in order, NULL as an empty field; it answers one value per row. Redshift batches rows into each
`InvokeEndpoint` call but does not publish how many: what bounds a batch is InvokeEndpoint's 6 MB payload,
so the batches here go from 1 row to the most rows that fit 6 MiB (and one byte more is refused).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost
from xgboost_server.server_support import ServerProcess

from xgboost_container.model_format import save_model

from .conftest import BUCKET, EVALUATION_URI, EXECUTION_PREFIX, REGION, load_seed_module

ROLE = "arn:aws:iam::111111111111:role/sagemaker-abalone-p-abc123-redshift-ml"
FEATURES = ["length", "diameter", "height", "whole_weight", "sex_F", "sex_I", "sex_M"]
MAX_BODY = 6 * 1024 * 1024


@pytest.fixture(scope="module")
def sql() -> Any:
    return load_seed_module("redshift_sql.py")


def description(problem_type: str = "regression", names: list[str] = FEATURES) -> dict[str, Any]:
    return {"feature_names": names, "label": "rings", "problem_type": problem_type, "classes": None}


def function_arguments(statement: str) -> list[str]:
    """The argument types of `FUNCTION name(...)` and the feature each comment names, as written."""
    body = statement.split("FUNCTION ", 1)[1].split("\n)\n", 1)[0].split("(\n", 1)[1]
    return [line.strip() for line in body.splitlines()]


def test_create_model_names_the_endpoint_the_role_and_one_float8_per_feature_in_order(sql) -> None:
    statement = sql.create_model_sql(description=description(), endpoint="abalone-prod", role_arn=ROLE)
    assert "CREATE MODEL public.predict_rings_abalone_prod\nFUNCTION public.predict_rings(\n" in statement
    assert function_arguments(statement) == [
        f"float8{',' if index < len(FEATURES) else ''}  -- {index}: {name}" for index, name in enumerate(FEATURES, 1)
    ]
    assert "\nRETURNS float8\nSAGEMAKER 'abalone-prod'\nIAM_ROLE '" + ROLE + "';\n" in statement
    assert 'SELECT public.predict_rings("length",\n       "diameter",' in statement
    assert statement.rstrip().endswith("FROM public.features;")


def test_a_binary_classifier_returns_its_positive_class_probability(sql) -> None:
    statement = sql.create_model_sql(
        description=description("binary_classification"), endpoint="churn-prod", role_arn=ROLE, function="churn_risk"
    )
    assert "binary classification,\n-- returns the probability of the positive class." in statement
    assert "FUNCTION public.churn_risk(" in statement


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"description": description("multiclass_classification")}, "one probability per class"),
        ({"description": {"label": "x"}}, "no feature_names list"),
        ({"endpoint": "abalone prod; DROP TABLE x"}, "is not a SageMaker endpoint name"),
        ({"role_arn": "arn:aws:iam::1:role/x' ; --"}, "is not an IAM role ARN"),
        ({"schema": "Public; DROP"}, "schema 'Public; DROP' is not a Redshift identifier"),
        ({"function": "Predict-Rings"}, "function 'Predict-Rings' is not a Redshift identifier"),
    ],
)
def test_what_cannot_be_written_safely_is_refused_by_name(sql, changes: dict[str, Any], message: str) -> None:
    arguments = {"description": description(), "endpoint": "abalone-prod", "role_arn": ROLE, **changes}
    with pytest.raises(sql.SqlError, match=message):
        sql.create_model_sql(**arguments)


def test_feature_names_cannot_break_out_of_their_comment_or_identifier(sql) -> None:
    statement = sql.create_model_sql(
        description=description(names=['b"; DROP TABLE t; --']), endpoint="e", role_arn=ROLE
    )
    assert '"b""; DROP TABLE t; --"' in statement  # a delimited identifier, its quote doubled
    with pytest.raises(sql.SqlError, match="hold control characters"):  # would end the comment naming it
        sql.create_model_sql(description=description(names=["a\nDROP TABLE t; --"]), endpoint="e", role_arn=ROLE)


def test_the_deploy_job_writes_the_sql_from_the_build_s_feature_description(sql, aws, clients, tmp_path) -> None:
    clients.s3.create_bucket(Bucket=BUCKET)
    key = f"{EXECUTION_PREFIX}/data/features/features.json".removeprefix(f"s3://{BUCKET}/")
    clients.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(description()).encode())
    (tmp_path / "model-package.json").write_text(json.dumps({"EvaluationUri": EVALUATION_URI}))
    (tmp_path / "prod-outputs.json").write_text(json.dumps({"EndpointName": "abalone-prod"}))
    assert sql.main(["--stage", "prod", "--build-dir", str(tmp_path), "--role-arn", ROLE]) == 0
    written = (tmp_path / "redshift-ml-prod.sql").read_text()
    assert written == sql.create_model_sql(description=description(), endpoint="abalone-prod", role_arn=ROLE)


def test_a_missing_feature_description_is_named(sql, aws, clients, tmp_path, capsys) -> None:
    clients.s3.create_bucket(Bucket=BUCKET)
    (tmp_path / "model-package.json").write_text(json.dumps({"EvaluationUri": EVALUATION_URI}))
    (tmp_path / "prod-outputs.json").write_text(json.dumps({"EndpointName": "abalone-prod"}))
    assert sql.main(["--build-dir", str(tmp_path), "--role-arn", ROLE]) == 1
    assert f"cannot read {EXECUTION_PREFIX}/data/features/features.json" in capsys.readouterr().err
    assert REGION == "us-east-1"


# --- the CSV contract, against xgboost-serve -------------------------------------------------------------


def train(problem_type: str, directory: Path) -> xgboost.Booster:
    rng = np.random.default_rng(4)
    features = rng.normal(size=(400, len(FEATURES))).astype(np.float32)
    target = 10 + 3 * features[:, 0] - 2 * features[:, 1] + rng.normal(0, 0.3, 400)
    params: dict[str, Any] = {"objective": "reg:squarederror", "max_depth": 3, "nthread": 1}
    if problem_type == "binary_classification":
        params["objective"], target = "binary:logistic", (target > 10).astype(float)
    booster = xgboost.train(params, xgboost.DMatrix(features, target), num_boost_round=20)
    save_model(booster, directory, feature_names=FEATURES, label="rings")
    return booster


@pytest.fixture(scope="module", params=["regression", "binary_classification"])
def served(request, tmp_path_factory) -> Iterator[tuple[str, xgboost.Booster, ServerProcess]]:
    directory = tmp_path_factory.mktemp(request.param)
    booster = train(request.param, directory / "model")
    with ServerProcess(directory / "model", directory / "server.log", workers=1) as server:
        yield request.param, booster, server


def redshift_value(value: float, column: int) -> str:
    """A float8 argument as Redshift writes it into the CSV: shortest round-trip text; NULL as nothing.

    The columns vary the spellings a CSV reader meets (integral values, exponents, signs, trailing zeros).
    """
    if math.isnan(value):
        return ""
    spellings = (repr(value), f"{value:.6f}", f"{value:e}", str(round(value)) if column == 4 else repr(value))
    return spellings[column % len(spellings)]


def redshift_rows(count: int, *, seed: int = 0, nulls: bool = True) -> list[str]:
    """`count` rows of the function's arguments, in order, as Redshift sends them (every 7th value NULL)."""
    values = np.random.default_rng(seed).normal(size=(count, len(FEATURES)))
    if nulls:
        values[np.arange(count * len(FEATURES)).reshape(count, -1) % 7 == 3] = np.nan
    return [",".join(redshift_value(float(v), column) for column, v in enumerate(row)) for row in values]


def invoke(server: ServerProcess, body: bytes, **headers: str) -> tuple[int, str, str]:
    request = urllib.request.Request(
        f"{server.url}/invocations", data=body, method="POST", headers={"Content-Type": "text/csv", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get_content_type(), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), error.read().decode()


def expected_values(booster: xgboost.Booster, lines: list[str]) -> np.ndarray:
    """What the model predicts for the values as written (the float32 the server reads; NULL is missing)."""
    parsed = np.array(
        [[float(field) if field else np.nan for field in line.split(",")] for line in lines], dtype=np.float32
    )
    return booster.predict(xgboost.DMatrix(parsed, missing=np.nan))


def answer_values(text: str) -> np.ndarray:
    lines = text.splitlines()
    assert all("," not in line for line in lines), lines[:3]  # one value per row
    return np.array([float(line) for line in lines])


@pytest.mark.parametrize("rows", [1, 2, 100, 1000])
def test_each_row_of_a_redshift_batch_gets_one_value_back_in_order(served, rows: int) -> None:
    problem_type, booster, server = served
    lines = redshift_rows(rows, seed=rows)
    status, content_type, text = invoke(server, "\n".join(lines).encode(), Accept="text/csv")
    assert (status, content_type) == (200, "text/csv"), text
    answers = answer_values(text)
    assert answers.shape == (rows,)
    np.testing.assert_allclose(answers, expected_values(booster, lines), rtol=1e-6)
    if problem_type == "binary_classification":
        assert ((answers >= 0) & (answers <= 1)).all()


def test_a_trailing_newline_and_no_accept_header_change_nothing(served) -> None:
    _, booster, server = served
    lines = redshift_rows(10, seed=3)
    status, content_type, text = invoke(server, ("\n".join(lines) + "\n").encode())
    assert (status, content_type) == (200, "text/csv")
    np.testing.assert_allclose(answer_values(text), expected_values(booster, lines), rtol=1e-6)


def test_the_largest_batch_invoke_endpoint_carries_is_answered_and_one_byte_more_is_refused(served) -> None:
    """A Redshift batch cannot exceed InvokeEndpoint's 6 MB; the server takes exactly that much."""
    _, booster, server = served
    lines = redshift_rows(60_000, seed=5, nulls=False)
    body = "\n".join(lines).encode()
    while len(body) > MAX_BODY:  # drop rows until the batch fits
        lines = lines[: int(len(lines) * MAX_BODY / len(body)) - 1]
        body = "\n".join(lines).encode()
    body += b" " * (MAX_BODY - len(body))  # padding to exactly 6 MiB (blanks after the last value)
    status, _, text = invoke(server, body)
    assert status == 200, text[:200]
    np.testing.assert_allclose(answer_values(text), expected_values(booster, lines), rtol=1e-6)
    status, _, text = invoke(server, body + b" ")
    assert status == 413 and "6291456" in text
