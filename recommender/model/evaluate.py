"""Cross-validated accuracy of the predictor and two baselines (``eai evaluate``).

Splits (whole groups held out, the predictor refit on the rest, intervals re-calibrated
inside each training fold, measured-cell lookup disabled):

- ``model``: leave-one-model-out (every model id once);
- ``platform``: leave-one-platform-out;
- ``source``: leave-one-source-out (ML.ENERGY v1 / v2 / v3, quantization reports, profiler);
- ``workload`` (only when asked): leave-one-workload-out (a token profile never seen);
- ``format`` (only when asked): each number format on each GPU held out where that GPU ran
  others (fp8 on an H100 measured in bf16 too): a format never measured on the user's GPU.
  Rows of GPUs measured at one format are not held out by it (that is ``platform``).
- ``devices`` (only when asked): each deployment measured on several device counts keeps its
  smallest and has the larger ones held out (Qwen3-32B on two H100s, measured on one too): a
  deployment split over more devices than it was measured on, as a user scaling out asks.

Quantities: energy per query (J), time per query (s), EOR (rows with a measured accuracy),
and energy per output token (generation rows; also reported for the ML.ENERGY v1 rows
alone). Each held-out row is predicted with its own token profile. Metrics: median and
90th-percentile absolute percentage error, and the share of rows inside the 90% interval.

Baselines, fitted on the same training folds:

- ``roofline``: the roofline prior of :mod:`recommender.model.physics` times one constant
  (the median measured/prior ratio of the training rows); interval from the 90% quantile
  of the training rows' |log ratio| (split conformal on the training rows);
- ``platform_median``: the training rows' median J (s) per output / prompt token on the
  same platform (all rows when the platform is unseen) times the query's tokens; interval
  as for ``roofline``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from recommender.errors import ModelStateError
from recommender.model.config import FIT_STAGES, PipelineConfig
from recommender.model.conformal import conformal_halfwidth
from recommender.model.features import Catalogs
from recommender.model.accuracy_model import AccuracyModel
from recommender.model import calibrate as calib
from recommender.model.calibrate import CampaignResiduals, CampaignScale, campaign_scale
from recommender.model.frame import measured_candidates
from recommender.model.intervals import J_PER_WH
from recommender.model.predictor import campaign_holdout, extra_models, fit_accuracy_model, fit_predictor, prepare_table

SPLITS: tuple[str, ...] = ("model", "platform", "source")
"""The splits ``eai evaluate`` runs by default (the goals of the predictor are stated on them)."""
EXTRA_SPLITS: tuple[str, ...] = ("workload", "format", "devices")
"""Splits run only when asked (``--split workload``, ``--split format``, ``--split devices``):
leave-one-workload-out holds out a token profile (FIM's long prompts, GPQA's reasoning-length
outputs) the way a campaign with its own prompt and output lengths would, which no default split
does; leave-one-format-out holds out one number format on one GPU; ``devices`` a deployment's
device counts above the smallest it was measured on (:func:`split_groups`)."""

DEPLOYMENT_COLUMNS: tuple[str, ...] = ("source", "platform", "engine", "engine_version", "model_id", "quantization", "workload")
"""What split ``devices`` holds fixed while the device count varies (one campaign's runs of one
model in one format on one GPU and engine release, on one workload; every batch)."""
ALL_SPLITS: tuple[str, ...] = SPLITS + EXTRA_SPLITS
GROUP_COLUMN = {"model": "model_id", "platform": "platform", "source": "source", "workload": "workload"}
QUANTITIES: tuple[str, ...] = ("energy_j_per_query", "time_s_per_query", "eor", "energy_j_per_output_token", "energy_j_per_output_token_v1")
METHODS: tuple[str, ...] = ("model", "roofline", "platform_median")
EVALUATION_FILE = "evaluation.json"
BREAKDOWN_COLUMNS: tuple[str, ...] = ("source", "platform", "engine")
"""Columns each split's held-out errors are also broken down by (``eai evaluate --by``): where
the error of a split lives, and which way it leans."""


def split_groups(split: str, table: pd.DataFrame) -> np.ndarray:
    """The group each row is held out with under ``split`` ("" for a row the split never holds out).

    ``format``: ``platform|format`` (bf16 and fp16 read as one, as the regressor reads them,
    :data:`recommender.model.features.SAME_NUMERICS`) on GPUs measured at two formats or more.
    ``devices``: the deployment (:data:`DEPLOYMENT_COLUMNS`) on rows above its smallest measured
    device count, every larger count of one deployment in one group; "" elsewhere.
    """
    if split == "devices":
        present = [c for c in DEPLOYMENT_COLUMNS if c in table.columns]
        # Cell by cell through str (a missing release reads "nan" in every row alike).
        key = pd.Series(["|".join(map(str, vals)) for vals in zip(*(table[c].tolist() for c in present), strict=True)], index=table.index)
        devices = pd.to_numeric(table["device_count"], errors="coerce").fillna(1.0)
        larger = (devices > devices.groupby(key).transform("min")).to_numpy()
        return np.where(larger, key.to_numpy(dtype=object), "").astype(str)
    if split != "format":
        return table[GROUP_COLUMN[split]].astype(str).to_numpy()
    from recommender.model.features import SAME_NUMERICS

    platform = table["platform"].astype(str)
    numerics = table["quantization"].astype(str).replace(SAME_NUMERICS)
    several = numerics.groupby(platform).transform("nunique").to_numpy() > 1
    return np.where(several, (platform + "|" + numerics).to_numpy(dtype=object), "").astype(str)


def split_title(split: str) -> str:
    """How a report names ``split``: ``leave-one-model-out``; for ``devices``, what it holds out."""
    return "larger device counts held out" if split == "devices" else f"leave-one-{split}-out"


def _metrics(y: np.ndarray, p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> dict[str, float | int]:
    ok = np.isfinite(y) & np.isfinite(p) & (y > 0)
    if not ok.any():
        return {"n": 0}
    ape = np.abs(p[ok] / y[ok] - 1.0) * 100.0
    cover = (lo[ok] <= y[ok] * (1 + 1e-9)) & (y[ok] <= hi[ok] * (1 + 1e-9))
    return {
        "n": int(ok.sum()),
        "median_ape_pct": float(np.median(ape)),
        "p90_ape_pct": float(np.quantile(ape, 0.9)),
        "coverage_90_pct": float(np.mean(cover) * 100.0),
    }


def _group_metrics(groups: np.ndarray, y: np.ndarray, p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> dict[str, dict[str, float | int]]:
    """:func:`_metrics` per group, with the median ratio predicted / measured (the lean)."""
    out: dict[str, dict[str, float | int]] = {}
    for g in pd.unique(groups):
        rows = groups == g
        m = _metrics(y[rows], p[rows], lo[rows], hi[rows])
        if m["n"]:
            ok = rows & np.isfinite(y) & np.isfinite(p) & (y > 0)
            m["median_ratio"] = float(np.exp(np.median(np.log(p[ok] / y[ok]))))
            out[str(g)] = m
    return out


def _baselines(train: pd.DataFrame, held: pd.DataFrame, comps_train: pd.DataFrame, comps_held: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Roofline-constant and per-platform-median predictions for held-out rows."""
    out: dict[str, dict[str, np.ndarray]] = {}
    out_h, in_h = held["output_tokens"].to_numpy(), held["fed_tokens"].to_numpy(dtype=float)
    out_t, in_t = train["output_tokens"].to_numpy(), train["fed_tokens"].to_numpy(dtype=float)
    is_gen_t = train["y_e_dec"].notna().to_numpy()
    for kind, dec, pre, target in (("energy", "e_dec", "e_pre", "energy_q"), ("time", "t_dec", "t_pre", "time_q")):
        # Roofline prior per query, one constant.
        prior_t = np.where(is_gen_t, out_t * comps_train[f"prior_{dec}"], in_t * comps_train[f"prior_{pre}"])
        prior_h = np.where(out_h > 0, out_h * comps_held[f"prior_{dec}"], in_h * comps_held[f"prior_{pre}"])
        y_t = train[target].to_numpy(dtype=float)
        ok = np.isfinite(y_t) & (y_t > 0)
        lr = np.log(y_t[ok]) - np.log(prior_t[ok])
        c = float(np.median(lr)) if ok.any() else 0.0
        w = conformal_halfwidth(np.abs(lr - c)) if ok.any() else np.nan
        p = prior_h * np.exp(c)
        out.setdefault("roofline", {})[kind] = np.stack([p, p * np.exp(-w), p * np.exp(w)])
        # Per-platform median per-token figure.
        per_tok = np.where(is_gen_t, y_t / np.maximum(out_t, 1e-9), y_t / np.maximum(in_t, 1e-9))
        frame = pd.DataFrame({"platform": train["platform"].to_numpy(), "gen": is_gen_t, "v": per_tok})[ok]
        glob_s = frame.groupby("gen")["v"].median()
        glob = glob_s.to_dict()
        either = float(glob_s.median()) if len(glob_s) else np.nan
        # Plain dicts: a pandas lookup per row was a tenth of a fold's time.
        plat = frame.groupby(["platform", "gen"])["v"].median().to_dict()
        gen_h = out_h > 0
        keys = list(zip(held["platform"], gen_h.tolist(), strict=True))
        fallback = np.array([glob.get(g, either) for g in gen_h.tolist()], dtype=float)
        med = np.array([plat.get(k, np.nan) for k in keys], dtype=float)
        med = np.where(np.isfinite(med), med, fallback)
        tokens_h = np.where(gen_h, out_h, in_h)
        pm = med * tokens_h
        # Interval: spread of training rows around their own platform's median.
        own = np.array([plat.get(k, np.nan) for k in zip(frame["platform"], frame["gen"].tolist(), strict=True)], dtype=float)
        wpm = conformal_halfwidth(np.abs(np.log(frame["v"].to_numpy()) - np.log(own)))
        out.setdefault("platform_median", {})[kind] = np.stack([pm, pm * np.exp(-wpm), pm * np.exp(wpm)])
        if kind == "energy":
            out["roofline"]["e_tok"] = np.stack([comps_held["prior_e_dec"].to_numpy() * np.exp(c)] * 3) * np.array([[1.0], [np.exp(-w)], [np.exp(w)]])
            mt = np.where(gen_h, med, np.nan)
            out["platform_median"]["e_tok"] = np.stack([mt, mt * np.exp(-wpm), mt * np.exp(wpm)])
    return out


def evaluate(
    table: pd.DataFrame,
    accuracy_table: pd.DataFrame | None,
    catalogs: Catalogs,
    splits: Sequence[str] = SPLITS,
    config: PipelineConfig | None = None,
    predict_variants: Mapping[str, PipelineConfig] | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Run the cross-validation and return the report (JSON-able dict).

    Args:
        table: Measured table.
        accuracy_table: Accuracy table (kept whole in every fold: it holds no energy).
        catalogs: Catalogs.
        splits: Which of :data:`SPLITS` to run.
        config: Pipeline stages and constants of every refit (default: all stages on);
            ``eai evaluate --without STAGE`` passes a config with stages switched off.
        predict_variants: Named configs that differ from ``config`` in predict-time stages
            only (:data:`recommender.model.config.PREDICT_STAGES`): each fold's fit is reused
            and predicted again under each, so their ablations cost no refit. Their energy
            and time metrics go to ``report["variants"][name][split]``.
        workers: Processes the folds are dealt to (default: the cores this process may use).
            Every fold is computed alone from the table, so the report does not depend on it.
    """
    config = config if config is not None else PipelineConfig()
    for vname, vconfig in (predict_variants or {}).items():
        fit_only = {st for st in FIT_STAGES if vconfig.on(st) != config.on(st)}
        if fit_only:
            raise ValueError(f"variant {vname!r} changes fit-time stages {sorted(fit_only)}; evaluate it with its own config")
    prep = prepare_table(table, catalogs).reset_index(drop=True)
    table = table.reset_index(drop=True)
    report: dict[str, Any] = {"n_rows": int(len(table)), "without": sorted(config.without), "splits": {}}
    folds: list[tuple[str, np.ndarray, np.ndarray]] = []
    for split in splits:
        groups = split_groups(split, table)
        for g in pd.unique(groups):
            held = groups == g
            if g and not held.all():
                folds.append((split, np.flatnonzero(~held), np.flatnonzero(held)))
    context = _FoldContext(table, accuracy_table, catalogs, prep, config, dict(predict_variants or {}))
    results = _run_folds(context, folds, workers)
    n = len(table)
    for split in splits:
        groups = split_groups(split, table)
        pred = {m: {q: np.full((3, n), np.nan) for q in ("energy", "time", "eor", "e_tok")} for m in METHODS}
        status = np.full(n, "", dtype=object)
        vpred: dict[str, dict[str, np.ndarray]] = {}
        for (fsplit, _, held_idx), out in zip(folds, results, strict=True):
            if fsplit != split:
                continue
            for m, per_q in out["pred"].items():
                for q, values in per_q.items():
                    pred[m][q][:, held_idx] = values
            status[held_idx] = out["status"]
            for vname, per_q in out["variants"].items():
                for q, values in per_q.items():
                    vpred.setdefault(vname, {}).setdefault(q, np.full((3, n), np.nan))[:, held_idx] = values
        truth = {
            "energy": prep["energy_q"].to_numpy(dtype=float),
            "time": prep["time_q"].to_numpy(dtype=float),
            "eor": prep["accuracy"].to_numpy(dtype=float) * J_PER_WH / 10.0 / prep["energy_q"].to_numpy(dtype=float),
            "e_tok": prep["y_e_dec"].to_numpy(dtype=float),
        }
        v1 = (prep["source"] == "mlenergy-v1").to_numpy()
        block: dict[str, Any] = {"groups": int(len(set(groups) - {""})), "status_counts": pd.Series(status[status != ""]).value_counts().to_dict()}
        for name, q, mask in (
            ("energy_j_per_query", "energy", None),
            ("time_s_per_query", "time", None),
            ("eor", "eor", None),
            ("energy_j_per_output_token", "e_tok", None),
            ("energy_j_per_output_token_v1", "e_tok", v1),
        ):
            block[name] = {}
            for m in METHODS:
                p = pred[m][q]
                y = truth[q]
                if mask is not None:
                    y = np.where(mask, y, np.nan)
                block[name][m] = _metrics(y, p[0], p[1], p[2])
        block["by"] = {
            col: {
                name: _group_metrics(prep[col].astype(str).to_numpy(), truth[q], *pred["model"][q])
                for name, q in (("energy_j_per_query", "energy"), ("time_s_per_query", "time"))
            }
            for col in BREAKDOWN_COLUMNS
        }
        block["predictions"] = _heldout_points(prep, truth, pred["model"])
        report["splits"][split] = block
        for vname, vp in vpred.items():
            report.setdefault("variants", {}).setdefault(vname, {})[split] = {
                name: _metrics(truth[q], vp[q][0], vp[q][1], vp[q][2]) for name, q in (("energy_j_per_query", "energy"), ("time_s_per_query", "time"))
            }
    return report


@dataclass(frozen=True)
class _FoldContext:
    """What every fold reads (inherited by forked workers, never pickled per fold)."""

    table: pd.DataFrame
    accuracy_table: pd.DataFrame | None
    catalogs: Catalogs
    prep: pd.DataFrame
    config: PipelineConfig
    predict_variants: dict[str, PipelineConfig]
    accuracy_models: Mapping[str, AccuracyModel] = field(default_factory=dict)
    """Accuracy model per :func:`_accuracy_key`."""


_CONTEXT: _FoldContext | None = None
"""The context of the folds being run (set before the worker processes are forked)."""


def _accuracy_key(context: _FoldContext, train_idx: np.ndarray) -> str:
    """What a fold's accuracy model is a function of: the measured rows with a score it keeps
    and the models outside the catalog (with their sizes) that it knows."""
    train = context.prep.iloc[train_idx]
    scored = train_idx[train["accuracy"].notna().to_numpy()]
    extra = extra_models(train, context.catalogs)
    return scored.tobytes().hex() + "|" + repr(extra.to_numpy().tolist())


def _run_folds(context: _FoldContext, folds: list[tuple[str, np.ndarray, np.ndarray]], workers: int | None) -> list[dict[str, Any]]:
    """Each fold's held-out predictions, in the order of ``folds``.

    The accuracy model depends on a fold only through the measured table's scored rows it
    keeps and the uncatalogued models it knows (:func:`_accuracy_key`); folds that agree on
    both would fit the very same accuracy model from the very same records. It is fitted
    once per distinct key, here, exactly as :func:`fit_predictor` would for the first such
    fold, and handed to every fold that shares it.

    The most common key's model (every scored row kept) is fitted first; the folds that use it
    are then dealt to ``workers`` forked processes, which inherit it, while this process fits
    the other keys' models (they reuse most of the first one's regressions, memoized on their
    training data in :mod:`recommender.model.accuracy_impute`) and sends their folds after
    them with the model attached. No tree ensemble is fitted in a forked process.
    """
    global _CONTEXT
    keys = [_accuracy_key(context, train_idx) for _, train_idx, _ in folds]
    order = sorted(set(keys), key=lambda k: (-keys.count(k), keys.index(k)))

    def fit_accuracy(key: str) -> AccuracyModel:
        train_idx = folds[keys.index(key)][1]
        with threadpool_limits(1):
            prep = prepare_table(context.table.iloc[train_idx], context.catalogs)
            return fit_accuracy_model(prep, context.accuracy_table, context.catalogs, extra_models(prep, context.catalogs))

    models = {order[0]: fit_accuracy(order[0])}
    table = context.table.reset_index(drop=True)
    # The campaign scale (stage ``campaign_scale``) of every fold, from refits with campaigns
    # held out: the whole table's, one at a time, for the folds of splits other than ``source``
    # (their own held-out rows left out); pairs for the ``source`` folds, each the inner
    # hold-out of either campaign when the other is the fold's (exactly what each fold's own
    # fit would nest, at half the refits).
    held_out: list[tuple[str, ...]] = []
    campaigns = calib.campaigns(table) if context.config.on("campaign_scale") else []
    if any(split != "source" for split, _, _ in folds):
        held_out += [(c,) for c in campaigns]
    if any(split == "source" for split, _, _ in folds) and len(campaigns) > calib.MIN_CAMPAIGNS:
        held_out += [(a, b) for k, a in enumerate(campaigns) for b in campaigns[k + 1 :]]

    whole: list[CampaignResiduals | None] = []  # the whole table's, assembled once

    def scale_for(i: int, z: dict[tuple[str, ...], dict[str, dict[str, np.ndarray]]]) -> CampaignScale | None:
        split, train_idx, held_idx = folds[i]
        if not campaigns:
            return None
        if split != "source":
            if not whole:
                whole.append(calib.assemble(table, {c: z[(c,)][c] for c in campaigns if (c,) in z}))
            return campaign_scale(whole[0], exclude=held_idx) if whole[0] is not None else None
        train = table.iloc[train_idx].reset_index(drop=True)
        (fold_campaign,) = pd.unique(table["source"].astype(str).to_numpy()[held_idx])
        inner = {c: z[tuple(sorted((c, fold_campaign), key=campaigns.index))][c] for c in calib.campaigns(train) if c != fold_campaign}
        residuals = calib.assemble(train, inner) if inner else None
        return campaign_scale(residuals) if residuals is not None else None

    _CONTEXT = replace(context, accuracy_models=models)
    try:
        workers = workers if workers is not None else len(os.sched_getaffinity(0))
        if workers <= 1 or len(folds) <= 1:
            for key in order[1:]:
                models[key] = fit_accuracy(key)
            z = {h: _campaign_holdout(h) for h in held_out}
            return [_fold(*folds[i], keys[i], campaign=scale_for(i, z)) for i in range(len(folds))]
        import multiprocessing

        pool = ProcessPoolExecutor(max_workers=min(workers, len(folds)), mp_context=multiprocessing.get_context("fork"))
        from recommender.model import accuracy_impute

        with pool:
            # First the campaign hold-outs (every fold's interval scale needs them), then the
            # folds that share the first accuracy model, while this process fits the others.
            pending = {h: pool.submit(_campaign_holdout, h) for h in held_out}
            z = {h: f.result() for h, f in pending.items()}
            futures = {i: pool.submit(_fold, *folds[i], keys[i], None, scale_for(i, z)) for i in range(len(folds)) if keys[i] == order[0]}
            parallel, accuracy_impute.PARALLEL = accuracy_impute.PARALLEL, False  # no fork while the fold workers run
            try:
                later = {key: fit_accuracy(key) for key in order[1:]}
            finally:
                accuracy_impute.PARALLEL = parallel
            for i in range(len(folds)):
                if i not in futures:
                    futures[i] = pool.submit(_fold, *folds[i], keys[i], later[keys[i]], scale_for(i, z))
            return [futures[i].result() for i in range(len(folds))]
    finally:
        _CONTEXT = None


def _campaign_holdout(held_out: tuple[str, ...]) -> dict[str, dict[str, np.ndarray]]:
    """``z`` of campaigns of the context's table, the whole pipeline refitted without them."""
    context = _CONTEXT
    assert context is not None
    with threadpool_limits(1):
        return campaign_holdout(
            context.table.reset_index(drop=True), held_out, context.accuracy_table, context.catalogs, context.config,
            next(iter(context.accuracy_models.values())),
        )


def _fold(
    split: str,
    train_idx: np.ndarray,
    held_idx: np.ndarray,
    accuracy_key: str,
    accuracy: AccuracyModel | None = None,
    campaign: CampaignScale | None = None,
) -> dict[str, Any]:
    """Refit on the training rows and predict the held-out rows (model and both baselines).

    ``accuracy``: the fold's accuracy model where the context does not hold it (fitted after
    the workers were forked).

    ``campaign``: the fold's campaign scale. A ``source`` fold's is nested: each campaign it
    trains on held out in turn, from refits without that campaign and the fold's. The other
    splits' folds take the whole table's campaigns held out, with their own held-out rows'
    residuals left out (the refits behind the other rows' residuals did train on them; nesting
    would cost 4-5 refits x 88 folds, over the 60 s ``eai evaluate`` budget). None where it
    could not be calibrated (fewer than three campaigns) or the stage is off: the fold's fit
    then calibrates its own or none."""
    context = _CONTEXT
    assert context is not None
    config, prep = context.config, context.prep
    with threadpool_limits(1):  # small matrices: BLAS/OpenMP threads only contend on shared cores
        predictor = fit_predictor(
            context.table.iloc[train_idx], context.accuracy_table, context.catalogs, calibrate=True, config=config,
            accuracy_model=accuracy if accuracy is not None else context.accuracy_models[accuracy_key], campaign=campaign,
        )
        cand = measured_candidates(prep.iloc[held_idx])
        variants: dict[str, dict[str, np.ndarray]] = {}
        for vname, vconfig in context.predict_variants.items():
            predictor.config = vconfig
            vres = predictor.predict(cand, use_measured=False)
            for q, col in (("energy", "energy_j_per_query"), ("time", "time_s_per_query")):
                variants.setdefault(vname, {})[q] = vres[[col, f"{col}_lo", f"{col}_hi"]].to_numpy().T
        predictor.config = config
        res = predictor.predict(cand, use_measured=False)
        comps = predictor.predict_components(cand)
        comps_train = _priors(predictor, measured_candidates(prep.iloc[train_idx]))
    pred: dict[str, dict[str, np.ndarray]] = {m: {} for m in METHODS}
    for q, col in (("energy", "energy_j_per_query"), ("time", "time_s_per_query"), ("eor", "eor")):
        pred["model"][q] = res[[col, f"{col}_lo", f"{col}_hi"]].to_numpy().T
    half = comps["e_dec_halfwidth"].to_numpy()
    e_tok = comps["e_dec"].to_numpy()
    pred["model"]["e_tok"] = np.stack([e_tok, e_tok * np.exp(-half), e_tok * np.exp(half)])
    base = _baselines(prep.iloc[train_idx], prep.iloc[held_idx], comps_train, comps)
    acc = res[["accuracy", "accuracy_lo", "accuracy_hi"]].to_numpy().T
    for m in ("roofline", "platform_median"):
        pred[m]["energy"] = base[m]["energy"]
        pred[m]["time"] = base[m]["time"]
        pred[m]["e_tok"] = base[m]["e_tok"]
        e = base[m]["energy"]
        # Baselines have no accuracy model: they use the predictor's accuracy and
        # their own energy interval (same propagation as the predictor).
        eor = acc[0] * J_PER_WH / 10.0 / e[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = eor * np.exp(-np.hypot(np.log(acc[0] / acc[1]), np.log(e[2] / e[0])))
            hi = eor * np.exp(np.hypot(np.log(acc[2] / acc[0]), np.log(e[0] / e[1])))
        pred[m]["eor"] = np.stack([eor, lo, hi])
    return {"pred": pred, "status": res["status"].to_numpy(dtype=object), "variants": variants}


def _priors(predictor: Any, candidates: pd.DataFrame) -> pd.DataFrame:
    """The roofline prior columns of :meth:`EaiPredictor.predict_components` (all the baselines
    read of the training rows), without predicting the components."""
    feats = predictor._features.columns(predictor._candidate_frame(candidates))
    return pd.DataFrame({p: feats[p].to_numpy() for p in ("prior_e_dec", "prior_t_dec", "prior_e_pre", "prior_t_pre")}, index=candidates.index)


def _sig(values: np.ndarray) -> list[float]:
    """Floats rounded to 5 significant digits (keeps the stored report small)."""
    return [float(f"{v:.5g}") for v in values]


def _heldout_points(prep: pd.DataFrame, truth: dict[str, np.ndarray], pred: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per held-out row: measured vs predicted with its 90% interval, for parity plots.

    Returns ``{quantity: {"measured", "predicted", "lo", "hi", "platform", "model_id",
    "quantization", "workload"}}`` (equal-length lists), rows where both values are finite.
    """
    out: dict[str, Any] = {}
    for name, q in (("energy_j_per_query", "energy"), ("time_s_per_query", "time"), ("eor", "eor")):
        y = truth[q]
        p = pred[q]
        ok = np.isfinite(y) & np.isfinite(p[0])
        idx = np.flatnonzero(ok)
        out[name] = {
            "measured": _sig(y[idx]),
            "predicted": _sig(p[0][idx]),
            "lo": _sig(p[1][idx]),
            "hi": _sig(p[2][idx]),
            **{col: prep[col].astype(str).to_numpy()[idx].tolist() for col in ("platform", "model_id", "quantization")},
            "workload": prep["task"].astype(str).to_numpy()[idx].tolist(),
        }
    return out


def summary_only(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the per-row held-out predictions (what ``eai evaluate --json`` prints)."""
    return {
        **report,
        "splits": {k: {kk: vv for kk, vv in v.items() if kk != "predictions"} for k, v in report.get("splits", {}).items()},
    }


def evaluate_files(
    table_path: str | Path | None = None,
    accuracy_path: str | Path | None = None,
    splits: Sequence[str] = SPLITS,
    model_dir: str | Path | None = None,
    store: bool = True,
    config: PipelineConfig | None = None,
    accuracy_table: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Evaluate on tables read from disk and (``store``) keep the report next to the model.

    The report (with the table's SHA-256) is written to ``<model_dir>/evaluation.json`` so
    that :func:`load_evaluation` (the HTML report) can show it without re-running.
    ``accuracy_table``: the accuracy table already loaded from ``accuracy_path`` (not read again).
    """
    from recommender.model.store import DEFAULT_MODEL_DIR, _atomic_write_json, _default_accuracy, _default_table
    from recommender.table import load_table, table_hash
    from recommender.table.accuracy import load_accuracy

    tpath = Path(table_path) if table_path is not None else _default_table()
    apath = Path(accuracy_path) if accuracy_path is not None else _default_accuracy()
    table = load_table(tpath)
    accuracy = accuracy_table if accuracy_table is not None else (load_accuracy(apath) if apath.is_file() else None)
    report = evaluate(table, accuracy, Catalogs.load(), splits, config=config)
    report["data_hash"] = table_hash(tpath)
    report["table_path"] = str(tpath)
    if store:
        d = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        try:
            _atomic_write_json(d / EVALUATION_FILE, report)
        except OSError as exc:
            report["note"] = f"not stored: {exc}"
    return report


def load_evaluation(table_path: str | Path | None = None, model_dir: str | Path | None = None) -> dict[str, Any]:
    """The stored ``eai evaluate`` report for a table.

    Raises:
        ModelStateError: No stored report, or it was computed on another table.
    """
    from recommender.model.store import DEFAULT_MODEL_DIR, _default_table
    from recommender.table import table_hash

    d = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    path = d / EVALUATION_FILE
    if not path.is_file():
        raise ModelStateError(f"no stored evaluation in {str(d)!r}; run 'eai evaluate'")
    report = json.loads(path.read_text(encoding="utf-8"))
    tpath = Path(table_path) if table_path is not None else _default_table()
    current = table_hash(tpath)
    if report.get("data_hash") != current:
        raise ModelStateError(f"stored evaluation was computed on another table than {str(tpath)!r}; run 'eai evaluate'")
    return report


def format_breakdown(report: dict[str, Any], column: str) -> str:
    """Plain-text table of each split's model errors per value of ``column``
    (:data:`BREAKDOWN_COLUMNS`): rows, median APE, median predicted / measured, coverage."""
    lines = []
    for split, block in report["splits"].items():
        by = block.get("by", {}).get(column)
        if by is None:
            continue
        lines.append("")
        lines.append(f"{split_title(split)} by {column} (model; ratio = median predicted / measured)")
        lines.append(f"  {column:<28} {'energy n':>8} {'APE':>7} {'ratio':>6} {'cover':>6}   {'time n':>6} {'APE':>7} {'ratio':>6} {'cover':>6}")
        e, t = by["energy_j_per_query"], by["time_s_per_query"]
        for g in sorted(set(e) | set(t)):
            cells = []
            for part, width in ((e, 8), (t, 6)):
                r = part.get(g)
                cells.append(
                    f"{r['n']:>{width}} {r['median_ape_pct']:>6.1f}% {r['median_ratio']:>6.2f} {r['coverage_90_pct']:>5.1f}%"
                    if r else f"{0:>{width}} {'-':>7} {'-':>6} {'-':>6}"
                )
            lines.append(f"  {g:<28} {cells[0]}   {cells[1]}")
    return "\n".join(lines)


def format_report(report: dict[str, Any]) -> str:
    """Plain-text table of the report."""
    lines = [f"rows: {report.get('n_rows')}   (APE in %, coverage = share of rows inside the 90% interval)"]
    if report.get("without"):
        lines.append(f"stages switched off: {', '.join(report['without'])}")
    for split, block in report["splits"].items():
        lines.append("")
        lines.append(f"{split_title(split)} ({block['groups']} groups; statuses {block['status_counts']})")
        lines.append(f"  {'quantity':<30} {'method':<16} {'n':>5} {'median APE':>11} {'p90 APE':>9} {'coverage':>9}")
        for q in QUANTITIES:
            for m in METHODS:
                r = block[q][m]
                if not r.get("n"):
                    lines.append(f"  {q:<30} {m:<16} {0:>5} {'-':>11} {'-':>9} {'-':>9}")
                    continue
                lines.append(
                    f"  {q:<30} {m:<16} {r['n']:>5} {r['median_ape_pct']:>10.1f}% {r['p90_ape_pct']:>8.1f}% {r['coverage_90_pct']:>8.1f}%"
                )
    for name, per_split in report.get("variants", {}).items():
        for split, r in per_split.items():
            e, t = r["energy_j_per_query"], r["time_s_per_query"]
            if e.get("n") and t.get("n"):
                lines.append(
                    f"  without {name} ({split_title(split)}, same fits): energy/query {e['median_ape_pct']:.1f}% "
                    f"(coverage {e['coverage_90_pct']:.1f}%), time/query {t['median_ape_pct']:.1f}% (coverage {t['coverage_90_pct']:.1f}%)"
                )
    return "\n".join(lines)
