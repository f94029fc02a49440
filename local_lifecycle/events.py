"""Events AWS sends in the lifecycle, built as AWS builds them."""

from __future__ import annotations

import time
from typing import Any

_DETAIL_KEYS = (
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageDescription",
    "CreationTime",
    "InferenceSpecification",
    "ModelPackageStatus",
    "ModelApprovalStatus",
    "ApprovalDescription",
    "LastModifiedTime",
    "CustomerMetadataProperties",
    "ModelMetrics",
)


def model_package_state_change_event(package: dict[str, Any], *, region: str) -> dict[str, Any]:
    """The EventBridge event SageMaker emits for a model package's state change (`describe_model_package`)."""
    detail = {key: package[key] for key in _DETAIL_KEYS if key in package}
    account = package["ModelPackageArn"].split(":")[4]
    return {
        "version": "0",
        "id": f"local-{int(time.time() * 1000)}",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": account,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [package["ModelPackageArn"]],
        "detail": detail,
    }
