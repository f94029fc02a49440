"""A local stand-in for Amazon MWAA's `InvokeRestApi` in front of Airflow 3's REST API (dag runs).

It speaks the wire protocol botocore's `mwaa` client uses (`POST /restapi/{Name}` with a JSON body
`{Path, Method, QueryParameters, Body}`, SigV4-signed for the `airflow` service) and answers as
MWAA does: `{RestApiStatusCode, RestApiResponse}` on success, `RestApiClientException` /
`RestApiServerException` carrying Airflow's status and body on errors, `ResourceNotFoundException`
for an unknown environment, `AccessDeniedException` for an unsigned request. Behind it, the Airflow
side knows a set of DAGs and keeps the runs it accepted (refusing a second run with the same ID
with 409, as Airflow does), so a demo can then execute them with `dag.test()`.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local_airflow.http_standin import JsonStandIn

_RUNS = re.compile(r"^/dags/(?P<dag>[^/]+)/dagRuns$")
_RUN = re.compile(r"^/dags/(?P<dag>[^/]+)/dagRuns/(?P<run>[^/]+)$")
_BODY_KEYS = {"dag_run_id", "logical_date", "conf", "note", "data_interval_start", "data_interval_end", "run_after"}


@dataclass
class AcceptedRun:
    """A DAG run Airflow accepted."""

    dag_id: str
    run_id: str
    conf: dict[str, Any]
    note: str | None
    queued_at: str
    state: str = "queued"
    signed_by: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def response(self) -> dict[str, Any]:
        """Airflow's DAGRunResponse (the fields callers use)."""
        return {
            "dag_run_id": self.run_id,
            "dag_id": self.dag_id,
            "logical_date": None,
            "queued_at": self.queued_at,
            "state": self.state,
            "run_type": "manual",
            "conf": self.conf,
            "note": self.note,
        }


class MwaaStandIn(JsonStandIn):
    """MWAA environment `environment_name` whose Airflow knows `dags`."""

    def __init__(self, *, environment_name: str, dags: set[str]) -> None:
        super().__init__()
        self.environment_name = environment_name
        self.dags = set(dags)
        self.runs: list[AcceptedRun] = []
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        authorization = {key.lower(): value for key, value in headers.items()}.get("authorization", "")
        if not re.match(r"^AWS4-HMAC-SHA256 Credential=[^/]+/\d{8}/[a-z0-9-]+/airflow/aws4_request", authorization):
            return _service_error(403, "AccessDeniedException", "the request is not signed for the airflow service")
        match = re.match(r"^/restapi/(?P<name>[^/?]+)$", path)
        if method != "POST" or not match:
            return _service_error(404, "ResourceNotFoundException", f"no operation at {method} {path}")
        if match["name"] != self.environment_name:
            return _service_error(404, "ResourceNotFoundException", f"Environment {match['name']} not found")
        try:
            request = json.loads(body)
        except ValueError:
            return _service_error(400, "ValidationException", "the request body is not JSON")
        if not isinstance(request, dict) or not {"Path", "Method"} <= set(request):
            return _service_error(400, "ValidationException", "Path and Method are required")
        with self._lock:
            self.requests.append(request)
            status, answer = self._airflow(str(request["Method"]), str(request["Path"]), request.get("Body"))
        if status >= 400:
            kind = "RestApiServerException" if status >= 500 else "RestApiClientException"
            return 400, {"x-amzn-ErrorType": kind}, {"RestApiStatusCode": status, "RestApiResponse": answer}
        return 200, {}, {"RestApiStatusCode": status, "RestApiResponse": answer}

    def _airflow(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """Airflow 3's REST API for dag runs: (status, JSON body)."""
        if (runs := _RUNS.match(path)) and method == "POST":
            return self._trigger(runs["dag"], body)
        if (run := _RUN.match(path)) and method == "GET":
            if run["dag"] not in self.dags:
                return 404, {"detail": f"The Dag with ID: `{run['dag']}` was not found"}
            for accepted in self.runs:
                if (accepted.dag_id, accepted.run_id) == (run["dag"], run["run"]):
                    return 200, accepted.response()
            return 404, {"detail": f"The DagRun with dag_id: `{run['dag']}` and run_id: `{run['run']}` was not found"}
        return 404, {"detail": "Not Found"}

    def _trigger(self, dag_id: str, body: Any) -> tuple[int, Any]:
        if dag_id not in self.dags:
            return 404, {"detail": f"The Dag with ID: `{dag_id}` was not found"}
        if not isinstance(body, dict):
            return 422, {
                "detail": [{"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "dict_type"}]
            }
        unknown = sorted(set(body) - _BODY_KEYS)
        if unknown:
            return 422, {
                "detail": [
                    {"loc": ["body", key], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
                    for key in unknown
                ]
            }
        conf = body.get("conf", {})
        if not isinstance(conf, dict):
            return 422, {
                "detail": [{"loc": ["body", "conf"], "msg": "Input should be a valid dictionary", "type": "dict_type"}]
            }
        run_id = str(body.get("dag_run_id") or f"manual__{datetime.now(UTC).isoformat()}")
        if any((run.dag_id, run.run_id) == (dag_id, run_id) for run in self.runs):
            return 409, {"detail": f"DAG Run with run_id: `{run_id}` already exists"}
        accepted = AcceptedRun(dag_id, run_id, conf, body.get("note"), datetime.now(UTC).isoformat())
        self.runs.append(accepted)
        return 200, accepted.response()

    def pending(self) -> list[AcceptedRun]:
        """Runs accepted and not yet executed (state `queued`)."""
        with self._lock:
            return [run for run in self.runs if run.state == "queued"]

    def finish(self, run: AcceptedRun, state: str) -> None:
        """Record the outcome of executing a run."""
        with self._lock:
            run.state = state


def _service_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], Any]:
    return status, {"x-amzn-ErrorType": code}, {"message": message}
