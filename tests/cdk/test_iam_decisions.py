"""What the synthesized IAM policies allow and refuse, decided by an IAM policy simulator.

The templates' expressions are resolved for one launch (project `MyProject`, capitals included)
with the local lifecycle's template resolver; `Custom::ProjectNames` is answered by its real
handler; `tooling.iam_simulator` (@cloud-copilot/iam-simulate) decides every request, conditions
included. Each refusal is paired with the request the policy must allow, so a test cannot pass
by refusing everything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local_lifecycle.product_template import ProductTemplate
from seed_code_checkin.names import handle_project_names
from tooling.iam_simulator import IamRequest, decide

pytestmark = pytest.mark.xdist_group("cdk")

ACCOUNT, REGION = "111111111111", "eu-west-1"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}
_ARN_OF_TYPE = {
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
    "AWS::CodeBuild::Project": "arn:aws:codebuild:{region}:{account}:project/{name}",
    "AWS::SageMaker::ModelPackageGroup": "arn:aws:sagemaker:{region}:{account}:model-package-group/{name}",
}


@dataclass
class Launch:
    """One template resolved for one launch: its policies by role, as IAM sees them."""

    template: ProductTemplate
    refs: dict[str, Any]
    attributes: dict[tuple[str, str], Any]

    def value(self, expression: Any) -> Any:
        return self.template.resolve(expression, self.refs, self.attributes)

    def role_arn(self, prefix: str) -> str:
        return str(self.attributes[(self._role_id(prefix), "Arn")])

    def trust(self, prefix: str) -> dict:
        return self.value(
            self.template.template["Resources"][self._role_id(prefix)]["Properties"]["AssumeRolePolicyDocument"]
        )

    def policies(self, prefix: str) -> list[dict]:
        role_id = self._role_id(prefix)
        return [
            self.value(resource["Properties"]["PolicyDocument"])
            for resource in self.template.resources("AWS::IAM::Policy").values()
            if {"Ref": role_id} in resource["Properties"].get("Roles", [])
        ]

    def _role_id(self, prefix: str) -> str:
        (role_id,) = [k for k in self.template.resources("AWS::IAM::Role") if k.startswith(prefix)]
        return role_id


def launch(path: Path, parameters: dict[str, str]) -> Launch:
    template = ProductTemplate(path)
    refs: dict[str, Any] = {**template.parameter_defaults(), **PSEUDO, **parameters}
    attributes: dict[tuple[str, str], Any] = {}
    for logical_id, resource in template.template["Resources"].items():
        name = f"{refs.get('SageMakerProjectId', 'platform')}-{logical_id.lower()[:30]}"
        refs.setdefault(logical_id, name)
        pattern = _ARN_OF_TYPE.get(resource["Type"])
        if pattern:
            path_prefix = (
                resource["Properties"].get("Path", "/").lstrip("/") if resource["Type"] == "AWS::IAM::Role" else ""
            )
            attributes[(logical_id, "Arn")] = pattern.format(account=ACCOUNT, region=REGION, name=path_prefix + name)
    for logical_id, resource in template.resources("AWS::S3::Bucket").items():
        if "BucketName" in resource["Properties"]:
            name = template.resolve(resource["Properties"]["BucketName"], refs, attributes)
            refs[logical_id], attributes[(logical_id, "Arn")] = name, f"arn:aws:s3:::{name}"
    result = Launch(template, refs, attributes)
    for logical_id, resource in template.resources("Custom::ProjectNames").items():
        properties = result.value({k: v for k, v in resource["Properties"].items() if k != "ServiceToken"})
        names = handle_project_names({"RequestType": "Create", "ResourceProperties": properties})
        attributes.update({(logical_id, key): value for key, value in names["Data"].items()})
    return result


PROJECT = {"SageMakerProjectName": "MyProject", "SageMakerProjectId": "p-abc123def456"}


@pytest.fixture(scope="module")
def product(synthesized) -> Launch:
    return launch(
        synthesized.product_path,
        {
            **PROJECT,
            "ModelBuildRepoName": "my-build",
            "ModelDeployRepoName": "my-deploy",
            "GitLabConnection": "ml-team",
        },
    )


@pytest.fixture(scope="module")
def platform(synthesized) -> Launch:
    return launch(synthesized.outdir / "mlops-gitlab-platform.template.json", {})


def session(role_arn: str) -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/session"


def as_role(launch_: Launch, prefix: str, action: str, resource: str, **context: Any) -> IamRequest:
    role = launch_.role_arn(prefix)
    return IamRequest(
        principal=session(role),
        action=action,
        resource=resource,
        resource_account=ACCOUNT,
        identity_policies=launch_.policies(prefix),
        context={"aws:PrincipalArn": role, **context},
    )


def sagemaker(resource: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{resource}"


def test_a_project_named_MyProject_works_with_the_lower_cased_arns_sagemaker_uses(product: Launch) -> None:  # noqa: N802
    group = "myproject-p-abc123def456"  # SageMaker writes names lower-cased in ARNs
    assert (
        decide(
            [
                as_role(product, "RolesBuildCi", "sagemaker:StartPipelineExecution", sagemaker(f"pipeline/{group}")),
                as_role(
                    product,
                    "RolesPipelineExecution",
                    "sagemaker:CreateModelPackage",
                    sagemaker(f"model-package/{group}/1"),
                ),
                as_role(
                    product, "RolesDeployCi", "sagemaker:DescribeModelPackage", sagemaker(f"model-package/{group}/1")
                ),
                as_role(
                    product,
                    "RolesPipelineExecution",
                    "sagemaker:CreateTrainingJob",
                    sagemaker(f"training-job/{group}-train"),
                ),
            ]
        )
        == ["Allowed"] * 4
    )


def test_project_abc_cannot_touch_project_abc_defs_resources(product: Launch) -> None:
    """Same name prefix, other project (ID): every decision is made on the project ID."""
    mine, theirs = "p-abc123def456", "p-999999999999"
    tag = "aws:ResourceTag/sagemaker:project-id"
    decisions = decide(
        [
            # endpoints of this project (tagged with its ID) and of `MyProject-def`
            as_role(
                product,
                "RolesDeployCi",
                "sagemaker:DeleteEndpoint",
                sagemaker("endpoint/myproject-staging"),
                **{tag: mine},
            ),
            as_role(
                product,
                "RolesDeployCi",
                "sagemaker:DeleteEndpoint",
                sagemaker("endpoint/myproject-def-staging"),
                **{tag: theirs},
            ),
            as_role(
                product,
                "RolesDeployCi",
                "sagemaker:InvokeEndpoint",
                sagemaker("endpoint/myproject-def-prod"),
                **{tag: theirs},
            ),
            as_role(
                product,
                "RolesDeployCi",
                "sagemaker:CreateEndpoint",
                sagemaker("endpoint/myproject-def-staging"),
                **{"aws:RequestTag/sagemaker:project-id": mine},
            ),
            # stacks and their alarms
            as_role(
                product,
                "RolesDeployCi",
                "cloudformation:DeleteStack",
                f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/sagemaker-MyProject-{mine}-deploy-prod/1",
            ),
            as_role(
                product,
                "RolesDeployCi",
                "cloudformation:DeleteStack",
                f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/sagemaker-MyProject-def-{theirs}-deploy-prod/1",
            ),
            as_role(
                product,
                "RolesDeployCi",
                "cloudwatch:DeleteAlarms",
                f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:sagemaker-MyProject-def-{theirs}-deploy-prod-Latency-1",
            ),
            # pipelines and jobs
            as_role(
                product,
                "RolesBuildCi",
                "sagemaker:StartPipelineExecution",
                sagemaker(f"pipeline/myproject-def-{theirs}"),
            ),
            as_role(
                product,
                "RolesPipelineExecution",
                "sagemaker:StopTrainingJob",
                sagemaker(f"training-job/myproject-def-{theirs}-t"),
            ),
        ]
    )
    assert decisions[0] == decisions[4] == "Allowed"
    assert set(decisions[1:4] + decisions[5:]) == {"ImplicitlyDenied"}, decisions


def test_tags_can_only_be_set_while_creating_endpoint_resources(product: Launch) -> None:
    """A bare AddTags could re-tag another project's endpoint as this project's, then delete it."""
    request_tag = {"aws:RequestTag/sagemaker:project-id": "p-abc123def456"}
    assert decide(
        [
            as_role(
                product,
                "RolesDeployCi",
                "sagemaker:AddTags",
                sagemaker("model/m-1"),
                **request_tag,
                **{"sagemaker:TaggingAction": "CreateModel"},
            ),
            as_role(product, "RolesDeployCi", "sagemaker:AddTags", sagemaker("model/m-1"), **request_tag),
        ]
    ) == ["Allowed", "ImplicitlyDenied"]


def test_the_endpoint_role_reads_the_model_prefix_only_and_writes_only_data_capture(product: Launch) -> None:
    bucket = "arn:aws:s3:::sagemaker-project-p-abc123def456-artifacts"
    model = f"{bucket}/MyProject-p-abc123def456/exec-1/model/model.tar.gz"
    assert decide(
        [
            as_role(product, "RolesEndpointExecution", "s3:GetObject", model),
            as_role(
                product, "RolesEndpointExecution", "s3:PutObject", f"{bucket}/datacapture-staging/AllTraffic/1.jsonl"
            ),
            as_role(product, "RolesEndpointExecution", "s3:GetObject", f"{bucket}/input/abalone.csv"),
            as_role(product, "RolesEndpointExecution", "s3:PutObject", model),
            as_role(product, "RolesEndpointExecution", "s3:DeleteObject", model),
        ]
    ) == ["Allowed", "Allowed", "ImplicitlyDenied", "ImplicitlyDenied", "ImplicitlyDenied"]


def test_sagemaker_jobs_and_endpoints_pull_every_ml_core_image_the_platform_publishes(
    product: Launch, platform: Launch
) -> None:
    """The images the platform builds (XGBoost and PyTorch, CPU and CUDA) are in this account's ECR: the
    pipeline role (training, processing) and the endpoint role pull them; no role pulls another account's."""
    parameters = platform.template.resources("AWS::SSM::Parameter").values()
    uris = {
        parameter["Properties"]["Name"].rsplit("/", 1)[-1]: str(platform.value(parameter["Properties"]["Value"]))
        for parameter in parameters
        if parameter["Properties"]["Name"].startswith("/mlops-gitlab/images/")
    }
    assert sorted(uris) == ["pytorch-cpu", "pytorch-gpu", "xgboost-cpu", "xgboost-gpu"]
    repositories = set()
    for uri in uris.values():
        registry, _, path = uri.partition("/")
        assert registry == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com", uri
        repositories.add(f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{path.split(':')[0]}")
    elsewhere = f"arn:aws:ecr:{REGION}:222222222222:repository/pytorch"
    requests, expected = [], []
    for role in ("RolesPipelineExecution", "RolesEndpointExecution"):
        for repository in sorted(repositories):
            requests += [as_role(product, role, action, repository) for action in PULL]
            expected += ["Allowed"] * len(PULL)
        requests.append(as_role(product, role, "ecr:BatchGetImage", elsewhere))
        expected.append("ImplicitlyDenied")
    assert decide(requests) == expected


PULL = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")


# --- the platform: launch role and multi-account pipeline role ------------------------------------


# The key policy CDK gives every key: IAM policies of the account decide (KMS needs this delegation).
KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
    ],
}


def launch_role_request(platform: Launch, action: str, resource: str, **context: Any) -> IamRequest:
    (role_id,) = [k for k in platform.template.resources("AWS::IAM::Role") if k.startswith("LaunchRole")]
    role = platform.attributes[(role_id, "Arn")]
    return IamRequest(
        principal=session(role),
        action=action,
        resource=resource,
        resource_account=ACCOUNT,
        identity_policies=platform.policies("LaunchRole"),
        resource_policy=KEY_POLICY if action.startswith("kms:") else None,
        context={"aws:PrincipalArn": role, **context},
    )


def test_the_launch_role_is_scoped_to_what_service_catalog_provisions(platform: Launch) -> None:
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/mlops-gitlab-project-permissions-boundary"
    sc_stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/SC-{ACCOUNT}-pp-abcdefgh/1"
    sc_role = f"arn:aws:iam::{ACCOUNT}:role/SC-{ACCOUNT}-pp-abcdefgh-RolesBuildCiRole-1"
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234"
    cases = {
        "CreateStack on a Service Catalog stack": (("cloudformation:CreateStack", sc_stack), {}, "Allowed"),
        "DeleteStack on another stack": (
            ("cloudformation:DeleteStack", f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/prod-database/1"),
            {},
            "ImplicitlyDenied",
        ),
        "Decrypt with a platform key": (
            ("kms:Decrypt", key),
            {"aws:ResourceTag/mlops-platform": "mlops-gitlab"},
            "Allowed",
        ),
        "Decrypt with any other key": (("kms:Decrypt", key), {}, "ImplicitlyDenied"),
        "read the platform's image parameter": (
            ("ssm:GetParameters", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/mlops-gitlab/images/xgboost-cpu"),
            {},
            "Allowed",
        ),
        "read the platform's PyTorch GPU image parameter": (
            ("ssm:GetParameters", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/mlops-gitlab/images/pytorch-gpu"),
            {},
            "Allowed",
        ),
        "read another SecureString": (
            ("ssm:GetParameters", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/prod/db/password"),
            {},
            "ImplicitlyDenied",
        ),
        "create a role with the boundary": (
            ("iam:CreateRole", sc_role),
            {"iam:PermissionsBoundary": boundary},
            "Allowed",
        ),
        "create a role without it": (("iam:CreateRole", sc_role), {}, "ImplicitlyDenied"),
        "remove a role's boundary": (("iam:DeleteRolePermissionsBoundary", sc_role), {}, "ImplicitlyDenied"),
        "pass a project role to Lambda": (
            ("iam:PassRole", sc_role),
            {"iam:PassedToService": "lambda.amazonaws.com"},
            "Allowed",
        ),
        "pass it to EC2": (("iam:PassRole", sc_role), {"iam:PassedToService": "ec2.amazonaws.com"}, "ImplicitlyDenied"),
        "the project's approval rule": (
            ("events:PutRule", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/MyProject-p-abc123def456-approved"),
            {},
            "Allowed",
        ),
        "another rule": (
            ("events:PutTargets", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/billing-alerts"),
            {},
            "ImplicitlyDenied",
        ),
    }
    requests = [launch_role_request(platform, *call, **context) for call, context, _ in cases.values()]
    decisions = dict(zip(cases, decide(requests), strict=True))
    assert decisions == {name: expected for name, (_, _, expected) in cases.items()}


def test_only_service_catalog_of_this_account_may_assume_the_launch_role(platform: Launch) -> None:
    (role_id,) = [k for k in platform.template.resources("AWS::IAM::Role") if k.startswith("LaunchRole")]
    trust = platform.value(platform.template.template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"])

    def from_service_catalog(account: str) -> IamRequest:
        return IamRequest(
            principal="servicecatalog.amazonaws.com",
            action="sts:AssumeRole",
            resource=platform.attributes[(role_id, "Arn")],
            resource_account=ACCOUNT,
            resource_policy=trust,
            context={"aws:SourceAccount": account},
        )

    assert decide([from_service_catalog(ACCOUNT), from_service_catalog("999999999999")]) == [
        "Allowed",
        "ImplicitlyDenied",
    ]


def pipeline_role_assumption(platform: Launch, caller: str, trust: dict, **context: Any) -> IamRequest:
    (role_id,) = [k for k in platform.template.resources("AWS::IAM::Role") if k.startswith("MultiAccountPipelineRole")]
    return IamRequest(
        principal=session(caller),
        action="sts:AssumeRole",
        resource=f"arn:aws:iam::{ACCOUNT}:role/mlops-gitlab-multi-account-pipeline",
        resource_account=ACCOUNT,
        identity_policies=[
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
        ],
        resource_policy=trust,
        context={"aws:PrincipalArn": caller, **context},
    )


def test_the_pipeline_role_trusts_deploy_ci_roles_not_a_tag_anyone_may_set(platform: Launch) -> None:
    (role_id,) = [k for k in platform.template.resources("AWS::IAM::Role") if k.startswith("MultiAccountPipelineRole")]
    trust = platform.value(platform.template.template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"])
    deploy_ci = f"arn:aws:iam::{ACCOUNT}:role/mlops-gitlab/deploy-ci/SC-{ACCOUNT}-pp-x-RolesDeployCiRole-1"
    tagged = f"arn:aws:iam::{ACCOUNT}:role/data-scientist"
    tag = {"aws:PrincipalTag/mlops-gitlab:deploy-ci": "true"}

    assert decide(
        [
            pipeline_role_assumption(platform, deploy_ci, trust),
            pipeline_role_assumption(platform, tagged, trust, **tag),
            pipeline_role_assumption(platform, "arn:aws:iam::444444444444:role/mlops-gitlab/deploy-ci/x", trust),
        ]
    ) == ["Allowed", "ImplicitlyDenied", "ImplicitlyDenied"]

    # The refusal depends on the condition: without it, the self-tagged role gets in.
    widened = json.loads(json.dumps(trust))
    for statement in widened["Statement"]:
        statement.pop("Condition", None) if statement.get("Sid") == "DeployCiRolesOfThisAccount" else None
    assert decide([pipeline_role_assumption(platform, tagged, widened, **tag)]) == ["Allowed"]


@pytest.fixture(scope="module")
def multi_account_product(synthesized) -> Launch:
    (path,) = synthesized.outdir.glob("*MultiAccountTemplate*.product.template.json")
    return launch(path, {"SageMakerProjectName": "Churn", "SageMakerProjectId": "p-abc123def456"})


@pytest.mark.parametrize("template", ["product", "multi_account_product"])
def test_every_permission_of_the_product_roles_fits_in_the_permissions_boundary(
    request: pytest.FixtureRequest, template: str, platform: Launch
) -> None:
    """A role may do only what its policy AND the boundary allow: nothing a project needs is cut off."""
    product: Launch = request.getfixturevalue(template)
    (boundary_id,) = platform.template.resources("AWS::IAM::ManagedPolicy")
    boundary = platform.value(platform.template.template["Resources"][boundary_id]["Properties"]["PolicyDocument"])
    requests: list[IamRequest] = []
    families: set[str] = set()  # wildcard action families of CDK's grants (s3:GetObject*)
    for role_id in product.template.resources("AWS::IAM::Role"):
        for document in product.policies(role_id):
            for statement in document["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                for action in actions:
                    if "*" in action:
                        families.add(action)
                        continue
                    # A statement may list resources of several types (bucket and objects): each request
                    # is the action on one of them, or on any resource ("*"); the simulator says `Error`
                    # where a resource's type does not fit the action.
                    requests += [
                        IamRequest(
                            principal=session(product.role_arn(role_id)),
                            action=action,
                            resource=resource,
                            resource_account=ACCOUNT,
                            identity_policies=[boundary],
                            resource_policy=KEY_POLICY if action.startswith("kms:") else None,
                        )
                        for resource in {*resources, "*"}
                    ]
    decisions = decide(requests, strict=False)
    by_action: dict[str, set[str]] = {}
    for request, decision in zip(requests, decisions, strict=True):
        by_action.setdefault(request.action, set()).add(decision)
    assert len(by_action) > 20
    outside = sorted(action for action, seen in by_action.items() if "Allowed" not in seen)
    assert outside == [], outside
    # Every family is in the boundary as a whole service or as the same family.
    boundary_actions = {a for st in boundary["Statement"] for a in st["Action"]}
    assert (
        sorted(f for f in families if f not in boundary_actions and f"{f.split(':')[0]}:*" not in boundary_actions)
        == []
    )


def test_only_the_configured_redshift_cluster_may_assume_the_redshift_ml_role(product: Launch) -> None:
    """Redshift passes the querying database user's ARN as the external ID; the trust names the cluster's."""
    (role_id,) = [k for k in product.template.resources("AWS::IAM::Role") if k.startswith("RedshiftMl")]
    trust = product.value(product.template.template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"])

    def from_redshift(external_id: str | None) -> IamRequest:
        return IamRequest(
            principal="redshift.amazonaws.com",
            action="sts:AssumeRole",
            resource=product.attributes[(role_id, "Arn")],
            resource_account=ACCOUNT,
            resource_policy=trust,
            context={} if external_id is None else {"sts:ExternalId": external_id},
        )

    dbuser = f"arn:aws:redshift:{REGION}:{ACCOUNT}:dbuser:{{}}/analyst"
    assert decide(
        [
            from_redshift(dbuser.format("analytics")),
            from_redshift(dbuser.format("other-cluster")),
            from_redshift(dbuser.format("analytics").replace(ACCOUNT, "999999999999")),
            from_redshift(None),
        ]
    ) == ["Allowed", "ImplicitlyDenied", "ImplicitlyDenied", "ImplicitlyDenied"]


def test_the_redshift_ml_role_invokes_only_this_project_s_configured_endpoints(product: Launch) -> None:
    """Default `stages: [prod]`: the production endpoint, not staging's, not another project's, nothing else."""
    assert decide(
        [
            as_role(product, "RedshiftMl", "sagemaker:InvokeEndpoint", sagemaker("endpoint/myproject-prod")),
            as_role(product, "RedshiftMl", "sagemaker:InvokeEndpoint", sagemaker("endpoint/myproject-staging")),
            as_role(product, "RedshiftMl", "sagemaker:InvokeEndpoint", sagemaker("endpoint/myproject-def-prod")),
            as_role(product, "RedshiftMl", "sagemaker:DeleteEndpoint", sagemaker("endpoint/myproject-prod")),
        ]
    ) == ["Allowed", "ImplicitlyDenied", "ImplicitlyDenied", "ImplicitlyDenied"]


def test_the_ci_roles_read_what_their_reports_need(product: Launch) -> None:
    """The staging test reads ModelLatency (GetMetricData has no resource); the build reads its jobs' billing."""
    assert decide(
        [
            as_role(product, "RolesDeployCi", "cloudwatch:GetMetricData", "*"),
            as_role(product, "RolesBuildCi", "sagemaker:DescribeTrainingJob", sagemaker("training-job/pipelines-x1")),
            as_role(product, "RolesBuildCi", "sagemaker:DescribeTrainingJob", sagemaker("training-job/other-team")),
            as_role(product, "RolesBuildCi", "sagemaker:StopTrainingJob", sagemaker("training-job/pipelines-x1")),
        ]
    ) == ["Allowed", "Allowed", "ImplicitlyDenied", "ImplicitlyDenied"]
