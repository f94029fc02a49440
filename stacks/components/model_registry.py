"""The project's model registry entry: one SageMaker model package group."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct


class ModelRegistry(Construct):
    """Model package group `<project-name>-<project-id>` that the build registers versions in."""

    def __init__(
        self, scope: Construct, construct_id: str, *, group_name: str, description: str, arn_name: str | None = None
    ) -> None:
        """`arn_name` is the group name as SageMaker writes it in ARNs, lower-cased (default: `group_name`)."""
        super().__init__(scope, construct_id)
        self.group_name = group_name
        arn_name = arn_name or group_name
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "Group",
            model_package_group_name=group_name,
            model_package_group_description=description,
        )
        stack = cdk.Stack.of(self)
        self.group_arn = stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=arn_name)
        # Versions are `model-package/<group>/<n>`; the ARN lower-cases the group name.
        self.versions_arn = stack.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{arn_name}/*"
        )

    def grant_register(self, grantee: iam.IGrantable) -> None:
        """Register new versions in the group (the build pipeline)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackageGroup", "sagemaker:AddTags"],
            resource_arns=[self.group_arn, self.versions_arn],
        )

    def grant_cross_account_read(self, account_ids: Sequence[str]) -> None:
        """Resource policy letting these accounts (staging, production) use the group's versions.

        They may describe the group, list and describe its versions and create models from them
        (CreateModel with a model package ARN); approving or changing versions stays in this account.
        The deploy pipeline only ever passes approved versions to the target accounts.
        """
        if not account_ids:
            raise ValueError("grant_cross_account_read needs at least one account ID")
        principals = [iam.AccountPrincipal(account_id) for account_id in account_ids]
        policy = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="CrossAccountDescribeGroup",
                    principals=principals,
                    actions=["sagemaker:DescribeModelPackageGroup"],
                    resources=[self.group_arn],
                ),
                iam.PolicyStatement(
                    sid="CrossAccountUseVersions",
                    principals=principals,
                    actions=["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages", "sagemaker:CreateModel"],
                    resources=[self.versions_arn],
                ),
            ]
        )
        self.group.model_package_group_policy = policy.to_json()

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """Find and describe versions (the deploy pipeline and the trigger)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "sagemaker:DescribeModelPackage",
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:ListModelPackages",
            ],
            resource_arns=[self.group_arn, self.versions_arn],
        )
