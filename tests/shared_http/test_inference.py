"""The SageMaker hosting routes (`InferenceApp`) around a handler, and content negotiation."""

from __future__ import annotations

import json
import time
from email.message import Message

import pytest

from http_serving import HttpError, InferenceApp, Request, Response
from http_serving.inference import is_invocations_path, negotiate, request_media_type

CSV, JSON = "text/csv", "application/json"


class ImageClassifier:
    """A second kind of model server: reads images, answers JSON only (what the PyTorch server will be)."""

    request_types = ("image/jpeg", "image/png")
    response_types = ("application/json",)

    def __init__(self) -> None:
        self.is_ready = True
        self.calls: list[tuple[bytes, str, str]] = []

    def ready(self) -> bool:
        return self.is_ready

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        if not body.startswith(b"\xff\xd8") and content_type == "image/jpeg":
            raise HttpError(400, "body is not a JPEG image")
        self.calls.append((body, content_type, accept))
        return json.dumps({"label": "cat"}).encode()


@pytest.fixture
def handler() -> ImageClassifier:
    return ImageClassifier()


@pytest.fixture
def app(handler) -> InferenceApp:
    return InferenceApp(handler, max_body_bytes=6 * 1024 * 1024, workers=4)


def call(app, method: str, path: str, body: bytes = b"", **headers: str) -> Response:
    try:
        return app(Request(method, path, "", {k.replace("_", "-"): v for k, v in headers.items()}, body))
    except HttpError as error:
        return error.response()


def test_a_second_kind_of_model_plugs_in(app, handler):
    response = call(app, "POST", "/invocations", b"\xff\xd8jpeg", content_type="image/jpeg")
    assert (response.status, response.content_type, json.loads(response.body)) == (200, JSON, {"label": "cat"})
    assert handler.calls == [(b"\xff\xd8jpeg", "image/jpeg", JSON)]  # no Accept: the handler's first type


class SlowHandler(ImageClassifier):
    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        time.sleep(0.03)
        return super().invoke(body, content_type, accept)


def test_an_answer_says_how_long_the_model_took_in_server_timing():
    """`Server-Timing: model;dur=<ms>` covers the handler's work (30 ms here), not more than the call."""
    app = InferenceApp(SlowHandler(), max_body_bytes=1024, workers=1)
    started = time.perf_counter()
    response = call(app, "POST", "/invocations", b"\xff\xd8jpeg", content_type="image/jpeg")
    elapsed_ms = (time.perf_counter() - started) * 1000
    (header,) = [value for name, value in response.headers if name == "Server-Timing"]
    parsed = Message()
    parsed["server-timing"] = header
    assert header.startswith("model;")
    assert 30 <= float(parsed.get_param("dur", header="server-timing")) <= elapsed_ms


def test_refusals_carry_no_server_timing(app):
    response = call(app, "POST", "/invocations", b"", content_type="image/png")
    assert response.status == 400 and not any(name == "Server-Timing" for name, _ in response.headers)


@pytest.mark.parametrize(
    ("headers", "status", "fragment"),
    [
        ({"content_type": "text/csv"}, 415, "send one of: image/jpeg, image/png"),
        ({}, 415, "unsupported Content-Type None"),
        ({"content_type": "image/jpeg", "accept": "text/csv"}, 406, "available: application/json"),
        ({"content_type": "image/jpeg; charset=latin-1"}, 415, "'latin-1'"),
        ({"content_type": "image/png"}, 400, "empty request body"),
    ],
)
def test_requests_no_handler_can_answer_are_refused_before_it_runs(app, handler, headers, status, fragment):
    body = b"" if status == 400 else b"\xff\xd8jpeg"
    response = call(app, "POST", "/invocations", body, **headers)
    assert response.status == status and fragment in response.body.decode() and not handler.calls


def test_the_handler_s_own_refusal(app):
    response = call(app, "POST", "/endpoints/pets/invocations", b"GIF89a", content_type="image/jpeg")
    assert response.status == 400 and response.body == b"body is not a JPEG image\n"


def test_ping_follows_the_handler_s_readiness(app, handler):
    assert call(app, "GET", "/ping").status == 200 and call(app, "HEAD", "/ping").status == 200
    handler.is_ready = False
    assert call(app, "GET", "/ping").status == 503


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/invocations", 405, "POST"),
        ("POST", "/ping", 405, "GET, HEAD"),
        ("POST", "/", 404, None),
        ("GET", "/endpoints//invocations", 404, None),
    ],
)
def test_other_routes(app, method, path, status, allow):
    response = call(app, method, path)
    assert response.status == status and dict(response.headers).get("Allow") == allow


def test_execution_parameters(app):
    assert json.loads(call(app, "GET", "/execution-parameters").body) == {
        "MaxConcurrentTransforms": 4,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


@pytest.mark.parametrize("path", ["/invocations", "/endpoints/abalone-staging/invocations", "/endpoints/a/invocations"])
def test_invocations_paths(path):
    assert is_invocations_path(path)


@pytest.mark.parametrize("path", ["/endpoints//invocations", "/endpoints/a/b/invocations", "/invocations/x", "/"])
def test_not_invocations_paths(path):
    assert not is_invocations_path(path)


class TestNegotiation:
    offered = (CSV, JSON)

    @pytest.mark.parametrize("accept", [None, "", "*/*"])
    def test_no_preference_answers_in_the_request_format(self, accept):
        assert negotiate(accept, JSON, self.offered) == JSON
        assert negotiate(accept, CSV, self.offered) == CSV

    def test_explicit_type(self):
        assert negotiate("application/json", CSV, self.offered) == JSON

    def test_quality_values_decide(self):
        assert negotiate("text/csv;q=0.5, application/json", CSV, self.offered) == JSON
        assert negotiate("application/json;q=0, text/csv", JSON, self.offered) == CSV

    def test_wildcard_family(self):
        assert negotiate("text/*", JSON, self.offered) == CSV

    @pytest.mark.parametrize("accept", ["application/x-protobuf", "text/csv;q=0", "text/csv;q=high"])
    def test_nothing_acceptable_is_406_naming_the_header(self, accept):
        with pytest.raises(HttpError) as raised:
            negotiate(accept, CSV, self.offered)
        assert raised.value.status == 406 and repr(accept) in raised.value.message


class TestRequestMediaType:
    def test_parameters_and_case(self):
        assert request_media_type("Text/CSV; charset=UTF-8", (CSV,)) == CSV

    @pytest.mark.parametrize("header", [None, "", "text/plain", "text/csv; charset=utf-16"])
    def test_refused_is_415(self, header):
        with pytest.raises(HttpError) as raised:
            request_media_type(header, (CSV,))
        assert raised.value.status == 415


def test_a_handler_that_does_not_batch_has_each_request_answered_by_the_caller(app, handler):
    jpeg = Request("POST", "/invocations", "", {"content-type": "image/jpeg"}, b"\xff\xd8jpeg")
    not_jpeg = Request("POST", "/invocations", "", {"content-type": "image/jpeg"}, b"png")
    answered: list[Request] = []

    def answer_one(request: Request) -> Response:
        answered.append(request)
        return call(app, request.method, request.path, request.body, **request.headers)

    answers = app.call_many([jpeg, not_jpeg, jpeg], answer_one)
    assert [answer.status for answer in answers] == [200, 400, 200]
    assert answered == [jpeg, not_jpeg, jpeg] and len(handler.calls) == 2  # each handled once, by the caller
