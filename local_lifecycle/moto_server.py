"""An AWS emulator (moto server) on a free loopback port, for one lifecycle run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from local_lifecycle.processes import start_logged, stop, wait_until_answering

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """`moto_server` in a child process; use as a context manager."""

    def __init__(self, *, log_path: Path, port: int | None = None, region: str = "eu-west-1") -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.region = region
        self._log_path = log_path
        self._process: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        """Variables that point boto3 (and the CLI) at this emulator."""
        return {
            **DUMMY_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def __enter__(self) -> MotoServer:
        moto = Path(sys.executable).with_name("moto_server")
        # Step Functions really executes state machines when asked; harmless for the other services.
        env = {**os.environ, "MOTO_STEPFUNCTIONS_EXECUTE_STATE_MACHINE": "true"}
        self._process = start_logged(
            [str(moto), "-H", "127.0.0.1", "-p", str(self.port)], env=env, log_path=self._log_path
        )
        wait_until_answering(self._process, f"{self.url}/moto-api/", what="moto server", log_path=self._log_path)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process:
            stop(self._process)
