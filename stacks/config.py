"""Typed platform configuration, read from a YAML file and validated once at synth time.

The file is chosen by the CDK context key `config` (default `config/default.yaml`):
`npx cdk deploy -c config=config/prod.yaml`. Every error names the offending key, for example
`config/prod.yaml: gitlab.connections.0.server_url: must be an https:// URL (got 'gitlab.local')`.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stacks.components.legacy_processing.definition import HISTORY_EVENT_LIMIT, PROCESSING_BOUNDS, max_history_events
from stacks.components.ml_core_images import MlCoreImage
from stacks.instance_families import Accelerator, UnknownInstanceType, accelerator_of, family_of

ACCOUNT_ID = Annotated[str, Field(pattern=r"^\d{12}$")]


def _known_instance_type(value: str) -> str:
    try:
        family_of(value)
    except UnknownInstanceType as error:
        raise ValueError(str(error)) from None
    return value


# A SageMaker instance type of a family the one table (stacks/instance_families.py) knows.
INSTANCE_TYPE = Annotated[str, AfterValidator(_known_instance_type)]


class ConfigError(ValueError):
    """Raised when the configuration file is missing or invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_SECRET_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"secret:(?P<name>[\w/+=.@-]+)-[A-Za-z0-9]{6}$"
)
# GitLab group paths: segments of letters, digits, '_', '-', '.', separated by '/'.
_NAMESPACE = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$"


class GitLabConnection(_Strict):
    """One GitLab server, namespace and token a project may use; the launcher picks one by name.

    The launcher never types a URL or a secret: the product offers the configured names only,
    the Lambdas may read only the configured secrets and send each token only to its server.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$", description="What the launcher picks in Studio")
    server_url: str = Field(description="GitLab base URL, e.g. https://gitlab.com (also the OIDC issuer)")
    token_secret_arn: str = Field(description="Full ARN of the Secrets Manager secret holding the API token")
    namespace: str = Field(
        pattern=_NAMESPACE, description="Full path of the group (or user) the repositories are created in"
    )
    group_id: str = Field("", description="Numeric ID of that group; empty means the token owner's namespace")
    ca_bundle: str = Field(
        "",
        description="PEM file (relative to the configuration file) of the CA(s) that sign the server's "
        "certificate; empty: the public CAs",
    )

    @field_validator("server_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not re.match(r"^https://[^/\s]+(/[^\s]*)?$", value):
            raise ValueError(f"must be an https:// URL (got {value!r})")
        return value.rstrip("/")

    @field_validator("token_secret_arn")
    @classmethod
    def _secret_arn(cls, value: str) -> str:
        if not _SECRET_ARN.match(value):
            raise ValueError(
                "must be the full ARN of a Secrets Manager secret, with the six characters Secrets Manager "
                f"appends (arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf; got {value!r})"
            )
        return value

    @field_validator("group_id")
    @classmethod
    def _numeric_group(cls, value: str) -> str:
        if value and not value.isdigit():
            raise ValueError(f"must be a numeric GitLab group ID or empty (got {value!r})")
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            return value
        base = Path((info.context or {}).get("base_dir", "."))
        path = (base / value).resolve()
        if not path.is_file():
            raise ValueError(f"CA bundle file not found: {path}")
        try:
            ssl.create_default_context(cafile=str(path))
        except ssl.SSLError as error:
            raise ValueError(f"{path} holds no PEM certificate that TLS can use ({error.reason})") from None
        return str(path)

    @property
    def host(self) -> str:
        """Host (and path) of the server as it appears in OIDC token claims, without scheme."""
        return self.server_url.removeprefix("https://")

    @property
    def secret_account_and_region(self) -> tuple[str, str]:
        """Account and region of the token secret."""
        match = _SECRET_ARN.match(self.token_secret_arn)
        assert match is not None  # validated above
        return match["account"], match["region"]

    @property
    def secret_name(self) -> str:
        """Name of the token secret (its ARN without the random suffix)."""
        match = _SECRET_ARN.match(self.token_secret_arn)
        assert match is not None
        return match["name"]


class GitLabConfig(_Strict):
    """Where the seeded repositories may live and how the platform authenticates to GitLab."""

    connections: list[GitLabConnection] = Field(min_length=1)
    default_branch: str = "main"
    on_project_delete: Literal["keep", "archive"] = Field(
        "keep",
        description="What deleting a SageMaker project does to its GitLab projects: keep them, or archive "
        "them (read-only, kept); never deleted, and never a reason for the deletion to fail",
    )
    oidc_audience: str = "sts.amazonaws.com"
    create_oidc_provider: bool = Field(
        True, description="False when the account already has an IAM OIDC provider for this GitLab host"
    )

    @field_validator("connections")
    @classmethod
    def _consistent(cls, value: list[GitLabConnection]) -> list[GitLabConnection]:
        names = [connection.name for connection in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"connection names must be unique (repeated: {', '.join(duplicates)})")
        secrets = [connection.token_secret_arn for connection in value]
        shared = sorted({arn for arn in secrets if secrets.count(arn) > 1})
        if shared:
            # Each secret is bound to one server: the Lambdas refuse to send it anywhere else.
            raise ValueError(f"each token secret belongs to one connection (shared: {', '.join(shared)})")
        hosts = sorted({connection.host for connection in value})
        if len(hosts) > 1:
            # IAM condition keys name the OIDC issuer (`<host>:sub`) and cannot come from a launch
            # parameter, so one platform trusts one GitLab server.
            raise ValueError(
                f"all connections must use one GitLab server (got {', '.join(hosts)}): the CI roles trust "
                "one OIDC issuer; deploy another platform (another `name`) for another server"
            )
        return value

    @property
    def host(self) -> str:
        """Host (and path) of the GitLab server as it appears in OIDC token claims."""
        return self.connections[0].host

    @property
    def server_url(self) -> str:
        """The GitLab server's URL (the OIDC issuer)."""
        return self.connections[0].server_url

    def connection(self, name: str) -> GitLabConnection:
        """The connection called `name`."""
        for connection in self.connections:
            if connection.name == name:
                return connection
        raise KeyError(f"no GitLab connection named {name!r}")


class InstanceTypes(_Strict):
    """Default SageMaker instance types of the XGBoost project; each stage can run on CPU or NVIDIA GPU types.

    Trainium and Inferentia (aws-neuron) types run only code built for the Neuron SDK: the XGBoost images
    cannot use them (Trainium trains the PyTorch image's Neuron build, containers/pytorch/Dockerfile.neuron).
    """

    processing: INSTANCE_TYPE = "ml.m5.xlarge"
    training: INSTANCE_TYPE = "ml.m5.xlarge"
    staging_endpoint: INSTANCE_TYPE = "ml.m5.large"
    prod_endpoint: INSTANCE_TYPE = "ml.m5.large"

    @field_validator("processing", "training", "staging_endpoint", "prod_endpoint")
    @classmethod
    def _cpu_or_nvidia(cls, value: str) -> str:
        accelerator = accelerator_of(value)
        if accelerator not in (Accelerator.NONE, Accelerator.NVIDIA_GPU):
            hint = (
                "; Trainium trains PyTorch with the Neuron image (containers/pytorch/Dockerfile.neuron)"
                if accelerator is Accelerator.NEURON
                else ""
            )
            raise ValueError(
                f"{value} is an {accelerator.value} instance type: the XGBoost images run on CPU or NVIDIA GPU "
                f"types{hint}"
            )
        return value


class ImagesConfig(_Strict):
    """Container images of the ML core (stacks/components/ml_core_images.py); empty URIs mean 'build from
    containers/ at deploy time'. A prebuilt image must be in Amazon ECR: SageMaker pulls from nowhere else."""

    xgboost_cpu_uri: str = ""
    xgboost_gpu_uri: str = ""
    pytorch_cpu_uri: str = ""
    pytorch_gpu_uri: str = ""

    @field_validator("xgboost_cpu_uri", "xgboost_gpu_uri", "pytorch_cpu_uri", "pytorch_gpu_uri")
    @classmethod
    def _ecr_image(cls, value: str) -> str:
        return _empty_or_ecr_image(value)

    def uri(self, image: MlCoreImage) -> str:
        """The configured URI of `image`, empty when the platform builds it."""
        return str(getattr(self, image.config_key))


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


_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")


def _bucket_name(value: str) -> str:
    if not _BUCKET_NAME.match(value):
        raise ValueError(f"must be S3 bucket names (got {value!r})")
    return value


def _kms_key_arn(value: str) -> str:
    if not _KMS_KEY_ARN.match(value):
        raise ValueError(f"must be KMS key ARNs (got {value!r})")
    return value


BUCKET_NAME = Annotated[str, AfterValidator(_bucket_name)]
KMS_KEY_ARN = Annotated[str, AfterValidator(_kms_key_arn)]
_PROCESSING_MAX_RUNTIME = PROCESSING_BOUNDS["max_runtime"][1]
# The retention periods CloudWatch Logs accepts (AWS::Logs::LogGroup RetentionInDays).
_LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                       3288, 3653)  # fmt: skip


class LegacyProcessingConfig(_Strict):
    """Legacy ML code on SageMaker with Step Functions (README "Legacy ML code"; seed 04).

    One shared workflow (Preprocessing -> Inference -> Postprocessing Processing jobs) and an ECR
    repository for the custom inference images. Data and code live in `data_bucket_names`; the
    workflow may pass only its own job role and `extra_execution_role_arns` to SageMaker.
    """

    job_name_prefix: str = Field(
        "legacy",
        pattern=r"^[a-z0-9](-?[a-z0-9]){0,14}$",
        description="Processing job names are <prefix>-<stage>-<32 hex>; at most 15 characters so they fit in 63",
    )
    ecr_repository_name: str = Field(
        "legacy-inference", pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"
    )
    image_retention_count: int = Field(20, ge=1, le=1000, description="Tagged images kept in the repository")
    data_bucket_names: list[BUCKET_NAME] = Field(
        min_length=1, description="Buckets the jobs read code and input from and write output to"
    )
    data_kms_key_arns: list[KMS_KEY_ARN] = Field(
        default_factory=list, description="KMS keys of the data buckets (SSE-KMS); the job role may use them"
    )
    extra_execution_role_arns: list[str] = Field(
        default_factory=list, description="Other SageMaker execution roles an execution may name as `role`"
    )
    default_instance_type: INSTANCE_TYPE = "ml.m5.xlarge"
    default_volume_size_gb: int = Field(30, ge=1, le=PROCESSING_BOUNDS["volume_size"][1])
    default_max_runtime_seconds: int = Field(3600, ge=1)
    max_runtime_limit_seconds: int = Field(21600, ge=1, le=_PROCESSING_MAX_RUNTIME)
    poll_interval_seconds: int = Field(60, ge=1, le=3600, description="How often the workflow asks a job's status")
    startup_allowance_seconds: int = Field(
        900, ge=0, le=86400, description="Time a job may take to start on top of max_runtime before it is stopped"
    )
    notification_emails: list[str] = Field(default_factory=list, description="E-mail subscribers of failures")
    log_retention_days: int = Field(365, description="Retention of the workflow's logs, a CloudWatch Logs value")

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in _LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {', '.join(map(str, _LOG_RETENTION_DAYS))} (got {value})")
        return value

    @field_validator("extra_execution_role_arns")
    @classmethod
    def _extra_roles(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not _ROLE_ARN.match(arn):
                raise ValueError(f"must be IAM role ARNs (got {arn!r})")
        return value

    @field_validator("notification_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", address):
                raise ValueError(f"must be e-mail addresses (got {address!r})")
        return value

    @model_validator(mode="after")
    def _runtime_fits(self) -> LegacyProcessingConfig:
        if self.default_max_runtime_seconds > self.max_runtime_limit_seconds:
            raise ValueError(
                f"default_max_runtime_seconds ({self.default_max_runtime_seconds}) exceeds "
                f"max_runtime_limit_seconds ({self.max_runtime_limit_seconds})"
            )
        events = max_history_events(
            max_runtime_limit_seconds=self.max_runtime_limit_seconds,
            startup_allowance_seconds=self.startup_allowance_seconds,
            poll_interval_seconds=self.poll_interval_seconds,
        )
        if events > HISTORY_EVENT_LIMIT:
            raise ValueError(
                f"poll_interval_seconds {self.poll_interval_seconds} is too short for jobs of up to "
                f"{self.max_runtime_limit_seconds} s: the execution history could reach {events} events "
                f"(limit {HISTORY_EVENT_LIMIT}); raise the interval or lower max_runtime_limit_seconds"
            )
        return self


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
    training_instance_type: INSTANCE_TYPE = "ml.m5.xlarge"
    max_runtime_seconds: int = Field(3600, ge=60, le=432000)
    evaluation_metric: str = Field("mse", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    evaluation_threshold: float = 6.0
    lower_is_better: bool = True
    dashboard_metrics: list[str] = Field(default_factory=lambda: ["mse"], min_length=1)
    endpoint_instance_type: INSTANCE_TYPE = "ml.m5.large"
    min_capacity: int = Field(1, ge=1, le=100)
    max_capacity: int = Field(2, ge=1, le=100)
    invocations_per_instance: float = Field(100.0, gt=0, description="Target of the target-tracking policy")

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


class StudioS3TemplatesConfig(_Strict):
    """The product templates also as SageMaker AI project templates in S3, for these Studio domains."""

    domain_ids: list[str] = Field(
        min_length=1, description="Studio domains (d-...) whose Projects list the templates (domain tag)"
    )
    prefix: str = Field("project-templates/", pattern=r"^([a-z0-9][a-z0-9-]*/)+$")

    @field_validator("domain_ids")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        for domain_id in value:
            if not re.match(r"^d-[a-z0-9]{12}$", domain_id):
                raise ValueError(f"must be SageMaker domain IDs such as d-abcdefghijkl (got {domain_id!r})")
        return value


# Redshift cluster identifiers: lower case, a letter first, no two hyphens in a row, no hyphen last.
_REDSHIFT_CLUSTER = r"^[a-z](-?[a-z0-9])*$"
_REDSHIFT_USER = r"^[a-z_][a-z0-9_$]{0,126}$"
Stage = Literal["staging", "prod"]


class RedshiftMlConfig(_Strict):
    """Redshift ML remote inference (README "Redshift ML remote inference"): each project gets a role the
    configured Redshift cluster can assume to invoke that project's endpoints, and the deploy job writes
    the `CREATE MODEL ... SAGEMAKER` SQL for the deployed model.

    The cluster is in the platform's account and region (Redshift invokes endpoints of its own account
    only). Its trust is scoped with the mechanism Redshift documents: the database-user ARNs Redshift
    passes as the external ID, `arn:<partition>:redshift:<region>:<account>:dbuser:<cluster>/<user>`.
    """

    cluster_identifier: str = Field(min_length=1, max_length=63, pattern=_REDSHIFT_CLUSTER)
    database_users: list[Annotated[str, Field(pattern=_REDSHIFT_USER)]] = Field(
        default_factory=list, description="database users that may use the role; empty: every user of the cluster"
    )
    stages: list[Stage] = Field(
        default_factory=lambda: list[Stage](["prod"]), min_length=1, description="whose endpoints Redshift may invoke"
    )

    @field_validator("database_users", "stages")
    @classmethod
    def _unique(cls, value: list[str], info: ValidationInfo) -> list[str]:
        _refuse_duplicates(str(info.field_name).removesuffix("s").replace("_", " "), value)
        return value


_GROUP_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
_ARTIFACT_ID = r"^[a-z][a-z0-9-]{0,39}$"
_CIDR = r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/\d{1,2}$"
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<repository>[a-z0-9._/-]+)"
    r"(?::(?P<tag>[\w.-]{1,128})|@(?P<digest>sha256:[0-9a-f]{64}))$"
)
SERVING_ENGINES = ("onnx-int8", "onnx", "eager", "exported")
LEAN_ENGINES = ("onnx-int8", "onnx")  # what the Lambda package runs: ONNX Runtime, no torch


def _cpu_ec2_type(value: str) -> str:
    """An EC2 instance type whose family the one table knows as CPU-only (the serving image is the CPU one)."""
    try:
        accelerator = accelerator_of(f"ml.{value}")
    except UnknownInstanceType as error:
        raise ValueError(str(error).replace("ml.", "", 1)) from None
    if accelerator is not Accelerator.NONE:
        raise ValueError(f"{value!r} is a {accelerator} instance type; the serving image is the CPU one")
    return value


class ServedModel(_Strict):
    """One selectable model: the seeds' `artifactId`, served from the newest approved version of a group."""

    artifact_id: str = Field(pattern=_ARTIFACT_ID)
    model_package_group: str = Field(pattern=_GROUP_NAME)


class ServerlessServingConfig(_Strict):
    """The Lambda function serving the classifier (README "Serving an image classifier")."""

    memory_mb: int = Field(default=1024, ge=128, le=10240, description="Also its CPU share: 1,769 MB is one vCPU")
    timeout_seconds: int = Field(default=30, ge=3, le=900)
    reserved_concurrency: int = Field(default=10, ge=1, le=1000)
    refresh_seconds: int = Field(
        default=300, ge=10, le=86400, description="How often a warm function re-checks approvals"
    )
    snap_start: bool = Field(default=True, description="SnapStart on published versions (zip, Python 3.12+)")
    invoker_role_arns: list[str] = Field(
        default_factory=list, description="Roles allowed to call the IAM-authenticated function URL"
    )
    duration_alarm_ms: int = Field(default=1000, ge=1, description="Alarm when p99 duration exceeds this")
    error_alarm_count: int = Field(default=1, ge=1, description="Alarm at this many function errors in 5 minutes")
    alarm_emails: list[Annotated[str, Field(pattern=_EMAIL)]] = Field(default_factory=list)

    @field_validator("invoker_role_arns")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not _ROLE_ARN.match(arn):
                raise ValueError(f"must be IAM role ARNs (got {arn!r})")
        return value


class FargateServingConfig(_Strict):
    """Task size and target-tracking scaling of the Fargate service."""

    cpu: int = Field(default=512, description="CPU units of a task (256, 512, 1024, 2048, 4096)")
    memory_mib: int = Field(default=1024, ge=512, le=30720)
    min_tasks: int = Field(default=2, ge=1, le=100)
    max_tasks: int = Field(default=4, ge=1, le=100)
    requests_per_target: int = Field(default=600, ge=1, description="Target of ALBRequestCountPerTarget (per minute)")
    cpu_percent: int = Field(default=60, ge=10, le=90, description="Target of the CPU utilization policy")

    @model_validator(mode="after")
    def _sizes(self) -> FargateServingConfig:
        memory_range = {
            256: (512, 2048),
            512: (1024, 4096),
            1024: (2048, 8192),
            2048: (4096, 16384),
            4096: (8192, 30720),
        }
        if self.cpu not in memory_range:
            raise ValueError(f"cpu must be one of {sorted(memory_range)} (got {self.cpu})")
        low, high = memory_range[self.cpu]
        if not low <= self.memory_mib <= high:
            raise ValueError(f"memory_mib {self.memory_mib} does not fit cpu {self.cpu} (Fargate allows {low}-{high})")
        if self.min_tasks > self.max_tasks:
            raise ValueError(f"min_tasks {self.min_tasks} exceeds max_tasks {self.max_tasks}")
        return self


class BeanstalkServingConfig(_Strict):
    """The Elastic Beanstalk (Docker platform) environment, the seeds' always-on option."""

    instance_type: Annotated[str, AfterValidator(_cpu_ec2_type)] = "t3.small"
    min_instances: int = Field(default=1, ge=1, le=100)
    max_instances: int = Field(default=2, ge=1, le=100)
    solution_stack_name: str = Field(
        default="64bit Amazon Linux 2023 v4.7.2 running Docker", description="A Docker platform version of the region"
    )

    @model_validator(mode="after")
    def _capacity(self) -> BeanstalkServingConfig:
        if self.min_instances > self.max_instances:
            raise ValueError(f"min_instances {self.min_instances} exceeds max_instances {self.max_instances}")
        return self


def _empty_or_ecr_image(value: str) -> str:
    if value and not _ECR_IMAGE.match(value):
        raise ValueError(
            "must be an Amazon ECR image URI <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> "
            f"(or @sha256:<digest>), or empty (got {value!r})"
        )
    return value


def ecr_image_parts(uri: str) -> dict[str, str]:
    """account, region, repository and tag (or digest) of a validated ECR image URI."""
    match = _ECR_IMAGE.match(uri)
    if match is None:
        raise ValueError(f"{uri!r} is not an ECR image URI")
    return {key: value for key, value in match.groupdict().items() if value}


class AlwaysOnServingConfig(_Strict):
    """The always-on service: the PyTorch serving image behind an ALB, on Fargate or Elastic Beanstalk."""

    platform: str = Field(default="fargate", description="fargate or elastic_beanstalk")
    image_uri: str = Field(
        default="", description="Serving image; empty: built from containers/pytorch at deploy (Docker)"
    )
    fetch_image_uri: str = Field(default="", description="Model-fetch image; empty: built from containers/model_fetch")
    workers: int = Field(default=2, ge=1, le=64, description="SAGEMAKER_MODEL_SERVER_WORKERS")
    vpc_cidr: str = Field(default="10.50.0.0/16", pattern=_CIDR)
    internet_facing: bool = Field(default=False, description="An internet-facing load balancer (default: internal)")
    allowed_cidrs: list[Annotated[str, Field(pattern=_CIDR)]] = Field(
        default_factory=lambda: ["10.0.0.0/8"], min_length=1, description="Who may reach the listener"
    )
    certificate_arn: str = Field(default="", description="ACM certificate: HTTPS listener (and HTTP redirects to it)")
    fargate: FargateServingConfig = FargateServingConfig()
    elastic_beanstalk: BeanstalkServingConfig = BeanstalkServingConfig()

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: str) -> str:
        if value not in ("fargate", "elastic_beanstalk"):
            raise ValueError(f"must be fargate or elastic_beanstalk (got {value!r})")
        return value

    @field_validator("image_uri", "fetch_image_uri")
    @classmethod
    def _ecr_image(cls, value: str) -> str:
        return _empty_or_ecr_image(value)

    @field_validator("certificate_arn")
    @classmethod
    def _certificate(cls, value: str) -> str:
        if value and not re.match(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$", value):
            raise ValueError(f"must be an ACM certificate ARN or empty (got {value!r})")
        return value


class ImageServingConfig(_Strict):
    """Serving the image classifier (seeds 06-08): a Lambda function and/or an always-on service.

    Each of `serverless` and `always_on` is its own stack, deployed when its section is present.
    """

    models: list[ServedModel] = Field(min_length=1)
    default_model: str = Field(pattern=_ARTIFACT_ID, description="artifactId served when a request names none")
    model_bucket_names: list[BUCKET_NAME] = Field(
        min_length=1, description="Buckets holding the versions' model.tar.gz"
    )
    model_kms_key_arns: list[KMS_KEY_ARN] = Field(
        default_factory=list, description="KMS keys of those buckets (SSE-KMS)"
    )
    engine: str = Field(default="onnx-int8", description="Predictor engine (MODEL_ENGINE)")
    serverless: ServerlessServingConfig | None = None
    always_on: AlwaysOnServingConfig | None = None

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: str) -> str:
        if value not in SERVING_ENGINES:
            raise ValueError(f"must be one of {', '.join(SERVING_ENGINES)} (got {value!r})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ImageServingConfig:
        _refuse_duplicates("artifact_id", [model.artifact_id for model in self.models])
        if self.default_model not in self.groups:
            raise ValueError(f"default_model {self.default_model!r} is not one of the models' artifact_id")
        if self.serverless is not None and self.engine not in LEAN_ENGINES:
            raise ValueError(
                f"engine {self.engine!r} needs torch, which the Lambda package leaves out: use one of "
                f"{', '.join(LEAN_ENGINES)} with serverless"
            )
        return self

    @property
    def groups(self) -> dict[str, str]:
        """artifactId -> model package group."""
        return {model.artifact_id: model.model_package_group for model in self.models}

    @property
    def default_group(self) -> str:
        """The model package group the always-on service serves."""
        return self.groups[self.default_model]


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
    studio_s3_templates: StudioS3TemplatesConfig | None = None
    legacy_processing: LegacyProcessingConfig | None = None
    airflow: AirflowConfig | None = None
    fraud_detection: FraudDetectionConfig | None = None
    redshift_ml: RedshiftMlConfig | None = None
    image_serving: ImageServingConfig | None = None

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
    def _legacy_roles_in_account(self) -> PlatformConfig:
        legacy = self.legacy_processing
        foreign = [
            arn for arn in (legacy.extra_execution_role_arns if legacy else []) if arn.split(":")[4] != self.account
        ]
        if foreign:
            raise ValueError(
                f"legacy_processing.extra_execution_role_arns must belong to account {self.account} (got {foreign})"
            )
        return self

    @model_validator(mode="after")
    def _secrets_in_platform_account(self) -> PlatformConfig:
        for index, connection in enumerate(self.gitlab.connections):
            if connection.secret_account_and_region != (self.account, self.region):
                raise ValueError(
                    f"gitlab.connections.{index}.token_secret_arn must be a secret of account {self.account} in "
                    f"{self.region}, where the Lambdas read it (got {connection.token_secret_arn})"
                )
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
    def deploy_ci_role_path(self) -> str:
        """IAM path of every project's deploy CI role: the multi-account pipeline role trusts this path."""
        return f"/{self.name}/deploy-ci/"

    @property
    def permissions_boundary_name(self) -> str:
        """Managed policy every role a product template creates must carry as its permissions boundary."""
        return f"{self.name}-project-permissions-boundary"

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


def parse_config(data: Any, *, source: str = "<config>", base_dir: str | Path = ".") -> PlatformConfig:
    """Validate a mapping as a `PlatformConfig`, raising `ConfigError` that names each bad key.

    Relative file paths in it (a connection's `ca_bundle`) are relative to `base_dir`, which
    `load_config` sets to the configuration file's directory.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return PlatformConfig.model_validate(data, context={"base_dir": str(base_dir)})
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
    return parse_config(data, source=str(path), base_dir=path.resolve().parent)
