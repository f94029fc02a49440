"""The SageMaker Pipeline definition, built offline inside moto: steps, parameters, condition, registration."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import moto
import pytest
from pipelines.abalone import pipeline as definition
from sagemaker.workflow.pipeline_context import PipelineSession

REGION = "us-east-1"
BUCKET = "sagemaker-project-p-test"
NAME = "abalone-p-test"
ROLE = "arn:aws:iam::123456789012:role/pipeline-role"
CPU_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:cpu-1"
GPU_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:gpu-1"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def build(images: definition.ImageUris, **kwargs) -> dict:
    with moto.mock_aws():
        session = boto3.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=BUCKET)
        pipeline = definition.get_pipeline(
            region=REGION,
            role=ROLE,
            default_bucket=BUCKET,
            pipeline_name=NAME,
            model_package_group_name=NAME,
            sagemaker_session=PipelineSession(boto_session=session, default_bucket=BUCKET),
            images=images,
            **kwargs,
        )
        return json.loads(pipeline.definition())


@pytest.fixture(scope="module")
def builtin_uri() -> str:
    return definition.resolve_image_uris(REGION, {}).builtin


@pytest.fixture(scope="module")
def pipeline_json(builtin_uri) -> dict:
    return build(definition.ImageUris(cpu=CPU_IMAGE, gpu=GPU_IMAGE, builtin=builtin_uri))


def steps_by_name(document: dict) -> dict:
    steps = {step["Name"]: step for step in document["Steps"]}
    for step in document["Steps"]:
        for branch in ("IfSteps", "ElseSteps"):
            steps.update({inner["Name"]: inner for inner in step.get("Arguments", {}).get(branch, [])})
    return steps


def test_steps_in_order(pipeline_json):
    assert [step["Name"] for step in pipeline_json["Steps"]] == [
        "Preprocess",
        "Train",
        "Evaluate",
        "CheckQualityGate",
    ]
    assert [step["Type"] for step in pipeline_json["Steps"]] == ["Processing", "Training", "Processing", "Condition"]


def test_parameters_and_defaults(pipeline_json):
    parameters = {p["Name"]: (p["Type"], p.get("DefaultValue")) for p in pipeline_json["Parameters"]}
    assert parameters == {
        "ProcessingInstanceType": ("String", "ml.m5.xlarge"),
        "ProcessingInstanceCount": ("Integer", 1),
        "TrainingInstanceType": ("String", "ml.m5.xlarge"),
        "TrainingImageUri": ("String", CPU_IMAGE),
        "InputDataUrl": ("String", "s3://sagemaker-servicecatalog-seedcode-us-east-1/dataset/abalone-dataset.csv"),
        "ModelApprovalStatus": ("String", "PendingManualApproval"),
        "QualityGateThreshold": ("Float", 6.0),
    }


def test_processing_steps_run_the_scripts_on_the_cpu_image(pipeline_json):
    steps = steps_by_name(pipeline_json)
    for name, script in (("Preprocess", "preprocess.py"), ("Evaluate", "evaluate.py")):
        app = steps[name]["Arguments"]["AppSpecification"]
        assert app["ImageUri"] == CPU_IMAGE
        assert app["ContainerEntrypoint"] == ["python3", f"/opt/ml/processing/input/code/{script}"]
        cluster = steps[name]["Arguments"]["ProcessingResources"]["ClusterConfig"]
        assert cluster["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
        assert cluster["InstanceCount"] == {"Get": "Parameters.ProcessingInstanceCount"}
    inputs = {i["InputName"]: i["S3Input"] for i in steps["Preprocess"]["Arguments"]["ProcessingInputs"]}
    assert inputs["data"]["S3Uri"] == {"Get": "Parameters.InputDataUrl"}
    assert inputs["config"]["LocalPath"] == "/opt/ml/processing/input/config"
    outputs = [o["OutputName"] for o in steps["Preprocess"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]]
    assert outputs == ["train", "validation", "test", "features"]


def test_training_step_uses_seed_hyperparameters_and_channels(pipeline_json):
    arguments = steps_by_name(pipeline_json)["Train"]["Arguments"]
    assert arguments["AlgorithmSpecification"]["TrainingImage"] == {"Get": "Parameters.TrainingImageUri"}
    assert arguments["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    assert arguments["HyperParameters"] == {
        "objective": "reg:squarederror",
        "num_round": "50",
        "max_depth": "5",
        "eta": "0.2",
        "gamma": "4",
        "min_child_weight": "6",
        "subsample": "0.7",
        "eval_metric": "rmse",
    }
    channels = {c["ChannelName"]: c for c in arguments["InputDataConfig"]}
    assert set(channels) == {"train", "validation", "features"}
    assert channels["train"]["ContentType"] == "text/csv"
    assert channels["train"]["DataSource"]["S3DataSource"]["S3Uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"
    }


def test_condition_compares_the_evaluated_mse_with_the_threshold(pipeline_json):
    condition = steps_by_name(pipeline_json)["CheckQualityGate"]["Arguments"]
    assert condition["Conditions"] == [
        {
            "Type": "LessThanOrEqualTo",
            "LeftValue": {
                "Std:JsonGet": {
                    "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                    "Path": "regression_metrics.mse.value",
                }
            },
            "RightValue": {"Get": "Parameters.QualityGateThreshold"},
        }
    ]
    assert [s["Type"] for s in condition["IfSteps"]] == ["RegisterModel"]
    assert [s["Name"] for s in condition["ElseSteps"]] == ["QualityGateFailed"]
    evaluate = steps_by_name(pipeline_json)["Evaluate"]
    assert evaluate["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
    ]


def test_registration_records_metrics_images_and_instance_types(pipeline_json):
    register = next(s for s in steps_by_name(pipeline_json).values() if s["Type"] == "RegisterModel")["Arguments"]
    assert register["ModelPackageGroupName"] == NAME
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    metadata = register["CustomerMetadataProperties"]
    assert {k: metadata[k] for k in ("CpuImageUri", "GpuImageUri", "ProblemType")} == {
        "CpuImageUri": CPU_IMAGE,
        "GpuImageUri": GPU_IMAGE,
        "ProblemType": "regression",
    }
    assert metadata["EvaluationReportUri"]["Std:Join"]["Values"][-1] == "report.html"
    assert metadata["EvaluationPlotsUri"]["Std:Join"]["Values"][-1] == "plots/"
    spec = register["InferenceSpecification"]
    assert spec["Containers"][0]["Image"] == CPU_IMAGE
    assert spec["Containers"][0]["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert spec["SupportedContentTypes"] == ["text/csv"] and spec["SupportedResponseMIMETypes"] == ["text/csv"]
    assert {"ml.m5.large", "ml.c5.xlarge", "ml.g4dn.xlarge", "ml.g5.xlarge"} <= set(
        spec["SupportedRealtimeInferenceInstanceTypes"]
    )
    statistics = register["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json"
    assert statistics["S3Uri"]["Std:Join"]["Values"][-1] == "evaluation.json"


def test_fail_step_reports_the_measured_mse(pipeline_json):
    message = steps_by_name(pipeline_json)["QualityGateFailed"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert message[0] == "Test mse"
    assert message[1]["Std:JsonGet"]["Path"] == "regression_metrics.mse.value"
    assert message[2] == "is above the quality gate's"
    assert message[3] == {"Get": "Parameters.QualityGateThreshold"}


def test_gpu_training_instance_selects_the_gpu_image(builtin_uri):
    document = build(
        definition.ImageUris(cpu=CPU_IMAGE, gpu=GPU_IMAGE, builtin=builtin_uri), training_instance_type="ml.g5.xlarge"
    )
    parameters = {p["Name"]: p["DefaultValue"] for p in document["Parameters"]}
    assert parameters["TrainingInstanceType"] == "ml.g5.xlarge"
    assert parameters["TrainingImageUri"] == GPU_IMAGE
    processing = steps_by_name(document)["Preprocess"]["Arguments"]["AppSpecification"]["ImageUri"]
    assert processing == CPU_IMAGE


def test_builtin_image_defaults_when_no_image_is_configured(builtin_uri):
    images = definition.resolve_image_uris(REGION, {})
    assert images.cpu == images.gpu == builtin_uri
    assert "sagemaker-xgboost" in builtin_uri
    document = build(images)
    train = steps_by_name(document)["Train"]["Arguments"]
    # The built-in algorithm rejects unknown channels and prints its own metrics.
    assert {c["ChannelName"] for c in train["InputDataConfig"]} == {"train", "validation"}
    assert "MetricDefinitions" not in train["AlgorithmSpecification"]


def test_image_uris_come_from_the_environment():
    images = definition.resolve_image_uris(REGION, {"XGBOOST_IMAGE_URI": CPU_IMAGE, "XGBOOST_GPU_IMAGE_URI": GPU_IMAGE})
    assert (images.cpu, images.gpu) == (CPU_IMAGE, GPU_IMAGE)
    assert images.for_training("ml.p3.2xlarge") == GPU_IMAGE
    assert images.for_training("ml.c5.xlarge") == CPU_IMAGE


@pytest.mark.parametrize(
    ("instance_type", "gpu"),
    [
        ("ml.g4dn.xlarge", True),
        ("ml.g5.2xlarge", True),
        ("ml.p3.2xlarge", True),
        ("ml.m5.xlarge", False),
        ("ml.c5.xlarge", False),
        ("ml.trn1.2xlarge", False),
        ("local", False),
    ],
)
def test_gpu_instance_families(instance_type, gpu):
    assert definition.is_gpu_instance(instance_type) is gpu


def test_evaluate_step_gets_the_model_test_split_and_features_and_the_gate_metric(pipeline_json):
    evaluate = steps_by_name(pipeline_json)["Evaluate"]["Arguments"]
    assert evaluate["AppSpecification"]["ContainerArguments"] == ["--metric", "mse"]
    inputs = {i["InputName"]: i["S3Input"] for i in evaluate["ProcessingInputs"]}
    assert inputs["model"]["S3Uri"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert inputs["features"]["S3Uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['features'].S3Output.S3Uri"
    }
    assert inputs["features"]["LocalPath"] == "/opt/ml/processing/features"


def example_config(tmp_path: Path, name: str, **changes) -> Path:
    document = json.loads((EXAMPLES / name / "config.json").read_text())
    document.update(changes)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    return path


def test_a_classification_gate_is_a_lower_bound_on_its_metric(tmp_path, builtin_uri):
    images = definition.ImageUris(cpu=CPU_IMAGE, gpu=GPU_IMAGE, builtin=builtin_uri)
    document = build(images, config_path=example_config(tmp_path, "breast_cancer"))
    condition = steps_by_name(document)["CheckQualityGate"]["Arguments"]["Conditions"][0]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "binary_classification_metrics.auc.value"
    parameters = {p["Name"]: p.get("DefaultValue") for p in document["Parameters"]}
    assert parameters["QualityGateThreshold"] == 0.95
    train = steps_by_name(document)["Train"]["Arguments"]
    assert train["HyperParameters"]["objective"] == "binary:logistic"
    assert train["HyperParameters"]["eval_metric"] == "auc"
    assert {m["Name"] for m in train["AlgorithmSpecification"]["MetricDefinitions"]} == {"train:auc", "validation:auc"}
    message = steps_by_name(document)["QualityGateFailed"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert message[0] == "Test auc" and message[2] == "is below the quality gate's"
    assert steps_by_name(document)["Evaluate"]["Arguments"]["AppSpecification"]["ContainerArguments"] == [
        "--metric",
        "auc",
    ]


def test_tuning_replaces_training_with_a_tuning_job_over_the_configured_ranges(pipeline_json, builtin_uri):
    images = definition.ImageUris(cpu=CPU_IMAGE, gpu=GPU_IMAGE, builtin=builtin_uri)
    document = build(images, tune=True)
    assert [step["Name"] for step in document["Steps"]] == ["Preprocess", "Tune", "Evaluate", "CheckQualityGate"]
    tune = steps_by_name(document)["Tune"]["Arguments"]
    config = tune["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Bayesian"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Minimize", "MetricName": "validation:rmse"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 20, "MaxParallelTrainingJobs": 2}
    ranges = config["ParameterRanges"]
    integer = {r["Name"]: r for r in ranges["IntegerParameterRanges"]}
    continuous = {r["Name"]: r for r in ranges["ContinuousParameterRanges"]}
    assert integer["num_round"] == {"Name": "num_round", "MinValue": "50", "MaxValue": "400", "ScalingType": "Auto"}
    assert continuous["eta"]["ScalingType"] == "Logarithmic" and continuous["eta"]["MinValue"] == "0.01"
    assert set(integer) | set(continuous) == set(json.loads(definition.CONFIG_PATH.read_text())["tuning"]["ranges"])
    static = tune["TrainingJobDefinition"]["StaticHyperParameters"]
    assert "eta" not in static and "num_round" not in static and static["objective"] == "reg:squarederror"
    definitions = tune["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    assert {"Name": "validation:rmse", "Regex": r"\tvalidation-rmse:([-+0-9.eE]+)"} in definitions
    # The best training job's model is evaluated and registered.
    model = {i["InputName"]: i["S3Input"] for i in steps_by_name(document)["Evaluate"]["Arguments"]["ProcessingInputs"]}
    values = model["model"]["S3Uri"]["Std:Join"]["Values"]
    assert values[-2:] == [{"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"}, "output/model.tar.gz"]
    register = next(s for s in steps_by_name(document).values() if s["Type"] == "RegisterModel")["Arguments"]
    assert register["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == model["model"]["S3Uri"]
    # Without --tune the configuration decides (tuning.enabled is false in the seed).
    assert [step["Name"] for step in pipeline_json["Steps"]][1] == "Train"


def spot_config(tmp_path: Path) -> Path:
    document = json.loads(definition.CONFIG_PATH.read_text())
    document["spot_training"] = {"enabled": True, "max_run_seconds": 1800, "max_wait_seconds": 5400}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    return path


def test_spot_training_is_managed_spot_with_checkpoints_per_execution(tmp_path, builtin_uri):
    images = definition.ImageUris(cpu=CPU_IMAGE, gpu=GPU_IMAGE, builtin=builtin_uri)
    arguments = steps_by_name(build(images, config_path=spot_config(tmp_path)))["Train"]["Arguments"]
    assert arguments["EnableManagedSpotTraining"] is True
    assert arguments["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 5400}
    checkpoints = arguments["CheckpointConfig"]["S3Uri"]["Std:Join"]
    assert checkpoints["Values"] == ["s3:/", BUCKET, NAME, {"Get": "Execution.PipelineExecutionId"}, "checkpoints"]


def test_spot_tuning_trials_get_no_shared_checkpoints(tmp_path, builtin_uri):
    """The trials of a tuning job would all resume from one prefix: an interrupted trial starts over instead."""
    images = definition.ImageUris(cpu=CPU_IMAGE, gpu=GPU_IMAGE, builtin=builtin_uri)
    document = build(images, config_path=spot_config(tmp_path), tune=True)
    trials = steps_by_name(document)["Tune"]["Arguments"]["TrainingJobDefinition"]
    assert trials["EnableManagedSpotTraining"] is True and "CheckpointConfig" not in trials


def test_on_demand_training_by_default(pipeline_json):
    arguments = steps_by_name(pipeline_json)["Train"]["Arguments"]
    assert "EnableManagedSpotTraining" not in arguments and "CheckpointConfig" not in arguments
