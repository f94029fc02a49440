"""The model build SageMaker Pipeline (SDK v2): preprocess, train, evaluate, then register or fail.

    Preprocess -> Train -> Evaluate -> CheckMseEvaluation --(mse <= MseThreshold)--> RegisterModel
                                                          \\--(otherwise)-----------> MseAboveThreshold

Everything data set specific comes from `config.json` next to this file (input location, columns,
label, categorical columns, split, hyperparameters; see README.md). Images come from the
environment: `XGBOOST_IMAGE_URI` (CPU: processing, CPU training, CPU inference) and
`XGBOOST_GPU_IMAGE_URI` (GPU training and GPU inference); each falls back to SageMaker's
built-in XGBoost image when unset. The names, paths and S3 layout defined here are shared with
the local execution (`pipelines.local_run`), which runs the same steps without SageMaker.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sagemaker import image_uris
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.model import Model
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.session import Session
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionLessThanOrEqualTo
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep, TrainingStep

from pipelines.abalone.preprocess import SPLITS, DatasetConfig, PreprocessError
from pipelines.instance_families import is_gpu_instance

BASE_DIR = Path(__file__).resolve().parent
CONFIG_PATH = BASE_DIR / "config.json"
PREPROCESS_SCRIPT = BASE_DIR / "preprocess.py"
EVALUATE_SCRIPT = BASE_DIR / "evaluate.py"

STEP_PREPROCESS = "Preprocess"
STEP_TRAIN = "Train"
STEP_EVALUATE = "Evaluate"
STEP_CONDITION = "CheckMseEvaluation"
STEP_REGISTER = "RegisterModel"
STEP_FAIL = "MseAboveThreshold"

DEFAULT_PROCESSING_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_TRAINING_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_APPROVAL_STATUS = "PendingManualApproval"
DEFAULT_MSE_THRESHOLD = 6.0
INFERENCE_INSTANCE_TYPES = ["ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge", "ml.g4dn.xlarge", "ml.g5.xlarge"]
TRANSFORM_INSTANCE_TYPES = ["ml.m5.large", "ml.m5.xlarge"]
CONTENT_TYPE = "text/csv"
BUILTIN_XGBOOST_VERSION = "3.0-5"

# Container paths of the processing steps (the scripts derive the same ones from $SM_ML_ROOT).
PROCESSING_ROOT = "/opt/ml/processing"
PROCESSING_DATA_INPUT = f"{PROCESSING_ROOT}/input/data"
PROCESSING_CONFIG_INPUT = f"{PROCESSING_ROOT}/input/config"
FEATURES_OUTPUT = "features"
EVALUATION_OUTPUT = "evaluation"
EVALUATION_FILE = "evaluation.json"
MSE_JSON_PATH = "regression_metrics.mse.value"
# Training output lines of the platform's image (XGBoost's own evaluation log).
METRIC_DEFINITIONS = [
    {"Name": "train:rmse", "Regex": r"\ttrain-rmse:([0-9.]+)"},
    {"Name": "validation:rmse", "Regex": r"\tvalidation-rmse:([0-9.]+)"},
]


class ConfigError(Exception):
    """An invalid pipeline configuration file; the message names the entry at fault."""


@dataclass(frozen=True)
class PipelineConfig:
    """The validated content of `config.json`."""

    input_data: str
    dataset: DatasetConfig
    hyperparameters: dict[str, str]

    def input_data_for(self, region: str) -> str:
        """The default input location, with `{region}` replaced."""
        return self.input_data.replace("{region}", region)


def load_pipeline_config(path: str | Path = CONFIG_PATH) -> PipelineConfig:
    """Read and validate the pipeline configuration file."""
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"configuration file {path} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"configuration file {path} must hold a JSON object")
    missing = [key for key in ("input_data", "dataset", "hyperparameters") if key not in document]
    if missing:
        raise ConfigError(f"configuration file {path} lacks {missing}")
    if not isinstance(document["input_data"], str) or not document["input_data"]:
        raise ConfigError(f"{path}: 'input_data' must be a non-empty string")
    try:
        dataset = DatasetConfig.from_dict(document["dataset"])
    except PreprocessError as error:
        raise ConfigError(f"{path}: {error}") from None
    hyperparameters = document["hyperparameters"]
    if not isinstance(hyperparameters, dict) or "num_round" not in hyperparameters:
        raise ConfigError(f"{path}: 'hyperparameters' must be an object that sets num_round")
    for name, value in hyperparameters.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{path}: hyperparameter {name}={value!r} must be a string or a number")
    # SageMaker passes every hyperparameter to the container as a string.
    return PipelineConfig(document["input_data"], dataset, {k: str(v) for k, v in hyperparameters.items()})


@dataclass(frozen=True)
class ImageUris:
    """The XGBoost images of one pipeline and whether they are SageMaker's built-in image."""

    cpu: str
    gpu: str
    builtin: str

    def for_training(self, instance_type: str) -> str:
        """GPU image for a GPU instance type, CPU image otherwise."""
        return self.gpu if is_gpu_instance(instance_type) else self.cpu

    def is_builtin(self, uri: str) -> bool:
        """Whether `uri` is SageMaker's built-in XGBoost algorithm image (no `features` channel)."""
        return uri == self.builtin


def resolve_image_uris(region: str, environ: dict[str, str] | None = None) -> ImageUris:
    """Images from `XGBOOST_IMAGE_URI` / `XGBOOST_GPU_IMAGE_URI`, else SageMaker's built-in XGBoost."""
    env = os.environ if environ is None else environ
    builtin = image_uris.retrieve("xgboost", region=region, version=BUILTIN_XGBOOST_VERSION)
    return ImageUris(
        cpu=env.get("XGBOOST_IMAGE_URI") or builtin,
        gpu=env.get("XGBOOST_GPU_IMAGE_URI") or builtin,
        builtin=builtin,
    )


def artifact_prefix(bucket, pipeline_name, execution_id, *parts):
    """`s3://<bucket>/<pipeline>/<execution id>/<parts...>`, as a string or a pipeline `Join`.

    Both executions (SageMaker's and the local one) write their outputs below this prefix.
    """
    values = ["s3:/", bucket, pipeline_name, execution_id, *parts]
    if all(isinstance(value, str) for value in values):
        return "/".join(values)
    return Join(on="/", values=values)


def register_model(
    session: Session,
    *,
    role: str,
    images: ImageUris,
    model_data,
    evaluation_uri,
    model_package_group_name: str,
    approval_status,
):
    """Register the trained model version; the same call serves the pipeline step and local runs.

    With a `PipelineSession` it returns the step arguments of the registration step; with a plain
    `Session` it creates the model package and returns the SDK's `ModelPackage`.
    """
    model = Model(image_uri=images.cpu, model_data=model_data, role=role, sagemaker_session=session)
    return model.register(
        content_types=[CONTENT_TYPE],
        response_types=[CONTENT_TYPE],
        inference_instances=INFERENCE_INSTANCE_TYPES,
        transform_instances=TRANSFORM_INSTANCE_TYPES,
        model_package_group_name=model_package_group_name,
        approval_status=approval_status,
        model_metrics=ModelMetrics(
            model_statistics=MetricsSource(s3_uri=evaluation_uri, content_type="application/json")
        ),
        customer_metadata_properties={"CpuImageUri": images.cpu, "GpuImageUri": images.gpu},
        description="XGBoost regression model trained by the model build pipeline",
    )


def get_pipeline(
    *,
    region: str,
    role: str,
    default_bucket: str,
    pipeline_name: str,
    model_package_group_name: str,
    sagemaker_session: PipelineSession | None = None,
    config_path: str | Path = CONFIG_PATH,
    images: ImageUris | None = None,
    training_instance_type: str = DEFAULT_TRAINING_INSTANCE_TYPE,
    processing_instance_type: str = DEFAULT_PROCESSING_INSTANCE_TYPE,
) -> Pipeline:
    """Build the pipeline definition.

    `training_instance_type` is the default of the `TrainingInstanceType` parameter and picks the
    default of `TrainingImageUri` (the GPU image for a GPU type). A Studio user who changes the
    instance type of one execution changes the image parameter with it.
    """
    config = load_pipeline_config(config_path)
    images = images or resolve_image_uris(region)
    session = sagemaker_session or PipelineSession(default_bucket=default_bucket)
    training_image = images.for_training(training_instance_type)
    execution_id = ExecutionVariables.PIPELINE_EXECUTION_ID

    processing_instance = ParameterString("ProcessingInstanceType", processing_instance_type)
    processing_instance_count = ParameterInteger("ProcessingInstanceCount", 1)
    training_instance = ParameterString("TrainingInstanceType", training_instance_type)
    training_image_uri = ParameterString("TrainingImageUri", training_image)
    input_data = ParameterString("InputDataUrl", config.input_data_for(region))
    approval_status = ParameterString("ModelApprovalStatus", DEFAULT_APPROVAL_STATUS)
    mse_threshold = ParameterFloat("MseThreshold", DEFAULT_MSE_THRESHOLD)

    def processor(step: str) -> ScriptProcessor:
        return ScriptProcessor(
            image_uri=images.cpu,
            command=["python3"],
            instance_type=processing_instance,
            instance_count=processing_instance_count,
            base_job_name=f"{pipeline_name}-{step.lower()}",
            role=role,
            sagemaker_session=session,
        )

    step_preprocess = ProcessingStep(
        name=STEP_PREPROCESS,
        step_args=processor(STEP_PREPROCESS).run(
            code=str(PREPROCESS_SCRIPT),
            inputs=[
                ProcessingInput(source=input_data, destination=PROCESSING_DATA_INPUT, input_name="data"),
                ProcessingInput(source=str(config_path), destination=PROCESSING_CONFIG_INPUT, input_name="config"),
            ],
            outputs=[
                ProcessingOutput(
                    output_name=name,
                    source=f"{PROCESSING_ROOT}/{name}",
                    destination=artifact_prefix(default_bucket, pipeline_name, execution_id, "data", name),
                )
                for name in (*SPLITS, FEATURES_OUTPUT)
            ],
        ),
    )

    def split_uri(name: str):
        return step_preprocess.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri

    channels = {name: TrainingInput(split_uri(name), content_type=CONTENT_TYPE) for name in ("train", "validation")}
    builtin = images.is_builtin(training_image)
    if not builtin:  # SageMaker's built-in algorithm rejects channels it does not know
        channels[FEATURES_OUTPUT] = TrainingInput(split_uri(FEATURES_OUTPUT), content_type="application/json")
    estimator = Estimator(
        image_uri=training_image_uri,
        instance_type=training_instance,
        instance_count=1,
        output_path=artifact_prefix(default_bucket, pipeline_name, execution_id, "model"),
        base_job_name=f"{pipeline_name}-train",
        hyperparameters=config.hyperparameters,
        metric_definitions=None if builtin else METRIC_DEFINITIONS,
        disable_profiler=True,
        debugger_hook_config=False,
        role=role,
        sagemaker_session=session,
    )
    step_train = TrainingStep(name=STEP_TRAIN, step_args=estimator.fit(inputs=channels))

    evaluation_report = PropertyFile(name="EvaluationReport", output_name=EVALUATION_OUTPUT, path=EVALUATION_FILE)
    evaluation_prefix = artifact_prefix(default_bucket, pipeline_name, execution_id, EVALUATION_OUTPUT)
    step_evaluate = ProcessingStep(
        name=STEP_EVALUATE,
        step_args=processor(STEP_EVALUATE).run(
            code=str(EVALUATE_SCRIPT),
            inputs=[
                ProcessingInput(
                    source=step_train.properties.ModelArtifacts.S3ModelArtifacts,
                    destination=f"{PROCESSING_ROOT}/model",
                    input_name="model",
                ),
                ProcessingInput(source=split_uri("test"), destination=f"{PROCESSING_ROOT}/test", input_name="test"),
            ],
            outputs=[
                ProcessingOutput(
                    output_name=EVALUATION_OUTPUT,
                    source=f"{PROCESSING_ROOT}/{EVALUATION_OUTPUT}",
                    destination=evaluation_prefix,
                )
            ],
        ),
        property_files=[evaluation_report],
    )

    measured_mse = JsonGet(step_name=step_evaluate.name, property_file=evaluation_report, json_path=MSE_JSON_PATH)
    step_register = ModelStep(
        name=STEP_REGISTER,
        step_args=register_model(
            session,
            role=role,
            images=images,
            model_data=step_train.properties.ModelArtifacts.S3ModelArtifacts,
            evaluation_uri=Join(on="/", values=[evaluation_prefix, EVALUATION_FILE]),
            model_package_group_name=model_package_group_name,
            approval_status=approval_status,
        ),
    )
    step_fail = FailStep(
        name=STEP_FAIL,
        error_message=Join(on=" ", values=["Test MSE", measured_mse, "is above the threshold", mse_threshold]),
    )
    step_condition = ConditionStep(
        name=STEP_CONDITION,
        conditions=[ConditionLessThanOrEqualTo(left=measured_mse, right=mse_threshold)],
        if_steps=[step_register],
        else_steps=[step_fail],
    )
    return Pipeline(
        name=pipeline_name,
        parameters=[
            processing_instance,
            processing_instance_count,
            training_instance,
            training_image_uri,
            input_data,
            approval_status,
            mse_threshold,
        ],
        steps=[step_preprocess, step_train, step_evaluate, step_condition],
        sagemaker_session=session,
    )
