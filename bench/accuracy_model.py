"""Held-out error of the accuracy model on the shipped accuracy table, beside the size prior.

Prints, per task (MMLU, GSM8K), the family-grouped cross-validated median and mean absolute
error (points) and the 90% interval coverage of: the cross-task imputation from the other v1
tasks plus size (the route of a model the v1 leaderboard scored), the imputation from the v2
tasks plus size (a model only the later leaderboard scored), and the size-only prior.
Exits 1 when a goal of issue 17 is missed (median <= 2.5 points on MMLU and <= 7 on GSM8K,
coverage 85-95 %), 0 otherwise.

Usage: ``python bench/accuracy_model.py [--accuracy data/accuracy.csv] [--json OUT]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.model.accuracy_eval import evaluate_accuracy_file, format_accuracy_report, goals_met  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", type=Path, default=None, help="accuracy table (default: data/accuracy.csv)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    start = time.perf_counter()
    report = evaluate_accuracy_file(args.accuracy)
    print(format_accuracy_report(report))
    print(f"({time.perf_counter() - start:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if all(goals_met(report).values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
