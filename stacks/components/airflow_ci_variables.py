"""CI/CD variables of the Airflow variant's two GitLab repositories (one source for the stack's seed-code
check-in and the offline runs). Plain function: the stack passes deploy-time references."""

from __future__ import annotations

TRAINING_DAG = "mlops_training"
DEPLOYMENT_DAG = "mlops_deployment"


def model_repository_variables(*, project: str, model: str, mlops_project_path: str) -> dict[str, str]:
    """Variables of the model repository (its trigger job names the MLOps project)."""
    return {"PROJECT_NAME": project, "MODEL_NAME": model, "MLOPS_PROJECT_PATH": mlops_project_path}


def mlops_repository_variables(
    *,
    project: str,
    model: str,
    region: str,
    role_arn: str,
    repository_uri: str,
    base_image_uri: str,
    artifact_bucket: str,
    trigger_function: str,
) -> dict[str, str]:
    """Variables of the MLOps repository (read by its `mlops_ci` steps)."""
    return {
        "PROJECT_NAME": project,
        "MODEL_NAME": model,
        "AWS_REGION": region,
        "AWS_ROLE_ARN": role_arn,
        "ECR_REPOSITORY_URI": repository_uri,
        "BASE_IMAGE_URI": base_image_uri,
        "ARTIFACT_BUCKET": artifact_bucket,
        "MODEL_PACKAGE_GROUP_NAME": f"{project}-{model}",
        "DAG_TRIGGER_FUNCTION": trigger_function,
        "TRAINING_DAG": TRAINING_DAG,
        "DEPLOYMENT_DAG": DEPLOYMENT_DAG,
    }
