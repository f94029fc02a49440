"""The asyncio HTTP/1.1 connection handling of the model server, driven in process."""

from __future__ import annotations

import asyncio
import logging

import pytest

from xgboost_container import server_http
from xgboost_container.server_http import HttpConnection, ProtocolError, _Clock, parse_head


class FakeTransport:
    """Records what the connection writes; closes like a socket transport."""

    def __init__(self):
        self.written = bytearray()
        self.closed = self.eof = self.paused = False

    def write(self, data):
        self.written += data

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def can_write_eof(self):
        return True

    def write_eof(self):
        self.eof = True

    def get_extra_info(self, name):
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name)

    def pause_reading(self):
        self.paused = True

    def resume_reading(self):
        self.paused = False


def echo_app(environ, start_response):
    """Answers with what it received, so tests can see the environ."""
    body = environ["wsgi.input"].read()
    text = (
        f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {environ.get('CONTENT_TYPE', '-')} "
        f"{environ.get('HTTP_ACCEPT', '-')} {len(body)} ".encode()
        + body
    )
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "999")])
    return [text]


def in_loop(test):
    """Run a test body with a running event loop (the connection arms timers on it)."""

    async def body():
        return test()

    return asyncio.run(body())


def connection(app=echo_app, max_body_bytes=1000, closed=None) -> tuple[HttpConnection, FakeTransport]:
    conn = HttpConnection(
        app,
        max_body_bytes=max_body_bytes,
        keepalive_s=5,
        request_timeout_s=2,
        clock=_Clock(),
        on_close=(closed.append if closed is not None else lambda c: None),
        log=logging.getLogger("test"),
    )
    transport = FakeTransport()
    conn.connection_made(transport)
    return conn, transport


def responses(transport: FakeTransport) -> list[tuple[str, dict, bytes]]:
    """Split what was written into (status line, headers, body) triples."""
    data, answers = bytes(transport.written), []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        length = 0 if lines[0].startswith("HTTP/1.1 100") else int(headers["Content-Length"])
        answers.append((lines[0], headers, data[:length]))
        data = data[length:]
    return answers


class TestParseHead:
    def test_request_line_and_headers(self):
        request = parse_head(b"POST /invocations HTTP/1.1\r\nContent-Type: text/csv\r\nContent-Length: 12\r\nX-A:  b ")
        assert (request.method, request.target, request.version) == ("POST", "/invocations", "HTTP/1.1")
        assert request.headers == [("content-type", "text/csv"), ("content-length", "12"), ("x-a", "b")]
        assert request.length == 12 and request.keep_alive and not request.chunked

    @pytest.mark.parametrize(
        ("head", "keep_alive"),
        [
            (b"GET / HTTP/1.1", True),
            (b"GET / HTTP/1.1\r\nConnection: close", False),
            (b"GET / HTTP/1.0", False),
            (b"GET / HTTP/1.0\r\nConnection: Keep-Alive", True),
        ],
    )
    def test_keep_alive_defaults(self, head, keep_alive):
        assert parse_head(head).keep_alive is keep_alive

    @pytest.mark.parametrize(
        ("head", "status", "fragment"),
        [
            (b"GARBAGE", 400, "malformed request line"),
            (b"GET /a b HTTP/1.1", 400, "malformed request line"),
            (b"GET / HTTP/2.0", 505, "HTTP/2.0"),
            (b"GET / SPDY", 400, "unsupported protocol"),
            (b"GET / HTTP/1.1\r\nNoColon", 400, "malformed header line"),
            (b"GET / HTTP/1.1\r\nName : v", 400, "malformed header line"),
            (b"GET / HTTP/1.1\r\nA: b\r\n folded", 400, "malformed header line"),
            (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked", 400, "both Content-Length"),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip", 501, "'gzip'"),
            (b"POST / HTTP/1.1\r\nContent-Length: -1", 400, "invalid Content-Length"),
            (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6", 400, "invalid Content-Length"),
            (b"GET / HTTP/1.1" + b"\r\nA: b" * 101, 431, "more than 100 header fields"),
        ],
    )
    def test_malformed_heads(self, head, status, fragment):
        with pytest.raises(ProtocolError) as caught:
            parse_head(head)
        assert caught.value.status == status and fragment in caught.value.message


class TestConnection:
    def test_request_split_across_reads_then_kept_alive(self):
        def test():
            conn, transport = connection()
            for piece in (
                b"POST /invocations HTTP/1.1\r\nContent-Ty",
                b"pe: text/csv\r\nAccept: text/csv\r\n",
                b"Content-Length: 7\r\n\r\n1,2",
                b",3,4",
            ):
                conn.data_received(piece)
            [(status, headers, body)] = responses(transport)
            assert status == "HTTP/1.1 200 OK" and body == b"POST /invocations text/csv text/csv 7 1,2,3,4"
            assert headers["Content-Length"] == str(len(body)) and headers["Connection"] == "keep-alive"
            assert "Date" in headers and not transport.closed and conn.idle

        in_loop(test)

    def test_pipelined_requests_are_answered_in_order(self):
        def test():
            conn, transport = connection()
            conn.data_received(
                b"POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nxGET /b HTTP/1.1\r\n\r\n"
                b"GET /c HTTP/1.1\r\nConnection: close\r\n\r\nGET /d HTTP/1.1\r\n\r\n"
            )
            bodies = [body.split(b" ")[1] for _, _, body in responses(transport)]
            assert bodies == [b"/a", b"/b", b"/c"] and transport.closed  # /d comes after "close"

        in_loop(test)

    def test_chunked_body_with_extensions_and_trailers(self):
        def test():
            conn, transport = connection()
            conn.data_received(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n1,2,\r\n3\r\n3,4")
            conn.data_received(b"\r\n0\r\nX-Trailer: t\r\n\r\n")
            conn.data_received(b"POST /y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            (_, _, first), (_, _, second) = responses(transport)
            assert first.endswith(b" 7 1,2,3,4") and second.endswith(b" 0 ")

        in_loop(test)

    def test_bad_chunk_size_is_400_and_closes(self):
        def test():
            conn, transport = connection()
            conn.data_received(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
            [(status, headers, body)] = responses(transport)
            assert status == "HTTP/1.1 400 Bad Request" and b"invalid chunk size" in body
            assert headers["Connection"] == "close" and transport.eof

        in_loop(test)

    def test_expect_100_continue(self):
        def test():
            conn, transport = connection()
            conn.data_received(b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
            assert bytes(transport.written) == b"HTTP/1.1 100 Continue\r\n\r\n"
            conn.data_received(b"abc")
            assert [status for status, _, _ in responses(transport)] == ["HTTP/1.1 100 Continue", "HTTP/1.1 200 OK"]

        in_loop(test)

    def test_oversized_body_is_refused_before_it_is_read_and_drained(self):
        def test():
            conn, transport = connection(max_body_bytes=10)
            conn.data_received(b"POST /x HTTP/1.1\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
            [(status, headers, body)] = responses(transport)  # no "100 Continue" for a refused body
            assert status == "HTTP/1.1 413 Content Too Large" and b"11 bytes exceeds the limit of 10" in body
            assert transport.eof and not transport.closed  # half-closed: the client can still read the answer
            conn.data_received(b"the body arriving anyway")
            assert len(responses(transport)) == 1 and not conn.buffer
            conn._expire()
            assert transport.closed

        in_loop(test)

    def test_oversized_chunked_body(self):
        def test():
            conn, transport = connection(max_body_bytes=4)
            conn.data_received(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n")
            assert responses(transport)[0][0] == "HTTP/1.1 413 Content Too Large"

        in_loop(test)

    def test_oversized_head_is_431(self):
        def test():
            conn, transport = connection()
            conn.data_received(b"GET / HTTP/1.1\r\nX: " + b"a" * (server_http.MAX_HEAD_BYTES + 1))
            assert responses(transport)[0][0] == "HTTP/1.1 431 Request Header Fields Too Large"

        in_loop(test)

    def test_head_request_gets_length_without_body(self):
        def test():
            conn, transport = connection()
            conn.data_received(b"HEAD /ping HTTP/1.1\r\n\r\n")
            head, _, rest = bytes(transport.written).partition(b"\r\n\r\n")
            assert b"Content-Length: 17" in head and rest == b""

        in_loop(test)

    def test_application_failure_is_500_and_the_connection_lives_on(self, caplog):
        def broken(environ, start_response):
            raise RuntimeError("kaput")

        def test():
            conn, transport = connection(app=broken)
            conn.data_received(b"GET /x HTTP/1.1\r\n\r\n")
            assert responses(transport)[0][0] == "HTTP/1.1 500 Internal Server Error" and not transport.closed

        in_loop(test)
        assert "kaput" in caplog.text

    def test_incomplete_request_times_out_with_408(self):
        def test():
            conn, transport = connection()
            conn.data_received(b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n123")
            conn._expire()
            [(status, _, body)] = responses(transport)
            assert status == "HTTP/1.1 408 Request Timeout" and b"within 2 s" in body

        in_loop(test)

    def test_idle_connection_expires_quietly(self):
        def test():
            closed = []
            conn, transport = connection(closed=closed)
            conn._expire()
            assert transport.closed and transport.written == b""
            conn.connection_lost(None)
            assert closed == [conn]

        in_loop(test)

    def test_app_connection_close_header_closes(self):
        def closing(environ, start_response):
            start_response("413 Content Too Large", [("Connection", "close"), ("Content-Type", "text/plain")])
            return [b"too big\n"]

        def test():
            conn, transport = connection(app=closing)
            conn.data_received(b"GET / HTTP/1.1\r\n\r\n")
            assert responses(transport)[0][1]["Connection"] == "close" and transport.closed

        in_loop(test)

    def test_reading_pauses_while_the_client_does_not_read(self):
        def test():
            conn, transport = connection()
            conn.pause_writing()
            assert transport.paused
            conn.resume_writing()
            assert not transport.paused

        in_loop(test)
