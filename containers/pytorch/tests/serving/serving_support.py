"""Helpers of the serving tests: PNG bytes, and the real model server as a subprocess on a loopback port."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pytorch_container import images


def png(pixels: np.ndarray) -> bytes:
    """A `uint8` image as PNG bytes."""
    return images.encode_png(pixels)


class Answer:
    """One HTTP response: status, content type and body."""

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


class ServerProcess:
    """`python -m pytorch_container.serve` on 127.0.0.1 (a context manager); its output goes to `log_path`.

    Entering returns once every worker has loaded the model and `/ping` answers 200.
    """

    def __init__(self, model_dir: Path, log_path: Path, *, workers: int = 2, env: dict[str, str] | None = None):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log_path = log_path
        self.workers = workers
        self.command = [
            sys.executable,
            "-m",
            "pytorch_container.serve",
            "--model-dir",
            str(model_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.connection: http.client.HTTPConnection | None = None

    def __enter__(self) -> ServerProcess:
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            if self.log().count("ready: engine") >= self.workers:
                try:
                    if self.request("GET", "/ping").status == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"the server did not answer /ping within 90 s:\n{self.log()[-3000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.connection:
            self.connection.close()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
        """One request on a kept-alive connection (reopened when the server closed it)."""
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.connection.request(method, path, body=body if method == "POST" else None, headers=headers or {})
                response = self.connection.getresponse()
                answer = Answer(response.status, response.getheader("Content-Type", ""), response.read())
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
                continue
            if response.will_close:
                self.connection.close()
                self.connection = None
            return answer
        raise AssertionError("unreachable")

    def invoke(
        self, body: bytes, content_type: str, *, path: str = "/invocations", accept: str | None = None
    ) -> Answer:
        """`POST /invocations` (or `path`) with the body and its content type."""
        headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
        return self.request("POST", path, body, headers)
