"""Run an `App` under gunicorn's master process with the asyncio workers of `worker.py`.

The application (and the model it serves) is built before `serve` is called, in the master, so a
broken model stops the server at start with a clear message and the workers share what was loaded
(copy-on-write after the fork). `on_worker_start` runs in each worker after the fork: the place to
set up what must not be created before it (thread pools, CUDA contexts) and to warm up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from http_serving.app import App
from http_serving.settings import ServerSettings
from http_serving.worker import worker_class_path


class GunicornServer(BaseApplication):  # type: ignore[misc]  # gunicorn has no type information
    """gunicorn running one already-built `App`."""

    def __init__(self, app: App, settings: ServerSettings, on_worker_start: Callable[[], str] | None = None):
        self.app = app
        self.settings = settings
        self.limits = settings.limits  # read by the workers (AsyncioWorker)
        self.on_worker_start = on_worker_start
        super().__init__()

    def load_config(self) -> None:
        """Apply the settings to gunicorn's configuration."""
        start = self.on_worker_start

        def post_worker_init(worker: Any) -> None:
            detail = start() if start else ""
            worker.log.info("worker %s ready%s", worker.pid, f": {detail}" if detail else "")

        for key, value in {
            "bind": f"{self.settings.host}:{self.settings.port}",
            "workers": self.settings.workers,
            "worker_class": worker_class_path(),
            "timeout": self.settings.timeout,
            "post_worker_init": post_worker_init,
            # gunicorn's control socket (runtime management through a Unix socket in $HOME) is not
            # needed: SageMaker controls the server with signals only.
            "control_socket_disable": True,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "info",
        }.items():
            self.cfg.set(key, value)

    def load(self) -> App:
        """The application the workers serve."""
        return self.app


def serve(app: App, settings: ServerSettings, on_worker_start: Callable[[], str] | None = None) -> None:
    """Serve `app` until the server is stopped (SIGTERM: graceful; SIGINT/SIGQUIT: at once).

    `on_worker_start` returns a short description for the worker's "ready" log line.
    """
    GunicornServer(app, settings, on_worker_start).run()
