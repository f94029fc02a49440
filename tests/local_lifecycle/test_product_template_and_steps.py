"""The template resolver and the step runner of the lifecycle."""

from __future__ import annotations

import io
import json

import pytest

from local_lifecycle.product_template import ProductTemplate, UnresolvableExpression
from local_lifecycle.steps import StepFailed, StepRunner, summary_table
from tooling.cfn_resolver import Resolver

TEMPLATE = {
    "Parameters": {"Name": {"Type": "String", "Default": "abc"}, "Id": {"Type": "String"}},
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::Join": ["-", ["x", {"Ref": "Id"}]]}}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Env": {
                    "ROLE": {"Fn::GetAtt": ["Role", "Arn"]},
                    "LIST": {"Fn::Split": [",", {"Ref": "Name"}]},
                    "SUB": {
                        "Fn::Sub": ["${Name}/${Role.Arn}/${!Literal}/${X}", {"X": {"Fn::Select": [1, ["a", "b"]]}}]
                    },
                    "BAD": {"Fn::Base64": "x"},
                }
            },
        },
    },
}


@pytest.fixture
def template(tmp_path) -> ProductTemplate:
    path = tmp_path / "x.product.template.json"
    path.write_text(json.dumps(TEMPLATE))
    return ProductTemplate(path)


def test_resolves_refs_joins_getatts_and_splits(template) -> None:
    refs = {**template.parameter_defaults(), "Id": "p-1"}
    assert template.parameter_defaults() == {"Name": "abc"}
    _, bucket = template.single("AWS::S3::Bucket")
    assert template.resolve(bucket["Properties"]["BucketName"], refs) == "x-p-1"
    env = template.resources("AWS::Lambda::Function")["Fn"]["Properties"]["Env"]
    assert template.resolve(env["ROLE"], refs, {("Role", "Arn"): "arn:role"}) == "arn:role"
    assert template.resolve(env["LIST"], refs) == ["abc"]
    assert template.resolve(env["SUB"], refs, {("Role", "Arn"): "arn:role"}) == "abc/arn:role/${Literal}/b"


def test_a_fallback_supplies_values_the_resolver_does_not_know() -> None:
    resolver = Resolver(refs={}, fallback=lambda name, attribute: f"<{name}.{attribute}>")
    assert resolver.resolve({"Fn::Join": ["-", [{"Ref": "Bucket"}, {"Fn::GetAtt": ["Role", "Arn"]}]]}) == (
        "<Bucket.None>-<Role.Arn>"
    )


def test_unknown_references_and_intrinsics_are_named(template) -> None:
    env = template.resources("AWS::Lambda::Function")["Fn"]["Properties"]["Env"]
    with pytest.raises(UnresolvableExpression, match="GetAtt Role.Arn"):
        template.resolve(env["ROLE"], {})
    with pytest.raises(UnresolvableExpression, match="Fn::Base64 is not supported"):
        template.resolve(env["BAD"], {"Name": "a"})
    with pytest.raises(UnresolvableExpression, match="Ref Id"):
        template.resolve({"Ref": "Id"}, {})
    with pytest.raises(LookupError, match="expected one AWS::SQS::Queue"):
        template.single("AWS::SQS::Queue")


def test_step_runner_reports_progress_and_names_the_failed_step() -> None:
    stream = io.StringIO()
    runner = StepRunner(2, stream=stream)
    runner.run("first", lambda: {"k": "v"})
    with pytest.raises(StepFailed, match=r"step 2 'second' failed: ValueError: boom"):
        runner.run("second", lambda: (_ for _ in ()).throw(ValueError("boom")))
    assert "[1/2] first ..." in stream.getvalue() and "k=v" in stream.getvalue()
    table = summary_table(runner.results, {"test MSE": "4.5"})
    assert "first" in table and "test MSE" in table and "total" in table
