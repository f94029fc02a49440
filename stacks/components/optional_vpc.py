"""Put Lambda functions in a VPC only when the product's subnet parameter is set.

Self-hosted GitLab is often reachable only from inside a VPC. The product template takes
optional subnet and security-group IDs; a CloudFormation condition attaches `VpcConfig` and
the ENI permissions Lambda needs there, and leaves both out when the IDs are empty.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.cfn_lint_exceptions import ignore_cfn_lint_checks


class OptionalVpc(Construct):
    """CloudFormation condition and settings shared by every function of a product."""

    def __init__(
        self, scope: Construct, construct_id: str, *, subnet_ids: cdk.CfnParameter, security_group_id: cdk.CfnParameter
    ) -> None:
        super().__init__(scope, construct_id)
        self._subnet_ids = subnet_ids
        self._security_group_id = security_group_id
        self.condition = cdk.CfnCondition(
            self, "InVpc", expression=cdk.Fn.condition_not(cdk.Fn.condition_equals(subnet_ids.value_as_string, ""))
        )
        # A subnet without a security group would fail late inside Lambda; refuse the launch instead.
        cdk.CfnRule(
            self,
            "SecurityGroupWithSubnets",
            rule_condition=cdk.Fn.condition_not(cdk.Fn.condition_equals(subnet_ids.value_as_string, "")),
            assertions=[
                cdk.CfnRuleAssertion(
                    assert_=cdk.Fn.condition_not(cdk.Fn.condition_equals(security_group_id.value_as_string, "")),
                    assert_description=(
                        "SecurityGroupId is required when SubnetIds is set (both Lambdas run in that VPC)."
                    ),
                )
            ],
        )

        # cfn-lint resolves the VPC branch with the parameters' empty defaults (W1030, reported at
        # the parameter, so only template-level metadata reaches it); the rule above guarantees
        # real sg-/subnet- IDs whenever that branch is taken.
        ignore_cfn_lint_checks(cdk.Stack.of(self), "W1030")

    def apply(self, function: lambda_.Function) -> None:
        """Attach the conditional VpcConfig, and the VPC access policy only when it applies."""
        cfn_function: lambda_.CfnFunction = function.node.default_child  # type: ignore[assignment]
        cfn_function.add_property_override(
            "VpcConfig",
            cdk.Fn.condition_if(
                self.condition.logical_id,
                {
                    "SubnetIds": cdk.Fn.split(",", self._subnet_ids.value_as_string),
                    "SecurityGroupIds": [self._security_group_id.value_as_string],
                },
                cdk.Aws.NO_VALUE,
            ),
        )
        # Lambda checks the role's ENI permissions when the function is created in a VPC, so they
        # sit on the role the function already depends on, as a conditional managed policy.
        cfn_role: iam.CfnRole = function.role.node.default_child  # type: ignore[union-attr,assignment]
        cfn_role.add_property_override(
            "ManagedPolicyArns",
            [
                f"arn:{cdk.Aws.PARTITION}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                cdk.Fn.condition_if(
                    self.condition.logical_id,
                    f"arn:{cdk.Aws.PARTITION}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
                    cdk.Aws.NO_VALUE,
                ),
            ],
        )
        NagSuppressions.add_resource_suppressions(
            function.role,  # type: ignore[arg-type]
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": (
                        "AWSLambdaVPCAccessExecutionRole (attached only when SubnetIds is set) is the "
                        "AWS-maintained minimum for ENIs; EC2 network-interface actions take no resource "
                        "ARNs."
                    ),
                }
            ],
        )
