"""The image classifier Lambda function: lean zip (ONNX Runtime, no torch), SnapStart, IAM-authenticated URL.

The function URL belongs to the alias `live`, which points at the version published on each deployment
(SnapStart snapshots published versions only, after their init has loaded the default model). Asynchronous
invocations that keep failing go to a dead-letter queue; alarms watch errors, throttles, p99 duration and
the dead-letter queue.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.checkov import skip_checks
from stacks.components.image_serving.model_access import grant_model_access, suppress_model_access_findings
from stacks.components.lambda_bundling import LAMBDA_RUNTIME, LAMBDAS_DIR, REPO_ROOT, python_lambda_code
from stacks.config import ImageServingConfig, ServerlessServingConfig

REQUIREMENTS = LAMBDAS_DIR / "requirements-image-classifier.txt"
SHARED_PACKAGES = [
    REPO_ROOT / "containers" / "pytorch" / "pytorch_container",
    REPO_ROOT / "containers" / "model_fetch" / "model_fetch",
]
HANDLER = "image_classifier.handler.lambda_handler"
ALIAS = "live"
ASYNC_RETRIES = 2


class ClassifierFunction(Construct):
    """The function, its alias and URL, its dead-letter queue, alarms and their topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        serving: ImageServingConfig,
        settings: ServerlessServingConfig,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        NagSuppressions.add_resource_suppressions(
            self.dead_letters,
            [{"id": "AwsSolutions-SQS3", "reason": "This queue is itself the dead-letter queue of the function."}],
        )
        environment = {
            "POWERTOOLS_SERVICE_NAME": "image-classifier",
            "MODELS": json.dumps(serving.groups, sort_keys=True),
            "DEFAULT_MODEL": serving.default_model,
            "MODEL_BUCKETS": ",".join(serving.model_bucket_names),
            "MODEL_ENGINE": serving.engine,
            "MODEL_DEVICE": "cpu",
            "MODEL_REFRESH_SECONDS": str(settings.refresh_seconds),
            "MODEL_CACHE_DIR": "/tmp/models",
        }
        self.function = lambda_.Function(
            self,
            "Function",
            description="Image classifier: approved model package versions by artifactId, ONNX Runtime",
            runtime=LAMBDA_RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=HANDLER,
            code=python_lambda_code(
                packages=["image_classifier"], requirements=REQUIREMENTS, shared_packages=SHARED_PACKAGES
            ),
            memory_size=settings.memory_mb,
            timeout=cdk.Duration.seconds(settings.timeout_seconds),
            reserved_concurrent_executions=settings.reserved_concurrency,
            environment=environment,
            environment_encryption=key,
            dead_letter_queue=self.dead_letters,
            log_group=logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_YEAR, encryption_key=key),
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if settings.snap_start else None,
        )
        grant_model_access(
            self.function.role,  # type: ignore[arg-type]
            serving=serving,
            groups=serving.groups.values(),
            account=stack.account,
            region=stack.region,
        )
        self.alias = lambda_.Alias(
            self,
            "Live",
            alias_name=ALIAS,
            version=self.function.current_version,
            retry_attempts=ASYNC_RETRIES,
            max_event_age=cdk.Duration.hours(1),
            on_failure=destinations.SqsDestination(self.dead_letters),
        )
        self.url = self.alias.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        for index, arn in enumerate(settings.invoker_role_arns):
            # Resource-based grants on the alias: a function URL call needs both actions, and InvokeFunction
            # only through the URL, so the role cannot invoke the function directly (asynchronously) too.
            self.alias.add_permission(
                f"InvokeUrl{index}",
                principal=iam.ArnPrincipal(arn),
                action="lambda:InvokeFunctionUrl",
                function_url_auth_type=lambda_.FunctionUrlAuthType.AWS_IAM,
            )
            self.alias.add_permission(
                f"InvokeViaUrl{index}",
                principal=iam.ArnPrincipal(arn),
                action="lambda:InvokeFunction",
                invoked_via_function_url=True,
            )
        self.topic = sns.Topic(
            self, "Alarms", display_name="Image classifier function alarms", master_key=key, enforce_ssl=True
        )
        for address in settings.alarm_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        self.alarms = self._alarms(settings)
        self._findings(serving)

    def _alarms(self, settings: ServerlessServingConfig) -> list[cloudwatch.Alarm]:
        period = cdk.Duration.minutes(5)
        alarms = [
            self.alias.metric_errors(period=period, statistic="Sum").create_alarm(
                self,
                "ErrorsAlarm",
                alarm_description="The image classifier function failed (5xx or an exception)",
                threshold=settings.error_alarm_count,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            self.alias.metric_duration(period=period, statistic="p99").create_alarm(
                self,
                "DurationAlarm",
                alarm_description=f"p99 duration of the image classifier above {settings.duration_alarm_ms} ms",
                threshold=settings.duration_alarm_ms,
                evaluation_periods=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            self.alias.metric_throttles(period=period, statistic="Sum").create_alarm(
                self,
                "ThrottlesAlarm",
                alarm_description="Requests throttled: the reserved concurrency is used up",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            self.dead_letters.metric_approximate_number_of_messages_visible(period=period).create_alarm(
                self,
                "DeadLettersAlarm",
                alarm_description="Asynchronous invocations gave up: see the dead-letter queue",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        for alarm in alarms:
            alarm.add_alarm_action(actions.SnsAction(self.topic))
        return alarms

    def _findings(self, serving: ImageServingConfig) -> None:
        stack = cdk.Stack.of(self)
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "AWSLambdaBasicExecutionRole: the AWS-maintained minimum for writing the function logs.",
                    "applies_to": [
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                    ],
                },
            ],
            apply_to_children=True,
        )
        suppress_model_access_findings(
            self.function, serving=serving, groups=serving.groups.values(), account=stack.account, region=stack.region
        )
        skip_checks(
            self.function,
            {
                "CKV_AWS_117": "Reaches only AWS APIs (SageMaker model registry, S3); no VPC resource to reach, and a "
                "VPC would add a NAT or endpoints to the cost of every request.",
            },
        )
