"""Request bodies of the SageMaker calls the DAGs make, built from settings and a DAG run.

Names are deterministic within a DAG run (a retried task reuses them, and the operators refuse to
start a second job of the same name) and unique across runs (`run_tag`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from packaging.version import Version

from mlops_airflow.settings import ModelSettings, PlatformSettings

VARIANT = "AllTraffic"
# SageMaker names: at most 63 letters, digits and hyphens.
_NAME_LIMIT = 63


def run_tag(run_id: str) -> str:
    """Eight hex characters identifying a DAG run in resource names."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:8]


def version_slug(version: Version) -> str:
    """`1.2.3` as `1-2-3` (SageMaker names allow no dots)."""
    return str(version).replace(".", "-")


def resource_name(*parts: str) -> str:
    """Parts joined by hyphens; ValueError when SageMaker's 63-character limit is exceeded."""
    name = "-".join(parts)
    if len(name) > _NAME_LIMIT:
        raise ValueError(f"SageMaker name {name!r} is longer than {_NAME_LIMIT} characters")
    return name


def endpoint_name(project: str, model: str) -> str:
    """The model's endpoint: one per model, updated in place by each deployment."""
    return resource_name(project, model)


def package_group_name(project: str, model: str) -> str:
    """The model package group holding the model's versions."""
    return resource_name(project, model)


def model_prefix(settings: PlatformSettings, project: str, model: str) -> str:
    """S3 prefix of everything the model's pipelines read and write."""
    return f"s3://{settings.artifact_bucket}/{project}/{model}"


def version_tags(*, project: str, model: str, model_version: Version, image_version: str) -> list[dict[str, str]]:
    """Tags recording a model version on the jobs, the model package and the endpoint's model."""
    return [
        {"Key": "mlops:project", "Value": project},
        {"Key": "mlops:model", "Value": model},
        {"Key": "mlops:model-version", "Value": str(model_version)},
        {"Key": "mlops:image-version", "Value": image_version},
    ]


@dataclass(frozen=True)
class ModelRun:
    """One DAG run's work on one model version: everything the request bodies are built from."""

    settings: PlatformSettings
    model_settings: ModelSettings
    project: str
    model: str
    image_uri: str
    model_version: Version
    tag: str  # `run_tag` of the DAG run
    tags: list[dict[str, str]]

    @property
    def prefix(self) -> str:
        """The model's S3 prefix."""
        return model_prefix(self.settings, self.project, self.model)

    def name(self, *parts: str) -> str:
        """A SageMaker name for this run: `<project>-<model>[-parts]-<version>-<tag>`."""
        return resource_name(self.project, self.model, *parts, version_slug(self.model_version), self.tag)


def training_job_config(run: ModelRun, *, hyperparameters: dict[str, str]) -> dict[str, Any]:
    """CreateTrainingJob request: train/validation channels of the model's data prefix."""
    prefix = run.prefix

    def channel(name: str) -> dict[str, Any]:
        return {
            "ChannelName": name,
            "ContentType": "text/csv",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"{prefix}/data/{name}/",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }

    return {
        "TrainingJobName": run.name(),
        "AlgorithmSpecification": {"TrainingImage": run.image_uri, "TrainingInputMode": "File"},
        "RoleArn": run.settings.sagemaker_role_arn,
        "HyperParameters": hyperparameters,
        "InputDataConfig": [channel("train"), channel("validation")],
        "OutputDataConfig": {"S3OutputPath": f"{prefix}/models/"},
        "ResourceConfig": {
            "InstanceType": run.model_settings.training_instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": run.model_settings.max_runtime_seconds},
        "EnableNetworkIsolation": True,
        "Tags": run.tags,
    }


def model_artifact_uri(training: dict[str, Any]) -> str:
    """Where SageMaker writes the model of a training job (`<output path>/<job>/output/model.tar.gz`)."""
    output = training["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    return f"{output}/{training['TrainingJobName']}/output/model.tar.gz"


def evaluation_job_config(run: ModelRun, *, model_uri: str) -> dict[str, Any]:
    """CreateProcessingJob request: the model image's `evaluate.py` scores the model on the test split."""
    return {
        "ProcessingJobName": run.name("eval"),
        "AppSpecification": {
            "ImageUri": run.image_uri,
            "ContainerEntrypoint": ["python3", "/opt/program/model/evaluate.py"],
            # The gate's metric: evaluate.py records and prints it (its report has every metric).
            "ContainerArguments": ["--metric", run.model_settings.evaluation.metric],
        },
        "RoleArn": run.settings.sagemaker_role_arn,
        "ProcessingInputs": [
            _processing_input("model", model_uri, "/opt/ml/processing/model"),
            _processing_input("test", f"{run.prefix}/data/test/", "/opt/ml/processing/test"),
            # The preprocessing's description of the features, label and problem type.
            _processing_input("features", f"{run.prefix}/data/features/", "/opt/ml/processing/features"),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "evaluation",
                    "S3Output": {
                        "S3Uri": evaluation_prefix(run),
                        "LocalPath": "/opt/ml/processing/evaluation",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": run.model_settings.training_instance_type,
                "VolumeSizeInGB": 30,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": run.model_settings.max_runtime_seconds},
        "NetworkConfig": {"EnableNetworkIsolation": True},
        "Tags": run.tags,
    }


def evaluation_prefix(run: ModelRun) -> str:
    """Where the evaluation job writes `evaluation.json`."""
    return f"{run.prefix}/evaluations/{run.model_version}-{run.tag}"


def _processing_input(name: str, uri: str, local_path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
        },
    }


def endpoint_config(run: ModelRun, *, model_uri: str) -> dict[str, Any]:
    """SageMakerEndpointOperator config: Model, EndpointConfig (with data capture) and Endpoint."""
    name = run.name()
    endpoint = endpoint_name(run.project, run.model)
    return {
        "Model": {
            "ModelName": name,
            "PrimaryContainer": {"Image": run.image_uri, "ModelDataUrl": model_uri},
            "ExecutionRoleArn": run.settings.sagemaker_role_arn,
            "EnableNetworkIsolation": True,
            "Tags": run.tags,
        },
        "EndpointConfig": {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": VARIANT,
                    "ModelName": name,
                    "InitialInstanceCount": run.model_settings.endpoint.min_capacity,
                    "InstanceType": run.model_settings.endpoint.instance_type,
                }
            ],
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 100,
                "DestinationS3Uri": f"{run.prefix}/data-capture",
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            },
            "Tags": run.tags,
        },
        "Endpoint": {"EndpointName": endpoint, "EndpointConfigName": name, "Tags": run.tags},
    }


def scalable_target(model_settings: ModelSettings, endpoint: str) -> dict[str, Any]:
    """RegisterScalableTarget request for the endpoint's variant."""
    return {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{endpoint}/variant/{VARIANT}",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MinCapacity": model_settings.endpoint.min_capacity,
        "MaxCapacity": model_settings.endpoint.max_capacity,
    }


def scaling_policy(model_settings: ModelSettings, endpoint: str) -> dict[str, Any]:
    """PutScalingPolicy request: target tracking on invocations per instance."""
    return {
        "PolicyName": f"{endpoint}-invocations-per-instance",
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{endpoint}/variant/{VARIANT}",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": model_settings.endpoint.invocations_per_instance,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    }


def evaluation_metrics(report: dict[str, Any]) -> dict[str, float]:
    """Metric name -> value of a SageMaker model-quality report (`evaluation.json`).

    The report has sections such as `regression_metrics` or `binary_classification_metrics`, each
    mapping a metric to `{"value": ..., "standard_deviation": ...}`.
    """
    metrics: dict[str, float] = {}
    for section, entries in report.items():
        if not section.endswith("_metrics") or not isinstance(entries, dict):
            continue
        for name, entry in entries.items():
            value = entry.get("value") if isinstance(entry, dict) else None
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"evaluation report: {section}.{name}.value must be a number (got {value!r})")
            metrics[name] = float(value)
    if not metrics:
        raise ValueError("evaluation report has no *_metrics section with metric values")
    return metrics
