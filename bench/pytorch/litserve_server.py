"""LitServe 0.2.19 serving the same classifier with the same pre-processing (run in `bench/.venv-litserve`).

    python bench/pytorch/litserve_server.py --model-dir DIR --engine ENGINE --port PORT --workers N

`LitAPI.setup` loads the platform's `Predictor` (the same engines and the same decode, softmax and top-k
code our server runs); `decode_request` takes LitServe's documented image request, a JSON body
`{"image": "<base64 PNG>"}` (LitServe reads request bodies as JSON or form data, not raw image bytes),
and hands the PNG bytes to `Predictor.decode`; `predict` runs the engine; `encode_response` returns the
top-k list, which FastAPI writes as JSON. One intra-op thread per worker, as each of our workers has.
"""

from __future__ import annotations

import argparse
import base64
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import litserve as ls  # noqa: E402

from pytorch_container.predictor import Inputs, Predictor, PredictorSettings  # noqa: E402


class ClassifierAPI(ls.LitAPI):  # type: ignore[misc]
    """The platform's predictor behind LitServe's API."""

    def __init__(self, model_dir: str, engine: str) -> None:
        super().__init__()
        self.model_dir = model_dir
        self.engine = engine

    def setup(self, device: str) -> None:
        self.predictor = Predictor(self.model_dir, PredictorSettings(engine=self.engine, device="cpu", threads=1))

    def decode_request(self, request: dict) -> Inputs:
        return self.predictor.decode(base64.b64decode(request["image"]), "image/png")

    def predict(self, inputs: Inputs) -> object:
        return self.predictor.top_k(self.predictor.probabilities(inputs), inputs.single)

    def encode_response(self, output: object) -> object:
        return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--engine", default="eager")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1, help="inference workers (workers_per_device on the CPU)")
    parser.add_argument("--api-servers", type=int, default=0, help="HTTP server processes; 0: LitServe's default")
    parser.add_argument("--fast-queue", action="store_true", help="ZeroMQ queues in place of multiprocessing's")
    args = parser.parse_args()
    server = ls.LitServer(
        ClassifierAPI(args.model_dir, args.engine),
        accelerator="cpu",
        workers_per_device=args.workers,
        fast_queue=args.fast_queue,
    )
    server.run(
        host="127.0.0.1",
        port=args.port,
        num_api_servers=args.api_servers or None,
        log_level="warning",
        generate_client_file=False,
    )


if __name__ == "__main__":
    main()
