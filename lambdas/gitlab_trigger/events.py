"""The EventBridge event SageMaker emits when a model package (model version) changes state.

Shape (``detail`` abridged; SageMaker sends the whole model package description)::

    {"version": "0", "id": "...", "source": "aws.sagemaker",
     "detail-type": "SageMaker Model Package State Change",
     "account": "123456789012", "time": "2024-01-01T00:00:00Z", "region": "us-east-1",
     "resources": ["arn:aws:sagemaker:us-east-1:123456789012:model-package/group/3"],
     "detail": {"ModelPackageGroupName": "group", "ModelPackageVersion": 3,
                "ModelPackageArn": "arn:aws:sagemaker:...:model-package/group/3",
                "ModelApprovalStatus": "Approved", "ModelPackageStatus": "Completed", ...}}
"""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.utilities.parser import BaseModel, Field
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

APPROVED = "Approved"
REJECTED = "Rejected"


class ModelPackageStateChangeDetail(BaseModel):
    """The fields of ``detail`` the trigger uses; the others are ignored."""

    model_package_group_name: str = Field(alias="ModelPackageGroupName", min_length=1)
    model_package_version: int = Field(alias="ModelPackageVersion")
    model_package_arn: str = Field(alias="ModelPackageArn", min_length=1)
    # Approved | Rejected | PendingManualApproval; kept open so a new status is ignored, not an error.
    model_approval_status: str = Field(alias="ModelApprovalStatus")


class ModelPackageStateChangeEvent(EventBridgeModel):
    """``SageMaker Model Package State Change`` from ``aws.sagemaker``."""

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Model Package State Change"] = Field(alias="detail-type")
    detail: ModelPackageStateChangeDetail
