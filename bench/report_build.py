"""Time `eai report` on the shipped data: gather (table, predictor, evaluation) and render, per run.

Usage: .venv/bin/python bench/report_build.py [--runs 3] [--out /tmp/eai-report.html] [--no-predictions]

Prints one line per run and the median; the figures are wall-clock seconds on this machine,
in this process (imports of plotly/pandas are paid by the first run only and shown separately).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


GOAL_S = 10.0
"""Median build time the README promises, seconds."""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "eai-report-bench.html")
    ap.add_argument("--no-predictions", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    from recommender.report.build import build_report

    import_s = time.perf_counter() - t0
    print(f"import recommender.report.build (pandas, plotly): {import_s:.2f} s")
    totals = []
    for i in range(args.runs):
        r = build_report(args.out, with_predictions=not args.no_predictions)
        totals.append(r.build_s)
        print(
            f"run {i + 1}: total {r.build_s:.2f} s (gather {r.gather_s:.2f} s, render+write {r.build_s - r.gather_s:.2f} s), "
            f"{r.size_bytes / 1e6:.2f} MB, {r.points_measured} measured + {r.points_predicted} predicted points"
            + (f", notes: {sorted(r.notes)}" if r.notes else "")
        )
    median = statistics.median(totals)
    print(f"median build time over {args.runs} runs: {median:.2f} s (first run incl. imports: {import_s + totals[0]:.2f} s)")
    met = median < GOAL_S
    print(f"goal: report builds < {GOAL_S:g} s: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
