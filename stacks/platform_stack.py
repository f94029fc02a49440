"""The platform stack: the SageMaker project portfolio and everything its products share."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_servicecatalog as servicecatalog
from cdk_nag import NagSuppressions
from constructs import Construct, IConstruct

from stacks.components.access_log_bucket import access_log_bucket
from stacks.components.checkov import skip_checks
from stacks.components.launch_role import PLATFORM_TAG, ProductLaunchRole
from stacks.components.ml_core_images import publish_images
from stacks.components.multi_account_launch_permissions import MultiAccountLaunchPermissions
from stacks.components.multi_account_pipeline_role import MultiAccountPipelineRole
from stacks.components.permissions_boundary import ProjectPermissionsBoundary
from stacks.components.s3_project_templates import S3ProjectTemplates
from stacks.config import PlatformConfig
from stacks.products.gitlab_project_product import GitLabProjectProduct
from stacks.products.multi_account_product import PRODUCT_NAME as MULTI_ACCOUNT_PRODUCT_NAME
from stacks.products.multi_account_product import MultiAccountProduct

STUDIO_VISIBILITY_TAG = "sagemaker:studio-visibility"


class PlatformStack(cdk.Stack):
    """Service Catalog portfolio with the GitLab project template, the OIDC provider and images."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config

        asset_logs = access_log_bucket(self, "ProductAssetLogs")
        # ProductStack assets must live in a bucket with a literal name (the product template refers to it).
        self.product_assets = s3.Bucket(
            self,
            "ProductAssets",
            bucket_name=config.product_asset_bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=asset_logs,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

        self.oidc_provider_arn = self._oidc_provider()
        publish_images(self, images=config.images, platform_name=config.name)

        self.permissions_boundary = ProjectPermissionsBoundary(
            self,
            "ProjectPermissionsBoundary",
            policy_name=config.permissions_boundary_name,
            token_secret_arns=[connection.token_secret_arn for connection in config.gitlab.connections],
        )
        self.launch_role = ProductLaunchRole(
            self,
            "LaunchRole",
            asset_bucket_name=config.product_asset_bucket_name,
            platform_name=config.name,
            permissions_boundary_arn=self.permissions_boundary.policy_arn,
            role_paths=["/", config.deploy_ci_role_path],
        ).role
        # The launch role names the boundary by ARN: it must exist before any product is launched.
        self.launch_role.node.add_dependency(self.permissions_boundary)
        self.portfolio = servicecatalog.Portfolio(
            self,
            "Portfolio",
            display_name=f"{config.name} SageMaker project templates",
            provider_name="ML platform team",
            description="SageMaker project templates whose code lives in GitLab and whose CI runs in GitLab",
        )
        self.gitlab_project_template = GitLabProjectProduct(
            self,
            "GitLabProjectTemplate",
            config=config,
            asset_bucket=self.product_assets,
            oidc_provider_arn=self.oidc_provider_arn,
            permissions_boundary_arn=self.permissions_boundary.policy_arn,
        )
        self.gitlab_project_product = self._publish(
            "GitLabProjectProduct",
            self.gitlab_project_template,
            name="MLOps template for model building, training and deployment with GitLab",
            description="Seeds GitLab model build and deploy repositories; GitLab CI trains with SageMaker Pipelines "
            "and deploys approved models to staging and production endpoints.",
        )
        for index, role_arn in enumerate(config.studio_role_arns):
            self.portfolio.give_access_to_role(
                iam.Role.from_role_arn(self, f"StudioRole{index}", role_arn, mutable=False)
            )

        if config.multi_account:
            self._multi_account_product()

        if config.studio_s3_templates:
            templates: dict[str, servicecatalog.ProductStack] = {"gitlab-project": self.gitlab_project_template}
            if config.multi_account:
                templates["multi-account"] = self.multi_account_template
            self.s3_templates = S3ProjectTemplates(
                self,
                "S3ProjectTemplates",
                templates=templates,
                domain_ids=config.studio_s3_templates.domain_ids,
                prefix=config.studio_s3_templates.prefix,
            )
            cdk.CfnOutput(self, "ProjectTemplatesLocation", value=self.s3_templates.location)
        self._suppress_asset_deployment_findings()
        cdk.CfnOutput(self, "PortfolioId", value=self.portfolio.portfolio_id)
        cdk.CfnOutput(self, "GitLabProjectProductId", value=self.gitlab_project_product.product_id)

    def _multi_account_product(self) -> None:
        """The "Multi Account Deployment" product and the role the target accounts trust; see docs/multi-account.md."""
        multi = self.config.multi_account
        assert multi is not None
        pipeline_role = MultiAccountPipelineRole(
            self,
            "MultiAccountPipelineRole",
            role_name=self.config.multi_account_pipeline_role_name,
            target_accounts=list(multi.target_accounts),
            target_role_name=multi.target_role_name,
        )
        # GitLab deploy jobs chain through this role into the target accounts (see ProjectRoles). The
        # deploy CI roles are created per project, after this role, so the trust cannot list their
        # ARNs: it names their IAM path, which only the launch role may create roles in, and only
        # with the permissions boundary (a principal tag would be settable by anyone with TagRole).
        pipeline_role.trust_roles_under_path(self.config.deploy_ci_role_path)
        MultiAccountLaunchPermissions(
            self,
            "MultiAccountLaunchPermissions",
            launch_role=self.launch_role,
            pipeline_role_arn=pipeline_role.role_arn,
        )
        self.multi_account_template = MultiAccountProduct(
            self,
            "MultiAccountTemplate",
            config=self.config,
            asset_bucket=self.product_assets,
            pipeline_role_arn=pipeline_role.role_arn,
        )
        iam.PermissionsBoundary.of(self.multi_account_template).apply(
            iam.ManagedPolicy.from_managed_policy_arn(
                self.multi_account_template, "PermissionsBoundary", self.permissions_boundary.policy_arn
            )
        )
        self.multi_account_product = self._publish(
            "MultiAccountProduct",
            self.multi_account_template,
            name=MULTI_ACCOUNT_PRODUCT_NAME,
            description="Multi account deployment project: deploys approved models to the staging account, tests them "
            "and, after a manual approval, to the production account with CloudFormation StackSets.",
        )
        cdk.CfnOutput(self, "MultiAccountProductId", value=self.multi_account_product.product_id)
        cdk.CfnOutput(self, "MultiAccountPipelineRoleArn", value=pipeline_role.role.role_arn)

    def _publish(
        self, construct_id: str, template: servicecatalog.ProductStack, *, name: str, description: str
    ) -> servicecatalog.CloudFormationProduct:
        """A product of the portfolio, visible in SageMaker Studio, launched with the launch role."""
        product = servicecatalog.CloudFormationProduct(
            self,
            construct_id,
            product_name=name,
            owner="ML platform team",
            description=description,
            product_versions=[
                servicecatalog.CloudFormationProductVersion(
                    product_version_name="v1",
                    cloud_formation_template=servicecatalog.CloudFormationTemplate.from_product_stack(template),
                )
            ],
        )
        cdk.Tags.of(product).add(STUDIO_VISIBILITY_TAG, "true")
        # The launch role may use only KMS keys carrying this tag.
        cdk.Tags.of(template).add(PLATFORM_TAG, self.config.name)
        self.portfolio.add_product(product)
        self.portfolio.set_launch_role(product, self.launch_role)
        return product

    def _suppress_asset_deployment_findings(self) -> None:
        """Justify the findings on the CDK-managed function that copies product assets."""
        for child in self.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                NagSuppressions.add_resource_suppressions(
                    child,
                    [
                        {
                            "id": "AwsSolutions-IAM4",
                            "reason": (
                                "CDK's BucketDeployment function (copies ProductStack assets) uses "
                                "AWSLambdaBasicExecutionRole for its logs."
                            ),
                        },
                        {
                            "id": "AwsSolutions-IAM5",
                            "reason": (
                                "CDK's BucketDeployment grants itself object-level wildcards on the CDK asset "
                                "bucket and the product asset bucket only."
                            ),
                        },
                        {
                            "id": "AwsSolutions-L1",
                            "reason": "CDK's BucketDeployment pins its own runtime; it runs only during cdk deploy.",
                        },
                    ],
                    apply_to_children=True,
                )
                self._skip_asset_deployment_checks(child)

    @staticmethod
    def _skip_asset_deployment_checks(deployment: IConstruct) -> None:
        """checkov findings on CDK's BucketDeployment function, which runs only during `cdk deploy`."""
        why = "CDK's BucketDeployment function (copies the product templates' assets, only during cdk deploy)"
        for construct in deployment.node.find_all():
            if isinstance(construct, lambda_.CfnFunction):
                skip_checks(
                    construct,
                    {
                        "CKV_AWS_115": f"{why} runs once per deployment; reserved concurrency would only take "
                        "capacity from the account.",
                        "CKV_AWS_116": f"{why} is called by CloudFormation, which reports its failure on the "
                        "deployment; there is nothing to replay later.",
                        "CKV_AWS_117": f"{why} copies between two S3 buckets; CDK exposes no VPC setting for it.",
                        "CKV_AWS_173": f"{why} holds no secret in its environment; CDK exposes no key setting for it.",
                    },
                )
            elif isinstance(construct, logs.CfnLogGroup):
                skip_checks(
                    construct,
                    {
                        "CKV_AWS_158": f"Log group of {why}: it records which asset files were copied, no "
                        "secret; CDK exposes no key setting for it."
                    },
                )

    def _oidc_provider(self) -> str:
        """ARN of the account's IAM OIDC provider for the GitLab host, created here unless it exists.

        The ARN is deterministic, and product templates may hold only literals, so it is returned
        as a literal rather than a reference to the resource.
        """
        gitlab = self.config.gitlab
        if gitlab.create_oidc_provider:
            iam.OidcProviderNative(self, "GitLabOidcProvider", url=gitlab.server_url, client_ids=[gitlab.oidc_audience])
        return f"arn:aws:iam::{self.config.account}:oidc-provider/{gitlab.host}"
