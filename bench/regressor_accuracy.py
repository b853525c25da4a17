"""Held-out accuracy of the regressor against its goals (prints figures; never a unit test).

Run: ``.venv/bin/python bench/regressor_accuracy.py [--table data/measured.csv] [--json out.json]``

Runs the cross-validation of :mod:`recommender.model.evaluate` (leave-one-model-out,
leave-one-platform-out, leave-one-source-out; predictor refit and intervals recalibrated
in every fold) and checks:

- energy per output token, leave-one-model-out, ML.ENERGY v1 rows: median APE <= 5%;
- energy, leave-one-platform-out: median APE <= 20% and >= 3x lower than the roofline-only
  baseline (per output token and per query);
- 90% intervals cover 85-95% of held-out rows in every split (energy per query, time per
  query, energy per output token, EOR where rows have accuracy).

Figures are whatever was measured; a missed goal is printed as MISSED.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=str(ROOT / "data" / "measured.csv"))
    parser.add_argument("--accuracy", default=str(ROOT / "data" / "accuracy.csv"))
    parser.add_argument("--json", default=None, help="Also write the full report here.")
    args = parser.parse_args(argv)

    from recommender.model.evaluate import evaluate, format_report
    from recommender.model.features import Catalogs
    from recommender.table import load_table, table_hash
    from recommender.table.accuracy import load_accuracy

    table = load_table(args.table)
    acc_path = Path(args.accuracy)
    accuracy = load_accuracy(acc_path) if acc_path.is_file() else None
    start = time.perf_counter()
    report = evaluate(table, accuracy, Catalogs.load())
    report["data_hash"] = table_hash(args.table)
    elapsed = time.perf_counter() - start
    print(format_report(report))
    print(f"\n(cross-validation took {elapsed:.0f} s on {len(table)} rows, table SHA-256 {report['data_hash'][:12]}...)\n")

    s = report["splits"]
    goals = []

    def goal(text: str, value: float, ok: bool) -> None:
        goals.append(ok)
        print(f"  [{'met' if ok else 'MISSED'}] {text}: {value:.3g}")

    print("Goals")
    v1 = s["model"]["energy_j_per_output_token_v1"]["model"]
    goal("LOMO energy/output token, ML.ENERGY v1 rows, median APE % (<= 5)", v1["median_ape_pct"], v1["median_ape_pct"] <= 5.0)
    for q in ("energy_j_per_output_token", "energy_j_per_query"):
        m = s["platform"][q]["model"]["median_ape_pct"]
        r = s["platform"][q]["roofline"]["median_ape_pct"]
        goal(f"LOPO {q} median APE % (<= 20)", m, m <= 20.0)
        goal(f"LOPO {q} roofline-only / model median APE ratio (>= 3)", r / m, r / m >= 3.0)
    for split, block in s.items():
        for q in ("energy_j_per_query", "time_s_per_query", "energy_j_per_output_token", "eor"):
            r = block[q]["model"]
            if not r.get("n"):
                print(f"  [n/a] leave-one-{split}-out {q}: no rows")
                continue
            cov = r["coverage_90_pct"]
            goal(f"leave-one-{split}-out {q} 90% interval coverage % (85-95, n={r['n']})", cov, 85.0 <= cov <= 95.0)
    print(f"\n{sum(goals)} of {len(goals)} goals met")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
