"""Platform stack: the Service Catalog portfolio and product SageMaker Studio shows."""
from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

pytestmark = pytest.mark.xdist_group("cdk")


def test_product_is_visible_in_studio_and_versioned_from_the_product_stack(synthesized) -> None:
    synthesized.platform.has_resource_properties("AWS::ServiceCatalog::CloudFormationProduct", {
        "Name": "MLOps template for model building, training and deployment with GitLab",
        "Tags": Match.array_with([{"Key": "sagemaker:studio-visibility", "Value": "true"}]),
        "ProvisioningArtifactParameters": [Match.object_like({
            "Name": "v1", "Info": {"LoadTemplateFromURL": Match.string_like_regexp(r"\.product\.template\.json")}})],
    })


def test_portfolio_holds_the_product_with_a_launch_role_constraint(synthesized) -> None:
    platform = synthesized.platform
    platform.resource_count_is("AWS::ServiceCatalog::Portfolio", 1)
    platform.resource_count_is("AWS::ServiceCatalog::PortfolioProductAssociation", 1)
    platform.has_resource_properties("AWS::ServiceCatalog::LaunchRoleConstraint", {
        "RoleArn": {"Fn::GetAtt": [Match.string_like_regexp("LaunchRole"), "Arn"]}})
    platform.has_resource_properties("AWS::IAM::Role", {"AssumeRolePolicyDocument": {"Statement": [
        Match.object_like({"Principal": {"Service": "servicecatalog.amazonaws.com"}})]}})


def test_studio_roles_get_portfolio_access(synthesized) -> None:
    synthesized.platform.has_resource_properties("AWS::ServiceCatalog::PortfolioPrincipalAssociation", {
        "PrincipalARN": "arn:aws:iam::111111111111:role/service-role/AmazonSageMaker-ExecutionRole-Studio",
        "PrincipalType": "IAM"})


def test_gitlab_oidc_provider_and_image_parameters(synthesized) -> None:
    synthesized.platform.has_resource_properties("AWS::IAM::OIDCProvider", {
        "Url": "https://gitlab.example.com", "ClientIdList": ["sts.amazonaws.com"]})
    for flavour in ("cpu", "gpu"):
        synthesized.platform.has_resource_properties("AWS::SSM::Parameter", {
            "Name": f"/mlops-gitlab/images/xgboost-{flavour}", "Type": "String"})


def test_product_assets_bucket_has_the_literal_name_the_product_template_uses(synthesized) -> None:
    synthesized.platform.has_resource_properties("AWS::S3::Bucket", {
        "BucketName": "mlops-gitlab-product-assets-111111111111-eu-west-1",
        "VersioningConfiguration": {"Status": "Enabled"}})
