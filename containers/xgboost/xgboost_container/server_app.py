"""The model server's HTTP routes as a WSGI application (served by `server_http.py`, see `serve.py`).

Routes (the SageMaker hosting contract plus the runtime API's path):

- `GET /ping`: 200 once the model is loaded (it is loaded before the server listens).
- `POST /invocations`: predictions for the rows in the body.
- `POST /endpoints/<name>/invocations`: the same, on the path `sagemaker-runtime`'s
  `invoke_endpoint` calls, so a client with `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` pointing here
  works unchanged.
- `GET /execution-parameters`: the batch transform settings SageMaker asks a container for.

Client errors are answered with a 4xx status and a `text/plain` message naming the problem; an
unexpected failure while predicting is logged and answered with 500. Neither ends the worker.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable

from xgboost_container import server_codec
from xgboost_container.server_codec import RequestError
from xgboost_container.server_model import Model

log = logging.getLogger(__name__)

_ENDPOINT_PATH = re.compile(r"^/endpoints/[A-Za-z0-9](?:[A-Za-z0-9-]*)/invocations$")
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]

StartResponse = Callable[..., object]


def is_invocations_path(path: str) -> bool:
    """Whether `path` is `/invocations` or the runtime API's `/endpoints/<name>/invocations`."""
    return path == "/invocations" or bool(_ENDPOINT_PATH.match(path))


class InferenceApp:
    """WSGI application serving one loaded `Model`."""

    def __init__(self, model: Model, *, max_body_bytes: int, workers: int):
        self.model = model
        self.max_body_bytes = max_body_bytes
        self.workers = workers

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if is_invocations_path(path):
            if method != "POST":
                return _reply(
                    start_response, "405 Method Not Allowed", f"{path} accepts POST, not {method}", [("Allow", "POST")]
                )
            return self.invocations(environ, start_response)
        if path == "/ping":
            if method not in ("GET", "HEAD"):
                return _reply(
                    start_response,
                    "405 Method Not Allowed",
                    f"/ping accepts GET, not {method}",
                    [("Allow", "GET, HEAD")],
                )
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
            return [b""]
        if path == "/execution-parameters" and method == "GET":
            body = json.dumps(
                {
                    "MaxConcurrentTransforms": self.workers,
                    "BatchStrategy": "MULTI_RECORD",
                    "MaxPayloadInMB": max(1, self.max_body_bytes // (1024 * 1024)),
                }
            ).encode()
            start_response("200 OK", [("Content-Type", server_codec.JSON), ("Content-Length", str(len(body)))])
            return [body]
        return _reply(
            start_response,
            "404 Not Found",
            f"no route {method} {path}; use POST /invocations or POST /endpoints/<name>/invocations",
        )

    def invocations(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        """Decode the rows, predict, and answer in the negotiated format."""
        try:
            body = self._read_body(environ)
            content_type = environ.get("CONTENT_TYPE")
            answer_type = server_codec.negotiate(environ.get("HTTP_ACCEPT"), server_codec.media_type(content_type))
            rows = server_codec.decode(body, content_type, self.model.num_features)
        except RequestError as error:
            extra = [("Connection", "close")] if error.status == 413 else []
            return _reply(start_response, _status_line(error.status), error.message, extra)
        try:
            payload = server_codec.encode(self.model.predict(rows), answer_type)
        except Exception:  # noqa: BLE001 - a failed prediction must answer 500, not end the worker
            log.exception("prediction failed for %d rows", len(rows))
            return _reply(start_response, "500 Internal Server Error", "prediction failed; see the server log")
        start_response("200 OK", [("Content-Type", answer_type), ("Content-Length", str(len(payload)))])
        return [payload]

    def _read_body(self, environ: dict) -> bytes:
        """Read the request body, refusing (413) one larger than the configured limit without reading it."""
        length_header = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if length_header:
            try:
                length = int(length_header)
            except ValueError:
                raise RequestError(400, f"Content-Length {length_header!r} is not a number") from None
            if length > self.max_body_bytes:
                raise RequestError(413, f"body of {length} bytes exceeds the limit of {self.max_body_bytes} bytes")
            return stream.read(length)
        body = stream.read(self.max_body_bytes + 1)  # chunked upload: read one byte past the limit to detect it
        if len(body) > self.max_body_bytes:
            raise RequestError(413, f"body exceeds the limit of {self.max_body_bytes} bytes")
        return body


_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    413: "Content Too Large",
    415: "Unsupported Media Type",
}


def _status_line(status: int) -> str:
    """`400` -> `400 Bad Request`."""
    return f"{status} {_REASONS.get(status, 'Error')}"


def _reply(
    start_response: StartResponse, status: str, message: str, extra_headers: list[tuple[str, str]] | None = None
) -> list[bytes]:
    """Answer with a plain-text message (errors and refusals)."""
    body = (message + "\n").encode()
    start_response(status, _TEXT + [("Content-Length", str(len(body)))] + (extra_headers or []))
    return [body]
