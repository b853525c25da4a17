"""Held-out check of stage ``answer_length``: is a model's verbosity a better output length than the task's?

    python bench/answer_length.py [--table data/measured.csv]

Every measured model x task pair of generation rows is held out in turn (all its rows); the
answer lengths are fitted on the rest (:func:`recommender.model.answer_length.fit_answer_lengths`,
as ``eai fit`` does) and asked for that pair. Where the stage gives a ``model-relative`` length
(the model was measured on other tasks of the campaign that measured this one), its error on
the pair's measured median output length is set against the task's catalogued length's on
the same pairs. The catalogued lengths are means over every model measured on the task, the
held-out one included (the catalog as shipped); the stage's fit never sees the held-out pair.

Prints the median absolute percentage error of both, per task and overall; exits 1 when the
stage's overall median is not below the task's (the stage would not earn its place), 2 when
no pair could be checked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.model.answer_length import BASES, fit_answer_lengths  # noqa: E402
from recommender.model.features import Catalogs  # noqa: E402
from recommender.model.frame import prepare_table, task_profile  # noqa: E402
from recommender.table import load_table  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=ROOT / "data" / "measured.csv")
    args = parser.parse_args()
    catalogs = Catalogs.load()
    prep = prepare_table(load_table(args.table), catalogs)
    prof = task_profile(prep["task"], catalogs.tasks)
    ref = prof["output"].to_numpy(dtype=float)
    fixed = prof["dispersion"].to_numpy(dtype=float) == 1.0
    out = pd.to_numeric(prep["output_tokens_mean"], errors="coerce").to_numpy(dtype=float)
    out = np.where(prof["mc"].fillna(0.0).to_numpy(dtype=float) > 0, np.nan, out)
    model = prep["model_id"].astype(str).to_numpy()
    task = prep["task"].astype(str).to_numpy()
    source = prep["source"].astype(str).to_numpy()
    gen = np.isfinite(out) & (out > 0)
    pairs = pd.DataFrame({"model": model[gen], "task": task[gen]}).drop_duplicates()
    rows = []
    for m, t in pairs.itertuples(index=False):
        held = gen & (model == m) & (task == t)
        fitted = fit_answer_lengths(model[~held], task[~held], source[~held], out[~held], fixed[~held])
        task_len = float(ref[held][0])
        tokens, basis = fitted.lengths(np.array([m], dtype=object), np.array([t], dtype=object), np.array([task_len]))
        if BASES[int(basis[0])] != "model-relative":
            continue
        truth = float(np.median(out[held]))
        rows.append((t, m, truth, task_len, float(tokens[0])))
    if not rows:
        print("no model x task pair has a model-relative length: nothing to check")
        return 2
    r = pd.DataFrame(rows, columns=["task", "model", "measured", "task_length", "model_relative"])
    r["ape_task"] = 100 * (r["task_length"] / r["measured"] - 1).abs()
    r["ape_stage"] = 100 * (r["model_relative"] / r["measured"] - 1).abs()
    per_task = r.groupby("task").agg(pairs=("model", "size"), task_pct=("ape_task", "median"), stage_pct=("ape_stage", "median"))
    print("Held-out output length per model x task pair, median APE (%): task's catalogued length vs the stage's")
    print(per_task.round(1).to_string())
    task_med, stage_med = float(r["ape_task"].median()), float(r["ape_stage"].median())
    print(f"\nall {len(r)} pairs: task length {task_med:.1f} %, model-relative {stage_med:.1f} %")
    if not stage_med < task_med:
        print("GOAL MISSED: the model's relative length is no better than the task's")
        return 1
    print("goal met: the model's relative length beats the task's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
