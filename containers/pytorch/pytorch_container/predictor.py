"""The predictor every way of serving the classifier goes through (model server, AWS's inference containers).

Input, by content type:

- `image/png`, `image/jpeg`: one image, any size (resized to the model's), at most `max_image_pixels`.
- `application/json`: pixel intensities in [0, 1] (what `ToTensor` gives) at the model's size: one image
  as `[H, W]` (grayscale models) or `[C, H, W]`, or a batch of them as `[N, C, H, W]`, N at most
  `max_batch`.

Output: for one image the `top_k` classes as `[{"className": ..., "probability": ...}]`, most probable
first (the seeds' format); for a batch, one such list per image. Bad input raises `InvalidInput` with a
4xx status and a message naming the problem.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytorch_container import artifact, engines, images
from pytorch_container.errors import InvalidInput

LOG = logging.getLogger(__name__)
JSON = "application/json"
REQUEST_TYPES = (images.PNG, images.JPEG, JSON)

Classification = list[dict[str, Any]]


@dataclass(frozen=True)
class PredictorSettings:
    """How the predictor runs; each setting has an environment variable (see `from_environ`)."""

    engine: str = "eager"
    device: str = "auto"
    threads: int = 1
    top_k: int = 3
    max_image_pixels: int = images.DEFAULT_MAX_PIXELS
    max_batch: int = 64

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> PredictorSettings:
        """Settings from `MODEL_ENGINE`, `MODEL_DEVICE`, `MODEL_SERVER_THREADS_PER_WORKER`, `MODEL_TOP_K`,
        `MODEL_MAX_IMAGE_PIXELS` and `MODEL_MAX_BATCH`; ValueError names a bad one."""
        env = os.environ if environ is None else environ
        default = cls()
        engine = env.get("MODEL_ENGINE", default.engine)
        if engine not in engines.ENGINES:
            raise ValueError(f"MODEL_ENGINE={engine!r} is not one of {list(engines.ENGINES)}")
        device = env.get("MODEL_DEVICE", default.device)
        if device not in engines.DEVICES:
            raise ValueError(f"MODEL_DEVICE={device!r} is not one of {list(engines.DEVICES)}")
        return cls(
            engine=engine,
            device=device,
            threads=_positive(env, "MODEL_SERVER_THREADS_PER_WORKER", default.threads),
            top_k=_positive(env, "MODEL_TOP_K", default.top_k),
            max_image_pixels=_positive(env, "MODEL_MAX_IMAGE_PIXELS", default.max_image_pixels),
            max_batch=_positive(env, "MODEL_MAX_BATCH", default.max_batch),
        )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    """An integer setting of at least 1."""
    value = env.get(name, str(default))
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an integer") from None
    if number < 1:
        raise ValueError(f"{name}={value!r} must be at least 1")
    return number


@dataclass(frozen=True)
class Inputs:
    """A decoded request: the normalized N x C x H x W batch, and whether the request held one image."""

    batch: np.ndarray
    single: bool


class Predictor:
    """A trained classifier loaded from a model directory, with the engine and device of its settings."""

    request_types = REQUEST_TYPES

    def __init__(self, model_dir: Path | str, settings: PredictorSettings | None = None) -> None:
        self.settings = settings or PredictorSettings()
        self.model_dir = Path(model_dir)
        self.metadata = artifact.read_metadata(self.model_dir)
        device, reason = engines.resolve_device(self.settings.device)
        self.engine = engines.load(
            self.model_dir, self.metadata, engine=self.settings.engine, device=device, threads=self.settings.threads
        )
        self.class_names = np.asarray(self.metadata.class_names)
        LOG.info(
            "predictor: engine %s on %s (%s), %d classes, input %s",
            self.engine.name,
            device,
            reason,
            len(self.class_names),
            "x".join(map(str, self.metadata.preprocessing.input_shape)),
        )

    def decode(self, body: bytes, content_type: str) -> Inputs:
        """The model's input for a request body of `content_type`; `InvalidInput` names what is wrong."""
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type not in REQUEST_TYPES:
            raise InvalidInput(
                415, f"unsupported content type {content_type!r}; send one of: {', '.join(REQUEST_TYPES)}"
            )
        if not body:
            raise InvalidInput(400, f"empty request body: send one {media_type} input")
        preprocessing = self.metadata.preprocessing
        if media_type == JSON:
            return self._decode_json(body)
        pixels = images.decode(
            body, images.IMAGE_FORMATS[media_type], preprocessing, max_pixels=self.settings.max_image_pixels
        )
        return Inputs(images.to_batch([pixels], preprocessing), single=True)

    def _decode_json(self, body: bytes) -> Inputs:
        """A JSON tensor of intensities in [0, 1]: [H, W], [C, H, W] or [N, C, H, W]."""
        preprocessing = self.metadata.preprocessing
        shape = preprocessing.input_shape
        expected = f"[{', '.join(map(str, shape))}]" + (f" or [{shape[1]}, {shape[2]}]" if shape[0] == 1 else "")
        usage = f"send one image as {expected}, or a batch as [N, {', '.join(map(str, shape))}], values in [0, 1]"
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidInput(400, f"the body is not valid JSON: {error}") from None
        except RecursionError:
            raise InvalidInput(400, "the JSON body is nested too deeply") from None
        try:
            tensor = np.asarray(document, dtype=np.float32)
        except (ValueError, TypeError):
            raise InvalidInput(400, f"the JSON body is not a rectangular array of numbers; {usage}") from None
        if tensor.ndim == 2 and shape[0] == 1:
            tensor = tensor[None]
        single = tensor.ndim == 3
        if single:
            tensor = tensor[None]
        if tensor.ndim != 4 or tensor.shape[1:] != shape or tensor.shape[0] == 0:
            raise InvalidInput(400, f"a tensor of shape {list(np.shape(document))} does not fit the model; {usage}")
        if tensor.shape[0] > self.settings.max_batch:
            raise InvalidInput(
                413, f"a batch of {tensor.shape[0]} images is more than the limit of {self.settings.max_batch}"
            )
        if not np.isfinite(tensor).all() or tensor.min() < 0.0 or tensor.max() > 1.0:
            raise InvalidInput(400, f"tensor values must be finite numbers in [0, 1]; {usage}")
        return Inputs(images.normalize(tensor, preprocessing), single=single)

    def probabilities(self, inputs: Inputs) -> np.ndarray:
        """Class probabilities (softmax of the engine's logits), N x classes."""
        logits = self.engine.run(inputs.batch).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        result: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
        return result

    def top_k(self, probabilities: np.ndarray, single: bool) -> Classification | list[Classification]:
        """The `top_k` classes of each row, most probable first; one list for a single image."""
        k = min(self.settings.top_k, probabilities.shape[1])
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        results = [
            [{"className": str(self.class_names[j]), "probability": float(row[j])} for j in ranks]
            for row, ranks in zip(probabilities, order, strict=True)
        ]
        return results[0] if single else results

    def classify(self, body: bytes, content_type: str) -> Classification | list[Classification]:
        """Decode, predict and rank: the whole request."""
        inputs = self.decode(body, content_type)
        return self.top_k(self.probabilities(inputs), inputs.single)


def encode(result: Classification | list[Classification]) -> bytes:
    """The JSON answer for a classification result."""
    return json.dumps(result, separators=(",", ":")).encode()
