"""The image classifier Lambda in process: real digit images, a real model from the emulated registry.

The function's own code runs end to end: the handler module's init resolves the newest approved model
package version, downloads its `model.tar.gz` from S3 into the cache directory and loads it with ONNX
Runtime; requests arrive as function URL and HTTP API events (base64 bodies) and as direct invocations.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import tarfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from image_serving_support import GROUP, Context, Registry, http_event, load_handler

from local_lifecycle.image_serving import digit_images, set_approval
from tooling.requirement_pins import read_pins

ROOT = Path(__file__).resolve().parents[2]


def call(handler, event: dict) -> tuple[int, object]:
    response = handler.lambda_handler(event, Context())
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def renamed(archive: bytes, prefix: str) -> bytes:
    """The same model with its class names prefixed: a version whose answers show which one served."""
    source = tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz")
    output = io.BytesIO()
    with tarfile.open(fileobj=output, mode="w:gz") as tar:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else b""
            if member.name == "model-metadata.json":
                document = json.loads(data)
                document["class_names"] = [prefix + name for name in document["class_names"]]
                data = json.dumps(document).encode()
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return output.getvalue()


@pytest.fixture
def handler(registry: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    registry.register()
    return load_handler(monkeypatch, tmp_path)


def test_the_function_runs_without_torch(handler) -> None:
    """The lean package: ONNX Runtime, NumPy and Pillow; torch is neither installed here nor bundled."""
    assert importlib.util.find_spec("torch") is None
    assert "torch" not in read_pins(ROOT / "lambdas" / "requirements-image-classifier.txt")
    assert handler.models.get("digits").predictor.engine.name == "onnx-int8"


@pytest.mark.parametrize(("kind", "image_format"), [("url", "PNG"), ("http-api", "JPEG")])
def test_classifies_real_digits_sent_base64_through_either_front_door(handler, kind: str, image_format: str) -> None:
    images = digit_images(40, image_format=image_format)
    correct = 0
    for image in images:
        status, body = call(handler, http_event(kind, body=image.body, content_type=image.content_type))
        assert status == 200
        assert [sorted(entry) for entry in body] == [["className", "probability"]] * 3
        probabilities = [entry["probability"] for entry in body]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0 + 1e-9
        correct += body[0]["className"] == image.label
    assert correct >= 32, f"{correct}/40 digits right (the model scores about 0.9 on this split)"


def test_an_image_of_another_size_is_resized(handler) -> None:
    image = digit_images(1, size=64)[0]
    status, body = call(handler, http_event("url", body=image.body, content_type="image/png"))
    assert status == 200 and len(body) == 3


def test_a_json_tensor_body_and_an_explicit_artifact_id(handler) -> None:
    tensor = json.dumps([[0.0] * 8 for _ in range(8)])
    status, body = call(
        handler, http_event("url", body=tensor, content_type="application/json", query={"artifactId": "digits"})
    )
    assert status == 200 and len(body) == 3


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        (dict(body=b"GIF89a not a png", content_type="image/png"), 400, "the body is not a PNG image"),
        (
            dict(body=b"\x89PNG\r\n\x1a\n", content_type="image/png"),
            400,
            "not a PNG image (its bytes start like a PNG file)",
        ),
        (dict(body=b"", content_type="image/png"), 400, "empty request body"),
        (dict(body=b"abc", content_type="image/gif"), 415, "unsupported content type 'image/gif'"),
        (dict(body="[[2.0]]", content_type="application/json"), 400, "does not fit the model"),
        (dict(body="not base64!", content_type="image/png", base64_body=False), 400, "not a PNG image"),
        (dict(body=b"x", content_type="image/png", query={"artifactId": "resnet"}), 400, "unknown artifactId 'resnet'"),
        (dict(method="GET", body=None), 404, "no route GET /invocations"),
        (dict(path="/inference", body=b"x", content_type="image/png"), 404, "no route POST /inference"),
    ],
)
def test_bad_requests_get_a_4xx_json_body_naming_the_problem(handler, event: dict, status: int, message: str) -> None:
    got_status, body = call(handler, http_event("url", **event))
    assert got_status == status
    assert list(body) == ["status"] and body["status"].startswith("Invoke failed: ") and message in body["status"]


def test_a_body_marked_base64_that_is_not_is_refused(handler) -> None:
    event = http_event("http-api", body=b"x", content_type="image/png")
    event["body"] = "***"
    status, body = call(handler, event)
    assert status == 400 and "not valid base64" in body["status"]


def test_direct_invocation_takes_the_seeds_artifact_id_and_a_base64_image(handler) -> None:
    image = digit_images(1)[0]
    payload = {"artifactId": "digits", "inputImage": base64.b64encode(image.body).decode(), "contentType": "image/png"}
    result = handler.lambda_handler(payload, Context())
    assert result == call(handler, http_event("url", body=image.body, content_type="image/png"))[1]
    refused = handler.lambda_handler({"inputImageUrl": "https://example.com/kitten.jpg"}, Context())
    assert (
        refused["status"].startswith('Invoke failed: expected {"artifactId"') and "inputImageUrl" in refused["status"]
    )
    bad = handler.lambda_handler({**payload, "inputImage": "@@"}, Context())
    assert bad == {"status": "Invoke failed: inputImage is not valid base64"}
    unknown = handler.lambda_handler({**payload, "artifactId": "squeezenet"}, Context())
    assert unknown["status"].startswith("Invoke failed: unknown artifactId 'squeezenet'")


def test_ping_names_the_served_version(handler, registry: Registry) -> None:
    status, body = call(handler, http_event("url", method="GET", path="/ping"))
    (version,) = registry.sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    assert status == 200 and body == {
        "models": {"digits": {"modelPackageArn": version["ModelPackageArn"], "version": 1}}
    }


def test_the_model_is_downloaded_at_init_and_only_the_engine_files_are_unpacked(handler, tmp_path: Path) -> None:
    (version_dir,) = (tmp_path / "models").iterdir()
    assert sorted(p.name for p in version_dir.iterdir()) == [".model-package", "model-int8.onnx", "model-metadata.json"]


def test_a_new_approval_is_served_after_the_refresh_interval_and_a_rejection_falls_back(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = registry.register()
    handler = load_handler(monkeypatch, tmp_path)
    now = [1_000_000.0]
    handler.models._clock = lambda: now[0]
    handler.models.get("digits").checked_at = now[0]
    image = digit_images(1)[0]
    event = http_event("url", body=image.body, content_type="image/png")

    answer = call(handler, event)[1][0]["className"]
    assert answer in [str(digit) for digit in range(10)]

    second = registry.register(archive=renamed(registry.archive, "v2-"))
    assert call(handler, event)[1][0]["className"] == answer  # within the interval: still the first
    now[0] += 301
    assert call(handler, event)[1][0]["className"] == "v2-" + answer
    assert handler.models.loaded()["digits"]["modelPackageArn"] == second.arn
    assert len(list((tmp_path / "models").iterdir())) == 1  # the first version's files were pruned

    set_approval(registry.sagemaker, second.arn, "Rejected")
    now[0] += 301
    assert call(handler, event)[1][0]["className"] == answer
    assert handler.models.loaded()["digits"]["modelPackageArn"] == first.arn

    set_approval(registry.sagemaker, first.arn, "Rejected")
    now[0] += 301
    status, body = call(handler, event)
    assert status == 503 and body == {"status": f"Invoke failed: model package group {GROUP!r} has no approved version"}
    assert call(handler, http_event("url", method="GET", path="/ping"))[0] == 503


def test_the_served_version_stays_while_the_registry_cannot_be_asked(handler, monkeypatch: pytest.MonkeyPatch) -> None:
    image = digit_images(1)[0]
    event = http_event("url", body=image.body, content_type="image/png")
    before = call(handler, event)[1]
    served = handler.models.get("digits")
    served.checked_at -= 3600

    asked: list[object] = []

    def throttled(**kwargs: object) -> None:
        asked.append(kwargs)
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListModelPackages")

    monkeypatch.setattr(handler.models._sagemaker, "list_model_packages", throttled)
    assert call(handler, event) == (200, before)
    assert call(handler, event) == (200, before)
    assert len(asked) == 1  # a failed check also waits for the next interval: no registry call per request


def test_init_without_an_approved_version_answers_503_until_one_is_approved(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pending = registry.register(approve=False)
    handler = load_handler(monkeypatch, tmp_path)
    image = digit_images(1)[0]
    event = http_event("url", body=image.body, content_type="image/png")
    status, body = call(handler, event)
    assert status == 503 and "no approved version" in body["status"]

    set_approval(registry.sagemaker, pending.arn, "Approved")
    assert call(handler, event)[0] == 200


def test_a_direct_invocation_that_fails_on_the_server_side_raises_so_async_retries_and_dead_letters(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry.register(approve=False)
    handler = load_handler(monkeypatch, tmp_path)
    image = digit_images(1)[0]
    payload = {"inputImage": base64.b64encode(image.body).decode(), "contentType": "image/png"}
    with pytest.raises(Exception, match="no approved version"):
        handler.lambda_handler(payload, Context())
