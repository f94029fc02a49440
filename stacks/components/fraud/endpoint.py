"""The scoring endpoint the fraud stacks call (named in configuration, deployed by the approval path)."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from fraud_scoring.scoring import Thresholds
from stacks.components.fraud.decision_states import RetryPolicy
from stacks.config import FraudDetectionConfig


def endpoint_arn(scope: Construct, endpoint_name: str) -> str:
    """ARN of the endpoint in the stack's account and region (SageMaker writes endpoint ARNs in lower case)."""
    return cdk.Stack.of(scope).format_arn(service="sagemaker", resource="endpoint", resource_name=endpoint_name.lower())


def thresholds(config: FraudDetectionConfig) -> Thresholds:
    """The configured thresholds as the scoring code's type."""
    return Thresholds(config.thresholds.investigate, config.thresholds.block)


def retry_policy(config: FraudDetectionConfig) -> RetryPolicy:
    """The configured endpoint timeout and attempts as the workflow definitions' type."""
    return RetryPolicy(timeout_seconds=config.scoring.timeout_seconds, max_attempts=config.scoring.max_attempts)
