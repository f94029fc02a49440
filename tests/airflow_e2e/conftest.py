"""One offline run of the Airflow variant per test session, shared by the tests of this package.

Model pipeline -> MLOps pipeline (gitlab-ci-local) -> trigger Lambda -> MWAA stand-in -> training DAG
(`dag.test()` in the pinned Airflow venv against moto, SageMaker jobs running the model image's code)
-> manual approval job -> deployment DAG -> scheduled retraining -> a failing run. One test uses it
(see test_airflow_flow.py), so the run happens once, on one worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from local_airflow.airflow_workspace import DagRunResult
from local_airflow.demo import AirflowDemo
from local_airflow.emulator import Email
from stacks.config import load_config

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "abalone-dataset.csv"


@dataclass
class Flow:
    """What the run left behind (the stand-ins keep what they received after they stop)."""

    demo: AirflowDemo
    loaded: dict[str, Any]
    downstream: dict[str, str]
    versions_env: dict[str, str]
    training: DagRunResult
    deployment: DagRunResult
    retraining: DagRunResult
    failing: DagRunResult
    state: dict[str, Any] = field(default_factory=dict)
    emails: list[Email] = field(default_factory=list)


@pytest.fixture(scope="session")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    airflow = load_config(REPO / "config" / "default.yaml").airflow
    assert airflow is not None
    demo = AirflowDemo(tmp_path_factory.mktemp("airflow-flow"), airflow, DATA, say=lambda line: None)
    project, model = demo.first_model
    with demo.running():
        demo.prepare()
        loaded = demo.loaded
        downstream = demo.model_pipeline()
        demo.mlops_pipeline(source="pipeline", variables=downstream, pipeline_id=501)
        versions_env = {
            line.split("=", 1)[0]: line.split("=", 1)[1]
            for line in (demo.mlops_repo.path / "build" / "version.env").read_text().splitlines()
        }
        (training,) = demo.execute_accepted_runs()
        (deployment,) = demo.approve(versions_env["IMAGE_VERSION"], 501)
        (retraining,) = demo.retrain(502)
        failing = demo.workspace.test(
            "mlops_training",
            {"project": project, "model": model, "image_version": "9.9.9"},
            log_name="failing",
        )
        sagemaker = demo.aws.client("sagemaker")
        result = Flow(demo, loaded, downstream, versions_env, training, deployment, retraining, failing)
        result.state = {
            "versions": demo.registered_versions(),
            "endpoint": sagemaker.describe_endpoint(EndpointName=f"{project}-{model}"),
            "targets": demo.aws.client("application-autoscaling").describe_scalable_targets(
                ServiceNamespace="sagemaker"
            ),
            "policies": demo.aws.client("application-autoscaling").describe_scaling_policies(
                ServiceNamespace="sagemaker"
            ),
            "metrics": demo.aws.client("cloudwatch").list_metrics(Namespace="MLOps/Models")["Metrics"],
            "ecr_tags": [
                image.get("imageTag")
                for image in demo.aws.client("ecr").list_images(repositoryName=f"{project}/{model}")["imageIds"]
            ],
            "record": demo.aws.client("s3")
            .get_object(
                Bucket=demo.aws.bucket, Key=f"{project}/{model}/images/{versions_env['IMAGE_VERSION']}/record.json"
            )["Body"]
            .read(),
        }
        result.emails = demo.aws.emails()
    # Everything is recorded: the emulator and the stand-ins are stopped (and moto's SageMaker backend
    # unpatched) before any other test of this worker runs.
    yield result
