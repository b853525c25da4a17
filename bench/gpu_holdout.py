"""Held-out check on the GPU rows eai measured itself: each accelerator held out in turn.

    python bench/gpu_holdout.py [--table data/measured.csv]

Every accelerator with rows of eai's own profiler (``source`` ``eai-profiler``) that carry energy
and time is held out in turn: the predictor is refitted without any row of that platform, as
``eai fit`` fits (interval calibration and the campaign scale included, so the verdict is about the
intervals a user gets), and asked for those rows at their own
batch, engine release and token profile (prompt, output and fed tokens). Today: one H200 under
hf-transformers, SmolLM2-135M ARC-Easy (``data/profiled/smollm2-h200.csv``) and Llama-3.1-8B,
Qwen3-8B and Qwen3-32B with random weights, GSM8K generation and ARC-Easy
(``data/profiled/random-weights-h200.csv``). No public row was measured on an H200 or with that
engine on a Hopper GPU, so every row is a deployment the model never saw, as a user's is.
Log-likelihood rows also show the raw roofline prefill prior (``prior_e_pre`` / ``prior_t_pre``
x fed tokens), generation rows the raw decode prior.

Prints one line per row and the summary; exits 1 when a held-out row's energy or time is more
than 2x off or outside its 90 % interval, 2 when no accelerator has such rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.inputs import measured_inputs  # noqa: E402
from recommender.model.predictor import fit_predictor  # noqa: E402

FACTOR_GOAL = 2.0
"""Largest held-out ratio (either way) a row may show."""


def main() -> int:
    catalogs, table, accuracy, prep = measured_inputs(__doc__.splitlines()[0])
    classes = {pid: p.platform_class for pid, p in catalogs.platforms.items()}
    e = pd.to_numeric(prep["energy_j_per_query"], errors="coerce")
    t = pd.to_numeric(prep["time_s_per_query"], errors="coerce")
    own = (table["source"].astype(str) == "eai-profiler").to_numpy() & (e > 0) & (t > 0)
    gpu = prep["platform"].astype(str).map(classes).fillna("cpu").ne("cpu")
    held = prep[own & gpu]
    if held.empty:
        print("no accelerator has rows of eai's profiler with energy and time: nothing to hold out")
        return 2
    lines, worst, outside = [], 1.0, 0
    for platform in sorted(held["platform"].astype(str).unique()):
        rows = held[held["platform"].astype(str) == platform]
        train = table.loc[prep.index[prep["platform"].astype(str) != platform]]
        model = fit_predictor(train, accuracy, catalogs)
        cand = pd.DataFrame({
            "platform": rows["platform"].astype(str), "device_count": rows["device_count"], "engine": rows["engine"].astype(str),
            "engine_version": rows["engine_version"].astype(str).replace("nan", ""), "model_id": rows["model_id"].astype(str),
            "quantization": rows["quantization"].astype(str), "batch_size": rows["batch_size"], "task": rows["task"].astype(str),
            "prompt_tokens_mean": rows["prompt_tokens"], "output_tokens_mean": rows["output_tokens"].fillna(0.0),
            "fed_tokens_mean": rows["fed_tokens"], "serving_mode": "offline",
        })
        out = model.predict(cand, use_measured=False)
        feats = model._features.columns(model._candidate_frame(cand))
        fed = rows["fed_tokens"].to_numpy(dtype=float)
        out_tok = rows["output_tokens"].fillna(0.0).to_numpy(dtype=float)
        generates = out_tok > 0
        # The raw prior of the phase that dominates: decode's per output token, prefill's per fed token.
        raw_e = np.where(generates, np.asarray(feats["prior_e_dec"], dtype=float) * out_tok,
                         np.asarray(feats["prior_e_pre"], dtype=float) * fed)
        raw_t = np.where(generates, np.asarray(feats["prior_t_dec"], dtype=float) * out_tok,
                         np.asarray(feats["prior_t_pre"], dtype=float) * fed)
        for i, (_, r) in enumerate(rows.iterrows()):
            o = out.iloc[i]
            me, mt = float(e.loc[r.name]), float(t.loc[r.name])
            re, rt = float(o["energy_j_per_query"]) / me, float(o["time_s_per_query"]) / mt
            inside = (o["energy_j_per_query_lo"] <= me <= o["energy_j_per_query_hi"]) and (o["time_s_per_query_lo"] <= mt <= o["time_s_per_query_hi"])
            worst = max(worst, re, 1.0 / re, rt, 1.0 / rt)
            outside += 0 if inside else 1
            lines.append(f"  {platform} {r['model_id']} {r['engine']} {r['task']} batch {int(r['batch_size'])}: "
                         f"energy {re:.2f}x (raw {'decode' if generates[i] else 'prefill'} prior {raw_e[i] / me:.3f}x), "
                         f"time {rt:.2f}x (raw prior {raw_t[i] / mt:.4f}x), "
                         f"{'inside' if inside else 'OUTSIDE'} the 90 % intervals")
    print("eai's own accelerator rows, platform held out (predicted / measured):")
    print("\n".join(lines))
    ok = worst <= FACTOR_GOAL and outside == 0
    print(f"all {len(lines)} rows: worst ratio {worst:.2f}x (goal <= {FACTOR_GOAL:g}x), {outside} outside their intervals: "
          f"{'met' if ok else 'missed'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
