"""What one XGBoost prediction call costs in process, three ways, side by side in one run.

- `Booster.inplace_predict`: XGBoost's Python API on the numpy array (the peer);
- the C API without a proxy: `XGBoosterPredictFromDense` with no DMatrix handle, so that XGBoost
  creates a proxy DMatrix for every call (what `server_model.DensePredictor` did before);
- ours: `server_model.DensePredictor`, the C API with a proxy DMatrix created once per thread.

The model is the benchmark's (`bench.build_model`: the Abalone configuration, 50 trees of depth 5),
on 1 and 100 rows, one thread. Prints a table (microseconds per call: median of the rounds) and
`predict_us_1_row=<ours>`.

    PYTHONPATH=.:bench/serving .venv/bin/python bench/serving/predict_cost.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from bench import DEFAULT_DATA, build_model
from xgboost_container.server_model import DensePredictor, DeviceChoice, load


class ProxyPerCall(DensePredictor):
    """`DensePredictor` passing no DMatrix handle, so that XGBoost builds a proxy DMatrix on every call."""

    def _proxy(self) -> Any:
        return _NO_PROXY


_NO_PROXY = SimpleNamespace(handle=None)


def per_call_us(predict: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, calls: int) -> float:
    """Microseconds per call over `calls` calls."""
    started = time.perf_counter()
    for _ in range(calls):
        predict(rows)
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        features = build_model(Path(tmp), DEFAULT_DATA)
        model = load(Path(tmp), DeviceChoice("cpu", "benchmark"))
    model.activate(threads=1)
    booster = model.booster
    ways = {
        "Booster.inplace_predict": lambda rows: booster.inplace_predict(rows),
        "C API, a proxy per call": ProxyPerCall(booster),
        "ours (proxy kept)": DensePredictor(booster),
    }
    print(f"{'way':<26}{'rows':>6}{'us/call':>10}")
    ours_1_row = 0.0
    for count in (1, 100):
        rows = np.ascontiguousarray(features[:count])
        expected = booster.inplace_predict(rows)
        assert all(np.array_equal(way(rows), expected) for way in ways.values())
        times: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, way in ways.items():
                times[name].append(per_call_us(way, rows, args.calls))
        for name in ways:
            print(f"{name:<26}{count:>6}{statistics.median(times[name]):>10.1f}")
        ours_1_row = ours_1_row or statistics.median(times["ours (proxy kept)"])
    print(f"predict_us_1_row={ours_1_row:.1f}")


if __name__ == "__main__":
    main()
