"""Deployment DAG: create or update a model's endpoint from an Approved model version.

Triggered by the MLOps repository's manual approval job (through the DAG trigger Lambda), which
approves the version in the model registry first. `conf`: project, model, optional model_version
(default: the newest Approved one) and source. The endpoint `<project>-<model>` is created, or
updated in place; target-tracking auto scaling is suspended around the update (SageMaker refuses to
update a variant that is registered for auto scaling) and configured again after it.
"""

from __future__ import annotations

import pendulum
from airflow.configuration import conf
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerEndpointOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from mlops_airflow import tasks

# Seconds between status checks of SageMaker jobs and endpoints ([mlops] job_poll_seconds).
POLL_SECONDS = conf.getint("mlops", "job_poll_seconds", fallback=60)

with DAG(
    dag_id="mlops_deployment",
    description="Deploy an Approved model version to its SageMaker endpoint",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    # One deployment at a time: two runs must not update the same endpoint at once.
    max_active_runs=1,
    tags=["mlops", "sagemaker"],
    default_args={"retries": 0, "on_failure_callback": tasks.on_failure},
) as dag:
    resolve = PythonOperator(
        task_id=tasks.RESOLVE_DEPLOYMENT_TASK, python_callable=tasks.resolve_deployment, multiple_outputs=True
    )
    suspend = PythonOperator(task_id="suspend_autoscaling", python_callable=tasks.suspend_autoscaling)
    deploy = SageMakerEndpointOperator(
        task_id="deploy_endpoint",
        config=resolve.output["endpoint"],
        operation="create",  # the operator updates the endpoint in place when it exists
        wait_for_completion=True,
        check_interval=POLL_SECONDS,
    )
    scale = PythonOperator(task_id="configure_autoscaling", python_callable=tasks.configure_autoscaling)
    notify = PythonOperator(task_id="notify", python_callable=tasks.notify_deployment)
    resolve >> suspend >> deploy >> scale >> notify
