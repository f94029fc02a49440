"""The DAGs' Python tasks and failure callback: thin glue between Airflow's AWS hooks and the plain
functions of this package. Every task reads the platform file and its run's validated conf; a bad
conf fails the task at once (no retries) with a message naming the bad field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from airflow.providers.amazon.aws.hooks.secrets_manager import SecretsManagerHook
from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.sdk.exceptions import AirflowFailException
from packaging.version import Version
from slack_sdk.webhook import WebhookClient

from mlops_airflow import sagemaker_configs as configs
from mlops_airflow.notifications import (
    Notification,
    deliver,
    deployment_notification,
    failure_notification,
    slack_webhook_url,
    training_notification,
)
from mlops_airflow.settings import (
    PlatformSettings,
    SettingsError,
    parse_deployment_request,
    parse_training_request,
    platform_settings,
)
from mlops_airflow.versioning import RegisteredVersion, next_model_version, parse_version

# MWAA's `aws_default` connection uses the environment's execution role.
AWS_CONN_ID = "aws_default"
RESOLVE_TRAINING_TASK = "resolve_version"
RESOLVE_DEPLOYMENT_TASK = "resolve_approved_version"
log = logging.getLogger(__name__)
Context = Mapping[str, Any]


def _settings() -> PlatformSettings:
    try:
        return platform_settings()
    except SettingsError as error:
        raise AirflowFailException(str(error)) from None


def _sagemaker(settings: PlatformSettings) -> Any:
    return SageMakerHook(aws_conn_id=AWS_CONN_ID, region_name=settings.region).get_conn()


def _client(settings: PlatformSettings, service: str) -> Any:
    return AwsBaseHook(aws_conn_id=AWS_CONN_ID, region_name=settings.region, client_type=service).get_conn()


def _resolved(context: Context, task_id: str) -> dict[str, Any]:
    value = context["ti"].xcom_pull(task_ids=task_id)
    if not isinstance(value, dict):
        raise AirflowFailException(f"task {task_id} left no result for this run")
    return value


# ------------------------------------------------------------------------------------------ training
def registered_versions(sagemaker: Any, group: str) -> list[RegisteredVersion]:
    """Versions in the model package group whose metadata records a model and an image version."""
    versions = []
    paginator = sagemaker.get_paginator("list_model_packages")
    try:
        pages = list(paginator.paginate(ModelPackageGroupName=group))
    except sagemaker.exceptions.ClientError as error:
        if error.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
            return []  # the group does not exist yet: no versions
        raise
    for page in pages:
        for summary in page["ModelPackageSummaryList"]:
            described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            metadata = described.get("CustomerMetadataProperties", {})
            try:
                versions.append(
                    RegisteredVersion(parse_version(metadata["ModelVersion"]), parse_version(metadata["ImageVersion"]))
                )
            except (KeyError, ValueError):
                log.warning("Ignoring %s: no ModelVersion/ImageVersion metadata", summary["ModelPackageArn"])
    return versions


def _require_image(settings: PlatformSettings, repository_uri: str, tag: str) -> None:
    repository = repository_uri.split("/", 1)[1]
    ecr = _client(settings, "ecr")
    try:
        ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ecr.exceptions.ClientError as error:
        code = error.response["Error"]["Code"]
        raise AirflowFailException(f"image {repository_uri}:{tag} cannot be used ({code}): push it first") from None


def resolve_training(**context: Any) -> dict[str, Any]:
    """Validate the run's conf, check the image, decide the model version and build the job requests."""
    settings = _settings()
    try:
        request = parse_training_request(context["dag_run"].conf)
        model_settings = settings.model(request.project, request.model)
    except SettingsError as error:
        raise AirflowFailException(str(error)) from None
    _require_image(settings, model_settings.image_repository_uri, request.image_version)
    image_uri = f"{model_settings.image_repository_uri}:{request.image_version}"
    group = configs.package_group_name(request.project, request.model)
    try:
        decision = next_model_version(
            registered_versions(_sagemaker(settings), group), parse_version(request.image_version)
        )
    except ValueError as error:
        raise AirflowFailException(f"{request.project}/{request.model}: {error}") from None
    log.info("Model %s/%s version %s: %s", request.project, request.model, decision.model_version, decision.reason)
    run = configs.ModelRun(
        settings=settings,
        model_settings=model_settings,
        project=request.project,
        model=request.model,
        image_uri=image_uri,
        model_version=decision.model_version,
        tag=configs.run_tag(context["run_id"]),
        tags=configs.version_tags(
            project=request.project,
            model=request.model,
            model_version=decision.model_version,
            image_version=request.image_version,
        ),
    )
    training = configs.training_job_config(run, hyperparameters=request.hyperparameters)
    model_uri = configs.model_artifact_uri(training)
    return {
        "request": request.model_dump(),
        "model_version": str(decision.model_version),
        "version_reason": decision.reason,
        "retraining": decision.retraining,
        "image_uri": image_uri,
        "model_uri": model_uri,
        "evaluation_uri": f"{configs.evaluation_prefix(run)}/evaluation.json",
        "package_group": group,
        "training": training,
        "evaluation": configs.evaluation_job_config(run, model_uri=model_uri),
    }


def check_evaluation(**context: Any) -> dict[str, float]:
    """Read the evaluation report, publish its metrics to CloudWatch and apply the evaluation gate."""
    settings = _settings()
    resolved = _resolved(context, RESOLVE_TRAINING_TASK)
    project, model = resolved["request"]["project"], resolved["request"]["model"]
    gate = settings.model(project, model).evaluation
    bucket, key = S3Hook.parse_s3_url(resolved["evaluation_uri"])
    text = S3Hook(aws_conn_id=AWS_CONN_ID, region_name=settings.region).read_key(key, bucket_name=bucket)
    try:
        metrics = configs.evaluation_metrics(json.loads(text))
    except ValueError as error:
        raise AirflowFailException(f"{resolved['evaluation_uri']}: {error}") from None
    _client(settings, "cloudwatch").put_metric_data(
        Namespace=settings.metrics_namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "Project", "Value": project}, {"Name": "Model", "Value": model}],
                "Value": value,
            }
            for name, value in sorted(metrics.items())
        ],
    )
    if gate.metric not in metrics:
        raise AirflowFailException(
            f"evaluation report {resolved['evaluation_uri']} has no metric {gate.metric!r} (has {sorted(metrics)})"
        )
    if not gate.passes(metrics[gate.metric]):
        comparison = "<=" if gate.lower_is_better else ">="
        raise AirflowFailException(
            f"model {project}/{model} {resolved['model_version']}: {gate.metric}={metrics[gate.metric]:.6g} "
            f"fails the evaluation gate {gate.metric} {comparison} {gate.threshold}"
        )
    return metrics


def register_model_version(**context: Any) -> str:
    """Register the evaluated model as PendingManualApproval, its versions as metadata and tags."""
    settings = _settings()
    resolved = _resolved(context, RESOLVE_TRAINING_TASK)
    request = resolved["request"]
    group = resolved["package_group"]
    hook = SageMakerHook(aws_conn_id=AWS_CONN_ID, region_name=settings.region)
    hook.create_model_package_group(group, f"Versions of model {request['project']}/{request['model']}")
    version = Version(resolved["model_version"])
    if any(registered.model_version == version for registered in registered_versions(hook.get_conn(), group)):
        raise AirflowFailException(
            f"model version {version} of {group} was registered meanwhile by another run; trigger training again"
        )
    response = hook.get_conn().create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"{request['project']}/{request['model']} {version}: {resolved['version_reason']}",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": resolved["image_uri"], "ModelDataUrl": resolved["model_uri"]}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelMetrics={
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": resolved["evaluation_uri"]}}
        },
        CustomerMetadataProperties={
            "ModelVersion": str(version),
            "ImageVersion": request["image_version"],
            "GitSha": request["git_sha"] or "unknown",
            "TrainingJobName": resolved["training"]["TrainingJobName"],
            "Retraining": str(resolved["retraining"]).lower(),
        },
        Tags=resolved["training"]["Tags"],
    )
    return str(response["ModelPackageArn"])


def notify_training(**context: Any) -> None:
    """Send the evaluation results of the registered version."""
    settings = _settings()
    resolved = _resolved(context, RESOLVE_TRAINING_TASK)
    request = resolved["request"]
    gate = settings.model(request["project"], request["model"]).evaluation
    notification = training_notification(
        project=request["project"],
        model=request["model"],
        model_version=resolved["model_version"],
        version_reason=resolved["version_reason"],
        image_uri=resolved["image_uri"],
        metrics=context["ti"].xcom_pull(task_ids="check_evaluation"),
        gate=f"{gate.metric} {'<=' if gate.lower_is_better else '>='} {gate.threshold}: passed",
        model_package_arn=context["ti"].xcom_pull(task_ids="register_model_version"),
        source=request["source"],
    )
    _send(settings, notification, strict=True)


# ---------------------------------------------------------------------------------------- deployment
def approved_version(sagemaker: Any, group: str, wanted: str | None) -> tuple[Version, dict[str, Any]]:
    """The requested (or newest) Approved version of the group and its description."""
    candidates: list[tuple[Version, dict[str, Any]]] = []
    paginator = sagemaker.get_paginator("list_model_packages")
    for page in paginator.paginate(ModelPackageGroupName=group, ModelApprovalStatus="Approved"):
        for summary in page["ModelPackageSummaryList"]:
            described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            text = described.get("CustomerMetadataProperties", {}).get("ModelVersion", "")
            try:
                candidates.append((parse_version(text), described))
            except ValueError:
                continue
    if wanted is not None:
        matching = [candidate for candidate in candidates if str(candidate[0]) == wanted]
        if not matching:
            raise ValueError(f"version {wanted} of {group} is not registered as Approved; approve it first")
        return matching[0]
    if not candidates:
        raise ValueError(f"{group} has no Approved version; approve one first")
    return max(candidates, key=lambda candidate: candidate[0])


def resolve_deployment(**context: Any) -> dict[str, Any]:
    """Validate the run's conf, find the Approved version and build the endpoint request."""
    settings = _settings()
    try:
        request = parse_deployment_request(context["dag_run"].conf)
        model_settings = settings.model(request.project, request.model)
    except SettingsError as error:
        raise AirflowFailException(str(error)) from None
    group = configs.package_group_name(request.project, request.model)
    try:
        version, package = approved_version(_sagemaker(settings), group, request.model_version)
    except ValueError as error:
        raise AirflowFailException(str(error)) from None
    container = package["InferenceSpecification"]["Containers"][0]
    image_version = package.get("CustomerMetadataProperties", {}).get("ImageVersion", "unknown")
    run = configs.ModelRun(
        settings=settings,
        model_settings=model_settings,
        project=request.project,
        model=request.model,
        image_uri=container["Image"],
        model_version=version,
        tag=configs.run_tag(context["run_id"]),
        tags=configs.version_tags(
            project=request.project, model=request.model, model_version=version, image_version=image_version
        ),
    )
    endpoint = configs.endpoint_config(run, model_uri=container["ModelDataUrl"])
    return {
        "request": request.model_dump(),
        "model_version": str(version),
        "model_package_arn": package["ModelPackageArn"],
        "endpoint_name": endpoint["Endpoint"]["EndpointName"],
        "endpoint": endpoint,
    }


def suspend_autoscaling(**context: Any) -> bool:
    """Deregister the endpoint's scalable target before the update (SageMaker requires it); True if there was one."""
    settings = _settings()
    resolved = _resolved(context, RESOLVE_DEPLOYMENT_TASK)
    target = configs.scalable_target(
        settings.model(resolved["request"]["project"], resolved["request"]["model"]), resolved["endpoint_name"]
    )
    autoscaling = _client(settings, "application-autoscaling")
    registered = autoscaling.describe_scalable_targets(
        ServiceNamespace=target["ServiceNamespace"],
        ResourceIds=[target["ResourceId"]],
        ScalableDimension=target["ScalableDimension"],
    )["ScalableTargets"]
    if registered:
        autoscaling.deregister_scalable_target(
            ServiceNamespace=target["ServiceNamespace"],
            ResourceId=target["ResourceId"],
            ScalableDimension=target["ScalableDimension"],
        )
    return bool(registered)


def configure_autoscaling(**context: Any) -> str:
    """Register the endpoint's variant with Application Auto Scaling and its target-tracking policy."""
    settings = _settings()
    resolved = _resolved(context, RESOLVE_DEPLOYMENT_TASK)
    model_settings = settings.model(resolved["request"]["project"], resolved["request"]["model"])
    autoscaling = _client(settings, "application-autoscaling")
    autoscaling.register_scalable_target(**configs.scalable_target(model_settings, resolved["endpoint_name"]))
    autoscaling.put_scaling_policy(**configs.scaling_policy(model_settings, resolved["endpoint_name"]))
    endpoint = model_settings.endpoint
    return (
        f"{endpoint.min_capacity}-{endpoint.max_capacity} instances, target "
        f"{endpoint.invocations_per_instance:g} invocations per instance per minute"
    )


def notify_deployment(**context: Any) -> None:
    """Send the endpoint's details."""
    settings = _settings()
    resolved = _resolved(context, RESOLVE_DEPLOYMENT_TASK)
    request = resolved["request"]
    described = _sagemaker(settings).describe_endpoint(EndpointName=resolved["endpoint_name"])
    notification = deployment_notification(
        project=request["project"],
        model=request["model"],
        model_version=resolved["model_version"],
        endpoint_name=resolved["endpoint_name"],
        endpoint_arn=described["EndpointArn"],
        instance_type=settings.model(request["project"], request["model"]).endpoint.instance_type,
        scaling=str(context["ti"].xcom_pull(task_ids="configure_autoscaling")),
        source=request["source"],
    )
    _send(settings, notification, strict=True)


# ------------------------------------------------------------------------------------- notifications
def _publisher(settings: PlatformSettings) -> Callable[[str, str], object]:
    hook = SnsHook(aws_conn_id=AWS_CONN_ID, region_name=settings.region)

    def publish(subject: str, text: str) -> object:
        return hook.publish_to_target(target_arn=settings.sns_topic_arn, message=text, subject=subject)

    return publish


def _slack_poster(settings: PlatformSettings) -> Callable[[dict[str, Any]], object]:
    def post(payload: dict[str, Any]) -> object:
        secret = SecretsManagerHook(aws_conn_id=AWS_CONN_ID, region_name=settings.region).get_secret(
            settings.slack_webhook_secret
        )
        response = WebhookClient(slack_webhook_url(secret), timeout=10).send_dict(payload)
        if response.status_code != 200:
            raise RuntimeError(f"Slack answered HTTP {response.status_code}")
        return response.status_code

    return post


def _send(settings: PlatformSettings, notification: Notification, *, strict: bool) -> None:
    problems = deliver(notification, publish_email=_publisher(settings), post_slack=_slack_poster(settings))
    if problems:
        message = f"notification {notification.subject!r} not delivered: {'; '.join(problems)}"
        if strict:
            raise RuntimeError(message)
        log.error("%s", message)


def on_failure(context: Context) -> None:
    """Failure callback of every task: tell SNS and Slack which task of which run failed and why.

    A callback must never raise (Airflow would only log it); delivery problems are logged.
    """
    ti = context["ti"]
    try:
        settings = platform_settings()
    except SettingsError as error:
        log.error("Failure of %s.%s not notified: %s", ti.dag_id, ti.task_id, error)
        return
    notification = failure_notification(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        try_number=int(getattr(ti, "try_number", 1) or 1),
        error=str(context.get("exception") or "unknown error"),
    )
    _send(settings, notification, strict=False)
