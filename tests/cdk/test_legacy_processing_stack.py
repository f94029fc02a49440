"""The legacy processing stack: what it deploys and its least-privilege role.

cdk-nag, cfn-lint and checkov run over every template, this one included, in test_lint_and_nag.py.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from stacks.app_builder import add_legacy_processing_stack
from stacks.components.legacy_processing.definition import build_definition, workflow_settings
from stacks.config import load_config

pytestmark = pytest.mark.xdist_group("cdk")

STACK = "mlops-gitlab-legacy-processing"
TOKEN = "<token>"


@pytest.fixture(scope="module")
def template_json(synthesized) -> dict[str, Any]:
    return json.loads((synthesized.outdir / f"{STACK}.template.json").read_text())


@pytest.fixture(scope="module")
def template(template_json) -> Template:
    return Template.from_json(template_json)


def only(template_json: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, v) for k, v in template_json["Resources"].items() if v["Type"] == kind]
    return found


def test_app_adds_the_stack_only_with_a_legacy_processing_section(synthesized, repo_root):
    assert (synthesized.outdir / f"{STACK}.template.json").is_file()
    config = load_config(repo_root / "config" / "default.yaml")
    app = cdk.App()
    assert add_legacy_processing_stack(app, config.model_copy(update={"legacy_processing": None})) is None
    assert app.node.children == []


def test_repository_scans_on_push_keeps_tags_immutable_and_expires_images(template):
    template.has_resource_properties(
        "AWS::ECR::Repository",
        {
            "RepositoryName": "legacy-inference",
            "ImageScanningConfiguration": {"ScanOnPush": True},
            "ImageTagMutability": "IMMUTABLE",
            "EncryptionConfiguration": {"EncryptionType": "KMS", "KmsKey": Match.any_value()},
        },
    )
    repository = template.find_resources("AWS::ECR::Repository")
    (props,) = [r["Properties"] for r in repository.values()]
    rules = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert [
        (r["selection"]["tagStatus"], r["selection"]["countType"], r["selection"]["countNumber"]) for r in rules
    ] == [
        ("untagged", "sinceImagePushed", 1),
        ("any", "imageCountMoreThan", 20),
    ]


def test_state_machine_logs_everything_traces_and_has_a_backstop_timeout(template):
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {"Level": "ALL", "IncludeExecutionData": True, "Destinations": Match.any_value()},
        },
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": "/aws/vendedlogs/states/legacy-legacy-processing",
            "RetentionInDays": 365,
            "KmsKeyId": Match.any_value(),
        },
    )
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def rendered_definition(template_json: dict[str, Any]) -> dict[str, Any]:
    """The deployed DefinitionString with every CloudFormation reference shown as <token>."""
    _, machine = only(template_json, "AWS::StepFunctions::StateMachine")
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(part if isinstance(part, str) else TOKEN for part in parts))


def test_deployed_definition_is_the_one_the_emulator_tests_execute(template_json, repo_root):
    config = load_config(repo_root / "config" / "default.yaml").legacy_processing
    assert config is not None
    deployed = rendered_definition(template_json)
    # Topic, job role and repository URI are references in the template.
    repository_uri = deployed["States"]["Check_custom_image_uri"]["Choices"][1]["Not"]["And"][1]["Or"][0][
        "StringMatches"
    ]
    assert repository_uri == f"{TOKEN}.dkr.ecr.{TOKEN}.{TOKEN}/{TOKEN}:*"  # account, region, suffix, name
    expected = build_definition(
        workflow_settings(
            config,
            partition="aws",
            region="eu-west-1",
            account="111111111111",
            topic_arn=TOKEN,
            passable_role_arns=(TOKEN,),
            inference_repository_uri=repository_uri.removesuffix(":*"),
        )
    )
    assert deployed == expected
    assert deployed["States"]["WaitPreprocessing"]["Seconds"] == config.poll_interval_seconds


def statements(template_json: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    found = [
        resource["Properties"]["PolicyDocument"]["Statement"]
        for logical_id, resource in template_json["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy" and logical_id.startswith(role_prefix)
    ]
    (policy,) = found
    return list(policy)


def test_state_machine_role_is_least_privilege(template_json):
    granted = statements(template_json, "WorkflowRole")
    sagemaker, pass_role, publish, key, logs_and_xray = granted
    assert sagemaker == {
        "Action": [
            "sagemaker:AddTags",
            "sagemaker:CreateProcessingJob",
            "sagemaker:DescribeProcessingJob",
            "sagemaker:ListTags",
            "sagemaker:StopProcessingJob",
        ],
        "Effect": "Allow",
        "Resource": "arn:aws:sagemaker:eu-west-1:111111111111:processing-job/legacy-*",
    }
    assert pass_role == {
        "Action": "iam:PassRole",
        "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [next(k for k in template_json["Resources"] if k.startswith("JobRole")), "Arn"]},
    }
    assert publish["Action"] == "sns:Publish" and set(publish["Resource"]) == {"Ref"}
    assert key["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert all(action.startswith(("logs:", "xray:")) for action in logs_and_xray["Action"])
    assert not any(s.get("Action") in ("*", "sagemaker:*", "iam:*") for s in granted)
    assert not any(
        action.startswith("events:")
        for s in granted
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    )


def test_state_machine_role_trusts_step_functions_of_this_account_only(template_json):
    roles = {k: v for k, v in template_json["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    (trust,) = [
        v["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        for k, v in roles.items()
        if k.startswith("WorkflowRole")
    ]
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"}},
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
        }
    ]


def test_job_role_reads_and_writes_only_the_configured_buckets(template_json):
    granted = statements(template_json, "JobRole")
    s3 = [
        s
        for s in granted
        if any(str(a).startswith("s3:") for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    ]
    assert s3 == [
        {"Action": "s3:ListBucket", "Effect": "Allow", "Resource": "arn:aws:s3:::mlops-legacy-data-111111111111"},
        {
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Effect": "Allow",
            "Resource": "arn:aws:s3:::mlops-legacy-data-111111111111/*",
        },
    ]
