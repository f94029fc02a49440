"""Which model package version to serve: the newest approved version of a model package group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ModelNotAvailable(Exception):
    """The group has no approved version (or the version has no model data); the message says which."""


@dataclass(frozen=True)
class ModelVersion:
    """One approved model package version and where its `model.tar.gz` is."""

    arn: str
    group: str
    version: int
    model_data_url: str


def latest_approved(sagemaker: Any, group: str) -> ModelVersion:
    """The newest approved version of `group` (by creation time, as the model deploy repository's build picks)."""
    listed = sagemaker.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )["ModelPackageSummaryList"]
    if not listed:
        raise ModelNotAvailable(f"model package group {group!r} has no approved version")
    return describe(sagemaker, listed[0]["ModelPackageArn"])


def describe(sagemaker: Any, arn: str) -> ModelVersion:
    """The version `arn`, which must be approved, with the S3 URL of its model data."""
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    if package.get("ModelApprovalStatus") != "Approved":
        raise ModelNotAvailable(f"model package {arn} is {package.get('ModelApprovalStatus')}, not Approved")
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    url = containers[0].get("ModelDataUrl") if containers else None
    if not url:
        source = containers[0].get("ModelDataSource", {}).get("S3DataSource", {}) if containers else {}
        url = source.get("S3Uri") if source.get("CompressionType", "Gzip") == "Gzip" else None
    if not url:
        raise ModelNotAvailable(f"model package {arn} names no model.tar.gz (InferenceSpecification.Containers)")
    return ModelVersion(
        arn=package["ModelPackageArn"],
        group=package.get("ModelPackageGroupName", ""),
        version=int(package.get("ModelPackageVersion", 0)),
        model_data_url=url,
    )
