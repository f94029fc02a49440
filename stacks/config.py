"""Typed platform configuration, read from a YAML file and validated once at synth time.

The file is chosen by the CDK context key `config` (default `config/default.yaml`):
`npx cdk deploy -c config=config/prod.yaml`. Every error names the offending key, for example
`config/prod.yaml: gitlab.server_url: must be an https:// URL (got 'gitlab.local')`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ACCOUNT_ID = Annotated[str, Field(pattern=r"^\d{12}$")]
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_GPU_FAMILIES = ("ml.g4dn.", "ml.g5.", "ml.g6.", "ml.p3.", "ml.p4d.", "ml.p5.")


class ConfigError(ValueError):
    """Raised when the configuration file is missing or invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GitLabConfig(_Strict):
    """Where the seeded repositories live and how the platform authenticates to GitLab."""

    server_url: str = Field(description="GitLab base URL, e.g. https://gitlab.com")
    namespace: str = Field(description="Group path the repositories are created in, e.g. my-group/ml")
    group_id: str = Field("", description="Numeric group ID; empty means the token owner's namespace")
    token_secret_name: str = Field(description="Secrets Manager secret holding the GitLab API token")
    default_branch: str = "main"
    oidc_audience: str = "sts.amazonaws.com"
    create_oidc_provider: bool = Field(
        True, description="False when the account already has an IAM OIDC provider for this GitLab host"
    )

    @field_validator("server_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not re.match(r"^https://[^/\s]+(/[^\s]*)?$", value):
            raise ValueError(f"must be an https:// URL (got {value!r})")
        return value.rstrip("/")

    @field_validator("group_id")
    @classmethod
    def _numeric_group(cls, value: str) -> str:
        if value and not value.isdigit():
            raise ValueError(f"must be a numeric GitLab group ID or empty (got {value!r})")
        return value

    @property
    def host(self) -> str:
        """Host (and path) of the server as it appears in OIDC token claims, without scheme."""
        return self.server_url.removeprefix("https://")


class InstanceTypes(_Strict):
    """Default SageMaker instance types; each stage can run on CPU or GPU types."""

    processing: str = "ml.m5.xlarge"
    training: str = "ml.m5.xlarge"
    staging_endpoint: str = "ml.m5.large"
    prod_endpoint: str = "ml.m5.large"

    @field_validator("*")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        if not _INSTANCE_TYPE.match(value):
            raise ValueError(f"must be a SageMaker instance type such as ml.m5.large (got {value!r})")
        return value


class ImagesConfig(_Strict):
    """Container images of the ML core; empty URIs mean 'build from containers/ at deploy time'."""

    xgboost_cpu_uri: str = ""
    xgboost_gpu_uri: str = ""


_OU_ID = r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$"


class MultiAccountConfig(_Strict):
    """Multi-account promotion: the staging and production accounts, their OUs and the target role.

    See docs/multi-account.md. The data science account is `account`; staging and production must
    be two other accounts. Each target account gets a stack (`<name>-target-staging`/`-prod`) with
    the role `sagemaker-role-<target_role_suffix>` the data science pipeline role assumes.
    """

    staging_account: ACCOUNT_ID
    prod_account: ACCOUNT_ID
    staging_ou_id: str = Field(pattern=_OU_ID, description="Organizations OU holding the staging account(s)")
    prod_ou_id: str = Field(pattern=_OU_ID, description="Organizations OU holding the production account(s)")
    target_role_suffix: str = Field(
        "mlops", pattern=r"^[a-z]{1,10}$", description="Suffix of the target-account role sagemaker-role-<suffix>"
    )
    resource_prefix: str = Field(
        "sagemaker-",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,39}$",
        description="Name prefix of the models/endpoints the target role may manage",
    )
    delegated_admin: bool = Field(
        False,
        description="True when this account is a StackSets delegated administrator "
        "rather than the organization's management account",
    )

    @model_validator(mode="after")
    def _distinct(self) -> MultiAccountConfig:
        if self.staging_account == self.prod_account:
            raise ValueError(f"staging_account and prod_account must differ (both {self.staging_account})")
        if self.staging_ou_id == self.prod_ou_id:
            raise ValueError(f"staging_ou_id and prod_ou_id must differ (both {self.staging_ou_id})")
        return self

    @property
    def target_accounts(self) -> tuple[str, str]:
        """(staging, production) account IDs."""
        return (self.staging_account, self.prod_account)

    @property
    def target_role_name(self) -> str:
        """Name of the role the pipeline assumes in each target account."""
        return f"sagemaker-role-{self.target_role_suffix}"

    @property
    def execution_role_name(self) -> str:
        """Name of the SageMaker execution role of the endpoints in each target account."""
        return f"sagemaker-execution-role-{self.target_role_suffix}"


_MODEL_NAME = r"^[a-z][a-z0-9-]{0,19}$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
_MWAA_CLASSES = ("mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge")


def _refuse_duplicates(kind: str, names: list[str]) -> None:
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate {kind} names: {duplicates}")


class AirflowModelConfig(_Strict):
    """One model of an Airflow project: ECR repository `<project>/<name>`, endpoint `<project>-<name>`."""

    name: str = Field(pattern=_MODEL_NAME)
    training_instance_type: str = "ml.m5.xlarge"
    max_runtime_seconds: int = Field(3600, ge=60, le=432000)
    evaluation_metric: str = Field("mse", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    evaluation_threshold: float = 6.0
    lower_is_better: bool = True
    dashboard_metrics: list[str] = Field(default_factory=lambda: ["mse"], min_length=1)
    endpoint_instance_type: str = "ml.m5.large"
    min_capacity: int = Field(1, ge=1, le=100)
    max_capacity: int = Field(2, ge=1, le=100)
    invocations_per_instance: float = Field(100.0, gt=0, description="Target of the target-tracking policy")

    @field_validator("training_instance_type", "endpoint_instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        if not _INSTANCE_TYPE.match(value):
            raise ValueError(f"must be a SageMaker instance type such as ml.m5.large (got {value!r})")
        return value

    @model_validator(mode="after")
    def _capacity(self) -> AirflowModelConfig:
        if self.min_capacity > self.max_capacity:
            raise ValueError(f"min_capacity {self.min_capacity} exceeds max_capacity {self.max_capacity}")
        if self.evaluation_metric not in self.dashboard_metrics:
            raise ValueError(f"dashboard_metrics must include evaluation_metric {self.evaluation_metric!r}")
        return self


class AirflowProjectConfig(_Strict):
    """A project: its models, a CloudWatch dashboard and, per model, a model and an MLOps repository."""

    name: str = Field(pattern=_MODEL_NAME)
    models: list[AirflowModelConfig] = Field(min_length=1)

    @field_validator("models")
    @classmethod
    def _unique_models(cls, value: list[AirflowModelConfig]) -> list[AirflowModelConfig]:
        _refuse_duplicates("model", [model.name for model in value])
        return value


class AirflowConfig(_Strict):
    """The Airflow (Amazon MWAA) variant of the platform (seeds/03): see README, "Airflow (MWAA) variant"."""

    environment_name: str = Field("mlops-airflow", pattern=r"^[a-zA-Z][0-9a-zA-Z_-]{0,79}$")
    environment_class: str = "mw1.small"
    min_workers: int = Field(1, ge=1, le=25)
    max_workers: int = Field(2, ge=1, le=25)
    vpc_cidr: str = Field("10.40.0.0/16", pattern=r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/(1[6-9]|2[0-2])$")
    notification_emails: list[Annotated[str, Field(pattern=_EMAIL)]] = Field(default_factory=list)
    slack_webhook_secret_name: str = Field("mlops/airflow/slack-webhook", pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$")
    seed_repositories: bool = Field(
        True, description="Create each model's model and MLOps GitLab repositories with the seed-code check-in"
    )
    projects: list[AirflowProjectConfig] = Field(min_length=1)

    @field_validator("environment_class")
    @classmethod
    def _environment_class(cls, value: str) -> str:
        if value not in _MWAA_CLASSES:
            raise ValueError(f"must be one of {', '.join(_MWAA_CLASSES)} (got {value!r})")
        return value

    @field_validator("projects")
    @classmethod
    def _unique_projects(cls, value: list[AirflowProjectConfig]) -> list[AirflowProjectConfig]:
        _refuse_duplicates("project", [project.name for project in value])
        return value

    @model_validator(mode="after")
    def _workers(self) -> AirflowConfig:
        if self.min_workers > self.max_workers:
            raise ValueError(f"min_workers {self.min_workers} exceeds max_workers {self.max_workers}")
        return self


class PlatformConfig(_Strict):
    """The whole platform configuration (one deployment environment)."""

    name: str = Field("mlops-gitlab", pattern=r"^[a-z][a-z0-9-]{2,30}$")
    account: ACCOUNT_ID
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    gitlab: GitLabConfig
    studio_role_arns: list[str] = Field(default_factory=list)
    instance_types: InstanceTypes = InstanceTypes()
    images: ImagesConfig = ImagesConfig()
    tags: dict[str, str] = Field(default_factory=dict)
    multi_account: MultiAccountConfig | None = None
    airflow: AirflowConfig | None = None

    @field_validator("studio_role_arns")
    @classmethod
    def _role_arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$", arn):
                raise ValueError(f"must be IAM role ARNs (got {arn!r})")
        return value

    @model_validator(mode="after")
    def _studio_roles_in_account(self) -> PlatformConfig:
        foreign = [arn for arn in self.studio_role_arns if arn.split(":")[4] != self.account]
        if foreign:
            raise ValueError(f"studio_role_arns must belong to account {self.account} (got {foreign})")
        return self

    @model_validator(mode="after")
    def _targets_are_other_accounts(self) -> PlatformConfig:
        if self.multi_account and self.account in self.multi_account.target_accounts:
            raise ValueError(f"multi_account: staging_account and prod_account must differ from account {self.account}")
        return self

    @property
    def multi_account_pipeline_role_name(self) -> str:
        """Literal name of the data science account role that target-account roles trust."""
        return f"{self.name}-multi-account-pipeline"

    @property
    def product_asset_bucket_name(self) -> str:
        """Literal name of the bucket holding product-template assets (ProductStack needs one)."""
        return f"{self.name}-product-assets-{self.account}-{self.region}"


def is_gpu_instance(instance_type: str) -> bool:
    """True for SageMaker instance families with NVIDIA GPUs."""
    return instance_type.startswith(_GPU_FAMILIES)


def _format_errors(source: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<root>"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling against config/default.yaml)"
        lines.append(f"{source}: {key}: {message}")
    return "\n".join(lines)


def parse_config(data: Any, *, source: str = "<config>") -> PlatformConfig:
    """Validate a mapping as a `PlatformConfig`, raising `ConfigError` that names each bad key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(source, error)) from None


def load_config(path: str | Path) -> PlatformConfig:
    """Read and validate a YAML configuration file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return parse_config(data, source=str(path))
