"""Fuzzing the real server (hypothesis): random bytes, random request heads, random CSV/JSON bodies,
huge and deeply nested bodies. Whatever arrives, the server answers with a status below 500 and
never drops a connection without an answer; its workers never restart.

Each test runs `MODEL_SERVER_FUZZ_EXAMPLES` examples (default 60, a few seconds); `make fuzz` runs
the long version.
"""

from __future__ import annotations

import json
import math
import os
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared_http.raw_http import exchange, split_responses

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("MODEL_SERVER_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
tokens = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=16)
field_names = st.one_of(
    st.sampled_from(
        ["Content-Type", "Accept", "Expect", "Transfer-Encoding", "Content-Length", "Connection", "Upgrade", "Host"]
    ),
    tokens,
).map(str.encode)
field_values = st.one_of(
    st.sampled_from(
        [
            b"text/csv",
            b"application/json",
            b"text/csv; charset=latin-1",
            b"*/*",
            b"text/*;q=0",
            b"chunked",
            b"gzip, chunked",
            b"100-continue",
            b"close",
            b"keep-alive",
            b"Upgrade",
            b"h2c",
            b"12",
            b"-1",
            b"0x10",
        ]
    ),
    st.binary(max_size=40),
)
media_types = st.one_of(
    st.sampled_from(
        ["text/csv", "application/json", "TEXT/CSV; charset=UTF-8", "application/json; charset=utf-16", "image/png"]
    ),
    st.text(max_size=30),
)
accepts = st.one_of(
    st.none(),
    st.sampled_from(["*/*", "text/csv", "application/json", "image/png", "text/*;q=0", "application/json;q=x"]),
    st.text(max_size=30),
)

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=10**300, max_value=10**400),  # beyond a double
    st.sampled_from([3.4e38, 3.5e38, -1e39, 1e-45]),
)
csv_rows = st.lists(
    st.lists(
        st.one_of(numbers.map(repr), st.sampled_from(["", "nan", "inf", "-Infinity", "x", '"1"', " 1 "])), max_size=8
    ),
    min_size=1,
    max_size=30,
)
csv_bodies = csv_rows.map(lambda rows: "\n".join(",".join(row) for row in rows).encode())
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=10),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=40,
)
json_bodies = st.one_of(
    json_values,
    st.lists(st.lists(numbers | st.none(), min_size=4, max_size=4), min_size=1, max_size=20).map(
        lambda rows: {"instances": rows}
    ),
).map(lambda document: json.dumps(document, allow_nan=True).encode())
deep_bodies = st.one_of(st.integers(min_value=1, max_value=80_000), st.sampled_from([1_100, 10_000, 49_000])).map(
    lambda depth: b"[" * depth + b"]" * depth
)
huge_bodies = st.integers(min_value=90_000, max_value=300_000).map(lambda size: (b"1,2,3,4\n" * (size // 8 + 1))[:size])
bodies = st.one_of(
    csv_bodies,
    json_bodies,
    deep_bodies,
    huge_bodies,
    st.binary(max_size=2000),
    st.sampled_from([b"\xef\xbb\xbf1,2,3,4", b"\xef\xbb\xbf", b"1,2,3,4\r\n\r\n", b"[1,2,3,4]"]),
)


def assert_answered_below_500(data: bytes, received: bytes, closed: bool) -> None:
    """Every answer is < 500; bytes other than empty lines got at least one answer; the server closed."""
    answers = split_responses(received)
    assert all(answer.status < 500 for answer in answers), [(a.status, a.body[:200]) for a in answers]
    if data.strip(b"\r\n"):
        assert answers, f"connection dropped without an answer for {data[:200]!r}"
    assert closed, f"server kept the connection open after the client finished: {data[:200]!r}"


@FUZZ
@given(data=st.binary(min_size=1, max_size=3000))
def test_random_bytes(server, data):
    received, closed = exchange(server.port, data)
    assert_answered_below_500(data, received, closed)


@st.composite
def requests(draw) -> bytes:
    """A request with a random request line, random header fields and a randomly framed body."""
    method = draw(
        st.sampled_from([b"GET", b"POST", b"HEAD", b"PUT", b"OPTIONS", b"CONNECT", b"TRACE"]) | tokens.map(str.encode)
    )
    target = draw(
        st.sampled_from([b"/invocations", b"/ping", b"/execution-parameters", b"/endpoints/a/invocations", b"*"])
        | st.text(max_size=30).map(lambda text: b"/" + text.encode())
    )
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.2", b"http/1.1", b""]))
    fields = draw(st.lists(st.tuples(field_names, field_values), max_size=8))
    body = draw(st.binary(max_size=200) | bodies)
    framing = draw(st.sampled_from(["length", "wrong-length", "chunked", "bad-chunks", "none"]))
    head = method + b" " + target + b" " + version + b"\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in fields)
    if framing == "length":
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    if framing == "wrong-length":
        return head + b"Content-Length: %d\r\n\r\n" % draw(st.integers(0, 400)) + body
    if framing == "chunked":
        pieces = [body[i : i + 700] for i in range(0, len(body), 700)]
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
        trailer = draw(st.sampled_from([b"", b"X-T: 1\r\n", b"X-T: " + b"t" * 200_000 + b"\r\n"]))
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n" + trailer + b"\r\n"
    if framing == "bad-chunks":
        size = draw(st.sampled_from([b"0x3", b"+3", b"-3", b" 3", b"3_0", b"ffffffffffffffffffff", b"", b"3;;"]))
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\nabc\r\n0\r\n\r\n"
    return head + b"\r\n" + body


@FUZZ
@given(data=requests())
def test_random_request_heads_and_framing(server, data):
    received, closed = exchange(server.port, data)
    assert_answered_below_500(data, received, closed)


@FUZZ
@given(body=bodies, content_type=media_types, accept=accepts, pipelined=st.booleans())
def test_random_bodies_to_the_model(server, body, content_type, accept, pipelined):
    head = f"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n"
    if accept is not None:
        head += f"Accept: {accept}\r\n"
    request = head.encode("utf-8", "surrogateescape") + b"Content-Length: %d\r\n\r\n" % len(body) + body
    data = request * (2 if pipelined else 1)
    received, closed = exchange(server.port, data)
    assert_answered_below_500(data, received, closed)
    for answer in split_responses(received):
        if answer.status == 200 and answer.headers["content-type"] == "application/json":
            document = json.loads(answer.body, parse_constant=lambda name: pytest.fail(f"{name} in a JSON answer"))
            assert all(v is None or math.isfinite(v) for v in document["predictions"])


def test_the_workers_survived_the_fuzzing(server):
    """Runs after the fuzz tests in this module: no worker restarted, no traceback was logged."""
    log = server.log()
    assert log.count("Booting worker") == server.workers, log[-3000:]
    assert "Traceback" not in log and "error handling" not in log, log[-3000:]
