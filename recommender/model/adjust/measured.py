"""Stage ``measured``: a candidate equal to a measured cell returns the measurement.

A cell is (platform, device count, engine, model, quantization, batch size, task, pipeline
stages, engine release level); its point is the mean of the repeats and its interval spans the
repeats and the stated window spread. A candidate is that cell only at the cell's release (an
H100 asked under vLLM 0.5.4 is not the one measured under 0.11.1: 4x apart in time; a release
never measured that stands in at a measured neighbour's level is not that neighbour) and, where
it states its own prompt length, not at all (the cell measured its workload's prompts; the
output length is carried per output token). Cross-validation switches this stage off
(``use_measured=False``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recommender.errors import ModelStateError
from recommender.model import cats
from recommender.model.answer_length import BASES
from recommender.model.api import CANDIDATE_COLUMNS
from recommender.model.prediction import QueryPrediction
from recommender.model.roofline_fit import release_order

STAGE = "measured"

KEY_COLUMNS: tuple[str, ...] = (*CANDIDATE_COLUMNS, "pipeline_stages", "engine_release")
"""Columns that identify a measured cell (the release level as the frames write it, ``vllm@0.11``;
a candidate naming no release is at its engine's default level, :func:`recommender.model.frame.default_releases`)."""

PROMPT_GIVEN = "prompt_given"
"""Candidate-frame column: the row states its own prompt length (never replaced by a cell)."""

BRACKETED = "release_bracketed"
"""Candidate-frame column: the row names a release never measured that stands in at a measured
neighbour's level (vLLM 0.10 at ``vllm@0.11``); it is not that neighbour's measurement."""


PEER = "engine_peer"
"""Candidate-frame column: the row's engine was never measured and is read as a measured peer
(:func:`recommender.model.frame._read_as_peer`); it is not the peer's measurement."""


@dataclass(frozen=True)
class ReferenceCodes:
    """The reference side of :func:`factor_codes`, coded once.

    A stage that looks several frames up in the same reference (stage ``sibling``: one frame per
    measured platform) codes the reference once and each frame with :func:`frame_key`.

    Attributes:
        columns: The key columns, in key order.
        levels: Per column, its levels: the sorted distinct numbers (a numeric column) or a
            ``pd.Index`` of the strings in order of first appearance.
        key: Integer key per reference row.
    """

    columns: tuple[str, ...]
    levels: tuple[Any, ...]
    key: np.ndarray


def reference_codes(reference: pd.DataFrame, columns: tuple[str, ...]) -> ReferenceCodes:
    """``reference`` coded by ``columns`` (see :func:`factor_codes`)."""
    key_r = np.zeros(len(reference), dtype=np.int64)
    levels: list[Any] = []
    for c in columns:
        if reference[c].dtype.kind in "fiu":
            ref_vals = reference[c].to_numpy(dtype=float)
            uniq = np.unique(ref_vals)
            codes_r = np.searchsorted(uniq, ref_vals)
            levels.append(uniq)
        else:
            # One pass over the reference's strings gives both its levels (in order of first
            # appearance) and its codes; a missing value is a level of its own.
            codes_r, uniq = pd.factorize(reference[c].astype(str).to_numpy(), use_na_sentinel=False)
            levels.append(pd.Index(uniq, dtype=object))
        key_r = key_r * (len(levels[-1]) + 1) + codes_r
    return ReferenceCodes(columns=tuple(columns), levels=tuple(levels), key=key_r)


def frame_key(frame: pd.DataFrame, ref: ReferenceCodes) -> np.ndarray:
    """Integer key of each ``frame`` row in ``ref``'s coding (-1: some value the reference lacks)."""
    key_f = np.zeros(len(frame), dtype=np.int64)
    valid = np.ones(len(frame), dtype=bool)
    for c, uniq in zip(ref.columns, ref.levels, strict=True):
        if isinstance(uniq, pd.Index):
            codes_f = cats.positions(frame[c], uniq)
        else:
            fv = frame[c].to_numpy(dtype=float)
            pos = np.clip(np.searchsorted(uniq, fv), 0, max(len(uniq) - 1, 0))
            codes_f = np.where((len(uniq) > 0) & (uniq[pos] == fv), pos, -1) if len(uniq) else np.full(len(fv), -1)
        valid &= codes_f >= 0
        key_f = key_f * (len(uniq) + 1) + np.maximum(codes_f, 0)
    return np.where(valid, key_f, -1)


def factor_codes(frame: pd.DataFrame, columns: tuple[str, ...], reference: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys of ``frame`` rows and ``reference`` rows in one shared coding (-1: no match)."""
    ref = reference_codes(reference, columns)
    return frame_key(frame, ref), ref.key


PROFILE_COLUMNS: tuple[str, ...] = ("prompt_tokens", "output_tokens", "output_dispersion", "fed_tokens")
"""Token profile a cell ran at (its rows' mean), kept so that stage ``anchor`` can set the model
against the measurement at the profile the cell measured."""


def measured_cells(prepared: pd.DataFrame) -> pd.DataFrame:
    """Mean, min and max of energy/time per measured cell, interval widened by stated spread,
    the token profile it ran at (:data:`PROFILE_COLUMNS`) and its queries in flight
    (``in_flight_mean``: Little's law on the cell's own figures, its mean power over its mean
    energy per query, times its mean latency; a row's power is its measured mean, or its
    energy per query x its completion rate, token throughput / output tokens; NaN where its
    rows state neither)."""
    p = prepared.copy()

    def column(name: str) -> pd.Series:
        return pd.to_numeric(p[name], errors="coerce") if name in p.columns else pd.Series(np.nan, index=p.index)

    # A server's row states its energy per request and latency, and its mean power or its token
    # throughput: requests in flight are the completion rate (power / energy, or tokens per
    # second / tokens per request) times the latency. The batch it was asked at says otherwise:
    # ML.ENERGY v3's gpt-oss-120b on an H100 at 64 sequences ran 62.1 (709 W where it measured
    # 688 W); ML.ENERGY v2's StarCoder2-15B on an A100 at 256, 172 (430 W of a 400 W card).
    power = column("power_w_mean")
    p["power_row"] = power.where(power.notna(), p["energy_q"] * column("throughput_tokens_per_s") / column("output_tokens"))
    spread = pd.to_numeric(p.get("energy_spread_pct"), errors="coerce").fillna(0.0) / 100.0
    p["e_lo_row"] = p["energy_q"] * (1.0 - spread / 2.0)
    p["e_hi_row"] = p["energy_q"] * (1.0 + spread / 2.0)
    p["device_count"] = p["device_count"].astype(float)
    p["batch_size"] = p["batch_size"].astype(float)
    p["pipeline_stages"] = p["pipeline_stages"].astype(float)
    p["engine_release"] = p["engine_release"].astype(str)
    g = p.groupby(list(KEY_COLUMNS), sort=True, dropna=False)
    cells = g.agg(
        energy_mean=("energy_q", "mean"),
        energy_lo=("e_lo_row", "min"),
        energy_hi=("e_hi_row", "max"),
        time_mean=("time_q", "mean"),
        time_lo=("time_q", "min"),
        time_hi=("time_q", "max"),
        output_tokens=("output_tokens", "mean"),
        power_mean=("power_row", "mean"),
        **{c: (c, "mean") for c in PROFILE_COLUMNS if c != "output_tokens" and c in p.columns},
    ).reset_index()
    # The cell's requests in flight at its mean power: its mean energy x them / its mean latency
    # is then that power.
    cells["in_flight_mean"] = cells.pop("power_mean") * cells["time_mean"] / cells["energy_mean"]
    return cells


KEY_TABLE_LIMIT = 1 << 24
"""Largest key (exclusive) :func:`key_matches` looks up in a table of flags (16 MB at most)."""


def key_matches(fkey: np.ndarray, rkey: np.ndarray) -> np.ndarray:
    """Per row of ``fkey``, whether its key is among ``rkey`` (-1: no key)."""
    ref = np.unique(rkey)
    if not len(ref):
        return np.zeros(len(fkey), dtype=bool)
    top = max(int(ref[-1]), int(fkey.max()) if len(fkey) else -1)
    if 0 <= ref[0] and top < KEY_TABLE_LIMIT:
        # Keys in a small space: one flag per key, taken per row (a binary search of a million
        # keys among a few thousand cost ~10 ms; this a take).
        known = np.zeros(top + 1, dtype=bool)
        known[ref] = True
        return (fkey >= 0) & known[np.maximum(fkey, 0)]
    pos = np.clip(np.searchsorted(ref, fkey), 0, len(ref) - 1)
    return (fkey >= 0) & (ref[pos] == fkey)


def _lookup(rows: pd.DataFrame, levels: np.ndarray, cells: pd.DataFrame, coded: ReferenceCodes | None = None) -> np.ndarray:
    """Per row of ``rows`` at release level ``levels``, the position of its cell in ``cells``
    (-1: none). ``coded``: ``cells`` coded by :data:`KEY_COLUMNS` where the caller keeps it."""
    if not len(rows) or not len(cells):
        return np.full(len(rows), -1, dtype=np.int64)
    ref = coded if coded is not None else reference_codes(cells, KEY_COLUMNS)
    fkey, rkey = frame_key(rows.assign(engine_release=levels), ref), ref.key
    order = np.argsort(rkey, kind="stable")
    pos = np.clip(np.searchsorted(rkey[order], fkey), 0, len(rkey) - 1)
    found = (fkey >= 0) & (rkey[order][pos] == fkey)
    return np.where(found, order[pos], -1)


def engine_levels(levels: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per level, its text, its engine and whether it names a release (``vllm@0.11``: ``vllm``,
    True); decided once per distinct level (a million candidates name a handful)."""
    codes, labels = cats.parts(levels)
    text = np.array([str(x) for x in labels] + [""], dtype=object)
    engine = np.array([t.split("@", 1)[0] for t in text], dtype=object)
    named = np.array(["@" in t for t in text], dtype=bool)
    at = np.where(codes < 0, len(labels), codes)
    return text[at], engine[at], named[at]


def newest_per_cell(cells: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Cells measured at stated releases only, each at its newest release, relabelled with the
    bare engine name (what a candidate naming no release reads, as the components do), and
    their positions in ``cells``."""
    _, engine, named = engine_levels(cells["engine_release"])
    if not named.any():
        return cells.iloc[:0], np.zeros(0, dtype=np.int64)
    rest = [c for c in KEY_COLUMNS if c != "engine_release"]
    frame = cells[rest].astype(str).assign(_engine=engine, _pos=np.arange(len(cells)))
    bare = set(map(tuple, frame.loc[~named, rest].to_numpy()))
    versioned = frame[named].assign(_order=[release_order(str(v)) for v in cells["engine_release"].to_numpy()[named]])
    newest = versioned.sort_values("_order", kind="stable").groupby(rest, sort=False).tail(1)
    newest = newest[[tuple(r) not in bare for r in newest[rest].to_numpy()]]
    where = newest["_pos"].to_numpy(dtype=np.int64)
    return cells.iloc[where].assign(engine_release=newest["_engine"].to_numpy()), where


def apply(
    q: QueryPrediction,
    cf: pd.DataFrame,
    measured: pd.DataFrame,
    newest_cells: Callable[[], tuple[pd.DataFrame, np.ndarray]] | None = None,
    coded_cells: Callable[..., ReferenceCodes] | None = None,
) -> QueryPrediction:
    """``q`` with measured cells' energy and time (status measured, no reasons).

    ``newest_cells``: gives ``newest_per_cell(measured)`` where the caller keeps it (the
    predictor's :meth:`~recommender.model.predictor.EaiPredictor.newest_cells`), called only
    where a row needs it; None: found here. ``coded_cells``: gives ``measured`` (``newest=True``:
    the newest cells) coded by the columns asked (:func:`reference_codes`) where the caller keeps
    them (the predictor's :meth:`~recommender.model.predictor.EaiPredictor.coded_cells`); None:
    coded here.

    A row meets a cell at its own release level; where none is there, a row naming a release
    meets the cell measured at an unstated one (the quantization reports ran HF transformers at
    *some* release), and a row naming none meets the newest release measured for that cell (the
    profiler's CPU rows state transformers 5.23), as the components read releases
    (:meth:`recommender.model.component.ComponentModel._release_as_fitted`).
    """
    if not len(measured):
        return q
    if not set(KEY_COLUMNS) <= set(measured.columns):
        raise ModelStateError(
            f"the measured cells lack {sorted(set(KEY_COLUMNS) - set(measured.columns))}; refit with 'eai fit'"
        )
    # First the name columns but the release (integer codes: cheap on a million rows), then the
    # whole key on the few rows whose names match some measured cell.
    names = tuple(c for c in KEY_COLUMNS if measured[c].dtype.kind not in "fiu" and c != "engine_release")
    if names and coded_cells is not None:
        near = np.flatnonzero(key_matches(frame_key(cf, coded_cells(names)), coded_cells(names).key))
    else:
        near = np.flatnonzero(key_matches(*factor_codes(cf, names, measured))) if names else np.arange(len(cf))
    for flag in (PROMPT_GIVEN, BRACKETED, PEER):
        if flag in cf.columns and len(near):
            near = near[~cf[flag].to_numpy(dtype=bool)[near]]
    sub = cf.iloc[near]
    levels, engine, named = engine_levels(sub["engine_release"])
    pos = _lookup(sub, levels, measured, coded_cells(KEY_COLUMNS) if coded_cells is not None else None)
    # A named release not measured for the cell: the cell measured at an unstated release.
    rows = np.flatnonzero((pos < 0) & named)
    _, cell_engine, cell_named = engine_levels(measured["engine_release"])
    bare = np.flatnonzero(~cell_named)
    if len(rows) and len(bare):
        found = _lookup(sub.iloc[rows], engine[rows], measured.iloc[bare].assign(engine_release=cell_engine[bare]))
        pos[rows] = np.where(found >= 0, bare[np.maximum(found, 0)], -1)
    # No release named and no unversioned cell: the newest release measured for the cell.
    rows = np.flatnonzero((pos < 0) & ~named)
    if not len(rows):
        newest, where = measured.iloc[:0], np.zeros(0, dtype=np.int64)
    else:
        newest, where = newest_cells() if newest_cells is not None else newest_per_cell(measured)
    if len(newest):
        found = _lookup(sub.iloc[rows], engine[rows], newest, coded_cells(KEY_COLUMNS, newest=True) if coded_cells is not None else None)
        pos[rows] = np.where(found >= 0, where[np.maximum(found, 0)], -1)
    hit_near = pos >= 0
    idx = pos[hit_near]
    hit = np.zeros(len(cf), dtype=bool)
    hit[near[hit_near]] = True
    if not len(idx):
        return q
    # A measured cell ran at its own output length; a row that asks at another (its own, or
    # the task's) gets the measurement carried per output token. A row at its model's measured
    # length (stage answer_length) asks for what the cell measured: the cell's own length.
    if "output_tokens" in measured.columns:
        cell_out = measured["output_tokens"].to_numpy(dtype=float)[idx]
        row_out = cf["output_tokens"].to_numpy(dtype=float)[hit]
        scale = np.where((cell_out > 0) & (row_out > 0), row_out / np.where(cell_out > 0, cell_out, 1.0), 1.0)
        if "output_basis" in cf.columns:
            scale = np.where(cf["output_basis"].to_numpy()[hit] == BASES.index("model"), 1.0, scale)
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
    if "in_flight_mean" in measured.columns:  # a state written before the cells kept it has none
        in_flight = np.full(len(cf), np.nan) if q.in_flight is None else q.in_flight.copy()
        in_flight[np.flatnonzero(hit)] = measured["in_flight_mean"].to_numpy(dtype=float)[idx]
        arrays["in_flight"] = in_flight
    return q.replace(status_code=status, reason_bits=bits, **arrays)
