"""The customer managed KMS key of one fraud stack: its stream, table, topic, queues, bucket and logs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


def fraud_key(scope: Construct, construct_id: str, *, description: str) -> kms.Key:
    """A rotated key that CloudWatch Logs of this account and region may use for the stack's log groups."""
    stack = cdk.Stack.of(scope)
    key = kms.Key(scope, construct_id, description=description, enable_key_rotation=True)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],  # in a key policy, "*" is this key
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )
    return key
