"""Cost per step: the price table, the estimate, and what a SageMaker execution's jobs report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from pipelines import costs

REGION = "us-east-1"
EXECUTION = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/abalone-p-test/execution/abc123"


def test_the_repository_s_price_table_is_valid_and_dated():
    table = costs.load_price_table()
    assert table.currency == "USD" and table.as_of == "2023-05-01"
    assert table.hourly(REGION, "training", "ml.m5.xlarge") == 0.23
    assert table.hourly(REGION, "training", "ml.trn1.32xlarge") == 24.725
    assert table.hourly("eu-west-1", "training", "ml.m5.xlarge") == 0.257
    assert table.hourly("ap-south-1", "training", "ml.m5.xlarge") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"as_of": "spring"}, "'as_of' = 'spring' must be a date"),
        ({"currency": ""}, "'currency' must be a non-empty string"),
        ({"regions": {"us-east-1": {"hosting": {}}}}, "'regions.us-east-1' must map training / processing"),
        ({"regions": {"us-east-1": {"training": {"m5.xlarge": 1}}}}, "'regions.us-east-1.training.m5.xlarge' is not"),
        ({"regions": {"us-east-1": {"training": {"ml.m5.xlarge": -1}}}}, "= -1 must be a positive number"),
        ({"extra": 1}, "must hold exactly currency, as_of, source and regions"),
    ],
)
def test_a_bad_price_table_is_named(tmp_path: Path, change: dict, message: str):
    document = {**json.loads(costs.PRICES_PATH.read_text()), **change}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(document))
    with pytest.raises(costs.PriceTableError, match=message):
        costs.load_price_table(path)


def test_estimate_is_billable_seconds_times_instances_times_the_hourly_price():
    table = costs.load_price_table()
    item = costs.estimate(
        table,
        REGION,
        step="Train",
        job="j",
        kind="training",
        instance_type="ml.p4d.24xlarge",
        instance_count=2,
        spot=False,
        run_seconds=6553,
        billable_seconds=6553,
        basis=costs.BASIS_TRAINING,
    )
    assert item.cost == pytest.approx(6553 * 2 * 37.688 / 3600, abs=1e-6)  # 137.2 USD
    unpriced = costs.estimate(
        table, REGION, step="Train", job="j", kind="training", instance_type="ml.g6.xlarge", instance_count=1,
        spot=False, run_seconds=60, billable_seconds=60, basis=costs.BASIS_TRAINING,
    )  # fmt: skip
    summary = costs.cost_summary([item, unpriced], table, REGION)
    assert summary["estimated_cost"] is None and summary["unpriced"] == ["training ml.g6.xlarge"]
    assert summary["billable_instance_seconds"] == 6553 * 2 + 60
    assert costs.cost_lines(summary)[-1].startswith("cost[total]=incomplete (13166.0 billable instance-seconds")


def stubbed_execution() -> tuple[object, Stubber]:
    """A tuned execution: Preprocess, Tune (two spot trials), Evaluate, each job described as SageMaker does."""
    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    arn = "arn:aws:sagemaker:us-east-1:123456789012:{}/{}"
    when = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    steps = [
        ("Preprocess", "ProcessingJob", arn.format("processing-job", "pipelines-abc-preprocess")),
        ("Tune", "TuningJob", arn.format("hyper-parameter-tuning-job", "abc-tune")),
        ("Evaluate", "ProcessingJob", arn.format("processing-job", "pipelines-abc-evaluate")),
        ("CheckQualityGate", None, None),
    ]
    stubber.add_response(
        "list_pipeline_execution_steps",
        {
            "PipelineExecutionSteps": [
                {"StepName": name, "StepStatus": "Succeeded", "Metadata": {kind: {"Arn": job}} if kind else {}}
                for name, kind, job in steps
            ]
        },
        {"PipelineExecutionArn": EXECUTION, "SortOrder": "Ascending"},
    )

    def processing(name: str, seconds: int) -> None:
        stubber.add_response(
            "describe_processing_job",
            {
                "ProcessingJobName": name,
                "ProcessingJobArn": arn.format("processing-job", name),
                "ProcessingJobStatus": "Completed",
                "CreationTime": when,
                "ProcessingStartTime": when,
                "ProcessingEndTime": datetime.fromtimestamp(when.timestamp() + seconds, UTC),
                "AppSpecification": {"ImageUri": "img"},
                "RoleArn": "arn:aws:iam::123456789012:role/r",
                "ProcessingResources": {
                    "ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30}
                },
            },
            {"ProcessingJobName": name},
        )

    processing("pipelines-abc-preprocess", 180)
    stubber.add_response(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        {
            "TrainingJobSummaries": [
                {
                    "TrainingJobName": name,
                    "TrainingJobArn": arn.format("training-job", name),
                    "CreationTime": when,
                    "TrainingJobStatus": "Completed",
                    "TunedHyperParameters": {},
                }
                for name in ("abc-tune-002", "abc-tune-001")
            ]
        },
        {"HyperParameterTuningJobName": "abc-tune"},
    )
    for name, run, billable in (("abc-tune-001", 500, 100), ("abc-tune-002", 400, 400)):
        stubber.add_response(
            "describe_training_job",
            {
                "TrainingJobName": name,
                "TrainingJobArn": arn.format("training-job", name),
                "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tar.gz"},
                "TrainingJobStatus": "Completed",
                "SecondaryStatus": "Completed",
                "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "img"},
                "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
                "CreationTime": when,
                "EnableManagedSpotTraining": True,
                "TrainingTimeInSeconds": run,
                "BillableTimeInSeconds": billable,
            },
            {"TrainingJobName": name},
        )
    processing("pipelines-abc-evaluate", 90)
    stubber.activate()
    return client, stubber


def test_a_sagemaker_execution_s_jobs_and_their_billable_seconds():
    client, stubber = stubbed_execution()
    table = costs.load_price_table()
    found = costs.sagemaker_step_costs(client, EXECUTION, table, REGION)
    stubber.assert_no_pending_responses()
    assert [(c.step, c.job, c.instance_count, c.spot, c.run_seconds, c.billable_seconds) for c in found] == [
        ("Preprocess", "pipelines-abc-preprocess", 2, False, 180, 180),
        ("Tune", "abc-tune-001", 1, True, 500, 100),  # a spot trial: billed for 100 of its 500 s
        ("Tune", "abc-tune-002", 1, True, 400, 400),
        ("Evaluate", "pipelines-abc-evaluate", 2, False, 90, 90),
    ]
    assert found[1].cost == pytest.approx(100 * 1.408 / 3600, abs=1e-6)
    assert found[0].cost == pytest.approx(180 * 2 * 0.23 / 3600, abs=1e-6) and found[0].basis == costs.BASIS_PROCESSING
    summary = costs.cost_summary(found, table, REGION)
    assert summary["estimated_cost"] == pytest.approx(sum(c.cost or 0.0 for c in found), abs=1e-6)
    lines = costs.cost_lines(summary)
    assert lines[1] == (
        "cost[Tune]=0.039111 USD (1 x ml.g5.xlarge, spot, 100.0 billable s of 500.0 s; BillableTimeInSeconds)"
    )
