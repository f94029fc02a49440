"""What launching the product creates on AWS, created in the emulator from the product template.

Names are not hard-coded: they come from resolving the synthesized template's own expressions for
the launch parameters, so a change to the product stack shows up in the local run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_lifecycle.emulator import Emulator
from local_lifecycle.product_template import ProductTemplate
from stacks.components.ml_core_images import ML_CORE_IMAGES

_SAGEMAKER_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "sagemaker.amazonaws.com"}}
        ],
    }
)


@dataclass
class ProjectResources:
    """The launched project as the template's references see it."""

    refs: dict[str, Any]
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    bucket: str = ""
    group: str = ""
    input_data_url: str = ""


def pseudo_parameters(emulator: Emulator) -> dict[str, str]:
    """AWS pseudo parameters as CloudFormation resolves them in the emulator's default account."""
    account = emulator.client("sts").get_caller_identity()["Account"]
    return {
        "AWS::Region": emulator.region,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


def create_project_resources(
    emulator: Emulator,
    template: ProductTemplate,
    *,
    parameters: dict[str, str],
    image_repository_prefix: str,
    data: Path,
) -> ProjectResources:
    """Bucket, model package group, token secret and roles of one launch; the input data uploaded.

    The SSM-typed image parameters resolve to `<account>.dkr.ecr.<region>.amazonaws.com/<prefix>/<framework>:<cpu|gpu>`.
    """
    refs: dict[str, Any] = {**parameters, **pseudo_parameters(emulator)}
    account, region = refs["AWS::AccountId"], refs["AWS::Region"]
    registry = f"{account}.dkr.ecr.{region}.amazonaws.com"
    for image in ML_CORE_IMAGES:
        refs[image.template_parameter] = f"{registry}/{image_repository_prefix}/{image.framework}:{image.flavour}"
    project = ProjectResources(refs=refs)

    bucket_id, bucket = next(
        (k, v) for k, v in template.resources("AWS::S3::Bucket").items() if "BucketName" in v["Properties"]
    )
    project.bucket = template.resolve(bucket["Properties"]["BucketName"], refs)
    group_id, group = template.single("AWS::SageMaker::ModelPackageGroup")
    project.group = template.resolve(group["Properties"]["ModelPackageGroupName"], refs)
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=project.bucket, CreateBucketConfiguration={"LocationConstraint": region})
    emulator.client("sagemaker").create_model_package_group(
        ModelPackageGroupName=project.group,
        ModelPackageGroupDescription=template.resolve(group["Properties"]["ModelPackageGroupDescription"], refs),
    )
    refs[bucket_id], refs[group_id] = project.bucket, project.group
    # The trigger's approval records and dead letters, as the template defines them.
    (table_id, _), (queue_id, _) = template.single("AWS::DynamoDB::Table"), template.single("AWS::SQS::Queue")
    refs[table_id] = f"{project.group}-approvals"
    emulator.client("dynamodb").create_table(
        TableName=refs[table_id],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    refs[queue_id] = emulator.client("sqs").create_queue(QueueName=f"{project.group}-dlq")["QueueUrl"]
    iam = emulator.client("iam")
    for role_id, role in template.resources("AWS::IAM::Role").items():
        arn = iam.create_role(
            RoleName=role_id[:64], Path=role["Properties"].get("Path", "/"), AssumeRolePolicyDocument=_SAGEMAKER_TRUST
        )["Role"]["Arn"]
        project.attributes[(role_id, "Arn")] = arn
    data_key = f"input/{data.name}"
    s3.upload_file(str(data), project.bucket, data_key)
    project.input_data_url = f"s3://{project.bucket}/{data_key}"
    return project
