"""The always-on classifier on ECS Fargate: init container + serving container behind an ALB, auto scaled.

Each task starts the model-fetch init container, which puts the newest approved version of the model
package group into a task volume and exits; the serving container (the PyTorch image's `serve`) starts
only when it succeeded and reads the model read-only. A task that cannot get its model never becomes
healthy, and the deployment circuit breaker rolls the service back.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.checkov import skip_checks
from stacks.components.image_serving import serving_contract as contract
from stacks.components.image_serving.model_access import grant_model_access, suppress_model_access_findings
from stacks.components.image_serving.serving_images import container_image
from stacks.components.private_network import PrivateNetwork
from stacks.config import AlwaysOnServingConfig, ImageServingConfig

SCRATCH_VOLUMES = {contract.INIT_CONTAINER: "fetch-scratch", contract.SERVER_CONTAINER: "server-scratch"}


class FargateClassifierService(Construct):
    """Cluster, task definition, service, load balancer, listeners and scaling."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        serving: ImageServingConfig,
        settings: AlwaysOnServingConfig,
        network: PrivateNetwork,
        key: kms.IKey,
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=network.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )
        self.task = self._task_definition(serving, settings, key)
        grant_model_access(
            self.task.task_role,
            serving=serving,
            groups=[serving.default_group],
            account=stack.account,
            region=stack.region,
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task,
            desired_count=settings.fargate.min_tasks,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            vpc_subnets=network.private_subnets,
            assign_public_ip=False,
            platform_version=ecs.FargatePlatformVersion.LATEST,
            health_check_grace_period=cdk.Duration.seconds(60),
        )
        self.load_balancer, self.target_group = self._load_balancer(settings, network, access_logs)
        self.service.attach_to_application_target_group(self.target_group)
        self.service.connections.allow_from(self.load_balancer, ec2.Port.tcp(contract.PORT), "load balancer to server")
        scaling = self.service.auto_scale_task_count(
            min_capacity=settings.fargate.min_tasks, max_capacity=settings.fargate.max_tasks
        )
        scaling.scale_on_request_count(
            "Requests", requests_per_target=settings.fargate.requests_per_target, target_group=self.target_group
        )
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=settings.fargate.cpu_percent)
        self._findings(serving)

    def _task_definition(
        self, serving: ImageServingConfig, settings: AlwaysOnServingConfig, key: kms.IKey
    ) -> ecs.FargateTaskDefinition:
        task = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=settings.fargate.cpu,
            memory_limit_mib=settings.fargate.memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64, operating_system_family=ecs.OperatingSystemFamily.LINUX
            ),
            volumes=[ecs.Volume(name="model"), *(ecs.Volume(name=name) for name in SCRATCH_VOLUMES.values())],
        )
        logs_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_YEAR, encryption_key=key)
        fetch = task.add_container(
            contract.INIT_CONTAINER,
            image=container_image(self, "FetchImage", configured_uri=settings.fetch_image_uri, kind="fetch"),
            essential=False,
            environment=contract.fetch_environment(serving),
            readonly_root_filesystem=True,
            logging=ecs.LogDriver.aws_logs(stream_prefix=contract.INIT_CONTAINER, log_group=logs_group),
        )
        server = task.add_container(
            contract.SERVER_CONTAINER,
            image=container_image(self, "ServingImage", configured_uri=settings.image_uri, kind="serving"),
            command=contract.SERVE_COMMAND,
            user=contract.SERVER_USER,
            port_mappings=[ecs.PortMapping(container_port=contract.PORT)],
            environment=contract.server_environment(serving, settings),
            readonly_root_filesystem=True,
            logging=ecs.LogDriver.aws_logs(stream_prefix=contract.SERVER_CONTAINER, log_group=logs_group),
        )
        fetch.add_mount_points(
            ecs.MountPoint(container_path=contract.MODEL_DIR, source_volume="model", read_only=False),
            ecs.MountPoint(
                container_path="/tmp", source_volume=SCRATCH_VOLUMES[contract.INIT_CONTAINER], read_only=False
            ),
        )
        server.add_mount_points(
            ecs.MountPoint(container_path=contract.MODEL_DIR, source_volume="model", read_only=True),
            ecs.MountPoint(
                container_path="/tmp", source_volume=SCRATCH_VOLUMES[contract.SERVER_CONTAINER], read_only=False
            ),
        )
        server.add_container_dependencies(
            ecs.ContainerDependency(container=fetch, condition=ecs.ContainerDependencyCondition.SUCCESS)
        )
        return task

    def _load_balancer(
        self, settings: AlwaysOnServingConfig, network: PrivateNetwork, access_logs: s3.IBucket
    ) -> tuple[elbv2.ApplicationLoadBalancer, elbv2.ApplicationTargetGroup]:
        security_group = ec2.SecurityGroup(
            self,
            "LoadBalancerSecurityGroup",
            vpc=network.vpc,
            description="Classifier load balancer",
            allow_all_outbound=False,
        )
        balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=network.vpc,
            internet_facing=settings.internet_facing,
            vpc_subnets=network.public_subnets if settings.internet_facing else network.private_subnets,
            security_group=security_group,
            drop_invalid_header_fields=True,
            deletion_protection=True,
        )
        balancer.log_access_logs(access_logs, prefix="classifier-alb")
        target_group = elbv2.ApplicationTargetGroup(
            self,
            "Targets",
            vpc=network.vpc,
            port=contract.PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            deregistration_delay=cdk.Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path=contract.HEALTH_CHECK_PATH,
                healthy_http_codes="200",
                interval=cdk.Duration.seconds(15),
                timeout=cdk.Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        ports = [443, 80] if settings.certificate_arn else [80]
        for cidr in settings.allowed_cidrs:
            for port in ports:
                security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), f"clients on port {port}")
        if settings.certificate_arn:
            balancer.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[acm.Certificate.from_certificate_arn(self, "Certificate", settings.certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                default_target_groups=[target_group],
                open=False,
            )
            balancer.add_redirect(source_port=80, target_port=443, open=False)
        else:
            listener = balancer.add_listener(
                "Http",
                port=80,
                protocol=elbv2.ApplicationProtocol.HTTP,
                default_target_groups=[target_group],
                open=False,
            )
            reason = (
                "No certificate is configured (always_on.certificate_arn): plain HTTP on a load balancer reachable "
                "only from always_on.allowed_cidrs; configuring a certificate adds HTTPS and redirects HTTP."
            )
            skip_checks(listener, {"CKV_AWS_2": reason, "CKV_AWS_103": reason})
        return balancer, target_group

    def _findings(self, serving: ImageServingConfig) -> None:
        stack = cdk.Stack.of(self)
        suppress_model_access_findings(
            self.task, serving=serving, groups=[serving.default_group], account=stack.account, region=stack.region
        )
        NagSuppressions.add_resource_suppressions(
            self.task,
            [
                {
                    "id": "AwsSolutions-ECS2",
                    "reason": "The environment holds settings only (model group, buckets, engine, port); no secret.",
                },
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.task.obtain_execution_role(),
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "ecr:GetAuthorizationToken has no resource-level permissions (CDK's image pull grant).",
                    "applies_to": ["Resource::*"],
                }
            ],
            apply_to_children=True,
        )
