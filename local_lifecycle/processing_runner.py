"""SageMaker Processing, offline: jobs created on the AWS emulator run as local processes.

moto records `CreateProcessingJob` and reports it `Completed` at once without running anything.
`LocalProcessingRunner` plugs into the emulator's SageMaker (in this process, e.g. a
`ThreadedMotoServer`) so that each new job really runs: its `ProcessingInputs` are downloaded
from the emulator's S3 into a local copy of the `/opt/ml/processing` layout, the container command
(`ContainerEntrypoint` + `ContainerArguments`, or the image's ENTRYPOINT) runs as a process with the
container's paths mapped to local folders, and on exit 0 the `ProcessingOutputs` are uploaded.
Meanwhile the job is `InProgress`; it ends `Completed`, `Failed` (with a `FailureReason` carrying
the last line the process wrote to stderr) or `Stopped` (StopProcessingJob, MaxRuntimeInSeconds).
A name that exists is refused with `ResourceInUse`, as SageMaker does.

`LocalImage` stands for a container image: `image_from_dockerfile` builds one from a Python
Dockerfile (COPY, and `RUN python3 ...` steps, run here; dependency installs are the venv's pins).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from dockerfile_parse import DockerfileParser
from moto.sagemaker.exceptions import ResourceInUseException
from moto.sagemaker.models import FakeProcessingJob, SageMakerModelBackend

PROCESSING = "/opt/ml/processing"
FAILURE_REASON_LIMIT = 1024


class LocalImageError(ValueError):
    """The Dockerfile uses an instruction the local build cannot reproduce."""


@dataclass(frozen=True, kw_only=True)
class LocalImage:
    """A container image as a local process: its ENTRYPOINT and where its paths live on this machine."""

    uri: str
    entrypoint: tuple[str, ...] = ()
    paths: Mapping[str, Path] = field(default_factory=dict)
    workdir: Path | None = None


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    parser = DockerfileParser(path=str(dockerfile))
    return [(item["instruction"], item["value"]) for item in parser.structure]


def image_from_dockerfile(uri: str, dockerfile: Path, build_dir: Path, *, python: str = sys.executable) -> LocalImage:
    """Build a Python image's files into `build_dir` as its Dockerfile would, and describe how to run it.

    WORKDIR and COPY place the context's files; `RUN python3 ...` steps run here with the image's
    paths mapped into `build_dir`; `RUN pip install` steps are skipped (the local venv carries the
    same pins). Any other RUN fails loudly rather than building something else than the image.
    """
    context = dockerfile.parent
    build_dir = build_dir.resolve()
    workdir = "/"
    paths: dict[str, Path] = {}
    entrypoint: tuple[str, ...] = ()
    build_dir.mkdir(parents=True, exist_ok=True)

    def local(container_path: str) -> Path:
        absolute = container_path if container_path.startswith("/") else f"{workdir.rstrip('/')}/{container_path}"
        return build_dir / absolute.lstrip("/")

    for instruction, value in _instructions(dockerfile):
        if instruction == "WORKDIR":
            workdir = value
            paths[workdir] = local(workdir)
            local(workdir).mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, destination = shlex.split(value)
            target = local(destination)
            target.mkdir(parents=True, exist_ok=True)
            for source in sources:
                (target / Path(source).name).write_bytes((context / source).read_bytes())
        elif instruction == "RUN":
            command = shlex.split(value)
            if command[:2] == ["pip", "install"]:
                continue
            if command[0] != "python3":
                raise LocalImageError(f"{dockerfile}: cannot reproduce `RUN {value}` locally")
            arguments = [str(local(arg)) if arg.startswith("/") else arg for arg in command[1:]]
            subprocess.run([python, *arguments], cwd=local(workdir), check=True, capture_output=True, text=True)
        elif instruction == "ENTRYPOINT":
            entrypoint = tuple(json.loads(value))
    return LocalImage(uri=uri, entrypoint=entrypoint, paths=paths, workdir=local(workdir))


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


@dataclass
class JobRun:
    """What the runner did for one job (for the demo's report and the tests)."""

    name: str
    request: dict[str, Any]
    command: list[str] = field(default_factory=list)
    status: str = "InProgress"
    log: Path | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event)
    process: subprocess.Popen[bytes] | None = None


class LocalProcessingRunner:
    """Context manager: while active, Processing jobs created on the in-process emulator really run.

    `endpoint_url` is the emulator the jobs read and write S3 through; `images` are the images jobs
    may name; `workdir` holds one folder per job (`processing/` is its `/opt/ml/processing`).
    """

    def __init__(
        self,
        *,
        endpoint_url: str,
        images: list[LocalImage],
        workdir: Path,
        region: str,
        python: str = sys.executable,
        on_event: Callable[[str], None] = lambda message: None,
    ) -> None:
        self._s3 = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id="ak", aws_secret_access_key="sk"
        )
        self._images = {image.uri: image for image in images}
        self._workdir = workdir.resolve()
        self._python = python
        self._on_event = on_event
        self._threads: list[threading.Thread] = []
        self.runs: dict[str, JobRun] = {}
        self._original_create = SageMakerModelBackend.create_processing_job
        self._original_stop = SageMakerModelBackend.stop_processing_job
        self._patches = ExitStack()

    def __enter__(self) -> LocalProcessingRunner:
        runner = self

        def create(backend: SageMakerModelBackend, **request: Any) -> FakeProcessingJob:
            name = request["processing_job_name"]
            if name in backend.processing_jobs:
                raise ResourceInUseException(f"Processing job {name} already exists")
            job = runner._original_create(backend, **request)
            job.processing_job_status = "InProgress"
            setattr(job, "processing_end_time", None)  # noqa: B010 (moto types it as always set)
            runner._start(job, request)
            return job

        def stop(backend: SageMakerModelBackend, processing_job_name: str) -> None:
            runner._original_stop(backend, processing_job_name)  # raises for unknown names
            run = runner.runs.get(processing_job_name)
            if run:
                run.stop_requested.set()
                if run.process and run.process.poll() is None:
                    run.process.kill()
                backend.processing_jobs[processing_job_name].processing_job_status = "Stopping"

        self._patches.enter_context(mock.patch.object(SageMakerModelBackend, "create_processing_job", create))
        self._patches.enter_context(mock.patch.object(SageMakerModelBackend, "stop_processing_job", stop))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for run in self.runs.values():
            run.stop_requested.set()
            if run.process and run.process.poll() is None:
                run.process.kill()
        for thread in self._threads:
            thread.join(timeout=30)
        self._patches.close()

    def _start(self, job: FakeProcessingJob, request: dict[str, Any]) -> None:
        run = JobRun(name=job.processing_job_name, request=request)
        self.runs[run.name] = run
        thread = threading.Thread(target=self._run, args=(job, run), name=f"processing-{run.name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self, job: FakeProcessingJob, run: JobRun) -> None:
        try:
            status, reason = self._execute(run)
        except Exception as error:  # anything that breaks the job fails it, as on SageMaker
            status, reason = "Failed", f"ClientError: {error}"
        if run.stop_requested.is_set() and status != "Completed":
            status, reason = "Stopped", None
        job.processing_job_status = status
        job.processing_end_time = datetime.now(UTC)
        job.last_modified_time = job.processing_end_time
        if reason:  # moto returns whatever attributes the job has; SageMaker's FailureReason is at most 1 KB
            setattr(job, "failure_reason", reason[:FAILURE_REASON_LIMIT])  # noqa: B010
        run.status = status
        self._on_event(f"job {run.name}: {status}" + (f" ({reason})" if reason else ""))

    def _local_path(self, root: Path, image: LocalImage, container_path: str) -> str:
        if container_path == PROCESSING or container_path.startswith(PROCESSING + "/"):
            return str(root / container_path.removeprefix(PROCESSING).lstrip("/"))
        for prefix, local in image.paths.items():
            if container_path == prefix or container_path.startswith(prefix.rstrip("/") + "/"):
                return str(local / container_path.removeprefix(prefix).lstrip("/"))
        return container_path

    def _execute(self, run: JobRun) -> tuple[str, str | None]:
        request = run.request
        spec = request["app_specification"]
        image = self._images.get(spec["ImageUri"])
        if image is None:
            return "Failed", f"ClientError: image {spec['ImageUri']} is not available locally"
        job_dir = self._workdir / run.name
        root = job_dir / "processing"
        for item in request.get("processing_inputs") or []:
            self._download(item["S3Input"]["S3Uri"], Path(self._local_path(root, image, item["S3Input"]["LocalPath"])))
        outputs = (request.get("processing_output_config") or {}).get("Outputs", [])
        for item in outputs:
            Path(self._local_path(root, image, item["S3Output"]["LocalPath"])).mkdir(parents=True, exist_ok=True)
        command = [*(spec.get("ContainerEntrypoint") or image.entrypoint), *(spec.get("ContainerArguments") or [])]
        if not command:
            return "Failed", "ClientError: no ContainerEntrypoint and the image has no ENTRYPOINT"
        run.command = [self._python if part == "python3" else self._local_path(root, image, part) for part in command]
        # Like a container, the job sees only its own environment (no credentials or settings of this process).
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(request.get("environment") or {})}
        environment["PROCESSING_ROOT"] = str(root)
        run.log = job_dir / "output.log"
        self._on_event(f"job {run.name}: running {' '.join(command)}")
        timeout = (request.get("stopping_condition") or {}).get("MaxRuntimeInSeconds")
        with run.log.open("wb") as log:
            run.process = subprocess.Popen(
                run.command, stdout=log, stderr=subprocess.PIPE, env=environment, cwd=image.workdir or job_dir
            )
            try:
                _, stderr = run.process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.communicate()
                return "Stopped", f"MaxRuntimeExceeded: the job ran longer than {timeout} s"
            log.write(stderr)
        if run.process.returncode != 0:
            lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
            last = lines[-1] if lines else "no output on stderr"
            return "Failed", f"AlgorithmError: {last} (exit code {run.process.returncode})"
        for item in outputs:
            self._upload(Path(self._local_path(root, image, item["S3Output"]["LocalPath"])), item["S3Output"]["S3Uri"])
        return "Completed", None

    def _download(self, uri: str, target: Path) -> None:
        bucket, prefix = _split_s3(uri)
        found = False
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix) :].lstrip("/") or Path(item["Key"]).name
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                self._s3.download_file(bucket, item["Key"], str(destination))
                found = True
        if not found:
            raise FileNotFoundError(f'No S3 objects found under S3 URL "{uri}"')

    def _upload(self, source: Path, uri: str) -> None:
        bucket, prefix = _split_s3(uri)
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            self._s3.upload_file(str(path), bucket, f"{prefix.rstrip('/')}/{path.relative_to(source).as_posix()}")
