"""The fitted predictor: energy, time, accuracy, EOR and TWEOR with 90% intervals.

Composition per query (task token profile from the task catalog, or from the candidate
frame's optional ``prompt_tokens_mean``/``output_tokens_mean``/``choices_mean``/
``fed_tokens_mean``/``forward_passes_mean`` columns)::

    generation (output tokens > 0):   energy_j = output_tokens * e_dec    time_s = output_tokens * t_dec
    log-likelihood (no output):       energy_j = fed_tokens * e_pre       time_s = fed_tokens * t_pre

``fed_tokens`` are the token positions a log-likelihood query runs through the model, all its
forward passes summed (:func:`recommender.catalog.types.fed_tokens`: MMLU's one-token answers
share one pass, ARC's four multi-token answers take four), and the prefill prior sees the
tokens of one pass, ``fed_tokens / passes``: a pass reads every weight once, however few
tokens it carries.

``e_dec``/``t_dec`` are J and s per generated token as the sources measure them (a
request's energy or decode time over its output tokens, so its own prefill is included);
the token profile reaches them through the roofline: the KV bytes a step reads at the mean
context ``prompt + output x dispersion / 2`` (``output_tokens_dispersion``) and, in time, the
prompt passes interleaved with decode steps, so a long-context task costs more per output
token than a short chat. ``e_pre``/``t_pre`` are per token position fed, learned from
log-likelihood rows. The four are :class:`~recommender.model.component.ComponentModel`;
a sum's interval is the sum of the parts' interval ends (comonotonic: conservative).

Measured rows: a candidate equal to a measured cell (platform, device count, engine,
model, quantization, batch size, task) returns the measurement (mean of repeats; its
interval spans the repeats and the stated window spread).

EOR = accuracy * 360 / energy_j (= score * 100 / Wh per 1,000 queries); TWEOR = EOR / time_s.
Their intervals propagate the inputs' log half-widths in quadrature (accuracy independent
of energy); energy and time errors are added linearly for TWEOR (they are strongly
correlated: energy = power x time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from recommender.model.accuracy_model import AccuracyModel
from recommender.model.api import CANDIDATE_COLUMNS, PREDICTION_COLUMNS, RELEASE_BASES
from recommender.model import cats
from recommender.model.component import (
    MIN_PLATFORMS_REGRESSION,
    MIN_ROWS_REGRESSION,
    ComponentModel,
    fit_anchored_component,
    with_column,
    fit_component,
    reason_text,
)
from recommender.model.features import CATEGORICAL_FEATURES, Catalogs, FeatureBuilder
from recommender.model.physics import split_devices
from recommender.model.roofline_fit import fitted_prior, prefill_state
from recommender.model.config import PipelineConfig
from recommender.model import calibrate as calib
from recommender.model.calibrate import CampaignResiduals, CampaignScale, campaign_scale
from recommender.model.intervals import efficiency_intervals
from recommender.model.novelty import reasons_categorical, with_label, with_twins
from recommender.model import invariants
from recommender.model.pipeline import predict_parts, predict_query
from recommender.model.prediction import ENERGY_TIME_FIELDS, QueryPrediction

# Names that moved into the pipeline's stage modules, kept importable from here.
from recommender.model.adjust.measured import factor_codes as _factor_codes, measured_cells as _measured_cells  # noqa: F401
from recommender.model.adjust.measured import ReferenceCodes, newest_per_cell, reference_codes
from recommender.model.adjust.anchor import GROUP_COLUMNS, PAIR_COLUMNS, CellKeys, as_one_numerics
from recommender.model.adjust import release_power
from recommender.model.adjust.release_widening import RELEASE_UNSEEN_BIT  # noqa: F401
from recommender.model.adjust.release_widening import take
from recommender.model.adjust.twins import TWIN_TOLERANCE, twin_platforms  # noqa: F401
from recommender.model.answer_length import BASES, AnswerLengths, fit_answer_lengths
from recommender.model.frame import (  # noqa: F401
    _bracketing_release,
    candidate_frame,
    canonical_task,
    default_releases,
    engine_release,
    measured_candidates,
    output_lengths,
    prepare_table,
    task_profile,
)

FORMAT_VERSION = 13
"""Version of the saved state layout (2: fitted-roofline decode priors, blended extrapolation;
3: time components per engine release; 4: smoother groups by layer design; 5: per-level
ranges of interaction slopes; 6: smoother robustness weights; 7: issue 17's accuracy model, a measured / imputed / prior
table with basis; 8: quantization effects as the median pair, ``shift``; 9: smoother groups and
the compute-precision class read bf16 and fp16 as one; 10: the campaign scale of the
intervals, :mod:`recommender.model.calibrate`; 11: measured cells keyed by pipeline stages and
engine release level too; 12: answer lengths per model and task, stage ``answer_length``; 13: measured cells keep the
token profile they ran at, for stage ``anchor``)."""

RELEASE_COMPONENTS: tuple[str, ...] = ("t_dec", "t_pre")
"""Components that also see the engine's release (``engine_release``: ``vllm@0.5``) as a
categorical feature, next to the engine's name.

Step times move with the release: ML.ENERGY v3's vLLM 0.11.1 decodes about 2.5x faster than
v2's 0.5.4 at the same roofline, while energy per token moved far less (power rose with
speed). The release is an extra level, not a new engine: a release never measured (one-hot
all zero) falls back to what its engine's other releases say, and flags stay per engine.
Energy components pool every release's rows in their ridge; every decode component's fitted
roofline (:mod:`recommender.model.roofline_fit`) has its per-layer cost per release, since
that per-step overhead is what a release changes."""


PREFILL_SHARE_FOR_REASONS = PipelineConfig().tunables.prefill_share_for_reasons
"""A component's extrapolation reasons count when it makes up this share of the energy."""

KEY_COLUMNS: tuple[str, ...] = CANDIDATE_COLUMNS
"""Columns that identify a measured cell."""


@dataclass
class EaiPredictor:
    """Fitted predictor (implements :class:`recommender.model.api.Predictor`).

    Attributes:
        data_hash: SHA-256 of the measured table it was fit on.
        components: ``e_dec``, ``t_dec``, ``e_pre``, ``t_pre``.
        accuracy: Accuracy model.
        measured: Measured cells: key columns + energy/time mean, min, max.
        releases: Release level per engine for candidates that name none.
        extra_models: Models of the table that the catalog lacks (id, parameter counts).
        catalogs: Catalogs the features come from.
        meta: Provenance (versions, row counts, hashes).
    """

    data_hash: str
    components: dict[str, ComponentModel]
    accuracy: AccuracyModel
    measured: pd.DataFrame
    extra_models: pd.DataFrame
    catalogs: Catalogs
    meta: dict[str, Any] = field(default_factory=dict)
    releases: dict[str, str] = field(default_factory=dict)
    """Per engine, the release level a candidate without ``engine_version`` is predicted at
    (see :func:`default_releases`), for :data:`RELEASE_COMPONENTS`."""
    config: PipelineConfig = field(default_factory=PipelineConfig)
    """Stages the predictor was fitted and predicts with (saved with the state)."""
    campaign: CampaignScale | None = None
    """How much wider every energy and time interval is for a campaign never seen (stage
    ``campaign_scale``, :mod:`recommender.model.calibrate`); None: not calibrated."""
    answer_lengths: AnswerLengths | None = None
    """Each model's measured answer lengths per task (stage ``answer_length``,
    :mod:`recommender.model.answer_length`); None: every candidate at its task's length."""

    def __post_init__(self) -> None:
        self._features = FeatureBuilder(self.catalogs, self.extra_models)
        self._twins: dict[str, dict[str, list[str]]] = {}
        self._newest: tuple[pd.DataFrame, np.ndarray] | None = None
        self._release_levels: dict[float, dict[tuple[str, str], set[str]]] = {}
        self._cell_codes: dict[tuple[bool, tuple[str, ...], bool], ReferenceCodes] = {}

    def with_catalog_entries(self, platforms: Mapping[str, Any] | None = None, models: Mapping[str, Any] | None = None) -> EaiPredictor:
        """This predictor, also knowing platforms and models outside its catalog (their specs
        feed the physics features; every learned per-level offset treats them as unseen).

        Used by ``eai predict`` for GPUs known from specifications only and models described by
        their architecture; the fitted state is shared, not copied.
        """
        cat = Catalogs(
            platforms={**self.catalogs.platforms, **dict(platforms or {})},
            models={**self.catalogs.models, **dict(models or {})},
            tasks=self.catalogs.tasks,
            quants=self.catalogs.quants,
        )
        return replace(self, catalogs=cat)

    # -- prediction -------------------------------------------------------------------
    def _candidate_frame(self, candidates: pd.DataFrame) -> pd.DataFrame:
        return candidate_frame(
            candidates, self.catalogs, self.releases, self.measured_releases(), self.answer_lengths, self.fitted_engines()
        )

    def fitted_engines(self) -> set[str]:
        """Engines any energy or time component was fitted on."""
        return set().union(*(set(c.domain.get("engines", ())) for c in self.components.values()))

    def output_lengths(self, candidates: pd.DataFrame) -> tuple[np.ndarray, pd.Categorical]:
        """Output tokens per query each candidate is predicted at, and their basis.

        Args:
            candidates: Frame with ``model_id`` and ``task`` (optional ``output_tokens_mean``).

        Returns:
            ``(tokens, basis)``: tokens per query (NaN where neither given nor catalogued) and
            per row one of :data:`recommender.model.answer_length.BASES` (``row``: its own;
            ``model``: the model's measured length on the task; ``model-relative``: the task's
            scaled by the model's verbosity in the task's campaign; ``task``: the task's).
        """
        tasks = canonical_task(candidates["task"], self.catalogs.tasks)
        tokens, basis = output_lengths(candidates, tasks, task_profile(tasks, self.catalogs.tasks), self.answer_lengths)
        return tokens, pd.Categorical.from_codes(basis, categories=list(BASES))

    def newest_cells(self) -> tuple[pd.DataFrame, np.ndarray]:
        """:func:`~recommender.model.adjust.measured.newest_per_cell` of the measured cells, found
        on first use and kept (stages ``anchor``, ``sibling`` and ``measured`` read it, inner
        predictions included: some 30 ms a million-candidate prediction when each found it
        again). Read only: the frame is shared."""
        if self._newest is None:
            self._newest = newest_per_cell(self.measured)
        return self._newest

    def coded_cells(self, columns: tuple[str, ...], one_numerics: bool = False, newest: bool = False) -> ReferenceCodes:
        """The measured cells (``newest``: :meth:`newest_cells`' frame) coded by ``columns``
        (:func:`~recommender.model.adjust.measured.reference_codes`; ``one_numerics``: bf16 and
        fp16 read as one, :func:`~recommender.model.adjust.anchor.as_one_numerics`), found on first
        use and kept: stages ``anchor`` and ``sibling`` look frames up in them in each call, inner
        predictions included, where each coded the cells' strings again. Read only: shared."""
        key = (newest, tuple(columns), one_numerics)
        if key not in self._cell_codes:
            cells = self.newest_cells()[0] if newest else self.measured
            self._cell_codes[key] = reference_codes(as_one_numerics(cells) if one_numerics else cells, tuple(columns))
        return self._cell_codes[key]

    def cell_keys(self, newest: bool = False) -> CellKeys:
        """:func:`~recommender.model.adjust.anchor.cell_keys` of the measured cells (``newest``: of
        :meth:`newest_cells`' frame), kept (:meth:`coded_cells`)."""
        return CellKeys(pair=self.coded_cells(PAIR_COLUMNS, newest=newest), group=self.coded_cells(GROUP_COLUMNS, True, newest))

    def release_levels(self) -> dict[tuple[str, str], set[str]]:
        """:func:`~recommender.model.adjust.release_power.measured_levels` of this predictor, found
        on first use and kept per twin tolerance (a cross-validation fold sets another config on
        the same predictor): stage ``release_power`` reads it in each of its calls, inner
        predictions included, where each call walked the measured cells again (~5 ms). Read
        only: the dict and its sets are shared."""
        tolerance = float(self.config.tunables.twin_tolerance_log)
        if tolerance not in self._release_levels:
            self._release_levels[tolerance] = release_power.measured_levels(self)
        return self._release_levels[tolerance]

    def measured_releases(self) -> set[str]:
        """Engine releases the release-aware components were fitted on (``vllm@0.11``...)."""
        return set().union(*(self.components[n].fitted_releases() for n in RELEASE_COMPONENTS if n in self.components))

    def component_feats(self, name: str, feats: Any, cf: pd.DataFrame, rows: np.ndarray | None = None) -> Any:
        """``feats`` plus the engine release column where the component uses it.

        ``rows``: ``feats`` holds these rows of ``cf`` only (taken once by the caller and shared
        by the components predicted on them, :func:`recommender.model.pipeline.predict_parts`);
        None: every row."""
        comp = self.components.get(name)

        def at_rows(values: Any) -> Any:
            return values if rows is None else take(values, rows)

        if "engine_peer" in cf.columns and cf["engine_peer"].to_numpy().any():
            # An engine read as its measured peer: the component flags it unseen.
            feats = with_column(feats, "engine_peer", at_rows(cf["engine_peer"].to_numpy()))
        if self.releases and (name in RELEASE_COMPONENTS or (comp is not None and comp.roofline is not None)):
            return with_column(feats, "engine_release", at_rows(cf["engine_release"].array))
        return feats

    def predict(self, candidates: pd.DataFrame, use_measured: bool = True) -> pd.DataFrame:
        """Predict energy, time, accuracy, EOR and TWEOR with 90% intervals.

        Args:
            candidates: Frame with :data:`~recommender.model.api.CANDIDATE_COLUMNS`
                (optional ``prompt_tokens_mean``, ``output_tokens_mean``, ``choices_mean``,
                ``forward_passes_mean``, ``fed_tokens_mean`` override the task's token profile).
            use_measured: Return measurements for measured cells (False: model only, as
                used by cross-validation).

        Returns:
            Frame indexed like ``candidates`` with
            :data:`~recommender.model.api.PREDICTION_COLUMNS`.
        """
        cf = self._candidate_frame(candidates)
        # Devices beyond what a pass can be split over (attention heads) add power, not speed:
        # the row is predicted on the devices that split it, and the others draw alongside.
        devices_all = cf["device_count"].to_numpy(dtype=float)
        codes, uniq = cats.parts(cf["model_id"])  # per distinct model, not per row
        per_model = self._features.models["heads"].reindex(pd.Index(uniq, dtype=object)).to_numpy(dtype=float)
        heads = np.take(np.append(per_model, np.nan), codes)  # code -1 (missing): the last slot
        # Per pipeline stage: a stage's tensor-parallel group splits the heads.
        stages = cf["pipeline_stages"].to_numpy(dtype=float)
        split = split_devices(devices_all / stages, heads) * stages
        idle_devices = split < devices_all
        cf_all = cf
        if idle_devices.any():
            cf = cf.assign(device_count=split)
        feats = self._features.columns(cf)
        q = predict_query(self, cf, feats, use_measured=use_measured)
        if idle_devices.any():
            scale = devices_all / split
            q = q.replace(energy_j=q.energy_j * scale, energy_lo_j=q.energy_lo_j * scale, energy_hi_j=q.energy_hi_j * scale)
            # The power limit of every device, over the requests all of them hold at once (their
            # memory holds more of them than the split devices' alone): on those rows only.
            rows = np.flatnonzero(idle_devices)
            feats_rows = self._features.columns(cf_all.iloc[rows])
            sub = invariants.enforce(q.take(rows), cf_all.iloc[rows], feats_rows)
            q = q.put(rows, sub, fields=ENERGY_TIME_FIELDS)
        in_flight = invariants.queries_in_flight(cf, feats)
        if idle_devices.any():
            in_flight[rows] = invariants.queries_in_flight(cf_all.iloc[rows], feats_rows)
        if q.in_flight is not None:
            # A measured cell's own in-flight count (stage measured), where it states one.
            in_flight = np.where(np.isfinite(q.in_flight) & (q.in_flight > 0), q.in_flight, in_flight)
        energy, e_lo, e_hi = q.energy_j, q.energy_lo_j, q.energy_hi_j
        time_s, t_lo, t_hi = q.time_s, q.time_lo_s, q.time_hi_s
        use_dec = q.prefill_share < 1.0 - self.config.tunables.prefill_share_for_reasons

        acc = self._predict_accuracy(cf, feats)
        a, a_lo, a_hi = (acc[c].to_numpy() for c in ("accuracy", "accuracy_lo", "accuracy_hi"))
        ratios = efficiency_intervals(a, a_lo, a_hi, energy, e_lo, e_hi, time_s, t_lo, t_hi)
        eor, eor_lo, eor_hi = ratios["eor"], ratios["eor_lo"], ratios["eor_hi"]
        tweor, tweor_lo, tweor_hi = ratios["tweor"], ratios["tweor_lo"], ratios["tweor_hi"]

        result = pd.DataFrame(
            {
                "energy_j_per_query": energy,
                "energy_j_per_query_lo": e_lo,
                "energy_j_per_query_hi": e_hi,
                "time_s_per_query": time_s,
                "time_s_per_query_lo": t_lo,
                "time_s_per_query_hi": t_hi,
                "accuracy": a,
                "accuracy_lo": a_lo,
                "accuracy_hi": a_hi,
                "eor": eor,
                "eor_lo": eor_lo,
                "eor_hi": eor_hi,
                "tweor": tweor,
                "tweor_lo": tweor_lo,
                "tweor_hi": tweor_hi,
                "status": pd.Categorical.from_codes(q.status_code, categories=["measured", "interpolated", "extrapolated"]),
                "accuracy_status": acc["accuracy_status"].array,
                "accuracy_basis": acc["accuracy_basis"].array,
                "extrapolated_reasons": self._reasons(q, use_dec),
                **release_basis(cf),
                "queries_in_flight": in_flight,
            },
            index=candidates.index,
            copy=False,  # the arrays are this call's own: no 2-D block copy of a million rows
        )
        return result[list(PREDICTION_COLUMNS)]

    def for_release_comparison(self) -> EaiPredictor | None:
        """This predictor without stage ``release_widening`` (None where it is already off).

        Candidates of one engine whose release the user did not name all run the same unknown
        release: its gap to the engine's other measured releases moves them alike, so comparing
        them (ties in ``eai recommend``) takes their intervals without it, as it takes them
        without the campaign scale (:func:`recommender.model.calibrate.comparison_intervals`)."""
        if not self.config.on("release_widening"):
            return None
        return replace(self, config=PipelineConfig(without=self.config.without | {"release_widening"}, tunables=self.config.tunables))

    @staticmethod
    def _reasons(q: QueryPrediction, use_dec: np.ndarray) -> pd.Categorical:
        """Reason text per row: the components' reasons, the twin a point came from, and the
        release whose power stage ``release_power`` carried over (``power-at:vllm@0.5``)."""
        extrapolated = q.status_code == 2
        reasons = with_twins(reasons_categorical(q.reason_bits), q.twin_of, extrapolated & use_dec)
        if q.power_of is not None:
            reasons = with_label(reasons, np.asarray(q.power_of, dtype=object), extrapolated, "power-at:")
        return reasons

    def predict_components(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """Per-token predictions (J/token, s/token) with half-widths, for diagnostics/evaluation."""
        cf = self._candidate_frame(candidates)
        feats = self._features.columns(cf)
        cols: dict[str, Any] = {}
        parts, _ = predict_parts(self, cf, feats)
        for name in self.components:
            part = parts[name]
            cols[name] = part.point
            cols[f"{name}_halfwidth"] = part.log_half
            uniq, inverse = np.unique(part.reason_bits, return_inverse=True)
            cols[f"{name}_reasons"] = cats.from_table(inverse.ravel(), reason_text(uniq))
        for prior in ("prior_e_dec", "prior_t_dec", "prior_e_pre", "prior_t_pre"):
            cols[prior] = feats[prior].to_numpy()
        return pd.DataFrame(cols, index=candidates.index)

    def native_formats(self) -> dict[str, str]:
        """Model id -> the format its weights are published in, where not 16-bit (the catalog's
        ``weights_format``, a described model's included): the accuracy model gives that format no effect."""
        return {m: str(spec.weights_format) for m, spec in self.catalogs.models.items() if getattr(spec, "weights_format", None)}

    def _predict_accuracy(self, cf: pd.DataFrame, feats: pd.DataFrame) -> pd.DataFrame:
        # Accuracy depends on (model, task, quantization) only: compute once per distinct triple.
        key = np.zeros(len(cf), dtype=np.int64)
        space = 1
        for col in ("model_id", "task", "quantization"):
            codes, uniq = cats.parts(cf[col])
            key = key * (len(uniq) + 1) + (codes + 1)
            space *= len(uniq) + 1
        if space <= max(4 * len(key), 1 << 16):
            # Dense keys (a few catalogs' levels): distinct triples by a count per key, no hashing.
            present = np.flatnonzero(np.bincount(key, minlength=1)) if len(key) else np.zeros(0, dtype=np.int64)
            slot = np.zeros(space, dtype=np.int64)
            slot[present] = np.arange(len(present))
            inverse, n_uniq = slot[key], len(present)
        else:
            inverse, uniq_keys = pd.factorize(key)  # hash-based: O(n), no sort
            n_uniq = len(uniq_keys)
        first = np.zeros(n_uniq, dtype=np.int64)
        first[inverse[::-1]] = np.arange(len(key) - 1, -1, -1)
        # Triples in order of first appearance (the order of the status and basis categories).
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        inverse, first = rank[inverse], first[order]
        sub = cf.iloc[first]
        total = np.exp(feats["log_params_total"].to_numpy()[first])
        acc, lo, hi, status, basis = self.accuracy.predict_coded(
            sub["model_id"].array,
            sub["task"].array,
            sub["quantization"].array,
            total,
            sub["chance"].to_numpy(),
            sub["scored"].to_numpy(),
            self.native_formats(),
        )
        inverse = inverse.ravel()
        return pd.DataFrame(
            {
                "accuracy": acc[inverse],
                "accuracy_lo": lo[inverse],
                "accuracy_hi": hi[inverse],
                "accuracy_status": pd.Categorical.from_codes(np.asarray(status.codes)[inverse], categories=status.categories),
                "accuracy_basis": pd.Categorical.from_codes(np.asarray(basis.codes)[inverse], categories=basis.categories),
            },
            index=cf.index,
            copy=False,
        )

    # -- state --------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """JSON-able state (no pickle)."""
        return {
            "format_version": FORMAT_VERSION,
            "data_hash": self.data_hash,
            "components": {k: v.to_state() for k, v in self.components.items()},
            "accuracy": self.accuracy.state,
            "measured": {c: self.measured[c].tolist() for c in self.measured.columns},
            "extra_models": {c: self.extra_models[c].tolist() for c in self.extra_models.columns},
            "meta": self.meta,
            "releases": self.releases,
            **({"config": self.config.to_state()} if self.config != PipelineConfig() else {}),
            **({"campaign": self.campaign.to_state()} if self.campaign is not None else {}),
            **({"answer_lengths": self.answer_lengths.to_state()} if self.answer_lengths is not None else {}),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], catalogs: Catalogs) -> EaiPredictor:
        """Rebuild a predictor from :meth:`to_state` output."""
        return cls(
            data_hash=str(state["data_hash"]),
            components={k: ComponentModel.from_state(v) for k, v in state["components"].items()},
            accuracy=AccuracyModel(state["accuracy"]),
            measured=pd.DataFrame(state["measured"]),
            extra_models=pd.DataFrame(state["extra_models"], columns=["model_id", "params_total_b", "params_active_b"]),
            catalogs=catalogs,
            meta=dict(state.get("meta", {})),
            releases={str(k): str(v) for k, v in state.get("releases", {}).items()},
            config=PipelineConfig.from_state(state.get("config")),
            campaign=CampaignScale.from_state(state.get("campaign")),
            answer_lengths=AnswerLengths.from_state(state.get("answer_lengths")),
        )


def _fit_decode_or_prefill(
    name: str, feats: pd.DataFrame, y: np.ndarray, calibrate: bool, release: Any, config: PipelineConfig = PipelineConfig(),
    campaign: np.ndarray | None = None,
    time_roofline: Mapping[str, Any] | None = None,
) -> ComponentModel:
    """A regression component; decode components regress on the fitted roofline.

    Decode (``e_dec``, ``t_dec``) first fits the shared constants of
    :mod:`recommender.model.roofline_fit` (achieved bandwidth and throughput shares, per-layer
    cost per engine release, from ``release`` (per row) when the frame has no ``engine_release``: the
    per-step overhead is the release's, even where the ridge pools releases) and the ridge
    model learns the log ratio to that; prefill keeps the raw
    roofline prior. Too few rows or platforms for a regression keep the raw prior as well, and
    so does every component with the ``fitted_roofline`` stage off.
    """
    enough = len(y) >= MIN_ROWS_REGRESSION and feats["platform"].nunique() >= MIN_PLATFORMS_REGRESSION
    categorical = CATEGORICAL_FEATURES + (("engine_release",) if "engine_release" in feats.columns else ())
    switches = {"smooth": config.on("smoother"), "blend": config.on("blend"), "regimes": config.on("regime_widths")}
    if not (name.endswith("dec") and enough and config.on("fitted_roofline")):
        return fit_component(name, feats, y, prior=f"prior_{name}", categorical=categorical, calibrate=calibrate, **switches)
    from recommender.model.estimator import RooflineFit

    roof_feats = feats if "engine_release" in feats.columns else feats.assign(engine_release=release)
    # Each measurement campaign weighs the same in the shared constants (a user's deployment is
    # a new campaign; the largest source must not set the constants for all of them).
    weight = None
    if campaign is not None and len(campaign) == len(y):
        _, inv, counts = np.unique(campaign, return_inverse=True, return_counts=True)
        weight = 1.0 / counts[inv]
    kind = "energy" if name.startswith("e") else "time"
    roof = RooflineFit(
        kind=kind,
        sequence_cost=config.on("sequence_cost"),
        prompt_energy=kind == "energy" and config.on("prompt_energy"),
        time_roofline=time_roofline if kind == "energy" and config.on("phase_power_cap") else None,
        layer_kernels=config.on("layer_kernel_cost"),
    ).fit(roof_feats, y, sample_weight=weight)
    column = f"fitted_prior_{name}"
    state = roof.export_state()
    prior = fitted_prior(state, roof_feats)
    shift = np.log(fitted_prior(state, roof_feats, own_release_unseen=True) / prior)
    comp = fit_component(
        name, feats.assign(**{column: prior}), y, prior=column, categorical=categorical, calibrate=calibrate, release_shift=shift,
        **switches,
    )
    comp.roofline = state
    return comp


def fit_predictor(
    table: pd.DataFrame,
    accuracy_table: pd.DataFrame | None,
    catalogs: Catalogs,
    data_hash: str = "",
    calibrate: bool = True,
    meta: Mapping[str, Any] | None = None,
    config: PipelineConfig | None = None,
    accuracy_model: AccuracyModel | None = None,
    campaign: CampaignScale | None = None,
) -> EaiPredictor:
    """Fit every component, the accuracy model and the measured-cell lookup.

    Args:
        table: Measured table (``recommender.table.load_table`` frame).
        accuracy_table: Accuracy table (``recommender.table.accuracy.load_accuracy``) or None.
        catalogs: Catalogs for features.
        data_hash: SHA-256 of the table file (stored with the predictor).
        calibrate: Calibrate interval widths by grouped refits.
        meta: Extra provenance stored with the state.
        config: Stages and constants (default: every stage on).
        accuracy_model: The accuracy model :func:`fit_accuracy_model` gives for this table
            and ``accuracy_table`` (cross-validation folds that keep the same scored rows share
            one); None fits it here.
        campaign: The campaign scale of the intervals (stage ``campaign_scale``); None
            calibrates it here, by holding out each campaign of ``table`` and refitting the
            whole pipeline on the others (:func:`fit_campaign_residuals`), when ``calibrate``.
    """
    config = config if config is not None else PipelineConfig()
    prep = prepare_table(table, catalogs)
    extra = extra_models(prep, catalogs)
    builder = FeatureBuilder(catalogs, extra)
    cf = prep[["platform", "device_count", "pipeline_stages", "engine", "model_id", "quantization", "batch_size", "prompt_tokens", "output_tokens", "output_dispersion", "choices", "passes", "pass_tokens", "params_total_b", "params_active_b"]].copy()
    feats = builder.build(cf)
    releases = default_releases(prep["engine"], prep["engine_release"])
    feats_release = feats.assign(engine_release=cats.as_categorical(pd.Series(prep["engine_release"].to_numpy(), index=feats.index)))
    components: dict[str, ComponentModel] = {}
    rows: dict[str, tuple[pd.DataFrame, np.ndarray]] = {}
    for name in ("e_dec", "t_dec", "e_pre", "t_pre"):
        y = prep[f"y_{name}"].to_numpy(dtype=float)
        ok = np.isfinite(y) & (y > 0)
        rows[name] = ((feats_release if name in RELEASE_COMPONENTS else feats).loc[ok], y[ok])
    for name in ("t_dec", "e_dec", "e_pre", "t_pre"):
        f_, y_ = rows[name]
        enough = len(y_) >= MIN_ROWS_REGRESSION and f_["platform"].nunique() >= MIN_PLATFORMS_REGRESSION
        gpu = (f_["platform_class"].astype(str) != "cpu").to_numpy()
        if config.on("cpu_model") and enough and gpu.sum() < MIN_ROWS_REGRESSION:
            # CPU rows get a model of their own (below), so the accelerator regression needs its
            # own rows: prefill measured on two CPUs and one H200 (2 rows) is not enough to
            # regress every GPU's prefill on; it stays anchored on decode, the H200 its own offset.
            enough = False
        if name.endswith("dec") or enough:
            # CPUs are another regime (and a handful of CPU rows would bend the GPU model's
            # platform slopes): the regression sees accelerator rows only; CPU rows get their
            # own roofline-times-constant model, used for CPU candidates.
            is_cpu = (f_["platform_class"].astype(str) == "cpu").to_numpy()
            apart = config.on("cpu_model") and is_cpu.any() and (~is_cpu).sum() >= MIN_ROWS_REGRESSION
            acc = ~is_cpu if apart else np.ones(len(y_), dtype=bool)
            rel = feats_release.loc[f_.index[acc], "engine_release"]
            sources = prep.loc[f_.index[acc], "source"].astype(str).to_numpy()
            # Energy after time: stage phase_power_cap bounds each energy phase by its time.
            time_roofline = components["t_dec"].roofline if name == "e_dec" and "t_dec" in components else None
            comp = _fit_decode_or_prefill(
                name, f_.loc[acc], y_[acc], calibrate, release=rel, config=config, campaign=sources, time_roofline=time_roofline
            )
            if not acc.all():
                fc, yc = f_.loc[is_cpu], y_[is_cpu]
                comp.cpu_model = fit_anchored_component(name, fc, yc, f"prior_{name}", fc, yc, f"prior_{name}")
            components[name] = comp
        else:
            anchor = "e_dec" if name.startswith("e") else "t_dec"
            af, ay = rows[anchor]
            dec = components.get(anchor)
            if dec is None or dec.roofline is None:
                components[name] = fit_anchored_component(name, f_, y_, f"prior_{name}", af, ay, f"prior_{anchor}", toward_bound=True)
                continue
            # A pass walks every layer as a decode step does: the prefill prior carries decode's
            # fitted per-layer cost (roofline_fit.prefill_prior), and the anchor's ratio is taken
            # against decode's fitted roofline on the rows it was fitted on (accelerators).
            # CPUs keep the raw prior anchored on every decode row (their own regime: decode's
            # per-layer cost was fitted on accelerators), as their decode has a model of its own.
            state = prefill_state(dec.roofline)
            column, a_column = f"fitted_prior_{name}", f"fitted_prior_{anchor}"
            is_cpu = (f_["platform_class"].astype(str) == "cpu").to_numpy()
            gpu_rows = f_.loc[~is_cpu]
            own = gpu_rows.assign(**{column: fitted_prior(state, feats_release.loc[gpu_rows.index])})
            gpu = (af["platform_class"].astype(str) != "cpu").to_numpy()
            keep = gpu if gpu.any() else np.ones(len(af), dtype=bool)
            af_k = af.loc[keep]
            af_k = af_k.assign(**{a_column: dec.prior_values(feats_release.loc[af_k.index])})
            comp = fit_anchored_component(name, own, y_[~is_cpu], column, af_k, ay[keep], a_column, toward_bound=True)
            comp.roofline = state
            if config.on("cpu_model"):
                comp.cpu_model = fit_anchored_component(
                    name, f_.loc[is_cpu], y_[is_cpu], f"prior_{name}", af, ay, f"prior_{anchor}", toward_bound=True
                )
            components[name] = comp
    accuracy = accuracy_model if accuracy_model is not None else fit_accuracy_model(prep, accuracy_table, catalogs, extra)
    if not config.on("campaign_scale"):
        campaign = None
    elif campaign is None and calibrate:
        residuals = fit_campaign_residuals(table, accuracy_table, catalogs, config, accuracy)
        campaign = campaign_scale(residuals) if residuals is not None else None
    info = {"n_rows": int(len(table)), **{f"n_rows_{k}": v.n_rows for k, v in components.items()}, **dict(meta or {})}
    lengths = _fit_answer_lengths(prep, catalogs) if config.on("answer_length") else None
    return EaiPredictor(
        data_hash=data_hash,
        components=components,
        accuracy=accuracy,
        measured=_measured_cells(prep),
        extra_models=extra.reset_index(drop=True),
        catalogs=catalogs,
        meta=info,
        releases=releases,
        config=config,
        campaign=campaign,
        answer_lengths=lengths,
    )


def _fit_answer_lengths(prep: pd.DataFrame, catalogs: Catalogs) -> AnswerLengths:
    """Stage ``answer_length`` on the training frame: measured output lengths of generation rows
    (a row's ``output_tokens_mean``, not the profile it was filled from); tasks of one answer
    length (catalogued dispersion 1) lend no verbosity. Rows measured with random weights
    (flag ``random-weights``) say nothing of a model's answers: they generate to the token cap."""
    prof = task_profile(prep["task"], catalogs.tasks)
    dispersion = prof["dispersion"].to_numpy(dtype=float)
    measured_out = pd.to_numeric(prep["output_tokens_mean"], errors="coerce").to_numpy(dtype=float)
    mc = prof["mc"].fillna(0.0).to_numpy(dtype=float) > 0
    random_weights = prep["flags"].astype(str).str.contains("random-weights", regex=False).to_numpy() if "flags" in prep else False
    measured_out = np.where(mc | random_weights, np.nan, measured_out)
    return fit_answer_lengths(prep["model_id"], prep["task"], prep["source"], measured_out, dispersion == 1.0)


def fit_campaign_residuals(
    table: pd.DataFrame, accuracy_table: pd.DataFrame | None, catalogs: Catalogs, config: PipelineConfig, accuracy: AccuracyModel
) -> CampaignResiduals | None:
    """Each campaign of ``table`` held out and predicted by the whole pipeline refitted on the
    others (:mod:`recommender.model.calibrate`); None with too few campaigns."""
    table = table.reset_index(drop=True)
    held = {c: campaign_holdout(table, (c,), accuracy_table, catalogs, config, accuracy)[c] for c in calib.campaigns(table)}
    return calib.assemble(table, held)


def campaign_holdout(
    table: pd.DataFrame, held_out: tuple[str, ...], accuracy_table: pd.DataFrame | None, catalogs: Catalogs, config: PipelineConfig,
    accuracy: AccuracyModel,
) -> dict[str, dict[str, np.ndarray]]:
    """``z`` of the held-out campaigns' rows, refitted without them all
    (:func:`recommender.model.calibrate.holdout_z`), ``table`` indexed 0..n-1.

    The refit runs every stage of ``config`` but this one (intervals are scaled once) and uses
    ``accuracy``: the accuracy model sets no energy or time."""
    inner = PipelineConfig(without=config.without | {"campaign_scale"}, tunables=config.tunables)

    def fit(train: pd.DataFrame) -> EaiPredictor:
        return fit_predictor(train, accuracy_table, catalogs, calibrate=True, config=inner, accuracy_model=accuracy)

    def truth(rows: pd.DataFrame) -> dict[str, np.ndarray]:
        prep = prepare_table(rows, catalogs)
        return {"energy": prep["energy_q"].to_numpy(dtype=float), "time": prep["time_q"].to_numpy(dtype=float)}

    return calib.holdout_z(table, held_out, fit, lambda rows: measured_candidates(prepare_table(rows, catalogs)), truth)


def release_basis(cf: pd.DataFrame) -> dict[str, pd.Categorical]:
    """``engine_release`` and ``engine_release_basis`` of a candidate frame
    (:data:`~recommender.model.api.RELEASE_BASES`), per distinct (release, basis) pair.

    A user who names no release is told which one the figures are for: the interval of an
    assumed release holds the other measured releases' predictions (stage
    ``release_widening``), which the extrapolation reasons do not name."""
    codes, labels = cats.parts(cf["engine_release"])
    # Code -1 (missing) takes each table's last slot.
    versioned = np.take(np.append(np.array(["@" in str(x) for x in labels], dtype=bool), False), codes)
    shown = cats.from_table(codes, [*(str(x) if "@" in str(x) else "" for x in labels), ""])
    basis = np.full(len(cf), 4, dtype=np.int8)  # none
    basis[versioned] = 0  # stated
    for flag, code in (("release_assumed", 1), ("release_bracketed", 2), ("engine_peer", 3)):
        if flag in cf:
            # An unversioned level is read as the rows that stated none, assumed or not.
            basis[np.asarray(cf[flag], dtype=bool) & versioned] = code
    return {
        "engine_release": shown,
        "engine_release_basis": pd.Categorical.from_codes(basis, categories=pd.Index(list(RELEASE_BASES), dtype=object)),
    }


def extra_models(prep: pd.DataFrame, catalogs: Catalogs) -> pd.DataFrame:
    """Models of a prepared table that the catalog lacks: ``model_id``, ``params_total_b``,
    ``params_active_b`` (first row of each)."""
    known_models = set(catalogs.models)
    return prep.loc[~prep["model_id"].isin(known_models), ["model_id", "params_total_b", "params_active_b"]].drop_duplicates("model_id")


def fit_accuracy_model(prep: pd.DataFrame, accuracy_table: pd.DataFrame | None, catalogs: Catalogs, extra: pd.DataFrame) -> AccuracyModel:
    """The accuracy model of a prepared measured table: fitted on its scored rows and the
    accuracy table, for every catalogued model and ``extra`` (see :func:`extra_models`)."""
    # Accuracy records: the measured table's scored rows + the accuracy table.
    recs = [
        prep.loc[prep["accuracy"].notna(), ["model_id", "task", "quantization", "accuracy", "accuracy_stderr", "accuracy_n", "source", "source_ref"]]
    ]
    if accuracy_table is not None and len(accuracy_table):
        a = accuracy_table.copy()
        a["task"] = np.asarray(canonical_task(a["task"], catalogs.tasks), dtype=object)
        a["accuracy_n"] = np.nan
        # The accuracy model also reads the provenance columns (chat template, stated size and
        # architecture for grouping near-copies, source_ref for the dequantized profiler rows).
        provenance = [c for c in ("source_ref", "chat_template", "params_b", "architecture", "base_model") if c in a]
        recs.append(a[["model_id", "task", "quantization", "accuracy", "accuracy_stderr", "accuracy_n", "source", *provenance]])
    records = pd.concat(recs, ignore_index=True)
    from recommender.catalog.adhoc import catalogued_variants, checkpoint_original

    # A catalogued quantized checkpoint no table scored (Meta's Llama-4-Maverick-...-FP8) is
    # its 16-bit original quantized by the same publisher: it answers with the original's scores,
    # as the weights as published (a checkpoint another organisation quantized keeps its own
    # name and scores).
    scored = set(records["model_id"].dropna().astype(str))
    same_as = {mid: original for mid, spec in catalogs.models.items()
               if mid not in scored and (original := checkpoint_original(spec)) is not None and original in scored}
    params = {mid: m.params_total_b for mid, m in catalogs.models.items()}
    # A model asked by a name that resolves to a catalogued variant's architecture (the base
    # model of a catalogued instruct one, the 16-bit original of a catalogued checkpoint) reads
    # its own scores where the tables hold them. It takes no catalog family or release date, so
    # the family prior is fitted on the catalogued models alone, as before such names were
    # answered (a task no score of its own answers takes its variant's family prior); its size,
    # the variant's, does enter the cross-task regressions that read size (35 such models on
    # the shipped tables).
    variants = catalogued_variants(sorted(scored), catalogs.models)
    for name, of in variants.items():
        params[name] = catalogs.models[of].params_total_b
    params.update(dict(zip(extra["model_id"], extra["params_total_b"], strict=True)))
    return AccuracyModel.fit(records, params, same_as=same_as, prior_from=variants)


