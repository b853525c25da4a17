"""The one way intervals are combined in the pipeline.

Every interval is a point with a natural-log half-width ``w`` (90%: ``[p e^-w, p e^w]``).

- :func:`quadrature`: independent sources of error on one quantity (an assumed release's gap
  and the component's own width; accuracy and energy in EOR) add in quadrature in log space.
- :func:`sum_interval`: a sum of two positive parts (decode + prefill) takes the sum of the
  parts' ends (comonotonic errors: conservative, as the parts share the platform's error).
- :func:`widest`: alternative explanations of one unknown (several novelties of a row that
  each measure how far a ratio transfers) take the widest, not the sum.
- :func:`efficiency_intervals`: EOR and TWEOR from accuracy, energy and time intervals.
"""

from __future__ import annotations

import numpy as np


def quadrature(*log_halves: np.ndarray) -> np.ndarray:
    """Log half-width of independent log-normal errors on one quantity."""
    # The sum starts at the first square (0 + w^2 is w^2 exactly: a square is never -0).
    total = np.square(np.asarray(log_halves[0], dtype=float))
    for w in log_halves[1:]:
        total = total + np.square(w)
    return np.sqrt(total)


def sum_interval(a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(point, lo, hi)`` of ``a + b``, each part with its own log half-width (``wa``, ``wb``)."""
    return a + b, a * np.exp(-wa) + b * np.exp(-wb), a * np.exp(wa) + b * np.exp(wb)


def widest(*log_halves: np.ndarray) -> np.ndarray:
    """Log half-width where several novelties measure the same unknown."""
    out = np.asarray(log_halves[0], dtype=float)
    for w in log_halves[1:]:
        out = np.maximum(out, w)
    return out


def log_half_of(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Symmetric log half-width of an interval ``[lo, hi]``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 * np.log(hi / lo)


J_PER_WH = 3600.0


def efficiency_intervals(
    a: np.ndarray, a_lo: np.ndarray, a_hi: np.ndarray,
    e: np.ndarray, e_lo: np.ndarray, e_hi: np.ndarray,
    t: np.ndarray, t_lo: np.ndarray, t_hi: np.ndarray,
) -> dict[str, np.ndarray]:
    """EOR (score x 100 / Wh per 1,000 queries) and TWEOR (EOR / s) with their 90 % intervals.

    Args:
        a, a_lo, a_hi: Accuracy and its interval ([0, 1]).
        e, e_lo, e_hi: Energy per query and its interval, J.
        t, t_lo, t_hi: Time per query and its interval, s.

    Returns:
        ``eor``, ``eor_lo``, ``eor_hi``, ``tweor``, ``tweor_lo``, ``tweor_hi``. Accuracy is
        independent of energy and time (quadrature); energy and time errors add linearly
        (energy = power x time: strongly correlated). An accuracy interval reaching 0 gives a
        lower end of 0; a point score of 0 (a model that never answers) has no log-scale error
        to combine: its upper end is the ends' ratio (best score over least energy and time).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        eor = a * J_PER_WH / 10.0 / e  # score*100 / (J * 1000 / 3600) = score*360/J
        tweor = eor / t
        down_a, up_a = np.log(a / a_lo), np.log(a_hi / a)
        down_e, up_e = np.log(e / e_lo), np.log(e_hi / e)
        down_t, up_t = np.log(t / t_lo), np.log(t_hi / t)
        eor_lo = eor * np.exp(-quadrature(down_a, up_e))
        eor_hi = eor * np.exp(quadrature(up_a, down_e))
        tweor_lo = tweor * np.exp(-quadrature(down_a, up_e + up_t))
        tweor_hi = tweor * np.exp(quadrature(up_a, down_e + down_t))
        no_score = a_lo <= 0
        eor_lo[no_score] = 0.0
        tweor_lo[no_score] = 0.0
        zero = (a <= 0) & np.isfinite(a_hi)
        eor_hi[zero] = a_hi[zero] * J_PER_WH / 10.0 / e_lo[zero]
        tweor_hi[zero] = eor_hi[zero] / t_lo[zero]
    return {"eor": eor, "eor_lo": eor_lo, "eor_hi": eor_hi, "tweor": tweor, "tweor_lo": tweor_lo, "tweor_hi": tweor_hi}
