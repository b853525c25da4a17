"""Why a recommendation came out as it did, and what would change it.

Everything here re-uses the arrays computed once for ranking: re-ranking with
one constraint relaxed (or tightened to just below the winner's value) is a
masked arg-max over the same predictions, not a new prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from recommender.errors import InfeasibleError
from recommender.rules.candidates import ACCURACY_STATUS_ORDER, STATUS_ORDER, CandidateSet, energy_reasons, status_codes
from recommender.rules.flow import FlowConfig
from recommender.rules.rank import OBJECTIVES, Constraint, Objective, Selection, best, objective

# Spec field of a constraint -> key of the flow's `what_if` factors.
_WHAT_IF_KEY = {
    "latency_s_max": "latency_s_max",
    "energy_wh_per_1k_max": "energy_wh_per_1k_max",
    "throughput_qps_min": "throughput_qps_min",
    "hardware.power_cap_w": "power_cap_w",
    "memory": "memory_limit_gb",
    "accuracy.min": "accuracy_min",
    "accuracy.min_relative_to_fp16": "min_accuracy_relative_to_fp16",
}


class NothingFeasible(InfeasibleError):
    """No configuration satisfies the spec; ``details`` holds the diagnosis as data.

    Attributes:
        details: ``binding_constraint``, ``nearest_miss`` and exclusion counts.
    """

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


def fmt(x: float) -> str:
    """A number with 3 significant digits (``n/a`` for NaN)."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.3g}"


def with_devices(platform: str, device_count: int) -> str:
    """A platform with its device count where a model is split: ``rtx-4090 x4``."""
    return f"{platform} x{int(device_count)}" if int(device_count) > 1 else str(platform)


def describe(frame: pd.DataFrame, row: int) -> str:
    """One-line name of a configuration."""
    r = frame.iloc[row]
    return f"{with_devices(r['platform'], r['device_count'])} + {r['model_id']} @ {r['quantization']} ({r['engine']}, batch {int(r['batch_size'])})"


def _a(phrase: str) -> str:
    """Phrase with its indefinite article."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _fmt_limit(c: Constraint, limit: float) -> str:
    if c.kind == "flag":
        return "required"
    if c.name == "accuracy.min_relative_to_fp16":
        return f"{limit:.1%} of fp16"
    return f"{fmt(limit)} {c.unit}".strip()


def _fmt_value(c: Constraint, value: float) -> str:
    if c.kind == "flag":
        return "no" if value < 1 else "yes"
    if c.name == "accuracy.min_relative_to_fp16":
        return f"{value:.1%} of fp16" if np.isfinite(value) else "n/a"
    return f"{fmt(value)} {c.unit}".strip()


def _mask(base: np.ndarray, oks: list[np.ndarray], skip: int | None = None, extra: np.ndarray | None = None) -> np.ndarray:
    m = base.copy()
    for i, ok in enumerate(oks):
        if i != skip:
            m &= ok
    if extra is not None:
        m &= extra
    return m


def _relaxed(c: Constraint, cs: CandidateSet, factor: float) -> tuple[Constraint, str] | None:
    spec = cs.resolved.spec
    if c.name == "memory":
        # Available memory is min(platform memory, spec limit); only the spec's limit can move.
        if spec.hardware.memory_limit_gb is None:
            return None
        new_limit = spec.hardware.memory_limit_gb * factor
        platform_gb = cs.frame["memory_gb_platform_usable"].to_numpy(dtype=float)
        return replace(c, limit=np.minimum(platform_gb, new_limit)), f"a {fmt(factor)}x memory limit ({fmt(new_limit)} GB)"
    if c.kind == "flag":
        return None
    new = c.scaled(factor)
    limit = float(new.limit[0]) if new.limit.size else float("nan")
    if c.name == "accuracy.min_relative_to_fp16":
        return new, f"a relative accuracy floor of {limit:.1%} of fp16"
    if c.kind == "min":
        return new, f"{_a(c.label)} of {fmt(limit)} {c.unit}".rstrip()
    return new, f"a {fmt(factor)}x {c.label} ({fmt(limit)} {c.unit})".rstrip()


@dataclass(frozen=True)
class Context:
    """What the explanation needs: candidates, constraints, objective, preferences."""

    cs: CandidateSet
    flow: FlowConfig
    constraints: list[Constraint]
    oks: list[np.ndarray]
    base: np.ndarray
    obj: Objective
    preference: np.ndarray
    release_alternatives: tuple[str, ...] = ()
    """What the answer is at the engine's other measured releases, where the winner's release
    was assumed (:func:`recommender.rules.engine.release_alternatives`)."""
    load_alternatives: tuple[str, ...] = ()
    """What the answer is at other daily loads (:func:`recommender.rules.engine.load_alternatives`)."""


def explain(ctx: Context, sel: Selection) -> dict[str, Any]:
    """Explanation of a selection (see :class:`~recommender.rules.engine.Recommendation`)."""
    frame = ctx.cs.frame
    w = sel.winner
    feasible = _mask(ctx.base, ctx.oks)
    decided: list[str] = []
    binding: list[str] = []

    # Which constraints decided it: dropping it alone changes the winner.
    for i, c in enumerate(ctx.constraints):
        alt = best(_mask(ctx.base, ctx.oks, skip=i), ctx.obj, ctx.preference)
        if alt is not None and alt != w:
            binding.append(c.name)
            detail = (
                "which fails it" if c.kind == "flag"
                else f"which has {_fmt_value(c, c.values[alt])} against the limit {_fmt_limit(c, c.limit[alt])}"
            )
            decided.append(f"{c.label} ({c.name}): without it {describe(frame, alt)} would win, {detail}")
    n_tie = max(int(sel.tie.sum()), 1)
    if sel.anchor != w:
        decided.append(
            f"flow preference: {n_tie} candidates' {_tie_words(ctx.obj)}, so the data cannot order "
            f"them; priority {ctx.cs.resolved.decision.priority} on {frame.at[w, 'platform_class']} prefers "
            f"{frame.at[w, 'quantization']}"
            + (f", then the least {ctx.cs.resolved.decision.tie_break}" if ctx.cs.resolved.decision.tie_break and ctx.obj.tie_score is not None else "")
            + f" (point-best was {describe(frame, sel.anchor)})"
            + (
                "; formats wider than a model's weights as published are upcasts (its scores, more bytes moved) and "
                "come last" if bool(frame["upcast"].to_numpy(dtype=bool)[sel.order[sel.tie]].any()) else ""
            )
        )
    elif n_tie > 1:
        decided.append(
            f"objective: best point {ctx.obj.label}; {n_tie - 1} other candidates are statistically tied and the "
            "flow's preference order agrees with the point value"
        )
    elif ctx.obj.tie_within is not None:
        # Accuracy ties are point values within tie_within (a benchmark's standard error), not
        # overlapping intervals: an imputed score's wide interval overlaps almost everything.
        decided.append(
            f"objective: best {ctx.obj.label}, more than {ctx.obj.tie_within:g} above every other feasible "
            "candidate's point value (intervals are not compared for this objective)"
        )
    else:
        decided.append(f"objective: best {ctx.obj.label}, clear of every other feasible candidate's interval")

    # Margin to the runner-up (the next in the ranked order).
    margin: dict[str, Any] = {"runner_up": None}
    if len(sel.order) > 1:
        r = int(sel.order[1])
        pw, pr = ctx.obj.point[w], ctx.obj.point[r]
        pct = (pw - pr) / abs(pr) * 100 if pr else float("nan")
        tied = bool(sel.tie[1])
        margin = {
            "runner_up": describe(frame, r),
            "objective": ctx.obj.name,
            "winner_value": _num(pw),
            "runner_up_value": _num(pr),
            "difference_pct": _num(pct),
            "tied": tied,
            "statement": (
                f"{ctx.obj.label} {fmt(pw)} vs {fmt(pr)} ({pct:+.1f}%)"
                + (
                    f"; {'they are within ' + format(ctx.obj.tie_within, 'g') + ' of each other' if ctx.obj.tie_within is not None else 'their intervals overlap'}, "
                    "so this difference is not established" if tied else "; intervals separate"
                )
            ),
        }

    # Headroom on every constraint in force.
    slack = []
    for c in ctx.constraints:
        if c.kind == "flag":
            continue
        v, lim = float(c.values[w]), float(c.limit[w])
        head = ((lim - v) if c.kind == "max" else (v - lim)) / lim * 100 if lim else float("nan")
        room = f"{head:.0f}% headroom" if np.isfinite(head) else "limit 0"
        slack.append(
            {"constraint": c.name, "value": _num(v), "limit": _num(lim), "headroom_pct": _num(head),
             "statement": f"{c.label}: {_fmt_value(c, v)} vs {_fmt_limit(c, lim)} ({room})"}
        )

    changes = what_would_change(ctx, sel)
    st = STATUS_ORDER[int(frame.at[w, "status_code"])]
    ast = ACCURACY_STATUS_ORDER[int(frame.at[w, "accuracy_status_code"])]
    excluded = {c.name: int((ctx.base & ~ok).sum()) for c, ok in zip(ctx.constraints, ctx.oks)}
    return {
        "flow_path": [{"node": s.node, "value": s.value, "why": s.why} for s in ctx.cs.resolved.decision.steps],
        "decided_by": decided,
        "binding_constraints": binding,
        "margin_to_runner_up": margin,
        "ties": {
            "count": n_tie - 1,
            "platform_quantizations": sorted(
                {f"{p} + {q}" for p, q in zip(frame["platform"].array[sel.order[:n_tie]], frame["quantization"].array[sel.order[:n_tie]])}
            ),
            "statement": (
                f"{n_tie - 1} other feasible candidates are tied with the winner ({_tie_words(ctx.obj)}); "
                "they share rank 1" if n_tie > 1 else "no other candidate is tied with the winner"
            ),
        },
        "confidence": {
            "energy_time_status": st,
            "accuracy_status": ast,
            "statement": _confidence_statement(st, ast),
        },
        "constraint_headroom": slack,
        "what_would_change": changes,
        "counts": {
            "candidates": int(ctx.base.sum()),
            "feasible": int(feasible.sum()),
            "excluded_by": excluded,
            "unsupported_platform_quantization_pairs": len(ctx.cs.unsupported),
        },
    }


def _tie_words(obj: Objective) -> str:
    """How ties are defined for an objective, in words."""
    if obj.tie_within is not None:
        return f"{obj.label} values lie within {obj.tie_within:g} of each other"
    return f"{obj.label} intervals overlap"


def _confidence_statement(st: str, ast: str) -> str:
    if st == "measured" and ast == "measured":
        return "measured: energy, time and accuracy come from measurements of this configuration"
    parts = [f"energy/time {st}", f"accuracy {ast}"]
    return "predicted (" + ", ".join(parts) + "); intervals are 90% prediction intervals"


def _num(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def what_would_change(ctx: Context, sel: Selection) -> list[str]:
    """Statements of the form "with a 2x latency limit (4 s), X wins"."""
    frame = ctx.cs.frame
    w = sel.winner
    out: list[str] = []
    seen: set[int] = set()
    for i, c in enumerate(ctx.constraints):
        if c.kind == "flag":
            alt = best(_mask(ctx.base, ctx.oks, skip=i), ctx.obj, ctx.preference)
            if alt is not None and alt != w:
                out.append(f"without the constraint '{c.label}', {describe(frame, alt)} wins")
            continue
        key = _WHAT_IF_KEY.get(c.name)
        factor = ctx.flow.what_if.get(key) if key else None
        if factor is None:
            continue
        relaxed = _relaxed(c, ctx.cs, factor)
        if relaxed is None:
            continue
        rc, label = relaxed
        alt = best(_mask(ctx.base, ctx.oks, skip=i, extra=rc.ok()), ctx.obj, ctx.preference)
        if alt is not None and alt != w:
            out.append(f"with {label}, {describe(frame, alt)} wins ({ctx.obj.label} {fmt(ctx.obj.point[alt])})")
            seen.add(alt)
    # Tightening to just past the winner's own value rules it out: who is next? The accuracy
    # floor is read as the spec's floor reads it (chance-adjusted, or at its confidence).
    floor = next((c for c in ctx.constraints if c.name == "accuracy.min"), None)
    for col, label, unit, kind in (
        ("time_s_per_query", "latency limit", "s", "max"),
        ("wh_per_1k", "energy budget", "Wh/1k queries", "max"),
        ("accuracy", "accuracy floor" if floor is None else floor.label, "", "min"),
    ):
        v = np.asarray(floor.values, dtype=float) if col == "accuracy" and floor is not None else frame[col].to_numpy(dtype=float)
        wv = v[w]
        if not np.isfinite(wv):
            continue
        with np.errstate(invalid="ignore"):
            extra = v < wv if kind == "max" else v > wv
        alt = best(_mask(ctx.base, ctx.oks, extra=extra), ctx.obj, ctx.preference)
        if alt is None:
            out.append(f"{_a(label)} {'under' if kind == 'max' else 'above'} {fmt(wv)} {unit} (the winner's) leaves nothing feasible".replace("  ", " "))
        elif alt != w:
            out.append(
                f"with {_a(label)} {'under' if kind == 'max' else 'above'} {fmt(wv)} {unit} (the winner's), "
                f"{describe(frame, alt)} wins".replace("  ", " ")
            )
    spec = ctx.cs.resolved.spec
    feasible = _mask(ctx.base, ctx.oks)
    for name in OBJECTIVES:
        if name == ctx.obj.name:
            continue
        if name == "cost" and spec.economics.electricity_usd_per_kwh is None:
            continue
        if name == "carbon" and spec.economics.carbon_g_per_kwh is None:
            continue
        alt_obj = objective(frame, name)
        alt = best(feasible, alt_obj, ctx.preference)
        if alt is not None and alt != w:
            out.append(f"optimizing {alt_obj.label} instead of {ctx.obj.label}, {describe(frame, alt)} wins")
    out.extend(_other_priorities(ctx, w))
    out.extend(ctx.release_alternatives)
    out.extend(ctx.load_alternatives)
    if not out:
        out.append("no single relaxation, tightening, other objective or priority tried changes the answer")
    return out


def _other_priorities(ctx: Context, w: int) -> list[str]:
    """Re-walk the flow with each other priority (objective, default floor, preferences) on the same predictions."""
    from recommender.rules.flow import PRIORITIES, decide, preference_rank
    from recommender.rules.rank import build_constraints, confidence_without_floor

    frame = ctx.cs.frame
    resolved = ctx.cs.resolved
    spec = resolved.spec
    given = [p.platform_class for p in resolved.platforms] if spec.hardware.platforms else []
    columns = {
        "batch_size": frame["batch_size"].to_numpy(dtype=float),
        "params_total_b": frame["params_total_b"].to_numpy(dtype=float),
        "platform_class": frame["platform_class"].array,
        "upcast": frame["upcast"].to_numpy(dtype=bool),
    }
    out = []
    for priority in PRIORITIES:
        if priority == spec.priority:
            continue
        decision = decide(spec.model_copy(update={"priority": priority}), given, ctx.flow)
        if confidence_without_floor(spec, decision.min_accuracy_relative_to_fp16):
            continue  # no floor for the confidence to hold in that priority: its answer is not this spec's
        cons = build_constraints(
            ctx.cs, decision.min_accuracy_relative_to_fp16, ctx.flow.exclude_accuracy_status, ctx.flow.baseline_quantizations,
            ctx.flow.conversational_workloads,
        )
        obj = objective(frame, decision.objective, decision.tie_break, decision.tie_within)
        mask = ctx.base & np.isfinite(obj.score)
        for c in cons:
            mask &= c.ok()
        pref = preference_rank(ctx.flow, priority, frame["platform_class"].array, frame["quantization"].array, columns)
        alt = best(mask, obj, pref)
        if alt is not None and alt != w:
            floor = decision.min_accuracy_relative_to_fp16
            floor_note = f", floor {floor:.0%} of fp16" if floor is not None else ""
            out.append(f"with priority {priority} ({obj.label}{floor_note}), {describe(frame, alt)} wins")
    return out


def diagnose_infeasible(ctx: Context) -> NothingFeasible:
    """Name the binding constraint and the nearest miss when nothing is feasible."""
    frame = ctx.cs.frame
    base = ctx.base
    if not base.any():
        return NothingFeasible(
            "nothing to rank: the predictor gave no usable prediction for any candidate configuration",
            {"binding_constraint": None, "nearest_miss": None, "candidates": 0},
        )
    counts = {c.name: int((base & ~ok).sum()) for c, ok in zip(ctx.constraints, ctx.oks)}
    without = {c.name: int(_mask(base, ctx.oks, skip=i).sum()) for i, c in enumerate(ctx.constraints)}
    # Binding: the constraint whose removal alone admits the most configurations;
    # if no single removal helps, the one that excludes the most.
    also: list[str] = []
    if max(without.values(), default=0) > 0:
        name = max(without, key=lambda k: (without[k], counts[k]))
        binding_note = f"without it {without[name]} configurations would qualify"
    else:
        # No single constraint binds alone: find the pair whose joint removal admits the most.
        best_pair, best_n = None, 0
        for i, a in enumerate(ctx.constraints):
            for j in range(i + 1, len(ctx.constraints)):
                m = base.copy()
                for k, ok in enumerate(ctx.oks):
                    if k not in (i, j):
                        m &= ok
                n = int(m.sum())
                if n > best_n:
                    best_pair, best_n = (i, j), n
        if best_pair is not None:
            a, b = (ctx.constraints[k] for k in best_pair)
            name = max((a.name, b.name), key=lambda k: counts[k])
            also = [a.name if name == b.name else b.name]
            binding_note = f"together with {also[0]}: without both, {best_n} configurations would qualify"
        else:
            name = max(counts, key=lambda k: counts[k])
            binding_note = f"it excludes {counts[name]} of {int(base.sum())} configurations; no single relaxation or pair suffices"
    c_bind = next(c for c in ctx.constraints if c.name == name)
    hints = [c.hint for c in ctx.constraints if c.hint and c.name in (name, *also)]
    viol = np.zeros(len(frame))
    for c in ctx.constraints:
        v = c.violation()
        viol += np.where(np.isinf(v), 1.0, v)
    viol = np.where(base, viol, np.inf)
    # Of the rows that miss by as little (every precision of a model misses an accuracy floor
    # alike), the one the flow would pick: its preference, then the objective.
    closest = np.flatnonzero(viol <= viol.min() * (1 + 1e-9) + 1e-12)
    score = np.where(np.isfinite(ctx.obj.score[closest]), ctx.obj.score[closest], -np.inf)
    nm = int(closest[np.lexsort((-score, ctx.preference[closest]))[0]])
    def statement(c: Constraint, row: int) -> str:
        return (f"fails '{c.label}'" if c.kind == "flag"
                else f"{c.name} {_fmt_value(c, c.values[row])} vs limit {_fmt_limit(c, c.limit[row])}")

    misses = [
        {"constraint": c.name, "value": _num(float(c.values[nm])), "limit": _num(float(c.limit[nm])), "statement": statement(c, nm)}
        for c, ok in zip(ctx.constraints, ctx.oks) if not ok[nm]
    ]
    # The nearest miss may fail something else (a flag counts as one whole miss, a limit by
    # its relative shortfall); what the binding constraint asks is then told by the
    # configuration that meets every other constraint and comes closest to its limit.
    closest_on_binding: int | None = None
    if c_bind.kind != "flag" and not also and any(m["constraint"] != name for m in misses):
        others = _mask(base, ctx.oks, skip=ctx.constraints.index(c_bind))
        if others.any():
            gap = np.where(others, c_bind.violation(), np.inf)
            near = np.flatnonzero(gap <= gap.min() * (1 + 1e-9) + 1e-12)
            near_score = np.where(np.isfinite(ctx.obj.score[near]), ctx.obj.score[near], -np.inf)
            closest_on_binding = int(near[np.lexsort((-near_score, ctx.preference[near]))[0]])
    limit_note = "" if c_bind.kind == "flag" else f", limit {_fmt_limit(c_bind, float(np.nanmedian(c_bind.limit)))}"
    missing = missing_scores(ctx) if set((name, *also)) & _ACCURACY_CONSTRAINTS else []
    missing_note = ""
    if missing:
        named = "; ".join(f"{m['model_id']} ({', '.join(m['tasks'])})" for m in missing[:_MISSING_SHOWN])
        more = f"; and {len(missing) - _MISSING_SHOWN} more models" if len(missing) > _MISSING_SHOWN else ""
        missing_note = (
            "; the data cannot support an answer: missing a measured or imputed score (only a size prior today) for "
            f"{named}{more}, whose prior's 90% interval reaches what the spec asks; import those scores or "
            "measure them (`eai profile`)"
        )
    msg = (
        f"nothing feasible: binding constraint {name} ({c_bind.label}{limit_note}); {binding_note}"
        + "".join(f" ({h})" for h in hints)
        + missing_note
        + f"; nearest miss: {describe(frame, nm)}, which " + "; ".join(
            m["statement"] if m["statement"].startswith("fails") else "has " + m["statement"] for m in misses
        )
    )
    if closest_on_binding is not None:
        msg += (f"; closest on {name} among configurations meeting every other constraint: "
                f"{describe(frame, closest_on_binding)}, which has {statement(c_bind, closest_on_binding)}")
    measure = ""
    # A measurement settles a limit on energy or time for the configuration that misses it
    # (not for a nearest miss whose own energy and time already pass).
    probe = closest_on_binding if closest_on_binding is not None else nm
    who = "the closest configuration's" if closest_on_binding is not None else "the nearest miss's"
    if set((name, *also)) & _TIME_ENERGY_CONSTRAINTS:
        st = STATUS_ORDER[int(frame.at[probe, "status_code"])]
        if st != "measured":
            reasons = energy_reasons(ctx.cs, probe)
            measure = (
                f"; {who} energy and time are {st}" + (f" ({', '.join(reasons)})" if reasons else "")
                + f", not measured: a measurement of {describe(frame, probe)} (`eai profile`) would settle it"
            )
            msg += measure
    details = {
        "binding_constraint": {"name": name, "label": c_bind.label, "note": binding_note, "also": also, "hints": hints},
        "missing_measurement": measure.lstrip("; ") or None,
        "nearest_miss": {"configuration": describe(frame, nm), "misses": misses},
        "closest_on_binding": None if closest_on_binding is None else {
            "configuration": describe(frame, closest_on_binding), "constraint": name,
            "value": _num(float(c_bind.values[closest_on_binding])), "limit": _num(float(c_bind.limit[closest_on_binding])),
        },
        "excluded_by": counts,
        "candidates": int(base.sum()),
        "missing_scores": missing,
    }
    return NothingFeasible(msg, details)


_TIME_ENERGY_CONSTRAINTS = {"latency_s_max", "energy_wh_per_1k_max", "hardware.power_cap_w", "throughput_qps_min"}
_ACCURACY_CONSTRAINTS = {"accuracy.min", "accuracy.min_relative_to_fp16", "chance_margin", "accuracy_informed"}
_MISSING_SHOWN = 5


def missing_scores(ctx: Context) -> list[dict[str, Any]]:
    """Models that might answer the spec if their accuracy were known: what scores are missing.

    A model counts when some configuration of it passes every constraint that does not
    concern accuracy, fails ``accuracy_informed`` (a size prior on some task), and its
    prior's upper 90% bound reaches the accuracy floor and the chance margin. Ordered by
    that upper bound, best first.

    Returns:
        One dict per model: ``model_id``, ``tasks`` (whose score is only a prior),
        ``accuracy_prior`` and ``accuracy_prior_hi`` (task-weighted).
    """
    names = [c.name for c in ctx.constraints]
    if "accuracy_informed" not in names:
        return []
    frame = ctx.cs.frame
    ok = ctx.base.copy()
    for c, c_ok in zip(ctx.constraints, ctx.oks):
        if c.name not in _ACCURACY_CONSTRAINTS:
            ok &= c_ok
    ok &= ~ctx.oks[names.index("accuracy_informed")]
    hi = frame["accuracy_hi"].to_numpy(dtype=float)
    spec = ctx.cs.resolved.spec
    if spec.accuracy.min is not None and not spec.accuracy.chance_adjusted:
        ok &= hi >= spec.accuracy.min
    n_t = len(ctx.cs.resolved.tasks)
    per_hi = ctx.cs.per_task["accuracy_hi"].to_numpy(dtype=float).reshape(-1, n_t)
    need = np.asarray(ctx.cs.chance_needed, dtype=float)
    if need.size == n_t:
        ok &= (per_hi >= need[None, :]).all(axis=1)
    rows = np.flatnonzero(ok)
    if rows.size == 0:
        return []
    bad = [ACCURACY_STATUS_ORDER.index(x) for x in ctx.flow.exclude_accuracy_status]
    status = status_codes(ctx.cs.per_task["accuracy_status"].array, ACCURACY_STATUS_ORDER).reshape(-1, n_t)
    out: dict[str, dict[str, Any]] = {}
    for r in rows[np.argsort(-hi[rows], kind="stable")]:
        mid = str(frame.at[r, "model_id"])
        if mid in out:
            continue
        tasks = [t.id for j, t in enumerate(ctx.cs.resolved.tasks) if status[r, j] in bad]
        out[mid] = {
            "model_id": mid,
            "tasks": tasks,
            "accuracy_prior": _num(float(frame.at[r, "accuracy"])),
            "accuracy_prior_hi": _num(float(hi[r])),
        }
    return list(out.values())
