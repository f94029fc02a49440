"""Lambda entry point of the seed-code check-in custom resource: ``seed_code_checkin.handler.on_event``.

The CDK Provider framework invokes ``on_event``; the logic lives in ``checkin``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from .checkin import handle_event, logger

# The shared GitLab client logs through standard logging; give it the same JSON output.
copy_config_to_registered_loggers(source_logger=logger, include={"gitlab_host"})


@logger.inject_lambda_context
def on_event(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Create/Update/Delete the GitLab projects; raising reports FAILED with the message."""
    return handle_event(event)
