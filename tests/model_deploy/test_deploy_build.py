"""build.py: model package resolution and the per-stage CloudFormation parameter files (moto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.components.multi_account_deploy import deploy as multi_account_deploy

from .conftest import (
    BUCKET,
    CPU_IMAGE,
    EVALUATION_URI,
    EXECUTION_PREFIX,
    GPU_IMAGE,
    GROUP,
    REGION,
    ROLE,
    SEED,
    Registry,
    read_json,
)

PYTORCH_CPU = "111111111111.dkr.ecr.us-east-1.amazonaws.com/pytorch:cpu"
PYTORCH_GPU = "111111111111.dkr.ecr.us-east-1.amazonaws.com/pytorch:gpu"


@pytest.fixture
def build_into(seed_build, registry, project_env, tmp_path):
    """Run build.build() with the project's variables (plus `extra`) into a fresh directory."""

    def run(config_dir: Path = SEED, **extra: str) -> tuple[dict, Path]:
        output = tmp_path / "build"
        summary = seed_build.build(output, {**project_env, **extra}, registry.client, config_dir)
        return summary, output

    return run


def error_message(seed_build, call) -> str:
    with pytest.raises(seed_build.BuildError) as caught:
        call()
    return str(caught.value)


class TestGivenArn:
    def test_approved_package_of_the_group_is_used(self, registry, build_into):
        registry.register()
        arn = registry.register()
        registry.register()  # a newer one: the trigger's ARN wins over "newest"
        summary, output = build_into(MODEL_PACKAGE_ARN=arn, MODEL_PACKAGE_VERSION="2")
        assert summary["ModelPackageArn"] == arn and summary["ModelPackageVersion"] == 2
        assert read_json(output / "model-package.json") == summary

    def test_package_of_another_group_is_refused(self, seed_build, registry, build_into):
        Registry(registry.client, "someone-elses-group")
        arn = registry.register(group="someone-elses-group")
        message = error_message(seed_build, lambda: build_into(MODEL_PACKAGE_ARN=arn))
        assert "'someone-elses-group'" in message and repr(GROUP) in message

    @pytest.mark.parametrize("status", ["PendingManualApproval", "Rejected"])
    def test_package_that_is_not_approved_is_refused(self, seed_build, registry, build_into, status):
        arn = registry.register(status)
        message = error_message(seed_build, lambda: build_into(MODEL_PACKAGE_ARN=arn))
        assert f"is {status}, not Approved" in message and arn in message

    def test_unknown_package_is_refused(self, seed_build, registry, build_into):
        arn = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{GROUP}/42"
        assert "cannot be read" in error_message(seed_build, lambda: build_into(MODEL_PACKAGE_ARN=arn))

    def test_version_from_the_trigger_must_match(self, seed_build, registry, build_into):
        arn = registry.register()
        message = error_message(seed_build, lambda: build_into(MODEL_PACKAGE_ARN=arn, MODEL_PACKAGE_VERSION="7"))
        assert "version 1" in message and "MODEL_PACKAGE_VERSION is 7" in message


class TestNewestApproved:
    def test_newest_approved_version_wins_over_newer_pending_ones(self, registry, build_into):
        registry.register()
        newest_approved = registry.register()
        registry.register("Rejected")
        registry.register("PendingManualApproval")
        assert build_into()[0]["ModelPackageArn"] == newest_approved

    def test_every_page_of_the_listing_is_read(self, registry, build_into):
        for _ in range(102):  # moto pages list_model_packages by 100
            registry.register()
        newest = registry.register()
        registry.register("PendingManualApproval")
        summary = build_into()[0]
        assert summary["ModelPackageArn"] == newest and summary["ModelPackageVersion"] == 103

    def test_group_without_approved_versions(self, seed_build, registry, build_into):
        registry.register("PendingManualApproval")
        message = error_message(seed_build, build_into)
        assert f"{GROUP!r} has no Approved model package" in message


class TestStageExports:
    def test_parameters_and_tags_of_both_stages(self, registry, build_into):
        arn = registry.register()
        summary, output = build_into()
        staging = read_json(output / "staging-config-export.json")
        prod = read_json(output / "prod-config-export.json")
        assert staging["Tags"] == {
            "sagemaker:project-name": "abalone",
            "sagemaker:project-id": "p-abc123",
            "sagemaker:deployment-stage": "staging",
        }
        assert prod["Tags"]["sagemaker:deployment-stage"] == "prod"
        config = read_json(SEED / "staging-config.json")["Parameters"]
        deployment_id = staging["Parameters"].pop("DeploymentId")
        assert staging["Parameters"] == {
            **config,
            "EndpointInstanceType": "ml.m5.large",  # the platform's, from the STAGING_INSTANCE_TYPE variable
            "ResourceName": "abalone",
            "StageName": "staging",
            "ModelPackageArn": arn,
            "ModelImageUri": CPU_IMAGE,
            "ModelDataUrl": summary["ModelDataUrl"],
            "ExecutionRoleName": ROLE.split(":role/")[1],
            "DataCaptureUploadPath": f"s3://{BUCKET}/datacapture-staging",
        }
        # v<model version>-<hash of the parameters>: same inputs, same ID; new inputs, new names.
        assert deployment_id.startswith(f"v{arn.rsplit('/', 1)[1]}-") and len(deployment_id) <= 14
        assert prod["Parameters"]["DeploymentId"] != deployment_id
        assert prod["Parameters"]["EndpointInstanceType"] == "ml.c5.xlarge"
        assert summary["EvaluationUri"] == EVALUATION_URI

    def test_the_platforms_instance_type_applies_unless_the_repository_sets_one(self, registry, build_into, tmp_path):
        registry.register()
        _, output = build_into(PROD_INSTANCE_TYPE="ml.g6e.xlarge")
        assert read_json(output / "prod-config-export.json")["Parameters"]["EndpointInstanceType"] == "ml.g6e.xlarge"
        assert read_json(output / "prod-config-export.json")["Parameters"]["ModelImageUri"] == GPU_IMAGE
        _, output = build_into(stage_configs(tmp_path, prod={"EndpointInstanceType": "ml.m5.2xlarge"}))
        assert read_json(output / "prod-config-export.json")["Parameters"]["EndpointInstanceType"] == "ml.m5.2xlarge"

    def test_no_instance_type_anywhere_is_named(self, seed_build, registry, build_into):
        registry.register()
        message = error_message(seed_build, lambda: build_into(STAGING_INSTANCE_TYPE=""))
        assert "set EndpointInstanceType in staging-config.json or the CI/CD variable STAGING_INSTANCE_TYPE" in message

    def test_gpu_instance_type_gets_the_gpu_image(self, registry, build_into, tmp_path):
        registry.register()
        config_dir = stage_configs(tmp_path, staging={"EndpointInstanceType": "ml.g5.xlarge"})
        _, output = build_into(config_dir)
        assert read_json(output / "staging-config-export.json")["Parameters"]["ModelImageUri"] == GPU_IMAGE
        assert read_json(output / "prod-config-export.json")["Parameters"]["ModelImageUri"] == CPU_IMAGE

    def test_gpu_instance_type_without_a_gpu_image_is_refused(self, seed_build, registry, build_into, tmp_path):
        registry.register(gpu_image=None)
        config_dir = stage_configs(tmp_path, prod={"EndpointInstanceType": "ml.p3.2xlarge"})
        message = error_message(seed_build, lambda: build_into(config_dir))
        assert "ml.p3.2xlarge needs a GPU image" in message and "GpuImageUri" in message

    def test_an_xgboost_package_sets_no_engine_and_no_problem_type(self, registry, build_into):
        registry.register()
        summary, output = build_into()
        assert (summary["ProblemType"], summary["ModelEngine"]) == ("", "")
        assert "ModelEngine" not in read_json(output / "staging-config-export.json")["Parameters"]

    def test_the_image_classifier_deploys_on_cpu_or_gpu_with_its_evaluated_engine(self, registry, build_into, tmp_path):
        """What the image pipeline registers (PyTorch images, ProblemType, MODEL_ENGINE): staging on a CPU type gets
        the CPU image, production on a GPU type the CUDA image, both the engine the build evaluated."""
        arn = registry.client.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": PYTORCH_CPU,
                        "ModelDataUrl": f"{EXECUTION_PREFIX}/model/model.tar.gz",
                        "Environment": {"MODEL_ENGINE": "onnx-int8"},
                    }
                ],
                "SupportedContentTypes": ["image/png", "image/jpeg", "application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            CustomerMetadataProperties={
                "CpuImageUri": PYTORCH_CPU,
                "GpuImageUri": PYTORCH_GPU,
                "ProblemType": "image_classification",
            },
            ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": EVALUATION_URI}}},
        )["ModelPackageArn"]
        summary, output = build_into(PROD_INSTANCE_TYPE="ml.g5.xlarge")
        assert (summary["ModelPackageArn"], summary["ProblemType"]) == (arn, "image_classification")
        staging = read_json(output / "staging-config-export.json")["Parameters"]
        prod = read_json(output / "prod-config-export.json")["Parameters"]
        assert (staging["EndpointInstanceType"], staging["ModelImageUri"]) == ("ml.m5.large", PYTORCH_CPU)
        assert (prod["EndpointInstanceType"], prod["ModelImageUri"]) == ("ml.g5.xlarge", PYTORCH_GPU)
        assert staging["ModelEngine"] == prod["ModelEngine"] == "onnx-int8"
        assert read_json(output / "model-package.json")["ProblemType"] == "image_classification"

    def test_stage_execution_role_override(self, registry, build_into):
        registry.register()
        prod_role = "arn:aws:iam::222222222222:role/sagemaker-prod"
        _, output = build_into(SAGEMAKER_EXECUTION_ROLE_ARN_PROD=prod_role)
        assert read_json(output / "prod-config-export.json")["Parameters"]["ExecutionRoleName"] == "sagemaker-prod"
        staging_role = read_json(output / "staging-config-export.json")["Parameters"]["ExecutionRoleName"]
        assert staging_role == ROLE.split(":role/")[1]

    def test_execution_role_that_is_not_a_role_arn_is_named(self, seed_build, registry, build_into):
        registry.register()
        message = error_message(seed_build, lambda: build_into(SAGEMAKER_EXECUTION_ROLE_ARN_PROD="sagemaker-prod"))
        assert "SAGEMAKER_EXECUTION_ROLE_ARN_PROD must be an IAM role ARN" in message and "'sagemaker-prod'" in message

    def test_deployment_id_is_stable_and_follows_every_parameter(self, seed_build):
        parameters = {"EndpointInstanceType": "ml.m5.large", "ModelDataUrl": "s3://b/m.tar.gz"}
        same = seed_build.deployment_id(3, dict(parameters))
        assert same == seed_build.deployment_id(3, dict(parameters))
        assert same != seed_build.deployment_id(3, {**parameters, "EndpointInstanceType": "ml.c5.xlarge"})
        assert same != seed_build.deployment_id(4, parameters)

    @pytest.mark.parametrize("version", [None, 1, 42, 123456])
    def test_the_multi_account_copy_of_deployment_id_is_the_same_function(self, seed_build, version):
        """The Multi Account Deployment's deploy.py must stand alone (stdlib + boto3): it keeps a copy."""
        parameters = {"ResourceName": "sagemaker-x-p-1", "EndpointInstanceType": "ml.m5.large"}
        assert multi_account_deploy.deployment_id(version, parameters) == seed_build.deployment_id(version, parameters)

    @pytest.mark.parametrize(
        ("change", "fragment"),
        [
            ({"EndpointInstanceCont": "1"}, "'EndpointInstanceCont' is not a parameter"),
            ({"ModelDataUrl": "s3://x/y"}, "'ModelDataUrl' is set by build.py"),
            ({"EndpointInstanceCount": [1]}, "EndpointInstanceCount must be a string or a number"),
            ({"AutoScalingMaxCapacity": None}, "must set AutoScalingMaxCapacity"),
        ],
    )
    def test_configuration_mistakes_are_named(self, seed_build, registry, build_into, tmp_path, change, fragment):
        registry.register()
        config_dir = stage_configs(tmp_path, staging=change)
        assert fragment in error_message(seed_build, lambda: build_into(config_dir))

    def test_invalid_json_is_named(self, seed_build, registry, build_into, tmp_path):
        registry.register()
        config_dir = stage_configs(tmp_path)
        (config_dir / "prod-config.json").write_text("{")
        assert "prod-config.json is not valid JSON" in error_message(seed_build, lambda: build_into(config_dir))


def stage_configs(tmp_path: Path, **changes: dict) -> Path:
    """Copies of the seed's stage configurations with `changes[stage]` applied (None deletes a key)."""
    directory = tmp_path / "config"
    directory.mkdir(exist_ok=True)
    for stage in ("staging", "prod"):
        document = read_json(SEED / f"{stage}-config.json")
        for key, value in changes.get(stage, {}).items():
            if value is None:
                document["Parameters"].pop(key)
            else:
                document["Parameters"][key] = value
        (directory / f"{stage}-config.json").write_text(json.dumps(document))
    return directory


@pytest.mark.parametrize(
    ("instance_type", "gpu"),
    [
        ("ml.g4dn.xlarge", True),
        ("ml.g5.xlarge", True),
        ("ml.g6e.2xlarge", True),
        ("ml.p3.2xlarge", True),
        ("ml.p4d.24xlarge", True),
        ("ml.m5.large", False),
        ("ml.c5.xlarge", False),
        ("ml.inf2.xlarge", False),
        ("ml.t2.medium", False),
        ("g5.xlarge", False),
    ],
)
def test_gpu_instance_families(seed_build, instance_type, gpu):
    assert seed_build.is_gpu_instance(instance_type) is gpu


def test_missing_variables_are_listed(seed_build, registry, tmp_path):
    message = error_message(seed_build, lambda: seed_build.build(tmp_path, {"AWS_REGION": REGION}, registry.client))
    assert "MODEL_PACKAGE_GROUP_NAME" in message and "SAGEMAKER_EXECUTION_ROLE_ARN" in message


def test_main_reports_errors_and_exits_1(seed_build, registry, project_env, monkeypatch, tmp_path, capsys):
    for name, value in project_env.items():
        monkeypatch.setenv(name, value)
    assert seed_build.main(["--output-dir", str(tmp_path / "build")]) == 1
    assert "build.py: error:" in capsys.readouterr().err
    registry.register()
    assert seed_build.main(["--output-dir", str(tmp_path / "build")]) == 0
    assert (tmp_path / "build" / "prod-config-export.json").is_file()
