"""Local execution of the model build pipeline: the same steps, on this machine, without SageMaker.

Each step runs the code its SageMaker job runs, in a subprocess whose `SM_ML_ROOT` points at a
per-step directory laid out like the container's `/opt/ml`:

1. Preprocess: `pipelines/abalone/preprocess.py` on the input (an `s3://` prefix read through
   boto3, which honours `AWS_ENDPOINT_URL`, or a local file or directory);
2. Train: `python -m xgboost_container.train`, the image's training entrypoint; or, with tuning,
   Tune: the local search of `pipelines.tuning` over the configuration's ranges (the best
   trial's model goes on);
3. Evaluate: `pipelines/abalone/evaluate.py --metric <gate metric>` on the packed `model.tar.gz`
   (evaluation.json, PNG plots, HTML report);
4. CheckQualityGate: the configured gate, e.g. `mse <= 6.0` or `auc >= 0.8`;
5. RegisterModel (the model package, through the SDK call the pipeline step uses) or
   QualityGateFailed (the run fails with the measured value).

Outputs go to `s3://$ARTIFACT_BUCKET/<pipeline>/<execution id>/...`, the layout of the SageMaker
execution (see `pipelines.abalone.pipeline.artifact_prefix`).

The summary's `costs` price each step's run time as its configured instance type (`pipelines.costs`):
what the step would cost on SageMaker at this machine's speed, an estimate and not a bill.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import boto3
from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError
from sagemaker.session import Session

from pipelines import costs as pricing
from pipelines import tuning as local_tuning
from pipelines.abalone import pipeline as definition
from pipelines.abalone.evaluate import SECTIONS
from pipelines.abalone.pipeline_config import PipelineConfig, QualityGate

TRAINING_MODULE = "xgboost_container.train"
T = TypeVar("T")


class LocalRunError(Exception):
    """A step of the local execution failed; the message names the step and the reason."""


@dataclass(frozen=True)
class LocalSettings:
    """What one local execution needs (the pipeline's parameters plus the project's resources)."""

    region: str
    bucket: str
    pipeline_name: str
    model_package_group_name: str
    input_data: str
    images: definition.ImageUris
    config_path: Path = definition.CONFIG_PATH
    training_instance_type: str = definition.DEFAULT_TRAINING_INSTANCE_TYPE
    processing_instance_type: str = definition.DEFAULT_PROCESSING_INSTANCE_TYPE
    processing_instance_count: int = 1
    approval_status: str = definition.DEFAULT_APPROVAL_STATUS
    threshold: float | None = None  # QualityGateThreshold; None: the configured gate's
    tune: bool | None = None  # None: tuning.enabled of the configuration


def new_execution_id() -> str:
    """A unique, sortable id for a local execution (its S3 prefix)."""
    return f"local-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


class LocalExecution:
    """One run of the pipeline's steps; `run()` returns the run summary."""

    def __init__(
        self,
        settings: LocalSettings,
        work_dir: Path,
        *,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        gate, problem_type = self.load_config()
        self.gate = QualityGate(
            gate.metric, gate.bound, gate.threshold if settings.threshold is None else settings.threshold
        )
        self.prices = pricing.load_price_table()  # a broken table fails before any step runs
        self.execution_id = new_execution_id()
        self.work_dir = work_dir / self.execution_id
        self.boto_session = boto3.Session(region_name=settings.region)
        self.s3 = self.boto_session.client("s3")
        self.echo = echo
        self.step_seconds: dict[str, float] = {}
        self.artifacts: dict[str, str] = {}
        self.summary: dict[str, Any] = {
            "mode": "local",
            "status": "Executing",
            "pipeline_name": settings.pipeline_name,
            "execution_id": self.execution_id,
            "input_data": settings.input_data,
            "model_package_group_name": settings.model_package_group_name,
            "model_package_arn": None,
            "model_approval_status": None,
            "problem_type": problem_type,
            "quality_gate": {"metric": self.gate.metric, self.gate.bound: self.gate.threshold},
            "metric_value": None,
            "metrics": {},
            "tuning": None,
            "training_image_uri": settings.images.for_training(settings.training_instance_type),
            "cpu_image_uri": settings.images.cpu,
            "gpu_image_uri": settings.images.gpu,
            "artifacts": self.artifacts,
            "step_seconds": self.step_seconds,
            "failed_step": None,
            "failure_reason": None,
            "costs": None,
        }

    def run(self) -> dict[str, Any]:
        """Execute every step; return the run summary (`status` is `Succeeded` or `Failed`)."""
        started = time.perf_counter()
        try:
            self._execute()
        except LocalRunError as error:
            self.summary.update(status="Failed", failure_reason=str(error))
        self.summary["total_seconds"] = round(time.perf_counter() - started, 3)
        self.summary["costs"] = self.costs()
        return self.summary

    def load_config(self) -> tuple[QualityGate, str]:
        """Read this pipeline's configuration; return its quality gate and problem type."""
        self.config: PipelineConfig = definition.load_pipeline_config(self.settings.config_path)
        self.tuning = self.config.tuning_enabled(self.settings.tune)
        return self.config.quality_gate, self.config.problem_type

    def priced_steps(self) -> dict[str, tuple[str, str, int]]:
        """Each instance-backed step of this pipeline: its job kind, instance type and instance count."""
        settings = self.settings
        processing = ("processing", settings.processing_instance_type, settings.processing_instance_count)
        training = ("training", settings.training_instance_type, 1)
        return {
            definition.STEP_PREPROCESS: processing,
            definition.STEP_TRAIN: training,
            definition.STEP_TUNE: training,
            definition.STEP_EVALUATE: processing,
        }

    def spot_training(self) -> bool:
        """Whether the training steps are priced as managed spot."""
        return self.config.spot_training.enabled

    def costs(self) -> dict[str, Any]:
        """Each instance-backed step that ran, its run time priced as its configured instance type."""
        kinds = self.priced_steps()
        found = [
            pricing.estimate(
                self.prices,
                self.settings.region,
                step=step,
                job="local",
                kind=kind,
                instance_type=instance_type,
                instance_count=count,
                spot=kind == "training" and self.spot_training(),
                run_seconds=seconds,
                billable_seconds=seconds,
                basis=pricing.BASIS_LOCAL,
            )
            for step, seconds in self.step_seconds.items()
            if step in kinds
            for kind, instance_type, count in [kinds[step]]
        ]
        return pricing.cost_summary(found, self.prices, self.settings.region)

    def _execute(self) -> None:
        if importlib.util.find_spec("xgboost_container") is None:
            raise LocalRunError(
                "local execution needs the XGBoost image's training code: install the platform's "
                "containers/xgboost package (pip install -e containers/xgboost)"
            )
        self.echo(f"local execution {self.execution_id} of pipeline {self.settings.pipeline_name}")
        splits = self._step(definition.STEP_PREPROCESS, self._preprocess)
        if self.tuning:
            model_archive = self._step(definition.STEP_TUNE, lambda: self._pack_model(self._tune(splits)))
        else:
            model_archive = self._step(definition.STEP_TRAIN, lambda: self._pack_model(self._train(splits)))
        value = self._step(definition.STEP_EVALUATE, lambda: self._evaluate(model_archive, splits))
        if not self._step(definition.STEP_CONDITION, lambda: self._check(value)):
            self.summary["failed_step"] = definition.STEP_FAIL
            comparison = "below" if self.gate.bound == "min" else "above"
            reason = f"Test {self.gate.metric} {value} is {comparison} the quality gate's {self.gate.threshold}"
            self.echo(f"[{definition.STEP_FAIL}] {reason}")
            raise LocalRunError(reason)
        self._step(definition.STEP_REGISTER, self._register)
        self.summary["status"] = "Succeeded"

    # --- steps -------------------------------------------------------------------------------

    def _step(self, name: str, action: Callable[[], T]) -> T:
        """Run one step, time it and print its outcome; a failure names the step in the summary."""
        self.echo(f"[{name}] started")
        began = time.perf_counter()
        try:
            result = action()
        except (LocalRunError, local_tuning.TuningError) as error:
            self.summary["failed_step"] = name
            raise LocalRunError(f"step {name} failed: {error}") from None
        except (ClientError, BotoCoreError, Boto3Error) as error:
            self.summary["failed_step"] = name
            raise LocalRunError(f"step {name} failed: AWS call failed: {error}") from None
        except OSError as error:
            self.summary["failed_step"] = name
            raise LocalRunError(f"step {name} failed: file system error: {error}") from None
        finally:
            self.step_seconds[name] = round(time.perf_counter() - began, 3)
        self.echo(f"[{name}] done in {self.step_seconds[name]:.2f} s")
        return result

    def _preprocess(self) -> Path:
        """Fetch the input, run preprocess.py, upload the splits; return the processing directory."""
        root = self.work_dir / "preprocess"
        data_dir = root / "processing" / "input" / "data"
        self._fetch_input(self.settings.input_data, data_dir)
        config_dir = root / "processing" / "input" / "config"
        config_dir.mkdir(parents=True)
        shutil.copy(self.settings.config_path, config_dir / "config.json")
        self._run_script(definition.STEP_PREPROCESS, [str(definition.PREPROCESS_SCRIPT)], root, "output/message")
        processing = root / "processing"
        for name in (*definition.SPLITS, definition.FEATURES_OUTPUT):
            self.artifacts[f"{name}_data"] = self._upload_dir(processing / name, "data", name)
        return processing

    def _train(self, splits: Path) -> Path:
        """Run the image's training entrypoint on the splits; return its model directory."""
        root = self.work_dir / "train"
        channels = local_tuning.TRAINING_CHANNELS
        for channel in channels:
            shutil.copytree(splits / channel, root / "input" / "data" / channel)
        config_dir = root / "input" / "config"
        config_dir.mkdir(parents=True)
        (config_dir / "hyperparameters.json").write_text(json.dumps(self.config.hyperparameters))
        (config_dir / "inputdataconfig.json").write_text(
            json.dumps({name: {"ContentType": content_type} for name, content_type in channels.items()})
        )
        self._run_script(definition.STEP_TRAIN, ["-m", TRAINING_MODULE], root, "output/failure")
        return root / "model"

    def _tune(self, splits: Path) -> Path:
        """The local search over `tuning.ranges`; return the best trial's model directory."""
        tuning = self.config.tuning
        assert tuning is not None
        (regex,) = [
            item["Regex"]
            for item in definition.metric_definitions(self.config.eval_metric)
            if item["Name"] == tuning.objective_metric
        ]
        result = local_tuning.run_search(
            tuning,
            hyperparameters=self.config.hyperparameters,
            regex=regex,
            channels=splits,
            work_dir=self.work_dir / "tune",
            seed=self.config.dataset.seed,
            echo=self.echo,
        )
        self.summary["tuning"] = result.summary()
        return result.best_model_dir

    def _pack_model(self, model_dir: Path) -> Path:
        """Pack the model directory as SageMaker does (`model.tar.gz`) and upload it."""
        archive = self.work_dir / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as bundle:
            for path in sorted(model_dir.iterdir()):
                bundle.add(path, arcname=path.name)
        self.artifacts["model_data_url"] = self._upload_file(archive, "model", archive.name)
        return archive

    def _evaluate(self, model_archive: Path, splits: Path) -> float:
        """Run evaluate.py on the model and the test split, upload its outputs; return the gate metric."""
        root = self.work_dir / "evaluate"
        model_dir = root / "processing" / "model"
        model_dir.mkdir(parents=True)
        shutil.copy(model_archive, model_dir / model_archive.name)
        for name in ("test", definition.FEATURES_OUTPUT):
            shutil.copytree(splits / name, root / "processing" / name)
        arguments = [str(definition.EVALUATE_SCRIPT), "--metric", self.gate.metric]
        self._run_script(definition.STEP_EVALUATE, arguments, root, "output/message")
        output = root / "processing" / definition.EVALUATION_OUTPUT
        evaluation = json.loads((output / definition.EVALUATION_FILE).read_text())
        prefix = self._upload_dir(output, definition.EVALUATION_OUTPUT)
        self.artifacts["evaluation_url"] = f"{prefix}/{definition.EVALUATION_FILE}"
        self.artifacts["evaluation_report_url"] = f"{prefix}/{definition.REPORT_FILE}"
        self.artifacts["evaluation_plots_url"] = f"{prefix}/{definition.PLOTS_DIR}/"
        section = evaluation[SECTIONS[self.config.problem_type]]
        self.summary["metrics"] = {
            name: value["value"] for name, value in section.items() if isinstance(value, dict) and "value" in value
        }
        self.summary["metric_value"] = section[self.gate.metric]["value"]
        return float(self.summary["metric_value"])

    def _check(self, value: float) -> bool:
        """The pipeline's condition: the configured quality gate."""
        passed = self.gate.passes(value)
        branch = definition.STEP_REGISTER if passed else definition.STEP_FAIL
        verdict = "meets" if passed else "fails"
        self.echo(
            f"[{definition.STEP_CONDITION}] {self.gate.metric} {value:.4f} {verdict} {self.gate.describe()} -> {branch}"
        )
        return passed

    def require_group(self) -> None:
        """Fail unless the project's model package group exists (the project creates it, never this run)."""
        group = self.settings.model_package_group_name
        pages = (
            self.boto_session.client("sagemaker")
            .get_paginator("list_model_package_groups")
            .paginate(NameContains=group)
        )
        if not any(g["ModelPackageGroupName"] == group for p in pages for g in p["ModelPackageGroupSummaryList"]):
            raise LocalRunError(
                f"model package group {group!r} does not exist: the SageMaker project creates it; "
                "set MODEL_PACKAGE_GROUP_NAME to the project's group"
            )

    def _register(self) -> str:
        """Register the model version in the project's model package group (the project creates the group)."""
        self.require_group()
        package = definition.register_model(
            Session(boto_session=self.boto_session, default_bucket=self.settings.bucket),
            role=None,
            images=self.settings.images,
            problem_type=self.config.problem_type,
            model_data=self.artifacts["model_data_url"],
            evaluation_prefix=self.artifacts["evaluation_url"].rsplit("/", 1)[0],
            model_package_group_name=self.settings.model_package_group_name,
            approval_status=self.settings.approval_status,
        )
        self.summary["model_package_arn"] = package.model_package_arn
        self.summary["model_approval_status"] = self.settings.approval_status
        self.echo(
            f"[{definition.STEP_REGISTER}] registered {package.model_package_arn} ({self.settings.approval_status})"
        )
        return str(package.model_package_arn)

    # --- helpers -----------------------------------------------------------------------------

    def _run_script(
        self, step: str, arguments: list[str], ml_root: Path, failure_file: str, python: str | None = None
    ) -> None:
        """Run a step's code with `SM_ML_ROOT=ml_root` (in `python`, this interpreter by default); on failure
        raise with its recorded reason."""
        env = {**os.environ, "SM_ML_ROOT": str(ml_root), "PYTHONUNBUFFERED": "1"}
        result = subprocess.run([python or sys.executable, *arguments], env=env, capture_output=True, text=True)
        lines = result.stdout.strip().splitlines()
        if result.returncode == 0:
            if lines:
                self.echo(f"[{step}] {lines[-1].strip()}")
            return
        reason_path = ml_root / failure_file
        reason = reason_path.read_text().strip() if reason_path.is_file() else ""
        if not reason:
            tail = "\n".join(result.stderr.strip().splitlines()[-20:])
            reason = f"exit status {result.returncode} without a failure reason; last output:\n{tail}"
        raise LocalRunError(reason)

    def _fetch_input(self, source: str, destination: Path) -> None:
        """Copy the input data (an S3 prefix, a file or a directory) into `destination`."""
        destination.mkdir(parents=True)
        if source.startswith("s3://"):
            bucket, _, prefix = source[len("s3://") :].partition("/")
            base = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
            keys = [
                item["Key"]
                for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for item in page.get("Contents", [])
                if not item["Key"].endswith("/")
            ]
            if not keys:
                raise LocalRunError(f"no object found under the input data URL {source}")
            for key in keys:
                target = destination / key[len(base) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(bucket, key, str(target))
            return
        path = Path(source)
        if path.is_file():
            shutil.copy(path, destination / path.name)
        elif path.is_dir():
            shutil.copytree(path, destination, dirs_exist_ok=True)
        else:
            raise LocalRunError(f"input data {source} is neither an s3:// URL nor an existing file or directory")

    def _upload_file(self, path: Path, *parts: str) -> str:
        """Upload to `<artifact prefix>/<parts>`; return the S3 URL."""
        url = definition.artifact_prefix(self.settings.bucket, self.settings.pipeline_name, self.execution_id, *parts)
        self.s3.upload_file(str(path), self.settings.bucket, url.split("/", 3)[3])
        return url

    def _upload_dir(self, directory: Path, *parts: str) -> str:
        """Upload every file below `directory` to `<artifact prefix>/<parts>/`; return that prefix."""
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                self._upload_file(path, *parts, *path.relative_to(directory).parts)
        return definition.artifact_prefix(self.settings.bucket, self.settings.pipeline_name, self.execution_id, *parts)


def run_local(
    settings: LocalSettings, work_dir: Path | None = None, *, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the steps below `work_dir`/<execution id> (a temporary directory, removed afterwards,
    when None); return the run summary."""
    with tempfile.TemporaryDirectory(prefix="model-build-") as scratch:
        execution = LocalExecution(settings, work_dir or Path(scratch), echo=echo)
        return execution.run()
