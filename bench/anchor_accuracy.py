"""Held-out check of stage ``anchor``: do a deployment's measured batches help predict its other batches?

    python bench/anchor_accuracy.py [--table data/measured.csv]

Every deployment measured at three batch sizes or more (same source, platform, devices,
engine and release, model, quantization, task, pipeline stages) has its batches ranked; the
odd-ranked cells are held out, the whole predictor is refitted on the rest (calibration
included), and the held-out cells are predicted with stage ``anchor`` on and off (the same
fit); then the even-ranked cells likewise (each deployment keeps its smallest and largest
batch in one of the two fits). Prints the median absolute percentage error of energy and time
per query with and without the stage, and 90 % interval coverage; exits 1 when the stage makes
either median worse, 2 when nothing could be held out.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.model.config import PipelineConfig  # noqa: E402
from recommender.model.frame import measured_candidates  # noqa: E402
from bench.inputs import measured_inputs  # noqa: E402
from recommender.model.predictor import fit_predictor  # noqa: E402

DEPLOYMENT = ["source", "platform", "device_count", "pipeline_stages", "engine", "engine_release", "model_id", "quantization", "task"]


def _metrics(y: np.ndarray, p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(y) & np.isfinite(p) & (y > 0)
    return float(np.median(np.abs(p[ok] / y[ok] - 1.0)) * 100.0), float(np.mean((lo[ok] <= y[ok]) & (y[ok] <= hi[ok])) * 100.0)


def main() -> int:
    catalogs, table, accuracy, prep = measured_inputs(__doc__.splitlines()[0])
    key = prep[DEPLOYMENT].astype(str).agg("|".join, axis=1)
    batches = prep["batch_size"].astype(float)
    n_batches = batches.groupby(key).transform("nunique")
    rank = batches.groupby(key).rank(method="dense").astype(int)
    eligible = (n_batches >= 3).to_numpy()
    truth = {"energy": prep["energy_q"].to_numpy(dtype=float), "time": prep["time_q"].to_numpy(dtype=float)}
    cols = {"energy": "energy_j_per_query", "time": "time_s_per_query"}
    pred = {(on, q): np.full((3, len(prep)), np.nan) for on in (True, False) for q in cols}
    for parity in (1, 0):
        held = eligible & ((rank.to_numpy() % 2) == parity)
        if not held.any():
            continue
        predictor = fit_predictor(table.loc[~held], accuracy, catalogs, calibrate=True)
        cand = measured_candidates(prep.loc[held])
        for on in (True, False):
            predictor.config = PipelineConfig() if on else PipelineConfig.without_stages(["anchor"])
            out = predictor.predict(cand, use_measured=False)
            for q, col in cols.items():
                pred[(on, q)][:, held] = out[[col, f"{col}_lo", f"{col}_hi"]].to_numpy().T
    held_any = np.isfinite(pred[(True, "energy")][0])
    if not held_any.any():
        print("no deployment was measured at three batch sizes or more: nothing to hold out")
        return 2
    print(f"Held out: {int(held_any.sum())} cells of {int(pd.Series(key[eligible]).nunique())} deployments measured at 3+ batch sizes "
          "(alternate batches, refitted without them); median APE % / 90 % coverage %")
    worse = False
    for q in cols:
        on = _metrics(truth[q], *pred[(True, q)])
        off = _metrics(truth[q], *pred[(False, q)])
        print(f"  {q:6s} per query: without anchor {off[0]:5.1f} / {off[1]:5.1f}   with anchor {on[0]:5.1f} / {on[1]:5.1f}")
        worse |= on[0] > off[0]
    by = pd.DataFrame({"source": prep["source"].astype(str), "e_on": pred[(True, "energy")][0] / truth["energy"],
                       "e_off": pred[(False, "energy")][0] / truth["energy"], "t_on": pred[(True, "time")][0] / truth["time"],
                       "t_off": pred[(False, "time")][0] / truth["time"]})[held_any]
    ape = by.set_index("source").sub(1.0).abs().mul(100.0).groupby(level=0).median()
    print("  per source (median APE %):")
    print(ape.round(1).to_string())
    if worse:
        print("GOAL MISSED: the stage makes a held-out median worse")
        return 1
    print("goal met: anchoring to the deployment's other measured batches does not make either median worse")
    return 0


if __name__ == "__main__":
    sys.exit(main())
