"""Whole-pipeline interval calibration for a measurement campaign never seen (stage ``campaign_scale``).

Every interval the components give is calibrated per kind of novelty (a new platform, engine,
release, model size...) by refitting the component with the roofline's shared constants held
at their fit on every row (:mod:`recommender.model.component`). A user's deployment is also a
campaign the model never saw: another lab, power meter, serving setup or load generator. That
novelty is measured here on the whole pipeline: each measurement campaign (``source``) is held
out in turn, the whole predictor (roofline fit, components, their calibration, every
predict-time stage and the invariants) is refitted on the others, and each held-out row's
error is set against its own interval::

    z = log(measured / predicted) / log(hi / predicted)   where measured >= predicted
    z = log(predicted / measured) / log(predicted / lo)   where measured <  predicted

``z <= 1`` is a row the interval covered. The campaign scale of a quantity (energy, time per
query) is the split-conformal 90 % quantile of ``z`` over every held-out row (the rank of
:func:`recommender.model.conformal.conformal_halfwidth`), and never below 1: every prediction's
log-distances from its point to its interval ends are multiplied by it
(:func:`widen`), before the physical invariants.

Why never below 1: the five shipped campaigns are each novel in platform or engine release
when held out, and their time intervals carry the published range of an unseen release's
gain (x2.2), wider than what the two vLLM releases showed (x1.7). A scale below 1 would narrow
every interval, an interpolated one too, on what five groups showed about another novelty.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recommender.errors import ModelStateError
from recommender.model.conformal import LEVEL
from recommender.model.intervals import efficiency_intervals
from recommender.model.prediction import QueryPrediction

STAGE = "campaign_scale"

MIN_CAMPAIGNS = 3
"""Fewest measurement campaigns for the scale to be calibrated: with two, each held-out one is
predicted from a single other campaign, which says how those two relate, not how a third does."""

QUANTITIES: tuple[str, ...] = ("energy", "time")
"""Quantities with a campaign scale, and the prediction columns they are read from."""
_COLUMNS = {"energy": "energy_j_per_query", "time": "time_s_per_query"}


@dataclass(frozen=True)
class CampaignResiduals:
    """Held-out ``z`` per row of the table (NaN where the row could not be predicted).

    Attributes:
        z: Per quantity, ``z`` per table row (see the module docstring).
        campaign: Per row, its campaign (``source``).
    """

    z: dict[str, np.ndarray]
    campaign: np.ndarray


@dataclass(frozen=True)
class CampaignScale:
    """Multipliers of every interval's log half-widths for a campaign never seen.

    Attributes:
        energy: Scale of energy-per-query intervals (>= 1).
        time: Scale of time-per-query intervals (>= 1).
        raw_energy, raw_time: The held-out 90 % quantile of ``z`` before the floor at 1.
        n_rows: Held-out rows behind the quantiles (energy, time).
        n_campaigns: Campaigns held out.
    """

    energy: float
    time: float
    raw_energy: float
    raw_time: float
    n_rows: tuple[int, int]
    n_campaigns: int

    def to_state(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "energy": self.energy, "time": self.time, "raw_energy": self.raw_energy, "raw_time": self.raw_time,
            "n_rows": list(self.n_rows), "n_campaigns": self.n_campaigns,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> CampaignScale | None:
        """Rebuild from :meth:`to_state` output (None: no scale)."""
        if not state:
            return None
        return cls(
            energy=float(state["energy"]), time=float(state["time"]), raw_energy=float(state["raw_energy"]),
            raw_time=float(state["raw_time"]), n_rows=(int(state["n_rows"][0]), int(state["n_rows"][1])),
            n_campaigns=int(state["n_campaigns"]),
        )


def interval_z(measured: np.ndarray, point: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """How far a measurement lies toward (``< 1``) or past (``> 1``) its interval's end.

    Args:
        measured, point, lo, hi: Measured value, predicted point and 90 % interval ends
            (positive; any unit, the same for all four).

    Returns:
        ``log(measured / point)`` over the log-distance from the point to the end on the
        measurement's side; 0 where the point is exact, inf where that end is the point
        itself and the measurement lies beyond it, NaN where a value is missing.
    """
    y, p, lo, hi = (np.asarray(a, dtype=float) for a in (measured, point, lo, hi))
    with np.errstate(divide="ignore", invalid="ignore"):
        up = y >= p
        dist = np.abs(np.log(y / p))
        side = np.where(up, np.log(hi / p), np.log(p / lo))
        z = np.where(dist == 0, 0.0, dist / side)
    ok = np.isfinite(dist) & (y > 0) & (p > 0) & (lo > 0) & (hi > 0)
    z = np.where(ok, np.where((side <= 0) & (dist > 0), np.inf, z), np.nan)
    return z


def holdout_z(
    table: pd.DataFrame,
    held_out: Sequence[str],
    fit: Callable[[pd.DataFrame], Any],
    candidates: Callable[[pd.DataFrame], pd.DataFrame],
    truth: Callable[[pd.DataFrame], dict[str, np.ndarray]],
) -> dict[str, dict[str, np.ndarray]]:
    """Campaigns held out together: the whole pipeline refitted on the others, ``z`` of their rows.

    Two at once serve nested cross-validation: the refit without campaigns ``a`` and ``b`` is
    the inner hold-out of ``b`` when ``a`` is the fold's, and of ``a`` when ``b`` is.

    Args:
        table: The measured table (``source`` names each row's campaign).
        held_out: The campaigns held out.
        fit: Fits a predictor on a table (the whole pipeline, this stage switched off).
        candidates: The candidate frame of a table's rows (their own token profiles).
        truth: Measured energy (J) and time (s) per query of a table's rows,
            ``{"energy": ..., "time": ...}``.

    Returns:
        Per held-out campaign, per quantity, ``z`` of its rows in table order.
    """
    campaign = table["source"].astype(str).to_numpy()
    predictor = fit(table.loc[~np.isin(campaign, list(held_out))])
    out: dict[str, dict[str, np.ndarray]] = {}
    for c in held_out:
        rows = table.loc[campaign == c]
        pred = predictor.predict(candidates(rows), use_measured=False)
        measured = truth(rows)
        out[c] = {}
        for q in QUANTITIES:
            col = _COLUMNS[q]
            out[c][q] = interval_z(measured[q], pred[col].to_numpy(), pred[f"{col}_lo"].to_numpy(), pred[f"{col}_hi"].to_numpy())
    return out


def campaigns(table: pd.DataFrame) -> list[str]:
    """The campaigns to hold out (none with fewer than :data:`MIN_CAMPAIGNS`)."""
    uniq = [str(c) for c in pd.unique(table["source"].astype(str))]
    return uniq if len(uniq) >= MIN_CAMPAIGNS else []


def assemble(table: pd.DataFrame, per_campaign: dict[str, dict[str, np.ndarray]]) -> CampaignResiduals | None:
    """The residuals of every row from :func:`holdout_z` per campaign (None when there is none)."""
    if not per_campaign:
        return None
    campaign = table["source"].astype(str).to_numpy()
    z = {q: np.full(len(table), np.nan) for q in QUANTITIES}
    for c, values in per_campaign.items():
        held = np.flatnonzero(campaign == c)
        for q in QUANTITIES:
            z[q][held] = values[q]
    return CampaignResiduals(z=z, campaign=campaign)


def campaign_scale(residuals: CampaignResiduals, exclude: np.ndarray | None = None, level: float = LEVEL) -> CampaignScale:
    """The scale per quantity from held-out ``z`` (rows in ``exclude`` left out).

    Args:
        residuals: From :func:`assemble`.
        exclude: Row positions whose own ``z`` must not set the scale (cross-validation: the
            rows a fold holds out).
        level: Nominal coverage.

    Raises:
        ModelStateError: A quantile is infinite (too many held-out rows beyond an end that
            equals its point): no finite widening covers them.
    """
    keep = np.ones(len(residuals.campaign), dtype=bool)
    if exclude is not None:
        keep[np.asarray(exclude, dtype=int)] = False
    raw: dict[str, float] = {}
    counts: list[int] = []
    for q in QUANTITIES:
        z = residuals.z[q][keep]
        z = z[~np.isnan(z)]
        counts.append(int(len(z)))
        # The conformal rank as conformal_halfwidth takes it, but an infinite z (a miss beyond an
        # end equal to its point) counts as the widest residual instead of being dropped.
        raw[q] = float(np.sort(z)[min(math.ceil((len(z) + 1) * level), len(z)) - 1]) if len(z) else 1.0
        if not np.isfinite(raw[q]):
            raise ModelStateError(
                f"campaign scale of {q} is not finite: {int(np.isinf(z).sum())} of {len(z)} held-out rows lie beyond an "
                "interval end that equals its point; fit with '--without campaign_scale' and report it"
            )
    return CampaignScale(
        energy=max(1.0, raw["energy"]), time=max(1.0, raw["time"]), raw_energy=raw["energy"], raw_time=raw["time"],
        n_rows=(counts[0], counts[1]), n_campaigns=int(len(pd.unique(residuals.campaign[keep]))),
    )


def _scaled_ends(point: np.ndarray, lo: np.ndarray, hi: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Interval ends whose log-distances from ``point`` are multiplied by ``s``."""
    if s == 1.0:
        return lo, hi
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return point * (lo / point) ** s, point * (hi / point) ** s


def widen(q: QueryPrediction, scale: CampaignScale) -> QueryPrediction:
    """``q`` with every interval's log-distances from the point multiplied by the campaign scale."""
    e_lo, e_hi = _scaled_ends(q.energy_j, q.energy_lo_j, q.energy_hi_j, scale.energy)
    t_lo, t_hi = _scaled_ends(q.time_s, q.time_lo_s, q.time_hi_s, scale.time)
    return q.replace(energy_lo_j=e_lo, energy_hi_j=e_hi, time_lo_s=t_lo, time_hi_s=t_hi)


COMPARED: tuple[str, ...] = ("energy_j_per_query", "time_s_per_query", "eor", "tweor")
"""Prediction columns whose comparison intervals differ from the reported ones."""


def comparison_intervals(pred: pd.DataFrame, scale: CampaignScale | None) -> dict[str, np.ndarray]:
    """Interval ends for comparing candidates of one deployment, without the campaign scale.

    A user's campaign (meter, load, serving setup) moves every candidate's energy and time
    alike, so the scale (:func:`widen`) belongs in a stated figure, not in the difference
    between two candidates: ties, and a candidate's gain over its 16-bit baseline, compare
    these. The reported ends are taken back by the scale (exact except where an invariant cut
    an end, which comes back a little narrower); EOR and TWEOR are rebuilt from them
    (:func:`recommender.model.intervals.efficiency_intervals`). Measured cells keep their
    measured spread.

    Args:
        pred: Predictions (``Predictor.predict`` columns).
        scale: The predictor's campaign scale (None: the reported ends).

    Returns:
        ``<column>_lo`` and ``<column>_hi`` for each of :data:`COMPARED`.
    """
    out = {f"{c}{s}": pred[f"{c}{s}"].to_numpy(dtype=float) for c in COMPARED for s in ("_lo", "_hi")}
    if scale is None or (scale.energy == 1.0 and scale.time == 1.0):
        return out
    ends = {}
    for col, s in (("energy_j_per_query", scale.energy), ("time_s_per_query", scale.time)):
        p = pred[col].to_numpy(dtype=float)
        lo, hi = _scaled_ends(p, out[f"{col}_lo"], out[f"{col}_hi"], 1.0 / s)
        ends[col] = (p, lo, hi)
        out[f"{col}_lo"], out[f"{col}_hi"] = lo, hi
    acc = [pred[c].to_numpy(dtype=float) for c in ("accuracy", "accuracy_lo", "accuracy_hi")]
    ratios = efficiency_intervals(*acc, *ends["energy_j_per_query"], *ends["time_s_per_query"])
    for c in ("eor", "tweor"):
        out[f"{c}_lo"], out[f"{c}_hi"] = ratios[f"{c}_lo"], ratios[f"{c}_hi"]
    measured = np.asarray(pred["status"].astype(str) == "measured") if "status" in pred else np.zeros(len(pred), dtype=bool)
    if measured.any():
        for key in out:
            out[key] = np.where(measured, pred[key].to_numpy(dtype=float), out[key])
    return out
