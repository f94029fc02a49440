"""The product templates as SageMaker AI project templates in S3 (config `studio_s3_templates`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.components.s3_project_templates import STUDIO_VISIBILITY_TAG, TEMPLATES_LOCATION_TAG

pytestmark = pytest.mark.xdist_group("cdk")


def sdk_calls(platform: dict[str, Any]) -> dict[str, str]:
    """The Create call of every AwsCustomResource, rendered (references as `<Ref:...>`)."""

    def render(node: Any) -> str:
        if isinstance(node, str):
            return node
        if isinstance(node, dict) and "Fn::Join" in node:
            return "".join(render(part) for part in node["Fn::Join"][1])
        return f"<{json.dumps(node, sort_keys=True)}>"

    return {
        logical_id: render(resource["Properties"]["Create"])
        for logical_id, resource in platform["Resources"].items()
        if resource["Type"] == "Custom::AWS"
    }


def test_the_bucket_lets_studio_read_over_tls_only_and_keeps_versions(synthesized) -> None:
    buckets = [
        r["Properties"]
        for r in synthesized.platform_json["Resources"].values()
        if r["Type"] == "AWS::S3::Bucket" and "CorsConfiguration" in r["Properties"]
    ]
    (bucket,) = buckets
    (rule,) = bucket["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == ["https://*.sagemaker.aws"] and set(rule["AllowedMethods"]) == {"GET", "HEAD"}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True


def test_each_product_template_is_copied_with_the_studio_visibility_tag(synthesized) -> None:
    calls = sdk_calls(synthesized.platform_json)
    copies = [call for call in calls.values() if '"action":"copyObject"' in call]
    assert len(copies) == 2  # the GitLab project template and the multi-account one
    for call, name in zip(sorted(copies), ("gitlab-project", "multi-account"), strict=True):
        assert f'"Key":"project-templates/{name}.json"' in call
        assert f'"Tagging":"{STUDIO_VISIBILITY_TAG}=true"' in call and '"TaggingDirective":"REPLACE"' in call
        # The copy's source is the very template Service Catalog's product version loads.
        assert "cdk-hnb659fds-assets-111111111111-eu-west-1" in call


def test_the_studio_domain_is_tagged_with_the_templates_location(synthesized) -> None:
    calls = [c for c in sdk_calls(synthesized.platform_json).values() if '"action":"addTags"' in c]
    (call,) = calls
    assert "arn:aws:sagemaker:eu-west-1:111111111111:domain/d-abcdefghijkl" in call
    assert f'"Key":"{TEMPLATES_LOCATION_TAG}","Value":"s3://' in call and '/project-templates/"' in call


def test_the_functions_policy_names_only_the_templates_and_the_domain(synthesized) -> None:
    statements = [
        statement
        for logical_id, resource in synthesized.platform_json["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy" and logical_id.startswith("S3ProjectTemplates")
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    rendered = json.dumps(statements)
    assert '"Resource": "*"' not in rendered
    assert "domain/d-abcdefghijkl" in rendered and "project-templates/gitlab-project.json" in rendered
