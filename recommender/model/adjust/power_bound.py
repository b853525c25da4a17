"""Stage ``power_bound``: energy and time per query agree with the devices' power limit.

Energy and time come from separate models, so far from the measured rows they can imply a mean
power no device can draw. With ``batch`` requests in flight, one query's share of the devices'
energy over its latency is at most ``P_max x T / running`` (``running``: the requests the
server holds at once); where the points break it, both move onto it in log space
(:func:`respect_power_limit`). ``P_max`` is the GPUs' own power limit: a module whose TDP
includes a CPU (GH200) counts only its GPU's share (see
:func:`recommender.model.invariants.gpu_power_limit_w`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.prediction import QueryPrediction

STAGE = "power_bound"


def respect_power_limit(
    energy_j: np.ndarray,
    energy_lo_j: np.ndarray,
    energy_hi_j: np.ndarray,
    time_s: np.ndarray,
    time_lo_s: np.ndarray,
    time_hi_s: np.ndarray,
    power_max_w: np.ndarray,
    spread: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Make energy and time per query agree with the board power limit: ``E <= P_max * T``.

    Energy and time per query come from separate models, so for a configuration far from the
    measured ones they can imply a mean power no GPU can draw (a vLLM 8B model at batch 1 on an
    L4 at 106 W, against a 72 W limit). A query keeps at least one request in flight for its
    whole latency, so its share of the energy is at most the power limit times its latency;
    every row of the shipped table obeys it (at most 0.99 of TDP x devices, at batch 1).

    Where the points break the bound, both move in log space onto it, each by a share of the
    excess proportional to its interval's log half-width squared (the least-squares correction
    of two independent log-normal errors under the constraint); their intervals move with them.
    Everywhere, the bound also trims the interval ends it rules out: energy above
    ``P_max * time_hi`` and time below ``energy_lo / P_max``.

    Args:
        energy_j, energy_lo_j, energy_hi_j: Energy per query and its 90% interval, J.
        time_s, time_lo_s, time_hi_s: Time per query and its 90% interval, s.
        power_max_w: Power limit of all devices together, W (``inf`` where none applies).
        spread: Given the rows that break the bound, the log uncertainties of their energy
            and time that split the correction (default: each interval's log half-width).

    Returns:
        The six arrays, corrected (new arrays; the inputs are not modified).
    """
    e, e_lo = energy_j.copy(), energy_lo_j.copy()
    t, t_hi = time_s.copy(), time_hi_s.copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # Logs only where the bound is broken (a few rows of a million-row request).
        rows = np.flatnonzero(energy_j > power_max_w * time_s)
        if len(rows):
            excess = np.log(energy_j[rows] / (power_max_w[rows] * time_s[rows]))
            if spread is None:
                var_e = np.square(0.5 * np.log(energy_hi_j[rows] / energy_lo_j[rows]))
                var_t = np.square(0.5 * np.log(time_hi_s[rows] / time_lo_s[rows]))
            else:
                s_e, s_t = spread(rows)
                var_e, var_t = np.square(s_e), np.square(s_t)
            total = var_e + var_t
            share_e = np.where(total > 0, var_e / np.where(total > 0, total, 1.0), 0.5)
            move = np.where(np.isfinite(excess), excess, 0.0)
            down_e = np.exp(-share_e * move)
            up_t = np.exp((1.0 - share_e) * move)
            e[rows], e_lo[rows] = e[rows] * down_e, e_lo[rows] * down_e
            t[rows], t_hi[rows] = t[rows] * up_t, t_hi[rows] * up_t
            e_hi_moved, t_lo_moved = energy_hi_j[rows] * down_e, time_lo_s[rows] * up_t
        # With no limit (inf) these keep the ends as they are: the cap is +inf and the floor
        # -inf there, which no end (NaN included) passes.
        unlimited = ~np.isfinite(power_max_w)
        cap = power_max_w * t_hi
        floor = e_lo / power_max_w
        if unlimited.any():
            cap[unlimited], floor[unlimited] = np.inf, -np.inf
        e_hi = np.minimum(energy_hi_j, cap)  # new arrays: the inputs are not modified
        t_lo = np.maximum(time_lo_s, floor)
        if len(rows):
            e_hi[rows] = np.minimum(e_hi_moved, cap[rows])
            t_lo[rows] = np.maximum(t_lo_moved, floor[rows])
    return e, e_lo, e_hi, t, t_lo, t_hi



def power_limit_w(cf: pd.DataFrame, feats: Any) -> np.ndarray:
    """Per row, the most power one query may be charged for over its latency, W.

    GPUs cap their mean power at the board limit; a CPU's TDP share is no such limit (inf).
    A generated query shares the devices with the other running requests for its whole
    latency, so its energy is at most 1/running of limit x latency; a log-likelihood query
    waits for its static batch's passes, 1/batch exactly.

    No slack: until 2026-12-03 the bound allowed the 99th percentile of the measured
    ``E x running / (P_max x T)`` (2.03, i.e. twice the board limit), because ML.ENERGY v3 times
    a request by its median inter-token latency and leaves out prefill waits (median ratio 0.69,
    95th percentile 1.23). Held out, the strict bound changed nothing (leave-one-source-out
    energy per query 20.2 % either way, leave-one-platform-out 23.4 %; ``eai evaluate``), and a
    prediction now never implies a mean power above the devices' limit.
    """
    out_tok = cf["output_tokens"].to_numpy()
    is_cpu = cats.isin(feats["platform_class"], ("cpu",))
    batch = np.maximum(np.asarray(feats["batch_running"], dtype=float), 1.0)
    # A log-likelihood batch runs its passes together: each query's latency is the batch's, and
    # its energy a 1/batch share of the devices' (exact, no slack).
    static = np.maximum(cf["batch_size"].to_numpy(dtype=float), 1.0)
    # Row subsets set in place (np.where over a million random masks costs more than the arithmetic).
    share = 1.0 / batch
    loglik = np.flatnonzero(out_tok <= 0)
    share[loglik] = 1.0 / static[loglik]
    limit = feats["power_w"].to_numpy(dtype=float) * np.minimum(share, 1.0)
    limit[is_cpu] = np.inf
    return limit


def apply(
    q: QueryPrediction,
    cf: pd.DataFrame,
    feats: Any,
    spread: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    limit_w: np.ndarray | None = None,
) -> QueryPrediction:
    """``q`` with energy and time moved onto the power bound where they break it (``limit_w``:
    :func:`power_limit_w` of these rows where the caller has it already)."""
    e, e_lo, e_hi, t, t_lo, t_hi = respect_power_limit(
        q.energy_j, q.energy_lo_j, q.energy_hi_j, q.time_s, q.time_lo_s, q.time_hi_s,
        power_limit_w(cf, feats) if limit_w is None else limit_w, spread,
    )
    return q.replace(energy_j=e, energy_lo_j=e_lo, energy_hi_j=e_hi, time_s=t, time_lo_s=t_lo, time_hi_s=t_hi)
