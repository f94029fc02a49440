"""The legacy processing workflow on the AWS emulator, with its Processing jobs really running.

`LegacyEmulator` starts moto in this process (`ThreadedMotoServer`), creates what the stack would
(bucket, failure topic, state machine from `build_definition`), builds the example's inference
image locally from its Dockerfile and runs every Processing job the executions create through
`LocalProcessingRunner`. `make legacy-demo` and tests/legacy_processing use it.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from local_lifecycle.emulator import Emulator
from local_lifecycle.processing_runner import LocalImage, LocalProcessingRunner, image_from_dockerfile
from local_lifecycle.sfn_fidelity import aws_fidelity
from stacks.components.legacy_processing.definition import build_definition, workflow_settings
from stacks.config import LegacyProcessingConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = REPO_ROOT / "containers" / "legacy-inference"
ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"
# The pre-built SageMaker scikit-learn image (image_uris.retrieve("sklearn", "eu-west-1", "1.4-2")).
SCIKIT_IMAGE_URI = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
SCRIPTS = ("preprocessing.py", "postprocessing.py")
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class LegacyEmulator:
    """Context manager: emulator, workflow and local job runner for one session."""

    def __init__(
        self,
        *,
        workdir: Path,
        config: LegacyProcessingConfig,
        poll_interval_seconds: int = 1,
        startup_allowance_seconds: int = 0,
        on_event: Any = lambda message: None,
    ) -> None:
        self.workdir = workdir
        self.config = config
        self.bucket = config.data_bucket_names[0]
        self.role_arn = f"arn:aws:iam::{ACCOUNT}:role/{config.job_name_prefix}-processing-job"
        self.repository_uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{config.ecr_repository_name}"
        self.custom_image_uri = f"{self.repository_uri}:1.0.0"
        self._poll = poll_interval_seconds
        self._allowance = startup_allowance_seconds
        self._on_event = on_event
        self.emulator = Emulator(region=REGION, execute_state_machines=True)
        self._fidelity = aws_fidelity()
        self.runner: LocalProcessingRunner | None = None

    def client(self, service: str) -> Any:
        """A boto3 client of the emulator."""
        return self.emulator.client(service)

    def __enter__(self) -> LegacyEmulator:
        self._fidelity.__enter__()
        self.emulator.__enter__()
        self.url = self.emulator.url
        self.client("s3").create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.topic_arn = self.client("sns").create_topic(Name=f"{self.config.job_name_prefix}-failures")["TopicArn"]
        self.settings = replace(
            workflow_settings(
                self.config,
                partition="aws",
                region=REGION,
                account=ACCOUNT,
                topic_arn=self.topic_arn,
                passable_role_arns=(self.role_arn, *self.config.extra_execution_role_arns),
                inference_repository_uri=self.repository_uri,
            ),
            poll_interval_seconds=self._poll,
            startup_allowance_seconds=self._allowance,
        )
        self.definition = build_definition(self.settings)
        self.state_machine_arn = self.client("stepfunctions").create_state_machine(
            name=f"{self.config.job_name_prefix}-processing",
            definition=json.dumps(self.definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{self.config.job_name_prefix}-state-machine",
        )["stateMachineArn"]
        images = [
            image_from_dockerfile(self.custom_image_uri, EXAMPLE / "Dockerfile", self.workdir / "images" / "inference"),
            LocalImage(uri=SCIKIT_IMAGE_URI),
        ]
        self.runner = LocalProcessingRunner(
            endpoint_url=self.url, images=images, workdir=self.workdir / "jobs", region=REGION, on_event=self._on_event
        )
        self.runner.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.runner:
            self.runner.__exit__(*exc_info)
        self.emulator.__exit__(*exc_info)
        self._fidelity.__exit__(None, None, None)

    def upload_example(self, patients_csv: Path, *, prefix: str = "example") -> dict[str, str]:
        """Upload the patients and the two scripts; return the execution input that uses them."""
        s3 = self.client("s3")
        s3.upload_file(str(patients_csv), self.bucket, f"{prefix}/input/{patients_csv.name}")
        for script in SCRIPTS:
            s3.upload_file(str(EXAMPLE / script), self.bucket, f"{prefix}/code/{script}")
        return {
            "input_uri": f"s3://{self.bucket}/{prefix}/input",
            "output_uri": f"s3://{self.bucket}/{prefix}/output",
            "code_uri": f"s3://{self.bucket}/{prefix}/code",
            "custom_image_uri": self.custom_image_uri,
            "scikit_image_uri": SCIKIT_IMAGE_URI,
            "role": self.role_arn,
        }

    def start(self, execution_input: Any, *, name: str) -> str:
        """Start an execution (always named: moto leaves $$.Execution.Name null otherwise)."""
        return str(
            self.client("stepfunctions").start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(execution_input)
            )["executionArn"]
        )

    def wait(self, execution_arn: str, *, timeout: float = 120.0) -> dict[str, Any]:
        """DescribeExecution once the execution has ended."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in TERMINAL:
                return dict(described)
            time.sleep(0.2)
        raise TimeoutError(f"{execution_arn} still running after {timeout:.0f} s")

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every history event of the execution, oldest first."""
        paginator = self.client("stepfunctions").get_paginator("get_execution_history")
        return [event for page in paginator.paginate(executionArn=execution_arn) for event in page["events"]]

    def read_text(self, uri: str) -> str:
        """An object of the emulator's S3 as text."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return str(self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode())

    def list_keys(self, uri: str) -> list[str]:
        """Keys under an s3:// prefix."""
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        response = self.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in response.get("Contents", []))


def entered_states(history: list[dict[str, Any]]) -> list[str]:
    """Names of the states in the order the execution entered them."""
    return [event["stateEnteredEventDetails"]["name"] for event in history if "stateEnteredEventDetails" in event]


def task_requests(history: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(state, API action, request parameters) of every task call the execution scheduled."""
    requests_: list[tuple[str, str, dict[str, Any]]] = []
    state = ""
    for event in history:
        if "stateEnteredEventDetails" in event:
            state = event["stateEnteredEventDetails"]["name"]
        details = event.get("taskScheduledEventDetails")
        if details:
            requests_.append((state, details["resource"], json.loads(details["parameters"])))
    return requests_
