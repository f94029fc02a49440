"""The pipeline's settings: CI/CD variables set by the platform and predefined GitLab variables."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass


class CiError(Exception):
    """A step cannot go on; the message says what is wrong and what to do."""


def require(environ: Mapping[str, str], name: str, *, pattern: str | None = None) -> str:
    """A variable's value; CiError naming it when it is missing or malformed."""
    value = environ.get(name, "").strip()
    if not value:
        raise CiError(f"CI/CD variable {name} is not set")
    if pattern and not re.fullmatch(pattern, value):
        raise CiError(f"CI/CD variable {name} has an unexpected value {value!r} (expected {pattern})")
    return value


@dataclass(frozen=True)
class Settings:
    """What every step needs (the seed-code check-in sets these on the MLOps project)."""

    project: str
    model: str
    region: str
    repository_uri: str
    base_image_uri: str
    artifact_bucket: str
    package_group: str
    trigger_function: str
    training_dag: str
    deployment_dag: str
    pipeline_id: str
    pipeline_url: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check the variables."""
        env = os.environ if environ is None else environ
        name = r"[a-z][a-z0-9-]{0,19}"
        return cls(
            project=require(env, "PROJECT_NAME", pattern=name),
            model=require(env, "MODEL_NAME", pattern=name),
            region=require(env, "AWS_REGION", pattern=r"[a-z]{2}(-[a-z]+)+-\d"),
            repository_uri=require(
                env, "ECR_REPOSITORY_URI", pattern=r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/\S+"
            ),
            base_image_uri=env.get("BASE_IMAGE_URI", "").strip(),
            artifact_bucket=require(env, "ARTIFACT_BUCKET"),
            package_group=require(env, "MODEL_PACKAGE_GROUP_NAME"),
            trigger_function=require(env, "DAG_TRIGGER_FUNCTION"),
            training_dag=env.get("TRAINING_DAG", "mlops_training"),
            deployment_dag=env.get("DEPLOYMENT_DAG", "mlops_deployment"),
            pipeline_id=require(env, "CI_PIPELINE_ID", pattern=r"\d+"),
            pipeline_url=env.get("CI_PIPELINE_URL", ""),
        )

    @property
    def repository_name(self) -> str:
        """ECR repository name (`<project>/<model>`)."""
        return self.repository_uri.split("/", 1)[1]

    @property
    def registry(self) -> str:
        """ECR registry host."""
        return self.repository_uri.split("/", 1)[0]

    @property
    def images_prefix(self) -> str:
        """S3 prefix (in the artifact bucket) of the records of the model's images."""
        return f"{self.project}/{self.model}/images"
