"""The XGBoost model server's application: the SageMaker hosting routes of `http_serving` around
`XGBoostHandler`, which decodes rows, predicts and encodes the answer (see `server_codec.py`).

`http_serving.InferenceApp` answers `/ping`, `/invocations`, `/endpoints/<name>/invocations` and
`/execution-parameters`, refuses an unsupported `Content-Type` (415) or `Accept` (406) and an
empty body (400); the handler refuses malformed rows (400). An unexpected failure while
predicting is logged and answered with 500; neither ends the worker. The handler is an
`http_serving.inference.BatchHandler`: the requests a worker receives together are predicted
with one call to XGBoost, whose fixed cost per call (about 30 us) is many times its cost per row.
"""

from __future__ import annotations

import numpy as np

from http_serving import InferenceApp
from http_serving.settings import ServerSettings
from xgboost_container import server_codec
from xgboost_container.server_model import Model


class XGBoostHandler:
    """Predictions of one loaded `Model` for CSV or JSON rows, answered in CSV or JSON."""

    request_types: tuple[str, ...] = server_codec.MEDIA_TYPES
    response_types: tuple[str, ...] = server_codec.MEDIA_TYPES

    def __init__(self, model: Model):
        self.model = model

    def ready(self) -> bool:
        """The model is loaded before the server listens, so a listening server is ready."""
        return True

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        """Decode the rows, predict, encode the predictions as `accept`."""
        return self.encode(self.model.predict(self.decode(body, content_type)), accept)

    def decode(self, body: bytes, content_type: str) -> np.ndarray:
        """The rows of one request (`HttpError` 400 when malformed)."""
        return server_codec.decode(body, content_type, self.model.num_features)

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The predictions for the rows of several requests, from one call to the model."""
        if len(inputs) == 1:
            return [self.model.predict(inputs[0])]
        predictions = self.model.predict(np.concatenate(inputs))
        answers, start = [], 0
        for rows in inputs:
            answers.append(predictions[start : start + len(rows)])
            start += len(rows)
        return answers

    def encode(self, predictions: np.ndarray, accept: str) -> bytes:
        """One request's predictions as `accept`."""
        return server_codec.encode(predictions, accept)


def build_app(model: Model, settings: ServerSettings) -> InferenceApp:
    """The application serving `model` with the given server settings."""
    return InferenceApp(XGBoostHandler(model), max_body_bytes=settings.limits.max_body_bytes, workers=settings.workers)
