"""`python -m local_lifecycle` (what `make demo` runs): the whole MLOps lifecycle, locally."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from local_lifecycle.lifecycle import REPO_ROOT, LaunchParameters, Lifecycle, load_default_config, prepare_workdir
from local_lifecycle.sample_data import subsample, write_sample
from local_lifecycle.steps import StepFailed


def main(argv: list[str] | None = None) -> int:
    """Run the lifecycle; print the summary table, or the failed step and its log tail."""
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO_ROOT.parent / "shared" / "data" / "abalone-dataset.csv",
        help="CSV in the abalone layout (no header, label last); generated when absent",
    )
    parser.add_argument("--sample-rows", type=int, default=0, help="use a seeded subset of this many rows")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=REPO_ROOT / ".local-run",
        help="where runs keep their repositories, logs and artifacts",
    )
    parser.add_argument("--cdk-out", type=Path, help="reuse an existing synthesized cdk.out instead of synthesizing")
    args = parser.parse_args(argv)

    workdir = prepare_workdir(args.workdir)
    data = args.data
    if not data.is_file():
        print(f"demo: {data} not found; generating abalone-like data (see local_lifecycle/sample_data.py)")
        data = write_sample(workdir / "data" / "abalone-dataset.csv")
    if args.sample_rows:
        data = subsample(data, workdir / "data" / data.name, rows=args.sample_rows)
    lifecycle = Lifecycle(
        data=data, workdir=workdir, config=load_default_config(), launch=LaunchParameters(), cdk_out=args.cdk_out
    )
    print(f"demo: run directory {workdir}")
    try:
        table = lifecycle.run()
    except StepFailed as failure:
        print(f"\ndemo: FAILED: {failure}", file=sys.stderr)
        if failure.log_tail:
            print("---- log tail ----\n" + failure.log_tail, file=sys.stderr)
        return 1
    print("\n" + table)
    print(f"\ndemo: run report {lifecycle.state.report_path}")
    print("demo: the whole lifecycle passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
