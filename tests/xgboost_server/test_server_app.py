"""The WSGI application's routes and error handling, called in process."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from xgboost_container.server_app import InferenceApp, is_invocations_path

from .server_support import regression_rows


class Response:
    """What the application answered."""

    def __init__(
        self, app, method: str, path: str, body: bytes = b"", headers: dict | None = None, content_length: bool = True
    ):
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(body)}
        if content_length:
            environ["CONTENT_LENGTH"] = str(len(body))
        for name, value in (headers or {}).items():
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
        captured = {}

        def start_response(status, response_headers):
            captured["status"], captured["headers"] = status, dict(response_headers)

        self.body = b"".join(app(environ, start_response))
        self.status = int(captured["status"].split()[0])
        self.headers = captured["headers"]
        assert int(self.headers["Content-Length"]) == len(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


@pytest.fixture(scope="module")
def app(model):
    return InferenceApp(model, max_body_bytes=1024, workers=2)


def csv_of(features: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in features).encode()


@pytest.mark.parametrize("path", ["/invocations", "/endpoints/abalone-staging/invocations", "/endpoints/a/invocations"])
def test_invocations_paths(app, model, path):
    features = regression_rows(5)[0]
    response = Response(app, "POST", path, csv_of(features), {"Content-Type": "text/csv"})
    assert response.status == 200 and response.headers["Content-Type"] == "text/csv"
    assert np.allclose([float(v) for v in response.text.split()], model.predict(features), rtol=1e-6)


@pytest.mark.parametrize("path", ["/endpoints//invocations", "/endpoints/a/b/invocations", "/invocations/x", "/"])
def test_other_paths_are_404(app, path):
    response = Response(app, "POST", path, b"1,2,3,4", {"Content-Type": "text/csv"})
    assert response.status == 404 and "POST /invocations" in response.text
    assert not is_invocations_path(path)


def test_json_in_csv_out_by_accept(app, model):
    features = regression_rows(2)[0]
    response = Response(
        app,
        "POST",
        "/invocations",
        json.dumps({"instances": features.tolist()}).encode(),
        {"Content-Type": "application/json", "Accept": "text/csv"},
    )
    assert response.headers["Content-Type"] == "text/csv"
    assert len(response.text.split()) == 2


def test_ping_and_head(app):
    assert Response(app, "GET", "/ping").status == 200
    assert Response(app, "HEAD", "/ping").status == 200
    assert Response(app, "POST", "/ping").status == 405


def test_get_on_invocations_is_405_with_allow(app):
    response = Response(app, "GET", "/invocations")
    assert response.status == 405 and response.headers["Allow"] == "POST"


def test_execution_parameters_for_batch_transform(app):
    document = json.loads(Response(app, "GET", "/execution-parameters").body)
    assert document == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1}


@pytest.mark.parametrize("content_length", [True, False])
def test_oversized_body_is_413_and_closes_the_connection(app, content_length):
    response = Response(
        app, "POST", "/invocations", b"1,2,3,4\n" * 200, {"Content-Type": "text/csv"}, content_length=content_length
    )
    assert response.status == 413 and "1024 bytes" in response.text
    assert response.headers["Connection"] == "close"


def test_bad_content_length_is_400(app):
    environ_body = Response(
        app,
        "POST",
        "/invocations",
        b"1,2,3,4",
        {"Content-Type": "text/csv", "Content-Length": "ten"},
        content_length=False,
    )
    assert environ_body.status == 400 and "'ten'" in environ_body.text


@pytest.mark.parametrize(
    ("body", "headers", "status", "fragment"),
    [
        (b"1,2,3,4", {"Content-Type": "application/octet-stream"}, 415, "application/octet-stream"),
        (b"", {"Content-Type": "text/csv"}, 400, "empty"),
        (b"1,2,x,4", {"Content-Type": "text/csv"}, 400, "'x'"),
        (b"1,2,3", {"Content-Type": "text/csv"}, 400, "4 features"),
        (b"1,2,3,4", {"Content-Type": "text/csv", "Accept": "image/png"}, 406, "image/png"),
    ],
)
def test_client_errors_name_the_problem(app, body, headers, status, fragment):
    response = Response(app, "POST", "/invocations", body, headers)
    assert response.status == status and fragment in response.text
    assert response.headers["Content-Type"].startswith("text/plain")


def test_prediction_failure_is_500_and_logged(model, caplog, monkeypatch):
    app = InferenceApp(model, max_body_bytes=1024, workers=1)

    def broken(rows):
        raise RuntimeError("boom")

    monkeypatch.setattr(model, "predict", broken)
    response = Response(app, "POST", "/invocations", b"1,2,3,4", {"Content-Type": "text/csv"})
    assert response.status == 500 and "server log" in response.text
    assert "prediction failed for 1 rows" in caplog.text and "boom" in caplog.text
