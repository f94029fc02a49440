"""The SageMaker Pipeline definition, built offline inside moto: steps, parameters, condition, registration."""

from __future__ import annotations

import json

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
        "CheckMseEvaluation",
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
        "MseThreshold": ("Float", 6.0),
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
    }
    channels = {c["ChannelName"]: c for c in arguments["InputDataConfig"]}
    assert set(channels) == {"train", "validation", "features"}
    assert channels["train"]["ContentType"] == "text/csv"
    assert channels["train"]["DataSource"]["S3DataSource"]["S3Uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"
    }


def test_condition_compares_the_evaluated_mse_with_the_threshold(pipeline_json):
    condition = steps_by_name(pipeline_json)["CheckMseEvaluation"]["Arguments"]
    assert condition["Conditions"] == [
        {
            "Type": "LessThanOrEqualTo",
            "LeftValue": {
                "Std:JsonGet": {
                    "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                    "Path": "regression_metrics.mse.value",
                }
            },
            "RightValue": {"Get": "Parameters.MseThreshold"},
        }
    ]
    assert [s["Type"] for s in condition["IfSteps"]] == ["RegisterModel"]
    assert [s["Name"] for s in condition["ElseSteps"]] == ["MseAboveThreshold"]
    evaluate = steps_by_name(pipeline_json)["Evaluate"]
    assert evaluate["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
    ]


def test_registration_records_metrics_images_and_instance_types(pipeline_json):
    register = next(s for s in steps_by_name(pipeline_json).values() if s["Type"] == "RegisterModel")["Arguments"]
    assert register["ModelPackageGroupName"] == NAME
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    assert register["CustomerMetadataProperties"] == {"CpuImageUri": CPU_IMAGE, "GpuImageUri": GPU_IMAGE}
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
    message = steps_by_name(pipeline_json)["MseAboveThreshold"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert message[0] == "Test MSE"
    assert message[1]["Std:JsonGet"]["Path"] == "regression_metrics.mse.value"
    assert message[3] == {"Get": "Parameters.MseThreshold"}


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


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.pop("hyperparameters"), "lacks ['hyperparameters']"),
        (lambda c: c["hyperparameters"].pop("num_round"), "must be an object that sets num_round"),
        (lambda c: c["hyperparameters"].update(eta=[0.1]), "hyperparameter eta=[0.1]"),
        (lambda c: c["dataset"].update(label="age"), "label 'age' is not one of the columns"),
        (lambda c: c.update(input_data=""), "'input_data' must be a non-empty string"),
    ],
)
def test_invalid_configuration_fails_before_anything_is_built(tmp_path, pipeline_config, change, expected):
    change(pipeline_config)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(pipeline_config))
    with pytest.raises(definition.ConfigError) as raised:
        definition.load_pipeline_config(path)
    assert expected in str(raised.value)
