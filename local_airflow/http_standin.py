"""A JSON HTTP server on a free loopback port, in a thread: the base of the local stand-ins."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class JsonStandIn:
    """Serves `handle(method, path, headers, body) -> (status, headers, JSON value or text)`; a context manager."""

    def __init__(self) -> None:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, payload = standin.handle(self.command, self.path, dict(self.headers), raw)
                if isinstance(payload, bytes):  # artifact archives
                    body, content_type = payload, "application/octet-stream"
                elif isinstance(payload, str):  # Slack answers plain text
                    body, content_type = payload.encode(), "text/plain"
                else:
                    body, content_type = json.dumps(payload).encode(), "application/json"
                self.send_response(status)
                for name, value in {"Content-Type": content_type, **headers}.items():  # headers may override
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (BaseHTTPRequestHandler's name)
                """Quiet: the stand-ins record what they receive."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        """Answer one request (overridden by each stand-in)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
