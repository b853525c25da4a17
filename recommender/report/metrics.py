"""Configuration points for the report: EOR from measured rows, predictions merged in, Pareto frontier.

A *point* is one platform x model x quantization x task configuration with
accuracy, energy and EOR plus a 90% interval and where it came from. Measured
points come from table rows that carry both accuracy and energy; predicted
points come from a :class:`~recommender.model.api.Predictor`.

Units: ``energy_wh_per_1k`` is gross Wh per 1,000 queries (everything the devices drew while
serving, idle included: no row of the table subtracts idle power); accuracy is in [0, 1];
``eor = accuracy * 100 / energy_wh_per_1k`` (MISSION.md's definition).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

Z90 = 1.6448536269514722
"""Two-sided 90% normal quantile: the predictor contract's intervals are 90%."""

J_PER_WH = 3600.0

POINT_COLUMNS: tuple[str, ...] = (
    "task",
    "platform",
    "model_id",
    "quantization",
    "engine",
    "batch_size",
    "device_count",
    "accuracy",
    "accuracy_lo",
    "accuracy_hi",
    "energy_wh_per_1k",
    "energy_wh_per_1k_lo",
    "energy_wh_per_1k_hi",
    "eor",
    "eor_lo",
    "eor_hi",
    "time_s_per_query",
    "status",
    "origin",
    "source",
    "energy_method",
    "accuracy_status",
)
"""Columns of a points frame. ``origin`` is ``measured`` or ``predicted``; ``status`` is the
predictor's provenance status (``measured``/``interpolated``/``extrapolated``) or ``measured``;
``energy_method`` is the measured row's meter (``estimated`` = CPU time x TDP share, not
metered), empty for predictions; ``accuracy_status`` is the accuracy's (``measured``,
``imputed``, ``prior``...)."""


_TEXT_COLUMNS = (
    "task", "platform", "model_id", "quantization", "engine", "status", "origin", "source",
    "energy_method", "accuracy_status",
)


def _plain_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as Python objects: grouping/masking pyarrow-backed strings is several x slower."""
    return frame.astype({c: object for c in _TEXT_COLUMNS if c in frame.columns})


def j_per_query_to_wh_per_1k(energy_j_per_query: float | np.ndarray | pd.Series) -> float | np.ndarray | pd.Series:
    """Convert J per query to Wh per 1,000 queries (x 1000 / 3600)."""
    return energy_j_per_query * 1000.0 / J_PER_WH


def eor(accuracy: float | np.ndarray | pd.Series, energy_wh_per_1k: float | np.ndarray | pd.Series):
    """EOR = accuracy x 100 / (Wh per 1,000 queries); accuracy in [0, 1]."""
    return accuracy * 100.0 / energy_wh_per_1k


def energy_per_query_j(table: pd.DataFrame) -> pd.Series:
    """Energy per query in J for every row: measured per query, else per token x mean output tokens.

    Rows with neither stay NaN (never guessed).
    """
    direct = pd.to_numeric(table["energy_j_per_query"], errors="coerce")
    per_token = pd.to_numeric(table["energy_j_per_output_token"], errors="coerce")
    tokens = pd.to_numeric(table["output_tokens_mean"], errors="coerce")
    return direct.fillna(per_token * tokens)


def measured_points(table: pd.DataFrame, tasks: set[str] | None = None) -> pd.DataFrame:
    """Points from table rows that have both accuracy and energy per query.

    The interval on accuracy is +-1.645 standard errors where the stderr is
    known (else the point itself); on energy it is +-half the spread of the
    repeated windows (``energy_spread_pct`` is (max - min) / median). The EOR
    interval combines the two worst cases.

    Args:
        table: Measured table (``load_table``'s frame).
        tasks: Keep only these workloads (benchmark task ids); None keeps all.

    Returns:
        A frame with :data:`POINT_COLUMNS`, ``origin == "measured"``.
    """
    if table.empty:
        return pd.DataFrame(columns=list(POINT_COLUMNS))
    energy_j = energy_per_query_j(table)
    acc = pd.to_numeric(table["accuracy"], errors="coerce")
    keep = acc.notna() & energy_j.notna()
    if tasks is not None:
        keep &= table["workload"].isin(tasks)
    rows = table[keep]
    if rows.empty:
        return pd.DataFrame(columns=list(POINT_COLUMNS))
    acc = acc[keep]
    energy = j_per_query_to_wh_per_1k(energy_j[keep])
    stderr = pd.to_numeric(rows["accuracy_stderr"], errors="coerce").fillna(0.0)
    spread = pd.to_numeric(rows["energy_spread_pct"], errors="coerce").fillna(0.0) / 100.0
    acc_lo = (acc - Z90 * stderr).clip(lower=0.0)
    acc_hi = (acc + Z90 * stderr).clip(upper=1.0)
    e_lo = energy * (1.0 - spread / 2.0).clip(lower=1e-6)
    e_hi = energy * (1.0 + spread / 2.0)
    out = pd.DataFrame(
        {
            "task": rows["workload"].astype(str),
            "platform": rows["platform"].astype(str),
            "model_id": rows["model_id"].astype(str),
            "quantization": rows["quantization"].astype(str),
            "engine": rows["engine"].astype(str),
            "batch_size": rows["batch_size"].astype(int),
            "device_count": rows["device_count"].astype(int),
            "accuracy": acc,
            "accuracy_lo": acc_lo,
            "accuracy_hi": acc_hi,
            "energy_wh_per_1k": energy,
            "energy_wh_per_1k_lo": e_lo,
            "energy_wh_per_1k_hi": e_hi,
            "eor": eor(acc, energy),
            "eor_lo": eor(acc_lo, e_hi),
            "eor_hi": eor(acc_hi, e_lo),
            "time_s_per_query": pd.to_numeric(rows["time_s_per_query"], errors="coerce"),
            "status": "measured",
            "origin": "measured",
            "source": rows["source"].astype(str),
            "energy_method": rows["energy_method"].astype(str),
            "accuracy_status": "measured",
        }
    )
    return _plain_text(out.reset_index(drop=True)[list(POINT_COLUMNS)])


def predicted_points(candidates: pd.DataFrame, predictions: pd.DataFrame, source: str = "predictor") -> pd.DataFrame:
    """Points from a predictor's output (contract columns of ``recommender.model.api``).

    Args:
        candidates: The candidate frame passed to ``Predictor.predict``.
        predictions: Its result, indexed like ``candidates``.
        source: Label for the ``source`` column.

    Returns:
        A frame with :data:`POINT_COLUMNS`, ``origin == "predicted"``; rows without an
        accuracy or energy prediction are dropped.
    """
    if candidates.empty:
        return pd.DataFrame(columns=list(POINT_COLUMNS))
    p = predictions.reindex(candidates.index)

    def col(name: str) -> pd.Series:
        if name in p.columns:
            return pd.to_numeric(p[name], errors="coerce")
        return pd.Series(np.nan, index=p.index)

    energy = j_per_query_to_wh_per_1k(col("energy_j_per_query"))
    out = pd.DataFrame(
        {
            "task": candidates["task"].astype(str),
            "platform": candidates["platform"].astype(str),
            "model_id": candidates["model_id"].astype(str),
            "quantization": candidates["quantization"].astype(str),
            "engine": candidates["engine"].astype(str),
            "batch_size": candidates["batch_size"].astype(int),
            "device_count": candidates["device_count"].astype(int),
            "accuracy": col("accuracy"),
            "accuracy_lo": col("accuracy_lo"),
            "accuracy_hi": col("accuracy_hi"),
            "energy_wh_per_1k": energy,
            "energy_wh_per_1k_lo": j_per_query_to_wh_per_1k(col("energy_j_per_query_lo")),
            "energy_wh_per_1k_hi": j_per_query_to_wh_per_1k(col("energy_j_per_query_hi")),
            "eor": col("eor"),
            "eor_lo": col("eor_lo"),
            "eor_hi": col("eor_hi"),
            "time_s_per_query": col("time_s_per_query"),
            "status": p["status"].astype(str) if "status" in p.columns else "extrapolated",
            "origin": "predicted",
            "source": source,
            "energy_method": "",
            # Without a status the accuracy counts as a prior: nothing says it was informed.
            "accuracy_status": p["accuracy_status"].astype(str) if "accuracy_status" in p.columns else "prior",
        }
    )
    # A predictor may leave EOR out; recompute it from its own accuracy and energy then.
    missing = out["eor"].isna() & out["accuracy"].notna() & out["energy_wh_per_1k"].notna()
    out.loc[missing, "eor"] = eor(out.loc[missing, "accuracy"], out.loc[missing, "energy_wh_per_1k"])
    out = out[out["accuracy"].notna() & out["energy_wh_per_1k"].notna()]
    return _plain_text(out.reset_index(drop=True)[list(POINT_COLUMNS)])


def merge_points(measured: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """Measured points plus predicted points for configurations nobody measured.

    A configuration is (task, platform, model, quantization, engine, batch, devices);
    where it was measured the prediction is dropped so that each configuration is
    drawn once, as what was measured.
    """
    key = ["task", "platform", "model_id", "quantization", "engine", "batch_size", "device_count"]
    frames = [f for f in (measured, predicted) if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(POINT_COLUMNS))
    if measured.empty or predicted.empty:
        return _plain_text(pd.concat(frames, ignore_index=True)[list(POINT_COLUMNS)])
    seen = set(map(tuple, measured[key].astype(str).to_numpy()))
    mask = [tuple(r) not in seen for r in predicted[key].astype(str).to_numpy()]
    return _plain_text(pd.concat([measured, predicted[mask]], ignore_index=True)[list(POINT_COLUMNS)])


def pareto_mask(energy: np.ndarray | pd.Series, accuracy: np.ndarray | pd.Series) -> np.ndarray:
    """Which points are Pareto-optimal for (minimise energy, maximise accuracy).

    A point is on the frontier when no other point has energy <= and accuracy >=
    with at least one strict. O(n log n): sort by energy, keep running best accuracy.

    Args:
        energy: Energy per configuration (any positive unit).
        accuracy: Accuracy per configuration.

    Returns:
        Boolean array aligned with the inputs; NaN inputs are never on the frontier.
    """
    e = np.asarray(energy, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    mask = np.zeros(len(e), dtype=bool)
    valid = np.flatnonzero(~(np.isnan(e) | np.isnan(a)))
    # Sort by energy ascending, ties by accuracy descending so the best of a tie leads.
    order = valid[np.lexsort((-a[valid], e[valid]))]
    best = -math.inf
    for i in order:
        if a[i] > best:
            mask[i] = True
            best = a[i]
    return mask
