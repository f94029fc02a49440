"""The predictor: PNG, JPEG and JSON tensors in, top-k classes out; every kind of bad input refused with a 4xx."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from serving_support import png

from pytorch_container import engines, predictor
from pytorch_container.errors import InvalidInput
from pytorch_container.predictor import Predictor, PredictorSettings


@pytest.fixture(scope="module")
def eager(model_dir) -> Predictor:
    return Predictor(model_dir)


def test_test_digits_sent_as_png_are_classified_with_the_trained_accuracy(eager, test_digits) -> None:
    pixels, labels = test_digits
    answers = [eager.classify(png(image), "image/png") for image in pixels[:200]]
    correct = sum(answer[0]["className"] == str(label) for answer, label in zip(answers, labels, strict=False))
    assert correct / 200 >= 0.97


def test_the_answer_is_the_top_3_in_the_seeds_format(eager, test_digits) -> None:
    answer = eager.classify(png(test_digits[0][0]), "image/png; charset=binary")
    assert [sorted(item) for item in answer] == [["className", "probability"]] * 3
    probabilities = [item["probability"] for item in answer]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0 + 1e-9
    assert json.loads(predictor.encode(answer)) == answer


def test_a_jpeg_of_any_size_is_resized_to_the_model(eager, test_digits) -> None:
    image, label = test_digits[0][3], test_digits[1][3]
    buffer = io.BytesIO()
    Image.fromarray(image).resize((64, 64), Image.Resampling.NEAREST).convert("RGB").save(buffer, "JPEG", quality=95)
    assert eager.classify(buffer.getvalue(), "image/jpeg")[0]["className"] == str(label)


def test_json_tensors_one_image_or_a_batch(eager, test_digits) -> None:
    pixels, labels = test_digits
    intensities = (pixels[:5] / 255.0).round(4)
    one_2d = eager.classify(json.dumps(intensities[0].tolist()).encode(), "application/json")
    one_3d = eager.classify(json.dumps(intensities[0][None].tolist()).encode(), "application/json")
    batch = eager.classify(json.dumps(intensities[:, None].tolist()).encode(), "application/json")
    assert one_2d == one_3d and isinstance(one_2d[0], dict)
    assert len(batch) == 5 and [b[0]["className"] for b in batch] == [str(x) for x in labels[:5]]
    assert [c["className"] for c in batch[0]] == [c["className"] for c in one_2d]
    assert [c["probability"] for c in batch[0]] == pytest.approx([c["probability"] for c in one_2d], abs=1e-6)


def test_the_png_and_the_json_path_see_the_same_input(eager, test_digits) -> None:
    image = test_digits[0][7]
    from_png = eager.decode(png(image), "image/png").batch
    from_json = eager.decode(json.dumps((image / 255.0).tolist()).encode(), "application/json").batch
    assert np.allclose(from_png, from_json, atol=1e-6)


def test_top_k_is_a_setting_capped_at_the_class_count(model_dir, test_digits) -> None:
    five = Predictor(model_dir, PredictorSettings(top_k=5))
    assert len(five.classify(png(test_digits[0][0]), "image/png")) == 5
    many = Predictor(model_dir, PredictorSettings(top_k=50))
    assert len(many.classify(png(test_digits[0][0]), "image/png")) == 10


def test_every_engine_gives_the_same_classes(model_dir, test_digits) -> None:
    pixels, _ = test_digits
    body = json.dumps((pixels[:64, None] / 255.0).tolist()).encode()
    tops = {}
    for name in engines.ENGINES:
        engine = Predictor(model_dir, PredictorSettings(engine=name))
        assert engine.engine.name == name and engine.engine.device == "cpu"
        probabilities = engine.probabilities(engine.decode(body, "application/json"))
        tops[name] = probabilities.argmax(axis=1)
        if name == "eager":
            reference = probabilities
        elif name in ("exported", "onnx"):
            assert np.allclose(probabilities, reference, atol=1e-4), name
    assert all(np.array_equal(tops["eager"], tops[name]) for name in ("exported", "onnx"))
    assert (tops["onnx-int8"] == tops["eager"]).mean() >= 0.95


BAD_INPUTS = [
    (b"", "image/png", 400, "empty request body"),
    (b"a,b\n1,2\n", "text/csv", 415, "unsupported content type 'text/csv'; send one of: image/png, image/jpeg"),
    (b"GIF89a....", "image/png", 400, "the body is not a PNG image (its bytes start like a GIF file)"),
    (b"{", "application/json", 400, "the body is not valid JSON"),
    (b"[[1, 2], [3]]", "application/json", 400, "not a rectangular array of numbers"),
    (b'[["a"]]', "application/json", 400, "not a rectangular array of numbers"),
    (
        json.dumps(np.zeros((3, 8, 8)).tolist()).encode(),
        "application/json",
        400,
        "a tensor of shape [3, 8, 8] does not fit the model; send one image as [1, 8, 8] or [8, 8]",
    ),
    (json.dumps(np.zeros((8, 9)).tolist()).encode(), "application/json", 400, "a tensor of shape [8, 9]"),
    (b"[]", "application/json", 400, "a tensor of shape [0] does not fit"),
    (
        json.dumps(np.full((8, 8), 255).tolist()).encode(),
        "application/json",
        400,
        "values must be finite numbers in [0, 1]",
    ),
    (b"[" + b",".join([b"[" + b",".join([b"NaN"] * 8) + b"]"] * 8) + b"]", "application/json", 400, "finite numbers"),
    (
        json.dumps(np.zeros((65, 1, 8, 8)).tolist()).encode(),
        "application/json",
        413,
        "a batch of 65 images is more than the limit of 64",
    ),
    (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "nested too deeply"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "message"), BAD_INPUTS)
def test_bad_input_is_refused_with_a_4xx_naming_the_problem(eager, body, content_type, status, message) -> None:
    with pytest.raises(InvalidInput) as error:
        eager.classify(body, content_type)
    assert error.value.status == status
    assert message in error.value.message


def test_truncated_and_oversized_images_are_refused_and_the_predictor_still_answers(eager, test_digits) -> None:
    whole = png(test_digits[0][0])
    for cut in (whole[:-12], whole[: len(whole) // 2]):  # without its end chunk; without half its pixel data
        with pytest.raises(InvalidInput, match="truncated or corrupt"):
            eager.classify(cut, "image/png")
    buffer = io.BytesIO()
    Image.new("1", (10_000, 5_000)).save(buffer, "PNG")
    with pytest.raises(InvalidInput, match="50,000,000 pixels, more than the limit"):
        eager.classify(buffer.getvalue(), "image/png")
    assert eager.classify(whole, "image/png")[0]["className"] == str(test_digits[1][0])


def test_settings_come_from_the_environment_and_a_bad_one_is_named() -> None:
    settings = PredictorSettings.from_environ(
        {"MODEL_ENGINE": "onnx-int8", "MODEL_DEVICE": "cpu", "MODEL_TOP_K": "5", "MODEL_SERVER_THREADS_PER_WORKER": "2"}
    )
    assert (settings.engine, settings.device, settings.top_k, settings.threads) == ("onnx-int8", "cpu", 5, 2)
    assert PredictorSettings.from_environ({}) == PredictorSettings()
    for env, message in [
        ({"MODEL_ENGINE": "tensorrt"}, "MODEL_ENGINE='tensorrt' is not one of"),
        ({"MODEL_DEVICE": "gpu"}, "MODEL_DEVICE='gpu' is not one of"),
        ({"MODEL_TOP_K": "0"}, "MODEL_TOP_K='0' must be at least 1"),
        ({"MODEL_MAX_BATCH": "many"}, "MODEL_MAX_BATCH='many' is not an integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            PredictorSettings.from_environ(env)


def test_the_device_is_decided_at_load_time_and_cuda_is_refused_without_a_device(model_dir) -> None:
    assert engines.resolve_device("auto") == ("cpu", "no CUDA device visible to torch")
    with pytest.raises(ValueError, match="device cuda requested but torch sees no CUDA device"):
        Predictor(model_dir, PredictorSettings(device="cuda"))
