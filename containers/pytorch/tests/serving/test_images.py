"""Image decoding: PNG and JPEG of any size to the model's input; bad files refused with the reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pytorch_container import images
from pytorch_container.errors import InvalidInput
from pytorch_container.images import Preprocessing

GRAY8 = Preprocessing(8, "grayscale")


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_a_png_at_the_model_size_decodes_to_its_exact_pixels() -> None:
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    assert np.array_equal(images.decode(images.encode_png(pixels), "PNG", GRAY8), pixels)


def test_a_large_rgb_jpeg_is_converted_and_resized_to_the_model_input() -> None:
    photo = Image.new("RGB", (640, 480), (255, 255, 255))
    decoded = images.decode(encode(photo, "JPEG", quality=95), "JPEG", GRAY8)
    assert decoded.shape == (8, 8) and decoded.dtype == np.uint8 and decoded.min() >= 250
    rgb = images.decode(encode(photo, "PNG"), "PNG", Preprocessing(28, "rgb"))
    assert rgb.shape == (28, 28, 3)


def test_to_batch_normalizes_to_the_network_scale() -> None:
    batch = images.to_batch([np.zeros((8, 8), np.uint8), np.full((8, 8), 255, np.uint8)], GRAY8)
    assert batch.shape == (2, 1, 8, 8) and batch.dtype == np.float32
    assert batch[0].max() == -1.0 and batch[1].min() == 1.0


def test_text_is_not_an_image() -> None:
    with pytest.raises(InvalidInput, match=r"the body is not a PNG image \(its first bytes are b'hello wo'\)") as error:
        images.decode(b"hello world", "PNG", GRAY8)
    assert error.value.status == 400


def test_a_png_sent_as_jpeg_is_named_for_what_it_looks_like() -> None:
    with pytest.raises(InvalidInput, match=r"not a JPEG image \(its bytes start like a PNG file\)"):
        images.decode(images.encode_png(np.zeros((8, 8), np.uint8)), "JPEG", GRAY8)


def test_a_truncated_png_is_refused_not_padded() -> None:
    data = encode(Image.effect_noise((64, 64), 50).convert("L"), "PNG")
    with pytest.raises(InvalidInput, match="the PNG image is truncated or corrupt") as error:
        images.decode(data[: len(data) // 2], "PNG", GRAY8)
    assert error.value.status == 400


def test_a_50_megapixel_png_is_refused_from_its_header_before_decoding() -> None:
    bomb = encode(Image.new("1", (10_000, 5_000)), "PNG")  # a few kilobytes that declare 50 million pixels
    assert len(bomb) < 100_000
    with pytest.raises(InvalidInput, match=r"10000x5000 = 50,000,000 pixels, more than the limit of 16,777,216"):
        images.decode(bomb, "PNG", GRAY8)


def test_an_image_beyond_pillows_own_limit_is_refused_with_the_same_status() -> None:
    bomb = encode(Image.new("1", (20_000, 10_000)), "PNG")  # 200 MP: Pillow itself refuses to open it
    with pytest.raises(InvalidInput, match="too large|more than the limit") as error:
        images.decode(bomb, "PNG", GRAY8, max_pixels=10**12)
    assert error.value.status == 400
