"""Command line of the MLOps pipeline's jobs: `python -m mlops_ci <step> ...`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mlops_ci import steps
from mlops_ci.settings import CiError, Settings
from mlops_ci.upstream import fetch


def main(argv: list[str] | None = None) -> int:
    """Run one step; a CiError ends it with status 1 and its message."""
    parser = argparse.ArgumentParser(prog="python -m mlops_ci", description=__doc__)
    commands = parser.add_subparsers(dest="step", required=True)
    fetch_parser = commands.add_parser("fetch", help="download and unpack the upstream model package")
    fetch_parser.add_argument("--output", type=Path, default=Path("model-source"))
    version = commands.add_parser("version", help="decide the image's semantic version")
    version.add_argument("--source", type=Path, default=Path("model-source"))
    version.add_argument("--manifest", type=Path, default=Path("build/manifest.json"))
    version.add_argument("--output", type=Path, default=Path("build/version.env"))
    build = commands.add_parser("build-image", help="docker build and push the image, store its record")
    build.add_argument("--source", type=Path, default=Path("model-source"))
    build.add_argument("--version", required=True)
    build.add_argument("--build", choices=["yes", "no"], required=True)
    build.add_argument("--record", type=Path, default=Path("build/image-record.json"))
    train = commands.add_parser("trigger-training", help="start the training DAG")
    group = train.add_mutually_exclusive_group(required=True)
    group.add_argument("--version", help="the image version to train")
    group.add_argument("--retrain", action="store_true", help="retrain the newest image")
    train.add_argument("--source", type=Path, default=None)
    approve = commands.add_parser("approve-and-deploy", help="approve a model version and start the deployment DAG")
    approve.add_argument("--model-version", default="")
    approve.add_argument("--image-version", default="")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_environment()
        if args.step == "fetch":
            manifest = fetch(settings, os.environ, output=args.output)
            upstream = os.environ.get("UPSTREAM_PROJECT_PATH", "upstream")
            print(f"fetch: {len(manifest['files'])} files of {upstream} into {args.output}")
        elif args.step == "version":
            steps.decide_version(
                settings, source=args.source, manifest=args.manifest, environ=os.environ, output=args.output
            )
        elif args.step == "build-image":
            steps.build_image(
                settings, source=args.source, version=args.version, build=args.build == "yes", record_file=args.record
            )
        elif args.step == "trigger-training":
            steps.trigger_training(
                settings, version=None if args.retrain else args.version, source=args.source, environ=os.environ
            )
        else:
            if not (args.model_version or args.image_version):
                raise CiError("give MODEL_VERSION (run the pipeline with it) or run this job after a training pipeline")
            steps.approve_and_deploy(
                settings,
                model_version=args.model_version or None,
                image_version=args.image_version or None,
                approver=os.environ.get("GITLAB_USER_LOGIN", "unknown"),
            )
    except CiError as error:
        print(f"{args.step}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
