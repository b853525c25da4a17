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

from recommender.model.adjust.power_bound import power_limit_w
from recommender.model.prediction import QueryPrediction


def time_floor_s(cf: pd.DataFrame, feats: Any) -> np.ndarray:
    """Per row, the shortest physically possible time per query, s."""
    out_tok = cf["output_tokens"].to_numpy(dtype=float)
    batch = np.maximum(cf["batch_size"].to_numpy(dtype=float), 1.0)
    fed = cf["fed_tokens"].to_numpy(dtype=float)
    dec = out_tok * np.asarray(feats["t_floor_dec_s"], dtype=float)
    pre = batch * fed * np.asarray(feats["t_floor_pre_s"], dtype=float)
    return np.where(out_tok > 0, dec, pre)


def enforce(
    q: QueryPrediction, cf: pd.DataFrame, feats: Any, limit_w: np.ndarray | None = None
) -> QueryPrediction:
    """``q`` with time raised to its floor and energy capped by the power limit (points and ends).

    ``limit_w``: :func:`~recommender.model.adjust.power_bound.power_limit_w` of these rows where
    the caller has it already (computed here otherwise)."""
    floor = time_floor_s(cf, feats)
    t = np.maximum(q.time_s, floor)
    t_lo = np.maximum(q.time_lo_s, floor)
    t_hi = np.maximum(q.time_hi_s, t)
    limit = power_limit_w(cf, feats) if limit_w is None else limit_w
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.minimum(q.energy_j, limit * t)
        e_hi = np.minimum(np.maximum(q.energy_hi_j, e), limit * t_hi)
        e_lo = np.minimum(q.energy_lo_j, e)
    return q.replace(energy_j=e, energy_lo_j=e_lo, energy_hi_j=e_hi, time_s=t, time_lo_s=t_lo, time_hi_s=t_hi)


def mean_power_w(energy_j: np.ndarray, time_s: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """Mean power of the devices implied by energy and time per query with ``batch`` in flight, W."""
    return energy_j * np.maximum(batch, 1.0) / time_s
