"""Builds the CDK app from a validated configuration; `app.py` and the tests share it."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.airflow_stack import AirflowStack
from stacks.components.cfn_lint_exceptions import ignore_cfn_lint_checks
from stacks.config import PlatformConfig
from stacks.fraud_events_stack import FraudEventsStack
from stacks.fraud_firehose_stack import FraudFirehoseStack
from stacks.fraud_stream_stack import FraudStreamStack
from stacks.image_always_on_stack import ImageAlwaysOnStack
from stacks.image_serverless_stack import ImageServerlessStack
from stacks.legacy_processing_stack import LegacyProcessingStack
from stacks.platform_stack import PlatformStack
from stacks.target_account_stack import TargetAccountStack

DEFAULT_CONFIG = "config/default.yaml"
# Feature flags set here rather than in cdk.json so that tests and `make synth` (which build the
# app in-process) synthesize exactly what `cdk deploy` deploys.
FEATURE_FLAGS = {
    "@aws-cdk/core:checkSecretUsage": True,
    "@aws-cdk/core:target-partitions": ["aws"],
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-s3:createDefaultLoggingPolicy": True,
    "@aws-cdk/core:enablePartitionLiterals": True,
    "@aws-cdk/aws-lambda:useCdkManagedLogGroup": True,
    # What the CDK CLI sets by default: every resource records its construct path (the architecture
    # diagram, tooling/architecture.py, groups resources by it).
    "aws:cdk:enable-path-metadata": True,
}


def add_target_account_stacks(app: cdk.App, config: PlatformConfig) -> list[TargetAccountStack]:
    """One stack per target account of multi-account promotion (none without `multi_account`)."""
    multi = config.multi_account
    if multi is None:
        return []
    pipeline_role_arn = f"arn:aws:iam::{config.account}:role/{config.multi_account_pipeline_role_name}"
    return [
        TargetAccountStack(
            app,
            f"{config.name}-target-{stage}",
            multi_account=multi,
            pipeline_role_arn=pipeline_role_arn,
            stage=stage,
            env=cdk.Environment(account=account, region=config.region),
        )
        for stage, account in (("staging", multi.staging_account), ("prod", multi.prod_account))
    ]


def add_legacy_processing_stack(app: cdk.App, config: PlatformConfig) -> LegacyProcessingStack | None:
    """The legacy ML code workflow's stack (none without `legacy_processing`)."""
    if config.legacy_processing is None:
        return None
    return LegacyProcessingStack(
        app,
        f"{config.name}-legacy-processing",
        config=config.legacy_processing,
        env=cdk.Environment(account=config.account, region=config.region),
        description="Legacy ML code on SageMaker: Step Functions workflow of Processing jobs, image repository",
    )


def add_fraud_detection_stacks(app: cdk.App, config: PlatformConfig) -> list[cdk.Stack]:
    """The three fraud detection architectures (none without `fraud_detection`)."""
    fraud = config.fraud_detection
    if fraud is None:
        return []
    env = cdk.Environment(account=config.account, region=config.region)
    return [
        FraudStreamStack(
            app,
            f"{config.name}-fraud-stream",
            fraud=fraud,
            env=env,
            description="Real-time fraud detection: Kinesis Data Stream -> Lambda -> Step Functions Express",
        ),
        FraudFirehoseStack(
            app,
            f"{config.name}-fraud-firehose",
            fraud=fraud,
            env=env,
            description="Real-time fraud detection: Firehose with a Lambda transform enriching each record",
        ),
        FraudEventsStack(
            app,
            f"{config.name}-fraud-events",
            fraud=fraud,
            env=env,
            description="Real-time fraud detection: EventBridge bus -> rule -> Step Functions Express -> enriched bus",
        ),
    ]


def add_image_serving_stacks(app: cdk.App, config: PlatformConfig) -> list[cdk.Stack]:
    """Serving the image classifier: the Lambda function and the always-on service, each when configured."""
    serving = config.image_serving
    if serving is None:
        return []
    env = cdk.Environment(account=config.account, region=config.region)
    stacks: list[cdk.Stack] = []
    if serving.serverless is not None:
        stacks.append(
            ImageServerlessStack(
                app,
                f"{config.name}-image-serverless",
                serving=serving,
                settings=serving.serverless,
                env=env,
                description="Image classifier, serverless: Lambda (ONNX Runtime, SnapStart) behind an IAM function URL",
            )
        )
    if serving.always_on is not None:
        stacks.append(
            ImageAlwaysOnStack(
                app,
                f"{config.name}-image-always-on",
                serving=serving,
                settings=serving.always_on,
                name=config.name,
                env=env,
                description="Image classifier, always-on: the PyTorch serving image behind an ALB "
                f"({serving.always_on.platform.replace('_', ' ')})",
            )
        )
    return stacks


def build_app(config: PlatformConfig, *, outdir: str | None = None, context: dict[str, Any] | None = None) -> cdk.App:
    """The app with every stack of the platform and the cdk-nag AwsSolutions checks attached."""
    app = cdk.App(outdir=outdir, context={**FEATURE_FLAGS, **(context or {})})
    env = cdk.Environment(account=config.account, region=config.region)
    platform = PlatformStack(
        app,
        f"{config.name}-platform",
        config=config,
        env=env,
        description="MLOps platform for SageMaker with GitLab: project templates and shared resources",
    )
    add_target_account_stacks(app, config)
    add_legacy_processing_stack(app, config)
    if config.airflow is not None:
        airflow = AirflowStack(
            app,
            f"{config.name}-airflow",
            config=config,
            env=env,
            description="MLOps platform, Airflow variant: MWAA orchestrating SageMaker training and deployment",
        )
        # The platform stack creates the GitLab OIDC provider and the base image parameter it uses.
        airflow.add_stack_dependency(platform)
    add_fraud_detection_stacks(app, config)
    add_image_serving_stacks(app, config)
    for construct in app.node.find_all():
        if isinstance(construct, cdk.Stack):
            # W3005: CDK adds explicit DependsOn beside references as a pattern of its own.
            ignore_cfn_lint_checks(construct, "W3005")
    for key, value in config.tags.items():
        cdk.Tags.of(app).add(key, value)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app
