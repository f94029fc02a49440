"""`skip_checks`: the one way stacks record a checkov finding that does not apply, with its reason."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from stacks.components.checkov import skip_checks

pytestmark = pytest.mark.xdist_group("cdk")

REASON = "This queue holds only public sample data, nothing to encrypt."


def queue_metadata(queue: sqs.Queue) -> dict:
    template = Template.from_stack(cdk.Stack.of(queue)).to_json()
    (resource,) = template["Resources"].values()
    return resource["Metadata"]["checkov"]


def test_skips_are_recorded_on_the_resource_and_merged() -> None:
    queue = sqs.Queue(cdk.Stack(cdk.App(), "S"), "Q")

    skip_checks(queue, {"CKV_AWS_27": REASON})
    skip_checks(queue.node.default_child, {"CKV_AWS_999": "Another finding, with a reason long enough."})

    assert queue_metadata(queue) == {
        "skip": [
            {"id": "CKV_AWS_27", "comment": REASON},
            {"id": "CKV_AWS_999", "comment": "Another finding, with a reason long enough."},
        ]
    }


@pytest.mark.parametrize(
    ("reasons", "message"),
    [
        ({"CKV_AWS_27": "n/a"}, "must say why it does not apply"),
        ({"AwsSolutions-S1": REASON}, "not a checkov check ID"),
    ],
)
def test_a_skip_needs_a_checkov_id_and_a_reason(reasons: dict, message: str) -> None:
    queue = sqs.Queue(cdk.Stack(cdk.App(), "S"), "Q")
    with pytest.raises(ValueError, match=message):
        skip_checks(queue, reasons)
