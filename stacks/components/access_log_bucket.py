"""The S3 bucket that receives another bucket's server access logs (one shape for every such bucket)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.components.checkov import skip_checks

ACCESS_LOG_BUCKET_REASON = "This is the access-log bucket itself; logging its own accesses into itself would loop."


def access_log_bucket(scope: Construct, construct_id: str) -> s3.Bucket:
    """Encrypted, TLS-only, versioned, kept on stack deletion; logs expire after a year."""
    bucket = s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        # Server access log delivery writes with the bucket owner enforced as the object owner.
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        versioned=True,
        lifecycle_rules=[
            s3.LifecycleRule(expiration=cdk.Duration.days(365), noncurrent_version_expiration=cdk.Duration.days(30))
        ],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    NagSuppressions.add_resource_suppressions(bucket, [{"id": "AwsSolutions-S1", "reason": ACCESS_LOG_BUCKET_REASON}])
    skip_checks(bucket, {"CKV_AWS_18": ACCESS_LOG_BUCKET_REASON})
    return bucket
