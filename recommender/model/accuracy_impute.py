"""Cross-task imputation of 16-bit scores from the leaderboard matrix, with grouped-CV intervals.

The matrix has one row per model and one column per task (the Open LLM Leaderboard v1 six, the
v2 six, and side columns of other setups' scores: vendor-reported ``vendor:<task>`` numbers,
Intel's 0-shot ``intel:<task>`` tables) plus ``log_params``. To predict task ``t``
for a model, the features are the columns that model has, taken in order of their correlation
with ``t`` while at least :data:`MIN_TRAIN` models share all of them and ``t`` (so a model with
only v2 scores gets a v2-to-``t`` regression trained on the models scored on both boards). The
regression is a gradient-boosted tree ensemble (LightGBM) where at least :data:`MIN_TREES` models train
it (scores relate non-linearly: near chance, MMLU says nothing about GSM8K), a ridge otherwise.

Intervals are split-conformal on **family-grouped** cross-validation: the training models are
split into folds by family (one ``config.json`` architecture at one parameter count: the
fine-tunes and merges of one base, which are near-copies, never sit on both sides), each fold
is predicted by a fit on the others, and the half-width is the ``ceil((n+1) 0.9)/n`` quantile of
the absolute held-out errors.

Side scores stand in for board scores in two stages before that: a model no board scored gets
its board columns from its side columns (a ridge on the few models that carry both), and any
model lacking a board task it has a side score of gets a line from that side score to the board's
(:meth:`Imputer.same_task_fit`), which answers in place of the cross-task regression where
:data:`LINE_FIRST_TASKS` and the regression's span say it should. For a model only vendors
scored, a score reached through such stand-ins answers where its half-width (the stages' errors
in quadrature) is narrower than the family prior's, the estimate that would answer instead, by
more than that width's sampling spread; one wider than :data:`MAX_STAGED_HALFWIDTH` does not
join the prior's fit.

Models with no score at all get the family/size/release-date prior: a ridge of the task's score
on log parameters and release year over the catalogued models that have a (measured or imputed)
score, plus their family's mean residual shrunk toward 0 (``sum / (n + 1)``); its half-width is
the same conformal quantile of leave-one-family-out errors.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GroupKFold
from threadpoolctl import ThreadpoolController

from recommender.model.linear import centered_ridge

_CONTROLLER: ThreadpoolController | None = None


def _one_thread() -> Any:
    """Context in which BLAS and OpenMP run one thread (the fits here are small: threads cost
    more than they give on shared cores). One controller, made on first use, serves every call:
    ``threadpool_limits`` scans the loaded libraries each time (1 ms; an accuracy model enters
    some 200 such blocks)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)


MIN_TRAIN = 30
"""Models that must share a feature set with the target before it is used."""
MIN_TREES = 200
"""Training models from which gradient-boosted trees replace the ridge."""
MIN_TRAIN_VENDOR = 8
"""Models that must share vendor-reported features with a leaderboard task (first stage)."""
MAX_FEATURES = 8
MAX_STAGED_HALFWIDTH = 0.10
"""Half-width (fraction) up to which an estimate through other setups' scores always counts as
imputed and joins the family prior's fit. A wider one, for a model no board scored, answers only
where it is narrower than the family prior's own held-out half-width for the task by more than
that width's sampling spread (MMLU 12.7 +- 1.5 points, GSM8K 26.9 +- 2.2 on the shipped tables;
until 2026-12-06 this constant was the limit, so DeepSeek-V3's MMLU, +-11.0 through its vendor
MMLU-Pro, GPQA and IFEval, fell back to the prior's +-12.7, while its GSM8K at +-26.7 still
does). A model the board scored keeps this limit (its cross-task regression answers instead),
and so does one Intel's tables scored (:meth:`Imputer._vendor_only`)."""
PRIOR_BOOTSTRAP = 200
"""Bootstrap resamples of the family prior's held-out errors that measure its half-width's
sampling spread (:meth:`Imputer._prior_line`)."""
FOLDS = 5
COVERAGE = 0.90
Z90 = 1.6448536269514722


def catalog_families() -> dict[str, tuple[str, float | None]]:
    """Catalog model id -> (family, release year as a decimal year or None)."""
    from recommender.catalog.models import get_models

    out: dict[str, tuple[str, float | None]] = {}
    for mid, spec in get_models().items():
        year = None
        if spec.release_date is not None:
            year = spec.release_date.year + (spec.release_date.timetuple().tm_yday - 1) / 365.25
        out[mid] = (spec.family, year)
    return out


def conformal_halfwidth(abs_err: np.ndarray, coverage: float = COVERAGE) -> float:
    """Split-conformal half-width: the ``ceil((n+1) coverage)``-th smallest held-out |error|."""
    n = len(abs_err)
    if n == 0:
        return float("nan")
    k = min(n, math.ceil((n + 1) * coverage))
    return float(np.sort(np.asarray(abs_err, dtype=float))[k - 1])


def family_key(model_id: str, params_b: float | None, architecture: str | None, families: Mapping[str, Any]) -> str:
    """Group of near-copies: architecture at a rounded parameter count (else the catalog family)."""
    if architecture and params_b and np.isfinite(params_b):
        size = round(params_b) if params_b >= 3 else round(params_b, 1)
        return f"{architecture}|{size}"
    if model_id in families:
        return "family:" + families[model_id][0]
    return "model:" + model_id


_REGRESSIONS: dict[str, dict[str, Any]] = {}
"""Fitted regressions by the content of their training data (see :meth:`Imputer.regression`)."""


def _content_key(target: str, feats: tuple[str, ...], X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> str:
    """SHA-256 of a regression's definition and training data (values, shapes and row order)."""
    h = hashlib.sha256(repr((target, feats, X.shape, _estimator(len(y)).get_params())).encode())
    h.update(np.ascontiguousarray(X, dtype=float).tobytes())
    h.update(np.ascontiguousarray(y, dtype=float).tobytes())
    h.update("\x1f".join(str(v) for v in groups).encode())
    return h.hexdigest()


PARALLEL = True
"""Whether :meth:`Imputer.prefit` may fork worker processes (off while a caller's own workers run)."""
PARALLEL_MIN_FITS = 8
"""Fewest missing regressions worth forking worker processes for (:meth:`Imputer.prefit`)."""


def _cross_validate(X: np.ndarray, y: np.ndarray, g: np.ndarray, folds: int = FOLDS,
                    estimator: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Family-grouped CV predictions and fold per row (NaN / -1 where fewer than 2 groups)."""
    make = estimator if estimator is not None else _estimator
    k = min(folds, len(set(g)))
    pred = np.full(len(y), np.nan)
    fold = np.full(len(y), -1)
    if k >= 2:
        for f, (tr, te) in enumerate(GroupKFold(n_splits=k).split(X, y, g)):
            est = make(len(tr)).fit(X[tr], y[tr])
            pred[te] = est.predict(X[te])
            fold[te] = f
    return pred, fold


EXTRAPOLATION_TOP = 0.10
"""Share of a regression's training models, ranked by their mean standardized score, whose
families are held out to test how it extrapolates past its span (:func:`_extension`)."""
MIN_BEYOND = 10
"""Fewest held-out models past the span for that test to decide anything."""


def _extended(trees: Any, ridge: Any, X: np.ndarray, highest: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The trees at the span's edge plus the ridge's rise from the edge to each row's scores.

    Only scores above the span are moved to its edge (size is not a score: a larger model is
    expected, and a line toward chance says nothing)."""
    Xc = np.array(X, dtype=float, copy=True)
    Xc[:, scores] = np.minimum(Xc[:, scores], highest[scores])
    return trees.predict(Xc) + ridge.predict(X) - ridge.predict(Xc)


def _extension(X: np.ndarray, y: np.ndarray, g: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Whether a tree ensemble should carry a ridge's slope past its span, by a held-out test.

    A tree ensemble answers past its span with its edge leaves, so every model beyond reads
    alike; a ridge extends its line. Which extrapolates better depends on the task: MMLU keeps
    rising with the later board's scores, a saturating task does not. So the regression's own
    rows decide: the families of the top :data:`EXTRAPOLATION_TOP` of models (by their mean
    standardized score) are held out, trees and a ridge are fitted on the rest, and the held-out
    models past that fit's span are predicted both ways. The way with the smaller median
    error is kept; the 90 % conformal quantile of its errors is the half-width of a prediction
    past the span (where it is wider than the regression's cross-validated one).

    Returns:
        ``extend`` (bool), ``halfwidth_beyond``, the two median errors (``edge_err``,
        ``ext_err``, fractions) and ``n_beyond`` (NaN / 0 where the test could not run).
    """
    none = {"extend": False, "halfwidth_beyond": float("nan"), "edge_err": float("nan"), "ext_err": float("nan"), "n_beyond": 0}
    if not scores.any() or len(y) < MIN_TREES:
        return none
    S = X[:, scores]
    sd = S.std(axis=0)
    z = ((S - S.mean(axis=0)) / np.where(sd > 0, sd, 1.0)).mean(axis=1)
    top = z >= np.quantile(z, 1.0 - EXTRAPOLATION_TOP)
    held = np.isin(g, np.unique(g[top]))
    train = ~held
    if train.sum() < MIN_TRAIN:
        return none
    trees = _estimator(MIN_TREES).fit(X[train], y[train])
    ridge = Ridge(alpha=1.0).fit(X[train], y[train])
    highest = X[train].max(axis=0)
    past = held & (S > highest[scores]).any(axis=1)
    if past.sum() < MIN_BEYOND:
        return none
    e_edge = np.abs(np.clip(trees.predict(X[past]), 0.0, 1.0) - y[past])
    e_ext = np.abs(np.clip(_extended(trees, ridge, X[past], highest, scores), 0.0, 1.0) - y[past])
    extend = bool(np.median(e_ext) < np.median(e_edge))
    return {
        "extend": extend,
        "halfwidth_beyond": conformal_halfwidth(e_ext if extend else e_edge),
        "edge_err": float(np.median(e_edge)),
        "ext_err": float(np.median(e_ext)),
        "n_beyond": int(past.sum()),
    }


def _fit_arrays(X: np.ndarray, y: np.ndarray, g: np.ndarray, estimator: Any = None, scores: np.ndarray | None = None) -> dict[str, Any]:
    """A regression fitted on all rows, with its family-grouped CV half-width and median error.

    ``estimator``: ``n -> unfitted estimator`` (default: trees from :data:`MIN_TREES` models, a
    ridge below). ``scores``: which columns are scores (not size); a tree ensemble then also
    learns how to extrapolate past its span (:func:`_extension`)."""
    make = estimator if estimator is not None else _estimator
    pred, _ = _cross_validate(X, y, g, estimator=make)
    err = np.abs(y - pred)
    err = err[~np.isnan(err)]
    kind = "line" if estimator is _line else ("trees" if len(y) >= MIN_TREES else "ridge")
    fit = {
        "estimator": make(len(y)).fit(X, y),
        "halfwidth": conformal_halfwidth(err),
        "mae": float(np.median(err)) if len(err) else float("nan"),
        "n": len(y),
        "kind": kind,
        # Per feature, the smallest and largest values the regression was trained on.
        "lowest": X.min(axis=0) if len(y) else np.full(X.shape[1], np.nan),
        "highest": X.max(axis=0) if len(y) else np.full(X.shape[1], np.nan),
        "extend": False,
        "halfwidth_beyond": float("nan"),
    }
    if scores is not None:
        fit["scores"] = np.asarray(scores, dtype=bool)
    if kind == "trees" and scores is not None:
        fit.update(_extension(X, y, g, fit["scores"]))
        if fit["extend"]:
            fit["ridge"] = Ridge(alpha=1.0).fit(X, y)
    return fit


def predict_fit(fit: Mapping[str, Any], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A fitted regression's predictions, and per row whether it lies past the span on a score.

    Rows past the span take the trees' edge plus the ridge's slope where :func:`_extension`
    chose so; the caller widens their interval to ``halfwidth_beyond``."""
    X = np.asarray(X, dtype=float)
    pred = np.asarray(fit["estimator"].predict(X), dtype=float)
    scores = fit.get("scores")
    if scores is None:
        return pred, np.zeros(len(X), dtype=bool)
    beyond = (X[:, scores] > fit["highest"][scores]).any(axis=1)
    # A row missing a feature (trees take NaN, a ridge does not) stays at the edge.
    carry = beyond & np.isfinite(X).all(axis=1)
    if fit.get("extend") and carry.any():
        pred[carry] = _extended(fit["estimator"], fit["ridge"], X[carry], fit["highest"], scores)
    return pred, beyond


def beyond_halfwidth(fit: Mapping[str, Any]) -> float:
    """The half-width of a prediction past the span: the extrapolation test's where it is
    wider than the cross-validated one (:func:`_extension`)."""
    beyond = float(fit.get("halfwidth_beyond", np.nan))
    return max(float(fit["halfwidth"]), beyond) if np.isfinite(beyond) else float(fit["halfwidth"])


def _fit_arrays_one_thread(data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> dict[str, Any]:
    with _one_thread():
        X, y, g, scores = data
        return _fit_arrays(X, y, g, scores=scores)


V1_TASKS: tuple[str, ...] = ("arc_challenge", "hellaswag", "mmlu", "truthfulqa_mc2", "winogrande", "gsm8k")
V2_TASKS: tuple[str, ...] = ("ifeval", "bbh", "math_lvl5", "gpqa_mc", "musr", "mmlu_pro")
BOARDS: tuple[frozenset[str], ...] = (frozenset(V1_TASKS), frozenset(V2_TASKS))
"""The Open LLM Leaderboard's v1 and v2 task sets: one harness setup within each."""


LINE_FIRST_TASKS: frozenset[str] = frozenset({"mmlu", "arc_challenge", "hellaswag"})
"""Tasks whose own score in another setup, mapped by a line, beats imputing them from the other
board's tasks. On the 15-17 models scored every way (`python bench/accuracy_model.py`, median
|error|, points): MMLU 0.93 vs 1.46 from the v2 tasks, ARC 0.81 vs 2.64, HellaSwag 1.55 vs 2.71;
not Winogrande (1.63 vs 1.58). From the task's own board's other tasks the regression does better
still (0.74 / 0.50 / 0.63), so a model scored there keeps it."""


def same_board(feature: str, target: str) -> bool:
    """Whether a feature column is a score of the target's own leaderboard."""
    return any(feature in board and target in board for board in BOARDS)


def _score_mask(feats: Sequence[str]) -> np.ndarray:
    """Which features are scores (every one but size)."""
    return np.array([f != "log_params" for f in feats], dtype=bool)


def _beyond_span(fit: Mapping[str, Any], feats: Sequence[str], x: np.ndarray) -> str:
    """What a basis adds where a model's scores lie above every model the regression was fitted on.

    A tree ensemble answers there with its edge leaves, so every model beyond reads alike (on
    the shipped table Qwen2-72B-Instruct and Llama-3.3-70B-Instruct both impute an MMLU of 0.792
    from their v2 scores, whose MATH level 5 of 0.42-0.48 lies past the 0.31 of any model both
    leaderboards scored); a ridge extends its line. Either way the user is told which score is
    past the span. Size is not a score: larger models are expected.
    """
    highest = fit.get("highest")
    if highest is None:
        return ""
    past = [(f, float(v), float(h)) for f, v, h in zip(feats, x, highest, strict=True)
            if f != "log_params" and np.isfinite(v) and np.isfinite(h) and v > h]
    if not past:
        return ""
    if fit.get("kind") == "trees" and fit.get("extend"):
        how = (f"tree ensemble's edge value plus a ridge's slope past it (held-out top families: "
               f"{fit['ext_err'] * 100:.1f} vs {fit['edge_err'] * 100:.1f} pts at the edge)")
    elif fit.get("kind") == "trees":
        how = "tree ensemble holds its edge value there"
    else:
        how = "its line is extended"
    listed = ", ".join(f"{f} {v:.3f} > {h:.3f}" for f, v, h in past)
    return f"; beyond the scored models ({listed}): the {how}"


def _ridge(X: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, float]:
    """Coefficients and intercept of ``Ridge(alpha)`` (:func:`~recommender.model.linear.centered_ridge`)."""
    w, xm, ym = centered_ridge(X, y, alpha)
    return w, float(ym - xm @ w)


def _line(n: int) -> Any:
    """Ordinary least squares: one score of a task mapped onto another setup's score of it."""
    return LinearRegression()


def _lgbm_regressor() -> Any:
    """LightGBM's scikit-learn regressor class, imported when a tree ensemble is first fitted.

    Raises:
        EaiError: LightGBM is not installed, or its shared library does not load (it links the
            system's OpenMP runtime, Debian's ``libgomp1``).
    """
    try:
        from lightgbm import LGBMRegressor
    except (ImportError, OSError) as exc:
        from recommender.errors import EaiError

        raise EaiError(
            f"fitting the accuracy model needs LightGBM, which did not load ({exc}); "
            "fix: pip install 'lightgbm>=4.0' (on Debian also apt-get install libgomp1)"
        ) from exc
    return LGBMRegressor


def _estimator(n: int) -> Any:
    """Gradient-boosted trees from :data:`MIN_TREES` training models, a ridge below.

    The trees are LightGBM's histogram boosting (60 rounds of at most 15 leaves, learning rate
    0.15, L2 penalty 1, at least 20 models a leaf, 255 bins), one thread and deterministic: the
    algorithm scikit-learn's ``HistGradientBoostingRegressor`` re-implements, with the same
    settings. Each accuracy model fits some 500 of these ensembles on 160-5,000 rows, where
    scikit-learn's per-node Python cost dominated: 27 against 8 ms a fit at a median 400 rows,
    36 against 17 ms at 4,500 (one thread, the shipped table's regressions, 2026-12-05)."""
    if n >= MIN_TREES:
        return _lgbm_regressor()(n_estimators=60, learning_rate=0.15, num_leaves=15, reg_lambda=1.0, min_child_samples=20,
                             max_bin=255, n_jobs=1, random_state=0, deterministic=True, force_col_wise=True, verbose=-1)
    return Ridge(alpha=1.0)


class Imputer:
    """The score matrix and its per-feature-set regressions (fitted lazily, cached)."""

    def __init__(self, reference: pd.DataFrame, sizes: Mapping[str, float], architecture: Mapping[str, Any],
                 families: Mapping[str, tuple[str, float | None]]) -> None:
        ref = reference[reference["model_id"].notna()].drop_duplicates(["model_id", "column"])
        self.matrix = ref.pivot(index="model_id", columns="column", values="accuracy").astype(float)
        self.se = ref.pivot(index="model_id", columns="column", values="se").astype(float)
        self.source = ref.pivot(index="model_id", columns="column", values="source")
        self.families = dict(families)
        self.sizes = dict(sizes)
        self.architecture = {k: (v if isinstance(v, str) else "") for k, v in architecture.items()}
        lp = pd.Series({m: math.log(s) for m, s in sizes.items() if s and np.isfinite(s) and s > 0}, dtype=float)
        self.matrix["log_params"] = lp.reindex(self.matrix.index)
        self.groups = pd.Series(
            {m: family_key(m, self.sizes.get(m), self.architecture.get(m), families) for m in self.matrix.index}, dtype=object
        )
        obs = self.matrix.notna()
        # Per-cell lookups as numpy (a pandas ``.at`` per cell was most of a refit's time).
        self._row = {m: i for i, m in enumerate(self.matrix.index)}
        self._col = {c: j for j, c in enumerate(self.matrix.columns)}
        self._obs_np = obs.to_numpy(dtype=bool)
        values = self.matrix.to_numpy(dtype=float)
        self._values = values
        self._groups_np = self.groups.to_numpy()
        cols = list(self.matrix.columns)
        corr = np.zeros((len(cols), len(cols)))
        for i in range(len(cols)):
            for j in range(i, len(cols)):
                both = ~np.isnan(values[:, i]) & ~np.isnan(values[:, j])
                if both.sum() >= MIN_TRAIN_VENDOR and np.std(values[both, i]) > 0 and np.std(values[both, j]) > 0:
                    corr[i, j] = corr[j, i] = abs(np.corrcoef(values[both, i], values[both, j])[0, 1])
        self.corr = pd.DataFrame(corr, index=cols, columns=cols)
        self._corr_np = corr
        self._fits: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
        self._stage_basis: dict[tuple[str, str], str] = {}
        self._lines: dict[tuple[str, str], dict[str, Any]] = {}
        self._wide: set[tuple[str, str]] = set()
        """(model, task) pairs imputed through other setups' scores wider than
        :data:`MAX_STAGED_HALFWIDTH`: they answer for their model, but the family prior is not
        fitted on them (it stays what the board-near scores say)."""
        from recommender.model.accuracy_model import is_side_column

        # Leaderboard columns (not another setup's side columns, not size).
        self._board = [c for c in cols if not is_side_column(c) and c != "log_params"]

    # -- features ----------------------------------------------------------------------
    def features_for(self, observed: Sequence[str], target: str, min_train: int = MIN_TRAIN) -> tuple[str, ...]:
        """Columns used to predict ``target`` from a model's ``observed`` columns (greedy, see module doc)."""
        if target not in self.matrix.columns:
            return ()
        has_t = self._obs_np[:, self._col[target]]
        j = self._col[target]
        corr = {c: self._corr_np[self._col[c], j] for c in observed if c != target and c in self._col}
        cand = [c for c in observed if c != target and c in self._col and corr[c] > 0]
        cand.sort(key=lambda c: (-corr[c], c))
        chosen: list[str] = []
        mask = has_t.copy()
        for c in cand:
            nxt = mask & self._obs_np[:, self._col[c]]
            if nxt.sum() >= min_train:
                chosen.append(c)
                mask = nxt
            if len(chosen) >= MAX_FEATURES:
                break
        # A feature set of log_params alone is the size prior, not an imputation.
        return tuple(chosen) if any(c != "log_params" for c in chosen) else ()

    def _train(self, target: str, feats: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index]:
        mask = self._obs_np[:, self._col[target]].copy()
        for c in feats:
            mask &= self._obs_np[:, self._col[c]]
        rows = np.flatnonzero(mask)
        X = self._values[np.ix_(rows, [self._col[c] for c in feats])]
        y = self._values[rows, self._col[target]]
        return X, y, self._groups_np[rows], self.matrix.index[rows]

    def cross_validate(self, target: str, feats: tuple[str, ...], folds: int = FOLDS) -> pd.DataFrame:
        """Family-grouped CV of one regression: held-out truth, prediction, group and fold per model."""
        X, y, g, idx = self._train(target, feats)
        pred, fold = _cross_validate(X, y, g, folds)
        return pd.DataFrame({"model_id": idx, "y": y, "pred": pred, "group": g, "fold": fold})

    def regression(self, target: str, feats: tuple[str, ...]) -> dict[str, Any]:
        """The fitted regression of ``target`` on ``feats`` with its grouped-CV half-width.

        Memoized per imputer and, across imputers, on the content of its training data (the
        feature matrix, the target and the family groups, in row order): the predictor's
        grouped refits hold out a few measured scores, which changes the score matrix of a few
        models only, so most regressions of a refit see exactly the rows of the full fit and
        would be refitted to the very same trees (``random_state`` fixed, no early stopping).
        """
        key = (target, feats)
        if key not in self._fits:
            X, y, g, _ = self._train(target, feats)
            content = _content_key(target, feats, X, y, g)
            fit = _REGRESSIONS.get(content)
            if fit is None:
                with _one_thread():  # small fits: threads cost more than they give on shared cores
                    fit = self._fit(target, feats, (X, y, g))
                _REGRESSIONS[content] = fit
            self._fits[key] = fit
        return self._fits[key]

    def _fit(self, target: str, feats: tuple[str, ...], train: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
        X, y, g = train if train is not None else self._train(target, feats)[:3]
        return _fit_arrays(X, y, g, scores=_score_mask(feats))

    def prefit(self, wanted: Sequence[tuple[str, tuple[str, ...]]]) -> None:
        """Fit the ``(target, feats)`` regressions that neither this imputer nor the memo holds,
        in parallel processes (one per usable core) where several are missing.

        The same fits :meth:`regression` would make one by one (each is a function of its
        training data only), so what is imputed does not depend on the number of processes.
        """
        todo: dict[str, tuple[tuple[str, tuple[str, ...]], tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        for target, feats in wanted:
            if (target, feats) in self._fits:
                continue
            X, y, g, _ = self._train(target, feats)
            content = _content_key(target, feats, X, y, g)
            if content in _REGRESSIONS:
                self._fits[(target, feats)] = _REGRESSIONS[content]
            else:
                todo.setdefault(content, ((target, feats), (X, y, g, _score_mask(feats))))
        workers = min(len(os.sched_getaffinity(0)), len(todo)) if PARALLEL else 1
        if workers < 2 or len(todo) < PARALLEL_MIN_FITS:
            return  # regression() fits them as they are asked for
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # Forked workers fit with one OpenMP/BLAS thread (the parent's limits are set again in
        # each), so no thread team of the parent's is needed in a child.
        jobs = list(todo.items())
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            fits = list(pool.map(_fit_arrays_one_thread, [data for _, (_, data) in jobs], chunksize=max(1, len(jobs) // (4 * workers))))
        for (content, (key, _)), fit in zip(jobs, fits, strict=True):
            _REGRESSIONS[content] = fit
            self._fits[key] = fit

    # -- the table ---------------------------------------------------------------------
    def _measured(self, m: str, t: str) -> tuple[float, float, float, str] | None:
        if m not in self._row or t not in self._col or not self._is_obs(m, t):
            return None
        a = float(self.matrix.at[m, t])
        se = float(self.se.at[m, t]) if t in self.se.columns and pd.notna(self.se.at[m, t]) else float("nan")
        if not np.isfinite(se):
            from recommender.model.accuracy_model import _binomial_se

            se = _binomial_se(t, a)
        se = se if np.isfinite(se) else 0.02
        return a, a - Z90 * se, a + Z90 * se, f"measured ({self.source.at[m, t]})"

    def _is_obs(self, m: str, c: str) -> bool:
        """Whether ``m`` has a score in column ``c`` (both known to the matrix)."""
        return bool(self._obs_np[self._row[m], self._col[c]])

    def _observed(self, m: str) -> list[str]:
        if m not in self._row:
            return ["log_params"] if self.sizes.get(m) else []
        row = self._obs_np[self._row[m]]
        return [c for c, o in zip(self.matrix.columns, row, strict=True) if o]

    def impute_many(self, pairs: Sequence[tuple[str, str]], hold_wide: bool = False) -> dict[tuple[str, str], tuple[float, float, float, str]]:
        """Imputed 16-bit scores of (model, task) pairs from the models' other columns.

        Pairs sharing a regression are predicted in one batch (a tree ensemble's per-call
        overhead dominates single-row predictions). Pairs with no usable feature are left out,
        and so are those that read other setups' scores with a half-width above
        :data:`MAX_STAGED_HALFWIDTH`, unless ``hold_wide``: then, for models no board scored,
        they are returned and recorded in ``_wide`` for :meth:`table` to weigh against the
        family prior.
        """
        filled, fill_hw = self._vendor_stage({m for m, _ in pairs})
        self._same_task_stage({m for m, _ in pairs}, filled, fill_hw)
        plan: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        out: dict[tuple[str, str], tuple[float, float, float, str]] = {}
        staged_out: dict[tuple[str, str], tuple[float, float, float, str]] = {}
        line_first: set[tuple[str, str]] = set()
        through_stand_ins: set[tuple[str, str]] = set()  # answers read through other setups' scores
        for m, t in pairs:
            # A side-score stage predicted it. Its limit is the family prior's width where that
            # prior is the alternative (no board scored the model), else the fixed one: a model
            # the board scored has its cross-task regression to answer instead.
            limit = 1.0 if hold_wide and not self._has_board(m) else MAX_STAGED_HALFWIDTH
            if t in filled.get(m, {}) and fill_hw[m][t] <= limit:
                p, hw = filled[m][t], fill_hw[m][t]
                staged_out[(m, t)] = (p, p - hw, p + hw, self._stage_basis[(m, t)])
                if not self._has_board(m) and hw <= MAX_STAGED_HALFWIDTH:
                    continue  # the staged score is the model's best: its other columns are staged too
            # Staged columns stand in for a model's missing board scores only where it has none: a
            # model scored on a board keeps its own columns as the regression's inputs.
            staged_inputs = [] if self._has_board(m) else [c for c in filled.get(m, {}) if c != t and fill_hw[m][c] <= MAX_STAGED_HALFWIDTH]
            observed = self._observed(m) + staged_inputs
            feats = self.features_for(observed, t)
            if feats:
                plan.setdefault((t, feats), []).append(m)
        self.prefit(sorted(plan))
        for (t, feats), models in sorted(plan.items()):
            fit = self.regression(t, feats)
            x = self.matrix.reindex(models)[list(feats)].to_numpy(dtype=float, copy=True)
            for r, m in enumerate(models):
                for j, f in enumerate(feats):
                    if not np.isfinite(x[r, j]) and f in filled.get(m, {}):
                        x[r, j] = filled[m][f]
            with _one_thread():
                raw, past = predict_fit(fit, x)
                pred = np.clip(raw, 0.0, 1.0)
            names = ", ".join(f.replace("log_params", "size") for f in feats)
            for r, (m, p) in enumerate(zip(models, pred, strict=True)):
                staged = [f for f in feats if f in filled.get(m, {}) and not self._is_obs(m, f)] if m in self._row else []
                # A feature that was itself imputed carries its own error (added in quadrature).
                base_hw, width_from = fit["halfwidth"], "family-grouped CV"
                if past[r] and beyond_halfwidth(fit) > base_hw:
                    # Past the span the held-out extrapolation test's errors set the width.
                    base_hw, width_from = beyond_halfwidth(fit), "held-out top families past the span"
                hw = float(np.hypot(base_hw, max((fill_hw[m][f] for f in staged), default=0.0)))
                if staged and hw > MAX_STAGED_HALFWIDTH and not hold_wide:
                    continue
                if staged:
                    through_stand_ins.add((m, t))
                via = f"; {', '.join(staged)} first imputed from other setups' scores" if staged else ""
                beyond = _beyond_span(fit, feats, x[r])
                basis = (f"imputed from {names} ({fit['kind']} on {fit['n']} models{via}; "
                         f"+-{hw * 100:.1f} pts from {width_from})") + beyond
                out[(m, t)] = (float(p), float(p) - hw, float(p) + hw, basis)
                if beyond or (t in LINE_FIRST_TASKS and not any(same_board(f, t) for f in feats)):
                    line_first.add((m, t))
        # A model scored on a board may also carry the very task in another setup: its line
        # answers where the other tasks' regression read scores past its span (there it holds its
        # edge value) and, for LINE_FIRST_TASKS, where that regression read the other board only.
        for key, got in staged_out.items():
            # (A stand-in wider than MAX_STAGED_HALFWIDTH only fills a gap; it does not displace
            # the regression, whose answer it may then be compared with the prior in place of.)
            if key not in out or (key in line_first and (got[2] - got[1]) / 2 <= MAX_STAGED_HALFWIDTH):
                out[key] = got
                through_stand_ins.add(key)
        self._wide |= {k for k in through_stand_ins if (out[k][2] - out[k][1]) / 2 > MAX_STAGED_HALFWIDTH + 1e-12}
        return out

    def _vendor_only(self, m: str) -> bool:
        """Whether only vendors scored the model (no board, no Intel table). Only such a model's
        wide imputations may answer before the family prior: its stand-ins are v2-era board
        columns staged from its vendor's scores. An Intel-scored model reaches the board through
        Intel's lines where they are narrow; its other tasks would be read through regressions
        whose errors were measured on the 2023 board (Qwen3-14B's GSM8K read 0.708 +- 23.6 that
        way, where Intel's own lm-eval GSM8K of it is 0.883 and the family prior 0.871)."""
        return not self._has_board(m) and not any(c.startswith("intel:") for c in self._observed(m))

    def _has_board(self, m: str) -> bool:
        """Whether the model has a leaderboard score (not only other setups' scores)."""
        return m in self._row and any(self._is_obs(m, c) for c in self._board)

    def same_task_fit(self, target: str, side: str) -> dict[str, Any] | None:
        """A line from another setup's score of ``target`` (column ``side``) to the board's, with
        its family-grouped CV half-width; None where fewer than :data:`MIN_TRAIN_VENDOR` models
        (of two families or more) carry both.

        The same test under another setup (0-shot instead of few-shot, another harness) keeps
        the order of models and shifts the scale: Intel's 0-shot MMLU of 17 models the v1 board
        scored maps onto it with a median error of 0.9 points, where the cross-task imputation
        from the v2 board errs 1.5 on the same models (``python bench/accuracy_model.py``)."""
        key = (target, side)
        if key in self._lines:
            return self._lines[key] or None
        fit: dict[str, Any] = {}
        if target in self._col and side in self._col:
            X, y, g, _ = self._train(target, (side,))
            if len(y) >= MIN_TRAIN_VENDOR and len(set(g)) >= 2:
                with _one_thread():
                    fit = _fit_arrays(X, y, g, estimator=_line)
        self._lines[key] = fit
        return fit or None

    def _same_task_stage(self, models: set[str], filled: dict[str, dict[str, float]], hws: dict[str, dict[str, float]]) -> None:
        """Board columns a model lacks, each from its own score of that task in another setup.

        Adds to ``filled`` / ``hws`` (in place) where the line's half-width is narrower than what
        the stage before put there."""
        from recommender.model.accuracy_model import SIDE_COLUMNS

        for m in sorted(models):
            if m not in self._row:
                continue
            for t in self._board:
                if self._is_obs(m, t):
                    continue
                for prefix in SIDE_COLUMNS.values():
                    side = prefix + t
                    if side not in self._col or not self._is_obs(m, side):
                        continue
                    fit = self.same_task_fit(t, side)
                    if fit is None or not np.isfinite(fit["halfwidth"]):
                        continue
                    x = self.matrix.loc[[m], [side]].to_numpy(dtype=float)
                    if x[0, 0] < fit["lowest"][0]:  # toward chance a line says nothing (see the vendor stage)
                        continue
                    if t in hws.get(m, {}) and hws[m][t] <= fit["halfwidth"]:
                        continue
                    self._stage(filled, hws, m, t, fit, x, (
                        f"imputed from its own {t} in another setup ({side}; a line fitted on {fit['n']} models scored "
                        f"both ways; +-{fit['halfwidth'] * 100:.1f} pts from family-grouped CV)"))

    def _stage(self, filled: dict[str, dict[str, float]], hws: dict[str, dict[str, float]], m: str, t: str,
               fit: Mapping[str, Any], x: np.ndarray, basis: str) -> None:
        """Record a staged score of ``(m, t)``: the fit's prediction at ``x`` (clipped to [0, 1]),
        its half-width and its basis."""
        with _one_thread():
            filled.setdefault(m, {})[t] = float(np.clip(fit["estimator"].predict(x)[0], 0.0, 1.0))
        hws.setdefault(m, {})[t] = fit["halfwidth"]
        self._stage_basis[(m, t)] = basis

    def _vendor_stage(self, models: set[str]) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
        """Leaderboard columns of models that only vendors scored, from their vendor-reported columns.

        Few models carry both kinds of score (vendor numbers start where the leaderboards
        stop), so this stage trains a ridge on as few as :data:`MIN_TRAIN_VENDOR` models; its
        conformal half-width (the largest held-out error at such sizes) travels on.
        """
        from recommender.model.accuracy_model import is_side_column

        board = self._board
        filled: dict[str, dict[str, float]] = {}
        hws: dict[str, dict[str, float]] = {}
        for m in sorted(models):
            if m not in self._row or any(self._is_obs(m, c) for c in board):
                continue
            vendor = [c for c in self.matrix.columns if is_side_column(c) and self._is_obs(m, c)]
            if not vendor:
                continue
            # Size only where it is known (a model outside the catalog may state none).
            sized = [*vendor, "log_params"] if self._is_obs(m, "log_params") else vendor
            for t in board:
                feats = self.features_for(sized, t, min_train=MIN_TRAIN_VENDOR)
                if not feats:
                    continue
                fit = self.regression(t, feats)
                if not np.isfinite(fit["halfwidth"]):
                    continue
                x = self.matrix.loc[[m], list(feats)].to_numpy(dtype=float)
                # A ridge on a dozen models is a line through the scores they span, and scores
                # stop following a line toward chance (module doc): Gemma 3 1B's vendor
                # MMLU-Pro of 0.147 (chance 0.10) against 0.44-0.71 for the models this one was
                # fitted on became a leaderboard MMLU-Pro of 0.32, then an MMLU of 0.63. A
                # model scoring below the span on any of its scores gets no staged score.
                scores = np.array([f != "log_params" for f in feats])
                if ((x[0] < fit["lowest"]) & scores).any():
                    continue
                self._stage(filled, hws, m, t, fit, x, (
                    f"imputed from {', '.join(f.replace('log_params', 'size') for f in feats)} "
                    f"({fit['kind']} on {fit['n']} models; +-{fit['halfwidth'] * 100:.1f} pts from family-grouped CV)"))
        return filled, hws

    def table(self, models: Sequence[str], tasks: Sequence[str], priors: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
        """Point, interval, status and basis of every (model, task): measured, imputed or prior.

        An imputation through other setups' scores wider than :data:`MAX_STAGED_HALFWIDTH`
        (``wide``) is held aside while the family prior is fitted on the rest, then answers, for
        a model only vendors scored (:meth:`_vendor_only`), where its half-width is below the
        prior's by more than that width's own sampling spread (the bootstrap standard deviation
        of the prior's conformal quantile): where the two are that close, the prior (whose
        release date follows the board's drift) answers."""
        measured = {(m, t): self._measured(m, t) for m in models for t in tasks}
        imputed = self.impute_many([k for k, v in measured.items() if v is None], hold_wide=True)
        rows: list[dict[str, Any]] = []
        for (m, t), got in measured.items():
            status = "measured"
            if got is None:
                got, status = imputed.get((m, t)), "imputed"
            values = (dict(zip(("accuracy", "lo", "hi", "basis"), got, strict=True)) if got
                      else {"accuracy": np.nan, "lo": np.nan, "hi": np.nan, "basis": ""})
            rows.append({"model_id": m, "task": t, "status": status if got else "prior", **values})
        table = pd.DataFrame(rows, columns=["model_id", "task", "accuracy", "lo", "hi", "status", "basis"])
        wide = np.array([(m, t) in self._wide for m, t in zip(table["model_id"], table["task"], strict=True)], dtype=bool)
        held = table.loc[wide].copy()
        table.loc[wide, ["accuracy", "lo", "hi"]] = np.nan
        table.loc[wide, ["status", "basis"]] = ["prior", ""]
        for t in tasks:
            line = self._family_prior(table, t, priors.get(t))
            if line is None:
                continue
            limit = line["hw"] - line["hw_sd"]
            own = held[(held["task"] == t) & ((held["hi"] - held["lo"]) / 2 < limit) & held["model_id"].map(self._vendor_only).astype(bool)]
            table.loc[own.index, ["accuracy", "lo", "hi", "status", "basis"]] = own[["accuracy", "lo", "hi", "status", "basis"]]
        return table

    def _family_prior(self, table: pd.DataFrame, task: str, size_prior: Mapping[str, float] | None) -> dict[str, Any] | None:
        """Fill the task's unscored models from family, size and release date, else the size line.

        The line's point never exceeds the best score the table holds for the task: extrapolated
        in size and date, it had put a 405B model of 2024 at an MMLU of 0.97 and a 671B one of
        2025 at 1.00, where the best measured is 0.84. (A logit scale between chance and 1
        bounds it too, but held out by family it erred more: MMLU median 4.8 -> 5.7 pts.)

        Returns the fitted line (:meth:`_prior_line`; None where too few models fit it)."""
        rows = table["task"] == task
        known = rows & table["accuracy"].notna()
        todo = rows & table["accuracy"].isna()
        if not todo.any():
            return None

        train = table[known]
        best = float(train["accuracy"].max()) if len(train) else 1.0
        fitted = self._prior_line(train["model_id"].tolist(), train["accuracy"].to_numpy(dtype=float))
        ids = table.index[todo]
        models = table.loc[ids, "model_id"].tolist()
        X, good = self._prior_features(models)
        line = None  # the fitted line at each model to fill
        if fitted is not None:
            hw, offset, count = fitted["hw"], fitted["offset"], fitted["count"]
            line = ((X - fitted["mu"]) / fitted["sd"]) @ fitted["coef"] + fitted["icpt"]
        fill: dict[int, list[Any]] = {}
        for k, (i, m) in enumerate(zip(ids, models, strict=True)):
            family = self.families.get(m, ("?", None))[0]
            if line is not None and good[k]:
                p = float(np.clip(line[k] + offset.get(family, 0.0), 0.0, best))
                fam_txt = f"family {family} ({count[family]} scored)" if family in count else f"family {family} (none scored)"
                fill[i] = [p, p - hw, min(p + hw, 1.0), f"prior: {fam_txt}, size and release date (+-{hw * 100:.1f} pts, leave-one-family-out)"]
            elif size_prior is not None and self.sizes.get(m):
                from recommender.model.accuracy_model import _size_prior

                pa, pl, ph = _size_prior(size_prior, np.array([self.sizes[m]]), np.array([0.0]))
                fill[i] = [float(pa[0]), float(pl[0]), float(ph[0]), "prior: size only"]
            else:
                fill[i] = [0.5, 0.0, 1.0, "prior: nothing known"]
        if fill:
            block = pd.DataFrame.from_dict(fill, orient="index", columns=["accuracy", "lo", "hi", "basis"])
            table.loc[block.index, ["accuracy", "lo", "hi", "basis"]] = block
        return fitted

    def _prior_features(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Log parameters and release year per model, and where both are known."""
        lp = np.array([math.log(self.sizes[m]) if self.sizes.get(m) else np.nan for m in ids], dtype=float)
        yr = np.array([(self.families.get(m, (None, None))[1] or np.nan) for m in ids], dtype=float)
        return np.c_[lp, yr], np.isfinite(lp) & np.isfinite(yr)

    def _prior_line(self, ids: Sequence[str], y: np.ndarray) -> dict[str, Any] | None:
        """The family prior's line fitted on the scores ``y`` of models ``ids``: standardized
        ridge on log size and release year, per-family mean residuals shrunk toward 0, and the
        conformal half-width of its leave-one-family-out errors (None: fewer than 10 models
        of 3 families)."""
        Xtr, ok = self._prior_features(ids)
        ytr = np.asarray(y, dtype=float)[ok]
        fam = np.array([self.families.get(m, ("?", None))[0] for m in ids], dtype=object)[ok]
        Xtr = Xtr[ok]
        if len(ytr) < 10 or len(set(fam)) < 3:
            return None
        mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0) + 1e-9
        Z = (Xtr - mu) / sd
        lofo = []
        for f in sorted(set(fam)):  # leave-one-family-out errors for the width
            tr = fam != f
            coef, icpt = _ridge(Z[tr], ytr[tr])
            lofo.extend(np.abs(Z[~tr] @ coef + icpt - ytr[~tr]).tolist())
        coef, icpt = _ridge(Z, ytr)
        res = ytr - (Z @ coef + icpt)
        errors = np.array(lofo)
        # The half-width's own sampling spread: its conformal quantile over bootstrap resamples
        # of the held-out errors (fixed seed: a refit on the same scores gives the same figure).
        rng = np.random.default_rng(0)
        spread = float(np.std([conformal_halfwidth(rng.choice(errors, len(errors))) for _ in range(PRIOR_BOOTSTRAP)]))
        return {
            "mu": mu, "sd": sd, "coef": coef, "icpt": icpt, "hw": conformal_halfwidth(errors), "hw_sd": spread,
            "offset": {f: float(res[fam == f].sum() / ((fam == f).sum() + 1)) for f in set(fam)},
            "count": {f: int((fam == f).sum()) for f in set(fam)},
        }

    def summary(self) -> dict[str, Any]:
        """What the fitted regressions are: feature set, kind, training models, median |error|, half-width."""
        return {
            f"{t}<-{'+'.join(f)}": {"n": v["n"], "kind": v["kind"], "cv_median_abs_err": v["mae"], "halfwidth": v["halfwidth"]}
            for (t, f), v in sorted(self._fits.items())
        }
