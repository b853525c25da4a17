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
    def build(probs: DecisionProbabilities, joint: JointPredictive, max_contenders: int = 48, n_nodes: int = 64, seed: int = 0) -> ValueModel:
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

    def values(self, joint: JointPredictive, cells: np.ndarray, chunk: int = 256) -> np.ndarray:
        """Value of measuring each of ``cells`` given the joint's current observations."""
        cells = np.asarray(cells, dtype=np.int64)
        out = np.zeros(cells.size)
        if self.contenders.size == 0 or cells.size == 0:
            return out
        best_now = float(self.a.max())
        for start in range(0, cells.size, chunk):
            cc = cells[start : start + chunk]
            # (B, m) effect of a unit surprise of each quantity on each contender's expected utility.
            total = np.broadcast_to(self.a[None, None, :], (cc.size, self.nodes.shape[0], self.a.size)).copy()
            for k, q in enumerate(QS):
                cov = joint.posterior_cov(q, self.contenders, cc)  # (m, B)
                sd_c = np.sqrt(joint.posterior_var(q, cc))  # (B,)
                b = (self.slope[q][:, None] * cov / sd_c[None, :]).T  # (B, m)
                if not np.any(b):
                    continue
                total += self.nodes[None, :, k, None] * b[:, None, :]
            out[start : start + cc.size] = total.max(axis=2).mean(axis=1) - best_now
        return np.maximum(out, 0.0)


def value_of_information(
    probs: DecisionProbabilities,
    joint: JointPredictive,
    cells: np.ndarray,
    max_contenders: int = 48,
    seed: int = 0,
) -> np.ndarray:
    """Value (log units of the objective) of measuring each of ``cells``; see the module docstring."""
    return ValueModel.build(probs, joint, max_contenders=max_contenders, seed=seed).values(joint, cells)
