"""endpoint-config-template.yml: cfn-lint clean, and the resources the deploy contract needs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cfnlint.api import ManualArgs, lint_file

from .conftest import SEED, read_json

TEMPLATE_PATH = SEED / "endpoint-config-template.yml"


class _CfnLoader(yaml.SafeLoader):
    """Turns `!Ref X` into {"Ref": X} and `!Sub s` into {"Fn::Sub": s} (and so on) for inspection."""


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load(TEMPLATE_PATH.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def resources_of(template: dict, kind: str) -> list[dict]:
    return [resource["Properties"] for resource in template["Resources"].values() if resource["Type"] == kind]


def test_cfn_lint_finds_nothing():
    matches = lint_file(Path(TEMPLATE_PATH), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [str(match) for match in matches] == []


def test_cfn_lint_would_notice_a_mistake(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(TEMPLATE_PATH.read_text().replace("InitialVariantWeight: 1", "InitialVariantWeigth: 1"))
    assert any(
        "InitialVariantWeigth" in str(match) for match in lint_file(broken, config=ManualArgs(regions=["us-east-1"]))
    )


def test_endpoint_is_named_after_resource_and_stage(template):
    endpoint = resources_of(template, "AWS::SageMaker::Endpoint")[0]
    assert endpoint["EndpointName"] == {"Fn::Sub": "${ResourceName}-${StageName}"}
    assert template["Parameters"]["StageName"]["AllowedValues"] == ["staging", "prod"]


def test_model_and_config_names_carry_the_deployment_id_within_sagemakers_63_characters(template):
    versioned = {"Fn::Sub": "${ResourceName}-${StageName}-${DeploymentId}"}
    assert resources_of(template, "AWS::SageMaker::Model")[0]["ModelName"] == versioned
    assert resources_of(template, "AWS::SageMaker::EndpointConfig")[0]["EndpointConfigName"] == versioned
    parameters = template["Parameters"]
    longest_stage = max(len(stage) for stage in parameters["StageName"]["AllowedValues"])
    assert parameters["ResourceName"]["MaxLength"] + longest_stage + parameters["DeploymentId"]["MaxLength"] + 2 <= 63


def test_model_uses_the_chosen_image_and_the_package_model_data(template):
    model = resources_of(template, "AWS::SageMaker::Model")[0]
    assert model["PrimaryContainer"] == {
        "Image": {"Ref": "ModelImageUri"},
        "ModelDataUrl": {"Ref": "ModelDataUrl"},
        # The engine the model build evaluated (image classifier); nothing for a model without one.
        "Environment": {
            "Fn::If": ["HasModelEngine", {"MODEL_ENGINE": {"Ref": "ModelEngine"}}, {"Ref": "AWS::NoValue"}]
        },
    }
    assert template["Parameters"]["ModelEngine"]["Default"] == ""
    assert template["Conditions"]["HasModelEngine"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ModelEngine"}, ""]}]}
    # A role of the stack's own account: SageMaker takes no other, and one stack set serves many accounts.
    assert model["ExecutionRoleArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${ExecutionRoleName}"
    }


def test_endpoint_config_sizes_and_captures_data(template):
    config = resources_of(template, "AWS::SageMaker::EndpointConfig")[0]
    variant = config["ProductionVariants"][0]
    assert variant["InstanceType"] == {"Ref": "EndpointInstanceType"}
    assert variant["InitialInstanceCount"] == {"Ref": "EndpointInstanceCount"}
    condition, capture, otherwise = config["DataCaptureConfig"]["Fn::If"]
    assert condition == "CaptureData" and otherwise == {"Ref": "AWS::NoValue"}
    assert template["Conditions"]["CaptureData"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "DataCaptureUploadPath"}, ""]}]
    }
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == {"Ref": "DataCaptureSamplingPercentage"}
    assert capture["DestinationS3Uri"] == {"Ref": "DataCaptureUploadPath"}
    assert [option["CaptureMode"] for option in capture["CaptureOptions"]] == ["Input", "Output"]


def test_target_tracking_on_invocations_per_instance(template):
    target = resources_of(template, "AWS::ApplicationAutoScaling::ScalableTarget")[0]
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert target["ResourceId"] == {"Fn::Sub": "endpoint/${Endpoint.EndpointName}/variant/AllTraffic"}
    assert (target["MinCapacity"], target["MaxCapacity"]) == (
        {"Ref": "AutoScalingMinCapacity"},
        {"Ref": "AutoScalingMaxCapacity"},
    )
    policy = resources_of(template, "AWS::ApplicationAutoScaling::ScalingPolicy")[0]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert tracking["TargetValue"] == {"Ref": "AutoScalingTargetInvocationsPerInstance"}


def test_alarms_on_latency_percentiles_and_5xx_errors(template):
    alarms = {
        alarm.get("ExtendedStatistic", alarm["MetricName"]): alarm
        for alarm in resources_of(template, "AWS::CloudWatch::Alarm")
    }
    assert set(alarms) == {"p90", "p99", "Invocation5XXErrors"}
    for alarm in alarms.values():
        assert alarm["Namespace"] == "AWS/SageMaker"
        assert {"Name": "EndpointName", "Value": {"Fn::GetAtt": "Endpoint.EndpointName"}} in alarm["Dimensions"]
    for percentile in ("p90", "p99"):
        # Percentiles, not the average: a slow tail the mean hides still fires the alarm.
        assert alarms[percentile]["MetricName"] == "ModelLatency" and "Statistic" not in alarms[percentile]
        threshold = f"ModelLatency{percentile.upper()}AlarmThresholdMicroseconds"
        assert alarms[percentile]["Threshold"] == {"Ref": threshold}
    assert alarms["Invocation5XXErrors"]["Threshold"] == {"Ref": "Invocation5XXErrorsAlarmThreshold"}


def test_each_stage_sets_its_own_latency_thresholds():
    for stage in ("staging", "prod"):
        parameters = read_json(SEED / f"{stage}-config.json")["Parameters"]
        p90 = int(parameters["ModelLatencyP90AlarmThresholdMicroseconds"])
        assert 0 < p90 <= int(parameters["ModelLatencyP99AlarmThresholdMicroseconds"]), stage


def test_every_required_parameter_is_set_by_build_or_by_both_stage_configs(seed_build):
    required = {name for name, has_default in seed_build.template_parameters().items() if not has_default}
    for stage in ("staging", "prod"):
        configured = set(read_json(SEED / f"{stage}-config.json")["Parameters"])
        # EndpointInstanceType: the platform's <STAGE>_INSTANCE_TYPE variable unless the repository sets one.
        derived = {*seed_build.DERIVED_PARAMETERS, "EndpointInstanceType"}
        assert required - configured - derived == set(), stage
