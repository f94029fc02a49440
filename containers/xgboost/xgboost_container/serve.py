"""`xgboost-serve`: the XGBoost image's model server (what the container runs for `serve`).

Loads the model once from the model directory (`/opt/ml/model`, or `SM_MODEL_DIR` / `SM_ML_ROOT`,
see `paths.py`), then serves `server_app.build_app(...)` with `http_serving` (gunicorn's master
process, asyncio workers, llhttp): the model is loaded in the master before the workers fork, so a
broken artifact stops the server at start with a clear message, and each worker shares the loaded
Booster and only sets its device and warms up.

Settings: those of every model server (port, workers, timeout and the request limits; see
`http_serving/settings.py` and its README), plus:

- `--model-dir`: the unpacked model directory (default: the container's model path);
- `MODEL_SERVER_THREADS_PER_WORKER`: XGBoost threads in each worker, default 1 (the workers
  already use every core; more threads per worker only help very large batches);
- `XGBOOST_SERVE_DEVICE`: `cpu` or `cuda` to override the GPU detection (see `server_model.py`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from http_serving import ServerSettings, serve, settings
from xgboost_container import paths
from xgboost_container.model_format import ModelFormatError
from xgboost_container.server_app import build_app
from xgboost_container.server_model import load

log = logging.getLogger("xgboost_container.serve")


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to start, resolved from the environment and the command line."""

    model_dir: Path
    threads_per_worker: int
    server: ServerSettings


def resolve_settings(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from command-line options over environment variables over defaults."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="xgboost-serve", description="Serve the XGBoost model in the model directory."
    )
    parser.add_argument("--model-dir", help="unpacked model directory (default: the container's model path)")
    settings.add_arguments(parser)
    args, _ = parser.parse_known_args(argv)  # the image's entrypoint may pass `serve` through
    return Settings(
        model_dir=Path(args.model_dir) if args.model_dir else paths.resolve(env).model,
        threads_per_worker=settings.int_setting(
            "MODEL_SERVER_THREADS_PER_WORKER", env.get("MODEL_SERVER_THREADS_PER_WORKER", 1), 1
        ),
        server=settings.resolve(args, env),
    )


def main(argv: list[str] | None = None) -> int:
    """Load the model and serve it until the server is stopped; 1 with a message if it cannot start."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        resolved = resolve_settings(sys.argv[1:] if argv is None else argv)
        model = load(resolved.model_dir)
    except (ValueError, ModelFormatError) as error:
        print(f"xgboost-serve: cannot start: {error}", file=sys.stderr)
        return 1
    server = resolved.server
    log.info("serving on %s:%d with %d workers; limits: %s", server.host, server.port, server.workers, server.limits)

    def start_worker() -> str:
        model.activate(resolved.threads_per_worker)
        return f"predictor device {model.device.device}"

    serve(build_app(model, server), server, start_worker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
