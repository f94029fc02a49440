"""The model-fetch init image's build file, checked without building (no Docker here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS = ROOT / "containers"
DOCKERFILE = CONTAINERS / "model_fetch" / "Dockerfile"


def test_the_init_image_is_pinned_installs_its_pins_and_runs_model_fetch() -> None:
    parser = DockerfileParser(path=str(DOCKERFILE))
    assert re.match(r"^python:\d+\.\d+\.\d+-slim-bookworm$", parser.baseimage)
    pytorch = DockerfileParser(path=str(CONTAINERS / "pytorch" / "Dockerfile"))
    assert parser.baseimage == pytorch.baseimage  # one base image for both containers of a task
    steps = [(item["instruction"], item["value"]) for item in parser.structure]
    assert ("RUN", "pip install --no-deps -r model_fetch/requirements.txt") in steps
    for instruction, value in steps:
        if instruction == "COPY":
            for source in value.split()[:-1]:
                assert (CONTAINERS / source).exists(), f"COPY source {source} is not in containers/"
    (entrypoint,) = [value for instruction, value in steps if instruction == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["python", "-m", "model_fetch"]
