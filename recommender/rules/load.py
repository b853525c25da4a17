"""A stated load (``economics.queries_per_day``) on copies of one deployment.

The energy a predictor gives per query is that of a server kept busy: every measured campaign
ran saturated. A deployment serving fewer queries than it could spends the rest of the day
waiting with the model loaded, and a GPU holding a model draws some
:data:`recommender.model.invariants.POWER_FLOOR_SHARE` of its power limit doing nothing (eai's
H200: 115-130 W of 700 W). At a stated load that draw is part of what each query costs:

    copies    = ceil(load / throughput)                  (queries per second)
    busy      = load / (copies x throughput)
    waiting J = copies x devices x share x limit x (1 - busy) x 86,400 / queries per day

CPUs wait at no cost here: their cores go back to the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recommender.model.invariants import POWER_FLOOR_SHARE

SECONDS_PER_DAY = 86400.0

WAITING_NOTE = (
    f"the draw of the copies the load needs while they wait between queries with the model loaded ({POWER_FLOOR_SHARE:g} "
    "of each GPU's power limit, the least a GPU holding a model was measured to draw; none for CPUs), over the share of "
    "the day the load leaves idle, shared over the day's queries; that draw is not in the intervals"
)
"""What an energy per query at a stated load adds, in the words ``eai recommend`` and ``eai predict`` print."""


def copies_and_busy(throughput_qps: ArrayLike, queries_per_day: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Copies of each deployment the load needs, and the share of the day they serve (NaN where
    the throughput is unknown)."""
    thr = np.asarray(throughput_qps, dtype=float)
    rate = queries_per_day / SECONDS_PER_DAY
    with np.errstate(divide="ignore", invalid="ignore"):
        copies = np.where(thr > 0, np.ceil(rate / thr), np.nan)
        busy = np.minimum(1.0, rate / (copies * thr))
    return copies, busy


def waiting_j_per_query(throughput_qps: ArrayLike, queries_per_day: float, devices: ArrayLike, limit_w: ArrayLike) -> NDArray[np.float64]:
    """Energy the copies draw between queries, shared over the day's queries, J per query
    (0 on CPUs, whose ``limit_w`` is NaN; NaN where the throughput is unknown)."""
    copies, busy = copies_and_busy(throughput_qps, queries_per_day)
    limit = np.asarray(limit_w, dtype=float)
    waiting_w = copies * np.asarray(devices, dtype=float) * POWER_FLOOR_SHARE * np.where(np.isfinite(limit), limit, 0.0)
    return waiting_w * (1.0 - busy) * SECONDS_PER_DAY / queries_per_day


@dataclass(frozen=True)
class DailyLoad:
    """A day of the stated load on one deployment's copies (before PUE).

    Attributes:
        deployments: Copies needed at the predicted throughput.
        busy_share: Share of the day the copies serve.
        serving_kwh: Energy of the queries themselves, kWh.
        waiting_kwh: Energy drawn between queries with the model loaded, kWh.
    """

    deployments: float
    busy_share: float
    serving_kwh: float
    waiting_kwh: float

    @property
    def energy_kwh(self) -> float:
        return self.serving_kwh + self.waiting_kwh


def daily_load(waiting_j: float, wh_per_1k: float, throughput_qps: float, queries_per_day: float) -> DailyLoad:
    """The day behind one candidate's energy at the load: ``wh_per_1k`` includes ``waiting_j``
    per query (:func:`waiting_j_per_query`), which is taken apart again here."""
    copies, busy = copies_and_busy([throughput_qps], queries_per_day)
    waiting_kwh = waiting_j * queries_per_day / 3.6e6
    return DailyLoad(
        deployments=float(copies[0]), busy_share=float(busy[0]),
        serving_kwh=wh_per_1k * queries_per_day / 1e6 - waiting_kwh, waiting_kwh=waiting_kwh,
    )
