"""Local execution of the image classifier pipeline: the same steps, on this machine, without SageMaker.

Each step runs the code its SageMaker job runs, in a subprocess of the Python that has the platform's
PyTorch image package (`pytorch_container`; `PYTORCH_PYTHON`, default: this interpreter), whose
`SM_ML_ROOT` points at a per-step directory laid out like the container's `/opt/ml`:

1. Prepare: `pipelines/image_classifier/prepare.py` on the input (an `s3://` prefix read through boto3,
   which honours `AWS_ENDPOINT_URL`, a local directory, or `digits`);
2. Train: `python -m pytorch_container.train`, the image's training entrypoint, on the splits;
3. Evaluate: `pipelines/image_classifier/evaluate.py --metric <gate metric> --engine <serving engine>`
   on the packed `model.tar.gz` and the test split;
4. CheckQualityGate, then RegisterModel (the SDK call the pipeline step makes) or QualityGateFailed.

Outputs go to `s3://$ARTIFACT_BUCKET/<pipeline>/<execution id>/...`, the SageMaker execution's layout.
The step running, S3 and summary helpers are those of the XGBoost pipeline's local execution.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sagemaker.session import Session

from pipelines import local_run
from pipelines.abalone import pipeline as shared
from pipelines.abalone.pipeline_config import QualityGate
from pipelines.image_classifier import pipeline as definition
from pipelines.image_classifier.pipeline_config import ImageClassifierConfig, load_config

TRAINING_MODULE = "pytorch_container.train"
LocalRunError = local_run.LocalRunError


def pytorch_python(environ: dict[str, str] | None = None) -> str:
    """The interpreter that runs the PyTorch image's code: `PYTORCH_PYTHON`, else this one; it must import
    `pytorch_container`."""
    env = os.environ if environ is None else environ
    python = env.get("PYTORCH_PYTHON") or sys.executable
    check = subprocess.run([python, "-c", "import pytorch_container"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise LocalRunError(
            f"local execution needs the PyTorch image's code, which {python} cannot import: set PYTORCH_PYTHON to "
            "a Python with the platform's containers/pytorch installed (the platform's .venv-pytorch/bin/python)"
        )
    return python


class ImageClassifierExecution(local_run.LocalExecution):
    """One local run of the image classifier pipeline; `run()` returns the run summary."""

    def load_config(self) -> tuple[QualityGate, str]:
        """The image classifier's configuration (`pipeline_config.py`); it has no tuning."""
        self.image_config: ImageClassifierConfig = load_config(self.settings.config_path)
        self.tuning = False
        return self.image_config.quality_gate, self.image_config.problem_type

    def priced_steps(self) -> dict[str, tuple[str, str, int]]:
        """Prepare and Evaluate on the processing instance type, Train on the training one."""
        settings = self.settings
        processing = ("processing", settings.processing_instance_type, settings.processing_instance_count)
        return {
            definition.STEP_PREPARE: processing,
            shared.STEP_TRAIN: ("training", settings.training_instance_type, 1),
            shared.STEP_EVALUATE: processing,
        }

    def spot_training(self) -> bool:
        """The image classifier's configuration has no spot setting: its training is priced on demand."""
        return False

    def _execute(self) -> None:
        python = pytorch_python()
        self.echo(f"local execution {self.execution_id} of pipeline {self.settings.pipeline_name} (image classifier)")
        splits = self._step(definition.STEP_PREPARE, lambda: self._prepare(python))
        model_archive = self._step(shared.STEP_TRAIN, lambda: self._pack_model(self._train_images(splits, python)))
        value = self._step(shared.STEP_EVALUATE, lambda: self._evaluate_images(model_archive, splits, python))
        if not self._step(shared.STEP_CONDITION, lambda: self._check(value)):
            self.summary["failed_step"] = shared.STEP_FAIL
            reason = f"Test {self.gate.metric} {value} is below the quality gate's {self.gate.threshold}"
            self.echo(f"[{shared.STEP_FAIL}] {reason}")
            raise LocalRunError(reason)
        self._step(shared.STEP_REGISTER, self._register)
        self.summary["status"] = "Succeeded"

    def _prepare(self, python: str) -> Path:
        """Fetch the images (unless the digits), run prepare.py, upload the splits; return the processing directory."""
        root = self.work_dir / "prepare"
        if not self.image_config.builtin_digits:
            self._fetch_input(self.settings.input_data, root / "processing" / "input" / "data")
        config_dir = root / "processing" / "input" / "config"
        config_dir.mkdir(parents=True)
        shutil.copy(self.settings.config_path, config_dir / "config.json")
        self._run_script(definition.STEP_PREPARE, [str(definition.PREPARE_SCRIPT)], root, "output/message", python)
        processing = root / "processing"
        for name in definition.SPLITS:
            self.artifacts[f"{name}_data"] = self._upload_dir(processing / name, "data", name)
        return processing

    def _train_images(self, splits: Path, python: str) -> Path:
        """Run the PyTorch image's training entrypoint on the splits; return its model directory."""
        root = self.work_dir / "train"
        for channel in definition.training_channels(self.image_config):
            shutil.copytree(splits / channel, root / "input" / "data" / channel)
        config_dir = root / "input" / "config"
        config_dir.mkdir(parents=True)
        (config_dir / "hyperparameters.json").write_text(json.dumps(self.image_config.hyperparameters))
        self._run_script(shared.STEP_TRAIN, ["-m", TRAINING_MODULE], root, "output/failure", python)
        return root / "model"

    def _evaluate_images(self, model_archive: Path, splits: Path, python: str) -> float:
        """Run evaluate.py on the model and the test split, upload evaluation.json; return the gate metric."""
        root = self.work_dir / "evaluate"
        model_dir = root / "processing" / "model"
        model_dir.mkdir(parents=True)
        shutil.copy(model_archive, model_dir / model_archive.name)
        shutil.copytree(splits / "test", root / "processing" / "test")
        arguments = [str(definition.EVALUATE_SCRIPT), "--metric", self.gate.metric]
        arguments += ["--engine", self.image_config.engine]
        self._run_script(shared.STEP_EVALUATE, arguments, root, "output/message", python)
        output = root / "processing" / shared.EVALUATION_OUTPUT
        evaluation = json.loads((output / definition.EVALUATION_FILE).read_text())
        prefix = self._upload_dir(output, shared.EVALUATION_OUTPUT)
        self.artifacts["evaluation_url"] = f"{prefix}/{definition.EVALUATION_FILE}"
        section = evaluation["multiclass_classification_metrics"]
        self.summary["metrics"] = {
            name: value["value"] for name, value in section.items() if isinstance(value, dict) and "value" in value
        }
        self.summary["metric_value"] = section[self.gate.metric]["value"]
        return float(self.summary["metric_value"])

    def _register(self) -> str:
        """Register the classifier's version in the project's model package group."""
        self.require_group()
        package = definition.register_model(
            Session(boto_session=self.boto_session, default_bucket=self.settings.bucket),
            role=None,
            images=self.settings.images,
            config=self.image_config,
            model_data=self.artifacts["model_data_url"],
            evaluation_uri=self.artifacts["evaluation_url"],
            model_package_group_name=self.settings.model_package_group_name,
            approval_status=self.settings.approval_status,
        )
        self.summary["model_package_arn"] = package.model_package_arn
        self.summary["model_approval_status"] = self.settings.approval_status
        self.echo(f"[{shared.STEP_REGISTER}] registered {package.model_package_arn} ({self.settings.approval_status})")
        return str(package.model_package_arn)


def run_local(
    settings: local_run.LocalSettings, work_dir: Path | None = None, *, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the steps below `work_dir`/<execution id> (a temporary directory, removed afterwards, when None);
    return the run summary."""
    with tempfile.TemporaryDirectory(prefix="model-build-") as scratch:
        return ImageClassifierExecution(settings, work_dir or Path(scratch), echo=echo).run()
