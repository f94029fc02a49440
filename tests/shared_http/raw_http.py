"""Raw-socket helpers for the protocol tests: send exact bytes, read what the server answers.

The tests send malformed and hostile requests that no HTTP client library would produce, so they
talk to the server over plain sockets. Responses are split with the standard library's header
parser; the server always answers with `Content-Length`, which is all the split needs.
"""

from __future__ import annotations

import http.client
import io
import socket
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    """One response: status code, headers (names lower case) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def split_responses(data: bytes) -> list[Answer]:
    """Split the bytes a server sent on one connection into its responses (interim 1xx included)."""
    stream = io.BytesIO(data)
    answers = []
    while line := stream.readline():
        if not line.strip():
            continue
        status = int(line.split(b" ", 2)[1])
        headers = {name.lower(): value for name, value in http.client.parse_headers(stream).items()}
        body = b"" if status < 200 else stream.read(int(headers.get("content-length", "0")))
        answers.append(Answer(status, headers, body))
    return answers


def exchange(port: int, data: bytes, *, half_close: bool = True, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send `data` on a new connection, then read until the server closes it or `timeout` passes.

    With `half_close` the client shuts down its sending side after the data, as a client that has
    nothing more to say does. Returns what was received and whether the server closed the connection
    (False when the timeout passed first).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        try:
            client.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused early and closed; what it answered is still readable below
        if half_close:
            try:
                client.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        return read_until_closed(client, timeout)


def read_until_closed(client: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Read until the peer closes (True) or `timeout` seconds pass (False)."""
    received = b""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        client.settimeout(left)
        try:
            chunk = client.recv(65536)
        except TimeoutError:
            return received, False
        except ConnectionResetError:
            return received, True
        if not chunk:
            return received, True
        received += chunk
    return received, False


def read_one_response(client: socket.socket, timeout: float) -> Answer | None:
    """Read from `client` until one complete response has arrived; None if none does in time."""
    received = b""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        answers = [answer for answer in split_responses(received) if answer.status >= 200] if received else []
        if answers and len(answers[0].body) == int(answers[0].headers.get("content-length", "0")):
            return answers[0]
        client.settimeout(left)
        try:
            chunk = client.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return None
        if not chunk:
            break
        received += chunk
    answers = [answer for answer in split_responses(received) if answer.status >= 200] if received else []
    return answers[0] if answers else None


def post(path: str, body: bytes, content_type: str = "text/csv", extra: bytes = b"") -> bytes:
    """The bytes of a POST request with `Content-Length`."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )
