"""`pytorch-serve`: the PyTorch image's model server (what the container runs for `serve`).

    pytorch-serve [--model-dir DIR] [--host HOST] [--port PORT] [--workers N]
    python -m pytorch_container.serve ...

Serves the image classifier of the model directory (`/opt/ml/model`, or `SM_MODEL_DIR` / `SM_ML_ROOT`, see
`paths.py`) under the SageMaker hosting contract with `http_serving` (gunicorn's master process, asyncio
workers, llhttp; see `server_app.py` for the routes and the answers). Before any worker starts, the
master checks the settings and loads the artifact once on the CPU, so that a missing or broken model
stops the server at start with a clear message (exit status 1); each worker then loads its own
predictor on the configured device (ONNX Runtime's threads and CUDA contexts do not survive a fork) and
accepts connections only once it has answered a first input.

Settings: those of every model server (`--host` / `MODEL_SERVER_HOST`, `--port` /
`SAGEMAKER_BIND_TO_PORT` (8080), `--workers` / `SAGEMAKER_MODEL_SERVER_WORKERS` (CPU count), the timeout
and the request limits; see `http_serving/settings.py`), plus the predictor's (`predictor.py`):
`MODEL_ENGINE` (`eager`, `exported`, `onnx`, `onnx-int8`), `MODEL_DEVICE` (`auto`, `cpu`, `cuda`),
`MODEL_SERVER_THREADS_PER_WORKER`, `MODEL_TOP_K`, `MODEL_MAX_IMAGE_PIXELS`, `MODEL_MAX_BATCH`.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from http_serving import ServerSettings, serve, settings
from pytorch_container import engines, paths
from pytorch_container.artifact import ArtifactError
from pytorch_container.predictor import Predictor, PredictorSettings
from pytorch_container.server_app import ClassifierHandler, build_app

LOG = logging.getLogger("pytorch_container.serve")


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to start, resolved from the command line and the environment."""

    model_dir: Path
    predictor: PredictorSettings
    server: ServerSettings


def resolve_settings(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from command-line options over environment variables over defaults."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="pytorch-serve", description="Serve the PyTorch image classifier in the model directory."
    )
    parser.add_argument("--model-dir", help="unpacked model directory (default: the container's model path)")
    settings.add_arguments(parser)
    args, _ = parser.parse_known_args(argv)  # the image's entrypoint may pass `serve` through
    return Settings(
        model_dir=Path(args.model_dir) if args.model_dir else paths.resolve(env).model,
        predictor=PredictorSettings.from_environ(env),
        server=settings.resolve(args, env),
    )


def check_model(resolved: Settings) -> str:
    """Fail before serving when the model cannot be served: the device must exist and the engine's files
    load (on the CPU, then dropped); return the device and why it was chosen.

    The check runs in a spawned process, not in the master: ONNX Runtime and OpenMP start threads whose
    state does not survive the fork of the workers (a forked worker that inherited an ONNX Runtime
    environment hung at exit in its destructors, holding the shutdown for the whole graceful timeout).
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_check_model_here, resolved).result()


def _check_model_here(resolved: Settings) -> str:
    device, reason = engines.resolve_device(resolved.predictor.device)
    Predictor(resolved.model_dir, replace(resolved.predictor, device="cpu", threads=1))
    return f"{device} ({reason})"


def main(argv: list[str] | None = None) -> int:
    """Check the model and serve it until the server is stopped; 1 with a message if it cannot start."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # torch's usual CUDA check initializes the driver, after which a forked worker cannot use CUDA; the
    # NVML-based check answers the same question without initializing it.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    try:
        resolved = resolve_settings(sys.argv[1:] if argv is None else argv)
        device = check_model(resolved)
    except (ValueError, ArtifactError) as error:
        return _cannot_start(str(error))
    except Exception as error:  # noqa: BLE001 - a file the engine cannot load: say which, and stop
        return _cannot_start(f"the model cannot be loaded: {type(error).__name__}: {error}")
    server = resolved.server
    LOG.info(
        "serving %s with engine %s on %s, %s:%d, %d workers; limits: %s",
        resolved.model_dir,
        resolved.predictor.engine,
        device,
        server.host,
        server.port,
        server.workers,
        server.limits,
    )
    handler = ClassifierHandler(resolved.model_dir, resolved.predictor)
    serve(build_app(handler, server), server, handler.load)
    return 0


def _cannot_start(reason: str) -> int:
    print(f"pytorch-serve: cannot start: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
