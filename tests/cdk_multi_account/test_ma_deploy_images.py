"""The multi-account pipeline deploys each stage on the image its instance type needs, with the evaluated engine.

The Build step's `deploy.py` chooses as the GitLab deploy repository's `build.py` does: a GPU instance
type gets the package's `GpuImageUri`, any other its `CpuImageUri` (or the inference container's image),
and the image classifier's `MODEL_ENGINE` reaches the endpoint template's `ModelEngine`.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from stacks.components.multi_account_deploy import deploy
from stacks.components.multi_account_pipeline import deploy_source_directory
from stacks.instance_families import render_seed_module

CPU = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/mlops-pytorch:cpu"
GPU = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/mlops-pytorch:gpu"


def classifier_package(**metadata: str) -> dict[str, Any]:
    return {
        "ModelPackageArn": "arn:aws:sagemaker:eu-west-1:111111111111:model-package/digits/3",
        "ModelPackageVersion": 3,
        "CustomerMetadataProperties": {"ProblemType": "image_classification", **metadata},
        "InferenceSpecification": {
            "Containers": [
                {"Image": CPU, "ModelDataUrl": "s3://bucket/model.tar.gz", "Environment": {"MODEL_ENGINE": "onnx-int8"}}
            ]
        },
    }


def values_for(package: dict[str, Any], instance_type: str) -> dict[str, str]:
    parameters = deploy.stage_parameters(
        package,
        stage="prod",
        resource_base="sagemaker-digits",
        execution_role_name="sagemaker-execution",
        settings={"EndpointInstanceType": instance_type},
    )
    return {p["ParameterKey"]: p["ParameterValue"] for p in parameters}


@pytest.mark.parametrize(
    ("instance_type", "image"), [("ml.m5.large", CPU), ("ml.g5.xlarge", GPU), ("ml.p4d.24xlarge", GPU)]
)
def test_each_stage_gets_the_image_of_its_instance_family_and_the_evaluated_engine(instance_type, image) -> None:
    values = values_for(classifier_package(CpuImageUri=CPU, GpuImageUri=GPU), instance_type)
    assert (values["ModelImageUri"], values["ModelEngine"]) == (image, "onnx-int8")


def test_a_gpu_stage_without_a_gpu_image_is_refused_naming_the_package() -> None:
    with pytest.raises(RuntimeError, match=r"ml\.g5\.xlarge needs a GPU image, but model package .*digits/3"):
        values_for(classifier_package(CpuImageUri=CPU), "ml.g5.xlarge")


def test_an_xgboost_package_without_metadata_runs_its_container_image_and_no_engine() -> None:
    package = classifier_package()
    package["CustomerMetadataProperties"] = {}
    del package["InferenceSpecification"]["Containers"][0]["Environment"]
    values = values_for(package, "ml.c5.xlarge")
    assert (values["ModelImageUri"], values["ModelEngine"]) == (CPU, "")


def test_the_pipeline_s_source_runs_the_script_with_its_generated_table_beside_it() -> None:
    source = deploy_source_directory()
    assert (source / "instance_families.py").read_text() == render_seed_module()
    result = subprocess.run(
        [sys.executable, "-c", "import deploy; print(deploy.is_gpu_instance('ml.g5.xlarge'))"],
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr
