"""`make fraud-demo`: the fraud model trained, then N transactions through the three architectures, offline.

1. Generates a card population (`fraud_model.transactions`), trains the model with the XGBoost image's
   training code, evaluates it on the newest 15 % (PR-AUC, recall at the configured thresholds) and
   draws the precision-recall curve.
2. Starts the image's model server (`xgboost-serve`) on that model: it answers as the endpoint.
3. Generates N transactions of a fresh population (never seen in training), adds duplicate
   deliveries and poison records, and replays them through:
   - the stream architecture: the Kinesis stream on the emulator, the stream Lambda's handler, the
     stream workflow's definition executed by the emulator (scoring against the model server);
   - the Firehose architecture: the transformation Lambda's handler, scoring through
     `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` pointed at the model server;
   - the event architecture: events on the emulator's bus, the rule's pattern, the event workflow's
     definition executed by the emulator.
4. Accounts for every transaction and prints decisions by true class, API calls per transaction,
   throughput and, last, `fraud_lost=<n> fraud_calls_per_txn=<x> fraud_tps=<x>` (the stream
   architecture's calls and throughput: the batched path). Exit status 1 if anything was lost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import boto3

import fraud_model  # noqa: F401  (puts lambdas/ on sys.path)
from fraud_firehose_enrich.enrich import EnrichSettings
from fraud_model.dataset import write_model_build_dataset
from fraud_model.training import Evaluation, evaluate, plot_pr_curve, train_model, write_metrics
from fraud_model.transactions import GeneratorSettings, generate, to_events
from fraud_scoring.scoring import DECISIONS, EndpointScorer
from local_lifecycle.emulator import Emulator
from local_lifecycle.fraud_emulator import ApiCallCounter, ScoringBridge
from local_lifecycle.fraud_replay import ReplayResult, replay_events, replay_firehose, replay_stream
from local_lifecycle.fraud_resources import create_resources
from local_lifecycle.model_endpoint import start_model_server
from local_lifecycle.processes import stop
from stacks.components.fraud.endpoint import retry_policy, thresholds
from stacks.config import FraudDetectionConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
POISON = [b"not json at all", json.dumps({"transaction_id": "tx-poison-1", "amount": "a lot"}).encode()]


def _train(args: argparse.Namespace, fraud: FraudDetectionConfig, run_dir: Path) -> tuple[Path, Evaluation, Path]:
    table = generate(GeneratorSettings(cards=args.cards, days=args.days, seed=7))
    started = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "training.log").open("w") as log, contextlib.redirect_stdout(log):  # XGBoost's per-round lines
        model_dir, splits = train_model(table, run_dir / "training-job")
    evaluation = evaluate(model_dir, splits, thresholds(fraud))
    write_metrics(evaluation, run_dir / "metrics.json")
    curve = plot_pr_curve(model_dir, splits, evaluation, run_dir / "pr-curve.png")
    write_model_build_dataset(table, run_dir / "model-build")
    print(
        f"model: {len(table)} payments ({table['is_fraud'].mean():.2%} fraud), trained in "
        f"{time.perf_counter() - started:.1f} s; test split {evaluation.test_transactions} payments, "
        f"{evaluation.test_fraud} fraud: PR-AUC {evaluation.pr_auc:.3f}"
    )
    for name, point in (("investigate", evaluation.investigate), ("block", evaluation.block)):
        print(f"  {name} >= {point.threshold:g}: recall {point.recall:.3f}, precision {point.precision:.3f}")
    return model_dir, evaluation, curve


def _replay_set(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, int]]:
    table = generate(GeneratorSettings(cards=max(args.transactions // 20, 200), days=14, seed=11))
    sample = table.sample(n=min(args.transactions, len(table)), random_state=1).sort_values("timestamp")
    labels = dict(zip(sample["transaction_id"], sample["is_fraud"], strict=True))
    return to_events(sample), labels


def _with_faults(details: list[dict[str, Any]], share: float) -> list[bytes]:
    """The transactions as records, with a share delivered twice and the poison records added."""
    rng = random.Random(5)
    payloads = [json.dumps(detail).encode() for detail in details]
    duplicates = rng.sample(payloads, max(1, int(len(payloads) * share)))
    return payloads + duplicates + POISON


def _print_result(result: ReplayResult, labels: dict[str, int]) -> None:
    by_class: dict[str, Counter[str]] = {"fraud": Counter(), "legitimate": Counter()}
    for transaction_id, decision in result.decisions.items():
        by_class["fraud" if labels.get(transaction_id) else "legitimate"][decision] += 1
    print(
        f"{result.architecture:9} records={result.records} recorded={len(result.decisions)} "
        f"duplicates={result.duplicates} kept_with_reason={len(result.dead_lettered)} lost={len(result.lost)} "
        f"notified={result.notified} api_calls={result.api_calls} "
        f"calls_per_txn={result.calls_per_transaction:.3f} txn_per_s={result.per_second:.1f}"
    )
    for label, counts in by_class.items():
        print(f"    {label:10} " + "  ".join(f"{decision}={counts[decision]}" for decision in DECISIONS))
    for key, reason in list(result.dead_lettered.items())[:3]:
        print(f"    kept: {key}: {reason[:110]}")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when every transaction is accounted for."""
    parser = argparse.ArgumentParser(prog="python -m local_lifecycle.fraud_demo", description=__doc__)
    parser.add_argument("--transactions", type=int, default=1000, help="transactions replayed (stream, Firehose)")
    parser.add_argument("--event-transactions", type=int, default=100, help="of those, replayed as events")
    parser.add_argument("--cards", type=int, default=1500, help="cards of the training population")
    parser.add_argument("--days", type=int, default=30, help="days of the training population")
    parser.add_argument("--config", default=str(ROOT / "config" / "default.yaml"))
    args = parser.parse_args(argv)
    # The Lambdas' logs and the emulator's own would drown the summary (which names the reasons kept).
    for name in ("fraud-stream-ingest", "fraud-firehose-enrich", "werkzeug", "moto"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    fraud = load_config(args.config).fraud_detection
    if fraud is None:
        print(f"{args.config} has no fraud_detection section", file=sys.stderr)
        return 2
    run_dir = ROOT / ".local-run" / f"fraud-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    model_dir, _, curve = _train(args, fraud, run_dir)
    details, labels = _replay_set(args)
    print(f"replay: {len(details)} transactions ({sum(labels.values())} fraud), 1 % delivered twice, 2 poison records")
    server, port = start_model_server(model_dir, log_path=run_dir / "model-server.log")
    try:
        results = _replay(args, fraud, details, f"http://127.0.0.1:{port}")
    finally:
        stop(server)
    for result in results:
        _print_result(result, labels)
    lost = sum(len(result.lost) for result in results)
    for result in results:
        for item in result.lost[:5]:
            print(f"LOST ({result.architecture}): {item}")
    stream = results[0]
    print(f"PR curve: {curve}")
    print(f"fraud_lost={lost} fraud_calls_per_txn={stream.calls_per_transaction:.3f} fraud_tps={stream.per_second:.1f}")
    return 0 if lost == 0 else 1


def _replay(
    args: argparse.Namespace, fraud: FraudDetectionConfig, details: list[dict[str, Any]], model_url: str
) -> list[ReplayResult]:
    payloads = _with_faults(details, 0.01)
    with (
        Emulator(execute_state_machines=True) as emulator,
        ScoringBridge({fraud.endpoint_name: model_url}),
    ):
        resources = create_resources(
            emulator,
            endpoint_name=fraud.endpoint_name,
            thresholds=thresholds(fraud),
            retry=retry_policy(fraud),
            source=fraud.events.source,
            detail_type=fraud.events.detail_type,
        )
        stream = replay_stream(emulator, resources, payloads, batch_size=fraud.stream.batch_size)
        counter = ApiCallCounter()
        with mock.patch.dict(os.environ, {**emulator.environment(), "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": model_url}):
            runtime = counter.watch(boto3.client("sagemaker-runtime"))
        settings = EnrichSettings(endpoint_name=fraud.endpoint_name, thresholds=thresholds(fraud))
        firehose, _ = replay_firehose(
            payloads, scorer=EndpointScorer(runtime, fraud.endpoint_name), settings=settings, counter=counter
        )
        # Spread over the whole replay set, so that the events meet fraud too.
        event_details = details[:: max(1, len(details) // max(args.event_transactions, 1))][: args.event_transactions]
        events = replay_events(
            emulator,
            resources,
            event_details + event_details[:2] + [{"transaction_id": "tx-poison-2", "amount": "a lot"}],
            source=fraud.events.source,
            detail_type=fraud.events.detail_type,
        )
    return [stream, firehose, events]


if __name__ == "__main__":
    sys.exit(main())
