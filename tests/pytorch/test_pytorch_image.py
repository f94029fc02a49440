"""The PyTorch images' build files, checked without building: pinned bases and requirements, the packages, the
unprivileged user the model server drops to, the entrypoint."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
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
def test_installs_the_pinned_requirements_and_both_packages_from_the_containers_context(dockerfile: str) -> None:
    steps = instructions(dockerfile)
    runs = [arguments for keyword, arguments in steps if keyword == "RUN"]
    assert any(
        f"-r http_serving/requirements-serve.txt -r pytorch/{IMAGES[dockerfile]} -r pytorch/requirements-build.txt"
        in run
        for run in runs
    )
    assert any("pip install --no-deps --no-build-isolation ./http_serving ./pytorch" in run for run in runs)
    sources = [arguments.split()[:-1] for keyword, arguments in steps if keyword == "COPY"]
    for source in (name for names in sources for name in names):
        assert (CONTAINERS / source).exists(), f"{dockerfile}: COPY source {source} is not in containers/"
    assert ["pytorch/pytorch_container"] in sources and ["http_serving/http_serving"] in sources
    assert ("EXPOSE", "8080") in steps


def test_the_cpu_image_takes_torch_from_pytorchs_cpu_index() -> None:
    runs = [arguments for keyword, arguments in instructions("Dockerfile") if keyword == "RUN"]
    assert any("pip install --extra-index-url https://download.pytorch.org/whl/cpu -r " in r for r in runs)
    assert pins(CONTAINER / "requirements-cpu.txt")["torch"] == "2.13.0+cpu"


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_the_image_has_an_unprivileged_user_with_the_uid_the_entrypoint_drops_to(dockerfile: str) -> None:
    found = re.search(r"^SERVE_UID=(\d+)", (CONTAINER / "docker-entrypoint.sh").read_text(), re.MULTILINE)
    assert found and int(found.group(1)) >= 1000
    users = [a for keyword, a in instructions(dockerfile) if keyword == "RUN" and "useradd" in a]
    assert len(users) == 1 and f"--uid {found.group(1)} " in users[0] and users[0].endswith(" model")
    assert "--shell /usr/sbin/nologin" in users[0]


def test_the_gpu_image_puts_its_virtual_environment_first_on_path() -> None:
    environment = " ".join(arguments for keyword, arguments in instructions("Dockerfile.gpu") if keyword == "ENV")
    assert "PATH=/opt/venv/bin:$PATH" in environment


def test_image_pins_equal_the_local_venv_pins() -> None:
    """Local runs (.venv-pytorch) and both images run the same library versions; torch is 2.13.0 everywhere."""
    local = pins(ROOT / "requirements-pytorch.txt")
    cpu, gpu = pins(CONTAINER / "requirements-cpu.txt"), pins(CONTAINER / "requirements-gpu.txt")
    assert local["torch"] == "2.13.0" and gpu["torch"] == "2.13.0" and cpu["torch"] == "2.13.0+cpu"
    # The HTTP layer's pins come from its own file, which both images install too.
    serving = pins(CONTAINERS / "http_serving" / "requirements-serve.txt")
    assert {name: local[name] for name in serving} == serving
    http_only = set(serving) - set(cpu)
    shared = {
        name: version for name, version in local.items() if name not in TEST_ONLY | http_only | {"torch", "setuptools"}
    }
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


def test_console_scripts_point_at_the_entrypoints() -> None:
    scripts = tomllib.loads((CONTAINER / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"pytorch-train": "pytorch_container.train:main", "pytorch-serve": "pytorch_container.serve:main"}


@pytest.fixture
def fake_commands() -> Iterator[dict[str, str]]:
    """A PATH whose `pytorch-train` / `pytorch-serve` print their name, arguments and user id (world-readable,
    so that the command still runs after the entrypoint drops to the unprivileged user)."""
    directory = Path(tempfile.mkdtemp(prefix="entrypoint-"))
    directory.chmod(0o755)
    for name in ("pytorch-train", "pytorch-serve"):
        script = directory / name
        script.write_text(f'#!/bin/sh\necho "{name} $* uid=$(id -u)"\n')
        script.chmod(0o755)
    yield {**os.environ, "PATH": f"{directory}:{os.environ['PATH']}"}
    shutil.rmtree(directory)


def entrypoint(arguments: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = str(CONTAINER / "docker-entrypoint.sh")
    return subprocess.run([script, *arguments], env=env, capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize(
    ("arguments", "output"),
    [
        (["train", "--x"], "pytorch-train --x"),
        (["serve"], "pytorch-serve"),
        (["serve", "--workers", "2"], "pytorch-serve --workers 2"),
        (["echo", "processing"], "processing"),
    ],
)
def test_entrypoint_dispatches_sagemaker_commands(fake_commands: dict[str, str], arguments, output) -> None:
    result = entrypoint(arguments, fake_commands)
    assert result.returncode == 0 and result.stdout.split(" uid=")[0].strip() == output


def test_the_model_server_runs_as_the_unprivileged_user_and_training_as_started(fake_commands) -> None:
    """SageMaker starts containers as root; only the network-facing server drops its privileges."""
    uid = os.getuid()
    served, trained = entrypoint(["serve"], fake_commands), entrypoint(["train"], fake_commands)
    assert served.returncode == 0, served.stderr
    assert served.stdout.strip().endswith(f"uid={10001 if uid == 0 else uid}")
    assert trained.stdout.strip().endswith(f"uid={uid}")


def test_entrypoint_without_a_command_prints_usage(fake_commands) -> None:
    usage = entrypoint([], fake_commands)
    assert usage.returncode == 64 and "usage: IMAGE train | serve" in usage.stderr


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
