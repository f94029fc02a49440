"""What the DAGs know about the platform, and the validated configuration of each DAG run.

The CDK app writes `mlops_platform.json` beside the DAG files (region, bucket, role, topic, secret
and every configured project/model); a DAG run's `conf` comes from the trigger Lambda and is
untrusted: it is validated here and may only name projects and models of that file.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PLATFORM_FILE = "mlops_platform.json"
DAGS_DIR = Path(__file__).resolve().parents[1]

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,19}$"
SEMVER_PATTERN = r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class SettingsError(ValueError):
    """The platform file or a DAG run's conf is invalid; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvaluationGate(_Strict):
    """The metric a new model version must reach before it is registered."""

    metric: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    threshold: float
    lower_is_better: bool = True

    def passes(self, value: float) -> bool:
        """True when `value` is at least as good as the threshold."""
        return value <= self.threshold if self.lower_is_better else value >= self.threshold


class EndpointSettings(_Strict):
    """Real-time endpoint of one model: instances and target-tracking auto scaling."""

    instance_type: str = Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    min_capacity: int = Field(ge=1, le=100)
    max_capacity: int = Field(ge=1, le=100)
    invocations_per_instance: float = Field(gt=0)


class ModelSettings(_Strict):
    """One model of a project: its image repository, training, evaluation gate and endpoint."""

    image_repository_uri: str
    training_instance_type: str = Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    max_runtime_seconds: int = Field(ge=60, le=432000)
    evaluation: EvaluationGate
    endpoint: EndpointSettings


class PlatformSettings(_Strict):
    """Contents of `mlops_platform.json`."""

    region: str
    artifact_bucket: str
    sagemaker_role_arn: str
    sns_topic_arn: str
    slack_webhook_secret: str
    metrics_namespace: str
    projects: dict[Name, dict[Name, ModelSettings]]

    def model(self, project: str, model: str) -> ModelSettings:
        """Settings of a configured model; SettingsError naming what is known otherwise."""
        models = self.projects.get(project)
        if models is None:
            raise SettingsError(f"project {project!r} is not configured (known: {sorted(self.projects)})")
        if model not in models:
            raise SettingsError(f"model {model!r} is not configured in project {project!r} (known: {sorted(models)})")
        return models[model]


class TrainingRequest(_Strict):
    """`conf` of the training DAG."""

    project: Name
    model: Name
    image_version: str = Field(pattern=SEMVER_PATTERN, description="ECR tag of the model image to train")
    git_sha: str = Field("", pattern=r"^([0-9a-f]{7,40})?$")
    source: str = Field("", max_length=512, description="URL of the CI pipeline that asked for this run")
    hyperparameters: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")], Annotated[str, Field(max_length=256)]
    ] = Field(default_factory=dict, max_length=64)


class DeploymentRequest(_Strict):
    """`conf` of the deployment DAG; no `model_version` deploys the newest Approved version."""

    project: Name
    model: Name
    model_version: str | None = Field(None, pattern=SEMVER_PATTERN)
    source: str = Field("", max_length=512)


def _describe(error: ValidationError, what: str) -> str:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or '<root>'}: {item['msg']}" for item in error.errors()
    )
    return f"invalid {what}: {problems}"


def parse_training_request(conf: object) -> TrainingRequest:
    """Validate the training DAG's conf; SettingsError naming every bad field."""
    try:
        return TrainingRequest.model_validate(conf or {})
    except ValidationError as error:
        raise SettingsError(_describe(error, "training conf")) from None


def parse_deployment_request(conf: object) -> DeploymentRequest:
    """Validate the deployment DAG's conf; SettingsError naming every bad field."""
    try:
        return DeploymentRequest.model_validate(conf or {})
    except ValidationError as error:
        raise SettingsError(_describe(error, "deployment conf")) from None


def read_platform_settings(path: Path) -> PlatformSettings:
    """Read and validate a platform file."""
    try:
        return PlatformSettings.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise SettingsError(f"{path} is missing: the platform deployment writes it beside the DAGs") from None
    except ValueError as error:
        if isinstance(error, ValidationError):
            raise SettingsError(_describe(error, str(path))) from None
        raise SettingsError(f"{path} is not valid JSON: {error}") from None


@lru_cache(maxsize=1)
def platform_settings() -> PlatformSettings:
    """The platform file beside the DAGs, read once per process."""
    return read_platform_settings(DAGS_DIR / PLATFORM_FILE)
