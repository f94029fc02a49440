"""The XGBoost application (SageMaker routes around `XGBoostHandler`), called in process."""

from __future__ import annotations

import json

import numpy as np
import pytest

from http_serving import HttpError, Request, Response
from http_serving.settings import Limits, ServerSettings
from xgboost_container.server_app import XGBoostHandler, build_app

from .server_support import regression_rows


@pytest.fixture(scope="module")
def app(model):
    return build_app(model, ServerSettings(workers=2, limits=Limits(max_body_bytes=1024 * 1024)))


def call(app, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Response:
    """The application's answer, with client errors turned into their responses as the HTTP layer does."""
    try:
        return app(Request(method, path, "", {k.lower(): v for k, v in (headers or {}).items()}, body))
    except HttpError as error:
        return error.response()


def csv_of(features: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in features).encode()


@pytest.mark.parametrize("path", ["/invocations", "/endpoints/abalone-staging/invocations", "/endpoints/a/invocations"])
def test_invocations_paths(app, model, path):
    features = regression_rows(5)[0]
    response = call(app, "POST", path, csv_of(features), {"Content-Type": "text/csv"})
    assert response.status == 200 and response.content_type == "text/csv"
    assert np.allclose([float(v) for v in response.body.split()], model.predict(features), rtol=1e-6)


def test_json_in_csv_out_by_accept(app):
    features = regression_rows(2)[0]
    response = call(
        app,
        "POST",
        "/invocations",
        json.dumps({"instances": features.tolist()}).encode(),
        {"Content-Type": "application/json; charset=utf-8", "Accept": "text/csv"},
    )
    assert response.status == 200 and response.content_type == "text/csv" and len(response.body.split()) == 2


def test_json_answer_holds_float32_predictions_exactly(app, model):
    features = regression_rows(4)[0]
    response = call(app, "POST", "/invocations", csv_of(features), {"Content-Type": "text/csv", "Accept": "*/*"})
    assert response.content_type == "text/csv"
    response = call(
        app, "POST", "/invocations", csv_of(features), {"Content-Type": "text/csv", "Accept": "application/*"}
    )
    predictions = np.array(json.loads(response.body)["predictions"], dtype=np.float32)
    assert np.array_equal(predictions, model.predict(features))


def test_execution_parameters_follow_the_settings(app):
    document = json.loads(call(app, "GET", "/execution-parameters").body)
    assert document == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1}


@pytest.mark.parametrize(
    ("body", "headers", "status", "fragment"),
    [
        (b"1,2,3,4", {"Content-Type": "application/octet-stream"}, 415, "application/octet-stream"),
        (b"1,2,3,4", {}, 415, "text/csv, application/json"),
        (b"1,2,3,4", {"Content-Type": "text/csv; charset=latin-1"}, 415, "'latin-1'"),
        (b"", {"Content-Type": "text/csv"}, 400, "empty"),
        (b"1,2,x,4", {"Content-Type": "text/csv"}, 400, "'x'"),
        (b"1,2,3", {"Content-Type": "text/csv"}, 400, "4 features"),
        (b"1,2,3,4", {"Content-Type": "text/csv", "Accept": "image/png"}, 406, "image/png"),
    ],
)
def test_client_errors_name_the_problem(app, body, headers, status, fragment):
    response = call(app, "POST", "/invocations", body, headers)
    assert response.status == status and fragment in response.body.decode()
    assert response.content_type.startswith("text/plain")


def test_handler_declares_what_it_reads_and_writes(model):
    handler = XGBoostHandler(model)
    assert handler.request_types == handler.response_types == ("text/csv", "application/json")
    assert handler.ready()
