"""A decision problem as arrays: objective and constraints as functions of sampled errors.

Every quantity the ranking uses is a product of the point prediction and powers of the
energy, time and accuracy factors ``exp(delta)`` of :mod:`recommender.plan.joint` (EOR =
accuracy x 360 / energy, TWEOR = EOR / time, throughput = batch / time, power = energy x
throughput...), so a sampled world is three arrays of log deviations and each objective or
constraint says which powers it takes. Constraints with nothing uncertain (memory fit,
"accuracy informed by data", "measured only") are folded into ``eligible``.

:func:`from_context` builds the problem from ``eai recommend``'s prepared candidates
(:func:`recommender.rules.engine.prepare`), so the probabilities describe exactly the
candidates and constraints the ranking used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recommender.plan.joint import JointPredictive, Scales
from recommender.plan.variance import VarianceSplit

OBJECTIVE_POWERS: dict[str, tuple[float, float, float]] = {
    # name: powers of (energy, time, accuracy) factors in the objective's value
    "eor": (-1.0, 0.0, 1.0),
    "tweor": (-1.0, -1.0, 1.0),
    "energy": (1.0, 0.0, 0.0),
    "cost": (1.0, 0.0, 0.0),
    "carbon": (1.0, 0.0, 0.0),
    "accuracy": (0.0, 0.0, 1.0),
}

CONSTRAINT_POWERS: dict[str, tuple[float, float, float]] = {
    "latency_s_max": (0.0, 1.0, 0.0),
    "throughput_qps_min": (0.0, -1.0, 0.0),
    "hardware.power_cap_w": (1.0, -1.0, 0.0),
    "energy_wh_per_1k_max": (1.0, 0.0, 0.0),
    "accuracy.min": (0.0, 0.0, 1.0),
    "accuracy.min_relative_to_fp16": (0.0, 0.0, 1.0),
}
"""Constraints whose value moves with the sampled errors (others are deterministic)."""


@dataclass(frozen=True)
class SampledConstraint:
    """A constraint evaluated on sampled worlds.

    Attributes:
        name: Spec field (``latency_s_max``...).
        label: Human description.
        point: Value at the point predictions, per row.
        limit: Limit per row.
        kind: ``max`` or ``min``.
        powers: Powers of the (energy, time, accuracy) factors.
        base_row: Row whose accuracy factor divides the value (relative accuracy), or -1.
        additive_slope: If not None, the value moves additively: ``point + slope * (exp(dA) - 1)``
            (chance-adjusted accuracy: ``(A - c) / (1 - c)`` with ``slope = A / (1 - c)``).
        nan_passes: Whether an unknown value passes.
    """

    name: str
    label: str
    point: np.ndarray
    limit: np.ndarray
    kind: str
    powers: tuple[float, float, float]
    base_row: np.ndarray | None = None
    additive_slope: np.ndarray | None = None
    nan_passes: bool = False

    def ok(self, rows: np.ndarray, d: dict[str, np.ndarray], d_base_accuracy: np.ndarray | None = None) -> np.ndarray:
        """Whether each sampled value passes (``d``: log deviations, (..., len(rows)))."""
        p = self.point[rows]
        if self.additive_slope is not None:
            v = p + self.additive_slope[rows] * (np.exp(d["accuracy"]) - 1.0)
        else:
            ce, ct, ca = self.powers
            log_f = ce * d["energy"] + ct * d["time"] + ca * d["accuracy"]
            if d_base_accuracy is not None:
                log_f = log_f - ca * d_base_accuracy
            v = p * np.exp(log_f)
        lim = self.limit[rows]
        with np.errstate(invalid="ignore"):
            res = v <= lim if self.kind == "max" else v >= lim
        if self.nan_passes:
            res = res | np.isnan(p)
        return res


@dataclass(frozen=True)
class Problem:
    """Candidates, objective and constraints as arrays over rows ``0..n-1``.

    Attributes:
        objective: Objective name (a key of :data:`OBJECTIVE_POWERS`).
        direction: +1 maximize, -1 minimize.
        log_point: Log of the objective's point value per row (NaN: no value).
        powers: Powers of the (energy, time, accuracy) factors in the objective.
        constraints: Constraints that move with the errors.
        eligible: Rows that are candidates and pass every deterministic constraint.
        point: Point predictions per quantity (``energy``, ``time``, ``accuracy``).
        scales: Split-normal scales.
        labels: One-line name of each row (for output).
    """

    objective: str
    direction: int
    log_point: np.ndarray
    powers: tuple[float, float, float]
    constraints: tuple[SampledConstraint, ...]
    eligible: np.ndarray
    point: dict[str, np.ndarray]
    scales: Scales

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.log_point.size)

    def score(self, rows: np.ndarray, d: dict[str, np.ndarray]) -> np.ndarray:
        """Objective score (larger is better, log scale) for log deviations ``d``."""
        ce, ct, ca = self.powers
        return self.direction * (self.log_point[rows] + ce * d["energy"] + ct * d["time"] + ca * d["accuracy"])

    def feasible(self, rows: np.ndarray, d: dict[str, np.ndarray], base_d: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Eligible and every sampled constraint passes."""
        ok = np.broadcast_to(self.eligible[rows], d["energy"].shape).copy()
        for c in self.constraints:
            base = None
            if c.base_row is not None and base_d is not None:
                base = base_d["accuracy"]
            ok &= c.ok(rows, d, base)
        return ok

    def delta(self, rows: np.ndarray, z: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Log deviations for latents ``z`` at ``rows``."""
        return {q: self.scales.delta(q, z[q], rows) for q in ("energy", "time", "accuracy")}


def joint_from_frame(frame, split: VarianceSplit, scales: Scales, reference_formats: Sequence[str] = ()) -> JointPredictive:
    """The joint predictive over a candidate frame's rows (platform/model/engine/quantization columns).

    Args:
        frame: Candidate frame.
        split: Variance split of energy and time.
        scales: Split-normal scales.
        reference_formats: Quantizations whose accuracy is the model's reference score itself
            (the flow's ``baseline_quantizations``: fp16, bf16, fp32): one accuracy latent per
            model for all of them. The accuracy model gives them one value and one interval from
            one source, so their errors are the same error; drawn apart, a model in bf16 met a
            floor of 95 % of its own fp16 score in about half of the sampled worlds.
    """
    import pandas as pd

    def codes(col: str) -> np.ndarray:
        return np.asarray(pd.factorize(frame[col].astype(str))[0], dtype=np.int64)

    quant = frame["quantization"].astype(str)
    models = codes("model_id")
    shared = None
    if reference_formats:
        is_reference = quant.isin(list(reference_formats)).to_numpy()
        # A name no quantization can take stands for the reference group.
        quant = quant.where(~is_reference, "\x01reference")
        shared = reference_share(frame, scales, is_reference)
    acc = np.asarray(pd.factorize(frame["model_id"].astype(str) + "\x00" + quant)[0])
    return JointPredictive(
        levels={"platform": codes("platform"), "model": models, "engine": codes("engine")},
        accuracy_levels=acc,
        scales=scales,
        split=split,
        accuracy_models=models if shared is not None else None,
        accuracy_shared=shared,
    )


def reference_share(frame, scales: Scales, is_reference: np.ndarray) -> np.ndarray:
    """Per row, the share of its accuracy variance that is its model's reference error
    (:func:`recommender.rules.rank.reference_share`), read off the row's and its fp16 baseline's
    (``base_row``) split-normal scales; nothing shared where the frame has no baselines."""
    from recommender.rules.rank import reference_share as share

    if "base_row" not in frame.columns or "accuracy_status_code" not in frame.columns:
        return np.where(is_reference, 1.0, 0.0)
    s = (scales.lo["accuracy"] + scales.hi["accuracy"]) / 2.0
    return share(s, is_reference, frame["base_row"].to_numpy(dtype=np.int64), frame["accuracy_status_code"].to_numpy(dtype=np.int64))


def scales_from_frame(frame) -> Scales:
    """Split-normal scales from a frame with ``energy_j_per_query``/``time_s_per_query``/``accuracy`` and their ``_lo``/``_hi``."""
    cols = {"energy": "energy_j_per_query", "time": "time_s_per_query", "accuracy": "accuracy"}
    point = {q: frame[c].to_numpy(dtype=float) for q, c in cols.items()}
    lo = {q: frame[c + "_lo"].to_numpy(dtype=float) for q, c in cols.items()}
    hi = {q: frame[c + "_hi"].to_numpy(dtype=float) for q, c in cols.items()}
    return Scales.from_intervals(point, lo, hi)


def from_context(ctx) -> Problem:
    """The problem ``eai recommend`` ranked (a :class:`recommender.rules.explain.Context`)."""
    frame = ctx.cs.frame
    spec = ctx.cs.resolved.spec
    obj = ctx.obj
    with np.errstate(divide="ignore", invalid="ignore"):
        # A zero objective (e.g. EOR of a predicted accuracy of 0) is a valid, worst value: keep
        # it finite so sampled worlds and utilities stay finite.
        log_point = np.log(np.maximum(np.abs(obj.point), 1e-300))
    eligible = ctx.base.copy()
    constraints: list[SampledConstraint] = []
    for c, ok in zip(ctx.constraints, ctx.oks):
        if c.name not in CONSTRAINT_POWERS or c.kind not in ("max", "min"):
            eligible &= ok
            continue
        slope = None
        base_row = None
        point = np.asarray(c.values, dtype=float)
        # The worlds draw each score around its point; a floor asked with a confidence is the
        # answer's rule for an uncertain score, while in a world the score is known.
        if c.name == "accuracy.min":
            point = frame["accuracy_chance_adjusted" if spec.accuracy.chance_adjusted else "accuracy"].to_numpy(dtype=float)
        elif c.name == "accuracy.min_relative_to_fp16":
            point = frame["accuracy_relative_to_fp16"].to_numpy(dtype=float)
        if c.name == "accuracy.min" and spec.accuracy.chance_adjusted:
            acc = frame["accuracy"].to_numpy(dtype=float)
            adj = point
            with np.errstate(divide="ignore", invalid="ignore"):
                chance = (acc - adj) / (1.0 - adj)
                slope = acc / (1.0 - chance)
        if c.name == "accuracy.min_relative_to_fp16":
            base_row = frame["base_row"].to_numpy()
        constraints.append(
            SampledConstraint(
                name=c.name, label=c.label, point=point, limit=np.asarray(c.limit, dtype=float),
                kind=c.kind, powers=CONSTRAINT_POWERS[c.name], base_row=base_row, additive_slope=slope, nan_passes=c.nan_passes,
            )
        )
    cols = {"energy": "energy_j_per_query", "time": "time_s_per_query", "accuracy": "accuracy"}
    return Problem(
        objective=obj.name,
        direction=int(obj.direction),
        log_point=log_point,
        powers=OBJECTIVE_POWERS[obj.name],
        constraints=tuple(constraints),
        eligible=eligible & np.isfinite(log_point),
        point={q: frame[col].to_numpy(dtype=float) for q, col in cols.items()},
        scales=scales_from_frame(frame),
    )
