"""Serverless serving of the image classifier (seed 07): a Lambda function behind an IAM-authenticated URL."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.components.image_serving.classifier_function import ClassifierFunction
from stacks.components.operations_key import operations_key
from stacks.config import ImageServingConfig, ServerlessServingConfig


class ImageServerlessStack(cdk.Stack):
    """The classifier function, its key, dead-letter queue, alarms and URL."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        serving: ImageServingConfig,
        settings: ServerlessServingConfig,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = operations_key(self, "Key", description="Image classifier function: logs, settings, queue, topic")
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToTheTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        self.classifier = ClassifierFunction(self, "Classifier", serving=serving, settings=settings, key=key)
        cdk.CfnOutput(self, "FunctionUrl", value=self.classifier.url.url, description="POST /invocations (SigV4)")
        cdk.CfnOutput(self, "FunctionAlias", value=self.classifier.alias.function_arn)
        cdk.CfnOutput(self, "DeadLetterQueueUrl", value=self.classifier.dead_letters.queue_url)
