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
from recommender.model.features import column_of, floats


def centered_ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Ridge regression with an unpenalized intercept, in closed form.

    The columns and the target are centred and ``(Xc'Xc + alpha I) w = Xc'yc`` is solved: what
    scikit-learn's ``Ridge`` does for a dense design of a few columns, without its per-fit
    validation (the calibration refits and the accuracy model's family prior solve thousands).

    Args:
        X: Design, rows x columns.
        y: Target per row.
        alpha: Penalty on the coefficients.

    Returns:
        ``(w, x_mean, y_mean)``: a row ``x`` is predicted as ``(x - x_mean) @ w + y_mean``.
    """
    xm = X.mean(axis=0)
    ym = y.mean()
    Xc = X - xm
    w = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(Xc.shape[1]), Xc.T @ (y - ym))
    return w, xm, ym


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

    def predict_log_ratio(self, frame: pd.DataFrame, prefix: tuple[int, np.ndarray] | None = None) -> np.ndarray:
        """Predicted ``log(y / prior)`` for each row of ``frame``.

        Terms are added in a fixed order (intercept, numeric, categorical, interactions), the
        same for every row. An interaction column's terms are evaluated on the rows sorted by
        its level, where each level's slope and range are scalars over one contiguous slice:
        one gather per term instead of three table lookups per row.

        ``prefix``: ``(k, sum)``, the sum of the intercept, the numeric terms and the first ``k``
        categorical columns' terms of these rows (:meth:`log_ratio_prefix`), which the caller
        hands over (the rest is added to it in place); None: computed here.
        """
        start, out = prefix if prefix is not None else (0, self.log_ratio_prefix(frame, 0))
        # Each categorical column's codes are found once and reused by every term on it.
        index: dict[str, tuple[np.ndarray, np.ndarray]] = {}

        def codes_of(c: str) -> tuple[np.ndarray, np.ndarray]:
            if c not in index:
                index[c] = cats.parts(column_of(frame, c))
            return index[c]

        for c, levels in list(self.categorical.items())[start:]:
            codes, labels = codes_of(c)
            out += np.take(cats.table_of(labels, levels), codes)  # code -1 (missing) takes the default
        for c, block in self.interactions.items():
            if not block:
                continue
            codes, labels = codes_of(c)
            rows = np.where(codes < 0, len(labels), codes).astype(np.int16 if len(labels) < 32767 else np.int64)
            order = np.argsort(rows, kind="stable")
            counts = np.bincount(rows, minlength=len(labels) + 1)
            ends = np.cumsum(counts)
            starts = ends - counts
            # Level per table slot (the last slot: missing values, which take the defaults).
            slots = [str(x) for x in labels] + [None]
            sorted_out = out[order]
            for name, levels in block.items():
                xs = floats(frame, name)[order]
                bounds = self.ranges.get(c, {}).get(name)
                for k, level in enumerate(slots):
                    a, b = int(starts[k]), int(ends[k])
                    if a == b:
                        continue
                    seg = xs[a:b]
                    if bounds:
                        # A level's own slope holds only over the range its rows covered.
                        lo, hi = bounds.get(level, (-np.inf, np.inf)) if level is not None else (-np.inf, np.inf)
                        np.clip(seg, lo, hi, out=seg)
                    seg *= levels.get(level, 0.0) if level is not None else 0.0
                sorted_out += xs
            out[order] = sorted_out  # every row set: order is a permutation
        return np.clip(out, *self.clip, out=out)

    def log_ratio_prefix(self, frame: pd.DataFrame, n_categorical: int) -> np.ndarray:
        """The first terms of :meth:`predict_log_ratio`'s sum, in its order: the intercept, every
        numeric term and the first ``n_categorical`` categorical columns' terms."""
        n = len(frame)
        out = np.full(n, self.intercept, dtype=float)
        tmp = np.empty(n, dtype=float)
        for c, w in self.numeric.items():
            np.multiply(w, floats(frame, c), out=tmp)
            out += tmp
        for c, levels in list(self.categorical.items())[:n_categorical]:
            codes, labels = cats.parts(column_of(frame, c))
            out += np.take(cats.table_of(labels, levels), codes)  # code -1 (missing) takes the default
        return out

    def prefix_avoiding(self, columns: set[str]) -> int | None:
        """The most leading categorical columns a :meth:`log_ratio_prefix` can hold and read none
        of ``columns`` (None: some numeric term reads one)."""
        if set(self.numeric) & columns:
            return None
        k = 0
        for c in self.categorical:
            if c in columns:
                break
            k += 1
        return k

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted target: ``prior * exp(log ratio)``."""
        return self.prior_times(frame, self.predict_log_ratio(frame))

    def ratio_reads(self) -> set[str]:
        """The frame columns :meth:`predict_log_ratio` reads: two frames that differ only outside
        them have the same log ratio, row for row."""
        cols = set(self.numeric) | set(self.categorical)
        for c, block in self.interactions.items():
            cols |= {c, *block}
        return cols

    def prior_times(self, frame: pd.DataFrame, log_ratio: np.ndarray) -> np.ndarray:
        """``prior * exp(log_ratio)`` per row of ``frame``.

        ``log_ratio`` must be an array the caller hands over (:meth:`predict_log_ratio`'s, or a
        copy): it is exponentiated and scaled in place, no temporary on a million rows."""
        np.exp(log_ratio, out=log_ratio)
        return np.multiply(floats(frame, self.prior_column), log_ratio, out=log_ratio)


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
