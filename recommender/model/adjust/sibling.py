"""Stage ``sibling``: a deployment never measured borrows the departure its siblings showed.

A candidate whose own deployment was never measured (so stage ``anchor`` leaves it alone), but
whose model, quantization, engine release, task, device count and pipeline stages were measured
on other platforms, is predicted as the model times the measured / model ratio of those sibling
deployments: each sibling's ratio at its measured batches around the candidate's (the anchor's
interpolation in log batch, :func:`recommender.model.adjust.anchor.log_ratios`), geometric mean
over the siblings, or over those on the candidate's own silicon where one of its twins
(:func:`recommender.model.adjust.twins.twin_platforms`) is among them; each read at the sequences
the candidate runs and, for a release past every measured one, at the nearest measured release.
Energy and time are scaled apart; widths keep their log size (a sibling is not a measurement of
this GPU); the physical invariants are enforced again after. Time's ratio
is that of its excess over the query's physical floor (its forward passes at peak bandwidth
and throughput, :func:`recommender.model.invariants.time_floor_s`), on the siblings and on the
candidate: what a sibling shows the model missing is the part of a step above the memory and
compute floor (host cost, kernel efficiency), and a GPU whose step is mostly its floor keeps it.
Until 2026-12-05 the whole time was scaled: the H100's and B200's measured 0.87x for
Llama-3.1-8B under vLLM 0.11 at 8 sequences put an RTX 3090 at 19.0 ms a step, 1.10x its 17.2 ms
weight-read floor at peak bandwidth; now 21.0 ms. Evidence (``eai evaluate --split platform``,
whole time -> excess): energy per query 18.0 -> 17.8 %, time 18.9 -> 18.5 % (per held-out GPU
both ways: H100 20.3 -> 19.9 %, B200 20.5 -> 21.0 %); the other splits have no sibling and do
not move.

Why: what the model misses for one model at one engine release (its kernels' efficiency, its
host cost per step, its real answer lengths) is largely the same on another GPU, while what it
misses for the GPU itself is not, and a sibling carries only the former when the model places
the GPU. Evidence (``eai evaluate --split platform`` with and without the stage; the platform
held out, so every held-out deployment is a sibling of the same deployment on the GPUs left):
energy per query 19.5 -> 18.8 % median APE, time per query 20.6 -> 18.9 %, coverage 86.6 ->
87.5 % and 89.1 -> 87.2 % (the held-out H100 1.24 -> 1.16x in time, its ML.ENERGY v3 siblings on
the B200; the FastChat GPUs of ML.ENERGY v1 each other's). Energy per output token (a component,
before this stage) is unchanged, and so is every split that holds out a whole campaign or model:
no sibling is left there. In the shipped data an H100 under vLLM 0.5.4 (never measured) takes
the ratios of the A100 rows ML.ENERGY v2 measured under that release.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.adjust.anchor import (
    GROUP_COLUMNS,
    as_one_numerics,
    layer_split_as_one_device,
    log_ratios,
    neighbours,
    own_neighbours,
    past_measured_as_nearest,
    scaled,
)
from recommender.model.adjust.measured import frame_key, key_matches
from recommender.model.adjust.twins import twin_platforms
from recommender.model.component import at_running_batch
from recommender.model.invariants import time_floor_s
from recommender.model.prediction import QueryPrediction

if TYPE_CHECKING:
    from recommender.model.predictor import EaiPredictor

STAGE = "sibling"

SIBLING_COLUMNS: tuple[str, ...] = tuple(c for c in GROUP_COLUMNS if c != "platform")
"""What a sibling deployment shares with the candidate: all of its deployment but the GPU."""


def apply(
    model: EaiPredictor,
    q: QueryPrediction,
    cf: pd.DataFrame,
    feats: Any,
    predict_query: Callable[..., QueryPrediction],
    enforce: Callable[[QueryPrediction, pd.DataFrame, Any], QueryPrediction],
) -> QueryPrediction:
    """``q`` (after stage ``anchor``) with each unmeasured deployment scaled by its siblings'
    measured / model ratios; the arguments are :func:`recommender.model.adjust.anchor.apply`'s."""
    cells = model.measured
    if not len(cells) or not len(cf):
        return q
    # A layer split over several devices reads its one-device siblings (anchor's reason); a
    # release past every measured one reads its siblings at the nearest measured release, as the
    # anchor reads its own deployment (without, vLLM 0.12 on an A100 40GB, whose siblings ran
    # 0.11.1, came out slower and costlier than 0.11.1: 5.46 against 5.12 s per query).
    look = past_measured_as_nearest(layer_split_as_one_device(cf, feats), model.measured_releases())
    # Rows whose deployment, the platform aside, some cell holds (one lookup over every row; a
    # million candidates rarely match), less those whose own deployment was measured.
    pool = np.flatnonzero(cats.positions(cf["model_id"], pd.Index(pd.unique(cells["model_id"].astype(str)), dtype=object)) >= 0)
    if not len(pool):
        return q
    # The key columns alone are taken at those rows (not the frame's two dozen).
    coded = model.coded_cells(SIBLING_COLUMNS, one_numerics=True)
    rest = pool[key_matches(frame_key(as_one_numerics(look[list(SIBLING_COLUMNS)].iloc[pool]), coded), coded.key)]
    if len(rest):
        _, _, own = own_neighbours(cells, look.iloc[rest], model.newest_cells, model.cell_keys)
        rest = rest[~own]
    if not len(rest):
        return q
    sub = look.iloc[rest]
    # A sibling is read at the sequences the candidate runs: past its own KV cache's limit the
    # candidate's extra slots queue, and another card's departure at that many running sequences
    # is not this deployment's.
    sub = at_running_batch(sub, np.asarray(feats["batch_running"], dtype=float)[rest])
    own_platform = sub["platform"].astype(str).to_numpy()
    # Every sibling cell pair of every row, over all the platforms, in one frame, so that the
    # model is predicted at the siblings' cells in one call.
    frames, belows, aboves, owners = [], [], [], []
    keys = model.cell_keys()  # the cells coded once for every platform's lookup (kept by the predictor)
    for platform in sorted(set(cells["platform"].astype(str))):
        other = np.flatnonzero(own_platform != platform)
        if not len(other):
            continue
        # The platform as a one-category Categorical: the lookups below code it by its one
        # category, where a column of a million platform strings was factorized in each.
        one_platform = pd.Categorical.from_codes(np.zeros(len(other), dtype=np.int8), categories=pd.Index([platform], dtype=object))
        as_sibling = sub.iloc[other].assign(platform=one_platform)
        below, above, found = neighbours(as_sibling, cells, keys=keys)
        hit = np.flatnonzero(found)
        if len(hit):
            # The pairs' platform as strings, as the frame of every platform's pairs holds it.
            frames.append(as_sibling.iloc[hit].assign(platform=np.full(len(hit), platform, dtype=object)))
            belows.append(below[hit])
            aboves.append(above[hit])
            owners.append(other[hit])
    if not frames:
        return q
    pairs = pd.concat(frames, ignore_index=True)
    log_e, log_t = log_ratios(
        model, pairs, cells, np.arange(len(pairs)), np.concatenate(belows), np.concatenate(aboves), predict_query, time_over_floor=True
    )
    owner = np.concatenate(owners)
    # A sibling on the candidate's own silicon (a twin: twins.twin_platforms) speaks for it alone:
    # its miss is this deployment's on this die, where another GPU's mixes in its own. An H200
    # under vLLM 0.11 (Llama-3.1-8B, LMArena chat, 128 sequences) averaging the H100's ratio
    # with the B200's (measured 10.5 s there against 3.5 s at 64) came out at 8.04 s against
    # the anchored H100's 6.46 s; from the H100 alone 5.73 s.
    twins = twin_platforms(model._features.platforms, sorted(set(cells["platform"].astype(str))),
                           model.config.tunables.twin_tolerance_log, measured_too=True)
    pair_platform = pairs["platform"].astype(str).to_numpy()
    is_twin = np.array([pp in twins.get(op, ()) for pp, op in zip(pair_platform, own_platform[owner], strict=True)], dtype=bool)
    has_twin = np.bincount(owner, weights=is_twin, minlength=len(rest)) > 0
    keep = is_twin | ~has_twin[owner]
    owner, log_e, log_t = owner[keep], log_e[keep], log_t[keep]
    count = np.bincount(owner, minlength=len(rest)).astype(float)
    sum_e = np.bincount(owner, weights=log_e, minlength=len(rest))
    sum_t = np.bincount(owner, weights=log_t, minlength=len(rest))
    has = count > 0
    rows = rest[has]
    # The floor of the scaled rows only (a million candidates rarely have siblings).
    floor = time_floor_s(cf.iloc[rows], {c: np.asarray(feats[c], dtype=float)[rows] for c in ("t_floor_dec_s", "t_floor_pre_s")})
    return scaled(q, rows, np.exp(sum_e[has] / count[has]), np.exp(sum_t[has] / count[has]), cf, feats, enforce, time_floor=floor)
