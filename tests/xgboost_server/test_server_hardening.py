"""Defects found by probing the model server, each checked against the real server over raw sockets.

Every test here failed on the hand-written HTTP layer the server had before (see the module's
entries in the server README); they hold the limits and the strict parsing that replaced it.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from shared_http.raw_http import exchange, post, read_one_response, read_until_closed, split_responses

from .server_support import ServerProcess

pytestmark = pytest.mark.e2e

ROW = b"1,2,3,4"
LIMITS = {
    "MODEL_SERVER_MAX_BODY_BYTES": "1024",
    "MODEL_SERVER_MAX_HEAD_BYTES": "4096",
    "MODEL_SERVER_REQUEST_DEADLINE_S": "1",
    "MODEL_SERVER_MAX_CONNECTIONS_PER_WORKER": "4",
}


@pytest.fixture(scope="module")
def limited(model_dir, tmp_path_factory):
    """One worker with small limits: 1 KiB bodies, 4 KiB heads, 1 s to send a request, 4 connections."""
    with ServerProcess(model_dir, tmp_path_factory.mktemp("limited") / "server.log", workers=1, env=LIMITS) as server:
        yield server


def statuses(data: bytes) -> list[int]:
    return [answer.status for answer in split_responses(data)]


# --- body and head limits -------------------------------------------------------------------------


def test_chunked_body_over_the_limit_is_refused_while_it_streams(limited):
    """A 20 MB chunk against a 1 KiB limit: 413 after the first kilobytes, not after 20 MB."""
    with socket.create_connection(("127.0.0.1", limited.port), timeout=5) as client:
        client.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % (20 * 1024 * 1024) + b"1" * 8192
        )
        answer = read_one_response(client, timeout=5)
    assert answer is not None and answer.status == 413 and b"1024" in answer.body


def test_chunk_trailers_count_against_the_body_limit(limited):
    with socket.create_connection(("127.0.0.1", limited.port), timeout=5) as client:
        client.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"7\r\n1,2,3,4\r\n0\r\nX-Trailer: " + b"a" * 16384
        )
        answer = read_one_response(client, timeout=5)
    assert answer is not None and answer.status == 413


def test_complete_head_larger_than_the_limit_is_431(limited):
    received, _ = exchange(limited.port, post("/invocations", ROW, extra=b"X-Big: " + b"a" * 8000 + b"\r\n"))
    assert statuses(received) == [431]


def test_content_length_over_the_limit_is_413_before_the_body(limited):
    received, closed = exchange(limited.port, post("/invocations", b"1" * 2000))
    [answer] = split_responses(received)
    assert answer.status == 413 and b"2000" in answer.body and closed


# --- deadline and connection cap ------------------------------------------------------------------


def test_a_request_dribbled_byte_by_byte_meets_the_deadline(limited):
    """Slowloris: each byte arrives in time for an inactivity timer, the whole request never does."""
    with socket.create_connection(("127.0.0.1", limited.port), timeout=5) as client:
        client.sendall(b"POST /invocations HTTP/1.1\r\n")
        started = time.monotonic()
        received = b""
        while time.monotonic() - started < 6 and not received:
            try:
                client.sendall(b"X-A: b\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            client.settimeout(0.3)
            try:
                received = client.recv(65536)
            except TimeoutError:
                pass
        received += read_until_closed(client, 2)[0]
    assert statuses(received) == [408] and b"1 s" in split_responses(received)[0].body


def test_connections_over_the_cap_wait_until_one_closes(limited):
    held = [socket.create_connection(("127.0.0.1", limited.port), timeout=5) for _ in range(4)]
    try:
        for client in held:
            client.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
            answer = read_one_response(client, timeout=5)
            assert answer is not None and answer.status == 200
        with socket.create_connection(("127.0.0.1", limited.port), timeout=5) as extra:
            extra.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_one_response(extra, timeout=1) is None  # the worker holds its 4 connections
            held.pop().close()
            answer = read_one_response(extra, timeout=5)
            assert answer is not None and answer.status == 200
    finally:
        for client in held:
            client.close()


# --- strict parsing -------------------------------------------------------------------------------


def chunked(size_line: bytes) -> bytes:
    return (
        b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
        + size_line
        + b"\r\n1,2,3,4\r\n0\r\n\r\n"
    )


@pytest.mark.parametrize("size", [b"0x7", b"+7", b"0_7", b"-7", b" 7"])
def test_lenient_chunk_sizes_are_400(server, size):
    received, closed = exchange(server.port, chunked(size))
    assert statuses(received) == [400] and closed


@pytest.mark.parametrize(
    "fields",
    [
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
        b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
    ],
)
def test_transfer_encodings_other_than_one_chunked_are_400(server, fields):
    request = (
        b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\n"
        + fields
        + b"\r\n7\r\n1,2,3,4\r\n0\r\n\r\n"
    )
    received, _ = exchange(server.port, request)
    assert statuses(received) == [400]


@pytest.mark.parametrize("name", [b"Bad Name", b"Bad\x01Name", b"Bad(Name)", b"Bad/Name"])
def test_invalid_header_names_are_400(server, name):
    received, _ = exchange(server.port, post("/invocations", ROW, extra=name + b": x\r\n"))
    assert statuses(received) == [400]


@pytest.mark.parametrize("value", [b"\xb2", b"7\xb9", "\u0663".encode()])  # latin-1 superscripts, an Arabic digit
def test_non_ascii_digits_in_content_length_are_400_not_a_dropped_connection(server, value):
    request = b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: "
    received, closed = exchange(server.port, request + value + b"\r\n\r\n" + ROW)
    assert statuses(received) == [400] and closed


def test_empty_lines_before_pipelined_requests_are_ignored(server):
    request = post("/invocations", ROW)
    received, _ = exchange(server.port, b"\r\n" + request + b"\r\n" + request)
    assert statuses(received) == [200, 200]


# --- bad input at the application level -----------------------------------------------------------


def invoke(server, body: bytes, content_type: str, accept: str | None = None) -> tuple[int, bytes]:
    extra = f"Accept: {accept}\r\n".encode() if accept else b""
    received, _ = exchange(server.port, post("/invocations", body, content_type, extra))
    [answer] = split_responses(received)
    return answer.status, answer.body


def test_deeply_nested_json_is_400(server):
    status, message = invoke(server, b"[" * 49000 + b"]" * 49000, "application/json")  # within the body limit
    assert status == 400 and b"nested too deeply" in message


def test_a_400_digit_json_integer_is_400(server):
    status, message = invoke(server, b"[[" + b"9" * 400 + b", 1, 2, 3]]", "application/json")
    assert status == 400 and b"non-finite number" in message and b"column 3" in message


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (b"inf,1,2,3", "text/csv", b"'inf' at row 1, column 1"),
        (b"1,-inf,2,3", "text/csv", b"'-inf' at row 1, column 2"),
        (b"1,2,1e400,3", "text/csv", b"'1e400' at row 1, column 3"),
        (b"1,2,3,1e39", "text/csv", b"'1e39' at row 1, column 4"),  # finite as a double, not as float32
        (b"[[1, 2, 3, 1e39]]", "application/json", b"1e+39 at row 1, column 4"),
        (b"[[1e400, 1, 2, 3]]", "application/json", b"non-finite number in the JSON body"),
        (b"[[Infinity, 1, 2, 3]]", "application/json", b"not valid JSON: unexpected character"),
        (b"[[1, 2, 3, -Infinity]]", "application/json", b"not valid JSON"),
    ],
)
def test_infinite_values_are_400_naming_the_position(server, body, content_type, fragment):
    status, message = invoke(server, body, content_type)
    assert status == 400 and fragment in message and b"column" in message


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"\xef\xbb\xbf1,2,3,4", "text/csv"), (b'\xef\xbb\xbf{"instances": [[1, 2, 3, 4]]}', "application/json")],
)
def test_a_utf8_byte_order_mark_is_tolerated(server, body, content_type):
    status, answer = invoke(server, body, content_type)
    assert status == 200, answer


def test_nan_is_a_missing_value_and_the_answer_is_strict_json(server):
    status, answer = invoke(server, b"nan,,2,3", "text/csv", accept="application/json")
    assert status == 200
    document = json.loads(answer, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert len(document["predictions"]) == 1
