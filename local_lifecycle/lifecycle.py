"""The lifecycle itself: what happens on AWS and GitLab for one project, reproduced locally.

1. synth + lint        `cdk synth` of every stack and product template; cfn-lint and cdk-nag.
2. emulator            moto server on loopback holding what the product template creates.
3. launch project      the seed-code check-in custom resource's code seeds two local repos.
4. model build CI      the build repo's .gitlab-ci.yml under gitlab-ci-local trains and registers.
5. approve             approval, the EventBridge event as AWS sends it, the GitLab trigger.
6. model deploy CI     build, staging deploy, test staging (real HTTP), manual production deploy.
7. summary             a table of steps, metrics, endpoints and artifacts.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import boto3
from moto.events.models import EventPattern

from local_lifecycle.local_repository_host import LocalRepositoryHost
from local_lifecycle.moto_server import MotoServer, free_port
from local_lifecycle.processes import log_tail, start_logged, stop, wait_until_answering
from local_lifecycle.product_template import ProductTemplate
from local_lifecycle.steps import StepFailed, StepRunner, summary_table
from stacks.config import PlatformConfig, load_config
from tooling.lint import cfn_lint
from tooling.synth import synth

REPO_ROOT = Path(__file__).resolve().parents[1]
GITLAB_CI_LOCAL = REPO_ROOT / "node_modules" / ".bin" / "gitlab-ci-local"


@dataclass
class LaunchParameters:
    """What a data scientist enters when creating the project in SageMaker Studio."""

    project_name: str = "abalone"
    project_id: str = "p-local0demo01"
    build_repo: str = "abalone-model-build"
    deploy_repo: str = "abalone-model-deploy"

    def as_template_parameters(self, defaults: dict[str, str]) -> dict[str, str]:
        """The product template's parameter values for this launch."""
        return {
            **defaults,
            "SageMakerProjectName": self.project_name,
            "SageMakerProjectId": self.project_id,
            "ModelBuildRepoName": self.build_repo,
            "ModelDeployRepoName": self.deploy_repo,
        }


@dataclass
class RunState:
    """What the steps hand each other."""

    workdir: Path
    template: ProductTemplate | None = None
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    host: LocalRepositoryHost | None = None
    build_project: int | None = None
    deploy_project: int | None = None
    build_summary: dict = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)


class Lifecycle:
    """One run of the local lifecycle in its own work directory."""

    config_path: Path = REPO_ROOT / "config" / "default.yaml"

    def __init__(
        self,
        *,
        data: Path,
        workdir: Path,
        config: PlatformConfig,
        launch: LaunchParameters,
        cdk_out: Path | None = None,
        stream=sys.stdout,
    ) -> None:
        self.data = data
        self.config = config
        self.launch = launch
        self.state = RunState(workdir=workdir)
        self.cdk_out = cdk_out or workdir / "cdk.out"
        self.reuse_cdk_out = cdk_out is not None
        self.stream = stream
        self.moto: MotoServer | None = None
        self.env: dict[str, str] = {}
        self.keep_emulator = False
        self._cleanup = ExitStack()

    # ---------------------------------------------------------------- orchestration
    def run(self) -> str:
        """Run every step; return the summary table. Raises `StepFailed` naming the failed step."""
        runner = StepRunner(7, stream=self.stream)
        try:
            runner.run("synthesize and lint every stack and product template", self.synth_and_lint)
            runner.run("start the AWS emulator and create the project's resources", self.start_emulator)
            runner.run("launch the project: seed the build and deploy repositories", self.launch_project)
            runner.run("model build pipeline (.gitlab-ci.yml: training)", self.run_model_build)
            runner.run("approve the model version; EventBridge rule -> GitLab trigger", self.approve_and_trigger)
            runner.run("model deploy pipeline (build, staging, test, manual prod)", self.run_model_deploy)
            runner.run("summary", lambda: {})
        finally:
            if not self.keep_emulator:  # otherwise the caller inspects the emulator, then calls close()
                self.close()
        return summary_table(runner.results, self.state.facts)

    def close(self) -> None:
        """Stop the emulator and servers kept running by `keep_emulator`."""
        self._cleanup.close()

    # ---------------------------------------------------------------- 1
    def synth_and_lint(self) -> dict[str, str]:
        if not self.reuse_cdk_out:
            templates, findings = synth(config_path=str(self.config_path), outdir=str(self.cdk_out))
        else:
            templates = sorted(self.cdk_out.glob("*.template.json"))
            findings = json.loads((self.cdk_out / "nag-findings.json").read_text())
        if findings:
            raise StepFailed(
                f"{len(findings)} unsuppressed cdk-nag findings, first: {findings[0]['rule']} {findings[0]['path']}"
            )
        status, output = cfn_lint(templates)
        if status:
            raise StepFailed("cfn-lint findings", log_tail=output)
        self.state.template = ProductTemplate.find(self.cdk_out)
        return {"templates": str(len(templates)), "cfn-lint": "clean", "cdk-nag": "clean"}

    # ---------------------------------------------------------------- 2
    def start_emulator(self) -> dict[str, str]:
        self.moto = self._cleanup.enter_context(
            MotoServer(log_path=self.state.workdir / "logs" / "moto.log", region=self.config.region)
        )
        self.env = self.moto.environment()
        template = self.state.template
        assert template is not None
        refs = self.launch.as_template_parameters(template.parameter_defaults())
        account = boto3.client("sts", **self._client_args()).get_caller_identity()["Account"]
        refs.update(
            {
                "AWS::Region": self.config.region,
                "AWS::AccountId": account,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            }
        )
        image_uri = f"{account}.dkr.ecr.{self.config.region}.amazonaws.com/{self.config.name}/xgboost"
        refs["XGBoostImageUri"], refs["XGBoostGpuImageUri"] = f"{image_uri}:cpu", f"{image_uri}:gpu"

        bucket_id, bucket = next(
            (k, v) for k, v in template.resources("AWS::S3::Bucket").items() if "BucketName" in v["Properties"]
        )
        bucket_name = template.resolve(bucket["Properties"]["BucketName"], refs)
        group_id, group = template.single("AWS::SageMaker::ModelPackageGroup")
        group_name = template.resolve(group["Properties"]["ModelPackageGroupName"], refs)
        s3 = boto3.client("s3", **self._client_args())
        s3.create_bucket(Bucket=bucket_name, CreateBucketConfiguration={"LocationConstraint": self.config.region})
        sagemaker = boto3.client("sagemaker", **self._client_args())
        sagemaker.create_model_package_group(
            ModelPackageGroupName=group_name,
            ModelPackageGroupDescription=template.resolve(group["Properties"]["ModelPackageGroupDescription"], refs),
        )
        refs[bucket_id] = bucket_name
        refs[group_id] = group_name
        # The trigger's approval records and dead letters, as the template defines them.
        (table_id, _), (queue_id, _) = template.single("AWS::DynamoDB::Table"), template.single("AWS::SQS::Queue")
        refs[table_id] = f"{group_name}-approvals"
        boto3.client("dynamodb", **self._client_args()).create_table(
            TableName=refs[table_id],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        refs[queue_id] = boto3.client("sqs", **self._client_args()).create_queue(QueueName=f"{group_name}-dlq")[
            "QueueUrl"
        ]
        iam = boto3.client("iam", **self._client_args())
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "sagemaker.amazonaws.com"}}
                ],
            }
        )
        for role_id, role in template.resources("AWS::IAM::Role").items():
            arn = iam.create_role(
                RoleName=role_id[:64], Path=role["Properties"].get("Path", "/"), AssumeRolePolicyDocument=trust
            )["Role"]["Arn"]
            self.state.attributes[(role_id, "Arn")] = arn
        self.state.refs = refs
        data_key = f"input/{self.data.name}"
        s3.upload_file(str(self.data), bucket_name, data_key)
        self.state.facts.update(
            {
                "emulator": self.moto.url,
                "artifact bucket": f"s3://{bucket_name}",
                "model package group": group_name,
                "input data": f"s3://{bucket_name}/{data_key}",
            }
        )
        return {"emulator": self.moto.url, "bucket": bucket_name, "group": group_name}

    # ---------------------------------------------------------------- 3
    def launch_project(self) -> dict[str, str]:
        from gitlab_host.connections import connections_from_env  # Lambda code: lambdas/ is on sys.path
        from seed_code_checkin.checkin import handle_event

        template = self.state.template
        assert template is not None
        custom_id, custom = template.single("Custom::GitLabSeedCode")
        properties = template.resolve(
            {k: v for k, v in custom["Properties"].items() if k != "ServiceToken"},
            self.state.refs,
            self.state.attributes,
        )
        s3 = boto3.client("s3", **self._client_args())
        for seed in ("ModelBuildSeedCode", "ModelDeploySeedCode"):
            location = properties[seed]
            staged = self.cdk_out / f"asset.{location['Key'].removesuffix('.zip')}"
            if not staged.is_dir():
                raise StepFailed(f"seed-code asset {staged} is missing from {self.cdk_out}")
            try:
                s3.head_bucket(Bucket=location["Bucket"])
            except s3.exceptions.ClientError:
                s3.create_bucket(
                    Bucket=location["Bucket"], CreateBucketConfiguration={"LocationConstraint": self.config.region}
                )
            s3.put_object(Bucket=location["Bucket"], Key=location["Key"], Body=_zip_directory(staged))
        # The local host has the connection's group (or personal namespace) at the configured path.
        namespace, group_id = properties["GitLabRepositoryNamespace"], properties["GitLabGroupId"]
        self.state.host = host = (
            LocalRepositoryHost(self.state.workdir / "gitlab", groups={int(group_id): namespace})
            if group_id
            else LocalRepositoryHost(self.state.workdir / "gitlab", personal_namespace=namespace)
        )
        functions = template.resources("AWS::Lambda::Function")
        checkin = next(f for f in functions.values() if f["Properties"]["Handler"].startswith("seed_code_checkin"))
        # The allowed connections as the template gives them to the function (see gitlab_host.connections).
        connections = connections_from_env(
            template.resolve(checkin["Properties"]["Environment"]["Variables"], self.state.refs, self.state.attributes)
        )
        event = {
            "RequestType": "Create",
            "ResourceType": "Custom::GitLabSeedCode",
            "LogicalResourceId": custom_id,
            "StackId": "local",
            "RequestId": "local-1",
            "ResourceProperties": properties,
        }
        with self._lambda_environment():
            response = handle_event(event, host_factory=lambda _connection: host, connections=connections)
        data = response["Data"]
        for name, value in data.items():
            self.state.attributes[(custom_id, name)] = value
        self.state.build_project = int(data["ModelBuildProjectId"])
        self.state.deploy_project = int(data["ModelDeployProjectId"])
        build_repo = host.repo_path(self.state.build_project)
        deploy_repo = host.repo_path(self.state.deploy_project)
        self.state.facts.update({"model build repo": str(build_repo), "model deploy repo": str(deploy_repo)})
        return {
            "build repo": data["ModelBuildProjectPath"],
            "deploy repo": data["ModelDeployProjectPath"],
            "variables": str(len(host.variables(self.state.build_project))),
        }

    # ---------------------------------------------------------------- 4
    def run_model_build(self) -> dict[str, str]:
        host = self.state.host
        assert host is not None and self.state.build_project is not None
        repo = host.repo_path(self.state.build_project)
        summary_path = self.state.workdir / "model-build-run.json"
        bucket = self.state.facts["artifact bucket"]
        self._gitlab_ci_local(
            repo,
            [],
            variables={
                "PIPELINE_EXECUTION_MODE": "local",
                "INPUT_DATA_URL": self.state.facts["input data"],
                "RUN_SUMMARY_PATH": str(summary_path),
            },
            log_name="model-build",
        )
        if not summary_path.is_file():
            raise StepFailed(f"the training job wrote no run summary at {summary_path}")
        summary = json.loads(summary_path.read_text())
        self.state.build_summary = summary
        arn = summary["model_package_arn"]
        package = boto3.client("sagemaker", **self._client_args()).describe_model_package(ModelPackageName=arn)
        if package["ModelApprovalStatus"] != "PendingManualApproval":
            raise StepFailed(f"registered {arn} as {package['ModelApprovalStatus']}, expected PendingManualApproval")
        self.state.facts.update(
            {
                "test MSE": f"{summary['mse']:.3f} (threshold 6.0)",
                "model package": arn,
                "model artifact": summary["artifacts"]["model_data_url"],
                "pipeline steps": ", ".join(f"{k} {v:.1f}s" for k, v in summary["step_seconds"].items()),
            }
        )
        return {"test_mse": f"{summary['mse']:.3f}", "status": package["ModelApprovalStatus"], "artifacts": bucket}

    # ---------------------------------------------------------------- 5
    def approve_and_trigger(self) -> dict[str, str]:
        from gitlab_trigger.trigger import TriggerConfig, persistence_for, process_event

        template = self.state.template
        host = self.state.host
        assert template is not None and host is not None
        arn = self.state.build_summary["model_package_arn"]
        sagemaker = boto3.client("sagemaker", **self._client_args())
        sagemaker.update_model_package(
            ModelPackageArn=arn,
            ModelApprovalStatus="Approved",
            ApprovalDescription="Approved in the local lifecycle run",
        )
        package = sagemaker.describe_model_package(ModelPackageName=arn)
        event = model_package_state_change_event(package, region=self.config.region)
        (event_path := self.state.workdir / "approval-event.json").write_text(json.dumps(event, indent=2, default=str))
        _, rule = template.single("AWS::Events::Rule")
        pattern = template.resolve(rule["Properties"]["EventPattern"], self.state.refs)
        if not EventPattern.load(json.dumps(pattern)).matches_event(json.loads(json.dumps(event, default=str))):
            raise StepFailed(f"the approval event {event_path} does not match the rule pattern {pattern}")
        functions = template.resources("AWS::Lambda::Function")
        trigger = next(f for f in functions.values() if f["Properties"]["Handler"].startswith("gitlab_trigger"))
        environment = template.resolve(
            trigger["Properties"]["Environment"]["Variables"], self.state.refs, self.state.attributes
        )
        config = TriggerConfig.from_env(environment)
        delivered = json.loads(json.dumps(event, default=str))
        with self._lambda_environment():
            persistence = persistence_for(config)
            invocation = _Invocation()
            result = process_event(
                delivered, config=config, host=host, persistence=persistence, lambda_context=invocation
            )
            # EventBridge delivers at least once: the same event again must not start a second pipeline.
            again = process_event(
                delivered, config=config, host=host, persistence=persistence, lambda_context=invocation
            )
        if result["status"] != "started":
            raise StepFailed(f"the GitLab trigger did not start the deploy pipeline: {result}")
        if again != result or len(host.pipelines()) != 1:
            raise StepFailed(f"a duplicate approval event started another pipeline: {host.pipelines()}")
        self.state.facts["deploy pipeline"] = result["pipeline_url"]
        return {
            "approved": f"version {package['ModelPackageVersion']}",
            "rule": "matched",
            "pipeline": str(result["pipeline_id"]),
            "duplicate event": "no second pipeline",
        }

    # ---------------------------------------------------------------- 6
    def run_model_deploy(self) -> dict[str, str]:
        host = self.state.host
        assert host is not None and self.state.deploy_project is not None
        repo = host.repo_path(self.state.deploy_project)
        (pipeline,) = [p for p in host.pipelines() if p["project_id"] == self.state.deploy_project]
        variables = dict(pipeline["variables"])
        self._gitlab_ci_local(repo, ["build", "deploy-staging"], variables=variables, log_name="model-deploy-staging")
        # Named by the staging stack's outputs: the emulator names endpoints itself, while on AWS
        # the template's EndpointName (<project>-staging) applies.
        staging = self._stack_outputs(repo, "staging")["EndpointName"]
        ci_variables = host.variables(self.state.deploy_project)
        staging_chain = ci_variables.get("DEPLOY_ROLE_ARN_STAGING", "")
        prod_chain = ci_variables.get("DEPLOY_ROLE_ARN_PROD", "")
        port = self._serve_endpoint(staging, role_chain=staging_chain)
        variables["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = f"http://127.0.0.1:{port}"
        self._gitlab_ci_local(repo, ["test-staging"], variables=variables, log_name="model-deploy-test")
        self._gitlab_ci_local(
            repo, ["--manual", "deploy-prod", "deploy-prod"], variables=variables, log_name="model-deploy-prod"
        )
        prod = self._stack_outputs(repo, "prod")["EndpointName"]
        accounts = {}
        for stage, name, chain in (("staging", staging, staging_chain), ("prod", prod, prod_chain)):
            sagemaker = self._client("sagemaker", role_chain=chain)
            status = sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"]
            if status != "InService":
                raise StepFailed(f"{stage} endpoint {name} is {status}, expected InService")
            accounts[stage] = self._client("sts", role_chain=chain).get_caller_identity()["Account"]
        report = self._staging_report(repo, self.state.workdir / "logs" / "model-deploy-test.log")
        self.state.facts.update(
            {
                "staging endpoint": f"{staging} in account {accounts['staging']} (served on 127.0.0.1:{port})",
                "production endpoint": f"{prod} in account {accounts['prod']}",
                **report,
            }
        )
        return {"endpoints": f"{staging}, {prod}", **report}

    # ---------------------------------------------------------------- helpers
    @contextmanager
    def _lambda_environment(self) -> Iterator[None]:
        """The emulator's settings for Lambda code that makes its own boto3 clients, for one call.

        Set only around the call and restored after it, so nothing else in the process (tests
        running beside the lifecycle included) is pointed at the emulator.
        """
        saved = {key: os.environ.get(key) for key in self.env}
        os.environ.update(self.env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def _client_args(self) -> dict[str, str]:
        """boto3 client arguments for the emulator, independent of the process environment."""
        assert self.moto is not None
        return {
            "endpoint_url": self.moto.url,
            "region_name": self.config.region,
            "aws_access_key_id": self.env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": self.env["AWS_SECRET_ACCESS_KEY"],
            "aws_session_token": self.env["AWS_SESSION_TOKEN"],
        }

    def _gitlab_ci_local(self, repo: Path, jobs: list[str], *, variables: dict[str, str], log_name: str) -> None:
        """Run jobs of `repo`'s .gitlab-ci.yml with the shell executor against the emulator."""
        command = [str(GITLAB_CI_LOCAL), "--force-shell-executor", *jobs]
        for key, value in {**self.env, **variables}.items():
            command += ["--variable", f"{key}={value}"]
        venv_bin = Path(sys.executable).parent
        env = {
            **os.environ,
            **self.env,
            "PATH": os.pathsep.join([str(venv_bin), str(GITLAB_CI_LOCAL.parent), os.environ.get("PATH", "")]),
        }
        log_path = self.state.workdir / "logs" / f"{log_name}.log"
        with log_path.open("w") as log:
            result = subprocess.run(command, cwd=repo, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
        if result.returncode != 0:
            raise StepFailed(
                f"gitlab-ci-local {' '.join(jobs) or '(whole pipeline)'} exited {result.returncode}; log: {log_path}",
                log_tail=log_tail(log_path),
            )

    def _client(self, service: str, *, role_chain: str = ""):
        """A client of the emulator as this account, or as the last role of a comma-separated chain.

        The deploy jobs reach the staging and production accounts through such a chain
        (`DEPLOY_ROLE_ARN_<STAGE>`); the lifecycle follows it to look at what they deployed.
        """
        args = self._client_args()
        for arn in filter(None, (part.strip() for part in role_chain.split(","))):
            credentials = boto3.client("sts", **args).assume_role(RoleArn=arn, RoleSessionName="local-lifecycle")
            args = {
                **args,
                "aws_access_key_id": credentials["Credentials"]["AccessKeyId"],
                "aws_secret_access_key": credentials["Credentials"]["SecretAccessKey"],
                "aws_session_token": credentials["Credentials"]["SessionToken"],
            }
        return boto3.client(service, **args)

    def _serve_endpoint(self, endpoint_name: str, *, role_chain: str) -> int:
        """Serve the endpoint's model (as deployed in the emulator) with the real model server."""
        sagemaker = self._client("sagemaker", role_chain=role_chain)
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
        config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        model_data_url = model["PrimaryContainer"]["ModelDataUrl"]
        bucket, key = model_data_url.removeprefix("s3://").split("/", 1)
        body = boto3.client("s3", **self._client_args()).get_object(Bucket=bucket, Key=key)["Body"].read()
        model_dir = self.state.workdir / "endpoints" / endpoint_name / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            archive.extractall(model_dir, filter="data")
        port = free_port()
        log_path = self.state.workdir / "logs" / f"{endpoint_name}-server.log"
        server = start_logged(
            [str(Path(sys.executable).with_name("xgboost-serve"))],
            env={
                **os.environ,
                "SM_MODEL_DIR": str(model_dir),
                "SAGEMAKER_BIND_TO_PORT": str(port),
                "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
            },
            log_path=log_path,
        )
        self._cleanup.callback(stop, server)
        wait_until_answering(server, f"http://127.0.0.1:{port}/ping", what="model server", log_path=log_path)
        return port

    @staticmethod
    def _stack_outputs(repo: Path, stage: str) -> dict[str, str]:
        path = repo / "build" / f"{stage}-outputs.json"
        if not path.is_file():
            raise StepFailed(f"the {stage} deploy job exported no stack outputs ({path})")
        return json.loads(path.read_text())

    @staticmethod
    def _staging_report(repo: Path, job_log: Path) -> dict[str, str]:
        """Outcome of test-staging: its JUnit report, and the figures its checks printed."""
        path = repo / "build" / "test-report.xml"
        if not path.is_file():
            raise StepFailed(f"test-staging wrote no JUnit report at {path}")
        root = ElementTree.parse(path).getroot()
        failures = sum(int(suite.get("failures", 0)) + int(suite.get("errors", 0)) for suite in root.iter("testsuite"))
        if failures:
            raise StepFailed(f"{failures} staging tests failed; see {path}")
        report = {"staging tests": f"{sum(1 for _ in root.iter('testcase'))} passed ({path.name})"}
        # test.py prints `PASS <check>: <figures>`; keep the figures of the quality and latency checks.
        for line in job_log.read_text().splitlines():
            for check, label in (
                ("mse_matches_registered", "staging MSE"),
                ("p95_latency", "staging latency"),
                ("response_shape", "staging requests"),
            ):
                if f"PASS {check}: " in line:
                    report[label] = line.split(f"PASS {check}: ", 1)[1].strip()
        return report


@dataclass(frozen=True)
class _Invocation:
    """What the trigger reads of a Lambda context: the time left (its timeout, 60 s)."""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def model_package_state_change_event(package: dict, *, region: str) -> dict:
    """The EventBridge event SageMaker emits for a model package's state change."""
    detail = {
        key: package[key]
        for key in (
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
        if key in package
    }
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


def _zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def prepare_workdir(base: Path, *, keep: int = 3) -> Path:
    """A fresh run directory under `base`; older runs beyond `keep` are removed."""
    base.mkdir(parents=True, exist_ok=True)
    runs = sorted(p for p in base.iterdir() if p.is_dir() and p.name.startswith("run-"))
    for old in runs[: max(0, len(runs) - keep + 1)]:
        shutil.rmtree(old, ignore_errors=True)
    workdir = base / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    (workdir / "logs").mkdir(parents=True)
    return workdir


def load_default_config() -> PlatformConfig:
    """The configuration `make synth` uses."""
    return load_config(Lifecycle.config_path)
