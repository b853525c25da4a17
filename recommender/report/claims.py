"""Check the study's headline claims against the measured table and the predictor.

Every verdict here is computed; nothing is hard-coded but the claims themselves
(quoted from ``../shared/context/MISSION.md``) and the rule that turns an
estimate into a verdict:

* Each claim is tested by one or more *comparisons* of matched configurations
  (same model, task/workload, batch size, engine, device count and source; only
  the factor the claim is about differs).
* The effect is the median over matched pairs/groups, with a 90% *cluster*
  bootstrap interval (2,000 resamples, fixed seed): pairs from one source, GPU
  and model (e.g. one model at several batch sizes) are one cluster and are
  resampled together, never as independent rows.
* ``supported``: the median lies in the claim's band (the claimed figure +- a
  tolerance, 10 percentage points unless stated); ``contradicted``: the whole
  90% interval lies outside the band; ``not enough data``: fewer than
  :data:`MIN_EVIDENCE` independent clusters, or the interval straddles the band's
  edge with the median outside it. Where the study's precision could mean several
  formats (MISSION.md says "INT8", not which library or kernel), each catalogued
  format is its own comparison, and formats that disagree give ``depends on the
  format``.
* Universal claims ("A100 leads everywhere") are contradicted by any matched
  group where another platform beats the A100 by more than :data:`LEAD_TOLERANCE`.
* Every comparison states its scope (formats, batch sizes, sources, GPUs, models
  its pairs cover); a verdict holds only within it.
* Quantization effects are measured against one reference per format, the rule
  the decision matrix also uses (:func:`recommender.rules.flow.reference_quantization`:
  the first of the flow's baseline formats that moves more bytes per weight, so
  fp16 for 8-bit formats and fp32 for fp16). The study does not say what its baseline was.
* A claim's accuracy half ("<1% accuracy loss") is tested on matched accuracy pairs
  the same way and reported next to the energy half.

"Data" comparisons use measured rows only. "Model" comparisons use the
predictor's points on the study's grid and count only pairs where neither side
is extrapolated; a predicted effect beyond what the bytes moved allow (energy
can fall at most in proportion to the weight bytes read) is never shown. A
claim's verdict is the data verdict when the data decide it, else the model's.
Energy is gross throughout (idle draw included; no row subtracts idle power).

Within one matched group accuracy does not depend on the platform (same weights,
same task), so comparing platforms by energy per query ranks them exactly as EOR
does; quantization comparisons use EOR where both sides have a measured accuracy
and energy efficiency (queries per Wh) otherwise, and say which.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from recommender.report.metrics import energy_per_query_j

Verdict = Literal["supported", "contradicted", "not enough data", "depends on the format"]
Basis = Literal["data", "model"]
VERDICTS: tuple[str, ...] = ("supported", "contradicted", "depends on the format", "not enough data")

MIN_EVIDENCE = 3
"""Fewest independent clusters (source x GPU x model) a verdict other than 'not enough data' needs."""

LEAD_TOLERANCE = 0.10
"""A rival must beat the A100 by more than this fraction of energy to count against "leads"."""

BOOTSTRAP_RESAMPLES = 2000
_SEED = 20240917

GROUP_KEY_DATA: tuple[str, ...] = ("device_count", "engine", "model_id", "batch_size", "workload", "source")
"""Matched-group key for measured rows (platform and quantization vary)."""

FP16 = ("fp16",)
EIGHT_BIT = ("int8-bnb", "int8-bnb-t0", "fp8")
"""Catalogued 8-bit formats the study's "INT8" could mean (MISSION.md does not say which): LLM.int8()
with outlier decomposition, pure INT8 (threshold 0), and FP8. Each is tested on its own."""
DYNAMIC = ("dynamic-int8",)


def is_cpu(platform: str) -> bool:
    """CPU platforms: outside the study's GPU scope, shown but not counted."""
    return platform.startswith("cpu")


@dataclass(frozen=True)
class Comparison:
    """One test of a claim on one kind of evidence.

    Attributes:
        basis: ``data`` (measured rows) or ``model`` (predictions, extrapolations excluded).
        description: What was compared, in words.
        band_pct: Range of effects (percent) the claim allows, tolerance included.
        n: Matched comparisons behind the estimate.
        estimate_pct: Median effect in percent (None without evidence).
        ci_pct: 90% bootstrap interval of the median, percent.
        verdict: Verdict of this comparison alone.
        detail: Breakdown (per platform, per quantization, metric used...).
        counted: Whether it counts towards the claim's verdict (False: context only, e.g. CPU
            rows outside the study's GPU scope or another possible baseline).
        scope: What the pairs cover (formats, batch sizes, sources, GPUs, models): the
            verdict holds only within it.
        clusters: Independent clusters (source x GPU x model) behind the estimate.
    """

    basis: Basis
    description: str
    band_pct: tuple[float, float] | None
    n: int
    estimate_pct: float | None
    ci_pct: tuple[float, float] | None
    verdict: Verdict
    detail: str = ""
    counted: bool = True
    scope: str = ""
    clusters: int = 0

    @property
    def label(self) -> str:
        """Short name of what was compared (the description up to its first colon or semicolon)."""
        return re.split(r"[:;]", self.description, maxsplit=1)[0]


@dataclass(frozen=True)
class ClaimResult:
    """A headline claim with what the data and the model say about it.

    Attributes:
        claim_id: Short id.
        statement: The study's claim as stated.
        tested_as: How eai operationalises it.
        comparisons: Every comparison run.
        verdict: Overall verdict (data first, then model).
        basis: Which comparison decided the verdict (``data``, ``model`` or ``none``).
        evidence_n: Matched comparisons behind the verdict: the largest comparison on the deciding
            basis (comparisons may share groups, so they are not summed); all bases if none decided.
        scope: What the deciding comparisons cover; the verdict holds only within it.
        accuracy_statement: The claim's accuracy half as stated ("" where it has none).
        accuracy_comparisons: Comparisons testing the accuracy half.
        accuracy_verdict: Verdict on the accuracy half (None where the claim has none).
        accuracy_basis: Which comparison decided the accuracy verdict.
    """

    claim_id: str
    statement: str
    tested_as: str
    comparisons: tuple[Comparison, ...]
    verdict: Verdict
    basis: str
    evidence_n: int
    scope: str = ""
    accuracy_statement: str = ""
    accuracy_comparisons: tuple[Comparison, ...] = ()
    accuracy_verdict: Verdict | None = None
    accuracy_basis: str = "none"


def norm_id(platform: str) -> str:
    """Platform id without separators, lower case (``rtx-4060-ti-16gb`` -> ``rtx4060ti16gb``)."""
    return re.sub(r"[^a-z0-9]", "", platform.lower())


def is_a100(platform: str) -> bool:
    """A100 of any form factor (not the A800 export variant)."""
    return norm_id(platform).startswith("a100")


def is_rtx4090(platform: str) -> bool:
    """GeForce RTX 4090 (not the cut-down 4090 D)."""
    return re.match(r"^rtx4090(?!d)", norm_id(platform)) is not None


def is_rtx4060ti(platform: str) -> bool:
    """GeForce RTX 4060 Ti (any memory size)."""
    return norm_id(platform).startswith("rtx4060ti")


def bootstrap_median(values: Sequence[float], clusters: Sequence[object] | None = None) -> tuple[float, tuple[float, float]]:
    """Median and its 90% percentile-bootstrap interval (fixed seed, so reports are reproducible).

    Args:
        values: Effects, one per matched pair.
        clusters: Cluster label per value (None: every value its own cluster). Whole clusters
            are resampled, so pairs that share a source, GPU and model move together.

    Returns:
        The median of all values and the 90% interval of the resampled medians. With one
        cluster the interval is the point: nothing measures the spread between clusters.
    """
    arr = np.asarray(values, dtype=float)
    med = float(np.median(arr))
    ids = np.arange(len(arr)) if clusters is None else pd.factorize(pd.Series(list(clusters), dtype=object))[0]
    k = int(ids.max()) + 1 if len(arr) else 0
    if k <= 1:
        return med, (med, med)
    rng = np.random.default_rng(_SEED)
    draws = rng.integers(0, k, size=(BOOTSTRAP_RESAMPLES, k))
    # Weighted median per resample: each value weighs as often as its cluster was drawn.
    counts = np.zeros((BOOTSTRAP_RESAMPLES, k))
    np.add.at(counts, (np.repeat(np.arange(BOOTSTRAP_RESAMPLES), k), draws.ravel()), 1.0)
    order = np.argsort(arr, kind="stable")
    w = counts[:, ids[order]]
    cum = np.cumsum(w, axis=1)
    half = cum[:, -1:] / 2.0
    lo_i = np.argmax(cum >= half, axis=1)
    hi_i = np.argmax(cum > half, axis=1)
    sorted_vals = arr[order]
    meds = (sorted_vals[lo_i] + sorted_vals[hi_i]) / 2.0
    return med, (float(np.quantile(meds, 0.05)), float(np.quantile(meds, 0.95)))


def verdict_for(
    effects_pct: Sequence[float], band: tuple[float, float], clusters: Sequence[object] | None = None
) -> tuple[Verdict, float | None, tuple[float, float] | None]:
    """Turn effects (percent) into a verdict against a band; see the module doc for the rule."""
    if len(effects_pct) == 0:
        return "not enough data", None, None
    est, ci = bootstrap_median(effects_pct, clusters)
    n_clusters = len(effects_pct) if clusters is None else len(set(clusters))
    if n_clusters < MIN_EVIDENCE:
        return "not enough data", est, ci
    lo, hi = band
    if lo <= est <= hi:
        return "supported", est, ci
    if ci[1] < lo or ci[0] > hi:
        return "contradicted", est, ci
    return "not enough data", est, ci


def _bytes_per_weight() -> dict[str, float]:
    """Quantization -> bytes per weight from the catalog (empty if it cannot load)."""
    try:
        from recommender.catalog import get_quants
        from recommender.errors import EaiError

        return {name: q.bytes_per_weight for name, q in get_quants().items()}
    except (ImportError, AttributeError, EaiError):
        return {}


def references(quantization: str, bpw: dict[str, float] | None = None) -> tuple[str, ...]:
    """The reference formats a quantization is compared with, in order (the decision flow's rule).

    The first one present in a matched group is used, as in the decision matrix.
    """
    from recommender.rules.flow import load_flow, reference_candidates

    return reference_candidates(load_flow(), quantization, _bytes_per_weight() if bpw is None else bpw)


@functools.lru_cache(maxsize=1)
def _self_reported_sources() -> frozenset[str]:
    """Source tags whose section in data/SOURCES.md calls them self-reported (empty if unreadable)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "data" / "SOURCES.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return frozenset()
    tags = re.findall(r"^##\s+`?([\w.-]+)`?\s+[-\u2014]+\s+(.*)$", text, flags=re.M)
    return frozenset(tag for tag, title in tags if "self-reported" in title.lower())


def _scope(rows: list[dict]) -> str:
    """What a set of pairs covers: formats, batch sizes, sources, GPUs, models."""
    if not rows:
        return "no pairs"
    formats = sorted({str(r["quantization"]) for r in rows})
    batches = sorted({int(r["batch_size"]) for r in rows})
    batch = f"batch {batches[0]}" if len(batches) == 1 else f"batch {batches[0]}-{batches[-1]}"
    own = _self_reported_sources()
    sources = sorted({str(r["source"]) + (", self-reported" if str(r["source"]) in own else "") for r in rows})
    plats = sorted({str(r["platform"]) for r in rows})
    models = {str(r["model_id"]) for r in rows}

    def n(k: int, word: str) -> str:
        return f"{k} {word}{'s' if k != 1 else ''}"

    return (
        f"{', '.join(formats)} at {batch}; {n(len(sources), 'source')} ({', '.join(sources)}); "
        f"{n(len(plats), 'platform')} ({', '.join(plats)}); {n(len(models), 'model')}"
    )


def _platform_meta() -> dict[str, tuple[str, str]]:
    """platform id -> (architecture, platform_class) from the catalog; empty if it cannot load."""
    try:
        from recommender.catalog import get_platforms

        platforms = get_platforms()
    except (ImportError, AttributeError):
        return {}
    from recommender.errors import EaiError

    try:
        items = list(platforms.values()) if isinstance(platforms, dict) else list(platforms)
    except EaiError:
        return {}
    return {p.id: (p.architecture, p.platform_class) for p in items}


# ---------------------------------------------------------------- data-side pairings


def _energy_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Measured rows with a comparable energy figure (J/query; J/token when per-query is missing)."""
    if table.empty:
        return table.assign(_e=pd.Series(dtype=float), _unit=pd.Series(dtype=str))
    t = table.astype({c: object for c in ("platform", "engine", "model_id", "quantization", "workload", "source")})
    per_query = energy_per_query_j(t)
    per_token = pd.to_numeric(t["energy_j_per_output_token"], errors="coerce")
    # Within a matched group both sides share the workload and batch, so J/token ratios equal J/query
    # ratios whenever output lengths match; J/token is the fallback only where J/query is unknown.
    t["_e"] = per_query.fillna(per_token)
    t["_unit"] = np.where(per_query.notna(), "query", "token")
    t["_acc"] = pd.to_numeric(t["accuracy"], errors="coerce")
    t["_base_model"] = t["model_id"].map(base_model)
    return t[t["_e"].notna()]


_QUANT_REPO_SUFFIX = re.compile(r"[-_.](fp8|FP8)([-_.](dynamic|Dynamic))?$")


def base_model(model_id: str) -> str:
    """The model a quantized checkpoint was made from, by its repository's suffix.

    ``meta-llama/Llama-3.1-405B-Instruct-FP8`` -> ``meta-llama/Llama-3.1-405B-Instruct``: an FP8
    repository published next to its BF16 original holds the same weights, so the two pair up.
    """
    return _QUANT_REPO_SUFFIX.sub("", str(model_id))


@dataclass(frozen=True)
class Pairs:
    """Matched effects with their clusters, a breakdown and their scope."""

    effects: list[float]
    clusters: list[tuple]
    detail: str
    scope: str


def _quant_pairs(
    table: pd.DataFrame,
    quants: Sequence[str],
    baseline: Callable[[str], Sequence[str]],
    platform_filter: Callable[[str], bool] | None = None,
    metric: Literal["energy", "efficiency", "accuracy"] = "energy",
) -> Pairs:
    """Matched (format vs reference) effects in percent from measured rows.

    Args:
        table: Measured table.
        quants: Quantizations under test.
        baseline: Reference formats of a quantization, in order (the first found in a group is used).
        platform_filter: Keep only platforms it accepts.
        metric: ``energy`` (energy change), ``efficiency`` (EOR where both sides have accuracy,
            else queries per Wh) or ``accuracy`` (relative accuracy change; pairs with both scores).

    Returns:
        Effects (one per matched pair, duplicates across sources removed), their clusters
        (source, platform, model), a breakdown and the scope.
    """
    t = _energy_frame(table)
    if t.empty:
        return Pairs([], [], "", "no pairs")
    refs = {q: tuple(baseline(q)) for q in quants}
    wanted = set(quants) | {b for r in refs.values() for b in r}
    t = t[t["quantization"].isin(wanted)]
    if platform_filter is not None and not t.empty:
        t = t[t["platform"].map(platform_filter)]
    # Pair a quantized repository with its original (same base model), as well as formats of one repository.
    key = ["platform", *("_base_model" if k == "model_id" else k for k in GROUP_KEY_DATA)]
    # Plain-Python grouping: a pandas groupby over thousands of tiny groups is ~100x slower here.
    groups: dict[tuple, list[dict]] = {}
    for rec in t[[*key, "model_id", "quantization", "_e", "_unit", "_acc"]].to_dict("records"):
        groups.setdefault(tuple(rec[k] for k in key), []).append(rec)
    seen: set[tuple] = set()
    effects: list[float] = []
    clusters: list[tuple] = []
    used: list[dict] = []
    per_q: dict[str, list[float]] = {}
    base_used: dict[str, int] = {}
    eor_used = 0
    for recs in groups.values():
        for row in recs:
            q = row["quantization"]
            if q not in refs:
                continue
            base = None
            for b in refs[q]:
                cands = [r for r in recs if r["quantization"] == b]
                if cands:
                    base = next((r for r in cands if r["_unit"] == "query"), cands[0])
                    break
            if base is None or row["_unit"] != base["_unit"]:
                continue
            ratio = row["_e"] / base["_e"]
            if metric == "accuracy":
                if not (pd.notna(row["_acc"]) and pd.notna(base["_acc"]) and base["_acc"] > 0):
                    continue
                effect = row["_acc"] / base["_acc"] - 1.0
            elif metric == "efficiency":
                if pd.notna(row["_acc"]) and pd.notna(base["_acc"]) and base["_acc"] > 0:
                    effect = (row["_acc"] / base["_acc"]) / ratio - 1.0
                    eor_used += 1
                else:
                    effect = 1.0 / ratio - 1.0
            else:
                effect = ratio - 1.0
            # The same measurement can reach the table through two sources; count it once.
            ident = (row["platform"], row["model_id"], row["workload"], row["batch_size"], q, round(effect, 6))
            if ident in seen:
                continue
            seen.add(ident)
            effects.append(effect * 100.0)
            clusters.append((row["source"], row["platform"], row["model_id"]))
            used.append(row)
            per_q.setdefault(f"{q} vs {base['quantization']}", []).append(effect * 100.0)
            base_used[str(base["quantization"])] = base_used.get(str(base["quantization"]), 0) + 1
    detail = "; ".join(f"{q}: n={len(v)}, median {np.median(v):+.1f}%" for q, v in sorted(per_q.items()))
    if effects:
        detail += f"; {len(set(clusters))} independent clusters (source x GPU x model)"
    if metric == "efficiency" and effects:
        detail += f"; EOR used for {eor_used} of {len(effects)} pairs (rest: queries per Wh)"
    return Pairs(effects, clusters, detail, _scope(used))


def _platform_groups(table: pd.DataFrame) -> list[pd.DataFrame]:
    """Matched groups across platforms (same model, quant, workload, batch, engine, devices, source)."""
    t = _energy_frame(table)
    if t.empty:
        return []
    key = ["quantization", "_unit", *GROUP_KEY_DATA]
    return [g for _, g in t.groupby(key, dropna=False, sort=True) if g["platform"].nunique() >= 2]


def _a100_leads_data(table: pd.DataFrame, time_weighted: bool = False) -> Comparison:
    """A100 vs the best rival per matched group, by EOR (energy) or TWEOR (energy x time)."""
    leads = 0
    losses: list[str] = []
    margins: list[float] = []
    per_workload: dict[str, list[int]] = {}
    used: list[dict] = []
    lead_clusters: list[tuple] = []
    for g in _platform_groups(table):
        # Within a group accuracy is the platform's constant, so EOR ranks by 1/energy and
        # TWEOR = EOR / time ranks by 1/(energy x time).
        cost = g["_e"] * pd.to_numeric(g["time_s_per_query"], errors="coerce") if time_weighted else g["_e"]
        g = g.assign(_c=cost).dropna(subset=["_c"])
        a = g[g["platform"].map(is_a100)]
        others = g[~g["platform"].map(is_a100)]
        if a.empty or others.empty:
            continue
        c_a = a["_c"].min()
        best_other = others.loc[others["_c"].idxmin()]
        used.extend(g[["quantization", "batch_size", "source", "platform", "model_id"]].to_dict("records"))
        margin = (best_other["_c"] / c_a - 1.0) * 100.0
        margins.append(margin)
        # Groups of one source and model (other workloads, batches) are one cluster of evidence.
        lead_clusters.append((str(g["source"].iloc[0]), str(g["model_id"].iloc[0])))
        tally = per_workload.setdefault(str(g["workload"].iloc[0]), [0, 0])
        tally[1] += 1
        if best_other["_c"] < c_a * (1.0 - LEAD_TOLERANCE):
            losses.append(f"{best_other['platform']} on {g['model_id'].iloc[0]} / {g['workload'].iloc[0]} ({margin:+.0f}%)")
        else:
            leads += 1
            tally[0] += 1
    what = "TWEOR" if time_weighted else "EOR"
    formula = "(rival energy x time) / (A100 energy x time) - 1" if time_weighted else "rival's energy / A100's energy - 1"
    comp = _lead_comparison(
        "data",
        margins,
        leads,
        losses,
        f"A100 {what} margin over the best rival: matched measured groups (same model, quantization, workload, batch, engine, "
        f"source) with an A100 and at least one other platform; margin = {formula}",
        lead_clusters,
    )
    if per_workload:
        by_w = "; per workload (A100 leads / groups): " + ", ".join(f"{w} {k}/{n}" for w, (k, n) in sorted(per_workload.items()))
        comp = dataclasses.replace(comp, detail=comp.detail + by_w)
    if used:
        comp = dataclasses.replace(comp, scope=_scope(used))
    return comp


def _lead_comparison(
    basis: Basis, margins: list[float], leads: int, losses: list[str], description: str, clusters: list[tuple] | None = None
) -> Comparison:
    n = len(margins)
    if n == 0:
        return Comparison(basis, description, None, 0, None, None, "not enough data", "no matched group contains an A100 and a rival")
    est, ci = bootstrap_median(margins, clusters)
    k = n if clusters is None else len(set(clusters))
    if losses:
        verdict: Verdict = "contradicted"
    elif k < MIN_EVIDENCE:
        verdict = "not enough data"
    else:
        verdict = "supported"
    shown = "; ".join(losses[:6]) + (f"; ... {len(losses) - 6} more" if len(losses) > 6 else "")
    detail = f"A100 leads in {leads} of {n} groups" + (f"; beaten by more than {LEAD_TOLERANCE:.0%} in: {shown}" if losses else "")
    return Comparison(basis, description, (0.0, float("inf")), n, est, ci, verdict, detail, clusters=k)


def _ada_data(table: pd.DataFrame, meta: dict[str, tuple[str, str]]) -> tuple[list[float], str]:
    effects: list[float] = []
    pairs: dict[str, int] = {}
    for g in _platform_groups(table):
        for cls in {meta[p][1] for p in g["platform"] if p in meta}:
            ada = g[g["platform"].map(lambda p: p in meta and meta[p] == ("Ada Lovelace", cls))]
            amp = g[g["platform"].map(lambda p: p in meta and meta[p] == ("Ampere", cls))]
            if ada.empty or amp.empty:
                continue
            effects.append((amp["_e"].min() / ada["_e"].min() - 1.0) * 100.0)
            label = f"{ada.loc[ada['_e'].idxmin(), 'platform']} vs {amp.loc[amp['_e'].idxmin(), 'platform']}"
            pairs[label] = pairs.get(label, 0) + 1
    return effects, "; ".join(f"{k}: {v}" for k, v in sorted(pairs.items()))


# ---------------------------------------------------------------- model-side pairings


def _usable(points: pd.DataFrame, include_extrapolated: bool = False) -> pd.DataFrame:
    if points.empty:
        return points
    ok = points["eor"].notna()
    if not include_extrapolated:
        ok &= points["status"] != "extrapolated"
    return points[ok]


def _extrapolated_note(effects: list[float]) -> str:
    """What the model would say if extrapolations counted (shown, never used for the verdict)."""
    if not effects:
        return ""
    return f"; including extrapolated predictions: n={len(effects)}, median {np.median(effects):+.1f}% (not counted as evidence)"


def _groups(frame: pd.DataFrame, key: Sequence[str]) -> list[list[dict]]:
    """Rows as dicts grouped by ``key`` (plain Python: pandas groupby over ~1,000 tiny groups is slow)."""
    out: dict[tuple, list[dict]] = {}
    for rec in frame.to_dict("records"):
        out.setdefault(tuple(rec[k] for k in key), []).append(rec)
    return [out[k] for k in sorted(out, key=lambda t: tuple(map(str, t)))]


def _model_quant_pairs(
    points: pd.DataFrame,
    quants: Sequence[str],
    baseline: Callable[[str], Sequence[str]],
    platform_filter: Callable[[str], bool] | None = None,
    metric: Literal["energy", "efficiency", "accuracy"] = "energy",
    include_extrapolated: bool = False,
    bpw: dict[str, float] | None = None,
) -> Pairs:
    """Predicted (format vs reference) effects; never one beyond what the bytes moved allow.

    Energy per token falls at most in proportion to the weight bytes read, so a predicted energy
    change below ``bytes_format / bytes_reference - 1`` (or an efficiency gain above
    ``accuracy ratio x bytes_reference / bytes_format - 1``) is an extrapolation past physics: it is
    dropped and counted in the detail. Accuracy pairs need an accuracy informed by data on both
    sides (not a prior).
    """
    p = _usable(points, include_extrapolated)
    if p.empty:
        return Pairs([], [], "", "no pairs")
    refs = {q: tuple(baseline(q)) for q in quants}
    p = p[p["quantization"].isin(set(quants) | {b for r in refs.values() for b in r})]
    if platform_filter is not None:
        p = p[p["platform"].map(platform_filter)]
    bpw = _bytes_per_weight() if bpw is None else bpw
    effects: list[float] = []
    clusters: list[tuple] = []
    used: list[dict] = []
    beyond = 0
    for g in _groups(p, ("task", "platform", "model_id", "engine", "batch_size", "device_count")):
        for row in g:
            q = row["quantization"]
            if q not in refs:
                continue
            b = next((r for ref in refs[q] for r in g if r["quantization"] == ref), None)
            if b is None:
                continue
            acc_ratio = row["accuracy"] / b["accuracy"] if b["accuracy"] else float("nan")
            if metric == "accuracy":
                if _prior(row) or _prior(b) or not np.isfinite(acc_ratio):
                    continue
                effect = acc_ratio - 1.0
            else:
                if metric == "efficiency" and not b["eor"] > 0:
                    continue  # the reference scores 0 on the task: no efficiency ratio
                effect = row["eor"] / b["eor"] - 1.0 if metric == "efficiency" else row["energy_wh_per_1k"] / b["energy_wh_per_1k"] - 1.0
                bq, bb = bpw.get(q), bpw.get(b["quantization"])
                if bq and bb and bq < bb:
                    bound = (min(acc_ratio, 1.0) * bb / bq - 1.0) if metric == "efficiency" else (bq / bb - 1.0)
                    if (metric == "efficiency" and effect > bound + 1e-9) or (metric == "energy" and effect < bound - 1e-9):
                        beyond += 1
                        continue
            effects.append(effect * 100.0)
            clusters.append((row["platform"], row["model_id"]))
            used.append({**row, "source": "predictor"})
    detail = f"{len(effects)} predicted pairs, neither side extrapolated"
    if metric == "accuracy":
        detail += ", both accuracies measured or imputed (not a prior)"
    if beyond:
        detail += f"; {beyond} predicted pairs beyond what the bytes moved allow were dropped (an extrapolation, not evidence)"
    return Pairs(effects, clusters, detail, _scope(used))


def _prior(row: dict) -> bool:
    """Whether a point's accuracy is only a prior (or carries no status)."""
    status = str(row.get("accuracy_status", "prior"))
    return status not in ("measured", "imputed", "interpolated", "extrapolated")


def _a100_leads_model(points: pd.DataFrame) -> Comparison:
    p = _usable(points)
    margins: list[float] = []
    losses: list[str] = []
    leads = 0
    if not p.empty:
        for g in _groups(p, ("task", "model_id", "quantization")):
            a = [r for r in g if is_a100(r["platform"])]
            others = [r for r in g if not is_a100(r["platform"])]
            if not a or not others:
                continue
            best = max(others, key=lambda r: r["eor"])
            a_eor = max(r["eor"] for r in a)
            if best["eor"] <= 0:
                continue  # no rival scores above 0 on the task: no margin to state
            margins.append((a_eor / best["eor"] - 1.0) * 100.0)
            if best["eor"] > a_eor * (1.0 + LEAD_TOLERANCE):
                losses.append(f"{best['platform']} on {best['model_id']} / {best['task']} / {best['quantization']}")
            else:
                leads += 1
    return _lead_comparison("model", margins, leads, losses, "A100 margin over the best rival: predicted EOR per task x model x quantization on the study grid (neither side extrapolated); margin = A100 EOR / best rival EOR - 1")


def _ada_model(points: pd.DataFrame, meta: dict[str, tuple[str, str]], include_extrapolated: bool = False) -> tuple[list[float], str]:
    p = _usable(points, include_extrapolated)
    effects: list[float] = []
    if p.empty:
        return effects, ""
    for g in _groups(p, ("task", "model_id", "quantization", "engine", "batch_size")):
        for cls in sorted({meta[r["platform"]][1] for r in g if r["platform"] in meta}):
            ada = [r["eor"] for r in g if meta.get(r["platform"]) == ("Ada Lovelace", cls)]
            amp = [r["eor"] for r in g if meta.get(r["platform"]) == ("Ampere", cls)]
            # An EOR of 0 (a task the model scores 0 on, GSM8K for BLOOMZ) gives no ratio.
            if ada and amp and max(amp) > 0:
                effects.append((max(ada) / max(amp) - 1.0) * 100.0)
    return effects, f"{len(effects)} class-matched predicted comparisons"


# ---------------------------------------------------------------- the claims


@dataclass(frozen=True)
class _QuantClaim:
    """A quantization claim: formats tested (each on its own), claimed effect, accuracy half."""

    claim_id: str
    statement: str
    formats: tuple[str, ...]
    precision: str
    claimed_pct: float
    tolerance_pct: float = 10.0
    platform_filter: Callable[[str], bool] | None = None
    platform_label: str = "any platform"
    efficiency: bool = False
    accuracy_statement: str = ""
    accuracy_band_pct: tuple[float, float] | None = None


# Accuracy halves are "keeps at least" statements: a format that keeps more than claimed does not
# contradict them. "<1% accuracy loss" is a bound as stated; a point figure ("-0.2%", "98% kept")
# gets one point of tolerance below it.
QUANT_CLAIMS: tuple[_QuantClaim, ...] = (
    _QuantClaim(
        "int8-energy", "INT8 quantization cuts energy by 25%.", EIGHT_BIT, "INT8", -25.0,
        accuracy_statement="INT8 loses less than 1% accuracy.", accuracy_band_pct=(-1.0, float("inf")),
    ),
    _QuantClaim(
        "fp16-energy", "FP16 mixed precision cuts energy by 16.3%.", FP16, "FP16", -16.3,
        accuracy_statement="FP16 changes accuracy by -0.2%.", accuracy_band_pct=(-1.2, float("inf")),
    ),
    _QuantClaim("dynamic-energy", "Dynamic quantization cuts energy by 10.5%.", DYNAMIC, "dynamic", -10.5),
    _QuantClaim(
        "a100-int8", "Co-optimization: A100 + INT8 gives +40% efficiency.", EIGHT_BIT, "INT8", 40.0,
        platform_filter=is_a100, platform_label="A100", efficiency=True,
        accuracy_statement="A100 + INT8 keeps 98% of the accuracy (decision matrix).", accuracy_band_pct=(-3.0, float("inf")),
    ),
    _QuantClaim(
        "rtx4090-fp16", "Co-optimization: RTX 4090 + FP16 gives +35% efficiency.", FP16, "FP16", 35.0,
        platform_filter=is_rtx4090, platform_label="RTX 4090", efficiency=True,
        accuracy_statement="RTX 4090 + FP16 keeps 99% of the accuracy (decision matrix).", accuracy_band_pct=(-2.0, float("inf")),
    ),
    _QuantClaim(
        "rtx4060ti-dynamic", "Co-optimization: RTX 4060 Ti + dynamic quantization gives +25% efficiency.", DYNAMIC, "dynamic", 25.0,
        platform_filter=is_rtx4060ti, platform_label="RTX 4060 Ti", efficiency=True,
        accuracy_statement="RTX 4060 Ti + dynamic keeps 95% of the accuracy (decision matrix).", accuracy_band_pct=(-6.0, float("inf")),
    ),
)

ADA_BAND = (15.0, 35.0)
"""Ada's claimed +20-30% with 5 points of tolerance either side."""


def _combine(claim_id: str, statement: str, tested_as: str, comps: list[Comparison], alternatives: bool = False) -> ClaimResult:
    """The claim's verdict: data first, then the model.

    Args:
        alternatives: The counted comparisons test alternative readings of the claim (the
            formats a precision could mean): if they disagree the verdict is "depends on the
            format" instead of "contradicted".
    """
    verdict, basis, n, scope = _decide(comps, alternatives)
    return ClaimResult(claim_id, statement, tested_as, tuple(comps), verdict, basis, n, scope)


def _decide(comps: Sequence[Comparison], alternatives: bool) -> tuple[Verdict, str, int, str]:
    counted = [c for c in comps if c.counted]
    for basis in ("data", "model"):
        decided = [c for c in counted if c.basis == basis and c.verdict != "not enough data"]
        if decided:
            verdicts = {c.verdict for c in decided}
            if alternatives and len(verdicts) > 1:
                verdict: Verdict = "depends on the format"
            else:
                verdict = "contradicted" if "contradicted" in verdicts else "supported"
            n = max(c.n for c in counted if c.basis == basis)
            scope = " | ".join(f"{c.verdict} for {c.scope}" for c in decided if c.scope)
            return verdict, basis, n, scope
    return "not enough data", "none", max((c.n for c in counted), default=0), ""


def check_claims(table: pd.DataFrame, points: pd.DataFrame | None = None) -> list[ClaimResult]:
    """Test every headline claim on the measured table and (if given) predicted points.

    Args:
        table: Measured table (``load_table`` frame).
        points: Predicted points on the study grid (``metrics.predicted_points``), or None.

    Returns:
        One :class:`ClaimResult` per claim, in the study's order.
    """
    points = points if points is not None else pd.DataFrame(columns=["status", "eor"])
    meta = _platform_meta()
    results: list[ClaimResult] = []
    for qc in QUANT_CLAIMS[:3]:
        results.append(_quant_claim(qc, table, points))

    comps = [_a100_leads_data(table), _a100_leads_data(table, time_weighted=True), _a100_leads_model(points)]
    results.append(
        _combine(
            "a100-leads",
            "A100 PCIe leads EOR (and TWEOR) on every task.",
            "In every matched group the A100 (any form factor; the data's A100s are SXM4) has the best EOR and TWEOR "
            f"(no rival better by more than {LEAD_TOLERANCE:.0%}).",
            comps,
        )
    )

    eff, det = _ada_data(table, meta)
    v, est, ci = verdict_for(eff, ADA_BAND)
    comps = [Comparison("data", "Ada vs Ampere gain: same platform class, matched measured groups; gain = Ampere energy / Ada energy - 1", ADA_BAND, len(eff), est, ci, v, det or ("platform catalog unavailable" if not meta else "no matched Ada/Ampere group"))]
    eff, det = _ada_model(points, meta)
    det += _extrapolated_note(_ada_model(points, meta, include_extrapolated=True)[0] if len(eff) == 0 else [])
    v, est, ci = verdict_for(eff, ADA_BAND)
    comps.append(Comparison("model", "Ada vs Ampere gain: predicted EOR, same platform class, study grid; gain = Ada EOR / Ampere EOR - 1", ADA_BAND, len(eff), est, ci, v, det))
    results.append(
        _combine(
            "ada-generation",
            "Ada Lovelace is 20-30% more efficient than the previous generation.",
            "Ada vs Ampere within the same platform class (data center / workstation / edge); band +15% to +35%.",
            comps,
        )
    )

    for qc in QUANT_CLAIMS[3:]:
        results.append(_quant_claim(qc, table, points))
    return results


def _direction_note(verdict: Verdict, estimate: float | None, claimed: float) -> str:
    """For a contradicted figure: whether the data at least agree on the direction of the effect."""
    if verdict != "contradicted" or estimate is None:
        return ""
    if np.sign(estimate) != np.sign(claimed):
        return "; opposite direction to the claim"
    return "; same direction as the claim, but " + ("larger" if abs(estimate) > abs(claimed) else "smaller")


def _quant_claim(qc: _QuantClaim, table: pd.DataFrame, points: pd.DataFrame) -> ClaimResult:
    comps: list[Comparison] = []
    acc_comps: list[Comparison] = []
    base_filter = qc.platform_filter or (lambda p: True)
    bpw = _bytes_per_weight()

    def gpu(p: str) -> bool:
        return base_filter(p) and not is_cpu(p)

    def cpu(p: str) -> bool:
        return base_filter(p) and is_cpu(p)

    def ref(q: str) -> tuple[str, ...]:
        return references(q, bpw)

    what = "efficiency gain" if qc.efficiency else "energy change"
    metric: Literal["energy", "efficiency"] = "efficiency" if qc.efficiency else "energy"
    band = (qc.claimed_pct - qc.tolerance_pct, qc.claimed_pct + qc.tolerance_pct)
    for fmt in qc.formats:
        refs = ref(fmt)
        label = f"{fmt} vs {'/'.join(refs) or 'no reference'}" + (f" on {qc.platform_label}" if qc.platform_filter else "")
        pairs = _quant_pairs(table, (fmt,), ref, gpu, metric)
        v, est, ci = verdict_for(pairs.effects, band, pairs.clusters)
        det = (pairs.detail or "no matched pair on a GPU in the table") + _direction_note(v, est, qc.claimed_pct)
        comps.append(_comp("data", f"{label}: {what}, matched measured pairs on GPUs", band, pairs, v, est, ci, det))
        # Context, not counted: CPU rows (outside the study's GPU scope).
        cpu_pairs = _quant_pairs(table, (fmt,), ref, cpu, metric)
        if cpu_pairs.effects:
            v, est, ci = verdict_for(cpu_pairs.effects, band, cpu_pairs.clusters)
            comps.append(_comp("data", f"{label} (on CPU, not counted): {what}, matched measured pairs", band, cpu_pairs, v, est, ci,
                               cpu_pairs.detail + _direction_note(v, est, qc.claimed_pct), counted=False))
        mpairs = _model_quant_pairs(points, (fmt,), ref, gpu, metric, bpw=bpw)
        det = mpairs.detail if mpairs.effects else (mpairs.detail or "no usable predictions") + _extrapolated_note(
            _model_quant_pairs(points, (fmt,), ref, gpu, metric, include_extrapolated=True, bpw=bpw).effects
        )
        v, est, ci = verdict_for(mpairs.effects, band, mpairs.clusters)
        comps.append(_comp("model", f"{label}: predicted {'EOR gain' if qc.efficiency else 'energy change'} on GPUs", band, mpairs, v, est, ci,
                           det + _direction_note(v, est, qc.claimed_pct)))
        if qc.accuracy_band_pct is not None:
            apairs = _quant_pairs(table, (fmt,), ref, gpu, "accuracy")
            v, est, ci = verdict_for(apairs.effects, qc.accuracy_band_pct, apairs.clusters)
            acc_comps.append(_comp("data", f"{label}: accuracy change, matched measured pairs on GPUs", qc.accuracy_band_pct, apairs, v, est, ci,
                                   apairs.detail or "no matched pair with both accuracies on a GPU in the table"))
            mapairs = _model_quant_pairs(points, (fmt,), ref, gpu, "accuracy", bpw=bpw)
            v, est, ci = verdict_for(mapairs.effects, qc.accuracy_band_pct, mapairs.clusters)
            acc_comps.append(_comp("model", f"{label}: predicted accuracy change on GPUs", qc.accuracy_band_pct, mapairs, v, est, ci, mapairs.detail))
    metric_words = "efficiency (EOR, or queries per Wh where accuracy is missing)" if qc.efficiency else "energy per query (gross)"
    alternatives = len(qc.formats) > 1
    tested = (
        f"The study's {qc.precision} ({'each of ' + ', '.join(qc.formats) if alternatives else qc.formats[0]}; MISSION.md does not say "
        f"which library, kernel or baseline) vs the decision flow's reference for each format (the first of its baseline formats moving "
        f"more bytes per weight; the decision matrix uses the same), on {qc.platform_label} GPUs (the study's scope), {metric_words}, "
        f"same model/task/batch/engine/source; tolerance +-{qc.tolerance_pct:.0f} points; pairs resampled by cluster "
        "(source x GPU x model). CPU rows are shown for context and not counted."
        + (" Formats that disagree make the verdict 'depends on the format'." if alternatives else "")
    )
    result = _combine(qc.claim_id, qc.statement, tested, comps, alternatives=alternatives)
    if qc.accuracy_band_pct is None:
        return result
    a_verdict, a_basis, _, _ = _decide(acc_comps, alternatives)
    return dataclasses.replace(
        result,
        accuracy_statement=qc.accuracy_statement,
        accuracy_comparisons=tuple(acc_comps),
        accuracy_verdict=a_verdict,
        accuracy_basis=a_basis,
    )


def _comp(
    basis: Basis, description: str, band: tuple[float, float], pairs: Pairs, v: Verdict, est: float | None,
    ci: tuple[float, float] | None, detail: str, counted: bool = True,
) -> Comparison:
    return Comparison(
        basis, description, band, len(pairs.effects), est, ci, v, detail, counted,
        scope=pairs.scope if pairs.effects else "", clusters=len(set(pairs.clusters)),
    )
