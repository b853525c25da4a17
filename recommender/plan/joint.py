"""Joint predictive distribution of candidates' energy, time and accuracy.

Each candidate's prediction comes with a calibrated 90% interval per quantity; the joint
distribution adds the correlation that shared components imply (see
:mod:`recommender.plan.variance`). Per quantity q in (energy, time, accuracy) and candidate
j, a standardized latent ``z^q_j ~ N(0, 1)`` maps to the value through a split normal in log
space, which reproduces the predictor's interval exactly::

    value = point * exp(delta),   delta = z * s_hi if z > 0 else z * s_lo,
    s_hi = log(hi / point) / 1.645,   s_lo = log(point / lo) / 1.645

so ``z = 0`` is the point prediction (the median) and ``z = +-1.645`` the interval ends.

Correlation of the latents:

- energy: ``corr(z_j, z_k) = sum_f w_f [j, k share f] + w_0 [j = k]`` over f in
  (platform, model, engine) (the variance split);
- time: the same structure, and ``corr(zE_j, zT_k) = rho * corr(zE_j, zE_k)``
  (energy = power x time: their errors move together);
- accuracy: one latent per (model, quantization): a configuration's score does not
  depend on the hardware or engine it runs on (greedy decoding), so candidates that
  differ only there share their accuracy error entirely. Where a quantized score is the
  model's reference score plus a quantization effect, the reference's error is part of it:
  ``z_j = sqrt(r_j) u_model + sqrt(1 - r_j) v_(model, quantization)`` with ``r_j`` the share
  of its variance that is the reference's (``accuracy_shared``; 0 for a score measured at its
  own precision), so ``corr(z_j, z_k) = sqrt(r_j r_k) [same model] + sqrt((1 - r_j)(1 - r_k))
  [same (model, quantization)]``.

Observations (a cell measured after the predictor was fit) condition the joint exactly
(Gaussian conditioning in latent space, a small measurement noise); samples of the
conditional come from Matheron's rule (prior sample + correction), so conditioning on a few
dozen cells costs a few matrix products, not a refit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recommender.plan.variance import FACTORS, Z90, VarianceSplit

QUANTITIES: tuple[str, ...] = ("energy", "time", "accuracy")

OBSERVATION_NOISE = 0.01
"""Standard deviation, in standardized latent units, of a new measurement: about 0.3-0.5% of the
value for interval half-widths of 50-80% (a profiler cell's repeat spread is of that order);
it keeps the conditioning well posed when two observed cells share every component."""


@dataclass(frozen=True)
class Scales:
    """Split-normal log scales per quantity: ``lo[q]``, ``hi[q]`` arrays (0 where unknown)."""

    lo: Mapping[str, np.ndarray]
    hi: Mapping[str, np.ndarray]

    @staticmethod
    def from_intervals(point: Mapping[str, np.ndarray], lo: Mapping[str, np.ndarray], hi: Mapping[str, np.ndarray]) -> Scales:
        """Scales from point predictions and 90% interval ends (dict per quantity)."""
        out_lo, out_hi = {}, {}
        for q in QUANTITIES:
            p = np.asarray(point[q], dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                up = np.log(np.asarray(hi[q], dtype=float) / p) / Z90
                down = np.log(p / np.asarray(lo[q], dtype=float)) / Z90
            out_hi[q] = np.where(np.isfinite(up) & (up > 0), up, 0.0)
            out_lo[q] = np.where(np.isfinite(down) & (down > 0), down, 0.0)
        return Scales(out_lo, out_hi)

    def delta(self, q: str, z: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Log deviation of quantity ``q`` for latents ``z`` (``...`` x len(rows))."""
        hi, lo = self.hi[q][rows], self.lo[q][rows]
        if z.dtype == np.float32:
            hi, lo = hi.astype(np.float32), lo.astype(np.float32)
        return z * np.where(z > 0, hi, lo)

    def latent(self, q: str, delta: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`delta` (0 where the scale is 0)."""
        s = np.where(delta > 0, self.hi[q][rows], self.lo[q][rows])
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(s > 0, delta / s, 0.0)
        return z


def _unique_codes(codes: np.ndarray) -> np.ndarray:
    """Missing levels (-1) become levels of their own: an unknown component shares nothing."""
    codes = np.asarray(codes, dtype=np.int64).copy()
    missing = codes < 0
    if missing.any():
        codes[missing] = codes.max(initial=-1) + 1 + np.arange(int(missing.sum()))
    return codes


@dataclass
class JointPredictive:
    """Correlated predictive distribution over ``n`` candidates, conditionable on new cells.

    Args:
        levels: Per shared factor (:data:`~recommender.plan.variance.FACTORS`), integer level
            codes per candidate (-1: unknown, shares nothing).
        accuracy_levels: Level code of each candidate's (model, quantization).
        scales: Split-normal log scales.
        split: The variance split.
        observed: Measured cells' latents (see :meth:`observe`).
        accuracy_models: Model code of each candidate (None: accuracy errors are shared within
            a level only).
        accuracy_shared: Per candidate, the share of its accuracy variance that is its model's
            reference error, in [0, 1] (one value per level; None: 0 everywhere).
    """

    levels: Mapping[str, np.ndarray]
    accuracy_levels: np.ndarray
    scales: Scales
    split: VarianceSplit
    observed: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    accuracy_models: np.ndarray | None = None
    accuracy_shared: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.levels = {f: _unique_codes(self.levels[f]) for f in FACTORS}
        self.accuracy_levels = _unique_codes(self.accuracy_levels)
        self.n = len(self.accuracy_levels)
        if self.accuracy_models is not None and self.accuracy_shared is not None:
            self.accuracy_models = _unique_codes(self.accuracy_models)
            shared = np.clip(np.nan_to_num(np.asarray(self.accuracy_shared, dtype=float)), 0.0, 1.0)
            # One share per (model, quantization) level, so a level's rows stay one latent: the
            # smallest of its rows' (sharing less is the cautious reading).
            per_level = pd.Series(shared).groupby(self.accuracy_levels).transform("min").to_numpy()
            self.accuracy_shared = per_level
        else:
            self.accuracy_models, self.accuracy_shared = None, None
        self._cache: dict[str, object] = {}

    # ------------------------------------------------------------------ correlation
    def corr(self, a: np.ndarray, b: np.ndarray, q: str = "energy") -> np.ndarray:
        """Prior correlation matrix of latents ``z^q`` between rows ``a`` and ``b``."""
        return self._corr(np.asarray(a)[:, None], np.asarray(b)[None, :], q)

    def _corr(self, a: np.ndarray, b: np.ndarray, q: str) -> np.ndarray:
        """Prior correlation of ``z^q`` between rows ``a`` and ``b``, broadcast against each other
        (a column and a row give :meth:`corr`'s matrix, two vectors its pairs)."""
        if q == "accuracy":
            same = (self.accuracy_levels[a] == self.accuracy_levels[b]).astype(float)
            if self.accuracy_models is None:
                return same
            ra, rb = self.accuracy_shared[a], self.accuracy_shared[b]
            model = self.accuracy_models[a] == self.accuracy_models[b]
            return np.sqrt(ra * rb) * model + np.sqrt((1.0 - ra) * (1.0 - rb)) * same
        out = np.zeros(np.broadcast_shapes(np.shape(a), np.shape(b)))
        for f in FACTORS:
            w = self.split.weights[f]
            if w > 0:
                out += w * (self.levels[f][a] == self.levels[f][b])
        out += self.split.idiosyncratic * (a == b)
        return out

    # ------------------------------------------------------------------ observations
    def observe(self, row: int, energy_z: float = np.nan, time_z: float = np.nan, accuracy_z: float = np.nan) -> None:
        """Record a measured cell's latents (NaN: that quantity was not measured)."""
        self.observed[int(row)] = (float(energy_z), float(time_z), float(accuracy_z))
        self._cache.clear()

    def observe_values(self, row: int, point: Mapping[str, float], measured: Mapping[str, float]) -> None:
        """Record a measurement in natural units (``point``: the row's predictions)."""
        zs = []
        for q in QUANTITIES:
            y, p = measured.get(q, np.nan), point.get(q, np.nan)
            if y is None or p is None or not (np.isfinite(y) and np.isfinite(p) and y > 0 and p > 0):
                zs.append(np.nan)
                continue
            zs.append(float(self.scales.latent(q, np.array([np.log(y / p)]), np.array([row]))[0]))
        self.observe(row, *zs)

    def _obs(self, group: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Observation rows, which latent each is (0 energy, 1 time; 2 accuracy) and values."""
        rows, kinds, vals = [], [], []
        qs = (0, 1) if group == "et" else (2,)
        for r, zs in self.observed.items():
            for k in qs:
                if np.isfinite(zs[k]):
                    rows.append(r)
                    kinds.append(k)
                    vals.append(zs[k])
        return np.array(rows, dtype=np.int64), np.array(kinds, dtype=np.int64), np.array(vals, dtype=float)

    def _cross(self, q: str, rows: np.ndarray, orows: np.ndarray, okinds: np.ndarray) -> np.ndarray:
        """Prior covariance between ``z^q`` at ``rows`` and the observations."""
        if q == "accuracy":
            return self.corr(rows, orows, "accuracy")
        base = self.corr(rows, orows)
        rho = self.split.rho_energy_time
        same = okinds == (0 if q == "energy" else 1)
        return base * np.where(same, 1.0, rho)[None, :]

    def _obs_solver(self, group: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        key = "solver_" + group
        if key not in self._cache:
            rows, kinds, vals = self._obs(group)
            if rows.size == 0:
                self._cache[key] = None
            else:
                q = "accuracy" if group == "a" else "energy"
                cov = self._cross(q, rows, rows, kinds) if group == "a" else self.corr(rows, rows) * np.where(
                    kinds[:, None] == kinds[None, :], 1.0, self.split.rho_energy_time
                )
                cov = cov + OBSERVATION_NOISE**2 * np.eye(rows.size)
                self._cache[key] = (rows, kinds, vals, np.linalg.inv(cov))
        return self._cache[key]  # type: ignore[return-value]

    def posterior_mean(self, q: str, rows: np.ndarray) -> np.ndarray:
        """Posterior mean of ``z^q`` at ``rows`` given the observations (0 without any)."""
        rows = np.asarray(rows)
        solver = self._obs_solver("a" if q == "accuracy" else "et")
        if solver is None:
            return np.zeros(rows.size)
        orows, kinds, vals, inv = solver
        return self._cross(q, rows, orows, kinds) @ (inv @ vals)

    def posterior_cov(self, q: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Posterior covariance of ``z^q`` between rows ``a`` and ``b``."""
        prior = self.corr(a, b, q)
        solver = self._obs_solver("a" if q == "accuracy" else "et")
        if solver is None:
            return prior
        orows, kinds, _, inv = solver
        return prior - self._cross(q, a, orows, kinds) @ inv @ self._cross(q, b, orows, kinds).T

    def posterior_pair_cov(self, q: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Posterior covariance of ``z^q`` between ``a[i]`` and ``b[i]`` for each ``i`` (pairs,
        not the full matrix)."""
        a, b = np.asarray(a), np.asarray(b)
        prior = self._corr(a, b, q)
        solver = self._obs_solver("a" if q == "accuracy" else "et")
        if solver is None:
            return prior
        orows, kinds, _, inv = solver
        return prior - np.einsum("ij,jk,ik->i", self._cross(q, a, orows, kinds), inv, self._cross(q, b, orows, kinds))

    def posterior_var(self, q: str, rows: np.ndarray) -> np.ndarray:
        """Posterior variance of ``z^q`` at each row (diagonal only)."""
        rows = np.asarray(rows)
        prior = np.ones(rows.size) if q != "accuracy" else np.ones(rows.size)
        solver = self._obs_solver("a" if q == "accuracy" else "et")
        if solver is None:
            return prior
        orows, kinds, _, inv = solver
        c = self._cross(q, rows, orows, kinds)
        return np.maximum(prior - np.einsum("ij,jk,ik->i", c, inv, c), 1e-9)

    # ------------------------------------------------------------------ sampling
    def _prior_draw(self, rows: np.ndarray, size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Prior latents at ``rows``: arrays (size, len(rows)), float32."""
        out = {}
        rho = self.split.rho_energy_time
        draws = []
        for _ in range(2):
            z = np.zeros((size, rows.size), dtype=np.float32)
            for f in FACTORS:
                w = self.split.weights[f]
                if w <= 0:
                    continue
                codes = self.levels[f][rows]
                uniq, inv = np.unique(codes, return_inverse=True)
                u = rng.standard_normal((size, uniq.size), dtype=np.float32)
                z += np.float32(np.sqrt(w)) * u[:, inv]
            z += np.float32(np.sqrt(self.split.idiosyncratic)) * rng.standard_normal((size, rows.size), dtype=np.float32)
            draws.append(z)
        out["energy"] = draws[0]
        out["time"] = np.float32(rho) * draws[0] + np.float32(np.sqrt(1 - rho**2)) * draws[1]
        uniq, inv = np.unique(self.accuracy_levels[rows], return_inverse=True)
        own = rng.standard_normal((size, uniq.size), dtype=np.float32)[:, inv]
        if self.accuracy_models is None:
            out["accuracy"] = own
            return out
        m_uniq, m_inv = np.unique(self.accuracy_models[rows], return_inverse=True)
        reference = rng.standard_normal((size, m_uniq.size), dtype=np.float32)[:, m_inv]
        r = self.accuracy_shared[rows].astype(np.float32)
        out["accuracy"] = np.sqrt(r)[None, :] * reference + np.sqrt(1.0 - r)[None, :] * own
        return out

    def sample(self, rows: Sequence[int] | np.ndarray, size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Samples of the conditional latents at ``rows`` (dict per quantity, (size, len(rows)))."""
        asked = np.asarray(rows, dtype=np.int64)
        # A row asked for twice (e.g. as a candidate and as another's fp16 baseline) is one draw.
        rows, back = np.unique(asked, return_inverse=True)
        if not self.observed:
            draw = self._prior_draw(rows, size, rng)
            return {q: v[:, back] for q, v in draw.items()}
        obs_rows = np.array(sorted(self.observed), dtype=np.int64)
        # One prior draw per distinct row: an observed row that is also asked for must be the
        # same draw (its idiosyncratic part included), or the correction would miss it.
        extra = obs_rows[~np.isin(obs_rows, rows)]
        allrows = np.concatenate([rows, extra])
        draw = self._prior_draw(allrows, size, rng)
        n = rows.size
        where = {int(r): i for i, r in enumerate(allrows.tolist())}
        for group, qs in (("et", ("energy", "time")), ("a", ("accuracy",))):
            solver = self._obs_solver(group)
            if solver is None:
                continue
            orows, kinds, vals, inv = solver
            pos = where
            # Prior sample at the observed latents, plus measurement noise.
            zo = np.stack(
                [draw[("energy", "time")[k] if group == "et" else "accuracy"][:, pos[r]] for r, k in zip(orows, kinds)], axis=1
            ) + OBSERVATION_NOISE * rng.standard_normal((size, orows.size)).astype(np.float32)
            resid = (vals[None, :] - zo) @ inv.T  # (size, n_obs)
            for q in qs:
                cross = self._cross(q, rows, orows, kinds)  # (n, n_obs)
                draw[q] = draw[q][:, :n] + (resid @ cross.T).astype(np.float32)
        return {q: draw[q][:, :n][:, back] for q in QUANTITIES}
