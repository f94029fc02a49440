"""The rollout Lambda: an approval or rejection replaces the always-on service's tasks, once per event."""

from __future__ import annotations

import importlib
import sys
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from image_serving_support import GROUP, REGION, Context

from serving_rollout.rollout import NotReady, restart_beanstalk_environment, roll_ecs_service


def event(*, group: str = GROUP, status: str = "Approved", time: datetime | None = None) -> dict:
    arn = f"arn:aws:sagemaker:{REGION}:111111111111:model-package/{group}/2"
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": "111111111111",
        "time": (time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageVersion": 2,
            "ModelPackageArn": arn,
            "ModelApprovalStatus": status,
            "ModelPackageStatus": "Completed",
        },
    }


@pytest.fixture
def service(aws: None) -> tuple[object, str, str]:
    ecs = boto3.client("ecs", region_name=REGION)
    cluster = ecs.create_cluster(clusterName="classifier")["cluster"]["clusterArn"]
    ecs.register_task_definition(
        family="classifier", containerDefinitions=[{"name": "classifier", "image": "pytorch:cpu", "memory": 512}]
    )
    ecs.create_service(cluster=cluster, serviceName="classifier", taskDefinition="classifier", desiredCount=1)
    return ecs, cluster, "classifier"


def deployments(ecs, cluster: str) -> list[dict]:
    return ecs.describe_services(cluster=cluster, services=["classifier"])["services"][0]["deployments"]


def test_an_approval_after_the_last_deployment_forces_a_new_one_and_a_redelivery_does_not(service) -> None:
    ecs, cluster, name = service
    before = deployments(ecs, cluster)
    later = before[0]["createdAt"] + timedelta(milliseconds=1)  # the event came after the first deployment
    time.sleep(0.01)

    rolled = roll_ecs_service(ecs, cluster=cluster, service=name, event_time=later)
    after = deployments(ecs, cluster)
    assert rolled.action == "rolled"
    primary = next(d for d in after if d["status"] == "PRIMARY")
    assert primary["id"] != before[0]["id"]

    # The same event delivered again: the deployment it caused started after it.
    again = roll_ecs_service(ecs, cluster=cluster, service=name, event_time=later)
    assert again.action == "skipped" and deployments(ecs, cluster) == after


def test_the_handler_rolls_the_configured_service_for_its_group_only(service, monkeypatch: pytest.MonkeyPatch) -> None:
    ecs, cluster, name = service
    for key, value in {"TARGET": "ecs", "CLUSTER": cluster, "SERVICE": name, "MODEL_PACKAGE_GROUP": GROUP}.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("serving_rollout.handler", None)
    handler = importlib.import_module("serving_rollout.handler")
    future = datetime.now(UTC) + timedelta(minutes=5)

    assert handler.lambda_handler(event(group="other-group", time=future), Context())["action"] == "ignored"
    assert handler.lambda_handler(event(status="Rejected", time=future), Context())["action"] == "rolled"
    with pytest.raises(Exception, match="detail-type"):
        handler.lambda_handler({**event(), "detail-type": "Something else"}, Context())


def test_elastic_beanstalk_restarts_the_app_server_when_ready_and_retries_when_busy() -> None:
    beanstalk = boto3.client("elasticbeanstalk", region_name=REGION)
    updated = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with Stubber(beanstalk) as stub:
        described = {"EnvironmentNames": ["classifier"], "IncludeDeleted": False}
        stub.add_response(
            "describe_environments",
            {"Environments": [{"EnvironmentName": "classifier", "Status": "Ready", "DateUpdated": updated}]},
            described,
        )
        stub.add_response("restart_app_server", {}, {"EnvironmentName": "classifier"})
        stub.add_response(
            "describe_environments",
            {"Environments": [{"EnvironmentName": "classifier", "Status": "Updating", "DateUpdated": updated}]},
            described,
        )
        stub.add_response(
            "describe_environments",
            {"Environments": [{"EnvironmentName": "classifier", "Status": "Ready", "DateUpdated": updated}]},
            described,
        )
        after = updated + timedelta(minutes=1)
        assert restart_beanstalk_environment(beanstalk, environment="classifier", event_time=after).action == "rolled"
        with pytest.raises(NotReady, match="is Updating"):
            restart_beanstalk_environment(beanstalk, environment="classifier", event_time=after)
        before = updated - timedelta(minutes=1)
        assert restart_beanstalk_environment(beanstalk, environment="classifier", event_time=before).action == "skipped"
        stub.assert_no_pending_responses()
