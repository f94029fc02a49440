"""The HTTP/1.1 layer of the platform's model servers (see README.md).

An application is a callable from `Request` to `Response` (`app.py`); `inference.InferenceApp`
implements the SageMaker hosting routes around a model server's `Handler`; `server.serve` runs an
application under gunicorn with the asyncio workers of `worker.py`, whose connections
(`protocol.py`) parse with llhttp and enforce the limits of `settings.py`.
"""

from http_serving.app import App, HttpError, Request, Response
from http_serving.inference import Handler, InferenceApp
from http_serving.server import serve
from http_serving.settings import Limits, ServerSettings

__all__ = ["App", "Handler", "HttpError", "InferenceApp", "Limits", "Request", "Response", "ServerSettings", "serve"]
