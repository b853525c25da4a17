"""Typed records that flow between the pipeline's stages (no ``(point, half, bits)`` tuples).

A :class:`PartPrediction` is one per-token component (``e_dec``: J per output token, ``t_dec``:
s per output token, ``e_pre``: J per token position fed, ``t_pre``: s per token position fed)
for every candidate row; a :class:`QueryPrediction` is energy and time per query with their
90% intervals. Both are frozen: a stage returns a new record (``dataclasses.replace``), so the
order in which stages ran is visible in :mod:`recommender.model.pipeline` and nowhere else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


def blank_labels(n: int) -> np.ndarray:
    """``n`` empty labels: an object array of ``""``.

    Filled in place: ``np.full(n, "", dtype=object)`` casts its fill value on the way and took
    ~7 ms a million rows, against under 2 ms here (the same array).
    """
    out = np.empty(n, dtype=object)
    out.fill("")
    return out


@dataclass(frozen=True)
class PartPrediction:
    """One component's prediction for every row.

    Attributes:
        point: Point prediction per row (J or s per token).
        log_half: Natural-log half-width of the 90% interval per row.
        reason_bits: Extrapolation reasons per row (bit ``i``: :data:`recommender.model.novelty.REASONS` ``[i]``).
    """

    point: np.ndarray
    log_half: np.ndarray
    reason_bits: np.ndarray

    def replace(self, **changes: np.ndarray) -> PartPrediction:
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    @property
    def lo(self) -> np.ndarray:
        """Lower interval end per row."""
        return self.point * np.exp(-self.log_half)

    @property
    def hi(self) -> np.ndarray:
        """Upper interval end per row."""
        return self.point * np.exp(self.log_half)


Parts = dict[str, PartPrediction]
"""Component name -> its prediction."""


ENERGY_TIME_FIELDS: tuple[str, ...] = ("energy_j", "energy_lo_j", "energy_hi_j", "time_s", "time_lo_s", "time_hi_s")
"""The fields of a :class:`QueryPrediction` that the invariants (and the stages that scale a
prediction) move: energy and time per query and their interval ends."""


@dataclass(frozen=True)
class QueryPrediction:
    """Energy and time per query with their 90% intervals, and how each row was obtained.

    Attributes:
        energy_j, energy_lo_j, energy_hi_j: Energy per query (all devices, gross) and interval, J.
        time_s, time_lo_s, time_hi_s: Time per query (the query's latency) and interval, s.
        status_code: 0 measured, 1 interpolated, 2 extrapolated.
        reason_bits: Decode bits low, prefill bits high (see :func:`recommender.model.novelty.reasons_text`).
        prefill_share: Share of the energy that comes from prefill components.
        twin_of: Per row, the twin platform whose decode energy was borrowed ("" where none).
        power_of: Per row, the engine release whose power stage ``release_power`` carried over
            ("" where none); None for no row.
        in_flight: Per row, the queries in flight a measurement states (a measured cell's mean
            power x latency / energy: Little's law on its own figures), NaN where none; None for
            no row. Where given, it replaces the in-flight count the batch implies, so that a
            measured row's mean power is its measured one.
    """

    energy_j: np.ndarray
    energy_lo_j: np.ndarray
    energy_hi_j: np.ndarray
    time_s: np.ndarray
    time_lo_s: np.ndarray
    time_hi_s: np.ndarray
    status_code: np.ndarray
    reason_bits: np.ndarray
    prefill_share: np.ndarray
    twin_of: np.ndarray
    in_flight: np.ndarray | None = None
    power_of: np.ndarray | None = None

    def replace(self, **changes: np.ndarray) -> QueryPrediction:
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    def take(self, rows: np.ndarray) -> QueryPrediction:
        """The prediction of ``rows`` only."""
        return QueryPrediction(
            **{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[rows]) for f in dataclasses.fields(self)}
        )

    def put(self, rows: np.ndarray, other: QueryPrediction, fields: tuple[str, ...] | None = None) -> QueryPrediction:
        """A copy with ``rows`` replaced by ``other`` (a prediction of those rows).

        ``fields``: the fields ``other`` moved (None: every field); the others are this
        prediction's own arrays, shared, not copied (a stage that scales energy and time on a
        few rows of a million leaves every label as it was)."""
        changes = {}
        for f in dataclasses.fields(self):
            if fields is not None and f.name not in fields:
                changes[f.name] = getattr(self, f.name)
                continue
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if mine is None and theirs is None:
                changes[f.name] = None
                continue
            # Where one side lacks the field: NaN for numbers, "" for labels.
            text = (mine if mine is not None else theirs).dtype == object
            blank = "" if text else np.nan
            if mine is not None:
                values = mine.copy()
            else:
                values = blank_labels(len(self.energy_j)) if text else np.full(len(self.energy_j), np.nan)
            values[rows] = blank if theirs is None else theirs
            changes[f.name] = values
        return QueryPrediction(**changes)
