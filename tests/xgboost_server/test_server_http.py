"""The real server (`python -m xgboost_container.serve`, gunicorn, 2 workers) on a loopback port."""

from __future__ import annotations

import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import boto3
import numpy as np
import psutil
import pytest
from shared_http.raw_http import exchange, post, split_responses

from .server_support import FEATURES, ServerProcess, regression_rows

pytestmark = pytest.mark.e2e


def request(
    server,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict | None = None,
    connection: http.client.HTTPConnection | None = None,
) -> tuple[int, dict, bytes]:
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        if own:
            connection.close()


def csv_of(features: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in features).encode()


def test_ping(server):
    assert request(server, "GET", "/ping")[0] == 200


def test_csv_batch_matches_in_process_prediction(server, model):
    features = regression_rows(1000, seed=3)[0]
    status, headers, body = request(server, "POST", "/invocations", csv_of(features), {"Content-Type": "text/csv"})
    assert status == 200 and headers["Content-Type"] == "text/csv"
    assert np.array_equal(np.array(body.decode().split(), dtype=np.float32), model.predict(features))


def test_json_in_and_out(server, model):
    features = regression_rows(3, seed=4)[0]
    status, headers, body = request(
        server,
        "POST",
        "/invocations",
        json.dumps({"instances": features.tolist()}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert np.allclose(json.loads(body)["predictions"], model.predict(features), rtol=1e-7)


def test_sagemaker_runtime_client_reaches_the_endpoint_path(server, model, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    runtime = boto3.client("sagemaker-runtime", region_name="us-east-1", endpoint_url=server.url)
    features = regression_rows(2, seed=5)[0]
    response = runtime.invoke_endpoint(
        EndpointName="abalone-staging", ContentType="text/csv", Accept="application/json", Body=csv_of(features)
    )
    assert response["ContentType"] == "application/json"
    assert np.allclose(json.loads(response["Body"].read())["predictions"], model.predict(features), rtol=1e-7)


def test_keep_alive_connection_serves_many_requests(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(5):
            assert (
                request(server, "POST", "/invocations", b"1,2,3,4", {"Content-Type": "text/csv"}, connection)[0] == 200
            )
    finally:
        connection.close()


def test_chunked_upload(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/invocations",
            body=iter([b"1,2,3,4\n", b"5,6,7,8\n"]),
            headers={"Content-Type": "text/csv"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        assert response.status == 200 and len(response.read().split()) == 2
    finally:
        connection.close()


def test_oversized_body_is_refused(server):
    status, _, body = request(server, "POST", "/invocations", b"1,2,3,4\n" * 20000, {"Content-Type": "text/csv"})
    assert status == 413 and b"100000" in body


def test_concurrent_clients(server, model):
    features = regression_rows(20, seed=6)[0]
    expected = model.predict(features)

    def client(index: int) -> bool:
        rows = features[index : index + 1]
        status, _, body = request(server, "POST", "/invocations", csv_of(rows), {"Content-Type": "text/csv"})
        return status == 200 and float(body) == pytest.approx(float(expected[index]), rel=1e-6)

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(client, [i % 20 for i in range(160)]))


def test_pipelined_requests_answered_together_each_get_their_own_answer(server, model):
    """Requests read in one go are predicted with one call; each answer must still be its own."""
    one, five = regression_rows(1, seed=11)[0], regression_rows(5, seed=12)[0]
    data = (
        post("/invocations", csv_of(one))
        + post("/invocations", b"1,2,3")  # wrong feature count: refused alone
        + post("/invocations", json.dumps({"instances": five.tolist()}).encode(), "application/json")
        + post("/invocations", csv_of(one), extra=b"Connection: close\r\n")
    )
    received, closed = exchange(server.port, data)
    answers = split_responses(received)
    assert closed and [answer.status for answer in answers] == [200, 400, 200, 200]
    assert float(answers[0].body) == pytest.approx(float(model.predict(one)[0]), rel=1e-6)
    assert b"4 features" in answers[1].body
    assert json.loads(answers[2].body)["predictions"] == pytest.approx(model.predict(five).tolist(), rel=1e-6)
    assert answers[3].body == answers[0].body


def test_client_errors_never_end_a_worker(server):
    bad_requests = [
        (b"1,2,3,4", {"Content-Type": "application/xml"}, 415),
        (b"", {"Content-Type": "text/csv"}, 400),
        (b"1,2,3", {"Content-Type": "text/csv"}, 400),
        (b"1,2,three,4", {"Content-Type": "text/csv"}, 400),
        (b'{"instances": [[1, 2, 3, "4"]]}', {"Content-Type": "application/json"}, 400),
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (b"\xff\xfe\x00", {"Content-Type": "text/csv"}, 400),
        (b"1,2,3,4", {"Content-Type": "text/csv", "Accept": "image/png"}, 406),
    ]
    for _ in range(3):
        for body, headers, expected in bad_requests:
            status, _, message = request(server, "POST", "/invocations", body, headers)
            assert status == expected and message.strip(), message
    assert request(server, "POST", "/invocations", b"1,2,3,4", {"Content-Type": "text/csv"})[0] == 200
    log = server.log()
    assert log.count("Booting worker") == 2, log
    assert "Traceback" not in log and "Worker exiting" not in log


def test_model_load_logged_with_its_device(server):
    assert f"{FEATURES} features" in server.log() and "predictor device cpu" in server.log()


def test_no_control_socket_is_opened(server):
    """gunicorn's runtime-management socket is off: the server is controlled by signals only."""
    assert "Control socket" not in server.log()


def test_url_of_server_is_loopback(server):
    assert urlsplit(server.url).hostname == "127.0.0.1"


def raw_exchange(server, data: bytes, expect_close: bool = False) -> bytes:
    """Send raw bytes on a new connection; return everything read until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
        client.sendall(data)
        client.settimeout(0.5 if not expect_close else 5)
        received = b""
        try:
            while chunk := client.recv(65536):
                received += chunk
        except TimeoutError:
            assert not expect_close, f"server did not close the connection; got {received!r}"
        return received


def test_pipelined_requests_on_one_connection(server):
    request = b"POST /invocations HTTP/1.1\r\nContent-Type: text/csv\r\nContent-Length: 7\r\n\r\n1,2,3,4"
    answer = raw_exchange(server, request * 3)
    assert answer.count(b"HTTP/1.1 200 OK") == 3


def test_expect_100_continue(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
        client.sendall(
            b"POST /invocations HTTP/1.1\r\nContent-Type: text/csv\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n"
        )
        assert client.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        client.sendall(b"1,2,3,4")
        assert client.recv(1000).startswith(b"HTTP/1.1 200 OK")


def test_malformed_request_gets_400_and_a_closed_connection(server):
    answer = raw_exchange(server, b"HELLO\r\n\r\n", expect_close=True)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request") and b"malformed request: Invalid method" in answer


def test_http_1_0_client_gets_its_connection_closed(server):
    answer = raw_exchange(server, b"GET /ping HTTP/1.0\r\n\r\n", expect_close=True)
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in answer


def test_keep_alive_connections_are_spread_over_the_workers(server):
    """Each worker holds some of 8 keep-alive connections (not all on one, which would idle the other)."""
    clients = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=10) for _ in range(8)]
    try:
        for client in clients:
            assert request(server, "POST", "/invocations", b"1,2,3,4", {"Content-Type": "text/csv"}, client)[0] == 200
        workers = psutil.Process(server.process.pid).children()
        held = [
            sum(
                1
                for c in worker.net_connections()
                if c.laddr and c.laddr.port == server.port and c.status == psutil.CONN_ESTABLISHED
            )
            for worker in workers
        ]
        assert len(held) == 2 and sum(held) == 8 and min(held) >= 2, held
    finally:
        for client in clients:
            client.close()


def test_stops_promptly_on_sigterm_with_idle_connections_open(model_dir, tmp_path):
    with ServerProcess(model_dir, tmp_path / "server.log") as running:
        idle = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
        assert request(running, "GET", "/ping", connection=idle)[0] == 200
        started = time.monotonic()
        running.process.terminate()
        running.process.wait(timeout=15)
        assert time.monotonic() - started < 5, running.log()
        idle.close()
    assert "Shutting down: Master" in running.log()
