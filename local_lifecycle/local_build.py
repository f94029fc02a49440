"""`make local-build`: the model build pipeline's steps on this machine, without AWS or Docker.

    python -m local_lifecycle.local_build <data.csv> [--tune]

Starts the emulator, creates what the SageMaker project would (artifact bucket, model package
group), uploads the data set and runs the seed repository's
`python -m pipelines.run_pipeline --local` against them (`--tune`: with its tuning step, whatever
`tuning.enabled` of the seed's config.json says). The pipeline's own last line is
`test_<gate metric>=<value>`. Environment: AWS_REGION (us-east-1), LOCAL_BUILD_DIR (.local-run/build: the
run summary), XGBOOST_IMAGE_URI / XGBOOST_GPU_IMAGE_URI (the images recorded in the model package;
SageMaker's built-in XGBoost image when unset).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from local_lifecycle.emulator import Emulator

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = REPO_ROOT / "seedcode" / "model-build"
PROJECT = {
    "SAGEMAKER_PROJECT_NAME": "local-build",
    "SAGEMAKER_PROJECT_ID": "p-local",
    "ARTIFACT_BUCKET": "sagemaker-project-p-local",
    "MODEL_PACKAGE_GROUP_NAME": "local-build-p-local",
}


def run(data: Path, *, region: str, out: Path, tune: bool = False) -> int:
    """Run the pipeline's steps on `data`; return the pipeline's exit status."""
    with Emulator(region=region) as emulator:
        bucket = PROJECT["ARTIFACT_BUCKET"]
        s3 = emulator.client("s3")
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        emulator.client("sagemaker").create_model_package_group(
            ModelPackageGroupName=PROJECT["MODEL_PACKAGE_GROUP_NAME"]
        )
        input_url = f"s3://{bucket}/dataset/{data.name}"
        s3.upload_file(str(data), bucket, f"dataset/{data.name}")
        print(f"local-build: AWS emulator {emulator.url}, data set uploaded to {input_url}", file=sys.stderr)
        # Only the emulator is reachable with these settings; nothing touches a real AWS account.
        ambient = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")
        env = {key: value for key, value in os.environ.items() if key not in ambient}
        env.update(emulator.environment())
        env.update(PROJECT)
        env.update(
            PIPELINE_EXECUTION_MODE="local",
            RUN_SUMMARY_PATH=str(out / "run-summary.json"),
            SAGEMAKER_SUPPRESS_V2_WARNING="1",
            PYTHONDONTWRITEBYTECODE="1",
        )
        started = time.monotonic()
        command = [sys.executable, "-m", "pipelines.run_pipeline", "--local", "--input-data", input_url]
        if tune:
            command.append("--tune")
        status = subprocess.run(command, cwd=SEED, env=env, check=False).returncode
        print(
            f"local-build: run summary in {out / 'run-summary.json'} "
            f"(pipeline steps took {time.monotonic() - started:.1f} s)",
            file=sys.stderr,
        )
        return status


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 2 when the data file is missing."""
    parser = argparse.ArgumentParser(prog="make local-build", description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="CSV in the layout of the seed's config.json (Abalone by default)")
    parser.add_argument("--tune", action="store_true", help="run the pipeline's tuning step")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"local-build: data file {args.data} not found", file=sys.stderr)
        return 2
    out = Path(os.environ.get("LOCAL_BUILD_DIR") or REPO_ROOT / ".local-run" / "build")
    out.mkdir(parents=True, exist_ok=True)
    return run(args.data.resolve(), region=os.environ.get("AWS_REGION") or "us-east-1", out=out, tune=args.tune)


if __name__ == "__main__":
    sys.exit(main())
