"""Hard constraints, objectives, selection and tie marking (all vectorized).

Constraints filter on point predictions (the accuracy floors, where the spec asks a
confidence, on a quantile of the score's interval); each is kept as a value column, a
limit and a direction so the explanation can compute margins, nearest misses
and what-if relaxations without re-predicting.

Ranking uses the objective's point prediction and 90% interval. The
point-best feasible candidate anchors a tie group (candidates whose interval
overlaps it); within that group the decision flow's preference order picks
the winner; every candidate whose interval overlaps the winner's is marked as
a tie and shares rank 1, the rest follow by point value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
import pandas as pd

from recommender.errors import SpecError
from recommender.rules.candidates import CMP, SHARED, CandidateSet

OBJECTIVES: dict[str, tuple[str, int, str, str]] = {
    # name: (column, direction (+1 maximize, -1 minimize), label, unit)
    "eor": ("eor", 1, "EOR", "score x 100 / Wh per 1k queries"),
    "tweor": ("tweor", 1, "TWEOR", "EOR / s per query"),
    "energy": ("wh_per_1k", -1, "energy", "Wh per 1k queries"),
    "cost": ("cost_usd_per_1m", -1, "cost", "$ per 1M queries"),
    "carbon": ("carbon_g_per_1k", -1, "carbon", "gCO2e per 1k queries"),
    "accuracy": ("accuracy", 1, "accuracy", "task-weighted score"),
}


@dataclass(frozen=True)
class Constraint:
    """One hard constraint over all candidates.

    Attributes:
        name: Spec field it comes from (``latency_s_max``...).
        label: Human description.
        values: Candidate value per row.
        limit: Limit per row (broadcast array).
        kind: ``max`` (value <= limit) or ``min`` (value >= limit) or ``flag`` (value == 1).
        unit: Unit for messages.
        nan_passes: Whether an unknown value passes (e.g. no fp16 baseline).
        hint: What would help when this constraint leaves nothing feasible.
    """

    name: str
    label: str
    values: np.ndarray
    limit: np.ndarray
    kind: str
    unit: str = ""
    nan_passes: bool = False
    hint: str = ""

    def ok(self) -> np.ndarray:
        """Boolean mask of rows that satisfy it."""
        with np.errstate(invalid="ignore"):
            if self.kind == "max":
                res = self.values <= self.limit
            elif self.kind == "min":
                res = self.values >= self.limit
            else:
                res = self.values >= 1
        if self.nan_passes:
            res = res | np.isnan(self.values)
        return res

    def violation(self) -> np.ndarray:
        """Relative amount by which each row misses (0 where satisfied)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "max":
                v = self.values / self.limit - 1.0
            elif self.kind == "min":
                v = self.limit / self.values - 1.0
            else:
                v = np.where(self.values >= 1, 0.0, 1.0)
        v = np.where(np.isnan(v), 0.0 if self.nan_passes else np.inf, v)
        return np.clip(v, 0.0, np.inf)

    def scaled(self, factor: float) -> Constraint:
        """The same constraint with its limit multiplied by ``factor``."""
        return replace(self, limit=self.limit * factor)


def build_constraints(
    cs: CandidateSet, min_relative: float | None, exclude_accuracy_status: tuple[str, ...] = (),
    reference_formats: tuple[str, ...] = (), conversational: tuple[str, ...] = (),
) -> list[Constraint]:
    """The spec's hard constraints as :class:`Constraint` objects (only those in force).

    Always present: ``memory`` (fit per device), ``context_window`` (the queries' tokens within
    the model's context), ``device_split`` (a tensor-parallel engine can share the model's
    heads over the devices; a layer-split one has a layer for each) and ``prediction`` (a finite objective input exists). Others
    appear when the spec (or the flow's default for the relative accuracy floor) sets them.
    ``reference_formats``: the flow's 16-bit baselines (one accuracy per model), which the
    relative floor asked with a confidence reads as keeping their baseline's score exactly.
    ``conversational``: the flow's conversational workloads; serving one, a base model is ruled
    out (``chat_model``).

    Raises:
        SpecError: ``accuracy.min_confidence`` is given and no accuracy floor is in force.
    """
    f = cs.frame
    spec = cs.resolved.spec
    n = len(f)
    confidence = spec.accuracy.min_confidence
    if confidence_without_floor(spec, min_relative):
        raise SpecError(
            f"accuracy.min_confidence is {confidence:g} but no accuracy floor is in force (priority {spec.priority} "
            "sets no floor relative to fp16); give accuracy.min (--min-accuracy) or accuracy.min_relative_to_fp16"
        )

    def col(name: str) -> np.ndarray:
        return f[name].to_numpy(dtype=float)

    def full(x: float) -> np.ndarray:
        return np.full(n, float(x))

    out = [Constraint("memory", "fits in device memory", col("memory_gb_required"), col("memory_gb_available"), "max", "GB")]
    if "context_tokens_max" in f:
        out.append(
            Constraint(
                # A model whose window the catalog does not state passes (an infinite limit).
                "context_window", "query fits the model's context window", full(cs.resolved.context_tokens),
                np.nan_to_num(col("context_tokens_max"), nan=np.inf), "max", "tokens",
                hint="choose models with a longer context (a 4k or 8k model truncates a longer query), or state shorter "
                "queries (serving.context_tokens, --prompt-tokens / --output-tokens)",
            )
        )
    if "splits_evenly" in f:
        out.append(
            Constraint(
                "device_split", "the model splits over the devices (tensor-parallel engines: attention heads shared "
                "out evenly; layer-split engines: a layer or more on each device)",
                col("splits_evenly"), full(1.0), "flag",
                hint="choose a device count the model's attention heads divide by and no larger than its layer count "
                "(hardware.device_count), or an engine that splits by layers",
            )
        )
    if spec.accuracy.min is not None:
        adjusted = spec.accuracy.chance_adjusted
        score = "accuracy_chance_adjusted" if adjusted else "accuracy"
        label = "chance-adjusted accuracy floor" if adjusted else "accuracy floor"
        values = col(score)
        if confidence is not None:
            values = confident_score(values, col(score + "_lo"), confidence)
            label += f" (met with probability >= {confidence:g})"
        out.append(
            Constraint(
                "accuracy.min", label, values, full(spec.accuracy.min), "min",
                hint="" if confidence is None else (
                    f"the floor is checked on each score's {1 - confidence:.0%} quantile: a lower accuracy.min_confidence, "
                    "or measured scores (`eai profile`, narrower than imputed ones), would admit more"
                ),
            )
        )
    if min_relative is not None:
        kept, label = col("accuracy_relative_to_fp16"), "accuracy kept vs fp16"
        if confidence is not None:
            kept = confident_kept(f, confidence, reference_formats)
            label += f" (met with probability >= {confidence:g})"
        out.append(
            Constraint(
                "accuracy.min_relative_to_fp16", label, kept, full(min_relative), "min", "x fp16", nan_passes=True,
            )
        )
    if spec.latency_s_max is not None:
        out.append(Constraint("latency_s_max", "latency limit", col("time_s_per_query"), full(spec.latency_s_max), "max", "s"))
    if spec.throughput_qps_min is not None:
        out.append(
            Constraint("throughput_qps_min", "throughput floor", col("throughput_qps"), full(spec.throughput_qps_min), "min", "queries/s")
        )
    if spec.hardware.power_cap_w is not None:
        # The cap is per device; a deployment on several devices may draw that much on each.
        cap = spec.hardware.power_cap_w * f["device_count"].to_numpy(dtype=float)
        out.append(
            Constraint(
                "hardware.power_cap_w", "power cap", col("power_w"), cap, "max", "W",
                # A cap is read as a budget on the predicted mean power at the card's own limit,
                # not as a lowered limit: no shared row ran a GPU under one.
                hint="the cap limits each deployment's predicted mean power at the GPU's own power limit; eai does not "
                "predict a GPU run under a lower limit (`nvidia-smi -pl`: slower, often less energy), which no row in "
                "its data measured; raise the cap, or measure the capped GPU (`eai profile`)",
            )
        )
    if spec.energy_wh_per_1k_max is not None:
        out.append(
            Constraint("energy_wh_per_1k_max", "energy budget", col("wh_per_1k"), full(spec.energy_wh_per_1k_max), "max", "Wh/1k queries")
        )
    if exclude_accuracy_status:
        from recommender.rules.candidates import ACCURACY_STATUS_ORDER

        bad = [ACCURACY_STATUS_ORDER.index(s) for s in exclude_accuracy_status]
        informed = ~np.isin(f["accuracy_status_code"].to_numpy(), bad)
        blind = uninformed_tasks(cs, exclude_accuracy_status)
        hint = (
            f"no candidate model has a measured or imputed score on {', '.join(blind)}; import the scores "
            "or measure them (`eai profile`), or choose tasks with accuracy data" if blind else ""
        )
        out.append(
            Constraint(
                "accuracy_informed", "accuracy measured or imputed from the model's own scores on every task (not a size prior)",
                informed.astype(float), full(1.0), "flag", hint=hint,
            )
        )
    workload = cs.resolved.workload
    if workload is not None and workload.id in conversational:
        # A base model does not hold a conversation: the served chat runs an instruct variant.
        variant = np.array([m.variant != "base" for m in cs.resolved.models], dtype=bool)[f["_m"].to_numpy()]
        out.append(
            Constraint(
                "chat_model", f"an instruction-tuned model (the served workload {workload.id} is conversation)",
                variant.astype(float), full(1.0), "flag",
                hint="no instruction-tuned model passes the other constraints; drop serving.workload to rank on the "
                "tasks alone, or allow more models",
            )
        )
    if "chance_clearance" in f:
        clear = f["chance_clearance"].to_numpy(dtype=float)
        out.append(
            Constraint(
                "chance_margin", "beats chance by the flow's margin on every task",
                np.where(np.isfinite(clear), (clear >= 0).astype(float), 0.0), full(1.0), "flag",
                hint=_chance_hint(cs),
            )
        )
    if not spec.allow_predicted:
        measured = (f["status_code"].to_numpy() == 0) & (f["accuracy_status_code"].to_numpy() == 0)
        out.append(Constraint("allow_predicted", "measured configurations only", measured.astype(float), full(1.0), "flag"))
    return out


def confidence_without_floor(spec, min_relative: float | None) -> bool:
    """Whether the spec asks ``accuracy.min_confidence`` while no accuracy floor is in force
    (no ``accuracy.min``, and ``min_relative`` None: the priority sets no floor relative to fp16)."""
    return spec.accuracy.min_confidence is not None and spec.accuracy.min is None and min_relative is None


Z_INTERVAL_END = NormalDist().inv_cdf(0.95)
"""Standard normal quantile of a 90% interval's lower end (the 5th percentile), 1.645."""


def confident_score(point: np.ndarray, lo: np.ndarray, probability: float) -> np.ndarray:
    """The score each row reaches with ``probability``: its ``1 - probability`` quantile.

    The 90% interval's lower side read as a normal, ``point - z_p / z_0.95 x (point - lo)``:
    ``probability`` 0.5 gives the point, 0.95 the interval's lower end. A row without an
    interval (NaN end) keeps its point; NaN points stay NaN.

    Args:
        point: Predicted score per row (fraction).
        lo: Lower end of its 90% interval per row (fraction).
        probability: In [0.5, 0.95].
    """
    z = NormalDist().inv_cdf(probability)
    below = np.maximum(np.nan_to_num(point - lo, nan=0.0), 0.0)
    return point - z / Z_INTERVAL_END * below


def reference_share(scale: np.ndarray, is_reference: np.ndarray, base: np.ndarray, status: np.ndarray) -> np.ndarray:
    """Per row, the share of its accuracy variance that is its model's reference (16-bit) error.

    1 for a reference format (fp16, bf16 and fp32 carry one score per model). A quantized score
    not measured at its own precision is the reference score plus the format's effect, their
    half-widths added in quadrature (:meth:`recommender.model.accuracy_model.AccuracyModel.predict_coded`),
    so the reference's share is ``(s_reference / s_row)^2``. 0 (nothing shared) for a score
    measured at its own precision on every task (``status`` 0), a row without a baseline
    (``base`` -1), and a row narrower than its baseline (part of it was measured at its own
    precision).

    Args:
        scale: Per row, the accuracy's spread (any common unit: a half-width, a normal's scale).
        is_reference: Per row, whether its format is a reference one.
        base: Per row, the row of its 16-bit baseline (-1: none).
        status: Per row, the accuracy status code (0: measured on every task).
    """
    n = len(scale)
    out = np.where(is_reference, 1.0, 0.0)
    rows = np.flatnonzero(~is_reference & (base >= 0) & (base < n) & (status > 0))
    if len(rows):
        b = base[rows]
        s_row, s_ref = scale[rows], scale[b]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where((s_row > 0) & (s_ref > 0) & (s_row >= s_ref), (s_ref / s_row) ** 2, 0.0)
        out[rows] = np.where(is_reference[b], share, 0.0)
    return out


def confident_kept(frame: pd.DataFrame, probability: float, reference_formats: tuple[str, ...]) -> np.ndarray:
    """The share of its 16-bit baseline's score each row keeps with ``probability``.

    The ratio ``R = a / b`` of a row's score to its baseline's, at its ``1 - probability``
    quantile as a normal: ``R - z_p x sd(R)``, the scales read from each 90% interval's lower
    side. Where the row's score is the baseline's plus a format effect (:func:`reference_share`
    of its variance shared), only the effect and the baseline's own error scaled by ``1 - R``
    move the ratio; where they share nothing, both errors do, in quadrature relative terms; a
    reference format keeps its baseline's score exactly (``R`` itself). NaN where no baseline.
    """
    a = frame["accuracy"].to_numpy(dtype=float)
    lo = frame["accuracy_lo"].to_numpy(dtype=float)
    kept = frame["accuracy_relative_to_fp16"].to_numpy(dtype=float)
    base = frame["base_row"].to_numpy(dtype=np.int64)
    status = frame["accuracy_status_code"].to_numpy(dtype=np.int64)
    is_ref = frame["quantization"].astype(str).isin(list(reference_formats)).to_numpy()
    scale = np.maximum(np.nan_to_num(a - lo, nan=0.0), 0.0) / Z_INTERVAL_END
    share = reference_share(scale, is_ref, base, status)
    has = base >= 0
    b_row = np.where(has, base, 0)
    b, s_b = a[b_row], scale[b_row]
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.sqrt(np.maximum(scale**2 - share * scale**2, 0.0))  # the row's error the baseline does not share
        shared_sd = np.sqrt(own**2 + (s_b * (1.0 - kept)) ** 2) / b
        apart_sd = kept * np.sqrt((scale / a) ** 2 + (s_b / b) ** 2)
        sd = np.where(share > 0, shared_sd, apart_sd)
    sd = np.where(is_ref & is_ref[b_row], 0.0, np.nan_to_num(sd, nan=0.0))
    return np.where(has, kept - NormalDist().inv_cdf(probability) * sd, np.nan)


def _chance_hint(cs: CandidateSet) -> str:
    """Tasks on which no candidate's predicted score clears chance + margin (empty if none)."""
    n_t = len(cs.resolved.tasks)
    acc = cs.per_task["accuracy"].to_numpy(dtype=float).reshape(-1, n_t)[cs.frame["is_candidate"].to_numpy()]
    if acc.size == 0:
        return ""
    best = np.max(np.where(np.isfinite(acc), acc, -np.inf), axis=0)
    out = []
    for j, t in enumerate(cs.resolved.tasks):
        need = cs.chance_needed[j]
        if not best[j] >= need:
            out.append(f"{t.id} (best candidate {best[j]:.3f}, needs {need:.3f} = chance {t.chance:.3f} + margin)")
    return ("no candidate beats chance by the margin on " + ", ".join(out)) if out else ""


def uninformed_tasks(cs: CandidateSet, statuses: tuple[str, ...]) -> list[str]:
    """Tasks whose accuracy has one of ``statuses`` (e.g. ``prior``) for every candidate."""
    from recommender.rules.candidates import ACCURACY_STATUS_ORDER, status_codes

    if not statuses:
        return []
    bad = [ACCURACY_STATUS_ORDER.index(s) for s in statuses]
    n_t = len(cs.resolved.tasks)
    # Per-task rows have the task innermost: configuration i, task j is row i * n_t + j.
    per = status_codes(cs.per_task["accuracy_status"].array, ACCURACY_STATUS_ORDER)
    per = per.reshape(-1, n_t)[cs.frame["is_candidate"].to_numpy()]
    return [t.id for j, t in enumerate(cs.resolved.tasks) if np.isin(per[:, j], bad).all()]


@dataclass(frozen=True)
class Objective:
    """Objective arrays oriented so that larger ``score`` is better.

    Attributes:
        name: Objective name.
        column: Frame column of the point value.
        direction: +1 maximize, -1 minimize.
        point: Point value per row (natural orientation).
        score: ``direction * point``.
        score_lo: Lower end of the score's interval.
        score_hi: Upper end of the score's interval.
        tie_score: Score (larger better) ordering tied candidates after the flow
            preference; None: the objective's own point value.
        tie_within: Ties are point values within this distance of the best (None:
            overlapping intervals).
        shared_lo, shared_hi: The score's interval for comparing two rows that share an engine
            release the user did not name (:data:`recommender.rules.candidates.SHARED`); None:
            the frame has none.
        release_group: Per row, a code of the release it shares (-1: none).
        last_score: Score (larger better) ordering rows equal on every other key: the accuracy
            where the objective prices a resource (energy, cost, carbon), so that of two models
            one architecture serves at the same predicted cost the more accurate is picked
            (Qwen2.5-1.5B over Qwen2-1.5B); None: the order the rows came in.
    """

    name: str
    column: str
    direction: int
    point: np.ndarray
    score: np.ndarray
    score_lo: np.ndarray
    score_hi: np.ndarray
    tie_score: np.ndarray | None = None
    tie_within: float | None = None
    shared_lo: np.ndarray | None = None
    shared_hi: np.ndarray | None = None
    release_group: np.ndarray | None = None
    last_score: np.ndarray | None = None

    @property
    def label(self) -> str:
        """Short label."""
        return OBJECTIVES[self.name][2]

    @property
    def unit(self) -> str:
        """Unit of the point value."""
        return OBJECTIVES[self.name][3]


def objective(frame: pd.DataFrame, name: str, tie_break: str | None = None, tie_within: float | None = None) -> Objective:
    """Objective arrays for ``name`` (one of :data:`OBJECTIVES`).

    Args:
        frame: Candidate frame.
        name: Objective name.
        tie_break: Objective that orders tied candidates after the flow preference.
        tie_within: Tie on point values within this distance instead of on intervals.
    """
    column, direction, _, _ = OBJECTIVES[name]
    tie_score = None
    if tie_break is not None:
        t_col, t_dir, _, _ = OBJECTIVES[tie_break]
        tie_score = frame[t_col].to_numpy(dtype=float) * t_dir
    point = frame[column].to_numpy(dtype=float)
    # Candidates are compared by their comparison ends where the frame has them (the campaign
    # scale moves every candidate of one deployment alike; accuracy has none).
    cmp = CMP if column + "_lo" + CMP in frame.columns else ""
    lo = frame[column + "_lo" + cmp].to_numpy(dtype=float) * direction
    hi = frame[column + "_hi" + cmp].to_numpy(dtype=float) * direction
    # An interval that does not contain its point (bad predictor output) is widened to hold it.
    score = point * direction
    s_lo = np.fmin(np.fmin(lo, hi), score)
    s_hi = np.fmax(np.fmax(lo, hi), score)
    shared_lo = shared_hi = group = None
    if cmp and column + "_lo" + SHARED in frame.columns and "release_group" in frame.columns:
        # Two rows of one engine at a release the user did not name run the same release: the
        # gap to its other releases moves both alike and is left out between them.
        a = frame[column + "_lo" + SHARED].to_numpy(dtype=float) * direction
        b = frame[column + "_hi" + SHARED].to_numpy(dtype=float) * direction
        shared_lo, shared_hi = np.fmin(np.fmin(a, b), score), np.fmax(np.fmax(a, b), score)
        names = frame["release_group"].astype(str).to_numpy()
        group = np.where(names == "", -1, pd.factorize(names)[0])
    # Same architecture, same predicted cost (a model and its newer or instruct-tuned release):
    # the score decides, never the catalog's order.
    last = frame["accuracy"].to_numpy(dtype=float) if name != "accuracy" and "accuracy" in frame.columns else None
    return Objective(name, column, direction, point, score, s_lo, s_hi, tie_score, tie_within, shared_lo, shared_hi, group, last)


@dataclass(frozen=True)
class Selection:
    """Outcome of ranking the feasible candidates.

    Attributes:
        order: Row indices of the ranked candidates, best first (all feasible ones).
        rank: Rank of each row in ``order`` (ties share rank 1).
        tie: Whether each row in ``order`` is statistically tied with the winner.
        anchor: Row with the best point value.
        winner: Chosen row (``order[0]``).
    """

    order: np.ndarray
    rank: np.ndarray
    tie: np.ndarray
    anchor: int
    winner: int


def select(feasible: np.ndarray, obj: Objective, preference: np.ndarray, limit: int | None = None) -> Selection | None:
    """Rank feasible rows; None when none is feasible.

    Args:
        feasible: Boolean mask.
        obj: Objective arrays.
        preference: Flow preference rank per row (smaller = preferred).
        limit: Keep only this many rows of the order beyond the tie group (None: all).

    Returns:
        The selection, or None.
    """
    idx = np.flatnonzero(feasible & np.isfinite(obj.score))
    if idx.size == 0:
        return None
    s, lo, hi, pref = obj.score[idx], obj.score_lo[idx], obj.score_hi[idx], preference[idx]
    # Second key among ties (after the flow preference): the tie-break objective, else the point value.
    second = obj.tie_score[idx] if obj.tie_score is not None else s
    second = np.where(np.isfinite(second), second, -np.inf)
    last = obj.last_score[idx] if obj.last_score is not None else np.zeros(idx.size)
    last = np.where(np.isfinite(last), last, -np.inf)
    # The point-best, of rows equal there the one the last score prefers (as the order below).
    a = int(np.lexsort((-last, -s))[0])

    grp = obj.release_group[idx] if obj.release_group is not None else None
    sh_lo = obj.shared_lo[idx] if obj.shared_lo is not None else None
    sh_hi = obj.shared_hi[idx] if obj.shared_hi is not None else None

    def tied_with(j: int) -> np.ndarray:
        if obj.tie_within is not None:
            return np.abs(s - s[j]) <= obj.tie_within
        tied = (hi >= lo[j]) & (lo <= hi[j])
        if grp is not None and sh_lo is not None and sh_hi is not None and grp[j] >= 0:
            # Rows sharing j's unnamed release are compared without its gap (it moves both alike).
            same = grp == grp[j]
            tied = np.where(same, (sh_hi >= sh_lo[j]) & (sh_lo <= sh_hi[j]), tied)
        return tied

    g_idx = np.flatnonzero(tied_with(a))
    # Within the tied group: flow preference first, then the tie-break (or point) value, then
    # the last score (the accuracy of rows that cost the same).
    w = int(g_idx[np.lexsort((-last[g_idx], -s[g_idx], -second[g_idx], pref[g_idx]))[0]])
    tie = tied_with(w)
    tie_idx = np.flatnonzero(tie)
    tie_idx = tie_idx[np.lexsort((-last[tie_idx], -s[tie_idx], -second[tie_idx], pref[tie_idx]))]
    rest_idx = np.flatnonzero(~tie)
    if limit is not None and rest_idx.size > limit:
        # Only the best `limit` of the rest are ever shown; skip sorting the others.
        rest_idx = rest_idx[np.argpartition(-s[rest_idx], limit - 1)[:limit]] if limit > 0 else rest_idx[:0]
    rest_idx = rest_idx[np.lexsort((-last[rest_idx], -s[rest_idx]))]
    local = np.concatenate([tie_idx, rest_idx])
    rank = np.concatenate([np.ones(tie_idx.size, dtype=np.int64), tie_idx.size + 1 + np.arange(rest_idx.size)])
    # A winner alone in its interval is not tied with anything.
    tie_flags = np.concatenate([np.full(tie_idx.size, tie_idx.size > 1), np.zeros(rest_idx.size, dtype=bool)])
    return Selection(order=idx[local], rank=rank, tie=tie_flags, anchor=int(idx[a]), winner=int(idx[local[0]]))


def best(feasible: np.ndarray, obj: Objective, preference: np.ndarray) -> int | None:
    """Winner row under a mask (same rule as :func:`select`), or None."""
    sel = select(feasible, obj, preference, limit=0)
    return None if sel is None else sel.winner
