"""Seed-code check-in: a custom resource that creates the two GitLab projects and seeds them.

The Lambda runs behind the CDK `Provider` framework, which reports every exception to
CloudFormation with its message, so a failed launch shows why and never waits for a timeout.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import custom_resources as cr
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.gitlab_api_function import gitlab_api_function

ATTRIBUTES = (
    "ModelBuildProjectId",
    "ModelBuildProjectUrl",
    "ModelBuildProjectPath",
    "ModelDeployProjectId",
    "ModelDeployProjectUrl",
    "ModelDeployProjectPath",
)


def ci_variables(values: dict[str, str], *, masked: frozenset[str] = frozenset()) -> list[dict[str, str]]:
    """CI/CD variable list in the custom resource's property format (booleans as strings)."""
    return [
        {"Key": key, "Value": value, "Masked": str(key in masked).lower(), "Protected": "false"}
        for key, value in values.items()
    ]


class SeedCodeCheckin(Construct):
    """Creates the model build and deploy GitLab projects and pushes their seed code."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        gitlab_server_url: str,
        token_secret_name: str,
        group_id: str,
        model_build_repo_name: str,
        model_deploy_repo_name: str,
        default_branch: str,
        project_name: str,
        project_id: str,
        model_build_seed: s3_assets.Asset,
        model_deploy_seed: s3_assets.Asset,
        model_build_variables: list[dict[str, str]],
        model_deploy_variables: list[dict[str, str]],
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = gitlab_api_function(
            self,
            package="seed_code_checkin",
            handler="on_event",
            description="Creates the SageMaker project's GitLab repositories and pushes the seed code",
            token_secret_name=token_secret_name,
            # Well under the Provider's total timeout: a hung GitLab fails the resource with a reason.
            timeout=cdk.Duration.minutes(5),
            memory_size=512,
            environment={"POWERTOOLS_SERVICE_NAME": "seed-code-checkin"},
        )
        model_build_seed.grant_read(self.function)
        model_deploy_seed.grant_read(self.function)

        self.provider_logs = logs.LogGroup(self, "ProviderLogs", retention=logs.RetentionDays.ONE_YEAR)
        self.provider = cr.Provider(self, "Provider", on_event_handler=self.function, log_group=self.provider_logs)
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type="Custom::GitLabSeedCode",
            properties={
                "GitLabServerUrl": gitlab_server_url,
                "GitLabTokenSecretName": token_secret_name,
                "GitLabGroupId": group_id,
                "ModelBuildRepoName": model_build_repo_name,
                "ModelDeployRepoName": model_deploy_repo_name,
                "DefaultBranch": default_branch,
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
                "ModelBuildVariables": model_build_variables,
                "ModelDeployVariables": model_deploy_variables,
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

    def attribute(self, name: str) -> str:
        """One of the custom resource's returned attributes (see `ATTRIBUTES`)."""
        if name not in ATTRIBUTES:
            raise KeyError(f"unknown seed-code attribute {name!r}; expected one of {ATTRIBUTES}")
        return self.resource.get_att_string(name)
