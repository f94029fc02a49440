"""Test stage: check the staging endpoint really serves the approved model well enough.

    python test/test.py            # after build.py and deploy.py --stage staging

Checks, each a test case of the JUnit report GitLab shows (`--report`, default
`build/test-report.xml`):

1. `endpoint_in_service`: the endpoint reaches InService (polled up to `InServiceTimeoutSeconds`).
2. `response_shape`: every held-out row, sent as CSV in requests of `BatchRows` rows, gets exactly
   one finite numeric prediction back.
3. `mse_matches_registered`: the MSE of those predictions is within `MseRelativeTolerance` of the
   MSE registered with the model package (`regression_metrics.mse.value` of its evaluation.json).
4. `p95_latency`: the p95 latency of `LatencyProbes` single-row requests is under `P95LatencyMs`.

Settings come from the `Test` section of `staging-config.json`. The held-out rows are the model
build's test split (CSV, no header, label first): by default the CSV files under
`<execution prefix>/data/test/`, where the package's evaluation.json is
`<execution prefix>/evaluation/evaluation.json` (the model build's layout); `TEST_DATA_S3_URI`
names another prefix or file.

Requests go through boto3's `sagemaker-runtime` `invoke_endpoint`; with
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` set they reach that server instead (local runs).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the repository's own modules (run as `python test/test.py`)

from aws_session import session_for  # noqa: E402

TEST_SETTINGS = ("InServiceTimeoutSeconds", "BatchRows", "MseRelativeTolerance", "LatencyProbes", "P95LatencyMs")


class CheckFailed(Exception):
    """A check that did not pass; the message says what was expected and what was found."""


@dataclass
class CaseResult:
    """One JUnit test case: its name, duration and failure message (None when it passed)."""

    name: str
    seconds: float = 0.0
    failure: str | None = None
    skipped: str | None = None


@dataclass
class Report:
    """The test cases of one run, written as JUnit XML."""

    suite: str
    cases: list[CaseResult] = field(default_factory=list)

    def run(self, name: str, check: Callable[[], str | None]) -> bool:
        """Run `check`; a CheckFailed (or any error) fails the case. Returns whether it passed."""
        started = time.perf_counter()
        case = CaseResult(name)
        try:
            detail = check()
            print(f"PASS {name}" + (f": {detail}" if detail else ""))
        except CheckFailed as failure:
            case.failure = str(failure)
        except Exception as error:  # noqa: BLE001 - any error is a failed case in the report
            case.failure = f"{type(error).__name__}: {error}"
        if case.failure:
            print(f"FAIL {name}: {case.failure}")
        case.seconds = time.perf_counter() - started
        self.cases.append(case)
        return case.failure is None

    def skip(self, name: str, reason: str) -> None:
        """Record a case that could not run because an earlier one failed."""
        print(f"SKIP {name}: {reason}")
        self.cases.append(CaseResult(name, skipped=reason))

    @property
    def passed(self) -> bool:
        """Whether every case ran and passed."""
        return all(case.failure is None and case.skipped is None for case in self.cases)

    def write(self, path: Path) -> None:
        """Write the JUnit XML file GitLab reads (`artifacts:reports:junit`)."""
        failures = sum(case.failure is not None for case in self.cases)
        skipped = sum(case.skipped is not None for case in self.cases)
        suite = ET.Element(
            "testsuite",
            name=self.suite,
            tests=str(len(self.cases)),
            failures=str(failures),
            skipped=str(skipped),
            time=f"{sum(case.seconds for case in self.cases):.3f}",
        )
        for case in self.cases:
            element = ET.SubElement(suite, "testcase", classname=self.suite, name=case.name, time=f"{case.seconds:.3f}")
            if case.failure is not None:
                ET.SubElement(element, "failure", message=case.failure.splitlines()[0]).text = case.failure
            if case.skipped is not None:
                ET.SubElement(element, "skipped", message=case.skipped)
        path.parent.mkdir(parents=True, exist_ok=True)
        root = ET.Element("testsuites")
        root.append(suite)
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def load_test_settings(config_path: Path) -> dict:
    """The `Test` section of the stage configuration, every setting present and a positive number."""
    document = json.loads(config_path.read_text())
    settings = document.get("Test") if isinstance(document, dict) else None
    if not isinstance(settings, dict):
        raise CheckFailed(f'{config_path} has no "Test" object')
    for name in TEST_SETTINGS:
        value = settings.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise CheckFailed(f"{config_path}: Test.{name} must be a positive number, got {value!r}")
    return settings


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (`bucket`, `key`)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise CheckFailed(f"{uri!r} is not an s3://bucket/key URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def test_data_uri(evaluation_uri: str, override: str | None) -> str:
    """Where the held-out rows are: `override`, else `<execution prefix>/data/test/` next to evaluation.json."""
    if override:
        return override
    marker = "/evaluation/"
    if marker not in evaluation_uri:
        raise CheckFailed(
            f"evaluation URI {evaluation_uri} is not <prefix>/evaluation/evaluation.json: "
            "set TEST_DATA_S3_URI to the test split's location"
        )
    return evaluation_uri.rsplit(marker, 1)[0] + "/data/test/"


def read_registered_mse(s3, evaluation_uri: str) -> float:
    """`regression_metrics.mse.value` of the package's evaluation.json."""
    bucket, key = split_s3_uri(evaluation_uri)
    report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    try:
        return float(report["regression_metrics"]["mse"]["value"])
    except (KeyError, TypeError, ValueError):
        raise CheckFailed(f"{evaluation_uri} has no numeric regression_metrics.mse.value") from None


def read_test_rows(s3, uri: str) -> tuple[list[float], list[str]]:
    """Labels and feature lines (CSV text without the label) of the test split at `uri` (a file or a prefix)."""
    bucket, key = split_s3_uri(uri)
    if key.endswith(".csv"):
        keys = [key]
    else:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
        keys = sorted(
            item["Key"] for page in pages for item in page.get("Contents", []) if item["Key"].endswith(".csv")
        )
    if not keys:
        raise CheckFailed(f"no CSV files under {uri}")
    labels, features = [], []
    for name in keys:
        for number, line in enumerate(s3.get_object(Bucket=bucket, Key=name)["Body"].read().decode().splitlines(), 1):
            if not line.strip():
                continue
            label, _, rest = line.partition(",")
            try:
                labels.append(float(label))
            except ValueError:
                raise CheckFailed(f"s3://{bucket}/{name} line {number}: label {label!r} is not a number") from None
            features.append(rest)
    return labels, features


def wait_in_service(
    sagemaker, endpoint: str, timeout_s: float, poll_s: float = 30.0, sleep: Callable[[float], None] = time.sleep
) -> str:
    """Poll the endpoint until InService; fail at once on Failed, or when the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        description = sagemaker.describe_endpoint(EndpointName=endpoint)
        status = description["EndpointStatus"]
        if status == "InService":
            return status
        if status in ("Failed", "OutOfService", "Deleting"):
            raise CheckFailed(f"endpoint {endpoint} is {status}: {description.get('FailureReason', 'no reason given')}")
        if time.monotonic() > deadline:
            raise CheckFailed(f"endpoint {endpoint} still {status} after {timeout_s:.0f} s")
        sleep(poll_s)


def invoke_csv(runtime, endpoint: str, lines: list[str]) -> tuple[list[float], float]:
    """Send feature lines as one CSV request; return one prediction per line and the latency (ms)."""
    started = time.perf_counter()
    response = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body="\n".join(lines).encode()
    )
    body = response["Body"].read().decode()
    latency_ms = (time.perf_counter() - started) * 1000
    values = [value for value in body.replace("\n", ",").split(",") if value.strip()]
    if len(values) != len(lines):
        raise CheckFailed(f"sent {len(lines)} rows, got {len(values)} predictions back: {body[:200]!r}")
    predictions = []
    for value in values:
        try:
            number = float(value)
        except ValueError:
            raise CheckFailed(f"prediction {value!r} is not a number") from None
        if not math.isfinite(number):
            raise CheckFailed(f"prediction {value!r} is not finite")
        predictions.append(number)
    return predictions, latency_ms


def mean_squared_error(labels: list[float], predictions: list[float]) -> float:
    """Mean of the squared differences."""
    return sum((label - prediction) ** 2 for label, prediction in zip(labels, predictions, strict=True)) / len(labels)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def run_checks(
    *,
    sagemaker,
    runtime,
    s3,
    endpoint: str,
    package: dict,
    settings: dict,
    test_data_override: str | None,
    poll_s: float = 30.0,
) -> Report:
    """Run the four checks against `endpoint` and return the report."""
    report = Report(f"staging-endpoint.{endpoint}")
    if not report.run(
        "endpoint_in_service", lambda: wait_in_service(sagemaker, endpoint, settings["InServiceTimeoutSeconds"], poll_s)
    ):
        for name in ("response_shape", "mse_matches_registered", "p95_latency"):
            report.skip(name, "the endpoint is not InService")
        return report
    state: dict = {}

    def held_out() -> tuple[list[float], list[str]]:
        if "lines" not in state:
            state["labels"], state["lines"] = read_test_rows(
                s3, test_data_uri(package["EvaluationUri"], test_data_override)
            )
        return state["labels"], state["lines"]

    def response_shape() -> str:
        lines = held_out()[1]
        batch = int(settings["BatchRows"])
        predictions = []
        for start in range(0, len(lines), batch):
            predictions += invoke_csv(runtime, endpoint, lines[start : start + batch])[0]
        state["predictions"] = predictions
        return f"{len(predictions)} rows in {math.ceil(len(lines) / batch)} requests, one finite prediction each"

    def mse_matches_registered() -> str:
        registered = read_registered_mse(s3, package["EvaluationUri"])
        labels = held_out()[0]
        measured = mean_squared_error(labels, state["predictions"])
        tolerance = settings["MseRelativeTolerance"]
        if abs(measured - registered) > tolerance * registered:
            raise CheckFailed(
                f"MSE {measured:.4f} on {len(labels)} held-out rows differs from the "
                f"registered {registered:.4f} by more than {tolerance:.1%}"
            )
        return f"MSE {measured:.4f}, registered {registered:.4f}"

    def p95_latency() -> str:
        lines = held_out()[1]
        latencies = [
            invoke_csv(runtime, endpoint, [lines[i % len(lines)]])[1] for i in range(int(settings["LatencyProbes"]))
        ]
        p95 = percentile(latencies, 0.95)
        if p95 > settings["P95LatencyMs"]:
            raise CheckFailed(
                f"p95 latency {p95:.1f} ms of {len(latencies)} single-row requests "
                f"exceeds {settings['P95LatencyMs']} ms"
            )
        return f"p95 {p95:.1f} ms over {len(latencies)} single-row requests"

    if report.run("response_shape", response_shape):
        report.run("mse_matches_registered", mse_matches_registered)
    else:
        report.skip("mse_matches_registered", "no predictions to score")
    report.run("p95_latency", p95_latency)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=Path("build"), help="build.py's and deploy.py's output")
    parser.add_argument("--config", type=Path, default=REPO / "staging-config.json")
    parser.add_argument("--report", type=Path, default=Path("build/test-report.xml"), help="JUnit XML output")
    parser.add_argument(
        "--role-arn", default="", help="role to assume in the staging account (cross-account deployment); empty: none"
    )
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    region = os.environ.get("AWS_REGION") or None
    try:
        settings = load_test_settings(args.config)
        package = json.loads((args.build_dir / "model-package.json").read_text())
        endpoint = json.loads((args.build_dir / "staging-outputs.json").read_text())["EndpointName"]
    except (CheckFailed, OSError, KeyError, json.JSONDecodeError) as error:
        print(f"test.py: error: {error}", file=sys.stderr)
        return 1
    target = session_for(args.role_arn, region, session_name="gitlab-model-deploy-test")
    report = run_checks(
        sagemaker=target.client("sagemaker"),
        runtime=target.client("sagemaker-runtime"),
        s3=boto3.client("s3", region_name=region),  # the artifact bucket is in the project's account
        endpoint=endpoint,
        package=package,
        settings=settings,
        test_data_override=os.environ.get("TEST_DATA_S3_URI") or None,
        poll_s=args.poll_seconds,
    )
    report.write(args.report)
    print(f"JUnit report: {args.report}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
