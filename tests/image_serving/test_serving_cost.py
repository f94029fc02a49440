"""The cost report's model: billed durations, fixed fees, capacity steps and crossovers, on round numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tooling import serving_cost
from tooling.serving_cost import Measured, PriceTable, crossover, load_prices

ROOT = Path(__file__).resolve().parents[2]


def table(**overrides: object) -> PriceTable:
    """The configured table with some prices replaced (dotted keys joined by `__`)."""
    data = yaml.safe_load((ROOT / "config" / "serving-prices.yaml").read_text())
    for path, value in overrides.items():
        *parents, leaf = path.split("__")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    return PriceTable.model_validate(data)


MEASURED = Measured(lambda_ms=0.28, server_ms=10.0, request_bytes=1000, response_bytes=200, init_ms=0.0)


@pytest.mark.parametrize(("memory", "billed_ms"), [(1769, 1), (3008, 1), (512, 1), (256, 2), (128, 4)])
def test_lambda_bills_whole_milliseconds_stretched_by_its_cpu_share(memory: int, billed_ms: int) -> None:
    assert serving_cost.lambda_billed_seconds(0.28, memory, load_prices()) * 1000 == billed_ms


def test_the_crossover_is_where_the_fixed_month_equals_the_per_request_price() -> None:
    # $1 per million requests and nothing else against an instance costing $10 a month: 10M requests.
    prices = table(lambda__per_million_requests=1.0, lambda__gb_second=1e-12, hours_per_month=1000.0)
    function = serving_cost.lambda_option(1024, MEASURED, prices, snap_start=False)
    instance = serving_cost.Ec2Instance(name="x", hourly=0.01, vcpu=2, baseline_share=1.0, memory_gb=1)
    always_on = serving_cost.beanstalk_option(instance, MEASURED, prices, with_network=False)
    assert always_on.monthly(1) == pytest.approx(10.0)
    assert crossover(function, always_on) == pytest.approx(10e6, rel=1e-6)


def test_snapstart_costs_its_cache_all_month_and_a_restore_per_start() -> None:
    prices = table(lambda__per_million_requests=0.0, lambda__gb_second=1e-15)
    snap = serving_cost.lambda_option(2048, MEASURED, prices, snap_start=True)
    month = prices.seconds_per_month
    assert snap.monthly(0) == pytest.approx(2 * month * prices.lambda_.snapstart_cache_gb_second)
    # One request a month: one environment start, one restore of 2 GB.
    assert snap.monthly(1) - snap.monthly(0) == pytest.approx(2 * prices.lambda_.snapstart_restore_gb, rel=1e-3)


def test_environment_starts_follow_idle_gaps_and_lifetimes() -> None:
    prices = load_prices()
    idle_gaps = prices.hours_per_month * 60 / prices.lambda_.environment_idle_minutes
    lifetimes = prices.hours_per_month / prices.lambda_.environment_lifetime_hours
    assert serving_cost.environment_starts(5, 0.0, prices) == 5  # sparse: every request starts one
    assert serving_cost.environment_starts(1e9, 0.3, prices) == pytest.approx(idle_gaps + lifetimes)
    assert serving_cost.environment_starts(1e9, 2.5, prices) == pytest.approx(idle_gaps + 3 * lifetimes)


def test_a_burstable_instance_serves_at_its_baseline_and_more_requests_take_more_instances() -> None:
    prices = table(capacity_utilization=0.5)
    micro = next(i for i in prices.ec2.instances if i.name == "t3.micro")  # 2 vCPU x 10% baseline
    option = serving_cost.beanstalk_option(micro, MEASURED, prices, with_network=False)
    per_instance = 2 * 0.10 * 0.5 / 0.010 * prices.seconds_per_month  # requests a month at 10 ms each
    one = prices.hours_per_month * micro.hourly
    assert option.monthly(per_instance) == pytest.approx(one)
    assert option.monthly(per_instance * 1.01) == pytest.approx(2 * one)


def test_the_deployed_always_on_options_carry_the_load_balancer_and_the_nat_gateway() -> None:
    prices = load_prices()
    micro = prices.ec2.instances[0]
    alone = serving_cost.beanstalk_option(micro, MEASURED, prices, with_network=False).monthly(0)
    deployed = serving_cost.beanstalk_option(micro, MEASURED, prices, with_network=True).monthly(0)
    network = prices.hours_per_month * (
        prices.load_balancer.hourly + prices.network.nat_gateway_hourly + prices.network.public_ipv4_hourly
    )
    assert deployed - alone == pytest.approx(network + prices.ec2.ebs_gb_month * prices.ec2.root_volume_gb)


def test_the_report_names_every_crossover_compares_with_the_seeds_and_plots(tmp_path: Path) -> None:
    prices = load_prices()
    measured = Measured(lambda_ms=0.3, server_ms=0.5, request_bytes=600, response_bytes=150, init_ms=500.0)
    lines = serving_cost.report(measured, prices, plot_path=tmp_path / "cost.png")
    options = serving_cost.options(measured, prices)
    pairs = sum(o.kind == "serverless" for o in options) * sum(o.kind == "always-on" for o in options)
    assert sum(line.startswith("crossover: ") for line in lines) == pairs
    assert any(
        line.startswith("seeds: t3.micro $7.48/month = 1.60M Lambda requests, i.e. $4.67 per million") for line in lines
    )
    assert (tmp_path / "cost.png").read_bytes().startswith(b"\x89PNG")
