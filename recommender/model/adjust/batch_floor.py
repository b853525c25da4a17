"""Stage ``batch_floor``: below the smallest batch its engine was measured at, a decode step is
no slower and no costlier than at that batch.

A step that runs fewer sequences reads the same weights and less KV cache, computes less and
schedules fewer sequences, so it takes no longer and draws no more energy than a step of more
sequences on the same deployment. The components do not know that below the measured range:
the ridge's per-engine batch slope, fitted on vLLM servers at 8-4096 sequences, carries on
down to batch 1 unchecked (held out, each engine's own extremes are predicted best by it,
``component._extreme_residuals``, but those lie an octave from the range, batch 1 three).
There Llama-3-8B on one H100, 1,024 + 1,024 tokens, was predicted 8.7 s per query at batch 1
against 7.9 s at batch 2 and 8.4 s at batch 8 (the time ratio to physics reached the largest
ever measured, where the ridge's output is clipped).

So each such row is predicted again at its engine's smallest measured batch (every part
stage included) and held to it: time per output token at most that at the edge, energy per
step (energy per output token x batch) at most that at the edge. Widths and reasons stay those
of a batch outside the range. Only rows of an engine measured at a batch above theirs move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.prediction import Parts

if TYPE_CHECKING:
    from recommender.model.predictor import EaiPredictor

STAGE = "batch_floor"

DECODE = ("t_dec", "e_dec")
"""Components held: time per output token as it is, energy per output token per sequence."""


def smallest_batch(model: EaiPredictor, cf: pd.DataFrame) -> np.ndarray:
    """Per row, the smallest batch its engine was measured at by the decode time component
    (NaN where the engine was not measured)."""
    per_engine = model.components["t_dec"].domain.get("batch_by_engine") or {}
    return cats.lookup(cf["engine"], {e: float(r[0]) for e, r in per_engine.items()}, default=np.nan)


def apply(
    model: EaiPredictor,
    parts: Parts,
    cf: pd.DataFrame,
    needed: dict[str, np.ndarray] | None,
    predict_parts: Callable[..., tuple[Parts, np.ndarray]],
) -> Parts:
    """Decode parts of rows below their engine's measured batch range held to the edge's.

    Args:
        model: The predictor.
        parts: Parts after the other part stages.
        cf: Candidate frame.
        needed: Per component, the rows it was predicted on (None: every row).
        predict_parts: :func:`recommender.model.pipeline.predict_parts` (passed in: the edge
            rows go through every part stage, and this module sits below the pipeline).
    """
    if not all(name in parts for name in DECODE):
        return parts
    batch = cf["batch_size"].to_numpy(dtype=float)
    edge = smallest_batch(model, cf)
    below = np.isfinite(edge) & (batch < edge * 0.99)
    if needed is not None:
        below &= needed["t_dec"]
    rows = np.flatnonzero(below)
    if not len(rows):
        return parts
    edge_cf = cf.iloc[rows].assign(batch_size=edge[rows])
    edge_parts, _ = predict_parts(model, edge_cf, model._features.columns(edge_cf), only_needed=True)
    out = dict(parts)
    t = out["t_dec"].point.copy()
    t[rows] = np.minimum(t[rows], edge_parts["t_dec"].point)
    out["t_dec"] = out["t_dec"].replace(point=t)
    e = out["e_dec"].point.copy()
    e[rows] = np.minimum(e[rows], edge_parts["e_dec"].point * edge[rows] / batch[rows])
    out["e_dec"] = out["e_dec"].replace(point=e)
    return out
