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
at least :data:`MIN_TASK_PAIRS` pairs, else per format over all tasks. The shift is the median
delta capped at 0 (rounding weights removes information; a positive one is noise), its width
the deltas' 5-95 % range. A pair whose quantized run scored at chance while its 16-bit model
did not is a failed evaluation, not an effect, and is left out (:func:`quantization_pairs`):
22 of the Open LLM Leaderboard's GPTQ pairs (9 MMLU at 0.24-0.26 beside 16-bit 0.35-0.77, 9
HellaSwag at 0.25-0.27 beside 0.63-0.86, 2 Winogrande, 1 ARC, 1 GSM8K at 0 beside 0.60), and
with them the (mean) GPTQ effect on MMLU was -10.5 points.
Leave-one-model-out over every pair, error of the predicted delta (median / mean absolute):
the mean of all pairs 0.84 / 3.24 points, without the failed runs 0.69 / 2.35, their median
0.53 / 2.09. A format with no pairs gets the pooled prior of its bit width (every
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
"""Sources whose absolute scores use another setup (0-shot acc): never a model's score; their
16-bit scores are side columns (:data:`SIDE_COLUMNS`) and their quantized ones give pairs."""
VENDOR_SOURCES: frozenset[str] = frozenset({"llm-stats-vendor-reported"})
"""Sources whose scores are vendors' own numbers: separate ``vendor:<task>`` matrix columns."""
SIDE_COLUMNS: dict[str, str] = {"llm-stats-vendor-reported": "vendor:", "intel-autoround": "intel:"}
"""Source -> prefix of the matrix columns its 16-bit scores fill: scores of another setup that
the imputation maps onto the leaderboards' (``recommender.model.accuracy_impute``), never a
model's own score."""


def is_side_column(column: str) -> bool:
    """Whether a score-matrix column holds another setup's scores (``vendor:mmlu``, ``intel:mmlu``)."""
    return column.startswith(tuple(SIDE_COLUMNS.values()))
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
        ``source`` (column = task, or a side column such as ``vendor:<task>``); exact = one score
        per (model, task, quantization) from score sources (not pair-only ones).
    """
    r = records.copy()
    for col, default in (("accuracy_stderr", np.nan), ("chat_template", None), ("source_ref", ""), ("base_model", "")):
        if col not in r:
            r[col] = default
    # Pair-only sources fill side columns with their 16-bit scores, never a model's score.
    r = r[~r["source"].isin(PAIR_ONLY_SOURCES) | r["quantization"].isin(REFERENCE_QUANTS)]
    r["accuracy"] = pd.to_numeric(r["accuracy"], errors="coerce").astype(float)
    r["accuracy_stderr"] = pd.to_numeric(r["accuracy_stderr"], errors="coerce").astype(float)
    prefix = r["source"].map(SIDE_COLUMNS).fillna("")
    r["column"] = prefix + r["task"].astype(str)
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


FAILED_RUN_CHANCE_POINTS = 0.02
"""A quantized score this close to the task's chance is a guess (1.5 binomial standard errors of
a 1,000-item test at p = 0.25) ..."""
FAILED_RUN_REFERENCE_POINTS = 0.10
"""... where its 16-bit model scored this far above chance (the decision flow's chance margin for
4-choice tests): a 4-bit weight rounding does not erase a model that knows the answers, a
failed evaluation (wrong loader, broken kernel, mis-parsed output) does."""


def quantization_pairs(records: pd.DataFrame, chance: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Measured (16-bit, quantized) pairs: same model, task and source; deltas in fraction units.

    Profiler rows dequantized from one Q4_1 file are left out (their precisions are one set
    of weights, not a quantization of a 16-bit model), and with ``chance`` (task -> chance
    score) so are failed runs: a quantized score within :data:`FAILED_RUN_CHANCE_POINTS` of
    chance beside a 16-bit one at least :data:`FAILED_RUN_REFERENCE_POINTS` above it.
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
    if chance:
        c = pairs["task"].map(lambda t: chance.get(str(t), np.nan)).astype(float)
        failed = (pairs["accuracy"] <= c + FAILED_RUN_CHANCE_POINTS) & (pairs["ref"] >= c + FAILED_RUN_REFERENCE_POINTS)
        pairs = pairs[~failed.to_numpy()]
    return pairs[[*keys, "quantization", "delta"]].reset_index(drop=True)


def learn_effects(pairs: pd.DataFrame) -> dict[str, Any]:
    """Per-format (and per-task where pairs suffice) effects plus pooled priors by bit width."""

    def summary(d: np.ndarray, models: int) -> dict[str, float]:
        return {
            "shift": float(min(np.median(d), 0.0)),
            "measured_median": float(np.median(d)),
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
        basis = f"{q} effect {e['shift'] * 100:+.1f} pts (median of {int(e['n'])} pairs, {int(e['models'])} models, {scope})"
        return e["shift"], min(e["q05"] - e["shift"], 0.0), max(e["q95"] - e["shift"], 0.0), basis
    bits = BITS.get(q)
    pooled = effects["pooled"].get(str(bits)) or effects["pooled"].get("any")
    if pooled is None:
        return 0.0, -0.10, 0.0, f"quantization {q}: no pairs at all, 10-point downside assumed"
    basis = (f"quantization {q}: pooled {bits}-bit prior from {int(pooled['n'])} pairs of other formats "
             f"(no {q} pairs), full width")
    # Full width: the pooled deltas' whole 5-95 % range around the pooled median.
    return pooled["shift"], min(pooled["q05"] - pooled["shift"], 0.0), max(pooled["q95"] - pooled["shift"], 0.0), basis


def _size_line(reference: pd.DataFrame, params_b: Mapping[str, float]) -> dict[str, dict[str, float]]:
    priors: dict[str, dict[str, float]] = {}
    for task, grp in reference[~reference["column"].map(is_side_column).astype(bool)].groupby("column"):
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
    # Past the largest model the line was fitted on, the point stays at the line's value there
    # (the upper end is open anyway): extrapolated, the line put a 400B model's HellaSwag at 1.0.
    mu = p["intercept"] + p["slope"] * np.log(np.minimum(safe, size_max))
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
        self._pos: tuple[dict[tuple[str, str], int], dict[tuple[str, str, str], int]] | None = None
        self._basis: tuple[np.ndarray, list[str]] | None = None

    def _positions(self) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str, str], int]]:
        """Row of :attr:`_table` per ``(model, task)`` and of :attr:`_exact` per ``(model, task,
        quantization)`` (built once per model)."""
        if self._pos is None:
            tab, x = self._table, self._exact
            self._pos = (
                {k: j for j, k in enumerate(zip(tab["model_id"].astype(str), tab["task"].astype(str), strict=True))},
                {
                    k: j
                    for j, k in enumerate(zip(x["model_id"].astype(str), x["task"].astype(str), x["quantization"].astype(str), strict=True))
                },
            )
        return self._pos

    def _table_basis(self) -> tuple[np.ndarray, list[str]]:
        """Per :attr:`_table` row, a code of its basis text (equal texts share one), and the texts
        followed by the two prior texts (codes ``len - 2``: nothing scored the task; ``len - 1``:
        the size-only line)."""
        if self._basis is None:
            codes, uniq = pd.factorize(self._table["basis"].astype(str).to_numpy(dtype=object))
            texts = [str(u) for u in uniq] + ["prior: nothing scored this task", "prior: size only (model not in the fitted table)"]
            self._basis = (np.asarray(codes, dtype=np.int64), texts)
        return self._basis

    @classmethod
    def fit(
        cls,
        records: pd.DataFrame,
        params_b: Mapping[str, float],
        families: Mapping[str, tuple[str, float | None]] | None = None,
        same_as: Mapping[str, str] | None = None,
        prior_from: Mapping[str, str] | None = None,
    ) -> AccuracyModel:
        """Fit from score records (memoized on the inputs' content: grouped refits reuse it).

        Args:
            records: Columns ``model_id, task, quantization, accuracy, source`` (+ optional
                ``accuracy_stderr, chat_template, source_ref, params_b, architecture``).
            params_b: Total parameters (billions) per model id the predictor may ask about.
            families: Catalog family and release year per model id (default: the catalog).
            same_as: Model id -> the model whose scores are its own (a quantized checkpoint
                its publisher made of it): where that model's score of a task is measured or
                imputed, the id answers with it; the records train nothing twice.
            prior_from: Model id -> a catalogued model of its architecture (a base model of a
                catalogued instruct one): where no score of the id's own answers a task, it
                takes that model's family prior instead of the size-only line (the id has no
                family or release date of its own, so the family prior is not fitted on it).
        """
        extra = (repr(sorted(params_b.items())) + repr(sorted(families.items()) if families is not None else None)
                 + repr(sorted((same_as or {}).items())) + repr(sorted((prior_from or {}).items())))
        key = _hash_frame(records) + hashlib.sha256(extra.encode()).hexdigest()
        return cls(_fit_state(key, records, dict(params_b), families, dict(same_as or {}), dict(prior_from or {})))

    def predict(
        self,
        model_id: pd.Series,
        task: pd.Series,
        quantization: pd.Series,
        params_total_b: np.ndarray,
        chance: np.ndarray,
        scored: np.ndarray,
        native: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """Accuracy with 90% interval, status and basis for each row (``native``: see
        :meth:`predict_coded`).

        Returns:
            Frame with ``accuracy, accuracy_lo, accuracy_hi, accuracy_status, accuracy_basis``.
        """
        acc, lo, hi, status, basis = self.predict_coded(model_id, task, quantization, params_total_b, chance, scored, native)
        return pd.DataFrame(
            {
                "accuracy": acc,
                "accuracy_lo": lo,
                "accuracy_hi": hi,
                "accuracy_status": np.asarray(status, dtype=object),
                "accuracy_basis": np.asarray(basis, dtype=object),
            },
            index=model_id.index,
        )

    def predict_coded(
        self,
        model_id: Any,
        task: Any,
        quantization: Any,
        params_total_b: np.ndarray,
        chance: np.ndarray,
        scored: np.ndarray,
        native: Mapping[str, str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Categorical, pd.Categorical]:
        """:meth:`predict` as arrays: ``(accuracy, lo, hi, status, basis)``, status and basis as
        Categoricals (categories in order of first appearance, as ``pd.factorize`` gives them).

        ``native``: model id -> the format its weights are published in where that is not 16-bit
        (gpt-oss's MXFP4, DeepSeek-V3's FP8: ``ModelSpec.weights_format``). Its scores are that
        format's and its 16-bit weights an exact upcast of them, so that format takes the 16-bit
        score with no quantization effect.

        Vectorized: every lookup is made once per distinct model, task, quantization or
        (quantization, task) pair and taken per row by integer code; basis texts are built once
        per distinct (score basis, quantization basis) pair, never per row.
        """
        mc, m_lab = _codes_of(model_id)
        tc, t_lab = _codes_of(task)
        qc, q_lab = _codes_of(quantization)
        n = len(mc)
        chance = np.asarray(chance, dtype=float)
        size_b = np.asarray(params_total_b, dtype=float)
        scored = np.asarray(scored, dtype=bool)
        nt, nq = len(t_lab), len(q_lab)

        # (model, task) -> table row and (model, task, quantization) -> exact row, per distinct level.
        tab, x = self._table, self._exact
        t_pos, x_pos = self._positions()
        t_index = {t: i for i, t in enumerate(t_lab)}
        q_index = {q: i for i, q in enumerate(q_lab)}
        m_index = {m: i for i, m in enumerate(m_lab)}
        mt_table = np.full((len(m_lab) + 1, nt + 1), -1, dtype=np.int64)
        for (m, t), j in t_pos.items():
            if m in m_index and t in t_index:
                mt_table[m_index[m], t_index[t]] = j
        mtq_key: dict[int, int] = {}
        for (m, t, q), j in x_pos.items():
            if m in m_index and t in t_index and q in q_index:
                mtq_key[(m_index[m] * (nt + 1) + t_index[t]) * (nq + 1) + q_index[q]] = j
        mi = np.where(mc < 0, len(m_lab), mc)
        tix = np.where(tc < 0, nt, tc)
        qix = np.where(qc < 0, nq, qc)
        ti = mt_table[mi, tix]
        if mtq_key:
            keys = np.fromiter(mtq_key, dtype=np.int64, count=len(mtq_key))
            vals = np.fromiter(mtq_key.values(), dtype=np.int64, count=len(mtq_key))
            pos = pd.Index(keys).get_indexer((mi.astype(np.int64) * (nt + 1) + tix) * (nq + 1) + qix)
            ex = np.where(pos >= 0, vals[np.maximum(pos, 0)], -1)
        else:
            ex = np.full(n, -1, dtype=np.int64)

        acc, lo, hi = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        # Status codes index STATUSES; basis codes index ``texts`` (built below).
        status = np.full(n, STATUSES.index("prior"), dtype=np.int64)
        texts: list[str] = ["workload: no accuracy score"]
        basis = np.zeros(n, dtype=np.int64)

        # 1. Measured at the candidate's own precision.
        is_ex = scored & (ex >= 0)
        if is_ex.any():
            rows = np.flatnonzero(is_ex)
            j = ex[rows]
            a_ex = x["accuracy"].to_numpy(dtype=float)[j]
            se = x["se"].to_numpy(dtype=float)[j]
            items = np.array([float(TASK_ITEMS.get(str(t), np.nan)) for t in t_lab] + [np.nan])[tix[rows]]
            with np.errstate(invalid="ignore"):
                binomial = np.sqrt(np.maximum(a_ex * (1 - a_ex), 1e-4) / items)
            se = np.where(np.isfinite(se), se, binomial)
            se = np.where(np.isfinite(se), se, 0.02)
            acc[rows], lo[rows], hi[rows] = a_ex, a_ex - Z90 * se, a_ex + Z90 * se
            status[rows] = STATUSES.index("measured")
            x_source, x_dequant = x["source"].to_numpy(dtype=object), x["dequant"].to_numpy()
            x_quant = x["quantization"].to_numpy(dtype=object)
            inv, uniq_j = pd.factorize(j)
            base = len(texts)
            texts += [
                f"measured at {x_quant[k]} ({x_source[k]})" + ("; weights dequantized from one Q4_1 GGUF file" if x_dequant[k] else "")
                for k in uniq_j
            ]
            basis[rows] = base + inv

        # 2. The 16-bit table (measured / imputed / prior) or the size prior, plus the format's effect.
        rest = np.flatnonzero(scored & (ex < 0))
        if len(rest):
            tr = ti[rest]
            in_table = tr >= 0
            jt = np.where(in_table, tr, 0)
            a0 = np.where(in_table, tab["accuracy"].to_numpy(dtype=float)[jt] if len(tab) else np.nan, np.nan)
            l0 = np.where(in_table, tab["lo"].to_numpy(dtype=float)[jt] if len(tab) else np.nan, np.nan)
            h0 = np.where(in_table, tab["hi"].to_numpy(dtype=float)[jt] if len(tab) else np.nan, np.nan)
            st_codes, st_labels = pd.factorize(tab["status"].astype(str)) if len(tab) else (np.zeros(0, dtype=np.int64), [])
            st_map = np.array([STATUSES.index(s) if s in STATUSES else STATUSES.index("imputed") for s in st_labels] + [0], dtype=np.int64)
            st = np.where(in_table, st_map[np.asarray(st_codes)[jt]] if len(tab) else 0, STATUSES.index("prior"))
            # Score-basis codes: table rows' texts (equal texts share a code), then the two prior texts.
            tb_codes, b0_texts = self._table_basis()
            b0 = np.where(in_table, tb_codes[jt] if len(tab) else 0, -1)
            out_rows = np.flatnonzero(~in_table)
            if len(out_rows):
                r_t = tix[rest[out_rows]]
                for k in np.unique(r_t):
                    sel = out_rows[r_t == k]
                    p = self.priors.get(str(t_lab[k])) if k < nt else None
                    ch = chance[rest[sel]]
                    if p is None:
                        a0[sel], l0[sel], h0[sel] = (ch + 1) / 2, ch, 1.0
                        b0[sel] = len(b0_texts) - 2
                    else:
                        a0[sel], l0[sel], h0[sel] = _size_prior(p, size_b[rest[sel]], ch)
                        b0[sel] = len(b0_texts) - 1
            # The format's effect per distinct (quantization, task).
            pair = qix[rest] * (nt + 1) + tix[rest]
            p_inv, p_uniq = pd.factorize(pair)
            effects = [
                _effect_for(self.effects, str(q_lab[k // (nt + 1)]) if k // (nt + 1) < nq else "nan",
                            str(t_lab[k % (nt + 1)]) if k % (nt + 1) < nt else "nan")
                for k in p_uniq
            ]
            is_native = np.zeros(len(rest), dtype=bool)
            if native:
                # A model asked in the format its weights are published in: no effect (per distinct
                # (model, quantization) level, taken per row), and a measured score stays measured.
                own = np.array([native.get(str(m)) for m in m_lab] + [None], dtype=object)[mi[rest]]
                is_native = np.array([str(q) for q in q_lab] + ["\x00"], dtype=object)[qix[rest]] == own
                if is_native.any():
                    effects.append((0.0, 0.0, 0.0, "the weights as published (the model's scores are this format's)"))
                    p_inv = np.where(is_native, len(effects) - 1, p_inv)
            shift = np.array([e[0] for e in effects], dtype=float)[p_inv]
            dlo = np.array([e[1] for e in effects], dtype=float)[p_inv]
            dhi = np.array([e[2] for e in effects], dtype=float)[p_inv]
            has_qb = np.array([bool(e[3]) for e in effects], dtype=bool)[p_inv] & ~is_native
            a = a0 + shift
            acc[rest] = a
            # Interval ends add in quadrature around the shifted point.
            lo[rest] = a - np.hypot(a0 - l0, dlo)
            hi[rest] = a + np.hypot(h0 - a0, dhi)
            measured, prior = STATUSES.index("measured"), STATUSES.index("prior")
            status[rest] = np.where((st == measured) & ~has_qb, measured, np.where(st == prior, prior, STATUSES.index("imputed")))
            # One text per distinct (score basis, effect basis).
            n_eff = len(effects)
            key = b0.astype(np.int64) * n_eff + p_inv
            k_inv, k_uniq = pd.factorize(key)
            base = len(texts)
            texts += [_joined(b0_texts[k // n_eff], effects[k % n_eff][3]) for k in k_uniq]
            basis[rest] = base + k_inv

        floor = np.where(status == STATUSES.index("prior"), chance, 0.0)
        acc = np.where(scored, np.clip(acc, floor, 1.0), np.nan)
        lo = np.where(scored, np.clip(np.minimum(lo, acc), 0.0, 1.0), np.nan)
        hi = np.where(scored, np.clip(np.maximum(hi, acc), 0.0, 1.0), np.nan)
        return acc, lo, hi, _categorical(status, list(STATUSES)), _categorical(basis, texts)


def _joined(score_basis: str, effect_basis: str) -> str:
    """``"; "``-joined non-empty parts of a basis text."""
    return "; ".join(s for s in (score_basis, effect_basis) if s)


def _codes_of(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, labels)`` of a column (labels as str; -1 for missing values)."""
    if isinstance(values, pd.Categorical) or (isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype)):
        cat = pd.Categorical(values)
        return np.asarray(cat.codes, dtype=np.int64), np.asarray([str(c) for c in cat.categories], dtype=object)
    arr = np.asarray(values, dtype=object)
    # As the per-row path read them: every value as its str (missing ones too).
    codes, uniq = pd.factorize(pd.Series(arr).astype(str).to_numpy(dtype=object))
    return np.asarray(codes, dtype=np.int64), np.asarray(uniq, dtype=object)


def _categorical(codes: np.ndarray, labels: list[str]) -> pd.Categorical:
    """Categorical of ``labels[codes]`` with equal labels merged and categories in order of first
    appearance among the rows (what ``pd.factorize`` of the strings would give)."""
    lab_codes, lab_uniq = pd.factorize(pd.Series(labels, dtype=object).to_numpy(dtype=object))
    row_lab = np.asarray(lab_codes, dtype=np.int64)[codes]
    inv, order = pd.factorize(row_lab)
    return pd.Categorical.from_codes(np.asarray(inv), categories=pd.Index(np.asarray(lab_uniq, dtype=object)[order], dtype=object))


_STATES: dict[str, dict[str, Any]] = {}
"""Fitted states by input hash: the predictor's grouped refits share one accuracy table, so the
accuracy model (whose trees take seconds) is fitted once per distinct input, not once per fold."""


def _answer_with(table: pd.DataFrame, name: str, rows: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``name``'s rows of the tasks in ``rows`` replaced by ``rows`` (relabelled
    ``name``)."""
    if not len(rows):
        return table
    keep = ~((table["model_id"] == name) & table["task"].isin(set(rows["task"])))
    return pd.concat([table[keep], rows.assign(model_id=name)], ignore_index=True)


def _fit_state(
    key: str, records: pd.DataFrame, params_b: dict[str, float], families: Mapping[str, Any] | None, same_as: Mapping[str, str] | None = None,
    prior_from: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    if key in _STATES:
        return _STATES[key]
    from recommender.model.accuracy_impute import Imputer, catalog_families

    fams = dict(families) if families is not None else catalog_families()
    reference, exact = prepare_scores(records)
    from recommender.catalog.tasks import get_tasks

    chance = {tid: float(t.chance) for tid, t in get_tasks().items() if getattr(t, "chance", None) is not None}
    effects = learn_effects(quantization_pairs(records, chance))
    # Parameter counts: the caller's (catalog) first, then what the sources state.
    same_as = {a: o for a, o in (same_as or {}).items() if a != o}
    sizes = dict(params_b)
    for alias, original in same_as.items():
        if alias in sizes:
            sizes.setdefault(original, sizes[alias])
    if "params_b" in records:
        stated = records.dropna(subset=["params_b"]).groupby("model_id")["params_b"].first()
        for mid, v in stated.items():
            sizes.setdefault(str(mid), float(v))
    priors = _size_line(reference, sizes)
    arch = records.groupby("model_id")["architecture"].first().to_dict() if "architecture" in records else {}
    imputer = Imputer(reference, sizes, arch, fams)
    wanted = sorted(set(params_b) | {o for a, o in same_as.items() if a in params_b})
    table = imputer.table(wanted, list(TASK_ITEMS), priors)
    ex = exact[exact["model_id"].isin(set(wanted))]
    if same_as:
        # The alias answers with its original's measured or imputed scores; a task the original
        # has only a prior for keeps the alias's own prior (its catalog family's).
        informed = table[table["status"] != "prior"]
        for alias, original in sorted(same_as.items()):
            if alias in params_b:
                table = _answer_with(table, alias, informed[informed["model_id"] == original])
                ex = pd.concat([ex[ex["model_id"] != alias], exact[exact["model_id"] == original].assign(model_id=alias)], ignore_index=True)
    if prior_from:
        # A name without a catalog family of its own takes its catalogued variant's family prior
        # where only a prior answers (rather than the size-only line), never its scores.
        priors_of = table[(table["status"] == "prior") & table["basis"].astype(str).str.startswith("prior: family")]
        for name, variant in sorted(prior_from.items()):
            if name not in params_b or name == variant:
                continue
            own_prior = set(table.loc[(table["model_id"] == name) & (table["status"] == "prior"), "task"])
            got = priors_of[(priors_of["model_id"] == variant) & priors_of["task"].isin(own_prior)]
            table = _answer_with(table, name, got.assign(basis=got["basis"].astype(str) + f" (of its catalogued variant {variant})"))
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
