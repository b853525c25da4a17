"""Fit and predict as a fold over named stages: the one place the stages are composed.

Prediction of energy and time per query::

    candidate_frame (frame.py) -> features (features.py)
      -> components e_dec, t_dec, e_pre, t_pre (component.py: fitted roofline x ridge x smoother,
         blended toward roofline x constant when extrapolating; widths per novelty)
      -> PART_STAGES: twins -> release_order -> release_widening -> batch_floor  (adjust/, on PartPrediction)
      -> compose: per-token parts x the query's tokens (intervals.sum_interval) -> QueryPrediction
      -> layer_split (layer_split.py: the waiting devices of a layer split draw; always, not a stage)
      -> campaign_scale (calibrate.py: intervals widened for a campaign never seen)
      -> invariants (invariants.py: always enforced, not a stage)
      -> anchor (adjust/: a deployment measured at other batches anchors the model to them)
      -> sibling (adjust/: a deployment never measured borrows its siblings' departure on other GPUs)
      -> release_power (adjust/: a GPU at a release it never ran keeps part of its own release's power)
      -> measured (adjust/: measured cells return their measurement)
      -> accuracy (accuracy_model.py), EOR, TWEOR

Each stage runs unless :class:`~recommender.model.config.PipelineConfig` switches it off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.model.adjust import anchor as anchor_stage
from recommender.model.adjust import release_power
from recommender.model.adjust import sibling as sibling_stage
from recommender.model.adjust import measured as measured_stage
from recommender.model.adjust import batch_floor, release_order, release_widening, twins
from recommender.model import calibrate, invariants, layer_split
from recommender.model.component import REASONS, ReleaseFree, RowsTaken
from recommender.model.intervals import sum_interval
from recommender.model.prediction import PartPrediction, Parts, QueryPrediction, blank_labels

if TYPE_CHECKING:
    from recommender.model.predictor import EaiPredictor

PART_STAGES: tuple[str, ...] = ("twins", "release_order", "release_widening", "batch_floor")
QUERY_STAGES: tuple[str, ...] = ("anchor", "sibling", "release_power", "measured")


def needed_rows(cf: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per component, the rows whose query uses it (see :func:`_query_tokens`): decode parts
    for rows that generate, prefill parts for log-likelihood rows."""
    gen = cf["output_tokens"].to_numpy() > 0
    return {"e_dec": gen, "t_dec": gen, "e_pre": ~gen, "t_pre": ~gen}


def predict_parts(
    model: EaiPredictor, cf: pd.DataFrame, feats: Any, only_needed: bool = False, points_only: bool = False
) -> tuple[Parts, np.ndarray]:
    """Per-component predictions after the part stages.

    ``only_needed``: predict each component only on the rows whose query uses it (the others
    get point 1, half-width 0, no reasons; a query multiplies them by zero tokens), which
    halves the work of a mixed batch of generation and log-likelihood candidates.
    ``points_only``: the caller reads the points alone (a stage's inner prediction at other
    cells), so stage ``release_widening``, which moves widths and reasons only, is skipped.

    Returns:
        ``(parts, twin_of)``: the parts after every part stage, and per row the twin whose
        decode energy was borrowed ("" where none).
    """
    config = model.config
    parts: Parts = {}
    need = needed_rows(cf) if only_needed else None
    taken = RowsTaken(feats)
    widen = config.on(release_widening.STAGE) and not points_only and bool(cf["release_assumed"].to_numpy().any())
    # Per component, the rows it was predicted on (None: all) and what of it no release enters:
    # stage release_widening predicts some of them again at other releases and takes those.
    release_free: dict[str, tuple[np.ndarray | None, ReleaseFree]] = {}
    # Per component, those rows and the prior it corrected there: stage twins scales a twin's
    # prediction by the ratio of the row's prior to the twin's.
    priors: dict[str, tuple[np.ndarray | None, np.ndarray]] = {}

    def predict_component(name: str, comp: Any, comp_feats: Any, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = comp.predict_full(comp_feats, keep=widen)
        priors[name] = (rows, out.prior)
        if widen:
            release_free[name] = (rows, out.release_free)
        return out.point, out.half, out.bits

    for name, comp in model.components.items():
        if need is None or need[name].all():
            point, half, bits = predict_component(name, comp, model.component_feats(name, feats, cf), None)
        else:
            rows = np.flatnonzero(need[name])
            point, half = np.ones(len(cf)), np.zeros(len(cf))
            bits = np.zeros(len(cf), dtype=np.int64)
            if len(rows):
                p_, h_, b_ = predict_component(name, comp, model.component_feats(name, taken.at(rows), cf, rows), rows)
                point[rows], half[rows], bits[rows] = p_, h_, b_
        parts[name] = PartPrediction(point=point, log_half=half, reason_bits=bits)
    # The components' own points, before any stage moves them: release_widening measures the gap
    # to other releases from these.
    raw_points = {name: part.point for name, part in parts.items()}
    # Twins before the release bound: the bound compares a release with the measured one as
    # the platform would be predicted at either, borrowing or not.
    if config.on(twins.STAGE):
        parts, twin_of = twins.borrow(model, parts, cf, feats, need, priors)
    else:
        twin_of = blank_labels(len(cf))
    if config.on(release_order.STAGE):
        parts = release_order.apply(model, parts, cf, feats, borrow_twins=config.on(twins.STAGE))
    if config.on(release_widening.STAGE) and not points_only:
        parts = release_widening.apply(model, parts, cf, feats, raw_points, need, release_free)
    if config.on(batch_floor.STAGE):
        parts = batch_floor.apply(model, parts, cf, need, predict_parts, feats)
    return parts, twin_of


def _query_tokens(cf: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Output tokens and the token positions a query's prefill parts are charged for.

    A generation query costs output tokens x per-output-token figures, which (as every source
    measures them) carry the query's own prefill, and whose model sees the prompt length as a
    feature; fed tokens x prefill figures are the cost of log-likelihood queries, which
    generate nothing. Adding both would count a prompt twice.
    """
    out_tok = cf["output_tokens"].to_numpy()
    in_only = np.array(cf["fed_tokens"].to_numpy(), dtype=float)  # a copy: set in place below
    in_only[out_tok > 0] = 0.0
    return out_tok, in_only


def compose(
    parts: Parts, cf: pd.DataFrame, twin_of: np.ndarray, prefill_share_for_reasons: float, running: np.ndarray | None = None
) -> QueryPrediction:
    """Energy and time per query from the per-token parts (interval ends summed).

    ``running``: per row, the sequences the server runs at once (the batch capped by its KV
    cache, ``batch_running``; None: the batch). A generated query asked at a concurrency above
    it waits: the server's throughput is that of ``running`` sequences, so by Little's law a
    query's latency is ``batch / running`` times that of a running one; its energy is not."""
    out_tok, in_only = _query_tokens(cf)

    def one(dec: str, pre: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        d, p = parts[dec], parts[pre]
        b = in_only * p.point
        point, lo, hi = sum_interval(out_tok * d.point, d.log_half, b, p.log_half)
        share_pre = np.divide(b, point, out=np.zeros_like(point), where=point > 0)
        return point, lo, hi, share_pre

    energy, e_lo, e_hi, share_pre = one("e_dec", "e_pre")
    time_s, t_lo, t_hi, _ = one("t_dec", "t_pre")
    # Time per query is the query's latency. Prefill time parts are latency per fed token
    # already (their prior waits for the static batch's pass: features, prior_t_pre, and the
    # profiler times a batched query so); a generated query asked above what the server runs
    # at once waits its turn.
    gen = np.flatnonzero(out_tok > 0)  # positions: three boolean-mask indexings would find them three times
    if running is not None and len(gen):
        wait = np.ones(len(cf))
        wait[gen] = np.maximum(np.maximum(cf["batch_size"].to_numpy(dtype=float)[gen], 1.0) / np.maximum(running[gen], 1.0), 1.0)
        time_s, t_lo, t_hi = time_s * wait, t_lo * wait, t_hi * wait
    # Extrapolation reasons of the components that matter for this query, as bit patterns
    # (decode bits low, prefill bits high) turned into text once per distinct pattern.
    use_dec = share_pre < 1.0 - prefill_share_for_reasons
    use_pre = share_pre >= prefill_share_for_reasons
    # Time components add what only they see (an engine release never measured).
    dec_bits = parts["e_dec"].reason_bits | parts["t_dec"].reason_bits
    pre_bits = parts["e_pre"].reason_bits | parts["t_pre"].reason_bits
    bits = (dec_bits * use_dec) | ((pre_bits * use_pre) << len(REASONS))  # integer bits times 0/1: exact
    status = np.where(bits == 0, 1, 2)
    return QueryPrediction(
        energy_j=energy, energy_lo_j=e_lo, energy_hi_j=e_hi, time_s=time_s, time_lo_s=t_lo, time_hi_s=t_hi,
        status_code=status, reason_bits=bits, prefill_share=share_pre, twin_of=twin_of,
    )


def predict_query(
    model: EaiPredictor, cf: pd.DataFrame, feats: Any, use_measured: bool = True, anchor: bool = True, points_only: bool = False
) -> QueryPrediction:
    """Energy and time per query after every stage (the fold).

    ``anchor``: run stage ``anchor`` where the config has it on (off for its own inner call,
    which predicts the measured neighbours it anchors to). ``points_only``: the caller reads the
    energy and time points alone (the inner predictions of stages ``anchor``, ``sibling``,
    ``release_power`` and ``batch_floor``), so the stages that move only widths and reasons
    (``release_widening``, ``campaign_scale``) are skipped: no point depends on a width (the
    invariants move a point by the floor and the limit alone)."""
    config = model.config
    parts, twin_of = predict_parts(model, cf, feats, only_needed=True, points_only=points_only)
    q = compose(parts, cf, twin_of, config.tunables.prefill_share_for_reasons, np.asarray(feats["batch_running"], dtype=float))
    q = layer_split.charge(q, cf, feats)  # physics, like the invariants: not a switchable stage
    if config.on(calibrate.STAGE) and model.campaign is not None and not points_only:
        q = calibrate.widen(q, model.campaign)
    q = invariants.enforce(q, cf, feats)
    if anchor and config.on(anchor_stage.STAGE):
        q = anchor_stage.apply(model, q, cf, feats, predict_query, invariants.enforce)
    if anchor and config.on(sibling_stage.STAGE):
        q = sibling_stage.apply(model, q, cf, feats, predict_query, invariants.enforce)
    if anchor and config.on(release_power.STAGE):
        q = release_power.apply(model, q, cf, feats, predict_query, invariants.enforce)
    if use_measured and config.on(measured_stage.STAGE):
        q = measured_stage.apply(q, cf, model.measured, model.newest_cells, model.coded_cells)
    return q
