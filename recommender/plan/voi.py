"""Expected value of measuring a cell: how much the decision's expected objective would improve.

The correlated knowledge gradient (Frazier, Powell & Dayanik 2009, "The knowledge-gradient
policy for correlated normal beliefs") with a utility that knows the constraints:

- utility of choosing candidate j in a world: its log objective where it meets every
  constraint there, else a factor e below the worst feasible candidate of that world;
- the decision now: the candidate with the highest expected utility ``a_j``
  (:class:`~recommender.plan.probability.DecisionProbabilities`);
- measuring cell c reveals its energy, time and accuracy latents; by the joint predictive
  each contender's latent q then moves by ``cov(z_j, z_c) / sd(z_c) * Z_q`` (``Z_q`` the
  standardized surprise), and its expected utility by the regression of its utility on its
  own latent (``sensitivity_j / var_j``) times that move: ``a_j + sum_q b_jcq Z_q``;
- ``value_c = E_Z[max_j (a_j + sum_q b_jcq Z_q)] - max_j a_j`` (>= 0), over fixed antithetic
  draws of Z (energy and time surprises correlated by rho, accuracy independent).

Value is in log units of the objective: 0.05 means the decision after the measurement is
expected to be about 5% better. A cell sharing no component with a contender is worth 0; a
cell whose result cannot change the pick is worth ~0; a cell that may reveal that another
contender is better, or that the pick misses a constraint, is worth much. Contenders are the
candidates best in some sampled world, plus the current pick (at most ``max_contenders``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.plan.joint import JointPredictive
from recommender.plan.probability import DecisionProbabilities

QS = ("energy", "time", "accuracy")


@dataclass(frozen=True)
class ValueModel:
    """What the value of information needs from one sampling pass.

    Attributes:
        contenders: Rows that may be the decision after a measurement.
        a: Their expected utilities.
        slope: Per quantity, regression slope of each contender's utility on its latent.
        nodes: Standardized surprises (K, 3): energy, time, accuracy.
    """

    contenders: np.ndarray
    a: np.ndarray
    slope: dict[str, np.ndarray]
    nodes: np.ndarray

    @staticmethod
    def build(probs: DecisionProbabilities, joint: JointPredictive, max_contenders: int = 32, n_nodes: int = 48, seed: int = 0) -> ValueModel:
        """Contenders and slopes from a sampling pass; fixed antithetic surprise draws."""
        eu = probs.expected_utility
        cand = np.flatnonzero(probs.p_best > 0)
        cand = cand[np.argsort(-probs.p_best[cand], kind="stable")][:max_contenders]
        rec = probs.bayes_rec
        if rec >= 0 and rec not in cand:
            cand = np.concatenate([cand, [rec]])
        cand = cand[np.isfinite(eu[cand])]
        slope = {}
        for q in QS:
            var = joint.posterior_var(q, cand)
            slope[q] = probs.sensitivity[q][cand] / var
        rng = np.random.default_rng(seed)
        half = rng.standard_normal((n_nodes // 2, 3))
        rho = joint.split.rho_energy_time
        half[:, 1] = rho * half[:, 0] + np.sqrt(1 - rho**2) * half[:, 1]
        nodes = np.concatenate([half, -half])
        return ValueModel(contenders=cand.astype(np.int64), a=eu[cand], slope=slope, nodes=nodes)

    def values(self, joint: JointPredictive, cells: np.ndarray, chunk: int = 256, max_valued: int = 1500) -> np.ndarray:
        """Value of measuring each of ``cells`` given the joint's current observations.

        Only the ``max_valued`` cells with the largest influence on the contenders
        (``max_j sum_q |b_jcq|``, a bound on how far one measurement moves any contender's
        expected utility) are valued; the others get 0.
        """
        cells = np.asarray(cells, dtype=np.int64)
        out = np.zeros(cells.size)
        if self.contenders.size == 0 or cells.size == 0:
            return out
        best_now = float(self.a.max())
        gains = {q: self._gains(joint, q, cells) for q in QS}  # (n, m) each
        influence = sum(np.abs(g) for g in gains.values()).max(axis=1)
        keep = np.flatnonzero(influence > 1e-6)
        if keep.size > max_valued:
            keep = keep[np.argsort(-influence[keep], kind="stable")[:max_valued]]
        nodes = self.nodes.astype(np.float32)
        a = self.a.astype(np.float32)
        for start in range(0, keep.size, chunk):
            sel = keep[start : start + chunk]
            total = np.broadcast_to(a[None, None, :], (sel.size, nodes.shape[0], a.size)).copy()
            for k, q in enumerate(QS):
                b = gains[q][sel].astype(np.float32)
                if not np.any(b):
                    continue
                total += nodes[None, :, k, None] * b[:, None, :]
            out[sel] = total.max(axis=2).mean(axis=1) - best_now
        return np.maximum(out, 0.0)

    def _gains(self, joint: JointPredictive, q: str, cells: np.ndarray) -> np.ndarray:
        """(cells, contenders): effect of a unit surprise of ``q`` at each cell on each contender's expected utility."""
        cov = joint.posterior_cov(q, self.contenders, cells)  # (m, n)
        sd_c = np.sqrt(joint.posterior_var(q, cells))
        return (self.slope[q][:, None] * cov / sd_c[None, :]).T


def value_of_information(
    probs: DecisionProbabilities,
    joint: JointPredictive,
    cells: np.ndarray,
    max_contenders: int = 32,
    seed: int = 0,
) -> np.ndarray:
    """Value (log units of the objective) of measuring each of ``cells``; see the module docstring."""
    return ValueModel.build(probs, joint, max_contenders=max_contenders, seed=seed).values(joint, cells)
