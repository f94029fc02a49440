"""A lean HTTP/1.1 front end for the model server: a gunicorn worker class running asyncio.

gunicorn's master still forks, supervises, restarts and stops the workers (signals, heartbeat,
graceful timeout); this worker replaces only the per-request HTTP handling, which in gunicorn's
own `gthread` worker cost about 250 us of CPU per request on a 2-core machine, as much as parsing
and predicting a 100-row request. Here a request costs a few tens of microseconds: one `find` for
the end of the head, a split of the header lines, one `write` of the whole response.

What it implements of HTTP/1.1 (what SageMaker's front end, boto3, curl and load balancers send):
`Content-Length` and `chunked` request bodies, `Expect: 100-continue`, keep-alive (the default in
HTTP/1.1, opt-in in HTTP/1.0) with an idle timeout, pipelined requests (answered in order), and
limits: head size (431), body size (413, without reading the body), a deadline for a request to
arrive completely (408). Malformed requests get 400 and the connection is closed; a request with
both `Content-Length` and `Transfer-Encoding` is refused (request smuggling). The WSGI
application gets a standard environ; its answer is sent with `Content-Length`.

Connections are spread over the workers: with keep-alive a connection stays with the worker that
accepted it, so a worker that holds k connections waits k ms before accepting another, leaving it to
a worker that holds fewer (measured: without this, 8 keep-alive clients on 2 workers often all
landed on one worker, which then did all the work while the other idled).
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import sys
import time
from collections.abc import Callable
from email.utils import formatdate
from urllib.parse import unquote

from gunicorn.workers.base import Worker

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
LINGER_S = 2.0  # after refusing a request, how long its unread body is drained before closing
ACCEPT_DEFER_S = 0.001  # per connection a worker already holds, see AsyncioWorker._accept
_REASONS = {
    100: "Continue",
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}


class ProtocolError(Exception):
    """A request that cannot be served: the status to answer with before closing the connection."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _Clock:
    """The `Date` header value, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second, self._value = now, formatdate(now, usegmt=True).encode()
        return self._value


class Request:
    """A parsed request head, then its body."""

    __slots__ = ("method", "target", "version", "headers", "length", "chunked", "body", "keep_alive")

    def __init__(self, method: str, target: str, version: str, headers: list[tuple[str, str]]):
        self.method, self.target, self.version, self.headers = method, target, version, headers
        self.length = 0
        self.chunked = False
        self.body: bytes | bytearray = b""
        connection = ""
        lengths = []
        transfer = None
        for name, value in headers:
            if name == "content-length":
                lengths.append(value)
            elif name == "transfer-encoding":
                transfer = value.lower()
            elif name == "connection":
                connection = value.lower()
        if transfer is not None:
            if lengths:
                raise ProtocolError(400, "a request may not carry both Content-Length and Transfer-Encoding")
            if transfer != "chunked":
                raise ProtocolError(501, f"Transfer-Encoding {transfer!r} is not supported (only 'chunked')")
            self.chunked = True
            self.body = bytearray()  # chunks are appended as they arrive
        elif lengths:
            if len(set(lengths)) > 1 or not lengths[0].isdigit():
                raise ProtocolError(400, f"invalid Content-Length {', '.join(lengths)!r}")
            self.length = int(lengths[0])
        self.keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection

    def header(self, name: str) -> str | None:
        """The first value of a header (`name` in lower case)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


def parse_head(head: bytes) -> Request:
    """Parse a request line and its header lines (without the blank line that ends them)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise ProtocolError(400, "request head is not text") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
        raise ProtocolError(400, f"malformed request line {lines[0][:100]!r}")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise ProtocolError(505 if version.startswith("HTTP/") else 400, f"unsupported protocol {version[:20]!r}")
    if len(lines) - 1 > MAX_HEADERS:
        raise ProtocolError(431, f"more than {MAX_HEADERS} header fields")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or line[0] in " \t":
            raise ProtocolError(400, f"malformed header line {line[:100]!r}")
        headers.append((name.lower(), value.strip()))
    return Request(method, target, version, headers)


def wsgi_environ(request: Request, server: tuple[str, int], peer: tuple | None) -> dict:
    """The WSGI environ of a complete request."""
    path, _, query = request.target.partition("?")
    environ = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(path, "latin-1"),
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": request.version,
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": str(peer[0]) if peer else "",
        "CONTENT_LENGTH": str(len(request.body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in request.headers:
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name not in ("content-length", "transfer-encoding"):
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def call_wsgi(app: Callable, environ: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run the WSGI application; return its status line, headers and the whole body."""
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return answer["status"], answer["headers"], body


class HttpConnection(asyncio.Protocol):
    """One client connection: reads requests, answers them in order, keeps the connection alive."""

    def __init__(
        self,
        app: Callable,
        *,
        max_body_bytes: int,
        keepalive_s: float,
        request_timeout_s: float,
        clock: _Clock,
        on_close: Callable[[HttpConnection], None],
        log,
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.keepalive_s = keepalive_s
        self.request_timeout_s = request_timeout_s
        self.clock = clock
        self.on_close = on_close
        self.log = log
        self.buffer = bytearray()
        self.request: Request | None = None
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closing = False
        self.draining = False

    # --- asyncio callbacks
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.server = transport.get_extra_info("sockname") or ("", 0)
        self.peer = transport.get_extra_info("peername")
        self._arm(self.keepalive_s)

    def data_received(self, data: bytes) -> None:
        if self.draining:
            return
        self.buffer += data
        try:
            self._serve_buffered()
        except ProtocolError as error:
            self._refuse(error.status, error.message)

    def connection_lost(self, exc) -> None:
        self.closing = True
        if self.timer:
            self.timer.cancel()
        self.on_close(self)

    def pause_writing(self) -> None:
        """The client does not read its answers: stop reading its requests until it does."""
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    # --- request handling
    @property
    def idle(self) -> bool:
        """No request is partly received (the connection may be closed without losing one)."""
        return self.request is None and not self.buffer

    def _serve_buffered(self) -> None:
        """Answer every complete request in the buffer; keep a partial one for the next data."""
        while not self.closing:
            if self.request is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buffer) > MAX_HEAD_BYTES:
                        raise ProtocolError(431, f"request head larger than {MAX_HEAD_BYTES} bytes")
                    if self.buffer:
                        self._arm(self.request_timeout_s)
                    return
                head = bytes(self.buffer[:end])
                del self.buffer[: end + 4]
                self.request = parse_head(head)
                self._check_length(self.request)
                if self.request.header("expect") == "100-continue" and (self.request.length or self.request.chunked):
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            if not self._take_body(self.request):
                self._arm(self.request_timeout_s)
                return
            request, self.request = self.request, None
            self._respond(request)

    def _check_length(self, request: Request) -> None:
        if request.length > self.max_body_bytes:
            raise ProtocolError(413, f"body of {request.length} bytes exceeds the limit of {self.max_body_bytes} bytes")

    def _take_body(self, request: Request) -> bool:
        """Move the request's body out of the buffer; False while it is incomplete."""
        if not request.chunked:
            if len(self.buffer) < request.length:
                return False
            request.body = bytes(self.buffer[: request.length])
            del self.buffer[: request.length]
            return True
        return self._take_chunks(request)

    def _take_chunks(self, request: Request) -> bool:
        """Decode as many chunks as the buffer holds; True once the last chunk and trailers are in."""
        while True:
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                if len(self.buffer) > 1024:
                    raise ProtocolError(400, "chunk size line too long")
                return False
            size_text = bytes(self.buffer[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(400, f"invalid chunk size {size_text[:20]!r}") from None
            if size == 0:
                trailer_end = self.buffer.find(b"\r\n\r\n", line_end)
                if self.buffer[line_end : line_end + 4] == b"\r\n\r\n":
                    trailer_end = line_end
                if trailer_end < 0:
                    return False
                del self.buffer[: trailer_end + 4]
                return True
            if len(self.buffer) < line_end + 2 + size + 2:
                return False
            if len(request.body) + size > self.max_body_bytes:
                raise ProtocolError(413, f"body exceeds the limit of {self.max_body_bytes} bytes")
            start = line_end + 2
            if self.buffer[start + size : start + size + 2] != b"\r\n":
                raise ProtocolError(400, "chunk data not followed by CRLF")
            request.body += self.buffer[start : start + size]
            del self.buffer[: start + size + 2]

    def _respond(self, request: Request) -> None:
        try:
            status, headers, body = call_wsgi(self.app, wsgi_environ(request, self.server, self.peer))
        except Exception:  # noqa: BLE001 - the application failed: answer 500, keep the worker
            self.log.exception("error handling %s %s", request.method, request.target)
            status, headers, body = "500 Internal Server Error", [("Content-Type", "text/plain")], b"internal error\n"
        keep_alive = request.keep_alive and not any(
            name.lower() == "connection" and value.lower() == "close" for name, value in headers
        )
        self._write(status, headers, b"" if request.method == "HEAD" else body, keep_alive, len(body))
        if keep_alive:
            self._arm(self.keepalive_s)
        else:
            self.close()

    def _write(self, status: str, headers: list[tuple[str, str]], body: bytes, keep_alive: bool, length: int) -> None:
        lines = [f"HTTP/1.1 {status}".encode(), b"Date: " + self.clock.date()]
        lines += [
            f"{name}: {value}".encode("latin-1")
            for name, value in headers
            if name.lower() not in ("content-length", "connection")
        ]
        lines.append(b"Content-Length: %d" % length)
        lines.append(b"Connection: keep-alive" if keep_alive else b"Connection: close")
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)

    def _refuse(self, status: int, message: str) -> None:
        """Answer a request that cannot be served, then close the connection.

        The client may still be sending the request's body: the connection is half-closed and what
        arrives is discarded for `LINGER_S` seconds, so that closing does not reset the connection
        before the client has read the answer.
        """
        if self.closing:
            return
        body = (message + "\n").encode()
        self._write(
            f"{status} {_REASONS.get(status, 'Error')}",
            [("Content-Type", "text/plain; charset=utf-8")],
            body,
            False,
            len(body),
        )
        self.closing = self.draining = True
        self.buffer.clear()
        self.request = None
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._arm(LINGER_S)

    # --- timers and closing
    def _arm(self, seconds: float) -> None:
        if self.timer:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        if self.idle or self.draining:
            self.close()
        else:
            self._refuse(408, f"request not received completely within {self.request_timeout_s:g} s")

    def close(self) -> None:
        """Close the connection (after writing what is buffered)."""
        self.closing = True
        if self.transport and not self.transport.is_closing():
            self.transport.close()


class AsyncioWorker(Worker):
    """gunicorn worker serving the WSGI application with `HttpConnection` on an asyncio loop.

    Settings it uses: `keepalive` (idle seconds of a kept-alive connection), `timeout` (heartbeat;
    also the deadline for a request to arrive), `graceful_timeout`, `worker_connections`, and the
    application's `max_body_bytes`.
    """

    def run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self.connections: set[HttpConnection] = set()
        self.listeners = [listener.sock for listener in self.sockets]
        self.accepting = False
        self.deferred = False
        self.pending = 0  # accepted, transport not set up yet
        clock = _Clock()
        options = dict(
            max_body_bytes=getattr(self.wsgi, "max_body_bytes", 6 * 1024 * 1024),
            keepalive_s=max(self.cfg.keepalive, 1),
            request_timeout_s=self.timeout,
            clock=clock,
            on_close=self._closed,
            log=self.log,
        )
        self.factory = lambda: HttpConnection(self.wsgi, **options)
        self._accept_on(loop)
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("parent changed, shutting down: %s", self)
                break
            await asyncio.sleep(1.0)
        await self._shut_down(loop)

    @property
    def held(self) -> int:
        """Connections this worker serves (or is setting up)."""
        return len(self.connections) + self.pending

    def _accept_on(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.alive and not self.accepting and self.held < self.cfg.worker_connections:
            for listener in self.listeners:
                loop.add_reader(listener.fileno(), self._accept, loop, listener)
            self.accepting = True

    def _accept_off(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.accepting:
            for listener in self.listeners:
                loop.remove_reader(listener.fileno())
            self.accepting = False

    def _accept(self, loop: asyncio.AbstractEventLoop, listener: socket.socket) -> None:
        """Accept one connection, after a pause proportional to the connections this worker holds."""
        if self.held and not self.deferred:
            self._accept_off(loop)
            self.deferred = True
            loop.call_later(ACCEPT_DEFER_S * self.held, self._accept_on, loop)
            return
        self.deferred = False
        try:
            client, _ = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it
        client.setblocking(False)
        self.pending += 1
        loop.create_task(self._connect(loop, client))
        if self.held >= self.cfg.worker_connections:
            self._accept_off(loop)

    async def _connect(self, loop: asyncio.AbstractEventLoop, client: socket.socket) -> None:
        try:
            _, protocol = await loop.connect_accepted_socket(self.factory, client)
        except OSError as error:  # the client went away while the connection was being set up
            self.log.debug("connection setup failed: %s", error)
            client.close()
            return
        finally:
            self.pending -= 1
        self.connections.add(protocol)

    def _closed(self, connection: HttpConnection) -> None:
        self.connections.discard(connection)
        if not self.deferred:
            self._accept_on(asyncio.get_running_loop())

    async def _shut_down(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop accepting, close idle connections, give busy ones `graceful_timeout` to finish."""
        self._accept_off(loop)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while self.connections and time.monotonic() < deadline:
            for connection in list(self.connections):
                if connection.idle:
                    connection.close()
            self.notify()
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection.close()
