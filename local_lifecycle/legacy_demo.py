"""`make legacy-demo`: the legacy ML workflow end to end, offline.

Uploads the example project's data (the held-out patients of scikit-learn's breast cancer data set)
and its two scripts to the emulator's S3, starts an execution of the state machine the stack
deploys, lets the three Processing jobs really run as local processes (the inference job from the
image built out of containers/legacy-inference/Dockerfile), prints the state transitions, the jobs,
the outputs and the report, shows that bad input is refused naming each field, and ends with one
summary line.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from local_lifecycle.legacy_emulator import EXAMPLE, LegacyEmulator, entered_states
from stacks.config import ConfigError, load_config

POLLING = ("Wait", "Describe", "Tick")
# The app's default (stacks.app_builder.DEFAULT_CONFIG), without importing the CDK for it.
DEFAULT_CONFIG = "config/default.yaml"


def export_example_data(path: Path) -> Path:
    """The example's input: the patients train.py held out, plus two rows a real export would have
    (a measurement left blank, a patient exported twice) that preprocessing must set aside."""
    path = path.resolve()
    subprocess.run([sys.executable, "train.py", "--export-holdout", str(path)], cwd=EXAMPLE, check=True)
    lines = path.read_text().splitlines()
    blank = lines[1].split(",")
    blank[0], blank[5] = "P9999", ""
    path.write_text("\n".join([*lines, lines[2], ",".join(blank)]) + "\n")
    return path


def transitions(history: list[dict[str, Any]]) -> list[str]:
    """One line per state entered, with polling loops folded into their status check."""
    start: datetime = history[0]["timestamp"]
    lines: list[str] = []
    polls: dict[str, int] = {}
    checked = 0
    for event in history:
        details = event.get("stateEnteredEventDetails")
        if not details:
            continue
        name = details["name"]
        offset = f"{(event['timestamp'] - start).total_seconds():6.1f}s"
        if name.startswith("Check_"):
            checked += 1
        elif name.startswith(POLLING):
            continue
        elif name.endswith("Status"):
            polls[name] = polls.get(name, 0) + 1
            status = json.loads(details["input"]).get("described", {}).get("ProcessingJobStatus", "?")
            if lines and lines[-1].split()[1] == name:
                lines.pop()
            lines.append(f"  {offset} {name} (polled {polls[name]}x): {status}")
        else:
            if name == "CollectErrors":
                lines.append(f"  {offset} Check_* ({checked} fields validated)")
            lines.append(f"  {offset} {name}")
    return lines


def _run(emulator: LegacyEmulator, csv: Path) -> dict[str, Any]:
    execution_input = emulator.upload_example(csv)
    print("legacy-demo: uploaded to the emulator's S3:")
    for key in ("input_uri", "code_uri"):
        print(f"  {key}: {execution_input[key]} ({', '.join(emulator.list_keys(execution_input[key]))})")
    name = f"legacy-demo-{int(time.time())}"
    print(f"legacy-demo: starting execution {name} with input:\n{json.dumps(execution_input, indent=2)}")
    arn = emulator.start(execution_input, name=name)
    described = emulator.wait(arn, timeout=300)
    history = emulator.history(arn)
    print("legacy-demo: state transitions:")
    print("\n".join(transitions(history)))
    output = json.loads(described.get("output") or "{}")
    assert emulator.runner is not None
    print("legacy-demo: processing jobs (run locally through the /opt/ml/processing layout):")
    for run in emulator.runner.runs.values():
        print(f"  {run.name}: {run.status}; log {run.log}")
    return {"described": described, "output": output, "states": entered_states(history)}


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--workdir", type=Path, default=Path(".local-run/legacy"))
    args = parser.parse_args(argv)
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        config = load_config(args.config).legacy_processing
    except ConfigError as error:
        print(f"legacy-demo: invalid configuration:\n{error}", file=sys.stderr)
        return 2
    if config is None:
        print(f"legacy-demo: {args.config} has no legacy_processing section", file=sys.stderr)
        return 2
    started = time.monotonic()
    args.workdir = args.workdir.resolve()
    shutil.rmtree(args.workdir, ignore_errors=True)
    csv = export_example_data(args.workdir / "data" / "patients.csv")
    with LegacyEmulator(workdir=args.workdir, config=config, on_event=lambda m: print(f"  [runner] {m}")) as emulator:
        result = _run(emulator, csv)
        described, output = result["described"], result["output"]
        if described["status"] != "SUCCEEDED":
            print(f"legacy-demo: FAILED: {described.get('error')}: {described.get('cause')}", file=sys.stderr)
            return 1
        print(f"legacy-demo: final output location: {output['output_uri']}")
        for key in emulator.list_keys(output["output_uri"]):
            print(f"  s3://{emulator.bucket}/{key}")
        report = json.loads(emulator.read_text(f"{output['output_uri']}/report.json"))
        print(f"legacy-demo: report.json: {json.dumps(report)}")
        rejected = emulator.read_text(f"{output['rejected_uri']}/rejected.csv").count("\n") - 1
        invalid = emulator.wait(emulator.start({"input_uri": "data.csv", "volume_size": 0.5}, name="legacy-demo-bad"))
        print(f"legacy-demo: invalid input refused: {invalid['error']}: {invalid['cause']}")
    print(
        f"legacy_demo: status={described['status']} jobs={len(output['jobs'])} patients={report['patients']} "
        f"referred={report['referred']} rejected={rejected} accuracy={report.get('accuracy')} "
        f"output={output['output_uri']} seconds={time.monotonic() - started:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
