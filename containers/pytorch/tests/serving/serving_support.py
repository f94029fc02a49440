"""Helpers of the serving tests."""

from __future__ import annotations

import numpy as np

from pytorch_container import images


def png(pixels: np.ndarray) -> bytes:
    """A `uint8` image as PNG bytes."""
    return images.encode_png(pixels)
