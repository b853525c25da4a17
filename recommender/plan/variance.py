"""How much of a prediction's error is shared by candidates with a common component.

The predictor gives each candidate a calibrated 90% interval, but errors are not
independent: an unseen platform's roofline constant, a model's per-token cost or an
engine's overhead is wrong by the same factor for every candidate that shares it. The joint
predictive (:mod:`recommender.plan.joint`) models a candidate's standardized log error as

    z_j = sum_f sqrt(w_f) * U_f[level_f(j)] + sqrt(w_0) * e_j,    U, e ~ N(0, 1)

for the shared factors f in (platform, model, engine), so two candidates sharing exactly the
factors F have correlation sum_{f in F} w_f.

The weights are estimated from the cross-validated residuals ``eai evaluate`` stores
(``models/evaluation.json``, per held-out row: measured, predicted, 90% interval): the
standardized residual of row i is ``z_i = log(y_i / p_i) / s_i`` with
``s_i = log(hi_i / p_i) / 1.645`` above the point and ``log(p_i / lo_i) / 1.645`` below,
rescaled per split to unit mean square (a correlation, so a miscalibrated width does not
leak into it). Under the model, two rows predicted by the same refit have
``E[z_i z_j] = sum_f w_f [i and j share f's level]``. The weights are the non-negative least
squares fit of that equation over every pair of rows held out together, pooled over the
three splits (leave one platform / model / source out): each split exposes the error of
the component it hides, and the regression separates the factors a pair shares at once
(pairs on a held-out platform often share the model too). ``rho_energy_time`` is the
correlation of the energy and time residuals of the same row (leave-one-platform-out).
``w_0`` is what is left, at least :data:`MIN_IDIOSYNCRATIC`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recommender.errors import DataSourceError

FACTORS: tuple[str, ...] = ("platform", "model", "engine")
"""Shared components whose errors are correlated, in the order of :attr:`VarianceSplit.weights`."""

SPLIT_OF_FACTOR = {"platform": "platform", "model": "model", "engine": "source"}
"""Which cross-validation split exposes each factor's error (the one that hides it)."""

Z90 = 1.6448536269514722
"""Standard-normal quantile of a two-sided 90% interval."""

MIN_IDIOSYNCRATIC = 0.1
"""Floor on the unshared share: no two distinct candidates are treated as the same draw."""

VARIANCE_PATH = Path(__file__).resolve().parents[2] / "data" / "plan_variance.json"
"""Derived snapshot shipped with eai (regenerate: ``python bench/plan_variance.py``)."""


@dataclass(frozen=True)
class VarianceSplit:
    """Share of the standardized log error carried by each shared factor.

    Attributes:
        weights: ``{"platform": w, "model": w, "engine": w}`` (correlation of two candidates
            sharing only that factor).
        idiosyncratic: Unshared share ``w_0`` (the weights and it sum to 1).
        rho_energy_time: Correlation of energy and time errors of the same candidate.
        pairs: Number of residual pairs behind each weight.
        data_hash: SHA-256 of the measured table the residuals came from.
        source: Where the residuals came from.
        computed_at: UTC time of the estimate.
    """

    weights: dict[str, float]
    idiosyncratic: float
    rho_energy_time: float
    pairs: dict[str, int]
    data_hash: str
    source: str
    computed_at: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


def standardized_residuals(measured: np.ndarray, predicted: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``log(y / p)`` over the split-normal scale of its side of the interval (NaN where undefined)."""
    y, p, lo, hi = (np.asarray(a, dtype=float) for a in (measured, predicted, lo, hi))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(y / p)
        up = np.log(hi / p) / Z90
        down = np.log(p / lo) / Z90
        s = np.where(r >= 0, up, down)
        z = np.where(s > 0, r / s, np.nan)
    return np.where(np.isfinite(z), z, np.nan)


def estimate(evaluation: dict[str, Any], table: Any, data_hash: str, source: str) -> VarianceSplit:
    """Estimate the variance split from ``eai evaluate``'s stored held-out predictions.

    Args:
        evaluation: The report ``models/evaluation.json`` holds (per split, ``predictions``
            with ``measured``, ``predicted``, ``lo``, ``hi`` lists in table row order).
        table: The measured table it was computed on (``load_table`` frame), for the
            engine and source of each row.
        data_hash: The table's SHA-256 (stored with the estimate).
        source: Description of where the report came from.

    Raises:
        DataSourceError: The report lacks per-row predictions or does not line up with the table.
    """
    import pandas as pd

    codes = {c: pd.factorize(table[c].astype(str))[0] for c in ("platform", "model_id", "engine", "source")}
    level = {"platform": codes["platform"], "model": codes["model_id"], "engine": codes["engine"]}
    z_by_split: dict[str, dict[str, np.ndarray]] = {}
    for split in ("platform", "model", "source"):
        block = evaluation.get("splits", {}).get(split, {}).get("predictions")
        if not block:
            raise DataSourceError(f"evaluation report has no per-row predictions for split {split!r}; run 'eai evaluate'")
        z_by_split[split] = {}
        for quantity, column in (("energy_j_per_query", "energy_j_per_query"), ("time_s_per_query", "time_s_per_query")):
            pred = block[quantity]
            measured_all = table[column].to_numpy(dtype=float)
            # Rows in table order: every row (the evaluation derives a value where the table has
            # none, e.g. energy from per-token figures) or the rows where the table has one.
            if len(pred["measured"]) == len(table):
                rows = np.arange(len(table))
                check = np.isfinite(measured_all)
            else:
                rows = np.flatnonzero(np.isfinite(measured_all))
                check = np.ones(len(table), dtype=bool)
            have = check[rows]
            if len(rows) != len(pred["measured"]) or not np.allclose(
                measured_all[rows][have], np.asarray(pred["measured"], dtype=float)[have], rtol=1e-3
            ):
                raise DataSourceError(
                    f"evaluation report's {quantity} predictions ({len(pred['measured'])} rows) do not line up with the "
                    f"table ({len(rows)} rows with a value); re-run 'eai evaluate' on this table"
                )
            z = np.full(len(table), np.nan)
            z[rows] = standardized_residuals(pred["measured"], pred["predicted"], pred["lo"], pred["hi"])
            z_by_split[split][quantity] = z
    from scipy.optimize import nnls

    fold_col = {"platform": codes["platform"], "model": codes["model_id"], "source": codes["source"]}
    xs, ys = [], []
    for split, fold in fold_col.items():
        z = z_by_split[split]["energy_j_per_query"]
        z = z / np.sqrt(np.nanmean(z**2))
        for g in np.unique(fold):
            idx = np.flatnonzero((fold == g) & np.isfinite(z))
            ii, jj = np.triu_indices(idx.size, 1)
            a, b = idx[ii], idx[jj]
            ys.append(z[a] * z[b])
            xs.append(np.stack([level[f][a] == level[f][b] for f in FACTORS], axis=1).astype(float))
    x, y = np.concatenate(xs), np.concatenate(ys)
    w, _ = nnls(x, y)
    weights = {f: float(w[k]) for k, f in enumerate(FACTORS)}
    pairs = {f: int(x[:, k].sum()) for k, f in enumerate(FACTORS)}
    total = sum(weights.values())
    if total > 1.0 - MIN_IDIOSYNCRATIC:
        scale = (1.0 - MIN_IDIOSYNCRATIC) / total
        weights = {k: v * scale for k, v in weights.items()}
    ze = z_by_split["platform"]["energy_j_per_query"]
    zt = z_by_split["platform"]["time_s_per_query"]
    ok = np.isfinite(ze) & np.isfinite(zt)
    rho = float(np.sum(ze[ok] * zt[ok]) / np.sqrt(np.sum(ze[ok] ** 2) * np.sum(zt[ok] ** 2))) if ok.sum() > 2 else 0.0
    return VarianceSplit(
        weights=weights,
        idiosyncratic=float(1.0 - sum(weights.values())),
        rho_energy_time=float(np.clip(rho, -0.99, 0.99)),
        pairs=pairs,
        data_hash=data_hash,
        source=source,
        computed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def estimate_from_files(evaluation_path: str | Path, table_path: str | Path) -> VarianceSplit:
    """:func:`estimate` on a stored evaluation report and the table it was run on.

    Raises:
        DataSourceError: Missing files, or a report computed on another table.
    """
    from recommender.table import load_table, table_hash

    ep = Path(evaluation_path)
    if not ep.is_file():
        raise DataSourceError(f"evaluation report {str(ep)!r} not found; run 'eai evaluate'")
    report = json.loads(ep.read_text(encoding="utf-8"))
    current = table_hash(table_path)
    if report.get("data_hash") and report["data_hash"] != current:
        raise DataSourceError(
            f"evaluation report {str(ep)!r} was computed on table {report['data_hash'][:12]}..., "
            f"not {str(table_path)!r} ({current[:12]}...); re-run 'eai evaluate'"
        )
    return estimate(report, load_table(table_path), current, f"{ep.name} (cross-validated residuals)")


def save(split: VarianceSplit, path: str | Path = VARIANCE_PATH) -> Path:
    """Write the split as JSON."""
    p = Path(path)
    p.write_text(json.dumps(split.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return p


def load(path: str | Path = VARIANCE_PATH) -> VarianceSplit:
    """Read a split written by :func:`save`.

    Raises:
        DataSourceError: Missing or malformed file.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        split = VarianceSplit(**data)
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise DataSourceError(f"variance split {str(p)!r} unreadable ({exc}); regenerate with 'python bench/plan_variance.py'") from exc
    if set(split.weights) != set(FACTORS):
        raise DataSourceError(f"variance split {str(p)!r} names factors {sorted(split.weights)}, expected {list(FACTORS)}")
    return split
