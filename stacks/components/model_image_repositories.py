"""ECR repositories `<project>/<model>` for the model images the MLOps pipelines build.

Tags are immutable (a semantic version always names the same image: model versions and endpoints
refer to images by tag), images are scanned on push, encrypted with KMS, and the lifecycle policy
expires untagged layers after two weeks and keeps the newest 200 versions (far more than any
endpoint still serves).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from constructs import Construct

UNTAGGED_DAYS = 14
KEPT_IMAGES = 200


class ModelImageRepositories(Construct):
    """One repository per configured (project, model)."""

    def __init__(self, scope: Construct, construct_id: str, *, models: list[tuple[str, str]]) -> None:
        super().__init__(scope, construct_id)
        self.repositories: dict[tuple[str, str], ecr.Repository] = {}
        for project, model in models:
            repository = ecr.Repository(
                self,
                f"{project}-{model}",
                repository_name=f"{project}/{model}",
                image_tag_mutability=ecr.TagMutability.IMMUTABLE,
                image_scan_on_push=True,
                encryption=ecr.RepositoryEncryption.KMS,
                removal_policy=cdk.RemovalPolicy.RETAIN,
                lifecycle_rules=[
                    ecr.LifecycleRule(
                        rule_priority=1,
                        description=f"Expire untagged images after {UNTAGGED_DAYS} days",
                        tag_status=ecr.TagStatus.UNTAGGED,
                        max_image_age=cdk.Duration.days(UNTAGGED_DAYS),
                    ),
                    ecr.LifecycleRule(
                        rule_priority=2,
                        description=f"Keep the newest {KEPT_IMAGES} images",
                        tag_status=ecr.TagStatus.ANY,
                        max_image_count=KEPT_IMAGES,
                    ),
                ],
            )
            self.repositories[(project, model)] = repository

    def repository(self, project: str, model: str) -> ecr.Repository:
        """The repository of a configured model."""
        return self.repositories[(project, model)]

    def grant_describe(self, grantee: iam.IGrantable) -> None:
        """Check that an image tag exists (the training DAG does before it trains)."""
        for repository in self.repositories.values():
            repository.grant(grantee, "ecr:DescribeImages")
