"""Multi-account promotion in emulated accounts (moto: sts.assume_role into other account IDs).

The target-account stack is deployed into the staging and production accounts from its synthesized
template; the data science account's pipeline role assumes `sagemaker-role-<suffix>` in each and
deploys the endpoint stack the pipeline's Build step prepares. moto does not evaluate trust policies,
so `assume_as` does what STS does before it hands out credentials: it refuses a role that is missing,
and decides with a maintained IAM policy simulator (`tooling.iam_simulator`, conditions included)
whether the deployed trust policy and the caller's own policy allow the AssumeRole.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from stacks.components.multi_account_deploy import deploy
from stacks.components.multi_account_pipeline import deploy_source_directory
from tooling.account_policy_check import PolicyGrantError, check_grants_only, check_trusts_only
from tooling.iam_simulator import IamRequest, allowed

pytestmark = pytest.mark.xdist_group("cdk")

SEED = Path(__file__).resolve().parents[2] / "seedcode" / "model-deploy"
REGION = "eu-west-1"
OUTSIDER = "444444444444"


def admin(account: str) -> boto3.Session:
    """Administrator session in an emulated account."""
    return deploy.assume_target_role(
        boto3.client("sts", region_name=REGION),
        account=account,
        role_name="OrganizationAccountAccessRole",
        session_name="admin",
        region=REGION,
    )


class Refused(Exception):
    """STS would refuse this AssumeRole."""


def assume_role_request(caller_arn: str, caller_policies: list[dict], role_arn: str, trust: dict) -> IamRequest:
    """The AssumeRole STS evaluates: the caller's session, its own policies, the role's trust policy."""
    account, name = caller_arn.split(":")[4], caller_arn.rsplit("/", 1)[-1]
    return IamRequest(
        principal=f"arn:aws:sts::{account}:assumed-role/{name}/pipeline",
        action="sts:AssumeRole",
        resource=role_arn,
        resource_account=role_arn.split(":")[4],
        identity_policies=caller_policies,
        resource_policy=trust,
        context={"aws:PrincipalArn": caller_arn, "aws:PrincipalAccount": account},
    )


def assume_as(
    caller: boto3.Session, caller_arn: str, caller_policies: list[dict], account: str, role_name: str
) -> boto3.Session:
    """AssumeRole from `caller`, refused (as STS would) unless the role exists and IAM allows it."""
    try:
        role = admin(account).client("iam").get_role(RoleName=role_name)["Role"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchEntity":
            raise
        raise Refused(f"account {account} has no role {role_name}") from None
    if not allowed(assume_role_request(caller_arn, caller_policies, role["Arn"], role["AssumeRolePolicyDocument"])):
        raise Refused(f"{role_name} in {account} does not let {caller_arn} assume it")
    return deploy.assume_target_role(
        caller.client("sts"), account=account, role_name=role_name, session_name="pipeline", region=REGION
    )


@pytest.fixture()
def aws(monkeypatch: pytest.MonkeyPatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


@pytest.fixture(scope="module")
def pipeline_role_policies(platform_multi_account_policies) -> list[dict]:
    """The identity policies of the platform's multi-account pipeline role (resolved)."""
    return [
        document
        for _, logical_id, kind, document in platform_multi_account_policies
        if logical_id.startswith("MultiAccountPipelineRole") and kind == "policy"
    ]


ASSUME_ANY_ROLE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
}


@pytest.fixture()
def landscape(aws, ma):
    """Target stacks deployed into staging and prod; the DS account's registry holds an approved model."""
    multi = ma.config.multi_account
    for account, template in ((multi.staging_account, ma.staging_json), (multi.prod_account, ma.prod_json)):
        cloudformation = admin(account).client("cloudformation")
        cloudformation.create_stack(
            StackName=f"{ma.config.name}-target",
            TemplateBody=json.dumps(template),
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        assert (
            cloudformation.describe_stacks(StackName=f"{ma.config.name}-target")["Stacks"][0]["StackStatus"]
            == "CREATE_COMPLETE"
        )
    data_science = admin(ma.config.account)
    pipeline_role_arn = f"arn:aws:iam::{ma.config.account}:role/{ma.config.multi_account_pipeline_role_name}"
    group = "iris-multi-01-p-abc123"
    sagemaker = data_science.client("sagemaker")
    assert deploy.ensure_model_package_group(sagemaker, group) is True
    assert deploy.ensure_model_package_group(sagemaker, group) is False
    sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                    "ModelDataUrl": "s3://sagemaker-project-p-abc123-mlops/model/model.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )
    return {"data_science": data_science, "pipeline_role_arn": pipeline_role_arn, "group": group}


@pytest.fixture()
def landscape_with_policies(landscape, pipeline_role_policies):
    return {**landscape, "pipeline_policies": pipeline_role_policies}


def test_target_roles_deployed_trust_only_the_pipeline_role(ma, landscape) -> None:
    multi = ma.config.multi_account
    for account in multi.target_accounts:
        iam = admin(account).client("iam")
        role = iam.get_role(RoleName=multi.target_role_name)["Role"]
        assert role["Arn"] == f"arn:aws:iam::{account}:role/{multi.target_role_name}"
        check_trusts_only(role["AssumeRolePolicyDocument"], [landscape["pipeline_role_arn"]])
        execution = iam.get_role(RoleName=multi.execution_role_name)["Role"]
        assert "sagemaker.amazonaws.com" in json.dumps(execution["AssumeRolePolicyDocument"])


def test_pipeline_deploys_the_endpoint_stack_into_staging_and_prod(ma, landscape_with_policies, tmp_path: Path) -> None:
    landscape = landscape_with_policies
    multi = ma.config.multi_account
    resource_base = f"sagemaker-{landscape['group']}"
    written = deploy.prepare(
        landscape["data_science"].client("sagemaker"),
        group_name=landscape["group"],
        resource_base=resource_base,
        execution_role_names={"staging": multi.execution_role_name, "prod": multi.execution_role_name},
        instance_types={"staging": "ml.m5.large", "prod": "ml.c5.xlarge"},
        outdir=tmp_path,
        source_dir=deploy_source_directory(),
    )
    template = written["template"].read_text()
    pipeline = admin(ma.config.account)  # stands for the CodeBuild step running as the pipeline role
    deployed: dict[str, str] = {}
    for stage, account in (("staging", multi.staging_account), ("prod", multi.prod_account)):
        session = assume_as(
            pipeline, landscape["pipeline_role_arn"], landscape["pipeline_policies"], account, multi.target_role_name
        )
        assert session.client("sts").get_caller_identity()["Account"] == account
        parameters = json.loads(written[stage].read_text())
        values = {p["ParameterKey"]: p["ParameterValue"] for p in parameters}
        assert (values["ResourceName"], values["StageName"]) == (resource_base, stage)
        # The deploy repository's stage settings (auto scaling, alarms) apply to both paths.
        settings = json.loads((SEED / f"{stage}-config.json").read_text())["Parameters"]
        assert values["AutoScalingMaxCapacity"] == settings["AutoScalingMaxCapacity"]
        assert values["EndpointInstanceType"] == {"staging": "ml.m5.large", "prod": "ml.c5.xlarge"}[stage]
        cloudformation = session.client("cloudformation")
        stack_name = f"{resource_base}-{stage}"
        cloudformation.create_stack(StackName=stack_name, TemplateBody=template, Parameters=parameters)
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        # moto names SageMaker resources created by CloudFormation itself (it ignores EndpointName and
        # ModelName), so the names come from the stack; the template tests check the real names.
        endpoint_name = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["EndpointName"]
        resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
        }
        sagemaker = session.client("sagemaker")
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
        assert endpoint["EndpointArn"].split(":")[4] == account
        model = sagemaker.describe_model(ModelName=resources["Model"].rsplit("/", 1)[-1])
        assert model["ExecutionRoleArn"] == f"arn:aws:iam::{account}:role/{multi.execution_role_name}"
        assert model["PrimaryContainer"]["ModelDataUrl"].startswith("s3://sagemaker-project-")
        assert deploy.check_endpoint(session, endpoint_name, "0.5,0.4")
        deployed[account] = endpoint_name
    # Each account got its own endpoint only.
    names = {
        account: [e["EndpointName"] for e in admin(account).client("sagemaker").list_endpoints()["Endpoints"]]
        for account in multi.target_accounts
    }
    assert names == {account: [name] for account, name in deployed.items()}


def test_a_stage_without_the_role_is_refused(ma, landscape, pipeline_role_policies) -> None:
    with pytest.raises(Refused, match=f"account {OUTSIDER} has no role sagemaker-role-"):
        assume_as(
            admin(ma.config.account),
            landscape["pipeline_role_arn"],
            pipeline_role_policies,
            OUTSIDER,
            ma.config.multi_account.target_role_name,
        )


def test_another_data_science_principal_is_refused_even_if_its_own_policy_allows_everything(ma, landscape) -> None:
    other = f"arn:aws:iam::{ma.config.account}:role/some-other-role"
    with pytest.raises(Refused, match="does not let"):
        assume_as(
            admin(ma.config.account),
            other,
            [ASSUME_ANY_ROLE],
            ma.config.multi_account.staging_account,
            ma.config.multi_account.target_role_name,
        )


def test_the_refusal_is_decided_by_the_trust_a_widened_trust_lets_the_other_principal_in(ma, landscape) -> None:
    """Were the target role to trust the data science account's root, the refusal above would fail."""
    multi = ma.config.multi_account
    role = admin(multi.staging_account).client("iam").get_role(RoleName=multi.target_role_name)["Role"]
    other = f"arn:aws:iam::{ma.config.account}:role/some-other-role"
    widened = json.loads(json.dumps(role["AssumeRolePolicyDocument"]))
    widened["Statement"][0]["Principal"] = {"AWS": f"arn:aws:iam::{ma.config.account}:root"}

    assert not allowed(assume_role_request(other, [ASSUME_ANY_ROLE], role["Arn"], role["AssumeRolePolicyDocument"]))
    assert allowed(assume_role_request(other, [ASSUME_ANY_ROLE], role["Arn"], widened))


def test_artifact_bucket_policy_in_the_data_science_account_admits_only_the_targets(ma, landscape, resolve) -> None:
    multi = ma.config.multi_account
    (policy,) = [
        r
        for r in ma.product_json["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": "MlOpsArtifactsBucket"}
    ]
    document = resolve(policy["Properties"]["PolicyDocument"], ma.product_json, account=ma.config.account)
    bucket = "sagemaker-project-p-abc123-mlops"
    document = json.loads(json.dumps(document).replace("arn:aws:s3:::mlopsartifactsbucket", f"arn:aws:s3:::{bucket}"))
    s3 = landscape["data_science"].client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document))
    deployed = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    check_grants_only(deployed, [ma.config.account, *multi.target_accounts], what=bucket)
    widened = json.loads(deployed)
    widened["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OUTSIDER}:root"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(widened))
    with pytest.raises(PolicyGrantError, match=OUTSIDER):
        check_grants_only(
            s3.get_bucket_policy(Bucket=bucket)["Policy"], [ma.config.account, *multi.target_accounts], what=bucket
        )


def test_delegated_admin_stack_set_deployment_uses_call_as(aws, ma) -> None:
    cloudformation = admin(ma.config.account).client("cloudformation")
    calls = []
    cloudformation.meta.events.register(
        "provide-client-params.cloudformation.*",
        lambda params, model, **_: calls.append((model.name, params.get("CallAs"))),
    )
    template = (deploy_source_directory() / deploy.TEMPLATE_FILE).read_text()
    name = "sagemaker-iris-multi-01-p-abc123-deploy-staging"
    for _ in range(2):  # create, then update
        operations = deploy.deploy_stack_set(
            cloudformation,
            stack_set_name=name,
            template_body=template,
            parameters=[{"ParameterKey": "ResourceName", "ParameterValue": "x"}],
            ou_id=ma.config.multi_account.staging_ou_id,
            region=REGION,
            poll_seconds=0,
        )
        assert len(operations) == 1
    called = [c for c in calls if c[0] != "DescribeStackSetOperation"]
    assert [c[0] for c in called] == [
        "DescribeStackSet",
        "CreateStackSet",
        "CreateStackInstances",
        "DescribeStackSet",
        "UpdateStackSet",
    ]
    assert {call_as for _, call_as in calls} == {"DELEGATED_ADMIN"}
    assert (
        cloudformation.describe_stack_set(StackSetName=name, CallAs="DELEGATED_ADMIN")["StackSet"]["PermissionModel"]
        == "SERVICE_MANAGED"
    )
