"""The deployed definition executed end to end on the emulator, with the jobs really running.

Each test starts its own execution on the session's emulator (moto in process). The requests are
read from the execution history: they are what Step Functions sent to SageMaker.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.core.exceptions import JsonRESTError
from moto.sagemaker.models import SageMakerModelBackend

from local_lifecycle.legacy_emulator import ACCOUNT, SCIKIT_IMAGE_URI, entered_states, task_requests
from local_lifecycle.processing_runner import LocalProcessingRunner
from stacks.components.legacy_processing.definition import EVENTS_PER_POLL

pytestmark = [pytest.mark.xdist_group("legacy"), pytest.mark.e2e]

BUCKET = "mlops-legacy-data-111111111111"
CODE = f"s3://{BUCKET}/%s/code"
INPUT_FIELDS = ("input_uri", "output_uri", "code_uri", "custom_image_uri", "scikit_image_uri", "role")


def arn_hash(execution_arn: str) -> str:
    return hashlib.md5(execution_arn.encode()).hexdigest()


def job_name(stage: str, execution_arn: str) -> str:
    return f"legacy-{stage}-{arn_hash(execution_arn)}"


def execute(emulator, execution_input: Any, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    described = emulator.wait(emulator.start(execution_input, name=name), timeout=120)
    return described, emulator.history(described["executionArn"])


def scheduled(history, action: str) -> list[tuple[str, dict[str, Any]]]:
    return [(state, request) for state, resource, request in task_requests(history) if resource == action]


@pytest.fixture(scope="module")
def failure_queue(emulator):
    """An SQS queue subscribed to the failure topic (raw delivery: the body is the message)."""
    sqs, sns = emulator.client("sqs"), emulator.client("sns")
    url = sqs.create_queue(QueueName="legacy-failures")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=emulator.topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return url


def notifications(emulator, queue_url: str, execution_arn: str) -> list[dict[str, Any]]:
    """Failure messages of one execution that reached the queue."""
    sqs = emulator.client("sqs")
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while not found and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            body = json.loads(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if body["execution"] == execution_arn:
                found.append(body)
    return found


def expected_requests(emulator, prefix: str, arn: str, **job: Any) -> dict[str, dict[str, Any]]:
    """The exact CreateProcessingJob request each stage must send for the example's input."""
    out = f"s3://{BUCKET}/{prefix}/output/{arn.rsplit(':', 1)[1]}"

    def s3_input(name: str, uri: str, local: str) -> dict[str, Any]:
        return {
            "InputName": name,
            "S3Input": {
                "S3Uri": uri,
                "LocalPath": f"/opt/ml/processing/input/{local}",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
            },
        }

    def s3_output(name: str) -> dict[str, Any]:
        return {
            "OutputName": name,
            "S3Output": {
                "S3Uri": f"{out}/{name}",
                "LocalPath": f"/opt/ml/processing/output/{name}",
                "S3UploadMode": "EndOfJob",
            },
        }

    def request(stage: str, app: dict[str, Any], inputs: list[Any], outputs: list[Any]) -> dict[str, Any]:
        return {
            "ProcessingJobName": job_name(stage, arn),
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/legacy-processing-job",
            "AppSpecification": app,
            "ProcessingInputs": inputs,
            "ProcessingOutputConfig": {"Outputs": outputs},
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": job.get("instance_type", "ml.m5.xlarge"),
                    "VolumeSizeInGB": job.get("volume_size", 30),
                }
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": job.get("max_runtime", 3600)},
            "Tags": [
                {"Key": "legacy-processing:execution", "Value": arn},
                {"Key": "legacy-processing:stage", "Value": stage},
            ],
        }

    code = s3_input("code", CODE % prefix, "code")
    return {
        "StartPreprocessing": request(
            "preprocessing",
            {
                "ImageUri": SCIKIT_IMAGE_URI,
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/preprocessing.py"],
                "ContainerArguments": [
                    "--input-dir",
                    "/opt/ml/processing/input/data",
                    "--features-dir",
                    "/opt/ml/processing/output/features",
                    "--rejected-dir",
                    "/opt/ml/processing/output/rejected",
                ],
            },
            [code, s3_input("data", f"s3://{BUCKET}/{prefix}/input", "data")],
            [s3_output("features"), s3_output("rejected")],
        ),
        "StartInference": request(
            "inference",
            {"ImageUri": emulator.custom_image_uri},
            [s3_input("features", f"{out}/features", "features")],
            [s3_output("predictions")],
        ),
        "StartPostprocessing": request(
            "postprocessing",
            {
                "ImageUri": SCIKIT_IMAGE_URI,
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/postprocessing.py"],
                "ContainerArguments": [
                    "--predictions-dir",
                    "/opt/ml/processing/input/predictions",
                    "--output-dir",
                    "/opt/ml/processing/output/report",
                ],
            },
            [code, s3_input("predictions", f"{out}/predictions", "predictions")],
            [s3_output("report")],
        ),
    }


def test_execution_runs_the_three_jobs_with_exact_requests_and_real_outputs(emulator, example, monkeypatch):
    """One full run: a throttled start is retried, given optional fields replace the defaults."""
    original = SageMakerModelBackend.create_processing_job  # the runner's, while the emulator runs
    calls: list[str] = []

    def throttle_first(backend, **request):
        calls.append(request["processing_job_name"])
        if len(calls) == 1:
            raise JsonRESTError("ThrottlingException", "Rate exceeded")
        return original(backend, **request)

    monkeypatch.setattr(SageMakerModelBackend, "create_processing_job", throttle_first)
    execution_input = emulator.upload_example(example.patients_csv, prefix="happy")
    sizes = {"instance_type": "ml.c5.2xlarge", "volume_size": 50, "max_runtime": 1800}
    described, history = execute(emulator, {**execution_input, **sizes}, "happy-path")
    assert described["status"] == "SUCCEEDED", described.get("cause")
    arn = described["executionArn"]
    creates = scheduled(history, "createProcessingJob")
    expected = expected_requests(emulator, "happy", arn, **sizes)
    # The throttled start and its retry sent the same request; SageMaker saw the same name twice.
    assert creates == [(state, expected[state]) for state in ("StartPreprocessing", "StartPreprocessing")] + [
        (state, expected[state]) for state in ("StartInference", "StartPostprocessing")
    ]
    failed = [e["taskFailedEventDetails"] for e in history if "taskFailedEventDetails" in e]
    assert [(f["resource"], f["error"]) for f in failed] == [
        ("createProcessingJob", "SageMaker.AmazonSageMakerException")
    ]
    assert calls[0] == calls[1] == job_name("preprocessing", arn) and len(calls) == 4
    states = entered_states(history)
    assert states[:3] == ["ApplyDefaults", "MergeInput", "InspectNumbers"]
    assert states.index("Prepare") < states.index("StartPreprocessing") < states.index("StartInference")
    assert states[-1] == "Summarize" and "NotifyFailure" not in states
    # Each job was polled until it completed: the last status check of a stage saw Completed.
    for stage in ("Preprocessing", "Inference", "Postprocessing"):
        assert states.count(f"Describe{stage}") >= 1
    output = json.loads(described["output"])
    out = f"s3://{BUCKET}/happy/output/happy-path"
    assert output == {
        "output_uri": f"{out}/report",
        "predictions_uri": f"{out}/predictions",
        "rejected_uri": f"{out}/rejected",
        "jobs": {stage: job_name(stage, arn) for stage in ("preprocessing", "inference", "postprocessing")},
    }
    report = json.loads(emulator.read_text(f"{out}/report/report.json"))
    assert report == {
        "patients": 171,
        "referred": 61,
        "routine": 110,
        "referral_threshold": 0.5,
        "accuracy": 0.9708,
        "malignant_referred": "60/64",
    }
    decisions = emulator.read_text(f"{out}/report/decisions.csv").splitlines()
    assert decisions[0] == "patient_id,malignant_probability,diagnosis,decision" and len(decisions) == 172
    sagemaker = emulator.client("sagemaker")
    for name in output["jobs"].values():
        assert sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "Completed"


def test_invalid_input_fails_naming_every_missing_and_malformed_field_before_any_job(emulator, failure_queue):
    bad = {
        "input_uri": "data/patients.csv",
        "output_uri": "s3://bucket/out/",
        "custom_image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/other-repo:1",
        "scikit_image_uri": SCIKIT_IMAGE_URI,
        "role": "arn:aws:iam::123456789012:role/admin",
        "instance_type": "m5.large",
        "volume_size": 20.5,
        "max_runtime": 999999,
    }
    described, history = execute(emulator, bad, "invalid-input")
    assert described["status"] == "FAILED"
    assert described["error"] == "LegacyProcessing.InvalidInput"
    prefix = "Invalid execution input (field: problem): "
    assert described["cause"].startswith(prefix)
    problems = json.loads(described["cause"].removeprefix(prefix))
    repo = emulator.repository_uri
    assert problems == {
        "input_uri": "malformed: expected an s3://bucket/prefix URI",
        "output_uri": "malformed: expected an s3://bucket/prefix URI without a trailing /",
        "code_uri": "required: expected an s3://bucket/prefix URI",
        "custom_image_uri": f"malformed: expected an image of {repo} (:tag or @sha256:digest)",
        "role": f"malformed: expected one of the configured execution roles: {emulator.role_arn}",
        "instance_type": "malformed: expected a SageMaker instance type such as ml.m5.xlarge",
        "volume_size": "malformed: expected a whole number of GB from 1 to 16384",
        "max_runtime": "malformed: expected a whole number of seconds from 1 to 21600",
    }
    assert task_requests(history) == [("NotifyFailure", "publish", task_requests(history)[0][2])], (
        "no SageMaker call may happen before the input is valid"
    )
    (message,) = notifications(emulator, failure_queue, described["executionArn"])
    assert message == {
        "execution": described["executionArn"],
        "stage": "validation",
        "error": "LegacyProcessing.InvalidInput",
        "cause": described["cause"],
    }


def test_empty_input_names_all_six_required_fields(emulator):
    described, _ = execute(emulator, {}, "empty-input")
    problems = json.loads(described["cause"].removeprefix("Invalid execution input (field: problem): "))
    assert sorted(problems) == sorted(INPUT_FIELDS)
    assert all(problem.startswith("required: ") for problem in problems.values())


def test_failed_job_sends_its_failure_reason_to_sns_and_fails_the_execution(emulator, example, tmp_path, failure_queue):
    broken = tmp_path / "patients.csv"
    lines = example.patients_csv.read_text().splitlines()
    broken.write_text("\n".join([lines[0].replace("mean radius", "radius"), *lines[1:]]) + "\n")
    execution_input = emulator.upload_example(broken, prefix="broken")
    described, history = execute(emulator, execution_input, "broken-input")
    arn = described["executionArn"]
    name = job_name("preprocessing", arn)
    reason = "AlgorithmError: preprocessing: missing columns: mean_radius (exit code 1)"
    assert described["status"] == "FAILED"
    assert described["error"] == "LegacyProcessing.JobFailed"
    assert described["cause"] == f"preprocessing job {name} failed: {reason}"
    job = emulator.client("sagemaker").describe_processing_job(ProcessingJobName=name)
    assert (job["ProcessingJobStatus"], job["FailureReason"]) == ("Failed", reason)
    assert "StartInference" not in entered_states(history)
    # No optional field given: the configured defaults filled them (ml.m5.xlarge, 30 GB, 3600 s).
    assert scheduled(history, "createProcessingJob") == [
        ("StartPreprocessing", expected_requests(emulator, "broken", arn)["StartPreprocessing"])
    ]
    (message,) = notifications(emulator, failure_queue, arn)
    assert message == {
        "execution": arn,
        "stage": "preprocessing",
        "error": described["error"],
        "cause": described["cause"],
    }


def test_a_job_that_never_ends_is_stopped_at_its_timeout(emulator, example, monkeypatch, failure_queue):
    def never_starts(self, run):  # no capacity: the job stays InProgress until someone stops it
        run.stop_requested.wait(60)
        return "Stopped", None

    monkeypatch.setattr(LocalProcessingRunner, "_execute", never_starts)
    execution_input = emulator.upload_example(example.patients_csv, prefix="stuck")
    described, history = execute(emulator, {**execution_input, "max_runtime": 2}, "stuck")
    arn = described["executionArn"]
    name = job_name("preprocessing", arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "LegacyProcessing.JobTimeout"
    assert described["cause"] == (
        f"preprocessing job {name} did not end within 2 s (max_runtime + 0 s to start); stopped it"
    )
    assert scheduled(history, "stopProcessingJob") == [("StopPreprocessing", {"ProcessingJobName": name})]
    # One poll adds EVENTS_PER_POLL events: the configuration's history bound counts on it.
    waits = [
        i for i, e in enumerate(history) if e.get("stateEnteredEventDetails", {}).get("name") == "WaitPreprocessing"
    ]
    assert len(waits) >= 2 and {b - a for a, b in zip(waits, waits[1:], strict=False)} == {EVENTS_PER_POLL}
    assert emulator.client("sagemaker").describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    (message,) = notifications(emulator, failure_queue, arn)
    assert message["error"] == "LegacyProcessing.JobTimeout"


def _create_job_before_the_execution(emulator, name: str, owner: str) -> None:
    emulator.client("sagemaker").create_processing_job(
        ProcessingJobName=name,
        RoleArn=emulator.role_arn,
        AppSpecification={"ImageUri": SCIKIT_IMAGE_URI, "ContainerEntrypoint": ["python3", "-c", "print('done')"]},
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 1}
        },
        Tags=[{"Key": "legacy-processing:execution", "Value": owner}],
    )


def execution_arn(emulator, name: str) -> str:
    return f"{emulator.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"


def test_a_job_this_execution_already_started_is_adopted_not_started_twice(emulator, example):
    """At-least-once: a start that reached SageMaker before (then failed or was retried) runs the job once."""
    arn = execution_arn(emulator, "retried-start")
    execution_input = emulator.upload_example(example.patients_csv, prefix="retried")
    first_attempt = expected_requests(emulator, "retried", arn)["StartPreprocessing"]
    emulator.client("sagemaker").create_processing_job(**first_attempt)
    described, history = execute(emulator, execution_input, "retried-start")
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert "AdoptPreprocessing" in entered_states(history)
    failed = [e["taskFailedEventDetails"]["error"] for e in history if "taskFailedEventDetails" in e]
    assert failed == ["SageMaker.ResourceInUseException"]
    assert emulator.runner is not None
    runs = [run.name for run in emulator.runner.runs.values() if run.name.endswith(arn_hash(arn))]
    assert runs == [job_name(stage, arn) for stage in ("preprocessing", "inference", "postprocessing")]


def test_a_job_name_held_by_someone_else_fails_the_execution(emulator, example):
    arn = execution_arn(emulator, "name-taken")
    name = job_name("preprocessing", arn)
    _create_job_before_the_execution(emulator, name, owner="someone-else")
    execution_input = emulator.upload_example(example.patients_csv, prefix="taken")
    described, _ = execute(emulator, execution_input, "name-taken")
    assert described["error"] == "LegacyProcessing.JobNameTaken"
    assert described["cause"] == f"processing job {name} exists and was not started by this execution"


def test_emulator_sagemaker_refuses_duplicate_names_as_sagemaker_does(emulator):
    _create_job_before_the_execution(emulator, "legacy-duplicate-check", owner="x")
    with pytest.raises(ClientError) as refused:
        _create_job_before_the_execution(emulator, "legacy-duplicate-check", owner="x")
    assert refused.value.response["Error"]["Code"] == "ResourceInUse"
