"""`make serve-demo`: the image classifier served both ways on this machine, answering the same images.

1. Train the digits classifier with the PyTorch image's training code (`.venv-pytorch`), pack `model.tar.gz`.
2. Register it as an approved version of the model package group in the emulator (moto server; S3 + registry).
3. Serverless: the Lambda handler (`lambdas/image_classifier`) initializes in this process against the
   emulator (resolve the approved version, download, load with ONNX Runtime) and answers function URL events
   with base64 bodies.
4. Always-on: the init container's code (`python -m model_fetch`) puts the approved model into a directory,
   then the serving image's model server serves it on loopback: `pytorch-serve` (`python -m
   pytorch_container.serve` in `.venv-pytorch`), the command the Fargate task and Beanstalk run.
5. The same digits go to both; answers are compared and latencies printed side by side.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import importlib
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from local_lifecycle.emulator import Emulator, patched_environ
from local_lifecycle.image_serving import (
    PYTORCH_PYTHON,
    REPO_ROOT,
    DigitImage,
    digit_images,
    pack_model,
    register_model,
    train_classifier,
)
from local_lifecycle.processes import free_port, start_logged, stop, wait_until_answering

RUN_DIR = REPO_ROOT / ".local-run" / "serve-demo"
BUCKET = "mlops-models-111111111111"
GROUP = "digits-classifier"
ENGINE = "onnx-int8"


@dataclass(frozen=True)
class SideResult:
    """One way of serving: its latencies (ms) per request and its answers."""

    name: str
    latencies_ms: list[float]
    answers: list[list[dict[str, Any]]]

    def percentile(self, q: float) -> float:
        """The q-th percentile of the latencies."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    def accuracy(self, images: list[DigitImage]) -> float:
        """Share of images whose top class is their label."""
        right = sum(bool(a[0]["className"] == i.label) for a, i in zip(self.answers, images, strict=True))
        return right / len(images)


@dataclass(frozen=True)
class DemoResult:
    """Both sides on the same images."""

    images: list[DigitImage]
    serverless: SideResult
    always_on: SideResult
    init_ms: float
    cold_init_ms: float
    cold_init_rss_mb: float


def _url_event(image: DigitImage) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/invocations",
        "rawQueryString": "",
        "headers": {"content-type": image.content_type, "host": "local.lambda-url.eu-west-1.on.aws"},
        "requestContext": {
            "http": {"method": "POST", "path": "/invocations", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "routeKey": "$default",
            "stage": "$default",
            "requestId": "local",
            "domainName": "local.lambda-url.eu-west-1.on.aws",
        },
        "body": base64.b64encode(image.body).decode(),
        "isBase64Encoded": True,
    }


class _Context:
    function_name = "image-classifier"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:111111111111:function:image-classifier:live"
    memory_limit_in_mb = 1024
    aws_request_id = "local"


def lambda_environment(cache_dir: Path) -> dict[str, str]:
    """The function's environment as the serverless stack sets it (one model)."""
    return {
        "MODELS": json.dumps({"digits": GROUP}),
        "DEFAULT_MODEL": "digits",
        "MODEL_BUCKETS": BUCKET,
        "MODEL_ENGINE": ENGINE,
        "MODEL_DEVICE": "cpu",
        "MODEL_REFRESH_SECONDS": "300",
        "MODEL_CACHE_DIR": str(cache_dir),
        "POWERTOOLS_SERVICE_NAME": "image-classifier",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


def load_lambda_handler(emulator: Emulator, cache_dir: Path) -> tuple[ModuleType, float]:
    """Import the handler module afresh against the emulator (its init runs now); the init time in ms."""
    for name in [n for n in sys.modules if n.startswith("image_classifier")]:
        del sys.modules[name]
    with patched_environ({**emulator.environment(), **lambda_environment(cache_dir)}):
        started = time.perf_counter()
        handler = importlib.import_module("image_classifier.handler")
        return handler, (time.perf_counter() - started) * 1000


INIT_PROBE = """
import json, time
started = time.perf_counter()
import image_classifier.handler as handler
elapsed = (time.perf_counter() - started) * 1000
assert handler.models.loaded(), "the default model did not load at init"
# VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork and exec.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"init_ms": elapsed, "rss_mb": peak_kb / 1024}))
"""


def cold_init(emulator: Emulator, cache_root: Path, *, runs: int = 3) -> tuple[float, float]:
    """The function's init in fresh processes (imports, registry, download, load): median ms, peak RSS MB."""
    timings, peaks = [], []
    for run_number in range(runs):
        environment = {
            **os.environ,
            **emulator.environment(),
            **lambda_environment(cache_root / f"cold-{run_number}"),
            "PYTHONPATH": str(REPO_ROOT / "lambdas"),
        }
        result = subprocess.run(
            [sys.executable, "-c", INIT_PROBE], env=environment, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"the handler's init failed in a fresh process: {result.stderr[-2000:]}")
        measured = json.loads(result.stdout.strip().splitlines()[-1])
        timings.append(measured["init_ms"])
        peaks.append(measured["rss_mb"])
    return statistics.median(timings), max(peaks)


def serve_lambda(handler: ModuleType, images: list[DigitImage]) -> SideResult:
    """Each image as a function URL event through the handler, in process."""
    latencies, answers = [], []
    for image in images:
        event = _url_event(image)
        started = time.perf_counter()
        response = handler.lambda_handler(event, _Context())
        latencies.append((time.perf_counter() - started) * 1000)
        if response["statusCode"] != 200:
            raise RuntimeError(f"the handler answered {response['statusCode']}: {response['body']}")
        answers.append(json.loads(response["body"]))
    return SideResult("Lambda handler (in process)", latencies, answers)


def fetch_model(emulator: Emulator, model_dir: Path) -> dict[str, Any]:
    """The init container's code, as a child process against the emulator."""
    environment = {
        **os.environ,
        **emulator.environment(),
        "MODEL_PACKAGE_GROUP": GROUP,
        "MODEL_BUCKETS": BUCKET,
        "MODEL_DIR": str(model_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "model_fetch"], env=environment, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"model_fetch failed: {result.stderr.strip()}")
    installed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return installed


def server_command(model_dir: Path, port: int) -> list[str]:
    """`pytorch-serve` on loopback with one worker, the serving image's code from `.venv-pytorch`."""
    command = [str(PYTORCH_PYTHON), "-m", "pytorch_container.serve", "--model-dir", str(model_dir)]
    return command + ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]


def serve_http(port: int, images: list[DigitImage]) -> SideResult:
    """Each image as `POST /invocations` on one kept-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies, answers = [], []
    try:
        for image in images:
            started = time.perf_counter()
            connection.request("POST", "/invocations", body=image.body, headers={"Content-Type": image.content_type})
            response = connection.getresponse()
            body = response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise RuntimeError(f"the server answered {response.status}: {body[:200]!r}")
            answers.append(json.loads(body))
    finally:
        connection.close()
    return SideResult("always-on server (HTTP, loopback)", latencies, answers)


def run(*, count: int, epochs: int, run_dir: Path = RUN_DIR, model_dir: Path | None = None) -> DemoResult:
    """Train (unless given a trained `model_dir`), register, serve both ways, send the same images; the results."""
    run_dir.mkdir(parents=True, exist_ok=True)
    model_dir = model_dir or train_classifier(run_dir / "training-job", epochs=epochs)
    archive = pack_model(model_dir, run_dir / "model.tar.gz").read_bytes()
    images = digit_images(count)
    with Emulator() as emulator:
        s3, sagemaker = emulator.client("s3"), emulator.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": emulator.region})
        registered = register_model(sagemaker, s3, bucket=BUCKET, group=GROUP, archive=archive)
        print(f"registered {registered.arn} (Approved), model data {registered.model_data_url}")
        handler, init_ms = load_lambda_handler(emulator, run_dir / "lambda-tmp")
        print(f"serverless: handler init {init_ms:.0f} ms in this process (resolve, download, load {ENGINE})")
        cold_ms, cold_rss = cold_init(emulator, run_dir / "lambda-cold")
        print(f"serverless: init in a fresh process {cold_ms:.0f} ms (median of 3), peak RSS {cold_rss:.0f} MB")
        serve_lambda(handler, images[:20])  # warm-up, like the server's first requests
        serverless = serve_lambda(handler, images)
        served_dir = run_dir / "always-on-model"
        installed = fetch_model(emulator, served_dir)
        print(f"always-on: init container installed version {installed['version']} ({', '.join(installed['files'])})")
    port = free_port()
    command = server_command(served_dir, port)
    log_path = run_dir / "server.log"
    environment = {**os.environ, "MODEL_ENGINE": ENGINE, "MODEL_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    process = start_logged(command, env=environment, log_path=log_path)
    try:
        wait_until_answering(
            process, f"http://127.0.0.1:{port}/ping", what="pytorch-serve", log_path=log_path, timeout=60
        )
        print(f"always-on: pytorch-serve answering on 127.0.0.1:{port}")
        serve_http(port, images[:20])
        always_on = serve_http(port, images)
    finally:
        stop(process)
    return DemoResult(images, serverless, always_on, init_ms, cold_ms, cold_rss)


def report(result: DemoResult) -> str:
    """The side-by-side table and the summary line."""
    rows = [f"{'':38} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'accuracy':>9}"]
    for side in (result.serverless, result.always_on):
        rows.append(
            f"{side.name:38} {side.percentile(50):8.2f} {side.percentile(90):8.2f} {side.percentile(99):8.2f} "
            f"{statistics.fmean(side.latencies_ms):8.2f} {side.accuracy(result.images):9.3f}"
        )
    agree = sum(
        [e["className"] for e in a] == [e["className"] for e in b]
        for a, b in zip(result.serverless.answers, result.always_on.answers, strict=True)
    )
    rows.append(
        f"serve-demo: {len(result.images)} digits, both answered every one; same top-3 classes on {agree}/"
        f"{len(result.images)}; p50 Lambda handler {result.serverless.percentile(50):.2f} ms vs always-on "
        f"{result.always_on.percentile(50):.2f} ms over HTTP (pytorch-serve)"
    )
    return "\n".join(rows)


def main() -> None:
    """Command line of `make serve-demo`."""
    parser = argparse.ArgumentParser(description="The image classifier served both ways, side by side.")
    parser.add_argument("--images", type=int, default=300, help="digits sent to each side")
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's request log
    print(report(run(count=args.images, epochs=args.epochs)))


if __name__ == "__main__":
    main()
