"""Helpers of the image serving tests: the emulated registry, the Lambda's handler loaded afresh, AWS events."""

from __future__ import annotations

import base64
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest

from local_lifecycle.image_serving import RegisteredModel, register_model

REGION = "eu-west-1"
BUCKET = "mlops-models-111111111111"
GROUP = "digits-classifier"


@dataclass
class Registry:
    """The emulated account: a model bucket and the model package registry."""

    sagemaker: Any
    s3: Any
    archive: bytes

    def register(self, group: str = GROUP, *, archive: bytes | None = None, approve: bool = True) -> RegisteredModel:
        return register_model(
            self.sagemaker, self.s3, bucket=BUCKET, group=group, archive=archive or self.archive, approve=approve
        )


def load_handler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **environment: str) -> ModuleType:
    """Import the Lambda's handler module afresh (its init runs now) with the function's environment."""
    settings = {
        "MODELS": f'{{"digits": "{GROUP}"}}',
        "DEFAULT_MODEL": "digits",
        "MODEL_BUCKETS": BUCKET,
        "MODEL_ENGINE": "onnx-int8",
        "MODEL_DEVICE": "cpu",
        "MODEL_REFRESH_SECONDS": "300",
        "MODEL_CACHE_DIR": str(tmp_path / "models"),
        "POWERTOOLS_SERVICE_NAME": "image-classifier",
        **environment,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    for name in [n for n in sys.modules if n.startswith("image_classifier")]:
        del sys.modules[name]
    return importlib.import_module("image_classifier.handler")


@dataclass
class Context:
    """The attributes of a Lambda context that the handler's logger reads."""

    function_name: str = "image-classifier"
    function_version: str = "1"
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:111111111111:function:image-classifier:live"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/image-classifier"
    log_stream_name: str = "2026/11/30/[1]abcdef"


def _request_context(method: str, path: str, route_key: str, domain: str) -> dict[str, object]:
    return {
        "accountId": "111111111111",
        "apiId": domain.split(".", 1)[0],
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1", "userAgent": "test"},
        "requestId": "id-1",
        "routeKey": route_key,
        "stage": "$default",
        "time": "30/Nov/2026:21:00:00 +0000",
        "timeEpoch": 1795986000000,
    }


def http_event(
    kind: str,
    *,
    method: str = "POST",
    path: str = "/invocations",
    body: bytes | str | None = None,
    content_type: str | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = True,
) -> dict[str, object]:
    """A function URL (`url`) or HTTP API (`http-api`) event; binary bodies are base64-encoded, as AWS does."""
    if kind == "url":
        domain, route_key = "abcdefghij.lambda-url.eu-west-1.on.aws", "$default"
        context = _request_context(method, path, route_key, domain)
        context["authorizer"] = {"iam": {"accountId": "111111111111", "userArn": "arn:aws:iam::111111111111:user/x"}}
    else:
        domain, route_key = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com", f"{method} {path}"
        context = _request_context(method, path, route_key, domain)
    headers = {"host": domain, "user-agent": "test"}
    if content_type is not None:
        headers["content-type"] = content_type
    event: dict[str, object] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        if base64_body and isinstance(body, bytes):
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        else:
            event["body"] = body.decode() if isinstance(body, bytes) else body
    return event
