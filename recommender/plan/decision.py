"""Probabilities next to ``eai recommend``'s answer, in place of a bare tie count.

:func:`with_probabilities` takes the recommendation and the prepared candidates it was
ranked from, samples the joint predictive (:mod:`recommender.plan.probability`) and returns
the same recommendation with:

- per shown row: ``probability_best``, ``probability_feasible`` and
  ``probability_meets`` (per constraint);
- ``explanation["decision"]``: the flow's ``decisive_probability``, whether a candidate
  reaches it (else the answer is named a tie), the most likely best candidates, the samples;
- ``explanation["ties"]["statement"]``: says the same in words.

:func:`movement` compares two ``eai recommend --json`` documents (before and after new rows
were imported and the predictor refit): how the pick and its probabilities moved.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

KEY = ("platform", "device_count", "engine", "model_id", "quantization", "batch_size")


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%" if p >= 0.005 or p == 0 else "<1%"


def _label(d: dict[str, Any]) -> str:
    from recommender.rules.explain import with_devices

    return f"{with_devices(d['platform'], d.get('device_count', 1))} + {d['model_id']} @ {d['quantization']} ({d['engine']}, batch {d['batch_size']})"


def with_probabilities(result, ctx, samples: int | None = None, seed: int = 0):
    """The recommendation with probabilities of being best and of meeting each constraint.

    Args:
        result: :class:`recommender.rules.engine.Recommendation`.
        ctx: The :class:`recommender.rules.explain.Context` it was ranked from.
        samples: Worlds to sample (default: ``data/plan.yaml`` planner.probability_samples).
        seed: Random seed.
    """
    from recommender.plan.cost import load_config
    from recommender.plan.probability import probabilities
    from recommender.plan.problem import from_context, joint_from_frame
    from recommender.plan.variance import load as load_split

    split = load_split()
    problem = from_context(ctx)
    frame = ctx.cs.frame
    joint = joint_from_frame(frame, split, problem.scales, ctx.flow.baseline_quantizations)
    n = samples or load_config().planner.probability_samples
    probs = probabilities(problem, joint, samples=n, seed=seed)
    # Frame row of each shown configuration.
    cols = {c: frame[c].astype(str).to_numpy() for c in KEY}
    is_cand = frame["is_candidate"].to_numpy()
    rows = []
    for r in result.rows:
        match = is_cand.copy()
        for c in KEY:
            match &= cols[c] == str(r[c])
        hits = np.flatnonzero(match)
        i = int(hits[0]) if hits.size else None
        extra: dict[str, Any] = {"probability_best": None, "probability_feasible": None, "probability_meets": {}}
        if i is not None:
            extra = {
                "probability_best": float(probs.p_best[i]),
                "probability_feasible": float(probs.p_feasible[i]),
                "probability_meets": {k: float(v[i]) for k, v in probs.p_constraint.items()},
            }
        rows.append({**r, **extra})
    threshold = float(ctx.flow.decisive_probability)
    top = probs.top(5)
    from recommender.rules.explain import describe

    likely = [{"configuration": describe(frame, int(i)), "probability_best": float(probs.p_best[i])} for i in top]
    best_p = float(probs.p_best.max()) if probs.p_best.size else 0.0
    decisive = best_p >= threshold
    pick_p = rows[0]["probability_best"] if rows else None
    if decisive:
        statement = f"decisive: {likely[0]['configuration']} is best with probability {_pct(best_p)} (flow threshold {_pct(threshold)})"
        if likely[0]["configuration"] != _label(rows[0]):
            statement += f"; the pick itself is best with probability {_pct(pick_p or 0.0)}"
    else:
        shown = ", ".join(f"{c['configuration']} {_pct(c['probability_best'])}" for c in likely[:3])
        # Who picked: the flow's order only where the rule layer found candidates tied with the
        # winner; otherwise its point value led by the objective's own tie rule (for accuracy, a
        # score margin; wide imputed intervals can still make other candidates likelier best).
        tied = int(result.explanation.get("ties", {}).get("count", 0) or 0) > 0
        who = "the flow's preference order picks among them" if tied else "the pick leads on point value by the objective's tie rule"
        statement = (
            f"tie: no candidate is best with probability >= {_pct(threshold)} (most likely best: {shown}); "
            f"{who} (the pick: {_pct(pick_p or 0.0)})"
        )
    confidence = ctx.cs.resolved.spec.accuracy.min_confidence
    if confidence is not None:
        # The worlds know each score; the answer holds the accuracy floors to a quantile of it.
        # Say which of the likeliest were left out for that, so the probabilities do not read
        # as a rival pick.
        floors_ok = np.ones(len(frame), dtype=bool)
        for c, ok in zip(ctx.constraints, ctx.oks):
            if c.name in ("accuracy.min", "accuracy.min_relative_to_fp16"):
                floors_ok &= ok
        shown_rows = [int(i) for i in top[:3]]
        short = sum(not floors_ok[i] for i in shown_rows)
        if short:
            which = "all of these" if short == len(shown_rows) else f"{short} of these"
            statement += (
                f"; {which} meet the accuracy floors with probability under {confidence:g} (accuracy.min_confidence) "
                "and are not picked: measuring their scores (`eai plan`) would settle it"
            )
    if probs.p_none_feasible > 0:
        statement += f"; in {_pct(probs.p_none_feasible)} of sampled worlds nothing meets every constraint"
    explanation = dict(result.explanation)
    ties = dict(explanation.get("ties", {}))
    ties["statement"] = statement
    explanation["ties"] = ties
    explanation["decision"] = {
        "decisive_probability": threshold,
        "decisive": decisive,
        "named_tie": not decisive,
        "pick_probability_best": pick_p,
        "most_likely_best": likely,
        "probability_none_feasible": probs.p_none_feasible,
        "samples": probs.samples,
        "correlation": {"weights": split.weights, "idiosyncratic": split.idiosyncratic, "rho_energy_time": split.rho_energy_time,
                        "source": split.source},
    }
    return dataclasses.replace(result, rows=tuple(rows), explanation=explanation)


def movement(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """How the pick and the probabilities moved between two ``eai recommend --json`` documents."""
    lines = []
    if old.get("data_hash") == new.get("data_hash"):
        lines.append("same measured table as before: nothing new was learned")
    o_rows, n_rows = old.get("recommendations", []), new.get("recommendations", [])
    o_pick = _label(o_rows[0]) if o_rows else "(none)"
    n_pick = _label(n_rows[0]) if n_rows else "(none)"
    lines.append(f"pick changed: {o_pick} -> {n_pick}" if o_pick != n_pick else f"pick unchanged: {n_pick}")
    od = old.get("explanation", {}).get("decision", {})
    nd = new.get("explanation", {}).get("decision", {})
    if od or nd:
        lines.append(
            f"pick's probability of being best: {_pct(od.get('pick_probability_best') or 0.0)} -> {_pct(nd.get('pick_probability_best') or 0.0)}"
            + (" (now decisive)" if nd.get("decisive") and not od.get("decisive") else "")
        )
        before = {c["configuration"]: c["probability_best"] for c in od.get("most_likely_best", [])}
        after = {c["configuration"]: c["probability_best"] for c in nd.get("most_likely_best", [])}
        for label in dict.fromkeys([*after, *before]):
            lines.append(f"  {_pct(before.get(label, 0.0)):>4} -> {_pct(after.get(label, 0.0)):>4}  {label}")
    return lines
