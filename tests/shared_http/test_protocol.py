"""`HttpConnection` driven in process: parsing, limits, timers, answers (what the worker runs per client)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from http_serving import HttpError, Request, Response
from http_serving.batching import MAX_TURNS, RequestBatcher
from http_serving.protocol import FEED_SLICE, Clock, HttpConnection
from http_serving.settings import Limits

from .raw_http import split_responses as split


class FakeTransport(asyncio.Transport):
    """Records what the connection writes; closes like a socket transport."""

    def __init__(self):
        super().__init__()
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

    def pause_reading(self):
        self.paused = True

    def resume_reading(self):
        self.paused = False


def echo(request: Request) -> Response:
    """Answers with what it received, so tests can see the request."""
    text = f"{request.method} {request.path} {request.query} {sorted(request.headers.items())} {len(request.body)} "
    return Response(200, text.encode() + request.body)


LIMITS = Limits(max_body_bytes=1000, max_head_bytes=2048, max_header_fields=10, request_deadline_s=2, keepalive_s=5)


class Client:
    """One connection with a fake transport, inside a running event loop."""

    def __init__(self, app=echo, limits: Limits = LIMITS, batcher: RequestBatcher | None = None):
        self.closed_callbacks: list[HttpConnection] = []
        self.batcher = batcher or RequestBatcher(app, logging.getLogger("test"))
        self.connection = HttpConnection(
            self.batcher, limits, clock=Clock(), on_close=self.closed_callbacks.append, log=logging.getLogger("test")
        )
        self.transport = FakeTransport()
        self.connection.connection_made(self.transport)

    def send(self, *pieces: bytes, flush: bool = True) -> Client:
        """Deliver each piece as one read; then answer what completed, as the next loop turn would."""
        for piece in pieces:
            self.connection.data_received(piece)
            if flush:
                self.batcher.flush()
        return self

    @property
    def answers(self):
        return split(bytes(self.transport.written))

    @property
    def statuses(self) -> list[int]:
        return [answer.status for answer in self.answers]


def run(test):
    """Run a test body in an event loop (the connection arms timers on it)."""

    async def body():
        return test()

    return asyncio.run(body())


def test_request_split_across_reads_then_kept_alive():
    def test():
        client = Client().send(
            b"POST /invo%63ations?x=1 HTTP/1.1\r\nContent-Ty",
            b"pe: text/csv\r\nAccept: a\r\nAccept: b\r\n",
            b"Content-Length: 7\r\n\r\n1,2",
            b",3,4",
        )
        [answer] = client.answers
        assert answer.status == 200 and answer.headers["connection"] == "keep-alive" and "date" in answer.headers
        assert answer.body.startswith(b"POST /invocations x=1 ") and answer.body.endswith(b" 7 1,2,3,4")
        assert b"('accept', 'a, b')" in answer.body  # repeated fields are joined
        assert not client.transport.closed and client.connection.idle

    run(test)


def test_pipelined_requests_are_answered_in_order_and_close_is_honoured():
    def test():
        client = Client().send(
            b"POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\nGET /b HTTP/1.1\r\n\r\n"
            b"GET /c HTTP/1.1\r\nConnection: close\r\n\r\nGET /d HTTP/1.1\r\n\r\n"
        )
        assert [answer.body.split(b" ")[1] for answer in client.answers] == [b"/a", b"/b", b"/c"]
        assert client.answers[-1].headers["connection"] == "close" and client.transport.eof  # half-closed
        assert client.connection.eof_received() is None  # the client closes its side: the transport closes

    run(test)


def test_chunked_body_with_extensions_and_trailers():
    def test():
        client = Client().send(
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n1,2,\r\n3\r\n3,4",
            b"\r\n0\r\nX-Trailer: t\r\n\r\n",
            b"POST /y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        )
        first, second = client.answers
        assert first.body.endswith(b" 7 1,2,3,4") and b"x-trailer" not in first.body
        assert second.body.endswith(b" 0 ")

    run(test)


@pytest.mark.parametrize(
    ("request_bytes", "status", "fragment"),
    [
        (b"HELLO\r\n\r\n", 400, b"malformed request"),
        (b"GET / HTTP/2.0\r\n\r\n", 400, b"HTTP/2.0 is not supported"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400, b"'gzip, chunked'"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, b"chunk size"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400, b"Duplicate Content-Length"),
        (b"POST / HTTP/1.1\r\nExpect: tea\r\nContent-Length: 1\r\n\r\nx", 417, b"'tea'"),
        (b"GET / HTTP/1.1" + b"\r\nA: b" * 11 + b"\r\n\r\n", 431, b"more than 10 header fields"),
    ],
)
def test_refused_requests_are_answered_then_the_connection_half_closes(request_bytes, status, fragment):
    def test():
        client = Client().send(request_bytes)
        [answer] = client.answers
        assert answer.status == status and fragment in answer.body and answer.headers["connection"] == "close"
        assert client.transport.eof and not client.transport.closed  # the client can still read the answer
        client.send(b"what the client still sends is dropped")
        assert len(client.answers) == 1
        client.connection._expire()
        assert client.transport.closed

    run(test)


def test_expect_100_continue():
    def test():
        client = Client().send(b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        assert bytes(client.transport.written) == b"HTTP/1.1 100 Continue\r\n\r\n"
        client.send(b"abc")
        assert client.statuses == [100, 200]

    run(test)


def test_declared_body_over_the_limit_is_413_without_100_continue():
    def test():
        client = Client().send(b"POST /x HTTP/1.1\r\nContent-Length: 1001\r\nExpect: 100-continue\r\n\r\n")
        [answer] = client.answers
        assert answer.status == 413 and b"1001 bytes exceeds the limit of 1000" in answer.body

    run(test)


def test_chunked_body_over_the_limit_is_refused_while_it_streams():
    def test():
        client = Client().send(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n")
        sent = 0
        while not client.answers and sent < 100_000:
            client.send(b"a" * 100)
            sent += 100
        assert client.statuses == [413] and sent <= 1100
        assert sum(map(len, client.connection.body)) <= 1000  # nothing past the limit is kept

    run(test)


@pytest.mark.parametrize(
    ("opening", "status"),
    [
        (b"GET / HTTP/1.1\r\nX-Endless: ", 431),  # one header value that never ends
        (b"GET / HTTP/1.1\r\nX-Endless", 431),  # one header name that never ends
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Trailer: ", 413),
    ],
)
def test_a_field_that_never_ends_is_refused_within_one_slice_of_the_limit(opening, status):
    """httptools collects a header or trailer field before it calls back: those bytes count too."""

    def test():
        client = Client().send(opening)
        sent = 0
        while not client.answers and sent < 1_000_000:
            client.send(b"a" * 700)
            sent += 700
        limit = LIMITS.max_head_bytes if status == 431 else LIMITS.max_body_bytes
        assert client.statuses == [status] and sent <= limit + FEED_SLICE + 700

    run(test)


def test_a_complete_head_over_the_limit_is_431_in_one_read():
    def test():
        client = Client().send(b"GET / HTTP/1.1\r\nX: " + b"a" * 3000 + b"\r\n\r\n")
        assert client.statuses == [431]

    run(test)


def test_bytes_without_a_request_line_are_refused():
    def test():
        assert Client().send(b"\r\n" * 2000).statuses == [400]

    run(test)


def test_empty_lines_between_pipelined_requests_are_skipped():
    def test():
        assert Client().send(b"\r\n\r\nGET /a HTTP/1.1\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n").statuses == [200, 200]

    run(test)


def test_head_request_gets_the_length_without_the_body():
    def test():
        client = Client().send(b"HEAD /ping HTTP/1.1\r\n\r\n")
        head, _, rest = bytes(client.transport.written).partition(b"\r\n\r\n")
        assert b"Content-Length: 17" in head and rest == b""  # len(b"HEAD /ping  [] 0 ")

    run(test)


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
    ],
)
def test_keep_alive_defaults_of_each_version(head, keep_alive):
    def test():
        client = Client().send(head)
        assert client.answers[0].headers["connection"] == ("keep-alive" if keep_alive else "close")
        assert client.transport.eof is not keep_alive

    run(test)


def test_application_errors():
    def app(request: Request) -> Response:
        if request.path == "/refuse":
            raise HttpError(422, "no thanks", (("X-Why", "because"),))
        if request.path == "/close":
            return Response(200, b"bye", close=True)
        raise RuntimeError("kaput")

    def test():
        client = Client(app).send(b"GET /refuse HTTP/1.1\r\n\r\nGET /boom HTTP/1.1\r\n\r\nGET /close HTTP/1.1\r\n\r\n")
        refused, failed, closed = client.answers
        assert (refused.status, refused.body, refused.headers["x-why"]) == (422, b"no thanks\n", "because")
        assert failed.status == 500 and failed.headers["connection"] == "keep-alive"
        assert closed.headers["connection"] == "close" and client.transport.eof

    run(test)


def test_an_application_failure_is_logged(caplog):
    def app(request: Request) -> Response:
        raise RuntimeError("kaput")

    run(lambda: Client(app).send(b"GET /x HTTP/1.1\r\n\r\n"))
    assert "error handling GET /x" in caplog.text and "kaput" in caplog.text


def test_an_incomplete_request_meets_its_deadline_with_408():
    def test():
        client = Client().send(b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n123")
        client.connection._expire()
        [answer] = client.answers
        assert answer.status == 408 and b"within 2 s" in answer.body

    run(test)


def test_the_deadline_starts_with_the_first_byte_and_is_not_extended_by_more():
    def test():
        client = Client().send(b"P")
        armed = client.connection.timer.when()
        client.send(b"OST /x HTTP/1.1\r\n", b"X: y\r\n")
        assert client.connection.timer.when() == armed

    run(test)


def test_an_idle_connection_expires_quietly():
    def test():
        client = Client()
        client.connection._expire()
        assert client.transport.closed and client.transport.written == b""
        client.connection.connection_lost(None)
        assert client.closed_callbacks == [client.connection]

    run(test)


def test_end_of_input_mid_request_is_400_and_when_idle_closes():
    def test():
        client = Client().send(b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n123")
        assert client.connection.eof_received() is True and client.statuses == [400]
        assert Client().connection.eof_received() is None

    run(test)


def test_an_upgrade_request_is_answered_in_http_1_1_then_closed():
    def test():
        client = Client().send(b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
        assert client.statuses == [200] and client.transport.eof
        client.connection._expire()  # the client lingers: closed after LINGER_S
        assert client.transport.closed

    run(test)


def test_reading_pauses_while_the_client_does_not_read():
    def test():
        client = Client()
        client.connection.pause_writing()
        assert client.transport.paused
        client.connection.resume_writing()
        assert not client.transport.paused

    run(test)


class BatchEcho:
    """`echo` that also answers many requests in one call, recording each call's size."""

    def __init__(self, fail_batches: bool = False):
        self.calls: list[int] = []
        self.fail_batches = fail_batches

    def __call__(self, request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("kaput")
        if request.path == "/close":
            return Response(200, b"bye", close=True)
        return echo(request)

    def call_many(self, requests, answer_one):
        self.calls.append(len(requests))
        if self.fail_batches:
            raise RuntimeError("the batch failed")
        return [answer_one(request) for request in requests]


def test_requests_completed_in_one_loop_turn_share_one_call_and_are_answered_on_their_own_connections():
    def test():
        app = BatchEcho()
        first = Client(app)
        second = Client(app, batcher=first.batcher)
        first.send(b"GET /a1 HTTP/1.1\r\n\r\nGET /a2 HTTP/1.1\r\n\r\n", flush=False)
        second.send(b"GET /b1 HTTP/1.1\r\n\r\n", flush=False)
        assert first.transport.written == second.transport.written == b""  # nothing before the turn ends
        assert not first.connection.idle
        first.batcher.flush()
        assert app.calls == [3]
        assert [answer.body.split(b" ")[1] for answer in first.answers] == [b"/a1", b"/a2"]
        assert [answer.body.split(b" ")[1] for answer in second.answers] == [b"/b1"]
        assert first.connection.idle and not first.transport.eof

    run(test)


def test_a_lone_request_is_answered_by_the_application_itself():
    def test():
        app = BatchEcho()
        assert Client(app).send(b"GET /a HTTP/1.1\r\n\r\n").statuses == [200] and app.calls == []

    run(test)


def test_what_follows_an_answer_not_computed_yet_is_written_after_it():
    def test():
        client = Client().send(
            b"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", flush=False
        )
        assert client.transport.written == b""  # not even the 100 Continue of the second request
        client.batcher.flush()
        assert client.statuses == [200, 100]
        client.send(b"abcGET / HTTP/9.9\r\n\r\n", flush=False)  # the second request, then a refused third
        assert client.statuses == [200, 100] and not client.transport.eof
        client.batcher.flush()
        assert client.statuses == [200, 100, 200, 400] and client.transport.eof

    run(test)


def test_the_client_closing_its_side_waits_for_the_answers_being_computed():
    def test():
        client = Client().send(b"GET /a HTTP/1.1\r\n\r\n", flush=False)
        assert client.connection.eof_received() is True and not client.transport.closed
        client.batcher.flush()
        assert client.statuses == [200] and client.transport.closed

    run(test)


def test_a_connection_lost_before_its_answer_is_computed_is_skipped():
    def test():
        client = Client().send(b"GET /a HTTP/1.1\r\n\r\n", flush=False)
        client.transport.close()
        client.connection.connection_lost(ConnectionResetError())
        client.batcher.flush()
        assert client.transport.written == b"" and client.connection.idle

    run(test)


def test_the_deadline_does_not_close_a_connection_whose_answer_is_being_computed():
    def test():
        client = Client().send(b"GET /a HTTP/1.1\r\n\r\n", flush=False)
        client.connection._expire()
        assert not client.transport.closed
        client.batcher.flush()
        assert client.statuses == [200] and not client.transport.closed

    run(test)


def test_a_failing_batch_is_answered_one_by_one(caplog):
    def test():
        app = BatchEcho(fail_batches=True)
        client = Client(app).send(b"GET /a HTTP/1.1\r\n\r\nGET /boom HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n")
        assert app.calls == [3] and client.statuses == [200, 500, 200]

    run(test)
    assert "answering them one by one" in caplog.text and "error handling GET /boom" in caplog.text


def test_an_answer_that_closes_drops_the_requests_read_after_it():
    def test():
        client = Client(BatchEcho()).send(b"GET /close HTTP/1.1\r\n\r\nGET /later HTTP/1.1\r\n\r\n")
        assert client.statuses == [200] and client.answers[0].headers["connection"] == "close"
        assert client.transport.eof and client.connection.idle

    run(test)


def test_a_timer_that_fires_before_the_current_expiry_waits_for_it():
    """The keep-alive expiry set by an answer outlives the earlier deadline timer, which re-arms."""

    async def test():
        limits = Limits(max_body_bytes=1000, request_deadline_s=0.05, keepalive_s=0.3)
        client = Client(limits=limits).send(b"GET /a HTTP/1.1\r\n\r\n")
        deadline_timer = client.connection.timer
        assert deadline_timer.when() < client.connection.expiry  # the answer set a later expiry
        await asyncio.sleep(0.15)  # past the deadline: the connection is idle and kept alive
        assert not client.transport.closed and client.connection.timer is not deadline_timer
        await asyncio.sleep(0.3)  # past the keep-alive expiry
        assert client.transport.closed and client.transport.written.count(b"HTTP/1.1 200") == 1

    asyncio.run(test())


def test_an_earlier_expiry_moves_the_timer_forward():
    def test():
        client = Client(limits=Limits(max_body_bytes=1000, request_deadline_s=1, keepalive_s=30))
        idle_due = client.connection.timer.when()
        client.send(b"P")  # a request begins: its deadline is sooner than the keep-alive expiry
        assert client.connection.timer.when() == client.connection.expiry < idle_due

    run(test)


def test_requests_arriving_while_the_batcher_waits_join_the_batch():
    async def test():
        app = BatchEcho()
        first = Client(app).send(b"GET /a HTTP/1.1\r\n\r\n", flush=False)
        await asyncio.sleep(0)  # one loop turn: a request arrived in it, so the batcher waits one more
        second = Client(app, batcher=first.batcher).send(b"GET /b HTTP/1.1\r\n\r\n", flush=False)
        for _ in range(MAX_TURNS + 1):
            await asyncio.sleep(0)
        assert app.calls == [2] and first.statuses == [200] and second.statuses == [200]

    asyncio.run(test())


def test_a_batch_is_answered_within_its_turns_while_requests_keep_coming():
    async def test():
        app = BatchEcho()
        first = Client(app).send(b"GET /first HTTP/1.1\r\n\r\n", flush=False)
        turns = 0
        while not first.transport.written:
            assert turns <= MAX_TURNS
            Client(app, batcher=first.batcher).send(b"GET /more HTTP/1.1\r\n\r\n", flush=False)
            await asyncio.sleep(0)
            turns += 1
        assert turns == MAX_TURNS and first.statuses == [200]
        assert app.calls[0] == MAX_TURNS + 1  # the first request and one more per turn

    asyncio.run(test())
