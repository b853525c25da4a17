"""The one way intervals are combined in the pipeline.

Every interval is a point with a natural-log half-width ``w`` (90%: ``[p e^-w, p e^w]``).

- :func:`quadrature`: independent sources of error on one quantity (an assumed release's gap
  and the component's own width; accuracy and energy in EOR) add in quadrature in log space.
- :func:`sum_interval`: a sum of two positive parts (decode + prefill) takes the sum of the
  parts' ends (comonotonic errors: conservative, as the parts share the platform's error).
- :func:`widest`: alternative explanations of one unknown (several novelties of a row that
  each measure how far a ratio transfers) take the widest, not the sum.
"""

from __future__ import annotations

import numpy as np


def quadrature(*log_halves: np.ndarray) -> np.ndarray:
    """Log half-width of independent log-normal errors on one quantity."""
    total = np.zeros_like(np.asarray(log_halves[0], dtype=float))
    for w in log_halves:
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
