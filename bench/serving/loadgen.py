"""A small closed-loop HTTP/1.1 load generator for loopback benchmarks.

`concurrency` clients each hold one keep-alive connection and send the same prebuilt request
again as soon as the previous answer arrived (reconnecting when the server closes). Only the
measurement window counts; a warm-up window runs first. The client is one asyncio process with
raw streams, so its own cost per request is small and the same for every server measured.

`Measured` pools the rounds of one target (median round, pooled latencies); `cpu_seconds_of` reads a
server's CPU time (the process and its children) so that a window's CPU cost per request can be told.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil


@dataclass(frozen=True)
class LoadResult:
    """Throughput and latency of one measured window."""

    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    first_error: str
    cpu_s: float | None = None  # CPU seconds the server used in the window, when measured

    @property
    def rps(self) -> float:
        """Successful requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Latency (ms) at `fraction` (0..1) of the successful requests."""
        return percentile(self.latencies_ms, fraction)


@dataclass
class Measured:
    """One target on one payload across rounds: the median round's throughput, pooled latencies.

    The median of the rounds keeps a round disturbed by something else on the machine from
    deciding the result; latency percentiles come from every request of every round.
    """

    rounds: list[LoadResult] = field(default_factory=list)

    @property
    def rps(self) -> float:
        """Successful requests per second of the median round."""
        return statistics.median(result.rps for result in self.rounds)

    def percentile(self, fraction: float) -> float:
        """Latency (ms) at `fraction` of every successful request of every round."""
        return percentile([ms for result in self.rounds for ms in result.latencies_ms], fraction)

    @property
    def errors(self) -> int:
        """Failed requests over all rounds."""
        return sum(result.errors for result in self.rounds)

    @property
    def first_error(self) -> str:
        """The first failure seen, for the report."""
        return next((result.first_error for result in self.rounds if result.first_error), "")

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU microseconds per successful request, over every round (NaN when not measured)."""
        measured = [result for result in self.rounds if result.cpu_s is not None]
        requests = sum(result.requests for result in measured)
        return sum(result.cpu_s or 0.0 for result in measured) / requests * 1e6 if requests else float("nan")


def cpu_seconds_of(process: subprocess.Popen) -> Callable[[], float]:
    """A function reading a server's CPU time (user + system, the process and all its children) from /proc."""
    root = psutil.Process(process.pid)

    def read() -> float:
        total = 0.0
        for member in [root, *root.children(recursive=True)]:
            try:
                times = member.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    return read


def percentile(values: list[float], fraction: float) -> float:
    """The value at `fraction` (0..1) of the sorted values; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def build_request(host: str, port: int, path: str, body: bytes, content_type: str, accept: str | None = None) -> bytes:
    """The raw bytes of a keep-alive POST request."""
    headers = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: keep-alive",
    ]
    if accept:
        headers.append(f"Accept: {accept}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the server will close the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    chunked = closing = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            closing = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, closing


async def _client(
    host: str,
    port: int,
    request: bytes,
    start: float,
    measure_from: float,
    stop: float,
    latencies: list[float],
    errors: list[str],
) -> int:
    """One closed-loop client; returns how many requests succeeded inside the measurement window."""
    done = 0
    reader = writer = None
    while time.perf_counter() < stop:
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        sent = time.perf_counter()
        writer.write(request)
        try:
            status, closing = await _read_response(reader)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            writer.close()
            reader = writer = None
            errors.append(f"connection error: {error!r}")
            continue
        finished = time.perf_counter()
        if sent >= measure_from and finished <= stop:
            if status == 200:
                done += 1
                latencies.append((finished - sent) * 1000)
            else:
                errors.append(f"HTTP {status}")
        if closing:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()
    return done


async def _run(
    host: str,
    port: int,
    request: bytes,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    cpu_seconds: Callable[[], float] | None,
) -> LoadResult:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop = measure_from + duration_s
    latencies: list[float] = []
    errors: list[str] = []
    cpu: list[float] = []
    if cpu_seconds is not None:  # the server's CPU time at both ends of the measurement window
        loop.call_later(warmup_s, lambda: cpu.append(cpu_seconds()))
        loop.call_later(warmup_s + duration_s, lambda: cpu.append(cpu_seconds()))
    counts = await asyncio.gather(
        *(_client(host, port, request, start, measure_from, stop, latencies, errors) for _ in range(concurrency))
    )
    cpu_s = cpu[1] - cpu[0] if len(cpu) == 2 else None
    return LoadResult(sum(counts), len(errors), duration_s, latencies, errors[0] if errors else "", cpu_s)


def run_load(
    host: str,
    port: int,
    request: bytes,
    *,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    cpu_seconds: Callable[[], float] | None = None,
) -> LoadResult:
    """Drive `concurrency` keep-alive clients against host:port and measure the window after warm-up.

    `cpu_seconds`, when given, is sampled at the start and the end of the window (the server's CPU
    time, so that the result can tell its CPU cost per request).
    """
    return asyncio.run(_run(host, port, request, concurrency, warmup_s, duration_s, cpu_seconds))
