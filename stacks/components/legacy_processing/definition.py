"""Amazon States Language definition of the legacy processing workflow, built from plain data.

Validate input -> Preprocessing -> Inference -> Postprocessing, each a SageMaker Processing job
started with the AWS SDK integration (`aws-sdk:sagemaker:createProcessingJob`) and polled with
Wait -> `describeProcessingJob` -> Choice until it ends. Why not `sagemaker:createProcessingJob.sync`:
the emulator the offline run and the tests use (moto) executes SDK integrations but not `.sync`,
and the polling loop gives the same behaviour in both places (a timeout per job that also stops the
job, the job's `FailureReason` in the failure). The construct (workflow.py) deploys exactly what
`build_definition` returns; the tests execute the same function's output on the emulator.

The job name of each stage derives from the execution ID, so a retried or redriven start finds
its own job (`ResourceInUse`, then the tag naming this execution) instead of starting a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.session

if TYPE_CHECKING:  # config.py imports this module for the API bounds
    from stacks.config import LegacyProcessingConfig

PROCESSING = "/opt/ml/processing"
STAGES = ("preprocessing", "inference", "postprocessing")
EXECUTION_TAG = "legacy-processing:execution"
INVALID_INPUT = "LegacyProcessing.InvalidInput"
JOB_FAILED = "LegacyProcessing.JobFailed"
JOB_TIMEOUT = "LegacyProcessing.JobTimeout"
JOB_NAME_TAKEN = "LegacyProcessing.JobNameTaken"
CALL_FAILED = "LegacyProcessing.ServiceCallFailed"
# Error names of the SDK integration: SageMaker does not model ThrottlingException, so a throttled
# call surfaces as the service's generic exception (AWS samples retry on both names).
THROTTLING_ERRORS = ["ThrottlingException", "SageMaker.AmazonSageMakerException"]
RESOURCE_IN_USE = "SageMaker.ResourceInUseException"
# Events one poll adds to the execution history (Wait 2, Describe 5, Choice 2, Tick 2); a standard
# workflow ends at 25,000 events, which bounds the longest job a poll interval can watch.
EVENTS_PER_POLL = 11
HISTORY_EVENT_LIMIT = 25_000
HISTORY_EVENT_RESERVE = 1_000


def _processing_bounds() -> dict[str, tuple[int, int]]:
    """(min, max) of the CreateProcessingJob numbers we take from input, from the API model itself."""
    request = botocore.session.get_session().get_service_model("sagemaker")
    shape = request.operation_model("CreateProcessingJob").input_shape.members
    runtime = shape["StoppingCondition"].members["MaxRuntimeInSeconds"].metadata
    volume = shape["ProcessingResources"].members["ClusterConfig"].members["VolumeSizeInGB"].metadata
    return {"max_runtime": (runtime["min"], runtime["max"]), "volume_size": (volume["min"], volume["max"])}


PROCESSING_BOUNDS = _processing_bounds()


@dataclass(frozen=True, kw_only=True)
class WorkflowSettings:
    """Everything the definition takes from configuration and from the stack (ARNs may be CDK tokens)."""

    partition: str
    region: str
    account: str
    job_name_prefix: str
    topic_arn: str
    passable_role_arns: tuple[str, ...]
    inference_repository_uri: str
    default_instance_type: str
    default_volume_size_gb: int
    default_max_runtime_seconds: int
    max_runtime_limit_seconds: int
    poll_interval_seconds: int
    startup_allowance_seconds: int


def workflow_settings(
    config: LegacyProcessingConfig,
    *,
    partition: str,
    region: str,
    account: str,
    topic_arn: str,
    passable_role_arns: tuple[str, ...],
    inference_repository_uri: str,
) -> WorkflowSettings:
    """Settings from the `legacy_processing` configuration and the resources the stack (or emulator) made."""
    return WorkflowSettings(
        partition=partition,
        region=region,
        account=account,
        job_name_prefix=config.job_name_prefix,
        topic_arn=topic_arn,
        passable_role_arns=passable_role_arns,
        inference_repository_uri=inference_repository_uri,
        default_instance_type=config.default_instance_type,
        default_volume_size_gb=config.default_volume_size_gb,
        default_max_runtime_seconds=config.default_max_runtime_seconds,
        max_runtime_limit_seconds=config.max_runtime_limit_seconds,
        poll_interval_seconds=config.poll_interval_seconds,
        startup_allowance_seconds=config.startup_allowance_seconds,
    )


@dataclass(frozen=True)
class Field:
    """One execution input field: its Choice rule for a valid value and what was expected."""

    name: str
    valid: dict[str, Any]
    expected: str
    required: bool = True


def _var(name: str) -> str:
    return f"$.input.{name}"


def _string(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"And": [{"Variable": _var(name), "IsString": True}, *rules]}


def _whole_number(name: str, low: int, high: int) -> dict[str, Any]:
    return {
        "And": [
            {"Variable": _var(name), "IsNumeric": True},
            {"Variable": _var(name), "NumericGreaterThanEquals": low},
            {"Variable": _var(name), "NumericLessThanEquals": high},
            # Set by InspectNumbers: the number's JSON text has no decimal point.
            {"Variable": f"$.shape.{name}_parts", "NumericEquals": 1},
        ]
    }


def _any_of(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return rules[0] if len(rules) == 1 else {"Or": rules}


def input_fields(settings: WorkflowSettings) -> list[Field]:
    """The execution input, in the order the article lists it."""
    repo = settings.inference_repository_uri
    s3 = "an s3://bucket/prefix URI"
    max_volume = PROCESSING_BOUNDS["volume_size"][1]
    return [
        Field("input_uri", _string("input_uri", {"Variable": _var("input_uri"), "StringMatches": "s3://*/*"}), s3),
        Field(
            "output_uri",
            _string(
                "output_uri",
                {"Variable": _var("output_uri"), "StringMatches": "s3://*/*"},
                {"Not": {"Variable": _var("output_uri"), "StringMatches": "*/"}},
            ),
            f"{s3} without a trailing /",
        ),
        Field("code_uri", _string("code_uri", {"Variable": _var("code_uri"), "StringMatches": "s3://*/*"}), s3),
        Field(
            "custom_image_uri",
            _string(
                "custom_image_uri",
                _any_of(
                    [
                        {"Variable": _var("custom_image_uri"), "StringMatches": f"{repo}:*"},
                        {"Variable": _var("custom_image_uri"), "StringMatches": f"{repo}@sha256:*"},
                    ]
                ),
            ),
            f"an image of {repo} (:tag or @sha256:digest)",
        ),
        Field(
            "scikit_image_uri",
            _string(
                "scikit_image_uri",
                {
                    "Variable": _var("scikit_image_uri"),
                    "StringMatches": "*.dkr.ecr.*.amazonaws.com/sagemaker-scikit-learn:*",
                },
            ),
            "a pre-built SageMaker scikit-learn image URI (<registry>/sagemaker-scikit-learn:<version>)",
        ),
        Field(
            "role",
            _string(
                "role",
                _any_of([{"Variable": _var("role"), "StringEquals": arn} for arn in settings.passable_role_arns]),
            ),
            "one of the configured execution roles: " + ", ".join(settings.passable_role_arns),
        ),
        Field(
            "instance_type",
            _string("instance_type", {"Variable": _var("instance_type"), "StringMatches": "ml.*.*"}),
            "a SageMaker instance type such as ml.m5.xlarge",
            required=False,
        ),
        Field(
            "volume_size",
            _whole_number("volume_size", 1, max_volume),
            f"a whole number of GB from 1 to {max_volume}",
            required=False,
        ),
        Field(
            "max_runtime",
            _whole_number("max_runtime", 1, settings.max_runtime_limit_seconds),
            f"a whole number of seconds from 1 to {settings.max_runtime_limit_seconds}",
            required=False,
        ),
    ]


def _validation_states(settings: WorkflowSettings, fields: list[Field]) -> dict[str, Any]:
    states: dict[str, Any] = {
        "ApplyDefaults": {
            "Type": "Pass",
            "Comment": "Optional fields take the configured defaults; what the caller gave wins.",
            "Parameters": {
                "defaults": {
                    "instance_type": settings.default_instance_type,
                    "volume_size": settings.default_volume_size_gb,
                    "max_runtime": settings.default_max_runtime_seconds,
                },
                "given.$": "$",
            },
            "Next": "MergeInput",
        },
        "MergeInput": {
            "Type": "Pass",
            "Parameters": {"input.$": "States.JsonMerge($.defaults, $.given, false)", "errors": {}},
            "Next": "InspectNumbers",
        },
        "InspectNumbers": {
            "Type": "Pass",
            "Comment": "Whole numbers have no decimal point in their JSON text.",
            "Parameters": {
                f"{name}_parts.$": f"States.ArrayLength(States.StringSplit(States.JsonToString({_var(name)}), '.'))"
                for name in ("volume_size", "max_runtime")
            },
            "ResultPath": "$.shape",
            "Next": f"Check_{fields[0].name}",
        },
    }
    for index, field in enumerate(fields):
        after = f"Check_{fields[index + 1].name}" if index + 1 < len(fields) else "CollectErrors"
        states[f"Check_{field.name}"] = {
            "Type": "Choice",
            "Choices": [
                {"Variable": _var(field.name), "IsPresent": False, "Next": f"Missing_{field.name}"},
                {"Not": field.valid, "Next": f"Malformed_{field.name}"},
            ],
            "Default": after,
        }
        for kind, message in (("Missing", "required"), ("Malformed", "malformed")):
            states[f"{kind}_{field.name}"] = {
                "Type": "Pass",
                "Result": f"{message}: expected {field.expected}",
                "ResultPath": f"$.errors.{field.name}",
                "Next": after,
            }
    states["CollectErrors"] = {
        "Type": "Pass",
        "Parameters": {"found.$": "States.JsonToString($.errors)"},
        "ResultPath": "$.validation",
        "Next": "InputValid",
    }
    states["InputValid"] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.validation.found", "StringEquals": "{}", "Next": "Prepare"}],
        "Default": "RejectInput",
    }
    states["RejectInput"] = _failure(
        "validation",
        error=INVALID_INPUT,
        cause="States.Format('Invalid execution input (field: problem): {}', $.validation.found)",
    )
    return states


def _job_name(settings: WorkflowSettings, stage: str) -> str:
    return f"States.Format('{settings.job_name_prefix}-{stage}-{{}}', States.Hash($$.Execution.Id, 'MD5'))"


def _prepare_state(settings: WorkflowSettings, fields: list[Field]) -> dict[str, Any]:
    run = "$.input.output_uri, $$.Execution.Name"
    return {
        "Type": "Pass",
        "Comment": "Only validated fields reach the jobs; each execution writes under its own prefix.",
        "Parameters": {
            "job": {f"{field.name}.$": _var(field.name) for field in fields},
            "names": {f"{stage}.$": _job_name(settings, stage) for stage in STAGES},
            "locations": {
                f"{name}.$": f"States.Format('{{}}/{{}}/{name}', {run})"
                for name in ("features", "rejected", "predictions", "report")
            },
            "job_timeout.$": f"States.MathAdd($.input.max_runtime, {settings.startup_allowance_seconds})",
            "waited": {stage: {"seconds": 0} for stage in STAGES},
        },
        "Next": "StartPreprocessing",
    }


def _s3_input(name: str, uri_path: str, local: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri.$": uri_path,
            "LocalPath": f"{PROCESSING}/input/{local}",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def _s3_output(name: str) -> dict[str, Any]:
    return {
        "OutputName": name,
        "S3Output": {
            "S3Uri.$": f"$.locations.{name}",
            "LocalPath": f"{PROCESSING}/output/{name}",
            "S3UploadMode": "EndOfJob",
        },
    }


def _script(name: str, *arguments: str) -> dict[str, Any]:
    """Script mode: the pre-built scikit-learn image runs our script from the code input."""
    return {
        "ImageUri.$": "$.job.scikit_image_uri",
        "ContainerEntrypoint": ["python3", f"{PROCESSING}/input/code/{name}"],
        "ContainerArguments": list(arguments),
    }


def job_specifications() -> dict[str, dict[str, Any]]:
    """AppSpecification, inputs and outputs of each stage's CreateProcessingJob request."""
    return {
        "preprocessing": {
            "AppSpecification": _script(
                "preprocessing.py",
                *("--input-dir", f"{PROCESSING}/input/data"),
                *("--features-dir", f"{PROCESSING}/output/features"),
                *("--rejected-dir", f"{PROCESSING}/output/rejected"),
            ),
            "ProcessingInputs": [
                _s3_input("code", "$.job.code_uri", "code"),
                _s3_input("data", "$.job.input_uri", "data"),
            ],
            "Outputs": [_s3_output("features"), _s3_output("rejected")],
        },
        "inference": {
            # No entrypoint: the custom image's own ENTRYPOINT runs predict.py.
            "AppSpecification": {"ImageUri.$": "$.job.custom_image_uri"},
            "ProcessingInputs": [_s3_input("features", "$.locations.features", "features")],
            "Outputs": [_s3_output("predictions")],
        },
        "postprocessing": {
            "AppSpecification": _script(
                "postprocessing.py",
                *("--predictions-dir", f"{PROCESSING}/input/predictions"),
                *("--output-dir", f"{PROCESSING}/output/report"),
            ),
            "ProcessingInputs": [
                _s3_input("code", "$.job.code_uri", "code"),
                _s3_input("predictions", "$.locations.predictions", "predictions"),
            ],
            "Outputs": [_s3_output("report")],
        },
    }


def _sdk(action: str) -> str:
    return f"arn:aws:states:::aws-sdk:sagemaker:{action}"


def _throttling_retry() -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": THROTTLING_ERRORS,
            "IntervalSeconds": 2,
            "BackoffRate": 2.0,
            "MaxAttempts": 6,
            "MaxDelaySeconds": 60,
            "JitterStrategy": "FULL",
        }
    ]


def _failure(stage: str, *, error: str, cause: str) -> dict[str, Any]:
    """A Pass state recording why the execution fails, for the notification and the Fail state."""
    return {
        "Type": "Pass",
        "Parameters": {
            "execution.$": "$$.Execution.Id",
            "stage": stage,
            "error": error,
            "cause.$": cause,
        },
        "ResultPath": "$.failure",
        "Next": "NotifyFailure",
    }


def _stage_states(settings: WorkflowSettings, stage: str, spec: dict[str, Any], after: str) -> dict[str, Any]:
    title = stage.capitalize()
    name = f"$.names.{stage}"
    caught = {"ResultPath": "$.caught", "Next": f"{title}CallFailed"}
    job_arn = (
        f"States.Format('arn:{settings.partition}:sagemaker:{settings.region}:{settings.account}:processing-job/{{}}', "
        f"{name})"
    )
    return {
        f"Start{title}": {
            "Type": "Task",
            "Resource": _sdk("createProcessingJob"),
            "Parameters": {
                "ProcessingJobName.$": name,
                "RoleArn.$": "$.job.role",
                "AppSpecification": spec["AppSpecification"],
                "ProcessingInputs": spec["ProcessingInputs"],
                "ProcessingOutputConfig": {"Outputs": spec["Outputs"]},
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType.$": "$.job.instance_type",
                        "VolumeSizeInGB.$": "$.job.volume_size",
                    }
                },
                "StoppingCondition": {"MaxRuntimeInSeconds.$": "$.job.max_runtime"},
                "Tags": [
                    {"Key": EXECUTION_TAG, "Value.$": "$$.Execution.Id"},
                    {"Key": "legacy-processing:stage", "Value": stage},
                ],
            },
            "ResultPath": None,
            "Retry": _throttling_retry(),
            "Catch": [
                {"ErrorEquals": [RESOURCE_IN_USE], "ResultPath": "$.caught", "Next": f"Adopt{title}"},
                {"ErrorEquals": ["States.ALL"], **caught},
            ],
            "Next": f"Wait{title}",
        },
        f"Adopt{title}": {
            "Type": "Task",
            "Comment": "The name exists: poll it only if this execution started it (a retried start).",
            "Resource": _sdk("listTags"),
            "Parameters": {"ResourceArn.$": job_arn},
            "ResultSelector": {
                "owned.$": f"States.ArrayContains($.Tags[?(@.Key == '{EXECUTION_TAG}')].Value, $$.Execution.Id)"
            },
            "ResultPath": "$.adopted",
            "Retry": _throttling_retry(),
            "Catch": [{"ErrorEquals": ["States.ALL"], **caught}],
            "Next": f"Owned{title}",
        },
        f"Owned{title}": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.adopted.owned", "BooleanEquals": True, "Next": f"Wait{title}"}],
            "Default": f"{title}NameTaken",
        },
        f"Wait{title}": {"Type": "Wait", "Seconds": settings.poll_interval_seconds, "Next": f"Describe{title}"},
        f"Describe{title}": {
            "Type": "Task",
            "Resource": _sdk("describeProcessingJob"),
            "Parameters": {"ProcessingJobName.$": name},
            "ResultPath": "$.described",
            "Retry": _throttling_retry(),
            "Catch": [{"ErrorEquals": ["States.ALL"], **caught}],
            "Next": f"{title}Status",
        },
        f"{title}Status": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.described.ProcessingJobStatus", "StringEquals": "Completed", "Next": after},
                {
                    "And": [
                        {"Variable": "$.described.ProcessingJobStatus", "StringEquals": "Failed"},
                        {"Variable": "$.described.FailureReason", "IsPresent": True},
                    ],
                    "Next": f"{title}Failed",
                },
                {
                    "Or": [
                        {"Variable": "$.described.ProcessingJobStatus", "StringEquals": "Failed"},
                        {"Variable": "$.described.ProcessingJobStatus", "StringEquals": "Stopped"},
                    ],
                    "Next": f"{title}Ended",
                },
                {
                    "Variable": f"$.waited.{stage}.seconds",
                    "NumericGreaterThanEqualsPath": "$.job_timeout",
                    "Next": f"Stop{title}",
                },
            ],
            "Default": f"Tick{title}",
        },
        f"Tick{title}": {
            "Type": "Pass",
            "Parameters": {"seconds.$": f"States.MathAdd($.waited.{stage}.seconds, {settings.poll_interval_seconds})"},
            "ResultPath": f"$.waited.{stage}",
            "Next": f"Wait{title}",
        },
        f"Stop{title}": {
            "Type": "Task",
            "Resource": _sdk("stopProcessingJob"),
            "Parameters": {"ProcessingJobName.$": name},
            "ResultPath": None,
            "Retry": _throttling_retry(),
            # The timeout is the failure to report even if stopping fails (MaxRuntimeInSeconds still ends the job).
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": f"{title}TimedOut"}],
            "Next": f"{title}TimedOut",
        },
        f"{title}Failed": _failure(
            stage,
            error=JOB_FAILED,
            cause=f"States.Format('{stage} job {{}} failed: {{}}', {name}, $.described.FailureReason)",
        ),
        f"{title}Ended": _failure(
            stage,
            error=JOB_FAILED,
            cause=f"States.Format('{stage} job {{}} ended with status {{}}', {name}, $.described.ProcessingJobStatus)",
        ),
        f"{title}TimedOut": _failure(
            stage,
            error=JOB_TIMEOUT,
            cause=f"States.Format('{stage} job {{}} did not end within {{}} s "
            f"(max_runtime + {settings.startup_allowance_seconds} s to start); stopped it', {name}, $.job_timeout)",
        ),
        f"{title}NameTaken": _failure(
            stage,
            error=JOB_NAME_TAKEN,
            cause=f"States.Format('processing job {{}} exists and was not started by this execution', {name})",
        ),
        # Step Functions reserves `States.*` error names, so the caught name travels in the cause.
        f"{title}CallFailed": _failure(
            stage, error=CALL_FAILED, cause="States.Format('{}: {}', $.caught.Error, $.caught.Cause)"
        ),
    }


def build_definition(settings: WorkflowSettings) -> dict[str, Any]:
    """The state machine definition (a JSON-serializable dict)."""
    fields = input_fields(settings)
    specs = job_specifications()
    states: dict[str, Any] = _validation_states(settings, fields)
    states["Prepare"] = _prepare_state(settings, fields)
    for index, stage in enumerate(STAGES):
        after = f"Start{STAGES[index + 1].capitalize()}" if index + 1 < len(STAGES) else "Summarize"
        states.update(_stage_states(settings, stage, specs[stage], after))
    states["Summarize"] = {
        "Type": "Pass",
        "Parameters": {
            "output_uri.$": "$.locations.report",
            "predictions_uri.$": "$.locations.predictions",
            "rejected_uri.$": "$.locations.rejected",
            "jobs.$": "$.names",
        },
        "End": True,
    }
    states["NotifyFailure"] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {
            "TopicArn": settings.topic_arn,
            "Subject": "Legacy processing failed",
            "Message.$": "States.JsonToString($.failure)",
        },
        "ResultPath": None,
        "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 2, "BackoffRate": 2.0, "MaxAttempts": 3}],
        # A lost notification must not hide the failure itself.
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notification_error", "Next": "Failed"}],
        "Next": "Failed",
    }
    states["Failed"] = {"Type": "Fail", "ErrorPath": "$.failure.error", "CausePath": "$.failure.cause"}
    return {
        "Comment": "Legacy ML code on SageMaker: validate input, then preprocessing, inference and postprocessing "
        "as SageMaker Processing jobs",
        "StartAt": "ApplyDefaults",
        "States": states,
    }


def max_history_events(
    *, max_runtime_limit_seconds: int, startup_allowance_seconds: int, poll_interval_seconds: int
) -> int:
    """Worst-case execution history length: every stage polled until its timeout."""
    polls = -(-(max_runtime_limit_seconds + startup_allowance_seconds) // poll_interval_seconds)
    return len(STAGES) * polls * EVENTS_PER_POLL + HISTORY_EVENT_RESERVE
