"""Runs the SageMaker training and processing jobs the AWS emulator accepts, with the model image's code.

moto records jobs and marks them Completed without running anything. While a `LocalSageMakerJobs`
is active in the process that hosts the emulator (`ThreadedMotoServer`), every job created there
is also executed as its container would execute it, before the create call returns: inputs are
downloaded from the emulator's S3 into a local `/opt/ml` tree, the image's command runs, outputs
are uploaded back, and a failing command marks the job Failed with its reason.

The model images are built FROM the platform's XGBoost image and add the model repository's
`model/` directory as `/opt/program/model/` (see seedcode/airflow-model/Dockerfile), so an image
runs locally as: training -> `python -m xgboost_container.train` (the image's `train` entry point),
processing -> its `ContainerEntrypoint` with `/opt/ml/` and `/opt/program/` mapped to local paths.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest import mock

from moto.sagemaker.models import SageMakerModelBackend

OutputHandler = Callable[[str], None]


class LocalSageMakerJobs:
    """Execute jobs created in the in-process emulator; `images` maps repository URI -> model repository."""

    def __init__(self, *, s3: Any, images: Mapping[str, Path], workdir: Path, log: OutputHandler = print) -> None:
        self.s3 = s3
        self.images = dict(images)
        self.workdir = workdir
        self.log = log
        self.executed: list[tuple[str, str, str]] = []  # (kind, job name, status)
        self._patches = ExitStack()

    def __enter__(self) -> LocalSageMakerJobs:
        runner = self
        training = SageMakerModelBackend.create_training_job
        processing = SageMakerModelBackend.create_processing_job

        def create_training_job(backend: Any, *args: Any, **kwargs: Any) -> Any:
            job = training(backend, *args, **kwargs)
            runner.run_training(job)
            return job

        def create_processing_job(backend: Any, *args: Any, **kwargs: Any) -> Any:
            job = processing(backend, *args, **kwargs)
            runner.run_processing(job)
            return job

        self._patches.enter_context(
            mock.patch.object(SageMakerModelBackend, "create_training_job", create_training_job)
        )
        self._patches.enter_context(
            mock.patch.object(SageMakerModelBackend, "create_processing_job", create_processing_job)
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._patches.close()

    # ------------------------------------------------------------------------------------ jobs
    def run_training(self, job: Any) -> None:
        """Train like the image's `train` entry point; upload model.tar.gz where SageMaker would."""
        root = Path(tempfile.mkdtemp(prefix=f"{job.training_job_name}.", dir=self._jobs_dir()))
        try:
            self._image(job.algorithm_specification["TrainingImage"])
            config = root / "input" / "config"
            config.mkdir(parents=True)
            (config / "hyperparameters.json").write_text(json.dumps(dict(job.hyper_parameters or {})))
            for channel in job.input_data_config:
                uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
                self._download(uri, root / "input" / "data" / channel["ChannelName"])
            self._run([sys.executable, "-m", "xgboost_container.train"], root=root, cwd=root)
            archive = root / "model.tar.gz"
            with tarfile.open(archive, "w:gz") as tar:
                for path in sorted((root / "model").iterdir()):
                    tar.add(path, arcname=path.name)
            self._upload_file(archive, job.model_artifacts["S3ModelArtifacts"])
            self._finish("training", job, "training_job_status", "Completed")
        except _JobFailed as failure:
            self._finish("training", job, "training_job_status", "Failed", str(failure))
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def run_processing(self, job: Any) -> None:
        """Run the job's container entry point on its downloaded inputs; upload its outputs."""
        root = Path(tempfile.mkdtemp(prefix=f"{job.processing_job_name}.", dir=self._jobs_dir()))
        try:
            repository = self._image(job.app_specification["ImageUri"])
            command = [
                *job.app_specification.get("ContainerEntrypoint", []),
                *job.app_specification.get("ContainerArguments", []),
            ]
            if not command:
                raise _JobFailed("the local runner needs a ContainerEntrypoint")
            command = [sys.executable if part == "python3" else _local(part, root, repository) for part in command]
            for item in job.processing_inputs:
                s3_input = item["S3Input"]
                self._download(s3_input["S3Uri"], Path(_local(s3_input["LocalPath"], root, repository)))
            self._run(command, root=root, cwd=root)
            for output in job.processing_output_config["Outputs"]:
                local = Path(_local(output["S3Output"]["LocalPath"], root, repository))
                for path in sorted(p for p in local.rglob("*") if p.is_file()):
                    destination = f"{output['S3Output']['S3Uri'].rstrip('/')}/{path.relative_to(local).as_posix()}"
                    self._upload_file(path, destination)
            self._finish("processing", job, "processing_job_status", "Completed")
        except _JobFailed as failure:
            self._finish("processing", job, "processing_job_status", "Failed", str(failure))
        finally:
            shutil.rmtree(root, ignore_errors=True)

    # --------------------------------------------------------------------------------- helpers
    def _jobs_dir(self) -> Path:
        directory = self.workdir / "sagemaker-jobs"
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _image(self, image_uri: str) -> Path:
        repository = image_uri.rsplit(":", 1)[0]
        if repository not in self.images:
            raise _JobFailed(f"image {image_uri} has no local source (known: {sorted(self.images)})")
        return self.images[repository]

    def _run(self, command: list[str], *, root: Path, cwd: Path) -> None:
        env = {"SM_ML_ROOT": str(root), "PATH": str(Path(sys.executable).parent), "PYTHONDONTWRITEBYTECODE": "1"}
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
        for line in (result.stdout + result.stderr).strip().splitlines()[-3:]:
            self.log(f"    | {line}")
        if result.returncode != 0:
            reason_file = next(
                (p for p in (root / "output" / "failure", root / "output" / "message") if p.is_file()), None
            )
            reason = (
                reason_file.read_text().strip() if reason_file else (result.stderr.strip().splitlines() or ["?"])[-1]
            )
            raise _JobFailed(f"{Path(command[-1]).name} exited {result.returncode}: {reason}")

    def _download(self, uri: str, destination: Path) -> None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        objects = self.s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
        if not objects:
            raise _JobFailed(f"no data at {uri}")
        destination.mkdir(parents=True, exist_ok=True)
        for item in objects:
            if item["Key"].endswith("/"):
                continue
            relative = item["Key"][len(key) :].lstrip("/") or Path(item["Key"]).name
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            self.s3.download_file(bucket, item["Key"], str(target))

    def _upload_file(self, path: Path, uri: str) -> None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        self.s3.upload_file(str(path), bucket, key)

    def _finish(self, kind: str, job: Any, status_attribute: str, status: str, reason: str = "") -> None:
        setattr(job, status_attribute, status)
        if reason:
            job.failure_reason = reason
        name = getattr(job, f"{kind}_job_name")
        self.executed.append((kind, name, status))
        self.log(f"  sagemaker {kind} job {name}: {status}{f' ({reason})' if reason else ''}")


class _JobFailed(Exception):
    """The job's command failed; the message is the job's FailureReason."""


def _local(path: str, root: Path, repository: Path) -> str:
    """Map the container's `/opt/ml/` and `/opt/program/` to the local job root and model repository."""
    if path.startswith("/opt/ml/"):
        return str(root / path.removeprefix("/opt/ml/"))
    if path.startswith("/opt/program/"):
        return str(repository / path.removeprefix("/opt/program/"))
    return path
