"""The AWS emulator (moto, in process) holding what the CDK stack deploys for the Airflow variant.

`LocalAwsPlatform` starts a `ThreadedMotoServer` and creates, under literal names, the resources the
DAGs and CI jobs use: the artifact bucket with each model's data splits, the ECR repositories, the
SNS topic (its "e-mails" captured by an SQS subscription), the Slack webhook secret (holding the
Slack stand-in's URL). `platform_document()` is then the DAGs' `mlops_platform.json`, built by the
same function the stack uses.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_airflow.docker_standin import image_manifest
from local_lifecycle.emulator import Emulator
from stacks.components.mwaa_dag_files import platform_document
from stacks.config import AirflowConfig

ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"
BUCKET = "mlops-airflow-artifacts-local"
TOPIC = "mlops-airflow-notifications"
SAGEMAKER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-airflow-sagemaker"
REPO_ROOT = Path(__file__).resolve().parents[1]
PREPROCESS = REPO_ROOT / "seedcode" / "model-build" / "pipelines" / "abalone" / "preprocess.py"
PREPROCESS_CONFIG = REPO_ROOT / "seedcode" / "model-build" / "pipelines" / "abalone" / "config.json"


@dataclass(frozen=True)
class Email:
    """A message published to the notification topic."""

    subject: str
    text: str


class LocalAwsPlatform:
    """The emulator and the Airflow variant's resources in it; a context manager."""

    def __init__(self, airflow: AirflowConfig, *, slack_webhook_url: str) -> None:
        self.airflow = airflow
        self.slack_webhook_url = slack_webhook_url
        self.emulator = Emulator(region=REGION)
        self.url = ""
        self.bucket = BUCKET
        self.queue_url = ""
        self.topic_arn = ""

    def __enter__(self) -> LocalAwsPlatform:
        self.emulator.__enter__()
        self.url = self.emulator.url
        self._create_resources()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.emulator.__exit__(*exc_info)

    def environment(self) -> dict[str, str]:
        """Variables that point boto3 (and the AWS CLI) at the emulator."""
        return self.emulator.environment()

    def client(self, service: str) -> Any:
        """A client of the emulator, independent of the process environment."""
        return self.emulator.client(service)

    @staticmethod
    def repository_uri(project: str, model: str) -> str:
        """ECR repository URI `<account>.dkr.ecr.<region>.amazonaws.com/<project>/<model>`."""
        return f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{project}/{model}"

    def platform_document(self) -> dict[str, Any]:
        """`mlops_platform.json` for these resources."""
        return platform_document(
            self.airflow,
            region=REGION,
            artifact_bucket=BUCKET,
            sagemaker_role_arn=SAGEMAKER_ROLE,
            sns_topic_arn=self.topic_arn,
            slack_webhook_secret=self.airflow.slack_webhook_secret_name,
            image_repository_uri=self.repository_uri,
        )

    def _create_resources(self) -> None:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        ecr = self.client("ecr")
        for project in self.airflow.projects:
            for model in project.models:
                ecr.create_repository(repositoryName=f"{project.name}/{model.name}", imageTagMutability="IMMUTABLE")
        sns, sqs = self.client("sns"), self.client("sqs")
        self.topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
        self.queue_url = sqs.create_queue(QueueName="notification-emails")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self.client("secretsmanager").create_secret(
            Name=self.airflow.slack_webhook_secret_name, SecretString=self.slack_webhook_url
        )

    def upload_training_data(self, project: str, model: str, data_csv: Path) -> dict[str, int]:
        """Split a raw data set with the model build's preprocessing code; upload data/{train,validation,test}/."""
        s3 = self.client("s3")
        with tempfile.TemporaryDirectory() as directory:
            base = Path(directory) / "processing"
            (base / "input" / "data").mkdir(parents=True)
            (base / "input" / "data" / data_csv.name).write_bytes(data_csv.read_bytes())
            subprocess.run(
                [sys.executable, str(PREPROCESS), "--base-dir", str(base), "--config", str(PREPROCESS_CONFIG)],
                check=True,
                capture_output=True,
                env={"SM_ML_ROOT": directory, "PATH": str(Path(sys.executable).parent)},
            )
            counts = {}
            for split in ("train", "validation", "test"):
                files = sorted((base / split).glob("*.csv"))
                for path in files:
                    s3.upload_file(str(path), BUCKET, f"{project}/{model}/data/{split}/{path.name}")
                counts[split] = sum(len(path.read_text().splitlines()) for path in files)
            features = base / "features" / "features.json"
            s3.upload_file(str(features), BUCKET, f"{project}/{model}/data/features/features.json")
        return counts

    def put_image(self, project: str, model: str, tag: str) -> None:
        """Record an image tag in the model's ECR repository, as `docker push` would."""
        self.client("ecr").put_image(
            repositoryName=f"{project}/{model}", imageManifest=image_manifest(tag), imageTag=tag
        )

    def emails(self) -> list[Email]:
        """Messages the topic delivered (drains the capture queue)."""
        sqs = self.client("sqs")
        received: list[Email] = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return received
            for message in messages:
                envelope = json.loads(message["Body"])
                received.append(Email(envelope.get("Subject", ""), envelope.get("Message", "")))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
