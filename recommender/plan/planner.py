"""``eai plan``: which cells to measure next, greedily by value of information per GPU-hour.

Pipeline (each step its own module):

1. :func:`recommender.rules.engine.prepare`: the candidates, constraints and objective
   ``eai recommend`` ranks;
2. :func:`recommender.plan.problem.from_context` + the joint predictive: the same problem as
   arrays with correlated errors;
3. :func:`recommender.plan.probability.probabilities`: probability of being best now;
4. :func:`recommender.plan.voi.value_of_information`: value of measuring each candidate;
5. :mod:`recommender.plan.cost`: queries and GPU-hours of each measurement;
6. greedy: take the cell with the most value per GPU-hour that fits the budget, treat it as
   measured (its posterior median stays, its uncertainty and that of cells sharing its
   components shrink), re-value the best remaining cells, repeat.

Cells on platforms the user does not have (``have``) are listed apart, never put in the
sweep files.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from recommender.plan import cost as costmod
from recommender.plan.joint import JointPredictive
from recommender.plan.probability import DecisionProbabilities, probabilities
from recommender.plan.problem import Problem, from_context, joint_from_frame
from recommender.plan.variance import VarianceSplit, load as load_split
from recommender.plan.voi import ValueModel

PLAN_SCHEMA_VERSION = "1.1"
"""Version of the ``eai plan --json`` document. 1.1 (2026-12-06): key ``spec``, the requirements
the plan was made for (``eai plan --since`` reads it; a 1.0 plan has none and is compared as is)."""


@dataclass(frozen=True)
class PlannedCell:
    """A configuration to measure, with its tasks.

    Attributes:
        platform, device_count, engine, model_id, quantization, batch_size: The configuration.
        tasks: Per task, queries and seconds.
        value: Expected improvement of the decision's objective (log units; 0.05 ~ 5%).
        gpu_hours: Measuring cost (device count x wall hours, setup included).
        p_best: Its probability of being best now.
        status: Energy/time prediction status (measured / interpolated / extrapolated).
        accuracy_status: Accuracy status.
        available: Whether the user has its platform.
    """

    platform: str
    device_count: int
    engine: str
    model_id: str
    quantization: str
    batch_size: int
    tasks: tuple[costmod.TaskCost, ...]
    value: float
    gpu_hours: float
    p_best: float
    status: str
    accuracy_status: str
    available: bool
    unavailable_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = asdict(self)
        d["tasks"] = [asdict(t) for t in self.tasks]
        return d

    def label(self) -> str:
        """One-line name."""
        dev = f" x{self.device_count}" if self.device_count > 1 else ""
        return f"{self.platform}{dev} + {self.model_id} @ {self.quantization} ({self.engine}, batch {self.batch_size})"


@dataclass(frozen=True)
class CandidateProbability:
    """A candidate's probabilities (for output)."""

    label: str
    p_best: float
    p_feasible: float
    p_constraints: dict[str, float]
    status: str


@dataclass(frozen=True)
class Plan:
    """What ``eai plan`` answers.

    Attributes:
        objective: Objective name.
        n_candidates: Candidate configurations.
        n_eligible: Candidates passing the deterministic constraints.
        pick: The configuration ``eai recommend`` picks now.
        pick_p_best: Its probability of being best.
        decisive_probability: Threshold of the flow.
        decisive: Whether some candidate reaches it.
        top: Candidates most likely best.
        cells: Cells to measure, best first (on available hardware, within the budget).
        elsewhere: Valuable cells needing hardware the user lacks.
        budget_gpu_hours: Budget (None: ``max_cells`` cells).
        spent_gpu_hours: Cost of ``cells``.
        data_hash: Table the predictor was fit on.
        variance: The variance split used.
        elapsed_s: Wall time of the planning.
    """

    objective: str
    n_candidates: int
    n_eligible: int
    pick: str
    pick_p_best: float
    decisive_probability: float
    decisive: bool
    top: tuple[CandidateProbability, ...]
    cells: tuple[PlannedCell, ...]
    elsewhere: tuple[PlannedCell, ...]
    budget_gpu_hours: float | None
    spent_gpu_hours: float
    data_hash: str
    variance: dict[str, Any]
    elapsed_s: float
    p_none_feasible: float = 0.0
    samples: int = 0
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON document of ``eai plan --json``."""
        from recommender import __version__

        return {
            "schema_version": PLAN_SCHEMA_VERSION,
            "eai_version": __version__,
            "data_hash": self.data_hash,
            "objective": self.objective,
            "candidates": self.n_candidates,
            "eligible": self.n_eligible,
            "decision": {
                "pick": self.pick,
                "pick_probability_best": self.pick_p_best,
                "decisive_probability": self.decisive_probability,
                "decisive": self.decisive,
                "named_tie": not self.decisive,
                "probability_none_feasible": self.p_none_feasible,
                "samples": self.samples,
            },
            "most_likely_best": [asdict(c) for c in self.top],
            "cells": [c.to_dict() for c in self.cells],
            "cells_elsewhere": [c.to_dict() for c in self.elsewhere],
            "budget_gpu_hours": self.budget_gpu_hours,
            "spent_gpu_hours": self.spent_gpu_hours,
            "variance_split": self.variance,
            "elapsed_s": self.elapsed_s,
            "notes": list(self.notes),
        }


def _describe(frame, row: int) -> str:
    from recommender.rules.explain import describe

    return describe(frame, row)


def candidate_probabilities(problem: Problem, probs: DecisionProbabilities, frame, k: int = 5) -> tuple[CandidateProbability, ...]:
    """The ``k`` candidates most likely best, with their constraint probabilities."""
    from recommender.rules.candidates import STATUS_ORDER

    out = []
    for r in probs.top(k):
        out.append(
            CandidateProbability(
                label=_describe(frame, int(r)),
                p_best=float(probs.p_best[r]),
                p_feasible=float(probs.p_feasible[r]),
                p_constraints={name: float(v[r]) for name, v in probs.p_constraint.items()},
                status=STATUS_ORDER[int(frame["status_code"].iat[int(r)])],
            )
        )
    return tuple(out)


def _cell(ctx, row: int, value: float, p_best: float, available: bool, config: costmod.CostConfig, reason: str = "") -> PlannedCell:
    from recommender.rules.candidates import ACCURACY_STATUS_ORDER, STATUS_ORDER

    f = ctx.cs.frame
    tasks = ctx.cs.resolved.tasks
    n_t = len(tasks)
    per = ctx.cs.per_task.iloc[row * n_t : (row + 1) * n_t]
    batch = int(f["batch_size"].iat[row])
    costs = []
    for j, t in enumerate(tasks):
        r = per.iloc[j]
        half = (float(r["accuracy_hi"]) - float(r["accuracy_lo"])) / 2.0
        costs.append(
            costmod.task_cost(
                t.id, float(r["accuracy"]), half, str(r["accuracy_status"]) == "measured",
                float(r["time_s_per_query"]), batch, config,
            )
        )
    seconds = config.setup_s + sum(c.seconds for c in costs if np.isfinite(c.seconds))
    devices = int(f["device_count"].iat[row])
    return PlannedCell(
        platform=str(f["platform"].iat[row]),
        device_count=devices,
        engine=str(f["engine"].iat[row]),
        model_id=str(f["model_id"].iat[row]),
        quantization=str(f["quantization"].iat[row]),
        batch_size=batch,
        tasks=tuple(costs),
        value=float(value),
        gpu_hours=float(devices * seconds / 3600.0),
        p_best=float(p_best),
        status=STATUS_ORDER[int(f["status_code"].iat[row])],
        accuracy_status=ACCURACY_STATUS_ORDER[int(f["accuracy_status_code"].iat[row])],
        available=available,
        unavailable_reason=reason,
    )


def _hours(ctx, config: costmod.CostConfig) -> np.ndarray:
    """GPU-hours to measure each configuration of the frame (vectorized cost model)."""
    f = ctx.cs.frame
    tasks = ctx.cs.resolved.tasks
    n_t = len(tasks)
    per = ctx.cs.per_task

    def grid(col: str) -> np.ndarray:
        return per[col].to_numpy(dtype=float).reshape(-1, n_t)

    measured = (per["accuracy_status"].astype(str).to_numpy() == "measured").reshape(-1, n_t)
    items = np.array([config.items.get(t.id, np.inf) for t in tasks], dtype=float)
    return costmod.configuration_hours(
        grid("accuracy"), (grid("accuracy_hi") - grid("accuracy_lo")) / 2.0, measured, grid("time_s_per_query"),
        f["batch_size"].to_numpy(dtype=float), f["device_count"].to_numpy(dtype=float), items, config,
    )


def fork(joint: JointPredictive) -> JointPredictive:
    """A copy of the joint whose observations can change without touching the original."""
    return JointPredictive(
        levels=dict(joint.levels), accuracy_levels=joint.accuracy_levels, scales=joint.scales, split=joint.split,
        observed=dict(joint.observed),
    )


def greedy(
    model: ValueModel,
    joint: JointPredictive,
    cells: np.ndarray,
    cost_of,
    budget: float | None,
    max_cells: int,
    min_value: float,
    recompute_top: int,
) -> list[tuple[int, float, float]]:
    """Greedy selection by value per cost under a budget.

    Args:
        model: Value model of the current decision.
        joint: Joint predictive (not modified).
        cells: Rows that may be chosen.
        cost_of: Callable row -> cost (GPU-hours, > 0).
        budget: Total cost allowed (None: ``max_cells`` cells).
        max_cells: Most cells when there is no budget.
        min_value: Cells worth less are never chosen.
        recompute_top: Cells re-valued after each pick.

    Returns:
        ``(row, value when chosen, cost)`` in the order chosen.
    """
    j = fork(joint)
    values = model.values(j, cells)
    vals = dict(zip(cells.tolist(), values.tolist()))
    costs: dict[int, float] = {}
    chosen: list[tuple[int, float, float]] = []
    spent = 0.0
    while True:
        if budget is None and len(chosen) >= max_cells:
            break
        live = [r for r, v in vals.items() if v >= min_value]
        if not live:
            break
        for r in live:
            if r not in costs:
                costs[r] = max(float(cost_of(r)), 1e-6)
        affordable = [r for r in live if budget is None or spent + costs[r] <= budget]
        if not affordable:
            break
        best = max(affordable, key=lambda r: vals[r] / costs[r])
        chosen.append((best, vals[best], costs[best]))
        spent += costs[best]
        del vals[best]
        # Treat the pick as measured at its posterior median: means stay, uncertainty shrinks
        # for it and for every cell sharing a component with it.
        b = np.array([best])
        j.observe(best, *(float(j.posterior_mean(q, b)[0]) for q in ("energy", "time", "accuracy")))
        rest = sorted(live, key=lambda r: -vals.get(r, 0.0) / costs.get(r, 1.0))
        rest = [r for r in rest if r in vals][:recompute_top]
        if rest:
            vals.update(zip(rest, model.values(j, np.array(rest, dtype=np.int64)).tolist()))
    return chosen


def make_plan(
    spec,
    predictor,
    budget_gpu_hours: float | None = None,
    have: tuple[str, ...] | None = None,
    catalogs=None,
    flow=None,
    split: VarianceSplit | None = None,
    seed: int = 0,
    can_measure=None,
) -> tuple[Plan, Any]:
    """Plan the next measurements for a spec.

    Args:
        spec: Validated requirements.
        predictor: Fitted predictor.
        budget_gpu_hours: Budget (None: the planner's ``max_cells`` best cells).
        have: Platform ids the user can measure on (None: every platform counts as available).
        catalogs: Catalogs (default: shipped).
        flow: Decision flow (default: shipped).
        split: Variance split (default: ``data/plan_variance.json``).
        seed: Random seed.
        can_measure: Optional callable (platform, engine, quantization, model id) -> "" when
            the profiler can measure that combination, else the reason (such cells are listed
            apart, like cells on hardware the user lacks).

    Returns:
        The plan and the prepared context (for writing sweep files).

    Raises:
        InvalidInputError, InfeasibleError: As ``eai recommend``.
    """
    from recommender.rules.engine import prepare
    from recommender.rules.flow import load_flow
    from recommender.rules.rank import select

    started = time.perf_counter()
    config = costmod.load_config()
    flow = flow or load_flow()
    ctx = prepare(spec, predictor, catalogs, flow)
    split = split or load_split()
    problem = from_context(ctx)
    frame = ctx.cs.frame
    joint = joint_from_frame(frame, split, problem.scales, ctx.flow.baseline_quantizations)
    probs = probabilities(problem, joint, samples=config.planner.probability_samples, seed=seed)
    feasible = ctx.base.copy()
    for ok in ctx.oks:
        feasible &= ok
    sel = select(feasible, ctx.obj, ctx.preference, limit=0)
    pick_row = sel.winner if sel is not None else (probs.posterior_rec if probs.posterior_rec >= 0 else -1)
    cells = np.flatnonzero(problem.eligible)
    vmodel = ValueModel.build(probs, joint, seed=seed)
    values = vmodel.values(joint, cells)
    have_set = set(have) if have else None

    reasons: dict[tuple[str, str, str, str], str] = {}

    def why_not(row: int) -> str:
        platform = str(frame["platform"].iat[row])
        if have_set is not None and platform not in have_set:
            return f"needs {platform}, not among the platforms you have"
        if can_measure is None:
            return ""
        key = (platform, str(frame["engine"].iat[row]), str(frame["quantization"].iat[row]), str(frame["model_id"].iat[row]))
        if key not in reasons:
            reasons[key] = can_measure(*key)
        return reasons[key]

    def available(row: int) -> bool:
        return not why_not(row)

    cell_cache: dict[int, PlannedCell] = {}

    def cell(row: int, value: float) -> PlannedCell:
        if row not in cell_cache:
            cell_cache[row] = _cell(ctx, row, value, probs.p_best[row], available(row), config.cost, why_not(row))
        c = cell_cache[row]
        return c if c.value == value else PlannedCell(**{**c.__dict__, "value": float(value)})

    hours = _hours(ctx, config.cost)
    ok_here = np.array([available(int(r)) for r in cells], dtype=bool)
    chosen = greedy(
        vmodel, joint, cells[ok_here], lambda r: hours[int(r)], budget_gpu_hours,
        config.planner.max_cells, config.planner.min_value, config.planner.recompute_top,
    )
    planned = tuple(cell(r, v) for r, v, _ in chosen)
    away = cells[~ok_here]
    away_vals = values[~ok_here]
    order = np.argsort(-away_vals)[: config.planner.max_cells]
    elsewhere = tuple(cell(int(away[i]), float(away_vals[i])) for i in order if away_vals[i] >= config.planner.min_value)
    top_p = float(probs.p_best.max()) if probs.p_best.size else 0.0
    notes = []
    if not planned:
        notes.append(
            "no cell on the available hardware is worth measuring within the budget"
            if have_set is not None or budget_gpu_hours is not None
            else "no measurement is expected to change the decision (every cell's value is below the planner's min_value)"
        )
    workload = ctx.cs.resolved.workload
    if workload is not None:
        notes.append(
            f"energy and time are priced on the served workload {workload.id}; the planned runs measure the tasks "
            f"({', '.join(t.id for t in ctx.cs.resolved.tasks)}), which settle accuracy and add energy rows the model "
            f"learns from, not {workload.id}'s energy itself (the profiler replays no such traffic offline)"
        )
    plan = Plan(
        objective=ctx.obj.name,
        n_candidates=int(frame["is_candidate"].sum()),
        n_eligible=int(problem.eligible.sum()),
        pick=_describe(frame, pick_row) if pick_row >= 0 else "",
        pick_p_best=float(probs.p_best[pick_row]) if pick_row >= 0 else 0.0,
        decisive_probability=float(flow.decisive_probability),
        decisive=top_p >= flow.decisive_probability,
        top=candidate_probabilities(problem, probs, frame),
        cells=planned,
        elsewhere=elsewhere,
        budget_gpu_hours=budget_gpu_hours,
        spent_gpu_hours=float(sum(c.gpu_hours for c in planned)),
        data_hash=str(getattr(predictor, "data_hash", "")),
        variance=split.to_dict(),
        elapsed_s=time.perf_counter() - started,
        p_none_feasible=probs.p_none_feasible,
        samples=probs.samples,
        notes=tuple(notes),
    )
    return plan, ctx
