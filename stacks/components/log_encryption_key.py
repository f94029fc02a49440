"""A KMS key for the stack's CloudWatch log groups (CloudWatch Logs encrypts with it)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct


class LogEncryptionKey(Construct):
    """Key usable by CloudWatch Logs for this account's log groups in this region only."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the CloudWatch log groups of the Airflow variant",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.key.add_to_resource_policy(
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

    def log_group(self, scope: Construct, construct_id: str) -> logs.LogGroup:
        """A log group kept a year, encrypted with this key."""
        return logs.LogGroup(scope, construct_id, retention=logs.RetentionDays.ONE_YEAR, encryption_key=self.key)

    def encrypt(self, log_group: logs.ILogGroup) -> None:
        """Encrypt a log group created by another construct with this key."""
        cfn: logs.CfnLogGroup = log_group.node.default_child  # type: ignore[assignment]
        cfn.kms_key_id = self.key.key_arn
        cfn.node.add_dependency(self.key)
