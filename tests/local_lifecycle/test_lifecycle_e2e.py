"""End to end: the whole lifecycle of `make demo` on a sample of the Abalone data.

Real code throughout: the synthesized product template, the seed-code check-in and trigger
Lambdas' code, both seed repositories' .gitlab-ci.yml under gitlab-ci-local, the model build
steps, the deploy scripts against the emulator, and the model server answering over HTTP.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from local_lifecycle.lifecycle import LaunchParameters, Lifecycle, load_default_config, prepare_workdir
from local_lifecycle.sample_data import subsample, write_sample

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
ABALONE = Path(__file__).resolve().parents[3] / "shared" / "data" / "abalone-dataset.csv"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    workdir = prepare_workdir(tmp_path_factory.mktemp("lifecycle"))
    data = (
        subsample(ABALONE, workdir / "data" / "abalone.csv", rows=1500)
        if ABALONE.is_file()
        else write_sample(workdir / "data" / "abalone.csv")
    )
    stream = io.StringIO()
    lifecycle = Lifecycle(
        data=data, workdir=workdir, config=load_default_config(), launch=LaunchParameters(), stream=stream
    )
    # Keep the emulator up after the run so the tests can inspect what the lifecycle left there.
    lifecycle.keep_emulator = True
    try:
        table = lifecycle.run()
        yield lifecycle, table, stream.getvalue()
    finally:
        lifecycle.close()


def client(lifecycle: Lifecycle, service: str):
    return lifecycle.emulator.client(service)


def test_every_step_reports_progress_and_the_summary_holds_the_key_facts(run) -> None:
    _, table, output = run
    for number in range(1, 8):
        assert f"[{number}/7]" in output
    for fact in (
        "test mse",
        "quality gate: mse <= 6",
        "model package",
        "staging endpoint",
        "staging metric",
        "run report",
    ):
        assert fact in table


def test_a_model_version_was_registered_with_its_metrics_and_approved(run) -> None:
    lifecycle, _, _ = run
    summary = lifecycle.state.build_summary
    assert summary["metric_value"] <= 6.0 and summary["quality_gate"] == {"metric": "mse", "max": 6.0}
    package = client(lifecycle, "sagemaker").describe_model_package(ModelPackageName=summary["model_package_arn"])
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ModelPackageGroupName"] == "abalone-p-local0demo01"
    statistics = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    bucket, key = statistics.removeprefix("s3://").split("/", 1)
    evaluation = json.loads(client(lifecycle, "s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert evaluation["regression_metrics"]["mse"]["value"] == pytest.approx(summary["metric_value"])


def test_the_approval_event_matched_the_rule_and_started_the_deploy_pipeline(run) -> None:
    lifecycle, _, _ = run
    event = json.loads((lifecycle.state.workdir / "approval-event.json").read_text())
    assert event["source"] == "aws.sagemaker"
    assert event["detail-type"] == "SageMaker Model Package State Change"
    assert event["detail"]["ModelApprovalStatus"] == "Approved"
    (pipeline,) = lifecycle.state.host.pipelines()
    assert pipeline["project_id"] == lifecycle.state.deploy_project
    assert pipeline["variables"]["MODEL_PACKAGE_ARN"] == event["detail"]["ModelPackageArn"]


def test_staging_and_production_stacks_are_deployed_with_the_approved_model_in_their_accounts(run) -> None:
    """config/default.yaml promotes into staging 333333333333 and production 222222222222."""
    lifecycle, _, _ = run
    variables = lifecycle.state.host.variables(lifecycle.state.deploy_project)
    model_data = lifecycle.state.build_summary["artifacts"]["model_data_url"]
    for stage, account in (("staging", "333333333333"), ("prod", "222222222222")):
        chain = variables[f"DEPLOY_ROLE_ARN_{stage.upper()}"]
        assert lifecycle.emulator.client("sts", role_chain=chain).get_caller_identity()["Account"] == account
        cloudformation = lifecycle.emulator.client("cloudformation", role_chain=chain)
        stacks = {s["StackName"]: s["StackStatus"] for s in cloudformation.describe_stacks()["Stacks"]}
        assert stacks == {f"sagemaker-abalone-p-local0demo01-deploy-{stage}": "CREATE_COMPLETE"}
        sagemaker = lifecycle.emulator.client("sagemaker", role_chain=chain)
        (model,) = sagemaker.list_models()["Models"]
        container = sagemaker.describe_model(ModelName=model["ModelName"])
        assert container["PrimaryContainer"]["ModelDataUrl"] == model_data
        assert container["ExecutionRoleArn"] == f"arn:aws:iam::{account}:role/sagemaker-execution-role-mlops"
    # Nothing was deployed in the data science account itself.
    assert client(lifecycle, "cloudformation").describe_stacks()["Stacks"] == []


def test_staging_predictions_were_served_over_http_and_checked(run) -> None:
    lifecycle, table, _ = run
    assert "5 passed" in lifecycle.state.facts["staging tests"]
    assert "(server-timing)" in lifecycle.state.facts["staging latency"]
    # The default region's price of the default instance type is in the seed's table: a complete estimate.
    assert " USD estimated for " in lifecycle.state.facts["training cost"]
    assert lifecycle.state.facts["staging metric"].startswith("mse ")
    repo = lifecycle.state.host.repo_path(lifecycle.state.deploy_project)
    assert (repo / "build" / "test-report.xml").is_file()
    # redshift_ml is configured: deploy-prod wrote the CREATE MODEL SQL for the production endpoint,
    # one float8 per feature of the model build's features.json, with the project's Redshift ML role.
    assert lifecycle.state.facts["Redshift ML SQL"] == str(repo / "build" / "redshift-ml-prod.sql")
    sql = (repo / "build" / "redshift-ml-prod.sql").read_text()
    prod = json.loads((repo / "build" / "prod-outputs.json").read_text())["EndpointName"]
    assert f"SAGEMAKER '{prod}'" in sql and "RedshiftMl" in sql.split("IAM_ROLE '", 1)[1].split("'")[0]
    assert sql.count("  float8") == 10  # abalone: 7 numeric features and sex one-hot encoded
    server_log = lifecycle.state.workdir / "logs"
    assert any(p.name.endswith("-server.log") for p in server_log.iterdir())


def test_the_run_report_renders_with_every_image_loaded(run, image_report) -> None:
    """What `make demo` prints the path of: steps, metrics, the evaluation plots and the latency histogram."""
    lifecycle, _, _ = run
    page = lifecycle.state.report_path
    assert page == lifecycle.state.workdir / "run-report.html"
    rendered = image_report(page)
    alts = [image["alt"] for image in rendered["images"]]
    assert alts == [
        "Feature importance",
        "Predicted vs actual",
        "Residuals",
        "Staging endpoint latency (single-row requests)",
    ]
    assert all(image["loaded"] for image in rendered["images"]), rendered["images"]
    text = page.read_text()
    for expected in (
        "mse &lt;= 6.0",
        "model build pipeline (.gitlab-ci.yml: training)",
        "Preprocess",
        "p99_ms",
        "Cost per step",
    ):
        assert expected in text
