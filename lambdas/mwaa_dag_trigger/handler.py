"""Lambda entry point: `mwaa_dag_trigger.handler.handler`.

Event: `{"dag": "mlops_training", "run_id": "gitlab-1234-train", "conf": {...}, "note": "..."}`.
Returns `{"dag", "dag_run_id", "state", "created", "environment"}`; raises `TriggerError` (a function
error whose message names the DAG and the reason) when no run was started. Logs name the DAG and the
run ID only: neither the conf nor anything MWAA returns is logged.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from .trigger import TriggerError, TriggerSettings, parse_request, trigger_dag

logger = Logger(service="mwaa-dag-trigger")


@lru_cache(maxsize=4)
def _mwaa_client(endpoint: str | None) -> Any:
    """The MWAA client, reused across invocations. With an endpoint (MWAA_ENDPOINT_URL: an interface
    VPC endpoint's own DNS name, or a local stand-in) requests go there as given, without the `env.`
    host prefix botocore would add."""
    config = Config(
        connect_timeout=5,
        read_timeout=20,
        retries={"max_attempts": 3, "mode": "standard"},
        inject_host_prefix=endpoint is None,
    )
    return boto3.client("mwaa", endpoint_url=endpoint, config=config)


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Trigger the requested DAG run."""
    settings = TriggerSettings.from_environment(os.environ)
    try:
        request = parse_request(event, settings)
        client = _mwaa_client(os.environ.get("MWAA_ENDPOINT_URL") or None)
        result = trigger_dag(request, client=client, settings=settings)
    except TriggerError as error:
        logger.error(
            "DAG run not started", extra={"dag": error.dag, "reason": str(error), "retryable": error.retryable}
        )
        raise
    logger.info(
        "DAG run started" if result["created"] else "DAG run already started",
        extra={"dag": result["dag"], "dag_run_id": result["dag_run_id"], "state": result["state"]},
    )
    return result
