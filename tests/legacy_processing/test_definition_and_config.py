"""The definition's static properties and the `legacy_processing` configuration's validation."""

from __future__ import annotations

import re

import botocore.session
import pytest

from stacks.components.legacy_processing.definition import (
    STAGES,
    THROTTLING_ERRORS,
    build_definition,
    max_history_events,
    workflow_settings,
)
from stacks.config import ConfigError, parse_config

pytestmark = pytest.mark.xdist_group("legacy")


@pytest.fixture(scope="module")
def raw_config(repo_root):
    import yaml

    return yaml.safe_load((repo_root / "config" / "default.yaml").read_text())


def with_legacy(raw_config, **changes):
    return {**raw_config, "legacy_processing": {**raw_config["legacy_processing"], **changes}}


def settings(config):
    return workflow_settings(
        config,
        partition="aws",
        region="eu-west-1",
        account="111111111111",
        topic_arn="arn:aws:sns:eu-west-1:111111111111:t",
        passable_role_arns=("arn:aws:iam::111111111111:role/job",),
        inference_repository_uri="111111111111.dkr.ecr.eu-west-1.amazonaws.com/legacy-inference",
    )


def test_longest_job_name_fits_the_sagemaker_api(legacy_config):
    model = botocore.session.get_session().get_service_model("sagemaker")
    name_shape = model.operation_model("CreateProcessingJob").input_shape.members["ProcessingJobName"]
    longest = f"{'a' * 15}-{max(STAGES, key=len)}-{'0' * 32}"
    assert len(longest) == name_shape.metadata["max"] == 63
    assert re.fullmatch(name_shape.metadata["pattern"], longest)


def test_every_sagemaker_call_retries_throttling_with_backoff(legacy_config):
    states = build_definition(settings(legacy_config))["States"]
    sdk_tasks = {name: s for name, s in states.items() if s.get("Resource", "").startswith("arn:aws:states:::aws-sdk:")}
    assert len(sdk_tasks) == 4 * len(STAGES)  # start, adopt, describe, stop per stage
    for name, state in sdk_tasks.items():
        (retry,) = state["Retry"]
        assert retry["ErrorEquals"] == THROTTLING_ERRORS, name
        assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 3 and retry["JitterStrategy"] == "FULL", name
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name


def test_no_state_reads_a_field_the_validation_did_not_check(legacy_config):
    """Jobs see only `$.job` (validated fields), never the raw execution input."""
    states = build_definition(settings(legacy_config))["States"]
    text = str({name: s for name, s in states.items() if name.startswith(("Start", "Describe", "Stop", "Adopt"))})
    assert "$.given" not in text and "$.input" not in text


def test_default_config_has_the_section_and_it_is_bounded_by_the_history_limit(legacy_config):
    events = max_history_events(
        max_runtime_limit_seconds=legacy_config.max_runtime_limit_seconds,
        startup_allowance_seconds=legacy_config.startup_allowance_seconds,
        poll_interval_seconds=legacy_config.poll_interval_seconds,
    )
    assert events <= 25_000


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"poll_interval_seconds": 5}, "poll_interval_seconds 5 is too short for jobs of up to 21600 s"),
        ({"job_name_prefix": "a-much-too-long-prefix"}, "legacy_processing.job_name_prefix"),
        ({"default_max_runtime_seconds": 30000}, "default_max_runtime_seconds (30000) exceeds max_runtime_limit"),
        ({"max_runtime_limit_seconds": 800000}, "legacy_processing.max_runtime_limit_seconds"),
        ({"log_retention_days": 42}, "legacy_processing.log_retention_days: must be one of 1, 3, 5"),
        ({"data_bucket_names": []}, "legacy_processing.data_bucket_names"),
        ({"data_bucket_names": ["Bad_Bucket"]}, "must be S3 bucket names (got 'Bad_Bucket')"),
        ({"notification_emails": ["ops"]}, "must be e-mail addresses (got 'ops')"),
        ({"extra_execution_role_arns": ["arn:aws:iam::222222222222:role/x"]}, "must belong to account 111111111111"),
        ({"extra_execution_role_arns": ["role/x"]}, "must be IAM role ARNs (got 'role/x')"),
        ({"default_instance_type": "m5.large"}, "'m5.large' is not a SageMaker instance type"),
        ({"data_kms_key_arns": ["alias/aws/s3"]}, "must be KMS key ARNs (got 'alias/aws/s3')"),
    ],
)
def test_bad_configuration_is_refused_naming_the_key(raw_config, changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(with_legacy(raw_config, **changes), source="test.yaml")
    assert message in str(error.value)


def test_section_is_optional(raw_config):
    config = parse_config({k: v for k, v in raw_config.items() if k != "legacy_processing"})
    assert config.legacy_processing is None
