"""The staging checks of the image classifier (test/staging_checks.py): answers, held-out images, settings."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from .conftest import EVALUATION_URI, SEED

GOOD = [{"className": "7", "probability": 0.9}, {"className": "1", "probability": 0.05}]


class CannedRuntime:
    """sagemaker-runtime answering every request with one body; records what it was sent."""

    def __init__(self, body: bytes):
        self.body = body
        self.sent: list[dict[str, Any]] = []

    def invoke_endpoint(self, **request: Any) -> dict[str, Any]:
        self.sent.append(request)
        headers = {"server-timing": "model;dur=1.5"}
        return {"Body": io.BytesIO(self.body), "ResponseMetadata": {"HTTPHeaders": headers}}


def test_a_top_k_answer_is_ranked_and_sent_with_the_image_s_content_type(seed_checks) -> None:
    runtime = CannedRuntime(json.dumps(GOOD).encode())
    image = seed_checks.HeldOutImage("7", "s3://b/t/7/1.jpg", "image/jpeg", b"\xff\xd8")
    answer = seed_checks.invoke_image(runtime, "e", image)
    assert (answer.top, answer.ranked, answer.model_ms) == ("7", [("7", 0.9), ("1", 0.05)], 1.5)
    assert runtime.sent == [
        {"EndpointName": "e", "ContentType": "image/jpeg", "Accept": "application/json", "Body": b"\xff\xd8"}
    ]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"7", "not a non-empty list of classes"),
        (b"[]", "not a non-empty list of classes"),
        (b"7,0.9", "answer is not JSON"),
        (b'[{"label": "7", "probability": 0.9}]', 'is not {"className": ..., "probability": ...}'),
        (b'[{"className": "", "probability": 0.9}]', "className must be a non-empty string"),
        (b'[{"className": "7", "probability": 1.5}]', "probability must be a number in [0, 1]"),
        (b'[{"className": "7", "probability": true}]', "probability must be a number in [0, 1]"),
        (b'[{"className": "1", "probability": 0.1}, {"className": "7", "probability": 0.9}]', "most probable first"),
        (b'[{"className": "7", "probability": 0.5}, {"className": "7", "probability": 0.4}]', "names a class twice"),
        (b'[{"className": "7", "probability": 0.7}, {"className": "1", "probability": 0.6}]', "add up to more than 1"),
        (b'{"predictions": [[0.1, 0.9]]}', "not a non-empty list of classes"),
    ],
)
def test_answers_that_are_not_the_seeds_top_k_format_are_named(seed_checks, body: bytes, fragment: str) -> None:
    image = seed_checks.HeldOutImage("7", "s3://b/t/7/1.png", "image/png", b"png")
    with pytest.raises(seed_checks.CheckFailed) as failure:
        seed_checks.invoke_image(CannedRuntime(body), "e", image)
    assert fragment in str(failure.value) and "s3://b/t/7/1.png" in str(failure.value)


def test_held_out_images_are_read_by_class_folder(seed_checks, aws, clients) -> None:
    s3 = clients.s3
    s3.create_bucket(Bucket="split")
    s3.put_object(Bucket="split", Key="p/data/test/3/b.PNG", Body=b"three")
    s3.put_object(Bucket="split", Key="p/data/test/0/a.jpeg", Body=b"zero")
    s3.put_object(Bucket="split", Key="p/data/test/_SUCCESS", Body=b"")
    images = seed_checks.read_test_images(s3, "s3://split/p/data/test/")
    assert [(i.label, i.content_type, i.body) for i in images] == [
        ("0", "image/jpeg", b"zero"),
        ("3", "image/png", b"three"),
    ]
    s3.put_object(Bucket="split", Key="p/data/test/loose.png", Body=b"?")
    with pytest.raises(seed_checks.CheckFailed, match="loose.png is not <class>/<image> below"):
        seed_checks.read_test_images(s3, "s3://split/p/data/test")
    with pytest.raises(seed_checks.CheckFailed, match=r"no <class>/<image>.png\|jpg files under s3://split/none/"):
        seed_checks.read_test_images(s3, "s3://split/none/")


@pytest.mark.parametrize("floor", [None, 0, 1.5, "0.9", True])
def test_an_image_classifier_needs_an_accuracy_floor_between_0_and_1(seed_checks, floor) -> None:
    settings = {} if floor is None else {"AccuracyFloor": floor}
    with pytest.raises(seed_checks.CheckFailed, match=r"Test.AccuracyFloor must be a number in \(0, 1\]"):
        seed_checks.accuracy_floor(settings)
    assert seed_checks.accuracy_floor({"AccuracyFloor": 1}) == 1.0


def test_the_seed_s_staging_config_sets_a_floor_below_the_model_build_s_gate(seed_checks) -> None:
    settings = seed_checks.load_test_settings(SEED / "staging-config.json")
    gate = json.loads((SEED.parent / "model-build" / "pipelines" / "image_classifier" / "config.json").read_text())
    assert 0 < seed_checks.accuracy_floor(settings) <= gate["quality_gate"]["min"]


def test_image_metrics_score_the_top_class_and_the_registered_metric_is_read(seed_checks, aws, clients) -> None:
    labels, predicted = ["0", "1", "1", "2"], ["0", "1", "2", "2"]
    assert seed_checks.score_classes("accuracy", labels, predicted) == 0.75
    assert seed_checks.score_classes("weighted_recall", labels, predicted) == 0.75
    with pytest.raises(seed_checks.CheckFailed, match="3 predictions for 4 held-out images"):
        seed_checks.score_classes("accuracy", labels, predicted[:3])
    bucket, key = EVALUATION_URI.removeprefix("s3://").split("/", 1)
    clients.s3.create_bucket(Bucket=bucket)
    report = {
        "problem_type": "image_classification",
        "metric": "weighted_f1",
        "multiclass_classification_metrics": {"weighted_f1": {"value": 0.98, "standard_deviation": 0.01}},
    }
    clients.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(report).encode())
    registered = seed_checks.read_registered_metric(clients.s3, EVALUATION_URI)
    assert (registered.problem_type, registered.name, registered.value) == ("image_classification", "weighted_f1", 0.98)
