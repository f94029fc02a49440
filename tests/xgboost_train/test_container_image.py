"""The XGBoost images' build files, checked without building: pinned bases, requirements, entry points, user."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

import pytest

from tooling.requirement_pins import read_pins as pins

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS = ROOT / "containers"
CONTAINER = CONTAINERS / "xgboost"
IMAGES = {"Dockerfile": "requirements-cpu.txt", "Dockerfile.gpu": "requirements-gpu.txt"}


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


@pytest.mark.parametrize(("dockerfile", "base"), [("Dockerfile", "python:"), ("Dockerfile.gpu", "nvidia/cuda:")])
def test_base_image_is_pinned_to_an_exact_version(dockerfile, base):
    bases = [arguments for keyword, arguments in instructions(dockerfile) if keyword == "FROM"]
    assert len(bases) == 1 and bases[0].startswith(base)
    tag = bases[0].split(":", 1)[1]
    assert re.match(r"^\d+\.\d+\.\d+-", tag), f"{dockerfile}: base tag {tag!r} is not an exact version"


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_installs_pinned_requirements_and_both_packages_from_the_containers_context(dockerfile):
    """The build context is containers/: every COPY source exists there, both packages are installed."""
    steps = instructions(dockerfile)
    runs = [arguments for keyword, arguments in steps if keyword == "RUN"]
    requirements = IMAGES[dockerfile]
    assert any(
        "pip install -r http_serving/requirements-serve.txt "
        f"-r xgboost/{requirements} -r xgboost/requirements-serve.txt -r xgboost/requirements-build.txt" in run
        for run in runs
    )
    assert any("pip install --no-deps --no-build-isolation ./http_serving ./xgboost" in run for run in runs)
    sources = [arguments.split()[:-1] for keyword, arguments in steps if keyword == "COPY"]
    for source in (name for names in sources for name in names):
        assert (CONTAINERS / source).exists(), f"{dockerfile}: COPY source {source} is not in containers/"
    assert ["http_serving/http_serving"] in sources and ["xgboost/xgboost_container"] in sources


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_the_image_has_an_unprivileged_user_with_the_uid_the_entrypoint_drops_to(dockerfile):
    uid = re.search(r"^SERVE_UID=(\d+)", (CONTAINER / "docker-entrypoint.sh").read_text(), re.MULTILINE).group(1)
    users = [
        arguments for keyword, arguments in instructions(dockerfile) if keyword == "RUN" and "useradd" in arguments
    ]
    assert len(users) == 1 and f"--uid {uid} " in users[0] and users[0].endswith(" model") and int(uid) >= 1000


def test_gpu_image_puts_its_virtual_environment_first_on_path():
    environment = " ".join(arguments for keyword, arguments in instructions("Dockerfile.gpu") if keyword == "ENV")
    assert "PATH=/opt/venv/bin:$PATH" in environment
    assert any(
        "python3 -m venv /opt/venv" in arguments
        for keyword, arguments in instructions("Dockerfile.gpu")
        if keyword == "RUN"
    )


@pytest.fixture
def fake_commands():
    """A PATH whose `xgboost-train` / `xgboost-serve` print their name, arguments and user id.

    The directory is world-readable so that the command still runs after the entrypoint drops to
    the unprivileged user.
    """
    directory = Path(tempfile.mkdtemp(prefix="entrypoint-"))
    directory.chmod(0o755)
    for name in ("xgboost-train", "xgboost-serve"):
        script = directory / name
        script.write_text(f'#!/bin/sh\necho "{name} $* uid=$(id -u)"\n')
        script.chmod(0o755)
    yield {**os.environ, "PATH": f"{directory}:{os.environ['PATH']}"}
    shutil.rmtree(directory)


def entrypoint(arguments: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONTAINER / "docker-entrypoint.sh"), *arguments], env=env, capture_output=True, text=True, timeout=10
    )


@pytest.mark.parametrize(
    ("arguments", "output"),
    [
        (["train"], "xgboost-train"),
        (["serve"], "xgboost-serve"),
        (["serve", "--workers", "2"], "xgboost-serve --workers 2"),
        (["echo", "processing"], "processing"),
    ],
)
def test_entrypoint_script_dispatches_sagemaker_commands(fake_commands, arguments, output):
    result = entrypoint(arguments, fake_commands)
    assert result.returncode == 0 and result.stdout.split(" uid=")[0].strip() == output


def test_the_model_server_runs_as_the_unprivileged_user_and_training_as_started(fake_commands):
    """SageMaker starts containers as root; only the network-facing server drops its privileges."""
    uid = os.getuid()
    served, trained = entrypoint(["serve"], fake_commands), entrypoint(["train"], fake_commands)
    assert served.returncode == 0, served.stderr
    assert served.stdout.strip().endswith(f"uid={10001 if uid == 0 else uid}")
    assert trained.stdout.strip().endswith(f"uid={uid}")


def test_entrypoint_script_without_a_command_prints_usage(fake_commands):
    result = entrypoint([], fake_commands)
    assert result.returncode == 64 and "usage: IMAGE train | serve" in result.stderr


def test_console_scripts_point_at_the_entrypoints():
    scripts = tomllib.loads((CONTAINER / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"xgboost-train": "xgboost_container.train:main", "xgboost-serve": "xgboost_container.serve:main"}


def test_image_pins_equal_the_platform_pins():
    """Local runs (the platform venv) and the images run the same library versions."""
    platform = pins(ROOT / "requirements-dev.txt")
    cpu, gpu = pins(CONTAINER / "requirements-cpu.txt"), pins(CONTAINER / "requirements-gpu.txt")
    assert cpu == {name: platform[name] for name in cpu}
    assert cpu["xgboost-cpu"] == gpu["xgboost"] == platform["xgboost-cpu"]
    assert "xgboost" not in cpu and "xgboost-cpu" not in gpu
    assert {name: version for name, version in gpu.items() if name not in ("xgboost", "nvidia-nccl-cu12")} == {
        name: version for name, version in cpu.items() if name != "xgboost-cpu"
    }
    assert "nvidia-nccl-cu12" in gpu
