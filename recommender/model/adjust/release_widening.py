"""Stage ``release_widening``: a candidate whose engine release was assumed (none named, or a
named one between measured releases) gets an interval that also holds what the engine's other
measured releases predict.

The point stays at the newest release; per row, the largest |log| gap between it and each
measured release of the row's engine (their fitted-roofline per-layer costs and their ridge
offsets) joins the half-width in quadrature (:func:`recommender.model.intervals.quadrature`).
That gap is large where the per-step overhead dominates (small batches) and small where
bandwidth does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.component import REASONS, ComponentModel
from recommender.model.features import FeatureColumns
from recommender.model.intervals import quadrature
from recommender.model.prediction import Parts
from recommender.model.roofline_fit import PRIOR_INPUTS, fitted_prior

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


def release_log_point(comp: ComponentModel, feats: Any, offsets: Mapping[str, float]) -> np.ndarray:
    """The parts of a component's log prediction that depend on the release: the prior's log and
    the ridge's release offset."""
    prior = np.log(fitted_prior(comp.roofline, feats)) if comp.roofline is not None else 0.0
    return prior + cats.lookup(feats["engine_release"], offsets)


def apply(model: EaiPredictor, parts: Parts, cf: pd.DataFrame, feats: Any) -> Parts:
    """Parts with assumed-release rows widened (and bracketed releases flagged)."""
    from recommender.model.predictor import RELEASE_COMPONENTS

    assumed = cf["release_assumed"].to_numpy()
    if not assumed.any():
        return parts
    out = dict(parts)
    rows = np.flatnonzero(assumed)
    # Only what the prior and the release offset read, for the assumed rows.
    sub = {c: take(feats[c], rows) for c in PRIOR_INPUTS}
    sub_release = take(cf["engine_release"].array, rows)
    for name, comp in model.components.items():
        if name not in out or (comp.roofline is None and name not in RELEASE_COMPONENTS):
            continue
        offsets = comp.linear.categorical.get("engine_release", {})
        levels = {lv for lv in comp.fitted_releases() if "@" in lv}
        if not levels:
            continue
        base = release_log_point(comp, FeatureColumns(sub | {"engine_release": sub_release}), offsets)
        gap = np.zeros(len(rows))
        for level in sorted(levels):
            own = cats.isin(sub["engine"], (level.split("@", 1)[0],))
            if not own.any():
                continue
            constant = pd.Categorical.from_codes(np.zeros(len(rows), dtype=np.int8), categories=[level])
            alt = release_log_point(comp, FeatureColumns(sub | {"engine_release": constant}), offsets)
            gap = np.where(own, np.maximum(gap, np.abs(alt - base)), gap)
        part = out[name]
        half = part.log_half.copy()
        half[rows] = quadrature(half[rows], gap)
        bits = part.reason_bits
        if name in RELEASE_COMPONENTS:
            bits = np.where(cf["release_bracketed"].to_numpy(), bits | RELEASE_UNSEEN_BIT, bits)
        out[name] = part.replace(log_half=half, reason_bits=bits)
    return out
