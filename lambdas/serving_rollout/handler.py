"""Lambda entry point: an approval or rejection in the served model package group rolls the service."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from gitlab_trigger.events import ModelPackageStateChangeEvent
from serving_rollout.rollout import restart_beanstalk_environment, roll_ecs_service

logger = Logger()


@logger.inject_lambda_context
@event_parser(model=ModelPackageStateChangeEvent)
def lambda_handler(event: ModelPackageStateChangeEvent, context: LambdaContext) -> dict[str, Any]:
    """Roll the configured service (ECS or Elastic Beanstalk) for an event of the configured group."""
    detail = event.detail
    if detail.model_package_group_name != os.environ["MODEL_PACKAGE_GROUP"]:
        # The rule matches this group only; anything else is a misrouted event, not work.
        logger.warning("ignored an event of group %s", detail.model_package_group_name)
        return {"action": "ignored", "reason": f"group {detail.model_package_group_name} is not served here"}
    if os.environ["TARGET"] == "ecs":
        outcome = roll_ecs_service(
            boto3.client("ecs"), cluster=os.environ["CLUSTER"], service=os.environ["SERVICE"], event_time=event.time
        )
    else:
        outcome = restart_beanstalk_environment(
            boto3.client("elasticbeanstalk"), environment=os.environ["ENVIRONMENT"], event_time=event.time
        )
    logger.info(
        "%s: %s",
        outcome.action,
        outcome.reason,
        extra={"model_package_arn": detail.model_package_arn, "status": detail.model_approval_status},
    )
    return {"action": outcome.action, "reason": outcome.reason}
