"""ECR repository for the custom inference images of legacy ML code."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from constructs import Construct

UNTAGGED_IMAGE_DAYS = 1


class InferenceRepository(Construct):
    """Scan-on-push, immutable tags, KMS-encrypted; untagged layers expire, tagged images are capped.

    Immutable tags mean an execution that names `:1.0.0` always runs the image that was tested as
    1.0.0. The repository is retained on stack deletion: the images are what ran in production.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, repository_name: str, retained_images: int, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            repository_name=repository_name,
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    rule_priority=1,
                    description=f"Expire untagged images after {UNTAGGED_IMAGE_DAYS} day",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=cdk.Duration.days(UNTAGGED_IMAGE_DAYS),
                ),
                ecr.LifecycleRule(
                    rule_priority=2,
                    description=f"Keep the {retained_images} most recent images",
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=retained_images,
                ),
            ],
        )
