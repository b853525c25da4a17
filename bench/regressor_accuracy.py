"""Held-out accuracy of the predictor against its goals, and what each stage earns (prints figures).

Run: ``.venv/bin/python bench/regressor_accuracy.py [--table data/measured.csv] [--json out.json]
[--splits model,platform,source] [--no-ablations]`` (the optional splits of ``eai evaluate`` too:
``--splits devices --no-ablations`` checks a deployment asked on more devices than it was measured on)

Runs the cross-validation of :mod:`recommender.model.evaluate` (leave-one-model-out,
leave-one-platform-out, leave-one-source-out; the whole pipeline refit and its intervals
recalibrated in every fold) and then, on leave-one-source-out (the split most like a user's
new campaign), the ablation of every stage of :mod:`recommender.model.config`: predict-time
stages reuse each fold's fit (``predict_variants``), fit-time stages refit every fold with the
stage off (what ``eai evaluate --split source --without STAGE`` prints).

Goals (issue 18) checked, a missed one printed as MISSED and the exit status 1:

- energy per query, leave-one-source-out: median APE <= 15 %, 90 % coverage 85-95 %;
- energy per output token, leave-one-platform-out: median APE <= 15 % and >= 3x lower than the
  roofline-only baseline;
- energy per output token, leave-one-model-out, ML.ENERGY v1 rows: median APE <= 5 %;
- time per query beats the roofline baseline in every split;
- 90 % intervals cover 85-95 % of held-out rows in every split (energy, time per query).

Ablation verdicts (:func:`_verdict`): ``earns`` where switching the stage off makes LOSO energy
or time per query worse (median APE, or coverage farther from 90 %); ``no LOSO effect`` where
no held-out row reaches the stage (it acts on candidates the CV does not contain); ``drop?``
where it changes figures without improving any.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


NOT_CROSS_VALIDATED = {
    "answer_length": "python bench/answer_length.py (held-out rows state their own output lengths)",
}
"""Stages cross-validation cannot show, with the bench that does: their refit is skipped."""


def _ablations(table, accuracy, catalogs, base_report) -> list[tuple[str, dict]]:
    from recommender.model.config import FIT_STAGES, PipelineConfig
    from recommender.model.evaluate import evaluate

    rows = [(f"without {name}", block["source"]) for name, block in base_report.get("variants", {}).items()]
    for stage in FIT_STAGES:
        if stage in NOT_CROSS_VALIDATED:
            continue
        rep = evaluate(table, accuracy, catalogs, ("source",), config=PipelineConfig.without_stages([stage]))
        block = rep["splits"]["source"]
        rows.append((f"without {stage}", {q: block[q]["model"] for q in ("energy_j_per_query", "time_s_per_query")}))
    return rows


def _verdict(base: dict, without: dict) -> str:
    """What switching a stage off did on LOSO: ``earns`` (a median APE worse by more than 0.1
    point, or a coverage more than 1 point farther from 90 %), ``no LOSO effect`` (every figure
    within 0.1), else ``drop?``."""
    worse = effect = False
    for q in ("energy_j_per_query", "time_s_per_query"):
        b, w = base[q], without[q]
        d_med = w["median_ape_pct"] - b["median_ape_pct"]
        d_cov = abs(w["coverage_90_pct"] - 90.0) - abs(b["coverage_90_pct"] - 90.0)
        worse |= d_med > 0.1 or d_cov > 1.0
        effect |= abs(d_med) > 0.1 or abs(w["coverage_90_pct"] - b["coverage_90_pct"]) > 0.1
    return "earns" if worse else ("no LOSO effect" if not effect else "drop?")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=str(ROOT / "data" / "measured.csv"))
    parser.add_argument("--accuracy", default=str(ROOT / "data" / "accuracy.csv"))
    parser.add_argument("--json", default=None, help="Also write the full report here.")
    parser.add_argument("--splits", default="model,platform,source", help="Comma-separated splits to run.")
    parser.add_argument("--no-ablations", action="store_true", help="Skip the per-stage ablation on leave-one-source-out.")
    args = parser.parse_args(argv)

    from recommender.model.config import PREDICT_STAGES, PipelineConfig
    from recommender.model.evaluate import evaluate, format_report, split_title
    from recommender.model.features import Catalogs
    from recommender.table import load_table, table_hash
    from recommender.table.accuracy import load_accuracy

    table = load_table(args.table)
    acc_path = Path(args.accuracy)
    accuracy = load_accuracy(acc_path) if acc_path.is_file() else None
    catalogs = Catalogs.load()
    splits = tuple(s for s in args.splits.split(",") if s)
    variants = {st: PipelineConfig.without_stages([st]) for st in PREDICT_STAGES if st != "measured"}
    start = time.perf_counter()
    report = evaluate(table, accuracy, catalogs, splits, predict_variants=variants if "source" in splits else None)
    report["data_hash"] = table_hash(args.table)
    elapsed = time.perf_counter() - start
    print(format_report(report))
    print(f"\n(cross-validation took {elapsed:.0f} s on {len(table)} rows, table SHA-256 {report['data_hash'][:12]}...)\n")

    s = report["splits"]
    goals: list[bool] = []

    def goal(text: str, value: float, ok: bool) -> None:
        goals.append(ok)
        print(f"  [{'met' if ok else 'MISSED'}] {text}: {value:.3g}")

    print("Goals")
    if "source" in s:
        r = s["source"]["energy_j_per_query"]["model"]
        goal("LOSO energy/query median APE % (<= 15)", r["median_ape_pct"], r["median_ape_pct"] <= 15.0)
    if "platform" in s:
        m = s["platform"]["energy_j_per_output_token"]["model"]["median_ape_pct"]
        rr = s["platform"]["energy_j_per_output_token"]["roofline"]["median_ape_pct"]
        goal("LOPO energy/output token median APE % (<= 15)", m, m <= 15.0)
        goal("LOPO energy/output token roofline-only / model median APE ratio (>= 3)", rr / m, rr / m >= 3.0)
    if "model" in s:
        v1 = s["model"]["energy_j_per_output_token_v1"]["model"]
        goal("LOMO energy/output token, ML.ENERGY v1 rows, median APE % (<= 5)", v1["median_ape_pct"], v1["median_ape_pct"] <= 5.0)
    for split, block in s.items():
        t, tr = block["time_s_per_query"]["model"], block["time_s_per_query"]["roofline"]
        goal(f"{split_title(split)} time/query median APE %, model below roofline ({tr['median_ape_pct']:.3g})",
             t["median_ape_pct"], t["median_ape_pct"] < tr["median_ape_pct"])
        for q in ("energy_j_per_query", "time_s_per_query"):
            r = block[q]["model"]
            cov = r["coverage_90_pct"]
            goal(f"{split_title(split)} {q} 90% interval coverage % (85-95, n={r['n']})", cov, 85.0 <= cov <= 95.0)

    if "source" in s and not args.no_ablations:
        base = {q: s["source"][q]["model"] for q in ("energy_j_per_query", "time_s_per_query")}
        rows = [("all stages", base), *_ablations(table, accuracy, catalogs, report)]
        print("\nAblation on leave-one-source-out (median APE % / 90% coverage %)")
        print(f"  {'pipeline':<28} {'energy/query':>20} {'time/query':>20}")
        for name, r in rows:
            e, t = r["energy_j_per_query"], r["time_s_per_query"]
            flag = "" if name == "all stages" else "  " + _verdict(base, r)
            print(f"  {name:<28} {e['median_ape_pct']:>9.1f} / {e['coverage_90_pct']:>5.1f}   {t['median_ape_pct']:>9.1f} / {t['coverage_90_pct']:>5.1f}{flag}")
        for stage, where in NOT_CROSS_VALIDATED.items():
            print(f"  without {stage:<20} not shown by cross-validation: {where}")
        report["ablation_source"] = {name: r for name, r in rows}
    print(f"\n{sum(goals)} of {len(goals)} goals met")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, sort_keys=True))
    return 0 if all(goals) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
