"""`python -m fraud_model`: generate transactions, train and evaluate the fraud model, write the data sets.

Writes into `--out`: `model/` (the XGBoost image's artifact) and `model.tar.gz`, `metrics.json`,
`pr-curve.png`, and `model-build/` (`transactions.csv` + `config.json` for the model build seed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import fraud_model  # noqa: F401  (puts lambdas/ on sys.path)
from fraud_model.dataset import write_model_build_dataset
from fraud_model.training import evaluate, package_model, plot_pr_curve, train_model, write_metrics
from fraud_model.transactions import GeneratorSettings, generate
from fraud_scoring.scoring import Thresholds


def main(argv: list[str] | None = None) -> int:
    """Run the whole model build and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m fraud_model", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(".local-run/fraud-model"))
    parser.add_argument("--cards", type=int, default=GeneratorSettings.cards)
    parser.add_argument("--days", type=int, default=GeneratorSettings.days)
    parser.add_argument("--seed", type=int, default=GeneratorSettings.seed)
    parser.add_argument("--investigate", type=float, default=0.2, help="investigate threshold to evaluate")
    parser.add_argument("--block", type=float, default=0.8, help="block threshold to evaluate")
    args = parser.parse_args(argv)
    table = generate(GeneratorSettings(cards=args.cards, days=args.days, seed=args.seed))
    model_dir, splits = train_model(table, args.out / "training-job")
    evaluation = evaluate(model_dir, splits, Thresholds(args.investigate, args.block))
    write_metrics(evaluation, args.out / "metrics.json")
    curve = plot_pr_curve(model_dir, splits, evaluation, args.out / "pr-curve.png")
    archive = package_model(model_dir, args.out / "model.tar.gz")
    config = write_model_build_dataset(table, args.out / "model-build")
    print(f"transactions={len(table)} fraud={int(table['is_fraud'].sum())} ({table['is_fraud'].mean():.2%})")
    print(f"test: {evaluation.test_transactions} payments, {evaluation.test_fraud} fraud; ", end="")
    print(f"PR-AUC={evaluation.pr_auc:.3f} ROC-AUC={evaluation.roc_auc:.3f}")
    for name, point in (("investigate", evaluation.investigate), ("block", evaluation.block)):
        print(
            f"  {name} >= {point.threshold:g}: recall={point.recall:.3f} precision={point.precision:.3f} "
            f"flagged={point.flagged_share:.3%}"
        )
    print(
        f"suggested from validation: investigate={evaluation.suggested_investigate} block={evaluation.suggested_block}"
    )
    print(f"model: {archive}\nPR curve: {curve}\nmodel build data set: {config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
