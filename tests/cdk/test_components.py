"""Construct-level tests: each main component alone in a bare Stack, its properties and its defaults.

The whole-app tests (test_gitlab_project_product.py, ...) check how the stacks compose the
components; these check what each component guarantees on its own, whoever uses it.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk.assertions import Match, Template

from stacks.components.artifact_bucket import ArtifactBucket
from stacks.components.gitlab_trigger import GitLabTrigger
from stacks.components.seed_code_checkin import SeedCodeCheckin
from stacks.components.target_account_role import TargetAccountRoles
from stacks.config import GitLabConnection

pytestmark = pytest.mark.xdist_group("cdk")

ACCOUNT, REGION = "111111111111", "eu-west-1"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:mlops/gitlab-token-AbCdEf"
CONNECTION = GitLabConnection(
    name="ml-team", server_url="https://gitlab.example.com", token_secret_arn=SECRET, namespace="ml-team"
)


def bare_stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Bare", env=cdk.Environment(account=ACCOUNT, region=REGION))


def resources(template: Template, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = template.find_resources(kind)
    return found


class TestArtifactBucket:
    @pytest.fixture(scope="class")
    def template(self) -> Template:
        stack = bare_stack()
        ArtifactBucket(stack, "Artifacts", bucket_name="sagemaker-project-p-1-artifacts").grant_cross_account_read(
            ["222222222222", "333333333333"]
        )
        return Template.from_stack(stack)

    def test_encrypted_with_its_own_rotated_key_versioned_logged_and_retained(self, template: Template) -> None:
        template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
        template.has_resource(
            "AWS::S3::Bucket",
            {
                "Properties": Match.object_like(
                    {
                        "BucketName": "sagemaker-project-p-1-artifacts",
                        "BucketEncryption": {
                            "ServerSideEncryptionConfiguration": [
                                Match.object_like(
                                    {"ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})}
                                )
                            ]
                        },
                        "VersioningConfiguration": {"Status": "Enabled"},
                        "LoggingConfiguration": Match.object_like({"LogFilePrefix": "artifacts/"}),
                        "PublicAccessBlockConfiguration": Match.object_like({"BlockPublicAcls": True}),
                    }
                ),
                "DeletionPolicy": "Retain",
            },
        )
        assert len(resources(template, "AWS::S3::Bucket")) == 2  # the bucket and its access-log bucket

    def test_tls_only_and_cross_account_reads_for_exactly_the_given_accounts(self, template: Template) -> None:
        policies = [p["Properties"]["PolicyDocument"] for p in resources(template, "AWS::S3::BucketPolicy").values()]
        statements = [s for document in policies for s in document["Statement"]]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )
        cross = [s for s in statements if s.get("Sid", "").startswith("CrossAccount")]
        principals = json.dumps([s["Principal"] for s in cross])
        assert "222222222222" in principals and "333333333333" in principals
        assert {"s3:GetObject", "s3:ListBucket"} <= {a for s in cross for a in _list(s["Action"])}
        assert not any("s3:Put" in a for s in cross for a in _list(s["Action"]))

    def test_no_accounts_is_refused(self) -> None:
        with pytest.raises(ValueError, match="needs at least one account ID"):
            ArtifactBucket(bare_stack(), "Artifacts").grant_cross_account_read([])


def _list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _secrets_statements(template: Template) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in _list(statement["Action"])
    ]


class TestGitLabTrigger:
    @pytest.fixture(scope="class")
    def template(self) -> Template:
        stack = bare_stack()
        GitLabTrigger(
            stack,
            "Trigger",
            rule_name="abalone-p-1-approved",
            model_package_group_name="abalone-p-1",
            connections=[CONNECTION],
            gitlab_server_url=CONNECTION.server_url,
            token_secret_arn=SECRET,
            deploy_project_id="42",
            deploy_branch="main",
            key=kms.Key(stack, "Key"),
        )
        return Template.from_stack(stack)

    def test_rule_matches_the_groups_approval_events_and_retries_into_the_dead_letter_queue(
        self, template: Template
    ) -> None:
        (rule,) = resources(template, "AWS::Events::Rule").values()
        pattern = rule["Properties"]["EventPattern"]
        assert pattern["source"] == ["aws.sagemaker"]
        assert pattern["detail"]["ModelPackageGroupName"] == ["abalone-p-1"]
        (target,) = rule["Properties"]["Targets"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8 and "DeadLetterConfig" in target

    def test_the_function_may_read_only_the_configured_secret(self, template: Template) -> None:
        (statement,) = _secrets_statements(template)
        assert _list(statement["Resource"]) == [SECRET]

    def test_approvals_are_recorded_in_an_encrypted_table_with_expiry(self, template: Template) -> None:
        (table,) = resources(template, "AWS::DynamoDB::Table").values()
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["TimeToLiveSpecification"]["Enabled"] is True
        assert properties["SSESpecification"]["SSEEnabled"] is True


class TestSeedCodeCheckin:
    @pytest.fixture(scope="class")
    def template(self, tmp_path_factory: pytest.TempPathFactory) -> Template:
        stack = bare_stack()
        seed = tmp_path_factory.mktemp("seed")
        (seed / "README.md").write_text("seed")
        asset = s3_assets.Asset(stack, "Seed", path=str(seed))
        SeedCodeCheckin(
            stack,
            "Checkin",
            connections=[CONNECTION],
            gitlab_server_url=CONNECTION.server_url,
            token_secret_arn=SECRET,
            namespace="ml-team",
            group_id="",
            model_build_repo_name="build",
            model_deploy_repo_name="deploy",
            default_branch="main",
            project_name="abalone",
            project_id="p-1",
            model_build_seed=asset,
            model_deploy_seed=asset,
            key=kms.Key(stack, "Key"),
        )
        return Template.from_stack(stack)

    def test_a_custom_resource_behind_the_provider_framework(self, template: Template) -> None:
        (resource,) = resources(template, "Custom::GitLabSeedCode").values()
        assert resource["Properties"]["ModelBuildRepoName"] == "build"
        handlers = {f["Properties"]["Handler"] for f in resources(template, "AWS::Lambda::Function").values()}
        assert {"seed_code_checkin.handler.on_event", "framework.onEvent"} <= handlers

    def test_no_token_or_secret_value_in_its_properties_and_only_the_configured_secret_readable(
        self, template: Template
    ) -> None:
        (resource,) = resources(template, "Custom::GitLabSeedCode").values()
        rendered = json.dumps(resource["Properties"]).lower()
        assert "glpat" not in rendered and "private-token" not in rendered
        (statement,) = _secrets_statements(template)
        assert _list(statement["Resource"]) == [SECRET]


class TestTargetAccountRole:
    @pytest.fixture(scope="class")
    def template(self) -> Template:
        stack = bare_stack()
        TargetAccountRoles(
            stack,
            "Roles",
            role_suffix="mlops",
            pipeline_role_arn=f"arn:aws:iam::{ACCOUNT}:role/mlops-gitlab-multi-account-pipeline",
            data_science_account=ACCOUNT,
            resource_prefix="sagemaker-",
            artifact_bucket_prefix="sagemaker-project-",
        )
        return Template.from_stack(stack)

    def test_the_deploy_role_trusts_only_the_pipeline_role(self, template: Template) -> None:
        roles = {r["Properties"]["RoleName"]: r["Properties"] for r in resources(template, "AWS::IAM::Role").values()}
        trust = roles["sagemaker-role-mlops"]["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"] for s in trust] == [
            {"AWS": f"arn:aws:iam::{ACCOUNT}:role/mlops-gitlab-multi-account-pipeline"}
        ]
        execution = roles["sagemaker-execution-role-mlops"]["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"] for s in execution] == [{"Service": "sagemaker.amazonaws.com"}]
