"""An Express state machine running a fraud workflow definition, with encrypted logs and tracing."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagSuppressions
from constructs import Construct


class ExpressWorkflow(Construct):
    """`definition` (a `*_definition` function's result) as an Express workflow.

    `include_execution_data` puts each execution's input in its log records: the event architecture
    needs it, because an execution EventBridge started and that fails in a way no Catch sees
    (`States.Runtime`) has nobody else to hand the transaction back to.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: dict[str, Any],
        key: kms.IKey,
        endpoint_arn: str,
        include_execution_data: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_YEAR, encryption_key=key)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.EXPRESS,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(definition)),
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=include_execution_data
            ),
            tracing_enabled=True,
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[endpoint_arn])
        )
        NagSuppressions.add_resource_suppressions(
            self.state_machine,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": (
                        "CloudWatch Logs delivery and X-Ray actions that Step Functions needs have no "
                        "resource-level permissions."
                    ),
                    "applies_to": ["Resource::*"],
                }
            ],
            apply_to_children=True,
        )
