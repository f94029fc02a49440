"""The server's settings: environment variables, each overridable by a command-line option.

| Setting (environment) | Option | Default | What |
|---|---|---|---|
| `SAGEMAKER_BIND_TO_PORT` | `--port` | 8080 | port |
| `MODEL_SERVER_HOST` | `--host` | `0.0.0.0` | bind address |
| `SAGEMAKER_MODEL_SERVER_WORKERS` | `--workers` | CPU count | worker processes |
| `SAGEMAKER_MODEL_SERVER_TIMEOUT` | | 60 | seconds a worker may spend on one request before gunicorn restarts it |
| `MODEL_SERVER_MAX_BODY_BYTES` | | 6 MiB | largest request body, as sent (chunk framing and trailers count): 413 |
| `MODEL_SERVER_MAX_HEAD_BYTES` | | 16 KiB | largest request line + header fields: 431 |
| `MODEL_SERVER_MAX_HEADER_FIELDS` | | 100 | most header fields in a request: 431 |
| `MODEL_SERVER_REQUEST_DEADLINE_S` | | 30 | seconds from a request's first byte to its last: 408 |
| `MODEL_SERVER_KEEPALIVE_S` | | 75 | seconds an idle kept-alive connection stays open |
| `MODEL_SERVER_MAX_CONNECTIONS_PER_WORKER` | | 256 | connections a worker holds; more wait in the listen backlog |

6 MiB is SageMaker's real-time payload limit; 16 KiB the head limit of Node.js (llhttp's own
server); 75 s nginx's keep-alive. The deadline is absolute: a client that sends one byte at a
time cannot hold a connection longer than it (the slowloris attack).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one request and one worker may use; every refusal names the limit it hit."""

    max_body_bytes: int = 6 * 1024 * 1024
    max_head_bytes: int = 16 * 1024
    max_header_fields: int = 100
    request_deadline_s: float = 30.0
    keepalive_s: float = 75.0
    max_connections: int = 256


@dataclass(frozen=True)
class ServerSettings:
    """Where and how the server listens, and its limits."""

    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    timeout: int = 60
    limits: Limits = Limits()


def int_setting(name: str, value: str | int, minimum: int) -> int:
    """Parse an integer setting, naming the setting and the bad value when it is not one."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


def float_setting(name: str, value: str | float, minimum: float) -> float:
    """Parse a number setting (seconds), naming the setting and the bad value when it is not one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not number >= minimum or number == float("inf"):
        raise ValueError(f"{name} must be a finite number of at least {minimum:g}, got {value!r}")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of every model server (`--host`, `--port`, `--workers`)."""
    parser.add_argument("--host", help="bind address (MODEL_SERVER_HOST)")
    parser.add_argument("--port", help="port to listen on (SAGEMAKER_BIND_TO_PORT)")
    parser.add_argument("--workers", help="worker processes (SAGEMAKER_MODEL_SERVER_WORKERS)")


def resolve(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> ServerSettings:
    """Settings from the parsed options over the environment over the defaults; ValueError names a bad one."""
    env = os.environ if environ is None else environ
    default = Limits()
    limits = Limits(
        max_body_bytes=int_setting(
            "MODEL_SERVER_MAX_BODY_BYTES", env.get("MODEL_SERVER_MAX_BODY_BYTES", default.max_body_bytes), 1
        ),
        max_head_bytes=int_setting(
            "MODEL_SERVER_MAX_HEAD_BYTES", env.get("MODEL_SERVER_MAX_HEAD_BYTES", default.max_head_bytes), 256
        ),
        max_header_fields=int_setting(
            "MODEL_SERVER_MAX_HEADER_FIELDS", env.get("MODEL_SERVER_MAX_HEADER_FIELDS", default.max_header_fields), 1
        ),
        request_deadline_s=float_setting(
            "MODEL_SERVER_REQUEST_DEADLINE_S",
            env.get("MODEL_SERVER_REQUEST_DEADLINE_S", default.request_deadline_s),
            0.1,
        ),
        keepalive_s=float_setting(
            "MODEL_SERVER_KEEPALIVE_S", env.get("MODEL_SERVER_KEEPALIVE_S", default.keepalive_s), 0.1
        ),
        max_connections=int_setting(
            "MODEL_SERVER_MAX_CONNECTIONS_PER_WORKER",
            env.get("MODEL_SERVER_MAX_CONNECTIONS_PER_WORKER", default.max_connections),
            1,
        ),
    )
    return ServerSettings(
        host=args.host or env.get("MODEL_SERVER_HOST", "0.0.0.0"),
        port=int_setting("port (SAGEMAKER_BIND_TO_PORT)", args.port or env.get("SAGEMAKER_BIND_TO_PORT", 8080), 1),
        workers=int_setting(
            "workers (SAGEMAKER_MODEL_SERVER_WORKERS)",
            args.workers or env.get("SAGEMAKER_MODEL_SERVER_WORKERS", os.cpu_count() or 1),
            1,
        ),
        timeout=int_setting("SAGEMAKER_MODEL_SERVER_TIMEOUT", env.get("SAGEMAKER_MODEL_SERVER_TIMEOUT", 60), 1),
        limits=limits,
    )
