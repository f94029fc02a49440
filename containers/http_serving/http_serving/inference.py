"""The SageMaker hosting contract as an `App`, around a model server's `Handler`.

Routes:

- `GET /ping` (and `HEAD`): 200 when the handler is ready, 503 otherwise.
- `POST /invocations`: the handler's answer for the body, with a `Server-Timing: model;dur=<ms>`
  header (W3C Server Timing): how long the handler took (decode, predict, encode). SageMaker does
  not pass container headers on to `invoke_endpoint`'s caller (it measures the same interval plus
  its own hop as the `ModelLatency` metric); a client talking to the container itself (the local
  lifecycle, tests) reads the model's own latency here.
- `POST /endpoints/<name>/invocations`: the same, on the path `sagemaker-runtime`'s
  `invoke_endpoint` calls, so a client with `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` pointing here
  works unchanged.
- `GET /execution-parameters`: the batch transform settings SageMaker asks a container for.

Before the handler runs, this app refuses what no handler can answer: a `Content-Type` the
handler does not read (415), a `charset` other than UTF-8 (415), an `Accept` it cannot satisfy
(406), an empty body (400). The answer's type is the best match of `Accept` among the handler's
response types; without `Accept` (or with `*/*`) the request's own type when the handler can
answer in it, else the handler's first response type. Header values are parsed by Werkzeug.

A model server plugs in by implementing `Handler` (see the XGBoost server's
`server_app.XGBoostHandler`): which media types it reads and writes, whether it is ready, and
`invoke(body, content_type, accept) -> bytes`, raising `HttpError` for a client mistake.

A handler that also implements `BatchHandler` (`invoke` in three steps: decode, predict, encode)
lets the requests a worker receives together share one prediction: `InferenceApp.call_many`
decodes each (a client mistake answers that request alone), predicts once for all that decoded,
and encodes each answer. For a model whose fixed cost per call is large next to its cost per row
(XGBoost: about 30 us per call, under 1 us per row), this is what keeps the server's throughput
near that of calling the model in process.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast, runtime_checkable

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_options_header

from http_serving.app import HttpError, Request, Response

_ENDPOINT_PATH = re.compile(r"^/endpoints/[A-Za-z0-9](?:[A-Za-z0-9-]*)/invocations$")
_UTF8 = ("utf-8", "utf8", "us-ascii", "ascii")
SERVER_TIMING = "Server-Timing"


class Handler(Protocol):
    """What a model server provides to be served under the SageMaker contract."""

    request_types: tuple[str, ...]  # media types `invoke` reads (lower case)
    response_types: tuple[str, ...]  # media types `invoke` writes (lower case); the first is the default

    def ready(self) -> bool:
        """Whether the model can answer (`/ping`)."""
        ...

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        """The answer, in `accept`, for a non-empty body of `content_type`; `HttpError` for bad input."""
        ...


@runtime_checkable
class BatchHandler(Handler, Protocol):
    """A `Handler` whose `invoke` is `encode(predict([decode(body)])[0])`, so requests can share `predict`."""

    def decode(self, body: bytes, content_type: str) -> Any:
        """The model input of one request body; `HttpError` for bad input."""
        ...

    def predict(self, inputs: list[Any]) -> list[Any]:
        """The outputs for several decoded inputs, in order, computed together."""
        ...

    def encode(self, output: Any, accept: str) -> bytes:
        """One request's answer, in `accept`."""
        ...


def is_invocations_path(path: str) -> bool:
    """Whether `path` is `/invocations` or the runtime API's `/endpoints/<name>/invocations`."""
    return path == "/invocations" or bool(_ENDPOINT_PATH.match(path))


def request_media_type(header: str | None, accepted: tuple[str, ...]) -> str:
    """The bare media type of a `Content-Type` the handler reads; `HttpError` 415 otherwise."""
    if header in accepted:  # the common case, without parsing
        return header
    kind, options = parse_options_header(header or "")
    kind = kind.lower()
    if kind not in accepted:
        raise HttpError(
            415,
            f"unsupported Content-Type {header!r}; send one of: {', '.join(accepted)}",
        )
    charset = options.get("charset")
    if charset is not None and charset.lower() not in _UTF8:
        raise HttpError(415, f"unsupported charset {charset!r} in Content-Type {header!r}; send UTF-8")
    return kind


def negotiate(accept: str | None, request_type: str, offered: tuple[str, ...]) -> str:
    """The response media type for an `Accept` header; `HttpError` 406 when none is acceptable."""
    if accept is None or accept in offered:  # the common cases, without parsing
        return accept or (request_type if request_type in offered else offered[0])
    if not accept.strip():
        return request_type if request_type in offered else offered[0]
    preferred = ((request_type,) if request_type in offered else ()) + tuple(t for t in offered if t != request_type)
    match = parse_accept_header(accept, MIMEAccept).best_match(preferred)
    if match is None:
        raise HttpError(406, f"cannot answer in any type of Accept {accept[:200]!r}; available: {', '.join(offered)}")
    return str(match)


class InferenceApp:
    """The SageMaker hosting routes around one `Handler`."""

    def __init__(self, handler: Handler, *, max_body_bytes: int, workers: int):
        self.handler = handler
        # Decided once: a protocol check costs microseconds.
        self.batch_handler = handler if isinstance(handler, BatchHandler) else None
        self.execution_parameters = json.dumps(
            {
                "MaxConcurrentTransforms": workers,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": max(1, max_body_bytes // (1024 * 1024)),
            }
        ).encode()

    def __call__(self, request: Request) -> Response:
        """Route one request."""
        path, method = request.path, request.method
        if is_invocations_path(path):
            if method != "POST":
                raise HttpError(405, f"{path} accepts POST, not {method}", (("Allow", "POST"),))
            return self.invocations(request)
        if path == "/ping":
            if method not in ("GET", "HEAD"):
                raise HttpError(405, f"/ping accepts GET, not {method}", (("Allow", "GET, HEAD"),))
            return Response(200) if self.handler.ready() else Response.text(503, "the model is not ready")
        if path == "/execution-parameters" and method == "GET":
            return Response(200, self.execution_parameters, "application/json")
        raise HttpError(
            404, f"no route {method} {path[:200]}; use POST /invocations or POST /endpoints/<name>/invocations"
        )

    def invocations(self, request: Request) -> Response:
        """Check the media types and the body, then let the handler answer."""
        content_type, accept = self._check(request)
        started = time.perf_counter()
        body = self.handler.invoke(request.body, content_type, accept)
        return _answer(body, accept, time.perf_counter() - started)

    def call_many(self, requests: Sequence[Request], answer_one: Callable[[Request], Response]) -> list[Response]:
        """The answers to several requests; invocations share one `predict` when the handler batches.

        `answer_one` answers, with the caller's error handling, each request that is not batched
        (every request when the handler does not batch). In the batch, a client mistake
        (`HttpError`) answers its own request; any other failure propagates (the caller then
        answers the requests one by one).
        """
        handler = self.batch_handler
        if handler is None:
            return [answer_one(request) for request in requests]
        answers: list[Response | None] = [None] * len(requests)
        batch: list[tuple[int, Any, str, float]] = []  # request index, input, accept, decoding seconds
        for index, request in enumerate(requests):
            if not (request.method == "POST" and is_invocations_path(request.path)):
                answers[index] = answer_one(request)
                continue
            started = time.perf_counter()
            try:
                content_type, accept = self._check(request)
                batch.append((index, handler.decode(request.body, content_type), accept, time.perf_counter() - started))
            except HttpError as error:
                answers[index] = error.response()
        if batch:
            started = time.perf_counter()
            outputs = handler.predict([item[1] for item in batch])
            shared = time.perf_counter() - started
            for (index, _, accept, decoding), output in zip(batch, outputs, strict=True):
                started = time.perf_counter()
                try:
                    body = handler.encode(output, accept)
                except HttpError as error:
                    answers[index] = error.response()
                    continue
                answers[index] = _answer(body, accept, decoding + shared + time.perf_counter() - started)
        return cast(list[Response], answers)  # every request was answered above, batched or not

    def _check(self, request: Request) -> tuple[str, str]:
        """The request's media type and the answer's, after refusing what no handler can answer."""
        handler = self.handler
        content_type = request_media_type(request.header("content-type"), handler.request_types)
        accept = negotiate(request.header("accept"), content_type, handler.response_types)
        if not request.body.strip():
            raise HttpError(400, "empty request body: send the input to predict on")
        return content_type, accept


def _answer(body: bytes, media_type: str, seconds: float) -> Response:
    """A successful invocation, with the model's time in `Server-Timing`."""
    return Response(200, body, media_type, ((SERVER_TIMING, f"model;dur={seconds * 1000:.3f}"),))
