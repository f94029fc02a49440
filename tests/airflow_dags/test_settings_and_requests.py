"""The platform file the stack writes validates on the DAG side; run confs and SageMaker requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.version import Version

from mlops_airflow import sagemaker_configs as configs
from mlops_airflow.settings import (
    PlatformSettings,
    SettingsError,
    parse_deployment_request,
    parse_training_request,
    read_platform_settings,
)
from stacks.components.mwaa_dag_files import mwaa_requirements, platform_document, requirements_key
from stacks.config import load_config
from tooling.requirement_pins import read_pins

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def settings() -> PlatformSettings:
    airflow = load_config(REPO / "config" / "default.yaml").airflow
    assert airflow is not None
    document = platform_document(
        airflow,
        region="eu-west-1",
        artifact_bucket="artifacts",
        sagemaker_role_arn="arn:aws:iam::111111111111:role/sm",
        sns_topic_arn="arn:aws:sns:eu-west-1:111111111111:topic",
        slack_webhook_secret="mlops/airflow/slack-webhook",
        image_repository_uri=lambda project, model: f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/{project}/{model}",
    )
    return PlatformSettings.model_validate(json.loads(json.dumps(document)))


def test_the_stacks_platform_document_is_what_the_dags_read(settings: PlatformSettings) -> None:
    model = settings.model("abalone", "xgboost")
    assert model.evaluation.metric == "mse" and model.evaluation.passes(5.9) and not model.evaluation.passes(6.1)
    assert model.endpoint.min_capacity == 1 and model.endpoint.max_capacity == 2


def test_unknown_project_or_model_is_named(settings: PlatformSettings) -> None:
    with pytest.raises(SettingsError, match=r"project 'fraud' is not configured \(known: \['abalone'\]\)"):
        settings.model("fraud", "xgboost")
    with pytest.raises(SettingsError, match=r"model 'torch' is not configured in project 'abalone'"):
        settings.model("abalone", "torch")


def test_missing_or_broken_platform_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="is missing: the platform deployment writes it"):
        read_platform_settings(tmp_path / "mlops_platform.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SettingsError, match="not valid JSON"):
        read_platform_settings(tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"model": "xgboost", "image_version": "1.0.0"}, "project: Field required"),
        ({"project": "Abalone!", "model": "xgboost", "image_version": "1.0.0"}, "project: String should match"),
        ({"project": "abalone", "model": "xgboost", "image_version": "latest"}, "image_version: String should match"),
        ({"project": "abalone", "model": "xgboost", "image_version": "1.0.0", "x": 1}, "x: Extra inputs"),
        (
            {"project": "abalone", "model": "xgboost", "image_version": "1.0.0", "hyperparameters": {"a": 1}},
            "hyperparameters.a",
        ),
        ({"project": "abalone", "model": "xgboost", "image_version": "1.0.0", "git_sha": "xyz"}, "git_sha"),
    ],
)
def test_bad_training_conf_names_the_field(conf: dict, message: str) -> None:
    with pytest.raises(SettingsError, match="invalid training conf") as error:
        parse_training_request(conf)
    assert message in str(error.value)


def test_deployment_conf_defaults_to_the_newest_approved_version() -> None:
    assert parse_deployment_request({"project": "abalone", "model": "xgboost"}).model_version is None
    with pytest.raises(SettingsError, match="model_version"):
        parse_deployment_request({"project": "abalone", "model": "xgboost", "model_version": "1.0"})


def test_requests_use_deterministic_names_within_a_run(settings: PlatformSettings) -> None:
    run = configs.ModelRun(
        settings=settings,
        model_settings=settings.model("abalone", "xgboost"),
        project="abalone",
        model="xgboost",
        image_uri="repo:1.2.0",
        model_version=Version("1.2.0"),
        tag=configs.run_tag("gitlab-9-train"),
        tags=configs.version_tags(
            project="abalone", model="xgboost", model_version=Version("1.2.0"), image_version="1.2.0"
        ),
    )
    training = configs.training_job_config(run, hyperparameters={"num_round": "5"})
    assert training["TrainingJobName"] == f"abalone-xgboost-1-2-0-{configs.run_tag('gitlab-9-train')}"
    assert training["RoleArn"] == "arn:aws:iam::111111111111:role/sm" and training["EnableNetworkIsolation"]
    assert [c["DataSource"]["S3DataSource"]["S3Uri"] for c in training["InputDataConfig"]] == [
        "s3://artifacts/abalone/xgboost/data/train/",
        "s3://artifacts/abalone/xgboost/data/validation/",
    ]
    model_uri = configs.model_artifact_uri(training)
    assert model_uri == f"s3://artifacts/abalone/xgboost/models/{training['TrainingJobName']}/output/model.tar.gz"
    evaluation = configs.evaluation_job_config(run, model_uri=model_uri)
    assert [i["S3Input"]["S3Uri"] for i in evaluation["ProcessingInputs"]] == [
        model_uri,
        "s3://artifacts/abalone/xgboost/data/test/",
        "s3://artifacts/abalone/xgboost/data/features/",  # features.json: feature names, label, problem type
    ]
    assert evaluation["AppSpecification"]["ContainerArguments"] == ["--metric", "mse"]
    endpoint = configs.endpoint_config(run, model_uri=model_uri)
    assert endpoint["Endpoint"]["EndpointName"] == "abalone-xgboost"
    assert endpoint["EndpointConfig"]["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    assert {"Key": "mlops:model-version", "Value": "1.2.0"} in endpoint["Model"]["Tags"]


def test_names_over_sagemakers_limit_are_refused() -> None:
    with pytest.raises(ValueError, match="longer than 63"):
        configs.resource_name("a" * 40, "b" * 30)


def test_scaling_requests_target_the_variant(settings: PlatformSettings) -> None:
    model = settings.model("abalone", "xgboost")
    policy = configs.scaling_policy(model, "abalone-xgboost")
    assert policy["ResourceId"] == "endpoint/abalone-xgboost/variant/AllTraffic"
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 100.0
    assert configs.scalable_target(model, "abalone-xgboost")["MaxCapacity"] == 2


@pytest.mark.parametrize(
    ("report", "message"),
    [({"regression_metrics": {"mse": {"value": "4"}}}, "mse.value must be a number"), ({"other": {}}, "no *_metrics")],
)
def test_malformed_evaluation_reports_are_named(report: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        configs.evaluation_metrics(report)


def test_metrics_of_every_section_are_read() -> None:
    report = {
        "regression_metrics": {"mse": {"value": 4.5, "standard_deviation": 2.0}},
        "binary_classification_metrics": {"auc": {"value": 0.9}},
    }
    assert configs.evaluation_metrics(report) == {"mse": 4.5, "auc": 0.9}


def test_mwaa_requirements_pin_what_the_airflow_venv_runs() -> None:
    text = mwaa_requirements()
    pins = read_pins(REPO / "requirements-airflow.txt")
    assert text.startswith(
        f'--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-{pins["apache-airflow"]}/constraints-3.12.txt"'
    )
    for line in text.splitlines()[1:]:
        name, version = line.split("==")
        assert pins[name] == version, line
    assert requirements_key(text) != requirements_key(text + "x")
