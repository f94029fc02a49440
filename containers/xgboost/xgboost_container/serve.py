"""`xgboost-serve`: the XGBoost image's model server (what the container runs for `serve`).

Loads the model once from the model directory (`/opt/ml/model`, or `SM_MODEL_DIR` / `SM_ML_ROOT`,
see `paths.py`), then serves `server_app.InferenceApp` with gunicorn's master process and the
asyncio worker of `server_http.py`: the model is loaded in the master before the workers fork, so a
broken artifact stops the server at start with a clear message, and each worker shares the loaded
Booster and only sets its device and warms up.

Settings (environment, each overridable by the matching command-line option):

- `SAGEMAKER_BIND_TO_PORT` (`--port`): port, default 8080.
- `MODEL_SERVER_HOST` (`--host`): bind address, default `0.0.0.0`.
- `SAGEMAKER_MODEL_SERVER_WORKERS` (`--workers`): worker processes, default the CPU count.
- `MODEL_SERVER_THREADS_PER_WORKER`: XGBoost threads in each worker, default 1 (the workers
  already use every core; more threads per worker only help very large batches).
- `SAGEMAKER_MODEL_SERVER_TIMEOUT`: seconds a request may take before its worker is restarted,
  default 60.
- `MODEL_SERVER_MAX_BODY_BYTES`: largest request body accepted, default 6 MiB (SageMaker's
  real-time payload limit); larger bodies get 413.
- `XGBOOST_SERVE_DEVICE`: `cpu` or `cuda` to override the GPU detection (see `server_model.py`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from gunicorn.app.base import BaseApplication

from xgboost_container import paths
from xgboost_container.model_format import ModelFormatError
from xgboost_container.server_app import InferenceApp
from xgboost_container.server_model import Model, load

log = logging.getLogger("xgboost_container.serve")

DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to start, resolved from the environment and the command line."""

    model_dir: Path
    host: str
    port: int
    workers: int
    threads_per_worker: int
    timeout: int
    max_body_bytes: int


def _int_setting(name: str, value: str | int, minimum: int) -> int:
    """Parse an integer setting, naming the setting and the bad value when it is not one."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


def resolve_settings(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Build `Settings` from command-line options over environment variables over defaults."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="xgboost-serve", description="Serve the XGBoost model in the model directory."
    )
    parser.add_argument("--model-dir", help="unpacked model directory (default: the container's model path)")
    parser.add_argument("--host", help="bind address")
    parser.add_argument("--port", help="port to listen on")
    parser.add_argument("--workers", help="worker processes")
    args, _ = parser.parse_known_args(argv)  # the image's entrypoint may pass `serve` through
    return Settings(
        model_dir=Path(args.model_dir) if args.model_dir else paths.resolve(env).model,
        host=args.host or env.get("MODEL_SERVER_HOST", "0.0.0.0"),
        port=_int_setting("port (SAGEMAKER_BIND_TO_PORT)", args.port or env.get("SAGEMAKER_BIND_TO_PORT", 8080), 1),
        workers=_int_setting(
            "workers (SAGEMAKER_MODEL_SERVER_WORKERS)",
            args.workers or env.get("SAGEMAKER_MODEL_SERVER_WORKERS", os.cpu_count() or 1),
            1,
        ),
        threads_per_worker=_int_setting(
            "MODEL_SERVER_THREADS_PER_WORKER", env.get("MODEL_SERVER_THREADS_PER_WORKER", 1), 1
        ),
        timeout=_int_setting("SAGEMAKER_MODEL_SERVER_TIMEOUT", env.get("SAGEMAKER_MODEL_SERVER_TIMEOUT", 60), 1),
        max_body_bytes=_int_setting(
            "MODEL_SERVER_MAX_BODY_BYTES", env.get("MODEL_SERVER_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES), 1
        ),
    )


class GunicornServer(BaseApplication):
    """gunicorn running `InferenceApp` with the model already loaded in the master."""

    def __init__(self, model: Model, settings: Settings):
        self.model = model
        self.settings = settings
        self.app = InferenceApp(model, max_body_bytes=settings.max_body_bytes, workers=settings.workers)
        super().__init__()

    def load_config(self) -> None:
        """Apply the settings to gunicorn's configuration."""
        threads = self.settings.threads_per_worker
        model = self.model

        def post_worker_init(worker) -> None:
            model.activate(threads)
            worker.log.info("worker %s ready: predictor device %s", worker.pid, model.device.device)

        for key, value in {
            "bind": f"{self.settings.host}:{self.settings.port}",
            "workers": self.settings.workers,
            "worker_class": "xgboost_container.server_http.AsyncioWorker",
            "timeout": self.settings.timeout,
            "keepalive": 75,  # seconds an idle connection is kept for reuse (nginx's default)
            "post_worker_init": post_worker_init,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "info",
        }.items():
            self.cfg.set(key, value)

    def load(self) -> InferenceApp:
        """The WSGI application (the model is already loaded)."""
        return self.app


def main(argv: list[str] | None = None) -> int:
    """Load the model and serve it until the server is stopped; 1 with a message if it cannot start."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = resolve_settings(sys.argv[1:] if argv is None else argv)
        model = load(settings.model_dir)
    except (ValueError, ModelFormatError) as error:
        print(f"xgboost-serve: cannot start: {error}", file=sys.stderr)
        return 1
    log.info("serving on %s:%d with %d workers", settings.host, settings.port, settings.workers)
    GunicornServer(model, settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
