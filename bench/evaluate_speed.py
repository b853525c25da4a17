"""Speed of `eai fit` and `eai evaluate` as a user runs them (goals: fit < 30 s, evaluate < 60 s).

Run: ``.venv/bin/python bench/evaluate_speed.py [--table data/measured.csv] [--accuracy data/accuracy.csv]``

Each command runs once, as a fresh ``python -m recommender.cli`` process (start-up, reading the
tables and writing the results included), into a temporary directory: the shipped ``models/``
is never overwritten. ``eai fit`` fits the whole table with its interval calibration;
``eai evaluate`` runs all three splits (leave-one-model-out, -platform-out, -source-out: every
fold refits the whole pipeline and re-calibrates its intervals) and the accuracy model's own
family-grouped evaluation. Prints wall-clock seconds, the CPU seconds of the command and its
worker processes, the load average (the machine is shared: a busy machine stretches wall
time, not CPU time), and one ``[met]`` / ``[MISSED]`` line per goal; exits 1 when a goal is
missed, 2 when a command fails.

It also compares the figures with the stored ``models/evaluation.json`` when that was computed
on the same table: a faster evaluation must report the same figures (printed, not a goal: a
stored report older than the model it describes differs for that reason).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIT_GOAL_S = 30.0
EVALUATE_GOAL_S = 60.0


def _run(args: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds, CPU seconds (the command and its children) and the finished process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "recommender.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def _figures(report: dict) -> dict[tuple[str, ...], float]:
    """Every metric of every split, method and quantity, plus each held-out prediction list."""
    out: dict[tuple[str, ...], float] = {}
    for split, block in report.get("splits", {}).items():
        for quantity, per_method in block.items():
            if quantity == "predictions":
                for q, cols in per_method.items():
                    for col, values in cols.items():
                        out[(split, "predictions", q, col)] = values
            elif isinstance(per_method, dict):
                for method, metrics in per_method.items():
                    if isinstance(metrics, dict):
                        for k, v in metrics.items():
                            out[(split, quantity, method, k)] = v
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=str(ROOT / "data" / "measured.csv"))
    parser.add_argument("--accuracy", default=str(ROOT / "data" / "accuracy.csv"))
    args = parser.parse_args(argv)

    print(f"cores available: {len(os.sched_getaffinity(0))}; load average at start {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        fit_wall, fit_cpu, fit = _run(["fit", "--table", args.table, "--accuracy", args.accuracy, "--out", str(Path(tmp) / "model")])
        if fit.returncode != 0:
            print(f"eai fit failed (exit {fit.returncode}): {fit.stderr.strip()[-500:]}")
            return 2
        print(f"eai fit (whole table, with interval calibration): {fit_wall:.1f} s wall, {fit_cpu:.1f} s CPU")
        ev_wall, ev_cpu, ev = _run(["evaluate", "--table", args.table, "--accuracy", args.accuracy, "--out", str(Path(tmp) / "eval")])
        if ev.returncode != 0:
            print(f"eai evaluate failed (exit {ev.returncode}): {ev.stderr.strip()[-500:]}")
            return 2
        report = json.loads((Path(tmp) / "eval" / "evaluation.json").read_text(encoding="utf-8"))
    folds = sum(int(b.get("groups", 0)) for b in report["splits"].values())
    print(
        f"eai evaluate (splits {', '.join(report['splits'])}: {folds} folds, each a full refit; "
        f"plus the accuracy model's own evaluation): {ev_wall:.1f} s wall, {ev_cpu:.1f} s CPU in all processes"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")

    stored_path = ROOT / "models" / "evaluation.json"
    if stored_path.is_file():
        stored = json.loads(stored_path.read_text(encoding="utf-8"))
        if stored.get("data_hash") != report.get("data_hash"):
            print("figures vs stored models/evaluation.json: not compared (stored on another table)")
        else:
            new, old = _figures(report), _figures(stored)
            differ = sorted(k for k in set(new) | set(old) if new.get(k) != old.get(k))
            if differ:
                print(f"figures vs stored models/evaluation.json: {len(differ)} of {len(new)} differ, e.g. {differ[:3]}")
            else:
                print(f"figures vs stored models/evaluation.json: all {len(new)} identical")

    ok_fit, ok_ev = fit_wall < FIT_GOAL_S, ev_wall < EVALUATE_GOAL_S
    print(f"[{'met' if ok_fit else 'MISSED'}] `eai fit` < {FIT_GOAL_S:.0f} s: {fit_wall:.1f} s")
    print(f"[{'met' if ok_ev else 'MISSED'}] `eai evaluate` (3 splits) < {EVALUATE_GOAL_S:.0f} s: {ev_wall:.1f} s")
    return 0 if ok_fit and ok_ev else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
