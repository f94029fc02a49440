"""The product templates as SageMaker AI project templates stored in S3 (new Studio, since 2025-10).

Besides the Service Catalog products, SageMaker AI Projects reads custom templates from S3: a
template object tagged `sagemaker:studio-visibility=true`, in a bucket whose CORS rules let Studio
read it, listed by the domain's tag `sagemaker:projectS3TemplatesLocation` (`s3://bucket/prefix/`).
Each product template is copied (with that tag) from where CDK publishes it for Service Catalog, so
both ways of creating a project launch the same synthesized template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_servicecatalog as servicecatalog
from aws_cdk import custom_resources as cr
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.access_log_bucket import access_log_bucket
from stacks.components.checkov import skip_checks

STUDIO_VISIBILITY_TAG = "sagemaker:studio-visibility"
TEMPLATES_LOCATION_TAG = "sagemaker:projectS3TemplatesLocation"
# CDK's singleton function behind every AwsCustomResource of a stack.
SDK_FUNCTION_ID = "AWS679f53fac002430cb0da5b7982bd2287"
# Studio's web origins (https://<domain id>.studio.<region>.sagemaker.aws).
STUDIO_ORIGIN = "https://*.sagemaker.aws"


class S3ProjectTemplates(Construct):
    """Bucket of project templates, one tagged copy per product template, and the domains' tags."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        templates: Mapping[str, servicecatalog.ProductStack],
        domain_ids: Sequence[str],
        prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.prefix = prefix
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=access_log_bucket(self, "AccessLogs"),
            server_access_logs_prefix="project-templates/",
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                    allowed_origins=[STUDIO_ORIGIN],
                    allowed_headers=["*"],
                    exposed_headers=["ETag"],
                    max_age=3000,
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.location = f"s3://{self.bucket.bucket_name}/{prefix}"
        log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_YEAR)
        skip_checks(
            log_group,
            {
                "CKV_AWS_158": "Log of the deploy-time copies and domain tags: object keys and API outcomes, no "
                "secret; the service key encrypts it at rest."
            },
        )
        self.keys: dict[str, str] = {}
        for name, product_stack in templates.items():
            key = f"{prefix}{name}.json"
            self.keys[name] = key
            # CDK publishes the product template for Service Catalog at https://s3.<region>.<suffix>/<bucket>/<key>.
            url = servicecatalog.CloudFormationTemplate.from_product_stack(product_stack).bind(self).http_url
            parts = cdk.Fn.split("/", url)
            source_bucket, source_key = cdk.Fn.select(3, parts), cdk.Fn.select(4, parts)
            copy = cr.AwsSdkCall(
                service="S3",
                action="copyObject",
                parameters={
                    "Bucket": self.bucket.bucket_name,
                    "Key": key,
                    "CopySource": f"{source_bucket}/{source_key}",
                    "Tagging": f"{STUDIO_VISIBILITY_TAG}=true",
                    "TaggingDirective": "REPLACE",
                    "ContentType": "application/json",
                    "MetadataDirective": "REPLACE",
                },
                physical_resource_id=cr.PhysicalResourceId.of(key),
            )
            cr.AwsCustomResource(
                self,
                f"Publish-{name}",
                on_create=copy,
                on_update=copy,
                on_delete=cr.AwsSdkCall(
                    service="S3", action="deleteObject", parameters={"Bucket": self.bucket.bucket_name, "Key": key}
                ),
                policy=cr.AwsCustomResourcePolicy.from_statements(
                    [
                        iam.PolicyStatement(
                            actions=["s3:GetObject", "s3:GetObjectTagging"],
                            resources=[f"arn:{stack.partition}:s3:::{source_bucket}/{source_key}"],
                        ),
                        iam.PolicyStatement(
                            actions=["s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject"],
                            resources=[self.bucket.arn_for_objects(key)],
                        ),
                    ]
                ),
                install_latest_aws_sdk=False,
                log_group=log_group,
            )
        for domain_id in domain_ids:
            domain_arn = stack.format_arn(service="sagemaker", resource="domain", resource_name=domain_id)
            tag = cr.AwsSdkCall(
                service="SageMaker",
                action="addTags",
                parameters={
                    "ResourceArn": domain_arn,
                    "Tags": [{"Key": TEMPLATES_LOCATION_TAG, "Value": self.location}],
                },
                physical_resource_id=cr.PhysicalResourceId.of(f"{domain_id}-{TEMPLATES_LOCATION_TAG}"),
            )
            cr.AwsCustomResource(
                self,
                f"DomainTag-{domain_id}",
                on_create=tag,
                on_update=tag,
                on_delete=cr.AwsSdkCall(
                    service="SageMaker",
                    action="deleteTags",
                    parameters={"ResourceArn": domain_arn, "TagKeys": [TEMPLATES_LOCATION_TAG]},
                ),
                policy=cr.AwsCustomResourcePolicy.from_statements(
                    [iam.PolicyStatement(actions=["sagemaker:AddTags", "sagemaker:DeleteTags"], resources=[domain_arn])]
                ),
                install_latest_aws_sdk=False,
                log_group=log_group,
            )
        self._justify_sdk_function(stack)

    @staticmethod
    def _justify_sdk_function(stack: cdk.Stack) -> None:
        """Findings on CDK's AwsCustomResource function (one per stack) that do not apply to it."""
        function = stack.node.try_find_child(SDK_FUNCTION_ID)
        if function is None:
            return
        why = "CDK's AwsCustomResource function (copies the project templates, tags the Studio domains at deploy)"
        NagSuppressions.add_resource_suppressions(
            function,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": f"{why} uses AWSLambdaBasicExecutionRole, the AWS-maintained minimum for its own logs.",
                    "applies_to": [
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                    ],
                },
                {
                    "id": "AwsSolutions-L1",
                    "reason": f"{why} pins its own Node.js runtime; it runs only during deploys.",
                },
            ],
            apply_to_children=True,
        )
        skip_checks(
            function,
            {
                "CKV_AWS_115": f"{why} runs once per deployment; reserved concurrency would only take capacity.",
                "CKV_AWS_116": f"{why} is called by CloudFormation, which reports its failure on the deployment.",
                "CKV_AWS_117": f"{why} calls only the S3 and SageMaker APIs; CDK exposes no VPC setting for it.",
            },
        )
