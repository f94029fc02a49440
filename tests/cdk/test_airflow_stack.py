"""The Airflow (MWAA) stack, from the session's synthesis of config/default.yaml."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from stacks.components.mwaa_dag_files import airflow_version, mwaa_requirements, requirements_key
from tooling.requirement_pins import read_pins

pytestmark = pytest.mark.xdist_group("cdk")


@pytest.fixture(scope="module")
def airflow_json(synthesized) -> dict[str, Any]:
    return json.loads((synthesized.outdir / "mlops-gitlab-airflow.template.json").read_text())


@pytest.fixture(scope="module")
def airflow(airflow_json) -> Template:
    return Template.from_json(airflow_json)


def resources(template_json: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in template_json["Resources"].items() if value["Type"] == kind}


def statements(template_json: dict[str, Any], role_fragment: str) -> list[dict[str, Any]]:
    """Every policy statement attached to roles whose logical ID contains `role_fragment`."""
    found = []
    for policy in resources(template_json, "AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"].get("Roles", []))
        if role_fragment in roles:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def test_mwaa_runs_the_pinned_airflow_privately_with_every_log(airflow, repo_root) -> None:
    assert airflow_version() == read_pins(repo_root / "requirements-airflow.txt")["apache-airflow"] == "3.3.1"
    airflow.has_resource_properties(
        "AWS::MWAA::Environment",
        {
            "AirflowVersion": airflow_version(),
            "WebserverAccessMode": "PRIVATE_ONLY",
            "DagS3Path": "dags",
            "RequirementsS3Path": requirements_key(mwaa_requirements()),
            "NetworkConfiguration": {"SubnetIds": Match.any_value(), "SecurityGroupIds": Match.any_value()},
            "LoggingConfiguration": {
                name: {"Enabled": True, "LogLevel": "INFO"}
                for name in ("DagProcessingLogs", "SchedulerLogs", "TaskLogs", "WebserverLogs", "WorkerLogs")
            },
        },
    )


def test_the_environment_sits_in_two_private_subnets(airflow_json) -> None:
    (environment,) = resources(airflow_json, "AWS::MWAA::Environment").values()
    subnets = environment["Properties"]["NetworkConfiguration"]["SubnetIds"]
    assert len(subnets) == 2
    for reference in subnets:
        subnet = airflow_json["Resources"][reference["Ref"]]
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False


def test_dag_bucket_is_versioned_private_and_receives_the_dags_and_requirements(airflow_json, airflow) -> None:
    airflow.has_resource_properties(
        "AWS::S3::Bucket",
        {"VersioningConfiguration": {"Status": "Enabled"}, "LoggingConfiguration": {"LogFilePrefix": "mwaa-bucket/"}},
    )
    deployments = resources(airflow_json, "Custom::CDKBucketDeployment")
    prefixes = sorted(str(d["Properties"].get("DestinationBucketKeyPrefix", "")) for d in deployments.values())
    assert prefixes == ["", "dags/"]
    dags = next(d for d in deployments.values() if d["Properties"].get("DestinationBucketKeyPrefix") == "dags/")
    assert dags["Properties"]["Prune"] is True and len(dags["Properties"]["SourceObjectKeys"]) == 2


def test_ecr_repositories_are_immutable_scanned_and_pruned(airflow) -> None:
    airflow.has_resource_properties(
        "AWS::ECR::Repository",
        {
            "RepositoryName": "abalone/xgboost",
            "ImageTagMutability": "IMMUTABLE",
            "ImageScanningConfiguration": {"ScanOnPush": True},
            "EncryptionConfiguration": {"EncryptionType": "KMS"},
            "LifecyclePolicy": {"LifecyclePolicyText": Match.string_like_regexp("untagged")},
        },
    )


def test_trigger_lambda_is_in_the_vpc_and_may_invoke_only_its_environment_as_user(airflow_json, airflow) -> None:
    airflow.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "mwaa_dag_trigger.handler.handler",
            "VpcConfig": {"SubnetIds": Match.any_value(), "SecurityGroupIds": Match.any_value()},
            "Environment": {
                "Variables": Match.object_like(
                    {"MWAA_ENVIRONMENT_NAME": "mlops-airflow", "ALLOWED_DAGS": "mlops_training,mlops_deployment"}
                )
            },
            "DeadLetterConfig": Match.any_value(),
            "ReservedConcurrentExecutions": 10,
        },
    )
    invoke = [s for s in statements(airflow_json, "DagTrigger") if s["Action"] == "airflow:InvokeRestApi"]
    assert len(invoke) == 1
    assert invoke[0]["Resource"] == "arn:aws:airflow:eu-west-1:111111111111:role/mlops-airflow/User"


def test_notifications_have_email_subscriptions_and_a_slack_secret_without_its_url(airflow_json, airflow) -> None:
    airflow.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ml-team@example.com"})
    airflow.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "Name": "mlops/airflow/slack-webhook",
            "GenerateSecretString": Match.any_value(),
            "KmsKeyId": Match.any_value(),
        },
    )
    assert "hooks.slack.com" not in json.dumps(airflow_json)
    for secret in resources(airflow_json, "AWS::SecretsManager::Secret").values():
        assert "SecretString" not in secret["Properties"]


def test_dashboard_watches_the_endpoint_and_the_evaluation_metrics(airflow_json) -> None:
    (dashboard,) = resources(airflow_json, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in (
        "Invocations",
        "p50",
        "p90",
        "p99",
        "Invocation4XXErrors",
        "Invocation5XXErrors",
        "CPUUtilization",
        "MemoryUtilization",
        "GPUUtilization",
        "MLOps/Models",
        "abalone-xgboost",
    ):
        assert needle in body, needle
    assert dashboard["Properties"]["DashboardName"] == "mlops-gitlab-abalone"


def test_ci_role_trusts_only_the_mlops_repositorys_default_branch(airflow) -> None:
    airflow.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Action": "sts:AssumeRoleWithWebIdentity",
                            "Condition": {
                                "StringEquals": {
                                    "gitlab.example.com:aud": "sts.amazonaws.com",
                                    "gitlab.example.com:sub": (
                                        "project_path:ml-team/abalone-xgboost-mlops:ref_type:branch:ref:main"
                                    ),
                                }
                            },
                        }
                    )
                ]
            }
        },
    )


def test_mwaa_may_touch_only_this_projects_sagemaker_resources(airflow_json) -> None:
    granted = statements(airflow_json, "MwaaExecutionRole")
    sagemaker = [s for s in granted if any(str(a).startswith("sagemaker:") for a in _list(s["Action"]))]
    wildcard = [s for s in sagemaker if s["Resource"] == "*"]
    assert all(
        set(_list(s["Action"])) <= {"sagemaker:ListTrainingJobs", "sagemaker:ListProcessingJobs"} for s in wildcard
    )
    named = json.dumps([s["Resource"] for s in sagemaker if s["Resource"] != "*"])
    for kind in (
        "training-job/abalone-*",
        "processing-job/abalone-*",
        "endpoint/abalone-*",
        "model-package-group/abalone-xgboost",
    ):
        assert kind in named, kind
    pass_role = next(s for s in granted if s["Action"] == "iam:PassRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_platform_file_is_deployed_with_deploy_time_values(airflow_json) -> None:
    deployments = resources(airflow_json, "Custom::CDKBucketDeployment").values()
    dags = next(d for d in deployments if d["Properties"].get("DestinationBucketKeyPrefix") == "dags/")
    markers = json.dumps(dags["Properties"].get("SourceMarkers", []))
    assert "Notifications" in markers and "SageMakerRole" in markers


def test_checkov_skips_carry_reasons(airflow_json) -> None:
    for logical_id, resource in airflow_json["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip["comment"]) >= 20, (logical_id, skip)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
