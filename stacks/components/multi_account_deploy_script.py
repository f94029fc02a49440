"""Runtime of the "Multi Account Deployment" pipeline: shipped as `deploy.py` in its deploy source.

This module is copied verbatim into the pipeline's S3 source (see `multi_account_pipeline.py`) and
run by the pipeline's CodeBuild steps, so it depends on the standard library and boto3 only:

- `ensure-group`: create the model package group if it is missing (the Build step);
- `prepare`: write the endpoint template and the staging/production parameter files for the latest
  approved model version (the Build step);
- `deploy-stack-set`: create or update a service-managed stack set and its instances in an OU with
  `CallAs` (the DeployResources* steps when this account is a StackSets delegated administrator:
  CodePipeline's native StackSet action cannot pass `CallAs`);
- `test`: assume the target-account role in every account of the staging stack set and check the
  endpoint answers (the TestStaging step).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import boto3

TEMPLATE_FILE = "template.json"
STAGE_PARAMETER_FILES = {"staging": "staging-params.json", "prod": "prod-params.json"}
_FINAL_OPERATION_STATES = {"SUCCEEDED", "FAILED", "STOPPED"}


def endpoint_template() -> dict[str, Any]:
    """CloudFormation template of one stage's endpoint, deployed into each target account.

    The model reads its artifact from the data science account's bucket through the target
    account's SageMaker execution role (`ExecutionRoleName`), whose ARN is built in the account the
    stack runs in: one template serves every account of the OU.
    """
    name = {"Ref": "ResourceName"}
    versioned = {"Fn::Sub": "${ResourceName}-${ModelVersion}"}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "SageMaker endpoint of one stage of a multi-account model deployment",
        "Parameters": {
            "ResourceName": {
                "Type": "String",
                "AllowedPattern": "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,50}$",
                "Description": "Endpoint name; model and endpoint config add the model version",
            },
            "ModelVersion": {"Type": "String", "AllowedPattern": "^[0-9]+$"},
            "ExecutionRoleName": {"Type": "String", "Description": "SageMaker execution role in this account"},
            "ImageUri": {"Type": "String"},
            "ModelDataUrl": {"Type": "String", "AllowedPattern": "^s3://.+"},
            "InstanceType": {"Type": "String", "Default": "ml.m5.large"},
            "InstanceCount": {"Type": "Number", "Default": 1, "MinValue": 1},
        },
        "Resources": {
            "Model": {
                "Type": "AWS::SageMaker::Model",
                "Properties": {
                    "ModelName": versioned,
                    "ExecutionRoleArn": {
                        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${ExecutionRoleName}"
                    },
                    "PrimaryContainer": {"Image": {"Ref": "ImageUri"}, "ModelDataUrl": {"Ref": "ModelDataUrl"}},
                },
            },
            "EndpointConfig": {
                "Type": "AWS::SageMaker::EndpointConfig",
                "Properties": {
                    "EndpointConfigName": versioned,
                    "ProductionVariants": [
                        {
                            "VariantName": "AllTraffic",
                            "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
                            "InitialInstanceCount": {"Ref": "InstanceCount"},
                            "InitialVariantWeight": 1,
                            "InstanceType": {"Ref": "InstanceType"},
                        }
                    ],
                },
            },
            "Endpoint": {
                "Type": "AWS::SageMaker::Endpoint",
                "Properties": {
                    "EndpointName": name,
                    "EndpointConfigName": {"Fn::GetAtt": ["EndpointConfig", "EndpointConfigName"]},
                },
            },
        },
        "Outputs": {"EndpointName": {"Value": {"Fn::GetAtt": ["Endpoint", "EndpointName"]}}},
    }


def ensure_model_package_group(sagemaker: Any, group_name: str, description: str = "") -> bool:
    """Create the model package group unless it exists; True when it was created."""
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=group_name)
        return False
    except sagemaker.exceptions.ClientError as error:
        if "does not exist" not in str(error) and "ValidationException" not in str(error):
            raise
    sagemaker.create_model_package_group(
        ModelPackageGroupName=group_name, ModelPackageGroupDescription=description or f"Models of {group_name}"
    )
    return True


def latest_approved_package(sagemaker: Any, group_name: str) -> dict[str, Any]:
    """Description of the newest approved version of the group; raises when there is none."""
    listed = sagemaker.list_model_packages(
        ModelPackageGroupName=group_name,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )
    if not listed["ModelPackageSummaryList"]:
        raise RuntimeError(f"no approved model version in model package group {group_name}")
    arn = listed["ModelPackageSummaryList"][0]["ModelPackageArn"]
    return sagemaker.describe_model_package(ModelPackageName=arn)


def stage_parameters(
    package: dict[str, Any], *, resource_name: str, execution_role_name: str, instance_type: str
) -> list[dict[str, str]]:
    """Stack-set parameter list (the file format CodePipeline's StackSet action reads)."""
    container = package["InferenceSpecification"]["Containers"][0]
    values = {
        "ResourceName": resource_name,
        "ModelVersion": str(package.get("ModelPackageVersion") or package["ModelPackageArn"].rsplit("/", 1)[-1]),
        "ExecutionRoleName": execution_role_name,
        "ImageUri": container["Image"],
        "ModelDataUrl": container["ModelDataUrl"],
        "InstanceType": instance_type,
    }
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def prepare(
    sagemaker: Any,
    *,
    group_name: str,
    resource_base: str,
    execution_role_names: dict[str, str],
    instance_type: str,
    outdir: Path,
) -> dict[str, Path]:
    """Write the endpoint template and one parameter file per stage; return the paths written."""
    package = latest_approved_package(sagemaker, group_name)
    outdir.mkdir(parents=True, exist_ok=True)
    written = {"template": outdir / TEMPLATE_FILE}
    written["template"].write_text(json.dumps(endpoint_template(), indent=2))
    for stage, file_name in STAGE_PARAMETER_FILES.items():
        parameters = stage_parameters(
            package,
            resource_name=f"{resource_base}-{stage}",
            execution_role_name=execution_role_names[stage],
            instance_type=instance_type,
        )
        written[stage] = outdir / file_name
        written[stage].write_text(json.dumps(parameters, indent=2))
    return written


def _wait_for_operation(
    cloudformation: Any, stack_set_name: str, operation_id: str, call_as: str, poll_seconds: float
) -> str:
    while True:
        operation = cloudformation.describe_stack_set_operation(
            StackSetName=stack_set_name, OperationId=operation_id, CallAs=call_as
        )["StackSetOperation"]
        if operation["Status"] in _FINAL_OPERATION_STATES:
            if operation["Status"] != "SUCCEEDED":
                raise RuntimeError(f"stack set {stack_set_name} operation {operation_id}: {operation['Status']}")
            return operation["Status"]
        time.sleep(poll_seconds)


def deploy_stack_set(
    cloudformation: Any,
    *,
    stack_set_name: str,
    template_body: str,
    parameters: list[dict[str, str]],
    ou_id: str,
    region: str,
    call_as: str = "DELEGATED_ADMIN",
    poll_seconds: float = 15.0,
) -> list[str]:
    """Create or update a service-managed stack set deployed to one OU; return the operation IDs run."""
    common = {
        "StackSetName": stack_set_name,
        "TemplateBody": template_body,
        "Parameters": parameters,
        "CallAs": call_as,
    }
    operations = []
    try:
        cloudformation.describe_stack_set(StackSetName=stack_set_name, CallAs=call_as)
        exists = True
    except cloudformation.exceptions.StackSetNotFoundException:
        exists = False
    targets = {"OrganizationalUnitIds": [ou_id]}
    if not exists:
        cloudformation.create_stack_set(
            **common,
            PermissionModel="SERVICE_MANAGED",
            AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
        )
        operations.append(
            cloudformation.create_stack_instances(
                StackSetName=stack_set_name, DeploymentTargets=targets, Regions=[region], CallAs=call_as
            )["OperationId"]
        )
    else:
        operations.append(
            cloudformation.update_stack_set(**common, DeploymentTargets=targets, Regions=[region])["OperationId"]
        )
    for operation_id in operations:
        _wait_for_operation(cloudformation, stack_set_name, operation_id, call_as, poll_seconds)
    return operations


def stack_set_accounts(cloudformation: Any, stack_set_name: str, call_as: str = "SELF") -> list[str]:
    """Accounts the stack set has instances in (the accounts of the OU it targets)."""
    summaries = cloudformation.list_stack_instances(StackSetName=stack_set_name, CallAs=call_as)["Summaries"]
    return sorted({summary["Account"] for summary in summaries})


def assume_target_role(sts: Any, *, account: str, role_name: str, session_name: str, region: str) -> boto3.Session:
    """Session in a target account through its `sagemaker-role-<suffix>` role."""
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role_name}", RoleSessionName=session_name[:64]
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def check_endpoint(session: boto3.Session, endpoint_name: str, payload: str) -> str:
    """Fail unless the endpoint is InService and answers a CSV request; return the answer."""
    status = session.client("sagemaker").describe_endpoint(EndpointName=endpoint_name)["EndpointStatus"]
    if status != "InService":
        raise RuntimeError(f"endpoint {endpoint_name} is {status}, not InService")
    response = session.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint_name, ContentType="text/csv", Body=payload.encode()
    )
    return response["Body"].read().decode()


def main(argv: list[str] | None = None) -> int:
    """CLI used by the pipeline's buildspecs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ensure = commands.add_parser("ensure-group")
    ensure.add_argument("--group", required=True)
    prep = commands.add_parser("prepare")
    prep.add_argument("--group", required=True)
    prep.add_argument("--resource-base", required=True)
    prep.add_argument("--staging-role-name", required=True)
    prep.add_argument("--prod-role-name", required=True)
    prep.add_argument("--instance-type", default="ml.m5.large")
    prep.add_argument("--outdir", default=".")
    deploy = commands.add_parser("deploy-stack-set")
    deploy.add_argument("--name", required=True)
    deploy.add_argument("--template", default=TEMPLATE_FILE)
    deploy.add_argument("--parameters", required=True)
    deploy.add_argument("--ou", required=True)
    deploy.add_argument("--region", required=True)
    deploy.add_argument("--call-as", default="DELEGATED_ADMIN", choices=["SELF", "DELEGATED_ADMIN"])
    test = commands.add_parser("test")
    test.add_argument("--stack-set", required=True)
    test.add_argument("--role-name", required=True)
    test.add_argument("--endpoint", required=True)
    test.add_argument("--region", required=True)
    test.add_argument("--call-as", default="SELF", choices=["SELF", "DELEGATED_ADMIN"])
    test.add_argument("--payload", default="0.5,0.4,0.1,0.5,0.2,0.1,0.1,1,0,0")
    args = parser.parse_args(argv)

    if args.command == "ensure-group":
        created = ensure_model_package_group(boto3.client("sagemaker"), args.group)
        print(f"model package group {args.group}: {'created' if created else 'exists'}")
    elif args.command == "prepare":
        written = prepare(
            boto3.client("sagemaker"),
            group_name=args.group,
            resource_base=args.resource_base,
            execution_role_names={"staging": args.staging_role_name, "prod": args.prod_role_name},
            instance_type=args.instance_type,
            outdir=Path(args.outdir),
        )
        print("wrote " + ", ".join(str(path) for path in written.values()))
    elif args.command == "deploy-stack-set":
        operations = deploy_stack_set(
            boto3.client("cloudformation", region_name=args.region),
            stack_set_name=args.name,
            template_body=Path(args.template).read_text(),
            parameters=json.loads(Path(args.parameters).read_text()),
            ou_id=args.ou,
            region=args.region,
            call_as=args.call_as,
        )
        print(f"stack set {args.name}: operations {operations} succeeded")
    else:
        accounts = stack_set_accounts(
            boto3.client("cloudformation", region_name=args.region), args.stack_set, args.call_as
        )
        if not accounts:
            raise SystemExit(f"stack set {args.stack_set} has no stack instances to test")
        for account in accounts:
            session = assume_target_role(
                boto3.client("sts", region_name=args.region),
                account=account,
                role_name=args.role_name,
                session_name=f"test-{args.endpoint}",
                region=args.region,
            )
            print(f"{account}: {args.endpoint} answered {check_endpoint(session, args.endpoint, args.payload)!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
