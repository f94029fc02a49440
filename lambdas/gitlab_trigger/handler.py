"""Lambda entry point of the GitLab trigger: ``gitlab_trigger.handler.lambda_handler``.

Configuration comes from the environment (see ``trigger.TriggerConfig.from_env``); the logic
lives in ``trigger``. A poison event goes to the dead-letter queue with its reason and the
invocation succeeds (no retry); any other failure raises, so Lambda retries the event.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from .trigger import (
    TIME_MARGIN_S,
    PoisonEventError,
    TriggerConfig,
    logger,
    persistence_for,
    process_event,
    send_to_dead_letter_queue,
)

# The shared GitLab client logs through standard logging; give it the same JSON output.
copy_config_to_registered_loggers(source_logger=logger, include={"gitlab_host"})


@logger.inject_lambda_context(log_event=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handle one model package state change; raise so that transient failures are retried."""
    config = TriggerConfig.from_env()
    try:
        return process_event(
            event,
            config=config,
            persistence=persistence_for(config),
            time_left_s=lambda: context.get_remaining_time_in_millis() / 1000 - TIME_MARGIN_S,
            lambda_context=context,
        )
    except PoisonEventError as error:
        if not config.dead_letter_queue_url:
            raise
        logger.error("Poison event sent to the dead-letter queue, not retried", extra={"reason": str(error)})
        send_to_dead_letter_queue(event, str(error), queue_url=config.dead_letter_queue_url)
        return {"status": "dead-lettered", "reason": str(error)}
