"""The Amazon MWAA environment, its versioned DAG bucket and its execution role.

The bucket holds `dags/` (the DAG files of `mwaa_dags/` and the platform file, deployed together)
and `requirements/requirements-<hash>.txt` (see `mwaa_dag_files.py`). The environment runs the
Airflow version pinned in requirements-airflow.in, in private subnets with a private web server,
with every log type on. The execution role carries what MWAA itself needs (its bucket, its log
groups, its Celery queues, metrics); the stack grants the rest (SageMaker, notifications).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_mwaa as mwaa
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.checkov import DEPLOY_TIME_FUNCTION_SKIPS, skip_checks
from stacks.components.log_encryption_key import LogEncryptionKey
from stacks.components.mwaa_dag_files import (
    DAGS_DIR,
    PLATFORM_FILE,
    airflow_version,
    mwaa_requirements,
    requirements_key,
)
from stacks.components.private_network import PrivateNetwork

LOG_TYPES = ("dag_processing_logs", "scheduler_logs", "task_logs", "webserver_logs", "worker_logs")


class MwaaEnvironment(Construct):
    """MWAA environment with its bucket, role and security group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        environment_class: str,
        min_workers: int,
        max_workers: int,
        network: PrivateNetwork,
        platform_document: dict[str, Any],
        access_logs: s3.IBucket,
        logs_key: LogEncryptionKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.name = name
        self.arn = stack.format_arn(service="airflow", resource="environment", resource_name=name)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            versioned=True,  # MWAA requires it
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="mwaa-bucket/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        requirements = mwaa_requirements()
        self.requirements_key = requirements_key(requirements)
        # Both deployments run on CDK's one BucketDeployment function: one log group for it.
        deployment_logs = logs_key.log_group(self, "DeploymentLogs")
        dags = s3_deployment.BucketDeployment(
            self,
            "Dags",
            destination_bucket=self.bucket,
            destination_key_prefix="dags/",
            sources=[
                s3_deployment.Source.asset(str(DAGS_DIR), exclude=["__pycache__", "*.pyc"]),
                s3_deployment.Source.json_data(PLATFORM_FILE, platform_document),
            ],
            prune=True,
            retain_on_delete=False,
            log_group=deployment_logs,
        )
        requirements_deployment = s3_deployment.BucketDeployment(
            self,
            "Requirements",
            destination_bucket=self.bucket,
            sources=[s3_deployment.Source.data(self.requirements_key, requirements)],
            prune=False,  # earlier versions stay: an environment update or rollback may still read them
            retain_on_delete=False,
            log_group=deployment_logs,
        )

        self.role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("airflow.amazonaws.com"), iam.ServicePrincipal("airflow-env.amazonaws.com")
            ),
            description=f"Execution role of the MWAA environment {name}",
        )
        self._grant_mwaa_essentials(stack)

        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, description=f"MWAA environment {name}", allow_all_outbound=True
        )
        # MWAA's components (scheduler, workers, web server, metadata database) talk to each other.
        self.security_group.add_ingress_rule(self.security_group, ec2.Port.all_traffic(), "MWAA components")

        self.environment = mwaa.CfnEnvironment(
            self,
            "Environment",
            name=name,
            airflow_version=airflow_version(),
            environment_class=environment_class,
            min_workers=min_workers,
            max_workers=max_workers,
            execution_role_arn=self.role.role_arn,
            source_bucket_arn=self.bucket.bucket_arn,
            dag_s3_path="dags",
            requirements_s3_path=self.requirements_key,
            webserver_access_mode="PRIVATE_ONLY",
            endpoint_management="SERVICE",
            network_configuration=mwaa.CfnEnvironment.NetworkConfigurationProperty(
                security_group_ids=[self.security_group.security_group_id],
                subnet_ids=network.private_subnet_ids,
            ),
            logging_configuration=mwaa.CfnEnvironment.LoggingConfigurationProperty(
                **{
                    log_type: mwaa.CfnEnvironment.ModuleLoggingConfigurationProperty(enabled=True, log_level="INFO")
                    for log_type in LOG_TYPES
                }
            ),
            airflow_configuration_options={
                "core.load_examples": "False",
                "mlops.job_poll_seconds": "60",
            },
        )
        self.environment.node.add_dependency(dags, requirements_deployment, self.role)
        self._suppress_deployment_findings()

    def _grant_mwaa_essentials(self, stack: cdk.Stack) -> None:
        """What every MWAA execution role needs (AWS's documented policy, scoped to this environment)."""
        self.bucket.grant_read(self.role)
        self.role.add_to_policy(iam.PolicyStatement(actions=["airflow:PublishMetrics"], resources=[self.arn]))
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogStream",
                    "logs:CreateLogGroup",
                    "logs:PutLogEvents",
                    "logs:GetLogEvents",
                    "logs:GetLogRecord",
                    "logs:GetLogGroupFields",
                    "logs:GetQueryResults",
                ],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"airflow-{self.name}-*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        self.role.add_to_policy(iam.PolicyStatement(actions=["logs:DescribeLogGroups"], resources=["*"]))
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "AmazonMWAA"}},
            )
        )
        # The Celery queues live in an account of the MWAA service: the ARN names no account of ours.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage",
                    "sqs:SendMessage",
                ],
                resources=[f"arn:{stack.partition}:sqs:{stack.region}:*:airflow-celery-*"],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
                not_resources=[f"arn:{stack.partition}:kms:*:{stack.account}:key/*"],
                conditions={"StringLike": {"kms:ViaService": [f"sqs.{stack.region}.amazonaws.com"]}},
            )
        )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "AWS's documented MWAA execution policy: its own log groups airflow-<env>-*, the service's "
                        "Celery queues airflow-celery-* (in the MWAA service account), the service's SQS key via "
                        "SQS only, DescribeLogGroups (no resource type), metrics of the AmazonMWAA namespace, and "
                        "read access to its own DAG bucket."
                    ),
                }
            ],
            apply_to_children=True,
        )

    def _suppress_deployment_findings(self) -> None:
        """Justify the findings on CDK's BucketDeployment function (it copies the DAGs at deploy time)."""
        stack = cdk.Stack.of(self)
        for child in stack.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                NagSuppressions.add_resource_suppressions(
                    child,
                    [
                        {
                            "id": "AwsSolutions-IAM4",
                            "reason": "CDK's BucketDeployment function uses AWSLambdaBasicExecutionRole for its logs.",
                        },
                        {
                            "id": "AwsSolutions-IAM5",
                            "reason": (
                                "CDK's BucketDeployment grants itself object wildcards on the CDK asset bucket and "
                                "on the MWAA bucket it deploys the DAGs to, and nothing else."
                            ),
                        },
                        {
                            "id": "AwsSolutions-L1",
                            "reason": "CDK's BucketDeployment pins its own runtime; it runs only during cdk deploy.",
                        },
                    ],
                    apply_to_children=True,
                )
                skip_checks(child, DEPLOY_TIME_FUNCTION_SKIPS)
