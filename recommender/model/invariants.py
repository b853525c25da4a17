"""Physical invariants enforced on every model prediction, whatever stages are switched off.

1. **Power**: a query cannot be charged more energy than the devices can draw over its
   latency. With ``B`` queries sharing the devices, ``E <= P_max x T / B`` (``B``: the queries
   of a log-likelihood static batch, whose passes run together, :func:`static_batch_queries`;
   for a generated one the requests in the system, running or queued behind the KV cache's
   limit, :func:`queries_in_flight`). So the mean power ``E x B / T``
   never exceeds ``P_max = GPU power limit x devices``.
2. **Forward passes**: a query is never faster than its own forward passes at peak rates:
   generation ``T >= output tokens x max(weights read / bandwidth, FLOPs / peak)`` per step;
   a log-likelihood query waits for its batch's passes, ``T >= B x fed tokens x per-token floor``
   (``B`` again the batch's queries), so once a device is saturated larger batches raise time
   per query.
3. **Splitting**: speed-ups come from at most ``min(devices, attention heads)`` devices
   (:func:`recommender.model.physics.split_devices`) and each split pays all-reduces
   (:func:`recommender.model.physics.tensor_parallel_comm_s`), in the features themselves. A
   layer split (HF transformers, FastChat, llama.cpp: :data:`recommender.model.physics.
   LAYER_SPLIT_ENGINES`) is no faster than one device: a hop per boundary
   (:func:`recommender.model.physics.layer_split_hop_s`), the waiting devices' draw charged.

4. **Power floor**: a GPU holding a model never draws less than a share of its limit while it
   serves, so ``E >= POWER_FLOOR_SHARE x P_max x T / B``: an energy interpolated or carried down
   in batch apart from time cannot imply a mean power below the card's idle draw.

``P_max`` is the accelerator's own limit (:data:`recommender.model.features.MODULE_GPU_POWER_W`:
a GH200's 1,000 W covers its Grace CPU too); CPUs have none (``inf``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recommender.model import cats, physics
from recommender.model.prediction import QueryPrediction


POWER_FLOOR_SHARE = 0.16
"""Least mean power of a GPU serving a model, as a share of its power limit x devices.

The lowest measured in ``data/measured.csv`` on 2026-12-04: 16.3 % (quant-reports, an RTX 4090D
running Phi-3-mini at batch 1, 69 W of 425 W); the H200 eai measured idles at 18.5 % with a model
resident (129.7 W of 700 W, ``data/profiled/smollm2-h200.csv``). Without it, SmolLM2-135M on that
H200 at batch 4 was predicted at 53 W mean, under half its idle draw (energy and time are
anchored to the measured batches apart)."""


def static_batch_queries(cf: pd.DataFrame) -> np.ndarray:
    """Per row of a candidate frame, the log-likelihood queries one static batch holds
    (:func:`recommender.model.physics.static_batch_queries`). The profiler records a query's time
    on the same terms (``profiler.window.WindowStats.row_fields``: window time / queries x
    queries in flight)."""
    passes = cf["passes"].to_numpy(dtype=float) if "passes" in cf.columns else np.ones(len(cf))
    return physics.static_batch_queries(cf["batch_size"].to_numpy(dtype=float), passes)


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
    is_cpu = cats.isin(feats["platform_class"], ("cpu",))
    limit = feats["power_w"].to_numpy(dtype=float) / queries_in_flight(cf, feats)
    limit[is_cpu] = np.inf
    return limit


def queries_in_flight(cf: pd.DataFrame, feats: Any) -> np.ndarray:
    """Per row, the queries that share the devices over one query's latency (>= 1).

    A log-likelihood batch runs its passes together: each query's latency is the batch's and its
    energy a 1/queries share of the devices' (:func:`static_batch_queries`, exact). A generated
    query is one of the ``batch_size`` requests in the system: the server runs what its KV cache
    holds (``batch_running``) and the rest wait, a wait its latency includes
    (:func:`recommender.model.pipeline.compose`), so by Little's law throughput is ``batch_size``
    / latency and mean power is energy per query x this / time per query. (Until 2026-12-04 the
    running requests were counted here; above the KV limit the power floor then grew with the
    queue: Llama-3.1-70B on four A100-40GB under vLLM, 62 sequences at once, was 2,230 J per
    query at 64 requests and 35,679 J at 1,024.)
    """
    out_tok = cf["output_tokens"].to_numpy()
    running = np.maximum(np.maximum(cf["batch_size"].to_numpy(dtype=float), np.asarray(feats["batch_running"], dtype=float)), 1.0)
    # Row subsets set in place (np.where over a million random masks costs more than the arithmetic).
    loglik = np.flatnonzero(out_tok <= 0)
    if len(loglik):
        running = running.copy()
        running[loglik] = static_batch_queries(cf)[loglik]
    return running


def time_floor_s(cf: pd.DataFrame, feats: Any) -> np.ndarray:
    """Per row, the shortest physically possible time per query, s."""
    out_tok = cf["output_tokens"].to_numpy(dtype=float)
    fed = cf["fed_tokens"].to_numpy(dtype=float)
    dec = out_tok * np.asarray(feats["t_floor_dec_s"], dtype=float)
    pre = static_batch_queries(cf) * fed * np.asarray(feats["t_floor_pre_s"], dtype=float)
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
    floor_w = np.where(np.isfinite(limit), limit * POWER_FLOOR_SHARE, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        # The bounds' energies over the point's time and the upper end's, each computed once.
        cap, cap_hi, least = limit * t, limit * t_hi, floor_w * t
        e = np.minimum(q.energy_j, cap)
        e_hi = np.minimum(np.maximum(q.energy_hi_j, e), cap_hi)
        # An energy brought down to the power limit keeps its lower log-width (the limit bounds
        # the point from above; the query may draw less).
        e_lo = np.minimum(q.energy_lo_j, e * np.where(q.energy_j > 0, q.energy_lo_j / q.energy_j, 1.0))
        # Raised to the floor over its own time (never above the limit: the floor is a share of
        # it). A point raised keeps its upper log-width, as one raised to the time floor does:
        # the floor says the model was too low, not that the query draws exactly the floor.
        raised = least > e
        e = np.where(raised, least, e)
        up = np.where(q.energy_j > 0, q.energy_hi_j / q.energy_j, 1.0)
        e_hi = np.where(raised, np.minimum(np.maximum(e_hi, e * up), cap_hi), e_hi)
        e_lo = np.minimum(np.maximum(e_lo, floor_w * t_lo), e)
    return q.replace(energy_j=e, energy_lo_j=e_lo, energy_hi_j=e_hi, time_s=t, time_lo_s=t_lo, time_hi_s=t_hi)

