"""Serving benchmark: our model server vs MLServer vs in-process prediction, in one run on loopback.

Both servers serve the same Booster (trained here on the Abalone data when it is present, else on
generated data of the same shape). The servers and the floor run on the server CPUs (`--server-cpus`,
by default the first half of this process's CPUs) and the load generator on the others, so that the
client's own work does not slow down the server it measures (on 2 CPUs: one each). For each payload
size (1 row, 100 rows) the same closed-loop client (`loadgen.py`) drives each server with
`--concurrency` keep-alive connections; ours gets
the CSV body on `POST /invocations`, MLServer the equivalent V2 request on
`POST /v2/models/<name>/infer`. The servers are measured in alternating rounds so that noise from
anything else on the machine spreads over both. Also measured, in the same rounds:

- the like-for-like floor: the same decode + predict + encode called in process, with no HTTP,
  in as many processes as our server has workers, all at once;
- the zero-work baseline: our HTTP layer (same workers, same settings) answering a constant
  body, which shows what HTTP alone costs;
- with `--candidates`, other HTTP layers serving the same application (see `servers.py`).

Each server's CPU time is read from /proc (master and every worker) at both ends of each
measurement window: CPU microseconds per request tell the cost independent of the client.

Prints a table and the goal ratios; the last line is
`throughput_ratio_vs_mlserver=<our rps / MLServer rps on 100-row payloads>`.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xgboost
from loadgen import LoadResult, Measured, build_request, cpu_seconds_of, run_load

from local_lifecycle.processes import free_port, start_logged, stop, wait_until_answering
from xgboost_container import server_codec
from xgboost_container.model_format import MODEL_FILE, save_model
from xgboost_container.server_model import DeviceChoice, Model, load

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "abalone-dataset.csv"
MODEL_NAME = "abalone"
HOST = "127.0.0.1"
PAYLOAD_ROWS = (1, 100)
SERVERS = Path(__file__).resolve().parent / "servers.py"
LABELS = {
    "floor": "in-process predict (floor)",
    "xgboost-serve": "xgboost-serve (ours)",
    "constant": "ours, constant answer",
    "uvicorn": "uvicorn-worker (httptools)",
    "gunicorn-asgi": "gunicorn ASGI worker",
    "mlserver": "MLServer 1.7.1",
}


def abalone_features(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Abalone rows as features (sex one-hot + 7 measurements) and the ring count label."""
    sex = {"M": [1.0, 0.0, 0.0], "F": [0.0, 1.0, 0.0], "I": [0.0, 0.0, 1.0]}
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    features = np.array([sex[row[0]] + [float(v) for v in row[1:8]] for row in rows], dtype=np.float32)
    label = np.array([float(row[8]) for row in rows], dtype=np.float32)
    names = [
        "sex_M",
        "sex_F",
        "sex_I",
        "length",
        "diameter",
        "height",
        "whole_weight",
        "shucked_weight",
        "viscera_weight",
        "shell_weight",
    ]
    return features, label, names


def generated_features(rows: int = 4000, width: int = 10) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Random features with a noisy linear label, shaped like the Abalone data."""
    rng = np.random.default_rng(7)
    features = rng.random((rows, width), dtype=np.float32)
    label = features @ rng.random(width, dtype=np.float32) * 10 + rng.normal(0, 0.5, rows).astype(np.float32)
    return features, label, [f"f{i}" for i in range(width)]


def build_model(model_dir: Path, data: Path) -> np.ndarray:
    """Train the published Abalone configuration (50 rounds, depth 5) into `model_dir`; return its features."""
    features, label, names = abalone_features(data) if data.is_file() else generated_features()
    params = {
        "objective": "reg:squarederror",
        "max_depth": 5,
        "eta": 0.2,
        "gamma": 4,
        "min_child_weight": 6,
        "subsample": 0.7,
        "seed": 1,
    }
    booster = xgboost.train(params, xgboost.DMatrix(features, label, feature_names=names), num_boost_round=50)
    save_model(booster, model_dir, feature_names=names, label="rings")
    return features


def post(port: int, path: str, body: bytes, content_type: str) -> bytes:
    """One POST, for the correctness check before measuring."""
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def csv_body(rows: np.ndarray) -> bytes:
    """Rows as the CSV request our server takes."""
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()


def v2_body(rows: np.ndarray) -> bytes:
    """The same rows as a V2 inference request (what MLServer takes)."""
    return json.dumps(
        {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": list(rows.shape),
                    "datatype": "FP32",
                    "data": rows.astype(float).ravel().tolist(),
                }
            ]
        }
    ).encode()


_FLOOR_MODEL: Model | None = None  # set before the floor's processes fork


def _floor_process(body: bytes, duration_s: float, start_at: float) -> LoadResult:
    """One floor process: decode + predict + encode back to back from `start_at` for `duration_s`."""
    model = _FLOOR_MODEL
    assert model is not None
    time.sleep(max(0.0, start_at - time.monotonic()))
    started_cpu = time.process_time()
    latencies = []
    stop = time.perf_counter() + duration_s
    while time.perf_counter() < stop:
        started = time.perf_counter()
        rows = server_codec.decode(body, server_codec.CSV, model.num_features)
        server_codec.encode(model.predict(rows), server_codec.CSV)
        latencies.append((time.perf_counter() - started) * 1000)
    return LoadResult(len(latencies), 0, duration_s, latencies, "", time.process_time() - started_cpu)


def measure_floor(model: Model, body: bytes, duration_s: float, processes: int, cpus: set[int]) -> LoadResult:
    """The floor: `processes` processes (as many as the server's workers) predicting at once on `cpus`, no HTTP."""
    global _FLOOR_MODEL
    _FLOOR_MODEL = model
    start_at = time.monotonic() + 0.5
    with multiprocessing.get_context("fork").Pool(processes, os.sched_setaffinity, (0, cpus)) as pool:
        parts = pool.starmap(_floor_process, [(body, duration_s, start_at)] * processes)
    return LoadResult(
        sum(part.requests for part in parts),
        0,
        duration_s,
        [ms for part in parts for ms in part.latencies_ms],
        "",
        sum(part.cpu_s or 0.0 for part in parts),
    )


def parse_cpus(text: str) -> set[int]:
    """CPU numbers from a list such as `0`, `0,2` or `0-3`."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"{text!r} is not a CPU list such as 0, 0,2 or 0-3")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def parse_counts(text: str) -> list[int]:
    """Positive counts from a comma-separated list such as `8,32`."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of counts such as 8,32") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every count must be at least 1")
    return counts


def format_cpus(cpus: set[int]) -> str:
    """`cpus` as a comma-separated list."""
    return ",".join(str(cpu) for cpu in sorted(cpus))


def server_command(kind: str, model_dir: Path, port: int, workers: int) -> list[str]:
    """The command line that starts one of our server kinds on the loopback interface."""
    common = ["--model-dir", str(model_dir), "--port", str(port), "--workers", str(workers)]
    if kind == "xgboost-serve":
        return [sys.executable, "-m", "xgboost_container.serve", "--host", HOST, *common]
    return [sys.executable, str(SERVERS), kind, "--host", HOST, *common]


def start_mlserver(
    mlserver: Path, model_dir: Path, workdir: Path, port: int, log_path: Path, threads: int
) -> subprocess.Popen:
    """Start MLServer with mlserver-xgboost on the same model file, loopback only.

    `parallel_workers: 0` runs inference in the HTTP process: on 2 cores it measured about five
    times the throughput of the default (1) or 2 inference workers, so MLServer gets its best setting.
    """
    repository = workdir / "mlserver"
    model_repo = repository / MODEL_NAME
    model_repo.mkdir(parents=True, exist_ok=True)
    (model_repo / "model.json").write_bytes((model_dir / MODEL_FILE).read_bytes())
    (model_repo / "model-settings.json").write_text(
        json.dumps(
            {
                "name": MODEL_NAME,
                "implementation": "mlserver_xgboost.XGBoostModel",
                "parameters": {"uri": "./model.json"},
            }
        )
    )
    (repository / "settings.json").write_text(
        json.dumps(
            {
                "host": HOST,
                "http_port": port,
                "grpc_port": free_port(),
                "metrics_port": free_port(),
                "parallel_workers": 0,
                "debug": False,
            }
        )
    )
    # By default one OpenMP thread, as each of our workers has: with XGBoost's default (every core)
    # its idle OpenMP threads spin and, on a shared machine, MLServer measured ten times slower.
    environment = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    return start_logged([str(mlserver), "start", str(repository)], env=environment, log_path=log_path, cwd=repository)


def check_same_predictions(model, rows: np.ndarray, ports: dict[str, int]) -> None:
    """Every server must return what the in-process model predicts before anything is timed."""
    expected = model.predict(rows)
    for name, port in ports.items():
        if name == "constant":
            continue
        if name == "mlserver":
            document = json.loads(post(port, f"/v2/models/{MODEL_NAME}/infer", v2_body(rows), "application/json"))
            got = np.array(document["outputs"][0]["data"])
        else:
            body = json.dumps({"instances": rows.tolist()}).encode()
            got = np.array(json.loads(post(port, "/invocations", body, server_codec.JSON))["predictions"])
        if not np.allclose(got.ravel(), expected, rtol=1e-5):
            raise RuntimeError(f"{name} predictions differ from the in-process model: {got[:3]} vs {expected[:3]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlserver", type=Path, required=True, help="the mlserver executable of its venv")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("DATA", DEFAULT_DATA)))
    parser.add_argument(
        "--server-cpus",
        help="CPUs of the servers and the floor, e.g. 0 or 0-3 (default: the first half of this process's CPUs); "
        "the load generator gets the others (all of them when none are left)",
    )
    parser.add_argument("--workers", type=int, help="our server's workers (default: one per server CPU)")
    parser.add_argument(
        "--concurrency",
        type=parse_counts,
        default=[8, 32],
        help="concurrent client connections, one measurement per comma-separated count (default: 8,32)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating measurement rounds per server")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up per round")
    parser.add_argument("--duration", type=float, default=2.0, help="measured seconds per round")
    parser.add_argument(
        "--mlserver-threads",
        type=int,
        default=1,
        help="OpenMP threads of MLServer's XGBoost (OMP_NUM_THREADS); 0: XGBoost's default, every core",
    )
    parser.add_argument(
        "--candidates",
        default="",
        help="comma-separated other HTTP layers to measure with the same application: uvicorn, gunicorn-asgi",
    )
    args = parser.parse_args()
    available = sorted(os.sched_getaffinity(0))
    try:
        args.server_cpus = (
            parse_cpus(args.server_cpus) if args.server_cpus else set(available[: max(1, len(available) // 2)])
        )
    except ValueError as error:
        parser.error(f"--server-cpus: {error}")
    if not args.server_cpus <= set(available):
        parser.error(f"--server-cpus {sorted(args.server_cpus)} are not all among this process's CPUs {available}")
    args.client_cpus = (set(available) - args.server_cpus) or set(available)
    args.workers = args.workers or len(args.server_cpus)
    candidates = [name for name in args.candidates.split(",") if name]
    unknown = sorted(set(candidates) - {"uvicorn", "gunicorn-asgi"})
    if unknown:
        parser.error(f"unknown candidates {unknown}; known: uvicorn, gunicorn-asgi")

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        workdir = Path(tmp)
        model_dir = workdir / "model"
        features = build_model(model_dir, args.data)
        model = load(model_dir, DeviceChoice("cpu", "benchmark floor"))
        model.activate(threads=1)
        payloads = {n: features[:n] for n in PAYLOAD_ROWS}
        kinds = ["xgboost-serve", "constant", *candidates]
        ports = {name: free_port() for name in [*kinds, "mlserver"]}
        servers: dict[str, subprocess.Popen] = {}
        os.sched_setaffinity(0, args.server_cpus)  # inherited by the servers started here
        try:
            for kind in kinds:
                command = server_command(kind, model_dir, ports[kind], args.workers)
                servers[kind] = start_logged(command, env=None, log_path=workdir / f"{kind}.log")
            servers["mlserver"] = start_mlserver(
                args.mlserver.resolve(),
                model_dir,
                workdir,
                ports["mlserver"],
                workdir / "mlserver.log",
                args.mlserver_threads,
            )
            try:
                for name, process in servers.items():
                    ready = f"/v2/models/{MODEL_NAME}/ready" if name == "mlserver" else "/ping"
                    wait_until_answering(
                        process,
                        f"http://{HOST}:{ports[name]}{ready}",
                        what=name,
                        log_path=workdir / f"{name}.log",
                        timeout=90,
                    )
            except RuntimeError:
                for name in servers:
                    print(f"--- {name}.log\n{(workdir / f'{name}.log').read_text()[-3000:]}", file=sys.stderr)
                raise
            os.sched_setaffinity(0, args.client_cpus)  # the load generator's CPUs
            check_same_predictions(model, payloads[100], ports)
            results = run_all(args, model, payloads, ports, {name: cpu_seconds_of(p) for name, p in servers.items()})
        finally:
            for server in servers.values():
                stop(server)
    return report(args, results, [*kinds, "mlserver"])


def run_all(args, model, payloads, ports: dict[str, int], cpu: dict[str, Callable[[], float]]) -> dict:
    """Measure the floor, then every server at every concurrency, in alternating rounds, for every payload size."""
    results: dict = {}
    for rows_count, rows in payloads.items():
        body = csv_body(rows)
        requests = {
            name: build_request(HOST, port, "/invocations", body, server_codec.CSV)
            for name, port in ports.items()
            if name != "mlserver"
        }
        requests["mlserver"] = build_request(
            HOST, ports["mlserver"], f"/v2/models/{MODEL_NAME}/infer", v2_body(rows), "application/json"
        )
        floor = results[("floor", rows_count)] = Measured()
        for clients in args.concurrency:
            for name in requests:
                results[(name, rows_count, clients)] = Measured()
        for _ in range(args.rounds):
            floor.rounds.append(measure_floor(model, body, args.duration, args.workers, args.server_cpus))
            for clients in args.concurrency:
                for name, request in requests.items():
                    results[(name, rows_count, clients)].rounds.append(
                        run_load(
                            HOST,
                            ports[name],
                            request,
                            concurrency=clients,
                            warmup_s=args.warmup,
                            duration_s=args.duration,
                            cpu_seconds=cpu[name],
                        )
                    )
    return results


def report(args, results: dict, names: list[str]) -> int:
    """Print the table, the goal ratios and the summary line; non-zero when a server answered with errors."""
    print(
        f"loopback, {os.cpu_count()} CPUs: servers and floor on CPUs {format_cpus(args.server_cpus)}, "
        f"load generator on {format_cpus(args.client_cpus)}; {args.rounds} alternating rounds "
        f"of {args.duration:g} s per server, payload and client count (req/s: median round); "
        f"our servers: {args.workers} workers; floor: {args.workers} processes; "
        f"MLServer: OMP_NUM_THREADS={args.mlserver_threads or 'unset'}"
    )
    header = f"{'target':<30}{'rows':>5}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
    print(f"{header}{'req/s / floor':>15}{'CPU us/req':>12}")
    failed = False
    for rows_count in PAYLOAD_ROWS:
        floor = results[("floor", rows_count)]
        rows = [("floor", floor, "-")]
        rows += [(name, results[(name, rows_count, c)], str(c)) for c in args.concurrency for name in names]
        for name, result, clients in rows:
            print(
                f"{LABELS[name]:<30}{rows_count:>5}{clients:>8}{result.rps:>10.0f}{result.percentile(0.5):>9.2f}"
                f"{result.percentile(0.99):>9.2f}{result.rps / floor.rps:>15.2f}{result.cpu_us_per_request:>12.0f}"
            )
            if result.errors:
                failed = True
                print(f"  {result.errors} failed requests, first: {result.first_error}")
    goals = {1: 6.0, 100: 3.0}
    for clients in args.concurrency:
        for rows_count in PAYLOAD_ROWS:
            ours, floor = results[("xgboost-serve", rows_count, clients)], results[("floor", rows_count)]
            ratio = ours.rps / results[("mlserver", rows_count, clients)].rps
            share = ours.rps / floor.rps
            http = results[("constant", rows_count, clients)].cpu_us_per_request
            print(
                f"{rows_count:>3}-row payloads, {clients:>2} clients: ours / MLServer {ratio:.2f}x "
                f"({'meets' if ratio >= goals[rows_count] else 'MISSES'} the goal {goals[rows_count]:g}x); "
                f"ours / like-for-like floor {share:.2f} ({'meets' if share >= 0.8 else 'MISSES'} the goal 0.8); "
                f"CPU per request: ours {ours.cpu_us_per_request:.0f} us, of which HTTP (constant answer) "
                f"{http:.0f} us, floor {floor.cpu_us_per_request:.0f} us"
            )
    first = args.concurrency[0]
    ratio = results[("xgboost-serve", 100, first)].rps / results[("mlserver", 100, first)].rps
    print(f"throughput_ratio_vs_mlserver={ratio:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
