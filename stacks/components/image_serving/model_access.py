"""What a server of the image classifier may do to get its model: read the registry and the model data."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import IConstruct

from stacks.config import ImageServingConfig


def model_package_arn_pattern(*, account: str, region: str, group: str) -> str:
    """The versions of `group` (SageMaker writes model package ARNs in lower case)."""
    return f"arn:aws:sagemaker:{region}:{account}:model-package/{group.lower()}/*"


def grant_model_access(
    role: iam.IRole, *, serving: ImageServingConfig, groups: Iterable[str], account: str, region: str
) -> None:
    """Let `role` find the approved versions of `groups` and read their `model.tar.gz` from the model buckets."""
    group_list = sorted(set(groups))
    version_arns = [model_package_arn_pattern(account=account, region=region, group=g) for g in group_list]
    object_arns = [f"arn:aws:s3:::{bucket}/*" for bucket in serving.model_bucket_names]
    statements = [
        # ListModelPackages has no resource-level permissions: it is allowed on "*" or not at all.
        iam.PolicyStatement(actions=["sagemaker:ListModelPackages"], resources=["*"]),
        iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"], resources=version_arns),
        iam.PolicyStatement(actions=["s3:GetObject"], resources=object_arns),
    ]
    if serving.model_kms_key_arns:
        statements.append(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=serving.model_kms_key_arns,
                conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            )
        )
    for statement in statements:
        role.add_to_principal_policy(statement)


def suppress_model_access_findings(
    construct: IConstruct, *, serving: ImageServingConfig, groups: Iterable[str], account: str, region: str
) -> None:
    """The wildcards `grant_model_access` needs, each with its reason (cdk-nag IAM5)."""
    NagSuppressions.add_resource_suppressions(
        construct,
        [
            {
                "id": "AwsSolutions-IAM5",
                "reason": "sagemaker:ListModelPackages has no resource-level permissions; it lists versions only.",
                "applies_to": ["Resource::*"],
            },
            {
                "id": "AwsSolutions-IAM5",
                "reason": "Every version of the served model package group: which one is approved changes over time.",
                "applies_to": [
                    f"Resource::{model_package_arn_pattern(account=account, region=region, group=g)}"
                    for g in sorted(set(groups))
                ],
            },
            {
                "id": "AwsSolutions-IAM5",
                "reason": "model.tar.gz of every version lives under its own prefix of the configured model buckets.",
                "applies_to": [f"Resource::arn:aws:s3:::{bucket}/*" for bucket in serving.model_bucket_names],
            },
        ],
        apply_to_children=True,
    )
