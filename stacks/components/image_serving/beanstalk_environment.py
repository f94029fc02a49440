"""The always-on classifier on Elastic Beanstalk (Docker platform), the seeds' option.

A load-balanced environment (Application Load Balancer, access logs, HTTPS when a certificate is configured)
in the private subnets, running `beanstalk_bundle/docker-compose.yml`: the model-fetch init service, then
the PyTorch serving image. Managed platform updates, enhanced health, logs streamed to CloudWatch.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticbeanstalk as beanstalk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.image_serving import serving_contract as contract
from stacks.components.image_serving.model_access import grant_model_access, suppress_model_access_findings
from stacks.components.image_serving.serving_images import image_uri
from stacks.components.private_network import PrivateNetwork
from stacks.config import AlwaysOnServingConfig, ImageServingConfig

BUNDLE_DIR = Path(__file__).resolve().parent / "beanstalk_bundle"


def _options(namespace: str, values: dict[str, str]) -> list[beanstalk.CfnEnvironment.OptionSettingProperty]:
    return [
        beanstalk.CfnEnvironment.OptionSettingProperty(namespace=namespace, option_name=name, value=value)
        for name, value in values.items()
    ]


class BeanstalkClassifierEnvironment(Construct):
    """Application, version (the compose bundle), environment, instance profile and service role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        serving: ImageServingConfig,
        settings: AlwaysOnServingConfig,
        network: PrivateNetwork,
        access_logs: s3.IBucket,
        environment_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.environment_name = environment_name
        serving_uri, serving_repository = image_uri(
            self, "ServingImage", configured_uri=settings.image_uri, kind="serving"
        )
        fetch_uri, fetch_repository = image_uri(
            self, "FetchImage", configured_uri=settings.fetch_image_uri, kind="fetch"
        )
        self.instance_role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AWSElasticBeanstalkWebTier")],
        )
        self.instance_role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        self.instance_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                resources=sorted({arn for arn in (serving_repository, fetch_repository) if arn}),
            )
        )
        grant_model_access(
            self.instance_role,
            serving=serving,
            groups=[serving.default_group],
            account=stack.account,
            region=stack.region,
        )
        profile = iam.InstanceProfile(self, "InstanceProfile", role=self.instance_role)
        service_role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal("elasticbeanstalk.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSElasticBeanstalkEnhancedHealth"),
                iam.ManagedPolicy.from_aws_managed_policy_name("AWSElasticBeanstalkManagedUpdatesCustomerRolePolicy"),
            ],
        )
        self.security_group = ec2.SecurityGroup(
            self, "LoadBalancerSecurityGroup", vpc=network.vpc, description="Classifier load balancer (Beanstalk)"
        )
        ports = [443, 80] if settings.certificate_arn else [80]
        for cidr in settings.allowed_cidrs:
            for port in ports:
                self.security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), f"clients on port {port}")
        application = beanstalk.CfnApplication(self, "Application", application_name=environment_name)
        bundle = s3_assets.Asset(self, "Bundle", path=str(BUNDLE_DIR))
        version = beanstalk.CfnApplicationVersion(
            self,
            "Version",
            application_name=environment_name,
            source_bundle=beanstalk.CfnApplicationVersion.SourceBundleProperty(
                s3_bucket=bundle.s3_bucket_name, s3_key=bundle.s3_object_key
            ),
        )
        version.add_resource_dependency(application)
        private = network.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids
        public = network.vpc.select_subnets(subnet_type=ec2.SubnetType.PUBLIC).subnet_ids
        eb = settings.elastic_beanstalk
        options = [
            *_options(
                "aws:autoscaling:launchconfiguration",
                {"IamInstanceProfile": profile.instance_profile_name, "DisableIMDSv1": "true"},
            ),
            *_options("aws:ec2:instances", {"InstanceTypes": eb.instance_type}),
            *_options("aws:autoscaling:asg", {"MinSize": str(eb.min_instances), "MaxSize": str(eb.max_instances)}),
            *_options(
                "aws:ec2:vpc",
                {
                    "VPCId": network.vpc.vpc_id,
                    "Subnets": ",".join(private),
                    "ELBSubnets": ",".join(public if settings.internet_facing else private),
                    "ELBScheme": "public" if settings.internet_facing else "internal",
                    "AssociatePublicIpAddress": "false",
                },
            ),
            *_options(
                "aws:elasticbeanstalk:environment",
                {
                    "EnvironmentType": "LoadBalanced",
                    "LoadBalancerType": "application",
                    "ServiceRole": service_role.role_arn,
                },
            ),
            *_options(
                "aws:elbv2:loadbalancer",
                {
                    "SecurityGroups": self.security_group.security_group_id,
                    "ManagedSecurityGroup": self.security_group.security_group_id,
                    "AccessLogsS3Enabled": "true",
                    "AccessLogsS3Bucket": access_logs.bucket_name,
                    "AccessLogsS3Prefix": "classifier-beanstalk",
                },
            ),
            *_options(
                "aws:elasticbeanstalk:environment:process:default",
                {
                    "HealthCheckPath": contract.HEALTH_CHECK_PATH,
                    "Port": "80",
                    "Protocol": "HTTP",
                    "MatcherHTTPCode": "200",
                },
            ),
            *_options("aws:elasticbeanstalk:healthreporting:system", {"SystemType": "enhanced"}),
            *_options("aws:elasticbeanstalk:hostmanager", {"LogPublicationControl": "true"}),
            *_options(
                "aws:elasticbeanstalk:managedactions",
                {"ManagedActionsEnabled": "true", "PreferredStartTime": "Sun:02:00"},
            ),
            *_options("aws:elasticbeanstalk:managedactions:platformupdate", {"UpdateLevel": "minor"}),
            *_options(
                "aws:elasticbeanstalk:cloudwatch:logs",
                {"StreamLogs": "true", "RetentionInDays": "365", "DeleteOnTerminate": "false"},
            ),
            *_options(
                "aws:elasticbeanstalk:application:environment",
                {
                    "SERVING_IMAGE": serving_uri,
                    "MODEL_FETCH_IMAGE": fetch_uri,
                    **contract.fetch_environment(serving),
                    "SAGEMAKER_MODEL_SERVER_WORKERS": str(settings.workers),
                    "MODEL_ENGINE": serving.engine,
                },
            ),
        ]
        if settings.certificate_arn:
            options += _options(
                "aws:elbv2:listener:443",
                {
                    "ListenerEnabled": "true",
                    "Protocol": "HTTPS",
                    "SSLCertificateArns": settings.certificate_arn,
                    "SSLPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                },
            )
        self.environment = beanstalk.CfnEnvironment(
            self,
            "Environment",
            environment_name=environment_name,
            application_name=environment_name,
            solution_stack_name=eb.solution_stack_name,
            version_label=version.ref,
            option_settings=options,
        )
        self.environment.add_resource_dependency(application)
        self._findings(serving)

    def _findings(self, serving: ImageServingConfig) -> None:
        stack = cdk.Stack.of(self)
        suppress_model_access_findings(
            self.instance_role,
            serving=serving,
            groups=[serving.default_group],
            account=stack.account,
            region=stack.region,
        )
        NagSuppressions.add_resource_suppressions(
            self.instance_role,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "AWSElasticBeanstalkWebTier: what Beanstalk instances need (log upload, bundle).",
                    "applies_to": ["Policy::arn:<AWS::Partition>:iam::aws:policy/AWSElasticBeanstalkWebTier"],
                },
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "ecr:GetAuthorizationToken has no resource-level permissions.",
                    "applies_to": ["Resource::*"],
                },
            ],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            self,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "Beanstalk's own service policies (enhanced health, managed platform updates).",
                    "applies_to": [
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSElasticBeanstalkEnhancedHealth",
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/AWSElasticBeanstalkManagedUpdatesCustomerRolePolicy",
                    ],
                }
            ],
            apply_to_children=True,
        )
