"""Interval calibration: out-of-fold log residuals on grouped folds, split-conformal quantiles.

For each kind of novelty a prediction can have (a new (platform, model, engine) cell, a
new model, a new platform, a new engine, a new quantization, a model size or batch size
outside the measured range) we refit the component with the corresponding group held
out and record the held-out log residuals ``log(measured) - log(predicted)``. The 90%
half-width for that novelty is the split-conformal quantile of the absolute residuals,
``|r|_(k)`` with ``k = ceil((n + 1) * 0.9)`` (the k-th smallest of n). Intervals are
symmetric in log space: ``[pred * exp(-w), pred * exp(w)]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

LEVEL = 0.90
"""Nominal coverage of every interval eai reports."""


def conformal_halfwidth(abs_residuals: np.ndarray, level: float = LEVEL) -> float:
    """Split-conformal half-width from absolute held-out residuals.

    Args:
        abs_residuals: ``|log(measured / predicted)|`` of held-out rows (NaN ignored).
        level: Nominal coverage.

    Returns:
        The ``ceil((n + 1) * level)``-th smallest residual; with too few residuals for that
        rank (n < 9 at 90%) the largest one (the interval then under-covers slightly), and
        NaN when there is none.
    """
    r = np.sort(np.asarray(abs_residuals, dtype=float)[np.isfinite(abs_residuals)])
    n = len(r)
    if n == 0:
        return float("nan")
    k = math.ceil((n + 1) * level)
    return float(r[min(k, n) - 1])


def grouped_oof_log_residuals(
    fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
    y: np.ndarray,
    groups: pd.Series | np.ndarray,
    max_folds: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Out-of-fold ``log(y / prediction)`` with whole groups held out.

    Args:
        fit_predict: ``fit_predict(train_idx, test_idx)`` fits on the training rows and
            returns predictions for the test rows (original scale, positive).
        y: Positive targets.
        groups: Group label per row; every group is held out once (leave-one-group-out),
            or, with more than ``max_folds`` groups, groups are dealt into ``max_folds`` folds.
        max_folds: Cap on the number of refits.
        seed: Seed of the group-to-fold shuffle.

    Returns:
        Log residual per row (NaN where the row could not be held out: a single group).
    """
    # Groups by their text, numbered in order of first appearance (numpy strings: a pandas
    # string column per call was a third of the calibration's bookkeeping).
    codes, uniq = pd.factorize(np.asarray(np.asarray(groups), dtype=str))
    out = np.full(len(y), np.nan)
    if len(uniq) < 2:
        return out
    if max_folds is not None and len(uniq) > max_folds:
        # Group k goes to fold (its place in a seeded shuffle of the groups) mod max_folds.
        place = np.random.default_rng(seed).permutation(len(uniq))
        fold_of = np.empty(len(uniq), dtype=np.int64)
        fold_of[place] = np.arange(len(uniq)) % max_folds
        fold = fold_of[codes]
        n_folds = max_folds
    else:
        fold = codes
        n_folds = len(uniq)
    for f in range(n_folds):
        test = np.flatnonzero(fold == f)
        train = np.flatnonzero(fold != f)
        if len(test) == 0 or len(train) < 2:
            continue
        pred = fit_predict(train, test)
        out[test] = np.log(y[test]) - np.log(pred)
    return out


def combine_halfwidths(base: np.ndarray, extra: list[np.ndarray]) -> np.ndarray:
    """Half-width of a prediction that is novel in several ways at once.

    Each extra width already contains the base error; only its excess over the base is
    added, in quadrature: ``w^2 = base^2 + sum(max(0, w_i^2 - base^2))``.
    """
    total = base**2
    for w in extra:
        total = total + np.maximum(0.0, np.nan_to_num(w, nan=0.0) ** 2 - base**2)
    return np.sqrt(total)
