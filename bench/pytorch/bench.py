"""PyTorch serving benchmark: our model server (each engine) vs LitServe, in one run on loopback.

Two cases, each served by every target at once and measured in alternating rounds (so that load from
anything else on the machine falls on every target alike):

- `digits`: the image's default model (the `cnn` trained on scikit-learn's digits by the training
  entrypoint, 8x8 grayscale); requests are the test split's PNGs, and every target's test accuracy is
  measured over HTTP on the whole test split;
- `resnet18-224`: a ResNet-18 at 224x224 RGB (initial weights: speed only), requests the same digits
  enlarged to 224x224 PNGs, where compute, not HTTP, dominates.

Targets (see `models.py`, `litserve_server.py`, `floor.py`):

- ours: `pytorch-serve` (`python -m pytorch_container.serve`, the image's server on `http_serving`) once
  per engine (`MODEL_ENGINE` = eager, exported, onnx, onnx-int8), raw PNG bodies on `POST /invocations`;
- LitServe 0.2.19 (its own pinned venv) with the same `Predictor` (same decode, engines, top-k) for the
  engines `eager` (a torch module in `predict`: what a LitServe user writes) and `onnx-int8`, the same
  PNGs base64-encoded in LitServe's JSON request on `POST /predict`, as many inference workers as ours,
  in its best setting measured here: ZeroMQ queues (`fast_queue`; its default multiprocessing queues and
  one HTTP server process instead of one per worker both measured 10-40 % fewer req/s on 2 cores);
- the like-for-like floor of each engine: the same decode + predict + top-k + encode in process, with no
  HTTP, in as many processes as the servers have workers.

The same closed-loop client (`bench/serving/loadgen.py`) drives every server with `--concurrency`
keep-alive connections, one image per request. Before timing, the answers of every server are checked
against each other (LitServe and ours on the same engine give the same classes).

Last lines: `pytorch_ratio_vs_litserve=<best engine of ours / best LitServe, req/s, digits>`,
`int8_speedup_vs_fp32=<onnx-int8 / onnx req/s over HTTP, resnet18-224>`,
`int8_accuracy_drop_pts=<onnx minus onnx-int8 test accuracy over HTTP, digits, in points>`.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "serving"))

from loadgen import LoadResult, Measured, build_request, cpu_seconds_of, run_load  # noqa: E402

from local_lifecycle.processes import free_port, start_logged, stop, wait_until_answering  # noqa: E402

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
ENGINES = ("eager", "exported", "onnx", "onnx-int8")
LITSERVE_ENGINES = ("eager", "onnx-int8")
CASES = ("digits", "resnet18-224")
PNG = "image/png"
JSON = "application/json"


@dataclass
class Target:
    """One server under test (or the floor) and what it was measured to do."""

    name: str
    engine: str
    kind: str  # "ours", "litserve" or "floor"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    measured: Measured = field(default_factory=Measured)
    accuracy: float | None = None

    @property
    def path(self) -> str:
        return "/predict" if self.kind == "litserve" else "/invocations"

    def body(self, png: bytes) -> tuple[bytes, str]:
        """The request body (and its type) that carries one PNG to this server."""
        if self.kind == "litserve":
            return json.dumps({"image": base64.b64encode(png).decode()}).encode(), JSON
        return png, PNG


def stop_tree(process: subprocess.Popen[bytes]) -> None:
    """Stop a server and every process it started (LitServe's workers outlive a terminated parent)."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    stop(process)
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        child.kill()


def classify(target: Target, pngs: list[bytes]) -> list[list[dict]]:
    """Each PNG through one kept-alive connection: the top-k answers, in order."""
    connection = http.client.HTTPConnection(HOST, target.port, timeout=60)
    answers = []
    try:
        for png in pngs:
            body, content_type = target.body(png)
            connection.request("POST", target.path, body=body, headers={"Content-Type": content_type})
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError(f"{target.name} answered {response.status}: {payload[:300]!r}")
            answers.append(json.loads(payload))
    finally:
        connection.close()
    return answers


class Floor:
    """`floor.py` in the PyTorch venv: one request line per measurement."""

    def __init__(self, python: Path, model_dir: Path, processes: int, log_path: Path) -> None:
        self.processes = processes
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                [str(python), str(HERE / "floor.py"), "--model-dir", str(model_dir), "--processes", str(processes)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        self._answer()

    def _answer(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the floor process exited with {self.process.wait()}")
        answer: dict = json.loads(line)
        return answer

    def measure(self, engine: str, body_file: Path, duration: float) -> LoadResult:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"engine": engine, "body_file": str(body_file), "duration": duration}))
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        answer = self._answer()
        return LoadResult(answer["requests"], 0, duration, answer["latencies_ms"], "", answer["cpu_s"])

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_servers(args: argparse.Namespace, case: dict, workdir: Path) -> list[Target]:
    """Our server per engine and LitServe per engine, all on loopback; returns once each answers."""
    model_dir = case["model_dir"]
    targets = []
    base_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for engine in ENGINES:
        target = Target(f"ours {engine}", engine, "ours", free_port())
        command = [str(args.pytorch_python), "-m", "pytorch_container.serve", "--model-dir", model_dir]
        command += ["--host", HOST, "--port", str(target.port), "--workers", str(args.workers)]
        env = {**base_env, "MODEL_ENGINE": engine, "MODEL_DEVICE": "cpu"}
        target.process = start_logged(command, env=env, log_path=workdir / f"ours-{engine}.log")
        targets.append(target)
    for engine in LITSERVE_ENGINES:
        target = Target(f"LitServe {engine}", engine, "litserve", free_port())
        command = [str(args.litserve_python), str(HERE / "litserve_server.py"), "--model-dir", model_dir]
        command += ["--engine", engine, "--port", str(target.port), "--workers", str(args.workers)]
        command += ["--api-servers", str(args.litserve_api_servers)]
        if args.litserve_queue == "zmq":
            command.append("--fast-queue")
        target.process = start_logged(command, env=base_env, log_path=workdir / f"litserve-{engine}.log")
        targets.append(target)
    for target in targets:
        assert target.process is not None
        ready = "/health" if target.kind == "litserve" else "/ping"
        log_path = workdir / f"{'litserve' if target.kind == 'litserve' else 'ours'}-{target.engine}.log"
        wait_until_answering(
            target.process, f"http://{HOST}:{target.port}{ready}", what=target.name, log_path=log_path, timeout=180
        )
    return targets


def check_answers(targets: list[Target], pngs: list[bytes]) -> None:
    """Same engine, same classes: LitServe runs our pre-processing and engines, so its answers must match."""
    tops = {target.name: [[c["className"] for c in a] for a in classify(target, pngs)] for target in targets}
    for engine in LITSERVE_ENGINES:
        if tops[f"ours {engine}"] != tops[f"LitServe {engine}"]:
            raise RuntimeError(f"LitServe and our server answer differently with engine {engine}")


def measure_accuracy(targets: list[Target], case: dict, pngs: list[bytes]) -> None:
    """Every target's top-1 accuracy on the whole test split, over HTTP."""
    for target in targets:
        answers = classify(target, pngs)
        labels = [case["class_names"][label] for label in case["labels"]]
        target.accuracy = sum(a[0]["className"] == y for a, y in zip(answers, labels, strict=True)) / len(answers)


def measure_rounds(args: argparse.Namespace, name: str, targets: list[Target], floor: Floor, png: Path) -> list[Target]:
    """Alternating rounds over every server and every engine's floor; returns the floor targets."""
    floors = [Target(f"floor {engine}", engine, "floor") for engine in ENGINES]
    requests = {}
    for target in targets:
        body, content_type = target.body(png.read_bytes())
        requests[target.name] = build_request(HOST, target.port, target.path, body, content_type)
    cpu = {target.name: cpu_seconds_of(target.process) for target in targets if target.process}
    for number in range(1, args.rounds + 1):
        print(f"[{name}] round {number}/{args.rounds}", flush=True)
        for target in floors:
            target.measured.rounds.append(floor.measure(target.engine, png, args.duration))
        for target in targets:
            load = run_load(
                HOST,
                target.port,
                requests[target.name],
                concurrency=args.concurrency,
                warmup_s=args.warmup,
                duration_s=args.duration,
                cpu_seconds=cpu[target.name],
            )
            target.measured.rounds.append(load)
    return floors


def run_case(args: argparse.Namespace, name: str, case: dict, workdir: Path) -> dict[str, Target]:
    """Start every target of one case, check and measure them, stop them."""
    pngs = [Path(path).read_bytes() for path in case["images"]]
    print(f"\n[{name}] starting {len(ENGINES)} of our servers, {len(LITSERVE_ENGINES)} LitServe servers, the floor")
    targets: list[Target] = []
    floor = None
    try:
        targets = start_servers(args, case, workdir)
        floor = Floor(args.pytorch_python, Path(case["model_dir"]), args.workers, workdir / f"floor-{name}.log")
        check_answers(targets, pngs[:20])
        if case["trained"]:
            measure_accuracy(targets, case, pngs)
        floors = measure_rounds(args, name, targets, floor, Path(case["images"][0]))
        return {target.name: target for target in [*targets, *floors]}
    except Exception:
        for log in sorted(workdir.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-2000:]}", file=sys.stderr)
        raise
    finally:
        if floor:
            floor.close()
        for target in targets:
            if target.process:
                stop_tree(target.process)


def report(args: argparse.Namespace, cases: dict, results: dict[str, dict[str, Target]]) -> int:
    """Print the table and the summary lines; non-zero when a server answered with errors."""
    print(
        f"\nloopback, {os.cpu_count()} CPUs, {args.concurrency} keep-alive clients, one image per request, "
        f"{args.rounds} alternating rounds of {args.duration:g} s (req/s: median round; p50/p99 over every round); "
        f"{args.workers} workers per server, {args.workers} floor processes, 1 intra-op thread each"
    )
    header = f"{'case':<14}{'target':<20}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'/ floor':>9}"
    print(header + f"{'CPU us/req':>11}{'model MB':>10}{'test acc':>10}")
    failed = False
    for name, targets in results.items():
        files = json.loads((Path(cases[name]["model_dir"]) / "model-metadata.json").read_text())["files"]
        for target in targets.values():
            result = target.measured
            floor = targets[f"floor {target.engine}"].measured
            size = (Path(cases[name]["model_dir"]) / files[target.engine]).stat().st_size / 1e6
            accuracy = f"{target.accuracy:10.4f}" if target.accuracy is not None else f"{'-':>10}"
            print(
                f"{name:<14}{target.name:<20}{result.rps:>9.1f}{result.percentile(0.5):>9.2f}"
                f"{result.percentile(0.99):>9.2f}{result.rps / floor.rps:>9.2f}{result.cpu_us_per_request:>11.0f}"
                f"{size:>10.2f}{accuracy}"
            )
            if result.errors:
                failed = True
                print(f"  {result.errors} failed requests, first: {result.first_error}")
    lines = {}
    for name, targets in results.items():
        ours = max((t for t in targets.values() if t.kind == "ours"), key=lambda t: t.measured.rps)
        theirs = max((t for t in targets.values() if t.kind == "litserve"), key=lambda t: t.measured.rps)
        ratio = ours.measured.rps / theirs.measured.rps
        print(
            f"{name}: best of ours ({ours.name}) / best LitServe ({theirs.name}): {ratio:.2f}x "
            f"({'meets' if ratio >= 1.5 else 'MISSES'} the goal 1.5x)"
        )
        for engine in LITSERVE_ENGINES:
            same = targets[f"ours {engine}"].measured.rps / targets[f"LitServe {engine}"].measured.rps
            print(f"{name}: ours / LitServe, both on engine {engine}: {same:.2f}x")
        speedup = targets["ours onnx-int8"].measured.rps / targets["ours onnx"].measured.rps
        print(f"{name}: onnx-int8 / onnx over HTTP: {speedup:.2f}x")
        lines[name] = (ratio, speedup)
    digits = results["digits"]
    drop_pts = 100 * ((digits["ours onnx"].accuracy or 0.0) - (digits["ours onnx-int8"].accuracy or 0.0))
    speedup_case = "resnet18-224" if "resnet18-224" in lines else "digits"
    print(f"int8 accuracy drop (digits test split, over HTTP): {drop_pts:.2f} points (goal: at most 1)")
    print(f"pytorch_ratio_vs_litserve={lines['digits'][0]:.2f}")
    print(f"int8_speedup_vs_fp32={lines[speedup_case][1]:.2f}")
    print(f"int8_accuracy_drop_pts={drop_pts:.2f}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pytorch-python", type=Path, required=True, help="python of .venv-pytorch")
    parser.add_argument("--litserve-python", type=Path, required=True, help="python of LitServe's venv")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers per server")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent keep-alive client connections")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurement rounds per target")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up per round")
    parser.add_argument("--duration", type=float, default=2.0, help="measured seconds per round")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument(
        "--litserve-queue",
        choices=("zmq", "multiprocessing"),
        default="zmq",
        help="LitServe's queues between HTTP servers and workers: ZeroMQ (its fast_queue; measured faster here) "
        "or multiprocessing's (its default)",
    )
    parser.add_argument(
        "--litserve-api-servers", type=int, default=0, help="LitServe's HTTP server processes; 0: its default"
    )
    args = parser.parse_args()
    chosen = [name for name in args.cases.split(",") if name]
    if "digits" not in chosen or set(chosen) - set(CASES):
        parser.error(f"--cases must include digits and only name cases of {list(CASES)}")
    with tempfile.TemporaryDirectory(prefix="bench-pytorch-") as scratch:
        workdir = Path(scratch)
        print("building the models (training the digits classifier with the image's entrypoint) ...", flush=True)
        built = subprocess.run(
            [str(args.pytorch_python), str(HERE / "models.py"), str(workdir)],
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        if built.returncode != 0:
            print(built.stdout[-3000:], built.stderr[-3000:], file=sys.stderr)
            return 1
        cases = json.loads((workdir / "cases.json").read_text())
        results = {name: run_case(args, name, cases[name], workdir) for name in chosen}
        return report(args, cases, results)


if __name__ == "__main__":
    sys.exit(main())
