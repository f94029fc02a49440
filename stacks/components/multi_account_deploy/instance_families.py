"""Which SageMaker instance types have NVIDIA GPUs (and so run the CUDA images).

Generated from the platform's table (stacks/instance_families.py) by `make generate`; the
platform's tests fail when this copy and the table differ. Edit the table, not this file.
"""

import re

GPU_FAMILIES = frozenset(
    {
        "g4dn",
        "g5",
        "g6",
        "g6e",
        "g7",
        "g7e",
        "gr6",
        "p2",
        "p3",
        "p3dn",
        "p4d",
        "p4de",
        "p5",
        "p5e",
        "p5en",
        "p6-b200",
        "p6-b300",
        "p6e-gb200",
    }
)

_INSTANCE_TYPE = re.compile(r"^ml\.(?P<family>[a-z0-9-]+)\.(?P<size>[a-z0-9-]+)$")


def is_gpu_instance(instance_type: str) -> bool:
    """Whether `instance_type` (e.g. ml.g5.xlarge) belongs to a family with NVIDIA GPUs."""
    match = _INSTANCE_TYPE.match(instance_type)
    return match is not None and match["family"] in GPU_FAMILIES
