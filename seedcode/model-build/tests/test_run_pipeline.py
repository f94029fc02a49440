"""`python -m pipelines.run_pipeline`: SageMaker mode against moto, and the local execution end to end."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from pathlib import Path

import boto3
import moto
import pytest
from pipelines import run_pipeline

REGION = "us-east-1"
BUCKET = "sagemaker-project-p-test"
GROUP = "abalone-p-test"
CPU_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:cpu-1"
GPU_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:gpu-1"

needs_training_code = pytest.mark.skipif(
    importlib.util.find_spec("xgboost_container") is None,
    reason="local execution needs the platform's xgboost_container package",
)


@pytest.fixture
def project_env(monkeypatch, tmp_path):
    """The CI/CD variables of a seeded project, against moto."""
    for name, value in {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SAGEMAKER_PROJECT_NAME": "abalone",
        "SAGEMAKER_PROJECT_ID": "p-test",
        "ARTIFACT_BUCKET": BUCKET,
        "MODEL_PACKAGE_GROUP_NAME": GROUP,
        "SAGEMAKER_PIPELINE_ROLE_ARN": "arn:aws:iam::123456789012:role/pipeline-role",
        "XGBOOST_IMAGE_URI": CPU_IMAGE,
        "XGBOOST_GPU_IMAGE_URI": GPU_IMAGE,
        "RUN_SUMMARY_PATH": str(tmp_path / "summary.json"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in (
        "PIPELINE_EXECUTION_MODE",
        "INPUT_DATA_URL",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "TRAINING_INSTANCE_TYPE",
        "PROCESSING_INSTANCE_TYPE",
    ):
        monkeypatch.delenv(name, raising=False)
    with moto.mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        # The SageMaker project creates its model package group (the product template).
        boto3.client("sagemaker", region_name=REGION).create_model_package_group(ModelPackageGroupName=GROUP)
        yield tmp_path


def load_registered_model(archive: bytes, directory: Path):
    """Booster and metadata of a `model.tar.gz`, read by the platform image's own model format code."""
    from xgboost_container import model_format

    with tarfile.open(fileobj=io.BytesIO(archive)) as bundle:
        bundle.extractall(directory, filter="data")
    return model_format.load_model(directory)


def upload_rows(lines: list[str]) -> str:
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=BUCKET, Key="dataset/abalone.csv", Body=("\n".join(lines) + "\n").encode()
    )
    return f"s3://{BUCKET}/dataset/abalone.csv"


def test_sagemaker_mode_upserts_and_starts_the_pipeline(project_env, capsys):
    assert run_pipeline.main(["--input-data", f"s3://{BUCKET}/dataset/other.csv"]) == 0
    output = capsys.readouterr().out
    assert "started pipeline abalone-p-test: execution_arn=arn:aws:sagemaker:us-east-1:" in output
    client = boto3.client("sagemaker", region_name=REGION)
    described = client.describe_pipeline(PipelineName="abalone-p-test")
    steps = [step["Name"] for step in json.loads(described["PipelineDefinition"])["Steps"]]
    assert steps == ["Preprocess", "Train", "Evaluate", "CheckQualityGate"]
    tags = client.list_tags(ResourceArn=described["PipelineArn"])["Tags"]
    assert tags == [
        {"Key": "sagemaker:project-name", "Value": "abalone"},
        {"Key": "sagemaker:project-id", "Value": "p-test"},
    ]
    execution_arn = output.split("execution_arn=")[1].strip()
    parameters = client.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution_arn)["PipelineParameters"]
    assert {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/dataset/other.csv"} in parameters
    summary = json.loads((project_env / "summary.json").read_text())
    assert summary == {
        "mode": "sagemaker",
        "pipeline_name": "abalone-p-test",
        "execution_arn": execution_arn,
        "status": "Executing",
    }


@pytest.mark.parametrize(
    ("training", "processing", "training_image"),
    [("ml.g5.2xlarge", "ml.c5.2xlarge", GPU_IMAGE), ("ml.m5.4xlarge", "ml.m5.large", CPU_IMAGE)],
)
def test_the_platforms_instance_types_become_the_pipelines_defaults(
    project_env, monkeypatch, capsys, training, processing, training_image
):
    """The platform seeds TRAINING_INSTANCE_TYPE / PROCESSING_INSTANCE_TYPE from config/<env>.yaml."""
    monkeypatch.setenv("TRAINING_INSTANCE_TYPE", training)
    monkeypatch.setenv("PROCESSING_INSTANCE_TYPE", processing)
    assert run_pipeline.main(["--input-data", f"s3://{BUCKET}/dataset/other.csv"]) == 0
    described = boto3.client("sagemaker", region_name=REGION).describe_pipeline(PipelineName="abalone-p-test")
    defaults = {p["Name"]: p.get("DefaultValue") for p in json.loads(described["PipelineDefinition"])["Parameters"]}
    assert defaults["TrainingInstanceType"] == training
    assert defaults["ProcessingInstanceType"] == processing
    assert defaults["TrainingImageUri"] == training_image


def test_missing_settings_are_named(project_env, monkeypatch, capsys):
    monkeypatch.delenv("ARTIFACT_BUCKET")
    monkeypatch.delenv("SAGEMAKER_PIPELINE_ROLE_ARN")
    assert run_pipeline.main([]) == 2
    assert "missing environment variable(s): ARTIFACT_BUCKET, SAGEMAKER_PIPELINE_ROLE_ARN" in capsys.readouterr().err


@needs_training_code
def test_local_execution_trains_evaluates_and_registers(project_env, make_rows, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_EXECUTION_MODE", "local")
    assert run_pipeline.main(["--input-data", upload_rows(make_rows(400))]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    for step in ("Preprocess", "Train", "Evaluate", "CheckQualityGate", "RegisterModel"):
        assert f"[{step}] done in" in "\n".join(lines)
    assert lines[-1].startswith("test_mse=")
    summary = json.loads((project_env / "summary.json").read_text())
    assert summary["status"] == "Succeeded"
    assert float(lines[-1].split("=")[1]) == pytest.approx(summary["metric_value"], abs=1e-6)
    assert summary["metric_value"] <= 6.0 and summary["quality_gate"] == {"metric": "mse", "max": 6.0}
    assert set(summary["metrics"]) == {"mse", "rmse", "mae", "r2"} and summary["tuning"] is None
    assert set(summary["step_seconds"]) == {"Preprocess", "Train", "Evaluate", "CheckQualityGate", "RegisterModel"}
    # Each instance-backed step's run time, priced as its configured instance type (the seed's price table).
    costs = summary["costs"]
    assert (costs["currency"], costs["prices_as_of"], costs["region"]) == ("USD", "2023-05-01", REGION)
    assert [(c["step"], c["kind"], c["instance_type"], c["spot"]) for c in costs["steps"]] == [
        ("Preprocess", "processing", "ml.m5.xlarge", False),
        ("Train", "training", "ml.m5.xlarge", False),
        ("Evaluate", "processing", "ml.m5.xlarge", False),
    ]
    for item in costs["steps"]:
        assert item["billable_seconds"] == summary["step_seconds"][item["step"]] and item["basis"] == "local run time"
        assert item["cost"] == pytest.approx(item["billable_seconds"] * 0.23 / 3600, abs=1e-6)
    assert costs["estimated_cost"] == pytest.approx(sum(c["cost"] for c in costs["steps"]), abs=1e-6)
    assert [line.split("=")[0] for line in lines if line.startswith("cost[")] == [
        "cost[Preprocess]",
        "cost[Train]",
        "cost[Evaluate]",
        "cost[total]",
    ]

    s3 = boto3.client("s3", region_name=REGION)
    model_url = summary["artifacts"]["model_data_url"]
    prefix = f"s3://{BUCKET}/abalone-p-test/{summary['execution_id']}/"
    assert model_url == prefix + "model/model.tar.gz"
    archive = s3.get_object(Bucket=BUCKET, Key=model_url.split("/", 3)[3])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as bundle:
        assert bundle.getnames() == ["xgboost-model"]  # one file: SageMaker's built-in image serves it too
    _, metadata = load_registered_model(archive, project_env / "model")
    assert metadata.label == "rings" and metadata.num_features == 10
    evaluation = json.loads(
        s3.get_object(Bucket=BUCKET, Key=summary["artifacts"]["evaluation_url"].split("/", 3)[3])["Body"].read()
    )
    assert evaluation["regression_metrics"]["mse"]["value"] == summary["metric_value"]
    for name in ("evaluation_report_url", "evaluation_plots_url"):
        assert summary["artifacts"][name].startswith(prefix + "evaluation/")
    plots = s3.list_objects_v2(Bucket=BUCKET, Prefix=summary["artifacts"]["evaluation_plots_url"].split("/", 3)[3])
    assert sorted(item["Key"].rsplit("/", 1)[1] for item in plots["Contents"]) == [
        "feature_importance.png",
        "predicted_vs_actual.png",
        "residuals.png",
    ]

    package = boto3.client("sagemaker", region_name=REGION).describe_model_package(
        ModelPackageName=summary["model_package_arn"]
    )
    assert package["ModelPackageGroupName"] == GROUP
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CustomerMetadataProperties"] == {
        "CpuImageUri": CPU_IMAGE,
        "GpuImageUri": GPU_IMAGE,
        "ProblemType": "regression",
        "EvaluationReportUri": summary["artifacts"]["evaluation_report_url"],
        "EvaluationPlotsUri": summary["artifacts"]["evaluation_plots_url"],
    }
    assert package["InferenceSpecification"]["Containers"][0] == {
        "Image": CPU_IMAGE,
        "ModelDataUrl": model_url,
        "Environment": {},
    }
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == summary["artifacts"]["evaluation_url"]


@needs_training_code
def test_local_execution_fails_above_the_threshold_without_registering(project_env, make_rows, capsys):
    status = run_pipeline.main(
        ["--local", "--input-data", upload_rows(make_rows(200)), "--quality-gate-threshold", "0.01"]
    )
    assert status == 1
    captured = capsys.readouterr()
    assert "is above the quality gate's 0.01" in captured.err
    assert captured.out.strip().splitlines()[-1].startswith("test_mse=")
    summary = json.loads((project_env / "summary.json").read_text())
    assert (summary["status"], summary["failed_step"], summary["model_package_arn"]) == (
        "Failed",
        "QualityGateFailed",
        None,
    )
    packages = boto3.client("sagemaker", region_name=REGION).list_model_packages(ModelPackageGroupName=GROUP)
    assert packages["ModelPackageSummaryList"] == []


@needs_training_code
def test_local_execution_names_a_missing_model_package_group(project_env, make_rows, monkeypatch, capsys):
    monkeypatch.setenv("MODEL_PACKAGE_GROUP_NAME", f"{GROUP}-absent")
    assert run_pipeline.main(["--local", "--input-data", upload_rows(make_rows(400))]) == 1
    assert f"model package group '{GROUP}-absent' does not exist" in capsys.readouterr().err


@needs_training_code
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("malformed", "step Preprocess failed: preprocess failed: "),
        ("missing-object", "step Preprocess failed: no object found under the input data URL"),
        ("missing-bucket", "step Preprocess failed: AWS call failed"),
        ("missing-artifact-bucket", "step Preprocess failed: AWS call failed"),
    ],
)
def test_local_execution_reports_the_failing_step(project_env, make_rows, monkeypatch, capsys, source, expected):
    if source == "missing-artifact-bucket":
        monkeypatch.setenv("ARTIFACT_BUCKET", "no-such-artifact-bucket")
    url = {
        "malformed": lambda: upload_rows([*make_rows(30), "M,0.5,0.4"]),
        "missing-object": lambda: f"s3://{BUCKET}/dataset/absent.csv",
        "missing-bucket": lambda: "s3://no-such-bucket/abalone.csv",
        "missing-artifact-bucket": lambda: upload_rows(make_rows(30)),
    }[source]()
    assert run_pipeline.main(["--local", "--input-data", url]) == 1
    error = capsys.readouterr().err
    assert expected in error and "Traceback" not in error
    summary = json.loads((project_env / "summary.json").read_text())
    assert (summary["status"], summary["failed_step"]) == ("Failed", "Preprocess")
    if source == "malformed":
        assert "line 31: expected 9 columns" in summary["failure_reason"]
    if source == "missing-artifact-bucket":
        assert "no-such-artifact-bucket" in summary["failure_reason"]


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def swap_config(tmp_path: Path, example: str, **changes) -> Path:
    """The example's config.json, written where a data scientist's edited config.json would be."""
    document = json.loads((EXAMPLES / example / "config.json").read_text())
    document.update(changes)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    return path


def upload_example(example: str) -> str:
    key = f"dataset/{example}.csv"
    boto3.client("s3", region_name=REGION).upload_file(str(EXAMPLES / example / "data.csv"), BUCKET, key)
    return f"s3://{BUCKET}/{key}"


@needs_training_code
@pytest.mark.parametrize(
    ("example", "problem_type", "metric", "features", "plots"),
    [
        ("diabetes", "regression", "rmse", 11, 3),
        ("breast_cancer", "binary_classification", "auc", 30, 4),
        ("wine", "multiclass_classification", "accuracy", 13, 3),
    ],
)
def test_another_data_set_is_configuration_only(project_env, capsys, example, problem_type, metric, features, plots):
    """A bundled data set (label in another column, another feature count) through train, evaluate,
    gate and register, with config.json as the only change."""
    config = swap_config(project_env, example)
    assert run_pipeline.main(["--local", "--config", str(config), "--input-data", upload_example(example)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads((project_env / "summary.json").read_text())
    assert last == f"test_{metric}={summary['metric_value']:.6f}"
    assert summary["problem_type"] == problem_type and summary["quality_gate"]["metric"] == metric
    s3 = boto3.client("s3", region_name=REGION)
    archive = s3.get_object(Bucket=BUCKET, Key=summary["artifacts"]["model_data_url"].split("/", 3)[3])["Body"].read()
    booster, _ = load_registered_model(archive, project_env / "model")
    assert booster.num_features() == features
    evaluation = json.loads(
        s3.get_object(Bucket=BUCKET, Key=summary["artifacts"]["evaluation_url"].split("/", 3)[3])["Body"].read()
    )
    section = {"regression": "regression_metrics"}.get(problem_type, f"{problem_type}_metrics")
    assert evaluation[section][metric]["value"] == summary["metric_value"]
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=summary["artifacts"]["evaluation_plots_url"].split("/", 3)[3])
    assert len(listed["Contents"]) == plots
    package = boto3.client("sagemaker", region_name=REGION).describe_model_package(
        ModelPackageName=summary["model_package_arn"]
    )
    assert package["CustomerMetadataProperties"]["ProblemType"] == problem_type
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == summary["artifacts"]["evaluation_url"]


@needs_training_code
def test_local_tuning_searches_the_configured_ranges_and_registers_the_best_model(project_env, capsys):
    document = json.loads((EXAMPLES / "diabetes" / "config.json").read_text())
    document["tuning"].update(enabled=True, max_trials=4, max_parallel_trials=1)
    config = project_env / "config.json"
    config.write_text(json.dumps(document))
    assert run_pipeline.main(["--local", "--config", str(config), "--input-data", upload_example("diabetes")]) == 0
    output = capsys.readouterr().out
    assert "[Tune] 4 trials (Bayesian, seed 0): best validation:rmse=" in output and "[Train]" not in output
    summary = json.loads((project_env / "summary.json").read_text())
    tuning = summary["tuning"]
    assert [trial["number"] for trial in tuning["trials"]] == [0, 1, 2, 3]
    assert tuning["best_value"] == min(trial["value"] for trial in tuning["trials"])
    best = tuning["best_hyperparameters"]
    assert (
        50 <= int(best["num_round"]) <= 300 and 0.01 <= float(best["eta"]) <= 0.3 and 1 <= int(best["max_depth"]) <= 5
    )
    assert set(summary["step_seconds"]) == {"Preprocess", "Tune", "Evaluate", "CheckQualityGate", "RegisterModel"}
    # The registered model is the best trial's: its trees have the tuned depth and round count.
    s3 = boto3.client("s3", region_name=REGION)
    archive = s3.get_object(Bucket=BUCKET, Key=summary["artifacts"]["model_data_url"].split("/", 3)[3])["Body"].read()
    booster, _ = load_registered_model(archive, project_env / "model")
    assert booster.num_boosted_rounds() == int(best["num_round"])


def test_a_bad_configuration_stops_the_run_before_anything_starts(project_env, capsys):
    config = swap_config(project_env, "wine", quality_gate={"metric": "mse", "max": 1})
    assert run_pipeline.main(["--local", "--config", str(config), "--input-data", "s3://x/y.csv"]) == 2
    error = capsys.readouterr().err
    assert "'quality_gate.metric' = 'mse' is not a multiclass_classification metric" in error
    assert not (project_env / "summary.json").exists()
