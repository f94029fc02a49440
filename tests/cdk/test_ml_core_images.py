"""The ML core's images: one table names each image's Dockerfile, setting, SSM parameter, launch parameter and
CI/CD variable; a configured image replaces the build."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.components.ml_core_images import CONTAINERS_DIR, ML_CORE_IMAGES, publish_images
from stacks.config import ImagesConfig

pytestmark = pytest.mark.xdist_group("cdk")

PREBUILT = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/ml-core/pytorch:2.13.0-cpu"


def test_every_framework_and_flavour_names_its_own_files_settings_and_variables() -> None:
    table = {(image.framework, image.flavour): image for image in ML_CORE_IMAGES}
    assert sorted(table) == [("pytorch", "cpu"), ("pytorch", "gpu"), ("xgboost", "cpu"), ("xgboost", "gpu")]
    pytorch_gpu = table["pytorch", "gpu"]
    assert (
        pytorch_gpu.dockerfile,
        pytorch_gpu.config_key,
        pytorch_gpu.parameter_name("mlops-gitlab"),
        pytorch_gpu.template_parameter,
        pytorch_gpu.ci_variable,
    ) == (
        "pytorch/Dockerfile.gpu",
        "pytorch_gpu_uri",
        "/mlops-gitlab/images/pytorch-gpu",
        "PyTorchGpuImageUri",
        "PYTORCH_GPU_IMAGE_URI",
    )
    xgboost_cpu = table["xgboost", "cpu"]
    assert (xgboost_cpu.template_parameter, xgboost_cpu.ci_variable) == ("XGBoostImageUri", "XGBOOST_IMAGE_URI")
    for image in ML_CORE_IMAGES:
        assert (CONTAINERS_DIR / image.dockerfile).is_file(), image.dockerfile
        assert image.config_key in ImagesConfig.model_fields
    for name in ("dockerfile", "config_key", "construct_id", "template_parameter", "ci_variable"):
        assert len({getattr(image, name) for image in ML_CORE_IMAGES}) == len(ML_CORE_IMAGES), name


def test_a_configured_image_replaces_the_build() -> None:
    """images.pytorch_cpu_uri set: its SSM parameter holds that URI and no image of it is built; the other
    three are still built from containers/."""
    stack = cdk.Stack(cdk.App(), "Images", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    publish_images(stack, images=ImagesConfig(pytorch_cpu_uri=PREBUILT), platform_name="mlops-gitlab")
    template = Template.from_stack(stack).to_json()
    parameters = {
        resource["Properties"]["Name"]: resource["Properties"]["Value"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SSM::Parameter"
    }
    assert parameters["/mlops-gitlab/images/pytorch-cpu"] == PREBUILT
    built = [name for name, value in parameters.items() if value != PREBUILT]
    assert sorted(built) == [f"/mlops-gitlab/images/{name}" for name in ("pytorch-gpu", "xgboost-cpu", "xgboost-gpu")]
    assert all("container-assets" in str(parameters[name]) for name in built)
    assets = stack.node.find_all()
    dockerfiles = sorted(
        child.node.id for child in assets if child.node.id.endswith("Image") and child.node.scope is stack
    )
    assert dockerfiles == ["PyTorchGPUImage", "XGBoostCPUImage", "XGBoostGPUImage"]
