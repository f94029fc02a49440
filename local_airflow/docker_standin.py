"""A local stand-in for the `docker` CLI in the MLOps pipeline's build-image job (no Docker engine here).

It checks each command the job runs as Docker would need it (login with a password on stdin, build
with a context holding a Dockerfile and the BASE_IMAGE build argument it declares, push of a tagged
image), records it in $DOCKER_STANDIN_LOG (JSON lines), and makes `push` record the image tag in the
emulator's ECR repository, as a real push would. Nothing is built.

    python -m local_airflow.docker_standin login|build|push ...
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import boto3


def _fail(message: str) -> int:
    print(f"docker (stand-in): {message}", file=sys.stderr)
    return 1


def _build(arguments: list[str]) -> int:
    context = Path(arguments[-1])
    dockerfile = context / "Dockerfile"
    if not dockerfile.is_file():
        return _fail(f"unable to prepare context: {dockerfile} not found")
    build_args = [arguments[i + 1] for i, arg in enumerate(arguments[:-1]) if arg == "--build-arg"]
    if "ARG BASE_IMAGE" in dockerfile.read_text() and not any(arg.startswith("BASE_IMAGE=") for arg in build_args):
        return _fail("the Dockerfile declares ARG BASE_IMAGE but no --build-arg BASE_IMAGE was given")
    if "--tag" not in arguments:
        return _fail("no --tag given")
    return 0


def image_manifest(tag: str) -> str:
    """A minimal image manifest (what ECR stores for a pushed tag); its digest names the tag."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 2,
                "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest(),
            },
            "layers": [],
        }
    )


def _push(arguments: list[str]) -> int:
    image = arguments[-1]
    repository_uri, _, tag = image.rpartition(":")
    if not tag or "/" not in repository_uri:
        return _fail(f"invalid reference format: {image}")
    ecr = boto3.client("ecr")
    try:
        ecr.put_image(repositoryName=repository_uri.split("/", 1)[1], imageManifest=image_manifest(tag), imageTag=tag)
    except ecr.exceptions.ImageTagAlreadyExistsException:
        return _fail(f"tag {tag} already exists in the immutable repository {repository_uri}")
    print(f"{tag}: digest: pushed (stand-in)")
    return 0


def main(argv: list[str]) -> int:
    """Check and record one docker command."""
    if not argv:
        return _fail("no command")
    command, arguments = argv[0], argv[1:]
    log = os.environ.get("DOCKER_STANDIN_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(json.dumps({"command": command, "arguments": arguments}) + "\n")
    if command == "login":
        password = sys.stdin.read()
        if "--password-stdin" not in arguments or not password.strip():
            return _fail("login needs --password-stdin and a password")
        print("Login Succeeded")
        return 0
    if command == "build":
        return _build(arguments)
    if command == "push":
        return _push(arguments)
    return _fail(f"the stand-in does not implement '{command}'")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
