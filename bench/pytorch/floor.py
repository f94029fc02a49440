"""The like-for-like floor of the PyTorch serving benchmark (run in `.venv-pytorch` by `bench.py`).

    python bench/pytorch/floor.py --model-dir DIR --processes N

`N` processes each load the predictor of every engine once, then, for each request line on stdin
(`{"engine": ..., "body_file": ..., "duration": ...}`), all run the same decode + predict + top-k +
encode our server's handler runs, back to back for `duration` seconds, with no HTTP; the answer line on
stdout holds the pooled requests, latencies (ms) and CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from pytorch_container import engines, predictor  # noqa: E402
from pytorch_container.predictor import Predictor, PredictorSettings  # noqa: E402

_PREDICTORS: dict[str, Predictor] = {}


def _load(model_dir: str) -> None:
    for engine in engines.ENGINES:
        _PREDICTORS[engine] = Predictor(model_dir, PredictorSettings(engine=engine, device="cpu", threads=1))


def _loaded_pid(pause: float) -> int:
    time.sleep(pause)
    return os.getpid()


def _run(engine: str, body: bytes, duration: float, start_at: float) -> tuple[int, list[float], float]:
    classifier = _PREDICTORS[engine]
    for _ in range(3):  # warm-up
        predictor.encode(classifier.classify(body, "image/png"))
    time.sleep(max(0.0, start_at - time.monotonic()))
    cpu_started = time.process_time()
    latencies = []
    stop = time.perf_counter() + duration
    while time.perf_counter() < stop:
        started = time.perf_counter()
        predictor.encode(classifier.classify(body, "image/png"))
        latencies.append((time.perf_counter() - started) * 1000)
    return len(latencies), latencies, time.process_time() - cpu_started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--processes", type=int, required=True)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")  # nothing loaded in this process is inherited
    with context.Pool(args.processes, initializer=_load, initargs=(args.model_dir,)) as pool:
        # Tasks that sleep spread over the processes; once each has run one, each has loaded its predictors.
        while len(set(pool.map(_loaded_pid, [0.2] * args.processes * 2))) < args.processes:
            pass
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            order = json.loads(line)
            body = Path(order["body_file"]).read_bytes()
            start_at = time.monotonic() + 0.5
            parts = pool.starmap(_run, [(order["engine"], body, order["duration"], start_at)] * args.processes)
            answer = {
                "requests": sum(part[0] for part in parts),
                "latencies_ms": [ms for part in parts for ms in part[1]],
                "cpu_s": sum(part[2] for part in parts),
            }
            print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
