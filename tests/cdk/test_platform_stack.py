"""Platform stack: the Service Catalog portfolio and product SageMaker Studio shows."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

pytestmark = pytest.mark.xdist_group("cdk")


GITLAB_PRODUCT = "MLOps template for model building, training and deployment with GitLab"


def gitlab_product(synthesized) -> tuple[str, dict]:
    products = synthesized.platform_json["Resources"].items()
    return next(
        (k, v)
        for k, v in products
        if v["Type"] == "AWS::ServiceCatalog::CloudFormationProduct" and v["Properties"]["Name"] == GITLAB_PRODUCT
    )


def test_product_is_visible_in_studio_and_versioned_from_the_product_stack(synthesized) -> None:
    _, product = gitlab_product(synthesized)
    assert {"Key": "sagemaker:studio-visibility", "Value": "true"} in product["Properties"]["Tags"]
    (version,) = product["Properties"]["ProvisioningArtifactParameters"]
    assert version["Name"] == "v1"
    # The version's template is the synthesized product stack, published as a CDK file asset.
    assets = json.loads(next(synthesized.outdir.glob("*platform.assets.json")).read_text())["files"]
    template_asset = next(h for h, a in assets.items() if a["source"]["path"] == synthesized.product_path.name)
    assert version["Info"]["LoadTemplateFromURL"]["Fn::Sub"].endswith(f"/{template_asset}.json")


def test_portfolio_holds_the_product_with_a_launch_role_constraint(synthesized) -> None:
    platform = synthesized.platform
    product_id, _ = gitlab_product(synthesized)
    platform.resource_count_is("AWS::ServiceCatalog::Portfolio", 1)
    platform.has_resource_properties(
        "AWS::ServiceCatalog::PortfolioProductAssociation", {"ProductId": {"Ref": product_id}}
    )
    platform.has_resource_properties(
        "AWS::ServiceCatalog::LaunchRoleConstraint",
        {"ProductId": {"Ref": product_id}, "RoleArn": {"Fn::GetAtt": [Match.string_like_regexp("LaunchRole"), "Arn"]}},
    )
    platform.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [Match.object_like({"Principal": {"Service": "servicecatalog.amazonaws.com"}})]
            }
        },
    )


def test_studio_roles_get_portfolio_access(synthesized) -> None:
    synthesized.platform.has_resource_properties(
        "AWS::ServiceCatalog::PortfolioPrincipalAssociation",
        {
            "PrincipalARN": "arn:aws:iam::111111111111:role/service-role/AmazonSageMaker-ExecutionRole-Studio",
            "PrincipalType": "IAM",
        },
    )


def test_gitlab_oidc_provider_and_image_parameters(synthesized) -> None:
    synthesized.platform.has_resource_properties(
        "AWS::IAM::OIDCProvider", {"Url": "https://gitlab.example.com", "ClientIdList": ["sts.amazonaws.com"]}
    )
    parameters = {
        resource["Properties"]["Name"]: resource["Properties"]
        for resource in synthesized.platform_json["Resources"].values()
        if resource["Type"] == "AWS::SSM::Parameter"
    }
    images = {name for name in parameters if name.startswith("/mlops-gitlab/images/")}
    assert images == {
        f"/mlops-gitlab/images/{framework}-{flavour}"
        for framework in ("xgboost", "pytorch")
        for flavour in ("cpu", "gpu")
    }
    # Built at deploy (default.yaml configures no image): each holds its own asset's URI in the CDK repository.
    values = {json.dumps(parameters[name]["Value"], sort_keys=True) for name in images}
    assert len(values) == 4 and all("container-assets" in value for value in values)


def test_product_assets_bucket_has_the_literal_name_the_product_template_uses(synthesized) -> None:
    synthesized.platform.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": "mlops-gitlab-product-assets-111111111111-eu-west-1",
            "VersioningConfiguration": {"Status": "Enabled"},
        },
    )


def test_ml_core_images_build_from_containers_with_the_shared_http_layer(synthesized) -> None:
    """The XGBoost and PyTorch images, CPU and CUDA: build context containers/ (the framework's package and
    http_serving), without caches, for the platform SageMaker runs on."""
    manifest = json.loads(next(synthesized.outdir.glob("*platform.assets.json")).read_text())
    images = {image["source"]["dockerFile"]: image["source"] for image in manifest["dockerImages"].values()}
    assert sorted(images) == [
        "pytorch/Dockerfile",
        "pytorch/Dockerfile.gpu",
        "xgboost/Dockerfile",
        "xgboost/Dockerfile.gpu",
    ]
    for dockerfile, source in images.items():
        assert source["platform"] == "linux/amd64"
        context = synthesized.outdir / source["directory"]
        package = {"xgboost": "xgboost/xgboost_container/serve.py", "pytorch": "pytorch/pytorch_container/serve.py"}
        for needed in ("http_serving/http_serving/protocol.py", package[dockerfile.split("/")[0]], dockerfile):
            assert (context / needed).is_file(), needed
        assert not [path for path in context.rglob("*") if path.name == "__pycache__" or path.suffix == ".egg-info"]
