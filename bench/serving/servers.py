"""The servers the benchmark starts besides `xgboost-serve` itself (`python servers.py KIND ...`).

- `constant`: the same HTTP layer (`http_serving`, same workers and settings) answering every
  `POST /invocations` with a constant body: what HTTP alone costs per request (the zero-work baseline).
- `uvicorn`: the XGBoost application under gunicorn with uvicorn-worker (uvicorn with httptools,
  i.e. llhttp, on asyncio) through an ASGI adapter: a parser candidate.
- `gunicorn-asgi`: the same under gunicorn's own ASGI worker (gunicorn's parser, with the
  gunicorn_h1c C extension when installed): a parser candidate.

Every kind loads the model in the gunicorn master before the fork and activates it in each worker,
as `xgboost-serve` does, so that only the HTTP layer differs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from http_serving import App, HttpError, Request, Response, serve
from http_serving.settings import Limits, ServerSettings
from xgboost_container.server_app import build_app
from xgboost_container.server_model import Model, load

WORKER_CLASSES = {
    "uvicorn": "uvicorn_worker.UvicornWorker",
    "gunicorn-asgi": "gunicorn.workers.gasgi.ASGIWorker",
}
CONSTANT = b"0.5\n"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def constant_app(request: Request) -> Response:
    """The zero-work application: `/ping` and a constant answer to `POST /invocations`."""
    if request.path == "/ping":
        return Response(200)
    if request.method == "POST" and request.path == "/invocations":
        return Response(200, CONSTANT, "text/csv")
    raise HttpError(404, "no route")


class AsgiAdapter:
    """An `App` as an ASGI application, for the ASGI-based candidates."""

    def __init__(self, app: App, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._send(send, Response.text(413, "body too large"))
                return
            if not message.get("more_body"):
                break
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        request = Request(scope["method"], scope["path"], scope["query_string"].decode("latin-1"), headers, bytes(body))
        try:
            response = self.app(request)
        except HttpError as error:
            response = error.response()
        await self._send(send, response)

    @staticmethod
    async def _send(send: Send, response: Response) -> None:
        headers = [(b"content-type", response.content_type.encode()), (b"content-length", b"%d" % len(response.body))]
        headers += [(name.lower().encode(), value.encode()) for name, value in response.headers]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})


class CandidateServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with another worker class serving the XGBoost application through `AsgiAdapter`."""

    def __init__(self, model: Model, settings: ServerSettings, worker_class: str):
        self.model = model
        self.settings = settings
        self.worker_class = worker_class
        self.asgi = AsgiAdapter(build_app(model, settings), settings.limits.max_body_bytes)
        super().__init__()

    def load_config(self) -> None:
        model = self.model

        def post_worker_init(worker: Any) -> None:
            model.activate(1)
            worker.log.info("worker %s ready: predictor device %s", worker.pid, model.device.device)

        for key, value in {
            "bind": f"{self.settings.host}:{self.settings.port}",
            "workers": self.settings.workers,
            "worker_class": self.worker_class,
            "post_worker_init": post_worker_init,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
        }.items():
            self.cfg.set(key, value)

    def load(self) -> AsgiAdapter:
        return self.asgi


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["constant", *WORKER_CLASSES])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = ServerSettings(host=args.host, port=args.port, workers=args.workers, limits=Limits())
    if args.kind == "constant":
        serve(constant_app, settings, lambda: "constant answer")
        return 0
    CandidateServer(load(args.model_dir), settings, WORKER_CLASSES[args.kind]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
