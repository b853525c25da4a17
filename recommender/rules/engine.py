"""``recommend``: spec + predictor -> ranked, explained configurations.

Pipeline: resolve names and walk the decision flow; enumerate candidates and
predict them in one call; filter by hard constraints; rank by the objective
with interval-aware tie marking; explain. The result is a frozen
:class:`Recommendation` whose :meth:`~Recommendation.to_dict` is the
versioned JSON document of ``eai recommend --json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from recommender.model.api import Predictor
from recommender.model.roofline_fit import release_order
from recommender.rules import candidates as cand
from recommender.rules.catalogs import Catalogs
from recommender.rules.explain import Context, describe, diagnose_infeasible, explain, fmt
from recommender.rules.flow import FlowConfig, cost_tier, demotion_notes, load_flow, preference_rank
from recommender.rules.load import WAITING_NOTE, daily_load
from recommender.rules.rank import OBJECTIVES, build_constraints, objective, select
from recommender.rules.spec import Requirements

RESULT_SCHEMA_VERSION = "1.1"
"""Version of the ``eai recommend --json`` document. 1.1 (2026-12-06): the constraint that keeps a
split to what the model divides into is named ``device_split`` (``tensor_parallel`` in 1.0)."""


@dataclass(frozen=True)
class Recommendation:
    """Ranked configurations with their explanation.

    Attributes:
        spec: The spec as validated (defaults filled in).
        scenario: Scenario used after the flow (``any`` when nothing to infer from).
        objective: Objective ranked by.
        rows: The top ``top_k`` configurations (tie group first), as plain dicts.
        explanation: Path, deciding constraint, margin, ties, confidence, what-ifs, counts.
        data_hash: Hash of the measured table the predictor was fit on.
        assumptions: Modelling assumptions worth stating next to the answer.
    """

    spec: Requirements
    scenario: str
    objective: str
    rows: tuple[dict[str, Any], ...]
    explanation: dict[str, Any]
    data_hash: str
    assumptions: tuple[str, ...] = field(default=())

    @property
    def winner(self) -> dict[str, Any]:
        """The recommended configuration."""
        return self.rows[0]

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON document (``schema_version`` first)."""
        from recommender import __version__

        return {
            "schema_version": RESULT_SCHEMA_VERSION,
            "eai_version": __version__,
            "status": "ok",
            "data_hash": self.data_hash,
            "scenario": self.scenario,
            "objective": {
                "name": self.objective,
                "label": OBJECTIVES[self.objective][2],
                "unit": OBJECTIVES[self.objective][3],
                "direction": "maximize" if OBJECTIVES[self.objective][1] > 0 else "minimize",
            },
            "spec": self.spec.model_dump(mode="json"),
            "recommendations": list(self.rows),
            "explanation": self.explanation,
            "assumptions": list(self.assumptions),
        }


def _interval(frame, col: str, row: int) -> dict[str, float | None]:
    def num(x: Any) -> float | None:
        x = float(x)
        return x if np.isfinite(x) else None

    return {"value": num(frame.at[row, col]), "lo": num(frame.at[row, col + "_lo"]), "hi": num(frame.at[row, col + "_hi"])}


def _row_dict(cs: cand.CandidateSet, flow: FlowConfig, row: int, rank: int, tie: bool, pref: int, obj_name: str) -> dict[str, Any]:
    f = cs.frame
    spec = cs.resolved.spec
    n_t = len(cs.resolved.tasks)
    per = cs.per_task.iloc[row * n_t : (row + 1) * n_t]
    reasons = cand.energy_reasons(cs, row)

    def num(col: str) -> float | None:
        x = float(f.at[row, col])
        return x if np.isfinite(x) else None

    out: dict[str, Any] = {
        "rank": int(rank),
        "tie": bool(tie),
        # The whole deployment in one line: platform x devices + model @ precision (engine, batch).
        "deployment": describe(f, row),
        "platform": f.at[row, "platform"],
        "platform_basis": cs.resolved.extra_platforms.get(str(f.at[row, "platform"]), (None, "catalog"))[1],
        "platform_class": f.at[row, "platform_class"],
        "device_count": int(f.at[row, "device_count"]),
        "engine": f.at[row, "engine"],
        "model_id": f.at[row, "model_id"],
        "quantization": f.at[row, "quantization"],
        "batch_size": int(f.at[row, "batch_size"]),
        "objective_value": num(OBJECTIVES[obj_name][0]),
        "accuracy": _interval(f, "accuracy", row),
        "wh_per_1k_queries": _interval(f, "wh_per_1k", row),
        "time_s_per_query": _interval(f, "time_s_per_query", row),
        "eor": _interval(f, "eor", row),
        "tweor": _interval(f, "tweor", row),
        "throughput_qps": num("throughput_qps"),
        "power_w_mean": num("power_w"),
        "memory_gb_required_per_device": num("memory_gb_required"),
        "memory_gb_available_per_device": num("memory_gb_available"),
        "accuracy_chance_adjusted": num("accuracy_chance_adjusted"),
        "accuracy_relative_to_fp16": num("accuracy_relative_to_fp16"),
        "efficiency_gain_vs_fp16": num("efficiency_gain_vs_fp16"),
        "efficiency_gain_vs_fp16_lo": num("efficiency_gain_vs_fp16_lo"),
        "efficiency_gain_vs_fp16_hi": num("efficiency_gain_vs_fp16_hi"),
        "baseline_quantization": f.at[row, "baseline_quantization"],
        "status": cand.STATUS_ORDER[int(f.at[row, "status_code"])],
        "accuracy_status": cand.ACCURACY_STATUS_ORDER[int(f.at[row, "accuracy_status_code"])],
        "extrapolated_reasons": reasons,
        "engine_release": cand.engine_release(cs, row),
        "cost_tier": cost_tier(flow, str(f.at[row, "platform_class"])),
        "flow_preference_rank": int(pref),
        "flow_notes": demotion_notes(
            flow, str(f.at[row, "quantization"]),
            {
                "batch_size": float(f.at[row, "batch_size"]),
                "params_total_b": float(f.at[row, "params_total_b"]),
                "platform_class": str(f.at[row, "platform_class"]),
            },
        ),
        "per_task": [
            {
                "task": str(t.id),
                "weight": float(wt),
                "accuracy": _clean(per.iloc[i]["accuracy"]),
                "wh_per_1k_queries": _clean(per.iloc[i]["energy_j_per_query"] * 1000 / 3600),
                "time_s_per_query": _clean(per.iloc[i]["time_s_per_query"]),
                "status": str(per.iloc[i]["status"]),
                "accuracy_status": str(per.iloc[i]["accuracy_status"]),
                # What the accuracy comes from (the accuracy model's text, e.g. "imputed from mmlu, arc_challenge").
                "accuracy_basis": str(per.iloc[i]["accuracy_basis"]) if "accuracy_basis" in per.columns else None,
            }
            for i, (t, wt) in enumerate(zip(cs.resolved.tasks, cs.resolved.task_weights))
        ],
    }
    wl = cs.resolved.workload
    if wl is not None and cs.per_workload is not None:
        w = cs.per_workload.iloc[row]
        out["workload"] = {
            "id": wl.id,
            "prompt_tokens": _clean(w["prompt_tokens_mean"]) if "prompt_tokens_mean" in w else None,
            "output_tokens": _clean(w["output_tokens_mean"]) if "output_tokens_mean" in w else None,
            "output_tokens_basis": str(w["output_tokens_basis"]) if "output_tokens_basis" in w else None,
            "status": str(w["status"]),
        }
    eco = spec.economics
    if eco.electricity_usd_per_kwh is not None:
        out["cost_usd_per_1m_queries"] = _interval(f, "cost_usd_per_1m", row)
    if eco.carbon_g_per_kwh is not None:
        out["carbon_g_per_1k_queries"] = _interval(f, "carbon_g_per_1k", row)
    if eco.queries_per_day is not None:
        day = daily_load(float(f.at[row, "waiting_j_per_query"]), float(f.at[row, "wh_per_1k"]), float(f.at[row, "deployments_needed"]),
                         float(f.at[row, "busy_share"]), float(f.at[row, "running_at_load"]), eco.queries_per_day)
        daily_kwh = day.energy_kwh * eco.pue
        out["per_day"] = {
            "energy_kwh": _clean(daily_kwh),
            "serving_kwh": _clean(day.serving_kwh * eco.pue),
            "waiting_kwh": _clean(day.waiting_kwh * eco.pue),
            "busy_share": _clean(day.busy_share),
            "running_requests": _clean(day.running),
            "mean_gap_between_queries_s": _clean(day.mean_gap_s),
            "cost_usd": _clean(daily_kwh * eco.electricity_usd_per_kwh) if eco.electricity_usd_per_kwh is not None else None,
            "carbon_kg": _clean(daily_kwh * eco.carbon_g_per_kwh / 1000) if eco.carbon_g_per_kwh is not None else None,
            "deployments_needed": _clean(day.deployments),
        }
    return out


def _serving_note(resolved: cand.Resolved, flow: FlowConfig, engines_run: set[str]) -> str:
    """How engine and concurrency were chosen, in one sentence (``engines_run``: the engines the
    candidates run, to say which named releases went unused)."""
    spec = resolved.spec
    if spec.serving.batch_size is not None:
        batch = f"batch {spec.serving.batch_size} as given"
    else:
        limit = cand.serving_latency_s(resolved, flow)
        whose = f"workload {resolved.workload.id}'s" if resolved.workload is not None else "these tasks'"
        src = "the spec's latency limit" if spec.latency_s_max is not None else (
            f"the flow's default for {whose} output length, {flow.serving.default_s_per_output_token:g} s per token; not a constraint"
        )
        cap = (
            f" and mean power <= {spec.hardware.power_cap_w:g} W per device (the spec's power cap)"
            if spec.hardware.power_cap_w is not None else ""
        )
        if spec.throughput_qps_min is not None:
            cap += f" and throughput >= {spec.throughput_qps_min:g} queries/s (the spec's floor)"
        best = "the best TWEOR" if resolved.decision.objective == "tweor" else "the least energy per query"
        batch = (
            f"concurrency per deployment: {best} with time per query <= {limit:g} s ({src}){cap}, "
            "among the flow's batch sizes for the class and engine"
        )
    engines = "engines as given" if spec.serving.engines else "engines: each platform class's serving default in the flow"
    unused = sorted(set(spec.serving.engine_versions) - engines_run)
    if unused:
        named = ", ".join(f"{e}={spec.serving.engine_versions[e]}" for e in unused)  # type: ignore[index]
        engines += f" (release named but no candidate runs that engine, so unused: {named}; candidates run {', '.join(sorted(engines_run))})"
    return f"{engines}; {batch}"


def _clean(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def prepare(
    spec: Requirements,
    predictor: Predictor,
    catalogs: Catalogs | None = None,
    flow: FlowConfig | None = None,
) -> Context:
    """Resolve, predict and compute constraints, objective and preferences (no ranking yet)."""
    flow = flow or load_flow()
    catalogs = catalogs or Catalogs.load()
    resolved = cand.resolve(spec, catalogs, flow)
    return _context(cand.build(resolved, flow, predictor), flow)


def _context(cs: cand.CandidateSet, flow: FlowConfig) -> Context:
    """Constraints, objective and preferences of built candidates."""
    resolved = cs.resolved
    frame = cs.frame
    constraints = build_constraints(
        cs, resolved.decision.min_accuracy_relative_to_fp16, flow.exclude_accuracy_status, flow.baseline_quantizations,
        flow.conversational_workloads,
    )
    oks = [c.ok() for c in constraints]
    d = resolved.decision
    obj = objective(frame, d.objective, d.tie_break, d.tie_within)
    base = frame["is_candidate"].to_numpy() & np.isfinite(obj.score)
    pref = preference_rank(
        flow,
        resolved.decision.priority,
        frame["platform_class"].array,
        frame["quantization"].array,
        {
            "batch_size": frame["batch_size"].to_numpy(dtype=float),
            "params_total_b": frame["params_total_b"].to_numpy(dtype=float),
            "platform_class": frame["platform_class"].array,
            "upcast": frame["upcast"].to_numpy(dtype=bool),
        },
    )
    return Context(cs=cs, flow=flow, constraints=constraints, oks=oks, base=base, obj=obj, preference=pref)


def recommend(
    spec: Requirements,
    predictor: Predictor,
    catalogs: Catalogs | None = None,
    flow: FlowConfig | None = None,
) -> Recommendation:
    """Rank and explain configurations for a spec.

    Args:
        spec: Validated requirements.
        predictor: Fitted predictor.
        catalogs: Catalog bundle (default: the shipped catalogs).
        flow: Decision flow (default: ``data/decision_flow.yaml``).

    Returns:
        The recommendation.

    Raises:
        InvalidInputError: Unknown names or a platform outside the scenario (exit 2).
        InfeasibleError: Nothing satisfies the spec (exit 3; names the binding
            constraint and the nearest miss).
    """
    return finish(prepare_answer(spec, predictor, catalogs, flow), str(getattr(predictor, "data_hash", "")))


def prepare_answer(
    spec: Requirements, predictor: Predictor, catalogs: Catalogs | None = None, flow: FlowConfig | None = None
) -> Context:
    """:func:`prepare`, and the answer at the winner's engine's other measured releases where
    its release was assumed (:func:`release_alternatives`): what ``eai recommend`` explains."""
    ctx = prepare(spec, predictor, catalogs, flow)
    alternatives = release_alternatives(ctx, spec, predictor, catalogs, flow)
    ctx = replace(ctx, release_alternatives=alternatives) if alternatives else ctx
    loads = load_alternatives(ctx, predictor, catalogs)
    return replace(ctx, load_alternatives=loads) if loads else ctx


def _winner(ctx: Context) -> int | None:
    feasible = ctx.base.copy()
    for ok in ctx.oks:
        feasible &= ok
    sel = select(feasible, ctx.obj, ctx.preference, limit=0)
    return None if sel is None else sel.winner


def release_alternatives(
    ctx: Context, spec: Requirements, predictor: Predictor, catalogs: Catalogs | None, flow: FlowConfig | None
) -> tuple[str, ...]:
    """The answer at each other measured release of the winner's engine, where its release was
    assumed (none named in the spec): the spec asked again with that release named.

    The comparison ties candidates of one engine without their unnamed release's gap (it moves
    all of them alike, :data:`recommender.rules.candidates.SHARED`), but not by the same factor:
    a host-bound candidate slows more at an older release than a bandwidth-bound one. This says
    whether that turns the answer."""
    w = _winner(ctx)
    measured = getattr(predictor, "measured_releases", None)
    if w is None or not callable(measured):
        return ()
    release = cand.engine_release(ctx.cs, w)
    level = release.get("level")
    if release.get("basis") != "assumed" or not level:
        return ()
    engine, current = str(level).split("@", 1)
    others = sorted((lv for lv in measured() if lv.startswith(engine + "@") and lv != level), key=release_order)
    winner = describe(ctx.cs.frame, w)
    out = []
    for version in (lv.split("@", 1)[1] for lv in others):
        versions = {**spec.serving.engine_versions, engine: version}
        alt_spec = spec.model_copy(update={"serving": spec.serving.model_copy(update={"engine_versions": versions})})
        alt_ctx = prepare(alt_spec, predictor, catalogs, flow)
        a = _winner(alt_ctx)
        alt = describe(alt_ctx.cs.frame, a) if a is not None else None
        outcome = " nothing is feasible" if alt is None else (" the winner stays" if alt == winner else f", {alt} wins")
        out.append(f"at {engine} {version} (the answer assumes {current}, the newest measured){outcome}")
    return tuple(out)



WHAT_IF_QUERIES_PER_DAY: tuple[float, ...] = (1_000.0, 100_000.0)
"""Loads the answer is asked again at where the spec states none: an internal tool's day and a
busy service's (the answer itself assumes servers kept busy, as every measured campaign ran)."""


def load_alternatives(ctx: Context, predictor: Predictor, catalogs: Catalogs | None = None) -> tuple[str, ...]:
    """The answer at other daily loads, where the objective depends on energy: at
    :data:`WHAT_IF_QUERIES_PER_DAY` where the spec states no load, else at a tenth and ten
    times the one stated (:func:`recommender.rules.candidates.with_load`: the same
    predictions, each deployment's operating point and waiting draw at that load). A spec that
    fixes a batch above 1 and states no load was predicted at that batch alone, where a load's
    operating point needs the smaller ones: it is asked again with the load."""
    w = _winner(ctx)
    if w is None or ctx.obj.name == "accuracy":
        return ()
    spec = ctx.cs.resolved.spec
    stated = spec.economics.queries_per_day
    # (A fixed batch of 1 has no smaller one: the same candidates serve.)
    rebuild = spec.serving.batch_size is not None and spec.serving.batch_size > 1 and stated is None

    def at(load: float) -> Context:
        if rebuild:
            economics = spec.economics.model_copy(update={"queries_per_day": load})
            return prepare(spec.model_copy(update={"economics": economics}), predictor, catalogs, ctx.flow)
        return _context(cand.with_load(ctx.cs, ctx.flow, load), ctx.flow)

    loads = WHAT_IF_QUERIES_PER_DAY if stated is None else (stated / 10.0, stated * 10.0)
    assumed = "servers kept busy" if stated is None else f"{stated:,.0f} a day"
    winner = describe(ctx.cs.frame, w)
    out = []
    for load in loads:
        alt_ctx = at(load)
        a = _winner(alt_ctx)
        if a is None:
            outcome = " nothing is feasible"
        else:
            alt = describe(alt_ctx.cs.frame, a)
            figure = f"{ctx.obj.label} {fmt(alt_ctx.obj.point[a])}"
            outcome = f" the winner stays ({figure})" if alt == winner else f", {alt} wins ({figure})"
        out.append(f"at {load:,.0f} queries a day (the answer assumes {assumed}){outcome}")
    return tuple(out)


def finish(ctx: Context, data_hash: str) -> Recommendation:
    """Rank and explain prepared candidates (the second half of :func:`recommend`).

    Raises:
        NothingFeasible: Nothing satisfies the spec.
    """
    spec = ctx.cs.resolved.spec
    feasible = ctx.base.copy()
    for ok in ctx.oks:
        feasible &= ok
    sel = select(feasible, ctx.obj, ctx.preference, limit=spec.top_k)
    if sel is None:
        raise diagnose_infeasible(ctx)
    k = min(spec.top_k, len(sel.order))
    rows = tuple(
        _row_dict(ctx.cs, ctx.flow, int(sel.order[i]), int(sel.rank[i]), bool(sel.tie[i]), int(ctx.preference[sel.order[i]]), ctx.obj.name)
        for i in range(k)
    )
    explanation = explain(ctx, sel)
    resolved = ctx.cs.resolved
    wl = resolved.workload
    sized_on = f"prompt + output of workload {wl.id}" if wl is not None else "largest prompt + output of the tasks"
    ctx_note = (
        f"KV cache sized for {resolved.context_tokens} tokens per sequence "
        + ("(spec)" if resolved.context_from_spec else f"({sized_on}, flow minimum applied)")
    )
    if wl is not None:
        mix = (
            f"energy, time, throughput and power are priced on the served workload {wl.id} ({wl.prompt_tokens_mean:g} prompt "
            f"tokens per query{'' if resolved.spec.serving.prompt_tokens is None else ', as given'}; output: "
            + (f"{wl.output_tokens_mean:g} tokens, as given" if resolved.spec.serving.output_tokens is not None
               else "each model's own length there where measured, else the workload's")
            + "); accuracy is the task-weighted mean of the tasks' scores; EOR and TWEOR combine the two"
        )
    else:
        mix = "multi-task figures are task-weighted means of per-task predictions (EOR/TWEOR included)"
    assumptions = (
        ctx_note,
        mix,
        "energy is gross: everything the devices drew while serving, idle draw included (no figure subtracts idle power)",
        "throughput = queries in flight (a static batch's queries, a server's running requests) / time_s_per_query; mean power = energy per query x throughput",
        _serving_note(resolved, ctx.flow, set(ctx.cs.frame["engine"].astype(str))),
        "constraints filter on point predictions; intervals decide ties" if spec.accuracy.min_confidence is None else (
            f"constraints filter on point predictions, the accuracy floors on each score's {1 - spec.accuracy.min_confidence:.0%} "
            f"quantile (met with probability >= {spec.accuracy.min_confidence:g}); intervals decide ties"
        ),
        "cost counts electricity only (x PUE); carbon is operational (grid intensity x PUE)",
        *([f"at {spec.economics.queries_per_day:,.0f} queries per day each energy per query is priced {WAITING_NOTE}"]
          if spec.economics.queries_per_day is not None else []),
        # A GPU named outside the curated catalog: its physics is its datasheet, never a measurement.
        *(f"{pid}: {basis}; never measured, predicted from its specifications" for pid, (_, basis) in resolved.extra_platforms.items()),
    )
    return Recommendation(
        spec=spec,
        scenario=resolved.decision.scenario,
        objective=ctx.obj.name,
        rows=rows,
        explanation=explanation,
        data_hash=data_hash,
        assumptions=assumptions,
    )
