"""deploy.py: create and update the stage stack in moto's CloudFormation, and the failure paths."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pytest
from botocore.exceptions import ClientError

from .conftest import BUCKET, CPU_IMAGE, ROLE, SEED, read_json

TEMPLATE = (SEED / "endpoint-config-template.yml").read_text()


@pytest.fixture(autouse=True)
def _quiet_moto():
    """moto warns about the resource types it skips (auto scaling, alarms); cfn-lint checks those."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tried to parse AWS::")
        yield


def export(**changes: str) -> dict:
    """A stage template configuration as build.py writes it."""
    parameters = {
        "ResourceName": "abalone",
        "DeploymentId": "v1-0123abcd",
        "EndpointInstanceType": "ml.m5.large",
        "StageName": "staging",
        "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone-p-abc123/1",
        "ModelImageUri": CPU_IMAGE,
        "ModelDataUrl": "s3://bucket/exec-1/model/model.tar.gz",
        "ExecutionRoleName": ROLE.split(":role/")[1],
        "DataCaptureUploadPath": f"s3://{BUCKET}/datacapture-staging",
        **read_json(SEED / "staging-config.json")["Parameters"],
    }
    parameters.update(changes)
    return {"Parameters": parameters, "Tags": {"sagemaker:project-name": "abalone", "sagemaker:project-id": "p-abc123"}}


def deploy(seed_deploy, cfn, document: dict, logs: list[str] | None = None) -> dict:
    return seed_deploy.deploy(
        cfn,
        "sagemaker-abalone-p-abc123-deploy-staging",
        TEMPLATE,
        document,
        poll_seconds=0,
        log=(logs if logs is not None else []).append,
    )


def endpoint_config(clients, outputs: dict) -> dict:
    # moto names the endpoint <stack>-Endpoint-<suffix> (it ignores EndpointName); real CloudFormation
    # uses the template's <project>-<stage>. The outputs name whichever exists.
    assert clients.sagemaker.describe_endpoint(EndpointName=outputs["EndpointName"])["EndpointStatus"] == "InService"
    return clients.sagemaker.describe_endpoint_config(EndpointConfigName=outputs["EndpointConfigName"])


class TestMotoCloudFormation:
    def test_create_makes_model_endpoint_config_and_endpoint(self, seed_deploy, aws, clients):
        logs: list[str] = []
        outputs = deploy(seed_deploy, clients.cloudformation, export(), logs)
        assert logs[0] == "creating stack sagemaker-abalone-p-abc123-deploy-staging"
        config = endpoint_config(clients, outputs)
        variant = config["ProductionVariants"][0]
        assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 1)
        assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 100
        assert config["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{BUCKET}/datacapture-staging"
        container = clients.sagemaker.describe_model(ModelName=outputs["ModelName"])["PrimaryContainer"]
        assert (container["Image"], container["ModelDataUrl"]) == (CPU_IMAGE, "s3://bucket/exec-1/model/model.tar.gz")
        stack = clients.cloudformation.describe_stacks(StackName="sagemaker-abalone-p-abc123-deploy-staging")["Stacks"][
            0
        ]
        assert {"Key": "sagemaker:project-id", "Value": "p-abc123"} in stack["Tags"]

    def test_update_deploys_the_new_model_and_configuration(self, seed_deploy, aws, clients):
        deploy(seed_deploy, clients.cloudformation, export())
        logs: list[str] = []
        outputs = deploy(
            seed_deploy,
            clients.cloudformation,
            export(ModelDataUrl="s3://bucket/exec-2/model/model.tar.gz", EndpointInstanceCount="2"),
            logs,
        )
        assert logs[0].startswith("updating stack") and logs[-1].endswith("UPDATE_COMPLETE")
        assert endpoint_config(clients, outputs)["ProductionVariants"][0]["InitialInstanceCount"] == 2
        model = clients.sagemaker.describe_model(ModelName=outputs["ModelName"])
        assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://bucket/exec-2/model/model.tar.gz"

    def test_other_account_through_an_assumed_role(self, seed_deploy, aws, clients):
        session = seed_deploy.session_for("arn:aws:iam::222222222222:role/sagemaker-role-staging", "us-east-1")
        seed_deploy.deploy(
            session.client("cloudformation"), "cross", TEMPLATE, export(), poll_seconds=0, log=lambda _: None
        )
        assert (
            session.client("cloudformation").describe_stacks(StackName="cross")["Stacks"][0]["StackId"].split(":")[4]
            == "222222222222"
        )
        assert seed_deploy.stack_status(clients.cloudformation, "cross") is None  # nothing in the job's own account

    def test_main_writes_the_outputs_for_the_next_job(self, seed_deploy, aws, tmp_path, monkeypatch, capsys):
        monkeypatch.setenv("SAGEMAKER_PROJECT_NAME", "abalone")
        monkeypatch.setenv("SAGEMAKER_PROJECT_ID", "p-abc123")
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        (tmp_path / "staging-config-export.json").write_text(json.dumps(export()))
        assert seed_deploy.main(["--stage", "staging", "--build-dir", str(tmp_path), "--poll-seconds", "0"]) == 0
        outputs = read_json(tmp_path / "staging-outputs.json")
        assert set(outputs) == {"EndpointName", "EndpointConfigName", "ModelName"}
        assert f"staging endpoint: {outputs['EndpointName']}" in capsys.readouterr().out


def test_main_needs_the_build_artifact(seed_deploy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAGEMAKER_PROJECT_NAME", "abalone")
    monkeypatch.setenv("SAGEMAKER_PROJECT_ID", "p-abc123")
    assert seed_deploy.main(["--stage", "prod", "--build-dir", str(tmp_path)]) == 1
    assert "prod-config-export.json not found" in capsys.readouterr().err


def test_main_needs_the_project_variables(seed_deploy, monkeypatch, capsys):
    monkeypatch.delenv("SAGEMAKER_PROJECT_NAME", raising=False)
    assert seed_deploy.main(["--stage", "staging"]) == 1
    assert "SAGEMAKER_PROJECT_NAME" in capsys.readouterr().err


def test_stack_name(seed_deploy):
    assert seed_deploy.stack_name("abalone", "p-abc123", "prod") == "sagemaker-abalone-p-abc123-deploy-prod"


# --- Paths moto cannot produce (it never fails a resource and never answers "No updates"): a scripted
# CloudFormation client with responses shaped like the real service's.


def event(
    logical: str, status: str, reason: str | None = None, kind: str = "AWS::SageMaker::Endpoint", minute: int = 0
) -> dict:
    stack = "sagemaker-abalone-p-abc123-deploy-staging"
    record = {
        "StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/1a2b",
        "EventId": f"{logical}-{status}-{minute}",
        "StackName": stack,
        "LogicalResourceId": stack if kind == "AWS::CloudFormation::Stack" else logical,
        "ResourceType": kind,
        "ResourceStatus": status,
        "Timestamp": dt.datetime(2026, 11, 24, 12, minute, tzinfo=dt.UTC),
    }
    if reason is not None:
        record["ResourceStatusReason"] = reason
    return record


STACK = "AWS::CloudFormation::Stack"
QUOTA = (
    'Resource handler returned message: "Invalid request provided: The account-level service limit '
    "'ml.g5.xlarge for endpoint usage' is 0 Instances\" (RequestToken: 5c1f, HandlerErrorCode: InvalidRequest)"
)
# A failed update (newest first), preceded by an older failed creation that must not be reported.
FAILED_UPDATE_EVENTS = [
    event("stack", "UPDATE_ROLLBACK_COMPLETE", kind=STACK, minute=20),
    event("EndpointConfig", "DELETE_COMPLETE", kind="AWS::SageMaker::EndpointConfig", minute=19),
    event("Endpoint", "UPDATE_COMPLETE", minute=18),
    event(
        "stack",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "The following resource(s) failed to update: [Endpoint].",
        kind=STACK,
        minute=17,
    ),
    event(
        "ScalableTarget",
        "UPDATE_FAILED",
        "Resource update cancelled",
        kind="AWS::ApplicationAutoScaling::ScalableTarget",
        minute=16,
    ),
    event("Endpoint", "UPDATE_FAILED", QUOTA, minute=15),
    event("Endpoint", "UPDATE_IN_PROGRESS", minute=14),
    event("EndpointConfig", "CREATE_COMPLETE", kind="AWS::SageMaker::EndpointConfig", minute=13),
    event("stack", "UPDATE_IN_PROGRESS", "User Initiated", kind=STACK, minute=12),
    event("stack", "CREATE_COMPLETE", kind=STACK, minute=5),
    event("Endpoint", "CREATE_FAILED", "an older failure", minute=2),
    event("stack", "CREATE_IN_PROGRESS", "User Initiated", kind=STACK, minute=1),
]


def test_failure_reasons_of_the_latest_operation_root_cause_first(seed_deploy):
    reasons = seed_deploy.failure_reasons(FAILED_UPDATE_EVENTS)
    assert reasons == [
        f"Endpoint (AWS::SageMaker::Endpoint) UPDATE_FAILED: {QUOTA}",
        "ScalableTarget (AWS::ApplicationAutoScaling::ScalableTarget) UPDATE_FAILED: Resource update cancelled",
    ]


def test_failure_reasons_of_a_failed_first_creation(seed_deploy):
    events = [
        event("stack", "ROLLBACK_COMPLETE", kind=STACK, minute=9),
        event("Model", "DELETE_COMPLETE", kind="AWS::SageMaker::Model", minute=8),
        event(
            "stack",
            "ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to create: [Model].",
            kind=STACK,
            minute=7,
        ),
        event(
            "Model",
            "CREATE_FAILED",
            "Could not access model data at s3://bucket/model.tar.gz",
            kind="AWS::SageMaker::Model",
            minute=6,
        ),
        event("stack", "CREATE_IN_PROGRESS", "User Initiated", kind=STACK, minute=5),
    ]
    assert seed_deploy.failure_reasons(events) == [
        "Model (AWS::SageMaker::Model) CREATE_FAILED: Could not access model data at s3://bucket/model.tar.gz"
    ]


class ScriptedCloudFormation:
    """Answers describe_stacks from a list of statuses; records the calls made."""

    def __init__(self, statuses: list[str | None], events: list[dict] | None = None, update_error: str | None = None):
        self.statuses = statuses
        self.events = events or []
        self.update_error = update_error
        self.calls: list[str] = []

    def describe_stacks(self, StackName):
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if status is None:
            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": f"Stack with id {StackName} does not exist"}},
                "DescribeStacks",
            )
        return {
            "Stacks": [
                {
                    "StackName": StackName,
                    "StackStatus": status,
                    "StackStatusReason": "scripted",
                    "Outputs": [{"OutputKey": "EndpointName", "OutputValue": "abalone-staging"}],
                }
            ]
        }

    def _visible_events(self) -> list[dict]:
        """All events once an operation started; before that, those older than its "User Initiated" event."""
        if self.calls or not self.events:
            return self.events
        started = next(i for i, e in enumerate(self.events) if e.get("ResourceStatusReason") == "User Initiated")
        return self.events[started + 1 :]

    def describe_stack_events(self, StackName):
        return {"StackEvents": self._visible_events()}

    def get_paginator(self, name):
        assert name == "describe_stack_events"
        events = self._visible_events()
        pages = [{"StackEvents": events[:4]}, {"StackEvents": events[4:]}]
        return type("Paginator", (), {"paginate": lambda self, StackName: iter(pages)})()

    def update_stack(self, **arguments):
        self.calls.append("update_stack")
        if self.update_error:
            raise ClientError({"Error": {"Code": "ValidationError", "Message": self.update_error}}, "UpdateStack")
        return {"StackId": "stack-id"}

    def create_stack(self, **arguments):
        self.calls.append("create_stack")
        return {"StackId": "stack-id"}

    def delete_stack(self, StackName):
        self.calls.append("delete_stack")


def test_no_updates_to_perform_is_success(seed_deploy):
    cfn = ScriptedCloudFormation(["UPDATE_COMPLETE"], update_error="No updates are to be performed.")
    logs: list[str] = []
    assert deploy(seed_deploy, cfn, export(), logs) == {"EndpointName": "abalone-staging"}
    assert cfn.calls == ["update_stack"] and "no updates are to be performed" in logs[-1]


def test_other_update_refusals_fail_with_the_message(seed_deploy):
    cfn = ScriptedCloudFormation(["UPDATE_COMPLETE"], update_error="Parameters: [ModelDataUrl] must have values")
    with pytest.raises(seed_deploy.DeployError, match=r"update of stack .* refused: Parameters: \[ModelDataUrl\]"):
        deploy(seed_deploy, cfn, export())


def test_failed_update_reports_reasons_and_rollback_status(seed_deploy):
    statuses = ["UPDATE_COMPLETE", "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"]
    cfn = ScriptedCloudFormation(statuses, FAILED_UPDATE_EVENTS)
    with pytest.raises(seed_deploy.DeployError) as caught:
        deploy(seed_deploy, cfn, export())
    message = str(caught.value)
    assert "final status UPDATE_ROLLBACK_COMPLETE" in message
    assert "service limit 'ml.g5.xlarge for endpoint usage'" in message and "an older failure" not in message


def test_rolled_back_first_creation_is_deleted_then_created_again(seed_deploy):
    cfn = ScriptedCloudFormation(
        ["ROLLBACK_COMPLETE", "DELETE_IN_PROGRESS", None, "CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    )
    logs: list[str] = []
    assert deploy(seed_deploy, cfn, export(), logs)["EndpointName"] == "abalone-staging"
    assert cfn.calls == ["delete_stack", "create_stack"]
    assert "ROLLBACK_COMPLETE" in logs[0] and "deleting it first" in logs[0]


def test_stack_busy_with_another_operation_is_waited_for(seed_deploy):
    cfn = ScriptedCloudFormation(
        ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]
    )
    assert deploy(seed_deploy, cfn, export())["EndpointName"] == "abalone-staging"
    assert cfn.calls == ["update_stack"]


def test_waiting_has_a_timeout(seed_deploy):
    cfn = ScriptedCloudFormation(["CREATE_IN_PROGRESS"])
    with pytest.raises(seed_deploy.DeployError, match="still CREATE_IN_PROGRESS after 0 s"):
        seed_deploy.wait_until_settled(cfn, "s", poll_seconds=0, timeout_seconds=0)
