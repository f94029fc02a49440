"""The custom resource's ``ResourceProperties``, validated.

CloudFormation passes every scalar as a string (``"true"``, ``"42"``); the models coerce them.
Nested values (seed-code locations, variable lists) may arrive as objects or as JSON strings.
Validation errors name the property and never echo a variable's value.

ResourceProperties are logged by the CDK Provider framework and readable by anyone who can
describe the stack, so they must never carry a secret: the token travels as the ARN of its
secret, and variables whose names say they hold credentials are refused (set such variables in
GitLab, masked and protected, not through the template).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from gitlab_host import CiVariable

# GitLab project paths: letters, digits, '_', '-', '.'; not starting with '-' or '.'.
_REPO_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
_RESERVED_SUFFIXES = (".git", ".atom", ".")
# Git refuses spaces and ~^:?*[\ in branch names.
_BRANCH_PATTERN = r"^[^\s~^:?*\[\\]+$"
_NAMESPACE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$"
# Variable names that say they hold a credential; those never pass through ResourceProperties.
_CREDENTIAL_NAME = re.compile(r"SECRET|PASSWORD|PRIVATE|TOKEN|ACCESS_KEY|CREDENTIAL", re.IGNORECASE)


class InvalidPropertiesError(ValueError):
    """The custom resource's properties are missing or invalid."""


def _json_if_string(value: Any) -> Any:
    """Accept a nested property given as a JSON string (e.g. by a template parameter)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError("must be an object/list or a JSON string of one") from None
    return value


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, str_strip_whitespace=True, frozen=True)


class SeedCodeLocation(_Model):
    """A zip of a seed repository in S3."""

    bucket: str = Field(alias="Bucket", min_length=1)
    key: str = Field(alias="Key", min_length=1)


class VariableProperty(_Model):
    """One CI/CD variable; ``Masked``/``Protected`` arrive as "true"/"false"."""

    # Values are used exactly as given, whitespace included.
    model_config = ConfigDict(populate_by_name=True, str_strip_whitespace=False, frozen=True)

    key: str = Field(alias="Key", pattern=r"^[A-Za-z0-9_]{1,255}$")
    value: str = Field(alias="Value")
    masked: bool = Field(False, alias="Masked")
    protected: bool = Field(False, alias="Protected")

    @field_validator("key")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        if _CREDENTIAL_NAME.search(value):
            raise ValueError(
                f"variable {value} looks like a credential; credentials never travel through the template "
                "(CloudFormation logs and shows ResourceProperties): set it in GitLab, masked and protected"
            )
        return value

    def to_ci_variable(self) -> CiVariable:
        """The host-level variable."""
        return CiVariable(key=self.key, value=self.value, masked=self.masked, protected=self.protected)


SeedCode = Annotated[SeedCodeLocation, BeforeValidator(_json_if_string)]
Variables = Annotated[list[VariableProperty], BeforeValidator(_json_if_string)]


class CheckinProperties(_Model):
    """Everything the check-in needs; unknown properties (e.g. ``ServiceToken``) are ignored."""

    gitlab_server_url: str = Field(alias="GitLabServerUrl")
    token_secret_arn: str = Field(alias="GitLabTokenSecretArn", pattern=r"^arn:aws[a-z-]*:secretsmanager:")
    namespace: str = Field(alias="GitLabRepositoryNamespace", pattern=_NAMESPACE_PATTERN)
    group_id: int | None = Field(alias="GitLabGroupId")
    model_build_repo_name: str = Field(alias="ModelBuildRepoName")
    model_deploy_repo_name: str = Field(alias="ModelDeployRepoName")
    default_branch: str = Field("main", alias="DefaultBranch", pattern=_BRANCH_PATTERN)
    sagemaker_project_name: str = Field(alias="SageMakerProjectName", min_length=1)
    sagemaker_project_id: str = Field(alias="SageMakerProjectId", min_length=1)
    model_build_seed_code: SeedCode = Field(alias="ModelBuildSeedCode")
    model_deploy_seed_code: SeedCode = Field(alias="ModelDeploySeedCode")
    model_build_variables: Variables = Field(alias="ModelBuildVariables")
    model_deploy_variables: Variables = Field(alias="ModelDeployVariables")
    on_delete: Literal["keep", "archive"] = Field("keep", alias="OnDelete")

    @field_validator("gitlab_server_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("must be the GitLab server URL, e.g. https://gitlab.com")
        return value.rstrip("/")

    @field_validator("group_id", mode="before")
    @classmethod
    def _group_id(cls, value: Any) -> Any:
        # Empty means the token owner's personal namespace.
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            value = value.strip()
            if not (value.isascii() and value.isdigit()):
                raise ValueError("must be empty or a numeric GitLab group ID")
        return value

    @field_validator("model_build_repo_name", "model_deploy_repo_name")
    @classmethod
    def _repo_name(cls, value: str) -> str:
        if not _REPO_NAME.match(value) or value.endswith(_RESERVED_SUFFIXES):
            raise ValueError(
                "must be a GitLab project path: letters, digits, '_', '-', '.', starting with a "
                "letter, digit or '_', not ending in '.', '.git' or '.atom'"
            )
        return value

    @field_validator("model_build_variables", "model_deploy_variables")
    @classmethod
    def _unique_keys(cls, value: list[VariableProperty]) -> list[VariableProperty]:
        keys = [variable.key for variable in value]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"duplicate variable keys: {', '.join(duplicates)}")
        return value


def parse_properties(raw: Any) -> CheckinProperties:
    """Validate ``ResourceProperties``; raise ``InvalidPropertiesError`` naming each bad property."""
    if not isinstance(raw, dict):
        raise InvalidPropertiesError("ResourceProperties is missing or not an object.")
    try:
        return CheckinProperties.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise InvalidPropertiesError(f"Invalid ResourceProperties: {problems}") from None
