"""The model build SageMaker Pipeline (SDK v2): preprocess, train (or tune), evaluate, then register or fail.

    Preprocess -> Train | Tune -> Evaluate -> CheckQualityGate --(gate met)--> RegisterModel
                                                               \\--(otherwise)--> QualityGateFailed

Everything data set specific comes from `config.json` next to this file (input location, problem
type, columns, label, classes, split, hyperparameters, quality gate, tuning; see README.md and
`pipeline_config.py`). With `tuning.enabled` (or `--tune`) a SageMaker tuning job (`TuningStep`)
over `tuning.ranges` replaces the training step and the best training job's model is evaluated
and registered. Images come from the environment: `XGBOOST_IMAGE_URI` (CPU: processing, CPU
training, CPU inference) and `XGBOOST_GPU_IMAGE_URI` (GPU training and GPU inference); each falls
back to SageMaker's built-in XGBoost image when unset. The names, paths and S3 layout defined here
are shared with the local execution (`pipelines.local_run`), which runs the same steps without
SageMaker.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagemaker import image_uris
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.model import Model
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.parameter import CategoricalParameter, ContinuousParameter, IntegerParameter
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.session import Session
from sagemaker.tuner import HyperparameterTuner
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo, ConditionLessThanOrEqualTo
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep, TrainingStep, TuningStep

from pipelines.abalone.evaluate import EVALUATION_FILE, PLOTS_DIR, REPORT_FILE
from pipelines.abalone.pipeline_config import (  # noqa: F401 - ConfigError and the loader are this module's API too
    ConfigError,
    PipelineConfig,
    TuningConfig,
    load_pipeline_config,
)
from pipelines.abalone.preprocess import SPLITS
from pipelines.instance_families import is_gpu_instance

BASE_DIR = Path(__file__).resolve().parent
CONFIG_PATH = BASE_DIR / "config.json"
PREPROCESS_SCRIPT = BASE_DIR / "preprocess.py"
EVALUATE_SCRIPT = BASE_DIR / "evaluate.py"

STEP_PREPROCESS = "Preprocess"
STEP_TRAIN = "Train"
STEP_TUNE = "Tune"
STEP_EVALUATE = "Evaluate"
STEP_CONDITION = "CheckQualityGate"
STEP_REGISTER = "RegisterModel"
STEP_FAIL = "QualityGateFailed"
THRESHOLD_PARAMETER = "QualityGateThreshold"

DEFAULT_PROCESSING_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_TRAINING_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_APPROVAL_STATUS = "PendingManualApproval"
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
CHECKPOINTS_OUTPUT = "checkpoints"


def metric_definitions(eval_metric: str) -> list[dict[str, Any]]:
    """Regular expressions for the training and validation metric in XGBoost's evaluation log.

    SageMaker reads them from the platform image's log (tuning uses the `validation:` one as its
    objective); the local tuning applies the same expressions to the same log lines.
    """
    name = re.escape(eval_metric)
    return [
        {"Name": f"{channel}:{eval_metric}", "Regex": rf"\t{channel}-{name}:([-+0-9.eE]+)"}
        for channel in ("train", "validation")
    ]


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
    role: str | None,
    images: ImageUris,
    problem_type: str,
    model_data: Any,
    evaluation_prefix: Any,
    model_package_group_name: str,
    approval_status: Any,
) -> Any:
    """Register the trained model version; the same call serves the pipeline step and local runs.

    The version carries evaluation.json as its model quality statistics (Studio draws its metrics,
    curves and confusion matrix) and, as metadata, the problem type and where the HTML evaluation
    report and the PNG plots are. With a `PipelineSession` it returns the step arguments of the
    registration step; with a plain `Session` it creates the model package and returns the SDK's
    `ModelPackage`.
    """

    def evaluation(name: str) -> Any:
        if isinstance(evaluation_prefix, str):
            return f"{evaluation_prefix}/{name}"
        return Join(on="/", values=[evaluation_prefix, name])

    model = Model(image_uri=images.cpu, model_data=model_data, role=role, sagemaker_session=session)
    return model.register(
        content_types=[CONTENT_TYPE],
        response_types=[CONTENT_TYPE],
        inference_instances=INFERENCE_INSTANCE_TYPES,
        transform_instances=TRANSFORM_INSTANCE_TYPES,
        model_package_group_name=model_package_group_name,
        approval_status=approval_status,
        model_metrics=ModelMetrics(
            model_statistics=MetricsSource(s3_uri=evaluation(EVALUATION_FILE), content_type="application/json")
        ),
        customer_metadata_properties={
            "CpuImageUri": images.cpu,
            "GpuImageUri": images.gpu,
            "ProblemType": problem_type,
            "EvaluationReportUri": evaluation(REPORT_FILE),
            "EvaluationPlotsUri": evaluation(PLOTS_DIR + "/"),
        },
        description=f"XGBoost {problem_type.replace('_', ' ')} model trained by the model build pipeline",
    )


def hyperparameter_ranges(tuning: TuningConfig) -> dict[Any, Any]:
    """The SDK's ranges for the tuning job, from `tuning.ranges`."""
    ranges: dict[Any, Any] = {}
    for item in tuning.ranges:
        if item.kind == "categorical":
            ranges[item.name] = CategoricalParameter(list(item.values))
        elif item.kind == "integer":
            ranges[item.name] = IntegerParameter(int(item.low), int(item.high), scaling_type=item.scaling)
        else:
            ranges[item.name] = ContinuousParameter(item.low, item.high, scaling_type=item.scaling)
    return ranges


@dataclass(frozen=True)
class _Context:
    """What the step builders of one pipeline definition share."""

    config: PipelineConfig
    images: ImageUris
    session: PipelineSession
    role: str
    bucket: str
    pipeline_name: str

    def prefix(self, *parts: str) -> Any:
        return artifact_prefix(self.bucket, self.pipeline_name, ExecutionVariables.PIPELINE_EXECUTION_ID, *parts)


def _processor(context: _Context, step: str, instance_type: Any, instance_count: Any) -> ScriptProcessor:
    return ScriptProcessor(
        image_uri=context.images.cpu,
        command=["python3"],
        instance_type=instance_type,
        instance_count=instance_count,
        base_job_name=f"{context.pipeline_name}-{step.lower()}",
        role=context.role,
        sagemaker_session=context.session,
    )


def _training_step(
    context: _Context, step_preprocess: ProcessingStep, *, tune: bool, instance_type: Any, image: Any, builtin: bool
) -> tuple[TrainingStep | TuningStep, Any]:
    """The Train step (or, tuning, the Tune step) and the S3 URI of the model it produces."""

    def split_uri(name: str) -> Any:
        return step_preprocess.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri

    channels = {name: TrainingInput(split_uri(name), content_type=CONTENT_TYPE) for name in ("train", "validation")}
    if not builtin:  # SageMaker's built-in algorithm rejects channels it does not know
        channels[FEATURES_OUTPUT] = TrainingInput(split_uri(FEATURES_OUTPUT), content_type="application/json")
    definitions = None if builtin else metric_definitions(context.config.eval_metric)
    spot = context.config.spot_training
    # Managed spot training: an interrupted job restarts from /opt/ml/checkpoints, which SageMaker keeps in S3.
    # A tuning job's trials would share one checkpoint prefix (and resume from each other), so they get
    # none: an interrupted trial starts over.
    spot_settings: dict[str, Any] = {}
    if spot.enabled:
        spot_settings = {"use_spot_instances": True, "max_run": spot.max_run_seconds, "max_wait": spot.max_wait_seconds}
        if not tune:
            spot_settings["checkpoint_s3_uri"] = context.prefix(CHECKPOINTS_OUTPUT)
    estimator = Estimator(
        image_uri=image,
        instance_type=instance_type,
        instance_count=1,
        output_path=context.prefix("model"),
        base_job_name=f"{context.pipeline_name}-train",
        hyperparameters=dict[str, Any](context.config.hyperparameters),
        metric_definitions=definitions,
        disable_profiler=True,
        debugger_hook_config=False,
        role=context.role,
        sagemaker_session=context.session,
        **spot_settings,
    )
    if not tune:
        step = TrainingStep(name=STEP_TRAIN, step_args=estimator.fit(inputs=channels))
        return step, step.properties.ModelArtifacts.S3ModelArtifacts
    tuning = context.config.tuning
    assert tuning is not None
    tuner = HyperparameterTuner(
        estimator,
        objective_metric_name=tuning.objective_metric,
        hyperparameter_ranges=hyperparameter_ranges(tuning),
        metric_definitions=definitions,
        strategy=tuning.strategy,
        objective_type=tuning.objective_type,
        max_jobs=tuning.max_trials,
        max_parallel_jobs=tuning.max_parallel_trials,
    )
    step_tune = TuningStep(name=STEP_TUNE, step_args=tuner.fit(inputs=channels))
    # The best training job's artifact: <output_path>/<job name>/output/model.tar.gz.
    best_model = Join(
        on="/",
        values=[
            "s3:/",
            context.bucket,
            context.pipeline_name,
            ExecutionVariables.PIPELINE_EXECUTION_ID,
            "model",
            step_tune.properties.TrainingJobSummaries[0].TrainingJobName,
            "output/model.tar.gz",
        ],
    )
    return step_tune, best_model


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
    tune: bool | None = None,
) -> Pipeline:
    """Build the pipeline definition.

    `training_instance_type` is the default of the `TrainingInstanceType` parameter and picks the
    default of `TrainingImageUri` (the GPU image for a GPU type). A Studio user who changes the
    instance type of one execution changes the image parameter with it. `tune` overrides
    `tuning.enabled` of the configuration.
    """
    config = load_pipeline_config(config_path)
    tuning = config.tuning_enabled(tune)
    images = images or resolve_image_uris(region)
    session = sagemaker_session or PipelineSession(default_bucket=default_bucket)
    context = _Context(config, images, session, role, default_bucket, pipeline_name)
    training_image = images.for_training(training_instance_type)
    gate = config.quality_gate

    processing_instance = ParameterString("ProcessingInstanceType", processing_instance_type)
    processing_instance_count = ParameterInteger("ProcessingInstanceCount", 1)
    training_instance = ParameterString("TrainingInstanceType", training_instance_type)
    training_image_uri = ParameterString("TrainingImageUri", training_image)
    input_data = ParameterString("InputDataUrl", config.input_data_for(region))
    approval_status = ParameterString("ModelApprovalStatus", DEFAULT_APPROVAL_STATUS)
    threshold = ParameterFloat(THRESHOLD_PARAMETER, gate.threshold)

    step_preprocess = ProcessingStep(
        name=STEP_PREPROCESS,
        step_args=_processor(context, STEP_PREPROCESS, processing_instance, processing_instance_count).run(
            code=str(PREPROCESS_SCRIPT),
            inputs=[
                ProcessingInput(source=input_data, destination=PROCESSING_DATA_INPUT, input_name="data"),
                ProcessingInput(source=str(config_path), destination=PROCESSING_CONFIG_INPUT, input_name="config"),
            ],
            outputs=[
                ProcessingOutput(
                    output_name=name, source=f"{PROCESSING_ROOT}/{name}", destination=context.prefix("data", name)
                )
                for name in (*SPLITS, FEATURES_OUTPUT)
            ],
        ),
    )
    step_train, model_data = _training_step(
        context,
        step_preprocess,
        tune=tuning,
        instance_type=training_instance,
        image=training_image_uri,
        builtin=images.is_builtin(training_image),
    )

    def split_uri(name: str) -> Any:
        return step_preprocess.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri

    evaluation_report = PropertyFile(name="EvaluationReport", output_name=EVALUATION_OUTPUT, path=EVALUATION_FILE)
    evaluation_prefix = context.prefix(EVALUATION_OUTPUT)
    step_evaluate = ProcessingStep(
        name=STEP_EVALUATE,
        step_args=_processor(context, STEP_EVALUATE, processing_instance, processing_instance_count).run(
            code=str(EVALUATE_SCRIPT),
            arguments=["--metric", gate.metric],
            inputs=[
                ProcessingInput(source=model_data, destination=f"{PROCESSING_ROOT}/model", input_name="model"),
                ProcessingInput(source=split_uri("test"), destination=f"{PROCESSING_ROOT}/test", input_name="test"),
                ProcessingInput(
                    source=split_uri(FEATURES_OUTPUT),
                    destination=f"{PROCESSING_ROOT}/{FEATURES_OUTPUT}",
                    input_name=FEATURES_OUTPUT,
                ),
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
            problem_type=config.problem_type,
            model_data=model_data,
            evaluation_prefix=evaluation_prefix,
            model_package_group_name=model_package_group_name,
            approval_status=approval_status,
        ),
    )
    comparison = "below" if gate.bound == "min" else "above"
    step_fail = FailStep(
        name=STEP_FAIL,
        error_message=Join(
            on=" ", values=[f"Test {gate.metric}", measured, f"is {comparison} the quality gate's", threshold]
        ),
    )
    condition = (ConditionGreaterThanOrEqualTo if gate.bound == "min" else ConditionLessThanOrEqualTo)(
        left=measured, right=threshold
    )
    step_condition = ConditionStep(
        name=STEP_CONDITION, conditions=[condition], if_steps=[step_register], else_steps=[step_fail]
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
            threshold,
        ],
        steps=[step_preprocess, step_train, step_evaluate, step_condition],
        sagemaker_session=session,
    )
