"""The Airflow variant end to end, offline (see conftest.py for the run these checks look at).

One test runs the checks below and reports every failing one: with the pinned pytest 9.2 and
pytest-xdist 3.8, `--dist loadgroup` no longer keeps an `xdist_group` on one worker (xdist renames
`item._nodeid`, which pytest 9 no longer reads), so separate tests could run the whole flow twice.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("airflow")]


def check_dags_load_without_import_errors_and_every_task_reports_failures(flow) -> None:
    assert flow.loaded["import_errors"] == {}
    assert set(flow.loaded["dags"]) == {"mlops_training", "mlops_deployment"}
    assert all(all(tasks.values()) for tasks in flow.loaded["dags"].values()), flow.loaded["dags"]


def check_the_model_pipeline_hands_its_package_to_the_mlops_pipeline(flow) -> None:
    assert flow.downstream["UPSTREAM_MODEL_NAME"] == "xgboost"
    assert flow.downstream["UPSTREAM_JOB_ID"].isdigit() and flow.downstream["UPSTREAM_PROJECT_ID"] == "101"
    assert flow.demo.gitlab.downloads == [("101", flow.downstream["UPSTREAM_JOB_ID"])]


def check_the_mlops_pipeline_builds_and_pushes_the_first_semantic_version(flow) -> None:
    assert flow.versions_env == {"IMAGE_VERSION": "1.0.0", "IMAGE_BUILD": "yes", "VERSION_BUMP": "first"}
    calls = [json.loads(line) for line in (flow.demo.workdir / "logs" / "docker.jsonl").read_text().splitlines()]
    assert [call["command"] for call in calls] == ["login", "build", "push"]
    assert calls[2]["arguments"] == [f"{flow.demo.aws.repository_uri('abalone', 'xgboost')}:1.0.0"]
    assert "1.0.0" in flow.state["ecr_tags"]
    record = json.loads(flow.state["record"])
    assert record["commit"] == flow.downstream["UPSTREAM_COMMIT_SHA"] and "model/evaluate.py" in record["files"]


def check_the_lambda_triggered_the_training_dag_through_mwaas_api(flow) -> None:
    training_run = flow.demo.mwaa.runs[0]
    assert (training_run.dag_id, training_run.run_id) == ("mlops_training", "gitlab-501-train")
    assert training_run.conf["image_version"] == "1.0.0" and training_run.conf["hyperparameters"]["num_round"] == "50"
    assert training_run.conf["git_sha"] == flow.downstream["UPSTREAM_COMMIT_SHA"]


def check_training_registers_version_1_0_0_with_its_evaluation(flow) -> None:
    assert flow.training.state == "success", flow.training.log.read_text()[-3000:]
    registered = flow.state["versions"]["1.0.0"]
    assert registered["ImageVersion"] == "1.0.0" and registered["Retraining"] == "false"
    assert registered["GitSha"] == flow.downstream["UPSTREAM_COMMIT_SHA"]
    metrics = {
        (metric["MetricName"], tuple(sorted(d["Value"] for d in metric["Dimensions"])))
        for metric in flow.state["metrics"]
    }
    assert ("mse", ("abalone", "xgboost")) in metrics
    trained = next(text for text in flow.demo.slack.texts() if text.startswith("Trained abalone/xgboost 1.0.0"))
    assert trained
    email = next(email for email in flow.emails if email.subject == "Trained abalone/xgboost 1.0.0")
    mse = float(email.text.split("Metric mse: ")[1].splitlines()[0])
    assert 3.0 < mse < 6.0  # abalone's published reference is about 4.9


def check_approval_deploys_the_endpoint_with_target_tracking(flow) -> None:
    assert flow.deployment.state == "success", flow.deployment.log.read_text()[-3000:]
    assert flow.state["versions"]["1.0.0"]["status"] == "Approved"
    assert flow.state["versions"]["1.0.0"]["ApprovedBy"] == "approver"
    assert flow.state["endpoint"]["EndpointStatus"] == "InService"
    (target,) = flow.state["targets"]["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        "endpoint/abalone-xgboost/variant/AllTraffic",
        1,
        2,
    )
    (policy,) = flow.state["policies"]["ScalingPolicies"]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 100.0
    assert any(text.startswith("Deployed abalone/xgboost 1.0.0") for text in flow.demo.slack.texts())


def check_scheduled_retraining_bumps_the_patch(flow) -> None:
    assert flow.retraining.state == "success", flow.retraining.log.read_text()[-3000:]
    retrained = flow.state["versions"]["1.0.1"]
    assert (retrained["ImageVersion"], retrained["Retraining"], retrained["status"]) == (
        "1.0.0",
        "true",
        "PendingManualApproval",
    )


def check_a_failing_task_is_reported_to_slack_and_sns_with_task_run_and_error(flow) -> None:
    assert flow.failing.state == "failed" and flow.failing.failed_tasks() == ["resolve_version"]
    slack = [message for message in flow.demo.slack.messages if message["text"].startswith("FAILED")]
    emails = [email for email in flow.emails if email.subject.startswith("FAILED")]
    assert [message["text"].split(":")[0] for message in slack] == ["FAILED mlops_training.resolve_version"]
    (email,) = emails
    assert f"Run: {flow.failing.run_id}" in email.text and "Task: resolve_version" in email.text
    assert "image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/abalone/xgboost:9.9.9 cannot be used" in email.text


def check_the_slack_webhook_url_appears_in_no_message_or_log(flow) -> None:
    token = flow.demo.slack.token
    texts = [json.dumps(flow.demo.slack.messages), *(email.text for email in flow.emails)]
    texts += [path.read_text() for path in (flow.demo.workdir / "airflow" / "logs").glob("*.log")]
    assert all(token not in text for text in texts)


CHECKS: list[Callable[..., None]] = [value for name, value in sorted(globals().items()) if name.startswith("check_")]


def test_the_airflow_variant_end_to_end(flow) -> None:
    failures = []
    for check in CHECKS:
        try:
            check(flow)
        except AssertionError:
            failures.append(f"{check.__name__}:\n{traceback.format_exc(limit=2)}")
    assert len(CHECKS) == 9 and not failures, "\n".join(failures)
