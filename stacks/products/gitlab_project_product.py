"""The SageMaker project template "MLOps with GitLab": one ProductStack per product version.

Launched from SageMaker Studio, it creates the project's artifact bucket, model package group,
roles, the two seeded GitLab repositories (seed-code check-in custom resource) and the trigger
that starts the deploy pipeline when a model version is approved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_servicecatalog as servicecatalog
from constructs import Construct

from stacks.components.artifact_bucket import ArtifactBucket
from stacks.components.gitlab_connections import connection_choice
from stacks.components.gitlab_trigger import GitLabTrigger
from stacks.components.ml_core_images import ML_CORE_IMAGES
from stacks.components.model_registry import ModelRegistry
from stacks.components.operations_key import operations_key
from stacks.components.optional_vpc import OptionalVpc
from stacks.components.parameters import string_parameter
from stacks.components.project_roles import ProjectRoles
from stacks.components.redshift_ml_role import RedshiftMlRole
from stacks.components.seed_code_checkin import SeedCodeCheckin, ci_variables
from stacks.config import InstanceTypes, PlatformConfig

SEEDCODE_DIR = Path(__file__).resolve().parents[2] / "seedcode"
# CI/CD variables naming roles a pipeline assumes: protected (only protected branches see them).
AWS_ACCESS_VARIABLES = frozenset({"AWS_ROLE_ARN", "DEPLOY_ROLE_ARN_STAGING", "DEPLOY_ROLE_ARN_PROD"})
# Local run state, caches and virtual environments never travel into the seeded repositories.
SEED_EXCLUDES = [
    "**/__pycache__",
    "**/*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".venv",
    ".gitlab-ci-local",
    "**/.local-run",
    "build",
]
# SageMaker project names: 1-32 characters, alphanumerics and hyphens, starting alphanumeric.
PROJECT_NAME_PATTERN = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$"
REPO_NAME_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,99}$"


class GitLabProjectProduct(servicecatalog.ProductStack):
    """Product template of the SageMaker project with GitLab repositories and CI."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        asset_bucket: s3.IBucket,
        oidc_provider_arn: str,
        permissions_boundary_arn: str,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            asset_bucket=asset_bucket,
            description="SageMaker project template: model build and deploy with GitLab CI",
        )
        gitlab = config.gitlab
        p = self._parameters(config)
        connection = connection_choice(self, gitlab.connections)
        project_name = p["SageMakerProjectName"].value_as_string
        project_id = p["SageMakerProjectId"].value_as_string
        prefix = f"{project_name}-{project_id}"
        # Every role this template creates is capped by the platform's permissions boundary, which
        # the launch role must attach (it may create no role without it).
        iam.PermissionsBoundary.of(self).apply(
            iam.ManagedPolicy.from_managed_policy_arn(self, "PermissionsBoundary", permissions_boundary_arn)
        )
        key = operations_key(
            self,
            "OperationsKey",
            description="Encrypts the SageMaker project's Lambda logs and settings, approval records and dead letters",
        )

        artifacts = ArtifactBucket(self, "Artifacts", bucket_name=f"sagemaker-project-{project_id}-artifacts")
        seed = SeedCodeCheckin(
            self,
            "SeedCodeCheckin",
            connections=gitlab.connections,
            gitlab_server_url=connection.server_url,
            token_secret_arn=connection.token_secret_arn,
            namespace=connection.namespace,
            group_id=connection.group_id,
            model_build_repo_name=p["ModelBuildRepoName"].value_as_string,
            model_deploy_repo_name=p["ModelDeployRepoName"].value_as_string,
            default_branch=gitlab.default_branch,
            project_name=project_name,
            project_id=project_id,
            model_build_seed=self._seed_asset("ModelBuildSeedCode", "model-build"),
            model_deploy_seed=self._seed_asset("ModelDeploySeedCode", "model-deploy"),
            key=key,
            on_delete=gitlab.on_project_delete,
        )
        registry = ModelRegistry(
            self,
            "ModelRegistry",
            group_name=prefix,
            arn_name=seed.prefix_lower,
            description=f"Model versions of SageMaker project {project_name}",
        )
        roles = ProjectRoles(
            self,
            "Roles",
            project_name=project_name,
            project_id=project_id,
            name_lower=seed.name_lower,
            prefix_lower=seed.prefix_lower,
            artifacts=artifacts,
            registry=registry,
            oidc_provider_arn=oidc_provider_arn,
            oidc_provider_host=gitlab.host,
            oidc_audience=gitlab.oidc_audience,
            model_build_project_path=f"{connection.namespace}/{p['ModelBuildRepoName'].value_as_string}",
            model_deploy_project_path=f"{connection.namespace}/{p['ModelDeployRepoName'].value_as_string}",
            default_branch=gitlab.default_branch,
            deploy_ci_role_path=config.deploy_ci_role_path,
        )
        deploy_targets = self._cross_account_targets(config, artifacts=artifacts, registry=registry, roles=roles)
        redshift = config.redshift_ml
        if redshift is not None:
            redshift_role = RedshiftMlRole(
                self,
                "RedshiftMl",
                cluster_identifier=redshift.cluster_identifier,
                database_users=list(redshift.database_users),
                endpoint_names=[f"{seed.name_lower}-{stage}" for stage in redshift.stages],
                description=f"Redshift ML remote inference on the endpoints of SageMaker project {prefix}",
            )
            # The deploy job writes the CREATE MODEL SQL naming this role (redshift_sql.py).
            deploy_targets["REDSHIFT_ML_ROLE_ARN"] = redshift_role.role.role_arn
            cdk.CfnOutput(self, "RedshiftMlRoleArn", value=redshift_role.role.role_arn)
        self._set_variables(
            seed,
            p,
            artifacts=artifacts,
            roles=roles,
            prefix=prefix,
            deploy_targets=deploy_targets,
            instance_types=config.instance_types,
        )
        # The seed commit starts the build pipeline at once: the CI roles' policies must exist by then.
        seed.resource.node.add_dependency(roles)

        trigger = GitLabTrigger(
            self,
            "GitLabTrigger",
            # Project names are at most 32 and IDs 16 characters: the name stays within EventBridge's 64.
            rule_name=f"{prefix}-approved",
            model_package_group_name=prefix,
            connections=gitlab.connections,
            gitlab_server_url=connection.server_url,
            token_secret_arn=connection.token_secret_arn,
            deploy_project_id=seed.attribute("ModelDeployProjectId"),
            deploy_branch=gitlab.default_branch,
            key=key,
        )
        vpc = OptionalVpc(self, "OptionalVpc", subnet_ids=p["SubnetIds"], security_group_id=p["SecurityGroupId"])
        vpc.apply(seed.function)
        vpc.apply(trigger.function)

        for name in ("ModelBuildProjectUrl", "ModelDeployProjectUrl", "ModelDeployProjectId"):
            cdk.CfnOutput(self, name, value=seed.attribute(name))
        cdk.CfnOutput(self, "ArtifactBucketName", value=artifacts.bucket.bucket_name)
        cdk.CfnOutput(self, "ModelPackageGroupName", value=prefix)
        cdk.CfnOutput(self, "ApprovalRuleName", value=trigger.rule.rule_name)

    def _set_variables(
        self,
        seed: SeedCodeCheckin,
        p: dict[str, cdk.CfnParameter],
        *,
        artifacts: ArtifactBucket,
        roles: ProjectRoles,
        prefix: str,
        deploy_targets: dict[str, str],
        instance_types: InstanceTypes,
    ) -> None:
        """The CI/CD variables of both repositories, set on the check-in resource.

        Variables that let a pipeline reach AWS (the roles it assumes) are protected: only
        pipelines of protected branches see them, the same branch the roles' OIDC trust names.
        The OIDC role ARN is masked too (role chains cannot be: GitLab masks no commas).
        """
        common = {
            "SAGEMAKER_PROJECT_NAME": p["SageMakerProjectName"].value_as_string,
            "SAGEMAKER_PROJECT_ID": p["SageMakerProjectId"].value_as_string,
            "AWS_REGION": self.region,
            "ARTIFACT_BUCKET": artifacts.bucket.bucket_name,
            "MODEL_PACKAGE_GROUP_NAME": prefix,
            **{image.ci_variable: p[image.template_parameter].value_as_string for image in ML_CORE_IMAGES},
        }
        build = {
            **common,
            "AWS_ROLE_ARN": roles.build_ci_role.role_arn,
            "SAGEMAKER_PIPELINE_ROLE_ARN": roles.pipeline_role.role_arn,
            "PROCESSING_INSTANCE_TYPE": instance_types.processing,
            "TRAINING_INSTANCE_TYPE": instance_types.training,
        }
        deploy = {
            **common,
            "AWS_ROLE_ARN": roles.deploy_ci_role.role_arn,
            "SAGEMAKER_EXECUTION_ROLE_ARN": roles.endpoint_role.role_arn,
            "STAGING_INSTANCE_TYPE": instance_types.staging_endpoint,
            "PROD_INSTANCE_TYPE": instance_types.prod_endpoint,
            **deploy_targets,
        }
        masked = frozenset({"AWS_ROLE_ARN"})
        seed.set_variables(
            model_build=ci_variables(build, masked=masked, protected=frozenset(AWS_ACCESS_VARIABLES & build.keys())),
            model_deploy=ci_variables(deploy, masked=masked, protected=frozenset(AWS_ACCESS_VARIABLES & deploy.keys())),
        )

    @staticmethod
    def _cross_account_targets(
        config: PlatformConfig, *, artifacts: ArtifactBucket, registry: ModelRegistry, roles: ProjectRoles
    ) -> dict[str, str]:
        """With `multi_account` configured, let the deploy repo promote into staging and production.

        The target accounts' `sagemaker-role-<suffix>` trusts only the platform's pipeline role, so
        a deploy job chains: its OIDC role -> that pipeline role -> the target role. Returns the
        deploy repo's per-stage CI variables (empty without `multi_account`).
        """
        multi = config.multi_account
        if multi is None:
            return {}
        artifacts.grant_cross_account_read(list(multi.target_accounts))
        registry.grant_cross_account_read(list(multi.target_accounts))
        pipeline_role = f"arn:aws:iam::{config.account}:role/{config.multi_account_pipeline_role_name}"
        roles.deploy_ci_role.add_to_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[pipeline_role]))
        variables = {}
        for stage, account in (("STAGING", multi.staging_account), ("PROD", multi.prod_account)):
            variables[f"DEPLOY_ROLE_ARN_{stage}"] = (
                f"{pipeline_role},arn:aws:iam::{account}:role/{multi.target_role_name}"
            )
            variables[f"SAGEMAKER_EXECUTION_ROLE_ARN_{stage}"] = (
                f"arn:aws:iam::{account}:role/{multi.execution_role_name}"
            )
        return variables

    def _parameters(self, config: PlatformConfig) -> dict[str, cdk.CfnParameter]:
        def param(name: str, description: str, **constraints: Any) -> cdk.CfnParameter:
            return string_parameter(self, name, description, **constraints)

        return {
            "SageMakerProjectName": param(
                "SageMakerProjectName",
                "Name of the project (set by SageMaker)",
                min_length=1,
                max_length=32,
                allowed_pattern=PROJECT_NAME_PATTERN,
                constraint_description="1-32 letters, digits and hyphens, starting with a letter or digit",
            ),
            "SageMakerProjectId": param(
                "SageMakerProjectId",
                "Service-generated ID of the project (set by SageMaker)",
                min_length=1,
                max_length=16,
            ),
            "ModelBuildRepoName": param(
                "ModelBuildRepoName", "Name of the model build repository to create", allowed_pattern=REPO_NAME_PATTERN
            ),
            "ModelDeployRepoName": param(
                "ModelDeployRepoName",
                "Name of the model deploy repository to create",
                allowed_pattern=REPO_NAME_PATTERN,
            ),
            "SubnetIds": param(
                "SubnetIds",
                "Optional comma-separated subnet IDs that put both Lambdas in a VPC (self-hosted GitLab)",
                default="",
                allowed_pattern="^(subnet-[0-9a-f]+(,subnet-[0-9a-f]+)*)?$",
            ),
            "SecurityGroupId": param(
                "SecurityGroupId",
                "Security group of both Lambdas when SubnetIds is set",
                default="",
                allowed_pattern="^(sg-[0-9a-f]+)?$",
            ),
            # The platform stack publishes each image's URI in SSM; CloudFormation resolves it at launch.
            **{
                image.template_parameter: cdk.CfnParameter(
                    self,
                    image.template_parameter,
                    type="AWS::SSM::Parameter::Value<String>",
                    default=image.parameter_name(config.name),
                    description=f"SSM parameter holding the {image.title} image URI",
                )
                for image in ML_CORE_IMAGES
            },
        }

    def _seed_asset(self, construct_id: str, repo: str) -> s3_assets.Asset:
        path = SEEDCODE_DIR / repo
        if not path.is_dir():
            raise FileNotFoundError(f"seed code directory {path} is missing")
        return s3_assets.Asset(self, construct_id, path=str(path), exclude=SEED_EXCLUDES)
