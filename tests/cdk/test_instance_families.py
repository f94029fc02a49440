"""The one instance-family table: complete against SageMaker's API model, and the seeds' copies agree."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import botocore.session
import pytest

from stacks.instance_families import FAMILIES, Accelerator, UnknownInstanceType, accelerator_of, is_gpu_instance
from tooling.generated import GENERATED, stale_files

REPO_ROOT = Path(__file__).resolve().parents[2]


def sagemaker_instance_types() -> set[str]:
    """Every instance type in the enums of botocore's SageMaker service model."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    types: set[str] = set()
    for name in model.shape_names:
        shape = model.shape_for(name)
        types.update(v for v in getattr(shape, "enum", None) or [] if re.match(r"^ml\.[a-z0-9-]+\.[a-z0-9-]+$", v))
    return types


INSTANCE_TYPES = sorted(sagemaker_instance_types())


def load_seed_copy(relative: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"seed_copy_{abs(hash(relative))}", REPO_ROOT / relative)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_family_sagemaker_lists_is_classified() -> None:
    assert len(INSTANCE_TYPES) > 300, "botocore's SageMaker model should list hundreds of instance types"
    unknown = sorted({t.split(".")[1] for t in INSTANCE_TYPES} - set(FAMILIES))
    assert not unknown, f"classify these families in stacks/instance_families.py: {unknown}"


@pytest.mark.parametrize(
    ("instance_type", "accelerator"),
    [
        ("ml.g6e.xlarge", Accelerator.NVIDIA_GPU),  # CPU in one of the three former copies
        ("ml.p4de.24xlarge", Accelerator.NVIDIA_GPU),  # likewise
        ("ml.p6-b200.48xlarge", Accelerator.NVIDIA_GPU),
        ("ml.g5.xlarge", Accelerator.NVIDIA_GPU),
        ("ml.m5.large", Accelerator.NONE),
        ("ml.c6g.xlarge", Accelerator.NONE),  # Graviton, despite the g
        ("ml.trn1.2xlarge", Accelerator.NEURON),
        ("ml.inf2.xlarge", Accelerator.NEURON),
        ("ml.geospatial.interactive", Accelerator.SPECIAL),  # starts with g, no GPU
    ],
)
def test_accelerators(instance_type: str, accelerator: Accelerator) -> None:
    assert accelerator_of(instance_type) is accelerator
    assert is_gpu_instance(instance_type) is (accelerator is Accelerator.NVIDIA_GPU)


@pytest.mark.parametrize("bad", ["m5.large", "ml.zz9.large", "ML.M5.LARGE", "local"])
def test_unknown_instance_types_are_refused_by_name(bad: str) -> None:
    with pytest.raises(UnknownInstanceType, match=re.escape(repr(bad))):
        accelerator_of(bad)


SEED_COPIES = sorted(path for path in GENERATED if path.endswith("instance_families.py"))


@pytest.mark.parametrize("relative", SEED_COPIES)
def test_seed_copies_agree_with_the_table_on_every_sagemaker_instance_type(relative: str) -> None:
    seed = load_seed_copy(relative)
    disagreements = [t for t in INSTANCE_TYPES if seed.is_gpu_instance(t) is not is_gpu_instance(t)]
    assert not disagreements, f"{relative} disagrees with the table on {disagreements[:10]}"
    assert seed.is_gpu_instance("local") is False


def test_generated_files_are_current() -> None:
    assert stale_files(only=set(SEED_COPIES)) == [], "run `make generate`"
