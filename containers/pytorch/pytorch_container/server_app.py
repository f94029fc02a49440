"""The PyTorch model server's application: the SageMaker hosting routes of `http_serving` around
`ClassifierHandler`, which runs the `Predictor` (decode, predict, top-k).

`http_serving.InferenceApp` answers `/ping`, `/invocations`, `/endpoints/<name>/invocations` and
`/execution-parameters`, and refuses an unsupported `Content-Type` (415) or `Accept` (406) and an empty
body (400); the handler refuses what the predictor cannot read (`InvalidInput`: 400, 413, 415) with the
status the predictor chose. `SeedsErrorBody` writes every refusal of the application the way the seeds'
model servers do: `{"status": "Invoke failed: <reason>"}` as JSON. Refusals of the HTTP layer itself
(a malformed request, a body over the size limit, a request that took too long) stay its plain-text
answers: they happen before any application code runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from http_serving import App, HttpError, InferenceApp, Request, Response
from http_serving.settings import ServerSettings
from pytorch_container import predictor
from pytorch_container.errors import InvalidInput
from pytorch_container.predictor import Inputs, Predictor, PredictorSettings

JSON = "application/json"


def error_body(message: str) -> bytes:
    """The seeds' error answer: `{"status": "Invoke failed: <reason>"}`."""
    return json.dumps({"status": f"Invoke failed: {message}"}).encode()


class ClassifierHandler:
    """The classifier under the SageMaker contract: images or JSON tensors in, top-k classes (JSON) out.

    The predictor is loaded by `load`, in each worker after gunicorn forks it (an ONNX Runtime session's
    thread pool and a CUDA context do not survive a fork); a worker accepts no connection before.
    """

    request_types: tuple[str, ...] = predictor.REQUEST_TYPES
    response_types: tuple[str, ...] = (JSON,)

    def __init__(self, model_dir: Path, settings: PredictorSettings) -> None:
        self.model_dir = model_dir
        self.settings = settings
        self.predictor: Predictor | None = None

    def load(self) -> str:
        """Load the predictor in this process and run it once (the first call pays for lazy set-up);
        return what was loaded, for the worker's log line."""
        loaded = Predictor(self.model_dir, self.settings)
        shape = loaded.metadata.preprocessing.input_shape
        loaded.probabilities(Inputs(np.zeros((1, *shape), dtype=np.float32), single=True))
        self.predictor = loaded
        return f"engine {loaded.engine.name} on {loaded.engine.device}"

    def ready(self) -> bool:
        """Whether this worker has loaded the model."""
        return self.predictor is not None

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        """Decode, predict and rank; the top-k classes as JSON, a 4xx `HttpError` for bad input."""
        if self.predictor is None:
            raise HttpError(503, "the model is not loaded yet")
        try:
            return predictor.encode(self.predictor.classify(body, content_type))
        except InvalidInput as error:
            raise HttpError(error.status, error.message) from None


class SeedsErrorBody:
    """Wraps an application so that its refusals (`HttpError`) answer `{"status": "Invoke failed: ..."}`."""

    def __init__(self, app: App) -> None:
        self.app = app

    def __call__(self, request: Request) -> Response:
        """Answer the request; a refusal keeps its status and headers, with the seeds' JSON body."""
        try:
            return self.app(request)
        except HttpError as error:
            return Response(error.status, error_body(error.message), JSON, error.headers)


def build_app(handler: ClassifierHandler, settings: ServerSettings) -> App:
    """The application serving `handler` with the given server settings."""
    return SeedsErrorBody(
        InferenceApp(handler, max_body_bytes=settings.limits.max_body_bytes, workers=settings.workers)
    )
