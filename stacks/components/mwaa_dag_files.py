"""The files the MWAA environment's bucket holds beside the DAG code, built from the configuration.

- `dags/mlops_platform.json`: what the DAGs know of the platform (read by
  `mwaa_dags/mlops_airflow/settings.py`, which validates it);
- `requirements/requirements-<hash>.txt`: what MWAA installs on top of its Airflow image, with
  MWAA's constraint for that Airflow version. The key changes with the content, so a new pin
  updates the environment.

Plain functions: the CDK stack passes deploy-time references, the offline demo literal values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stacks.config import AirflowConfig
from tooling.requirement_pins import read_pins

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_DIR = Path(__file__).resolve().parent / "mwaa_dags"
AIRFLOW_REQUIREMENTS = REPO_ROOT / "requirements-airflow.in"
PLATFORM_FILE = "mlops_platform.json"
METRICS_NAMESPACE = "MLOps/Models"
# MWAA runs Airflow 3.x on Python 3.12; its constraint file is Airflow's for that Python version.
MWAA_PYTHON = "3.12"


def airflow_version() -> str:
    """The Airflow version the environment runs: the pin of requirements-airflow.in (one source)."""
    return read_pins(AIRFLOW_REQUIREMENTS)["apache-airflow"]


def mwaa_requirements() -> str:
    """requirements.txt for MWAA: Airflow's constraint for its version and our direct pins."""
    pins = read_pins(AIRFLOW_REQUIREMENTS)
    version = pins.pop("apache-airflow")
    lines = [
        f'--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-{version}/'
        f'constraints-{MWAA_PYTHON}.txt"',
        *(f"{name}=={pin}" for name, pin in sorted(pins.items())),
    ]
    return "\n".join(lines) + "\n"


def requirements_key(text: str) -> str:
    """S3 key of a requirements file: its content hash makes each version a new key."""
    return f"requirements/requirements-{hashlib.sha256(text.encode()).hexdigest()[:16]}.txt"


def platform_document(
    airflow: AirflowConfig,
    *,
    region: str,
    artifact_bucket: str,
    sagemaker_role_arn: str,
    sns_topic_arn: str,
    slack_webhook_secret: str,
    image_repository_uri: Callable[[str, str], str],
) -> dict[str, Any]:
    """Contents of `mlops_platform.json` (see `PlatformSettings` in the DAGs' settings module)."""
    return {
        "region": region,
        "artifact_bucket": artifact_bucket,
        "sagemaker_role_arn": sagemaker_role_arn,
        "sns_topic_arn": sns_topic_arn,
        "slack_webhook_secret": slack_webhook_secret,
        "metrics_namespace": METRICS_NAMESPACE,
        "projects": {
            project.name: {
                model.name: {
                    "image_repository_uri": image_repository_uri(project.name, model.name),
                    "training_instance_type": model.training_instance_type,
                    "max_runtime_seconds": model.max_runtime_seconds,
                    "evaluation": {
                        "metric": model.evaluation_metric,
                        "threshold": model.evaluation_threshold,
                        "lower_is_better": model.lower_is_better,
                    },
                    "endpoint": {
                        "instance_type": model.endpoint_instance_type,
                        "min_capacity": model.min_capacity,
                        "max_capacity": model.max_capacity,
                        "invocations_per_instance": model.invocations_per_instance,
                    },
                }
                for model in project.models
            }
            for project in airflow.projects
        },
    }
