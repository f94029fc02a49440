"""The one table of SageMaker instance families and the accelerator each one carries.

Everything that asks "does this instance type have a GPU?" asks this table: the configuration,
the stacks, and (through generated copies, see `tooling/generated.py`) the seed repositories,
which must stand alone in GitLab. `tests/cdk/test_instance_families.py` checks that every
family SageMaker lists in its API model (botocore's instance-type enums) is classified here, so
a new family fails the tests until someone says what it is.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Accelerator(StrEnum):
    """What an instance family computes on besides its CPUs."""

    NONE = "none"
    NVIDIA_GPU = "nvidia-gpu"
    NEURON = "aws-neuron"  # Inferentia / Trainium: needs the Neuron SDK images, not CUDA ones
    GAUDI = "habana-gaudi"
    SPECIAL = "special"  # not a host family: Elastic Inference add-ons (ml.eia*), ml.geospatial.interactive


_CPU = (
    "c4 c5 c5d c5n c6a c6g c6gd c6gn c6i c6id c6in c7g c7i c7i-flex c8a c8g c8i c8i-flex i3en "
    "m4 m5 m5d m6a m6g m6gd m6i m6id m7g m7i m7i-flex m8a m8g m8i m8i-flex "
    "r5 r5d r6g r6gd r6i r6id r7gd r7i r8g r8i r8i-flex t2 t3"
)
_NVIDIA = "g4dn g5 g6 g6e g7 g7e gr6 p2 p3 p3dn p4d p4de p5 p5e p5en p6-b200 p6-b300 p6e-gb200"
_NEURON = "inf1 inf2 trn1 trn1n trn2"

FAMILIES: dict[str, Accelerator] = {
    **dict.fromkeys(_CPU.split(), Accelerator.NONE),
    **dict.fromkeys(_NVIDIA.split(), Accelerator.NVIDIA_GPU),
    **dict.fromkeys(_NEURON.split(), Accelerator.NEURON),
    "dl1": Accelerator.GAUDI,
    "geospatial": Accelerator.SPECIAL,
    "eia1": Accelerator.SPECIAL,
    "eia2": Accelerator.SPECIAL,
}

_INSTANCE_TYPE = re.compile(r"^ml\.(?P<family>[a-z0-9-]+)\.(?P<size>[a-z0-9-]+)$")


class UnknownInstanceType(ValueError):
    """An instance type that is malformed or of a family this table does not know."""


def family_of(instance_type: str) -> str:
    """The family of `ml.<family>.<size>`, e.g. `g6e` for `ml.g6e.xlarge`; raises for unknown ones."""
    match = _INSTANCE_TYPE.match(instance_type)
    if not match:
        raise UnknownInstanceType(f"{instance_type!r} is not a SageMaker instance type such as ml.m5.large")
    family = match["family"]
    if family not in FAMILIES:
        raise UnknownInstanceType(
            f"{instance_type!r}: unknown instance family {family!r} (known: {', '.join(sorted(FAMILIES))})"
        )
    return family


def accelerator_of(instance_type: str) -> Accelerator:
    """The accelerator of the instance type's family."""
    return FAMILIES[family_of(instance_type)]


def is_gpu_instance(instance_type: str) -> bool:
    """True for families with NVIDIA GPUs (the CUDA images run there)."""
    return accelerator_of(instance_type) is Accelerator.NVIDIA_GPU


def gpu_families() -> list[str]:
    """The NVIDIA GPU families, sorted."""
    return sorted(family for family, kind in FAMILIES.items() if kind is Accelerator.NVIDIA_GPU)


def render_seed_module() -> str:
    """Source of the stand-alone copy each seed repository carries (`instance_families.py`)."""
    families = "\n".join(f'        "{family}",' for family in gpu_families())
    return f'''"""Which SageMaker instance types have NVIDIA GPUs (and so run the CUDA images).

Generated from the platform's table (stacks/instance_families.py) by `make generate`; the
platform's tests fail when this copy and the table differ. Edit the table, not this file.
"""

import re

GPU_FAMILIES = frozenset(
    {{
{families}
    }}
)

_INSTANCE_TYPE = re.compile(r"^ml\\.(?P<family>[a-z0-9-]+)\\.(?P<size>[a-z0-9-]+)$")


def is_gpu_instance(instance_type: str) -> bool:
    """Whether `instance_type` (e.g. ml.g5.xlarge) belongs to a family with NVIDIA GPUs."""
    match = _INSTANCE_TYPE.match(instance_type)
    return match is not None and match["family"] in GPU_FAMILIES
'''
