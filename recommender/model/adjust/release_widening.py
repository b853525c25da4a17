"""Stage ``release_widening``: a candidate whose engine release was assumed (none named, or a
named one between measured releases) gets an interval that also holds what the engine's other
measured releases predict.

The point stays at the newest release; per row, the largest |log| gap between it and what the
component predicts at each measured release of the row's engine (the whole component: fitted
roofline, ridge offset, smoother, and the blend toward roofline x constant where that release
never ran on the row's platform) joins the half-width in quadrature
(:func:`recommender.model.intervals.quadrature`). That gap is large where the per-step overhead
dominates (small batches) and small where bandwidth does. (Measuring the gap on the prior and
the ridge offset alone left out the blend: on the shipped model an H100 query at vLLM 0.5 was
predicted 4.9x slower than at 0.11 while the interval allowed 3.9x.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.component import REASONS, ReleaseFree, RowsTaken, with_column
from recommender.model.intervals import quadrature
from recommender.model.prediction import Parts

if TYPE_CHECKING:
    from recommender.model.predictor import EaiPredictor

STAGE = "release_widening"

RELEASE_UNSEEN_BIT = np.int64(1) << REASONS.index("release-unseen")
"""Reason bit of ``release-unseen`` (see :func:`recommender.model.component.reason_text`)."""


def take(values: Any, rows: np.ndarray) -> Any:
    """``values[rows]`` for a numpy array or a Categorical (codes taken, categories kept)."""
    if isinstance(values, pd.Categorical):
        return values.take(rows)
    if isinstance(values, pd.Series):
        values = values.array if isinstance(values.dtype, pd.CategoricalDtype) else values.to_numpy()
        return take(values, rows)
    return np.asarray(values)[rows]


def apply(
    model: EaiPredictor,
    parts: Parts,
    cf: pd.DataFrame,
    feats: Any,
    raw_points: Mapping[str, np.ndarray],
    needed: Mapping[str, np.ndarray] | None = None,
    release_free: Mapping[str, tuple[np.ndarray | None, ReleaseFree]] | None = None,
) -> Parts:
    """Parts with assumed-release rows widened (and bracketed releases flagged).

    ``raw_points``: each component's prediction at the rows' own (assumed) release before any
    stage moved it (:func:`recommender.model.pipeline.predict_parts` has them). ``needed``: per
    component, the rows it was predicted on (None: every row); the others are left as they are.
    ``release_free``: per component, the rows it was predicted on (None: every row) and what of
    that prediction no release enters (:meth:`~recommender.model.component.ComponentModel.predict_keeping`):
    the predictions at other releases take it at their rows instead of computing it again."""
    from recommender.model.predictor import RELEASE_COMPONENTS

    assumed = cf["release_assumed"].to_numpy()
    if not assumed.any():
        return parts
    out = dict(parts)
    all_rows = np.flatnonzero(assumed)
    all_release = take(cf["engine_release"].array, all_rows)
    all_engine = take(feats["engine"], all_rows)
    taken = RowsTaken(feats)  # the components of one kind read the same rows at each level
    bracketed = np.flatnonzero(cf["release_bracketed"].to_numpy())
    for name, comp in model.components.items():
        if name not in out or (comp.roofline is None and name not in RELEASE_COMPONENTS):
            continue
        levels = {lv for lv in comp.fitted_releases() if "@" in lv}
        if not levels:
            continue
        if needed is None or needed[name][all_rows].all():
            rows, sub_release, engine = all_rows, all_release, all_engine
        else:
            keep = np.flatnonzero(needed[name][all_rows])
            rows, sub_release, engine = all_rows[keep], take(all_release, keep), take(all_engine, keep)
        base = np.log(np.asarray(raw_points[name])[rows])
        kept, kept_at = None, None
        if release_free is not None and name in release_free:
            kept_rows, kept = release_free[name]
            # Each candidate row's position among the rows the component was predicted on (a
            # table over the frame: one take per level, where a binary search of a third of a
            # million rows in two thirds of a million cost several milliseconds).
            if kept_rows is not None:
                kept_at = np.full(len(cf), -1, dtype=np.int64)
                kept_at[kept_rows] = np.arange(len(kept_rows))
        gap = np.zeros(len(rows))
        for level in sorted(levels):
            # Only rows of the level's engine not already at it (theirs would be a zero gap).
            own = np.flatnonzero(cats.isin(engine, (level.split("@", 1)[0],)) & ~cats.isin(sub_release, (level,)))
            if not len(own):
                continue
            constant = pd.Categorical.from_codes(np.zeros(len(own), dtype=np.int8), categories=[level])
            # The rows here are some of those the component was predicted on.
            shared = None if kept is None else kept.take(rows[own] if kept_at is None else kept_at[rows[own]])
            alt = np.log(comp.predict(with_column(taken.at(rows[own]), "engine_release", constant), release_free=shared)[0])
            gap[own] = np.maximum(gap[own], np.abs(alt - base[own]))
        part = out[name]
        half = part.log_half.copy()
        half[rows] = quadrature(half[rows], gap)
        bits = part.reason_bits
        if name in RELEASE_COMPONENTS:
            # Set on the bracketed rows alone (a copy of the bits, then a few rows; np.where over
            # every row of a million took three passes).
            bits = bits.astype(np.int64)
            bits[bracketed] |= RELEASE_UNSEEN_BIT
        out[name] = part.replace(log_half=half, reason_bits=bits)
    return out
