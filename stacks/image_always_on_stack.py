"""Always-on serving of the image classifier (seed 06): the PyTorch serving image behind a load balancer.

ECS Fargate (default) or Elastic Beanstalk's Docker platform (`always_on.platform`), in private subnets,
with the model of the newest approved version of the default model's package group; an approval or a
rejection in that group rolls the service (`ServingRollout`).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.components.access_log_bucket import access_log_bucket
from stacks.components.image_serving.beanstalk_environment import BeanstalkClassifierEnvironment
from stacks.components.image_serving.fargate_service import FargateClassifierService
from stacks.components.image_serving.rollout import ServingRollout
from stacks.components.operations_key import operations_key
from stacks.components.private_network import PrivateNetwork
from stacks.config import AlwaysOnServingConfig, ImageServingConfig


class ImageAlwaysOnStack(cdk.Stack):
    """Network, access-log bucket, the service on the configured platform and its rollout on approval."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        serving: ImageServingConfig,
        settings: AlwaysOnServingConfig,
        name: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = operations_key(self, "Key", description="Always-on image classifier: logs, settings, dead letters")
        network = PrivateNetwork(self, "Network", cidr=settings.vpc_cidr, log_key=key, purpose="image-serving")
        access_logs = access_log_bucket(self, "AccessLogs")
        if settings.platform == "fargate":
            service = FargateClassifierService(
                self, "Fargate", serving=serving, settings=settings, network=network, key=key, access_logs=access_logs
            )
            rollout_environment = {
                "TARGET": "ecs",
                "CLUSTER": service.cluster.cluster_name,
                "SERVICE": service.service.service_name,
            }
            statements = [
                iam.PolicyStatement(
                    actions=["ecs:DescribeServices", "ecs:UpdateService"], resources=[service.service.service_arn]
                ),
                # UpdateService with a force-new-deployment re-registers nothing: no iam:PassRole needed.
            ]
            endpoint = service.load_balancer.load_balancer_dns_name
        else:
            environment_name = f"{name}-classifier"[:40]
            environment = BeanstalkClassifierEnvironment(
                self,
                "Beanstalk",
                serving=serving,
                settings=settings,
                network=network,
                access_logs=access_logs,
                environment_name=environment_name,
            )
            rollout_environment = {"TARGET": "beanstalk", "ENVIRONMENT": environment_name}
            statements = [
                iam.PolicyStatement(
                    actions=["elasticbeanstalk:DescribeEnvironments", "elasticbeanstalk:RestartAppServer"],
                    resources=[
                        f"arn:aws:elasticbeanstalk:{self.region}:{self.account}:environment/"
                        f"{environment_name}/{environment_name}"
                    ],
                )
            ]
            endpoint = environment.environment.attr_endpoint_url
        self.rollout = ServingRollout(
            self,
            "Rollout",
            group=serving.default_group,
            environment=rollout_environment,
            statements=statements,
            key=key,
        )
        cdk.CfnOutput(self, "Endpoint", value=endpoint, description="POST /invocations, GET /ping")
