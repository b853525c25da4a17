"""Probability of being best and of meeting each constraint, by joint sampling.

In each sampled world (energy, time and accuracy of every candidate drawn jointly, see
:mod:`recommender.plan.joint`) the feasible candidates are those meeting every constraint
in that world, and the best is the feasible one with the best objective. A candidate's
probability of being best is the share of worlds where it is; its probability of meeting a
constraint is the share of worlds where it does. Worlds where nothing is feasible are
counted apart (``p_none_feasible``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.plan.joint import JointPredictive
from recommender.plan.problem import Problem

DEFAULT_SAMPLES = 2000
CHUNK = 250


@dataclass(frozen=True)
class DecisionProbabilities:
    """Outcome of sampling the joint predictive.

    Attributes:
        p_best: Probability of being the best feasible candidate, per row (0 for ineligible rows).
        p_feasible: Probability of meeting every constraint, per row.
        p_constraint: Per constraint name, probability of meeting it, per row.
        p_none_feasible: Share of worlds with no feasible candidate.
        samples: Number of worlds drawn.
        posterior_rec: Row that is best at the posterior median (the point decision), or -1.
        expected_utility: Mean utility per row (NaN for ineligible rows).
        sensitivity: Per quantity, covariance of a row's utility with its own latent.
    """

    p_best: np.ndarray
    p_feasible: np.ndarray
    p_constraint: dict[str, np.ndarray]
    p_none_feasible: float
    samples: int
    posterior_rec: int
    expected_utility: np.ndarray
    sensitivity: dict[str, np.ndarray]

    @property
    def bayes_rec(self) -> int:
        """Row with the highest expected utility (the decision under uncertainty), or -1."""
        if not np.isfinite(self.expected_utility).any():
            return -1
        return int(np.nanargmax(self.expected_utility))

    def top(self, k: int = 5) -> np.ndarray:
        """Rows with the highest probability of being best (largest first)."""
        order = np.argsort(-self.p_best, kind="stable")
        return order[: min(k, int((self.p_best > 0).sum()) or 1)]


def _base_rows(problem: Problem, rows: np.ndarray) -> np.ndarray | None:
    for c in problem.constraints:
        if c.base_row is not None:
            b = c.base_row[rows]
            return np.where(b >= 0, b, rows)
    return None


def median_decision(problem: Problem, joint: JointPredictive, rows: np.ndarray | None = None) -> int:
    """Best row at the posterior median of every quantity (the point decision after conditioning), or -1."""
    rows = np.flatnonzero(problem.eligible) if rows is None else np.asarray(rows)
    if rows.size == 0:
        return -1
    z = {q: joint.posterior_mean(q, rows)[None, :] for q in ("energy", "time", "accuracy")}
    d = problem.delta(rows, z)
    base = _base_rows(problem, rows)
    base_d = None
    if base is not None:
        zb = {"accuracy": joint.posterior_mean("accuracy", base)[None, :]}
        base_d = {"accuracy": problem.scales.delta("accuracy", zb["accuracy"], base)}
    ok = problem.feasible(rows, d, base_d)[0]
    if not ok.any():
        return -1
    s = np.where(ok, problem.score(rows, d)[0], -np.inf)
    return int(rows[int(np.argmax(s))])


PRUNE_Z = 4.0
"""Candidates that cannot be best within +-4 standard deviations of every quantity (a tail
probability of about 3e-5 each) are left out of the joint sampling."""

PRUNE_FROM = 2000
"""Pruning starts at this many eligible candidates (below it the joint pass is cheap)."""


def _extremes(problem: Problem, powers: tuple[float, float, float], rows: np.ndarray, sign: float, z: float = PRUNE_Z) -> np.ndarray:
    """Largest (sign=+1) or smallest (sign=-1) log factor ``sum_q power_q * delta_q`` within +-z sd."""
    total = np.zeros(rows.size)
    for c, q in zip(powers, ("energy", "time", "accuracy")):
        if c == 0:
            continue
        up = c * z * problem.scales.hi[q][rows]
        down = -c * z * problem.scales.lo[q][rows]
        total += np.maximum(up, down) if sign > 0 else np.minimum(up, down)
    return total


def prune(problem: Problem, rows: np.ndarray) -> np.ndarray:
    """Mask of ``rows`` that may be best: not beaten, within +-4 sd, by a candidate that meets
    every constraint even at its own worst +-4 sd values."""
    d = problem.direction
    best_case = d * problem.log_point[rows] + (_extremes(problem, problem.powers, rows, +1.0) if d > 0 else -_extremes(problem, problem.powers, rows, -1.0))
    worst_case = d * problem.log_point[rows] + (_extremes(problem, problem.powers, rows, -1.0) if d > 0 else -_extremes(problem, problem.powers, rows, +1.0))
    safe = np.ones(rows.size, dtype=bool)
    for c in problem.constraints:
        if c.additive_slope is not None:
            # Additive (chance-adjusted) constraints: no cheap worst case; never count as safe.
            safe &= np.isnan(c.point[rows]) & c.nan_passes
            continue
        ext = _extremes(problem, c.powers, rows, +1.0 if c.kind == "max" else -1.0)
        if c.base_row is not None:
            # Relative accuracy: the row's own accuracy error against its baseline's (none
            # when the row is its own baseline: the ratio is exactly its point value).
            b = c.base_row[rows]
            own = (b < 0) | (b == rows)
            bb = np.where(own, rows, b)
            s_base = problem.scales.hi["accuracy"][bb] if c.kind == "min" else problem.scales.lo["accuracy"][bb]
            ext = np.where(own, 0.0, ext - np.sign(ext + 1e-300) * PRUNE_Z * c.powers[2] * s_base)
        v = c.point[rows] * np.exp(ext)
        with np.errstate(invalid="ignore"):
            ok = v <= c.limit[rows] if c.kind == "max" else v >= c.limit[rows]
        safe &= ok | (np.isnan(c.point[rows]) & c.nan_passes)
    if not safe.any():
        return np.ones(rows.size, dtype=bool)
    threshold = np.max(worst_case[safe])
    return best_case >= threshold


def _marginal_constraints(problem: Problem, joint: JointPredictive, rows: np.ndarray, samples: int, rng) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Constraint and feasibility probabilities from each row's own (posterior) marginal."""
    z = {}
    for q in ("energy", "time", "accuracy"):
        m = joint.posterior_mean(q, rows)
        sd = np.sqrt(joint.posterior_var(q, rows))
        z[q] = (m[None, :] + sd[None, :] * rng.standard_normal((samples, rows.size))).astype(np.float32)
    d = problem.delta(rows, z)
    ok = np.ones((samples, rows.size), dtype=bool)
    out = {}
    for c in problem.constraints:
        base = None
        if c.base_row is not None:
            b = np.where(c.base_row[rows] >= 0, c.base_row[rows], rows)
            # The baseline's latent drawn given the row's: they share (model, quantization) or the
            # model's reference error (JointPredictive.corr); a row is its own baseline's draw.
            ma, va = joint.posterior_mean("accuracy", rows), joint.posterior_var("accuracy", rows)
            mb, vb = joint.posterior_mean("accuracy", b), joint.posterior_var("accuracy", b)
            cov = joint.posterior_pair_cov("accuracy", rows, b)
            k = cov / va
            rest = np.sqrt(np.maximum(vb - k * cov, 0.0))
            zb = (mb[None, :] + k[None, :] * (z["accuracy"] - ma[None, :]) + rest[None, :] * rng.standard_normal((samples, b.size))).astype(np.float32)
            same = joint.accuracy_levels[b] == joint.accuracy_levels[rows]
            zb = np.where(same[None, :], z["accuracy"], zb)
            base = problem.scales.delta("accuracy", zb, b)
        ci = c.ok(rows, d, base)
        out[c.name] = ci.mean(axis=0)
        ok &= ci
    return out, ok.mean(axis=0)


def probabilities(problem: Problem, joint: JointPredictive, samples: int = DEFAULT_SAMPLES, seed: int = 0) -> DecisionProbabilities:
    """Sample worlds and count how often each candidate is best and meets each constraint.

    Args:
        problem: Candidates, objective and constraints.
        joint: Joint predictive over the same rows (conditioned on any new cells).
        samples: Worlds to draw (the standard error of a probability p is sqrt(p(1-p)/samples)).
        seed: Random seed (results are reproducible).
    """
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(problem.eligible)
    n = problem.n
    pruned = np.zeros(0, dtype=np.int64)
    if rows.size >= PRUNE_FROM:
        keep = prune(problem, rows)
        pruned, rows = rows[~keep], rows[keep]
    best_count = np.zeros(n)
    feas_count = np.zeros(n)
    cons_count = {c.name: np.zeros(n) for c in problem.constraints}
    none = 0
    u_sum = np.zeros(rows.size)
    uz_sum = {q: np.zeros(rows.size) for q in ("energy", "time", "accuracy")}
    z_sum = {q: np.zeros(rows.size) for q in ("energy", "time", "accuracy")}
    base = _base_rows(problem, rows)
    done = 0
    while done < samples and rows.size:
        size = min(CHUNK, samples - done)
        if base is not None:
            allrows = np.concatenate([rows, base])
            z = joint.sample(allrows, size, rng)
            zr = {q: v[:, : rows.size] for q, v in z.items()}
            base_d = {"accuracy": problem.scales.delta("accuracy", z["accuracy"][:, rows.size :], base)}
        else:
            zr = joint.sample(rows, size, rng)
            base_d = None
        d = problem.delta(rows, zr)
        ok = np.broadcast_to(problem.eligible[rows], (size, rows.size)).copy()
        for c in problem.constraints:
            ci = c.ok(rows, d, base_d["accuracy"] if (c.base_row is not None and base_d is not None) else None)
            cons_count[c.name][rows] += ci.sum(axis=0)
            ok &= ci
        feas_count[rows] += ok.sum(axis=0)
        score = problem.score(rows, d)
        s = np.where(ok, score, -np.inf)
        arg = np.argmax(s, axis=1)
        has = np.isfinite(s[np.arange(size), arg])
        none += int((~has).sum())
        np.add.at(best_count, rows[arg[has]], 1.0)
        worst = np.min(np.where(ok, score, np.inf), axis=1)
        worst = np.where(np.isfinite(worst), worst, np.nanmin(np.where(np.isfinite(score), score, np.nan), axis=1))
        u = np.where(ok, score, (worst - 1.0)[:, None])
        u_sum += u.sum(axis=0)
        for q in uz_sum:
            uz_sum[q] += (u * zr[q]).sum(axis=0)
            z_sum[q] += zr[q].sum(axis=0)
        done += size
    total = max(done, 1)
    if pruned.size:
        # Never best (p_best 0); constraints from their own marginals, in chunks.
        for start in range(0, pruned.size, 2000):
            part = pruned[start : start + 2000]
            p_c, p_f = _marginal_constraints(problem, joint, part, min(samples, 400), rng)
            for k, v in p_c.items():
                cons_count[k][part] = v * total
            feas_count[part] = p_f * total
    eu = np.full(n, np.nan)
    eu[rows] = u_sum / total
    sens = {}
    for q in uz_sum:
        h = np.zeros(n)
        h[rows] = uz_sum[q] / total - (u_sum / total) * (z_sum[q] / total)
        sens[q] = h
    return DecisionProbabilities(
        p_best=best_count / total,
        p_feasible=feas_count / total,
        p_constraint={k: v / total for k, v in cons_count.items()},
        p_none_feasible=none / total if rows.size else 1.0,
        samples=done,
        posterior_rec=median_decision(problem, joint, np.flatnonzero(problem.eligible)),
        expected_utility=eu,
        sensitivity=sens,
    )
