"""Accuracy of (model, task, quantization): measured where it was, quantization effect, or a prior.

Resolution order for one candidate (each with its 90% interval and status):

1. ``measured`` - the exact (model, task, quantization) was scored (profiler rows of the
   measured table; a leaderboard score counts for the precision it was run at, where the
   source states one). Interval: ``acc +- 1.645 * stderr`` (stderr from the row, or the
   binomial ``sqrt(p(1-p)/n)``, or the median stderr of the table when neither is known).
2. ``interpolated`` - the model's *reference* accuracy on the task is known (any measured
   precision among fp32/bf16/fp16, or a leaderboard score of unstated precision) and the
   effect of the candidate quantization is learned from measured pairs (same model, task
   and source; quantized minus reference). Point: ``ref + mean effect``, the effect capped
   at 0 (a quantized model is not expected to beat its own reference; a positive mean is
   noise); interval from the reference's stderr and the spread of the pair effects, in
   quadrature.
   ``extrapolated`` instead when no pair measured that quantization (effect assumed 0, width
   from the largest pooled |effect| seen) or the model is more than 2x larger or smaller
   than every model the pairs came from (the effect's size is then uncertain: its full
   magnitude is added to the width).
3. ``prior`` - nothing measured for the model on the task: a per-task regression of score
   on log(total parameters) over every scored model of known size. The point is the line;
   the interval ``[line + q05, 1]`` inside the size range the line was fitted on (q05: the
   residuals' 5% quantile). Its upper end is open because a model that reaches the prior was
   never scored by the leaderboard: most are newer than its 2023 snapshot, and newer models
   score higher at the same size (LLaMA-1 7B 0.357 vs Llama-2 7B 0.44-0.47 on MMLU in the
   snapshot itself, five months apart). Outside the size range the line is an extrapolation,
   so only the lower bound is kept, on the assumption that benchmark accuracy does not fall
   as the same family of models grows (monotone in size): a model smaller than every fitted
   one gets ``[chance, 1]``, a larger one ``[line(size_max) + q05, 1]``. The
   point is the line's value clipped to [chance, 1] everywhere, and interval ends are
   clipped to [chance, 1] as well: a prediction below random guessing has no support.
   A task with fewer than 10 scored models, or a candidate of unknown size, gets the
   uninformative [chance, 1] with its midpoint as point. The quantization shift and
   widening of point 2 apply on top before that final clip. The monotone assumption is
   known not to hold for every benchmark (TruthfulQA reported larger models as less
   truthful, Lin et al. 2022, arXiv:2109.07958), so the bound can miss there.

Tasks that are serving workloads (no score) get NaN accuracy (status ``prior``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

Z90 = 1.6448536269514722
"""Two-sided 90% standard-normal quantile."""

REFERENCE_QUANTS: tuple[str, ...] = ("fp32", "bf16", "fp16", "unknown")
"""Precisions whose score counts as the model's reference accuracy, best first."""

MIN_PRIOR_MODELS = 10
SIZE_FACTOR = 2.0


def _se(acc: pd.Series, stderr: pd.Series, n: pd.Series) -> pd.Series:
    binom = np.sqrt(np.clip(acc * (1 - acc), 1e-6, None) / n)
    return stderr.fillna(binom)


def _size_prior(p: Mapping[str, float], size_b: np.ndarray, chance: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point and 90% interval of one task's size prior, before any quantization shift.

    The point is the regression line (the leaderboard population's typical score at that
    size). The lower end is the line's 5% residual quantile inside the fitted size range;
    outside it, assuming accuracy does not fall with size, a larger model keeps the lower end
    at the largest fitted size and a smaller one goes down to chance. The upper end is 1 at
    every size: models that reach the prior are not in the leaderboard's population (mostly
    newer ones, which score higher at the same size), so its upper band does not bound them.

    Args:
        p: Prior of one task (``intercept, slope, q05, q95`` and, from states written since
            they were added, ``size_min_b, size_max_b`` in billions of parameters; absent
            means the range is unbounded, the old behaviour).
        size_b: Total parameters per row, billions.
        chance: Chance score per row.

    Returns:
        ``(point, lo, hi)`` arrays, clipped to [chance, 1]; the uninformative
        ``[chance, 1]`` with its midpoint where the size is unknown.
    """
    size_min = float(p.get("size_min_b", np.nan))
    size_max = float(p.get("size_max_b", np.nan))
    size_min = size_min if np.isfinite(size_min) else 0.0
    size_max = size_max if np.isfinite(size_max) else np.inf
    known = np.isfinite(size_b) & (size_b > 0)
    safe = np.where(known, size_b, 1.0)

    def line(x: np.ndarray | float) -> np.ndarray:
        return p["intercept"] + p["slope"] * np.log(x)

    mu = line(safe)
    lo = mu + p["q05"]
    # Open above at every size: a model that reaches the prior was not scored by the
    # leaderboard the line is fitted on, most often because it is newer, and newer models
    # score higher at the same size (in the shared snapshot itself, LLaMA-1 7B of February
    # 2023 has MMLU 0.357 and Llama-2 7B of July 2023 0.44-0.47). The snapshot's residual
    # band says nothing about them; only the lower end carries over.
    hi = np.ones_like(mu)
    smaller = known & (safe < size_min)
    larger = known & (safe > size_max)
    if smaller.any():
        lo[smaller] = chance[smaller]
    if larger.any():
        lo[larger] = line(size_max) + p["q05"]
    point = np.clip(mu, chance, 1.0)
    lo = np.clip(lo, chance, 1.0)
    hi = np.clip(hi, chance, 1.0)
    point = np.where(known, point, (chance + 1.0) / 2.0)
    lo = np.where(known, lo, chance)
    hi = np.where(known, hi, 1.0)
    return point, lo, hi


class AccuracyModel:
    """Fitted accuracy lookup + quantization effects + size prior (JSON state)."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.state = dict(state)
        exact = pd.DataFrame(state["exact"], columns=["model_id", "task", "quantization", "accuracy", "se"])
        self._exact = exact.set_index(exact["model_id"] + "|" + exact["task"] + "|" + exact["quantization"])
        ref = pd.DataFrame(state["reference"], columns=["model_id", "task", "accuracy", "se"])
        self._ref = ref.set_index(ref["model_id"] + "|" + ref["task"])
        self.effects: dict[str, dict[str, float]] = {k: dict(v) for k, v in state["effects"].items()}
        self.priors: dict[str, dict[str, float]] = {k: dict(v) for k, v in state["priors"].items()}
        self.pooled_effect = float(state["pooled_effect"])
        self.default_se = float(state["default_se"])

    @classmethod
    def fit(cls, records: pd.DataFrame, params_b: Mapping[str, float]) -> AccuracyModel:
        """Fit from score records.

        Args:
            records: Columns ``model_id, task, quantization, accuracy, accuracy_stderr,
                accuracy_n, source`` (quantization ``unknown`` where the source does not say).
            params_b: Total parameters (billions) per model id, for the size prior.
        """
        r = records.copy()
        r["accuracy"] = r["accuracy"].astype(float)
        se = _se(r["accuracy"], pd.to_numeric(r["accuracy_stderr"], errors="coerce"), pd.to_numeric(r["accuracy_n"], errors="coerce"))
        default_se = float(np.nanmedian(se)) if np.isfinite(se).any() else 0.02
        r["se"] = se.fillna(default_se)
        exact = (
            r.groupby(["model_id", "task", "quantization"], sort=True)
            .agg(accuracy=("accuracy", "mean"), se=("se", lambda s: float(np.sqrt(np.mean(s**2) / len(s)))), spread=("accuracy", "std"))
            .reset_index()
        )
        exact["se"] = np.sqrt(exact["se"] ** 2 + exact["spread"].fillna(0.0) ** 2)
        # Reference per (model, task): best reference precision available, across sources.
        rank = {q: i for i, q in enumerate(REFERENCE_QUANTS)}
        refs = exact[exact["quantization"].isin(REFERENCE_QUANTS)].copy()
        refs["rank"] = refs["quantization"].map(rank)
        refs = refs.sort_values("rank").groupby(["model_id", "task"], sort=True).first().reset_index()
        # Quantization effects: pairs within one source, quantized minus that source's reference.
        effects: dict[str, dict[str, float]] = {}
        deltas_all: list[float] = []
        per_source = r.groupby(["source", "model_id", "task", "quantization"], sort=True)["accuracy"].mean().reset_index()
        per_source["rank"] = per_source["quantization"].map(rank)
        keys = ["source", "model_id", "task"]
        best = (
            per_source.dropna(subset=["rank"])
            .sort_values("rank", kind="stable")
            .groupby(keys, sort=False)
            .first()[["quantization", "accuracy"]]
            .rename(columns={"quantization": "ref_quantization", "accuracy": "ref_accuracy"})
            .reset_index()
        )
        joined = per_source.merge(best, on=keys, how="inner")
        joined = joined[joined["quantization"] != joined["ref_quantization"]]
        pairs = pd.DataFrame(
            {
                "quantization": joined["quantization"].to_numpy(),
                "model_id": joined["model_id"].to_numpy(),
                "delta": (joined["accuracy"] - joined["ref_accuracy"]).to_numpy(),
            }
        )
        for q, grp in pairs.groupby("quantization"):
            sizes = [float(params_b.get(m, np.nan)) for m in grp["model_id"]]
            sizes = [s for s in sizes if np.isfinite(s)]
            measured_mean = float(grp["delta"].mean())
            effects[str(q)] = {
                # Rounding weights removes information, so no precision is expected to score
                # above the model's reference: a positive mean over pairs is sampling noise
                # (SmolLM2's nf4-bnb +0.018 over five tasks, sd 0.025) and would make a
                # quantized model look more accurate than itself. The shift is capped at 0;
                # the pairs' spread still widens the interval both ways.
                "mean": min(measured_mean, 0.0),
                "measured_mean": measured_mean,
                "sd": float(grp["delta"].std(ddof=1)) if len(grp) > 1 else float(abs(grp["delta"].iloc[0])),
                "n": float(len(grp)),
                "size_min_b": float(min(sizes)) if sizes else float("nan"),
                "size_max_b": float(max(sizes)) if sizes else float("nan"),
            }
            deltas_all.extend(grp["delta"].abs().tolist())
        pooled = float(np.quantile(deltas_all, 0.9)) if deltas_all else 0.05
        # Size prior per task over reference scores.
        priors: dict[str, dict[str, float]] = {}
        for task, grp in refs.groupby("task"):
            size = grp["model_id"].map(lambda m: params_b.get(m, np.nan)).astype(float)
            ok = np.isfinite(size) & (size > 0)
            if ok.sum() < MIN_PRIOR_MODELS:
                continue
            x = np.log(size[ok].to_numpy())
            yv = grp["accuracy"][ok].to_numpy()
            slope, intercept = np.polyfit(x, yv, 1)
            res = yv - (intercept + slope * x)
            priors[str(task)] = {
                "intercept": float(intercept),
                "slope": float(slope),
                "q05": float(np.quantile(res, 0.05)),
                "q95": float(np.quantile(res, 0.95)),
                "n": float(ok.sum()),
                # The fitted size range: outside it predict() keeps only a monotone bound.
                "size_min_b": float(size[ok].min()),
                "size_max_b": float(size[ok].max()),
            }
        state = {
            "exact": exact[["model_id", "task", "quantization", "accuracy", "se"]].values.tolist(),
            "reference": refs[["model_id", "task", "accuracy", "se"]].values.tolist(),
            "effects": effects,
            "priors": priors,
            "pooled_effect": pooled,
            "default_se": default_se,
        }
        return cls(state)

    def predict(
        self,
        model_id: pd.Series,
        task: pd.Series,
        quantization: pd.Series,
        params_total_b: np.ndarray,
        chance: np.ndarray,
        scored: np.ndarray,
    ) -> pd.DataFrame:
        """Accuracy with 90% interval and status for each row (vectorized lookups).

        Args:
            model_id, task, quantization: Candidate keys.
            params_total_b: Total parameters (billions) per row.
            chance: Chance score of the task per row.
            scored: Whether the task has a score at all (benchmarks) per row.

        Returns:
            Frame with ``accuracy, accuracy_lo, accuracy_hi, accuracy_status``.
        """
        n = len(model_id)
        m = model_id.astype(str).to_numpy()
        t = task.astype(str).to_numpy()
        q = quantization.astype(str).to_numpy()
        acc = np.full(n, np.nan)
        lo = np.full(n, np.nan)
        hi = np.full(n, np.nan)
        status = np.full(n, "prior", dtype=object)

        # 3. prior (filled first, overwritten by better information)
        prior_acc = np.full(n, np.nan)
        prior_lo = np.full(n, np.nan)
        prior_hi = np.full(n, np.nan)
        for task_id in np.unique(t):
            rows = t == task_id
            p = self.priors.get(str(task_id))
            if p is None:
                prior_lo[rows] = chance[rows]
                prior_hi[rows] = 1.0
                prior_acc[rows] = (chance[rows] + 1.0) / 2.0
            else:
                prior_acc[rows], prior_lo[rows], prior_hi[rows] = _size_prior(p, params_total_b[rows], chance[rows])
        acc[:] = prior_acc
        lo[:] = prior_lo
        hi[:] = prior_hi

        # quantization effect per row
        eff_mean = np.zeros(n)
        eff_sd = np.full(n, self.pooled_effect / Z90)
        eff_known = np.zeros(n, dtype=bool)
        size_ok = np.zeros(n, dtype=bool)
        is_ref = np.isin(q, REFERENCE_QUANTS)
        for qname, e in self.effects.items():
            rows = q == qname
            eff_mean[rows] = e["mean"]
            eff_sd[rows] = e["sd"]
            eff_known[rows] = e["n"] >= 2
            if np.isfinite(e["size_min_b"]):
                size_ok[rows] = (params_total_b[rows] >= e["size_min_b"] / SIZE_FACTOR) & (
                    params_total_b[rows] <= e["size_max_b"] * SIZE_FACTOR
                )
        # A reference precision without pair data: effect 0, no extra width.
        ref_no_pairs = is_ref & ~np.isin(q, list(self.effects))
        eff_sd[ref_no_pairs] = 0.0
        eff_known[ref_no_pairs] = True
        size_ok[ref_no_pairs] = True
        # Unmeasured size: the effect's own magnitude is uncertain, add it to the spread.
        eff_sd_total = np.where(size_ok, eff_sd, np.sqrt(eff_sd**2 + (eff_mean / Z90) ** 2))

        # Prior rows also carry the quantization shift (centre moves, width grows).
        acc = acc + eff_mean
        lo = lo + eff_mean - Z90 * eff_sd_total
        hi = hi + eff_mean + Z90 * eff_sd_total

        # 2. reference + effect
        ref_idx = self._ref.index.get_indexer(pd.Index(np.char.add(np.char.add(m.astype(str), "|"), t.astype(str))))
        has_ref = ref_idx >= 0
        if has_ref.any():
            ra = self._ref["accuracy"].to_numpy()[ref_idx[has_ref]]
            rs = self._ref["se"].to_numpy()[ref_idx[has_ref]]
            half = Z90 * np.sqrt(rs**2 + eff_sd_total[has_ref] ** 2)
            acc[has_ref] = ra + eff_mean[has_ref]
            lo[has_ref] = acc[has_ref] - half
            hi[has_ref] = acc[has_ref] + half
            status[has_ref] = np.where(eff_known[has_ref] & size_ok[has_ref], "interpolated", "extrapolated")

        # 1. exact measurement
        keys = np.char.add(np.char.add(np.char.add(np.char.add(m.astype(str), "|"), t.astype(str)), "|"), q.astype(str))
        ex_idx = self._exact.index.get_indexer(pd.Index(keys))
        # A leaderboard score of unstated precision was run at 16 bits (fp16/bf16 checkpoints):
        # it is the measurement for a 16-bit candidate.
        sixteen = np.isin(q, ("fp16", "bf16")) & (ex_idx < 0)
        if sixteen.any():
            keys16 = np.char.add(np.char.add(np.char.add(m.astype(str), "|"), t.astype(str)), "|unknown")
            ex16 = self._exact.index.get_indexer(pd.Index(keys16))
            ex_idx = np.where(sixteen, ex16, ex_idx)
        has_ex = ex_idx >= 0
        if has_ex.any():
            ea = self._exact["accuracy"].to_numpy()[ex_idx[has_ex]]
            es = self._exact["se"].to_numpy()[ex_idx[has_ex]]
            acc[has_ex] = ea
            lo[has_ex] = ea - Z90 * es
            hi[has_ex] = ea + Z90 * es
            status[has_ex] = "measured"

        lo = np.maximum(lo, np.where(has_ex, 0.0, chance))
        lo = np.clip(lo, 0.0, 1.0)
        hi = np.clip(hi, 0.0, 1.0)
        # A prior cannot justify a score below random guessing; a measurement or a measured
        # reference plus effect can (a real model can score under chance), so only prior rows.
        is_prior = ~has_ex & ~has_ref
        acc = np.clip(acc, np.where(is_prior, chance, 0.0), 1.0)
        lo = np.minimum(lo, acc)
        hi = np.maximum(hi, acc)
        unscored = ~np.asarray(scored, dtype=bool)
        acc[unscored] = np.nan
        lo[unscored] = np.nan
        hi[unscored] = np.nan
        status[unscored] = "prior"
        return pd.DataFrame(
            {"accuracy": acc, "accuracy_lo": lo, "accuracy_hi": hi, "accuracy_status": status},
            index=model_id.index,
        )
