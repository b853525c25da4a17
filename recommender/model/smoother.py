"""Local residual smoother: what the linear model missed for similar measured configurations.

After the ridge model, the training rows' log residuals ``r_i`` are kept. A configuration on
a (platform, engine, quantization, layer design) that was measured gets the kernel-weighted
mean of the residuals of that group's rows, shrunk toward zero::

    correction = sum_i w_i r_i / (sum_i w_i + LAMBDA),   w_i = exp(-d_i^2 / (2 H^2))

with ``d`` the Euclidean distance in standardized model/workload features (parameters,
layers, width, KV bytes per token, batch, devices, prompt and output tokens). It is the
posterior mean of a Gaussian-process-like residual field; far from any measured row (an
unseen platform, engine or quantization, or a very different model) it fades to zero and
the physics model stands alone. State is plain arrays (JSON).

The layer design (``block``: LLaMA-style decoder, GPT-NeoX, BLOOM, T5, RWKV) is part of the
group because what the ridge misses is shared by models built the same way: under
leave-one-model-out on the ML.ENERGY v1 rows the GPT-NeoX models (Pythia, Dolly,
RedPajama, StableLM-alpha) all cost 8-15 % more than predicted. Grouping by it took that
split's median error per output token from 6.1 to 5.7 % and left the unseen-platform
figures unchanged (the smoother does not act there).

Robustness (Cleveland's robust locally weighted regression, JASA 74:829, 1979, with the
local fit taken from *other* models): one model's rows that disagree with every other model
around them say more about how that model was measured than about the deployment. In the
ML.ENERGY v1 data, Llama-2 7B/13B chat were run on the A40 later than the rest and drew
190 W where the LLaMA-1 fine-tunes of the same shape drew 235 W at the same tokens/s; as
plain residuals they pulled every other LLaMA-shaped model on the A40 about 3 % low. Each
training row therefore gets a weight ``delta = (1 - (u / (6 s))^2)^2`` (bisquare, 0 beyond
``6 s``), with ``u`` its residual minus the kernel mean of the *other* models' residuals in its
group and ``s`` the median ``|u|``. A row with less than :data:`MIN_WITNESS_WEIGHT` of other
models' kernel weight around it has no one to disagree with and keeps weight 1. The weight
only discounts a row as evidence about *other* models: for the model itself its own rows
count fully.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from recommender.model import cats
from recommender.model.features import column_of, floats

KERNEL_FEATURES: tuple[str, ...] = (
    "log_params_active",
    "log_layers",
    "log_hidden",
    "log_kv_token",
    "log_batch",
    "log_devices",
)
GROUP_COLUMNS: tuple[str, ...] = ("platform", "engine", "numerics", "block")
"""A group: one GPU, engine, number format (``numerics``: the quantization, bf16 and fp16 read as
one, :data:`recommender.model.features.SAME_NUMERICS`) and layer design."""
BANDWIDTH = 0.5
"""Default kernel width H in standard deviations of the kernel features."""
BANDWIDTHS: tuple[float, ...] = (0.25, 0.5, 1.0)
"""Kernel widths the fit chooses from by leave-models-out CV (see ``component.fit_component``)."""
LAMBDA = 0.1
"""Shrinkage: total kernel weight at which the correction reaches half the local residual mean."""
ROBUST_C = 6.0
"""Bisquare cut-off in units of the median |deviation from other models| (Cleveland's 6)."""
ROBUST_ITERATIONS = 3
"""Robustness passes (Cleveland uses two; a third changes little and stops early)."""
MIN_WITNESS_WEIGHT = 2.0
"""Kernel weight of other models' rows needed before a row can be judged an outlier."""
CHUNK = 20000
"""Rows per distance-matrix block (bounds memory at CHUNK x training rows)."""

_CONTROLLER: ThreadpoolController | None = None


def _one_blas_thread() -> Any:
    """Context in which BLAS runs one thread. One controller, made on first use (numpy's BLAS
    is loaded by then), serves every call: ``threadpool_limits`` rescans the loaded libraries
    each time (about 2 ms; a million-candidate prediction enters some 30 such blocks)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def _row_groups(feats: Any) -> tuple[np.ndarray, list[str]]:
    """Integer group code per row and the group labels (``platform|engine|numerics|block``)."""
    key = np.zeros(len(feats), dtype=np.int64)
    label_parts = []
    for c in GROUP_COLUMNS:
        codes, labels = cats.parts(feats[c])
        key = key * (len(labels) + 1) + (codes + 1)
        label_parts.append((codes, labels))
    inverse, uniq = pd.factorize(key)
    first = np.zeros(len(uniq), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(key) - 1, -1, -1)
    labels = ["|".join(str(lab[c[i]]) for c, lab in label_parts) for i in first]
    return np.asarray(inverse), labels


def _known_groups(feats: Any, known: Mapping[str, Any]) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Group code per row and ``(code, label)`` of the groups present that are in ``known``.

    What :func:`_row_groups` gives, restricted to the known groups, without a label per group
    present: a million candidates span thousands of (platform, engine, quantization, block)
    groups, of which the fitted smoother knows a few dozen. Group codes are positions in the
    dense mixed-radix key space where it is small, else :func:`_row_groups`'.
    """
    label_parts = [cats.parts(column_of(feats, c)) for c in GROUP_COLUMNS]
    split = [str(g).split("|") for g in known]
    radix = [len(labels) + 1 for _, labels in label_parts]
    space = int(np.prod(radix, dtype=float)) if radix else 0
    if any(len(p) != len(GROUP_COLUMNS) for p in split) or space > max(4 * len(feats), 1 << 20):
        codes, labels = _row_groups(feats)
        return codes, [(g, label) for g, label in enumerate(labels) if label in known]
    key = np.zeros(len(feats), dtype=np.int64)
    for (codes, _), r in zip(label_parts, radix, strict=True):
        # key * r + (codes + 1), in place (three passes over a million rows, no temporaries).
        key *= r
        key += codes
        key += 1
    present = np.flatnonzero(np.bincount(key, minlength=1)) if len(key) else np.zeros(0, dtype=np.int64)
    # Digits of each present key; a group can be known only if each of its values occurs at
    # that position of some known label.
    digits, rest = [], present
    for r in reversed(radix):
        digits.append(rest % r)
        rest = rest // r
    digits.reverse()
    maybe = np.ones(len(present), dtype=bool)
    names = []
    for i, ((codes, labels), d) in enumerate(zip(label_parts, digits, strict=True)):
        # Digit 0 is a missing value, labelled (as _row_groups does) by the last category.
        name = np.array([str(labels[-1]) if len(labels) else ""] + [str(x) for x in labels], dtype=object)
        seen = {p[i] for p in split}
        maybe &= np.array([n in seen for n in name], dtype=bool)[d]
        names.append(name)
    wanted = []
    for k in np.flatnonzero(maybe):
        label = "|".join(str(names[i][digits[i][k]]) for i in range(len(GROUP_COLUMNS)))
        if label in known:
            wanted.append((int(present[k]), label))
    return key, wanted


class ResidualSmoother:
    """Kernel smoother of training log residuals within (platform, engine, quantization) groups."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.state = dict(state)
        self.mean = np.asarray(state["mean"], dtype=float)
        self.scale = np.asarray(state["scale"], dtype=float)
        self.bandwidth = float(state.get("bandwidth", BANDWIDTH))
        self.groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        # Per group: the rows discounted as evidence about other models, by their own model.
        self.own: dict[str, dict[str, np.ndarray]] = {}
        for g, v in dict(state["groups"]).items():
            r = np.asarray(v["r"], dtype=float)
            d = np.asarray(v["d"], dtype=float) if "d" in v else np.ones_like(r)
            self.groups[g] = (np.asarray(v["x"], dtype=float).reshape(-1, len(KERNEL_FEATURES)), r, d)
            self.own[g] = {str(m): np.asarray(ix, dtype=np.int64) for m, ix in dict(v.get("own", {})).items()}

    @classmethod
    def fit(cls, feats: Any, residuals: np.ndarray, bandwidth: float = BANDWIDTH) -> ResidualSmoother:
        """Keep standardized kernel features and residuals of the training rows, by group.

        Args:
            feats: Feature frame of the training rows.
            residuals: Their log residuals after the linear model.
            bandwidth: Kernel width H (standard deviations of the kernel features).
        """
        n = len(feats)
        X = np.column_stack([np.asarray(feats[c], dtype=float) for c in KERNEL_FEATURES]) if n else np.zeros((0, len(KERNEL_FEATURES)))
        mean = X.mean(axis=0) if n else np.zeros(len(KERNEL_FEATURES))
        scale = X.std(axis=0) if n else np.ones(len(KERNEL_FEATURES))
        scale = np.where(scale > 0, scale, 1.0)
        Z = (X - mean) / scale
        groups: dict[str, dict[str, Any]] = {}
        if n:
            codes, labels = _row_groups(feats)
            r = np.asarray(residuals, dtype=float)
            has_models = "model_id" in getattr(feats, "columns", ())
            delta = robustness_weights(Z, r, codes, feats["model_id"] if has_models else None, bandwidth)
            models = np.asarray(cats.as_categorical(feats["model_id"]).astype(str), dtype=object) if has_models else None
            for g, label in enumerate(labels):
                rows = np.flatnonzero(codes == g)
                entry: dict[str, Any] = {"x": Z[rows].ravel().tolist(), "r": r[rows].tolist(), "d": delta[rows].tolist()}
                if models is not None:
                    own: dict[str, list[int]] = {}
                    for i in np.flatnonzero(delta[rows] < 1.0):
                        own.setdefault(str(models[rows[i]]), []).append(int(i))
                    if own:
                        entry["own"] = own
                groups[label] = entry
        return cls({"mean": mean.tolist(), "scale": scale.tolist(), "groups": groups, "bandwidth": float(bandwidth)})

    def correction(self, feats: Any) -> np.ndarray:
        """Log-scale correction per row (0 where the row's group was never measured)."""
        out = np.zeros(len(feats))
        rows, values = self.corrected_rows(feats)
        out[rows] = values
        return out

    def corrected_rows(self, feats: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, correction)``: the rows of ``feats`` whose group was measured and their
        log-scale correction (every other row's is 0). A caller that scales by ``exp`` of it
        need touch those rows alone."""
        n = len(feats)
        none = (np.zeros(0, dtype=np.int64), np.zeros(0))
        if not self.groups or n == 0:
            return none
        codes, wanted = _known_groups(feats, self.groups)
        if not wanted:
            return none
        # Whether each row's group is known, from a table over the group codes (np.isin sorts a
        # million codes on every call: ~8 ms, against under 1 ms for one take).
        known = np.zeros(max(int(codes.max()), max(g for g, _ in wanted)) + 1, dtype=bool)
        known[[g for g, _ in wanted]] = True
        rows_any = np.flatnonzero(np.take(known, codes))
        out = np.zeros(len(rows_any))
        X = np.column_stack([floats(feats, c)[rows_any] for c in KERNEL_FEATURES])
        Z = (X - self.mean) / self.scale
        sub_codes = codes[rows_any]
        model_rows: np.ndarray | None = None
        model_labels = np.array([], dtype=object)
        if any(self.own.get(label) for _, label in wanted) and "model_id" in getattr(feats, "columns", ()):
            model_rows, model_labels = cats.level_index(column_of(feats, "model_id"))
            model_rows = model_rows[rows_any]
        # Each model's code, looked up by name (the categories are distinct).
        model_code = {str(m): i for i, m in enumerate(model_labels)}
        # The products below are (rows x 8) by (8 x group rows): BLAS threads cost more to
        # start and wait for than they save (six times slower with two OpenBLAS threads on a
        # busy two-core machine), so they run on one (the same result: one thread per product).
        with _one_blas_thread():
            for g, label in wanted:
                sel = np.flatnonzero(sub_codes == g)
                Xg, rg, dg = self.groups[label]
                dr = dg * rg
                own = self.own.get(label, {}) if model_rows is not None else {}
                own_code = {model: model_code.get(model) for model in own}
                for start in range(0, len(sel), CHUNK):
                    part = sel[start : start + CHUNK]
                    mine_ix = [
                        (np.flatnonzero(model_rows[part] == own_code[model]) if own_code[model] is not None else np.zeros(0, dtype=np.int64), ix)
                        for model, ix in own.items()
                    ]
                    out[part] = _kernel_correction(Z[part], Xg, rg, dg, dr, self.bandwidth, mine_ix)
        return rows_any, out


def _kernel_correction(
    z: np.ndarray, Xg: np.ndarray, rg: np.ndarray, dg: np.ndarray, dr: np.ndarray, bandwidth: float,
    mine_ix: list[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Shrunk kernel mean of one group's residuals at the standardized rows ``z``.

    ``rg``/``dg``: the group rows' residuals and robustness weights (``dr = dg * rg``).
    ``mine_ix``: per model, the rows of ``z`` that are that model and the group rows discounted
    as evidence about other models by it: those count fully for the model itself.
    """
    w = gaussian_kernel(z, Xg, bandwidth)
    num, den = w @ dr, w @ dg
    for mine, ix in mine_ix:
        if len(mine):
            wm = w[np.ix_(mine, ix)]
            num[mine] += wm @ ((1.0 - dg[ix]) * rg[ix])
            den[mine] += wm @ (1.0 - dg[ix])
    return num / (den + LAMBDA)


def gaussian_kernel(a: np.ndarray, b: np.ndarray, bandwidth: float) -> np.ndarray:
    """``exp(-|a_i - b_j|^2 / (2 H^2))`` for every pair of rows of ``a`` and ``b``."""
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b as one matrix product (no 3-D temporary), then the
    # rest in place (two matrices allocated, not six).
    ab2 = a @ b.T
    ab2 *= 2.0
    a2 = (a**2).sum(axis=1)
    d2 = a2[:, None] + (a2 if b is a else (b**2).sum(axis=1))[None, :]
    d2 -= ab2
    np.maximum(d2, 0.0, out=d2)
    np.negative(d2, out=d2)
    d2 /= 2.0 * bandwidth**2
    return np.exp(d2, out=d2)


def robustness_weights(
    Z: np.ndarray, residuals: np.ndarray, groups: np.ndarray, model_id: Any, bandwidth: float
) -> np.ndarray:
    """Bisquare weight per training row from its disagreement with other models nearby.

    Args:
        Z: Standardized kernel features of the training rows.
        residuals: Their log residuals.
        groups: Smoother group code per row.
        model_id: Model per row (None: every row weighs 1).
        bandwidth: Kernel width H.

    Returns:
        Weights in [0, 1]; 1 where fewer than :data:`MIN_WITNESS_WEIGHT` of other models'
        kernel weight surround the row.
    """
    if model_id is None or len(residuals) == 0:
        return np.ones(len(residuals))
    return _robustness_weights(Z, residuals, groups, np.asarray(cats.as_categorical(model_id).codes), bandwidth)


def _robustness_weights(Z: np.ndarray, residuals: np.ndarray, groups: np.ndarray, models: np.ndarray, bandwidth: float) -> np.ndarray:
    """:func:`robustness_weights` on integer model codes (only their equality matters)."""
    n = len(residuals)
    delta = np.ones(n)
    # Per group: the rows that can be judged, and their kernel weights on the group's rows
    # (zero on their own model's rows).
    kernels: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    witnessed = _witnessed_groups(groups, models)
    for g, rows in _group_rows(groups).items():
        if len(rows) < 2 or not witnessed[g]:
            continue
        Zg = Z[rows]
        w = gaussian_kernel(Zg, Zg, bandwidth)
        w[models[rows][:, None] == models[rows][None, :]] = 0.0
        judged = w.sum(axis=1) >= MIN_WITNESS_WEIGHT
        if judged.any():
            kernels.append((rows, rows[judged], w[judged]))
    # Iterated as in Cleveland's procedure: an outlier's own rows must not set the yardstick
    # (the local means and the scale) by which the other rows are judged.
    dev = np.full(n, np.nan)
    used: list[np.ndarray | None] = [None] * len(kernels)
    for _ in range(ROBUST_ITERATIONS):
        for k, (rows, judged_rows, w) in enumerate(kernels):
            d = delta[rows]
            if used[k] is not None and np.array_equal(d, used[k]):
                continue  # same weights as the last pass: same deviations (most groups after the first)
            used[k] = d
            wd = w * d[None, :] if (d != 1.0).any() else w  # x * 1.0 == x: skip the product
            dev[judged_rows] = residuals[judged_rows] - (wd @ residuals[rows]) / (wd.sum(axis=1) + LAMBDA)
        ok = np.isfinite(dev)
        if not ok.any():
            break
        s = float(np.median(np.abs(dev[ok])))
        if s <= 0:
            break
        u = np.abs(dev[ok]) / (ROBUST_C * s)
        new = np.ones(n)
        new[ok] = np.where(u < 1.0, (1.0 - u**2) ** 2, 0.0)
        # np.allclose's test (|new - delta| <= 1e-8 + 1e-5 |delta|) on weights that are finite by
        # construction, without its NaN and infinity handling (a fifth of this loop's time).
        if bool((np.abs(new - delta) <= 1e-8 + 1e-5 * np.abs(delta)).all()):
            break
        delta = new
    return delta


def _witnessed_groups(groups: np.ndarray, models: np.ndarray) -> dict[int, bool]:
    """Per group, whether any of its rows has :data:`MIN_WITNESS_WEIGHT` rows of other models
    beside it (each of kernel weight at most 1, so fewer can never judge a row): a group of one
    model has none, and its kernel need not be computed (in ``eai fit``, 38 % of the groups the
    calibration refits pass through here)."""
    if not len(groups):
        return {}
    m = np.asarray(models, dtype=np.int64)
    m = m - m.min()
    base = int(m.max()) + 1
    keys, counts = np.unique(np.asarray(groups, dtype=np.int64) * base + m, return_counts=True)
    levels, start = np.unique(keys // base, return_index=True)
    others = np.add.reduceat(counts, start) - np.minimum.reduceat(counts, start)
    return dict(zip(levels.tolist(), (others >= MIN_WITNESS_WEIGHT).tolist(), strict=True))


def _group_rows(groups: np.ndarray) -> dict[int, np.ndarray]:
    """Positions of each group's rows, ascending (one stable sort, not a scan per group)."""
    order = np.argsort(groups, kind="stable")
    levels, starts = np.unique(groups[order], return_index=True)
    return dict(zip(levels.tolist(), np.split(order, starts[1:]), strict=True))


class SubsetSmoother:
    """Smoother fits on many subsets of one set of rows (the calibration refits of a component).

    :meth:`fit_correct` returns exactly ``ResidualSmoother.fit(rows[train], residuals,
    bandwidth).correction(rows[test])`` (same floating-point operations on the same arrays, in
    the same order within each group), without building the JSON state and without a pandas
    pass per refit: the kernel features, smoother groups and models of every row are taken
    once. Groups are identified by their label, as the state does.

    Args:
        feats: Feature frame of all rows (kernel features, :data:`GROUP_COLUMNS`, ``model_id``).
    """

    def __init__(self, feats: Any) -> None:
        n = len(feats)
        self.X = np.column_stack([np.asarray(feats[c], dtype=float) for c in KERNEL_FEATURES]) if n else np.zeros((0, len(KERNEL_FEATURES)))
        codes, labels = _row_groups(feats)
        # Group identity is the label (the state is keyed by it): codes renumbered by label.
        label_codes, _ = pd.factorize(pd.Series(labels, dtype=object))
        self.exact = len(set(labels)) == len(labels)
        self.groups = np.asarray(label_codes, dtype=np.int64)[codes] if n else np.zeros(0, dtype=np.int64)
        model_codes, _ = pd.factorize(pd.Series(np.asarray(cats.as_categorical(feats["model_id"]).astype(str), dtype=object)))
        self.models = np.asarray(model_codes, dtype=np.int64)

    def fit_correct(self, train: np.ndarray, residuals: np.ndarray, test: np.ndarray, bandwidth: float = BANDWIDTH) -> np.ndarray:
        """Log-scale correction of the ``test`` rows by a smoother fitted on the ``train`` rows.

        Args:
            train: Positions of the training rows.
            residuals: Their log residuals after the linear model.
            test: Positions of the rows to correct.
            bandwidth: Kernel width H.
        """
        out = np.zeros(len(test))
        if len(train) == 0 or len(test) == 0:
            return out
        X = self.X[train]
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        Z = (X - mean) / scale
        r = np.asarray(residuals, dtype=float)
        g_train = self.groups[train]
        m_train = self.models[train]
        delta = _robustness_weights(Z, r, g_train, m_train, bandwidth)
        g_test = self.groups[test]
        rows_any = np.flatnonzero(np.isin(g_test, g_train))
        if not len(rows_any):
            return out
        Zt = (self.X[test[rows_any]] - mean) / scale
        sub_codes = g_test[rows_any]
        m_test = self.models[test[rows_any]]
        train_rows = _group_rows(g_train)
        for g, sel in _group_rows(sub_codes).items():
            rows = train_rows[g]
            Xg, rg, dg = Z[rows], r[rows], delta[rows]
            dr = dg * rg
            # Rows discounted as evidence about other models, by their own model.
            discounted = np.flatnonzero(dg < 1.0)
            own = {int(m): discounted[m_train[rows][discounted] == m] for m in np.unique(m_train[rows][discounted])} if len(discounted) else {}
            for start in range(0, len(sel), CHUNK):
                part = sel[start : start + CHUNK]
                mine_ix = [(np.flatnonzero(m_test[part] == model), ix) for model, ix in own.items()]
                out[rows_any[part]] = _kernel_correction(Zt[part], Xg, rg, dg, dr, bandwidth, mine_ix)
        return out
