"""The image classifier's SageMaker Pipeline (SDK v2): the platform's PyTorch image prepares, trains,
evaluates and serves it.

    Prepare -> Train -> Evaluate -> CheckQualityGate --(gate met)--> RegisterModel
                                                     \\--(otherwise)--> QualityGateFailed

- Prepare (processing job, `prepare.py` on the PyTorch CPU image): checks the labelled images (an S3 prefix
  of `<class>/<image>` folders, or scikit-learn's digits) and splits each class into train, validation
  and test folders.
- Train (training job, the PyTorch image's `train`): `torch.distributed` over every device of every
  instance (`TrainingInstanceCount` > 1 trains on several hosts), mixed precision on GPUs, checkpoints
  to S3 (a restarted spot job resumes); the artifact holds the weights, a `torch.export` program, ONNX
  fp32 and int8.
- Evaluate (processing job, `evaluate.py` on the PyTorch CPU image): the test images through the model
  server's own predictor, with the engine of `serving.engine`; `evaluation.json` in Model Monitor's
  format.
- CheckQualityGate: e.g. `accuracy >= 0.97` (the `QualityGateThreshold` parameter).
- RegisterModel: content types `image/png`, `image/jpeg`, `application/json`; the container environment
  `MODEL_ENGINE` (what was evaluated is what is deployed); the metadata `CpuImageUri` / `GpuImageUri`
  (the deploy repository picks one by instance family), `ProblemType` (`image_classification`).

Images come from `PYTORCH_IMAGE_URI` (CPU: processing, CPU training, CPU inference) and
`PYTORCH_GPU_IMAGE_URI` (GPU training and inference), CI/CD variables the platform sets. Step names, S3
layout and registration are shared with the local execution (`pipelines.image_classifier.local_run`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.model import Model
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.session import Session
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep, TrainingStep

from pipelines.abalone.pipeline import (
    DEFAULT_APPROVAL_STATUS,
    DEFAULT_PROCESSING_INSTANCE_TYPE,
    DEFAULT_TRAINING_INSTANCE_TYPE,
    EVALUATION_OUTPUT,
    INFERENCE_INSTANCE_TYPES,
    PROCESSING_CONFIG_INPUT,
    PROCESSING_DATA_INPUT,
    PROCESSING_ROOT,
    STEP_CONDITION,
    STEP_EVALUATE,
    STEP_FAIL,
    STEP_REGISTER,
    STEP_TRAIN,
    THRESHOLD_PARAMETER,
    ImageUris,
    artifact_prefix,
)
from pipelines.image_classifier.evaluate import EVALUATION_FILE
from pipelines.image_classifier.pipeline_config import (
    ConfigError,
    ImageClassifierConfig,
    load_config,
)
from pipelines.image_classifier.prepare import SPLITS
from pipelines.instance_families import is_gpu_instance

BASE_DIR = Path(__file__).resolve().parent
CONFIG_PATH = BASE_DIR / "config.json"
PREPARE_SCRIPT = BASE_DIR / "prepare.py"
EVALUATE_SCRIPT = BASE_DIR / "evaluate.py"
STEP_PREPARE = "Prepare"
CONTENT_TYPES = ["image/png", "image/jpeg", "application/json"]
RESPONSE_TYPES = ["application/json"]
TRANSFORM_INSTANCE_TYPES = ["ml.m5.large", "ml.m5.xlarge", "ml.g4dn.xlarge"]
CHECKPOINT_DIR = "/opt/ml/checkpoints"


def resolve_image_uris(environ: dict[str, str] | None = None, *, training_instance_type: str = "") -> ImageUris:
    """The platform's PyTorch images from `PYTORCH_IMAGE_URI` / `PYTORCH_GPU_IMAGE_URI`.

    The CPU image is required (it runs the processing steps and CPU training); the GPU image only when
    `training_instance_type` is a GPU type. There is no SageMaker built-in image for this pipeline.
    """
    env = os.environ if environ is None else environ
    cpu, gpu = env.get("PYTORCH_IMAGE_URI", ""), env.get("PYTORCH_GPU_IMAGE_URI", "")
    if not cpu:
        raise ConfigError(
            "PYTORCH_IMAGE_URI is not set: the image classifier pipeline runs the platform's PyTorch image "
            "(the project's CI/CD variable, from the SSM parameter /<platform>/images/pytorch-cpu)"
        )
    if is_gpu_instance(training_instance_type) and not gpu:
        raise ConfigError(
            f"training instance type {training_instance_type} needs PYTORCH_GPU_IMAGE_URI, which is not set"
        )
    return ImageUris(cpu=cpu, gpu=gpu, builtin="")


def metric_definitions(engine: str) -> list[dict[str, Any]]:
    """The PyTorch image's log lines as SageMaker training metrics (the job's charts)."""
    return [
        {"Name": "train:loss", "Regex": r"train_loss=([-+0-9.eE]+)"},
        {"Name": "validation:accuracy", "Regex": r"validation_accuracy=([-+0-9.eE]+)"},
        {"Name": "test:accuracy", "Regex": rf"test_accuracy\[{re.escape(engine)}\]=([-+0-9.eE]+)"},
    ]


def register_model(
    session: Session,
    *,
    role: str | None,
    images: ImageUris,
    config: ImageClassifierConfig,
    model_data: Any,
    evaluation_uri: Any,
    model_package_group_name: str,
    approval_status: Any,
) -> Any:
    """Register the classifier's version; the pipeline step and the local run make the same call.

    With a `PipelineSession` it returns the registration step's arguments; with a plain `Session` it
    creates the model package and returns the SDK's `ModelPackage`.
    """
    metadata = {"CpuImageUri": images.cpu, "ProblemType": config.problem_type}
    if images.gpu:
        metadata["GpuImageUri"] = images.gpu
    model = Model(
        image_uri=images.cpu,
        model_data=model_data,
        env={"MODEL_ENGINE": config.engine},
        role=role,
        sagemaker_session=session,
    )
    return model.register(
        content_types=CONTENT_TYPES,
        response_types=RESPONSE_TYPES,
        inference_instances=INFERENCE_INSTANCE_TYPES,
        transform_instances=TRANSFORM_INSTANCE_TYPES,
        model_package_group_name=model_package_group_name,
        approval_status=approval_status,
        model_metrics=ModelMetrics(
            model_statistics=MetricsSource(s3_uri=evaluation_uri, content_type="application/json")
        ),
        customer_metadata_properties=metadata,
        description=f"PyTorch image classifier (engine {config.engine}) trained by the model build pipeline",
    )


def training_channels(config: ImageClassifierConfig) -> tuple[str, ...]:
    """The splits the training job reads: validation only when the configuration gives it images."""
    return tuple(name for name in SPLITS if name != "validation" or config.split["validation"] > 0)


def _processor(
    images: ImageUris, session: PipelineSession, role: str, name: str, step: str, instance_type: Any
) -> ScriptProcessor:
    return ScriptProcessor(
        image_uri=images.cpu,
        command=["python3"],
        instance_type=instance_type,
        instance_count=1,
        base_job_name=f"{name}-{step.lower()}",
        role=role,
        sagemaker_session=session,
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
    training_instance_count: int = 1,
    processing_instance_type: str = DEFAULT_PROCESSING_INSTANCE_TYPE,
) -> Pipeline:
    """Build the pipeline definition (`training_instance_type` also picks the default training image)."""
    config = load_config(config_path)
    images = images or resolve_image_uris(training_instance_type=training_instance_type)
    session = sagemaker_session or PipelineSession(default_bucket=default_bucket)
    gate = config.quality_gate

    def prefix(*parts: str) -> Any:
        return artifact_prefix(default_bucket, pipeline_name, ExecutionVariables.PIPELINE_EXECUTION_ID, *parts)

    processing_instance = ParameterString("ProcessingInstanceType", processing_instance_type)
    training_instance = ParameterString("TrainingInstanceType", training_instance_type)
    training_count = ParameterInteger("TrainingInstanceCount", training_instance_count)
    training_image = ParameterString("TrainingImageUri", images.for_training(training_instance_type))
    approval_status = ParameterString("ModelApprovalStatus", DEFAULT_APPROVAL_STATUS)
    threshold = ParameterFloat(THRESHOLD_PARAMETER, gate.threshold)
    parameters: list[Any] = [processing_instance, training_instance, training_count, training_image]

    inputs = [ProcessingInput(source=str(config_path), destination=PROCESSING_CONFIG_INPUT, input_name="config")]
    if not config.builtin_digits:
        input_data = ParameterString("InputDataUrl", config.input_data_for(region))
        parameters.append(input_data)
        inputs.insert(0, ProcessingInput(source=input_data, destination=PROCESSING_DATA_INPUT, input_name="data"))
    parameters += [approval_status, threshold]
    step_prepare = ProcessingStep(
        name=STEP_PREPARE,
        step_args=_processor(images, session, role, pipeline_name, STEP_PREPARE, processing_instance).run(
            code=str(PREPARE_SCRIPT),
            inputs=inputs,
            outputs=[
                ProcessingOutput(output_name=name, source=f"{PROCESSING_ROOT}/{name}", destination=prefix("data", name))
                for name in SPLITS
            ],
        ),
    )

    def split_uri(name: str) -> Any:
        return step_prepare.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri

    estimator = Estimator(
        image_uri=training_image,
        instance_type=training_instance,
        instance_count=training_count,
        output_path=prefix("model"),
        checkpoint_s3_uri=prefix("checkpoints"),
        checkpoint_local_path=CHECKPOINT_DIR,
        base_job_name=f"{pipeline_name}-train",
        hyperparameters=dict[str, Any](config.hyperparameters),
        metric_definitions=metric_definitions(config.engine),
        disable_profiler=True,
        debugger_hook_config=False,
        role=role,
        sagemaker_session=session,
    )
    channels = {name: TrainingInput(split_uri(name)) for name in training_channels(config)}
    step_train = TrainingStep(name=STEP_TRAIN, step_args=estimator.fit(inputs=channels))
    model_data = step_train.properties.ModelArtifacts.S3ModelArtifacts

    evaluation_report = PropertyFile(name="EvaluationReport", output_name=EVALUATION_OUTPUT, path=EVALUATION_FILE)
    evaluation_prefix = prefix(EVALUATION_OUTPUT)
    step_evaluate = ProcessingStep(
        name=STEP_EVALUATE,
        step_args=_processor(images, session, role, pipeline_name, STEP_EVALUATE, processing_instance).run(
            code=str(EVALUATE_SCRIPT),
            arguments=["--metric", gate.metric, "--engine", config.engine],
            inputs=[
                ProcessingInput(source=model_data, destination=f"{PROCESSING_ROOT}/model", input_name="model"),
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

    measured: Any = JsonGet(
        step_name=step_evaluate.name, property_file=evaluation_report, json_path=config.metric_json_path
    )
    step_register = ModelStep(
        name=STEP_REGISTER,
        step_args=register_model(
            session,
            role=role,
            images=images,
            config=config,
            model_data=model_data,
            evaluation_uri=Join(on="/", values=[evaluation_prefix, EVALUATION_FILE]),
            model_package_group_name=model_package_group_name,
            approval_status=approval_status,
        ),
    )
    step_fail = FailStep(
        name=STEP_FAIL,
        error_message=Join(on=" ", values=[f"Test {gate.metric}", measured, "is below the quality gate's", threshold]),
    )
    step_condition = ConditionStep(
        name=STEP_CONDITION,
        conditions=[ConditionGreaterThanOrEqualTo(left=measured, right=threshold)],
        if_steps=[step_register],
        else_steps=[step_fail],
    )
    return Pipeline(
        name=pipeline_name,
        parameters=parameters,
        steps=[step_prepare, step_train, step_evaluate, step_condition],
        sagemaker_session=session,
    )
