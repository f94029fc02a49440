"""What each step of a model build run costs: its billable seconds and an estimate from the price table.

The price table is `instance_prices.json` next to this module: on-demand prices per instance-hour by
region and job kind (training, processing), with the date they were taken and where from. It is part
of this repository so that the repository stands alone (tests, local runs, a copy outside the
platform); edit it for your region and your discounts.

Where the seconds come from:

- a SageMaker training job (a Train step, each training job of a Tune step): `BillableTimeInSeconds`,
  what SageMaker bills per instance. With managed spot training it is below `TrainingTimeInSeconds`
  (SageMaker's own formula for the saving is `1 - BillableTimeInSeconds / TrainingTimeInSeconds`), so
  billable seconds times the on-demand price is the spot cost too;
- a SageMaker processing job: `ProcessingEndTime - ProcessingStartTime` (DescribeProcessingJob has no
  billable time);
- a local run: the step's own run time on this machine, priced as the configured instance type would
  be. That is an estimate of what the step would cost, not of anything billed; a spot saving cannot be
  known before SageMaker reports billable seconds.

Estimated cost = billable seconds x instance count x hourly price / 3600.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

PRICES_PATH = Path(__file__).resolve().with_name("instance_prices.json")
JOB_KINDS = ("training", "processing")
BASIS_TRAINING = "BillableTimeInSeconds"
BASIS_PROCESSING = "ProcessingEndTime - ProcessingStartTime"
BASIS_LOCAL = "local run time"
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9-]+$")


class PriceTableError(Exception):
    """An invalid price table; the message names the entry at fault."""


@dataclass(frozen=True)
class PriceTable:
    """On-demand prices per instance-hour: region -> job kind -> instance type -> price."""

    currency: str
    as_of: str
    source: str
    regions: dict[str, dict[str, dict[str, float]]]

    def hourly(self, region: str, kind: str, instance_type: str) -> float | None:
        """The price of one instance-hour, None when the table has none."""
        return self.regions.get(region, {}).get(kind, {}).get(instance_type)


def load_price_table(path: Path = PRICES_PATH) -> PriceTable:
    """Read and check the price table (`currency`, `as_of` as YYYY-MM-DD, `source`, `regions`)."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise PriceTableError(f"cannot read the price table {path}: {error}") from None
    if not isinstance(document, dict) or set(document) != {"currency", "as_of", "source", "regions"}:
        raise PriceTableError(f"{path} must hold exactly currency, as_of, source and regions")
    for key in ("currency", "source"):
        if not isinstance(document[key], str) or not document[key]:
            raise PriceTableError(f"{path}: '{key}' must be a non-empty string")
    try:
        date.fromisoformat(str(document["as_of"]))
    except ValueError:
        raise PriceTableError(f"{path}: 'as_of' = {document['as_of']!r} must be a date (YYYY-MM-DD)") from None
    regions = document["regions"]
    if not isinstance(regions, dict) or not regions:
        raise PriceTableError(f"{path}: 'regions' must map at least one region to its prices")
    for region, kinds in regions.items():
        if not isinstance(kinds, dict) or not set(kinds) <= set(JOB_KINDS):
            raise PriceTableError(f"{path}: 'regions.{region}' must map {' / '.join(JOB_KINDS)} to prices")
        for kind, prices in kinds.items():
            _check_prices(path, f"regions.{region}.{kind}", prices)
    return PriceTable(document["currency"], document["as_of"], document["source"], regions)


def _check_prices(path: Path, key: str, prices: object) -> None:
    if not isinstance(prices, dict):
        raise PriceTableError(f"{path}: '{key}' must map instance types to hourly prices")
    for instance_type, price in prices.items():
        if not _INSTANCE_TYPE.match(instance_type):
            raise PriceTableError(f"{path}: '{key}.{instance_type}' is not an instance type such as ml.m5.xlarge")
        if isinstance(price, bool) or not isinstance(price, (int, float)) or not math.isfinite(price) or price <= 0:
            raise PriceTableError(f"{path}: '{key}.{instance_type}' = {price!r} must be a positive number")


@dataclass(frozen=True)
class StepCost:
    """One job of a pipeline step: what ran, how long, what was billable and what that costs."""

    step: str
    job: str  # the SageMaker job's name, or "local"
    kind: str  # "training" or "processing"
    instance_type: str
    instance_count: int
    spot: bool
    run_seconds: float  # how long it ran (TrainingTimeInSeconds, processing end - start, local run time)
    billable_seconds: float  # per instance
    basis: str  # where billable_seconds comes from
    price_per_hour: float | None
    cost: float | None  # None when the table has no price for the instance type in this region


def estimate(
    prices: PriceTable,
    region: str,
    *,
    step: str,
    job: str,
    kind: str,
    instance_type: str,
    instance_count: int,
    spot: bool,
    run_seconds: float,
    billable_seconds: float,
    basis: str,
) -> StepCost:
    """The cost of one job from its billable seconds and the table's price."""
    price = prices.hourly(region, kind, instance_type)
    cost = None if price is None else round(billable_seconds * instance_count * price / 3600, 6)
    return StepCost(
        step, job, kind, instance_type, instance_count, spot, run_seconds, billable_seconds, basis, price, cost
    )


def cost_summary(costs: list[StepCost], prices: PriceTable, region: str) -> dict[str, Any]:
    """The run summary's `costs` section: each job, the totals and which instance types had no price."""
    unpriced = sorted({f"{c.kind} {c.instance_type}" for c in costs if c.cost is None})
    return {
        "currency": prices.currency,
        "prices_as_of": prices.as_of,
        "price_source": prices.source,
        "region": region,
        "steps": [asdict(c) for c in costs],
        "billable_instance_seconds": round(sum(c.billable_seconds * c.instance_count for c in costs), 3),
        "estimated_cost": None if unpriced else round(sum(c.cost or 0.0 for c in costs), 6),
        "unpriced": unpriced,
    }


def cost_lines(summary: dict[str, Any]) -> list[str]:
    """One printable line per job and one for the total (`cost[Train]=...`)."""
    currency = summary["currency"]
    lines = []
    for item in summary["steps"]:
        cost = "no price" if item["cost"] is None else f"{item['cost']:.6f} {currency}"
        spot = ", spot" if item["spot"] else ""
        lines.append(
            f"cost[{item['step']}]={cost} ({item['instance_count']} x {item['instance_type']}{spot}, "
            f"{item['billable_seconds']:.1f} billable s of {item['run_seconds']:.1f} s; {item['basis']})"
        )
    total = summary["estimated_cost"]
    lines.append(
        f"cost[total]={'incomplete' if total is None else f'{total:.6f} {currency}'} "
        f"({summary['billable_instance_seconds']:.1f} billable instance-seconds; prices of {summary['region']} "
        f"as of {summary['prices_as_of']}"
        + (f"; no price for {', '.join(summary['unpriced'])})" if summary["unpriced"] else ")")
    )
    return lines


def sagemaker_step_costs(sagemaker: Any, execution_arn: str, prices: PriceTable, region: str) -> list[StepCost]:
    """Every training and processing job a SageMaker pipeline execution ran, with its cost, in step order."""
    steps = [
        step
        for page in sagemaker.get_paginator("list_pipeline_execution_steps").paginate(
            PipelineExecutionArn=execution_arn, SortOrder="Ascending"
        )
        for step in page["PipelineExecutionSteps"]
    ]
    costs: list[StepCost] = []
    for step in steps:
        metadata, name = step.get("Metadata", {}), step["StepName"]
        if "TrainingJob" in metadata:
            costs.append(_training_job(sagemaker, name, _job_name(metadata["TrainingJob"]["Arn"]), prices, region))
        elif "ProcessingJob" in metadata:
            costs.append(_processing_job(sagemaker, name, _job_name(metadata["ProcessingJob"]["Arn"]), prices, region))
        elif "TuningJob" in metadata:
            tuning_job = _job_name(metadata["TuningJob"]["Arn"])
            pages = sagemaker.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
                HyperParameterTuningJobName=tuning_job
            )
            for job in sorted(summary["TrainingJobName"] for page in pages for summary in page["TrainingJobSummaries"]):
                costs.append(_training_job(sagemaker, name, job, prices, region))
    return costs


def _job_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _training_job(sagemaker: Any, step: str, job: str, prices: PriceTable, region: str) -> StepCost:
    described = sagemaker.describe_training_job(TrainingJobName=job)
    resources = described["ResourceConfig"]
    return estimate(
        prices,
        region,
        step=step,
        job=job,
        kind="training",
        instance_type=resources["InstanceType"],
        instance_count=int(resources["InstanceCount"]),
        spot=bool(described.get("EnableManagedSpotTraining")),
        run_seconds=float(described.get("TrainingTimeInSeconds", 0)),
        billable_seconds=float(described.get("BillableTimeInSeconds", 0)),
        basis=BASIS_TRAINING,
    )


def _processing_job(sagemaker: Any, step: str, job: str, prices: PriceTable, region: str) -> StepCost:
    described = sagemaker.describe_processing_job(ProcessingJobName=job)
    cluster = described["ProcessingResources"]["ClusterConfig"]
    started, ended = described.get("ProcessingStartTime"), described.get("ProcessingEndTime")
    seconds = (ended - started).total_seconds() if started and ended else 0.0
    return estimate(
        prices,
        region,
        step=step,
        job=job,
        kind="processing",
        instance_type=cluster["InstanceType"],
        instance_count=int(cluster["InstanceCount"]),
        spot=False,
        run_seconds=seconds,
        billable_seconds=seconds,
        basis=BASIS_PROCESSING,
    )
