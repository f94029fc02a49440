"""Upsert and start the model build pipeline, or run its steps locally.

    python -m pipelines.run_pipeline [--wait] [--local] [options]

SageMaker mode (default) creates or updates the SageMaker Pipeline, starts an execution and
prints its ARN; `--wait` waits for the end and fails when the execution fails. The configuration
file (`--config`, default `$PIPELINE_CONFIG`, else `pipelines/abalone/config.json`) decides the
pipeline: its `framework` is `xgboost` (the default: the tabular pipeline of `pipelines/abalone`)
or `pytorch` (the image classifier of `pipelines/image_classifier`).
Local mode (`--local` or `PIPELINE_EXECUTION_MODE=local`) runs the same steps on this machine
(see `pipelines.local_run`), printing each step and finally `test_<gate metric>=<value>`
(`test_mse=4.82`, `test_auc=0.97`). `--tune` tunes this run whatever `tuning.enabled` says.

Environment (the GitLab CI/CD variables the project sets):
`AWS_REGION`, `ARTIFACT_BUCKET`, `MODEL_PACKAGE_GROUP_NAME`, `SAGEMAKER_PROJECT_NAME`,
`SAGEMAKER_PROJECT_ID` (the pipeline is named `<project name>-<project id>` unless
`--pipeline-name` is given), `SAGEMAKER_PIPELINE_ROLE_ARN` (SageMaker mode only),
`XGBOOST_IMAGE_URI` / `XGBOOST_GPU_IMAGE_URI` (SageMaker's built-in XGBoost image when unset),
`PYTORCH_IMAGE_URI` / `PYTORCH_GPU_IMAGE_URI` (the image classifier; `PYTORCH_PYTHON`: the interpreter
with the PyTorch image's code for its local execution),
`INPUT_DATA_URL` (default of `--input-data`), `RUN_SUMMARY_PATH` (where the JSON run summary
is written, if set).

Both modes end with the cost of each step (`cost[<step>]=...` lines and the summary's `costs`: instance
type and count, spot or not, billable seconds and the estimate from `pipelines/instance_prices.json`; see
`pipelines.costs`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

# The SageMaker SDK logs where it looked for its defaults file when it is imported, and which request
# fields it leaves out of a pipeline definition; silence that (and botocore's credential notes) before
# the import so that the progress output stays readable.
_QUIET_LOGGERS = {
    "botocore": logging.WARNING,
    "sagemaker": logging.WARNING,
    "sagemaker.config": logging.WARNING,
    "sagemaker.workflow.utilities": logging.ERROR,
    "sagemaker.workflow._utils": logging.ERROR,
}
for _name, _level in _QUIET_LOGGERS.items():
    logging.getLogger(_name).setLevel(_level)

from pipelines import costs as pricing  # noqa: E402 - after the logging set-up above
from pipelines import local_run  # noqa: E402
from pipelines.abalone import pipeline as definition  # noqa: E402
from pipelines.image_classifier import local_run as image_local_run  # noqa: E402
from pipelines.image_classifier import pipeline as image_definition  # noqa: E402
from pipelines.image_classifier import pipeline_config as image_config  # noqa: E402

XGBOOST, PYTORCH = "xgboost", "pytorch"

WAIT_DELAY_SECONDS = 30
WAIT_MAX_ATTEMPTS = 240  # two hours


class UsageError(Exception):
    """Missing settings; the message names them."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line options; every pipeline parameter left out keeps its default."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.run_pipeline", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--local", action="store_true", help="run the steps on this machine (also PIPELINE_EXECUTION_MODE=local)"
    )
    parser.add_argument("--wait", action="store_true", help="SageMaker mode: wait for the execution to end")
    parser.add_argument("--pipeline-name", help="default: $SAGEMAKER_PROJECT_NAME-$SAGEMAKER_PROJECT_ID")
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("PIPELINE_CONFIG") or definition.CONFIG_PATH),
        help="pipeline configuration file (default: $PIPELINE_CONFIG, else the Abalone configuration); its "
        "'framework' (xgboost, pytorch) decides the pipeline",
    )
    parser.add_argument(
        "--input-data", default=os.environ.get("INPUT_DATA_URL"), help="InputDataUrl: s3:// URL (or, locally, a path)"
    )
    # The platform seeds TRAINING_INSTANCE_TYPE / PROCESSING_INSTANCE_TYPE from its configuration.
    parser.add_argument(
        "--training-instance-type",
        default=os.environ.get("TRAINING_INSTANCE_TYPE") or definition.DEFAULT_TRAINING_INSTANCE_TYPE,
        help="TrainingInstanceType (default: $TRAINING_INSTANCE_TYPE); a GPU type trains with XGBOOST_GPU_IMAGE_URI",
    )
    parser.add_argument(
        "--processing-instance-type",
        default=os.environ.get("PROCESSING_INSTANCE_TYPE") or definition.DEFAULT_PROCESSING_INSTANCE_TYPE,
        help="ProcessingInstanceType (default: $PROCESSING_INSTANCE_TYPE)",
    )
    parser.add_argument("--processing-instance-count", type=int, help="ProcessingInstanceCount (xgboost)")
    parser.add_argument(
        "--training-instance-count", type=int, default=1, help="TrainingInstanceCount (pytorch: distributed training)"
    )
    parser.add_argument("--approval-status", default=definition.DEFAULT_APPROVAL_STATUS, help="ModelApprovalStatus")
    parser.add_argument(
        "--quality-gate-threshold",
        type=float,
        help=f"{definition.THRESHOLD_PARAMETER} (default: the bound of quality_gate in the configuration)",
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        default=None,
        help="run the tuning step (tuning section of the configuration) even where tuning.enabled is false",
    )
    parser.add_argument(
        "--work-dir", type=Path, help="local mode: keep the step directories here (default: a temporary directory)"
    )
    return parser.parse_args(argv)


def require_env(*names: str) -> dict[str, str]:
    """The values of environment variables that must be set; raise naming every missing one."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise UsageError(f"missing environment variable(s): {', '.join(missing)} (see README.md)")
    return {name: os.environ[name] for name in names}


def region_name() -> str:
    """`AWS_REGION`, else `AWS_DEFAULT_REGION`."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise UsageError("missing environment variable AWS_REGION")
    return region


def pipeline_name(args: argparse.Namespace) -> str:
    """`--pipeline-name`, else `<SAGEMAKER_PROJECT_NAME>-<SAGEMAKER_PROJECT_ID>`."""
    if args.pipeline_name:
        return args.pipeline_name
    env = require_env("SAGEMAKER_PROJECT_NAME", "SAGEMAKER_PROJECT_ID")
    return f"{env['SAGEMAKER_PROJECT_NAME']}-{env['SAGEMAKER_PROJECT_ID']}"


def run_local(args: argparse.Namespace, framework: str) -> tuple[int, dict[str, Any]]:
    """Local mode: run the steps, print `test_<metric>=`; return the exit status and the summary."""
    region = region_name()
    env = require_env("ARTIFACT_BUCKET", "MODEL_PACKAGE_GROUP_NAME")
    config = load_config(args, framework)
    if framework == PYTORCH:
        images = image_definition.resolve_image_uris(training_instance_type=args.training_instance_type)
    else:
        images = definition.resolve_image_uris(region)
    settings = local_run.LocalSettings(
        region=region,
        bucket=env["ARTIFACT_BUCKET"],
        pipeline_name=pipeline_name(args),
        model_package_group_name=env["MODEL_PACKAGE_GROUP_NAME"],
        input_data=args.input_data or config.input_data_for(region),
        images=images,
        config_path=args.config,
        training_instance_type=args.training_instance_type,
        processing_instance_type=args.processing_instance_type,
        processing_instance_count=args.processing_instance_count or 1,
        approval_status=args.approval_status,
        threshold=args.quality_gate_threshold,
        tune=args.tune,
    )
    runner = image_local_run.run_local if framework == PYTORCH else local_run.run_local
    summary = runner(settings, args.work_dir)
    if summary["status"] != "Succeeded":
        print(f"local execution failed: {summary['failure_reason']}", file=sys.stderr)
    print("\n".join(pricing.cost_lines(summary["costs"])))
    if summary["metric_value"] is not None:
        print(f"test_{config.quality_gate.metric}={summary['metric_value']:.6f}")
    return (0 if summary["status"] == "Succeeded" else 1), summary


def load_config(args: argparse.Namespace, framework: str) -> Any:
    """The validated configuration of the pipeline `framework` names."""
    if framework == PYTORCH:
        if args.tune:
            raise definition.ConfigError("the image classifier pipeline has no tuning step (--tune)")
        return image_config.load_config(args.config)
    return definition.load_pipeline_config(args.config)


def build_pipeline(args: argparse.Namespace, framework: str, **common: Any) -> tuple[Any, dict[str, Any]]:
    """The pipeline definition of `framework` and the parameters this run sets (None: the default)."""
    parameters: dict[str, Any] = {
        "InputDataUrl": args.input_data,
        "ProcessingInstanceType": args.processing_instance_type,
        "ModelApprovalStatus": args.approval_status,
        definition.THRESHOLD_PARAMETER: args.quality_gate_threshold,
    }
    if framework == PYTORCH:
        if args.input_data and image_config.load_config(args.config).builtin_digits:
            raise definition.ConfigError(
                f"--input-data: {args.config} trains on the built-in digits (input_data 'digits'); set input_data "
                "there to an s3:// prefix of <class>/<image> folders to read other images"
            )
        pipeline = image_definition.get_pipeline(training_instance_count=args.training_instance_count, **common)
        return pipeline, {**parameters, "TrainingInstanceCount": args.training_instance_count}
    pipeline = definition.get_pipeline(tune=args.tune, **common)
    return pipeline, {**parameters, "ProcessingInstanceCount": args.processing_instance_count}


def run_sagemaker(args: argparse.Namespace, framework: str) -> tuple[int, dict[str, Any]]:
    """SageMaker mode: upsert, start, print the ARN, optionally wait; return status and summary."""
    from sagemaker.workflow.pipeline_context import PipelineSession

    region = region_name()
    env = require_env("ARTIFACT_BUCKET", "MODEL_PACKAGE_GROUP_NAME", "SAGEMAKER_PIPELINE_ROLE_ARN")
    prices = pricing.load_price_table()  # a broken table fails before anything starts
    config = load_config(args, framework)
    name = pipeline_name(args)
    boto_session = boto3.Session(region_name=region)
    pipeline, parameters = build_pipeline(
        args,
        framework,
        region=region,
        role=env["SAGEMAKER_PIPELINE_ROLE_ARN"],
        default_bucket=env["ARTIFACT_BUCKET"],
        pipeline_name=name,
        model_package_group_name=env["MODEL_PACKAGE_GROUP_NAME"],
        sagemaker_session=PipelineSession(boto_session=boto_session, default_bucket=env["ARTIFACT_BUCKET"]),
        config_path=args.config,
        training_instance_type=args.training_instance_type,
        processing_instance_type=args.processing_instance_type,
    )
    tags: list[dict[str, Any]] = [
        {"Key": f"sagemaker:{key}", "Value": os.environ[variable]}
        for key, variable in (("project-name", "SAGEMAKER_PROJECT_NAME"), ("project-id", "SAGEMAKER_PROJECT_ID"))
        if os.environ.get(variable)
    ]
    pipeline.upsert(role_arn=env["SAGEMAKER_PIPELINE_ROLE_ARN"], description="Model build pipeline", tags=tags)
    execution = pipeline.start(parameters={key: value for key, value in parameters.items() if value is not None})
    print(f"started pipeline {name}: execution_arn={execution.arn}")
    summary: dict[str, Any] = {
        "mode": "sagemaker",
        "pipeline_name": name,
        "execution_arn": execution.arn,
        "status": "Executing",
    }
    if not args.wait:
        return 0, summary
    try:
        execution.wait(delay=WAIT_DELAY_SECONDS, max_attempts=WAIT_MAX_ATTEMPTS)
    except WaiterError:
        pass  # the description below says how it ended
    description = execution.describe()
    summary["status"] = description["PipelineExecutionStatus"]
    try:
        jobs = pricing.sagemaker_step_costs(boto_session.client("sagemaker"), execution.arn, prices, region)
    except (ClientError, BotoCoreError) as error:  # the run's outcome stands without its cost report
        summary["costs"] = None
        print(f"cost: not available: {error}", file=sys.stderr)
    else:
        summary["costs"] = pricing.cost_summary(jobs, prices, region)
        print("\n".join(pricing.cost_lines(summary["costs"])))
    if summary["status"] != "Succeeded":
        summary["failure_reason"] = description.get("FailureReason", "")
        print(f"pipeline execution {summary['status']}: {summary['failure_reason']}", file=sys.stderr)
        return 1, summary
    execution_id = execution.arn.rsplit("/", 1)[-1]
    evaluation_uri = definition.artifact_prefix(
        env["ARTIFACT_BUCKET"], name, execution_id, definition.EVALUATION_OUTPUT, definition.EVALUATION_FILE
    )
    body = (
        boto_session.client("s3")
        .get_object(Bucket=env["ARTIFACT_BUCKET"], Key=evaluation_uri.split("/", 3)[3])["Body"]
        .read()
    )
    section = json.loads(body)[config.metric_json_path.split(".", 1)[0]]
    metric = config.quality_gate.metric
    summary.update(
        problem_type=config.problem_type,
        metric_value=section[metric]["value"],
        metrics={key: value["value"] for key, value in section.items() if isinstance(value, dict) and "value" in value},
        evaluation_url=evaluation_uri,
    )
    print(f"pipeline execution Succeeded\ntest_{metric}={section[metric]['value']:.6f}")
    return 0, summary


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (1 on a failed run, 2 on a usage error)."""
    args = parse_args(argv)
    local = args.local or os.environ.get("PIPELINE_EXECUTION_MODE", "").lower() == "local"
    try:
        framework = image_config.framework_of(args.config)
        if framework not in (XGBOOST, PYTORCH):
            raise definition.ConfigError(f"{args.config}: 'framework' = {framework!r} must be {XGBOOST} or {PYTORCH}")
        status, summary = run_local(args, framework) if local else run_sagemaker(args, framework)
    except (UsageError, definition.ConfigError, pricing.PriceTableError) as error:
        print(f"run_pipeline: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"run_pipeline: AWS call failed: {error}", file=sys.stderr)
        return 1
    summary_path = os.environ.get("RUN_SUMMARY_PATH")
    if summary_path:
        Path(summary_path).parent.mkdir(parents=True, exist_ok=True)
        Path(summary_path).write_text(json.dumps(summary, indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
