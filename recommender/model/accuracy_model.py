"""Accuracy of (model, task, quantization): measured, imputed from the model's other scores, or a prior.

Resolution for one candidate, each answer with a 90% interval, a status and a basis text:

1. ``measured`` - the (model, task, quantization) was scored (a leaderboard entry at that
   precision, a profiler row); a 16-bit candidate takes the model's 16-bit score (leaderboards
   ran the submitted fp16/bf16 checkpoint). Interval: ``+- 1.645 se``, se from the row or the
   binomial error over the task's item count (:data:`TASK_ITEMS`).
2. ``imputed`` - the model has scores on other tasks: its 16-bit score on the task is predicted
   from them (:mod:`recommender.model.accuracy_impute`: a regression on the other tasks chosen
   per model from the leaderboard matrix, gradient-boosted trees where enough models share the
   features, ridge otherwise), with an interval from that regression's family-grouped
   cross-validated residuals (split-conformal). A quantized candidate whose 16-bit score is
   measured or imputed adds the format's effect (below) and is ``imputed`` as well.
3. ``prior`` - the model has no score at all: its family's scored members, its size and its
   release date (a line over the catalogued models with scores plus the family's shrunk offset),
   else the size-only line over every scored model. The size line's upper end stays open (1):
   models that reach it were never scored, and newer models score higher at the same size.

Quantization effect of format ``q`` on task ``t``: measured pairs (the same model scored at
16 bits and at ``q`` in one source: leaderboard bitsandbytes/GPTQ/AWQ rows, quantized repos
mapped to their base, Intel's AutoRound tables) give deltas in points; per (format, task) with
at least :data:`MIN_TASK_PAIRS` pairs, else per format over all tasks. The shift is the mean
delta capped at 0 (rounding weights removes information; a positive mean is noise), its width
the deltas' 5-95 % range. A format with no pairs gets the pooled prior of its bit width (every
4-bit or 8-bit pair of any format, its full 5-95 % range), never "100 % kept". Profiler rows of
SmolLM2 are all dequantized from one Q4_1 GGUF file: they are measurements of those weights at
each compute precision, not pairs, and are never used as a quantization effect.

Tasks that are serving workloads (no score) get NaN accuracy (status ``prior``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

Z90 = 1.6448536269514722
"""Two-sided 90% standard-normal quantile."""

REFERENCE_QUANTS: tuple[str, ...] = ("bf16", "fp16", "fp32", "unknown")
"""Precisions whose score counts as the model's 16-bit reference accuracy."""
SIXTEEN_BIT: tuple[str, ...] = ("bf16", "fp16")
MIN_PRIOR_MODELS = 10
MIN_TASK_PAIRS = 5
"""Pairs of one (format, task) needed before that task gets its own effect."""
MIN_EFFECT_MODELS = 2
"""Distinct models a format's pairs must come from before its own effect is used."""
STATUSES: tuple[str, ...] = ("measured", "imputed", "prior")

TASK_ITEMS: dict[str, int] = {
    "mmlu": 14042, "hellaswag": 10042, "arc_challenge": 1172, "truthfulqa_mc2": 817, "winogrande": 1267,
    "gsm8k": 1319, "ifeval": 541, "bbh": 5761, "math_lvl5": 1324, "gpqa_mc": 1192, "musr": 756, "mmlu_pro": 12032,
}
"""Test items per task (the benchmarks' published test splits), for the binomial standard error."""

PAIR_ONLY_SOURCES: frozenset[str] = frozenset({"intel-autoround"})
"""Sources whose absolute scores use another setup (0-shot acc): pairs only, never a score."""
VENDOR_SOURCES: frozenset[str] = frozenset({"llm-stats-vendor-reported"})
"""Sources whose scores are vendors' own numbers: separate ``vendor:<task>`` matrix columns."""
SOURCE_PREFERENCE: tuple[str, ...] = (
    "open-llm-leaderboard-v1-final", "open-llm-leaderboard-v2", "open-llm-leaderboard-v1", "mlenergy-v1", "eai-profiler", "user",
)
"""Among sources scoring one (model, task), the first listed gives the model's score."""
DEQUANTIZED_MARK = "Q4_1.gguf"
"""Profiler ``source_ref`` text marking weights dequantized from one Q4_1 GGUF file."""

BITS: dict[str, int] = {
    "fp8": 8, "int8-bnb": 8, "int8-bnb-t0": 8, "dynamic-int8": 8,
    "nf4-bnb": 4, "fp4-bnb": 4, "gguf-q4": 4, "mxfp4": 4, "gptq-int4": 4, "awq-int4": 4,
    "autoround-int4": 4, "rtn-int4": 4, "gguf-q4_k_m": 4, "gguf-q4_0": 4,
}
"""Weight bits of each quantized format (for the pooled prior of a format without pairs)."""


def _hash_frame(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()


def _binomial_se(task: str, acc: float) -> float:
    n = TASK_ITEMS.get(task)
    if n is None:
        return float("nan")
    return float(np.sqrt(max(acc * (1 - acc), 1e-4) / n))


def prepare_scores(records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split score records into the model-task score table and the exact (model, task, quant) table.

    Args:
        records: Columns ``model_id, task, quantization, accuracy, source`` and optionally
            ``accuracy_stderr, chat_template, source_ref, params_b, architecture, base_model``.

    Returns:
        ``(reference, exact)``: reference = one 16-bit score per (model, column) with ``se`` and
        ``source`` (column = task, or ``vendor:<task>`` for vendor numbers); exact = one score
        per (model, task, quantization) from score sources (not pair-only ones).
    """
    r = records.copy()
    for col, default in (("accuracy_stderr", np.nan), ("chat_template", None), ("source_ref", ""), ("base_model", "")):
        if col not in r:
            r[col] = default
    r = r[~r["source"].isin(PAIR_ONLY_SOURCES)]
    r["accuracy"] = pd.to_numeric(r["accuracy"], errors="coerce").astype(float)
    r["accuracy_stderr"] = pd.to_numeric(r["accuracy_stderr"], errors="coerce").astype(float)
    r["column"] = np.where(r["source"].isin(VENDOR_SOURCES), "vendor:" + r["task"].astype(str), r["task"].astype(str))
    # v2: an instruct model scored without its chat template reads far lower; where a model
    # has templated and untemplated runs, only the templated ones count.
    tmpl = r["chat_template"].astype(str).str.lower().eq("true")
    has_tmpl = tmpl.groupby([r["model_id"], r["column"]]).transform("any")
    r = r[~has_tmpl | tmpl]
    rank = {s: i for i, s in enumerate(SOURCE_PREFERENCE)}
    r = r.assign(src_rank=r["source"].map(lambda s: rank.get(s, len(rank))))
    r = r.assign(dequant=r["source_ref"].astype(str).str.contains(DEQUANTIZED_MARK, regex=False))
    scored = r[r["column"] == r["task"]]
    # One source per (model, task, quantization): the preferred one (setups differ between sources).
    scored = scored[scored["src_rank"] == scored.groupby(["model_id", "task", "quantization"])["src_rank"].transform("min")]
    exact = (
        scored
        .sort_values("src_rank", kind="stable")
        .groupby(["model_id", "task", "quantization"], sort=True)
        .agg(accuracy=("accuracy", "mean"), se=("accuracy_stderr", "mean"), source=("source", "first"),
             src_rank=("src_rank", "min"), dequant=("dequant", "any"), n=("accuracy", "size"))
        .reset_index()
    )
    # Keep only the best source's rows for each (model, task, quant).
    ref = r[r["quantization"].isin(REFERENCE_QUANTS)]
    best = ref.groupby(["model_id", "column"])["src_rank"].transform("min")
    ref = ref[ref["src_rank"] == best]
    reference = (
        ref.groupby(["model_id", "column"], sort=True)
        .agg(accuracy=("accuracy", "mean"), se=("accuracy_stderr", "mean"), source=("source", "first"),
             spread=("accuracy", "std"), dequant=("dequant", "any"))
        .reset_index()
    )
    return reference, exact


def quantization_pairs(records: pd.DataFrame) -> pd.DataFrame:
    """Measured (16-bit, quantized) pairs: same model, task and source; deltas in fraction units.

    Profiler rows dequantized from one Q4_1 file are left out (their precisions are one set
    of weights, not a quantization of a 16-bit model).
    """
    r = records.copy()
    if "source_ref" not in r:
        r["source_ref"] = ""
    r = r[~r["source_ref"].astype(str).str.contains(DEQUANTIZED_MARK, regex=False)]
    r = r[~r["source"].isin(VENDOR_SOURCES)]
    keys = ["source", "model_id", "task"]
    ref = r[r["quantization"].isin(REFERENCE_QUANTS)].groupby(keys)["accuracy"].mean().rename("ref")
    quant = r[~r["quantization"].isin(REFERENCE_QUANTS)].groupby([*keys, "quantization"])["accuracy"].mean().reset_index()
    pairs = quant.join(ref, on=keys, how="inner")
    pairs["delta"] = pairs["accuracy"] - pairs["ref"]
    return pairs[[*keys, "quantization", "delta"]].reset_index(drop=True)


def learn_effects(pairs: pd.DataFrame) -> dict[str, Any]:
    """Per-format (and per-task where pairs suffice) effects plus pooled priors by bit width."""

    def summary(d: np.ndarray, models: int) -> dict[str, float]:
        return {
            "mean": float(min(d.mean(), 0.0)),
            "measured_mean": float(d.mean()),
            "q05": float(np.quantile(d, 0.05)),
            "q95": float(np.quantile(d, 0.95)),
            "n": float(len(d)),
            "models": float(models),
        }

    formats: dict[str, Any] = {}
    for q, grp in pairs.groupby("quantization"):
        entry = {"all": summary(grp["delta"].to_numpy(), grp["model_id"].nunique()), "tasks": {}}
        for t, g in grp.groupby("task"):
            if len(g) >= MIN_TASK_PAIRS:
                entry["tasks"][str(t)] = summary(g["delta"].to_numpy(), g["model_id"].nunique())
        formats[str(q)] = entry
    pooled: dict[str, Any] = {}
    bits = pairs["quantization"].map(BITS)
    for b in (4, 8):
        d = pairs.loc[bits == b, "delta"].to_numpy()
        if len(d):
            pooled[str(b)] = summary(d, pairs.loc[bits == b, "model_id"].nunique())
    allq = pairs["delta"].to_numpy()
    if len(allq):
        pooled["any"] = summary(allq, pairs["model_id"].nunique())
    return {"formats": formats, "pooled": pooled}


def _effect_for(effects: Mapping[str, Any], q: str, task: str) -> tuple[float, float, float, str]:
    """``(shift, lo_offset, hi_offset, basis)`` of format ``q`` on ``task`` (fraction units)."""
    if q in REFERENCE_QUANTS:
        return 0.0, 0.0, 0.0, ""
    fmt = effects["formats"].get(q)
    if fmt is not None and fmt["all"]["models"] >= MIN_EFFECT_MODELS:
        e = fmt["tasks"].get(task, fmt["all"])
        scope = f"on {task}" if task in fmt["tasks"] else "over all tasks"
        basis = f"{q} effect {e['mean'] * 100:+.1f} pts from {int(e['n'])} pairs ({int(e['models'])} models, {scope})"
        return e["mean"], min(e["q05"] - e["mean"], 0.0), max(e["q95"] - e["mean"], 0.0), basis
    bits = BITS.get(q)
    pooled = effects["pooled"].get(str(bits)) or effects["pooled"].get("any")
    if pooled is None:
        return 0.0, -0.10, 0.0, f"quantization {q}: no pairs at all, 10-point downside assumed"
    basis = (f"quantization {q}: pooled {bits}-bit prior from {int(pooled['n'])} pairs of other formats "
             f"(no {q} pairs), full width")
    # Full width: the pooled deltas' whole 5-95 % range around the pooled mean.
    return pooled["mean"], min(pooled["q05"] - pooled["mean"], 0.0), max(pooled["q95"] - pooled["mean"], 0.0), basis


def _size_line(reference: pd.DataFrame, params_b: Mapping[str, float]) -> dict[str, dict[str, float]]:
    priors: dict[str, dict[str, float]] = {}
    for task, grp in reference[~reference["column"].str.startswith("vendor:")].groupby("column"):
        size = grp["model_id"].map(lambda m: params_b.get(m, np.nan)).astype(float)
        ok = np.isfinite(size) & (size > 0)
        if ok.sum() < MIN_PRIOR_MODELS:
            continue
        x = np.log(size[ok].to_numpy())
        y = grp["accuracy"][ok].to_numpy()
        slope, intercept = np.polyfit(x, y, 1)
        res = y - (intercept + slope * x)
        priors[str(task)] = {
            "intercept": float(intercept), "slope": float(slope),
            "q05": float(np.quantile(res, 0.05)), "q95": float(np.quantile(res, 0.95)), "n": float(ok.sum()),
            "size_min_b": float(size[ok].min()), "size_max_b": float(size[ok].max()),
        }
    return priors


def _size_prior(p: Mapping[str, float], size_b: np.ndarray, chance: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point and 90% interval of one task's size-only prior (upper end open, see module doc)."""
    size_min = float(p.get("size_min_b", 0.0))
    size_max = float(p.get("size_max_b", np.inf))
    known = np.isfinite(size_b) & (size_b > 0)
    safe = np.where(known, size_b, 1.0)
    mu = p["intercept"] + p["slope"] * np.log(safe)
    lo = mu + p["q05"]
    hi = np.ones_like(mu)
    lo = np.where(known & (safe < size_min), chance, lo)
    lo = np.where(known & (safe > size_max), p["intercept"] + p["slope"] * np.log(size_max) + p["q05"], lo)
    point = np.clip(mu, chance, 1.0)
    lo, hi = np.clip(lo, chance, 1.0), np.clip(hi, chance, 1.0)
    return (np.where(known, point, (chance + 1.0) / 2.0), np.where(known, lo, chance), np.where(known, hi, 1.0))


class AccuracyModel:
    """Fitted accuracy table for known models + quantization effects + size prior (JSON state).

    ``state["table"]`` holds one row per (model, task) of every model the fit was asked about
    (the catalog and the measured table's models): the 16-bit point, interval, status and
    basis; ``state["exact"]`` the scores measured at a stated precision.
    """

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.state = dict(state)
        table = pd.DataFrame(state["table"], columns=["model_id", "task", "accuracy", "lo", "hi", "status", "basis"])
        self._table = table.set_index(table["model_id"] + "|" + table["task"])
        exact = pd.DataFrame(state["exact"], columns=["model_id", "task", "quantization", "accuracy", "se", "source", "dequant"])
        self._exact = exact.set_index(exact["model_id"] + "|" + exact["task"] + "|" + exact["quantization"])
        self.effects: dict[str, Any] = dict(state["effects"])
        self.priors: dict[str, dict[str, float]] = {k: dict(v) for k, v in state["priors"].items()}

    @classmethod
    def fit(
        cls,
        records: pd.DataFrame,
        params_b: Mapping[str, float],
        families: Mapping[str, tuple[str, float | None]] | None = None,
    ) -> AccuracyModel:
        """Fit from score records (memoized on the inputs' content: grouped refits reuse it).

        Args:
            records: Columns ``model_id, task, quantization, accuracy, source`` (+ optional
                ``accuracy_stderr, chat_template, source_ref, params_b, architecture``).
            params_b: Total parameters (billions) per model id the predictor may ask about.
            families: Catalog family and release year per model id (default: the catalog).
        """
        extra = repr(sorted(params_b.items())) + repr(sorted(families.items()) if families is not None else None)
        key = _hash_frame(records) + hashlib.sha256(extra.encode()).hexdigest()
        return cls(_fit_state(key, records, dict(params_b), families))

    def predict(
        self,
        model_id: pd.Series,
        task: pd.Series,
        quantization: pd.Series,
        params_total_b: np.ndarray,
        chance: np.ndarray,
        scored: np.ndarray,
    ) -> pd.DataFrame:
        """Accuracy with 90% interval, status and basis for each row.

        Returns:
            Frame with ``accuracy, accuracy_lo, accuracy_hi, accuracy_status, accuracy_basis``.
        """
        n = len(model_id)
        m = model_id.astype(str).to_numpy()
        t = task.astype(str).to_numpy()
        q = quantization.astype(str).to_numpy()
        acc, lo, hi = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        status = np.full(n, "prior", dtype=object)
        basis = np.full(n, "", dtype=object)
        scored = np.asarray(scored, dtype=bool)
        mt = pd.Index(np.char.add(np.char.add(m.astype(str), "|"), t.astype(str)))
        ti = self._table.index.get_indexer(mt)
        ex = self._exact.index.get_indexer(pd.Index(np.char.add(np.char.add(mt.to_numpy().astype(str), "|"), q.astype(str))))
        # Columns as arrays once: a pandas row lookup per distinct cell cost ~4 s per million
        # candidates (bench/fit_predict_speed.py).
        tab = self._table
        t_acc, t_lo, t_hi = (tab[c].to_numpy() for c in ("accuracy", "lo", "hi"))
        t_status, t_basis = tab["status"].to_numpy(dtype=object), tab["basis"].to_numpy(dtype=object)
        x = self._exact
        x_acc, x_se = x["accuracy"].to_numpy(dtype=float), x["se"].to_numpy(dtype=float)
        x_source, x_dequant = x["source"].to_numpy(dtype=object), x["dequant"].to_numpy()
        for i in range(n):
            if not scored[i]:
                basis[i] = "workload: no accuracy score"
                continue
            if ex[i] >= 0:
                j = ex[i]
                a_ex = x_acc[j]
                se = x_se[j] if np.isfinite(x_se[j]) else _binomial_se(t[i], a_ex)
                se = se if np.isfinite(se) else 0.02
                acc[i], lo[i], hi[i] = a_ex, a_ex - Z90 * se, a_ex + Z90 * se
                status[i] = "measured"
                basis[i] = f"measured at {q[i]} ({x_source[j]})" + (
                    "; weights dequantized from one Q4_1 GGUF file" if x_dequant[j] else "")
                continue
            if ti[i] >= 0:
                j = ti[i]
                a0, l0, h0, st, b0 = t_acc[j], t_lo[j], t_hi[j], t_status[j], t_basis[j]
            else:
                p = self.priors.get(t[i])
                if p is None:
                    a0, l0, h0 = (chance[i] + 1) / 2, chance[i], 1.0
                    b0 = "prior: nothing scored this task"
                else:
                    pa, pl, ph = _size_prior(p, np.array([params_total_b[i]]), np.array([chance[i]]))
                    a0, l0, h0 = pa[0], pl[0], ph[0]
                    b0 = "prior: size only (model not in the fitted table)"
                st = "prior"
            shift, dlo, dhi, qb = _effect_for(self.effects, q[i], t[i])
            acc[i] = a0 + shift
            # Interval ends add in quadrature around the shifted point.
            lo[i] = acc[i] - np.hypot(a0 - l0, dlo)
            hi[i] = acc[i] + np.hypot(h0 - a0, dhi)
            status[i] = "measured" if (st == "measured" and not qb) else ("prior" if st == "prior" else "imputed")
            basis[i] = "; ".join(x for x in (b0, qb) if x)
        floor = np.where(status == "prior", chance, 0.0)
        acc = np.where(scored, np.clip(acc, floor, 1.0), np.nan)
        lo = np.where(scored, np.clip(np.minimum(lo, acc), 0.0, 1.0), np.nan)
        hi = np.where(scored, np.clip(np.maximum(hi, acc), 0.0, 1.0), np.nan)
        return pd.DataFrame(
            {"accuracy": acc, "accuracy_lo": lo, "accuracy_hi": hi, "accuracy_status": status, "accuracy_basis": basis},
            index=model_id.index,
        )


_STATES: dict[str, dict[str, Any]] = {}
"""Fitted states by input hash: the predictor's grouped refits share one accuracy table, so the
accuracy model (whose trees take seconds) is fitted once per distinct input, not once per fold."""


def _fit_state(key: str, records: pd.DataFrame, params_b: dict[str, float], families: Mapping[str, Any] | None) -> dict[str, Any]:
    if key in _STATES:
        return _STATES[key]
    from recommender.model.accuracy_impute import Imputer, catalog_families

    fams = dict(families) if families is not None else catalog_families()
    reference, exact = prepare_scores(records)
    effects = learn_effects(quantization_pairs(records))
    # Parameter counts: the caller's (catalog) first, then what the sources state.
    sizes = dict(params_b)
    if "params_b" in records:
        stated = records.dropna(subset=["params_b"]).groupby("model_id")["params_b"].first()
        for mid, v in stated.items():
            sizes.setdefault(str(mid), float(v))
    priors = _size_line(reference, sizes)
    arch = records.groupby("model_id")["architecture"].first().to_dict() if "architecture" in records else {}
    imputer = Imputer(reference, sizes, arch, fams)
    wanted = sorted(set(params_b))
    table = imputer.table(wanted, list(TASK_ITEMS), priors)
    ex = exact[exact["model_id"].isin(set(wanted))]
    state = {
        "format": 2,
        "table": table[["model_id", "task", "accuracy", "lo", "hi", "status", "basis"]].values.tolist(),
        "exact": [
            [r.model_id, r.task, r.quantization, float(r.accuracy),
             float(r.se) if np.isfinite(r.se) else float("nan"), r.source, bool(r.dequant)]
            for r in ex.itertuples()
        ],
        "effects": effects,
        "priors": priors,
        "imputation": imputer.summary(),
    }
    _STATES[key] = state
    return state
