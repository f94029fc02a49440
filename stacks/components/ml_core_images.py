"""The container images of the ML core, one table for every place that names them.

Each (framework, flavour) pair is built from `containers/<framework>/Dockerfile[.gpu]` (or taken from
the configuration's `images.<framework>_<flavour>_uri`), published by the platform stack in the SSM
parameter `/<platform name>/images/<framework>-<flavour>`, read by the product template through an
SSM-typed launch parameter, and handed to the project's repositories as a CI/CD variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ssm as ssm
from constructs import Construct

if TYPE_CHECKING:  # stacks.config types its `images` section with MlCoreImage
    from stacks.config import ImagesConfig

CONTAINERS_DIR = Path(__file__).resolve().parents[2] / "containers"

# Framework -> how construct IDs and template parameters spell it.
FRAMEWORKS = {"xgboost": "XGBoost", "pytorch": "PyTorch"}
FLAVOURS = ("cpu", "gpu")


@dataclass(frozen=True)
class MlCoreImage:
    """One image of the ML core: a framework (`xgboost`, `pytorch`) in a flavour (`cpu`, `gpu`)."""

    framework: str
    flavour: str

    @property
    def title(self) -> str:
        """`XGBoost CPU`, `PyTorch GPU`: for descriptions."""
        return f"{FRAMEWORKS[self.framework]} {self.flavour.upper()}"

    @property
    def dockerfile(self) -> str:
        """The Dockerfile, relative to the build context containers/."""
        return f"{self.framework}/Dockerfile" + (".gpu" if self.flavour == "gpu" else "")

    @property
    def config_key(self) -> str:
        """The `images` setting that replaces the build with a prebuilt image (`pytorch_gpu_uri`)."""
        return f"{self.framework}_{self.flavour}_uri"

    @property
    def construct_id(self) -> str:
        """Prefix of the platform stack's construct IDs (`XGBoostCPU`: IDs of deployed stacks stay put)."""
        return f"{FRAMEWORKS[self.framework]}{self.flavour.upper()}"

    @property
    def template_parameter(self) -> str:
        """The product template's launch parameter (`XGBoostImageUri`, `PyTorchGpuImageUri`)."""
        return FRAMEWORKS[self.framework] + ("Gpu" if self.flavour == "gpu" else "") + "ImageUri"

    @property
    def ci_variable(self) -> str:
        """The CI/CD variable the seeded repositories read (`XGBOOST_IMAGE_URI`, `PYTORCH_GPU_IMAGE_URI`)."""
        return self.framework.upper() + ("_GPU" if self.flavour == "gpu" else "") + "_IMAGE_URI"

    def parameter_name(self, platform_name: str) -> str:
        """The SSM parameter holding the image URI (`/<platform name>/images/pytorch-cpu`)."""
        return f"/{platform_name}/images/{self.framework}-{self.flavour}"


ML_CORE_IMAGES = tuple(MlCoreImage(framework, flavour) for framework in FRAMEWORKS for flavour in FLAVOURS)


def publish_images(scope: Construct, *, images: ImagesConfig, platform_name: str) -> None:
    """The SSM parameter of every image of the ML core, in `scope` (the platform stack): the configured URI,
    else that of an image built from containers/ at deploy (`cdk deploy` needs Docker).

    The resources go straight into `scope` so that their logical IDs stay those of deployed stacks.
    """
    for image in ML_CORE_IMAGES:
        # The build context is containers/: each image installs the shared HTTP layer beside its
        # framework's package (containers/.dockerignore keeps caches out of the context).
        uri = (
            images.uri(image)
            or ecr_assets.DockerImageAsset(
                scope,
                f"{image.construct_id}Image",
                directory=str(CONTAINERS_DIR),
                file=image.dockerfile,
                platform=ecr_assets.Platform.LINUX_AMD64,
            ).image_uri
        )
        ssm.StringParameter(
            scope,
            f"{image.construct_id}ImageUri",
            parameter_name=image.parameter_name(platform_name),
            string_value=uri,
            description=f"{image.title} image of the ML core",
        )
