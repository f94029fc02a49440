"""Per-project artifact storage: a KMS-encrypted, versioned, TLS-only bucket with access logs."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.access_log_bucket import access_log_bucket


class ArtifactBucket(Construct):
    """Bucket for pipeline inputs, model artifacts, evaluation reports and endpoint data capture.

    Artifacts are retained when the project is deleted: they are the audit trail of every
    registered model version. The customer-managed key lets other accounts be granted read
    access (multi-account promotion) through the key policy.
    """

    def __init__(self, scope: Construct, construct_id: str, *, bucket_name: str | None = None) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the SageMaker project's model artifacts",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.access_logs = access_log_bucket(self, "AccessLogs")
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="artifacts/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """Read objects (and decrypt them)."""
        self.bucket.grant_read(grantee)

    def grant_read_write(self, grantee: iam.IGrantable) -> None:
        """Read and write objects (and encrypt/decrypt them)."""
        self.bucket.grant_read_write(grantee)

    def grant_cross_account_read(self, account_ids: Sequence[str], *, objects: str = "*") -> None:
        """Let principals of these accounts (staging, production) read objects, and only these accounts.

        Cross-account reads need both sides: this bucket policy and key policy here, and an IAM
        policy on the reading role in the other account (the target-account execution role).
        The key may be used only through S3 in this region.
        """
        if not account_ids:
            raise ValueError("grant_cross_account_read needs at least one account ID")
        principals = [iam.AccountPrincipal(account_id) for account_id in account_ids]
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CrossAccountReadModelArtifacts",
                principals=principals,
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[self.bucket.arn_for_objects(objects)],
            )
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CrossAccountListModelArtifacts",
                principals=principals,
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[self.bucket.bucket_arn],
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CrossAccountDecryptModelArtifacts",
                principals=principals,
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"kms:ViaService": f"s3.{cdk.Stack.of(self).region}.amazonaws.com"}},
            )
        )
