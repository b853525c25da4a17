"""Stage ``twins``: a platform never measured under the candidate's engine borrows the departure
from physics of a twin that was.

Twins share the compute silicon and the power envelope (see :func:`twin_platforms`); the twin's
prediction times the ratio of the two platforms' fitted roofline priors carries the twin's
measured log ratio to physics over. Widths and reasons stay those of an unseen deployment. A
platform measured under other engines only borrows too: eai's H200 rows ran HF transformers, and
an H200 under vLLM is still best told by an H100 under vLLM (without it, the H200's HF rows moved
its vLLM predictions above the H100's, on the same silicon with more bandwidth).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.component import at_running_batch, take_rows
from recommender.model.config import PipelineConfig
from recommender.model.prediction import Parts, blank_labels

if TYPE_CHECKING:
    from recommender.model.predictor import EaiPredictor

STAGE = "twins"


_TOL = PipelineConfig().tunables.twin_tolerance_log
TWIN_TOLERANCE: dict[str, float] = {"tdp_w": _TOL, "peak_fp16": _TOL}
"""Largest relative difference (as |log ratio|) of TDP and dense fp16 tensor throughput for two
platforms of one class and architecture generation to count as twins (same compute silicon at
the same power; the memory system may differ, since the roofline prior carries it)."""


_FOUND: dict[tuple[Any, ...], dict[str, list[str]]] = {}
""":func:`twin_platforms` answers by their inputs' content: every refit of a cross-validation
asks again with the same catalog and one of a few measured platform sets."""

_TWIN_COLUMNS = ("platform_class", "arch_family", "bandwidth_gbs", *TWIN_TOLERANCE)


def twin_platforms(platforms: pd.DataFrame, measured: Any, tolerance_log: float = _TOL,
                   measured_too: bool = False) -> dict[str, list[str]]:
    """:func:`find_twin_platforms`, remembered by the content of its inputs (a fresh copy)."""
    frame = platforms[list(_TWIN_COLUMNS)]
    key = (
        tuple(map(str, frame.index)), frame.to_json(orient="values", double_precision=15),
        tuple(map(str, measured)), float(tolerance_log), bool(measured_too),
    )
    if key not in _FOUND:
        if len(_FOUND) >= 1024:  # a bound, not an eviction policy: refits ask a few hundred sets
            _FOUND.clear()
        _FOUND[key] = find_twin_platforms(platforms, measured, tolerance_log, measured_too)
    return {k: list(v) for k, v in _FOUND[key].items()}


def find_twin_platforms(platforms: pd.DataFrame, measured: Any, tolerance_log: float = _TOL,
                        measured_too: bool = False) -> dict[str, list[str]]:
    """For each platform not among ``measured`` (every platform with ``measured_too``): its
    measured twins other than itself, nearest first.

    Twins share the compute silicon and the power envelope: the same class and architecture
    generation (major CUDA compute capability and architecture name), TDP and dense fp16
    throughput within
    :data:`TWIN_TOLERANCE`. They run the same kernels at the same power, so a twin's measured
    departure from the roofline is a better guess than the pooled physics model, and where
    their memory differs (A100 40 vs 80 GB, H100 vs H200) the roofline prior's bandwidth term
    carries the difference. Examples in the catalog: RTX 4090 and RTX 4090 D (450 vs 425 W,
    12 % fewer tensor cores, same memory), A100 SXM4 80 GB and A800 (NVLink cut only) or A100
    SXM4 40 GB, H200 and H100 SXM (HBM3e at 4.8 vs 3.35 TB/s), GH200 and H100 SXM (the GPU's own
    700 W, not the module's 1,000 W), B300 and B200 (sm_103 / sm_100, 1,100 vs 1,000 W, the same
    2,250 dense fp16 TFLOPS; until 2026-12-05 the minor version kept them apart and an HGX B300,
    predicted from the pooled model alone, came out 18 % slower than a measured B200 with the same
    bandwidth and tensor rate). Nearness: the summed |log ratio|
    of memory bandwidth, TDP and fp16 throughput. CPUs have none.

    Args:
        platforms: :func:`recommender.model.features.platform_frame` frame.
        measured: Platform ids with measurements.
        tolerance_log: Largest |log ratio| of TDP and fp16 throughput between twins.
        measured_too: Also list the twins of measured platforms (which engine each deployment
            was measured under is the caller's to check).
    """
    from recommender.model.features import MODULE_GPU_POWER_W

    # The power envelope of the GPU itself: a GH200's catalogued 1,000 W covers its Grace CPU,
    # its GH100 runs within an H100 SXM5's 700 W (features.MODULE_GPU_POWER_W).
    platforms = platforms.assign(
        tdp_w=[min(float(t), MODULE_GPU_POWER_W.get(str(pid), np.inf)) for pid, t in zip(platforms.index, platforms["tdp_w"], strict=True)]
    )
    seen = [p for p in measured if p in platforms.index]
    out: dict[str, list[str]] = {}
    if not seen:
        return out
    cand = platforms.loc[seen]
    for pid, row in platforms.iterrows():
        if (pid in seen and not measured_too) or row["platform_class"] == "cpu":
            continue
        # One architecture generation (features.platform_frame's arch_family): Blackwell's B200
        # (sm_100) and B300 (sm_103) run the same tensor cores per SM; the tolerances keep a
        # generation's other dies apart (A100 sm_80 against A40 sm_86: half the fp16 throughput).
        same = cand[(cand["platform_class"] == row["platform_class"]) & (cand["arch_family"] == row["arch_family"])
                    & (cand.index != pid)]
        ranked = []
        for tid, t in same.iterrows():
            gaps = {c: abs(np.log(float(t[c]) / float(row[c]))) for c in ("bandwidth_gbs", *TWIN_TOLERANCE)}
            if all(np.isfinite(gaps[c]) and gaps[c] <= tolerance_log for c in TWIN_TOLERANCE):
                ranked.append((sum(gaps.values()), str(tid)))
        if ranked:
            out[str(pid)] = [tid for _, tid in sorted(ranked)]
    return out




def borrow(
    model: EaiPredictor,
    parts: Parts,
    cf: pd.DataFrame,
    feats: Any,
    needed: Mapping[str, np.ndarray] | None = None,
    priors: Mapping[str, tuple[np.ndarray | None, np.ndarray]] | None = None,
) -> tuple[Parts, np.ndarray]:
    """Point predictions of platforms never measured under the candidate's engine that have a
    twin (see :func:`twin_platforms`) measured under it, where the model's weights fit in the
    twin's memory: the twin's prediction times the ratio of the two platforms' fitted roofline
    priors, i.e. the twin's measured log ratio to physics carried over. Decode parts take it at
    the sequences the candidate runs, or the most the twin's KV cache holds; prefill parts at the
    configured static batch, at which both priors price the pass.

    Half-widths and reasons stay those of an unseen deployment: no pair of twins was ever
    held out against each other in the shipped data, so nothing says how much narrower
    borrowing makes the interval.

    ``needed``: per component, the rows it was predicted on (None: every row); only those borrow.
    ``priors``: per component, the rows it was predicted on (None: every row) and the prior it
    corrected there (:attr:`~recommender.model.component.ComponentPrediction.prior`), taken for
    the borrowing rows' own prior; None: computed here.

    Returns:
        The parts and, per row, the twin whose decode energy was borrowed ("" where none).
    """
    out = dict(parts)
    p_idx, labels = cats.level_index(cf["platform"])
    e_idx, elabels = cats.level_index(cf["engine"])
    # Each row's (platform, engine) slot in the twin tables below, found once: a take by it costs
    # a quarter of indexing a table by both codes, which numpy does per row and axis.
    pair = p_idx.astype(np.intp) * (len(elabels) + 1) + e_idx
    borrowed = blank_labels(len(cf))
    # Components whose twin lookups agree share the frames: build them once.
    built: dict[tuple[Any, ...], tuple[np.ndarray, Any, pd.DataFrame, Any, np.ndarray]] = {}
    for name, comp in model.components.items():
        if name not in out or comp.n_rows == 0:
            continue
        if name not in model._twins:
            model._twins[name] = twin_platforms(model._features.platforms, comp.domain.get("platforms", ()),
                                                model.config.tunables.twin_tolerance_log, measured_too=True)
        twins = model._twins[name]
        # The nearest twin measured under the candidate's engine: an A800 measured under HF
        # transformers says nothing about vLLM on an A100 80GB; the A100 40GB does.
        deployments = set(comp.domain.get("deployments", ()))
        # Twin per (platform level, engine level) as a position in ``names`` (-1: none), so
        # rows find theirs by integer codes, not by comparing a million strings.
        names: list[str] = []
        table = np.full((len(labels) + 1, len(elabels) + 1), -1, dtype=np.int64)
        for i, lab in enumerate(labels):
            for j, eng in enumerate(elabels):
                if f"{lab}|{eng}" in deployments:
                    continue  # measured under this engine: its own rows tell
                twin = next((t for t in twins.get(str(lab), ()) if f"{t}|{eng}" in deployments), "")
                if twin:
                    if twin not in names:
                        names.append(twin)
                    table[i, j] = names.index(twin)
        decode = name.endswith("_dec")
        key = (tuple(tuple(names[x] if x >= 0 else "" for x in r) for r in table), decode, needed is None)
        if key not in built:
            per_row = np.take(table.ravel(), pair)
            rows = np.flatnonzero((per_row >= 0) if needed is None else (per_row >= 0) & needed[name])
            own_cf = cf.iloc[rows]
            own_f = take_rows(feats, rows) if len(rows) else None
            twin_platform = pd.Categorical.from_codes(per_row[rows], categories=pd.Index(names, dtype=object)) if names else []
            twin_cf = own_cf.assign(platform=twin_platform)
            if decode and len(rows):
                # A decode step's departure is the twin's at the sequences the candidate runs
                # (its KV cache may hold fewer than configured: the rest queue), or at the most
                # the twin's own cache holds, carried on by the candidate's prior. Asked at the
                # configured batch, or lent only where both run as many, a concurrency sweep
                # jumped wherever either cache filled up (Mixtral-8x22B in fp8 on a B300 under
                # vLLM, 192 -> 256 sequences: 34.6 -> 31.1 s and 198 -> 128 J per query).
                twin_cf = at_running_batch(twin_cf, own_f["batch_running"])
            twin_f = model._features.columns(twin_cf) if len(rows) else None
            if len(rows):
                # Only models the twin could hold: the weights fit in its memory (a 27 B model in
                # bf16 on a 40 GB twin of an 80 GB card would borrow from a deployment that cannot
                # exist). A log-likelihood pass is priced at the configured static batch on both
                # cards, so prefill parts borrow at that batch whatever either cache holds.
                same = np.flatnonzero(np.asarray(twin_f["log_weights_over_memory"], dtype=float) < 0.0)
                rows, twin_cf = rows[same], twin_cf.iloc[same]
                own_f, twin_f = take_rows(own_f, same), take_rows(twin_f, same)
            built[key] = (rows, own_f, twin_cf, twin_f, per_row)
        rows, own_f, twin_cf, twin_f, per_row = built[key]
        if not len(rows):
            continue
        if name == "e_dec":
            # Whichever component built the shared frames (components come in fit order).
            borrowed[rows] = np.asarray(names, dtype=object)[per_row[rows]]
        twin_feats = model.component_feats(name, twin_f, twin_cf)
        own_prior = None
        if priors is not None and name in priors:
            predicted_on, prior = priors[name]
            # The borrowing rows are among those the component was predicted on (both sorted).
            at = rows if predicted_on is None else np.minimum(np.searchsorted(predicted_on, rows), max(len(predicted_on) - 1, 0))
            if predicted_on is None or np.array_equal(predicted_on[at], rows):
                own_prior = prior[at]
        if own_prior is None:
            own_prior = comp.prior_values(model.component_feats(name, own_f, cf.iloc[rows]))
        at_twin = comp.predict_full(twin_feats)  # its prior is the twin's
        ratio = own_prior / at_twin.prior
        point = out[name].point.copy()
        point[rows] = at_twin.point * ratio
        out[name] = out[name].replace(point=point)
    return out, borrowed

