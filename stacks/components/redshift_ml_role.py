"""The role a Redshift cluster assumes to score one SageMaker project's endpoints (Redshift ML remote inference).

`CREATE MODEL ... SAGEMAKER '<endpoint>' ... IAM_ROLE '<this role>'` makes Redshift call `InvokeEndpoint`
with this role for every batch of rows a query scores. The role:

- trusts only Redshift, and only for the configured cluster: Redshift passes the ARN of the database
  user running the query as the external ID (`arn:<partition>:redshift:<region>:<account>:dbuser:
  <cluster>/<user>`), which the trust matches against the configured users, or every user of that
  cluster when none are configured (the scoping Redshift's management guide documents);
- may invoke only this project's endpoints of the configured stages, by exact name
  (`<project name, lower case>-<stage>`, the names the deploy repository gives them), nothing else.

The cluster must be in the project's account and region: Redshift invokes endpoints of its own account
only, and this role is created there.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct


class RedshiftMlRole(Construct):
    """A role the configured Redshift cluster may assume to invoke the project's endpoints."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster_identifier: str,
        database_users: list[str],
        endpoint_names: list[str],
        description: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        users = database_users or ["*"]
        external_ids = [
            stack.format_arn(
                service="redshift",
                resource="dbuser",
                resource_name=f"{cluster_identifier}/{user}",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
            for user in users
        ]
        operator = "StringLike" if database_users == [] else "StringEquals"
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("redshift.amazonaws.com").with_conditions(
                {operator: {"sts:ExternalId": external_ids}}
            ),
            description=description,
        )
        self.endpoint_arns = [
            stack.format_arn(service="sagemaker", resource="endpoint", resource_name=name) for name in endpoint_names
        ]
        self.role.add_to_policy(iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=self.endpoint_arns))
