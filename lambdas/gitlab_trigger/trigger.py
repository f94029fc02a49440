"""GitLab trigger: start the model deploy project's pipeline when a model version is approved.

EventBridge invokes it for ``SageMaker Model Package State Change`` events of the project's
model package group. An ``Approved`` version starts the deploy project's pipeline on the deploy
branch with ``MODEL_PACKAGE_ARN``, ``MODEL_PACKAGE_GROUP_NAME`` and ``MODEL_PACKAGE_VERSION``;
other statuses are logged and ignored. The deploy project is addressed by the ID recorded when
it was seeded, never looked up by name. Every failure raises, so the asynchronous invocation is
retried and what still fails lands in the configured dead-letter queue.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import ValidationError, parse

from gitlab_host import GitLabHost, RepositoryHost

from .events import APPROVED, ModelPackageStateChangeEvent

SERVICE = "gitlab-trigger"
logger = Logger(service=SERVICE)

ENV_SERVER_URL = "GITLAB_SERVER_URL"
ENV_TOKEN_SECRET_NAME = "GITLAB_TOKEN_SECRET_NAME"
ENV_DEPLOY_PROJECT_ID = "GITLAB_DEPLOY_PROJECT_ID"
ENV_DEPLOY_BRANCH = "DEPLOY_BRANCH"
ENV_MODEL_PACKAGE_GROUP_NAME = "MODEL_PACKAGE_GROUP_NAME"
DEFAULT_DEPLOY_BRANCH = "main"


class TriggerError(Exception):
    """The trigger is misconfigured or received an event it must not act on."""


@dataclass(frozen=True)
class TriggerConfig:
    """Where to start which pipeline, and for which model package group."""

    gitlab_server_url: str
    token_secret_name: str
    deploy_project_id: str
    model_package_group_name: str
    deploy_branch: str = DEFAULT_DEPLOY_BRANCH

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TriggerConfig:
        """Read the configuration from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        required = (ENV_SERVER_URL, ENV_TOKEN_SECRET_NAME, ENV_DEPLOY_PROJECT_ID, ENV_MODEL_PACKAGE_GROUP_NAME)
        missing = [name for name in required if not env.get(name, "").strip()]
        if missing:
            raise TriggerError(f"The GitLab trigger is missing environment variables: {', '.join(missing)}.")
        return cls(
            gitlab_server_url=env[ENV_SERVER_URL].strip(),
            token_secret_name=env[ENV_TOKEN_SECRET_NAME].strip(),
            deploy_project_id=env[ENV_DEPLOY_PROJECT_ID].strip(),
            model_package_group_name=env[ENV_MODEL_PACKAGE_GROUP_NAME].strip(),
            deploy_branch=env.get(ENV_DEPLOY_BRANCH, "").strip() or DEFAULT_DEPLOY_BRANCH,
        )


def parse_event(event: Any) -> ModelPackageStateChangeEvent:
    """Validate the EventBridge event; raise ``TriggerError`` naming each missing/invalid field."""
    try:
        return parse(event=event, model=ModelPackageStateChangeEvent)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'event'}: {error['msg']}" for error in exc.errors()
        )
        raise TriggerError(f"Malformed SageMaker Model Package State Change event: {problems}") from None


def process_event(event: Any, *, config: TriggerConfig, host: RepositoryHost | None = None) -> dict[str, Any]:
    """Start the deploy pipeline for an approved model version of ``config``'s group.

    ``host`` defaults to the GitLab server of ``config`` with the token from its secret.
    Returns what was done; raises ``TriggerError`` for a malformed event or another group's
    event, and ``RepositoryHostError`` / ``TokenSecretError`` when GitLab cannot be reached.
    """
    detail = parse_event(event).detail
    if detail.model_package_group_name != config.model_package_group_name:
        raise TriggerError(
            f"Event for model package group '{detail.model_package_group_name}', but this trigger "
            f"serves '{config.model_package_group_name}': check the EventBridge rule's pattern."
        )
    model = {
        "model_package_arn": detail.model_package_arn,
        "model_package_version": detail.model_package_version,
        "model_approval_status": detail.model_approval_status,
    }
    if detail.model_approval_status != APPROVED:
        logger.info("Model version not approved: no deployment", extra=model)
        return {"status": "ignored", **model}

    repository_host = host or GitLabHost.from_secret(config.gitlab_server_url, config.token_secret_name)
    pipeline = repository_host.start_pipeline(
        config.deploy_project_id,
        ref=config.deploy_branch,
        variables={
            "MODEL_PACKAGE_ARN": detail.model_package_arn,
            "MODEL_PACKAGE_GROUP_NAME": detail.model_package_group_name,
            "MODEL_PACKAGE_VERSION": str(detail.model_package_version),
        },
    )
    logger.info(
        "Started the model deploy pipeline",
        extra={**model, "pipeline_id": pipeline.id, "pipeline_url": pipeline.web_url},
    )
    return {"status": "started", "pipeline_id": pipeline.id, "pipeline_url": pipeline.web_url, **model}
