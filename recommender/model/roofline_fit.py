"""A fitted roofline: the peak-rate priors corrected by a handful of global constants.

The roofline priors of :mod:`recommender.model.physics` assume that a decode step runs at
peak memory bandwidth or peak tensor throughput, whichever binds, and nothing else. Real
servers miss both peaks and pay a per-layer cost that no peak rate shrinks (kernel
launches, synchronisation, the scheduler between steps). Across GPUs these are *shared*
constants, not properties of one card: an H100 and a B200 run the same kernels and the same
engine. So the decode step time is modelled as::

    t_step = a * t_mem + b * t_compute + c[engine] * layers

with ``a >= 1`` (inverse achieved share of peak bandwidth), ``b >= 1`` (inverse achieved
share of peak tensor throughput) and ``c[engine] >= 0`` (seconds per layer per step, one per
serving engine; an engine not seen in ``fit`` gets the geometric mean of the others), all
fitted by robust non-linear least squares in log space (``scipy.optimize.least_squares``,
soft-L1 loss so a few odd rows cannot pull the constants). Energy per output token is
``power * t_step / batch`` with board power at TDP, exactly as the raw prior, so the fitted
roofline is the raw one whenever ``a = b = 1`` and ``c = 0``.

Because the constants are shared by every platform, a GPU never measured still gets the
slower-than-bandwidth speed-up measured on the others (a faster memory system shortens
``t_mem`` only, not the per-layer term): that is the point. The regressor of
:mod:`recommender.model.estimator` then learns ``log(measured / fitted roofline)``.

:class:`recommender.model.estimator.RooflineFit` (scikit-learn's estimator conventions)
fits the constants; its state is a few floats (JSON) and :func:`fitted_prior` here evaluates
it with numpy only, so loading a fitted model never imports scikit-learn or SciPy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from recommender.errors import ModelStateError
from recommender.model import cats

LAYER_SCALE_S = 1e-5
"""Unit of the per-layer constant (10 microseconds), so every parameter starts near 0 in log."""

KINDS = ("energy", "time")


def _terms(feats: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(t_mem_s, t_compute_s, layers, power_w, batch)`` per row from a feature frame."""
    return (
        np.asarray(feats["t_mem_s"], dtype=float),
        np.asarray(feats["t_compute_s"], dtype=float),
        np.exp(np.asarray(feats["log_layers"], dtype=float)),
        np.asarray(feats["power_w"], dtype=float),
        np.asarray(feats["batch_running"], dtype=float),
    )


def _engine_log_c(feats: Any, engines: Sequence[str], log_c: np.ndarray) -> np.ndarray:
    """Per-row log per-layer constant: the engine's own, the mean for an unseen engine."""
    codes, labels = cats.parts(feats["engine"])
    fallback = float(np.mean(log_c)) if len(log_c) else 0.0
    index = {e: i for i, e in enumerate(engines)}
    table = np.array([log_c[index[str(lab)]] if str(lab) in index else fallback for lab in labels] + [fallback], dtype=float)
    return table[np.where(codes < 0, len(labels), codes)]


def evaluate(kind: str, log_a: float, log_b: float, engines: Sequence[str], log_c: np.ndarray, feats: Any) -> np.ndarray:
    """Fitted-roofline J (``kind="energy"``) or s (``"time"``) per output token for every row,
    from the log constants (``log_c`` per engine in ``engines``)."""
    t_mem, t_comp, layers, power, batch = _terms(feats)
    c = np.exp(_engine_log_c(feats, engines, log_c)) * LAYER_SCALE_S
    t_step = np.exp(log_a) * t_mem + np.exp(log_b) * t_comp + c * layers
    return power * t_step / batch if kind == "energy" else t_step


def fitted_prior(state: Mapping[str, Any], feats: Any) -> np.ndarray:
    """Evaluate an exported :class:`~recommender.model.estimator.RooflineFit` with numpy only.

    Raises:
        ModelStateError: The state is malformed.
    """
    try:
        kind = str(state["kind"])
        engines = list(dict(state["log_c"]))
        log_c = np.array([float(state["log_c"][e]) for e in engines], dtype=float)
        log_a, log_b = float(state["log_a"]), float(state["log_b"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelStateError(f"fitted-roofline state is malformed ({exc}); refit with 'eai fit'") from exc
    if kind not in KINDS:
        raise ModelStateError(f"fitted-roofline kind {kind!r} is not one of {KINDS}; refit with 'eai fit'")
    return evaluate(kind, log_a, log_b, engines, log_c, feats)


def describe(state: Mapping[str, Any]) -> str:
    """One line: achieved shares of peak bandwidth / throughput and per-layer cost per engine."""
    per_layer = ", ".join(f"{e} {np.exp(v) * LAYER_SCALE_S * 1e6:.1f} us" for e, v in dict(state["log_c"]).items())
    return (
        f"bandwidth x{np.exp(state['log_a']):.2f}, tensor throughput x{np.exp(state['log_b']):.2f} "
        f"of the peak-rate time; per-layer cost per step: {per_layer}"
    )
