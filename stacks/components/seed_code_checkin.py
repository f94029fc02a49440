"""Seed-code check-in: a custom resource that creates the two GitLab projects and seeds them.

The Lambda runs behind the CDK `Provider` framework, which reports every exception to
CloudFormation with its message, so a failed launch shows why and never waits for a timeout.
The same function serves `Custom::ProjectNames` (the project's names lower-cased, as SageMaker
writes them in ARNs), which the project's IAM policies use.

The Provider framework logs each request's ResourceProperties, and anyone who may describe the
stack sees them: they hold the token secret's ARN, never a secret value.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import custom_resources as cr
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.checkov import skip_checks
from stacks.components.gitlab_api_function import CONCURRENCY_REASON, gitlab_api_function
from stacks.config import GitLabConnection

ATTRIBUTES = (
    "ModelBuildProjectId",
    "ModelBuildProjectUrl",
    "ModelBuildProjectPath",
    "ModelDeployProjectId",
    "ModelDeployProjectUrl",
    "ModelDeployProjectPath",
)


def ci_variables(
    values: dict[str, str], *, masked: frozenset[str] = frozenset(), protected: frozenset[str] = frozenset()
) -> list[dict[str, str]]:
    """CI/CD variable list in the custom resource's property format (booleans as strings).

    `protected` variables reach only pipelines of protected branches and tags; `masked` ones are
    hidden in job logs (GitLab masks only single-line values of at least 8 characters).
    """
    unknown = (masked | protected) - values.keys()
    if unknown:
        raise KeyError(f"masked/protected variables {sorted(unknown)} are not among {sorted(values)}")
    return [
        {
            "Key": key,
            "Value": value,
            "Masked": str(key in masked).lower(),
            "Protected": str(key in protected).lower(),
        }
        for key, value in values.items()
    ]


class SeedCodeCheckin(Construct):
    """Creates the model build and deploy GitLab projects and pushes their seed code."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        connections: Sequence[GitLabConnection],
        gitlab_server_url: str,
        token_secret_arn: str,
        namespace: str,
        group_id: str,
        model_build_repo_name: str,
        model_deploy_repo_name: str,
        default_branch: str,
        project_name: str,
        project_id: str,
        model_build_seed: s3_assets.Asset,
        model_deploy_seed: s3_assets.Asset,
        key: kms.IKey,
        on_delete: str = "keep",
    ) -> None:
        """The repositories' CI/CD variables are set afterwards (`set_variables`): they name the
        project's roles, whose policies use this construct's lower-cased names."""
        super().__init__(scope, construct_id)
        self.function = gitlab_api_function(
            self,
            package="seed_code_checkin",
            handler="on_event",
            description="Creates the SageMaker project's GitLab repositories and pushes the seed code",
            connections=connections,
            key=key,
            # Well under the Provider's total timeout: a hung GitLab fails the resource with a reason.
            timeout=cdk.Duration.minutes(5),
            memory_size=512,
            environment={"POWERTOOLS_SERVICE_NAME": "seed-code-checkin"},
        )
        skip_checks(
            self.function,
            {
                "CKV_AWS_116": (
                    "Called by the Provider framework's function, synchronously; a dead-letter queue only "
                    "receives failed asynchronous invocations, and every failure is reported to CloudFormation."
                )
            },
        )
        model_build_seed.grant_read(self.function)
        model_deploy_seed.grant_read(self.function)

        self.provider_logs = logs.LogGroup(
            self, "ProviderLogs", retention=logs.RetentionDays.ONE_YEAR, encryption_key=key
        )
        self.provider = cr.Provider(self, "Provider", on_event_handler=self.function, log_group=self.provider_logs)
        self._skip_framework_checks()
        self.project_names = cdk.CustomResource(
            self,
            "ProjectNames",
            service_token=self.provider.service_token,
            resource_type="Custom::ProjectNames",
            properties={"SageMakerProjectName": project_name, "SageMakerProjectId": project_id},
        )
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type="Custom::GitLabSeedCode",
            properties={
                "GitLabServerUrl": gitlab_server_url,
                "GitLabTokenSecretArn": token_secret_arn,
                "GitLabRepositoryNamespace": namespace,
                "GitLabGroupId": group_id,
                "ModelBuildRepoName": model_build_repo_name,
                "ModelDeployRepoName": model_deploy_repo_name,
                "DefaultBranch": default_branch,
                "OnDelete": on_delete,
                "SageMakerProjectName": project_name,
                "SageMakerProjectId": project_id,
                "ModelBuildSeedCode": {
                    "Bucket": model_build_seed.s3_bucket_name,
                    "Key": model_build_seed.s3_object_key,
                },
                "ModelDeploySeedCode": {
                    "Bucket": model_deploy_seed.s3_bucket_name,
                    "Key": model_deploy_seed.s3_object_key,
                },
            },
        )
        NagSuppressions.add_resource_suppressions(
            self,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": (
                        "The Provider framework's function uses AWSLambdaBasicExecutionRole, the "
                        "AWS-maintained minimum for its logs."
                    ),
                    "applies_to": [
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                    ],
                },
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "Wildcards are limited to the seed-code asset objects and the Provider "
                        "framework's own function versions."
                    ),
                    "applies_to": [
                        "Action::s3:GetBucket*",
                        "Action::s3:GetObject*",
                        "Action::s3:List*",
                        {"regex": "/^Resource::arn:aws:s3:::.*$/g"},
                        {"regex": "/^Resource::<SeedCodeCheckinFunction[0-9A-F]+\\.Arn>:\\*$/g"},
                    ],
                },
                {
                    "id": "AwsSolutions-L1",
                    "reason": (
                        "The Provider framework pins its own Node.js runtime; our function uses the "
                        "newest Python runtime the bundling targets."
                    ),
                },
            ],
            apply_to_children=True,
        )

    def set_variables(self, *, model_build: list[dict[str, str]], model_deploy: list[dict[str, str]]) -> None:
        """The CI/CD variables of each repository (see `ci_variables`)."""
        resource: cdk.CfnResource = self.resource.node.default_child  # type: ignore[assignment]
        resource.add_property_override("ModelBuildVariables", model_build)
        resource.add_property_override("ModelDeployVariables", model_deploy)

    def _skip_framework_checks(self) -> None:
        """checkov findings on CDK's Provider framework function that do not apply to it."""
        framework = self.provider.node.find_child("framework-onEvent")
        skip_checks(
            framework,
            {
                "CKV_AWS_115": CONCURRENCY_REASON,
                "CKV_AWS_116": (
                    "CDK's Provider framework function answers CloudFormation itself on every failure (FAILED with "
                    "the reason); the response URL of a request expires with the stack operation, so a "
                    "dead-lettered request could not be replayed."
                ),
                "CKV_AWS_117": (
                    "CDK's Provider framework function only invokes the check-in function and answers "
                    "CloudFormation's pre-signed S3 URL; the GitLab traffic runs in the check-in function, which "
                    "joins the VPC when SubnetIds is set."
                ),
                "CKV_AWS_173": (
                    "CDK's Provider framework function's environment holds only the ARN of the function it calls; "
                    "CDK exposes no setting to encrypt it with a customer key."
                ),
            },
        )

    @property
    def name_lower(self) -> str:
        """The project name, lower-cased (as in SageMaker ARNs)."""
        return self.project_names.get_att_string("NameLower")

    @property
    def prefix_lower(self) -> str:
        """`<project name>-<project id>`, lower-cased (as in SageMaker ARNs)."""
        return self.project_names.get_att_string("PrefixLower")

    def attribute(self, name: str) -> str:
        """One of the custom resource's returned attributes (see `ATTRIBUTES`)."""
        if name not in ATTRIBUTES:
            raise KeyError(f"unknown seed-code attribute {name!r}; expected one of {ATTRIBUTES}")
        return self.resource.get_att_string(name)
