"""The PyTorch images' build files, checked without building: pinned bases and requirements, the package, user."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tooling.requirement_pins import read_pins as pins

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS = ROOT / "containers"
CONTAINER = CONTAINERS / "pytorch"
IMAGES = {"Dockerfile": "requirements-cpu.txt", "Dockerfile.gpu": "requirements-gpu.txt"}
TEST_ONLY = {"pytest", "iniconfig", "pluggy", "pygments"}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (CONTAINER / dockerfile).read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            pairs.append((keyword.upper(), " ".join(arguments.split())))
    return pairs


@pytest.mark.parametrize(("dockerfile", "base"), [("Dockerfile", "python:"), ("Dockerfile.gpu", "nvidia/cuda:13.")])
def test_base_image_is_pinned_to_an_exact_version(dockerfile: str, base: str) -> None:
    bases = [arguments for keyword, arguments in instructions(dockerfile) if keyword == "FROM"]
    assert len(bases) == 1 and bases[0].startswith(base)
    tag = bases[0].split(":", 1)[1]
    assert re.match(r"^\d+\.\d+\.\d+-", tag), f"{dockerfile}: base tag {tag!r} is not an exact version"


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_installs_the_pinned_requirements_and_the_package_from_the_containers_context(dockerfile: str) -> None:
    steps = instructions(dockerfile)
    runs = [arguments for keyword, arguments in steps if keyword == "RUN"]
    assert any(f"-r pytorch/{IMAGES[dockerfile]} -r pytorch/requirements-build.txt" in run for run in runs)
    assert any("pip install --no-deps --no-build-isolation ./pytorch" in run for run in runs)
    sources = [arguments.split()[:-1] for keyword, arguments in steps if keyword == "COPY"]
    for source in (name for names in sources for name in names):
        assert (CONTAINERS / source).exists(), f"{dockerfile}: COPY source {source} is not in containers/"
    assert ["pytorch/pytorch_container"] in sources


def test_the_cpu_image_takes_torch_from_pytorchs_cpu_index() -> None:
    runs = [arguments for keyword, arguments in instructions("Dockerfile") if keyword == "RUN"]
    assert any(
        "--extra-index-url https://download.pytorch.org/whl/cpu -r pytorch/requirements-cpu.txt" in r for r in runs
    )
    assert pins(CONTAINER / "requirements-cpu.txt")["torch"] == "2.13.0+cpu"


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_the_image_has_an_unprivileged_model_user(dockerfile: str) -> None:
    users = [a for keyword, a in instructions(dockerfile) if keyword == "RUN" and "useradd" in a]
    assert len(users) == 1 and "--uid 10001 " in users[0] and users[0].endswith(" model")
    assert "--shell /usr/sbin/nologin" in users[0]


def test_the_gpu_image_puts_its_virtual_environment_first_on_path() -> None:
    environment = " ".join(arguments for keyword, arguments in instructions("Dockerfile.gpu") if keyword == "ENV")
    assert "PATH=/opt/venv/bin:$PATH" in environment


def test_image_pins_equal_the_local_venv_pins() -> None:
    """Local runs (.venv-pytorch) and both images run the same library versions; torch is 2.13.0 everywhere."""
    local = pins(ROOT / "requirements-pytorch.txt")
    cpu, gpu = pins(CONTAINER / "requirements-cpu.txt"), pins(CONTAINER / "requirements-gpu.txt")
    assert local["torch"] == "2.13.0" and gpu["torch"] == "2.13.0" and cpu["torch"] == "2.13.0+cpu"
    shared = {name: version for name, version in local.items() if name not in TEST_ONLY | {"torch", "setuptools"}}
    assert {name: version for name, version in cpu.items() if name != "torch"} == shared
    gpu_only = {
        "torch",
        "onnxruntime-gpu",
        "cuda-toolkit",
        "cuda-bindings",
        "nvidia-nvjitlink",
        "nvidia-cudnn-cu13",
        "nvidia-cusparselt-cu13",
        "nvidia-nccl-cu13",
        "nvidia-nvshmem-cu13",
        "triton",
    }
    assert {name: v for name, v in gpu.items() if name not in gpu_only} == {
        name: v for name, v in shared.items() if name != "onnxruntime"
    }
    assert gpu["onnxruntime-gpu"] == local["onnxruntime"]
    assert pins(CONTAINER / "requirements-build.txt")["setuptools"] == local["setuptools"]


def test_console_script_and_entrypoint_dispatch(tmp_path) -> None:
    scripts = tomllib.loads((CONTAINER / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"pytorch-train": "pytorch_container.train:main"}
    fake = tmp_path / "pytorch-train"
    fake.write_text('#!/bin/sh\necho "pytorch-train $*"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        script = str(CONTAINER / "docker-entrypoint.sh")
        return subprocess.run([script, *arguments], env=env, capture_output=True, text=True, timeout=10)

    assert run("train", "--x").stdout.strip() == "pytorch-train --x"
    assert run("echo", "processing").stdout.strip() == "processing"
    usage = run()
    assert usage.returncode == 64 and "usage: IMAGE train" in usage.stderr


# The Trainium image (issue 18): AWS's Neuron training container plus what it lacks. Nothing here builds or
# runs it (no Docker; the Neuron base image and Trainium are not reachable offline).


def test_the_neuron_image_starts_from_an_exact_neuron_training_container() -> None:
    (base,) = [arguments for keyword, arguments in instructions("Dockerfile.neuron") if keyword == "FROM"]
    assert re.fullmatch(
        r"763104351884\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/pytorch-training-neuronx:"
        r"\d+\.\d+\.\d+-neuronx-py3\d+-sdk\d+\.\d+\.\d+-ubuntu\d+\.\d+",
        base,
    ), base


def test_the_neuron_image_keeps_the_neuron_sdk_s_torch_and_adds_the_cpu_image_s_pins_only() -> None:
    """torch, torch-xla and torch-neuronx come with the Neuron SDK; the rest is pinned as in the CPU image."""
    neuron, cpu = pins(CONTAINER / "requirements-neuron.txt"), pins(CONTAINER / "requirements-cpu.txt")
    assert not {"torch", "torch-xla", "torch-neuronx", "numpy", "scipy", "protobuf"} & set(neuron)
    assert {name: cpu[name] for name in neuron} == neuron
    runs = [arguments for keyword, arguments in instructions("Dockerfile.neuron") if keyword == "RUN"]
    assert any(
        "pip install --no-deps -r pytorch/requirements-neuron.txt -r pytorch/requirements-build.txt && pip check" in run
        for run in runs
    )
    entry = [arguments for keyword, arguments in instructions("Dockerfile.neuron") if keyword == "ENTRYPOINT"]
    assert entry == ['["/usr/local/bin/docker-entrypoint.sh"]']
