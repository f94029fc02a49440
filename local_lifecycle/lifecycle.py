"""The lifecycle itself: what happens on AWS and GitLab for one project, reproduced locally.

1. synth + lint        `cdk synth` of every stack and product template; cfn-lint and cdk-nag.
2. emulator            moto (in process) holding what the product template creates.
3. launch project      the seed-code check-in custom resource's code seeds two local repos.
4. model build CI      the build repo's .gitlab-ci.yml under gitlab-ci-local trains and registers.
5. approve             approval, the EventBridge event as AWS sends it, the GitLab trigger.
6. model deploy CI     build, staging deploy, test staging (real HTTP), manual production deploy.
7. summary             a table of steps, metrics, endpoints and artifacts, and the HTML run report
                       (`run_report`: timings, metrics, plots, latency histogram, locations).

Each step is a method here; what it does lives in the module named for it (emulator,
project_resources, seed_assets, gitlab_ci, model_endpoint, staging_report, events).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from moto.events.models import EventPattern

from local_lifecycle import gitlab_ci
from local_lifecycle.emulator import Emulator
from local_lifecycle.events import model_package_state_change_event
from local_lifecycle.local_repository_host import LocalRepositoryHost
from local_lifecycle.model_endpoint import download_endpoint_model, start_model_server
from local_lifecycle.processes import stop
from local_lifecycle.product_template import ProductTemplate
from local_lifecycle.project_resources import ProjectResources, create_project_resources
from local_lifecycle.run_report import REPORT_FILE, RunReport, read_evaluation_plots
from local_lifecycle.seed_assets import upload_seed_assets
from local_lifecycle.staging_report import read_staging_report
from local_lifecycle.steps import StepFailed, StepResult, StepRunner, summary_table
from stacks.config import PlatformConfig, load_config
from tooling.lint import cfn_lint
from tooling.synth import synth

REPO_ROOT = Path(__file__).resolve().parents[1]


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
    project: ProjectResources | None = None
    host: LocalRepositoryHost | None = None
    build_project: int | None = None
    deploy_project: int | None = None
    build_summary: dict[str, Any] = field(default_factory=dict)
    staging: dict[str, dict[str, str]] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)
    report_path: Path | None = None


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
        stream: TextIO = sys.stdout,
    ) -> None:
        self.data = data
        self.config = config
        self.launch = launch
        self.state = RunState(workdir=workdir)
        self.cdk_out = cdk_out or workdir / "cdk.out"
        self.reuse_cdk_out = cdk_out is not None
        self.stream = stream
        self.emulator = Emulator(region=config.region)
        self.keep_emulator = False
        self._cleanup = ExitStack()

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
            runner.run("summary and HTML run report", lambda: self.write_report(runner.results))
        finally:
            if not self.keep_emulator:  # otherwise the caller inspects the emulator, then calls close()
                self.close()
        return summary_table(runner.results, self.state.facts)

    def close(self) -> None:
        """Stop the emulator and the servers kept running by `keep_emulator`."""
        self._cleanup.close()

    def synth_and_lint(self) -> dict[str, str]:
        """Step 1: every template synthesized, cdk-nag and cfn-lint clean."""
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

    def start_emulator(self) -> dict[str, str]:
        """Step 2: the emulator, holding what launching the product creates."""
        self._cleanup.enter_context(self.emulator)
        template = self._template()
        project = self.state.project = create_project_resources(
            self.emulator,
            template,
            parameters=self.launch.as_template_parameters(template.parameter_defaults()),
            image_repository_prefix=self.config.name,
            data=self.data,
        )
        self.state.facts.update(
            {
                "emulator": f"{self.emulator.url} (moto, in process)",
                "artifact bucket": f"s3://{project.bucket}",
                "model package group": project.group,
                "input data": project.input_data_url,
            }
        )
        return {"emulator": self.emulator.url, "bucket": project.bucket, "group": project.group}

    def launch_project(self) -> dict[str, str]:
        """Step 3: the seed-code check-in's own code creates and seeds both repositories."""
        from gitlab_host.connections import connections_from_env  # Lambda code: lambdas/ is on sys.path
        from seed_code_checkin.checkin import handle_event

        template, project = self._template(), self._project()
        custom_id, custom = template.single("Custom::GitLabSeedCode")
        properties = template.resolve(
            {k: v for k, v in custom["Properties"].items() if k != "ServiceToken"}, project.refs, project.attributes
        )
        upload_seed_assets(
            self.emulator.client("s3"), cdk_out=self.cdk_out, properties=properties, region=self.config.region
        )
        # The local host has the connection's group (or personal namespace) at the configured path.
        namespace, group_id = properties["GitLabRepositoryNamespace"], properties["GitLabGroupId"]
        root = self.state.workdir / "gitlab"
        self.state.host = host = (
            LocalRepositoryHost(root, groups={int(group_id): namespace})
            if group_id
            else LocalRepositoryHost(root, personal_namespace=namespace)
        )
        # The allowed connections as the template gives them to the function (see gitlab_host.connections).
        connections = connections_from_env(self._function_environment("seed_code_checkin"))
        event = {
            "RequestType": "Create",
            "ResourceType": "Custom::GitLabSeedCode",
            "LogicalResourceId": custom_id,
            "StackId": "local",
            "RequestId": "local-1",
            "ResourceProperties": properties,
        }
        with self.emulator.patched_environment():
            response = handle_event(event, host_factory=lambda _connection: host, connections=connections)
        data = response["Data"]
        for name, value in data.items():
            project.attributes[(custom_id, name)] = value
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

    def run_model_build(self) -> dict[str, str]:
        """Step 4: the build repo's whole pipeline trains, evaluates and registers."""
        host, project = self._host(), self._project()
        assert self.state.build_project is not None
        summary_path = self.state.workdir / "model-build-run.json"
        self._gitlab_ci(
            host.repo_path(self.state.build_project),
            [],
            variables={
                "PIPELINE_EXECUTION_MODE": "local",
                "INPUT_DATA_URL": project.input_data_url,
                "RUN_SUMMARY_PATH": str(summary_path),
            },
            log_name="model-build",
        )
        if not summary_path.is_file():
            raise StepFailed(f"the training job wrote no run summary at {summary_path}")
        summary = self.state.build_summary = json.loads(summary_path.read_text())
        arn = summary["model_package_arn"]
        package = self.emulator.client("sagemaker").describe_model_package(ModelPackageName=arn)
        if package["ModelApprovalStatus"] != "PendingManualApproval":
            raise StepFailed(f"registered {arn} as {package['ModelApprovalStatus']}, expected PendingManualApproval")
        gate = summary["quality_gate"]
        bound = "min" if "min" in gate else "max"
        metric = gate["metric"]
        self.state.facts.update(
            {
                f"test {metric}": f"{summary['metric_value']:.3f} (quality gate: {metric} "
                f"{'>=' if bound == 'min' else '<='} {gate[bound]:g}; {summary['problem_type']})",
                "model package": arn,
                "model artifact": summary["artifacts"]["model_data_url"],
                "pipeline steps": ", ".join(f"{k} {v:.1f}s" for k, v in summary["step_seconds"].items()),
                "training cost": _cost_fact(summary["costs"]),
            }
        )
        return {f"test_{metric}": f"{summary['metric_value']:.3f}", "status": package["ModelApprovalStatus"]}

    def approve_and_trigger(self) -> dict[str, str]:
        """Step 5: approval, the event checked against the rule's pattern, the trigger's own code."""
        from gitlab_trigger.trigger import TriggerConfig, persistence_for, process_event

        template, project, host = self._template(), self._project(), self._host()
        arn = self.state.build_summary["model_package_arn"]
        sagemaker = self.emulator.client("sagemaker")
        sagemaker.update_model_package(
            ModelPackageArn=arn,
            ModelApprovalStatus="Approved",
            ApprovalDescription="Approved in the local lifecycle run",
        )
        package = sagemaker.describe_model_package(ModelPackageName=arn)
        event = json.loads(
            json.dumps(model_package_state_change_event(package, region=self.config.region), default=str)
        )
        (event_path := self.state.workdir / "approval-event.json").write_text(json.dumps(event, indent=2))
        _, rule = template.single("AWS::Events::Rule")
        pattern = template.resolve(rule["Properties"]["EventPattern"], project.refs)
        if not EventPattern.load(json.dumps(pattern)).matches_event(event):
            raise StepFailed(f"the approval event {event_path} does not match the rule pattern {pattern}")
        config = TriggerConfig.from_env(self._function_environment("gitlab_trigger"))
        with self.emulator.patched_environment():
            persistence = persistence_for(config)
            invocation = _Invocation()
            result = process_event(event, config=config, host=host, persistence=persistence, lambda_context=invocation)
            # EventBridge delivers at least once: the same event again must not start a second pipeline.
            again = process_event(event, config=config, host=host, persistence=persistence, lambda_context=invocation)
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

    def run_model_deploy(self) -> dict[str, str]:
        """Step 6: the deploy repo's jobs; the staging endpoint served by the real model server."""
        host = self._host()
        assert self.state.deploy_project is not None
        repo = host.repo_path(self.state.deploy_project)
        (pipeline,) = [p for p in host.pipelines() if p["project_id"] == self.state.deploy_project]
        variables = dict(pipeline["variables"])
        self._gitlab_ci(repo, ["build", "deploy-staging"], variables=variables, log_name="model-deploy-staging")
        # Named by the staging stack's outputs: the emulator names endpoints itself, while on AWS
        # the template's EndpointName (<project>-staging) applies.
        staging = self._stack_outputs(repo, "staging")["EndpointName"]
        ci_variables = host.variables(self.state.deploy_project)
        chains = {stage: ci_variables.get(f"DEPLOY_ROLE_ARN_{stage.upper()}", "") for stage in ("staging", "prod")}
        port = self._serve_endpoint(staging, role_chain=chains["staging"])
        variables["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = f"http://127.0.0.1:{port}"
        # No SageMaker front end publishes ModelLatency here: the model server's own Server-Timing stands in.
        variables["ENDPOINT_LATENCY_SOURCE"] = "server-timing"
        self._gitlab_ci(repo, ["test-staging"], variables=variables, log_name="model-deploy-test")
        self._gitlab_ci(
            repo, ["--manual", "deploy-prod", "deploy-prod"], variables=variables, log_name="model-deploy-prod"
        )
        prod = self._stack_outputs(repo, "prod")["EndpointName"]
        accounts = {}
        for stage, name in (("staging", staging), ("prod", prod)):
            status = self.emulator.client("sagemaker", role_chain=chains[stage]).describe_endpoint(EndpointName=name)
            if status["EndpointStatus"] != "InService":
                raise StepFailed(f"{stage} endpoint {name} is {status['EndpointStatus']}, expected InService")
            sts = self.emulator.client("sts", role_chain=chains[stage])
            accounts[stage] = sts.get_caller_identity()["Account"]
        report = self._staging_figures(repo)
        self.state.staging = read_staging_report(repo / "build" / "test-report.xml").properties
        redshift_sql = repo / "build" / "redshift-ml-prod.sql"
        if redshift_sql.is_file():  # redshift_ml is configured: deploy-prod wrote the CREATE MODEL SQL
            self.state.facts["Redshift ML SQL"] = str(redshift_sql)
        self.state.facts.update(
            {
                "staging endpoint": f"{staging} in account {accounts['staging']} (served on 127.0.0.1:{port})",
                "production endpoint": f"{prod} in account {accounts['prod']}",
                **report,
            }
        )
        return {"endpoints": f"{staging}, {prod}", **report}

    def write_report(self, steps: list[StepResult]) -> dict[str, str]:
        """Step 7: the HTML run report (the evaluation plots read from the artifact bucket)."""
        summary = self.state.build_summary
        plots = read_evaluation_plots(
            self.emulator.client("s3"), summary.get("artifacts", {}).get("evaluation_plots_url")
        )
        path = self.state.report_path = RunReport(
            steps=list(steps),
            build_summary=summary,
            facts={"run directory": str(self.state.workdir), **self.state.facts},
            evaluation_plots=plots,
            staging=self.state.staging,
        ).write(self.state.workdir / REPORT_FILE)
        self.state.facts["run report"] = str(path)
        return {"report": path.name, "plots": str(len(plots))}

    def _gitlab_ci(self, repo: Path, jobs: list[str], *, variables: dict[str, str], log_name: str) -> None:
        """Jobs of `repo`'s pipeline with the emulator's settings as CI variables."""
        gitlab_ci.run_jobs(
            repo,
            jobs,
            variables={**self.emulator.environment(), **variables},
            log_path=self.state.workdir / "logs" / f"{log_name}.log",
        )

    def _serve_endpoint(self, endpoint_name: str, *, role_chain: str) -> int:
        """Serve the endpoint's model (as deployed in the emulator) with the real model server."""
        model_dir = download_endpoint_model(
            self.emulator,
            endpoint_name,
            role_chain=role_chain,
            model_dir=self.state.workdir / "endpoints" / endpoint_name / "model",
        )
        server, port = start_model_server(
            model_dir, log_path=self.state.workdir / "logs" / f"{endpoint_name}-server.log"
        )
        self._cleanup.callback(stop, server)
        return port

    @staticmethod
    def _stack_outputs(repo: Path, stage: str) -> dict[str, str]:
        path = repo / "build" / f"{stage}-outputs.json"
        if not path.is_file():
            raise StepFailed(f"the {stage} deploy job exported no stack outputs ({path})")
        outputs: dict[str, str] = json.loads(path.read_text())
        return outputs

    @staticmethod
    def _staging_figures(repo: Path) -> dict[str, str]:
        """Outcome of test-staging and the figures its tests recorded, from its JUnit report."""
        report = read_staging_report(repo / "build" / "test-report.xml")
        if not report.passed:
            failed = {name: outcome for name, outcome in report.outcomes.items() if outcome != "passed"}
            raise StepFailed(f"staging tests did not pass: {failed}; see {report.path}")
        shape = report.properties.get("test_response_shape", {})
        quality = report.properties.get("test_metric_matches_registered", {})
        latency = report.properties.get("test_latency_percentiles", {})
        model = report.properties.get("test_model_latency_at_the_endpoint", {})
        return {
            "staging tests": f"{len(report.outcomes)} passed ({report.path.name})",
            "staging requests": f"{shape.get('rows', '?')} rows in {shape.get('requests', '?')} requests",
            "staging metric": f"{quality.get('metric', '?')} {quality.get('value', '?')}, "
            f"registered {quality.get('registered', '?')}",
            "staging latency": f"round trip p50/p90/p99 {_percentiles(latency)} ms over "
            f"{latency.get('latency_probes', '?')} single-row requests; at the endpoint {_percentiles(model)} ms "
            f"({model.get('source', '?')})",
        }

    def _function_environment(self, package: str) -> dict[str, Any]:
        """The environment the product template gives the Lambda whose handler is in `package`."""
        template, project = self._template(), self._project()
        functions = template.resources("AWS::Lambda::Function")
        function = next(f for f in functions.values() if f["Properties"]["Handler"].startswith(f"{package}."))
        environment: dict[str, Any] = template.resolve(
            function["Properties"]["Environment"]["Variables"], project.refs, project.attributes
        )
        return environment

    def _template(self) -> ProductTemplate:
        if self.state.template is None:
            raise StepFailed("no product template: step 1 did not run")
        return self.state.template

    def _project(self) -> ProjectResources:
        if self.state.project is None:
            raise StepFailed("no project resources: step 2 did not run")
        return self.state.project

    def _host(self) -> LocalRepositoryHost:
        if self.state.host is None:
            raise StepFailed("no repository host: step 3 did not run")
        return self.state.host


def _cost_fact(costs: dict[str, Any]) -> str:
    """`0.000931 USD estimated for 14.6 billable instance-seconds (...)` from the run summary's costs."""
    total = costs["estimated_cost"]
    amount = "no complete estimate" if total is None else f"{total:.6f} {costs['currency']} estimated"
    return (
        f"{amount} for {costs['billable_instance_seconds']:.1f} billable instance-seconds "
        f"({costs['region']} prices as of {costs['prices_as_of']}; this machine's run times priced as the "
        "configured instance types)"
    )


def _percentiles(recorded: dict[str, str]) -> str:
    """`1.2/1.9/4.0` from the p50/p90/p99 a latency test recorded."""
    return "/".join(recorded.get(f"{name}_ms", "?") for name in ("p50", "p90", "p99"))


@dataclass(frozen=True)
class _Invocation:
    """What the trigger reads of a Lambda context: the time left (its timeout, 60 s)."""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


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
