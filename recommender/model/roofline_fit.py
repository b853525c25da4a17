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

:class:`RooflineFit` follows scikit-learn's estimator conventions; its state is a few
floats (JSON) and :func:`fitted_prior` evaluates it with numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from recommender.errors import ModelStateError
from recommender.model import cats
from recommender.model.linear import positive_target

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


def _evaluate(kind: str, log_a: float, log_b: float, engines: Sequence[str], log_c: np.ndarray, feats: Any) -> np.ndarray:
    t_mem, t_comp, layers, power, batch = _terms(feats)
    c = np.exp(_engine_log_c(feats, engines, log_c)) * LAYER_SCALE_S
    t_step = np.exp(log_a) * t_mem + np.exp(log_b) * t_comp + c * layers
    return power * t_step / batch if kind == "energy" else t_step


class RooflineFit:
    """Fit ``a``, ``b`` and ``c[engine]`` of the fitted roofline (see the module docstring).

    Args:
        kind: ``"energy"`` (J per output token) or ``"time"`` (s per output token of one
            request, i.e. the step time).
        f_scale: Soft-L1 loss scale in natural-log units (residuals beyond it count
            linearly, not quadratically).

    Attributes:
        log_a_: Log bandwidth factor.
        log_b_: Log compute factor.
        engines_: Engines seen in ``fit``.
        log_c_: Log per-layer constant per engine (units of :data:`LAYER_SCALE_S`).
        n_features_in_: Columns of the feature frame seen in ``fit``.
    """

    def __init__(self, kind: Literal["energy", "time"] = "energy", f_scale: float = 0.3) -> None:
        self.kind = kind
        self.f_scale = f_scale

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters (scikit-learn convention)."""
        return {"kind": self.kind, "f_scale": self.f_scale}

    def set_params(self, **params: Any) -> RooflineFit:
        """Set constructor parameters (scikit-learn convention)."""
        for k, v in params.items():
            if k not in ("kind", "f_scale"):
                raise ValueError(f"invalid parameter {k!r} for RooflineFit; valid: kind, f_scale")
            setattr(self, k, v)
        return self

    def fit(self, feats: Any, y: Any) -> RooflineFit:
        """Fit the constants on feature rows and positive measured targets.

        Args:
            feats: Feature frame (:meth:`~recommender.model.features.FeatureBuilder.build`).
            y: Measured J (``kind="energy"``) or s (``kind="time"``) per output token.
        """
        from scipy.optimize import least_squares

        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        y_arr = positive_target(y, len(feats), "feats")
        engines = sorted(str(e) for e in pd.unique(np.asarray(feats["engine"], dtype=object)))
        log_y = np.log(y_arr)

        def residuals(theta: np.ndarray) -> np.ndarray:
            return np.log(_evaluate(self.kind, theta[0], theta[1], engines, theta[2:], feats)) - log_y

        # Start near the raw roofline (a = b = 1.6) with a 10 us per-layer cost. Bounds: no server
        # beats peak bandwidth or peak throughput (a, b >= 1), none is slower than e^6 ~ 400x
        # peak; the per-layer cost lies between 0.5 ns and 0.3 s (wide: only keeps the solver
        # from wandering off to zero or infinity on data that cannot identify a term).
        n_c = len(engines)
        start = np.concatenate([[0.5, 0.5], np.zeros(n_c)])  # inside the bounds: a solver started on one can stall there
        lower = np.concatenate([[0.0, 0.0], np.full(n_c, -10.0)])
        upper = np.concatenate([[6.0, 6.0], np.full(n_c, 10.0)])
        sol = least_squares(residuals, start, bounds=(lower, upper), loss="soft_l1", f_scale=float(self.f_scale))
        self.log_a_ = float(sol.x[0])
        self.log_b_ = float(sol.x[1])
        self.engines_ = engines
        self.log_c_ = np.asarray(sol.x[2:], dtype=float)
        self.n_features_in_ = len(feats.columns) if hasattr(feats, "columns") else 0
        return self

    def predict(self, feats: Any) -> np.ndarray:
        """Fitted-roofline J (or s) per output token for every row."""
        if not hasattr(self, "log_c_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This RooflineFit instance is not fitted yet. Call 'fit' first.")
        return _evaluate(self.kind, self.log_a_, self.log_b_, self.engines_, self.log_c_, feats)

    def export_state(self) -> dict[str, Any]:
        """Plain-JSON state (see :func:`fitted_prior`)."""
        if not hasattr(self, "log_c_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This RooflineFit instance is not fitted yet. Call 'fit' first.")
        return {
            "kind": self.kind,
            "log_a": self.log_a_,
            "log_b": self.log_b_,
            "log_c": {e: float(v) for e, v in zip(self.engines_, self.log_c_, strict=True)},
        }


def fitted_prior(state: Mapping[str, Any], feats: Any) -> np.ndarray:
    """Evaluate an exported :class:`RooflineFit` with numpy only.

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
    return _evaluate(kind, log_a, log_b, engines, log_c, feats)


def describe(state: Mapping[str, Any]) -> str:
    """One line: achieved shares of peak bandwidth / throughput and per-layer cost per engine."""
    per_layer = ", ".join(f"{e} {np.exp(v) * LAYER_SCALE_S * 1e6:.1f} us" for e, v in dict(state["log_c"]).items())
    return (
        f"bandwidth x{np.exp(state['log_a']):.2f}, tensor throughput x{np.exp(state['log_b']):.2f} "
        f"of the peak-rate time; per-layer cost per step: {per_layer}"
    )
