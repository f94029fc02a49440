"""What the emulator lacks for the fraud workflows, added for local runs and tests, and API call counting.

moto executes the workflows' Amazon States Language, but three pieces are missing:

- An `aws-sdk:sagemakerruntime:invokeEndpoint` task fails with `States.Runtime` ("Unknown service:
  'sagemakerruntime'"): moto passes the integration's service name to boto3, whose name for the
  service is `sagemaker-runtime`; and it would hand the blob body back as a stream, where Step
  Functions returns text. `ScoringBridge` maps the name, reads the body as text, and makes the
  emulator's SageMaker runtime forward `InvokeEndpoint` to a real model server (the XGBoost
  image's `xgboost-serve`), so the workflow's scoring state runs against the real model. Faults
  (a 5xx, throttling, a slow answer) can be queued to test what the workflows do with them.
- `StartSyncExecution` is not implemented: `SyncExecutions` runs the same Express execution with
  `StartExecution` and waits for its end, returning what `StartSyncExecution` returns.
- EventBridge cannot target a state machine (only SQS, logs, buses): the offline run puts a queue
  behind the rule and starts one execution per delivered event, as EventBridge would.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from botocore.response import StreamingBody
from moto.core.exceptions import JsonRESTError
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)

# The errors SageMaker's runtime answers with, by the fault names tests queue.
FAULTS = {
    "ServiceUnavailable": (503, "the model container is not answering (injected)"),
    "ModelError": (424, "the model container answered 500 (injected)"),
    "ThrottlingException": (400, "rate exceeded (injected)"),
    "InternalFailure": (500, "internal failure (injected)"),
}
SLOW = "slow"


class _RuntimeError(JsonRESTError):
    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(code, message)
        self.code = status


@dataclass
class ScoringBridge:
    """The emulator's SageMaker runtime answering with real model servers; use as a context manager.

    `endpoints` maps endpoint names to model server base URLs (`http://127.0.0.1:PORT`).
    `faults` is a queue of fault names (`FAULTS` or `"slow"`) the next calls answer with instead.
    """

    endpoints: dict[str, str]
    slow_seconds: float = 3.0
    faults: list[str] = field(default_factory=list)
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stack: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> ScoringBridge:
        bridge = self
        original_eval = StateTaskServiceAwsSdk._eval_service_task

        def eval_service_task(task: Any, env: Any, *args: Any, **kwargs: Any) -> None:
            original_eval(task, env, *args, **kwargs)
            result = env.stack[-1]
            if isinstance(result, dict) and isinstance(result.get("Body"), StreamingBody):
                result["Body"] = result["Body"].read().decode("utf-8")

        def invoke_endpoint(response: SageMakerRuntimeResponse) -> tuple[int, dict[str, str], str]:
            return bridge.forward(
                response.path.split("/")[2], response.body, response.headers.get("Content-Type") or "text/csv"
            )

        self._stack.enter_context(
            mock.patch.dict(
                StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES, {"sagemakerruntime": "sagemaker-runtime"}
            )
        )
        self._stack.enter_context(mock.patch.object(StateTaskServiceAwsSdk, "_eval_service_task", eval_service_task))
        self._stack.enter_context(mock.patch.object(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def inject(self, *faults: str) -> None:
        """Answer the next calls with these faults, in order (then normally again)."""
        unknown = [fault for fault in faults if fault not in FAULTS and fault != SLOW]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {[*FAULTS, SLOW]}")
        with self._lock:
            self.faults.extend(faults)

    def forward(self, endpoint_name: str, body: bytes | str, content_type: str) -> tuple[int, dict[str, str], str]:
        """Answer one `InvokeEndpoint`: an injected fault, or the model server's own answer."""
        with self._lock:
            self.calls += 1
            fault = self.faults.pop(0) if self.faults else None
        if fault in FAULTS:
            status, message = FAULTS[fault]
            raise _RuntimeError(fault, status, message)
        if fault == SLOW:
            time.sleep(self.slow_seconds)
        if endpoint_name not in self.endpoints:
            raise _RuntimeError("ValidationError", 400, f"Endpoint {endpoint_name} not found.")
        data = body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(
            f"{self.endpoints[endpoint_name]}/endpoints/{endpoint_name}/invocations",
            data=data,
            headers={"Content-Type": content_type, "Accept": "text/csv"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return 200, {"Content-Type": answer.headers.get("Content-Type", "text/csv")}, answer.read().decode()
        except urllib.error.HTTPError as error:
            raise _RuntimeError("ModelError", 424, f"the model answered {error.code}: {error.read()[:500]!r}") from None


class SyncExecutions:
    """`start_sync_execution` for the emulator: `StartExecution`, then wait for the execution's end."""

    def __init__(self, client: Any, *, poll_seconds: float = 0.01, timeout_seconds: float = 300) -> None:
        self._client = client
        self._poll = poll_seconds
        self._timeout = timeout_seconds
        self.executions: list[str] = []  # one StartSyncExecution call each

    def start_sync_execution(self, *, stateMachineArn: str, input: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        """Run the execution to its end; the fields `StartSyncExecution` answers with."""
        name = str(uuid.uuid4())
        arn = self._client.start_execution(stateMachineArn=stateMachineArn, input=input, name=name)["executionArn"]
        self.executions.append(arn)
        deadline = time.monotonic() + self._timeout
        while True:
            described: dict[str, Any] = self._client.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                return {**described, "status": "TIMED_OUT", "error": "States.Timeout", "cause": "emulator deadline"}
            time.sleep(self._poll)


def task_calls(client: Any, execution_arn: str) -> int:
    """AWS API calls an execution's Task states made (each attempt, retries included)."""
    history = client.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return sum(1 for event in history if event["type"] == "TaskScheduled")


class ApiCallCounter:
    """Counts the AWS API requests boto3 clients send, retries included (as workflow task attempts are)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def watch(self, client: Any) -> Any:
        """Count every request `client` sends from now on; returns the client."""

        def count(event_name: str, **details: Any) -> None:
            service, operation = event_name.split(".", 2)[1:]  # before-send.<service>.<operation>
            self.calls[f"{service}:{operation}"] += 1

        client.meta.events.register("before-send", count)
        return client

    @property
    def total(self) -> int:
        """Requests counted so far."""
        return sum(self.calls.values())


def decode_message(message: dict[str, Any]) -> Any:
    """The JSON body of an SQS message."""
    return json.loads(message["Body"])
