"""The DAG trigger Lambda (`lambdas/mwaa_dag_trigger/`): starts DAG runs through MWAA's InvokeRestApi.

It runs in the environment's private subnets with a security group that only lets HTTPS out, may
call `airflow:InvokeRestApi` as the Airflow `User` role of this one environment, and may trigger
only the DAGs named in ALLOWED_DAGS. GitLab CI jobs invoke it with their OIDC role.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.checkov import skip_checks
from stacks.components.lambda_bundling import LAMBDA_RUNTIME, LAMBDAS_DIR, python_lambda_code
from stacks.components.log_encryption_key import LogEncryptionKey
from stacks.components.private_network import PrivateNetwork

PACKAGE = "mwaa_dag_trigger"
# The Airflow role the calls run as: `User` may trigger DAG runs, not change connections or variables.
AIRFLOW_ROLE = "User"


class MwaaDagTrigger(Construct):
    """Lambda function that triggers the allowed DAGs of one MWAA environment."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        allowed_dags: list[str],
        network: PrivateNetwork,
        logs_key: LogEncryptionKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description="DAG trigger Lambda: HTTPS to the MWAA API only",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "MWAA API (HTTPS)")
        log_group = logs_key.log_group(self, "Logs")
        # Asynchronous invocations that fail land here instead of being lost (CI invokes synchronously).
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=f"Triggers DAG runs on the MWAA environment {environment_name}",
            runtime=LAMBDA_RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=f"{PACKAGE}.handler.handler",
            code=python_lambda_code(packages=[PACKAGE], requirements=LAMBDAS_DIR / PACKAGE / "requirements.txt"),
            timeout=cdk.Duration.seconds(60),
            memory_size=256,
            reserved_concurrent_executions=10,
            log_group=log_group,
            vpc=network.vpc,
            vpc_subnets=network.private_subnets,
            security_groups=[self.security_group],
            dead_letter_queue=self.dead_letters,
            environment={
                "MWAA_ENVIRONMENT_NAME": environment_name,
                "ALLOWED_DAGS": ",".join(allowed_dags),
                "POWERTOOLS_SERVICE_NAME": "mwaa-dag-trigger",
            },
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["airflow:InvokeRestApi"],
                resources=[
                    stack.format_arn(
                        service="airflow", resource="role", resource_name=f"{environment_name}/{AIRFLOW_ROLE}"
                    )
                ],
            )
        )
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": (
                        "AWSLambdaVPCAccessExecutionRole is the AWS-maintained minimum for a function in a VPC "
                        "(its network interfaces and its own logs)."
                    ),
                    "applies_to": [
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
                    ],
                }
            ],
            apply_to_children=True,
        )
        skip_checks(
            self.function,
            {
                "CKV_AWS_173": "The environment holds the MWAA environment name and the DAG allow-list, no secret; "
                "Lambda encrypts it at rest with its service key."
            },
        )
        NagSuppressions.add_resource_suppressions(
            self.dead_letters,
            [{"id": "AwsSolutions-SQS3", "reason": "This queue is itself the dead-letter queue of the function."}],
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> None:
        """Let a CI role invoke the function."""
        self.function.grant_invoke(grantee)
