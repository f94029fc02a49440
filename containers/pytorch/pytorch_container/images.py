"""Image decoding and pre-processing: one code path for training data, serving requests and benchmarks.

Every image becomes a `uint8` array of `size x size` pixels in the model's color mode (`grayscale`: H x W,
`rgb`: H x W x 3), then a normalized `float32` tensor layout (N x C x H x W) by `to_batch`. Decoding is
Pillow's, limited to the formats the caller names, with a pixel limit checked from the header before any
pixel is decoded (a small file can declare a huge image: a decompression bomb).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from pytorch_container.errors import InvalidInput

# Pillow completes a truncated file with grey unless told otherwise; a truncated upload must fail.
ImageFile.LOAD_TRUNCATED_IMAGES = False

PNG = "image/png"
JPEG = "image/jpeg"
IMAGE_FORMATS = {PNG: "PNG", JPEG: "JPEG"}
IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
PIL_MODES = {"grayscale": "L", "rgb": "RGB"}
DEFAULT_MAX_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class Preprocessing:
    """How the model sees an image: its size, color mode and normalization (saved in the artifact)."""

    image_size: int
    color_mode: str
    mean: float = 0.5
    std: float = 0.5

    @property
    def channels(self) -> int:
        """1 for grayscale, 3 for RGB."""
        return 1 if self.color_mode == "grayscale" else 3

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """One image as the network takes it: (C, H, W)."""
        return (self.channels, self.image_size, self.image_size)


def decode(
    data: bytes, image_format: str, preprocessing: Preprocessing, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode one `PNG` or `JPEG` image to a `uint8` array of the model's size and color mode.

    Raises `InvalidInput` (400) naming the problem: not an image of that format, a truncated or corrupt
    file, more pixels than `max_pixels`.
    """
    try:
        if image_format == "PNG":
            # Chunk checksums and the end chunk: Pillow decodes a PNG cut after its pixel data without them.
            with _open(data, image_format) as probe:
                probe.verify()
        with _open(data, image_format) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidInput(
                    400,
                    f"the {image_format} image is {width}x{height} = {width * height:,} pixels, more than the "
                    f"limit of {max_pixels:,}; send a smaller image (the model reads "
                    f"{preprocessing.image_size}x{preprocessing.image_size})",
                )
            if image_format == "JPEG":
                # Decode at the smallest DCT scale still at least the model's size: far less work.
                image.draft(PIL_MODES[preprocessing.color_mode], (preprocessing.image_size,) * 2)
            return fit(image, preprocessing)
    except UnidentifiedImageError:
        raise InvalidInput(400, f"the body is not a {image_format} image ({_signature(data)})") from None
    except Image.DecompressionBombError as error:
        raise InvalidInput(400, f"the {image_format} image is too large: {error}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidInput(400, f"the {image_format} image is truncated or corrupt: {error}") from None


def _open(data: bytes, image_format: str) -> Image.Image:
    """Open (read the header of) an image of `image_format`; nothing is decoded yet."""
    with warnings.catch_warnings():
        # The pixel limit is enforced by `decode`, with a message that names it, not by Pillow's warning.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(data), formats=[image_format])


def fit(image: Image.Image, preprocessing: Preprocessing) -> np.ndarray:
    """Convert an opened image to the model's color mode and size (bilinear resampling)."""
    converted = image.convert(PIL_MODES[preprocessing.color_mode])
    size = (preprocessing.image_size, preprocessing.image_size)
    if converted.size != size:
        converted = converted.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(converted, dtype=np.uint8)


def read_file(path: Path, preprocessing: Preprocessing) -> np.ndarray:
    """Decode an image file by its suffix (`.png`, `.jpg`, `.jpeg`); `InvalidInput` names the problem."""
    return decode(path.read_bytes(), IMAGE_SUFFIXES[path.suffix.lower()], preprocessing)


def to_batch(images: Sequence[np.ndarray] | np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """`uint8` images (each H x W or H x W x C) as one normalized `float32` N x C x H x W array."""
    stacked = np.asarray(images, dtype=np.uint8)
    if stacked.ndim == 3:
        stacked = stacked[:, None, :, :]
    else:
        stacked = stacked.transpose(0, 3, 1, 2)
    return normalize(stacked.astype(np.float32) / 255.0, preprocessing)


def normalize(pixels: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """Intensities in [0, 1] (what ToTensor gives) to the network's input scale."""
    return ((pixels - preprocessing.mean) / preprocessing.std).astype(np.float32, copy=False)


def encode_png(pixels: np.ndarray) -> bytes:
    """A `uint8` H x W (or H x W x 3) array as PNG bytes (test data, image folders, benchmark requests)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _signature(data: bytes) -> str:
    """What the first bytes of a body look like, for the error message."""
    head = data[:8]
    for magic, name in ((b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP")):
        if head.startswith(magic):
            return f"its bytes start like a {name} file"
    return f"its first bytes are {head!r}"
