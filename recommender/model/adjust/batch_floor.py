"""Stage ``batch_floor``: below the smallest batch its engine was measured at, a decode step is
the edge's carried down by physics: no slower and no costlier than at that batch, and monotone.

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
stage included) and carried down from there by physics: time per output token is the edge's
times the decode roofline's ratio of step times (this batch's over the edge's; the fitted
roofline where there is one, with its per-sequence host cost), and energy per step (energy per
output token x batch) the edge's times the energy roofline's ratio of step energies, each ratio
at most 1. So below the edge time per query and energy per step never fall as the batch grows,
and they meet the edge's prediction there. Until 2026-12-04 a row was only held at most at the
edge's: the ridge's own values below it were kept where lower, and they were not monotone
(Llama-3.1-8B-Instruct on one H100, GSM8K, vLLM: 1.00 s per query at batch 1, 0.94 s at 2,
0.95 s at 4, 1.00 s at 8; energy per step at batch 1 above batch 2's). Widths and reasons stay
those of a batch outside the range. Only rows of an engine measured at a batch above theirs
move. No held-out row lies below its engine's range, so cross-validation cannot show this stage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.component import take_rows
from recommender.model.prediction import Parts
from recommender.model.roofline_fit import fitted_prior

if TYPE_CHECKING:
    from recommender.model.predictor import EaiPredictor

STAGE = "batch_floor"

DECODE = ("t_dec", "e_dec")
"""Components held: time per output token as it is, energy per output token per sequence."""


def smallest_batch(model: EaiPredictor, cf: pd.DataFrame, feats: Any) -> np.ndarray:
    """Per row, the smallest batch its engine was measured at by the decode time component
    (NaN where the engine was not measured).

    ``feats``: the rows' features. CPU rows (which the component's CPU model
    predicts) take the engine ranges of the CPU model's own rows, not the accelerators': vLLM,
    measured on GPUs at 8 sequences and more, had held a CPU row at batch 1 to its batch-8
    prediction carried down by the GPUs' roofline, so Llama-3.1-8B on an EPYC under vLLM came out
    cheaper and faster per query the longer its prompt (7.8 kJ at 16 prompt tokens, 3.7 kJ at
    8,192), where the CPU model alone rises with the prompt."""
    comp = model.components["t_dec"]
    per_engine = comp.domain.get("batch_by_engine") or {}
    edge = cats.lookup(cf["engine"], {e: float(r[0]) for e, r in per_engine.items()}, default=np.nan)
    if comp.cpu_model is not None:
        on_cpu = cats.isin(feats["platform_class"], ("cpu",))
        if on_cpu.any():
            cpu_ranges = comp.cpu_model.domain.get("batch_by_engine") or {}
            cpu_edge = cats.lookup(cf["engine"], {e: float(r[0]) for e, r in cpu_ranges.items()}, default=np.nan)
            edge = np.where(on_cpu, cpu_edge, edge)
    return edge


def apply(
    model: EaiPredictor,
    parts: Parts,
    cf: pd.DataFrame,
    needed: dict[str, np.ndarray] | None,
    predict_parts: Callable[..., tuple[Parts, np.ndarray]],
    feats: Any,
) -> Parts:
    """Decode parts of rows below their engine's measured batch range held to the edge's.

    Args:
        model: The predictor.
        parts: Parts after the other part stages.
        cf: Candidate frame.
        needed: Per component, the rows it was predicted on (None: every row).
        predict_parts: :func:`recommender.model.pipeline.predict_parts` (passed in: the edge
            rows go through every part stage, and this module sits below the pipeline).
        feats: Features of ``cf``'s rows (the roofline at the rows' own batch reads them).
    """
    if not all(name in parts for name in DECODE):
        return parts
    batch = cf["batch_size"].to_numpy(dtype=float)
    edge = smallest_batch(model, cf, feats)
    below = np.isfinite(edge) & (batch < edge * 0.99)
    if needed is not None:
        below &= needed["t_dec"]
    rows = np.flatnonzero(below)
    if not len(rows):
        return parts
    own_cf = cf.iloc[rows]
    edge_cf = own_cf.assign(batch_size=edge[rows])
    edge_feats = model._features.columns(edge_cf)
    own_feats = take_rows(feats, rows)
    edge_parts, _ = predict_parts(model, edge_cf, edge_feats, only_needed=True, points_only=True)
    out = dict(parts)
    b, b_edge = batch[rows], edge[rows]
    ratio_t = _step_ratio(model, "t_dec", own_cf, own_feats, edge_cf, edge_feats, b, b_edge, per_step=False)
    t = out["t_dec"].point.copy()
    t[rows] = edge_parts["t_dec"].point * ratio_t
    out["t_dec"] = out["t_dec"].replace(point=t)
    ratio_e = _step_ratio(model, "e_dec", own_cf, own_feats, edge_cf, edge_feats, b, b_edge, per_step=True)
    e = out["e_dec"].point.copy()
    e[rows] = edge_parts["e_dec"].point * b_edge / b * ratio_e
    out["e_dec"] = out["e_dec"].replace(point=e)
    return out


def _step_ratio(
    model: EaiPredictor,
    name: str,
    own_cf: pd.DataFrame,
    own_feats: pd.DataFrame,
    edge_cf: pd.DataFrame,
    edge_feats: pd.DataFrame,
    batch: np.ndarray,
    edge: np.ndarray,
    per_step: bool,
) -> np.ndarray:
    """The decode roofline's step time (``per_step`` False: per output token, which is per
    step) or step energy (True: per output token x batch) at each row's batch over the edge's,
    at most 1 (a step of fewer sequences is never slower or costlier). The component's fitted
    roofline where it has one, else the raw physics prior."""
    comp = model.components[name]
    if comp.roofline is not None:
        own = fitted_prior(comp.roofline, model.component_feats(name, own_feats, own_cf))
        at_edge = fitted_prior(comp.roofline, model.component_feats(name, edge_feats, edge_cf))
    else:
        own = own_feats[f"prior_{name}"].to_numpy(dtype=float)
        at_edge = edge_feats[f"prior_{name}"].to_numpy(dtype=float)
    if per_step:
        own, at_edge = own * batch, at_edge * edge
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = own / at_edge
    return np.where(np.isfinite(ratio) & (ratio > 0), np.minimum(ratio, 1.0), 1.0)
