"""One HTTP/1.1 client connection: llhttp parses, this module enforces the limits and answers.

Parsing is done by llhttp (through httptools), the parser of Node.js, in its strict mode: chunk
sizes are bare hexadecimal, header names are tokens, `Content-Length` is ASCII digits and appears
once, `Content-Length` together with `Transfer-Encoding` is refused, obsolete line folding is
refused, and empty lines before a request are skipped (RFC 9112, 2.2). On top of it this module
refuses what llhttp lets through but this server does not implement: a transfer coding other than
one `chunked`, an HTTP version other than 1.0/1.1, an `Expect` other than `100-continue`.

Limits (see `settings.Limits`), each answered with its status and a message naming it:

- head (request line + header fields) larger than `max_head_bytes`, or more than
  `max_header_fields` fields: 431;
- body larger than `max_body_bytes`: 413, at once for a declared `Content-Length`, and while it
  streams for a chunked body (chunk data and trailer fields count), so nothing past the limit is
  kept;
- a request not complete `request_deadline_s` after its first byte: 408 (an absolute deadline,
  not an inactivity timer: dribbling bytes does not extend it).

Bytes httptools holds for a field it has not delivered yet are bounded too: bytes fed without any
parser callback belong to that field and count against the limit of the current phase, so a
single endless header or trailer field is refused at most `FEED_SLICE` bytes past the limit.

Complete requests are answered by the worker's `batching.RequestBatcher`, together with those
that completed on other connections in the same event-loop turn. Everything a connection writes
(interim `100 Continue`, answers, refusals) goes out in request order: what follows an answer not
computed yet waits in the connection's outbox until it is.

After a refusal, and after an answer that ends the connection (`Connection: close`, HTTP/1.0), the
connection is half-closed and what the client still sends is read and dropped until it closes its
side or `LINGER_S` passes, so that closing does not reset the connection before the client has
read the answer. Responses are written with `Content-Length`; while the client does not read them
(the transport's buffer is full), reading stops (backpressure).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from email.utils import formatdate
from typing import cast
from urllib.parse import unquote

import httptools

from http_serving.app import REASONS, Request, Response
from http_serving.batching import Pending, RequestBatcher
from http_serving.settings import Limits

LINGER_S = 2.0
FEED_SLICE = 4096  # see HttpConnection._feed
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class ProtocolError(Exception):
    """A request that cannot be served: the status to answer with before closing the connection."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _Closing(Exception):
    """Raised from a parser callback to stop reading: the connection closes after what is written."""


class Clock:
    """The `Date` header value, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def date(self) -> bytes:
        """Now, in the HTTP date format."""
        now = int(time.time())
        if now != self._second:
            self._second, self._value = now, formatdate(now, usegmt=True).encode()
        return self._value


class HttpConnection(asyncio.Protocol):
    """Reads requests from one client, calls the application for each, answers them in order."""

    def __init__(
        self,
        batcher: RequestBatcher,
        limits: Limits,
        *,
        clock: Clock,
        on_close: Callable[[HttpConnection], None],
        log: logging.Logger,
    ):
        self.batcher = batcher
        # The running loop, looked up once: `asyncio.get_running_loop()` makes a system call (getpid).
        self.loop = asyncio.get_running_loop()
        self.limits = limits
        self.clock = clock
        self.on_close = on_close
        self.log = log
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.expiry = 0.0  # loop time at which the connection expires (see `_arm`)
        self.closing = False  # no further request is read (refused, answered with close, or lost)
        self.in_message = False  # a request has begun and is not complete
        self.in_body = False  # ... and its head is complete
        self.progress = False  # a parser callback ran during the current feed
        self.unseen = 0  # bytes fed since the last callback: a field httptools is still collecting
        self.outbox: deque[bytes | Pending] = deque()  # what waits behind an answer not computed yet
        self.half_close = False  # half-close once the outbox is written (see `_linger`)
        self.client_done = False  # the client closed its side: close once the outbox is written
        self._new_message()

    def _new_message(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.fields = 0
        self.transfer_encodings = 0
        self.head_bytes = 0
        self.body_bytes = 0
        self.body: list[bytes] = []
        self.keep_alive = False
        self.remaining: int | None = None  # body bytes still to come of a Content-Length body

    # --- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the idle timer of a new connection."""
        self.transport = cast(asyncio.Transport, transport)  # a socket transport (asyncio's or uvloop's)
        self._arm(self.limits.keepalive_s)

    def data_received(self, data: bytes) -> None:
        """Parse what arrived; answer every request it completes."""
        if self.closing:
            return  # lingering after a refusal: the rest of the request is dropped
        try:
            self._feed(data)
        except ProtocolError as error:
            self._refuse(error.status, error.message)
        except _Closing:
            self._linger()

    def eof_received(self) -> bool | None:
        """The client will send nothing more: a partial request gets 400, else the connection closes.

        Answers still being computed are written first.
        """
        if self.in_message and not self.closing:
            self._refuse(400, "the client closed its side of the connection before the request was complete")
            return True  # keep the transport open to write the answer; `_linger` closes it later
        if self.outbox:
            self.client_done = True
            return True  # `drain` closes once the answers are written
        return None  # the transport closes once what is written has been sent

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection."""
        self.closing = True
        if self.timer:
            self.timer.cancel()
        self.on_close(self)

    def pause_writing(self) -> None:
        """The client does not read its answers: stop reading its requests until it does."""
        if self.transport:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        """The client reads again."""
        if self.transport and not self.transport.is_closing():
            self.transport.resume_reading()

    @property
    def idle(self) -> bool:
        """No request is partly received or waiting for its answer (closing loses none)."""
        return not self.in_message and not self.outbox

    # --- feeding the parser
    def _feed(self, data: bytes) -> None:
        """Feed `data` in pieces that end where a limit must be checked.

        A head or a chunked body is fed `FEED_SLICE` bytes at a time, so that a field httptools
        collects without telling (a header or trailer value) is measured to within one slice; a
        `Content-Length` body is fed up to its last byte at once.
        """
        view = memoryview(data)
        while view:
            size = FEED_SLICE
            if self.in_body and self.remaining is not None:
                size = max(self.remaining, 1)
            piece, view = view[:size], view[size:]
            self._feed_piece(piece)

    def _feed_piece(self, piece: memoryview) -> None:
        self.progress = False
        try:
            self.parser.feed_data(piece)
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if cause is not None and (isinstance(cause, ProtocolError | _Closing) or not isinstance(cause, Exception)):
                raise cause from None  # ours, or the worker exiting (SystemExit)
            raise
        except httptools.HttpParserUpgrade:
            # The request asked to switch protocols; it has been answered in HTTP/1.1 (the
            # upgrade is not accepted), and llhttp reads nothing after it: close after the answer.
            raise _Closing from None
        except httptools.HttpParserError as error:
            raise ProtocolError(400, f"malformed request: {error}") from None
        # Without a callback, every byte of this piece belongs to the field httptools is collecting;
        # with one, the part after it is not known and is not counted (at most one slice is missed).
        self.unseen = 0 if self.progress else self.unseen + len(piece)
        if not self.in_message:
            if self.unseen > self.limits.max_head_bytes:
                raise ProtocolError(400, f"{self.unseen} bytes received without a request line")
        elif not self.in_body:
            if self.head_bytes + self.unseen > self.limits.max_head_bytes:
                raise ProtocolError(431, self._head_limit_message())
        elif self.body_bytes + self.unseen > self.limits.max_body_bytes:
            raise ProtocolError(413, self._body_limit_message())

    def _head_limit_message(self) -> str:
        return f"request head larger than the limit of {self.limits.max_head_bytes} bytes"

    def _body_limit_message(self) -> str:
        return f"request body larger than the limit of {self.limits.max_body_bytes} bytes"

    # --- parser callbacks (httptools calls them by name)
    def on_message_begin(self) -> None:
        self.progress = True
        self.in_message = True
        self._new_message()
        self._arm(self.limits.request_deadline_s)

    def on_url(self, url: bytes) -> None:
        self.progress = True
        self.url += url
        self.head_bytes += len(url)
        if self.head_bytes > self.limits.max_head_bytes:
            raise ProtocolError(431, self._head_limit_message())

    def on_header(self, name: bytes, value: bytes) -> None:
        self.progress = True
        size = len(name) + len(value) + 4  # ": " and CRLF
        if self.in_body:  # a trailer field of a chunked body: counted, not passed on
            self.body_bytes += size
            if self.body_bytes > self.limits.max_body_bytes:
                raise ProtocolError(413, self._body_limit_message())
            return
        self.head_bytes += size
        self.fields += 1
        if self.head_bytes > self.limits.max_head_bytes:
            raise ProtocolError(431, self._head_limit_message())
        if self.fields > self.limits.max_header_fields:
            raise ProtocolError(431, f"more than {self.limits.max_header_fields} header fields")
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key == "transfer-encoding":
            self.transfer_encodings += 1
        previous = self.headers.get(key)
        self.headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        self.progress = True
        self.in_body = True
        self.keep_alive = self.parser.should_keep_alive()
        version = self.parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise ProtocolError(400, f"HTTP/{version} is not supported: send HTTP/1.1")
        encoding = self.headers.get("transfer-encoding")
        if encoding is not None and (self.transfer_encodings > 1 or encoding.strip().lower() != "chunked"):
            raise ProtocolError(
                400,
                f"Transfer-Encoding {encoding!r} is not supported: send the body with Content-Length, "
                "or with one 'Transfer-Encoding: chunked'",
            )
        length = int(self.headers.get("content-length") or 0)  # llhttp accepts ASCII digits only
        self.remaining = None if encoding is not None else length
        if length > self.limits.max_body_bytes:
            raise ProtocolError(413, f"body of {length} bytes exceeds the limit of {self.limits.max_body_bytes} bytes")
        expect = self.headers.get("expect")
        if expect is not None:
            if expect.strip().lower() != "100-continue":
                raise ProtocolError(417, f"Expect {expect[:100]!r} is not supported (only 100-continue)")
            if length or encoding:
                self._send(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self.progress = True
        self.body_bytes += len(body)
        if self.remaining is not None:
            self.remaining -= len(body)
        if self.body_bytes > self.limits.max_body_bytes:
            raise ProtocolError(413, self._body_limit_message())
        self.body.append(body)

    def on_chunk_header(self) -> None:
        self.progress = True

    def on_chunk_complete(self) -> None:
        self.progress = True

    def on_message_complete(self) -> None:
        self.progress = True
        self.in_message = self.in_body = False
        request = self._request()
        self.outbox.append(Pending(request, self.keep_alive, with_body=request.method != "HEAD"))
        self.batcher.add(self)
        if not self.keep_alive:
            raise _Closing

    # --- requests and responses
    def _request(self) -> Request:
        try:
            target = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            raise ProtocolError(400, f"malformed request target {self.url[:100]!r}") from None
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        return Request(
            method=self.parser.get_method().decode("ascii"),
            path=unquote((target.path or b"").decode("latin-1"), "latin-1"),
            query=(target.query or b"").decode("latin-1"),
            headers=self.headers,
            body=body,
        )

    # --- answers, in order
    def waiting(self) -> list[Pending]:
        """The requests queued for the batcher that have no answer yet, in order."""
        return [item for item in self.outbox if isinstance(item, Pending) and item.response is None]

    def drain(self) -> None:
        """Write the outbox up to the first answer not computed yet, then close or wait as due."""
        outbox = self.outbox
        if self.transport is None or self.transport.is_closing():
            outbox.clear()  # the connection is gone: the answers have no one to go to
            return
        while outbox:
            item = outbox[0]
            if isinstance(item, bytes):
                outbox.popleft()
                self._send_now(item)
                continue
            if item.response is None:
                return
            outbox.popleft()
            keep_alive = item.keep_alive and not item.response.close
            self._send_now(self._format(item.response, keep_alive, with_body=item.with_body))
            if not keep_alive:  # what was read after this request is dropped with the connection
                outbox.clear()
                self.half_close = True
        if self.half_close:
            self._half_close()
        elif self.client_done:
            self.close()
        elif not self.in_message and not self.closing:
            self._arm(self.limits.keepalive_s)

    def _send(self, data: bytes) -> None:
        """Write `data` now, or after the answers it follows."""
        if self.outbox:
            self.outbox.append(data)
        else:
            self._send_now(data)

    def _send_now(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _format(self, response: Response, keep_alive: bool, *, with_body: bool = True) -> bytes:
        head = b"HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
            response.status,
            REASONS.get(response.status, "Unknown").encode(),
            self.clock.date(),
            response.content_type.encode("latin-1"),
            len(response.body),
        )
        for name, value in response.headers:
            head += f"{name}: {value}\r\n".encode("latin-1")
        head += b"Connection: keep-alive\r\n\r\n" if keep_alive else b"Connection: close\r\n\r\n"
        return head + response.body if with_body else head

    def _refuse(self, status: int, message: str) -> None:
        """Answer a request that cannot be served, then close the connection (see `_linger`)."""
        if self.closing:
            return
        self._send(self._format(Response.text(status, message), keep_alive=False))
        self._linger()

    def _linger(self) -> None:
        """No more requests are read; half-close once the outbox is written (see `_half_close`)."""
        self.closing = True
        self.half_close = True
        if not self.outbox:
            self._half_close()

    def _half_close(self) -> None:
        """Half-close after the last answer; close when the client does, or after `LINGER_S`.

        Closing a socket while the client's data is still unread makes the kernel reset the
        connection, and a reset can destroy the answer before the client has read it; so what the
        client still sends is read and dropped until it closes its side (nginx's lingering close).
        """
        self.closing = True
        self.half_close = False
        if self.transport and not self.transport.is_closing() and self.transport.can_write_eof():
            self.transport.write_eof()
        self._arm(LINGER_S)

    # --- timers and closing
    def _arm(self, seconds: float) -> None:
        """Expire the connection `seconds` from now (this replaces the previous expiry).

        A keep-alive connection sets a new expiry twice per request; rescheduling the timer each
        time would cost more than the rest of the connection's work for a small request, so a
        timer due at or before the expiry stays and, when it fires early, waits out the rest.
        """
        loop = self.loop
        self.expiry = loop.time() + seconds
        if self.timer is None or self.timer.when() > self.expiry:
            if self.timer:
                self.timer.cancel()
            self.timer = loop.call_at(self.expiry, self._timer_fired)

    def _timer_fired(self) -> None:
        loop = self.loop
        if loop.time() < self.expiry:
            self.timer = loop.call_at(self.expiry, self._timer_fired)
        else:
            self.timer = None
            self._expire()

    def _expire(self) -> None:
        if self.waiting():
            return  # complete requests are being answered: `drain` arms the next timer
        if self.in_message and not self.closing:
            self._refuse(408, f"request not received completely within {self.limits.request_deadline_s:g} s")
        else:
            self.close()

    def close(self) -> None:
        """Close the connection (after writing what is buffered)."""
        self.closing = True
        if self.transport and not self.transport.is_closing():
            self.transport.close()
