"""Start a DAG run on Amazon MWAA with `InvokeRestApi` (Airflow's REST API, authorised by IAM).

Why InvokeRestApi rather than a CLI token: the call is signed with the function's role, so there is
no token to create, hold, pass on or leak; it reaches a private web server without the function
opening a connection to it; the IAM permission names the environment and the Airflow role (`User`,
which may trigger DAG runs but not change connections or variables); and Airflow's answer arrives
as JSON with its HTTP status, so every outcome maps to a clear result.

Requests are validated before anything is sent: only DAGs on the allow-list, a JSON-object conf of
bounded size, a caller-chosen run ID (Airflow refuses a second run with the same ID, which makes a
retried request harmless: a 409 is answered as "already triggered" with that run's state).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_CONF_BYTES = 16_384
_DETAIL_LIMIT = 500


class TriggerError(Exception):
    """The DAG run was not started; the message names the DAG and the reason."""

    def __init__(self, dag: str, reason: str, *, retryable: bool = False) -> None:
        super().__init__(f"DAG {dag}: {reason}")
        self.dag = dag
        self.retryable = retryable


class TriggerRequest(BaseModel):
    """The function's event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dag: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,250}$")
    run_id: str = Field(
        pattern=r"^[A-Za-z0-9_.~:+-]{1,200}$", description="Idempotency key, e.g. gitlab-<pipeline>-train"
    )
    conf: dict[str, Any] = Field(default_factory=dict)
    note: str = Field("", max_length=1000)


@dataclass(frozen=True)
class TriggerSettings:
    """The function's configuration (environment variables)."""

    environment_name: str
    allowed_dags: frozenset[str]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> TriggerSettings:
        """Read MWAA_ENVIRONMENT_NAME and ALLOWED_DAGS (comma-separated)."""
        name = environ.get("MWAA_ENVIRONMENT_NAME", "")
        dags = frozenset(filter(None, (dag.strip() for dag in environ.get("ALLOWED_DAGS", "").split(","))))
        if not name or not dags:
            raise RuntimeError("MWAA_ENVIRONMENT_NAME and ALLOWED_DAGS must be set")
        return cls(environment_name=name, allowed_dags=dags)


def parse_request(event: object, settings: TriggerSettings) -> TriggerRequest:
    """Validate the event; TriggerError (naming the DAG when known) for anything unacceptable."""
    named = event.get("dag") if isinstance(event, dict) else None
    dag = named if isinstance(named, str) else "<missing>"
    if not isinstance(event, dict):
        raise TriggerError(dag, f"the event must be a JSON object, got {type(event).__name__}")
    try:
        request = TriggerRequest.model_validate(event)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '<event>'}: {item['msg']}" for item in error.errors()
        )
        raise TriggerError(dag, f"invalid request: {problems}") from None
    if request.dag not in settings.allowed_dags:
        raise TriggerError(
            request.dag, f"not a DAG this function may trigger (allowed: {sorted(settings.allowed_dags)})"
        )
    size = len(json.dumps(request.conf))
    if size > MAX_CONF_BYTES:
        raise TriggerError(request.dag, f"conf is {size} bytes, more than the {MAX_CONF_BYTES} allowed")
    return request


def trigger_dag(request: TriggerRequest, *, client: Any, settings: TriggerSettings) -> dict[str, Any]:
    """Start the run (or report the one already started with this run ID)."""
    body: dict[str, Any] = {"dag_run_id": request.run_id, "logical_date": None, "conf": request.conf}
    if request.note:
        body["note"] = request.note
    try:
        response = _invoke(client, settings, request.dag, "POST", f"/dags/{request.dag}/dagRuns", body)
        created = True
    except _AirflowAnswer as answer:
        if answer.status != 409:
            raise _error(request.dag, settings, answer) from None
        response = _existing_run(client, settings, request)
        created = False
    return {
        "dag": request.dag,
        "dag_run_id": response.get("dag_run_id", request.run_id),
        "state": response.get("state", "unknown"),
        "created": created,
        "environment": settings.environment_name,
    }


class _AirflowAnswer(Exception):
    """Airflow answered with an error status (4xx/5xx) through InvokeRestApi."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def _existing_run(client: Any, settings: TriggerSettings, request: TriggerRequest) -> dict[str, Any]:
    try:
        return _invoke(client, settings, request.dag, "GET", f"/dags/{request.dag}/dagRuns/{request.run_id}", None)
    except _AirflowAnswer as answer:
        raise _error(request.dag, settings, answer) from None


def _invoke(
    client: Any, settings: TriggerSettings, dag: str, method: str, path: str, body: dict[str, Any] | None
) -> dict[str, Any]:
    arguments: dict[str, Any] = {"Name": settings.environment_name, "Path": path, "Method": method}
    if body is not None:
        arguments["Body"] = body
    try:
        response = client.invoke_rest_api(**arguments)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("RestApiClientException", "RestApiServerException"):
            raise _AirflowAnswer(int(error.response.get("RestApiStatusCode", 0)), _detail(error.response)) from None
        raise _service_error(dag, settings, code, error.response.get("Error", {}).get("Message", "")) from None
    except BotoCoreError as error:
        raise TriggerError(dag, f"MWAA could not be reached ({type(error).__name__}); retry", retryable=True) from None
    result = response.get("RestApiResponse")
    return result if isinstance(result, dict) else {}


def _detail(response: Mapping[str, Any]) -> str:
    """Airflow's `detail` (a message or a list of validation errors), clipped."""
    answer = response.get("RestApiResponse")
    detail: Any = answer.get("detail", answer) if isinstance(answer, dict) else answer
    if isinstance(detail, list):
        detail = "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', []))}: {item.get('msg', '')}"
            for item in detail
            if isinstance(item, dict)
        )
    text = re.sub(r"\s+", " ", str(detail if detail is not None else "no detail")).strip()
    return text[:_DETAIL_LIMIT]


def _error(dag: str, settings: TriggerSettings, answer: _AirflowAnswer) -> TriggerError:
    env = settings.environment_name
    if answer.status == 404:
        return TriggerError(
            dag, f"not found in MWAA environment {env} (is the DAG file deployed and free of import errors?)"
        )
    if answer.status in (401, 403):
        return TriggerError(dag, f"Airflow refused the caller ({answer.status}): {answer.detail}")
    if answer.status >= 500 or answer.status == 0:
        return TriggerError(dag, f"Airflow failed ({answer.status}): {answer.detail}; retry", retryable=True)
    return TriggerError(dag, f"Airflow rejected the run ({answer.status}): {answer.detail}")


def _service_error(dag: str, settings: TriggerSettings, code: str, message: str) -> TriggerError:
    env = settings.environment_name
    if code == "ResourceNotFoundException":
        return TriggerError(dag, f"MWAA environment {env} not found")
    if code == "AccessDeniedException":
        return TriggerError(dag, f"MWAA denied access to environment {env}: check airflow:InvokeRestApi on the role")
    retryable = code in ("InternalServerException", "ThrottlingException")
    reason = f"MWAA answered {code or 'an error'}: {message[:_DETAIL_LIMIT]}"
    return TriggerError(dag, reason + ("; retry" if retryable else ""), retryable=retryable)
