"""A local stand-in for the Lambda service's Invoke API that runs a function's real handler in process.

`POST /2015-03-31/functions/{name}/invocations` with the event as body, as botocore's `lambda`
client sends it; the answer is the handler's result, or (as Lambda answers a function error) status
200 with `X-Amz-Function-Error: Unhandled` and `{errorMessage, errorType}`. The function's
environment variables are set around each call, as Lambda sets them for the function.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from local_airflow.http_standin import JsonStandIn
from local_lifecycle.emulator import patched_environ

Handler = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class LambdaContextStandIn:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        """ARN of the invoked function (a fixed local account)."""
        return f"arn:aws:lambda:eu-west-1:000000000000:function:{self.function_name}"


@dataclass(frozen=True)
class LocalFunction:
    """A handler and the environment Lambda would give it."""

    handler: Handler
    environment: Mapping[str, str]


class LambdaStandIn(JsonStandIn):
    """Runs `functions[name]` for each invocation; records (name, event, outcome)."""

    def __init__(self, functions: Mapping[str, LocalFunction]) -> None:
        super().__init__()
        self.functions = dict(functions)
        self.invocations: list[tuple[str, Any, str]] = []
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        parts = path.split("?")[0].strip("/").split("/")
        if method != "POST" or len(parts) != 4 or parts[:2] != ["2015-03-31", "functions"] or parts[3] != "invocations":
            return 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, {"Message": f"no operation at {path}"}
        name = parts[2].split(":")[-1]
        function = self.functions.get(name)
        if function is None:
            return 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, {"Message": f"Function not found: {name}"}
        event = json.loads(body or b"{}")
        context = LambdaContextStandIn(function_name=name, aws_request_id=str(uuid.uuid4()))
        with self._lock, patched_environ(function.environment):
            try:
                result = function.handler(event, context)
            except Exception as error:  # Lambda reports any exception as a function error
                self.invocations.append((name, event, f"error: {error}"))
                return (
                    200,
                    {"X-Amz-Function-Error": "Unhandled"},
                    {
                        "errorMessage": str(error),
                        "errorType": type(error).__name__,
                    },
                )
        self.invocations.append((name, event, "ok"))
        return 200, {"X-Amz-Executed-Version": "$LATEST"}, result
