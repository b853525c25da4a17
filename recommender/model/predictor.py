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
their model sees the prompt length (``log_prompt``, ``log_context``) and the output length
as features, so a long-prompt task costs more per output token than a chat workload.
``e_pre``/``t_pre`` are per token position fed, learned from log-likelihood rows. The four are :class:`~recommender.model.component.ComponentModel`;
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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recommender.catalog.types import fed_tokens, forward_passes
from recommender.errors import InvalidInputError, UnknownNameError
from recommender.model.accuracy_model import AccuracyModel
from recommender.model.api import CANDIDATE_COLUMNS, PREDICTION_COLUMNS
from recommender.model import cats
from recommender.model.component import (
    MIN_PLATFORMS_REGRESSION,
    REASONS,
    MIN_ROWS_REGRESSION,
    ComponentModel,
    fit_anchored_component,
    with_column,
    fit_component,
    reason_text,
    release_order,
    take_rows,
)
from recommender.model.features import CATEGORICAL_FEATURES, Catalogs, FeatureBuilder
from recommender.model.roofline_fit import PRIOR_INPUTS, fitted_prior, release_neighbours

FORMAT_VERSION = 7
"""Version of the saved state layout (2: fitted-roofline decode priors, blended extrapolation;
3: time components per engine release; 4: smoother groups by layer design; 5: per-level
ranges of interaction slopes; 6: smoother robustness weights; 7: issue 17's accuracy model, a measured / imputed / prior
table with basis)."""

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


def engine_release(engine: Any, version: Any) -> np.ndarray:
    """``engine@major.minor`` where the release is known, else the engine name (object array)."""
    eng = np.array([str(e) for e in np.asarray(engine, dtype=object)], dtype=object)
    ver = pd.Series(np.asarray(version, dtype=object))
    known = ver.notna().to_numpy() & (ver.astype(str).str.len() > 0).to_numpy()
    majmin = ver.astype(str).str.extract(r"^([0-9]+(?:\.[0-9]+)?)", expand=False).to_numpy(dtype=object)
    ok = known & pd.notna(majmin)
    out = eng.copy()
    out[ok] = [f"{e}@{m}" for e, m in zip(eng[ok], majmin[ok], strict=True)]
    return out


def default_releases(engines: Any, releases: Any) -> dict[str, str]:
    """Level used for a candidate that names no release, per engine.

    The engine's unversioned level where some of its rows state no release (like is matched
    with like), else its newest measured release (a deployment today runs current software).
    """
    out: dict[str, str] = {}
    pairs = pd.DataFrame({"e": np.asarray(engines, dtype=object).astype(str), "r": np.asarray(releases, dtype=object)}).drop_duplicates()
    for e, grp in pairs.groupby("e"):
        levels = grp["r"].astype(str).tolist()
        out[str(e)] = str(e) if e in levels else max(levels, key=release_order)
    return out


PREFILL_SHARE_FOR_REASONS = 0.2
"""A component's extrapolation reasons count when it makes up this share of the energy."""

KEY_COLUMNS: tuple[str, ...] = CANDIDATE_COLUMNS
"""Columns that identify a measured cell."""

J_PER_WH = 3600.0


def _task_index(tasks: Mapping[str, Any]) -> dict[str, str]:
    index: dict[str, str] = {}
    for tid, spec in tasks.items():
        for name in (tid, *spec.aliases):
            index[name.lower()] = tid
    return index


def canonical_task(names: pd.Series | pd.Categorical, tasks: Mapping[str, Any]) -> pd.Categorical:
    """Canonical task id for each name (aliases resolved; unknown names kept as given)."""
    index = _task_index(tasks)
    codes, uniq = cats.parts(names)
    mapped = [index.get(u.lower(), u) for u in uniq]
    return cats.from_table(codes, mapped) if len(uniq) else pd.Categorical([])


def task_profile(task_ids: pd.Series | pd.Categorical, tasks: Mapping[str, Any]) -> pd.DataFrame:
    """Token profile and scoring facts of each task id (NaN for names not in the catalog).

    Returns a frame with a fresh RangeIndex (one row per input row): ``prompt``, ``output``,
    ``choices``, ``continuation`` (tokens per answer), ``passes_fixed`` (stated passes),
    ``chance``, ``scored``, ``mc`` and ``known``.
    """
    nan = float("nan")
    rows = {
        tid: (s.prompt_tokens_mean, s.output_tokens_mean, s.choices_mean if s.output_type == "multiple_choice" else 1.0,
              nan if s.continuation_tokens_mean is None else s.continuation_tokens_mean,
              nan if s.forward_passes_mean is None else s.forward_passes_mean,
              s.chance, s.kind == "benchmark", s.output_type == "multiple_choice")
        for tid, s in tasks.items()
    }
    columns = ["prompt", "output", "choices", "continuation", "passes_fixed", "chance", "scored", "mc"]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    codes, uniq = cats.parts(task_ids)
    pos = table.index.get_indexer(pd.Index(uniq, dtype=object)) if len(uniq) else np.zeros(0, dtype=np.int64)
    known = np.append(pos >= 0, False)
    take = np.where(codes < 0, len(uniq), codes)
    out = {}
    for c in table.columns:
        values = table[c].to_numpy(dtype=float)
        per_uniq = np.append(np.where(pos >= 0, values[np.where(pos >= 0, pos, 0)], np.nan), np.nan)
        out[c] = per_uniq[take]
    return pd.DataFrame(out).assign(known=known[take])


def prepare_table(table: pd.DataFrame, catalogs: Catalogs) -> pd.DataFrame:
    """Measured rows as training records: canonical keys, token profile, per-token targets.

    Rows whose workload is not in the task catalog keep their own token counts (and are
    treated as generation). Missing prompt counts take the catalog's profile.
    """
    t = table.reset_index(drop=True).copy()
    t["task"] = np.asarray(canonical_task(t["workload"], catalogs.tasks), dtype=object)
    t["engine_release"] = engine_release(t["engine"], t["engine_version"] if "engine_version" in t else [None] * len(t))
    prof = task_profile(t["task"], catalogs.tasks)
    t["prompt_tokens"] = pd.to_numeric(t["prompt_tokens_mean"], errors="coerce").fillna(prof["prompt"])
    t["output_tokens"] = pd.to_numeric(t["output_tokens_mean"], errors="coerce").fillna(prof["output"])
    # A measured prompt count already covers every answer choice (the profiler tallies all
    # tokens read per document); the catalog's count is one context, read once per choice.
    measured_prompt = pd.to_numeric(t["prompt_tokens_mean"], errors="coerce").notna()
    t["choices"] = prof["choices"].fillna(1.0).where(~measured_prompt, 1.0)
    mc_task = prof["mc"].fillna(0.0).to_numpy(dtype=float) > 0
    t["passes"] = forward_passes(prof["choices"].fillna(1.0), prof["continuation"], prof["passes_fixed"], mc_task)
    # Token positions fed: measured where the row has them; else a measured prompt count
    # (already over all choices); else the catalog's profile.
    fed_measured = pd.to_numeric(t["fed_tokens_mean"], errors="coerce") if "fed_tokens_mean" in t else pd.Series(np.nan, index=t.index)
    fed_catalog = fed_tokens(prof["prompt"], prof["choices"].fillna(1.0), prof["continuation"], prof["passes_fixed"], mc_task)
    # Unknown prompt length: the median of the table's workloads keeps the (small) context
    # term of the prior at a typical value.
    t["prompt_tokens"] = t["prompt_tokens"].fillna(float(np.nanmedian(prof["prompt"])) if prof["prompt"].notna().any() else 256.0)
    mc = prof["mc"].fillna(0.0).astype(bool) | (t["output_tokens"].fillna(0.0) <= 0)
    e_q = pd.to_numeric(t["energy_j_per_query"], errors="coerce")
    e_tok = pd.to_numeric(t["energy_j_per_output_token"], errors="coerce")
    time_q = pd.to_numeric(t["time_s_per_query"], errors="coerce")
    out = t["output_tokens"]
    gen = ~mc & (out > 0)
    t["y_e_dec"] = np.where(gen, e_tok.fillna(e_q / out), np.nan)
    # Seconds per output token of one request. Where a source gives throughput but no time
    # per query (the quantization reports' batch-1 runs, whose output length is a cap, not a
    # count), the same figure is the batch over the throughput summed across it: each
    # sequence of the batch gets one token per step.
    tput = pd.to_numeric(t["throughput_tokens_per_s"], errors="coerce")
    running = pd.to_numeric(t["avg_batch_size"], errors="coerce").fillna(pd.to_numeric(t["batch_size"], errors="coerce"))
    from_tput = (running / tput).where(tput > 0)
    t["y_t_dec"] = np.where(gen, (time_q / out).fillna(from_tput), np.nan)
    fed = fed_measured.to_numpy(dtype=float)
    fed = np.where(np.isfinite(fed), fed, np.where(measured_prompt, t["prompt_tokens"].to_numpy(dtype=float), fed_catalog))
    t["fed_tokens"] = np.where(np.isfinite(fed), fed, (t["prompt_tokens"] * t["choices"]).to_numpy(dtype=float))
    t["pass_tokens"] = t["fed_tokens"] / t["passes"]
    in_tokens = t["fed_tokens"]
    t["y_e_pre"] = np.where(mc & (in_tokens > 0), e_q / in_tokens, np.nan)
    t["y_t_pre"] = np.where(mc & (in_tokens > 0), time_q / in_tokens, np.nan)
    # Energy per query where only per-token energy was given (so every row has one).
    t["energy_q"] = e_q.fillna(e_tok * out)
    t["time_q"] = time_q
    return t


def _factor_codes(frame: pd.DataFrame, columns: tuple[str, ...], reference: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
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
    occupancy_slack: float = 1.0
    """How far measured generation rows exceed ``E * batch <= P_max * T`` (see
    :func:`occupancy_slack`); the batch-aware power bound of :meth:`predict` allows this much."""

    def __post_init__(self) -> None:
        self._features = FeatureBuilder(self.catalogs, self.extra_models)
        self._twins: dict[str, dict[str, list[str]]] = {}

    # -- prediction -------------------------------------------------------------------
    def _candidate_frame(self, candidates: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in CANDIDATE_COLUMNS if c not in candidates.columns]
        if missing:
            raise InvalidInputError(f"candidate frame lacks columns {missing}; it needs {list(CANDIDATE_COLUMNS)}")
        c = candidates
        tasks = canonical_task(c["task"], self.catalogs.tasks)
        prof = task_profile(tasks, self.catalogs.tasks)
        override = {
            "prompt": "prompt_tokens_mean",
            "output": "output_tokens_mean",
            "choices": "choices_mean",
            "passes_fixed": "forward_passes_mean",
        }
        for key, col in override.items():
            if col in c.columns:
                given = pd.to_numeric(c[col], errors="coerce").to_numpy(dtype=float)
                prof[key] = np.where(np.isfinite(given), given, prof[key].to_numpy())
        mc_task = prof["mc"].fillna(0.0).to_numpy(dtype=float) > 0
        choices = prof["choices"].fillna(1.0)
        passes = forward_passes(choices, prof["continuation"], prof["passes_fixed"], mc_task)
        fed = fed_tokens(prof["prompt"].fillna(0.0), choices, prof["continuation"], prof["passes_fixed"], mc_task)
        if "fed_tokens_mean" in c.columns:
            given = pd.to_numeric(c["fed_tokens_mean"], errors="coerce").to_numpy(dtype=float)
            fed = np.where(np.isfinite(given), given, fed)
        unknown = ~prof["known"].to_numpy() & prof["output"].isna().to_numpy()
        if unknown.any():
            first = str(np.asarray(tasks)[np.flatnonzero(unknown)[0]])
            raise UnknownNameError("task", first, list(self.catalogs.tasks), hint="pass a task id or give its token profile")
        release, release_assumed, release_bracketed = self._release_column(c)
        dev = pd.to_numeric(c["device_count"], errors="coerce")
        bs = pd.to_numeric(c["batch_size"], errors="coerce")
        if dev.isna().any() or (dev < 1).any() or bs.isna().any() or (bs < 1).any():
            raise InvalidInputError("device_count and batch_size must be integers >= 1 in every candidate row")
        frame = pd.DataFrame(
            {
                "platform": cats.as_categorical(c["platform"]),
                "device_count": dev.to_numpy(dtype=float),
                "engine": cats.as_categorical(c["engine"]),
                "engine_release": release,
                "release_assumed": release_assumed,
                "release_bracketed": release_bracketed,
                "model_id": cats.as_categorical(c["model_id"]),
                "quantization": cats.as_categorical(c["quantization"]),
                "batch_size": bs.to_numpy(dtype=float),
                "task": tasks,
                "prompt_tokens": prof["prompt"].fillna(0.0).to_numpy(dtype=float),
                "output_tokens": prof["output"].fillna(0.0).to_numpy(dtype=float),
                "choices": choices.to_numpy(dtype=float),
                "passes": passes,
                "fed_tokens": fed,
                "pass_tokens": fed / passes,
                "chance": prof["chance"].fillna(0.0).to_numpy(dtype=float),
                "scored": prof["scored"].fillna(0.0).to_numpy(dtype=float) > 0,
                "mc": prof["mc"].fillna(0.0).to_numpy(dtype=float) > 0,
            },
            copy=False,
        )
        frame.index = candidates.index
        return frame

    def _release_column(self, c: pd.DataFrame) -> tuple[pd.Categorical, np.ndarray, np.ndarray]:
        """Engine release level per candidate, whether it was assumed, and whether it stands in
        for a named release that lies between measured ones.

        The level is the candidate's ``engine_version`` where given, else the engine's default
        (:attr:`releases`); *assumed* marks rows whose engine was measured only at stated
        releases and that name none (the newest was picked for them). A named release never
        measured but lying between two measured releases of its engine (vLLM 0.10 between 0.5
        and 0.11) is *bracketed*: predicted at the nearer measured release, its interval holding
        what every measured release predicts, like an assumed one, and flagged
        ``release-unseen``. Decided per distinct (engine, version) pair.
        """
        engine = cats.as_categorical(c["engine"])
        if "engine_version" not in c.columns or c["engine_version"].isna().all():
            labels = [self.releases.get(str(e), str(e)) for e in engine.categories]
            if not labels:
                return pd.Categorical([]), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
            assumed = np.array(["@" in label for label in labels], dtype=bool)[np.asarray(engine.codes)]
            return cats.from_table(np.asarray(engine.codes), labels), assumed, np.zeros(len(assumed), dtype=bool)
        version = cats.as_categorical(c["engine_version"].astype(object).where(c["engine_version"].notna(), ""))
        pair_codes, pairs = pd.MultiIndex.from_arrays([engine.codes, version.codes]).factorize()
        eng = np.asarray(engine.categories, dtype=object)[[p[0] for p in pairs]]
        ver = np.asarray(version.categories, dtype=object)[[p[1] for p in pairs]]
        named = ver != ""
        default = np.array([self.releases.get(str(e), str(e)) for e in eng], dtype=object)
        labels = np.where(named, engine_release(eng, np.where(named, ver, None)), default)
        bracketed = np.zeros(len(labels), dtype=bool)
        measured = self._measured_releases()
        for i, label in enumerate(labels):
            if named[i] and "@" in str(label) and str(label) not in measured:
                nearest = _bracketing_release(str(label), measured)
                if nearest is not None:
                    labels[i], bracketed[i] = nearest, True
        assumed = (~named & np.array(["@" in d for d in default], dtype=bool)) | bracketed
        codes = np.asarray(pair_codes)
        return cats.from_table(codes, labels.tolist()), assumed[codes], bracketed[codes]

    def _keep_release_order(self, parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], cf: pd.DataFrame, feats: Any) -> None:
        """Hold (in place) the points of a named release newer than every measured release of its
        engine no higher than at the newest measured one, and of an older one no lower than at
        the oldest.

        The fitted roofline already places such a release's per-layer cost on the right side
        (:func:`recommender.model.roofline_fit.unseen_release_log_c`), but the ridge gives a
        release it never saw no offset of its own, the average of the measured ones, which can
        undo that placement where the newest release ran faster than the average. Engines are
        not expected to get slower with a newer release; the interval (``release-unseen``)
        keeps its width. Only rows of such releases are predicted again, at their anchor.
        """
        codes, levels = cats.parts(cf["engine_release"])
        measured = self._measured_releases()
        anchors: dict[int, tuple[str, bool]] = {}
        for i, level in enumerate(str(x) for x in levels):
            if level in measured:
                continue
            lo, hi = release_neighbours(level, measured)
            if (lo is None) != (hi is None):
                anchors[i] = (lo, True) if lo is not None else (str(hi), False)
        for i, (anchor, newer) in anchors.items():
            rows = np.flatnonzero(codes == i)
            if not len(rows):
                continue
            sub_cf = cf.iloc[rows].assign(engine_release=pd.Categorical([anchor] * len(rows)))
            sub_feats = take_rows(feats, rows)
            for name, comp in self.components.items():
                comp_feats = self._component_feats(name, sub_feats, sub_cf)
                if name not in parts or comp_feats is sub_feats:
                    continue
                at_anchor = comp.predict(comp_feats)[0]
                point, half, bits = parts[name]
                point = point.copy()
                point[rows] = np.minimum(point[rows], at_anchor) if newer else np.maximum(point[rows], at_anchor)
                parts[name] = (point, half, bits)

    def _measured_releases(self) -> set[str]:
        """Engine releases the release-aware components were fitted on (``vllm@0.11``...)."""
        return set().union(*(self.components[n].fitted_releases() for n in RELEASE_COMPONENTS if n in self.components))

    def _widen_assumed_release(self, parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], cf: pd.DataFrame, feats: Any) -> None:
        """Widen (in place) the intervals of candidates whose release was assumed so that they
        also hold what the engine's other measured releases predict.

        The point stays at the newest release; per row, the largest |log| gap between it and
        each measured release of the row's engine (their fitted-roofline per-layer costs and
        their ridge offsets) joins the half-width in quadrature. That gap is large where the
        per-step overhead dominates (small batches) and small where bandwidth does.
        """
        assumed = cf["release_assumed"].to_numpy()
        if not assumed.any():
            return
        rows = np.flatnonzero(assumed)
        # Only what the prior and the release offset read, for the assumed rows.
        sub = {c: _take(feats[c], rows) for c in PRIOR_INPUTS}
        sub_release = _take(cf["engine_release"].array, rows)
        for name, comp in self.components.items():
            if name not in parts or (comp.roofline is None and name not in RELEASE_COMPONENTS):
                continue
            offsets = comp.linear.categorical.get("engine_release", {})
            levels = {lv for lv in comp.fitted_releases() if "@" in lv}
            if not levels:
                continue
            base = self._release_log_point(comp, pd.DataFrame(sub | {"engine_release": sub_release}), offsets)
            gap = np.zeros(len(rows))
            for level in sorted(levels):
                own = cats.isin(sub["engine"], (level.split("@", 1)[0],))
                if not own.any():
                    continue
                constant = pd.Categorical.from_codes(np.zeros(len(rows), dtype=np.int8), categories=[level])
                alt = self._release_log_point(comp, pd.DataFrame(sub | {"engine_release": constant}), offsets)
                gap = np.where(own, np.maximum(gap, np.abs(alt - base)), gap)
            point, half, bits = parts[name]
            half = half.copy()
            half[rows] = np.sqrt(half[rows] ** 2 + gap**2)
            if name in RELEASE_COMPONENTS:
                bits = np.where(cf["release_bracketed"].to_numpy(), bits | RELEASE_UNSEEN_BIT, bits)
            parts[name] = (point, half, bits)

    @staticmethod
    def _release_log_point(comp: ComponentModel, feats: Any, offsets: Mapping[str, float]) -> np.ndarray:
        """The parts of a component's log prediction that depend on the release: the prior's
        log and the ridge's release offset."""
        prior = np.log(fitted_prior(comp.roofline, feats)) if comp.roofline is not None else 0.0
        return prior + cats.lookup(feats["engine_release"], offsets)

    def _borrow_from_twins(
        self, parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], cf: pd.DataFrame, feats: Any
    ) -> np.ndarray:
        """Point predictions (in place) of unseen platforms that have a measured twin (see
        :func:`twin_platforms`) measured under the candidate's engine, where the configuration
        runs on the twin as it is: the twin's prediction times the ratio of the two platforms'
        fitted roofline priors, i.e. the twin's measured log ratio to physics carried over.

        Half-widths and reasons stay those of an unseen platform: no pair of twins was ever
        held out against each other in the shipped data, so nothing says how much narrower
        borrowing makes the interval.

        Returns:
            Per row, the twin whose decode energy was borrowed ("" where none).
        """
        p_idx, labels = cats.level_index(cf["platform"])
        e_idx, elabels = cats.level_index(cf["engine"])
        borrowed = np.full(len(cf), "", dtype=object)
        # Components whose twin lookups agree share the frames: build them once.
        built: dict[tuple[tuple[str, ...], ...], tuple[np.ndarray, pd.DataFrame, Any, pd.DataFrame, Any]] = {}
        for name, comp in self.components.items():
            if name not in parts or comp.n_rows == 0:
                continue
            if name not in self._twins:
                self._twins[name] = twin_platforms(self._features.platforms, comp.domain.get("platforms", ()))
            twins = self._twins[name]
            # The nearest twin measured under the candidate's engine: an A800 measured under HF
            # transformers says nothing about vLLM on an A100 80GB; the A100 40GB does.
            deployments = set(comp.domain.get("deployments", ()))
            table = np.full((len(labels) + 1, len(elabels) + 1), "", dtype=object)
            for i, lab in enumerate(labels):
                for j, eng in enumerate(elabels):
                    table[i, j] = next((t for t in twins.get(str(lab), ()) if f"{t}|{eng}" in deployments), "")
            key = tuple(tuple(str(x) for x in r) for r in table)
            if key not in built:
                per_row = table[p_idx, e_idx]
                rows = np.flatnonzero(per_row != "")
                own_cf = cf.iloc[rows]
                twin_cf = own_cf.assign(platform=per_row[rows])
                own_f = take_rows(feats, rows) if len(rows) else None
                twin_f = self._features.columns(twin_cf) if len(rows) else None
                if len(rows):
                    # Only configurations the twin could run as they are: the weights fit in its
                    # memory and it holds as many requests in flight (a 27 B model in bf16 on a
                    # 40 GB twin of an 80 GB card would borrow from a deployment that cannot exist).
                    same = np.flatnonzero(
                        (np.asarray(twin_f["log_weights_over_memory"], dtype=float) < 0.0)
                        & np.isclose(np.asarray(twin_f["batch_running"], dtype=float), np.asarray(own_f["batch_running"], dtype=float), rtol=0.01)
                    )
                    rows, own_cf, twin_cf = rows[same], own_cf.iloc[same], twin_cf.iloc[same]
                    own_f, twin_f = take_rows(own_f, same), take_rows(twin_f, same)
                built[key] = (rows, own_cf, own_f, twin_cf, twin_f)
                if name == "e_dec":
                    borrowed[rows] = per_row[rows]
            rows, own_cf, own_f, twin_cf, twin_f = built[key]
            if not len(rows):
                continue
            twin_feats = self._component_feats(name, twin_f, twin_cf)
            ratio = comp.prior_values(self._component_feats(name, own_f, own_cf)) / comp.prior_values(twin_feats)
            point = parts[name][0].copy()
            point[rows] = comp.predict(twin_feats)[0] * ratio
            parts[name] = (point, parts[name][1], parts[name][2])
        return borrowed

    def _component_feats(self, name: str, feats: Any, cf: pd.DataFrame) -> Any:
        """``feats`` plus the engine release column where the component uses it."""
        comp = self.components.get(name)
        if self.releases and (name in RELEASE_COMPONENTS or (comp is not None and comp.roofline is not None)):
            return with_column(feats, "engine_release", cf["engine_release"].array)
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
        feats = self._features.columns(cf)
        out_tok = cf["output_tokens"].to_numpy()
        in_tok = cf["fed_tokens"].to_numpy()
        parts = {name: comp.predict(self._component_feats(name, feats, cf)) for name, comp in self.components.items()}
        self._keep_release_order(parts, cf, feats)
        twin_of = self._borrow_from_twins(parts, cf, feats)
        # The points must not depend on how far an assumed release widened the intervals, so
        # the power bound splits its correction by the widths before that widening.
        unwidened = dict(parts)
        self._widen_assumed_release(parts, cf, feats)

        def compose(dec: str, pre: str, in_tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            pd_, wd, _ = parts[dec]
            pp, wp, _ = parts[pre]
            b = in_tokens * pp
            point, lo, hi = _sum_interval(out_tok * pd_, wd, b, wp)
            share_pre = np.divide(b, point, out=np.zeros_like(point), where=point > 0)
            return point, lo, hi, share_pre

        # A generation query costs output tokens x per-output-token figures, which (as every
        # source measures them) carry the query's own prefill, and whose model sees the prompt
        # length as a feature; prompt tokens x prefill figures are the cost of log-likelihood
        # queries, which generate nothing. Adding both would count a prompt twice.
        in_only = np.where(out_tok > 0, 0.0, in_tok)
        energy, e_lo, e_hi, share_pre = compose("e_dec", "e_pre", in_only)
        time_s, t_lo, t_hi, _ = compose("t_dec", "t_pre", in_only)

        def spread(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Log half-widths of energy and time at ``rows`` before release widening."""
            out: list[np.ndarray] = []
            for dec, pre in (("e_dec", "e_pre"), ("t_dec", "t_pre")):
                (pd_, wd, _), (pp, wp, _) = unwidened[dec], unwidened[pre]
                _, lo, hi = _sum_interval(out_tok[rows] * pd_[rows], wd[rows], in_only[rows] * pp[rows], wp[rows])
                out.append(0.5 * np.log(hi / lo))
            return out[0], out[1]
        # GPUs cap their mean power at the board limit; a CPU's TDP share is no such limit.
        # A generated query shares the devices with the batch's other requests for its whole
        # latency, so its energy is at most 1/batch of limit x latency (times the slack the
        # measured rows show); a log-likelihood query's time is already its share.
        is_cpu = cats.isin(feats["platform_class"], ("cpu",))
        batch = np.maximum(np.asarray(feats["batch_running"], dtype=float), 1.0)
        share = np.where(out_tok > 0, self.occupancy_slack / batch, 1.0)
        power_max = np.where(is_cpu, np.inf, feats["power_w"].to_numpy(dtype=float) * np.minimum(share, 1.0))
        energy, e_lo, e_hi, time_s, t_lo, t_hi = respect_power_limit(energy, e_lo, e_hi, time_s, t_lo, t_hi, power_max, spread)

        # Extrapolation reasons of the components that matter for this query, as bit patterns
        # (decode bits low, prefill bits high) turned into text once per distinct pattern.
        use_dec = share_pre < 1.0 - PREFILL_SHARE_FOR_REASONS
        use_pre = share_pre >= PREFILL_SHARE_FOR_REASONS
        # Time components add what only they see (an engine release never measured).
        dec_bits = parts["e_dec"][2] | parts["t_dec"][2]
        pre_bits = parts["e_pre"][2] | parts["t_pre"][2]
        bits = np.where(use_dec, dec_bits, 0) | (np.where(use_pre, pre_bits, 0) << len(REASONS))
        status_code = np.where(bits == 0, 1, 2)  # 0 measured, 1 interpolated, 2 extrapolated

        if use_measured and len(self.measured):
            fkey, rkey = _factor_codes(cf, KEY_COLUMNS, self.measured)
            order = np.argsort(rkey)
            pos = np.searchsorted(rkey[order], fkey)
            pos = np.clip(pos, 0, len(rkey) - 1)
            hit = (fkey >= 0) & (rkey[order][pos] == fkey)
            idx = order[pos[hit]]
            m = self.measured
            for arr, lo_arr, hi_arr, col in ((energy, e_lo, e_hi, "energy"), (time_s, t_lo, t_hi, "time")):
                mv = m[f"{col}_mean"].to_numpy()[idx]
                ok = np.isfinite(mv)
                sel = np.flatnonzero(hit)[ok]
                arr[sel] = mv[ok]
                lo_arr[sel] = m[f"{col}_lo"].to_numpy()[idx][ok]
                hi_arr[sel] = m[f"{col}_hi"].to_numpy()[idx][ok]
            status_code[hit] = 0
            bits[hit] = 0

        acc = self._predict_accuracy(cf, feats)
        a, a_lo, a_hi = (acc[c].to_numpy() for c in ("accuracy", "accuracy_lo", "accuracy_hi"))
        with np.errstate(divide="ignore", invalid="ignore"):
            eor = a * J_PER_WH / 10.0 / energy  # score*100 / (J * 1000 / 3600) = score*360/J
            tweor = eor / time_s
            down_a = np.log(a / a_lo)
            up_a = np.log(a_hi / a)
            down_e, up_e = np.log(energy / e_lo), np.log(e_hi / energy)
            down_t, up_t = np.log(time_s / t_lo), np.log(t_hi / time_s)
            eor_lo = eor * np.exp(-np.hypot(down_a, up_e))
            eor_hi = eor * np.exp(np.hypot(up_a, down_e))
            tweor_lo = tweor * np.exp(-np.hypot(down_a, up_e + up_t))
            tweor_hi = tweor * np.exp(np.hypot(up_a, down_e + down_t))
        eor_lo = np.where(a_lo <= 0, 0.0, eor_lo)
        tweor_lo = np.where(a_lo <= 0, 0.0, tweor_lo)

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
                "status": pd.Categorical.from_codes(status_code, categories=["measured", "interpolated", "extrapolated"]),
                "accuracy_status": acc["accuracy_status"].array,
                "accuracy_basis": acc["accuracy_basis"].array,
                "extrapolated_reasons": _with_twins(_reasons_categorical(bits), twin_of, (status_code == 2) & use_dec),
            },
            index=candidates.index,
            copy=False,  # the arrays are this call's own: no 2-D block copy of a million rows
        )
        return result[list(PREDICTION_COLUMNS)]

    def predict_components(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """Per-token predictions (J/token, s/token) with half-widths, for diagnostics/evaluation."""
        cf = self._candidate_frame(candidates)
        feats = self._features.columns(cf)
        cols: dict[str, Any] = {}
        parts = {name: comp.predict(self._component_feats(name, feats, cf)) for name, comp in self.components.items()}
        self._keep_release_order(parts, cf, feats)
        self._borrow_from_twins(parts, cf, feats)
        self._widen_assumed_release(parts, cf, feats)
        for name in self.components:
            p, w, r = parts[name]
            cols[name] = p
            cols[f"{name}_halfwidth"] = w
            uniq, inverse = np.unique(r, return_inverse=True)
            cols[f"{name}_reasons"] = cats.from_table(inverse.ravel(), reason_text(uniq))
        for prior in ("prior_e_dec", "prior_t_dec", "prior_e_pre", "prior_t_pre"):
            cols[prior] = feats[prior].to_numpy()
        return pd.DataFrame(cols, index=candidates.index)

    def _predict_accuracy(self, cf: pd.DataFrame, feats: pd.DataFrame) -> pd.DataFrame:
        # Accuracy depends on (model, task, quantization) only: compute once per distinct triple.
        key = np.zeros(len(cf), dtype=np.int64)
        for col in ("model_id", "task", "quantization"):
            codes, uniq = cats.parts(cf[col])
            key = key * (len(uniq) + 1) + (codes + 1)
        inverse, uniq_keys = pd.factorize(key)  # hash-based: O(n), no sort
        first = np.zeros(len(uniq_keys), dtype=np.int64)
        first[inverse[::-1]] = np.arange(len(key) - 1, -1, -1)
        sub = cf.iloc[first]
        total = np.exp(feats["log_params_total"].to_numpy()[first])
        res = self.accuracy.predict(
            pd.Series(np.asarray(sub["model_id"], dtype=object)),
            pd.Series(np.asarray(sub["task"], dtype=object)),
            pd.Series(np.asarray(sub["quantization"], dtype=object)),
            total,
            sub["chance"].to_numpy(),
            sub["scored"].to_numpy(),
        )
        inverse = inverse.ravel()
        status_codes, status_cats = cats.parts(res["accuracy_status"].to_numpy())
        basis_codes, basis_cats = cats.parts(res["accuracy_basis"].to_numpy())
        return pd.DataFrame(
            {
                "accuracy": res["accuracy"].to_numpy()[inverse],
                "accuracy_lo": res["accuracy_lo"].to_numpy()[inverse],
                "accuracy_hi": res["accuracy_hi"].to_numpy()[inverse],
                "accuracy_status": pd.Categorical.from_codes(
                    status_codes[inverse], categories=pd.Index(status_cats, dtype=object)
                ),
                "accuracy_basis": pd.Categorical.from_codes(basis_codes[inverse], categories=pd.Index(basis_cats, dtype=object)),
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
            "occupancy_slack": self.occupancy_slack,
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
            occupancy_slack=float(state.get("occupancy_slack", 1.0)),
        )


RELEASE_UNSEEN_BIT = np.int64(1) << REASONS.index("release-unseen")
"""Reason bit of ``release-unseen`` (see :func:`recommender.model.component.reason_text`)."""


def _bracketing_release(level: str, measured: set[str]) -> str | None:
    """The measured release of ``level``'s engine nearest to it, where measured releases lie on
    both sides of it (None where it is older or newer than every measured one: extrapolation).

    Nearness is by ``(major, minor)`` distance, ties going to the newer release.
    """
    lo, hi = release_neighbours(level, measured)
    if lo is None or hi is None:
        return None
    key = release_order(level)

    def distance(m: str) -> tuple[int, ...]:
        return tuple(abs(a - b) for a, b in zip(release_order(m), key, strict=False))

    return hi if distance(hi) <= distance(lo) else lo


def respect_power_limit(
    energy_j: np.ndarray,
    energy_lo_j: np.ndarray,
    energy_hi_j: np.ndarray,
    time_s: np.ndarray,
    time_lo_s: np.ndarray,
    time_hi_s: np.ndarray,
    power_max_w: np.ndarray,
    spread: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Make energy and time per query agree with the board power limit: ``E <= P_max * T``.

    Energy and time per query come from separate models, so for a configuration far from the
    measured ones they can imply a mean power no GPU can draw (a vLLM 8B model at batch 1 on an
    L4 at 106 W, against a 72 W limit). A query keeps at least one request in flight for its
    whole latency, so its share of the energy is at most the power limit times its latency;
    every row of the shipped table obeys it (at most 0.99 of TDP x devices, at batch 1).

    Where the points break the bound, both move in log space onto it, each by a share of the
    excess proportional to its interval's log half-width squared (the least-squares correction
    of two independent log-normal errors under the constraint); their intervals move with them.
    Everywhere, the bound also trims the interval ends it rules out: energy above
    ``P_max * time_hi`` and time below ``energy_lo / P_max``.

    Args:
        energy_j, energy_lo_j, energy_hi_j: Energy per query and its 90% interval, J.
        time_s, time_lo_s, time_hi_s: Time per query and its 90% interval, s.
        power_max_w: Power limit of all devices together, W (``inf`` where none applies).
        spread: Given the rows that break the bound, the log uncertainties of their energy
            and time that split the correction (default: each interval's log half-width).

    Returns:
        The six arrays, corrected (new arrays; the inputs are not modified).
    """
    e, e_lo, e_hi = energy_j.copy(), energy_lo_j.copy(), energy_hi_j.copy()
    t, t_lo, t_hi = time_s.copy(), time_lo_s.copy(), time_hi_s.copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # Logs only where the bound is broken (a few rows of a million-row request).
        rows = np.flatnonzero(energy_j > power_max_w * time_s)
        if len(rows):
            excess = np.log(energy_j[rows] / (power_max_w[rows] * time_s[rows]))
            if spread is None:
                var_e = np.square(0.5 * np.log(energy_hi_j[rows] / energy_lo_j[rows]))
                var_t = np.square(0.5 * np.log(time_hi_s[rows] / time_lo_s[rows]))
            else:
                s_e, s_t = spread(rows)
                var_e, var_t = np.square(s_e), np.square(s_t)
            total = var_e + var_t
            share_e = np.where(total > 0, var_e / np.where(total > 0, total, 1.0), 0.5)
            move = np.where(np.isfinite(excess), excess, 0.0)
            down_e = np.exp(-share_e * move)
            up_t = np.exp((1.0 - share_e) * move)
            e[rows], e_lo[rows], e_hi[rows] = e[rows] * down_e, e_lo[rows] * down_e, e_hi[rows] * down_e
            t[rows], t_lo[rows], t_hi[rows] = t[rows] * up_t, t_lo[rows] * up_t, t_hi[rows] * up_t
        # With no limit (inf) these keep the ends as they are.
        np.minimum(e_hi, power_max_w * t_hi, out=e_hi, where=np.isfinite(power_max_w))
        np.maximum(t_lo, e_lo / power_max_w, out=t_lo, where=np.isfinite(power_max_w))
    return e, e_lo, e_hi, t, t_lo, t_hi


def _sum_interval(a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(point, lo, hi)`` of ``a + b``, each part with its own log half-width (``wa``, ``wb``)."""
    return a + b, a * np.exp(-wa) + b * np.exp(-wb), a * np.exp(wa) + b * np.exp(wb)


def _take(values: Any, rows: np.ndarray) -> Any:
    """``values[rows]`` for a numpy array or a Categorical (codes taken, categories kept)."""
    if isinstance(values, pd.Categorical):
        return values.take(rows)
    if isinstance(values, pd.Series):
        values = values.array if isinstance(values.dtype, pd.CategoricalDtype) else values.to_numpy()
        return _take(values, rows)
    return np.asarray(values)[rows]


def _with_twins(reasons: pd.Categorical, twin_of: np.ndarray, extrapolated: np.ndarray) -> pd.Categorical:
    """``reasons`` plus ``twin:<platform>`` on extrapolated rows whose point came from a twin."""
    rows = extrapolated & (twin_of != "")
    if not rows.any():
        return reasons
    # One label per distinct (reasons, twin) pair, not per row.
    twin_codes, twins = pd.factorize(np.where(rows, twin_of, ""))
    pair = np.asarray(reasons.codes, dtype=np.int64) * (len(twins) + 1) + twin_codes
    inverse, uniq = pd.factorize(pair)
    labels = []
    for p in uniq:
        r = str(reasons.categories[p // (len(twins) + 1)])
        t = str(twins[p % (len(twins) + 1)])
        labels.append(";".join(x for x in (r, f"twin:{t}" if t else "") if x))
    return cats.from_table(np.asarray(inverse), labels)


def _reasons_categorical(bits: np.ndarray) -> pd.Categorical:
    """Reason text per row from decode (low) and prefill (high) bit patterns."""
    # Bit patterns are small integers: a bincount finds the distinct ones without sorting.
    present = np.flatnonzero(np.bincount(bits, minlength=1)) if len(bits) else np.zeros(0, dtype=np.int64)
    lookup = np.zeros(int(present.max()) + 1 if len(present) else 1, dtype=np.int64)
    lookup[present] = np.arange(len(present))
    uniq, inverse = present, lookup[bits]
    n = len(REASONS)
    mask = (1 << n) - 1
    labels = []
    for b in uniq:
        dec = reason_text(np.array([b & mask]))[0]
        pre = reason_text(np.array([b >> n]), prefix="prefill:")[0]
        labels.append(";".join(x for x in (dec, pre) if x))
    return cats.from_table(inverse.ravel(), labels)


def _measured_cells(prepared: pd.DataFrame) -> pd.DataFrame:
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
    ).reset_index()
    return cells


def _fit_decode_or_prefill(name: str, feats: pd.DataFrame, y: np.ndarray, calibrate: bool, release: Any) -> ComponentModel:
    """A regression component; decode components regress on the fitted roofline.

    Decode (``e_dec``, ``t_dec``) first fits the shared constants of
    :mod:`recommender.model.roofline_fit` (achieved bandwidth and throughput shares, per-layer
    cost per engine release, from ``release`` (per row) when the frame has no ``engine_release``: the
    per-step overhead is the release's, even where the ridge pools releases) and the ridge
    model learns the log ratio to that; prefill keeps the raw
    roofline prior. Too few rows or platforms for a regression keep the raw prior as well.
    """
    enough = len(y) >= MIN_ROWS_REGRESSION and feats["platform"].nunique() >= MIN_PLATFORMS_REGRESSION
    categorical = CATEGORICAL_FEATURES + (("engine_release",) if "engine_release" in feats.columns else ())
    if not (name.endswith("dec") and enough):
        return fit_component(name, feats, y, prior=f"prior_{name}", categorical=categorical, calibrate=calibrate)
    from recommender.model.estimator import RooflineFit

    roof_feats = feats if "engine_release" in feats.columns else feats.assign(engine_release=release)
    roof = RooflineFit(kind="energy" if name.startswith("e") else "time").fit(roof_feats, y)
    column = f"fitted_prior_{name}"
    state = roof.export_state()
    prior = fitted_prior(state, roof_feats)
    shift = np.log(fitted_prior(state, roof_feats, own_release_unseen=True) / prior)
    comp = fit_component(
        name, feats.assign(**{column: prior}), y, prior=column, categorical=categorical, calibrate=calibrate, release_shift=shift
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
) -> EaiPredictor:
    """Fit every component, the accuracy model and the measured-cell lookup.

    Args:
        table: Measured table (``recommender.table.load_table`` frame).
        accuracy_table: Accuracy table (``recommender.table.accuracy.load_accuracy``) or None.
        catalogs: Catalogs for features.
        data_hash: SHA-256 of the table file (stored with the predictor).
        calibrate: Calibrate interval widths by grouped refits.
        meta: Extra provenance stored with the state.
    """
    prep = prepare_table(table, catalogs)
    known_models = set(catalogs.models)
    extra = prep.loc[~prep["model_id"].isin(known_models), ["model_id", "params_total_b", "params_active_b"]].drop_duplicates("model_id")
    builder = FeatureBuilder(catalogs, extra)
    cf = prep[["platform", "device_count", "engine", "model_id", "quantization", "batch_size", "prompt_tokens", "output_tokens", "choices", "pass_tokens", "params_total_b", "params_active_b"]].copy()
    feats = builder.build(cf)
    releases = default_releases(prep["engine"], prep["engine_release"])
    feats_release = feats.assign(engine_release=cats.as_categorical(pd.Series(prep["engine_release"].to_numpy(), index=feats.index)))
    components: dict[str, ComponentModel] = {}
    rows: dict[str, tuple[pd.DataFrame, np.ndarray]] = {}
    for name in ("e_dec", "t_dec", "e_pre", "t_pre"):
        y = prep[f"y_{name}"].to_numpy(dtype=float)
        ok = np.isfinite(y) & (y > 0)
        rows[name] = ((feats_release if name in RELEASE_COMPONENTS else feats).loc[ok], y[ok])
    for name in ("e_dec", "t_dec", "e_pre", "t_pre"):
        f_, y_ = rows[name]
        enough = len(y_) >= MIN_ROWS_REGRESSION and f_["platform"].nunique() >= MIN_PLATFORMS_REGRESSION
        if name.endswith("dec") or enough:
            # CPUs are another regime (and a handful of CPU rows would bend the GPU model's
            # platform slopes): the regression sees accelerator rows only; CPU rows get their
            # own roofline-times-constant model, used for CPU candidates.
            is_cpu = (f_["platform_class"].astype(str) == "cpu").to_numpy()
            acc = ~is_cpu if (is_cpu.any() and (~is_cpu).sum() >= MIN_ROWS_REGRESSION) else np.ones(len(y_), dtype=bool)
            rel = feats_release.loc[f_.index[acc], "engine_release"]
            comp = _fit_decode_or_prefill(name, f_.loc[acc], y_[acc], calibrate, release=rel)
            if not acc.all():
                fc, yc = f_.loc[is_cpu], y_[is_cpu]
                comp.cpu_model = fit_anchored_component(name, fc, yc, f"prior_{name}", fc, yc, f"prior_{name}")
            components[name] = comp
        else:
            anchor = "e_dec" if name.startswith("e") else "t_dec"
            af, ay = rows[anchor]
            components[name] = fit_anchored_component(name, f_, y_, f"prior_{name}", af, ay, f"prior_{anchor}", toward_bound=True)
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
    params = {mid: m.params_total_b for mid, m in catalogs.models.items()}
    params.update(dict(zip(extra["model_id"], extra["params_total_b"], strict=True)))
    accuracy = AccuracyModel.fit(records, params)
    info = {"n_rows": int(len(table)), **{f"n_rows_{k}": v.n_rows for k, v in components.items()}, **dict(meta or {})}
    slack = occupancy_slack(prep, feats)
    return EaiPredictor(
        data_hash=data_hash,
        components=components,
        accuracy=accuracy,
        measured=_measured_cells(prep),
        extra_models=extra.reset_index(drop=True),
        catalogs=catalogs,
        meta=info,
        releases=releases,
        occupancy_slack=slack,
    )


TWIN_TOLERANCE: dict[str, float] = {"tdp_w": 0.15, "peak_fp16": 0.15}
"""Largest relative difference (as |log ratio|) of TDP and dense fp16 tensor throughput for two
platforms of one class and architecture generation to count as twins (same compute silicon at
the same power; the memory system may differ, since the roofline prior carries it)."""


def twin_platforms(platforms: pd.DataFrame, measured: Any) -> dict[str, list[str]]:
    """For each platform not among ``measured``: its measured twins, nearest first.

    Twins share the compute silicon and the power envelope: the same class and architecture
    generation (CUDA compute capability), TDP and dense fp16 throughput within
    :data:`TWIN_TOLERANCE`. They run the same kernels at the same power, so a twin's measured
    departure from the roofline is a better guess than the pooled physics model, and where
    their memory differs (A100 40 vs 80 GB, H100 vs H200) the roofline prior's bandwidth term
    carries the difference. Examples in the catalog: RTX 4090 and RTX 4090 D (450 vs 425 W,
    12 % fewer tensor cores, same memory), A100 SXM4 80 GB and A800 (NVLink cut only) or A100
    SXM4 40 GB, H200 and H100 SXM (HBM3e at 4.8 vs 3.35 TB/s). Nearness: the summed |log ratio|
    of memory bandwidth, TDP and fp16 throughput. CPUs have none.

    Args:
        platforms: :func:`recommender.model.features.platform_frame` frame.
        measured: Platform ids with measurements.
    """
    seen = [p for p in measured if p in platforms.index]
    out: dict[str, list[str]] = {}
    if not seen:
        return out
    cand = platforms.loc[seen]
    for pid, row in platforms.iterrows():
        if pid in seen or row["platform_class"] == "cpu":
            continue
        same = cand[(cand["platform_class"] == row["platform_class"]) & (cand["arch_generation"] == row["arch_generation"])]
        ranked = []
        for tid, t in same.iterrows():
            gaps = {c: abs(np.log(float(t[c]) / float(row[c]))) for c in ("bandwidth_gbs", *TWIN_TOLERANCE)}
            if all(np.isfinite(gaps[c]) and gaps[c] <= tol for c, tol in TWIN_TOLERANCE.items()):
                ranked.append((sum(gaps.values()), str(tid)))
        if ranked:
            out[str(pid)] = [tid for _, tid in sorted(ranked)]
    return out


OCCUPANCY_QUANTILE = 0.99
"""Quantile of the measured ``E * batch / (P_max * T)`` that sets the batch-aware bound's slack."""


def occupancy_slack(prep: pd.DataFrame, feats: Any) -> float:
    """Slack of the batch-aware power bound ``E * batch <= slack * P_max * T``, from the data.

    With ``batch`` requests in flight, one generated query's share of the energy is the devices'
    energy over its latency divided by ``batch``, at most ``P_max * T / batch``. Measured rows
    exceed that a little: sources time a request by its inter-token latency (ML.ENERGY v3: median
    ITL x output tokens), which leaves out the waits for other requests' prefills, and a server
    may run fewer requests than its batch limit. The slack is the :data:`OCCUPANCY_QUANTILE` of
    the ratio over accelerator generation rows with energy and time (never below 1). On the
    shipped table (989 such rows) the ratio's median is 0.69, its 95th percentile 1.23 and the
    slack 2.03; above it lie ML.ENERGY v3's prefill-heavy code-infilling runs of Qwen3-Coder-480B
    on B200 (up to 15), whose energy counts long prompts that the latency leaves out, and which
    must not loosen the bound for every other configuration.

    Args:
        prep: :func:`prepare_table` frame.
        feats: Its feature frame (``batch_running``, ``power_w``, ``platform_class``).
    """
    energy = prep["energy_q"].to_numpy(dtype=float)
    time_s = prep["time_q"].to_numpy(dtype=float)
    ratio = energy * np.asarray(feats["batch_running"], dtype=float) / (np.asarray(feats["power_w"], dtype=float) * time_s)
    gpu = ~cats.isin(feats["platform_class"], ("cpu",))
    ok = gpu & (prep["output_tokens"].to_numpy(dtype=float) > 0) & np.isfinite(ratio) & (ratio > 0)
    if not ok.any():
        return 1.0
    return float(max(1.0, np.quantile(ratio[ok], OCCUPANCY_QUANTILE)))
