"""The Airflow (MWAA) variant of the platform (seeds/03, SPEC section 6), added when `airflow` is configured.

GitLab multi-project pipelines (a model repository triggers its MLOps repository) build and push the
model image with a semantic version, then trigger the training DAG on Amazon MWAA through the DAG
trigger Lambda; after a person approves, the same Lambda triggers the deployment DAG. This stack
holds everything those pipelines and DAGs use; see README, "Airflow (MWAA) variant".
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.components.airflow_ci_variables import DEPLOYMENT_DAG, TRAINING_DAG
from stacks.components.airflow_gitlab_repositories import AirflowGitLabRepositories
from stacks.components.airflow_sagemaker_access import AirflowSageMakerAccess
from stacks.components.artifact_bucket import ArtifactBucket
from stacks.components.log_encryption_key import LogEncryptionKey
from stacks.components.ml_core_images import MlCoreImage
from stacks.components.model_dashboard import ModelDashboard
from stacks.components.model_image_repositories import ModelImageRepositories
from stacks.components.mwaa_dag_files import METRICS_NAMESPACE, platform_document
from stacks.components.mwaa_dag_trigger import MwaaDagTrigger
from stacks.components.mwaa_environment import MwaaEnvironment
from stacks.components.pipeline_notifications import PipelineNotifications
from stacks.components.private_network import PrivateNetwork
from stacks.config import PlatformConfig


class AirflowStack(cdk.Stack):
    """MWAA environment, DAGs, trigger Lambda, image repositories, notifications, dashboards, CI roles."""

    @property
    def availability_zones(self) -> list[str]:
        """The region's first two zones, resolved at deploy time (no context lookup, no hard-coded names)."""
        return [cdk.Fn.select(index, cdk.Fn.get_azs()) for index in range(2)]

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        airflow = config.airflow
        if airflow is None:
            raise ValueError("AirflowStack needs the `airflow` section of the configuration")
        models = [(project.name, model.name) for project in airflow.projects for model in project.models]

        logs_key = LogEncryptionKey(self, "LogsKey")
        network = PrivateNetwork(self, "Network", cidr=airflow.vpc_cidr, log_key=logs_key.key, purpose="mwaa")
        artifacts = ArtifactBucket(self, "Artifacts")
        repositories = ModelImageRepositories(self, "ImageRepositories", models=models)
        notifications = PipelineNotifications(
            self,
            "Notifications",
            topic_name=f"{config.name}-airflow-notifications",
            emails=airflow.notification_emails,
            slack_secret_name=airflow.slack_webhook_secret_name,
        )
        access = AirflowSageMakerAccess(
            self,
            "SageMakerAccess",
            projects=[project.name for project in airflow.projects],
            models=models,
            artifacts=artifacts,
            repositories=repositories,
            metrics_namespace=METRICS_NAMESPACE,
        )
        environment = MwaaEnvironment(
            self,
            "Mwaa",
            name=airflow.environment_name,
            environment_class=airflow.environment_class,
            min_workers=airflow.min_workers,
            max_workers=airflow.max_workers,
            network=network,
            access_logs=artifacts.access_logs,
            logs_key=logs_key,
            platform_document=platform_document(
                airflow,
                region=self.region,
                artifact_bucket=artifacts.bucket.bucket_name,
                sagemaker_role_arn=access.role.role_arn,
                sns_topic_arn=notifications.topic.topic_arn,
                slack_webhook_secret=airflow.slack_webhook_secret_name,
                image_repository_uri=lambda project, model: repositories.repository(project, model).repository_uri,
            ),
        )
        access.grant_orchestration(environment.role)
        notifications.grant_notify(environment.role)

        trigger = MwaaDagTrigger(
            self,
            "DagTrigger",
            environment_name=airflow.environment_name,
            allowed_dags=[TRAINING_DAG, DEPLOYMENT_DAG],
            network=network,
            logs_key=logs_key,
        )
        base_image_uri = ssm.StringParameter.value_for_string_parameter(
            self, MlCoreImage("xgboost", "cpu").parameter_name(config.name)
        )
        oidc_provider_arn = f"arn:aws:iam::{config.account}:oidc-provider/{config.gitlab.host}"
        for project in airflow.projects:
            ModelDashboard(
                self,
                f"Dashboard-{project.name}",
                dashboard_name=f"{config.name}-{project.name}",
                project=project,
                metrics_namespace=METRICS_NAMESPACE,
            )
            for model in project.models:
                AirflowGitLabRepositories(
                    self,
                    f"Repositories-{project.name}-{model.name}",
                    gitlab=config.gitlab,
                    oidc_provider_arn=oidc_provider_arn,
                    project=project.name,
                    model=model.name,
                    repository=repositories.repository(project.name, model.name),
                    artifacts=artifacts,
                    trigger=trigger,
                    seed=airflow.seed_repositories,
                    base_image_uri=base_image_uri,
                    network=network,
                    logs_key=logs_key,
                )

        cdk.CfnOutput(self, "MwaaEnvironmentName", value=airflow.environment_name)
        cdk.CfnOutput(self, "MwaaBucketName", value=environment.bucket.bucket_name)
        cdk.CfnOutput(self, "DagTriggerFunctionName", value=trigger.function.function_name)
        cdk.CfnOutput(self, "ArtifactBucketName", value=artifacts.bucket.bucket_name)
        cdk.CfnOutput(self, "NotificationTopicArn", value=notifications.topic.topic_arn)
        cdk.CfnOutput(self, "SlackWebhookSecretName", value=airflow.slack_webhook_secret_name)
