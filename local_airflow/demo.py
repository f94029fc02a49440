"""`make airflow-demo`: the Airflow variant end to end, offline.

1. model repository pipeline (gitlab-ci-local): tests, package;
2. multi-project hand-over to the MLOps repository (the trigger job's variables, as GitLab passes them);
3. MLOps pipeline (gitlab-ci-local): fetch the package with CI_JOB_TOKEN (GitLab API stand-in), pylint,
   semantic version, build-image (docker stand-in: checks the commands, records the tag in ECR),
   trigger-training -> DAG trigger Lambda (real handler, Lambda Invoke stand-in) -> MWAA InvokeRestApi
   (stand-in) accepts the DAG run;
4. the accepted run executes: `dag.test()` of mlops_training in Airflow 3.3.1 against the emulator; the
   SageMaker jobs run the model image's code (XGBoost training, evaluation); version 1.0.0 registered;
5. manual approval job (gitlab-ci-local): approves 1.0.0, triggers mlops_deployment -> endpoint + auto scaling;
6. scheduled pipeline: retrain -> 1.0.1 (retraining bumps the patch);
7. a minor change to the model code -> image 1.1.0 -> model 1.1.0;
8. a training run that misses the evaluation gate: the failure callback reaches Slack and SNS.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_airflow.airflow_workspace import AirflowWorkspace, DagRunResult
from local_airflow.emulator import ACCOUNT, REGION, LocalAwsPlatform
from local_airflow.gitlab_standin import GitLabArtifactsStandIn
from local_airflow.lambda_standin import LambdaStandIn, LocalFunction
from local_airflow.mwaa_standin import MwaaStandIn
from local_airflow.pipelines import LocalRepository, downstream_trigger, read_dotenv, run_pipeline
from local_airflow.sagemaker_jobs import LocalSageMakerJobs
from local_airflow.slack_standin import SlackStandIn
from stacks.components.airflow_ci_variables import (
    DEPLOYMENT_DAG,
    TRAINING_DAG,
    mlops_repository_variables,
    model_repository_variables,
)
from stacks.config import AirflowConfig, load_config

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "abalone-dataset.csv"
TRIGGER_FUNCTION = "mlops-airflow-dag-trigger"
NAMESPACE = "ml-team"
MODEL_PROJECT_ID = "101"


def _trigger_handler() -> Callable[[Any, Any], Any]:
    sys.path.insert(0, str(REPO_ROOT / "lambdas"))
    from mwaa_dag_trigger.handler import handler

    return handler


@dataclass
class AirflowDemo:
    """The offline platform (stand-ins, emulator, Airflow workspace) and the demo's steps."""

    workdir: Path
    airflow: AirflowConfig
    data: Path
    say: Callable[[str], None] = print
    runs: list[DagRunResult] = field(default_factory=list)
    loaded: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def running(self) -> Iterator[AirflowDemo]:
        """Start every stand-in and the emulator; stop them on exit."""
        project, model = self.first_model
        with ExitStack() as stack:
            self.slack = stack.enter_context(SlackStandIn())
            self.aws = stack.enter_context(LocalAwsPlatform(self.airflow, slack_webhook_url=self.slack.webhook_url))
            self.mwaa = stack.enter_context(
                MwaaStandIn(environment_name=self.airflow.environment_name, dags={TRAINING_DAG, DEPLOYMENT_DAG})
            )
            function_env = {
                **self.aws.environment(),
                "MWAA_ENVIRONMENT_NAME": self.airflow.environment_name,
                "ALLOWED_DAGS": f"{TRAINING_DAG},{DEPLOYMENT_DAG}",
                "MWAA_ENDPOINT_URL": self.mwaa.url,
                "POWERTOOLS_SERVICE_NAME": "mwaa-dag-trigger",
            }
            self.lambdas = stack.enter_context(
                LambdaStandIn({TRIGGER_FUNCTION: LocalFunction(_trigger_handler(), function_env)})
            )
            self.gitlab = stack.enter_context(GitLabArtifactsStandIn())
            self.model_repo = LocalRepository.from_seed("airflow-model", self.workdir / "repos" / f"{project}-{model}")
            self.mlops_repo = LocalRepository.from_seed(
                "airflow-mlops", self.workdir / "repos" / f"{project}-{model}-mlops"
            )
            stack.enter_context(
                LocalSageMakerJobs(
                    s3=self.aws.client("s3"),
                    images={self.aws.repository_uri(project, model): self.model_repo.path},
                    workdir=self.workdir,
                    log=self.say,
                )
            )
            self.workspace = AirflowWorkspace(self.workdir / "airflow", self.aws.environment())
            yield self

    @property
    def first_model(self) -> tuple[str, str]:
        """The (project, model) the demo runs: the first configured one."""
        project = self.airflow.projects[0]
        return project.name, project.models[0].name

    # ------------------------------------------------------------------------------------ steps
    def prepare(self) -> None:
        """Data splits in S3 and the Airflow workspace (DAGs as shipped, platform file, metadata DB)."""
        project, model = self.first_model
        counts = self.aws.upload_training_data(project, model, self.data)
        self.say(f"data: {self.data.name} split into {counts} rows under s3://.../{project}/{model}/data/")
        self.workspace.prepare(self.aws.platform_document())
        loaded = self.loaded = self.workspace.load()
        if loaded["import_errors"]:
            raise RuntimeError(f"DAG import errors: {loaded['import_errors']}")
        self.say(f"airflow: DagBag loaded {sorted(loaded['dags'])} with no import errors")

    def model_pipeline(self) -> dict[str, str]:
        """Run the model repository's pipeline; return the variables its trigger job passes downstream."""
        project, model = self.first_model
        mlops_path = f"{NAMESPACE}/{project}-{model}-mlops"
        variables = {
            **model_repository_variables(project=project, model=model, mlops_project_path=mlops_path),
            "CI_PIPELINE_SOURCE": "push",
        }
        run_pipeline(self.model_repo, variables=variables, log=self.workdir / "logs" / "model-pipeline.log")
        package_env = read_dotenv(self.model_repo.path / "build" / "package.env")
        self.gitlab.add_job_artifacts(
            MODEL_PROJECT_ID,
            package_env["PACKAGE_JOB_ID"],
            self.model_repo.path,
            ["build/model-source.tar.gz", "build/manifest.json"],
        )
        commit = self._head(self.model_repo)
        upstream = {
            **variables,
            **package_env,
            "CI_PROJECT_ID": MODEL_PROJECT_ID,
            "CI_PROJECT_PATH": f"{NAMESPACE}/{project}-{model}",
            "CI_COMMIT_SHA": commit,
            "CI_PIPELINE_URL": f"https://gitlab.example.com/{NAMESPACE}/{project}-{model}/-/pipelines/1",
        }
        trigger = downstream_trigger(self.model_repo, "mlops", upstream=upstream)
        if trigger.project != mlops_path or trigger.strategy != "depend":
            raise RuntimeError(f"unexpected trigger {trigger}")
        self.say(
            f"model pipeline: test, package passed; trigger {trigger.project}@{trigger.branch} "
            f"(strategy {trigger.strategy}) with {sorted(trigger.variables)}"
        )
        return trigger.variables

    def mlops_pipeline(
        self, *, source: str, variables: dict[str, str], pipeline_id: int, jobs: list[str] | None = None
    ) -> str:
        """Run MLOps pipeline `pipeline_id` (or some of its jobs) with its CI/CD variables and the stand-ins."""
        project, model = self.first_model
        docker_bin = self.workdir / "bin"
        docker_bin.mkdir(parents=True, exist_ok=True)
        (docker_bin / "docker").write_text(
            f'#!/bin/sh\nPYTHONPATH={REPO_ROOT} exec {sys.executable} -m local_airflow.docker_standin "$@"\n'
        )
        (docker_bin / "docker").chmod(0o755)
        ci_variables = {
            **mlops_repository_variables(
                project=project,
                model=model,
                region=REGION,
                role_arn=f"arn:aws:iam::{ACCOUNT}:role/{project}-{model}-mlops-ci",
                repository_uri=self.aws.repository_uri(project, model),
                base_image_uri=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/xgboost:cpu",
                artifact_bucket=self.aws.bucket,
                trigger_function=TRIGGER_FUNCTION,
            ),
            **self.aws.environment(),
            "AWS_ENDPOINT_URL_LAMBDA": self.lambdas.url,
            "CI_PIPELINE_SOURCE": source,
            "CI_SERVER_URL": self.gitlab.url,
            "CI_JOB_TOKEN": self.gitlab.job_token,
            "CI_PIPELINE_ID": str(pipeline_id),
            "CI_PIPELINE_URL": f"https://gitlab.example.com/{NAMESPACE}/{project}-{model}-mlops/-/pipelines/"
            f"{pipeline_id}",
            "GITLAB_USER_LOGIN": "approver",
            "DOCKER_STANDIN_LOG": str(self.workdir / "logs" / "docker.jsonl"),
            **variables,
        }
        return run_pipeline(
            self.mlops_repo,
            variables=ci_variables,
            jobs=jobs,
            path_prefix=[docker_bin],
            log=self.workdir / "logs" / f"mlops-{pipeline_id}-{'-'.join(jobs or ['pipeline'])}.log",
        )

    def execute_accepted_runs(self) -> list[DagRunResult]:
        """Run every DAG run MWAA accepted, in order, with `dag.test()` and its conf."""
        results = []
        for run in self.mwaa.pending():
            started = time.monotonic()
            result = self.workspace.test(run.dag_id, run.conf, log_name=f"{run.dag_id}-{len(self.runs) + 1}")
            self.mwaa.finish(run, result.state)
            self.runs.append(result)
            results.append(result)
            failed = f", failed: {result.failed_tasks()}" if result.failed_tasks() else ""
            seconds = time.monotonic() - started
            self.say(f"airflow: {run.dag_id} run {run.run_id} -> {result.state} in {seconds:.0f} s{failed}")
        return results

    def registered_versions(self) -> dict[str, dict[str, str]]:
        """Model version -> metadata and approval status, from the emulator's registry."""
        project, model = self.first_model
        sagemaker = self.aws.client("sagemaker")
        versions = {}
        for summary in sagemaker.list_model_packages(ModelPackageGroupName=f"{project}-{model}")[
            "ModelPackageSummaryList"
        ]:
            described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            metadata = described.get("CustomerMetadataProperties") or {}
            versions[metadata.get("ModelVersion", "?")] = {**metadata, "status": described["ModelApprovalStatus"]}
        return versions

    @staticmethod
    def _head(repository: LocalRepository) -> str:
        import subprocess

        return subprocess.run(
            ["git", "-C", str(repository.path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()

    # ----------------------------------------------------------------------------------- scenarios
    def train_from_model_commit(self, pipeline_id: int) -> dict[str, str]:
        """Model pipeline -> MLOps pipeline -> training DAG run; return the version job's dotenv."""
        downstream = self.model_pipeline()
        self.mlops_pipeline(source="pipeline", variables=downstream, pipeline_id=pipeline_id)
        versions = read_dotenv(self.mlops_repo.path / "build" / "version.env")
        self.say(
            f"mlops pipeline: fetch, pylint, version {versions['IMAGE_VERSION']} ({versions['VERSION_BUMP']}), "
            "build-image, trigger-training passed"
        )
        self.execute_accepted_runs()
        return versions

    def approve(self, image_version: str, pipeline_id: int) -> list[DagRunResult]:
        """The manual approval job of pipeline `pipeline_id`, then the deployment DAG run it triggered."""
        self.mlops_pipeline(
            source="pipeline",
            variables={"IMAGE_VERSION": image_version},
            pipeline_id=pipeline_id,
            jobs=["approve-and-deploy"],
        )
        return self.execute_accepted_runs()

    def retrain(self, pipeline_id: int) -> list[DagRunResult]:
        """The scheduled pipeline's retrain job, then the training DAG run it triggered."""
        self.mlops_pipeline(source="schedule", variables={}, pipeline_id=pipeline_id, jobs=["retrain"])
        return self.execute_accepted_runs()


def run(demo: AirflowDemo) -> int:
    """All steps; print a summary line."""
    started = time.monotonic()
    project, model = demo.first_model
    endpoint = f"{project}-{model}"
    with demo.running():
        demo.prepare()
        first = demo.train_from_model_commit(1001)
        demo.approve(first["IMAGE_VERSION"], 1001)
        described = demo.aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)
        targets = demo.aws.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
        demo.say(
            f"endpoint: {endpoint} {described['EndpointStatus']}, auto scaling "
            f"{[(t['MinCapacity'], t['MaxCapacity']) for t in targets['ScalableTargets']]}"
        )
        demo.retrain(1002)
        evaluate = demo.model_repo.path / "model" / "evaluate.py"
        evaluate.write_text(evaluate.read_text() + "\n# Scores are written with the report's schema version 1.\n")
        demo.model_repo.commit("Evaluation: note the report schema")
        second = demo.train_from_model_commit(1003)
        demo.say(f"versioning: model code changed -> image {second['IMAGE_VERSION']} ({second['VERSION_BUMP']})")
        failing = demo.workspace.test(
            TRAINING_DAG,
            {
                "project": project,
                "model": model,
                "image_version": second["IMAGE_VERSION"],
                "hyperparameters": {"num_round": "1", "eta": "0.01"},
            },
            log_name="training-gate-failure",
        )
        demo.runs.append(failing)
        demo.say(f"airflow: a training run with num_round=1 -> {failing.state}, failed: {failing.failed_tasks()}")
        versions = demo.registered_versions()
        emails = demo.aws.emails()
        demo.say(
            "registry: "
            + ", ".join(f"{v} ({m['status']}, image {m.get('ImageVersion')})" for v, m in sorted(versions.items()))
        )
        demo.say(
            f"notifications: {len(demo.slack.messages)} Slack messages, {len(emails)} e-mails (SNS); last: "
            f"{demo.slack.texts()[-1][:90]}"
        )
        ok = (
            sorted(versions) == ["1.0.0", "1.0.1", "1.1.0"]
            and described["EndpointStatus"] == "InService"
            and failing.state == "failed"
            and all(run.state == "success" for run in demo.runs[:-1])
        )
    elapsed = time.monotonic() - started
    print(
        f"airflow-demo: {'OK' if ok else 'FAILED'}: {len(demo.runs)} DAG runs, model versions {sorted(versions)}, "
        f"endpoint {endpoint}, {len(demo.slack.messages)} Slack / {len(emails)} e-mail notifications "
        f"in {elapsed:.0f} s (logs: {demo.workdir / 'logs'})"
    )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "config" / "default.yaml")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / ".local-run" / "airflow")
    args = parser.parse_args(argv)
    airflow = load_config(args.config).airflow
    if airflow is None:
        print(f"airflow-demo: {args.config} has no `airflow` section", file=sys.stderr)
        return 2
    import shutil

    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    return run(AirflowDemo(args.workdir, airflow, args.data))


if __name__ == "__main__":
    sys.exit(main())
