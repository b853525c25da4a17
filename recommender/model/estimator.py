"""The regressor: a ridge model of log(measured / roofline prior) on physics features.

:class:`LogRatioRegressor` is a scikit-learn estimator (parameters in ``__init__``,
learned state ending in ``_``, ``check_is_fitted``) wrapping a ``Pipeline`` of a
``ColumnTransformer`` (standardized numeric physics features + one-hot categorical
classes/identifiers, unseen levels ignored) and ``RidgeCV``. It predicts
``prior * exp(f(x))``: the prior carries the scale and shape, the ridge model learns
the correction. Because the one-hot identifiers are penalized like any other
coefficient, they act as shrunken per-platform / per-model offsets (a random-effects
flavour); an unseen platform or model falls back to the physics features alone.

A fitted linear pipeline collapses to an intercept, one weight per raw numeric feature
and one offset per categorical level: :meth:`LogRatioRegressor.export_linear` writes
that as plain JSON and :class:`recommender.model.linear.LinearLogModel` evaluates it with numpy only, which keeps
loading light and prediction of a million rows fast. No pickle anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin

from recommender.model import roofline_fit as roofline
from recommender.model.linear import positive_target, varied_within


class InteractionExpander(TransformerMixin, BaseEstimator):
    """One column per (level of a categorical column) x (numeric column): ``1[level] * x``.

    Lets a linear model give each engine (or quantization family) its own slope on a
    physics feature, e.g. how energy per token falls with batch size under vLLM versus HF.
    A slope is only offered where ``x`` varied among the level's training rows: if every
    row of a level had one output length, say, ``1[level] * x`` is a copy of the level's
    indicator and the ridge would hand it a slope nothing identified, which would move
    predictions the moment ``x`` changes. Such columns are zero.

    Args:
        category: Name of the categorical column (first column of the input).
        numeric: Names of the numeric columns (the remaining input columns, in order).

    A level's slope is also only applied inside the range of ``x`` its rows covered: beyond
    it ``x`` is held at the nearest end, so the level follows the shared slope there. A slope
    fitted on FP8 models of 22-35 B active parameters said nothing about a 405 B dense one,
    yet extrapolated it moved that prediction ten-fold. Columns named in ``unclamped``
    (operating-point variables such as batch size) extrapolate freely.

    Attributes:
        levels_: Levels of ``category`` seen in ``fit`` (unseen levels give zero columns).
        varied_: ``(levels, numeric)`` mask: whether ``x`` varied within the level in ``fit``.
        lo_: ``(levels, numeric)`` smallest ``x`` of each level in ``fit``.
        hi_: ``(levels, numeric)`` largest ``x`` of each level in ``fit``.
    """

    def __init__(self, category: str = "", numeric: Sequence[str] = (), unclamped: Sequence[str] = ()) -> None:
        self.category = category
        self.numeric = numeric
        self.unclamped = unclamped

    def fit(self, X: Any, y: Any = None) -> InteractionExpander:
        frame = _as_frame(X)
        self.levels_ = sorted(pd.unique(frame.iloc[:, 0].astype(str)).tolist())
        cat = frame.iloc[:, 0].astype(str).to_numpy()
        nums = frame.iloc[:, 1:].to_numpy(dtype=float)
        self.varied_ = varied_within(cat, nums, self.levels_)
        self.lo_ = np.vstack([nums[cat == level].min(axis=0) for level in self.levels_]) if self.levels_ else np.zeros((0, nums.shape[1]))
        self.hi_ = np.vstack([nums[cat == level].max(axis=0) for level in self.levels_]) if self.levels_ else np.zeros((0, nums.shape[1]))
        free = np.array([n in set(self.unclamped) for n in self.numeric], dtype=bool)
        if len(free) == nums.shape[1]:
            self.lo_[:, free], self.hi_[:, free] = -np.inf, np.inf
        self.n_features_in_ = frame.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "levels_")
        frame = _as_frame(X)
        cat = frame.iloc[:, 0].astype(str).to_numpy()
        nums = frame.iloc[:, 1:].to_numpy(dtype=float)
        cols = [
            (cat == level)[:, None] * np.clip(nums, self.lo_[i], self.hi_[i]) * self.varied_[i]
            for i, level in enumerate(self.levels_)
        ]
        return np.hstack(cols) if cols else np.zeros((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"{self.category}={lv}*{n}" for lv in self.levels_ for n in self.numeric], dtype=object)


def _as_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"Expected 2D array, got {arr.ndim}D array instead")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


GROUPED_ALPHA_FOLDS = 5
"""Folds of :func:`grouped_alpha` (fewer where there are fewer groups)."""


def grouped_alpha(design: np.ndarray, target: np.ndarray, groups: np.ndarray, alphas: tuple[float, ...]) -> float | None:
    """The ridge penalty among ``alphas`` that best predicts whole held-out groups.

    Leave-one-out picks the penalty that best predicts a row from its neighbours, and a
    measured table is mostly neighbours (the same deployment at the next batch size), so it
    picks the weakest penalty and the coefficients that fit one campaign's texture. A user's
    deployment is a model (or a campaign) the fit has not seen: holding out whole groups
    (:class:`sklearn.model_selection.GroupKFold`) scores the penalty on that. Each fold's ridge
    path comes from one eigen-decomposition of its centred design's Gram matrix, as
    ``Ridge(fit_intercept=True)`` solves it.

    Args:
        design: Transformed design matrix (rows x features).
        target: Log-ratio targets.
        groups: Group label per row.
        alphas: Candidate penalties.

    Returns:
        The penalty with the least held-out squared error (ties: the larger), or None with
        fewer than three groups.
    """
    from sklearn.model_selection import GroupKFold

    labels = np.unique(groups)
    if len(labels) < 3:
        return None
    z = np.asarray(design, dtype=float)
    a = np.asarray(alphas, dtype=float)
    err = np.zeros(len(a))
    for train, test in GroupKFold(n_splits=min(GROUPED_ALPHA_FOLDS, len(labels))).split(z, target, groups):
        mu = z[train].mean(axis=0)
        tm = float(target[train].mean())
        zc = z[train] - mu
        # Eigen-decomposition of the (features x features) Gram matrix: w(alpha) =
        # V (S + alpha)^-1 V' Z'y for every alpha at the cost of one decomposition.
        evals, evecs = np.linalg.eigh(zc.T @ zc)
        vty = evecs.T @ (zc.T @ (target[train] - tm))
        zt = (z[test] - mu) @ evecs
        for i, alpha in enumerate(a):
            pred = zt @ (vty / (np.clip(evals, 0.0, None) + alpha)) + tm
            err[i] += float(np.sum((target[test] - pred) ** 2))
    best = np.flatnonzero(err <= err.min() * (1 + 1e-12))
    return float(a[best].max())


class LogRatioRegressor(RegressorMixin, BaseEstimator):
    """Ridge regression of ``log(y / prior)`` on numeric and categorical features.

    Args:
        prior_column: Column of ``X`` holding the (positive) prior; for array input an
            integer position.
        numeric_features: Numeric columns; None means every column that is neither the
            prior nor categorical.
        categorical_features: Categorical columns (one-hot, unseen levels ignored).
        interactions: ``(categorical, (numeric, ...))`` pairs: each level of the categorical
            column gets its own slope on each listed numeric column.
        alphas: Ridge penalties tried by efficient leave-one-out CV (``RidgeCV``).
        unclamped: Interaction columns whose per-level slope extrapolates beyond the level's
            fitted range (the others are held at the range's ends; see
            :class:`InteractionExpander`).

    Attributes:
        pipeline_: The fitted scikit-learn Pipeline.
        numeric_: Numeric columns used.
        categorical_: Categorical columns used.
        n_features_in_: Number of columns seen in ``fit``.
        feature_names_in_: Column names seen in ``fit`` (frames only).
        residual_scale_: Root mean square in-sample log residual.
    """

    def __init__(
        self,
        prior_column: str | int = "prior",
        numeric_features: Sequence[str] | None = None,
        categorical_features: Sequence[str] = (),
        interactions: Sequence[tuple[str, Sequence[str]]] = (),
        alphas: Sequence[float] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0),
        unclamped: Sequence[str] = (),
    ) -> None:
        self.prior_column = prior_column
        self.numeric_features = numeric_features
        self.categorical_features = categorical_features
        self.interactions = interactions
        self.alphas = alphas
        self.unclamped = unclamped

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags

    def _prior_name(self, frame: pd.DataFrame) -> str:
        if isinstance(self.prior_column, int | np.integer) and not isinstance(self.prior_column, bool):
            return str(frame.columns[int(self.prior_column)])
        return str(self.prior_column)

    def _columns(self, frame: pd.DataFrame) -> tuple[list[str], list[str], str]:
        prior = self._prior_name(frame)
        cat = [c for c in self.categorical_features]
        if self.numeric_features is None:
            num = [c for c in frame.columns if c != prior and c not in cat]
        else:
            num = list(self.numeric_features)
        return num, cat, prior

    def _design_columns(self, num: list[str], cat: list[str]) -> list[str]:
        cols = list(num) + list(cat)
        for cat_col, nums in self.interactions:
            cols += [c for c in (cat_col, *nums) if c not in cols]
        return cols

    def fit(self, X: Any, y: Any, groups: Any = None) -> LogRatioRegressor:
        """Fit on features ``X`` (with the prior column) and positive targets ``y``.

        Args:
            X: Features with the prior column.
            y: Positive targets.
            groups: Per-row group labels (e.g. the model). With three groups or more the ridge
                penalty is chosen among ``alphas`` by predicting whole held-out groups
                (:func:`grouped_alpha`); without, by efficient leave-one-out CV (``RidgeCV``).
        """
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import Ridge, RidgeCV
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        frame = _as_frame(X)
        y_arr = positive_target(y, len(frame))
        num, cat, prior = self._columns(frame)
        prior_values = np.asarray(frame[prior], dtype=float)
        if not np.all(np.isfinite(prior_values)) or np.any(prior_values <= 0):
            raise ValueError(f"prior column {prior!r} must be finite and positive")
        target = np.log(y_arr) - np.log(prior_values)
        transformers: list[tuple[str, Any, list[str]]] = []
        if num:
            transformers.append(("num", StandardScaler(), num))
        if cat:
            transformers.append(("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat))
        for cat_col, nums in self.interactions:
            transformers.append(
                (
                    f"x:{cat_col}",
                    Pipeline(
                        [
                            ("expand", InteractionExpander(cat_col, tuple(nums), tuple(self.unclamped))),
                            ("scale", StandardScaler()),
                        ]
                    ),
                    [cat_col, *nums],
                )
            )
        if not transformers:
            raise ValueError("no feature columns besides the prior")
        design = frame[self._design_columns(num, cat)].copy()
        for c in num:
            design[c] = np.asarray(design[c], dtype=float)
        for c in cat:
            design[c] = design[c].astype(str)
        columns = ColumnTransformer(transformers, remainder="drop")
        alpha = None
        if groups is not None and len(self.alphas) > 1:
            # The folds share the scaling fitted on every row (means and spreads of the inputs,
            # never the targets): a small leak of input statistics into the held-out folds.
            z = columns.fit_transform(design)
            alpha = grouped_alpha(z, target, np.asarray(groups), tuple(self.alphas))
        if alpha is None:
            ridge: Any = RidgeCV(alphas=tuple(self.alphas)) if len(self.alphas) > 1 else Ridge(alpha=float(self.alphas[0]))
            pipe = Pipeline([("features", columns), ("ridge", ridge)])
            pipe.fit(design, target)
        else:
            # The transformer is fitted already: the ridge alone is fitted on its output.
            pipe = Pipeline([("features", columns), ("ridge", Ridge(alpha=alpha).fit(z, target))])
        self.pipeline_ = pipe
        self.numeric_ = num
        self.categorical_ = cat
        self.prior_name_ = prior
        self.n_features_in_ = frame.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.target_range_ = (float(target.min()), float(target.max()))
        resid = target - pipe.predict(design)
        self.residual_scale_ = float(np.sqrt(np.mean(resid**2)))
        return self

    def _design(self, X: Any) -> tuple[pd.DataFrame, np.ndarray]:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "pipeline_")
        frame = _as_frame(X)
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {frame.shape[1]} features, but LogRatioRegressor is expecting {self.n_features_in_} features as input"
            )
        design = frame[self._design_columns(self.numeric_, self.categorical_)].copy()
        for c in self.numeric_:
            design[c] = np.asarray(design[c], dtype=float)
        for c in self.categorical_:
            design[c] = design[c].astype(str)
        return design, np.asarray(frame[self.prior_name_], dtype=float)

    def predict_log_ratio(self, X: Any) -> np.ndarray:
        """Predicted ``log(y / prior)``, clipped to the range seen in ``fit``."""
        design, _ = self._design(X)
        return np.clip(np.asarray(self.pipeline_.predict(design), dtype=float), *self.target_range_)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted target: ``prior * exp(log ratio)``."""
        _, prior = self._design(X)
        return prior * np.exp(self.predict_log_ratio(X))

    def export_linear(self) -> dict[str, Any]:
        """The fitted model as plain JSON-able numbers (see :class:`LinearLogModel`)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "pipeline_")
        ct = self.pipeline_.named_steps["features"]
        ridge = self.pipeline_.named_steps["ridge"]
        coef = np.asarray(ridge.coef_, dtype=float).ravel()
        intercept = float(ridge.intercept_)
        pos = 0
        numeric: dict[str, float] = {}
        if self.numeric_:
            scaler = ct.named_transformers_["num"]
            k = len(self.numeric_)
            w = coef[pos : pos + k] / scaler.scale_
            intercept -= float(np.sum(w * scaler.mean_))
            numeric = {c: float(v) for c, v in zip(self.numeric_, w, strict=True)}
            pos += k
        categorical: dict[str, dict[str, float]] = {}
        if self.categorical_:
            ohe = ct.named_transformers_["cat"]
            for c, cats in zip(self.categorical_, ohe.categories_, strict=True):
                k = len(cats)
                categorical[c] = {str(level): float(v) for level, v in zip(cats, coef[pos : pos + k], strict=True)}
                pos += k
        interactions: dict[str, dict[str, dict[str, float]]] = {}
        ranges: dict[str, dict[str, dict[str, list[float]]]] = {}
        for cat_col, nums in self.interactions:
            sub = ct.named_transformers_[f"x:{cat_col}"]
            expand, scaler = sub.named_steps["expand"], sub.named_steps["scale"]
            k = len(expand.levels_) * len(nums)
            w = coef[pos : pos + k] / scaler.scale_
            intercept -= float(np.sum(w * scaler.mean_))
            block = interactions.setdefault(cat_col, {})
            for i, level in enumerate(expand.levels_):
                for j, n in enumerate(nums):
                    block.setdefault(str(n), {})[str(level)] = float(w[i * len(nums) + j])
                    if np.isfinite(expand.lo_[i, j]):
                        ranges.setdefault(cat_col, {}).setdefault(str(n), {})[str(level)] = [
                            float(expand.lo_[i, j]),
                            float(expand.hi_[i, j]),
                        ]
            pos += k
        return {
            "prior_column": self.prior_name_,
            "interactions": interactions,
            "interaction_ranges": ranges,
            "intercept": intercept,
            "numeric": numeric,
            "categorical": categorical,
            "alpha": float(ridge.alpha_ if hasattr(ridge, "alpha_") else ridge.alpha),
            # Predictions are clipped to the measured range of log(y / prior): a linear model
            # must not extrapolate a correction larger than any that was ever observed.
            "clip": list(self.target_range_),
        }


ENERGY_FACTOR_FLOOR = 0.1
"""Smallest energy factor of the fitted roofline: the cost of a step at peak rates drawn at a
tenth of TDP. Below every mean power the shipped table records: 16 % of TDP (an RTX 4090 D at
batch 1), 24 % (A800), 29 % (B200), 33 % (H100) at the least (``power_w_mean`` over TDP x
devices, 2026-12-03)."""


def _time_phase_factors(
    n: int, time_roofline: Mapping[str, Any], engines: Sequence[str], s_levels: Sequence[str], kernels: Sequence[str] = ()
) -> np.ndarray:
    """The time roofline's log factor of each energy-roofline parameter's phase, NaN where none.

    Parameter order as in :class:`RooflineFit` (``a, b, d, kv, c per level, s per level, k per
    kernel path``): the prompt-pass term ``d`` is no phase of the time fit, and a level or path
    the time fit lacks has none."""
    out = np.full(n, np.nan)
    out[0], out[1] = float(time_roofline["log_a"]), float(time_roofline["log_b"])
    if time_roofline.get("log_kv") is not None:
        out[3] = float(time_roofline["log_kv"])
    log_c, log_s = time_roofline.get("log_c") or {}, time_roofline.get("log_s") or {}
    for i, level in enumerate(engines):
        if level in log_c:
            out[4 + i] = float(log_c[level])
    for i, level in enumerate(s_levels):
        if level in log_s:
            out[4 + len(engines) + i] = float(log_s[level])
    log_k = time_roofline.get("log_k") or {}
    for i, kernel in enumerate(kernels):
        if kernel in log_k:
            out[4 + len(engines) + len(s_levels) + i] = float(log_k[kernel])
    return out


def _phase_power_bounds(
    lower: np.ndarray,
    upper: np.ndarray,
    time_roofline: Mapping[str, Any],
    engines: Sequence[str],
    s_levels: Sequence[str],
    kernels: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the energy roofline's parameters from the time roofline's (stage ``phase_power_cap``).

    Energy per step is ``TDP x (a t_weights + kv t_kv + b t_compute + c layers + s running)``
    and time ``a' t_weights + kv' t_kv + b' t_compute + c' layers + s' running``: a phase's mean
    power is ``TDP x factor / factor'``. So ``factor <= factor'`` keeps it at most the board's
    limit, and ``factor >= share x factor'`` at least a GPU's idle draw
    (:data:`recommender.model.invariants.POWER_FLOOR_SHARE`, the least mean power measured).
    Unconstrained, the energy fit put compute phases at 2.15x TDP and weight reads at 1.03x
    (2026-12-04), which priced every compute-poor card (RTX 4090, L4, A10) at its limit. Evidence
    for the floors (``eai evaluate``, 2026-12-04, caps only -> caps and floors): LOPO energy per
    query 18.5 -> 18.2 %, per output token 18.7 -> 18.2 %; LOSO 15.3 -> 15.4 %; leave-one-model-out
    unchanged (10.3 %). A cap at or under a lower bound keeps 0.01 in log of room above it, a floor
    stays 0.02 under its cap, so the solver has room.

    Returns:
        ``(lower, upper)``.
    """
    from recommender.model.invariants import POWER_FLOOR_SHARE

    tf = _time_phase_factors(len(upper), time_roofline, engines, s_levels, kernels)
    has = np.isfinite(tf)
    capped = np.where(has, np.maximum(tf, lower + 0.01), upper)
    floored = np.where(has, np.maximum(lower, np.minimum(tf + np.log(POWER_FLOOR_SHARE), capped - 0.02)), lower)
    return floored, capped


class RooflineFit(RegressorMixin, BaseEstimator):
    """Fit ``a``, ``b`` and ``c[release]`` of the fitted roofline (see :mod:`recommender.model.roofline_fit`).

    Args:
        kind: ``"energy"`` (J per output token) or ``"time"`` (s per output token of one
            request, i.e. the step time).
        f_scale: Soft-L1 loss scale in natural-log units (residuals beyond it count
            linearly, not quadratically).
        kv_share: Fit the KV-cache reads' own bandwidth factor (``log_kv``) where the frame
            has ``t_kv_s``; False: they share the weights' factor ``a``.
        sequence_cost: Fit a host cost per running sequence per step for each level whose rows
            ran at several batch sizes (``log_s``; :data:`recommender.model.roofline_fit.SEQ_SCALE_S`).
        prompt_energy: In energy, charge each query's prompt pass at its raw roofline cost
            (``t_prefill_share_s`` at TDP, factor 1, not fitted; ``log_d`` = 0); time always
            fits its factor.
        time_roofline: In energy, the time roofline fitted on the same rows
            (:meth:`export_state`): each phase's energy factor (weight reads, KV reads, compute,
            per-layer and per-sequence host costs, in TDP x seconds) is at most the time
            factor of that phase (seconds) and at least an idle GPU's share of it, so that no
            phase draws more than the board's limit nor less than idle (stage
            ``phase_power_cap``, :func:`_phase_power_bounds`). None: the plain bounds.
        layer_kernels: Fit a per-layer cost per step for each quantization kernel path some
            row ran under a Python-launched engine (``log_k``, units of
            :data:`recommender.model.roofline_fit.LAYER_SCALE_S`; stage ``layer_kernel_cost``).

    Attributes:
        log_a_: Log bandwidth factor.
        log_b_: Log compute factor.
        engines_: Overhead levels seen in ``fit``: engine releases (``vllm@0.11``) where the
            frame has ``engine_release``, else engine names.
        log_c_: Log per-layer constant per level (units of :data:`recommender.model.roofline_fit.LAYER_SCALE_S`).
        s_levels_: Levels with a per-sequence cost (empty without ``sequence_cost``).
        log_s_: Log per-sequence cost per level of ``s_levels_`` (units of
            :data:`recommender.model.roofline_fit.SEQ_SCALE_S`), or None.
        kernels_: Quantization kernel paths with a per-layer cost (empty without ``layer_kernels``).
        log_k_: Log per-layer cost per path of ``kernels_``, or None.
        n_features_in_: Columns of the feature frame seen in ``fit``.
    """

    def __init__(
        self,
        kind: Literal["energy", "time"] = "energy",
        f_scale: float = 0.3,
        kv_share: bool = True,
        sequence_cost: bool = False,
        prompt_energy: bool = False,
        time_roofline: Mapping[str, Any] | None = None,
        layer_kernels: bool = False,
    ) -> None:
        self.kind = kind
        self.f_scale = f_scale
        self.kv_share = kv_share
        self.sequence_cost = sequence_cost
        self.prompt_energy = prompt_energy
        self.time_roofline = time_roofline
        self.layer_kernels = layer_kernels

    def fit(self, feats: Any, y: Any, sample_weight: Any = None) -> RooflineFit:
        """Fit the constants on feature rows and positive measured targets.

        Args:
            feats: Feature frame (:meth:`~recommender.model.features.FeatureBuilder.build`).
            y: Measured J (``kind="energy"``) or s (``kind="time"``) per output token.
            sample_weight: Optional non-negative weight per row (None: equal).
        """
        from scipy.optimize import least_squares

        if self.kind not in roofline.KINDS:
            raise ValueError(f"kind must be one of {roofline.KINDS}, got {self.kind!r}")
        y_arr = positive_target(y, len(feats), "feats")
        engines = sorted(str(e) for e in pd.unique(np.asarray(roofline.level_column(feats), dtype=object)))
        log_y = np.log(y_arr)
        sw = np.ones(len(y_arr)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        # least_squares minimises a sum of rho(r^2): weighting a row by w scales its residual by sqrt(w).
        root_w = np.sqrt(sw / sw.mean())

        # The prompt-pass term: fitted in time; in energy (prompt_energy) at its raw roofline
        # size, not fitted. Fitted in energy it helped a held-out token profile (leave-one-
        # workload-out energy per query 22.4 -> 17.0 %) but broke another (HumanEval held out:
        # 2.26x too high) and pulled leave-one-source-out coverage out of its band (91.3 ->
        # 82.1 %); at its raw size see docs/model.md ("prompt_energy").
        with_d = self.kind == "time" or self.prompt_energy
        fixed_d = self.kind == "energy"

        with_kv = self.kv_share and "t_kv_s" in getattr(feats, "columns", ())

        # The roofline's terms are fixed arrays: each step costs a few vector operations, and the
        # Jacobian is exact (a finite-difference one cost a roofline evaluation per parameter).
        # A cost per running sequence per step, per level, where the level's rows ran at
        # several batch sizes (elsewhere it cannot be told from the per-step cost).
        s_levels = roofline.batch_varied_levels(feats, engines) if self.sequence_cost else []
        # A per-layer cost per quantization kernel path (bitsandbytes' int8 / 4-bit wrappers
        # around every linear layer), where rows ran one under a Python-launched engine: folded
        # into the engine's own per-layer cost it made every HF transformers fp16 step as slow
        # as an int8 one.
        kernels = roofline.measured_kernels(feats) if self.layer_kernels else []
        terms = roofline.FitTerms(
            self.kind, feats, engines, with_d=with_d, with_kv=with_kv, s_levels=s_levels, fixed_d=fixed_d, kernels=kernels
        )
        memo: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

        def at(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            key = theta.tobytes()
            if key not in memo:
                memo.clear()
                memo[key] = terms.log_value_and_jacobian(theta)
            return memo[key]

        def residuals(theta: np.ndarray) -> np.ndarray:
            return root_w * (at(theta)[0] - log_y)

        def jacobian(theta: np.ndarray) -> np.ndarray:
            return root_w[:, None] * at(theta)[1]

        # Start near the raw roofline (a = b = 1.6) with a 10 us per-layer cost. Bounds: no server
        # beats peak bandwidth or peak throughput (a, b >= 1), nor runs a batch-mate's prompt pass
        # faster than its peak-rate time (d >= 1; until 2026-12-05 d was free and came out 0.90),
        # none is slower than e^6 ~ 400x peak; the per-layer cost lies between 0.5 ns and 0.3 s
        # (wide: only keeps the solver from wandering off to zero or infinity on data that cannot
        # identify a term); so does the cost per sequence (0.5 ns to 0.2 s).
        # In energy the factors also carry the mean power as a share of TDP (energy = TDP x step
        # time is the prior's assumption), which is below 1: the median ML.ENERGY v3 H100 row draws
        # 0.74 of its 700 W. So there they may go down to ENERGY_FACTOR_FLOOR (a GPU's idle
        # draw); with a >= 1 in energy too, leave-one-source-out energy was 20.2 % against 19.8 %
        # (2026-12-03; the full table's constants are the same either way).
        n_c = len(engines)
        floor = float(np.log(ENERGY_FACTOR_FLOOR)) if self.kind == "energy" else 0.0
        # The KV factor shares a's bounds.
        n_s = len(s_levels)
        n_k = len(kernels)
        start = np.concatenate([[0.5, 0.5, 0.0, 0.5], np.zeros(n_c + n_s + n_k)])  # inside the bounds: a solver started on one can stall there
        lower = np.concatenate([[floor, floor, floor, floor], np.full(n_c + n_s + n_k, -10.0)])
        upper = np.concatenate([[6.0, 6.0, 6.0, 6.0], np.full(n_c + n_s + n_k, 10.0)])
        if self.kind == "energy" and self.time_roofline is not None:
            lower, upper = _phase_power_bounds(lower, upper, self.time_roofline, engines, s_levels, kernels)
            start = np.minimum(np.maximum(start, lower + 1e-3), upper - 1e-3)
        sol = least_squares(residuals, start, jac=jacobian, bounds=(lower, upper), loss="soft_l1", f_scale=float(self.f_scale))
        self.log_a_ = float(sol.x[0])
        self.log_b_ = float(sol.x[1])
        self.log_d_ = (0.0 if fixed_d else float(sol.x[2])) if with_d else None
        self.log_kv_ = float(sol.x[3]) if with_kv else None
        self.engines_ = engines
        self.log_c_ = np.asarray(sol.x[4 : 4 + n_c], dtype=float)
        self.s_levels_ = list(s_levels)
        self.log_s_ = np.asarray(sol.x[4 + n_c : 4 + n_c + n_s], dtype=float) if s_levels else None
        self.kernels_ = list(kernels)
        self.log_k_ = np.asarray(sol.x[4 + n_c + n_s :], dtype=float) if kernels else None
        self.n_features_in_ = len(feats.columns) if hasattr(feats, "columns") else 0
        return self

    def predict(self, feats: Any) -> np.ndarray:
        """Fitted-roofline J (or s) per output token for every row."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "log_c_")
        log_s = dict(zip(self.s_levels_, self.log_s_, strict=True)) if self.log_s_ is not None else None
        log_k = dict(zip(self.kernels_, self.log_k_, strict=True)) if self.log_k_ is not None else None
        return roofline.evaluate(
            self.kind, self.log_a_, self.log_b_, self.engines_, self.log_c_, feats, log_d=self.log_d_, log_kv=self.log_kv_, log_s=log_s,
            log_k=log_k,
        )

    def export_state(self) -> dict[str, Any]:
        """Plain-JSON state (see :func:`recommender.model.roofline_fit.fitted_prior`)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "log_c_")
        return {
            "kind": self.kind,
            "log_a": self.log_a_,
            "log_b": self.log_b_,
            "log_c": {e: float(v) for e, v in zip(self.engines_, self.log_c_, strict=True)},
            "log_d": self.log_d_,
            "log_kv": self.log_kv_,
            "log_s": {e: float(v) for e, v in zip(self.s_levels_, self.log_s_, strict=True)} if self.log_s_ is not None else None,
            "log_k": {k: float(v) for k, v in zip(self.kernels_, self.log_k_, strict=True)} if self.log_k_ is not None else None,
        }
