"""`make cost-report`: monthly cost of serving the image classifier against requests per month.

Serverless (Lambda at several memory sizes, with SnapStart; SageMaker serverless inference) against
always-on (Elastic Beanstalk on t3.micro / t3.small, Fargate task sizes, SageMaker real-time endpoints),
from the price table in `config/serving-prices.yaml` and latencies measured here by `make serve-demo`'s code:
the Lambda handler's time per request (what Lambda bills) and the model server's time per request over HTTP
(what bounds an always-on server's throughput). Prints the crossover points, compares them with the seeds'
figures, and writes a PNG plot.

The model, in short (every assumption is a line of the price table or a named constant here):

- Lambda: requests x (request price + GB x billed seconds x GB-second price). Lambda gives a function
  memory/1,769 MB of one vCPU, so a duration measured on one full core is scaled up below 1,769 MB, and
  billed in whole milliseconds. SnapStart adds a cache charge for the memory of the active version all month
  and a restore charge per environment start; without it each start bills the measured init. Starts a month:
  one per request while requests come further apart than `environment_idle_minutes`, at most one per idle
  gap, plus one per `environment_lifetime_hours` for each environment kept busy.
- Always-on: enough instances (or tasks) to serve the average rate at `capacity_utilization` of their
  sustained CPU (a t3's sustained CPU is its baseline share; Fargate and SageMaker CPUs are not
  burstable), at least one; plus, for what the stacks deploy, the Application Load Balancer, the NAT gateway
  and its address (Beanstalk and Fargate), EBS for Beanstalk instances. A SageMaker endpoint needs neither.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

REPO_ROOT = Path(__file__).resolve().parents[1]
PRICES = REPO_ROOT / "config" / "serving-prices.yaml"
OUTPUT_DIR = REPO_ROOT / "build" / "cost-report"
SECONDS_PER_HOUR = 3600


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LambdaPrices(_Table):
    gb_second: float = Field(gt=0)
    per_million_requests: float = Field(ge=0)
    function_url_per_million: float = Field(ge=0)
    http_api_per_million: float = Field(ge=0)
    full_vcpu_memory_mb: int = Field(gt=0)
    memory_mb: list[int] = Field(min_length=1)
    snapstart_cache_gb_second: float = Field(ge=0)
    snapstart_restore_gb: float = Field(ge=0)
    environment_idle_minutes: float = Field(gt=0)
    environment_lifetime_hours: float = Field(gt=0)


class FargateTask(_Table):
    name: str
    vcpu: float = Field(gt=0)
    memory_gb: float = Field(gt=0)


class FargatePrices(_Table):
    vcpu_hour: float = Field(gt=0)
    gb_hour: float = Field(gt=0)
    tasks: list[FargateTask] = Field(min_length=1)


class Ec2Instance(_Table):
    name: str
    hourly: float = Field(gt=0)
    vcpu: int = Field(gt=0)
    baseline_share: float = Field(gt=0, le=1)
    memory_gb: float = Field(gt=0)


class Ec2Prices(_Table):
    instances: list[Ec2Instance] = Field(min_length=1)
    ebs_gb_month: float = Field(ge=0)
    root_volume_gb: int = Field(ge=0)


class LoadBalancerPrices(_Table):
    hourly: float = Field(ge=0)
    lcu_hour: float = Field(ge=0)
    new_connections_per_lcu: float = Field(gt=0)


class NetworkPrices(_Table):
    nat_gateway_hourly: float = Field(ge=0)
    public_ipv4_hourly: float = Field(ge=0)


class SageMakerInstance(_Table):
    name: str
    hourly: float = Field(gt=0)
    vcpu: int = Field(gt=0)


class SageMakerPrices(_Table):
    real_time: list[SageMakerInstance] = Field(min_length=1)
    serverless_gb_second: float = Field(gt=0)
    serverless_memory_mb: list[int] = Field(min_length=1)
    data_processed_gb: float = Field(ge=0)


class SeedFigure(_Table):
    name: str
    monthly: float = Field(gt=0)
    lambda_requests: int = Field(gt=0)


class PriceTable(_Table):
    """`config/serving-prices.yaml`."""

    region: str
    as_of: str
    hours_per_month: float = Field(gt=0)
    capacity_utilization: float = Field(gt=0, le=1)
    lambda_: LambdaPrices = Field(alias="lambda")
    fargate: FargatePrices
    ec2: Ec2Prices
    load_balancer: LoadBalancerPrices
    network: NetworkPrices
    sagemaker: SageMakerPrices
    seeds: list[SeedFigure]

    @property
    def seconds_per_month(self) -> float:
        """Seconds in the table's month."""
        return self.hours_per_month * SECONDS_PER_HOUR


def load_prices(path: Path = PRICES) -> PriceTable:
    """Read and validate the price table."""
    return PriceTable.model_validate(yaml.safe_load(path.read_text()))


@dataclass(frozen=True)
class Measured:
    """What was measured here: milliseconds per request on one core, and the request/response size."""

    lambda_ms: float  # the handler's time per request (what Lambda bills), at one full vCPU
    server_ms: float  # the model server's time per request over HTTP, one worker (bounds its throughput)
    request_bytes: float
    response_bytes: float
    init_ms: float  # the function's init in a fresh process (imports, model download and load)


@dataclass(frozen=True)
class Option:
    """One way of serving, with its monthly cost as a function of requests per month."""

    name: str
    kind: str  # "serverless" or "always-on"
    monthly: Callable[[float], float]


def lambda_billed_seconds(measured_ms: float, memory_mb: int, prices: PriceTable) -> float:
    """Billed duration of one request: the one-core time stretched by the CPU share, in whole milliseconds."""
    stretch = max(1.0, prices.lambda_.full_vcpu_memory_mb / memory_mb)
    return math.ceil(measured_ms * stretch) / 1000


def environment_starts(requests: float, concurrency: float, prices: PriceTable) -> float:
    """Lambda environments started in a month (cold starts), under the table's two assumptions."""
    table = prices.lambda_
    idle_gaps = prices.hours_per_month * 60 / table.environment_idle_minutes
    replacements = prices.hours_per_month / table.environment_lifetime_hours * max(1.0, math.ceil(concurrency))
    return min(requests, idle_gaps + replacements)


def lambda_option(
    memory_mb: int, measured: Measured, prices: PriceTable, *, snap_start: bool = True, front: str = "url"
) -> Option:
    """The function at `memory_mb`, behind a function URL (`url`) or an HTTP API (`http-api`)."""
    table = prices.lambda_
    gb = memory_mb / 1024
    front_price = table.function_url_per_million if front == "url" else table.http_api_per_million
    per_request = (table.per_million_requests + front_price) / 1e6 + gb * lambda_billed_seconds(
        measured.lambda_ms, memory_mb, prices
    ) * table.gb_second
    billed = lambda_billed_seconds(measured.lambda_ms, memory_mb, prices)
    cache = gb * prices.seconds_per_month * table.snapstart_cache_gb_second if snap_start else 0.0
    # A start costs a restore with SnapStart, otherwise the init's duration (Lambda bills the init phase).
    per_start = gb * table.snapstart_restore_gb if snap_start else gb * measured.init_ms / 1000 * table.gb_second
    label = (
        f"Lambda {memory_mb} MB" + (" + SnapStart" if snap_start else "") + (" + HTTP API" if front != "url" else "")
    )

    def monthly(requests: float) -> float:
        concurrency = requests / prices.seconds_per_month * billed
        return cache + requests * per_request + environment_starts(requests, concurrency, prices) * per_start

    return Option(label, "serverless", monthly)


def _units(requests: float, per_unit_rps: float, prices: PriceTable) -> int:
    """Instances or tasks to serve the month's average rate (at least one)."""
    rate = requests / prices.seconds_per_month
    return max(1, math.ceil(rate / per_unit_rps))


def _load_balancer_monthly(requests: float, prices: PriceTable) -> float:
    table = prices.load_balancer
    lcus = requests / prices.seconds_per_month / table.new_connections_per_lcu
    return prices.hours_per_month * (table.hourly + lcus * table.lcu_hour)


def _network_monthly(prices: PriceTable) -> float:
    return prices.hours_per_month * (prices.network.nat_gateway_hourly + prices.network.public_ipv4_hourly)


def beanstalk_option(instance: Ec2Instance, measured: Measured, prices: PriceTable, *, with_network: bool) -> Option:
    """Beanstalk instances (+ the ALB, NAT and EBS the stack deploys, or the instance alone as the seeds count)."""
    sustained_vcpu = instance.vcpu * instance.baseline_share * prices.capacity_utilization
    per_unit_rps = sustained_vcpu / (measured.server_ms / 1000)
    unit = prices.hours_per_month * instance.hourly
    ebs = prices.ec2.ebs_gb_month * prices.ec2.root_volume_gb

    def monthly(requests: float) -> float:
        units = _units(requests, per_unit_rps, prices)
        if not with_network:
            return units * unit
        return units * (unit + ebs) + _load_balancer_monthly(requests, prices) + _network_monthly(prices)

    suffix = " + ALB + NAT (as deployed)" if with_network else " (instance only, the seeds' way)"
    return Option(f"Beanstalk {instance.name}{suffix}", "always-on", monthly)


def fargate_option(task: FargateTask, measured: Measured, prices: PriceTable) -> Option:
    """Fargate tasks of one size, with the ALB, NAT gateway and address the stack deploys."""
    per_unit_rps = task.vcpu * prices.capacity_utilization / (measured.server_ms / 1000)
    unit = prices.hours_per_month * (task.vcpu * prices.fargate.vcpu_hour + task.memory_gb * prices.fargate.gb_hour)

    def monthly(requests: float) -> float:
        units = _units(requests, per_unit_rps, prices)
        return units * unit + _load_balancer_monthly(requests, prices) + _network_monthly(prices)

    return Option(f"{task.name} + ALB + NAT (as deployed)", "always-on", monthly)


def sagemaker_real_time_option(instance: SageMakerInstance, measured: Measured, prices: PriceTable) -> Option:
    """A SageMaker real-time endpoint on one instance type (the endpoint is the load balancer)."""
    per_unit_rps = instance.vcpu * prices.capacity_utilization / (measured.server_ms / 1000)
    unit = prices.hours_per_month * instance.hourly

    def monthly(requests: float) -> float:
        return _units(requests, per_unit_rps, prices) * unit

    return Option(f"SageMaker real-time {instance.name}", "always-on", monthly)


def sagemaker_serverless_option(memory_mb: int, measured: Measured, prices: PriceTable) -> Option:
    """SageMaker serverless inference: compute per second of processing, and data in and out."""
    table = prices.sagemaker
    billed_seconds = math.ceil(measured.server_ms) / 1000  # processing time, in whole milliseconds
    per_request = (memory_mb / 1024) * billed_seconds * table.serverless_gb_second + (
        (measured.request_bytes + measured.response_bytes) / 1e9 * table.data_processed_gb
    )
    return Option(f"SageMaker serverless {memory_mb} MB", "serverless", lambda requests: requests * per_request)


def options(measured: Measured, prices: PriceTable) -> list[Option]:
    """Every option of the report."""
    serverless = [lambda_option(memory, measured, prices) for memory in prices.lambda_.memory_mb]
    # What SnapStart costs: the middle memory size once more without it.
    middle = prices.lambda_.memory_mb[len(prices.lambda_.memory_mb) // 2]
    serverless.append(lambda_option(middle, measured, prices, snap_start=False))
    serverless += [sagemaker_serverless_option(m, measured, prices) for m in prices.sagemaker.serverless_memory_mb]
    always_on: list[Option] = []
    for instance in prices.ec2.instances:
        always_on.append(beanstalk_option(instance, measured, prices, with_network=False))
        always_on.append(beanstalk_option(instance, measured, prices, with_network=True))
    always_on += [fargate_option(task, measured, prices) for task in prices.fargate.tasks]
    always_on += [sagemaker_real_time_option(instance, measured, prices) for instance in prices.sagemaker.real_time]
    return serverless + always_on


def crossover(serverless: Option, always_on: Option, *, low: float = 1e3, high: float = 1e11) -> float | None:
    """The fewest requests per month at which `serverless` costs at least `always_on` (None within the range)."""
    if serverless.monthly(low) >= always_on.monthly(low):
        return low
    grid = [float(low * (high / low) ** (i / 400)) for i in range(401)]
    previous = low
    for requests in grid[1:]:
        if serverless.monthly(requests) >= always_on.monthly(requests):
            lo, hi = previous, requests
            for _ in range(60):
                middle = math.sqrt(lo * hi)
                if serverless.monthly(middle) >= always_on.monthly(middle):
                    hi = middle
                else:
                    lo = middle
            return hi
        previous = requests
    return None


def seeds_lines(prices: PriceTable, measured: Measured) -> list[str]:
    """What the seeds' figures imply, next to ours."""
    lines = []
    table = prices.lambda_
    for seed in prices.seeds:
        per_million = seed.monthly / (seed.lambda_requests / 1e6)
        compute = per_million - table.per_million_requests
        implied_ms = compute / 1e6 / table.gb_second * 1000  # at 1 GB
        lines.append(
            f"seeds: {seed.name} ${seed.monthly:.2f}/month = {seed.lambda_requests / 1e6:.2f}M Lambda requests, i.e. "
            f"${per_million:.2f} per million: {implied_ms:.0f} ms billed per request at 1,024 MB"
        )
    ours = lambda_option(1024, measured, prices, snap_start=False).monthly(1e6)
    billed_ms = lambda_billed_seconds(measured.lambda_ms, 1024, prices) * 1000
    lines.append(
        f"ours:  ${ours:.2f} per million at 1,024 MB ({billed_ms:.0f} ms billed per request; the request price "
        f"${table.per_million_requests:.2f} is most of it)"
    )
    return lines


def plot(all_options: list[Option], path: Path, *, title: str) -> None:
    """Monthly cost against requests per month, log-log, one line per option."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = [1e4 * (1e10 / 1e4) ** (i / 300) for i in range(301)]
    figure, axes = plt.subplots(figsize=(11, 7))
    for option in all_options:
        style = "-" if option.kind == "serverless" else "--"
        axes.plot(grid, [max(option.monthly(r), 0.01) for r in grid], style, label=option.name, linewidth=1.4)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("requests per month")
    axes.set_ylabel("USD per month")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def report(measured: Measured, prices: PriceTable, *, plot_path: Path | None) -> list[str]:
    """The report's lines (and the plot, when a path is given)."""
    all_options = options(measured, prices)
    serverless = [o for o in all_options if o.kind == "serverless"]
    always_on = [o for o in all_options if o.kind == "always-on"]
    lines = [
        f"prices: {prices.region}, as of {prices.as_of} (config/serving-prices.yaml)",
        f"measured: Lambda handler {measured.lambda_ms:.3f} ms/request, init {measured.init_ms:.0f} ms (fresh "
        f"process), model server {measured.server_ms:.3f} ms/request over HTTP (one core, this machine, provisional)",
    ]
    for option in always_on:
        lines.append(f"always-on: {option.name}: ${option.monthly(1e6):.2f}/month at 1M requests")
    for option in serverless:
        lines.append(f"serverless: {option.name}: ${option.monthly(1e6):.2f}/month at 1M requests")
    for left in serverless:
        for right in always_on:
            point = crossover(left, right)
            if point is None:
                where = "none below 100 billion requests/month"
            elif point < 1e6:  # the serverless option's fixed monthly fees alone come close to the always-on one
                where = f"at {point:,.0f} requests/month"
            else:
                where = f"at {point / 1e6:,.2f}M requests/month"
            lines.append(f"crossover: {left.name} = {right.name} {where}")
    lines += seeds_lines(prices, measured)
    if plot_path is not None:
        plot(all_options, plot_path, title=f"Image classifier serving cost, {prices.region}, prices of {prices.as_of}")
        lines.append(f"plot: {plot_path}")
    return lines


def main() -> None:
    """`make cost-report`: measure (make serve-demo's code), compute, print, plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prices", type=Path, default=PRICES)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR)
    args = parser.parse_args()
    import logging
    import statistics

    from local_lifecycle import serve_demo

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    result = serve_demo.run(count=args.images, epochs=12)
    print(serve_demo.report(result))
    answer_bytes = sum(len(str(a)) for a in result.serverless.answers) / len(result.images)
    measured = Measured(
        lambda_ms=statistics.fmean(result.serverless.latencies_ms),
        server_ms=statistics.fmean(result.always_on.latencies_ms),
        request_bytes=statistics.fmean(len(image.body) for image in result.images),
        response_bytes=answer_bytes,
        init_ms=result.cold_init_ms,
    )
    lines = report(measured, load_prices(args.prices), plot_path=args.output / "serving-cost.png")
    (args.output / "report.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
