"""The DAG trigger Lambda against a local stand-in of MWAA's InvokeRestApi (real botocore wire protocol)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local_airflow.lambda_standin import LambdaContextStandIn
from local_airflow.mwaa_standin import MwaaStandIn
from mwaa_dag_trigger import handler as handler_module
from mwaa_dag_trigger.trigger import MAX_CONF_BYTES, TriggerError, TriggerSettings, parse_request, trigger_dag

ENVIRONMENT = "mlops-airflow"
DAGS = {"mlops_training", "mlops_deployment"}
SETTINGS = TriggerSettings(environment_name=ENVIRONMENT, allowed_dags=frozenset(DAGS))


@pytest.fixture
def mwaa() -> Iterator[MwaaStandIn]:
    with MwaaStandIn(environment_name=ENVIRONMENT, dags=DAGS) as standin:
        yield standin


def client(mwaa: MwaaStandIn) -> Any:
    return boto3.client(
        "mwaa",
        region_name="eu-west-1",
        endpoint_url=mwaa.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
    )


def event(**overrides: Any) -> dict[str, Any]:
    return {"dag": "mlops_training", "run_id": "gitlab-7-train", "conf": {"project": "abalone"}, **overrides}


def test_starts_a_run_with_the_conf_and_run_id(mwaa: MwaaStandIn) -> None:
    result = trigger_dag(parse_request(event(note="pipeline 7"), SETTINGS), client=client(mwaa), settings=SETTINGS)
    assert result == {
        "dag": "mlops_training",
        "dag_run_id": "gitlab-7-train",
        "state": "queued",
        "created": True,
        "environment": ENVIRONMENT,
    }
    (run,) = mwaa.runs
    assert (run.dag_id, run.run_id, run.conf, run.note) == (
        "mlops_training",
        "gitlab-7-train",
        {"project": "abalone"},
        "pipeline 7",
    )
    assert mwaa.requests[0]["Path"] == "/dags/mlops_training/dagRuns" and mwaa.requests[0]["Method"] == "POST"


def test_the_same_run_id_twice_starts_one_run(mwaa: MwaaStandIn) -> None:
    request = parse_request(event(), SETTINGS)
    trigger_dag(request, client=client(mwaa), settings=SETTINGS)
    again = trigger_dag(request, client=client(mwaa), settings=SETTINGS)
    assert again["created"] is False and again["state"] == "queued" and len(mwaa.runs) == 1


def test_a_dag_missing_from_airflow_is_named_with_the_reason(mwaa: MwaaStandIn) -> None:
    mwaa.dags.discard("mlops_deployment")
    with pytest.raises(TriggerError, match=r"^DAG mlops_deployment: not found in MWAA environment mlops-airflow"):
        trigger_dag(parse_request(event(dag="mlops_deployment"), SETTINGS), client=client(mwaa), settings=SETTINGS)


def test_an_unknown_environment_is_named(mwaa: MwaaStandIn) -> None:
    settings = TriggerSettings(environment_name="other-env", allowed_dags=frozenset(DAGS))
    with pytest.raises(TriggerError, match="DAG mlops_training: MWAA environment other-env not found"):
        trigger_dag(parse_request(event(), settings), client=client(mwaa), settings=settings)


def test_airflow_rejecting_the_body_is_reported_with_its_detail(mwaa: MwaaStandIn, monkeypatch) -> None:
    real = mwaa._trigger
    monkeypatch.setattr(mwaa, "_trigger", lambda dag, body: real(dag, {**body, "conf": "not-an-object"}))
    with pytest.raises(
        TriggerError, match=r"Airflow rejected the run \(422\): body.conf: Input should be a valid dictionary"
    ):
        trigger_dag(parse_request(event(), SETTINGS), client=client(mwaa), settings=SETTINGS)


def test_airflow_server_errors_are_retryable(mwaa: MwaaStandIn, monkeypatch) -> None:
    monkeypatch.setattr(mwaa, "_trigger", lambda dag, body: (503, {"detail": "scheduler unavailable"}))
    with pytest.raises(TriggerError, match=r"Airflow failed \(503\): scheduler unavailable; retry") as error:
        trigger_dag(parse_request(event(), SETTINGS), client=client(mwaa), settings=SETTINGS)
    assert error.value.retryable


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"dag": "drop_everything"}, "DAG drop_everything: not a DAG this function may trigger"),
        ({"run_id": "a b"}, "DAG mlops_training: invalid request: run_id"),
        ({"conf": ["x"]}, "invalid request: conf"),
        ({"extra": 1}, "invalid request: extra: Extra inputs are not permitted"),
        ({"dag": None}, "DAG <missing>: invalid request: dag"),
        ({"conf": {"blob": "x" * (MAX_CONF_BYTES + 1)}}, f"more than the {MAX_CONF_BYTES} allowed"),
    ],
)
def test_bad_events_are_refused_before_anything_is_sent(mwaa: MwaaStandIn, bad: dict, message: str) -> None:
    with pytest.raises(TriggerError, match=message):
        trigger_dag(parse_request(event(**bad), SETTINGS), client=client(mwaa), settings=SETTINGS)
    assert mwaa.requests == []


def test_handler_uses_its_environment_and_logs_no_conf(mwaa: MwaaStandIn, monkeypatch, caplog) -> None:
    monkeypatch.setenv("MWAA_ENVIRONMENT_NAME", ENVIRONMENT)
    monkeypatch.setenv("ALLOWED_DAGS", "mlops_training, mlops_deployment")
    monkeypatch.setenv("MWAA_ENDPOINT_URL", mwaa.url)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    marker = "conf-value-that-must-not-be-logged"
    context = LambdaContextStandIn(function_name="trigger", aws_request_id="r-1")
    result = handler_module.handler(event(conf={"secret": marker}), context)
    assert result["created"] and result["dag_run_id"] == "gitlab-7-train"
    with pytest.raises(TriggerError, match="not a DAG this function may trigger"):
        handler_module.handler(event(dag="other"), context)
    records = [record for record in caplog.records if record.name == "mwaa-dag-trigger"]
    assert [record.getMessage() for record in records] == ["DAG run started", "DAG run not started"]
    assert (records[0].dag, records[0].dag_run_id, records[1].dag) == ("mlops_training", "gitlab-7-train", "other")
    logged = json.dumps([{key: str(value) for key, value in vars(record).items()} for record in records])
    assert marker not in logged and "testing" not in logged


def test_handler_without_its_settings_fails_clearly(monkeypatch) -> None:
    monkeypatch.delenv("MWAA_ENVIRONMENT_NAME", raising=False)
    with pytest.raises(RuntimeError, match="MWAA_ENVIRONMENT_NAME and ALLOWED_DAGS must be set"):
        handler_module.handler(event(), LambdaContextStandIn(function_name="trigger", aws_request_id="r-2"))


def test_the_stand_in_refuses_unsigned_requests(mwaa: MwaaStandIn) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{mwaa.url}/restapi/{ENVIRONMENT}", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=5)
    assert error.value.code == 403


def test_bundle_pins_equal_the_other_lambdas_pins(repo_root) -> None:
    from tooling.requirement_pins import read_pins

    own = read_pins(repo_root / "lambdas" / "mwaa_dag_trigger" / "requirements.txt")
    shared = read_pins(repo_root / "lambdas" / "requirements.txt")
    assert own and {name: shared.get(name) for name in own} == own
