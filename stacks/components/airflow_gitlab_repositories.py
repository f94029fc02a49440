"""GitLab side of the Airflow variant, per model: the CI role of its MLOps repository and, optionally,
both repositories created and seeded by the seed-code check-in (`seedcode/airflow-model`,
`seedcode/airflow-mlops`).

Repositories: `<namespace>/<project>-<model>` (the model code; its pipeline triggers the MLOps
pipeline) and `<namespace>/<project>-<model>-mlops` (lint, image, DAG triggers). The CI role trusts
GitLab OIDC tokens of the MLOps repository's default branch only, and may: push and read images of
`<project>/<model>`, read and write the artifact bucket's `<project>/<model>/` prefix (image
manifests), approve versions of the `<project>-<model>` model package group, invoke the DAG trigger.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as s3_assets
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.airflow_ci_variables import mlops_repository_variables, model_repository_variables
from stacks.components.artifact_bucket import ArtifactBucket
from stacks.components.checkov import DEPLOY_TIME_FUNCTION_SKIPS, skip_checks
from stacks.components.log_encryption_key import LogEncryptionKey
from stacks.components.mwaa_dag_trigger import MwaaDagTrigger
from stacks.components.private_network import PrivateNetwork
from stacks.components.project_roles import gitlab_oidc_principal
from stacks.components.seed_code_checkin import SeedCodeCheckin, ci_variables
from stacks.config import GitLabConfig

SEEDCODE_DIR = Path(__file__).resolve().parents[2] / "seedcode"
SEED_EXCLUDES = ["**/__pycache__", "**/*.pyc", ".pytest_cache", ".venv", ".gitlab-ci-local", "**/.local-run", "build"]


def model_repository_name(project: str, model: str) -> str:
    """GitLab repository of the model's code."""
    return f"{project}-{model}"


def mlops_repository_name(project: str, model: str) -> str:
    """GitLab repository of the model's MLOps pipeline."""
    return f"{project}-{model}-mlops"


class AirflowGitLabRepositories(Construct):
    """CI role (and seeded repositories) of one model."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        gitlab: GitLabConfig,
        oidc_provider_arn: str,
        project: str,
        model: str,
        repository: ecr.IRepository,
        artifacts: ArtifactBucket,
        trigger: MwaaDagTrigger,
        seed: bool,
        base_image_uri: str,
        network: PrivateNetwork,
        logs_key: LogEncryptionKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        group = f"{project}-{model}"
        # The platform's first GitLab connection hosts the Airflow variant's repositories.
        connection = gitlab.connections[0]
        mlops_path = f"{connection.namespace}/{mlops_repository_name(project, model)}"
        self.ci_role = iam.Role(
            self,
            "MlopsCiRole",
            assumed_by=gitlab_oidc_principal(
                provider_arn=oidc_provider_arn,
                provider_host=gitlab.host,
                audience=gitlab.oidc_audience,
                project_path=mlops_path,
                branch=gitlab.default_branch,
            ),
            description=f"GitLab CI of {mlops_path} (default branch): image, manifests, approval, DAG triggers",
            max_session_duration=cdk.Duration.hours(1),
        )
        repository.grant_pull_push(self.ci_role)
        repository.grant(self.ci_role, "ecr:DescribeImages", "ecr:ListImages")
        artifacts.bucket.grant_read_write(self.ci_role, f"{project}/{model}/*")
        trigger.grant_invoke(self.ci_role)
        self.ci_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:ListModelPackages",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:UpdateModelPackage",
                ],
                resources=[
                    stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=group),
                    stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"{group}/*"),
                ],
            )
        )
        NagSuppressions.add_resource_suppressions(
            self.ci_role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        f"Objects under {project}/{model}/ of the artifact bucket (and its key through S3), versions "
                        f"of the model package group {group}, the trigger function's versions, and "
                        "ecr:GetAuthorizationToken (no resource type)."
                    ),
                }
            ],
            apply_to_children=True,
        )
        self.checkin: SeedCodeCheckin | None = None
        self._network = network
        self._logs_key = logs_key
        if seed:
            self.checkin = self._seed(
                gitlab=gitlab,
                project=project,
                model=model,
                mlops_path=mlops_path,
                variables=mlops_repository_variables(
                    project=project,
                    model=model,
                    region=stack.region,
                    role_arn=self.ci_role.role_arn,
                    repository_uri=repository.repository_uri,
                    base_image_uri=base_image_uri,
                    artifact_bucket=artifacts.bucket.bucket_name,
                    trigger_function=trigger.function.function_name,
                ),
            )

    def _seed(
        self, *, gitlab: GitLabConfig, project: str, model: str, mlops_path: str, variables: dict[str, str]
    ) -> SeedCodeCheckin:
        def asset(construct_id: str, directory: str) -> s3_assets.Asset:
            # evaluate.py of the model seed is a link to the model build seed's: the repository gets the file.
            return s3_assets.Asset(
                self,
                construct_id,
                path=str(SEEDCODE_DIR / directory),
                exclude=SEED_EXCLUDES,
                follow_symlinks=cdk.SymlinkFollowMode.ALWAYS,
            )

        connection = gitlab.connections[0]
        checkin = SeedCodeCheckin(
            self,
            "SeedCodeCheckin",
            connections=gitlab.connections,
            gitlab_server_url=connection.server_url,
            token_secret_arn=connection.token_secret_arn,
            namespace=connection.namespace,
            group_id=connection.group_id,
            # The check-in's two slots: the model repository, then the MLOps repository, which is the
            # one that receives pipeline variables (those its upstream trigger passes).
            model_build_repo_name=model_repository_name(project, model),
            model_deploy_repo_name=mlops_repository_name(project, model),
            default_branch=gitlab.default_branch,
            project_name=f"{project}-{model}",
            project_id="airflow",
            model_build_seed=asset("ModelSeedCode", "airflow-model"),
            model_deploy_seed=asset("MlopsSeedCode", "airflow-mlops"),
            key=self._logs_key.key,
        )
        checkin.set_variables(
            model_build=ci_variables(
                model_repository_variables(project=project, model=model, mlops_project_path=mlops_path)
            ),
            # The role is protected as well as masked: only pipelines of protected branches may use AWS.
            model_deploy=ci_variables(
                variables, masked=frozenset({"AWS_ROLE_ARN"}), protected=frozenset({"AWS_ROLE_ARN"})
            ),
        )
        self._harden_checkin(checkin)
        return checkin

    def _harden_checkin(self, checkin: SeedCodeCheckin) -> None:
        """Run the check-in in the private subnets (GitLab through the NAT gateway, or a self-hosted
        GitLab reachable from the VPC), encrypt its logs, and record why the remaining checks do not apply."""
        security_group = ec2.SecurityGroup(
            self,
            "CheckinSecurityGroup",
            vpc=self._network.vpc,
            description="Seed-code check-in: HTTPS to GitLab and AWS APIs only",
            allow_all_outbound=False,
        )
        security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "GitLab and AWS APIs (HTTPS)")
        function: lambda_.CfnFunction = checkin.function.node.default_child  # type: ignore[assignment]
        function.vpc_config = lambda_.CfnFunction.VpcConfigProperty(
            subnet_ids=self._network.private_subnet_ids, security_group_ids=[security_group.security_group_id]
        )
        checkin.function.role.add_managed_policy(  # type: ignore[union-attr]
            iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaVPCAccessExecutionRole")
        )
        NagSuppressions.add_resource_suppressions(
            checkin.function.role,  # type: ignore[arg-type]
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "AWSLambdaVPCAccessExecutionRole is the AWS-maintained minimum for the network "
                    "interfaces of a function in a VPC.",
                    "applies_to": [
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
                    ],
                }
            ],
        )
        for log_group in (checkin.node.find_child("Logs"), checkin.provider_logs):
            self._logs_key.encrypt(log_group)  # type: ignore[arg-type]
        skip_checks(
            checkin.function,
            {
                "CKV_AWS_116": "Invoked synchronously by the custom-resource Provider, which reports every failure "
                "to CloudFormation with its reason: a DLQ would stay empty.",
            },
        )
        # The Provider framework's own function, CDK-managed, runs only while CloudFormation deploys.
        skip_checks(checkin.provider.node.find_child("framework-onEvent"), DEPLOY_TIME_FUNCTION_SKIPS)
