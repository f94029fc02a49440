"""Build stage of the model deploy pipeline: pick the model package and write the stack parameters.

The model package is either the one the GitLab trigger passed (`MODEL_PACKAGE_ARN`; it must belong
to `MODEL_PACKAGE_GROUP_NAME` and be Approved) or, for a pipeline started by hand or by a commit,
the newest Approved version of the group.

Writes into the output directory (`build/`, the job's artifact):

- `model-package.json`: the package's ARN, group, version, model data, images, evaluation URI, model
  engine (the container's `MODEL_ENGINE`) and problem type (the `ProblemType` metadata:
  `image_classification` for the image classifier, else empty);
- `staging-config-export.json`, `prod-config-export.json`: CloudFormation template configuration
  files (`{"Parameters": {...}, "Tags": {...}}`) for `endpoint-config-template.yml`, from
  `staging-config.json` / `prod-config.json` plus what the package and the project determine.

Environment (CI/CD variables of the project): `MODEL_PACKAGE_GROUP_NAME`, `SAGEMAKER_PROJECT_NAME`,
`SAGEMAKER_PROJECT_ID`, `SAGEMAKER_EXECUTION_ROLE_ARN`, `ARTIFACT_BUCKET`, `AWS_REGION`; from the
trigger, optionally `MODEL_PACKAGE_ARN` and `MODEL_PACKAGE_VERSION`. A stage deployed into another
account takes its model's role from `SAGEMAKER_EXECUTION_ROLE_ARN_STAGING` / `_PROD` when set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path

import boto3
import yaml
from botocore.exceptions import ClientError
from instance_families import is_gpu_instance

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "endpoint-config-template.yml"
STAGES = ("staging", "prod")
REQUIRED_ENV = (
    "MODEL_PACKAGE_GROUP_NAME",
    "SAGEMAKER_PROJECT_NAME",
    "SAGEMAKER_PROJECT_ID",
    "SAGEMAKER_EXECUTION_ROLE_ARN",
    "ARTIFACT_BUCKET",
)
# Parameters build.py sets itself; a stage configuration may not set them.
DERIVED_PARAMETERS = (
    "ResourceName",
    "DeploymentId",
    "StageName",
    "ModelPackageArn",
    "ModelImageUri",
    "ModelDataUrl",
    "ModelEngine",
    "ExecutionRoleName",
    "DataCaptureUploadPath",
)
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?P<name>[\w+=,.@/-]+)$")


class BuildError(Exception):
    """Why no deployment can be prepared; the message names the value at fault."""


def resolve_model_package(sagemaker, group_name: str, arn: str | None = None, version: str | None = None) -> dict:
    """Describe the model package to deploy.

    With `arn`: that package, which must belong to `group_name` and be Approved (and, when the
    trigger passed `version`, have that version). Without: the newest (highest version) Approved
    package of the group, looking through every page of the listing.
    """
    if arn:
        try:
            package = sagemaker.describe_model_package(ModelPackageName=arn)
        except ClientError as error:
            raise BuildError(
                f"model package {arn} cannot be read: {error.response['Error'].get('Message', error)}"
            ) from None
        if package.get("ModelPackageGroupName") != group_name:
            raise BuildError(
                f"model package {arn} belongs to group {package.get('ModelPackageGroupName')!r}, "
                f"not to this project's group {group_name!r}"
            )
        status = package.get("ModelApprovalStatus")
        if status != "Approved":
            raise BuildError(f"model package {arn} is {status}, not Approved: approve it in the model registry first")
        if version and str(package.get("ModelPackageVersion")) != str(version):
            raise BuildError(
                f"model package {arn} has version {package.get('ModelPackageVersion')}, "
                f"but MODEL_PACKAGE_VERSION is {version}"
            )
        return package
    newest = None
    pages = sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group_name,
        ModelApprovalStatus="Approved",
        ModelPackageType="Versioned",
    )
    for page in pages:
        for summary in page["ModelPackageSummaryList"]:
            if newest is None or summary.get("ModelPackageVersion", 0) > newest.get("ModelPackageVersion", 0):
                newest = summary
    if newest is None:
        raise BuildError(
            f"model package group {group_name!r} has no Approved model package: "
            "approve a version in the model registry, or run the model build pipeline first"
        )
    return sagemaker.describe_model_package(ModelPackageName=newest["ModelPackageArn"])


def package_summary(package: dict) -> dict:
    """What the deployment needs from a described model package (see docs: model package contract)."""
    arn = package["ModelPackageArn"]
    containers = package.get("InferenceSpecification", {}).get("Containers") or []
    if not containers or not containers[0].get("ModelDataUrl"):
        raise BuildError(f"model package {arn} has no InferenceSpecification.Containers[0].ModelDataUrl")
    metadata = package.get("CustomerMetadataProperties") or {}
    statistics = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not statistics:
        raise BuildError(f"model package {arn} has no ModelMetrics.ModelQuality.Statistics.S3Uri (evaluation.json)")
    return {
        "ModelPackageArn": arn,
        "ModelPackageGroupName": package["ModelPackageGroupName"],
        "ModelPackageVersion": package.get("ModelPackageVersion"),
        "ModelDataUrl": containers[0]["ModelDataUrl"],
        "CpuImageUri": metadata.get("CpuImageUri") or containers[0]["Image"],
        "GpuImageUri": metadata.get("GpuImageUri", ""),
        "EvaluationUri": statistics,
        # What kind of model the staging tests check (`image_classification`: the image classifier).
        "ProblemType": metadata.get("ProblemType", ""),
        # The engine the model build evaluated (the image classifier's container environment): the endpoint runs it.
        "ModelEngine": (containers[0].get("Environment") or {}).get("MODEL_ENGINE", ""),
    }


def image_for_instance_type(instance_type: str, summary: dict) -> str:
    """The package's GPU image for a GPU instance type, its CPU image otherwise."""
    if not is_gpu_instance(instance_type):
        return summary["CpuImageUri"]
    if not summary["GpuImageUri"]:
        raise BuildError(
            f"instance type {instance_type} needs a GPU image, but model package "
            f"{summary['ModelPackageArn']} has no CustomerMetadataProperties.GpuImageUri"
        )
    return summary["GpuImageUri"]


class _TemplateLoader(yaml.SafeLoader):
    """Reads a CloudFormation template, keeping short-form intrinsics (`!Ref` ...) as plain values."""


_TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template_parameters(template: Path = TEMPLATE) -> dict[str, bool]:
    """The template's parameter names, each mapped to whether it has a default."""
    document = yaml.load(template.read_text(), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass
    return {name: "Default" in spec for name, spec in document["Parameters"].items()}


def load_stage_config(path: Path, template: Path = TEMPLATE) -> dict[str, str]:
    """Read `<stage>-config.json` and return its CloudFormation parameter values as strings.

    Every name must be a template parameter that build.py does not derive itself.
    """
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise BuildError(f"stage configuration {path} not found") from None
    except json.JSONDecodeError as error:
        raise BuildError(f"stage configuration {path} is not valid JSON: {error}") from None
    parameters = document.get("Parameters") if isinstance(document, dict) else None
    if not isinstance(parameters, dict):
        raise BuildError(f'stage configuration {path} must hold an object with a "Parameters" object')
    known = template_parameters(template)
    for name, value in parameters.items():
        if name not in known:
            raise BuildError(
                f"{path}: {name!r} is not a parameter of {template.name}; known: {', '.join(sorted(known))}"
            )
        if name in DERIVED_PARAMETERS:
            raise BuildError(f"{path}: {name!r} is set by build.py, remove it from the stage configuration")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise BuildError(f"{path}: parameter {name} must be a string or a number, got {value!r}")
    return {name: str(value) for name, value in parameters.items()}


def execution_role_name(variable: str, arn: str) -> str:
    """The role part (path and name) of an IAM role ARN; the template builds the ARN in its own account."""
    match = _ROLE_ARN.match(arn)
    if not match:
        raise BuildError(f"{variable} must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), got {arn!r}")
    return match["name"]


def deployment_id(version: object, parameters: dict[str, str]) -> str:
    """`v<model version>-<hash of the parameters>`: new names for the model and endpoint configuration
    whenever anything about them changes, the same ID (no stack update) when nothing does."""
    digest = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:8]
    # At most 14 characters (the template's limit): a version of 5+ digits keeps fewer hash digits.
    return (f"v{version}-{digest}" if version else f"d-{digest}")[:14]


def endpoint_instance_type(stage: str, config: dict[str, str], env: dict[str, str]) -> str:
    """`EndpointInstanceType` of `<stage>-config.json` when the repository sets one, else the platform's
    (the `<STAGE>_INSTANCE_TYPE` CI/CD variable seeded from its configuration)."""
    variable = f"{stage.upper()}_INSTANCE_TYPE"
    chosen = config.get("EndpointInstanceType") or env.get(variable)
    if not chosen:
        raise BuildError(f"set EndpointInstanceType in {stage}-config.json or the CI/CD variable {variable}")
    return chosen


def stage_export(
    stage: str, config: dict[str, str], summary: dict, env: dict[str, str], template: Path = TEMPLATE
) -> dict:
    """The template configuration (`Parameters` and stack `Tags`) of one stage."""
    config = {"EndpointInstanceType": endpoint_instance_type(stage, config, env), **config}
    role_variable = f"SAGEMAKER_EXECUTION_ROLE_ARN_{stage.upper()}"
    if not env.get(role_variable):
        role_variable = "SAGEMAKER_EXECUTION_ROLE_ARN"
    parameters = {
        **config,
        "ResourceName": env["SAGEMAKER_PROJECT_NAME"],
        "StageName": stage,
        "ModelPackageArn": summary["ModelPackageArn"],
        "ModelImageUri": image_for_instance_type(config["EndpointInstanceType"], summary),
        "ModelDataUrl": summary["ModelDataUrl"],
        "ExecutionRoleName": execution_role_name(role_variable, env[role_variable]),
        "DataCaptureUploadPath": f"s3://{env['ARTIFACT_BUCKET']}/datacapture-{stage}",
        **({"ModelEngine": summary["ModelEngine"]} if summary.get("ModelEngine") else {}),
    }
    parameters["DeploymentId"] = deployment_id(summary.get("ModelPackageVersion"), parameters)
    missing = [
        name
        for name, has_default in template_parameters(template).items()
        if not has_default and name not in parameters
    ]
    if missing:
        raise BuildError(f"{stage}-config.json must set {', '.join(missing)}")
    tags = {
        "sagemaker:project-name": env["SAGEMAKER_PROJECT_NAME"],
        "sagemaker:project-id": env["SAGEMAKER_PROJECT_ID"],
        "sagemaker:deployment-stage": stage,
    }
    return {"Parameters": parameters, "Tags": tags}


def build(output_dir: Path, env: dict[str, str], sagemaker, config_dir: Path = HERE) -> dict:
    """Resolve the package and write every build artifact into `output_dir`; return the package summary."""
    missing = [name for name in REQUIRED_ENV if not env.get(name)]
    if missing:
        raise BuildError(f"missing CI/CD variables: {', '.join(missing)}")
    configs = {stage: load_stage_config(config_dir / f"{stage}-config.json") for stage in STAGES}
    package = resolve_model_package(
        sagemaker,
        env["MODEL_PACKAGE_GROUP_NAME"],
        env.get("MODEL_PACKAGE_ARN") or None,
        env.get("MODEL_PACKAGE_VERSION") or None,
    )
    summary = package_summary(package)
    exports = {stage: stage_export(stage, configs[stage], summary, env) for stage in STAGES}
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "model-package.json").write_text(json.dumps(summary, indent=2) + "\n")
    for stage, export in exports.items():
        (output_dir / f"{stage}-config-export.json").write_text(json.dumps(export, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("build"), help="where to write the artifacts")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    sagemaker = boto3.client("sagemaker", region_name=env.get("AWS_REGION") or None)
    try:
        summary = build(args.output_dir, env, sagemaker)
    except BuildError as error:
        print(f"build.py: error: {error}", file=sys.stderr)
        return 1
    print(
        f"model package {summary['ModelPackageArn']} (version {summary['ModelPackageVersion']}) "
        f"-> {args.output_dir}/{{model-package,staging-config-export,prod-config-export}}.json"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
