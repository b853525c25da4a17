"""Held-out error of the accuracy model beside the size-only prior (``eai evaluate``, bench).

Folds hold out whole model families (one ``config.json`` architecture at one parameter count:
a base model with all its fine-tunes and merges) and every held-out cell is predicted by the
same regression the shipped model uses for a model scored on the other tasks of its board.
Interval coverage is cross-conformal: the half-width applied to fold ``k`` is computed from
the other folds' held-out errors only, so no cell's own error sets its interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender.model.accuracy_impute import (
    LINE_FIRST_TASKS,
    V1_TASKS,
    V2_TASKS,
    Imputer,
    _fit_arrays,
    beyond_halfwidth,
    predict_fit,
    catalog_families,
    conformal_halfwidth,
)

GOALS: dict[str, float] = {"mmlu": 2.5, "gsm8k": 7.0}
"""Goal on the family-grouped median absolute error, points (issue 17)."""
COVERAGE_GOAL: tuple[float, float] = (85.0, 95.0)


def _imputer(accuracy: pd.DataFrame) -> Imputer:
    from recommender.catalog.models import get_models
    from recommender.model.accuracy_model import prepare_scores

    reference, _ = prepare_scores(accuracy)
    sizes = {k: v.params_total_b for k, v in get_models().items()}
    if "params_b" in accuracy:
        stated = accuracy.dropna(subset=["params_b"]).groupby("model_id")["params_b"].first()
        for mid, v in stated.items():
            sizes.setdefault(str(mid), float(v))
    arch = accuracy.groupby("model_id")["architecture"].first().to_dict() if "architecture" in accuracy else {}
    return Imputer(reference, sizes, arch, catalog_families())


def _cross_conformal(err: np.ndarray, fold: np.ndarray) -> np.ndarray:
    width = np.full(len(err), np.nan)
    for f in np.unique(fold):
        width[fold == f] = conformal_halfwidth(err[fold != f])
    return width


def _size_baseline(cv: pd.DataFrame, sizes: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Size-only line refitted per fold on the training folds: (|error|, covered) per held-out cell."""
    lp = np.log(cv["model_id"].map(lambda m: sizes.get(m, np.nan)).astype(float).to_numpy())
    err = np.full(len(cv), np.nan)
    cov = np.zeros(len(cv), dtype=bool)
    y = cv["y"].to_numpy()
    for f in np.unique(cv["fold"]):
        tr = (cv["fold"].to_numpy() != f) & np.isfinite(lp)
        te = (cv["fold"].to_numpy() == f) & np.isfinite(lp)
        slope, icpt = np.polyfit(lp[tr], y[tr], 1)
        res = y[tr] - (icpt + slope * lp[tr])
        p = icpt + slope * lp[te]
        err[te] = np.abs(p - y[te])
        cov[te] = (y[te] >= p + np.quantile(res, 0.05)) & (y[te] <= p + np.quantile(res, 0.95))
    return err, cov


def evaluate_accuracy_model(accuracy: pd.DataFrame, targets: Sequence[str] = ("mmlu", "gsm8k")) -> dict[str, Any]:
    """Family-grouped CV of the cross-task imputation and of the size-only prior.

    Args:
        accuracy: The accuracy table (``recommender.table.accuracy.load_accuracy`` frame).
        targets: Tasks to hold out.

    Returns:
        Per target: ``from_v1`` (other v1 tasks + size), ``from_v2`` (v2 tasks + size: the
        route of a model only the later leaderboard scored) and ``size_prior``; each with
        cells, median/mean absolute error (points) and 90% interval coverage (%).
    """
    imp = _imputer(accuracy)
    out: dict[str, Any] = {}
    for t in targets:
        res: dict[str, Any] = {}
        for name, pool in (("from_v1", V1_TASKS), ("from_v2", V2_TASKS)):
            feats = imp.features_for([*[c for c in pool if c != t], "log_params"], t)
            if not feats:
                continue
            cv = imp.cross_validate(t, feats).dropna(subset=["pred"])
            err = np.abs(cv["y"] - cv["pred"]).to_numpy()
            width = _cross_conformal(err, cv["fold"].to_numpy())
            res[name] = {
                "features": list(feats), "cells": int(len(cv)), "families": int(cv["group"].nunique()),
                "median_abs_err_pts": float(np.median(err) * 100), "mean_abs_err_pts": float(err.mean() * 100),
                "coverage90_pct": float(np.mean(err <= width) * 100), "halfwidth_pts": float(np.median(width) * 100),
            }
            if name == "from_v1":
                berr, bcov = _size_baseline(cv, imp.sizes)
                ok = np.isfinite(berr)
                res["size_prior"] = {
                    "cells": int(ok.sum()), "median_abs_err_pts": float(np.median(berr[ok]) * 100),
                    "mean_abs_err_pts": float(np.mean(berr[ok]) * 100), "coverage90_pct": float(np.mean(bcov[ok]) * 100),
                }
        out[t] = res
    return out


def evaluate_same_task(accuracy: pd.DataFrame) -> dict[str, Any]:
    """A task's own score in another setup (Intel's 0-shot tables, vendors' numbers) as the
    board's, against imputing it from the other tasks, on the models scored every way.

    For each board task with a side column that at least ``MIN_TRAIN_VENDOR`` models share with
    it: the line's family-grouped CV errors and cross-conformal coverage, and on the same models
    the held-out errors of the cross-task routes from the other v1 tasks and from the v2 tasks.

    Returns:
        Per ``task<-side``: ``models``, ``line`` / ``from_v1`` / ``from_v2`` median and max
        |error| (points), the line's coverage (%), and ``other_board``: the route from the other
        leaderboard (the one a model scored only there would take).
    """
    from recommender.model.accuracy_impute import MIN_TRAIN_VENDOR, _cross_validate, _line

    imp = _imputer(accuracy)
    out: dict[str, Any] = {}
    for side in [c for c in imp.matrix.columns if ":" in c]:
        t = side.split(":", 1)[1]
        if t not in imp.matrix.columns:
            continue
        X, y, g, idx = imp._train(t, (side,))
        if len(y) < MIN_TRAIN_VENDOR or len(set(g)) < 2:
            continue
        pred, fold = _cross_validate(X, y, g, estimator=_line)
        err = np.abs(pred - y)
        width = _cross_conformal(err, fold)
        res: dict[str, Any] = {"models": int(len(y)), "line": {"median_abs_err_pts": float(np.median(err) * 100),
                               "max_abs_err_pts": float(err.max() * 100), "coverage90_pct": float(np.mean(err <= width) * 100)}}
        line_err = dict(zip(idx, err, strict=True))
        for name, pool in (("from_v1", V1_TASKS), ("from_v2", V2_TASKS)):
            feats = imp.features_for([*[c for c in pool if c != t], "log_params"], t)
            if not feats:
                continue
            cv = imp.cross_validate(t, feats).dropna(subset=["pred"]).set_index("model_id")
            common = [m for m in idx if m in cv.index]
            if len(common) < MIN_TRAIN_VENDOR:
                continue
            route = np.abs(cv.loc[common, "pred"] - cv.loc[common, "y"]).to_numpy()
            line = np.array([line_err[m] for m in common])
            res[name] = {"models": len(common), "median_abs_err_pts": float(np.median(route) * 100),
                         "max_abs_err_pts": float(route.max() * 100), "line_median_abs_err_pts": float(np.median(line) * 100)}
        res["other_board"] = "from_v2" if t in V1_TASKS else "from_v1"
        out[f"{t}<-{side}"] = res
    return out


def format_same_task(report: Mapping[str, Any]) -> str:
    """Plain-text table of :func:`evaluate_same_task`'s figures."""
    lines = ["a task's own score in another setup, as a line, vs imputing it from other tasks (same models; points)",
             f"{'line':<36} {'models':>6} {'line':>6} {'max':>5} {'cover%':>7} {'other v1':>9} {'v2 tasks':>9}"]
    for key, r in report.items():
        cells = []
        for name in ("from_v1", "from_v2"):
            v = r.get(name)
            cells.append(f"{v['median_abs_err_pts']:>9.2f}" if v else f"{'-':>9}")
        ln = r["line"]
        lines.append(f"{key:<36} {r['models']:>6} {ln['median_abs_err_pts']:>6.2f} {ln['max_abs_err_pts']:>5.1f} "
                     f"{ln['coverage90_pct']:>7.1f} {cells[0]} {cells[1]}")
    ok = same_task_met(report)
    lines.append(f"goal: on {', '.join(sorted(LINE_FIRST_TASKS))} (where the line answers before the other board's tasks) "
                 f"it errs less (median, same models): {'met' if ok else 'MISSED'}")
    return "\n".join(lines)


def same_task_met(report: Mapping[str, Any]) -> bool:
    """Whether, on every task of :data:`~recommender.model.accuracy_impute.LINE_FIRST_TASKS`, a
    line was evaluated against the other board's route and errs less (the evidence behind
    letting it answer first)."""
    checked = {key.split("<-", 1)[0]: r[r["other_board"]] for key, r in report.items() if r.get(r["other_board"])}
    return all(t in checked and checked[t]["line_median_abs_err_pts"] < checked[t]["median_abs_err_pts"] for t in LINE_FIRST_TASKS)


BEYOND_SPAN_COVERAGE_GOAL = 85.0
"""Least 90 % interval coverage (%) of cells imputed from scores past every fitted model's."""


def evaluate_beyond_span(accuracy: pd.DataFrame, targets: Sequence[str] = ("mmlu", "gsm8k"), top: float = 0.10) -> dict[str, Any]:
    """How imputation fares for models scored above every model its regression was fitted on.

    Newer models often score past the span of the models both leaderboards scored (the tree
    ensemble then holds its edge value: :func:`recommender.model.accuracy_impute._beyond_span`).
    To measure it on the shipped table, each score feature of a route in turn has its top
    ``top`` share of models held out; the regression is refitted on the rest as the shipped one
    is (same estimator, its own family-grouped CV half-width) and predicts the held-out models
    that lie past the refit's span on some score.

    Returns:
        Per target and route (``from_v1``, ``from_v2``): held-out cells, median |error| and
        median signed error (predicted - measured, points), and the coverage (%) of the refit's
        own 90 % interval.
    """
    imp = _imputer(accuracy)
    out: dict[str, Any] = {}
    for t in targets:
        out[t] = {}
        for name, pool in (("from_v1", V1_TASKS), ("from_v2", V2_TASKS)):
            feats = imp.features_for([*[c for c in pool if c != t], "log_params"], t)
            if not feats:
                continue
            X, y, g, _ = imp._train(t, feats)
            scores = np.array([f != "log_params" for f in feats])
            err: list[float] = []
            signed: list[float] = []
            covered: list[bool] = []
            for j in np.flatnonzero(scores):
                held = X[:, j] >= np.quantile(X[:, j], 1.0 - top)
                fit = _fit_arrays(X[~held], y[~held], g[~held], scores=scores)
                pred, past = predict_fit(fit, X[held])
                e = np.clip(pred[past], 0.0, 1.0) - y[held][past]
                hw = beyond_halfwidth(fit)
                err.extend(np.abs(e).tolist())
                signed.extend(e.tolist())
                covered.extend((np.abs(e) <= hw).tolist())
            if err:
                out[t][name] = {
                    "cells": len(err), "median_abs_err_pts": float(np.median(err) * 100),
                    "median_signed_err_pts": float(np.median(signed) * 100), "coverage90_pct": float(np.mean(covered) * 100),
                }
    return out


def format_beyond_span(report: Mapping[str, Any]) -> str:
    """Plain-text table of :func:`evaluate_beyond_span`'s figures."""
    lines = ["imputation past the scored models' span (each score's top decile held out in turn)",
             f"{'task':<8} {'route':<22} {'cells':>6} {'median|e|':>9} {'bias':>7} {'cover%':>7}"]
    for t, res in report.items():
        for name, r in res.items():
            label = {"from_v1": "other v1 tasks + size", "from_v2": "v2 tasks + size"}[name]
            lines.append(f"{t:<8} {label:<22} {r['cells']:>6} {r['median_abs_err_pts']:>9.2f} {r['median_signed_err_pts']:>+7.2f} "
                         f"{r['coverage90_pct']:>7.1f}")
    ok = beyond_span_met(report)
    lines.append(f"{'':<8} goal: coverage >= {BEYOND_SPAN_COVERAGE_GOAL:.0f}% on every route: {'met' if ok else 'MISSED'}")
    return "\n".join(lines)


def beyond_span_met(report: Mapping[str, Any]) -> bool:
    """Whether every route of :func:`evaluate_beyond_span` covers at least the goal."""
    return all(r["coverage90_pct"] >= BEYOND_SPAN_COVERAGE_GOAL for res in report.values() for r in res.values())


def evaluate_unused_side(accuracy: pd.DataFrame, task: str = "gsm8k", prefix: str = "intel:") -> dict[str, Any]:
    """Imputed board scores set against another setup's score of the same task that the
    imputation could not use (too few models carry both to fit a line, so the side score never
    reaches the task): an out-of-sample check of the imputation on recent models.

    Intel's tables ran GSM8K with lm-eval (5 shots) as the v1 board did, but on 2024-2025
    instruct models the board never scored; a setup difference shifts both ways alike, so the
    error before and after a change to the imputation compares the change.

    Returns:
        ``models``: per model, the side score and the imputed one; ``median_abs_err_pts``;
        ``n``; ``used`` (whether a same-task line exists, in which case the check is void).
    """
    imp = _imputer(accuracy)
    side = prefix + task
    used = task in imp.matrix.columns and side in imp.matrix.columns and imp.same_task_fit(task, side) is not None
    rows: list[dict[str, Any]] = []
    if side in imp.matrix.columns and not used:
        models = [m for m in imp.matrix.index if pd.notna(imp.matrix.at[m, side])
                  and (task not in imp.matrix.columns or pd.isna(imp.matrix.at[m, task]))]
        got = imp.impute_many([(m, task) for m in models])
        for m in models:
            if (m, task) in got:
                rows.append({"model_id": m, "side": float(imp.matrix.at[m, side]), "imputed": float(got[(m, task)][0])})
    err = np.array([abs(r["imputed"] - r["side"]) for r in rows])
    return {"task": task, "side": side, "used": used, "n": len(rows), "models": rows,
            "median_abs_err_pts": float(np.median(err) * 100) if len(err) else float("nan")}


def format_unused_side(report: Mapping[str, Any]) -> str:
    """Plain-text table of :func:`evaluate_unused_side`."""
    lines = [f"imputed {report['task']} against {report['side']}, a score the imputation could not use (points)"]
    if report["used"]:
        return lines[0] + ": void, a same-task line uses it"
    for r in report["models"]:
        lines.append(f"  {r['model_id']:<40} {report['side']} {r['side']:.3f}  imputed {r['imputed']:.3f}  "
                     f"{(r['imputed'] - r['side']) * 100:+.1f}")
    lines.append(f"  median |imputed - {report['side']}|: {report['median_abs_err_pts']:.1f} pts over {report['n']} models "
                 "(a check, no goal: the setups may differ)")
    return "\n".join(lines)


def goals_met(report: Mapping[str, Any]) -> dict[str, bool]:
    """Per target: median error within :data:`GOALS` and coverage within :data:`COVERAGE_GOAL` (from v1)."""
    met = {}
    for t, goal in GOALS.items():
        r = report.get(t, {}).get("from_v1")
        met[t] = bool(r) and r["median_abs_err_pts"] <= goal and COVERAGE_GOAL[0] <= r["coverage90_pct"] <= COVERAGE_GOAL[1]
    return met


def format_accuracy_report(report: Mapping[str, Any]) -> str:
    """Plain-text table of :func:`evaluate_accuracy_model`'s figures."""
    lines = ["accuracy model, held-out by model family (points; 90% interval coverage)",
             f"{'task':<8} {'predictor':<22} {'cells':>6} {'median|e|':>9} {'mean|e|':>8} {'cover%':>7}"]
    met = goals_met(report)
    for t, res in report.items():
        for name in ("from_v1", "from_v2", "size_prior"):
            r = res.get(name)
            if not r:
                continue
            label = {"from_v1": "other v1 tasks + size", "from_v2": "v2 tasks + size", "size_prior": "size prior (baseline)"}[name]
            lines.append(f"{t:<8} {label:<22} {r['cells']:>6} {r['median_abs_err_pts']:>9.2f} {r['mean_abs_err_pts']:>8.2f} "
                         f"{r['coverage90_pct']:>7.1f}")
        if t in GOALS:
            lines.append(f"{'':<8} goal: median <= {GOALS[t]} pts, coverage {COVERAGE_GOAL[0]:.0f}-{COVERAGE_GOAL[1]:.0f}%: "
                         f"{'met' if met[t] else 'MISSED'}")
    return "\n".join(lines)


def evaluate_accuracy_file(path: str | Path | None = None) -> dict[str, Any]:
    """:func:`evaluate_accuracy_model` on an accuracy CSV (default: the shipped table)."""
    from recommender.table.accuracy import DEFAULT_ACCURACY_TABLE, load_accuracy

    return evaluate_accuracy_model(load_accuracy(path or DEFAULT_ACCURACY_TABLE))
