"""One per-token quantity (e.g. decode J per output token): fit, calibrate, describe its domain.

A component is a :class:`~recommender.model.estimator.LogRatioRegressor` on one roofline
prior, plus the conformal half-widths of :mod:`recommender.model.conformal` for every kind
of novelty, plus the training domain (platforms, engines, quantizations, models, size and
batch ranges) that decides whether a prediction is interpolated or extrapolated. Its state
is plain JSON; :class:`ComponentModel` predicts from that state with numpy only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.conformal import conformal_halfwidth, grouped_oof_log_residuals
from recommender.model.features import CATEGORICAL_FEATURES, INTERACTIONS, NUMERIC_FEATURES, OPERATING_POINT_FEATURES, column_of, floats
from recommender.model.linear import LinearLogModel, centered_ridge, varied_within
from recommender.model.roofline_fit import RELEASE_STEP_LOG, fitted_prior, release_order
from recommender.model import smoother as smoother_module
from recommender.model.smoother import ResidualSmoother

MIN_ROWS_REGRESSION = 12
"""Below this many rows a component is the prior times one fitted constant."""

MIN_PLATFORMS_REGRESSION = 3
"""Below this many platforms, too: slopes on platform physics cannot be learned from one or two."""

EXTREME_SHARE = 0.15
"""Share of rows (by active parameters / batch size) held out to calibrate range extrapolation."""

MAX_FOLDS = 8
"""Cap on refits per grouped-CV scheme (keeps ``eai fit`` well under its time budget)."""

REGIME_COLUMN = "engine"
"""Column whose levels are the regimes of the Mondrian (per-regime) conformal widths.

The serving engine decides the batching regime (static batch-1 HF/FastChat vs continuous
batching in vLLM), and held-out errors differ several-fold between regimes; one pooled
quantile is too wide for the quiet regime and too narrow for the noisy one."""

MIN_REGIME_RESIDUALS = 30
"""Fewest held-out residuals of a regime for it to get its own width for a scheme (below:
the pooled width). At 90% the conformal rank then sits >= 3 residuals below the top."""

MIN_REGIME_GROUPS = 5
"""Fewest distinct held-out groups (platforms, models, ...) behind a regime's residuals for
its width to be *narrower* than the pooled one. Thirty residuals from two platforms measure
how those two platforms predict each other, not how an unseen platform behaves; they may
still widen the regime's interval."""

REASONS: tuple[str, ...] = (
    "platform-unseen",
    "engine-unseen",
    "quantization-unseen",
    "size-outside",
    "batch-outside",
    "deployment-unseen",
    "class-unseen",
    "release-unseen",
    "format-unseen",
)
"""Extrapolation reasons, each calibrated by its own held-out scheme.

``deployment-unseen``: platform and engine were each measured, but never together (e.g.
an A100 measured under FastChat only, predicted under vLLM): the engine's batching and
kernels on that GPU are new even though neither name is. For components that see the engine
release, also a platform and a release each measured but never together (H100 measured under
vLLM 0.11 only, asked about vLLM 0.5.4).

``format-unseen``: platform and number format were each measured, but never together (fp8
on a GPU measured in bf16 only; bf16 and fp16 are one format): that format's kernels on that
GPU are new. It takes the ``quantization`` scheme's width (a format held out everywhere): on
``eai evaluate --split format``, which holds such pairs out, that width covers 92 % of energy
and 87 % of time per query (see :data:`UNBLENDED_REASONS`).

``class-unseen``: no platform of the candidate's class (data-center / workstation / edge /
cpu) was measured, e.g. a CPU predicted from GPU rows only: the hardware works differently,
not just faster or slower. Calibrated by leave-one-class-out refits, and never narrower than
``platform-unseen``.

``release-unseen``: the engine was measured, but not at the candidate's release (components
that see ``engine_release``: time); also a release the candidate states where its engine's rows
state none: read as those rows (their point, and their blend), which may have run any release
(transformers 5.17 on our H200 ran at 1,452 us per layer, the quantization reports' unstated
releases at 495 us), so it takes the release width. Its per-layer cost is placed by version among the
measured releases (:func:`recommender.model.roofline_fit.unseen_release_log_c`). Calibrated by
holding out one release of an engine measured at several, placed the same way; where no engine
was, :data:`recommender.model.roofline_fit.RELEASE_STEP_LOG` (half the published range of one
release's gain) and at least ``engine-unseen``."""

_REASON_SCHEME = {
    "platform-unseen": "platform",
    "engine-unseen": "engine",
    "quantization-unseen": "quantization",
    "size-outside": "size",
    "batch-outside": "batch",
    "deployment-unseen": "deployment",
    "class-unseen": "class",
    "release-unseen": "release",
    # No refits of its own: the quantization scheme's width (UNBLENDED_REASONS has the check).
    "format-unseen": "quantization",
}


def _fit_state(
    frame: pd.DataFrame, y: np.ndarray, prior: str, categorical: tuple[str, ...], alpha: float | None = None
) -> dict[str, Any]:
    """Fit a LogRatioRegressor (or a constant ratio on tiny data) and export its state.

    ``alpha`` fixes the ridge penalty (calibration refits reuse the full fit's choice);
    None selects it by efficient leave-one-out CV.
    """
    if len(frame) >= MIN_ROWS_REGRESSION and frame["platform"].nunique() >= MIN_PLATFORMS_REGRESSION:
        from recommender.model.estimator import LogRatioRegressor

        est = LogRatioRegressor(
            prior_column=prior,
            numeric_features=NUMERIC_FEATURES,
            categorical_features=categorical,
            interactions=INTERACTIONS,
            unclamped=OPERATING_POINT_FEATURES,
            **({"alphas": (alpha,)} if alpha is not None else {}),
        )
        est.fit(frame[[*NUMERIC_FEATURES, *categorical, prior]], y, groups=frame["model_id"].astype(str).to_numpy())
        return est.export_linear()
    offset = float(np.mean(np.log(y) - np.log(frame[prior].to_numpy(dtype=float)))) if len(frame) else 0.0
    return {"prior_column": prior, "intercept": offset, "numeric": {}, "categorical": {}, "alpha": 0.0}


@dataclass
class ComponentModel:
    """A fitted per-token component.

    Attributes:
        name: ``e_dec``, ``t_dec``, ``e_pre`` or ``t_pre``.
        linear: The fitted log-ratio model.
        widths: Half-width (natural-log units) per scheme: ``cell``, ``model``, ``platform``,
            ``engine``, ``quantization``, ``size``, ``batch``, ``deployment``.
        domain: What was measured: ``platforms``, ``engines``, ``quantizations``, ``models``,
            ``deployments`` (``platform|engine`` pairs) (lists), ``active_b`` and ``batch``
            ([min, max]).
        n_rows: Training rows.
    """

    name: str
    linear: LinearLogModel
    widths: dict[str, float]
    domain: dict[str, Any]
    n_rows: int
    smoother: ResidualSmoother | None = None
    simple: dict[str, Any] | None = None
    """Roofline-times-constant alternative: ``offset`` (log), ``quant_pairs`` (log correction per
    quantization measured against a 16-bit reference on the same deployment; see
    :class:`QuantPairs`) and ``weights`` (per extrapolation reason, the full model's
    weight in the geometric blend with it; see :func:`_blend_weights`)."""
    cpu_model: ComponentModel | None = None
    """Separate model for CPU platforms (platform class ``cpu``), where CPU rows were measured."""
    regime_widths: dict[str, dict[str, float]] | None = None
    """Mondrian widths: per level of :data:`REGIME_COLUMN`, the half-width per scheme
    calibrated on that regime's held-out rows only (levels absent use :attr:`widths`)."""
    roofline: dict[str, Any] | None = None
    """Fitted-roofline state (:mod:`recommender.model.roofline_fit`) whose value is the prior
    column of :attr:`linear`; None when the prior is a raw feature column."""
    _level_tables: dict[tuple[Any, ...], np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)
    """:func:`_level_table` per set of levels met (platform, engine, format, release labels): a
    prediction asks the same few sets dozens of times (every stage's inner prediction)."""

    def to_state(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "name": self.name,
            "linear": self.linear.state,
            "widths": self.widths,
            "domain": self.domain,
            "n_rows": self.n_rows,
            "smoother": self.smoother.state if self.smoother is not None else None,
            "simple": self.simple,
            "cpu_model": self.cpu_model.to_state() if self.cpu_model is not None else None,
            "regime_widths": self.regime_widths,
            "roofline": self.roofline,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ComponentModel:
        """Rebuild from :meth:`to_state` output."""
        return cls(
            name=str(state["name"]),
            linear=LinearLogModel(state["linear"]),
            widths={str(k): float(v) for k, v in state["widths"].items()},
            domain=dict(state["domain"]),
            n_rows=int(state["n_rows"]),
            smoother=ResidualSmoother(state["smoother"]) if state.get("smoother") else None,
            simple=dict(state["simple"]) if state.get("simple") else None,
            cpu_model=ComponentModel.from_state(state["cpu_model"]) if state.get("cpu_model") else None,
            regime_widths=(
                {str(g): {str(k): float(v) for k, v in w.items()} for g, w in state["regime_widths"].items()}
                if state.get("regime_widths")
                else None
            ),
            roofline=dict(state["roofline"]) if state.get("roofline") else None,
        )

    def with_prior(self, feats: Any) -> Any:
        """``feats`` plus this component's fitted-roofline prior column (unchanged without one)."""
        if self.roofline is None:
            return feats
        return with_column(feats, self.linear.prior_column, fitted_prior(self.roofline, feats))

    def prior_values(self, feats: Any) -> np.ndarray:
        """The prior this component's ridge corrects, per row of ``feats`` (its fitted roofline,
        releases read as :meth:`predict` reads them; else the raw prior column)."""
        return np.asarray(self.with_prior(self._release_as_fitted(feats))[self.linear.prior_column], dtype=float)

    def fitted_releases(self) -> set[str]:
        """Engine release levels this component was fitted on: its rows' (where it sees the
        release) and its fitted roofline's per-layer cost levels."""
        return set(self.domain.get("releases", ())) | (set(dict(self.roofline["log_c"])) if self.roofline else set())

    def _release_as_fitted(self, feats: Any) -> Any:
        """``feats`` with each engine release put in the terms of this component's rows.

        - A named release the component never fitted, of an engine whose rows here carry no
          release (the quantization reports' HF transformers runs were measured at *some*
          release), is matched with those rows, not called a new release (which would drop
          their offset); :meth:`predict` flags it ``release-unseen`` for its width only.
        - An engine with no release named, fitted here only at stated releases (the profiler's
          CPU rows), is taken at its newest one, as the predictor does for a whole engine.
        """
        if "engine_release" not in getattr(feats, "columns", ()):
            return feats
        known = self.fitted_releases()
        codes, labels = cats.parts(column_of(feats, "engine_release"))
        if not known or (codes < 0).any():
            return feats
        versioned: dict[str, list[str]] = {}
        for level in known:
            if "@" in level:
                versioned.setdefault(level.split("@", 1)[0], []).append(level)
        mapped = []
        for lab in (str(x) for x in labels):
            engine = lab.split("@", 1)[0]
            if lab in known:
                mapped.append(lab)
            elif "@" in lab and engine in known:
                mapped.append(engine)
            elif "@" not in lab and engine in versioned:
                mapped.append(max(versioned[engine], key=release_order))
            else:
                mapped.append(lab)
        if mapped == [str(x) for x in labels]:
            return feats
        return with_column(feats, "engine_release", cats.from_table(codes, mapped))

    def _matched_to_unstated(self, feats: Any) -> np.ndarray:
        """Per row, whether :meth:`_release_as_fitted` reads its stated release (never fitted) as
        its engine's rows of unstated release."""
        if "engine_release" not in getattr(feats, "columns", ()):
            return np.zeros(len(feats), dtype=bool)
        known = self.fitted_releases()
        codes, labels = cats.parts(column_of(feats, "engine_release"))
        matched = [("@" in str(lab) and str(lab) not in known and str(lab).split("@", 1)[0] in known) for lab in labels]
        return np.take(np.append(np.array(matched, dtype=bool), False), codes)  # code -1 (missing): the last slot

    def _combination_weights(self, c_flags: dict[str, np.ndarray], skip: str | None = None) -> np.ndarray:
        """Per combination of reasons, the full model's blend weight: the smallest weight among
        its reasons (the most physics-leaning blend any of its novelties called for), ``skip``
        left out."""
        w = np.ones(len(next(iter(c_flags.values()))) if c_flags else 0)
        for r, wr in self.simple["weights"].items():
            if wr < 1.0 and r in c_flags and r != skip:
                w = np.where(c_flags[r], np.minimum(w, wr), w)
        return w

    def predict(self, feats: pd.DataFrame, release_free: ReleaseFree | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point prediction, log half-width and extrapolation reasons per row.

        Args:
            feats: Output of :meth:`recommender.model.features.FeatureBuilder.build`.
            release_free: What :meth:`predict_keeping` kept of the same rows at other engine
                releases (taken at these rows, :meth:`ReleaseFree.take`), used instead of being
                computed again; None: everything is computed.

        Returns:
            ``(point, halfwidth, reason_bits)``; bit ``i`` of ``reason_bits`` set means
            :data:`REASONS` ``[i]`` applies (0: interpolated). See :func:`reason_text`.
        """
        out = self.predict_full(feats, release_free)
        return out.point, out.half, out.bits

    def predict_keeping(self, feats: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, ReleaseFree]:
        """:meth:`predict`, and the parts of it no engine release enters (:class:`ReleaseFree`),
        for predictions of the same rows at other releases (stage ``release_widening``)."""
        out = self.predict_full(feats, keep=True)
        assert out.release_free is not None
        return out.point, out.half, out.bits, out.release_free

    def predict_full(self, feats: pd.DataFrame, release_free: ReleaseFree | None = None, keep: bool = False) -> ComponentPrediction:
        """:meth:`predict` with the prior it corrected (:meth:`prior_values` of ``feats``) and,
        with ``keep``, :meth:`predict_keeping`'s parts."""
        point, half, bits, kept, prior = self._predict(feats, release_free, keep)
        return ComponentPrediction(point=point, half=half, bits=bits, prior=prior, release_free=kept)

    def _release_side(self) -> set[str]:
        """The columns that differ between one row's frames at two engine releases: the release
        itself, the engine-peer flag the pipeline adds beside it, and this component's prior (a
        roofline per release)."""
        return {"engine_release", "engine_peer", self.linear.prior_column}

    def _ratio_release_free(self) -> bool:
        """Whether the linear model's log ratio reads none of :meth:`_release_side`."""
        return not (self.linear.ratio_reads() & self._release_side())

    def _predict(
        self, feats: pd.DataFrame, release_free: ReleaseFree | None, keep: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, ReleaseFree | None, np.ndarray]:
        """:meth:`predict` (``keep``: with :meth:`predict_keeping`'s parts, else None), and the
        prior per row."""
        original = feats
        feats = self.with_prior(self._release_as_fitted(feats))
        prior_used = np.asarray(feats[self.linear.prior_column], dtype=float)  # as prior_values reads it
        ratio_free = self._ratio_release_free()
        # Where the release enters the log ratio, the terms before it are kept (and taken).
        prefix_columns = self.linear.prefix_avoiding(self._release_side()) if keep and not ratio_free else None
        kept_prefix = None
        if release_free is not None and release_free.log_ratio is not None:
            log_ratio = release_free.log_ratio.copy()  # prior_times scales it in place
        elif release_free is not None and release_free.ratio_prefix is not None:
            log_ratio = self.linear.predict_log_ratio(feats, prefix=(release_free.prefix_columns, release_free.ratio_prefix.copy()))
        elif prefix_columns is not None:
            prefix = self.linear.log_ratio_prefix(feats, prefix_columns)
            kept_prefix = prefix.copy()  # predict_log_ratio adds the other terms to it in place
            log_ratio = self.linear.predict_log_ratio(feats, prefix=(prefix_columns, prefix))
        else:
            log_ratio = self.linear.predict_log_ratio(feats)
        kept_ratio = log_ratio.copy() if keep and ratio_free else None
        point = self.linear.prior_times(feats, log_ratio)
        kept_correction = None
        if self.smoother is not None:
            # A row outside every measured group has correction 0 (a factor of exactly 1): only
            # the corrected rows are scaled. The smoother reads the platform, engine, number
            # format, layer design, model and size, batch and devices: never the release.
            if release_free is not None and release_free.correction is not None:
                corrected = np.flatnonzero(release_free.corrected)
                correction = release_free.correction[corrected]
            else:
                corrected, correction = self.smoother.corrected_rows(feats)
            if keep:
                kept_correction = np.zeros(len(point))
                kept_correction[corrected] = correction
                is_corrected = np.zeros(len(point), dtype=bool)
                is_corrected[corrected] = True
            point[corrected] *= np.exp(correction)
        d = self.domain
        seen_model = cats.isin(column_of(feats, "model_id"), d["models"])
        if self.n_rows == 0:
            # Nothing of this component was measured anywhere: one reason says it all.
            bits = np.full(len(feats), 1 << REASONS.index("platform-unseen"), dtype=np.int64)
            range_bits = None
        else:
            if release_free is not None and release_free.range_bits is not None:
                range_bits = release_free.range_bits
            else:
                range_bits = _range_bits(feats, d)
            bits = _reason_bits(feats, d, range_bits, self._level_tables).astype(np.int64)
        peer = np.asarray(column_of(feats, "engine_peer"), dtype=bool) if "engine_peer" in getattr(feats, "columns", ()) else None
        if peer is not None:
            # Read as its measured peer (frame._read_as_peer), the row's own engine is unseen.
            bits = bits | (peer.astype(np.int64) << REASONS.index("engine-unseen"))
        matched = self._matched_to_unstated(original) if ("releases" in d or self.roofline is not None) else np.zeros(len(feats), dtype=bool)
        blend_bits = bits
        if matched.any():
            # A release the row states but no row of its engine did (read above as the rows that
            # ran at an unstated one): the point and its blend are theirs; only the width says
            # the release is not known to be theirs.
            bits = bits | (matched.astype(np.int64) << REASONS.index("release-unseen"))
        # Widths and blend weights depend on the row only through (regime, model seen, reasons):
        # computed once per such combination present, then taken per row.
        regime_rows, regime_labels = (
            cats.level_index(column_of(feats, REGIME_COLUMN)) if self.regime_widths else (np.zeros(len(feats), dtype=np.int64), np.zeros(0, dtype=object))
        )
        n_bits = 1 << len(REASONS)
        key = (regime_rows.astype(np.int64) * 2 + seen_model) * n_bits + bits
        present = np.flatnonzero(np.bincount(key, minlength=1)) if len(key) else np.zeros(0, dtype=np.int64)
        slot = np.zeros(int(present.max()) + 1 if len(present) else 1, dtype=np.int64)
        slot[present] = np.arange(len(present))
        row_slot = slot[key]
        c_bits = present % n_bits
        c_seen = (present // n_bits) % 2 == 1
        c_flags = {r: ((c_bits >> i) & 1).astype(bool) for i, r in enumerate(REASONS)}
        if self.linear.state.get("anchored_on"):
            # An anchored component's off-platform widths all measure one unknown (how far the
            # anchor's ratio transfers): a row novel in several ways takes it once.
            c_half = _widest_halfwidths(self.widths, c_seen, c_flags)
        else:
            c_half = _regime_halfwidths(self.widths, self.regime_widths, (present // (2 * n_bits), regime_labels), c_seen, c_flags)
        half = c_half[row_slot]
        if self.simple is not None and self.simple.get("weights"):
            w_all = self._combination_weights(c_flags)[row_slot]
            if peer is not None and peer.any():
                # Not blended for its engine being unseen: that weight was chosen holding out
                # engines with no peer measured, whose roofline x constant is the mean over every
                # engine, research stacks included; a peer's full model is the better reading.
                w_all = np.where(peer, self._combination_weights(c_flags, skip="engine-unseen")[row_slot], w_all)
            if matched.any():
                rows = np.flatnonzero(matched)
                w_all[rows] = self._combination_weights({r: ((blend_bits[rows] >> i) & 1).astype(bool) for i, r in enumerate(REASONS)})
            if (w_all < 1.0).any():
                blend = np.flatnonzero(w_all < 1.0)
                w = w_all[blend]
                prior = floats(feats, self.linear.prior_column)[blend]
                quant = cats.level_index(column_of(feats, "quantization"))
                shift = self.simple["offset"] + cats.table_of(quant[1], self.simple.get("quant_pairs", {}))[quant[0][blend]]
                simple_point = prior * np.exp(shift)
                point[blend] = np.exp(w * np.log(point[blend]) + (1.0 - w) * np.log(simple_point))
        if self.cpu_model is not None:
            on_cpu = cats.isin(column_of(feats, "platform_class"), ("cpu",))
            if on_cpu.any():
                # The CPU model matches releases against its own rows, so it gets the
                # candidate's release as stated.
                rows = np.flatnonzero(on_cpu)
                p_cpu, h_cpu, b_cpu = self.cpu_model.predict(take_rows(original, rows))
                # The three arrays were made by this call (no one else holds them): set in place.
                point[rows], half[rows], bits[rows] = p_cpu, h_cpu, b_cpu
        if not keep:
            return point, half, bits, None, prior_used
        kept = ReleaseFree(log_ratio=kept_ratio, range_bits=range_bits, ratio_prefix=kept_prefix, prefix_columns=prefix_columns or 0)
        if kept_correction is not None:
            kept = replace(kept, correction=kept_correction, corrected=is_corrected)
        return point, half, bits, kept, prior_used


def _level_table(
    d: dict[str, Any], plabels: np.ndarray, elabels: np.ndarray, qlabels: np.ndarray, rlabels: np.ndarray, with_release: bool
) -> np.ndarray:
    """:func:`_reason_bits`' table: the reasons per (platform, engine, number format[, release])
    level, each axis with a last slot for a missing value."""
    bit = {r: np.uint16(1 << i) for i, r in enumerate(REASONS)}
    axes = ("platform", "engine", "numerics", "release") if with_release else ("platform", "engine", "numerics")

    def spread(mask: np.ndarray, *on: str) -> np.ndarray:
        """``mask`` (one dimension per axis in ``on``, in the table's axis order) as a table-shaped
        operand: length 1 along the other axes."""
        return mask.reshape([mask.shape[on.index(a)] if a in on else 1 for a in axes])

    p_unseen = np.append(~cats.among(plabels, d["platforms"]), True)
    e_seen = np.append(cats.among(elabels, d["engines"]), False)
    q_unseen = np.append(~cats.among(qlabels, d["quantizations"]), True)
    shape = (len(plabels) + 1, len(elabels) + 1, len(qlabels) + 1) + ((len(rlabels) + 1,) if with_release else ())
    table = np.zeros(shape, dtype=np.uint16)
    table |= spread(p_unseen * bit["platform-unseen"], "platform").astype(np.uint16)
    table |= spread(~e_seen * bit["engine-unseen"], "engine").astype(np.uint16)
    table |= spread(q_unseen * bit["quantization-unseen"], "numerics").astype(np.uint16)
    if "deployments" in d:
        # Platform and engine each measured, but not together.
        known = set(d["deployments"])
        dep = np.zeros((len(plabels) + 1, len(elabels) + 1), dtype=bool)
        for i, pl in enumerate(plabels):
            for j, el in enumerate(elabels):
                dep[i, j] = not p_unseen[i] and e_seen[j] and f"{pl}|{el}" not in known
        table |= spread(dep * bit["deployment-unseen"], "platform", "engine").astype(np.uint16)
    if "formats" in d:
        # Platform and number format each measured, but not together.
        known = set(d["formats"])
        fmt = np.zeros((len(plabels) + 1, len(qlabels) + 1), dtype=bool)
        for i, pl in enumerate(plabels):
            for k, ql in enumerate(qlabels):
                fmt[i, k] = not p_unseen[i] and not q_unseen[k] and f"{pl}|{ql}" not in known
        table |= spread(fmt * bit["format-unseen"], "platform", "numerics").astype(np.uint16)
    if with_release and "release_deployments" in d:
        # Platform and engine release each measured, but never together.
        known = set(d["release_deployments"])
        seen_r = set(d.get("releases", ()))
        rdep = np.zeros((len(plabels) + 1, len(rlabels) + 1), dtype=bool)
        for i, pl in enumerate(plabels):
            for k, rl in enumerate(rlabels):
                rdep[i, k] = not p_unseen[i] and str(rl) in seen_r and f"{pl}|{rl}" not in known
        table |= spread(rdep * bit["deployment-unseen"], "platform", "release").astype(np.uint16)
    if with_release and "releases" in d:
        # The engine was measured, but not at this release.
        r_unseen = np.append(~cats.among(rlabels, d["releases"]), True)
        table |= spread((e_seen[:, None] & r_unseen[None, :]) * bit["release-unseen"], "engine", "release").astype(np.uint16)
    return table


def _reason_bits(
    feats: Any, d: dict[str, Any], range_bits: np.ndarray | None = None, tables: dict[tuple[Any, ...], np.ndarray] | None = None
) -> np.ndarray:
    """Extrapolation reasons per row as bits (bit ``i``: :data:`REASONS` ``[i]``), two bytes a row.

    ``range_bits``: :func:`_range_bits` of these rows where the caller has it (else found here).
    ``tables``: where the caller keeps :func:`_level_table` per set of levels (read only).

    Every reason but the two ranges and the class is a property of the row's platform, engine,
    number format and (where the frame has it) engine release levels: decided once per
    combination of levels in one small table (a few dozen platforms x a few engines x a few
    dozen formats x a few releases), taken per row by the Categorical codes in one index (code
    -1, a missing value, takes each axis's last slot: unseen, and never a deployment). One
    4-D take costs half of the six 1-D and 2-D takes, one per reason, that it replaces.
    """
    pc, plabels = cats.parts(column_of(feats, "platform"))
    ec, elabels = cats.parts(column_of(feats, "engine"))
    # The number format as the data tells formats apart (bf16 and fp16 one: features.SAME_NUMERICS).
    qc, qlabels = cats.parts(column_of(feats, "numerics"))
    with_release = "engine_release" in getattr(feats, "columns", ()) and ("releases" in d or "release_deployments" in d)
    rc, rlabels = cats.parts(column_of(feats, "engine_release")) if with_release else (None, np.zeros(0, dtype=object))
    # The table depends on the levels present alone: kept per component for the level sets it met.
    key = (with_release, tuple(plabels), tuple(elabels), tuple(qlabels), tuple(rlabels))
    table = tables.get(key) if tables is not None else None
    if table is None:
        table = _level_table(d, plabels, elabels, qlabels, rlabels, with_release)
        if tables is not None:
            if len(tables) >= 256:  # a bound, not an eviction policy: a prediction meets a few sets
                tables.clear()
            tables[key] = table
    out = np.take(table.ravel(), _flat_index(table.shape, (pc, ec, qc, rc) if with_release else (pc, ec, qc)))
    out |= range_bits if range_bits is not None else _range_bits(feats, d)
    return out


def _flat_index(shape: tuple[int, ...], codes: tuple[np.ndarray, ...]) -> np.ndarray:
    """Position in a C-ordered table of ``shape`` of each row's per-axis Categorical codes (code
    -1, a missing value, takes the axis's last slot, as indexing the table with it would).

    One take by this position costs a third of one multi-axis index with the codes (~1.5 against
    ~4 ms on 600,000 rows and four axes), which numpy walks axis by axis per element.
    """
    flat = np.zeros(len(codes[0]), dtype=np.intp)
    for size, c in zip(shape, codes, strict=True):
        flat *= size
        flat += c
        missing = c < 0
        if missing.any():
            flat[missing] += size  # -1 counts from the axis's end: its last slot
    return flat


def _range_bits(feats: Any, d: dict[str, Any]) -> np.ndarray:
    """The reasons of :func:`_reason_bits` that no level table holds, as its bits: the model's
    size and the batch outside the measured ranges, and a platform class never measured. No
    engine release enters them (:class:`ReleaseFree` keeps them)."""
    bit = {r: np.uint16(1 << i) for i, r in enumerate(REASONS)}
    out = _outside(floats(feats, "params_active_b"), d["active_b"]).astype(np.uint16) * bit["size-outside"]
    out |= _batch_outside(np.exp(floats(feats, "log_batch")), column_of(feats, "engine"), d).astype(np.uint16) * bit["batch-outside"]
    if "classes" in d:
        cc, clabels = cats.parts(column_of(feats, "platform_class"))
        out |= (np.append(~cats.among(clabels, d["classes"]), True) * bit["class-unseen"]).astype(np.uint16)[cc]
    return out


def _deployment_pairs(feats: Any, other: str = "engine") -> tuple[np.ndarray, np.ndarray]:
    """Code per row and ``platform|engine`` (or ``platform|<other>``) label per code (labels
    built per distinct pair)."""
    pc, plabels = cats.parts(feats["platform"])
    ec, elabels = cats.parts(feats[other])
    key = pc.astype(np.int64) * (len(elabels) + 1) + ec
    inverse, uniq = pd.factorize(key)  # hash-based: O(n), no sort of a million keys
    labels = np.array([f"{plabels[k // (len(elabels) + 1)]}|{elabels[k % (len(elabels) + 1)]}" for k in uniq], dtype=object)
    return np.asarray(inverse), labels


def _deployment_key(feats: Any) -> np.ndarray:
    """``platform|engine`` per row."""
    inverse, labels = _deployment_pairs(feats)
    return labels[inverse]


def _format_key(feats: Any) -> np.ndarray:
    """``platform|numerics`` per row (bf16 and fp16 one format: features.SAME_NUMERICS)."""
    inverse, labels = _deployment_pairs(feats, "numerics")
    return labels[inverse]


def with_column(feats: Any, name: str, values: np.ndarray) -> Any:
    """A feature frame (DataFrame or FeatureColumns) with one column added or replaced.

    FeatureColumns share every other array (no copy of a million-row frame)."""
    if isinstance(feats, pd.DataFrame):
        return feats.assign(**{name: values})
    from recommender.model.features import FeatureColumns

    if isinstance(feats.data, TakenColumns):
        return FeatureColumns(feats.data.with_column(name, values), n_rows=len(feats))
    return FeatureColumns({**feats.data, name: values})


class TakenColumns(Mapping):
    """Some rows of every column of a mapping, each taken when first read.

    A stage that predicts a subset of the candidates (the CPU rows, twins, out-of-range
    releases) reads a few dozen of the ~45 feature columns; taking each only when read, and
    once, saves the rest of the copies.
    """

    def __init__(self, base: Mapping[str, Any], rows: np.ndarray, extra: Mapping[str, Any] | None = None) -> None:
        self.base = base
        self.rows = rows
        self.extra = dict(extra or {})
        self._taken: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name in self.extra:
            return self.extra[name]
        if name not in self._taken:
            v = self.base[name]
            # np.take: a third faster than indexing with the rows (0.35 against 0.5 ms for
            # 600,000 of a million floats), the same values.
            self._taken[name] = v.take(self.rows) if isinstance(v, pd.Categorical) else np.take(np.asarray(v), self.rows)
        return self._taken[name]

    def __iter__(self) -> Any:
        yield from self.base
        yield from (k for k in self.extra if k not in self.base)

    def __len__(self) -> int:
        return len(self.base) + sum(1 for k in self.extra if k not in self.base)

    def __contains__(self, name: object) -> bool:
        return name in self.extra or name in self.base

    def with_column(self, name: str, values: Any) -> TakenColumns:
        """These columns with ``name`` set to ``values`` (already of the taken rows)."""
        out = TakenColumns(self.base, self.rows, {**self.extra, name: values})
        out._taken = self._taken  # the same rows of the same base: share what was taken
        return out


def take_rows(feats: Any, rows: np.ndarray) -> Any:
    """Rows of a feature frame or of :class:`~recommender.model.features.FeatureColumns`
    (columns of the latter are taken when first read, see :class:`TakenColumns`)."""
    if isinstance(feats, pd.DataFrame):
        return feats.iloc[rows]
    from recommender.model.features import FeatureColumns

    rows = np.asarray(rows)
    return FeatureColumns(TakenColumns(feats.data, rows), n_rows=len(rows))


class RowsTaken:
    """Rows of a feature frame taken once per row set, for every component predicted on the
    same rows (:func:`recommender.model.pipeline.predict_parts`: the decode components read the
    generating rows, the prefill ones the others): each column is copied once for them all
    (:class:`TakenColumns`), not once per component."""

    def __init__(self, feats: Any) -> None:
        self.feats = feats
        self._sets: list[tuple[np.ndarray, Any]] = []

    def at(self, rows: np.ndarray) -> Any:
        """``take_rows(feats, rows)``, the same object for the same rows."""
        for known, taken in self._sets:
            if np.array_equal(known, rows):
                return taken
        taken = take_rows(self.feats, rows)
        self._sets.append((rows, taken))
        return taken


@dataclass(frozen=True)
class ComponentPrediction:
    """One component's prediction of some rows (:meth:`ComponentModel.predict_full`).

    Attributes:
        point: Point per row.
        half: Log half-width per row.
        bits: Extrapolation reasons per row (:data:`REASONS` bits).
        prior: The prior the ridge corrected per row (:meth:`ComponentModel.prior_values`; a
            CPU row's too, though the CPU model predicts it), for stage ``twins``, which scales a
            twin's prediction by the two priors' ratio.
        release_free: :class:`ReleaseFree` parts where kept, else None.
    """

    point: np.ndarray
    half: np.ndarray
    bits: np.ndarray
    prior: np.ndarray
    release_free: ReleaseFree | None = None


@dataclass(frozen=True)
class ReleaseFree:
    """What a component's prediction of some rows computes that no engine release enters, per
    row: kept by the prediction at the rows' own releases (:meth:`ComponentModel.predict_keeping`)
    for stage ``release_widening``, which predicts the same rows again at each other measured
    release of their engine (a third of a million rows per release on a million candidates).

    Attributes:
        log_ratio: The linear model's log ratio to the prior (None where it reads the release).
        correction: The smoother's log correction (0 where none; None: no smoother).
        corrected: Whether the smoother corrects the row (None: no smoother).
        range_bits: The reason bits of the model's size, the batch and the platform class
            (:func:`_range_bits`; None: not kept).
        ratio_prefix: Where the log ratio reads the release: the sum of its terms before the
            release enters (:meth:`LinearLogModel.log_ratio_prefix` with ``prefix_columns``
            categorical columns; None: not kept).
        prefix_columns: The categorical columns ``ratio_prefix`` holds.
    """

    log_ratio: np.ndarray | None = None
    correction: np.ndarray | None = None
    corrected: np.ndarray | None = None
    range_bits: np.ndarray | None = None
    ratio_prefix: np.ndarray | None = None
    prefix_columns: int = 0

    def take(self, positions: np.ndarray) -> ReleaseFree:
        """These parts at ``positions`` of the rows they were kept for."""

        def at(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[positions]

        return ReleaseFree(
            log_ratio=at(self.log_ratio), correction=at(self.correction), corrected=at(self.corrected), range_bits=at(self.range_bits),
            ratio_prefix=at(self.ratio_prefix), prefix_columns=self.prefix_columns,
        )


def at_running_batch(frame: pd.DataFrame, running: np.ndarray) -> pd.DataFrame:
    """``frame`` with each row's ``batch_size`` cut to ``running`` (the sequences its server runs
    at once, features ``batch_running``): a departure borrowed from another card is read where
    the candidate's KV cache lets it run, since slots past it only queue. ``frame`` itself where
    no row queues."""
    configured = frame["batch_size"].to_numpy(dtype=float)
    running = np.asarray(running, dtype=float)
    if not (running < configured).any():
        return frame
    return frame.assign(batch_size=np.minimum(configured, running))


def _regime_halfwidths(
    widths: dict[str, float],
    regime_widths: dict[str, dict[str, float]] | None,
    regime: tuple[np.ndarray, np.ndarray],
    seen_model: np.ndarray,
    flags: dict[str, np.ndarray],
) -> np.ndarray:
    """Half-widths with each row's regime widths where its regime has them (Mondrian conformal).

    ``regime``: per row, the position of its :data:`REGIME_COLUMN` level among the labels
    (``len(labels)`` for a missing level), and the labels
    (:func:`recommender.model.cats.level_index`). Widths are looked up per regime level (a
    handful) and taken per row by integer code.
    """
    if not regime_widths:
        return _halfwidths(widths, seen_model, flags)
    take, labels = regime
    table = [regime_widths.get(str(label), widths) for label in labels] + [widths]

    def per_row(scheme: str) -> np.ndarray:
        return np.array([float(w[scheme]) for w in table], dtype=float)[take]

    base2 = np.where(seen_model, per_row("cell") ** 2, per_row("model") ** 2)
    var = base2
    for r in REASONS:
        if flags[r].any():
            excess = np.maximum(0.0, per_row(_REASON_SCHEME[r]) ** 2 - base2)
            var = var + flags[r] * excess
    return np.sqrt(var)


def _halfwidths(w: dict[str, float], seen_model: np.ndarray, flags: dict[str, np.ndarray]) -> np.ndarray:
    """combine_halfwidths specialised: the base takes two values (model seen or not), so each
    reason's excess over the base is two numbers, not an array per reason."""
    var = np.where(seen_model, w["cell"] ** 2, w["model"] ** 2)
    for r in REASONS:
        if flags[r].any():
            wr2 = w[_REASON_SCHEME[r]] ** 2
            excess = np.where(seen_model, max(0.0, wr2 - w["cell"] ** 2), max(0.0, wr2 - w["model"] ** 2))
            var = var + flags[r] * excess
    return np.sqrt(var)


def _widest_halfwidths(w: dict[str, float], seen_model: np.ndarray, flags: dict[str, np.ndarray]) -> np.ndarray:
    """Per row, the widest of its base width and its reasons' widths (no excess is summed)."""
    half = np.where(seen_model, w["cell"], w["model"])
    for r in REASONS:
        if flags[r].any():
            half = np.where(flags[r], np.maximum(half, w[_REASON_SCHEME[r]]), half)
    return half


def reason_text(bits: np.ndarray, prefix: str = "") -> list[str]:
    """';'-joined reason names for each distinct bit pattern (vectorize via np.unique)."""
    out = []
    for b in np.asarray(bits, dtype=np.int64):
        out.append(";".join(prefix + r for i, r in enumerate(REASONS) if (int(b) >> i) & 1))
    return out


class _FastRidge:
    """numpy re-implementation of the component pipeline for the many calibration refits.

    Builds the full design once (numeric features and interaction columns standardized
    per fold on the training rows, one-hot columns raw, all centred by the intercept) and
    solves the ridge normal equations with the penalty the full fit chose. A level absent
    from a training fold has an all-zero column there and gets weight 0, exactly as
    ``OneHotEncoder(handle_unknown="ignore")`` would. Results match the sklearn pipeline with
    ``Ridge(alpha)`` to rounding, except that which interaction slopes exist (those whose
    feature varied within the level) is decided on all rows, not per fold.

    The smoother of each refit is :class:`~recommender.model.smoother.SubsetSmoother` (the
    same numbers as fitting a :class:`ResidualSmoother` on the training rows, without its
    JSON state). :meth:`with_bandwidth` gives the same refits at another kernel width, sharing
    the design and each (train, test) split's ridge solve, which does not depend on it; a
    split asked for twice at one width (the bandwidth search and the ``model`` scheme deal
    the same folds) is answered from memory.
    """

    def __init__(
        self,
        feats: pd.DataFrame,
        y: np.ndarray,
        prior: str,
        categorical: tuple[str, ...],
        alpha: float,
        smooth: bool = True,
        bandwidth: float = smoother_module.BANDWIDTH,
    ) -> None:
        blocks = [feats[list(NUMERIC_FEATURES)].to_numpy(dtype=float)]
        scaled = [np.ones(len(NUMERIC_FEATURES), dtype=bool)]
        for c in categorical:
            codes, uniq = pd.factorize(feats[c].astype(str))
            blocks.append((codes[:, None] == np.arange(len(uniq))[None, :]).astype(float))
            scaled.append(np.zeros(len(uniq), dtype=bool))
        for c, nums in INTERACTIONS:
            codes, uniq = pd.factorize(feats[c].astype(str))
            onehot = (codes[:, None] == np.arange(len(uniq))[None, :]).astype(float)
            values = feats[list(nums)].to_numpy(dtype=float)
            # Like InteractionExpander: no slope where x did not vary within the level (decided
            # on all rows, not per fold).
            values = values[:, None, :] * varied_within(codes, values, range(len(uniq)))[None, :, :]
            blocks.append((onehot[:, :, None] * values).reshape(len(feats), -1))
            scaled.append(np.ones(len(uniq) * len(nums), dtype=bool))
        self.feats = feats
        self.smooth = smooth
        self.bandwidth = bandwidth
        self.X = np.hstack(blocks)
        self.scaled = np.concatenate(scaled)
        self.prior = feats[prior].to_numpy(dtype=float)
        self.target = np.log(y) - np.log(self.prior)
        self.alpha = alpha
        subset = smoother_module.SubsetSmoother(feats) if smooth else None
        # Where two smoother groups share a label the state merges them: keep the state's path.
        self._subset = subset if subset is not None and subset.exact else None
        self._ridge: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self._memo: dict[tuple[float, bytes], np.ndarray] = {}

    def with_bandwidth(self, bandwidth: float) -> _FastRidge:
        """The same refits with the smoother at kernel width ``bandwidth`` (shared design and ridge solves)."""
        other = copy.copy(self)
        other.bandwidth = bandwidth
        return other

    def _solve(self, train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ridge log-ratio predictions of the test rows and residuals of the training rows."""
        key = train.tobytes() + b"|" + test.tobytes()
        got = self._ridge.get(key)
        if got is not None:
            return got
        Xtr, Xte = self.X[train].copy(), self.X[test].copy()
        mu = Xtr[:, self.scaled].mean(axis=0)
        sd = Xtr[:, self.scaled].std(axis=0)
        sd[sd == 0] = 1.0
        Xtr[:, self.scaled] = (Xtr[:, self.scaled] - mu) / sd
        Xte[:, self.scaled] = (Xte[:, self.scaled] - mu) / sd
        t = self.target[train]
        w, xm, tm = centered_ridge(Xtr, t, self.alpha)
        pred = np.clip((Xte - xm) @ w + tm, t.min(), t.max())
        resid = t - np.clip((Xtr - xm) @ w + tm, t.min(), t.max()) if self.smooth else np.zeros(0)
        self._ridge[key] = (pred, resid)
        return pred, resid

    def fit_predict(self, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        train, test = np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)
        memo = (self.bandwidth, train.tobytes() + b"|" + test.tobytes())
        got = self._memo.get(memo)
        if got is not None:
            return got.copy()
        pred, resid = self._solve(train, test)
        if self.smooth and self._subset is not None:
            pred = pred + self._subset.fit_correct(train, resid, test, bandwidth=self.bandwidth)
        elif self.smooth:
            sm = ResidualSmoother.fit(self.feats.iloc[train], resid, bandwidth=self.bandwidth)
            pred = pred + sm.correction(self.feats.iloc[test])
        out = self.prior[test] * np.exp(pred)
        self._memo[memo] = out
        return out.copy()


def fit_anchored_component(
    name: str,
    feats: pd.DataFrame,
    y: np.ndarray,
    prior: str,
    anchor_feats: pd.DataFrame,
    anchor_y: np.ndarray,
    anchor_prior: str,
    toward_bound: bool = False,
) -> ComponentModel:
    """A component with too little data of its own (prefill): anchored on a related regime.

    Used when the component has fewer than :data:`MIN_ROWS_REGRESSION` rows or fewer than
    :data:`MIN_PLATFORMS_REGRESSION` platforms. Its log(measured / prior) is

    - on a platform where the component was measured: the mean over that platform's rows;
    - elsewhere: the median over the *compute-bound* rows of the anchor component (decode
      rows whose roofline step is limited by throughput, not bandwidth: the regime prefill
      runs in), the roofline prior times one constant.

    Half-widths: on a platform where the component was measured (schemes ``cell`` and
    ``model``), the split-conformal 90% quantile of |log ratio - median| over those anchor rows
    (the spread of the ratio in the regime). Elsewhere that spread and the *transfer error*
    in quadrature: how far the own platforms' mean ratios sit from the anchor's (root mean
    square), i.e. how wrong borrowing the anchor's ratio was where it could be checked. With
    no own rows at all nothing was ever checked, not even which regime applies: every width
    is the 90% quantile of |log ratio - median| over *all* anchor rows, every regime (the
    ratio is taken to be like any measured row's). One width per
    prediction, so a row novel in several ways is not widened several times for one and the
    same unknown. Reasons still say what was not measured (``platform-unseen`` etc.
    relative to this component's own rows).

    ``toward_bound``: the anchor is known to be pessimistic for this component. Prefill runs
    large matrix products that come close to the roofline bound (log ratio 0; the profiler's
    CPU prefill sits at 1.1x its bound in energy), while compute-bound *decode* steps spend
    several times their bound (small per-step products, attention over the cache, launch
    overheads). Off the measured platforms the log ratio is then put halfway between the
    bound and the anchor's median, and half that gap joins the widths in quadrature (where
    own rows exist, their measured transfer error replaces it).
    """
    feats = feats.reset_index(drop=True)
    y = np.asarray(y, dtype=float)
    a_ratio = np.log(np.asarray(anchor_y, dtype=float)) - np.log(anchor_feats[anchor_prior].to_numpy(dtype=float))
    bound = anchor_feats["log_mem_over_compute"].to_numpy() < 0.0
    regime = a_ratio[bound] if bound.sum() >= 10 else a_ratio
    anchor_offset = float(np.median(regime)) if len(regime) else 0.0
    width = conformal_halfwidth(np.abs(regime - anchor_offset)) if len(regime) else float("nan")
    gap = 0.5 * max(anchor_offset, 0.0) if toward_bound else 0.0
    offset = anchor_offset - gap
    per_platform: dict[str, float] = {}
    if len(feats):
        own = pd.Series(np.log(y) - np.log(feats[prior].to_numpy(dtype=float)))
        per_platform = {str(k): float(v) - offset for k, v in own.groupby(feats["platform"].astype(str).to_numpy()).mean().items()}
    state = {
        "prior_column": prior,
        "intercept": offset,
        "numeric": {},
        "categorical": {"platform": per_platform} if per_platform else {},
        "alpha": 0.0,
        "anchored_on": anchor_prior,
    }
    active = feats["params_active_b"].to_numpy() if len(feats) else np.array([])
    batch = np.exp(feats["log_batch"].to_numpy()) if len(feats) else np.array([])
    domain = {
        "platforms": sorted(feats["platform"].astype(str).unique().tolist()) if len(feats) else [],
        "engines": sorted(feats["engine"].astype(str).unique().tolist()) if len(feats) else [],
        "quantizations": sorted(feats["numerics"].astype(str).unique().tolist()) if len(feats) else [],
        "models": sorted(feats["model_id"].astype(str).unique().tolist()) if len(feats) else [],
        "deployments": sorted(set(_deployment_key(feats).tolist())) if len(feats) else [],
        "formats": sorted(set(_format_key(feats).tolist())) if len(feats) else [],
        "classes": sorted(feats["platform_class"].astype(str).unique().tolist()) if len(feats) else [],
        **_release_domain(feats),
        "active_b": [float(active.min()), float(active.max())] if len(active) else [0.0, 0.0],
        "batch": [float(batch.min()), float(batch.max())] if len(batch) else [0.0, 0.0],
    }
    anywhere = conformal_halfwidth(np.abs(a_ratio - anchor_offset)) if len(a_ratio) else float("nan")
    unchecked = float(np.hypot(max(anywhere, width), gap))
    if per_platform:
        transfer = float(np.sqrt(np.mean(np.square(list(per_platform.values())))))
        unseen = float(np.hypot(width, transfer))
        if len(per_platform) < 2:
            # One platform's offset is one draw of the transfer error, not its spread: never
            # narrower than with no own rows (prefill on the one H200 measured came out at x1.6).
            unseen = max(unseen, unchecked)
        widths = {s: float(width) if s in ("cell", "model") else unseen for s in _SCHEMES}
    else:
        widths = {s: unchecked for s in _SCHEMES}
    return ComponentModel(name=name, linear=LinearLogModel(state), widths=widths, domain=domain, n_rows=len(feats))


def _choose_bandwidth(
    feats: pd.DataFrame, y: np.ndarray, prior: str, categorical: tuple[str, ...], alpha: float, fast: _FastRidge | None = None
) -> float:
    """Smoother kernel width with the smallest median held-out |log residual|, models held out.

    The smoother's job is to carry what the linear model missed over to *other* models on
    the same deployment, so its width is chosen by leave-models-out CV (grouped folds, at most
    :data:`MAX_FOLDS`) over :data:`recommender.model.smoother.BANDWIDTHS`; ties and too little
    data keep the default. ``fast``: the component's refits (smoothed, penalty ``alpha``), whose
    design and ridge solves the search then shares with the calibration.
    """
    if alpha <= 0 or feats["model_id"].nunique() < 3:
        return smoother_module.BANDWIDTH
    best, best_err = smoother_module.BANDWIDTH, np.inf
    base = fast if fast is not None else _FastRidge(feats, y, prior, categorical, alpha, smooth=True)
    for h in smoother_module.BANDWIDTHS:
        res = np.abs(grouped_oof_log_residuals(base.with_bandwidth(h).fit_predict, y, feats["model_id"], max_folds=MAX_FOLDS))
        err = float(np.nanmedian(res)) if np.isfinite(res).any() else np.inf
        if err < best_err - 1e-12:
            best, best_err = h, err
    return best


def _batch_by_engine(feats: pd.DataFrame, batch: np.ndarray) -> dict[str, list[float]]:
    """Measured batch range of each engine: batching is the engine's (a static HF batch of 1
    and a vLLM server at 8 sequences are different regimes), so a batch is only "inside" where
    the candidate's own engine ran batches around it."""
    if not len(batch):
        return {}
    frame = pd.DataFrame({"e": feats["engine"].astype(str).to_numpy(), "b": batch})
    rng = frame.groupby("e")["b"].agg(["min", "max"])
    return {str(e): [float(r["min"]), float(r["max"])] for e, r in rng.iterrows()}


def _batch_outside(batch: np.ndarray, engine: Any, domain: dict[str, Any]) -> np.ndarray:
    """Batch outside the range measured under the row's engine (the pooled range where the
    engine was not measured, or for models saved before per-engine ranges)."""
    per_engine = domain.get("batch_by_engine") or {}
    codes, labels = cats.parts(engine)
    # The tolerant bounds per engine level (a few), then taken per row (code -1: the default).
    lo = cats.table_of(labels, {e: r[0] for e, r in per_engine.items()}, default=float(domain["batch"][0])) * 0.99
    hi = cats.table_of(labels, {e: r[1] for e, r in per_engine.items()}, default=float(domain["batch"][1])) * 1.01
    return (batch < np.take(lo, codes)) | (batch > np.take(hi, codes))


def _outside(values: np.ndarray, bounds: list[float]) -> np.ndarray:
    lo, hi = float(bounds[0]), float(bounds[1])
    # 1% tolerance: catalog and table parameter counts are rounded differently.
    return (values < lo * 0.99) | (values > hi * 1.01)


def fit_component(
    name: str,
    feats: pd.DataFrame,
    y: np.ndarray,
    prior: str,
    categorical: tuple[str, ...] = CATEGORICAL_FEATURES,
    calibrate: bool = True,
    fallback_widths: dict[str, float] | None = None,
    smooth: bool = True,
    release_shift: np.ndarray | None = None,
    blend: bool = True,
    regimes: bool = True,
) -> ComponentModel:
    """Fit one component and calibrate its interval half-widths.

    Args:
        name: Component name.
        feats: Feature frame of the training rows.
        y: Positive targets (same rows).
        prior: Prior column the target is a ratio to.
        categorical: Categorical features used.
        calibrate: Run the held-out schemes (False: reuse ``fallback_widths``).
        fallback_widths: Widths used for schemes that cannot be run (one group only, or
            no rows at all). Without them, the largest width that could be calibrated.
        smooth: Add the local residual smoother (:mod:`recommender.model.smoother`).
        release_shift: Per row, ``log(prior with the row's release held out / prior)``, where
            the prior column itself depends on the release (a fitted roofline with a per-layer
            cost per release). The ``release`` scheme's held-out residuals are moved by it, so
            that its width measures a release the prior never saw either.
        blend: Blend toward roofline x constant where extrapolating (stage ``blend``).
        regimes: Calibrate per-engine widths next to the pooled ones (stage ``regime_widths``).

    Returns:
        The fitted component.
    """
    feats = feats.reset_index(drop=True)
    y = np.asarray(y, dtype=float)
    state = _fit_state(feats, y, prior, categorical)
    smoother = None
    bandwidth = smoother_module.BANDWIDTH
    # One set of calibration refits serves the bandwidth search and every held-out scheme.
    chosen_alpha = float(state["alpha"]) if state["alpha"] > 0 else None
    fast: _FastRidge | None = None
    if chosen_alpha is not None and state["numeric"] and (smooth or (calibrate and len(feats) >= 4)):
        fast = _FastRidge(feats, y, prior, categorical, chosen_alpha, smooth=smooth)
    if smooth and state["numeric"]:
        bandwidth = _choose_bandwidth(feats, y, prior, categorical, float(state["alpha"]), fast=fast)
        resid = np.log(y) - np.log(LinearLogModel(state).predict(feats))
        smoother = ResidualSmoother.fit(feats, resid, bandwidth=bandwidth)
    active = feats["params_active_b"].to_numpy()
    batch = np.exp(feats["log_batch"].to_numpy())
    domain = {
        "platforms": sorted(feats["platform"].astype(str).unique().tolist()),
        "engines": sorted(feats["engine"].astype(str).unique().tolist()),
        "quantizations": sorted(feats["numerics"].astype(str).unique().tolist()),
        "models": sorted(feats["model_id"].astype(str).unique().tolist()),
        "deployments": sorted(set(_deployment_key(feats).tolist())),
        "formats": sorted(set(_format_key(feats).tolist())),
        "classes": sorted(feats["platform_class"].astype(str).unique().tolist()),
        **_release_domain(feats),
        "active_b": [float(active.min()), float(active.max())] if len(active) else [0.0, 0.0],
        "batch": [float(batch.min()), float(batch.max())] if len(batch) else [0.0, 0.0],
        "batch_by_engine": _batch_by_engine(feats, batch),
    }
    widths: dict[str, float] = {}
    regime_raw: dict[str, dict[str, float]] = {}
    simple: dict[str, Any] | None = None
    if calibrate and len(feats) >= 4:
        fit_predict: Any

        if fast is not None:
            fit_predict = fast.with_bandwidth(bandwidth).fit_predict
        else:

            def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
                st = _fit_state(feats.iloc[train], y[train], prior, categorical)
                return LinearLogModel(st).predict(feats.iloc[test])

        scheme_groups = _SchemeGroups.of(feats)
        residuals = _scheme_residuals(fit_predict, feats, y, active, batch, release_shift, scheme_groups)
        if state["numeric"] and blend:
            ratio = np.log(y) - np.log(feats[prior].to_numpy(dtype=float))
            prior_values = feats[prior].to_numpy(dtype=float)

            quant = np.asarray(feats["quantization"].astype(str), dtype=object)
            pairs = QuantPairs(_pair_key(feats), quant)

            def fit_predict_simple(train: np.ndarray, test: np.ndarray) -> np.ndarray:
                corr = pairs.corrections(ratio, train)
                shift = np.median(ratio[train]) + cats.lookup(quant[test], corr)
                return prior_values[test] * np.exp(shift)

            simple_res = _scheme_residuals(fit_predict_simple, feats, y, active, batch, release_shift, scheme_groups)
            weights, residuals = _blend_weights(residuals, simple_res)
            simple = {"offset": float(np.median(ratio)), "quant_pairs": pairs.corrections(ratio), "weights": weights}
        widths, regime_raw = _summarize(residuals, feats)
    widths = _fill_widths(widths, fallback_widths, sees_releases="engine_release" in feats.columns)
    regime_widths = _fill_regime_widths(regime_raw, widths) if (regime_raw and regimes) else {}
    return ComponentModel(
        name=name,
        linear=LinearLogModel(state),
        widths=widths,
        domain=domain,
        n_rows=len(feats),
        smoother=smoother,
        simple=simple,
        regime_widths=regime_widths or None,
    )


REFERENCE_PRECISIONS: tuple[str, ...] = ("fp16", "bf16")
"""Quantizations a quantized row is paired with on the same deployment."""
MIN_QUANT_PAIRS = 2


def _pair_key(feats: Any) -> np.ndarray:
    """Everything but the quantization that fixes a measurement (object array): platform,
    devices, engine, model, batch and token profile."""
    parts = [np.asarray(feats[c].astype(str), dtype=object) for c in ("platform", "engine", "model_id")]
    parts += [np.round(np.asarray(feats[c], dtype=float), 6).astype(str).astype(object) for c in ("log_devices", "log_batch", "log_prompt", "log_output")]
    key = parts[0]
    for p in parts[1:]:
        key = key + "|" + p
    return key


class QuantPairs:
    """Per quantization, how far its measured cost sits from the roofline's, relative to a
    16-bit run of the same deployment: the median over pairs of
    ``log(y_q / y_ref) - log(prior_q / prior_ref)`` (``log_ratio`` is ``log(y / prior)``).

    The roofline counts bytes and FLOPs, not kernels. LLM.int8()'s outlier decomposition moves
    half of fp16's bytes yet costs 1.4-1.6x fp16's energy per token on an RTX 4090D at batch 1
    (the quantization reports), so the roofline-times-constant model that extrapolations blend
    with needs this factor, or an unseen GPU gets the quantization's saving backwards. Pairs
    compare runs that differ only in the quantization, so unlike a per-quantization mean the
    factor is not confounded with which platforms or engines ran it. Quantizations with fewer
    than :data:`MIN_QUANT_PAIRS` paired rows get none (0).

    The pairs of a training frame are found once; :meth:`corrections` takes them on any subset
    of rows (every cross-validation fold) with numpy only.

    Args:
        pair_key: Per row, everything but the quantization that fixes a measurement.
        quant: Per row, the quantization.
    """

    def __init__(self, pair_key: np.ndarray, quant: np.ndarray) -> None:
        quant = np.asarray(quant, dtype=object)
        is_ref = np.isin(quant, REFERENCE_PRECISIONS)
        codes, uniq = pd.factorize(pd.Series(pair_key, dtype=object))
        ref_rows = np.flatnonzero(is_ref)
        q_rows = np.flatnonzero(~is_ref)
        # Every (quantized row, 16-bit row of its key) pair, quantized rows ascending and each
        # one's references ascending: references sorted by key (stably, so by row within a
        # key), then each quantized row takes its key's block.
        by_key = ref_rows[np.argsort(codes[ref_rows], kind="stable")]
        count = np.bincount(codes[ref_rows], minlength=len(uniq)).astype(np.int64)
        start = np.cumsum(count) - count
        n_refs = count[codes[q_rows]]
        self.q_idx = np.repeat(q_rows, n_refs).astype(np.int64)
        within = np.arange(int(n_refs.sum()), dtype=np.int64) - np.repeat(np.cumsum(n_refs) - n_refs, n_refs)
        self.r_idx = by_key[np.repeat(start[codes[q_rows]], n_refs) + within].astype(np.int64)
        self.quant = quant
        self.n_rows = len(quant)

    def corrections(self, log_ratio: np.ndarray, rows: np.ndarray | None = None) -> dict[str, float]:
        """Per quantization, the median pair correction over pairs with both rows in ``rows``
        (default: all rows); quantizations with fewer than :data:`MIN_QUANT_PAIRS` quantized
        rows paired get none."""
        if not len(self.q_idx):
            return {}
        keep = np.ones(len(self.q_idx), dtype=bool)
        if rows is not None:
            inside = np.zeros(self.n_rows, dtype=bool)
            inside[rows] = True
            keep = inside[self.q_idx] & inside[self.r_idx]
        if not keep.any():
            return {}
        q_idx, r_idx = self.q_idx[keep], self.r_idx[keep]
        # Mean of each quantized row's 16-bit twins, then one delta per quantized row.
        sums = np.bincount(q_idx, weights=log_ratio[r_idx], minlength=self.n_rows)
        counts = np.bincount(q_idx, minlength=self.n_rows)
        paired = np.flatnonzero(counts)
        delta = log_ratio[paired] - sums[paired] / counts[paired]
        # Median per quantization (numpy per level: a pandas groupby per fold cost more than the fold).
        levels, inverse = np.unique(self.quant[paired].astype(str), return_inverse=True)
        out: dict[str, float] = {}
        for i, q in enumerate(levels):
            values = delta[inverse == i]
            if len(values) >= MIN_QUANT_PAIRS:
                out[str(q)] = float(np.median(values))
        return out


BLEND_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Weights of the full model (vs the roofline times one constant) tried per kind of novelty."""

UNBLENDED_REASONS: frozenset[str] = frozenset({"format-unseen"})
"""Reasons that widen the interval but never blend the point toward roofline x constant.

``format-unseen`` has no held-out residuals of its own in a fit (it takes the ``quantization``
width). Checked on ``eai evaluate --split format`` (2026-12-06: each (GPU, format) pair held out
where the GPU ran others, 652 rows), before the reason -> with it: status interpolated 613 of
652 -> extrapolated 652; 90 % coverage of energy per query 89.0 -> 91.7 %, time 82.8 -> 87.4 %,
energy per output token 89.4 -> 89.7 %; points unchanged (20.6 / 20.3 / 22.9 % median error).
Calibrated on its own held-out pairs instead (up to 8 refits per component fit) it covered
92.9 / 87.9 / 91.5 % but took ``eai evaluate`` from about 58.5 to 61 s here (goal 60 s); blended
by the weights those pairs chose, time per query went 20.3 -> 22.2 % and energy per query 20.6
-> 20.9 % (per output token 22.9 -> 20.9 %)."""


def _blend_weights(
    full: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], simple: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> tuple[dict[str, float], dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Per extrapolation reason, the weight of the full model in a geometric blend with the
    roofline-times-constant model, and the blended held-out residuals.

    A rich model can extrapolate worse than physics times one constant, and the two err in
    different directions often enough that their geometric mean beats both (model averaging
    cuts variance). For each reason the weight in :data:`BLEND_WEIGHTS` with the smallest
    median held-out |log residual| of its scheme is kept (ties: the larger weight); the
    scheme's residuals become the blend's, so the conformal widths are those of the blend
    actually used. Rows novel in no way (schemes ``cell`` and ``model``) use the full model.
    """
    weights: dict[str, float] = {}
    blended = dict(full)
    for reason in REASONS:
        scheme = _REASON_SCHEME[reason]
        r_full, rows, groups = full[scheme]
        r_simple, rows_s, _ = simple[scheme]
        if reason in UNBLENDED_REASONS or not np.array_equal(rows, rows_s) or not np.isfinite(r_full).any():
            weights[reason] = 1.0
            continue
        best_w, best_err = 1.0, np.inf
        for w in sorted(BLEND_WEIGHTS, reverse=True):
            err = float(np.nanmedian(np.abs(w * r_full + (1.0 - w) * r_simple)))
            if err < best_err - 1e-12:
                best_w, best_err = w, err
        weights[reason] = best_w
        blended[scheme] = (best_w * r_full + (1.0 - best_w) * r_simple, rows, groups)
    return weights, blended


_SCHEMES = ("cell", "model", "platform", "engine", "quantization", "size", "batch", "deployment", "class", "release")


def _release_domain(feats: pd.DataFrame) -> dict[str, list[str]]:
    """``{"releases": [...], "release_deployments": ["platform|engine@x.y", ...]}`` where the
    frame carries ``engine_release``, else empty."""
    if "engine_release" not in feats.columns:
        return {}
    if not len(feats):
        return {"releases": [], "release_deployments": []}
    pairs = feats["platform"].astype(str) + "|" + feats["engine_release"].astype(str)
    return {
        "releases": sorted(feats["engine_release"].astype(str).unique().tolist()),
        "release_deployments": sorted(pairs.unique().tolist()),
    }


def _release_novel_only(feats: pd.DataFrame) -> np.ndarray:
    """Rows of an engine measured at several releases: held out by release, only they measure
    ``release-unseen`` (an engine's only release held out is ``engine-unseen``)."""
    eng = feats["engine"].astype(str).to_numpy()
    rel = feats["engine_release"].astype(str).to_numpy()
    per_engine = pd.DataFrame({"e": eng, "r": rel}).drop_duplicates().groupby("e")["r"].nunique()
    return pd.Series(eng).map(per_engine).to_numpy() > 1


@dataclass(frozen=True)
class _SchemeGroups:
    """What the held-out schemes of one training frame hold out, taken once per component (its
    smoothed and its roofline-times-constant residuals hold out the same groups).

    Attributes:
        labels: Per grouped scheme, each row's group as text.
        novel_only: Per scheme whose residuals count only on some rows, those rows
            (``deployment``: :func:`_pair_novel_only`; ``release``: :func:`_release_novel_only`).
    """

    labels: dict[str, np.ndarray]
    novel_only: dict[str, np.ndarray]

    @classmethod
    def of(cls, feats: pd.DataFrame) -> _SchemeGroups:
        cell = feats["platform"].astype(str) + "|" + feats["model_id"].astype(str) + "|" + feats["engine"].astype(str)
        groups = {
            "cell": cell,
            "model": feats["model_id"],
            "platform": feats["platform"],
            "engine": feats["engine"],
            "quantization": feats["numerics"],
            "deployment": pd.Series(_deployment_key(feats)),
            "class": feats["platform_class"],
        }
        novel = {"deployment": _pair_novel_only(feats)}
        if "engine_release" in feats.columns:
            groups["release"] = feats["engine_release"]
            novel["release"] = _release_novel_only(feats)
        return cls({k: np.asarray(v).astype(str) for k, v in groups.items()}, novel)


def _scheme_residuals(
    fit_predict: Any, feats: pd.DataFrame, y: np.ndarray, active: np.ndarray, batch: np.ndarray, release_shift: np.ndarray | None = None,
    groups: _SchemeGroups | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Signed held-out ``log(y / prediction)`` for every scheme, with the row positions they
    belong to (all rows for grouped schemes, NaN where a row could not be held out; the
    extreme rows for ``size`` and ``batch``) and the held-out group label of each.

    ``groups``: the frame's :class:`_SchemeGroups` where the caller holds them."""
    schemes = groups if groups is not None else _SchemeGroups.of(feats)
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    every = np.arange(len(y))
    for scheme, labels in schemes.labels.items():
        res = grouped_oof_log_residuals(fit_predict, y, labels, max_folds=MAX_FOLDS)
        if scheme in schemes.novel_only:
            res = np.where(schemes.novel_only[scheme], res, np.nan)
        if scheme == "release" and release_shift is not None:
            res = res - release_shift
        out[scheme] = (res, every, labels)
    for scheme, values, groups_, within in (("size", active, feats["model_id"], None), ("batch", batch, None, feats["engine"])):
        res, rows = _extreme_residuals(fit_predict, y, values, groups_, within)
        # Range extrapolation holds out rows, not groups: every row counts as its own group.
        labels = np.asarray(groups_).astype(str)[rows] if groups_ is not None else rows.astype(str)
        out[scheme] = (res, rows, labels)
    out.setdefault("release", (np.full(len(y), np.nan), every, np.full(len(y), "", dtype=object)))
    return out


def _summarize(
    residuals: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], feats: pd.DataFrame
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Conformal half-width of every scheme (NaN where it could not run) and the per-regime
    (Mondrian) half-widths: for each level of :data:`REGIME_COLUMN`, each scheme's width over
    that regime's held-out rows when it has at least :data:`MIN_REGIME_RESIDUALS` of them; with
    fewer than :data:`MIN_REGIME_GROUPS` distinct held-out groups behind them, never narrower
    than the pooled width."""
    regime = feats[REGIME_COLUMN].astype(str).to_numpy()
    widths: dict[str, float] = {}
    by_regime: dict[str, dict[str, float]] = {}
    for scheme, (res, rows, groups) in residuals.items():
        a = np.abs(res)
        widths[scheme] = conformal_halfwidth(a) if len(a) else float("nan")
        for level in np.unique(regime):
            keep = (regime[rows] == level) & np.isfinite(a)
            if keep.sum() < MIN_REGIME_RESIDUALS:
                continue
            own = conformal_halfwidth(a[keep])
            if len(np.unique(groups[keep])) < MIN_REGIME_GROUPS and np.isfinite(widths[scheme]):
                # Too few groups to trust a narrower width; a wider one is still a warning.
                own = max(own, widths[scheme])
            by_regime.setdefault(str(level), {})[scheme] = own
    return widths, by_regime


def _pair_novel_only(feats: pd.DataFrame) -> np.ndarray:
    """Rows whose (platform, engine) pair, held out, leaves both names measured elsewhere: only
    their residuals measure the ``deployment-unseen`` novelty (the others are platform- or
    engine-unseen, calibrated by those schemes)."""
    plat = feats["platform"].astype(str).to_numpy()
    eng = feats["engine"].astype(str).to_numpy()
    pairs = pd.DataFrame({"p": plat, "e": eng}).drop_duplicates()
    engines_per_platform = pairs.groupby("p")["e"].nunique()
    platforms_per_engine = pairs.groupby("e")["p"].nunique()
    return (pd.Series(plat).map(engines_per_platform).to_numpy() > 1) & (pd.Series(eng).map(platforms_per_engine).to_numpy() > 1)


def _fill_regime_widths(by_regime: dict[str, dict[str, float]], pooled: dict[str, float]) -> dict[str, dict[str, float]]:
    """Complete each regime's widths with the pooled ones (schemes it could not calibrate)."""
    return {level: _fill_widths({s: w.get(s, pooled[s]) for s in _SCHEMES}, pooled) for level, w in by_regime.items()}


def _fill_widths(
    widths: dict[str, float], fallback_widths: dict[str, float] | None, sees_releases: bool = True
) -> dict[str, float]:
    """Fill schemes that could not run; keep novel-in-more-ways widths >= the base ones."""
    out = dict(widths)
    fallback = dict(fallback_widths or {})
    # A release held out says how far releases differ, not how novel anything else is: it
    # never stands in for a scheme that could not be calibrated.
    calibrated = [v for k, v in out.items() if np.isfinite(v) and k != "release"]
    largest = max(calibrated) if calibrated else float("nan")
    for scheme in _SCHEMES:
        value = out.get(scheme, float("nan"))
        if scheme == "deployment" and not np.isfinite(value) and "deployment" not in fallback:
            # Never measured as such (no platform ran two engines): a known engine on a known
            # GPU is at most as novel as that engine on a new GPU.
            value = out["platform"]
        if scheme == "release" and not np.isfinite(value) and "release" not in fallback:
            # No engine was measured at two releases: the published range of one release's
            # gain, around the middle the per-layer cost was placed at, and never narrower
            # than an engine never measured. A component that pools releases never flags
            # release-unseen: it states its engine width there.
            engine = out.get("engine", float("nan"))
            value = max(engine, RELEASE_STEP_LOG) if sees_releases else engine
        if not np.isfinite(value):
            value = fallback.get(scheme, largest)
        out[scheme] = float(value)
    out["model"] = max(out["model"], out["cell"])
    for scheme in ("platform", "engine", "quantization", "size", "batch", "deployment", "class", "release"):
        out[scheme] = max(out[scheme], out["cell"])
    # A class of hardware never measured is at least as novel as one unseen platform.
    out["class"] = max(out["class"], out["platform"])
    return out


def _extreme_residuals(
    fit_predict: Any, y: np.ndarray, values: np.ndarray, groups: pd.Series | None, within: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Log residuals for range extrapolation: fit on the middle, predict the lowest and highest rows.

    The rows whose ``values`` are in the bottom or top :data:`EXTREME_SHARE` (whole groups
    when ``groups`` is given, e.g. all rows of the smallest models) are held out together.
    With ``within`` (a label per row) the share is taken inside each label's rows, for labels
    whose rows hold at least three distinct values: the batch scheme holds out each engine's
    own smallest and largest batches, the range ``batch-outside`` is judged against
    (:func:`_batch_outside`). Held out across engines instead, its extremes were the batch-1
    rows of engines measured at nothing else (an engine never measured, in effect) and the
    largest vLLM batches, and the blend weight it chose for a vLLM candidate below 8 sequences
    (0.25) put a step into every batch sweep there (Llama-3-8B on an H100, 1,024 + 1,024 tokens:
    energy per query x batch fell 16 % from batch 6 to 8).
    Returns ``(log residuals, held-out row positions)``; both empty when the scheme cannot run.
    """
    empty = (np.zeros(0), np.zeros(0, dtype=np.int64))
    if within is not None:
        labels = np.asarray(within).astype(str)
        extreme = np.zeros(len(values), dtype=bool)
        for label in np.unique(labels):
            mine = labels == label
            if len(np.unique(values[mine])) >= 3:
                lo_cut, hi_cut = np.quantile(values[mine], [EXTREME_SHARE, 1.0 - EXTREME_SHARE])
                extreme |= mine & ((values <= lo_cut) | (values >= hi_cut))
    elif len(np.unique(values)) < 3:
        return empty
    else:
        lo_cut, hi_cut = np.quantile(values, [EXTREME_SHARE, 1.0 - EXTREME_SHARE])
        extreme = (values <= lo_cut) | (values >= hi_cut)
    if groups is not None:
        g = pd.Series(np.asarray(groups)).astype(str)
        extreme = g.isin(set(g[extreme])).to_numpy()
    test = np.flatnonzero(extreme)
    train = np.flatnonzero(~extreme)
    if len(train) < 4 or len(test) == 0:
        return empty
    pred = fit_predict(train, test)
    return np.log(y[test]) - np.log(pred), test
