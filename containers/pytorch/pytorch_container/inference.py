"""SageMaker's inference handler functions, so that the artifact also deploys on AWS's PyTorch containers.

AWS's PyTorch inference images (the SageMaker PyTorch inference toolkit) import `code/inference.py` from
the unpacked `model.tar.gz`; training writes that file, which re-exports these functions, and a copy of
this package beside it. The settings come from the environment (`PredictorSettings.from_environ`:
`MODEL_ENGINE`, `MODEL_DEVICE`, ...). Those images carry their own torch and no ONNX Runtime, so the
`eager` engine (the default: weights only) is the one that runs there in every case.

- `model_fn(model_dir)`: the `Predictor`.
- `input_fn(body, content_type)`: checks the content type and that the body is not empty; decoding needs
  the model (its input size), so it happens in `predict_fn`.
- `predict_fn(data, model)`: decode, predict, rank: the top-k classes.
- `output_fn(prediction, accept)`: JSON (`application/json`, or any type for `*/*`).

A refused request raises `InvalidInput`; inside AWS's containers it is raised as the toolkit's
`GenericInferenceToolkitError` with the same 4xx status, so the client gets a 4xx, not a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from pytorch_container import predictor
from pytorch_container.errors import InvalidInput
from pytorch_container.predictor import Classification, Predictor, PredictorSettings

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class RawRequest:
    """A request body and its content type, checked but not yet decoded."""

    body: bytes
    content_type: str


def client_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Raise `InvalidInput` as the inference toolkit's 4xx error when the toolkit is present."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except InvalidInput as error:
            toolkit_error = _toolkit_error(error)
            if toolkit_error is None:
                raise
            raise toolkit_error from error

    return wrapper


def _toolkit_error(error: InvalidInput) -> Exception | None:
    """The toolkit's error for `error`, or None outside AWS's containers."""
    try:
        from sagemaker_inference.errors import GenericInferenceToolkitError
    except ImportError:
        return None
    result: Exception = GenericInferenceToolkitError(error.status, f"Invoke failed: {error.message}")
    return result


def model_fn(model_dir: str, context: Any = None) -> Predictor:
    """Load the predictor of the unpacked artifact in `model_dir` with the environment's settings."""
    return Predictor(model_dir, PredictorSettings.from_environ())


@client_errors
def input_fn(request_body: bytes | str, request_content_type: str, context: Any = None) -> RawRequest:
    """Check the content type and the body; the toolkit hands JSON bodies over as text."""
    media_type = (request_content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in predictor.REQUEST_TYPES:
        raise InvalidInput(
            415,
            f"unsupported content type {request_content_type!r}; send one of: {', '.join(predictor.REQUEST_TYPES)}",
        )
    body = request_body.encode() if isinstance(request_body, str) else bytes(request_body)
    if not body:
        raise InvalidInput(400, f"empty request body: send one {media_type} input")
    return RawRequest(body, media_type)


@client_errors
def predict_fn(input_data: RawRequest, model: Predictor, context: Any = None) -> Classification | list[Classification]:
    """The top-k classes of the request's image(s)."""
    return model.classify(input_data.body, input_data.content_type)


@client_errors
def output_fn(prediction: Classification | list[Classification], accept: str | None, context: Any = None) -> bytes:
    """The prediction as JSON; any other `Accept` is refused (406)."""
    media_types = [part.split(";", 1)[0].strip().lower() for part in (accept or "*/*").split(",")]
    if not {"application/json", "application/*", "*/*"} & set(media_types):
        raise InvalidInput(406, f"cannot answer in {accept!r}; the predictions are application/json")
    return predictor.encode(prediction)
