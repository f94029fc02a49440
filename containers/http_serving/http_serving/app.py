"""What an application served by the HTTP layer sees and returns.

An application is a plain callable `App = Callable[[Request], Response]`. The HTTP layer calls it
once per complete request, in the worker's event loop, and writes the `Response` it returns; an
application that also has `call_many(requests) -> responses` is given the requests that arrive
together in one call instead (see `batching.py`). A client mistake is raised as
`HttpError(status, message)` and answered with that status and the message as `text/plain`; any
other exception is logged and answered with 500, and the worker serves on. The call is
synchronous on purpose: a model server's work is CPU-bound (decode, predict, encode), so a worker
does one thing at a time and gunicorn runs one worker per core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

TEXT = "text/plain; charset=utf-8"

REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    417: "Expectation Failed",
    422: "Unprocessable Content",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class Request:
    """A complete request: header names are lower case; repeated fields are joined with ", "."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of a header field (`name` in lower case), None when absent."""
        return self.headers.get(name)


@dataclass(frozen=True, slots=True)
class Response:
    """What the application answers. `Content-Length`, `Date` and `Connection` are added by the layer."""

    status: int
    body: bytes = b""
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = field(default=())
    close: bool = False  # close the connection after this response

    @classmethod
    def text(cls, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
        """A plain-text answer (errors, refusals), one line."""
        return cls(status, (message + "\n").encode("utf-8", "replace"), TEXT, headers)


class HttpError(Exception):
    """A request the application refuses: the status (4xx) and a message naming the problem."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers

    def response(self) -> Response:
        """The plain-text answer for this error."""
        return Response.text(self.status, self.message, self.headers)


App = Callable[[Request], Response]
