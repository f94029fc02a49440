"""Training and evaluation DAG: train a model image on SageMaker, evaluate it, register the version.

Triggered by the MLOps repository's CI (through the DAG trigger Lambda) after it pushed an image,
and by its scheduled retraining pipeline. `conf`: project, model, image_version (the ECR tag),
optional git_sha, source (the pipeline URL) and hyperparameters. The model version is decided from
the versions already registered (see mlops_airflow/versioning.py); an evaluation that misses the
model's gate fails the run and nothing is registered. Every task's failure goes to SNS and Slack.
"""

from __future__ import annotations

import pendulum
from airflow.configuration import conf
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerProcessingOperator, SageMakerTrainingOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from mlops_airflow import tasks

# Seconds between status checks of SageMaker jobs and endpoints ([mlops] job_poll_seconds).
POLL_SECONDS = conf.getint("mlops", "job_poll_seconds", fallback=60)

with DAG(
    dag_id="mlops_training",
    description="Train, evaluate and register a model version with SageMaker",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["mlops", "sagemaker"],
    # SageMaker jobs are not started twice: a failed run is triggered again, never retried in place.
    default_args={"retries": 0, "on_failure_callback": tasks.on_failure},
) as dag:
    resolve = PythonOperator(
        task_id=tasks.RESOLVE_TRAINING_TASK, python_callable=tasks.resolve_training, multiple_outputs=True
    )
    train = SageMakerTrainingOperator(
        task_id="train",
        config=resolve.output["training"],
        wait_for_completion=True,
        print_log=False,
        check_interval=POLL_SECONDS,
        action_if_job_exists="fail",
    )
    evaluate = SageMakerProcessingOperator(
        task_id="evaluate",
        config=resolve.output["evaluation"],
        wait_for_completion=True,
        print_log=False,
        check_interval=POLL_SECONDS,
        action_if_job_exists="fail",
    )
    gate = PythonOperator(task_id="check_evaluation", python_callable=tasks.check_evaluation)
    register = PythonOperator(task_id="register_model_version", python_callable=tasks.register_model_version)
    notify = PythonOperator(task_id="notify", python_callable=tasks.notify_training)
    resolve >> train >> evaluate >> gate >> register >> notify
