"""CodePipeline of the "Multi Account Deployment" project and the rule that starts it.

Source -> Build -> DeployStaging (DeployResourcesStaging, TestStaging, ApproveDeployment) -> DeployProd.
The DeployResources* actions deploy CloudFormation StackSets into the staging and production OUs:
with CodePipeline's native StackSet action (service-managed permissions, called from the
organization's management account), or, when the data science account is a StackSets delegated
administrator, with a CodeBuild step calling the StackSet API with `CallAs=DELEGATED_ADMIN` (the
native action cannot pass `CallAs`).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.gitlab_trigger import model_approved_pattern
from stacks.components.multi_account_deploy import deploy

STAGES = ("staging", "prod")
DEPLOY_SCRIPT = "deploy.py"
# The script and the module it imports (the deploy repository's generated GPU-family table); the
# pipeline's steps run them.
GPU_TABLE = "instance_families.py"
DEPLOY_SCRIPTS = (DEPLOY_SCRIPT, GPU_TABLE)
DEPLOY_SOURCE = Path(deploy.__file__).resolve().parent
SEED_DEPLOY_REPOSITORY = Path(__file__).resolve().parents[2] / "seedcode" / "model-deploy"


def deploy_source_directory() -> Path:
    """Directory with the pipeline's deploy source: `deploy.py`, its README, the endpoint template and
    the stage settings of the GitLab deploy repository (one template for both deployment paths).

    Assembled at synth time into a directory named by its content hash, so the S3 asset (and its key
    in the product template) changes only when one of the files does.
    """
    files = {name: (DEPLOY_SOURCE / name).read_bytes() for name in (DEPLOY_SCRIPT, "README.md")}
    files.update(
        (name, (SEED_DEPLOY_REPOSITORY / name).read_bytes())
        for name in (deploy.TEMPLATE_FILE, *deploy.STAGE_CONFIG_FILES.values(), GPU_TABLE)
    )
    digest = hashlib.sha256(b"".join(name.encode() + content for name, content in sorted(files.items()))).hexdigest()
    directory = Path(tempfile.gettempdir()) / f"mlops-multi-account-deploy-source-{digest[:16]}"
    if not (directory / DEPLOY_SCRIPT).is_file():
        staging = Path(tempfile.mkdtemp(prefix="mlops-deploy-source-"))
        for name, content in files.items():
            (staging / name).write_bytes(content)
        try:
            staging.rename(directory)
        except OSError:  # another synth wrote the same content first
            shutil.rmtree(staging, ignore_errors=True)
    return directory


@dataclass(frozen=True)
class StageTarget:
    """Where one stage's stack set goes."""

    stack_set_name: str
    ou_id: str
    parameters_file: str


class MultiAccountPipeline(Construct):
    """The deploy pipeline in one of its two variants (native StackSet actions or delegated admin)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_name: str,
        artifact_bucket: s3.IBucket,
        source_bucket: s3.IBucket,
        source_key: str,
        build_project: codebuild.IProject,
        test_project: codebuild.IProject,
        stack_set_project: codebuild.IProject,
        staging: StageTarget,
        prod: StageTarget,
        delegated_admin: bool,
        model_package_group_name: str,
        rule_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        region = cdk.Stack.of(self).region
        source_output = codepipeline.Artifact("SourceArtifact")
        build_output = codepipeline.Artifact("BuildArtifact")
        call_as = "DELEGATED_ADMIN" if delegated_admin else "SELF"

        def deploy_action(name: str, target: StageTarget) -> codepipeline.IAction:
            if delegated_admin:
                return actions.CodeBuildAction(
                    action_name=name,
                    project=stack_set_project,
                    input=build_output,
                    run_order=1,
                    environment_variables={
                        key: codebuild.BuildEnvironmentVariable(value=value)
                        for key, value in {
                            "STACK_SET_NAME": target.stack_set_name,
                            "OU_ID": target.ou_id,
                            "PARAMETERS_FILE": target.parameters_file,
                            "CALL_AS": call_as,
                        }.items()
                    },
                )
            return actions.CloudFormationDeployStackSetAction(
                action_name=name,
                run_order=1,
                stack_set_name=target.stack_set_name,
                description=f"SageMaker endpoint deployed by pipeline {pipeline_name}",
                template=actions.StackSetTemplate.from_artifact_path(build_output.at_path(deploy.TEMPLATE_FILE)),
                parameters=actions.StackSetParameters.from_artifact_path(build_output.at_path(target.parameters_file)),
                deployment_model=actions.StackSetDeploymentModel.organizations(
                    auto_deployment=actions.StackSetOrganizationsAutoDeployment.ENABLED
                ),
                stack_instances=actions.StackInstances.in_organizational_units([target.ou_id], [region]),
            )

        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_name=pipeline_name,
            pipeline_type=codepipeline.PipelineType.V2,
            artifact_bucket=artifact_bucket,
            cross_account_keys=False,
            restart_execution_on_update=False,
            stages=[
                codepipeline.StageProps(
                    stage_name="Source",
                    actions=[
                        actions.S3SourceAction(
                            action_name="ModelDeploySource",
                            bucket=source_bucket,
                            bucket_key=source_key,
                            output=source_output,
                            trigger=actions.S3Trigger.NONE,
                        )
                    ],
                ),
                codepipeline.StageProps(
                    stage_name="Build",
                    actions=[
                        actions.CodeBuildAction(
                            action_name="BuildDeploymentTemplate",
                            project=build_project,
                            input=source_output,
                            outputs=[build_output],
                        )
                    ],
                ),
                codepipeline.StageProps(
                    stage_name="DeployStaging",
                    actions=[
                        deploy_action("DeployResourcesStaging", staging),
                        actions.CodeBuildAction(
                            action_name="TestStaging",
                            project=test_project,
                            input=build_output,
                            run_order=2,
                            environment_variables={"CALL_AS": codebuild.BuildEnvironmentVariable(value=call_as)},
                        ),
                        actions.ManualApprovalAction(
                            action_name="ApproveDeployment",
                            run_order=3,
                            additional_information="Test the staging endpoint, then approve the production deployment",
                        ),
                    ],
                ),
                codepipeline.StageProps(stage_name="DeployProd", actions=[deploy_action("DeployResourcesProd", prod)]),
            ],
        )
        self.rule = events.Rule(
            self,
            "ModelApprovedRule",
            rule_name=rule_name,
            description=f"Starts {pipeline_name} when a version of {model_package_group_name} is approved",
            event_pattern=model_approved_pattern(model_package_group_name),
            targets=[targets.CodePipeline(self.pipeline)],
        )

    def apply_condition(self, condition: cdk.CfnCondition) -> None:
        """Create every resource of this construct only when `condition` holds."""
        for child in self.node.find_all():
            if isinstance(child, cdk.CfnResource):
                child.cfn_options.condition = condition
