"""Lambda entry point: the image classifier behind a function URL (or an HTTP API), and direct invocation.

HTTP (function URL or HTTP API, payload format 2.0; binary bodies arrive base64-encoded):

- `POST /invocations?artifactId=<id>` with an `image/png`, `image/jpeg` or `application/json` body: the
  top-k classes `[{"className", "probability"}]`, most probable first (the default model without
  `artifactId`).
- `GET /ping`: the loaded model versions.
- Errors: `{"status": "Invoke failed: <what is wrong>"}` with 400/413/415 for bad input, 503 when the model
  has no approved version, 500 otherwise (the log has the details).

Direct invocation (the seeds' `aws lambda invoke`): `{"artifactId": "<id>", "inputImage": "<base64>",
"contentType": "image/png"}`. The image travels in the payload: the function fetches no URL a caller
names. A bad input returns `{"status": "Invoke failed: ..."}` (retrying cannot help); a server-side
failure raises, so an asynchronous invocation is retried and then kept in the dead-letter queue.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from image_classifier.models import Catalog, ModelCache, UnknownModel
from model_fetch.registry import ModelNotAvailable
from pytorch_container.errors import InvalidInput
from pytorch_container.predictor import Classification, PredictorSettings, encode

logger = Logger()
app = APIGatewayHttpResolver()
JSON = "application/json"

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
models = ModelCache(
    Catalog.from_environ(os.environ),
    sagemaker=boto3.client("sagemaker", config=_CLIENT_CONFIG),
    s3=boto3.client("s3", config=_CLIENT_CONFIG),
    settings=PredictorSettings.from_environ(),
)
try:
    # Loaded during init: counted in the init duration, and in the SnapStart snapshot of a published version.
    models.get(models.catalog.default)
except Exception:  # noqa: BLE001 - init must not fail: requests report the problem (503) and retry the load
    logger.exception("the default model could not be loaded at init; requests will try again")


class InvokeFailed(Exception):
    """A refusal with its HTTP status; the body says `Invoke failed: <message>`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def failure_body(message: str) -> dict[str, str]:
    """The seeds' error document."""
    return {"status": f"Invoke failed: {message}"}


def classify(artifact_id: str, body: bytes, content_type: str) -> Classification | list[Classification]:
    """The top-k classes of `body` by the model `artifact_id`; `InvokeFailed` for a client error."""
    try:
        served = models.get(artifact_id)
    except UnknownModel as error:
        raise InvokeFailed(400, str(error)) from None
    try:
        return served.predictor.classify(body, content_type)
    except InvalidInput as error:
        raise InvokeFailed(error.status, error.message) from None


@app.post("/invocations")
def invocations() -> Response[str]:
    """Classify the request body."""
    event = app.current_event
    artifact_id = event.get_query_string_value("artifactId") or models.catalog.default
    raw = event.body or ""
    if event.is_base64_encoded:
        try:
            body = base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise InvokeFailed(400, "the body is marked base64-encoded but is not valid base64") from None
    else:
        body = raw.encode()
    content_type = event.headers.get("content-type", "")
    result = classify(artifact_id, body, content_type)
    return Response(status_code=200, content_type=JSON, body=encode(result).decode())


@app.get("/ping")
def ping() -> Response[str]:
    """Health: the loaded versions; 503 until the default model is loaded."""
    loaded = models.loaded()
    status = 200 if models.catalog.default in loaded else 503
    return Response(status_code=status, content_type=JSON, body=json.dumps({"models": loaded}))


def _refusal(status: int, message: str) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json.dumps(failure_body(message)))


@app.exception_handler(InvokeFailed)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
def _invoke_failed(error: InvokeFailed) -> Response[str]:
    logger.info("refused: %s", error.message, extra={"status": error.status})
    return _refusal(error.status, error.message)


@app.exception_handler(ModelNotAvailable)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
def _not_available(error: ModelNotAvailable) -> Response[str]:
    logger.warning("model not available: %s", error)
    return _refusal(503, str(error))


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
def _internal(error: Exception) -> Response[str]:
    logger.exception("request failed")
    return _refusal(500, f"internal error ({type(error).__name__}); the function's log has the details")


@app.not_found
def _no_route(_: Exception) -> Response[str]:
    event = app.current_event
    return _refusal(404, f"no route {event.http_method} {event.path}; use POST /invocations or GET /ping")


def direct(event: dict[str, Any]) -> Any:
    """The seeds' direct invocation: `artifactId`, `inputImage` (base64) and `contentType`."""
    artifact_id = event.get("artifactId") or models.catalog.default
    image = event.get("inputImage")
    content_type = event.get("contentType")
    if not isinstance(artifact_id, str) or not isinstance(image, str) or not isinstance(content_type, str):
        return failure_body(
            'expected {"artifactId": "<id>" (optional), "inputImage": "<base64 image>", "contentType": '
            f'"image/png"}}; got the keys {sorted(event)}'
        )
    try:
        body = base64.b64decode(image, validate=True)
        return classify(artifact_id, body, content_type)
    except binascii.Error:
        return failure_body("inputImage is not valid base64")
    except InvokeFailed as error:
        logger.info("refused: %s", error.message, extra={"status": error.status})
        return failure_body(error.message)


@logger.inject_lambda_context
def lambda_handler(event: Any, context: LambdaContext) -> Any:
    """Function URL / HTTP API events go to the router; anything else is a direct invocation."""
    if not isinstance(event, dict):
        return failure_body(f"expected a JSON object, got {type(event).__name__}")
    if "requestContext" in event:
        return app.resolve(event, context)
    return direct(event)
