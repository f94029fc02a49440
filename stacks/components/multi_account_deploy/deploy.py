"""Runtime of the "Multi Account Deployment" pipeline: `deploy.py` of its deploy source.

This folder is the pipeline's S3 source (see `multi_account_pipeline.py`, which adds the deploy
repository's endpoint template and stage settings to it); the pipeline's CodeBuild steps run this
script, so it depends on the standard library, boto3 and `instance_families.py` (the platform's GPU
families, the deploy repository's generated copy, put beside it in the source) only:

- `ensure-group`: create the model package group if it is missing (the Build step);
- `prepare`: copy the endpoint template (the deploy repository's `endpoint-config-template.yml`)
  and write the staging/production parameter files for the latest approved model version, with the
  deploy repository's stage settings (the Build step);
- `deploy-stack-set`: create or update a service-managed stack set and its instances in an OU with
  `CallAs` (the DeployResources* steps when this account is a StackSets delegated administrator:
  CodePipeline's native StackSet action cannot pass `CallAs`);
- `test`: assume the target-account role in every account of the staging stack set and check the
  endpoint answers (the TestStaging step).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import boto3

if __package__:  # imported as the platform's module (its tests): the platform's table itself
    from stacks.instance_families import is_gpu_instance
else:  # run by the pipeline as a script: the deploy repository's generated copy of it lies beside it
    from instance_families import is_gpu_instance  # type: ignore[import-not-found,no-redef]

HERE = Path(__file__).resolve().parent
# The deploy repository's endpoint template and stage settings, copied beside this script in the
# pipeline's source: one template for both deployment paths.
TEMPLATE_FILE = "endpoint-config-template.yml"
STAGE_CONFIG_FILES = {"staging": "staging-config.json", "prod": "prod-config.json"}
STAGE_PARAMETER_FILES = {"staging": "staging-params.json", "prod": "prod-params.json"}
OPERATION_TIMEOUT_SECONDS = 3600.0
_FINAL_OPERATION_STATES = {"SUCCEEDED", "FAILED", "STOPPED"}


def ensure_model_package_group(sagemaker: Any, group_name: str, description: str = "") -> bool:
    """Create the model package group unless it exists; True when it was created."""
    pages = sagemaker.get_paginator("list_model_package_groups").paginate(NameContains=group_name)
    if any(
        group["ModelPackageGroupName"] == group_name for page in pages for group in page["ModelPackageGroupSummaryList"]
    ):
        return False
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
    package: dict[str, Any] = sagemaker.describe_model_package(ModelPackageName=arn)
    return package


def deployment_id(version: object, parameters: dict[str, str]) -> str:
    """`v<model version>-<hash of the parameters>`, at most 14 characters.

    The same function as the deploy repository's build.py (a test keeps the two equal): the model
    and endpoint configuration get new names whenever anything about them changes.
    """
    digest = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:8]
    return (f"v{version}-{digest}" if version else f"d-{digest}")[:14]


def stage_settings(stage: str, instance_type: str, source_dir: Path = HERE) -> dict[str, str]:
    """The `Parameters` of the deploy repository's `<stage>-config.json` (auto scaling, alarms, size).

    `instance_type` is the platform's (its configuration); the stage configuration may override it.
    """
    document = json.loads((source_dir / STAGE_CONFIG_FILES[stage]).read_text())
    return {
        "EndpointInstanceType": instance_type,
        **{name: str(value) for name, value in document["Parameters"].items()},
    }


def model_image(package: dict[str, Any], instance_type: str) -> str:
    """The package's image for `instance_type`: its GPU image (`CustomerMetadataProperties.GpuImageUri`) for
    a GPU type, else its CPU image (`CpuImageUri`, or the inference container's image), as the GitLab
    deploy repository's `build.py` chooses."""
    metadata = package.get("CustomerMetadataProperties") or {}
    if not is_gpu_instance(instance_type):
        return str(metadata.get("CpuImageUri") or package["InferenceSpecification"]["Containers"][0]["Image"])
    if not metadata.get("GpuImageUri"):
        raise RuntimeError(
            f"instance type {instance_type} needs a GPU image, but model package {package['ModelPackageArn']} "
            "has no CustomerMetadataProperties.GpuImageUri"
        )
    return str(metadata["GpuImageUri"])


def stage_parameters(
    package: dict[str, Any], *, stage: str, resource_base: str, execution_role_name: str, settings: dict[str, str]
) -> list[dict[str, str]]:
    """Stack-set parameters of the endpoint template (the file format CodePipeline's StackSet action reads).

    Data capture stays off: the endpoints run in other accounts than the project's bucket. The endpoint runs
    the engine the model build evaluated (the container's `MODEL_ENGINE`, the image classifier's).
    """
    container = package["InferenceSpecification"]["Containers"][0]
    values = {
        **settings,
        "ResourceName": resource_base,
        "StageName": stage,
        "ModelPackageArn": package["ModelPackageArn"],
        "ModelImageUri": model_image(package, settings["EndpointInstanceType"]),
        "ModelDataUrl": container["ModelDataUrl"],
        "ModelEngine": (container.get("Environment") or {}).get("MODEL_ENGINE", ""),
        "ExecutionRoleName": execution_role_name,
    }
    values["DeploymentId"] = deployment_id(package.get("ModelPackageVersion"), values)
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def prepare(
    sagemaker: Any,
    *,
    group_name: str,
    resource_base: str,
    execution_role_names: dict[str, str],
    instance_types: dict[str, str],
    outdir: Path,
    source_dir: Path = HERE,
) -> dict[str, Path]:
    """Copy the endpoint template and write one parameter file per stage; return the paths written."""
    package = latest_approved_package(sagemaker, group_name)
    outdir.mkdir(parents=True, exist_ok=True)
    written = {"template": outdir / TEMPLATE_FILE}
    shutil.copyfile(source_dir / TEMPLATE_FILE, written["template"])
    for stage, file_name in STAGE_PARAMETER_FILES.items():
        parameters = stage_parameters(
            package,
            stage=stage,
            resource_base=resource_base,
            execution_role_name=execution_role_names[stage],
            settings=stage_settings(stage, instance_types[stage], source_dir),
        )
        written[stage] = outdir / file_name
        written[stage].write_text(json.dumps(parameters, indent=2))
    return written


def _wait_for_operation(
    cloudformation: Any,
    stack_set_name: str,
    operation_id: str,
    call_as: str,
    poll_seconds: float,
    timeout_seconds: float = OPERATION_TIMEOUT_SECONDS,
) -> str:
    """Poll a stack set operation until it ends (StackSets has no boto3 waiter); fail past the deadline."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        operation = cloudformation.describe_stack_set_operation(
            StackSetName=stack_set_name, OperationId=operation_id, CallAs=call_as
        )["StackSetOperation"]
        if operation["Status"] in _FINAL_OPERATION_STATES:
            if operation["Status"] != "SUCCEEDED":
                reason = operation.get("StatusReason", "no reason given")
                raise RuntimeError(
                    f"stack set {stack_set_name} operation {operation_id}: {operation['Status']}: {reason}"
                )
            return str(operation["Status"])
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"stack set {stack_set_name} operation {operation_id} still {operation['Status']} "
                f"after {timeout_seconds:.0f} s"
            )
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
    answer: str = response["Body"].read().decode()
    return answer


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
    prep.add_argument("--staging-instance-type", required=True)
    prep.add_argument("--prod-instance-type", required=True)
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
            instance_types={"staging": args.staging_instance_type, "prod": args.prod_instance_type},
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
