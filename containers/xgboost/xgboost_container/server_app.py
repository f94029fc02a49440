"""The XGBoost model server's application: the SageMaker hosting routes of `http_serving` around
`XGBoostHandler`, which decodes rows, predicts and encodes the answer (see `server_codec.py`).

`http_serving.InferenceApp` answers `/ping`, `/invocations`, `/endpoints/<name>/invocations` and
`/execution-parameters`, refuses an unsupported `Content-Type` (415) or `Accept` (406) and an
empty body (400); the handler refuses malformed rows (400). An unexpected failure while
predicting is logged and answered with 500; neither ends the worker.
"""

from __future__ import annotations

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
        rows = server_codec.decode(body, content_type, self.model.num_features)
        return server_codec.encode(self.model.predict(rows), accept)


def build_app(model: Model, settings: ServerSettings) -> InferenceApp:
    """The application serving `model` with the given server settings."""
    return InferenceApp(XGBoostHandler(model), max_body_bytes=settings.limits.max_body_bytes, workers=settings.workers)
