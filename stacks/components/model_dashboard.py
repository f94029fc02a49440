"""A CloudWatch dashboard per project: each model's endpoint and its evaluation metrics.

Per model: invocations, model latency p50/p90/p99, 4xx/5xx errors, instance CPU/memory/GPU
utilisation (SageMaker's `/aws/sagemaker/Endpoints` namespace) and the evaluation metrics the
training DAG publishes for each new version (custom namespace, dimensions Project and Model).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from stacks.config import AirflowProjectConfig

VARIANT = "AllTraffic"
PERIOD = cdk.Duration.minutes(5)


class ModelDashboard(Construct):
    """Dashboard `<name>` with one row of widgets per model of the project."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        project: AirflowProjectConfig,
        metrics_namespace: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name)
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# Project {project.name}\nEndpoints `{project.name}-<model>` and the evaluation metrics "
                "of each registered model version.",
                width=24,
                height=2,
            )
        )
        for model in project.models:
            endpoint = f"{project.name}-{model.name}"
            self.dashboard.add_widgets(
                *self._model_widgets(endpoint, project.name, model.name, model.dashboard_metrics, metrics_namespace)
            )

    @staticmethod
    def _model_widgets(
        endpoint: str, project: str, model: str, evaluation_metrics: list[str], namespace: str
    ) -> list[cloudwatch.IWidget]:
        dimensions = {"EndpointName": endpoint, "VariantName": VARIANT}

        def invocation(name: str, statistic: str = "Sum", label: str | None = None) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=name,
                dimensions_map=dimensions,
                statistic=statistic,
                period=PERIOD,
                label=label or name,
            )

        def instance(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="/aws/sagemaker/Endpoints",
                metric_name=name,
                dimensions_map=dimensions,
                statistic="Average",
                period=PERIOD,
            )

        return [
            cloudwatch.GraphWidget(
                title=f"{endpoint}: invocations", left=[invocation("Invocations")], width=6, height=6
            ),
            cloudwatch.GraphWidget(
                title=f"{endpoint}: model latency (microseconds)",
                left=[invocation("ModelLatency", stat, f"ModelLatency {stat}") for stat in ("p50", "p90", "p99")],
                width=6,
                height=6,
            ),
            cloudwatch.GraphWidget(
                title=f"{endpoint}: errors",
                left=[invocation("Invocation4XXErrors"), invocation("Invocation5XXErrors")],
                width=6,
                height=6,
            ),
            cloudwatch.GraphWidget(
                title=f"{endpoint}: utilisation (%)",
                left=[instance(name) for name in ("CPUUtilization", "MemoryUtilization", "DiskUtilization")],
                right=[instance(name) for name in ("GPUUtilization", "GPUMemoryUtilization")],
                width=6,
                height=6,
            ),
            cloudwatch.GraphWidget(
                title=f"{project}/{model}: evaluation metrics of each new version",
                left=[
                    cloudwatch.Metric(
                        namespace=namespace,
                        metric_name=name,
                        dimensions_map={"Project": project, "Model": model},
                        statistic="Average",
                        period=cdk.Duration.days(1),
                    )
                    for name in evaluation_metrics
                ],
                width=24,
                height=6,
            ),
        ]
