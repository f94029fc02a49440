"""The image classifier pipeline (`pipelines/image_classifier`): configuration, the Prepare and Evaluate
scripts' own logic, the SageMaker definition (built offline in moto) and `run_pipeline`'s switch.

Training and the model server's predictor need the platform's PyTorch image (torch); the platform's
tests run this pipeline locally end to end with it (tests/model_build/test_image_classifier_local.py).
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import boto3
import moto
import numpy as np
import pytest
from PIL import Image
from pipelines import run_pipeline
from pipelines.abalone.pipeline import ImageUris
from pipelines.abalone.pipeline_config import parse_config as parse_abalone_config
from pipelines.image_classifier import evaluate, prepare
from pipelines.image_classifier import pipeline as definition
from pipelines.image_classifier.pipeline_config import ConfigError, framework_of, load_config, parse_config
from sagemaker.workflow.pipeline_context import PipelineSession

REGION = "us-east-1"
BUCKET = "sagemaker-project-p-img"
NAME = "digits-p-img"
ROLE = "arn:aws:iam::123456789012:role/pipeline-role"
CPU_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pytorch:cpu-1"
GPU_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pytorch:gpu-1"
IMAGES = ImageUris(cpu=CPU_IMAGE, gpu=GPU_IMAGE, builtin="")


@pytest.fixture
def config() -> dict:
    """The repository's image classifier configuration, as a dictionary to modify."""
    return json.loads(definition.CONFIG_PATH.read_text())


def test_the_seed_configuration_trains_the_digits_and_gates_on_accuracy(config) -> None:
    parsed = parse_config(config)
    assert parsed.builtin_digits and parsed.engine == "onnx-int8" and parsed.problem_type == "image_classification"
    assert parsed.quality_gate.describe() == "accuracy >= 0.97"
    assert parsed.metric_json_path == "multiclass_classification_metrics.accuracy.value"
    assert parsed.hyperparameters["image_size"] == "8" and parsed.split == {
        "train": 0.7,
        "validation": 0.15,
        "test": 0.15,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"framework": "xgboost"}, "'framework' = 'xgboost': this pipeline trains with 'pytorch'"),
        ({"input_data": "/data/images"}, "'input_data' = '/data/images' must be an s3:// prefix"),
        ({"serving": {"engine": "tensorrt"}}, "'serving.engine' = 'tensorrt' must be one of"),
        ({"quality_gate": {"metric": "mse", "min": 0.9}}, "'quality_gate.metric' = 'mse' must be one of"),
        ({"quality_gate": {"metric": "accuracy", "max": 0.9}}, '\'quality_gate\' must be {"metric": ..., "min": ...}'),
        ({"quality_gate": {"metric": "accuracy", "min": 97}}, "'quality_gate.min' = 97 must be a number from 0 to 1"),
        ({"dataset": {"split": {"train": 0.5, "validation": 0.1, "test": 0.1}}}, "fractions add up to 0.7, not 1"),
        ({"dataset": {"split": {"train": 0.9, "test": 0.1}}}, "'dataset.split' must give a fraction for each of"),
        ({"hyperparameters": {"device": "cuda"}}, "'hyperparameters.device' is decided by the training instance"),
        ({"hyperparameters": {"epochs": [1]}}, "'hyperparameters.epochs' = [1] must be a string or a number"),
        ({"tuning": {}}, "unknown settings ['tuning']"),
    ],
)
def test_a_bad_configuration_is_named(config, change, message) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({**copy.deepcopy(config), **change})
    assert message in str(raised.value)


def test_the_configuration_file_names_its_pipeline(tmp_path) -> None:
    assert framework_of(definition.CONFIG_PATH) == "pytorch"
    assert framework_of(run_pipeline.definition.CONFIG_PATH) == "xgboost"
    abalone = json.loads(run_pipeline.definition.CONFIG_PATH.read_text())
    assert parse_abalone_config({**abalone, "framework": "xgboost"}).problem_type == "regression"
    with pytest.raises(ConfigError, match="'framework' = 'pytorch': this pipeline trains with 'xgboost'"):
        parse_abalone_config({**abalone, "framework": "pytorch"})
    broken = tmp_path / "config.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        load_config(broken)


def _png(value: int, size: int = 6) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _processing(tmp_path: Path, config: dict) -> Path:
    (tmp_path / "input" / "config").mkdir(parents=True)
    (tmp_path / "input" / "config" / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_prepare_splits_the_digits_by_class_and_seed(tmp_path, config) -> None:
    counts = prepare.run(_processing(tmp_path / "a", config))
    assert counts == {"train": 1259, "validation": 269, "test": 269}
    classes = {name: sorted(p.name for p in (tmp_path / "a" / name).iterdir()) for name in prepare.SPLITS}
    assert all(classes[name] == [str(digit) for digit in range(10)] for name in prepare.SPLITS)
    with Image.open(next((tmp_path / "a" / "test" / "7").iterdir())) as image:
        assert image.size == (8, 8) and image.mode == "L"
    prepare.run(_processing(tmp_path / "b", config))
    files = {
        root: sorted(str(p.relative_to(root)) for p in root.rglob("*.png")) for root in (tmp_path / "a", tmp_path / "b")
    }
    assert files[tmp_path / "a"] == files[tmp_path / "b"]  # same images, same seed: the same split


def test_prepare_reads_an_image_folder_and_names_a_bad_file(tmp_path, config) -> None:
    base = _processing(tmp_path, {**config, "input_data": "s3://bucket/images/"})
    data = base / "input" / "data"
    for label, value in (("cat", 30), ("dog", 200)):
        for index in range(10):
            (data / label / "batch").mkdir(parents=True, exist_ok=True)
            (data / label / "batch" / f"{index}.png").write_bytes(_png(value + index))
    (data / ".DS_Store").write_text("ignored")
    assert prepare.run(base) == {"train": 12, "validation": 4, "test": 4}  # 6, 2 and 2 of each class
    assert sorted(p.name for p in (base / "test" / "cat" / "batch").iterdir())
    (data / "dog" / "broken.png").write_bytes(b"GIF89a not a png")
    with pytest.raises(prepare.PrepareError, match=r"dog/broken.png: not a readable PNG image"):
        prepare.run(base)
    (data / "dog" / "broken.png").unlink()
    (data / "loose.png").write_bytes(_png(1))
    with pytest.raises(prepare.PrepareError, match=r"loose.png: every image must be in a class folder"):
        prepare.run(base)


def test_prepare_reports_its_failure_where_sagemaker_shows_it(tmp_path, config, monkeypatch) -> None:
    base = _processing(tmp_path / "processing", {**config, "input_data": "s3://bucket/images/"})
    (base / "input" / "data" / "only-class").mkdir(parents=True)
    (base / "input" / "data" / "only-class" / "a.png").write_bytes(_png(5))
    monkeypatch.setenv("SM_ML_ROOT", str(tmp_path))
    assert prepare.main([]) == 1
    message = (tmp_path / "output" / "message").read_text()
    assert message.startswith("prepare failed: found 1 class folder(s)")


def test_evaluation_is_model_monitors_multiclass_format() -> None:
    classes = ["cat", "dog", "owl"]
    truth = ["cat", "cat", "dog", "owl", "owl", "owl"]
    predicted = ["cat", "dog", "dog", "owl", "owl", "cat"]
    result = evaluate.evaluate(truth, predicted, classes, "accuracy")
    section = result["multiclass_classification_metrics"]
    assert result["problem_type"] == "image_classification" and result["metric"] == "accuracy"
    assert section["accuracy"]["value"] == pytest.approx(4 / 6) and section["accuracy"]["standard_deviation"] > 0
    assert section["confusion_matrix"]["owl"] == {"cat": 1, "dog": 0, "owl": 2}
    assert set(section) == {"accuracy", "weighted_precision", "weighted_recall", "weighted_f1", "confusion_matrix"}
    with pytest.raises(evaluate.EvaluationError, match=r"test classes \['bat'\] are not classes of the model"):
        evaluate.evaluate(["bat"], ["cat"], classes, "accuracy")


def build(config_path: Path = definition.CONFIG_PATH, **kwargs) -> dict:
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
            config_path=config_path,
            images=kwargs.pop("images", IMAGES),
            **kwargs,
        )
        return json.loads(pipeline.definition())


def steps_by_name(document: dict) -> dict:
    steps = {step["Name"]: step for step in document["Steps"]}
    for step in document["Steps"]:
        for branch in ("IfSteps", "ElseSteps"):
            steps.update({inner["Name"]: inner for inner in step.get("Arguments", {}).get(branch, [])})
    return steps


@pytest.fixture(scope="module")
def pipeline_json() -> dict:
    return build()


def test_steps_and_parameters(pipeline_json) -> None:
    assert [step["Name"] for step in pipeline_json["Steps"]] == ["Prepare", "Train", "Evaluate", "CheckQualityGate"]
    parameters = {p["Name"]: p.get("DefaultValue") for p in pipeline_json["Parameters"]}
    assert parameters == {
        "ProcessingInstanceType": "ml.m5.xlarge",
        "TrainingInstanceType": "ml.m5.xlarge",
        "TrainingInstanceCount": 1,
        "TrainingImageUri": CPU_IMAGE,
        "ModelApprovalStatus": "PendingManualApproval",
        "QualityGateThreshold": 0.97,
    }


def test_prepare_and_evaluate_run_the_scripts_on_the_pytorch_cpu_image(pipeline_json) -> None:
    steps = steps_by_name(pipeline_json)
    for name, script in (("Prepare", "prepare.py"), ("Evaluate", "evaluate.py")):
        app = steps[name]["Arguments"]["AppSpecification"]
        assert app["ImageUri"] == CPU_IMAGE
        assert app["ContainerEntrypoint"] == ["python3", f"/opt/ml/processing/input/code/{script}"]
    assert steps["Evaluate"]["Arguments"]["AppSpecification"]["ContainerArguments"] == [
        "--metric",
        "accuracy",
        "--engine",
        "onnx-int8",
    ]
    prepare_inputs = [i["InputName"] for i in steps["Prepare"]["Arguments"]["ProcessingInputs"]]
    assert "data" not in prepare_inputs  # the digits are written by the step itself
    outputs = [o["OutputName"] for o in steps["Prepare"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]]
    assert outputs == ["train", "validation", "test"]


def test_training_is_the_pytorch_image_on_every_instance_with_checkpoints(pipeline_json) -> None:
    arguments = steps_by_name(pipeline_json)["Train"]["Arguments"]
    assert arguments["AlgorithmSpecification"]["TrainingImage"] == {"Get": "Parameters.TrainingImageUri"}
    assert arguments["ResourceConfig"]["InstanceCount"] == {"Get": "Parameters.TrainingInstanceCount"}
    assert arguments["HyperParameters"]["epochs"] == "12" and arguments["HyperParameters"]["arch"] == "cnn"
    channels = {c["ChannelName"]: c for c in arguments["InputDataConfig"]}
    assert set(channels) == {"train", "validation", "test"}
    assert channels["test"]["DataSource"]["S3DataSource"]["S3Uri"] == {
        "Get": "Steps.Prepare.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"
    }
    assert arguments["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    assert arguments["CheckpointConfig"]["S3Uri"]["Std:Join"]["Values"][-1] == "checkpoints"
    names = {m["Name"] for m in arguments["AlgorithmSpecification"]["MetricDefinitions"]}
    assert names == {"train:loss", "validation:accuracy", "test:accuracy"}


def test_the_gate_and_the_registered_version(pipeline_json) -> None:
    steps = steps_by_name(pipeline_json)
    condition = steps["CheckQualityGate"]["Arguments"]["Conditions"][0]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "multiclass_classification_metrics.accuracy.value"
    register = next(s for s in steps.values() if s["Type"] == "RegisterModel")["Arguments"]
    container = register["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == CPU_IMAGE and container["Environment"] == {"MODEL_ENGINE": "onnx-int8"}
    assert register["InferenceSpecification"]["SupportedContentTypes"] == [
        "image/png",
        "image/jpeg",
        "application/json",
    ]
    assert register["CustomerMetadataProperties"] == {
        "CpuImageUri": CPU_IMAGE,
        "GpuImageUri": GPU_IMAGE,
        "ProblemType": "image_classification",
    }
    assert {"ml.m5.large", "ml.g5.xlarge"} <= set(
        register["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"]
    )


def test_gpu_training_and_an_s3_image_folder(tmp_path, config) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**config, "input_data": "s3://images-{region}/doodles/"}))
    document = build(path, training_instance_type="ml.g5.2xlarge", training_instance_count=2)
    parameters = {p["Name"]: p.get("DefaultValue") for p in document["Parameters"]}
    assert parameters["TrainingImageUri"] == GPU_IMAGE and parameters["TrainingInstanceCount"] == 2
    assert parameters["InputDataUrl"] == "s3://images-us-east-1/doodles/"
    inputs = {i["InputName"]: i["S3Input"] for i in steps_by_name(document)["Prepare"]["Arguments"]["ProcessingInputs"]}
    assert inputs["data"]["S3Uri"] == {"Get": "Parameters.InputDataUrl"}


def test_the_images_come_from_the_platforms_variables() -> None:
    assert definition.resolve_image_uris({"PYTORCH_IMAGE_URI": CPU_IMAGE}).cpu == CPU_IMAGE
    with pytest.raises(ConfigError, match="PYTORCH_IMAGE_URI is not set"):
        definition.resolve_image_uris({})
    with pytest.raises(ConfigError, match="ml.p4d.24xlarge needs PYTORCH_GPU_IMAGE_URI"):
        definition.resolve_image_uris({"PYTORCH_IMAGE_URI": CPU_IMAGE}, training_instance_type="ml.p4d.24xlarge")


@pytest.fixture
def image_project(monkeypatch, tmp_path):
    """The CI/CD variables of a project that builds the image classifier, against moto."""
    for name, value in {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SAGEMAKER_PROJECT_NAME": "digits",
        "SAGEMAKER_PROJECT_ID": "p-img",
        "ARTIFACT_BUCKET": BUCKET,
        "MODEL_PACKAGE_GROUP_NAME": NAME,
        "SAGEMAKER_PIPELINE_ROLE_ARN": ROLE,
        "PYTORCH_IMAGE_URI": CPU_IMAGE,
        "PYTORCH_GPU_IMAGE_URI": GPU_IMAGE,
        "PIPELINE_CONFIG": str(definition.CONFIG_PATH),
        "RUN_SUMMARY_PATH": str(tmp_path / "summary.json"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("PIPELINE_EXECUTION_MODE", "INPUT_DATA_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL", "PYTORCH_PYTHON"):
        monkeypatch.delenv(name, raising=False)
    with moto.mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        boto3.client("sagemaker", region_name=REGION).create_model_package_group(ModelPackageGroupName=NAME)
        yield tmp_path


def test_pipeline_config_switches_run_pipeline_to_the_image_classifier(image_project, capsys) -> None:
    assert run_pipeline.main(["--training-instance-count", "2"]) == 0
    output = capsys.readouterr().out
    client = boto3.client("sagemaker", region_name=REGION)
    described = client.describe_pipeline(PipelineName=NAME)
    assert [s["Name"] for s in json.loads(described["PipelineDefinition"])["Steps"]][0] == "Prepare"
    execution_arn = output.split("execution_arn=")[1].strip()
    parameters = client.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution_arn)["PipelineParameters"]
    assert {"Name": "TrainingInstanceCount", "Value": "2"} in parameters


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--tune"], "the image classifier pipeline has no tuning step"),
        (["--input-data", "s3://x/y/"], "trains on the built-in digits (input_data 'digits')"),
    ],
)
def test_options_the_image_classifier_cannot_take_are_named(image_project, capsys, arguments, message) -> None:
    assert run_pipeline.main(arguments) == 2
    assert message in capsys.readouterr().err


def test_local_execution_names_the_missing_pytorch_code(image_project, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PYTORCH_PYTHON", "/bin/false")
    assert run_pipeline.main(["--local"]) == 1
    summary = json.loads((image_project / "summary.json").read_text())
    assert summary["status"] == "Failed" and summary["problem_type"] == "image_classification"
    assert (
        "set PYTORCH_PYTHON to a Python with the platform's containers/pytorch installed" in summary["failure_reason"]
    )
