"""The two images of the always-on service: the PyTorch serving image and the model-fetch init image."""

from __future__ import annotations

from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from stacks.components.lambda_bundling import REPO_ROOT
from stacks.config import ecr_image_parts

CONTAINERS_DIR = REPO_ROOT / "containers"
DOCKERFILES = {"serving": "pytorch/Dockerfile", "fetch": "model_fetch/Dockerfile"}


def container_image(scope: Construct, construct_id: str, *, configured_uri: str, kind: str) -> ecs.ContainerImage:
    """The configured ECR image, or the image built from containers/ by `cdk deploy` (context containers/)."""
    if configured_uri:
        parts = ecr_image_parts(configured_uri)
        repository = ecr.Repository.from_repository_attributes(
            scope,
            construct_id,
            repository_arn=f"arn:aws:ecr:{parts['region']}:{parts['account']}:repository/{parts['repository']}",
            repository_name=parts["repository"],
        )
        return ecs.ContainerImage.from_ecr_repository(repository, parts.get("tag") or parts["digest"])
    asset = ecr_assets.DockerImageAsset(
        scope,
        construct_id,
        directory=str(CONTAINERS_DIR),
        file=DOCKERFILES[kind],
        platform=ecr_assets.Platform.LINUX_AMD64,
    )
    return ecs.ContainerImage.from_docker_image_asset(asset)


def image_uri(scope: Construct, construct_id: str, *, configured_uri: str, kind: str) -> tuple[str, str | None]:
    """(URI, repository ARN or None for a built asset) for a platform that takes a URI (Elastic Beanstalk)."""
    if configured_uri:
        parts = ecr_image_parts(configured_uri)
        return configured_uri, f"arn:aws:ecr:{parts['region']}:{parts['account']}:repository/{parts['repository']}"
    asset = ecr_assets.DockerImageAsset(
        scope,
        construct_id,
        directory=str(CONTAINERS_DIR),
        file=DOCKERFILES[kind],
        platform=ecr_assets.Platform.LINUX_AMD64,
    )
    return asset.image_uri, asset.repository.repository_arn
