"""numpy-only evaluation of an exported linear log-ratio model (the light load path).

Kept apart from :mod:`recommender.model.estimator` so that loading a fitted model never
imports scikit-learn's estimators.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from recommender.errors import ModelStateError
from recommender.model import cats


class LinearLogModel:
    """numpy-only evaluation of an exported :class:`~recommender.model.estimator.LogRatioRegressor`.

    Args:
        state: Output of :meth:`~recommender.model.estimator.LogRatioRegressor.export_linear`.
    """

    def __init__(self, state: Mapping[str, Any]) -> None:
        try:
            self.prior_column = str(state["prior_column"])
            self.intercept = float(state["intercept"])
            self.numeric = {str(k): float(v) for k, v in dict(state["numeric"]).items()}
            self.categorical = {
                str(c): {str(k): float(v) for k, v in dict(levels).items()} for c, levels in dict(state["categorical"]).items()
            }
            self.interactions = {
                str(c): {str(n): {str(k): float(v) for k, v in dict(lv).items()} for n, lv in dict(block).items()}
                for c, block in dict(state.get("interactions", {})).items()
            }
            self.ranges = {
                str(c): {
                    str(n): {str(k): (float(v[0]), float(v[1])) for k, v in dict(lv).items()} for n, lv in dict(block).items()
                }
                for c, block in dict(state.get("interaction_ranges", {})).items()
            }
            clip = state.get("clip")
            self.clip = (float(clip[0]), float(clip[1])) if clip is not None else (-np.inf, np.inf)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelStateError(f"linear model state is malformed ({exc}); refit with 'eai fit'") from exc
        self.state = dict(state)

    def predict_log_ratio(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted ``log(y / prior)`` for each row of ``frame``."""
        out = np.full(len(frame), self.intercept, dtype=float)
        for c, w in self.numeric.items():
            out += w * frame[c].to_numpy(dtype=float)
        # Each categorical column's level index is found once and reused by every term on it.
        index: dict[str, tuple[np.ndarray, np.ndarray]] = {}

        def per_row(c: str, mapping: Mapping[str, float], default: float = 0.0) -> np.ndarray:
            if c not in index:
                index[c] = cats.level_index(frame[c])
            rows, labels = index[c]
            return cats.table_of(labels, mapping, default)[rows]

        for c, levels in self.categorical.items():
            out += per_row(c, levels)
        for c, block in self.interactions.items():
            for n, levels in block.items():
                x = frame[n].to_numpy(dtype=float)
                bounds = self.ranges.get(c, {}).get(n)
                if bounds:
                    # A level's own slope holds only over the range its rows covered.
                    lo = per_row(c, {k: v[0] for k, v in bounds.items()}, default=-np.inf)
                    hi = per_row(c, {k: v[1] for k, v in bounds.items()}, default=np.inf)
                    x = np.clip(x, lo, hi)
                out += per_row(c, levels) * x
        return np.clip(out, *self.clip)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted target: ``prior * exp(log ratio)``."""
        return frame[self.prior_column].to_numpy(dtype=float) * np.exp(self.predict_log_ratio(frame))


def varied_within(category: np.ndarray, nums: np.ndarray, levels: Sequence[Any]) -> np.ndarray:
    """``(len(levels), nums.shape[1])`` mask: whether each numeric column varies (beyond
    rounding) among the rows of each level."""
    out = np.zeros((len(levels), nums.shape[1]), dtype=bool)
    for i, level in enumerate(levels):
        rows = nums[category == level]
        if len(rows) > 1:
            out[i] = np.ptp(rows, axis=0) > 1e-9 * np.maximum(1.0, np.abs(rows).max(axis=0))
    return out


def positive_target(y: Any, n_rows: int, what: str = "X") -> np.ndarray:
    """``y`` as a 1-D float array, checked for a log-space fit: as many values as ``what`` has
    rows, at least two, all finite and positive.

    Raises:
        ValueError: With scikit-learn's wording for the sample-count cases.
    """
    y_arr = np.asarray(y, dtype=float).ravel()
    if len(y_arr) != n_rows:
        raise ValueError(f"{what} has {n_rows} rows but y has {len(y_arr)}")
    if len(y_arr) < 2:
        raise ValueError(f"n_samples={len(y_arr)}: at least 2 samples are required")
    if not np.all(np.isfinite(y_arr)) or np.any(y_arr <= 0):
        raise ValueError("y must be finite and positive (the fit is in log space)")
    return y_arr
