"""Lambda entry point of the GitLab trigger: ``gitlab_trigger.handler.lambda_handler``.

Configuration comes from the environment (see ``trigger.TriggerConfig.from_env``); the logic
lives in ``trigger``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from .trigger import TriggerConfig, logger, process_event

# The shared GitLab client logs through standard logging; give it the same JSON output.
copy_config_to_registered_loggers(source_logger=logger, include={"gitlab_host"})


@logger.inject_lambda_context(log_event=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handle one model package state change; raise so that failures are retried."""
    return process_event(event, config=TriggerConfig.from_env())
