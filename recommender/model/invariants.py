"""Physical invariants enforced on every model prediction, whatever stages are switched off.

1. **Power**: a query cannot be charged more energy than the devices can draw over its
   latency. With ``B`` queries sharing the devices, ``E <= P_max x T / B`` (``B``: the static
   batch of a log-likelihood query, whose passes run together; the requests a server runs at
   once for a generated one). So the mean power ``E x B / T`` never exceeds
   ``P_max = GPU power limit x devices``.
2. **Forward passes**: a query is never faster than its own forward passes at peak rates:
   generation ``T >= output tokens x max(weights read / bandwidth, FLOPs / peak)`` per step;
   a log-likelihood query waits for its batch's passes, ``T >= B x fed tokens x per-token floor``,
   so once a device is saturated larger batches raise time per query.
3. **Splitting**: speed-ups come from at most ``min(devices, attention heads)`` devices
   (:func:`recommender.model.physics.split_devices`) and each split pays all-reduces
   (:func:`recommender.model.physics.tensor_parallel_comm_s`), in the features themselves.

``P_max`` is the accelerator's own limit (:data:`recommender.model.features.MODULE_GPU_POWER_W`:
a GH200's 1,000 W covers its Grace CPU too); CPUs have none (``inf``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.prediction import QueryPrediction


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


def time_floor_s(cf: pd.DataFrame, feats: Any) -> np.ndarray:
    """Per row, the shortest physically possible time per query, s."""
    out_tok = cf["output_tokens"].to_numpy(dtype=float)
    batch = np.maximum(cf["batch_size"].to_numpy(dtype=float), 1.0)
    fed = cf["fed_tokens"].to_numpy(dtype=float)
    dec = out_tok * np.asarray(feats["t_floor_dec_s"], dtype=float)
    pre = batch * fed * np.asarray(feats["t_floor_pre_s"], dtype=float)
    return np.where(out_tok > 0, dec, pre)


def enforce(q: QueryPrediction, cf: pd.DataFrame, feats: Any) -> QueryPrediction:
    """``q`` with time raised to its floor and energy capped by the power limit (points and ends).

    Where energy and time imply more than the limit, energy comes down to it and time stays:
    until 2026-12-03 a stage (``power_bound``) moved both onto the bound by the shares of their
    interval widths, and held out it did worse than trusting time (leave-one-source-out energy /
    time per query 19.1 / 24.8 % with it, 18.8 / 24.0 % without; leave-one-platform-out 22.0 /
    21.7 % and 21.7 / 20.8 %; leave-one-workload-out 20.0 / 11.9 % and 16.5 / 10.5 %; ``eai
    evaluate``), since the time model is the better of the two in every split."""
    floor = time_floor_s(cf, feats)
    t = np.maximum(q.time_s, floor)
    t_lo = np.maximum(q.time_lo_s, floor)
    # A point raised to the floor keeps its upper log-width: the floor says the model was too
    # fast, not that the query takes exactly its forward passes (an interval collapsed onto the
    # floor left 110 of 912 held-out rows of a nested fold beyond an end equal to its point).
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t_hi = np.maximum(q.time_hi_s, t * np.where(q.time_s > 0, q.time_hi_s / q.time_s, 1.0))
    limit = power_limit_w(cf, feats)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.minimum(q.energy_j, limit * t)
        e_hi = np.minimum(np.maximum(q.energy_hi_j, e), limit * t_hi)
        # An energy brought down to the power limit keeps its lower log-width (the limit bounds
        # the point from above; the query may draw less).
        e_lo = np.minimum(q.energy_lo_j, e * np.where(q.energy_j > 0, q.energy_lo_j / q.energy_j, 1.0))
    return q.replace(energy_j=e, energy_lo_j=e_lo, energy_hi_j=e_hi, time_s=t, time_lo_s=t_lo, time_hi_s=t_hi)


def mean_power_w(energy_j: np.ndarray, time_s: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """Mean power of the devices implied by energy and time per query with ``batch`` in flight, W."""
    return energy_j * np.maximum(batch, 1.0) / time_s
