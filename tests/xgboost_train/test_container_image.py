"""The XGBoost images' build files, checked without building: pinned bases, requirements, entry points."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tooling.requirement_pins import read_pins as pins

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = ROOT / "containers" / "xgboost"
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
def test_installs_pinned_requirements_the_server_and_the_package(dockerfile):
    steps = instructions(dockerfile)
    runs = [arguments for keyword, arguments in steps if keyword == "RUN"]
    requirements = IMAGES[dockerfile]
    assert any(
        f"pip install -r {requirements} -r requirements-serve.txt -r requirements-build.txt" in run for run in runs
    )
    assert any("pip install --no-deps --no-build-isolation ." in run for run in runs)
    copies = [arguments for keyword, arguments in steps if keyword == "COPY"]
    assert f"{requirements} requirements-serve.txt requirements-build.txt ./" in copies
    assert "xgboost_container ./xgboost_container" in copies


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_entrypoint_dispatches_train_and_serve_on_port_8080(dockerfile):
    steps = dict(
        (keyword, arguments) for keyword, arguments in instructions(dockerfile) if keyword in ("ENTRYPOINT", "EXPOSE")
    )
    assert steps == {"ENTRYPOINT": '["/usr/local/bin/docker-entrypoint.sh"]', "EXPOSE": "8080"}
    assert "docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh" in [
        arguments for keyword, arguments in instructions(dockerfile) if keyword == "COPY"
    ]


def test_gpu_image_puts_its_virtual_environment_first_on_path():
    environment = " ".join(arguments for keyword, arguments in instructions("Dockerfile.gpu") if keyword == "ENV")
    assert "PATH=/opt/venv/bin:$PATH" in environment
    assert any(
        "python3 -m venv /opt/venv" in arguments
        for keyword, arguments in instructions("Dockerfile.gpu")
        if keyword == "RUN"
    )


@pytest.fixture
def fake_commands(tmp_path: Path) -> dict[str, str]:
    """A PATH whose `xgboost-train` / `xgboost-serve` print their name and arguments."""
    for name in ("xgboost-train", "xgboost-serve"):
        script = tmp_path / name
        script.write_text(f'#!/bin/sh\necho "{name} $*"\n')
        script.chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}


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
    result = subprocess.run(
        [str(CONTAINER / "docker-entrypoint.sh"), *arguments],
        env=fake_commands,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert (result.returncode, result.stdout.strip()) == (0, output)


def test_entrypoint_script_without_a_command_prints_usage(fake_commands):
    result = subprocess.run(
        [str(CONTAINER / "docker-entrypoint.sh")], env=fake_commands, capture_output=True, text=True, timeout=10
    )
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
