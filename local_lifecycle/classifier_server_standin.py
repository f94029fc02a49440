"""STAND-IN for `pytorch-serve` (issue 13 part 2) until it is on main: the same `Predictor` behind the shared
HTTP layer (`http_serving`: SageMaker routes, gunicorn, llhttp), for `make serve-demo` and `make cost-report`.

`local_lifecycle.serve_demo` starts `python -m pytorch_container.serve` from `.venv-pytorch` whenever that
module exists and this module only otherwise; delete it once `pytorch-serve` has landed.

    python -m local_lifecycle.classifier_server_standin --model-dir DIR --port PORT
"""

from __future__ import annotations

import argparse
from pathlib import Path

from http_serving import HttpError, InferenceApp, ServerSettings, serve
from pytorch_container.errors import InvalidInput
from pytorch_container.predictor import REQUEST_TYPES, Predictor, PredictorSettings, encode


class _Handler:
    request_types: tuple[str, ...] = REQUEST_TYPES
    response_types: tuple[str, ...] = ("application/json",)

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.predictor: Predictor | None = None

    def load(self) -> str:
        self.predictor = Predictor(self.model_dir, PredictorSettings.from_environ())
        return f"engine {self.predictor.engine.name}"

    def ready(self) -> bool:
        return self.predictor is not None

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        if self.predictor is None:
            raise HttpError(503, "the model is not loaded yet")
        try:
            return encode(self.predictor.classify(body, content_type))
        except InvalidInput as error:
            raise HttpError(error.status, error.message) from None


def main() -> None:
    """Serve the model directory on 127.0.0.1:PORT with one worker."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args()
    handler = _Handler(args.model_dir)
    settings = ServerSettings(host="127.0.0.1", port=args.port, workers=1)
    serve(InferenceApp(handler, max_body_bytes=settings.limits.max_body_bytes, workers=1), settings, handler.load)


if __name__ == "__main__":
    main()
