"""GitLab trigger: start the model deploy project's pipeline when a model version is approved.

EventBridge invokes it for ``SageMaker Model Package State Change`` events of the project's
model package group (``Approved`` and ``Rejected``). An ``Approved`` version starts the deploy
project's pipeline on the deploy branch with ``MODEL_PACKAGE_ARN``, ``MODEL_PACKAGE_GROUP_NAME``
and ``MODEL_PACKAGE_VERSION``. The deploy project is addressed by the ID recorded when it was
seeded, never looked up by name.

At most one pipeline per approval
    EventBridge delivers at least once, Lambda retries, and SageMaker sends the same event again
    when a version's lifecycle stage changes. Starting the pipeline is idempotent (Powertools
    idempotency, DynamoDB) on the key (model package ARN, approval status): the first event
    starts it, the others return the recorded result, and a duplicate that arrives while the
    first is still running fails and is retried later, by when the result is recorded. A failed
    start (GitLab down) records nothing, so its retry starts the pipeline.
    A ``Rejected`` event of a version clears its record: approving it again after a rejection is
    a new decision and deploys again. Records expire after ``APPROVAL_RECORD_DAYS``.

Poison and transient failures
    A malformed event, or one of another model package group, can never succeed: it is sent to
    the dead-letter queue at once with the reason (message attribute ``ErrorMessage``) and the
    invocation succeeds, so it is not retried. Everything else (GitLab 5xx/429/timeouts, a token
    that cannot be read) raises: Lambda retries the event, then moves it to the same queue.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.parser import ValidationError, parse

from gitlab_host import GitLabConnection, GitLabHost, RepositoryHost, connections_from_env, resolve_connection

from .events import APPROVED, REJECTED, ModelPackageStateChangeEvent

SERVICE = "gitlab-trigger"
logger = Logger(service=SERVICE)

ENV_SERVER_URL = "GITLAB_SERVER_URL"
ENV_TOKEN_SECRET_ARN = "GITLAB_TOKEN_SECRET_ARN"
ENV_DEPLOY_PROJECT_ID = "GITLAB_DEPLOY_PROJECT_ID"
ENV_DEPLOY_BRANCH = "DEPLOY_BRANCH"
ENV_MODEL_PACKAGE_GROUP_NAME = "MODEL_PACKAGE_GROUP_NAME"
ENV_IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE_NAME"
ENV_DEAD_LETTER_QUEUE_URL = "DEAD_LETTER_QUEUE_URL"
DEFAULT_DEPLOY_BRANCH = "main"
# Long enough that no stage change of a deployed version comes later in practice; TTL cleans up.
APPROVAL_RECORD_DAYS = 90
# Seconds kept back from the Lambda's remaining time for recording the result.
TIME_MARGIN_S = 5.0
# A hung GitLab costs at most (1 + retries) x timeout = 30 s, well inside the function's 60 s.
GITLAB_TIMEOUT_S = 10.0
GITLAB_MAX_RETRIES = 2
_KEY_PREFIX = "deploy-approval"


class TriggerError(Exception):
    """The trigger is misconfigured or received an event it must not act on."""


class PoisonEventError(TriggerError):
    """An event that can never succeed (malformed, or of another group): not worth retrying."""


@dataclass(frozen=True)
class TriggerConfig:
    """Where to start which pipeline, for which model package group, and with which token."""

    gitlab_server_url: str
    token_secret_arn: str
    deploy_project_id: str
    model_package_group_name: str
    deploy_branch: str = DEFAULT_DEPLOY_BRANCH
    idempotency_table: str = ""
    dead_letter_queue_url: str = ""
    connections: Sequence[GitLabConnection] = field(default=(), repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TriggerConfig:
        """Read the configuration from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        required = (ENV_SERVER_URL, ENV_TOKEN_SECRET_ARN, ENV_DEPLOY_PROJECT_ID, ENV_MODEL_PACKAGE_GROUP_NAME)
        missing = [name for name in required if not env.get(name, "").strip()]
        if missing:
            raise TriggerError(f"The GitLab trigger is missing environment variables: {', '.join(missing)}.")
        return cls(
            gitlab_server_url=env[ENV_SERVER_URL].strip(),
            token_secret_arn=env[ENV_TOKEN_SECRET_ARN].strip(),
            deploy_project_id=env[ENV_DEPLOY_PROJECT_ID].strip(),
            model_package_group_name=env[ENV_MODEL_PACKAGE_GROUP_NAME].strip(),
            deploy_branch=env.get(ENV_DEPLOY_BRANCH, "").strip() or DEFAULT_DEPLOY_BRANCH,
            idempotency_table=env.get(ENV_IDEMPOTENCY_TABLE, "").strip(),
            dead_letter_queue_url=env.get(ENV_DEAD_LETTER_QUEUE_URL, "").strip(),
            connections=connections_from_env(env),
        )


def parse_event(event: Any) -> ModelPackageStateChangeEvent:
    """Validate the EventBridge event; raise ``PoisonEventError`` naming each missing/invalid field."""
    try:
        return parse(event=event, model=ModelPackageStateChangeEvent)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'event'}: {error['msg']}" for error in exc.errors()
        )
        raise PoisonEventError(f"Malformed SageMaker Model Package State Change event: {problems}") from None


def idempotency_config() -> IdempotencyConfig:
    """One approval (model package ARN, approval status) is one key."""
    return IdempotencyConfig(
        event_key_jmespath="[model_package_arn, model_approval_status]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=APPROVAL_RECORD_DAYS * 24 * 3600,
    )


def process_event(
    event: Any,
    *,
    config: TriggerConfig,
    host: RepositoryHost | None = None,
    persistence: BasePersistenceLayer | None = None,
    time_left_s: Callable[[], float] | None = None,
    lambda_context: Any | None = None,
) -> dict[str, Any]:
    """Start the deploy pipeline for an approved model version of ``config``'s group.

    ``host`` defaults to the GitLab server of ``config`` (checked against its configured
    connections) with the token from its secret. ``persistence`` makes the start idempotent;
    without one (the offline demo) every call starts a pipeline. ``lambda_context`` bounds an
    in-progress record to the invocation's time, so a crashed start does not block its retry.
    Returns what was done; raises
    ``PoisonEventError`` for a malformed event or another group's event, and
    ``RepositoryHostError`` / ``TokenSecretError`` when GitLab cannot be reached.
    """
    detail = parse_event(event).detail
    if detail.model_package_group_name != config.model_package_group_name:
        raise PoisonEventError(
            f"Event for model package group '{detail.model_package_group_name}', but this trigger "
            f"serves '{config.model_package_group_name}': check the EventBridge rule's pattern."
        )
    approval = {
        "model_package_arn": detail.model_package_arn,
        "model_package_version": detail.model_package_version,
        "model_approval_status": detail.model_approval_status,
    }
    if detail.model_approval_status == REJECTED and persistence is not None:
        _forget_approval(persistence, approval)
    if detail.model_approval_status != APPROVED:
        logger.info("Model version not approved: no deployment", extra=approval)
        return {"status": "ignored", **approval}

    def start(*, approval: dict[str, Any]) -> dict[str, Any]:
        repository_host = host or _gitlab_host(config, time_left_s=time_left_s)
        pipeline = repository_host.start_pipeline(
            config.deploy_project_id,
            ref=config.deploy_branch,
            variables={
                "MODEL_PACKAGE_ARN": approval["model_package_arn"],
                "MODEL_PACKAGE_GROUP_NAME": config.model_package_group_name,
                "MODEL_PACKAGE_VERSION": str(approval["model_package_version"]),
            },
        )
        logger.info(
            "Started the model deploy pipeline",
            extra={**approval, "pipeline_id": pipeline.id, "pipeline_url": pipeline.web_url},
        )
        return {"status": "started", "pipeline_id": pipeline.id, "pipeline_url": pipeline.web_url, **approval}

    if persistence is None:
        return start(approval=approval)
    idempotency = idempotency_config()
    if lambda_context is not None:
        idempotency.register_lambda_context(lambda_context)
    once = idempotent_function(
        data_keyword_argument="approval", persistence_store=persistence, config=idempotency, key_prefix=_KEY_PREFIX
    )(start)
    result: dict[str, Any] = once(approval=approval)
    return result


def _forget_approval(persistence: BasePersistenceLayer, approval: dict[str, Any]) -> None:
    """Clear the record of the version's approval: approving it again deploys again."""
    persistence.configure(idempotency_config(), key_prefix=_KEY_PREFIX)
    persistence.delete_record(
        data={**approval, "model_approval_status": APPROVED},
        exception=TriggerError("the model version was rejected"),
    )
    logger.info("Model version rejected: a later approval deploys it again", extra=approval)


def _gitlab_host(config: TriggerConfig, *, time_left_s: Callable[[], float] | None) -> GitLabHost:
    """The configured server of the configured secret; anything else is refused before the token is read."""
    connection = resolve_connection(
        config.connections, server_url=config.gitlab_server_url, token_secret_arn=config.token_secret_arn
    )
    return GitLabHost.from_connection(
        connection, time_left_s=time_left_s, timeout_s=GITLAB_TIMEOUT_S, max_retries=GITLAB_MAX_RETRIES
    )


def persistence_for(config: TriggerConfig) -> BasePersistenceLayer | None:
    """The DynamoDB idempotency store of ``config`` (None when no table is configured)."""
    if not config.idempotency_table:
        return None
    return DynamoDBPersistenceLayer(table_name=config.idempotency_table)


def send_to_dead_letter_queue(event: Any, reason: str, *, queue_url: str, sqs: Any | None = None) -> None:
    """Keep a poison event with the reason, in the attributes Lambda's own dead-lettering uses."""
    client = sqs or boto3.client("sqs")
    client.send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps(event, default=str),
        MessageAttributes={
            "ErrorCode": {"DataType": "String", "StringValue": "PoisonEvent"},
            "ErrorMessage": {"DataType": "String", "StringValue": reason[:1000]},
        },
    )
