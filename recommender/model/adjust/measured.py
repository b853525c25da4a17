"""Stage ``measured``: a candidate equal to a measured cell returns the measurement.

A cell is (platform, device count, engine, model, quantization, batch size, task); its point is
the mean of the repeats and its interval spans the repeats and the stated window spread.
Cross-validation switches this stage off (``use_measured=False``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.api import CANDIDATE_COLUMNS
from recommender.model.prediction import QueryPrediction

STAGE = "measured"

KEY_COLUMNS: tuple[str, ...] = CANDIDATE_COLUMNS
"""Columns that identify a measured cell."""


def factor_codes(frame: pd.DataFrame, columns: tuple[str, ...], reference: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys of ``frame`` rows and ``reference`` rows in one shared coding (-1: no match)."""
    key_f = np.zeros(len(frame), dtype=np.int64)
    key_r = np.zeros(len(reference), dtype=np.int64)
    valid = np.ones(len(frame), dtype=bool)
    for c in columns:
        if reference[c].dtype.kind in "fiu":
            ref_vals = reference[c].to_numpy(dtype=float)
            uniq = np.unique(ref_vals)
            codes_r = np.searchsorted(uniq, ref_vals)
            fv = frame[c].to_numpy(dtype=float)
            pos = np.clip(np.searchsorted(uniq, fv), 0, max(len(uniq) - 1, 0))
            codes_f = np.where((len(uniq) > 0) & (uniq[pos] == fv), pos, -1) if len(uniq) else np.full(len(fv), -1)
            n_levels = len(uniq)
        else:
            ref_index = pd.Index(pd.unique(reference[c].astype(str).to_numpy()), dtype=object)
            codes_r = ref_index.get_indexer(pd.Index(reference[c].astype(str).to_numpy(), dtype=object))
            codes_f = cats.positions(frame[c], ref_index)
            n_levels = len(ref_index)
        valid &= codes_f >= 0
        key_f = key_f * (n_levels + 1) + np.maximum(codes_f, 0)
        key_r = key_r * (n_levels + 1) + codes_r
    return np.where(valid, key_f, -1), key_r


def measured_cells(prepared: pd.DataFrame) -> pd.DataFrame:
    """Mean, min and max of energy/time per measured cell; interval widened by stated spread."""
    p = prepared.copy()
    spread = pd.to_numeric(p.get("energy_spread_pct"), errors="coerce").fillna(0.0) / 100.0
    p["e_lo_row"] = p["energy_q"] * (1.0 - spread / 2.0)
    p["e_hi_row"] = p["energy_q"] * (1.0 + spread / 2.0)
    p["device_count"] = p["device_count"].astype(float)
    p["batch_size"] = p["batch_size"].astype(float)
    g = p.groupby(list(KEY_COLUMNS), sort=True, dropna=False)
    cells = g.agg(
        energy_mean=("energy_q", "mean"),
        energy_lo=("e_lo_row", "min"),
        energy_hi=("e_hi_row", "max"),
        time_mean=("time_q", "mean"),
        time_lo=("time_q", "min"),
        time_hi=("time_q", "max"),
        output_tokens=("output_tokens", "mean"),
    ).reset_index()
    return cells


def _matches(fkey: np.ndarray, rkey: np.ndarray) -> np.ndarray:
    """Per row of ``fkey``, whether its key is among ``rkey`` (-1: no key)."""
    ref = np.unique(rkey)
    if not len(ref):
        return np.zeros(len(fkey), dtype=bool)
    pos = np.clip(np.searchsorted(ref, fkey), 0, len(ref) - 1)
    return (fkey >= 0) & (ref[pos] == fkey)


def apply(q: QueryPrediction, cf: pd.DataFrame, measured: pd.DataFrame) -> QueryPrediction:
    """``q`` with measured cells' energy and time (status measured, no reasons)."""
    if not len(measured):
        return q
    # First the name columns (integer codes: cheap on a million rows), then the whole key on
    # the few rows whose names match some measured cell.
    names = tuple(c for c in KEY_COLUMNS if measured[c].dtype.kind not in "fiu")
    near = np.arange(len(cf))
    if names and len(names) < len(KEY_COLUMNS):
        near = np.flatnonzero(_matches(*factor_codes(cf, names, measured)))
    fkey, rkey = factor_codes(cf.iloc[near] if len(near) < len(cf) else cf, KEY_COLUMNS, measured)
    order = np.argsort(rkey)
    pos = np.searchsorted(rkey[order], fkey)
    pos = np.clip(pos, 0, len(rkey) - 1)
    hit_near = (fkey >= 0) & (rkey[order][pos] == fkey)
    idx = order[pos[hit_near]]
    hit = np.zeros(len(cf), dtype=bool)
    hit[near[hit_near]] = True
    if not len(idx):
        return q
    # A measured cell ran at its own output length; the row asks at its basis (the task's
    # profile or its own), so the measurement is carried per output token.
    if "output_tokens" in measured.columns:
        cell_out = measured["output_tokens"].to_numpy(dtype=float)[idx]
        row_out = cf["output_tokens"].to_numpy(dtype=float)[hit]
        scale = np.where((cell_out > 0) & (row_out > 0), row_out / np.where(cell_out > 0, cell_out, 1.0), 1.0)
    else:  # a state written before the cells kept their output length
        scale = np.ones(len(idx))
    arrays = {f: getattr(q, f).copy() for f in ("energy_j", "energy_lo_j", "energy_hi_j", "time_s", "time_lo_s", "time_hi_s")}
    for point, lo, hi, col in (("energy_j", "energy_lo_j", "energy_hi_j", "energy"), ("time_s", "time_lo_s", "time_hi_s", "time")):
        mv = measured[f"{col}_mean"].to_numpy()[idx]
        ok = np.isfinite(mv)
        sel = np.flatnonzero(hit)[ok]
        arrays[point][sel] = mv[ok] * scale[ok]
        arrays[lo][sel] = measured[f"{col}_lo"].to_numpy()[idx][ok] * scale[ok]
        arrays[hi][sel] = measured[f"{col}_hi"].to_numpy()[idx][ok] * scale[ok]
    status = q.status_code.copy()
    bits = q.reason_bits.copy()
    status[hit] = 0
    bits[hit] = 0
    return q.replace(status_code=status, reason_bits=bits, **arrays)
