"""Stage ``release_power``: a GPU asked at an engine release it never ran keeps part of the power
it drew at the release it did run.

The energy components pool every release of an engine and the time components see the release
(:data:`recommender.model.predictor.RELEASE_COMPONENTS`), so a GPU asked at another release than
its own gets that release's speed and, through the fitted roofline's per-phase power, the power
share of the GPUs that ran it. In the shared table every vLLM release ran on other GPUs (0.5.4 on
the A100 40GB only, ML.ENERGY v2; 0.11.1 on the H100 and B200 only, v3), so what a release does to
a GPU's power cannot be told from what the GPU itself draws: ML.ENERGY v2's one-GPU A100 rows asked
at 0.11.1 came out at 357-400 W (89-100 % of its 400 W; medians by batch band) where the A100 drew
214-228 W at 0.5.4, and every A100-class row of the table draws 29-67 % of its limit under any
engine (FastChat 46 %, vLLM 0.5.4 48-56 %, HF transformers on the A800 29-67 %; per-device
medians by batch band) against the H100 and B200's 66-94 % under 0.11.1. Two readings remain,
and nothing in the table tells them apart:

- the release sets the power (the model as fitted: 0.11.1's shorter host gaps keep the GPU busy);
- the GPU sets the power (its share of its limit is its own; the release changes how long a query
  takes, not what the board draws meanwhile): energy = the time at the asked release x the power
  the model gives the same deployment at the GPU's own measured release (anchored to its
  measurements there by the stages before this one).

So a candidate whose GPU (or a twin, :func:`recommender.model.adjust.twins.twin_platforms`) was
measured under its engine at other releases only is predicted at the geometric middle of the two
energies, and its energy interval spans both: neither reading is dropped on evidence the table
does not hold, and the interval says so. Time is left as it is. The release read is the nearest
measured one by version. A campaign reported to the project (issue 18) measured both sides of the
gap: an H100 under vLLM 0.5.4 at more energy than predicted, and an A100 80GB under a recent vLLM
at the model's time but 1.66x less energy; no row of either is in the table, and no cross-
validation split exercises this stage (no GPU of the table ran two releases of one engine), so it
is kept as the honest reading of an unidentified effect, not on a held-out gain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.adjust.twins import twin_platforms
from recommender.model.component import take_rows
from recommender.model.prediction import ENERGY_TIME_FIELDS, QueryPrediction
from recommender.model.roofline_fit import minor_steps, release_neighbours, release_order

if TYPE_CHECKING:
    from recommender.model.predictor import EaiPredictor

STAGE = "release_power"


def measured_levels(model: EaiPredictor) -> dict[tuple[str, str], set[str]]:
    """Per ``(platform, engine)``: the engine release levels (``vllm@0.5``) measured on the
    platform itself, else on its nearest twin measured under that engine.

    Keys cover every catalogued platform with a measured twin or measurements of its own."""
    cells = model.measured
    if not len(cells):
        return {}
    own: dict[tuple[str, str], set[str]] = {}
    for platform, level in zip(cells["platform"].astype(str), cells["engine_release"].astype(str), strict=True):
        own.setdefault((platform, level.split("@", 1)[0]), set()).add(level)
    measured_platforms = sorted({p for p, _ in own})
    twins = twin_platforms(model._features.platforms, measured_platforms, model.config.tunables.twin_tolerance_log, measured_too=True)
    out = dict(own)
    engines = {e for _, e in own}
    for platform, near in twins.items():
        for engine in engines:
            if (platform, engine) in out:
                continue
            twin = next((t for t in near if (t, engine) in own), None)
            if twin is not None:
                out[(platform, engine)] = own[(twin, engine)]
    return out


def reference_level(level: str, measured: set[str]) -> str | None:
    """The measured release of ``level``'s engine nearest to it by version: of the nearest below
    and above, the one fewer minor release lines away (:func:`~recommender.model.roofline_fit.minor_steps`),
    the newer of two as near; None where ``level`` is itself measured, names no numeric release,
    or no numeric release of its engine was measured."""
    if level in measured:
        return None
    below, above = release_neighbours(level, measured)
    if below is None or above is None:
        return below or above
    key = release_order(level)
    return below if minor_steps(release_order(below), key) < minor_steps(key, release_order(above)) else above


def apply(
    model: EaiPredictor,
    q: QueryPrediction,
    cf: pd.DataFrame,
    feats: Any,
    predict_query: Callable[..., QueryPrediction],
    enforce: Callable[[QueryPrediction, pd.DataFrame, Any], QueryPrediction],
) -> QueryPrediction:
    """``q`` with the energy of each candidate at a release its GPU never ran moved to the
    geometric middle of the model's energy and its time x the power at the GPU's own release.

    Args:
        model: The fitted predictor.
        q: Predictions after stages ``anchor`` and ``sibling``.
        cf: Candidate frame (``frame.candidate_frame``).
        feats: Its feature columns.
        predict_query: :func:`recommender.model.pipeline.predict_query` (the reference release's
            predictions run every stage before this one).
        enforce: :func:`recommender.model.invariants.enforce`.
    """
    if not len(cf):
        return q
    levels = model.release_levels()  # measured_levels(model), kept by the predictor
    if not levels:
        return q
    # Per distinct (platform, release level): the release to read the power at ("" where none).
    p_idx, p_uniq = cats.level_index(cf["platform"])
    r_idx, r_uniq = cats.level_index(cf["engine_release"])
    # The pairs index a dense table (a few dozen platforms x a few releases): the pairs present
    # are found by a count per pair, not by sorting a million codes.
    pair = p_idx.astype(np.int64) * (len(r_uniq) + 1) + r_idx
    ref = np.full((len(p_uniq) + 1) * (len(r_uniq) + 1), "", dtype=object)
    for code in np.flatnonzero(np.bincount(pair, minlength=len(ref))):
        pi, ri = divmod(int(code), len(r_uniq) + 1)
        if pi >= len(p_uniq) or ri >= len(r_uniq):
            continue  # no platform or no release named
        level = str(r_uniq[ri])
        measured = levels.get((str(p_uniq[pi]), level.split("@", 1)[0]))
        if measured:
            ref[code] = reference_level(level, measured) or ""
    rows = np.flatnonzero((ref != "")[pair])
    if not len(rows):
        return q
    ref_rows = ref[pair[rows]]  # the release each of them reads the power at
    sub_cf, sub_feats = cf.iloc[rows], take_rows(feats, rows)
    at_ref = sub_cf.assign(engine_release=pd.Categorical(ref_rows))
    r = predict_query(model, at_ref, sub_feats, use_measured=True, anchor=True, points_only=True)
    sub = q.take(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        # The same deployment at the same batch holds as many queries in flight at either release,
        # so energy / latency is the power up to that common factor.
        carried = sub.time_s * r.energy_j / r.time_s
        factor = np.sqrt(carried / sub.energy_j)
    ok = np.isfinite(factor) & (factor > 0)
    if not ok.all():
        kept = np.flatnonzero(ok)
        rows, ref_rows, sub, carried, factor = rows[kept], ref_rows[kept], sub.take(kept), carried[kept], factor[kept]
        sub_cf, sub_feats = cf.iloc[rows], take_rows(feats, rows)
    if not len(rows):
        return q
    # Both readings inside the interval, which keeps its log size around the middle otherwise.
    lo = np.minimum(sub.energy_lo_j * factor, np.minimum(sub.energy_j, carried))
    hi = np.maximum(sub.energy_hi_j * factor, np.maximum(sub.energy_j, carried))
    moved = sub.replace(energy_j=sub.energy_j * factor, energy_lo_j=lo, energy_hi_j=hi, power_of=ref_rows.astype(object))
    # Where every row moves (the usual case), the invariants read the frames the inner prediction
    # took: the feature columns it gathered are not gathered again.
    return q.put(rows, enforce(moved, sub_cf, sub_feats), fields=(*ENERGY_TIME_FIELDS, "power_of"))
