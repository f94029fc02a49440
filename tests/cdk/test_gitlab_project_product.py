"""The SageMaker project template (product stack): parameters, resources and their properties."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from aws_cdk.assertions import Match
from moto.events.models import EventPattern

pytestmark = pytest.mark.xdist_group("cdk")

PARAMETERS = {
    "SageMakerProjectName",
    "SageMakerProjectId",
    "GitLabConnection",
    "ModelBuildRepoName",
    "ModelDeployRepoName",
    "SubnetIds",
    "SecurityGroupId",
    "XGBoostImageUri",
    "XGBoostGpuImageUri",
    "PyTorchImageUri",
    "PyTorchGpuImageUri",
}
PROJECT = {"Fn::Join": ["", [{"Ref": "SageMakerProjectName"}, "-", {"Ref": "SageMakerProjectId"}]]}
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:mlops/gitlab-token-AbCdEf"


def in_map(key: str) -> dict:
    return {"Fn::FindInMap": ["GitLabConnections", {"Ref": "GitLabConnection"}, key]}


def resources_of(template_json: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == resource_type}


def only(template_json: dict, resource_type: str) -> dict:
    (resource,) = resources_of(template_json, resource_type).values()
    return resource


def test_parameters_and_defaults(synthesized) -> None:
    params = synthesized.product_json["Parameters"]
    assert set(params) == PARAMETERS
    assert params["SageMakerProjectName"]["MaxLength"] == 32
    # The launcher picks a configured connection by name; no URL, namespace or secret is a parameter.
    assert params["GitLabConnection"]["AllowedValues"] == ["ml-team"]
    assert params["GitLabConnection"]["Default"] == "ml-team"
    assert synthesized.product_json["Mappings"]["GitLabConnections"] == {
        "ml-team": {
            "ServerUrl": "https://gitlab.example.com",
            "TokenSecretArn": SECRET_ARN,
            "Namespace": "ml-team",
            "GroupId": "1234",
        }
    }
    assert params["SubnetIds"]["Default"] == "" and params["SecurityGroupId"]["Default"] == ""
    # Each image of the ML core: resolved at launch from the SSM parameter the platform stack publishes.
    for parameter, name in (
        ("XGBoostImageUri", "xgboost-cpu"),
        ("XGBoostGpuImageUri", "xgboost-gpu"),
        ("PyTorchImageUri", "pytorch-cpu"),
        ("PyTorchGpuImageUri", "pytorch-gpu"),
    ):
        assert params[parameter]["Type"] == "AWS::SSM::Parameter::Value<String>"
        assert params[parameter]["Default"] == f"/mlops-gitlab/images/{name}"


def test_artifact_bucket_is_encrypted_versioned_private_and_tls_only(synthesized) -> None:
    product = synthesized.product
    product.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": {"Fn::Join": ["", ["sagemaker-project-", {"Ref": "SageMakerProjectId"}, "-artifacts"]]},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": Match.any_value(),
                        },
                    }
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": Match.object_like({"DestinationBucketName": Match.any_value()}),
        },
    )
    product.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )
    product.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_model_package_group_is_named_project_name_dash_id(synthesized) -> None:
    synthesized.product.has_resource_properties("AWS::SageMaker::ModelPackageGroup", {"ModelPackageGroupName": PROJECT})


def test_seed_code_custom_resource_properties(synthesized) -> None:
    resource = only(synthesized.product_json, "Custom::GitLabSeedCode")["Properties"]
    assert resource["GitLabServerUrl"] == in_map("ServerUrl")
    assert resource["GitLabTokenSecretArn"] == in_map("TokenSecretArn")
    assert resource["GitLabRepositoryNamespace"] == in_map("Namespace")
    assert resource["GitLabGroupId"] == {"Fn::Join": ["", {"Fn::Split": ["-", in_map("GroupId")]}]}
    assert resource["ModelBuildRepoName"] == {"Ref": "ModelBuildRepoName"}
    assert resource["DefaultBranch"] == "main"
    for seed in ("ModelBuildSeedCode", "ModelDeploySeedCode"):
        assert resource[seed]["Bucket"] == "mlops-gitlab-product-assets-111111111111-eu-west-1"
        assert resource[seed]["Key"].endswith(".zip")
    build_vars = {v["Key"]: v for v in resource["ModelBuildVariables"]}
    deploy_vars = {v["Key"]: v for v in resource["ModelDeployVariables"]}
    common = {
        "SAGEMAKER_PROJECT_NAME",
        "SAGEMAKER_PROJECT_ID",
        "AWS_REGION",
        "ARTIFACT_BUCKET",
        "MODEL_PACKAGE_GROUP_NAME",
        "AWS_ROLE_ARN",
        "XGBOOST_IMAGE_URI",
        "XGBOOST_GPU_IMAGE_URI",
        "PYTORCH_IMAGE_URI",
        "PYTORCH_GPU_IMAGE_URI",
    }
    assert set(build_vars) == common | {
        "SAGEMAKER_PIPELINE_ROLE_ARN",
        "PROCESSING_INSTANCE_TYPE",
        "TRAINING_INSTANCE_TYPE",
    }
    cross_account = {
        f"{name}_{stage}"
        for name in ("DEPLOY_ROLE_ARN", "SAGEMAKER_EXECUTION_ROLE_ARN")
        for stage in ("STAGING", "PROD")
    }
    instance_types = {"STAGING_INSTANCE_TYPE", "PROD_INSTANCE_TYPE"}
    redshift_ml = {"REDSHIFT_ML_ROLE_ARN"}  # redshift_ml is configured: deploy-prod writes the CREATE MODEL SQL
    assert set(deploy_vars) == common | {"SAGEMAKER_EXECUTION_ROLE_ARN"} | cross_account | instance_types | redshift_ml
    assert build_vars["MODEL_PACKAGE_GROUP_NAME"]["Value"] == PROJECT
    for variable, parameter in (
        ("XGBOOST_IMAGE_URI", "XGBoostImageUri"),
        ("XGBOOST_GPU_IMAGE_URI", "XGBoostGpuImageUri"),
        ("PYTORCH_IMAGE_URI", "PyTorchImageUri"),
        ("PYTORCH_GPU_IMAGE_URI", "PyTorchGpuImageUri"),
    ):
        assert build_vars[variable]["Value"] == deploy_vars[variable]["Value"] == {"Ref": parameter}
    assert build_vars["AWS_ROLE_ARN"]["Masked"] == "true"
    assert build_vars["AWS_REGION"]["Masked"] == "false"
    # Variables naming roles a pipeline assumes reach only pipelines of protected branches.
    for variables in (build_vars, deploy_vars):
        protected = {key for key, v in variables.items() if v["Protected"] == "true"}
        assert protected == {"AWS_ROLE_ARN", "DEPLOY_ROLE_ARN_STAGING", "DEPLOY_ROLE_ARN_PROD"} & variables.keys()
    # The build and deploy CI roles are different roles.
    assert build_vars["AWS_ROLE_ARN"]["Value"] != deploy_vars["AWS_ROLE_ARN"]["Value"]


def test_seed_code_runs_behind_the_provider_framework(synthesized) -> None:
    functions = resources_of(synthesized.product_json, "AWS::Lambda::Function")
    handlers = {f["Properties"]["Handler"] for f in functions.values()}
    assert {
        "seed_code_checkin.handler.on_event",
        "gitlab_trigger.handler.lambda_handler",
        "framework.onEvent",
    } <= handlers
    custom = only(synthesized.product_json, "Custom::GitLabSeedCode")
    framework = next(k for k, f in functions.items() if f["Properties"]["Handler"] == "framework.onEvent")
    assert custom["Properties"]["ServiceToken"] == {"Fn::GetAtt": [framework, "Arn"]}
    checkin = next(f for f in functions.values() if f["Properties"]["Handler"].startswith("seed_code_checkin"))
    assert checkin["Properties"]["Runtime"] == "python3.14"
    assert checkin["Properties"]["Timeout"] == 300


def _secrets_statements(template_json: dict) -> list[dict]:
    return [
        statement
        for resource in template_json["Resources"].values()
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if any(
            a.startswith("secretsmanager:")
            for a in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        )
    ]


def test_secrets_grants_name_only_the_configured_secret_arns(synthesized) -> None:
    """No secrets policy anywhere refers to a launch parameter: the GitLab token secret is a literal
    configured ARN, and the only other secrets are ones a template itself creates (a Ref to them)."""
    gitlab_grants = 0
    for template_path in synthesized.outdir.glob("*.template.json"):
        template = json.loads(template_path.read_text())
        resources = template.get("Resources", {})
        parameters = set(template.get("Parameters", {}))
        for statement in _secrets_statements(template):
            rendered = json.dumps(statement["Resource"])
            assert not any(f'"Ref": "{name}"' in rendered for name in parameters), (template_path.name, statement)
            if statement["Resource"] == SECRET_ARN:
                gitlab_grants += 1
                assert statement["Action"] == "secretsmanager:GetSecretValue", (template_path.name, statement)
                continue
            (reference,) = _list(statement["Resource"])
            assert resources[reference["Ref"]]["Type"] == "AWS::SecretsManager::Secret", (template_path.name, statement)
    # The product's check-in and trigger functions and its permissions boundary, plus the Airflow
    # variant's check-in (one per model).
    assert gitlab_grants >= 3


def _list(value: object) -> list[dict[str, str]]:
    return value if isinstance(value, list) else [value]  # type: ignore[list-item]


def test_resource_properties_carry_no_secret(synthesized) -> None:
    """The Provider framework logs ResourceProperties and anyone who may describe the stack sees them."""
    resource = only(synthesized.product_json, "Custom::GitLabSeedCode")["Properties"]
    text = json.dumps(resource)
    assert "GitLabTokenSecretName" not in resource and "token" not in {k.lower() for k in resource}
    assert resource["GitLabTokenSecretArn"] == in_map("TokenSecretArn")  # the ARN only, never a value
    for variables in (resource["ModelBuildVariables"], resource["ModelDeployVariables"]):
        for variable in variables:
            assert not re.search(r"SECRET|PASSWORD|PRIVATE|TOKEN|ACCESS_KEY|CREDENTIAL", variable["Key"]), variable
            # Every value is a literal or names a resource of the template: nothing is read from a secret.
            assert "resolve:secretsmanager" not in json.dumps(variable["Value"])
    assert "{{resolve:" not in text


def test_approval_rule_pattern_target_retry_and_dlq(synthesized) -> None:
    rule = only(synthesized.product_json, "AWS::Events::Rule")["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        # Rejections re-arm a version: approving it again deploys again.
        "detail": {"ModelPackageGroupName": [PROJECT], "ModelApprovalStatus": ["Approved", "Rejected"]},
    }
    (target,) = rule["Targets"]
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 8}
    assert "DeadLetterConfig" in target
    dlq_id, dlq = next(iter(resources_of(synthesized.product_json, "AWS::SQS::Queue").items()))
    assert list(dlq["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"]) == [
        next(k for k in synthesized.product_json["Resources"] if k.startswith("OperationsKey")),
        "Arn",
    ]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    # A failed run of the function (not only a failed delivery) is retried, then kept.
    functions = resources_of(synthesized.product_json, "AWS::Lambda::Function")
    trigger_id = next(k for k, f in functions.items() if f["Properties"]["Handler"].startswith("gitlab_trigger"))
    assert functions[trigger_id]["Properties"]["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    synthesized.product.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": trigger_id}, "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 6 * 3600},
    )


def test_approval_rule_name_fits_64_characters_for_the_longest_project(synthesized) -> None:
    rule = only(synthesized.product_json, "AWS::Events::Rule")["Properties"]
    longest = {"SageMakerProjectName": "n" * 32, "SageMakerProjectId": "p-" + "x" * 12}
    parts = rule["Name"]["Fn::Join"][1]
    name = "".join(longest[p["Ref"]] if isinstance(p, dict) else p for p in parts)
    assert len(name) <= 64, name


def test_rule_pattern_matches_the_event_sagemaker_sends(synthesized) -> None:
    pattern = json.loads(
        json.dumps(only(synthesized.product_json, "AWS::Events::Rule")["Properties"]["EventPattern"]).replace(
            json.dumps(PROJECT), '"churn-p-abc123def456"'
        )
    )
    event = {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Package State Change",
        "detail": {"ModelPackageGroupName": "churn-p-abc123def456", "ModelApprovalStatus": "Approved"},
    }
    assert EventPattern.load(json.dumps(pattern)).matches_event(event)
    pending = {**event, "detail": {**event["detail"], "ModelApprovalStatus": "PendingManualApproval"}}
    rejected = {**event, "detail": {**event["detail"], "ModelApprovalStatus": "Rejected"}}
    assert EventPattern.load(json.dumps(pattern)).matches_event(rejected)
    assert not EventPattern.load(json.dumps(pattern)).matches_event(pending)


def test_trigger_gets_the_deploy_project_id_recorded_at_seeding(synthesized) -> None:
    functions = resources_of(synthesized.product_json, "AWS::Lambda::Function")
    trigger = next(f for f in functions.values() if f["Properties"]["Handler"].startswith("gitlab_trigger"))
    env = trigger["Properties"]["Environment"]["Variables"]
    custom_id = next(iter(resources_of(synthesized.product_json, "Custom::GitLabSeedCode")))
    assert env["GITLAB_DEPLOY_PROJECT_ID"] == {"Fn::GetAtt": [custom_id, "ModelDeployProjectId"]}
    assert env["MODEL_PACKAGE_GROUP_NAME"] == PROJECT
    assert env["DEPLOY_BRANCH"] == "main"


def test_both_lambdas_join_the_vpc_only_when_subnets_are_given(synthesized) -> None:
    conditions = synthesized.product_json["Conditions"]
    (condition_id,) = [k for k in conditions if "InVpc" in k]
    assert conditions[condition_id] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SubnetIds"}, ""]}]}
    functions = resources_of(synthesized.product_json, "AWS::Lambda::Function")
    ours = [f for f in functions.values() if f["Properties"]["Handler"] != "framework.onEvent"]
    assert len(ours) == 2
    for function in ours:
        branch = function["Properties"]["VpcConfig"]["Fn::If"]
        assert branch[0] == condition_id
        assert branch[1]["SubnetIds"] == {"Fn::Split": [",", {"Ref": "SubnetIds"}]}
        assert branch[2] == {"Ref": "AWS::NoValue"}
    (rule,) = synthesized.product_json["Rules"].values()
    assert "SecurityGroupId is required" in rule["Assertions"][0]["AssertDescription"]


def test_approval_records_table_is_on_demand_encrypted_and_expires(synthesized) -> None:
    table = only(synthesized.product_json, "AWS::DynamoDB::Table")["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"]["SSEEnabled"] is True and table["SSESpecification"]["SSEType"] == "KMS"
    assert "OperationsKey" in json.dumps(table["SSESpecification"]["KMSMasterKeyId"])
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


def test_every_role_of_the_product_carries_the_permissions_boundary(synthesized) -> None:
    roles = resources_of(synthesized.product_json, "AWS::IAM::Role")
    assert len(roles) >= 7
    for logical_id, role in roles.items():
        assert role["Properties"]["PermissionsBoundary"] == (
            "arn:aws:iam::111111111111:policy/mlops-gitlab-project-permissions-boundary"
        ), logical_id


def oidc_trust(synthesized, repo_param: str) -> dict:
    for role in resources_of(synthesized.product_json, "AWS::IAM::Role").values():
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        if statement["Action"] == "sts:AssumeRoleWithWebIdentity":
            sub = statement["Condition"]["StringEquals"]["gitlab.example.com:sub"]
            if {"Ref": repo_param} in sub["Fn::Join"][1]:
                return statement
    raise AssertionError(f"no OIDC role trusts the {repo_param} repository")


@pytest.mark.parametrize("repo_param", ["ModelBuildRepoName", "ModelDeployRepoName"])
def test_ci_roles_trust_only_their_repository_on_the_default_branch(synthesized, repo_param: str) -> None:
    statement = oidc_trust(synthesized, repo_param)
    assert statement["Principal"] == {"Federated": "arn:aws:iam::111111111111:oidc-provider/gitlab.example.com"}
    condition = statement["Condition"]["StringEquals"]
    assert condition["gitlab.example.com:aud"] == "sts.amazonaws.com"
    assert condition["gitlab.example.com:sub"] == {
        "Fn::Join": [
            "",
            [
                "project_path:",
                in_map("Namespace"),
                "/",
                {"Ref": repo_param},
                ":ref_type:branch:ref:main",
            ],
        ]
    }


def test_pass_role_is_limited_to_sagemaker(synthesized) -> None:
    for policy in resources_of(synthesized.product_json, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "iam:PassRole" in actions:
                assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
                assert statement["Resource"] != "*"


def test_seed_assets_hold_the_seed_repositories_without_local_state(synthesized, repo_root) -> None:
    resource = only(synthesized.product_json, "Custom::GitLabSeedCode")["Properties"]
    for prop, repo in (("ModelBuildSeedCode", "model-build"), ("ModelDeploySeedCode", "model-deploy")):
        asset_hash = resource[prop]["Key"].removesuffix(".zip")
        staged = synthesized.outdir / f"asset.{asset_hash}"
        files = {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()}
        assert ".gitlab-ci.yml" in files, f"{repo} seed lacks .gitlab-ci.yml"
        assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
        # Exactly the repository's files (tracked, or new and not ignored): no caches or run state.
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "."],
            cwd=repo_root / "seedcode" / repo,
            capture_output=True,
            check=True,
        ).stdout.decode()
        expected = {name for name in listed.split("\0") if name and (repo_root / "seedcode" / repo / name).is_file()}
        assert files == expected


def test_lambda_assets_bundle_handlers_and_pinned_dependencies(synthesized) -> None:
    functions = resources_of(synthesized.product_json, "AWS::Lambda::Function")
    for function in functions.values():
        handler = function["Properties"]["Handler"]
        if handler == "framework.onEvent":
            continue
        key = function["Properties"]["Code"]["S3Key"]
        staged = synthesized.outdir / f"asset.{key.removesuffix('.zip')}"
        package = handler.split(".")[0]
        assert (staged / package / "handler.py").is_file()
        assert (staged / "gitlab_host" / "__init__.py").is_file()
        assert (staged / "gitlab").is_dir(), "python-gitlab is not bundled"
        assert (staged / "aws_lambda_powertools").is_dir()
        pydantic_core = list((staged / "pydantic_core").glob("_pydantic_core.cpython-314-x86_64-linux-gnu.so"))
        assert pydantic_core, "pydantic_core must be the Lambda platform's (cp314 manylinux x86_64) build"


def test_deploy_repo_promotes_across_accounts_through_the_pipeline_role(synthesized) -> None:
    """config/default.yaml configures staging 333333333333 and production 222222222222."""
    resource = only(synthesized.product_json, "Custom::GitLabSeedCode")["Properties"]
    deploy_vars = {v["Key"]: v["Value"] for v in resource["ModelDeployVariables"]}
    pipeline_role = "arn:aws:iam::111111111111:role/mlops-gitlab-multi-account-pipeline"
    assert (
        deploy_vars["DEPLOY_ROLE_ARN_STAGING"] == f"{pipeline_role},arn:aws:iam::333333333333:role/sagemaker-role-mlops"
    )
    assert deploy_vars["DEPLOY_ROLE_ARN_PROD"] == f"{pipeline_role},arn:aws:iam::222222222222:role/sagemaker-role-mlops"
    assert (
        deploy_vars["SAGEMAKER_EXECUTION_ROLE_ARN_PROD"]
        == "arn:aws:iam::222222222222:role/sagemaker-execution-role-mlops"
    )
    # The deploy CI role may assume the pipeline role, which trusts roles under the deploy CI path only.
    synthesized.product.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [{"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": pipeline_role}]
                )
            }
        },
    )
    synthesized.product.has_resource_properties(
        "AWS::IAM::Role",
        {
            "Path": "/mlops-gitlab/deploy-ci/",
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Action": "sts:AssumeRoleWithWebIdentity"})]}
            ),
        },
    )
    synthesized.platform.has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "mlops-gitlab-multi-account-pipeline",
            "AssumeRolePolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "sts:AssumeRole",
                                "Condition": {
                                    "ArnLike": {
                                        "aws:PrincipalArn": "arn:aws:iam::111111111111:role/mlops-gitlab/deploy-ci/*"
                                    }
                                },
                            }
                        )
                    ]
                )
            },
        },
    )


def test_artifacts_and_registry_are_readable_by_the_target_accounts_only(synthesized) -> None:
    group = only(synthesized.product_json, "AWS::SageMaker::ModelPackageGroup")["Properties"]
    policy = group["ModelPackageGroupPolicy"]
    principals = json.dumps(policy)
    assert "333333333333" in principals and "222222222222" in principals
    statements = [
        s
        for p in resources_of(synthesized.product_json, "AWS::S3::BucketPolicy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid", "").startswith("CrossAccount")
    ]
    assert statements, "the artifact bucket has no cross-account read statements"
    for statement in statements:
        accounts = {json.dumps(p) for p in statement["Principal"]["AWS"]}
        assert all("333333333333" in a or "222222222222" in a for a in accounts)
