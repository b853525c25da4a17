"""Stage ``anchor``: a deployment measured at other batch sizes anchors the model to them.

A candidate that is not a measured cell but whose deployment was measured at other batch sizes
(same platform, devices, engine and release level, model, quantization, task and pipeline
stages) is predicted as the model times the measured / model ratio of those cells: the ratio
at the nearest measured batches below and above, interpolated in log batch, or the nearer
one's where the candidate lies outside them. The ratio sets the model at the cell's own
batch and token profile against the measurement, so it corrects the deployment, not the
workload; energy and time are anchored apart, and the physical invariants are enforced again
after.

Why: the model misses each measured deployment by a few per cent in-sample (ML.ENERGY v3's
B200 rows, time per query: median 10.6 %), so without it a batch between two measured ones
could fall off the measurements around it, and below the smallest measured batch a query
came out slower than the measured batch above it (Llama-3.1-8B-Instruct, one B200, LMArena
chat: 2.15 s at batch 4, 1.77 s measured at batch 8). Evidence (``python
bench/anchor_accuracy.py``): every other measured batch of each deployment held out, the model
refitted without them. Cross-validation by campaign, platform or model never meets it (a
held-out row's deployment was never measured in its training rows).

A row whose release label differs from the cells' (a cell measured at an unstated release) is
not anchored, but a row naming no release meets the newest release measured for its deployment
where no cell of it is at the unstated level, as the measured stage reads it (SmolLM2-135M on
the H200, measured under transformers 5.17.0 at batch 1 and 32, asked at batch 4 with no
release: 17.0 J / 0.15 s per query from the unanchored model, 5.1 J / 0.044 s anchored). A release never measured that stands in at a measured neighbour's level, and an
engine read as its measured peer, are anchored as that level and that peer are (their point is
the one they stand in for; their flags and widths stay), and bf16 and fp16 are one deployment
(:data:`recommender.model.features.SAME_NUMERICS`). A row stating its own token profile is
anchored too: the ratio corrects the deployment, and the model carries the profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.component import take_rows
from recommender.model.adjust.measured import (
    KEY_COLUMNS,
    PROFILE_COLUMNS,
    ReferenceCodes,
    engine_levels,
    factor_codes,
    frame_key,
    key_matches,
    newest_per_cell,
    reference_codes,
)
from recommender.model.features import SAME_NUMERICS
from recommender.model.invariants import time_floor_s
from recommender.model.prediction import ENERGY_TIME_FIELDS, QueryPrediction
from recommender.model.roofline_fit import past_range_neighbour

if TYPE_CHECKING:
    from recommender.model.predictor import EaiPredictor

STAGE = "anchor"

GROUP_COLUMNS: tuple[str, ...] = tuple(c for c in KEY_COLUMNS if c != "batch_size")
"""What one measured deployment holds fixed while its batch varies."""


PAIR_COLUMNS: tuple[str, ...] = ("platform", "model_id")
"""The cheap first lookup of :func:`neighbours`: a row whose platform and model no cell has
has no measured deployment."""


@dataclass(frozen=True)
class CellKeys:
    """The measured cells coded for :func:`neighbours` (:func:`cell_keys`), once for the several
    frames a stage looks up in them (stage ``sibling``: one per measured platform)."""

    pair: ReferenceCodes
    """By :data:`PAIR_COLUMNS`."""
    group: ReferenceCodes
    """By deployment, :data:`GROUP_COLUMNS`, bf16 and fp16 one (:func:`as_one_numerics`)."""


def cell_keys(cells: pd.DataFrame) -> CellKeys:
    """``cells`` coded for :func:`neighbours`."""
    return CellKeys(pair=reference_codes(cells, PAIR_COLUMNS), group=reference_codes(as_one_numerics(cells), GROUP_COLUMNS))


def neighbours(
    cf: pd.DataFrame, cells: pd.DataFrame, near: np.ndarray | None = None, keys: CellKeys | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per candidate row, the positions in ``cells`` of the nearest measured batch below and
    above its own in its deployment (-1: none on that side), and whether it has any.

    A row at a measured batch has that cell on both sides. ``near``: the rows whose platform and
    model some cell has, where the caller knows them (else looked up). ``keys``: ``cells`` coded
    (:func:`cell_keys`), where the caller looks several frames up in them (else coded here).
    """
    n = len(cf)
    below = np.full(n, -1, dtype=np.int64)
    above = np.full(n, -1, dtype=np.int64)
    if not len(cells) or not n:
        return below, above, np.zeros(n, dtype=bool)
    # First platform and model (two lookups), then the whole deployment key on the few rows
    # whose pair was measured: cross-validation's held-out rows never match, a million
    # candidates rarely do.
    if near is None:
        pair = keys.pair if keys is not None else reference_codes(cells, PAIR_COLUMNS)
        near = np.flatnonzero(key_matches(frame_key(cf, pair), pair.key))
    if not len(near):
        return below, above, np.zeros(n, dtype=bool)
    # bf16 and fp16 are one deployment to the data (features.SAME_NUMERICS), here too. The
    # searches below run on those rows alone: no other row's deployment can be among the cells.
    group = keys.group if keys is not None else reference_codes(as_one_numerics(cells), GROUP_COLUMNS)
    fkey, rkey = frame_key(as_one_numerics(cf[list(GROUP_COLUMNS)].iloc[near]), group), group.key
    batch_c = cells["batch_size"].to_numpy(dtype=float)
    order = np.lexsort((batch_c, rkey))
    rk, bc = rkey[order], batch_c[order]
    batch_all = cf["batch_size"].to_numpy(dtype=float)
    batch = batch_all[near]
    start = np.searchsorted(rk, fkey, side="left")
    end = np.searchsorted(rk, fkey, side="right")
    found_near = (fkey >= 0) & (end > start)
    # One sorted key over (deployment, batch): each deployment's batches in their own band.
    uniq, dense = np.unique(rk, return_inverse=True)
    span = max(float(np.max(bc)), float(np.max(batch_all))) * 2.0 + 1.0  # wider than any batch asked
    combined = dense.ravel() * span + bc
    row_key = np.clip(np.searchsorted(uniq, fkey), 0, max(len(uniq) - 1, 0)) * span + batch
    j = np.searchsorted(combined, row_key, side="right") - 1  # last cell at or below
    k = np.searchsorted(combined, row_key, side="left")  # first cell at or above
    ok_below = found_near & (j >= start) & (j < end)
    ok_above = found_near & (k >= start) & (k < end)
    below[near[ok_below]] = order[j[ok_below]]
    above[near[ok_above]] = order[k[ok_above]]
    found = np.zeros(n, dtype=bool)
    found[near] = found_near
    return below, above, found


def _at_cells(rows: pd.DataFrame, cells: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Candidate-frame rows set to each cell's batch and, where the cells kept it, the token
    profile they ran at (so the model is set against the measurement on the cell's own terms:
    a candidate asking 4,096 prompt tokens of a deployment measured at 110 is corrected by how
    far the model missed at 110); and the factor that carries a cell's measurement to the row's
    output length where the profile was not kept (per output token), else 1."""
    out = rows.assign(batch_size=cells["batch_size"].to_numpy(dtype=float))
    if all(c in cells.columns for c in PROFILE_COLUMNS):
        passes = np.maximum(out["passes"].to_numpy(dtype=float), 1.0)
        fed = cells["fed_tokens"].to_numpy(dtype=float)
        out = out.assign(
            prompt_tokens=cells["prompt_tokens"].to_numpy(dtype=float),
            output_tokens=cells["output_tokens"].to_numpy(dtype=float),
            output_dispersion=cells["output_dispersion"].to_numpy(dtype=float),
            fed_tokens=fed,
            pass_tokens=fed / passes,
        )
        return out, np.ones(len(out))
    out_cell = cells["output_tokens"].to_numpy(dtype=float) if "output_tokens" in cells.columns else np.full(len(out), np.nan)
    out_row = out["output_tokens"].to_numpy(dtype=float)
    return out, np.where((out_cell > 0) & (out_row > 0), out_row / np.where(out_cell > 0, out_cell, 1.0), 1.0)


def as_one_numerics(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its quantization names read as :data:`SAME_NUMERICS` reads them."""
    codes, labels = cats.parts(frame["quantization"])
    mapped = [SAME_NUMERICS.get(str(x), str(x)) for x in labels]
    if mapped == [str(x) for x in labels]:
        return frame
    return frame.assign(quantization=cats.from_table(np.where(codes < 0, 0, codes), mapped))


def apply(
    model: EaiPredictor,
    q: QueryPrediction,
    cf: pd.DataFrame,
    feats: Any,
    predict_query: Callable[..., QueryPrediction],
    enforce: Callable[[QueryPrediction, pd.DataFrame, Any], QueryPrediction],
) -> QueryPrediction:
    """``q`` anchored to the measured batches of each row's deployment (see the module doc).

    Args:
        model: The predictor (its measured cells).
        q: Predictions after the invariants.
        cf, feats: Candidate frame and features of ``q``'s rows.
        predict_query: :func:`recommender.model.pipeline.predict_query` (the model at the
            neighbouring batches, this stage and the measured stage off).
        enforce: :func:`recommender.model.invariants.enforce`.
    """
    cells = model.measured
    if not len(cells) or not len(cf):
        return q
    # A release newer (older) than every measured one of its engine reads its deployment's
    # cells at the newest (oldest) measured release: the measured / model ratio there, set on
    # the model's own figure at the row's release (which keeps the release's placed gain).
    lookup = past_measured_as_nearest(layer_split_as_one_device(cf, feats), model.measured_releases())
    below, above, found = own_neighbours(cells, lookup, model.newest_cells, model.cell_keys)
    if not found.any():
        return q
    rows = np.flatnonzero(found)
    r_e, r_t = log_ratios(model, lookup, cells, rows, below, above, predict_query)
    return scaled(q, rows, np.exp(r_e), np.exp(r_t), cf, feats, enforce)


def layer_split_as_one_device(cf: pd.DataFrame, feats: Any) -> pd.DataFrame:
    """``cf`` with each layer split over several devices read as its one-device deployment.

    A layer split (:data:`recommender.model.physics.LAYER_SPLIT_ENGINES`) runs the one-device
    computation in turns, so what the model missed on one device (the engine's kernels and host
    cost for this model) it misses on several: the measured one-device cells anchor it, set
    against the model on one device, and the ratio scales the model's several-device figure
    (which carries the hops and the waiting devices' draw). Without this a two-device split of
    a deployment measured on one device came out faster than the measurement it splits (the
    model alone against the anchored figure). The splits are the rows with waiting devices
    (``feats["waiting_devices"]``, set by the feature builder); ``cf`` itself where none is."""
    split = np.asarray(feats["waiting_devices"], dtype=float) > 0
    if not split.any():
        return cf
    return cf.assign(device_count=np.where(split, 1.0, cf["device_count"].to_numpy(dtype=float)))


def past_measured_as_nearest(cf: pd.DataFrame, measured: set[str]) -> pd.DataFrame:
    """``cf`` with each engine release newer (older) than every measured release of its engine
    read as the newest (oldest) measured one; ``cf`` itself where no row is such a release.

    Until 2026-12-05 such a row was not anchored: on the shipped model vLLM 0.12 on an H100
    came out up to 2.9 % costlier in energy per query than the same deployment's anchored 0.11.1
    figure (ML.ENERGY v3 rows), its model-only figure set against a measured one."""
    if "engine_release" not in cf.columns:
        return cf
    codes, levels = cats.parts(cf["engine_release"])
    new_levels = []
    changed = False
    for level in (str(x) for x in levels):
        past = past_range_neighbour(level, measured)
        changed |= past is not None
        new_levels.append(past[0] if past is not None else level)
    if not changed:
        return cf
    values = np.asarray(new_levels + [None], dtype=object)[np.where(codes < 0, len(new_levels), codes)]
    return cf.assign(engine_release=pd.Categorical(values))


def scaled(
    q: QueryPrediction, rows: np.ndarray, r_e: np.ndarray, r_t: np.ndarray, cf: pd.DataFrame, feats: Any,
    enforce: Callable[[QueryPrediction, pd.DataFrame, Any], QueryPrediction],
    time_floor: np.ndarray | None = None,
) -> QueryPrediction:
    """``q`` with energy (time) and its interval ends at ``rows`` multiplied by ``r_e`` (``r_t``),
    the physical invariants enforced again. ``time_floor`` (per row of ``rows``, s): the time
    point's excess over it is what ``r_t`` multiplies (:func:`log_ratios` ``time_over_floor``),
    and the ends move with the point (their log-distances from it kept)."""
    fields = ENERGY_TIME_FIELDS
    sub = q.take(rows)
    if time_floor is not None:
        point = sub.time_s
        with np.errstate(divide="ignore", invalid="ignore"):
            moved = (time_floor + np.maximum(point - time_floor, 0.0) * r_t) / point
        r_t = np.where(np.isfinite(moved) & (moved > 0), moved, 1.0)
    sub = sub.replace(**{f: getattr(sub, f) * (r_e if f.startswith("energy") else r_t) for f in fields})
    # The invariants are per row: enforced on the moved rows only, not on a million untouched.
    return q.put(rows, enforce(sub, cf.iloc[rows], take_rows(feats, rows)), fields=ENERGY_TIME_FIELDS)


def own_neighbours(
    cells: pd.DataFrame,
    cf: pd.DataFrame,
    newest_cells: Callable[[], tuple[pd.DataFrame, np.ndarray]] | None = None,
    keys: Callable[[bool], CellKeys] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`neighbours` of each row in its own deployment's measured cells, a row naming no
    release reading the newest release measured for its deployment (see the module doc).

    ``newest_cells``: gives ``newest_per_cell(cells)`` where the caller keeps it (the
    predictor's :meth:`~recommender.model.predictor.EaiPredictor.newest_cells`), called only
    where a row needs it; None: found here. ``keys``: gives :func:`cell_keys` of ``cells``
    (argument False) or of the newest cells (True) where the caller keeps them (the predictor's
    :meth:`~recommender.model.predictor.EaiPredictor.cell_keys`); None: coded here."""
    cell_codes = keys(False) if keys is not None else None
    # The platform-and-model pre-filter of neighbours, once for both lookups below.
    if cell_codes is not None:
        near = np.flatnonzero(key_matches(frame_key(cf, cell_codes.pair), cell_codes.pair.key))
    else:
        near = np.flatnonzero(key_matches(*factor_codes(cf, PAIR_COLUMNS, cells)))
    below, above, found = neighbours(cf, cells, near, keys=cell_codes)
    # A row naming no release whose deployment was measured only at stated releases: the newest
    # of them, as the measured stage reads it (the profiler states its transformers release, the
    # quantization reports did not, so hf-transformers' default level is the unstated one).
    rest = near[~found[near]]
    if len(rest):
        _, _, named = engine_levels(cf["engine_release"].iloc[rest])
        rest = rest[~named]
    if len(rest):
        newest, where = newest_cells() if newest_cells is not None else newest_per_cell(cells)
        if len(newest):
            b2, a2, f2 = neighbours(cf.iloc[rest], newest, np.arange(len(rest)), keys=keys(True) if keys is not None else None)
            hit = rest[f2]
            below[hit] = np.where(b2[f2] >= 0, where[np.maximum(b2[f2], 0)], -1)
            above[hit] = np.where(a2[f2] >= 0, where[np.maximum(a2[f2], 0)], -1)
            found[hit] = True
    return below, above, found


def log_ratios(
    model: EaiPredictor, cf: pd.DataFrame, cells: pd.DataFrame, rows: np.ndarray, below: np.ndarray, above: np.ndarray,
    predict_query: Callable[..., QueryPrediction], time_over_floor: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """log(measured / model) of energy and time at ``rows`` of ``cf``: at the nearest measured
    batches below and above (:func:`neighbours`) of the row's deployment, interpolated in log batch.

    ``time_over_floor``: time's ratio is that of each time's excess over the query's physical
    floor at the cell (:func:`recommender.model.invariants.time_floor_s`), 0 in log where either
    lies at or under it."""
    # The model at each neighbour: a row of its deployment at the cell's batch (its token profile).
    pairs = np.concatenate([below[rows], above[rows]])
    owners = np.concatenate([rows, rows])
    keep = pairs >= 0
    cell_ids, first = np.unique(pairs[keep], return_index=True)
    rep_rows = owners[keep][first]
    nb_cf, per_token = _at_cells(cf.iloc[rep_rows], cells.iloc[cell_ids])
    nb_feats = model._features.columns(nb_cf)
    nb_q = predict_query(model, nb_cf, nb_feats, use_measured=False, anchor=False, points_only=True)
    floor = time_floor_s(nb_cf, nb_feats) if time_over_floor else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_e = np.log(cells["energy_mean"].to_numpy(dtype=float)[cell_ids] * per_token / nb_q.energy_j)
        log_t = np.log((cells["time_mean"].to_numpy(dtype=float)[cell_ids] * per_token - floor) / (nb_q.time_s - floor))
    log_e = np.where(np.isfinite(log_e), log_e, 0.0)
    log_t = np.where(np.isfinite(log_t), log_t, 0.0)
    lo_k = np.where(below[rows] >= 0, np.searchsorted(cell_ids, below[rows]), -1)
    hi_k = np.where(above[rows] >= 0, np.searchsorted(cell_ids, above[rows]), -1)
    b = np.log(cf["batch_size"].to_numpy(dtype=float)[rows])
    cb = np.log(cells["batch_size"].to_numpy(dtype=float))
    b_lo = np.where(lo_k >= 0, cb[np.maximum(below[rows], 0)], np.nan)
    b_hi = np.where(hi_k >= 0, cb[np.maximum(above[rows], 0)], np.nan)
    span = b_hi - b_lo
    w = np.where(np.isfinite(span) & (span > 0), (b - b_lo) / np.where(span > 0, span, 1.0), np.where(lo_k >= 0, 0.0, 1.0))
    w = np.clip(np.nan_to_num(w, nan=0.0), 0.0, 1.0)

    def mix(values: np.ndarray) -> np.ndarray:
        lo_v = np.where(lo_k >= 0, values[np.maximum(lo_k, 0)], np.nan)
        hi_v = np.where(hi_k >= 0, values[np.maximum(hi_k, 0)], np.nan)
        lo_v = np.where(np.isnan(lo_v), hi_v, lo_v)
        hi_v = np.where(np.isnan(hi_v), lo_v, hi_v)
        return (1.0 - w) * lo_v + w * hi_v

    return mix(log_e), mix(log_t)
