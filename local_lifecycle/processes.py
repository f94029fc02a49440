"""Child processes of local runs (model servers, benchmark peers): start, wait until answering, stop."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from local_lifecycle.steps import StepFailed

LOG_TAIL_LINES = 40


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for servers that cannot take port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file ("" when it does not exist)."""
    return "\n".join(path.read_text().splitlines()[-lines:]) if path.is_file() else ""


def start_logged(
    command: list[str], *, env: dict[str, str] | None, log_path: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` with stdout and stderr going to `log_path` (`env` None: this process's)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:  # the child keeps its own descriptor
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)


def wait_until_answering(
    process: subprocess.Popen[bytes],
    url: str,
    *,
    what: str,
    log_path: Path,
    timeout: float = 30.0,
    ready: Callable[[], bool] = lambda: True,
) -> None:
    """Poll `url` until it answers 200 and `ready()` holds; stop the process and fail with its log tail if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StepFailed(f"{what} exited with {process.returncode}; log: {log_path}", log_tail=log_tail(log_path))
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200 and ready():
                    return
        except OSError:
            pass
        time.sleep(0.1)
    stop(process)
    raise StepFailed(
        f"{what} did not answer {url} within {timeout:.0f} s; log: {log_path}", log_tail=log_tail(log_path)
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the process, killing it if it has not ended after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
