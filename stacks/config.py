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

from stacks.instance_families import UnknownInstanceType, family_of

ACCOUNT_ID = Annotated[str, Field(pattern=r"^\d{12}$")]


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
        try:
            family_of(value)
        except UnknownInstanceType as error:
            raise ValueError(str(error)) from None
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


class FraudThresholds(_Strict):
    """Fraud probabilities at or above which a transaction is investigated, and blocked."""

    investigate: float = Field(gt=0, lt=1)
    block: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> FraudThresholds:
        if self.investigate >= self.block:
            raise ValueError(f"investigate ({self.investigate}) must be below block ({self.block})")
        return self


class FraudStreamConfig(_Strict):
    """The Kinesis architecture: stream size, Lambda batching and how long a record is retried."""

    shard_count: int = Field(default=1, ge=1, le=100)
    batch_size: int = Field(default=100, ge=1, le=100, description="records per Lambda batch (one workflow run each)")
    max_batching_window_seconds: int = Field(default=1, ge=0, le=300)
    retry_attempts: int = Field(default=10, ge=0, le=10_000, description="Lambda retries of a failing batch")
    give_up_after_seconds: int = Field(
        default=900,
        ge=60,
        description="age after which a record the workflow keeps failing goes to the dead-letter queue",
    )
    max_record_age_seconds: int = Field(default=3600, ge=60, le=604_800)

    @model_validator(mode="after")
    def _gives_up_before_lambda(self) -> FraudStreamConfig:
        if self.give_up_after_seconds >= self.max_record_age_seconds:
            raise ValueError(
                f"give_up_after_seconds ({self.give_up_after_seconds}) must be below max_record_age_seconds "
                f"({self.max_record_age_seconds}): the Lambda dead-letters records before Lambda drops them"
            )
        return self


class FraudEventsConfig(_Strict):
    """The EventBridge architecture: which events on the transaction bus are transactions."""

    source: str = Field(default="payments", min_length=1, max_length=256)
    detail_type: str = Field(default="Transaction", min_length=1, max_length=128)


class FraudScoringConfig(_Strict):
    """How the workflows call the endpoint: timeout per attempt and attempts in all."""

    timeout_seconds: int = Field(default=10, ge=1, le=60)
    max_attempts: int = Field(default=3, ge=0, le=10)


class FraudDetectionConfig(_Strict):
    """Real-time fraud detection (three stacks); see README "Real-time fraud detection".

    The stacks score with an existing SageMaker endpoint, the one the model deploy repository
    deploys after approval (e.g. `<project>-prod`), named here; they never deploy a model.
    """

    endpoint_name: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    thresholds: FraudThresholds
    stream: FraudStreamConfig = FraudStreamConfig()
    events: FraudEventsConfig = FraudEventsConfig()
    scoring: FraudScoringConfig = FraudScoringConfig()
    firehose_lambda_concurrency: int = Field(default=5, ge=1, le=1000)


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
    fraud_detection: FraudDetectionConfig | None = None

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
