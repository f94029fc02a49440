"""The model server over HTTP: the SageMaker hosting contract, top-k answers, engines chosen by setting, and
every kind of bad input refused with a 4xx and the seeds' error body while the server stays up."""

from __future__ import annotations

import io
import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from serving_support import ServerProcess, png

from pytorch_container import serve
from pytorch_container.predictor import PredictorSettings


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The default server (eager engine, top 3) with 2 workers."""
    with ServerProcess(model_dir, tmp_path_factory.mktemp("server") / "server.log") as running:
        yield running


def jpeg(pixels: np.ndarray, size: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((size, size), Image.Resampling.NEAREST).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


def test_ping_answers_once_every_worker_has_loaded_the_model(server: ServerProcess) -> None:
    assert server.request("GET", "/ping").status == 200
    assert server.log().count("ready: engine eager on cpu") == 2


def test_test_digits_over_http_get_the_top_3_classes_with_the_trained_accuracy(server, test_digits) -> None:
    pixels, labels = test_digits
    answers = [server.invoke(png(image), "image/png") for image in pixels[:150]]
    assert {(a.status, a.content_type) for a in answers} == {(200, "application/json")}
    tops = [a.json() for a in answers]
    assert all([sorted(c) for c in top] == [["className", "probability"]] * 3 for top in tops)
    assert all([c["probability"] for c in top] == sorted((c["probability"] for c in top), reverse=True) for top in tops)
    accuracy = np.mean([top[0]["className"] == str(label) for top, label in zip(tops, labels, strict=False)])
    assert accuracy >= 0.97


def test_the_runtime_apis_endpoint_path_and_jpeg_and_json_batches(server, test_digits) -> None:
    pixels, labels = test_digits
    direct = server.invoke(png(pixels[0]), "image/png").json()
    assert server.invoke(png(pixels[0]), "image/png", path="/endpoints/digits-staging/invocations").json() == direct
    assert server.invoke(jpeg(pixels[3], 64), "image/jpeg").json()[0]["className"] == str(labels[3])
    batch = json.dumps((pixels[:4, None] / 255.0).round(4).tolist()).encode()
    answer = server.invoke(batch, "application/json", accept="application/json")
    assert [top[0]["className"] for top in answer.json()] == [str(label) for label in labels[:4]]


def _bomb() -> bytes:
    """A 10,000 x 5,000 (50-megapixel) PNG of a few kilobytes."""
    buffer = io.BytesIO()
    Image.new("1", (10_000, 5_000)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("case", "content_type", "accept", "status", "reason"),
    [
        ("not an image", "image/png", None, 400, "the body is not a PNG image (its first bytes are b'%PDF-1.7"),
        ("truncated png", "image/png", None, 400, "the PNG image is truncated or corrupt"),
        ("decompression bomb", "image/png", None, 400, "50,000,000 pixels, more than the limit of 16,777,216"),
        ("wrong tensor shape", "application/json", None, 400, "a tensor of shape [3, 8, 8] does not fit the model"),
        ("empty body", "image/png", None, 400, "empty request body"),
        ("wrong content type", "text/csv", None, 415, "unsupported Content-Type 'text/csv'; send one of: image/png"),
        ("unanswerable accept", "image/png", "text/csv", 406, "cannot answer in any type of Accept 'text/csv'"),
        ("batch over the limit", "application/json", None, 413, "a batch of 65 images is more than the limit of 64"),
    ],
)
def test_bad_input_is_a_4xx_with_the_seeds_error_body(server, test_digits, case, content_type, accept, status, reason):
    whole = png(test_digits[0][0])
    body = {
        "not an image": b"%PDF-1.7\n...",
        "truncated png": whole[: len(whole) // 2],
        "decompression bomb": _bomb(),
        "wrong tensor shape": json.dumps(np.zeros((3, 8, 8)).tolist()).encode(),
        "empty body": b"",
        "wrong content type": b"1,2,3\n",
        "unanswerable accept": whole,
        "batch over the limit": json.dumps(np.zeros((65, 1, 8, 8)).tolist()).encode(),
    }[case]
    answer = server.invoke(body, content_type, accept=accept)
    assert (answer.status, answer.content_type) == (status, "application/json")
    message = answer.json()["status"]
    assert message.startswith("Invoke failed: ") and reason in message, message


def test_the_server_stays_up_after_bad_input(server, test_digits) -> None:
    for body in (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, _bomb(), b"[[[[[[" * 2000):
        assert 400 <= server.invoke(body, "image/png").status < 500
    assert server.invoke(png(test_digits[0][5]), "image/png").json()[0]["className"] == str(test_digits[1][5])
    assert server.alive() and server.log().count("Booting worker") == 2  # no worker was restarted
    assert "Traceback" not in server.log()


def test_engine_and_top_k_are_settings(model_dir, test_digits, tmp_path) -> None:
    env = {"MODEL_ENGINE": "onnx-int8", "MODEL_TOP_K": "5", "MODEL_DEVICE": "cpu"}
    with ServerProcess(model_dir, tmp_path / "int8.log", workers=1, env=env) as int8:
        answer = int8.invoke(png(test_digits[0][2]), "image/png").json()
        assert len(answer) == 5 and answer[0]["className"] == str(test_digits[1][2])
        assert "ready: engine onnx-int8 on cpu" in int8.log()


def test_settings_come_from_flags_over_the_environment() -> None:
    env = {
        "SM_MODEL_DIR": "/models/a",
        "SAGEMAKER_BIND_TO_PORT": "9000",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
        "MODEL_ENGINE": "onnx",
        "MODEL_DEVICE": "cpu",
    }
    from_env = serve.resolve_settings([], env)
    assert (from_env.model_dir, from_env.server.port, from_env.server.workers) == (Path("/models/a"), 9000, 3)
    assert from_env.predictor == PredictorSettings(engine="onnx", device="cpu")
    flags = serve.resolve_settings(["serve", "--model-dir", "/m", "--port", "8081", "--workers", "1"], env)
    assert (flags.model_dir, flags.server.port, flags.server.workers) == (Path("/m"), 8081, 1)
    default = serve.resolve_settings([], {})
    assert (default.model_dir, default.server.port, default.server.host) == (Path("/opt/ml/model"), 8080, "0.0.0.0")


@pytest.mark.parametrize(
    ("env", "arguments", "reason"),
    [
        ({"MODEL_ENGINE": "tensorrt"}, [], "MODEL_ENGINE='tensorrt' is not one of"),
        ({"MODEL_DEVICE": "cuda"}, [], "device cuda requested but torch sees no CUDA device"),
        ({}, ["--port", "http"], "port (SAGEMAKER_BIND_TO_PORT) must be an integer, got 'http'"),
        ({}, ["--model-dir", "/nonexistent"], "model artifact file /nonexistent/model-metadata.json not found"),
        ({"MODEL_ENGINE": "onnx-int8"}, ["--model-dir", "{corrupt}"], "the model cannot be loaded: "),
    ],
)
def test_a_server_that_cannot_serve_stops_at_start_naming_why(
    model_dir, tmp_path, monkeypatch, capsys, env, arguments, reason
) -> None:
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for path in model_dir.iterdir():
        if path.is_file():
            (corrupt / path.name).write_bytes(path.read_bytes())
    (corrupt / "model-int8.onnx").write_bytes(b"not an onnx file")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    arguments = [argument.replace("{corrupt}", str(corrupt)) for argument in arguments]
    assert serve.main(["--model-dir", str(model_dir), *arguments]) == 1
    error = capsys.readouterr().err
    assert error.startswith("pytorch-serve: cannot start: ") and reason in error, error


@pytest.mark.parametrize("engine", ["onnx-int8", "eager"])
def test_sigterm_stops_the_master_and_every_worker(model_dir, tmp_path, engine) -> None:
    """No worker outlives the server: a worker that inherited the master's ONNX Runtime or OpenMP state hung
    at exit until the graceful timeout, and was orphaned when the master was killed meanwhile."""
    with ServerProcess(model_dir, tmp_path / "stop.log", workers=2, env={"MODEL_ENGINE": engine}) as server:
        workers = [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server.log())]
        assert server.process is not None and len(workers) == 2
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=20) == 0, server.log()[-2000:]
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
