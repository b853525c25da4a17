"""A stated load (``economics.queries_per_day``) on copies of one deployment.

The energy a predictor gives per query is that of a server kept busy at its configured
concurrency: every measured campaign ran saturated. At a stated load a deployment runs where
its arrivals put it:

    copies      = ceil(load / throughput at the configured batch B)     (queries per second)
    per copy    = load / copies

Where one copy's load reaches the throughput of a smaller predicted batch of the same
deployment, the copy is never idle and runs as many requests at once as Little's law gives
(requests = arrival rate x time per query): its operating point lies where its throughput
equals its load, interpolated between the two predicted batches around it (log throughput,
log energy, log time). Its energy per query is that point's, higher than at ``B`` (fewer
requests share each step). A load below the smallest batch's throughput runs that batch part
of the day and waits the rest with the model loaded, and a GPU holding a model draws some
:data:`recommender.model.invariants.POWER_FLOOR_SHARE` of its power limit doing nothing
(eai's H200: 115-130 W of 700 W):

    busy      = per copy / throughput at the smallest batch
    waiting J = copies x devices x share x limit x (1 - busy) x 86,400 / queries per day

CPUs wait at no cost here: their cores go back to the host. The time per query, the serving
power and the throughput stay those at ``B``: what the deployment does at a peak the daily
mean does not show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recommender.model.invariants import POWER_FLOOR_SHARE

SECONDS_PER_DAY = 86400.0

WAITING_NOTE = (
    "at the number of requests each copy's arrivals keep running (Little's law: arrival rate x time per query, between "
    "the batches predicted for the deployment) and, below its smallest batch's throughput, with the draw of the copies "
    f"waiting between queries with the model loaded ({POWER_FLOOR_SHARE:g} of each GPU's power limit, the least a GPU "
    "holding a model was measured to draw; none for CPUs) over the share of the day the load leaves idle, shared over "
    "the day's queries; time per query and power stay those at the configured batch; the waiting draw is not in the intervals"
)
"""What an energy per query at a stated load adds, in the words ``eai recommend`` and ``eai predict`` print."""

UNLOAD_BREAKEVEN_S = 300.0
"""Mean gap between one copy's queries, s, above which holding the model loaded through the gap
costs more than loading it again for the next query: the upper end of the 1-5 minute break-even
Vadari derives from idle-with-context power and cold-start energy on an H100, an A100 80GB and an
L40S ("The Model Parking Tax", arXiv:2605.23918, 2026; idle power with a CUDA context is set by
the GPU's clock state, not by the memory a model holds, which is why the waiting draw here does
not depend on the model)."""


def copies_and_busy(throughput_qps: ArrayLike, queries_per_day: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Copies of each deployment the load needs, and the share of the day they serve (NaN where
    the throughput is unknown)."""
    thr = np.asarray(throughput_qps, dtype=float)
    rate = queries_per_day / SECONDS_PER_DAY
    with np.errstate(divide="ignore", invalid="ignore"):
        copies = np.where(thr > 0, np.ceil(rate / thr), np.nan)
        busy = np.minimum(1.0, rate / (copies * thr))
    return copies, busy


@dataclass(frozen=True)
class OperatingPoints:
    """Where each configuration runs at a stated load (arrays in the order of the rows given).

    Attributes:
        deployments: Copies the load needs at the configured batch's throughput.
        running: Requests each copy runs at once on average (Little's law).
        busy_share: Share of the day each copy serves (1 where its load reaches a predicted
            batch's throughput: it is never idle).
        energy_scale: Energy per query at the operating point over that at the configured
            batch (>= 1 where the configured batch amortizes better; 1 at saturation).
        waiting_j_per_query: The copies' draw while idle, shared over the day's queries, J.
    """

    deployments: NDArray[np.float64]
    running: NDArray[np.float64]
    busy_share: NDArray[np.float64]
    energy_scale: NDArray[np.float64]
    waiting_j_per_query: NDArray[np.float64]


def operating_points(
    group: ArrayLike,
    batch: ArrayLike,
    throughput_qps: ArrayLike,
    energy_j_per_query: ArrayLike,
    time_s_per_query: ArrayLike,
    queries_per_day: float,
    devices: ArrayLike,
    limit_w: ArrayLike,
) -> OperatingPoints:
    """Each configuration's operating point at a stated load, read off the batches predicted
    for the same deployment (module docstring).

    Args:
        group: Deployment of each row (rows of one deployment differ in batch only).
        batch: Configured concurrency (a server's limit, a static batch).
        throughput_qps: Queries per second at that batch, saturated.
        energy_j_per_query: Energy per query at that batch, J.
        time_s_per_query: Time per query at that batch, s.
        queries_per_day: The stated load.
        devices: Devices per copy.
        limit_w: Power limit per device, W (NaN on CPUs: they wait at no cost).

    Returns:
        The operating points; NaN where the throughput is unknown (energy scale 1, no waiting).
    """
    g = np.asarray(group)
    b = np.asarray(batch, dtype=float)
    thr = np.asarray(throughput_qps, dtype=float)
    energy = np.asarray(energy_j_per_query, dtype=float)
    time = np.asarray(time_s_per_query, dtype=float)
    n = len(b)
    rate = queries_per_day / SECONDS_PER_DAY
    copies, _ = copies_and_busy(thr, queries_per_day)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_copy = rate / copies
    # Each deployment's predicted batches as one padded row, smallest first.
    order = np.lexsort((b, g))
    _, first, counts = np.unique(g[order], return_index=True, return_counts=True)
    dep = np.repeat(np.arange(len(first)), counts)
    pos = np.arange(n) - np.repeat(first, counts)
    width = int(counts.max()) if n else 0
    pad = np.full((len(first), width), np.nan)
    grid = {k: pad.copy() for k in ("thr", "energy", "time")}
    for k, v in (("thr", thr), ("energy", energy), ("time", time)):
        grid[k][dep, pos] = v[order]
    # Per row (in sorted order): the first batch no larger than its own whose throughput meets its load.
    lam = per_copy[order]
    meets = (grid["thr"][dep] >= lam[:, None]) & (np.arange(width)[None, :] <= pos[:, None])
    found = meets.any(axis=1)
    hit = np.argmax(meets, axis=1)
    prev = np.maximum(hit - 1, 0)

    def at(k: str, j: np.ndarray) -> np.ndarray:
        return grid[k][dep, j]

    thr_hit, thr_prev = at("thr", hit), at("thr", prev)
    between = found & (hit > 0) & (thr_prev > 0) & np.isfinite(thr_prev)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(between, np.log(lam / thr_prev) / np.log(thr_hit / thr_prev), 1.0)

    def lerp(k: str) -> np.ndarray:
        lo, hi = at(k, prev), at(k, hit)
        with np.errstate(divide="ignore", invalid="ignore"):
            mixed = np.exp((1 - w) * np.log(lo) + w * np.log(hi))
        return np.where(between, mixed, hi)

    e_point, t_point = lerp("energy"), lerp("time")
    # Below every batch that meets the load: the smallest one that does, busy part of the day.
    with np.errstate(divide="ignore", invalid="ignore"):
        busy_sorted = np.where(between, 1.0, np.minimum(1.0, lam / thr_hit))
        running_sorted = lam * t_point
        scale_sorted = np.where(found, e_point / energy[order], 1.0)
    busy, running, scale = (np.full(n, np.nan) for _ in range(3))
    busy[order], running[order], scale[order] = busy_sorted, running_sorted, scale_sorted
    busy[~np.isfinite(thr)] = np.nan
    scale = np.where(np.isfinite(scale), scale, 1.0)
    limit = np.asarray(limit_w, dtype=float)
    waiting_w = copies * np.asarray(devices, dtype=float) * POWER_FLOOR_SHARE * np.where(np.isfinite(limit), limit, 0.0)
    waiting = waiting_w * (1.0 - busy) * SECONDS_PER_DAY / queries_per_day
    return OperatingPoints(deployments=copies, running=running, busy_share=busy, energy_scale=scale, waiting_j_per_query=waiting)


@dataclass(frozen=True)
class DailyLoad:
    """A day of the stated load on one deployment's copies (before PUE).

    Attributes:
        deployments: Copies needed at the predicted throughput.
        busy_share: Share of the day the copies serve.
        running: Requests each copy runs at once on average.
        mean_gap_s: Mean time between two queries of one copy, s.
        serving_kwh: Energy of the queries themselves, kWh.
        waiting_kwh: Energy drawn between queries with the model loaded, kWh.
    """

    deployments: float
    busy_share: float
    running: float
    mean_gap_s: float
    serving_kwh: float
    waiting_kwh: float

    @property
    def energy_kwh(self) -> float:
        return self.serving_kwh + self.waiting_kwh


def daily_load(
    waiting_j: float, wh_per_1k: float, deployments: float, busy_share: float, running: float, queries_per_day: float
) -> DailyLoad:
    """The day behind one candidate's energy at the load: ``wh_per_1k`` includes ``waiting_j``
    per query (:func:`operating_points`), which is taken apart again here."""
    waiting_kwh = waiting_j * queries_per_day / 3.6e6
    return DailyLoad(
        deployments=float(deployments), busy_share=float(busy_share), running=float(running),
        mean_gap_s=SECONDS_PER_DAY * float(deployments) / queries_per_day,
        serving_kwh=wh_per_1k * queries_per_day / 1e6 - waiting_kwh, waiting_kwh=waiting_kwh,
    )
