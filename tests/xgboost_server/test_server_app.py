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


def test_requests_answered_together_get_what_each_gets_alone(app, model):
    def invocation(body: bytes, content_type: str = "text/csv", accept: str = "text/csv") -> Request:
        return Request("POST", "/invocations", "", {"content-type": content_type, "accept": accept}, body)

    batch = [
        invocation(csv_of(regression_rows(1, seed=1)[0])),
        invocation(b"1,2"),  # wrong feature count: refused alone
        Request("GET", "/ping", "", {}, b""),
        invocation(json.dumps({"instances": regression_rows(3, seed=2)[0].tolist()}).encode(), "application/json"),
        invocation(csv_of(regression_rows(40, seed=3)[0]), accept="application/json"),
        invocation(b"1,2,3", accept="image/png"),  # unacceptable answer type: refused alone
    ]

    def answer_alone(request: Request) -> Response:
        return call(app, request.method, request.path, request.body, request.headers)

    together = app.call_many(batch, answer_alone)
    alone = [answer_alone(request) for request in batch]
    assert [answer.status for answer in together] == [200, 400, 200, 200, 200, 406]
    assert [(a.status, a.content_type, a.body) for a in together] == [(a.status, a.content_type, a.body) for a in alone]
    assert all(
        answer.headers[0][1].startswith("model;dur=") for answer in together if answer.body and answer.status == 200
    )


def test_batched_predictions_split_back_per_request_for_a_multi_output_model(tmp_path):
    from xgboost_container.server_model import DeviceChoice, load

    from .server_support import make_model_dir

    handler = XGBoostHandler(load(make_model_dir(tmp_path, objective="multi:softprob"), DeviceChoice("cpu", "test")))
    inputs = [regression_rows(n, seed=n)[0] for n in (2, 1, 5)]
    together = handler.predict(inputs)
    assert [p.shape for p in together] == [(2, 3), (1, 3), (5, 3)]
    assert all(np.array_equal(t, handler.predict([rows])[0]) for t, rows in zip(together, inputs, strict=True))
