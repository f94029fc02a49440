"""Fraud detection, Firehose architecture: Direct PUT -> transformation Lambda -> S3.

Every record is delivered with its score and decision; records the Lambda cannot enrich are
returned as `ProcessingFailed` and Firehose writes them under `errors/processing-failed/`
(the Lambda logs each one's reason). Nothing is blocked: consumers of the bucket act on the
decision.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.access_log_bucket import access_log_bucket
from stacks.components.fraud.encryption_key import fraud_key
from stacks.components.fraud.endpoint import endpoint_arn
from stacks.components.fraud.fraud_function import fraud_function
from stacks.config import FraudDetectionConfig

DATA_PREFIX = "transactions/!{timestamp:yyyy/MM/dd}/"
ERROR_PREFIX = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"


class FraudFirehoseStack(cdk.Stack):
    """Firehose delivery stream enriching each transaction with its score and decision."""

    def __init__(self, scope: Construct, construct_id: str, *, fraud: FraudDetectionConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = fraud_key(self, "Key", description="Fraud detection (Firehose): delivery stream, bucket, logs")
        access_logs = access_log_bucket(self, "AccessLogs")
        self.bucket = s3.Bucket(
            self,
            "Deliveries",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="deliveries/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.function = fraud_function(
            self,
            "Enrich",
            package="fraud_firehose_enrich",
            description="Fraud detection: adds score and decision to each Firehose record",
            key=key,
            environment={
                "ENDPOINT_NAME": fraud.endpoint_name,
                "INVESTIGATE_THRESHOLD": str(fraud.thresholds.investigate),
                "BLOCK_THRESHOLD": str(fraud.thresholds.block),
            },
            reserved_concurrency=fraud.firehose_lambda_concurrency,
            failure_handling="Firehose invokes it synchronously and writes records it fails to the error prefix.",
            timeout=cdk.Duration.seconds(120),
            memory_size=512,
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:InvokeEndpoint"], resources=[endpoint_arn(self, fraud.endpoint_name)]
            )
        )
        delivery_logs = logs.LogGroup(self, "DeliveryLogs", retention=logs.RetentionDays.ONE_YEAR, encryption_key=key)
        self.delivery_stream = firehose.DeliveryStream(
            self,
            "Transactions",
            encryption=firehose.StreamEncryption.customer_managed_key(key),
            destination=firehose.S3Bucket(
                self.bucket,
                encryption_key=key,
                data_output_prefix=DATA_PREFIX,
                error_output_prefix=ERROR_PREFIX,
                buffering_interval=cdk.Duration.seconds(60),
                compression=firehose.Compression.GZIP,
                logging_config=firehose.EnableLogging(delivery_logs),
                processors=[
                    firehose.LambdaFunctionProcessor(
                        self.function,
                        buffer_interval=cdk.Duration.seconds(60),
                        buffer_size=cdk.Size.mebibytes(1),
                        retries=3,
                    )
                ],
            ),
        )
        NagSuppressions.add_resource_suppressions(
            self.delivery_stream,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "Firehose's roles as the L2 construct grants them, each on this stack's own key, bucket "
                        "and function only: key actions by prefix (GenerateDataKey*, ReEncrypt*), objects under the "
                        "delivery bucket, S3 action groups (GetObject*, List*...), and the function's versions (:*)."
                    ),
                    "applies_to": [
                        "Action::kms:GenerateDataKey*",
                        "Action::kms:ReEncrypt*",
                        "Action::s3:Abort*",
                        "Action::s3:DeleteObject*",
                        "Action::s3:GetBucket*",
                        "Action::s3:GetObject*",
                        "Action::s3:List*",
                        "Resource::<DeliveriesBF2F7293.Arn>/*",
                        "Resource::<Enrich6BF5708E.Arn>:*",
                    ],
                }
            ],
            apply_to_children=True,
        )
        cdk.CfnOutput(self, "DeliveryStreamName", value=self.delivery_stream.delivery_stream_name)
        cdk.CfnOutput(self, "BucketName", value=self.bucket.bucket_name)
