"""The image classifier's serving stacks: what each deploys, and the configuration that drives them.

cfn-lint, cdk-nag and checkov run on these templates in `test_lint_and_nag.py` (every template of the app);
the Elastic Beanstalk and HTTPS variants, which the default configuration does not select, are synthesized
here and linted the same way.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
import yaml
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from stacks.app_builder import FEATURE_FLAGS, add_image_serving_stacks
from stacks.components.cfn_lint_exceptions import ignore_cfn_lint_checks
from stacks.components.image_serving import serving_contract as contract
from stacks.components.image_serving.beanstalk_environment import BUNDLE_DIR
from stacks.config import ConfigError, parse_config
from tooling.lint import cfn_lint, checkov
from tooling.requirement_pins import read_pins
from tooling.synth import nag_findings

pytestmark = pytest.mark.xdist_group("cdk")
ROOT = Path(__file__).resolve().parents[2]
DEFAULT = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
CONFIG = parse_config(DEFAULT)
SERVING = CONFIG.image_serving
CERTIFICATE = "arn:aws:acm:eu-west-1:111111111111:certificate/12345678-1234-1234-1234-123456789012"


def with_changes(**changes: Any) -> dict[str, Any]:
    """The default configuration with dotted keys of `image_serving` set (or deleted when `...`)."""
    data = copy.deepcopy(DEFAULT)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = data["image_serving"]
        for key in parents:
            node = node[key]
        if value is ...:
            del node[leaf]
        else:
            node[leaf] = value
    return data


def _template(outdir: Path, suffix: str) -> dict[str, Any]:
    return json.loads((outdir / f"{CONFIG.name}-image-{suffix}.template.json").read_text())


def _resources(template: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == resource_type]


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _resources(template, "AWS::IAM::Policy")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The always-on stack on Elastic Beanstalk with a certificate, and on Fargate with a certificate."""
    outdir = tmp_path_factory.mktemp("image-serving-variants")
    for platform in ("elastic_beanstalk", "fargate"):
        config = parse_config(with_changes(always_on__platform=platform, always_on__certificate_arn=CERTIFICATE))
        app = cdk.App(outdir=str(outdir / platform), context=FEATURE_FLAGS)
        for stack in add_image_serving_stacks(app, config):
            ignore_cfn_lint_checks(stack, "W3005")  # as build_app does for every stack
        cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
        app.synth()
    return outdir


# --- serverless ---------------------------------------------------------------------------------------------


def test_the_function_is_a_lean_zip_with_snapstart_reserved_concurrency_and_a_dead_letter_queue(synthesized) -> None:
    template = _template(synthesized.outdir, "serverless")
    (function,) = [f for f in _resources(template, "AWS::Lambda::Function") if "SnapStart" in f["Properties"]]
    properties = function["Properties"]
    assert properties["Runtime"] == "python3.14" and properties["Handler"] == "image_classifier.handler.lambda_handler"
    assert properties["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert properties["MemorySize"] == SERVING.serverless.memory_mb
    assert properties["ReservedConcurrentExecutions"] == SERVING.serverless.reserved_concurrency
    assert "TargetArn" in properties["DeadLetterConfig"] and "KmsKeyArn" in properties
    assert properties["Environment"]["Variables"] | {} == {
        "POWERTOOLS_SERVICE_NAME": "image-classifier",
        "MODELS": json.dumps({"digits": "digits-classifier"}),
        "DEFAULT_MODEL": "digits",
        "MODEL_BUCKETS": "mlops-models-111111111111",
        "MODEL_ENGINE": "onnx-int8",
        "MODEL_DEVICE": "cpu",
        "MODEL_REFRESH_SECONDS": "300",
        "MODEL_CACHE_DIR": "/tmp/models",
    }
    asset = synthesized.outdir / f"asset.{properties['Code']['S3Key'].split('.')[0]}"
    packages = {path.name for path in asset.iterdir()}
    assert {"image_classifier", "pytorch_container", "model_fetch", "onnxruntime", "numpy", "PIL"} <= packages
    assert "torch" not in packages and "boto3" not in packages
    assert sum(p.stat().st_size for p in asset.rglob("*") if p.is_file()) < 250 * 1024 * 1024  # Lambda's zip limit


def test_the_url_is_iam_authenticated_on_the_live_alias_for_the_configured_roles_only(synthesized) -> None:
    template = _template(synthesized.outdir, "serverless")
    assertions = Template.from_json(template)
    assertions.has_resource_properties("AWS::Lambda::Url", {"AuthType": "AWS_IAM", "Qualifier": "live"})
    permissions = [p["Properties"] for p in _resources(template, "AWS::Lambda::Permission")]
    assert sorted((p["Action"], p["Principal"]) for p in permissions) == sorted(
        (action, arn)
        for arn in SERVING.serverless.invoker_role_arns
        for action in ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction")
    )
    assert all(p.get("FunctionUrlAuthType") == "AWS_IAM" or p.get("InvokedViaFunctionUrl") for p in permissions)
    assertions.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"MaximumRetryAttempts": 2, "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}}},
    )


def test_alarms_watch_errors_p99_duration_throttles_and_dead_letters(synthesized) -> None:
    template = _template(synthesized.outdir, "serverless")
    alarms = {a["Properties"]["MetricName"]: a["Properties"] for a in _resources(template, "AWS::CloudWatch::Alarm")}
    assert set(alarms) == {"Errors", "Duration", "Throttles", "ApproximateNumberOfMessagesVisible"}
    assert alarms["Duration"]["ExtendedStatistic"] == "p99"
    assert alarms["Duration"]["Threshold"] == SERVING.serverless.duration_alarm_ms
    for name in ("Errors", "Duration", "Throttles"):
        dimensions = {d["Name"] for d in alarms[name]["Dimensions"]}
        assert dimensions == {"FunctionName", "Resource"}, name  # the alias, which the URL calls
    assert all(alarm["AlarmActions"] for alarm in alarms.values())


def test_the_function_reads_the_registry_and_the_model_buckets_only(synthesized) -> None:
    statements = _statements(_template(synthesized.outdir, "serverless"))
    by_action = {json.dumps(s["Action"]): s["Resource"] for s in statements}
    assert by_action['"sagemaker:ListModelPackages"'] == "*"
    assert by_action['"sagemaker:DescribeModelPackage"'] == (
        "arn:aws:sagemaker:eu-west-1:111111111111:model-package/digits-classifier/*"
    )
    assert by_action['"s3:GetObject"'] == "arn:aws:s3:::mlops-models-111111111111/*"
    granted = {
        action for s in statements for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert granted <= {
        "sagemaker:ListModelPackages",
        "sagemaker:DescribeModelPackage",
        "s3:GetObject",
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
    }, granted


def test_the_bundled_pins_equal_the_platforms() -> None:
    bundled = read_pins(ROOT / "lambdas" / "requirements-image-classifier.txt")
    platform = read_pins(ROOT / "requirements-dev.txt")
    assert {name: platform[name] for name in bundled} == bundled
    fetch = read_pins(ROOT / "containers" / "model_fetch" / "requirements.txt")
    assert {name: platform[name] for name in fetch} == fetch


# --- always-on: Fargate ---------------------------------------------------------------------------------------


def _containers(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (task,) = _resources(template, "AWS::ECS::TaskDefinition")
    return {c["Name"]: c for c in task["Properties"]["ContainerDefinitions"]}


def test_the_task_runs_the_serving_image_as_the_contract_says_after_the_model_is_fetched(synthesized) -> None:
    containers = _containers(_template(synthesized.outdir, "always-on"))
    server, fetch = containers[contract.SERVER_CONTAINER], containers[contract.INIT_CONTAINER]
    assert server["Command"] == contract.SERVE_COMMAND == ["serve"]
    assert server["PortMappings"] == [{"ContainerPort": 8080, "Protocol": "tcp"}]
    assert server["User"] == "10001" and server["ReadonlyRootFilesystem"] is True
    assert {e["Name"]: e["Value"] for e in server["Environment"]} == {
        "SM_MODEL_DIR": "/opt/ml/model",
        "SAGEMAKER_BIND_TO_PORT": "8080",
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(SERVING.always_on.workers),
        "MODEL_ENGINE": "onnx-int8",
        "MODEL_DEVICE": "cpu",
    }
    assert server["DependsOn"] == [{"ContainerName": "model", "Condition": "SUCCESS"}]
    assert {m["ContainerPath"]: m["ReadOnly"] for m in server["MountPoints"]} == {"/opt/ml/model": True, "/tmp": False}
    assert fetch["Essential"] is False
    assert {e["Name"]: e["Value"] for e in fetch["Environment"]} == {
        "MODEL_PACKAGE_GROUP": "digits-classifier",
        "MODEL_BUCKETS": "mlops-models-111111111111",
        "MODEL_DIR": "/opt/ml/model",
    }
    assert {m["ContainerPath"]: m["ReadOnly"] for m in fetch["MountPoints"]} == {"/opt/ml/model": False, "/tmp": False}


def test_the_load_balancer_checks_ping_and_the_service_scales_on_requests_and_cpu(synthesized) -> None:
    template = _template(synthesized.outdir, "always-on")
    assertions = Template.from_json(template)
    assertions.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "HealthCheckPath": "/ping",
            "Port": 8080,
            "Protocol": "HTTP",
            "TargetType": "ip",
            "Matcher": {"HttpCode": "200"},
        },
    )
    policies = {
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
            "PredefinedMetricType"
        ]: p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
        for p in _resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    }
    assert policies == {"ALBRequestCountPerTarget": 600, "ECSServiceAverageCPUUtilization": 60}
    assertions.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 2, "MaxCapacity": 4}
    )
    (balancer,) = _resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in balancer["Properties"]["LoadBalancerAttributes"]}
    assert balancer["Properties"]["Scheme"] == "internal"
    assert (
        attributes["access_logs.s3.enabled"] == "true"
        and attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    )
    (listener,) = _resources(template, "AWS::ElasticLoadBalancingV2::Listener")
    assert listener["Properties"]["Protocol"] == "HTTP" and listener["Properties"]["Port"] == 80


def test_the_service_is_private_and_reachable_from_the_load_balancer_only(synthesized) -> None:
    template = _template(synthesized.outdir, "always-on")
    (service,) = _resources(template, "AWS::ECS::Service")
    network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    private = {k for k, v in template["Resources"].items() if v["Type"] == "AWS::EC2::Subnet" and "private" in k}
    assert {s["Ref"] for s in network["Subnets"]} <= private
    ingress = [r["Properties"] for r in _resources(template, "AWS::EC2::SecurityGroupIngress")]
    assert [(r["FromPort"], r["ToPort"]) for r in ingress] == [(8080, 8080)]  # server: from the load balancer
    assert "SourceSecurityGroupId" in ingress[0]
    groups = [g["Properties"] for g in _resources(template, "AWS::EC2::SecurityGroup")]
    balancer_group = next(g for g in groups if g["GroupDescription"] == "Classifier load balancer")
    assert [(r["CidrIp"], r["FromPort"]) for r in balancer_group["SecurityGroupIngress"]] == [("10.0.0.0/8", 80)]
    assert service["Properties"]["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True,
        "Rollback": True,
    }


def test_an_approval_or_rejection_in_the_group_rolls_the_service(synthesized) -> None:
    template = _template(synthesized.outdir, "always-on")
    (rule,) = _resources(template, "AWS::Events::Rule")
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["digits-classifier"], "ModelApprovalStatus": ["Approved", "Rejected"]},
    }
    (target,) = rule["Properties"]["Targets"]
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 8
    (rollout,) = [
        f for f in _resources(template, "AWS::Lambda::Function") if "serving_rollout" in f["Properties"]["Handler"]
    ]
    assert rollout["Properties"]["Environment"]["Variables"]["TARGET"] == "ecs"
    (update,) = [s for s in _statements(template) if "ecs:UpdateService" in s["Action"]]
    assert update["Resource"] == {
        "Ref": next(k for k, v in template["Resources"].items() if v["Type"] == "AWS::ECS::Service")
    }


def test_the_rule_pattern_matches_approvals_and_rejections_of_the_group_only(synthesized) -> None:
    from moto.events.models import EventPattern

    (rule,) = _resources(_template(synthesized.outdir, "always-on"), "AWS::Events::Rule")
    pattern = EventPattern.load(json.dumps(rule["Properties"]["EventPattern"]))
    base = {"source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change"}
    for status, group, expected in [
        ("Approved", "digits-classifier", True),
        ("Rejected", "digits-classifier", True),
        ("PendingManualApproval", "digits-classifier", False),
        ("Approved", "another", False),
    ]:
        event = {**base, "detail": {"ModelPackageGroupName": group, "ModelApprovalStatus": status}}
        assert pattern.matches_event(event) is expected, (status, group)


# --- variants: HTTPS, Elastic Beanstalk -----------------------------------------------------------------------------


def test_a_certificate_adds_https_and_http_redirects_to_it(variants: Path) -> None:
    template = _template(variants / "fargate", "always-on")
    listeners = {
        item["Properties"]["Port"]: item["Properties"]
        for item in _resources(template, "AWS::ElasticLoadBalancingV2::Listener")
    }
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["Certificates"] == [{"CertificateArn": CERTIFICATE}]
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"


def test_elastic_beanstalk_runs_the_compose_bundle_the_contract_describes(variants: Path) -> None:
    template = _template(variants / "elastic_beanstalk", "always-on")
    (environment,) = _resources(template, "AWS::ElasticBeanstalk::Environment")
    options = {(o["Namespace"], o["OptionName"]): o["Value"] for o in environment["Properties"]["OptionSettings"]}
    assert options[("aws:elasticbeanstalk:environment:process:default", "HealthCheckPath")] == "/ping"
    assert options[("aws:ec2:instances", "InstanceTypes")] == "t3.small"
    assert options[("aws:ec2:vpc", "ELBScheme")] == "internal"
    assert options[("aws:ec2:vpc", "AssociatePublicIpAddress")] == "false"
    assert options[("aws:elbv2:listener:443", "SSLCertificateArns")] == CERTIFICATE
    assert options[("aws:elasticbeanstalk:application:environment", "MODEL_PACKAGE_GROUP")] == "digits-classifier"
    compose = yaml.safe_load((BUNDLE_DIR / "docker-compose.yml").read_text())
    server, fetch = compose["services"]["classifier"], compose["services"]["model"]
    assert server["command"] == contract.SERVE_COMMAND and server["user"] == contract.SERVER_USER
    assert server["ports"] == [f"80:{contract.PORT}"]
    assert server["depends_on"] == {"model": {"condition": "service_completed_successfully"}}
    assert server["environment"]["SM_MODEL_DIR"] == contract.MODEL_DIR == fetch["environment"]["MODEL_DIR"]
    assert server["volumes"] == [f"model:{contract.MODEL_DIR}:ro"]
    referenced = {name for service in compose["services"].values() for name in json.dumps(service).split("${")[1:]}
    provided = {name for (namespace, name) in options if namespace == "aws:elasticbeanstalk:application:environment"}
    assert {name.split("}")[0] for name in referenced} <= provided
    (rollout,) = [
        f for f in _resources(template, "AWS::Lambda::Function") if "serving_rollout" in f["Properties"]["Handler"]
    ]
    assert rollout["Properties"]["Environment"]["Variables"]["TARGET"] == "beanstalk"


def test_the_variants_are_lint_nag_and_checkov_clean(variants: Path) -> None:
    templates = sorted(variants.glob("*/*image-always-on.template.json"))
    assert len(templates) == 2
    status, output = cfn_lint(templates)
    assert status == 0, output
    for platform in ("fargate", "elastic_beanstalk"):
        assert nag_findings(variants / platform) == [], platform
    scan = checkov(templates)
    assert scan.failures == [], scan.failures


# --- configuration ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"engine": "eager"}, "engine 'eager' needs torch, which the Lambda package leaves out"),
        ({"default_model": "resnet"}, "default_model 'resnet' is not one of the models' artifact_id"),
        (
            {"always_on__image_uri": "docker.io/library/python:3.12"},
            "always_on.image_uri: must be an Amazon ECR image URI",
        ),
        ({"always_on__fargate__memory_mib": 8192}, "memory_mib 8192 does not fit cpu 512"),
        ({"always_on__elastic_beanstalk__instance_type": "g5.xlarge"}, "'g5.xlarge' is a nvidia-gpu instance type"),
        ({"always_on__platform": "ec2"}, "must be fargate or elastic_beanstalk"),
        ({"serverless__invoker_role_arns": ["*"]}, "must be IAM role ARNs"),
    ],
)
def test_configuration_errors_name_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(with_changes(**changes), source="c.yaml")
    assert message in str(error.value) and str(error.value).startswith("c.yaml: image_serving")


def test_eager_is_fine_without_the_function_and_each_section_is_its_own_stack() -> None:
    config = parse_config(with_changes(engine="eager", serverless=...))
    app = cdk.App(context=FEATURE_FLAGS)
    assert [s.stack_name for s in add_image_serving_stacks(app, config)] == [f"{CONFIG.name}-image-always-on"]
    config = parse_config(with_changes(always_on=...))
    assert [s.stack_name for s in add_image_serving_stacks(cdk.App(context=FEATURE_FLAGS), config)] == [
        f"{CONFIG.name}-image-serverless"
    ]
