"""Predictions for configurations a user names: what would this deployment cost?

``eai recommend`` searches the catalog for the best configuration; ``eai predict``
answers for the ones given, one row each: a grid of names (every combination of the
platforms, models, quantizations, tasks, engines, device counts and batch sizes
listed) or a table with one configuration per row. Names are resolved against the
catalogs with their aliases ("did you mean" on a typo). A row without an engine gets
the quantization's native engine from the decision flow (the first it lists).
Combinations that cannot run are refused before anything is predicted (or, on
request, left out and listed): a quantization on a device kind it does not support or a
GPU older than it needs, or an engine that does not run the quantization. Every row then gets the predictor's
energy, time, accuracy, EOR and TWEOR with 90% intervals and their provenance, plus
the memory-fit rule's verdict (:mod:`recommender.rules.fit`), because a prediction for
a model that does not fit on the device is not a deployment.

Names are resolved once per distinct value, so a table of a million rows costs a few
dozen catalog lookups, not a million.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.errors import InvalidInputError, UnknownNameError, UnsupportedCombinationError
from recommender.model.api import CANDIDATE_COLUMNS, Predictor
from recommender.rules import fit
from recommender.rules.candidates import context_tokens, unsupported_reason
from recommender.rules.catalogs import Catalogs
from recommender.rules.flow import FlowConfig
from recommender.rules.spec import RELEASE_REGEX

MAX_CONFIGURATIONS = 2_000_000
"""Most configurations one call predicts (``bench/fit_predict_speed.py``: a million rows
in about 3 s through this module; the cap keeps a mistyped grid from exhausting memory)."""

REQUIRED_COLUMNS: tuple[str, ...] = ("platform", "model_id", "quantization", "task")
"""Columns a configuration table must have (``model`` is accepted for ``model_id``)."""

OPTIONAL_COLUMNS: dict[str, object] = {"engine": "", "device_count": 1, "batch_size": 1, "engine_version": ""}
"""Columns a configuration table may have, with the value a missing one takes (an empty
engine: the quantization's native engine; an empty release: the newest measured one)."""

RELEASE_PATTERN = re.compile(RELEASE_REGEX)

_COLUMN_ALIASES = {"model": "model_id", "devices": "device_count", "quant": "quantization"}


@dataclass(frozen=True)
class Grid:
    """Every combination of the listed values is one configuration.

    Attributes:
        platforms: Platform ids or aliases.
        models: Model ids or aliases.
        quantizations: Quantization names or aliases.
        tasks: Task or workload ids (a workload has no accuracy: accuracy, EOR and TWEOR
            come back empty).
        engines: Serving engines; empty: each quantization's native engine.
        device_counts: Devices per deployment (tensor parallel).
        batch_sizes: Concurrent sequences the server is configured for.
    """

    platforms: Sequence[str]
    models: Sequence[str]
    quantizations: Sequence[str]
    tasks: Sequence[str]
    engines: Sequence[str] = ()
    device_counts: Sequence[int] = (1,)
    batch_sizes: Sequence[int] = (1,)

    def size(self) -> int:
        """Number of configurations the grid spans."""
        sizes = (self.platforms, self.models, self.quantizations, self.tasks, self.engines or ("",), self.device_counts, self.batch_sizes)
        return int(np.prod([len(s) for s in sizes], dtype=np.int64))

    def frame(self) -> pd.DataFrame:
        """One row per combination, names as given (not yet resolved).

        Raises:
            InvalidInputError: A list is empty or the grid exceeds :data:`MAX_CONFIGURATIONS`.
        """
        for label, values in (("platform", self.platforms), ("model", self.models), ("quantization", self.quantizations), ("task", self.tasks)):
            if not values:
                raise InvalidInputError(f"no {label} given: pass --{'quant' if label == 'quantization' else label} at least once, or --candidates FILE")
        n = self.size()
        if n > MAX_CONFIGURATIONS:
            raise InvalidInputError(f"the grid spans {n:,} configurations, more than {MAX_CONFIGURATIONS:,}; list fewer values")
        rows = itertools.product(
            self.platforms, self.models, self.quantizations, self.tasks, self.engines or ("",), self.device_counts, self.batch_sizes
        )
        return pd.DataFrame(list(rows), columns=["platform", "model_id", "quantization", "task", "engine", "device_count", "batch_size"])


@dataclass(frozen=True)
class Resolution:
    """Resolved configurations.

    Attributes:
        candidates: Rows for the predictor (canonical ids), indexed like the input.
        skipped: One line per reason rows were left out (``skip_unsupported``), with counts.
    """

    candidates: pd.DataFrame
    skipped: tuple[str, ...] = ()


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


def resolve_configurations(
    frame: pd.DataFrame,
    catalogs: Catalogs,
    flow: FlowConfig,
    engine_versions: Mapping[str, str] | None = None,
    first_line: int | None = None,
    skip_unsupported: bool = False,
) -> Resolution:
    """Canonical candidate frame for the predictor from a table of configurations.

    Args:
        frame: One configuration per row with :data:`REQUIRED_COLUMNS` (names or aliases)
            and any of :data:`OPTIONAL_COLUMNS`; other columns are ignored.
        catalogs: Catalogs to resolve names against.
        flow: Decision flow (native engines, device kinds).
        engine_versions: Release per engine for rows that name none (``{"vllm": "0.11.1"}``);
            it applies after the native engine is filled in.
        first_line: Line of the file the first row came from (2 for a CSV with a header):
            errors then name lines; None names the configuration's position.
        skip_unsupported: Leave out rows that cannot run (and say which in
            :attr:`Resolution.skipped`) instead of refusing the whole table.

    Returns:
        The resolved rows (:data:`~recommender.model.api.CANDIDATE_COLUMNS` with canonical
        ids, and ``engine_version`` where a release is named), indexed like ``frame``, and
        what was skipped.

    Raises:
        InvalidInputError: A column is missing, a name is unknown (with suggestions), a
            count is not a positive whole number, or there are no rows or too many.
        UnsupportedCombinationError: A quantization cannot run on the row's platform, or
            the row's engine does not run the quantization (unless ``skip_unsupported``;
            then only when no row is left).
    """
    frame = frame.rename(columns={k: v for k, v in _COLUMN_ALIASES.items() if k in frame.columns and v not in frame.columns})
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"configuration table lacks column(s) {', '.join(missing)}; it needs {', '.join(REQUIRED_COLUMNS)} "
            f"and may have {', '.join(OPTIONAL_COLUMNS)}"
        )
    if len(frame) == 0:
        raise InvalidInputError("configuration table has no rows")
    if len(frame) > MAX_CONFIGURATIONS:
        raise InvalidInputError(f"configuration table has {len(frame):,} rows, more than {MAX_CONFIGURATIONS:,}; split it")
    frame = frame.copy()
    for column, default in OPTIONAL_COLUMNS.items():
        if column not in frame.columns:
            frame[column] = default
        else:
            frame[column] = frame[column].where(frame[column].notna() & (frame[column].astype(str).str.strip() != ""), default)

    p_code, platforms = _resolve_column(frame, "platform", catalogs.resolve_platform, first_line)
    m_code, models = _resolve_column(frame, "model_id", catalogs.resolve_model, first_line)
    q_code, quants = _resolve_column(frame, "quantization", catalogs.resolve_quant, first_line)
    t_code, tasks = _resolve_column(frame, "task", catalogs.resolve_task, first_line)

    # Engines: per distinct (quantization, engine) pair, the native one where none is given.
    keep = np.ones(len(frame), dtype=bool)
    skipped: list[str] = []

    def refuse(mask: np.ndarray, reason: str) -> None:
        if not skip_unsupported:
            raise UnsupportedCombinationError(f"{_row_label(frame, mask, first_line)}: {reason}")
        keep[mask] = False
        skipped.append(f"{reason} ({int(mask.sum())} row{'s' if mask.sum() > 1 else ''})")

    e_code, e_given = pd.factorize(frame["engine"].astype(str).str.strip().str.lower(), sort=False)
    engine = np.empty(len(frame), dtype=object)
    known_engines = sorted({e for es in flow.engines.values() for e in es})
    n_e = len(e_given)
    pair = q_code.astype(np.int64) * n_e + e_code
    for code in np.unique(pair):
        mask = pair == code
        q, given = quants[int(code // n_e)], str(e_given[int(code % n_e)])
        runs_on = tuple(flow.engines.get(q.name, ()))
        if not runs_on:
            raise UnsupportedCombinationError(f"quantization {q.name!r} has no serving engine in the decision flow's 'engines'; add one there")
        if given and given not in known_engines:
            raise InvalidInputError(f"{_row_label(frame, mask, first_line)}, column 'engine': {UnknownNameError('engine', given, known_engines)}")
        if given and given not in runs_on:
            refuse(mask, f"engine {given!r} does not run {q.name!r}; it runs on {', '.join(runs_on)}")
        engine[mask] = given or runs_on[0]

    # Quantization x platform: device kind and architecture generation.
    pq = p_code.astype(np.int64) * len(quants) + q_code
    for code in np.unique(pq):
        reason = unsupported_reason(quants[int(code % len(quants))], platforms[int(code // len(quants))], flow)
        if reason:
            refuse(pq == code, reason)
    if not keep.any():
        raise UnsupportedCombinationError(f"no configuration can run: {'; '.join(skipped)}")

    out = pd.DataFrame(
        {
            "platform": _categorical(p_code, [p.id for p in platforms]),
            "device_count": _positive_ints(frame, "device_count", first_line),
            "engine": pd.Categorical(engine),
            "model_id": _categorical(m_code, [m.id for m in models]),
            "quantization": _categorical(q_code, [q.name for q in quants]),
            "batch_size": _positive_ints(frame, "batch_size", first_line),
            "task": _categorical(t_code, [t.id for t in tasks]),
        },
        index=frame.index,
    )
    for name, release in (engine_versions or {}).items():
        if name not in known_engines:
            raise UnknownNameError("engine", name, known_engines, hint=f"named with release {release!r}")
        if not RELEASE_PATTERN.match(release):
            raise InvalidInputError(f"engine release {release!r} for {name} is not a version like 0.11.1 or 4.57.0")
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
        out["engine_version"] = pd.Categorical(versions.to_numpy())
    out = out[[*CANDIDATE_COLUMNS, *(["engine_version"] if "engine_version" in out else [])]]
    return Resolution(candidates=out[keep] if skipped else out, skipped=tuple(skipped))


def _per_row(column: pd.Series, value) -> np.ndarray:
    """``value(name)`` for every row, computed once per distinct name."""
    codes, uniques = pd.factorize(column.astype(str).to_numpy())
    return np.array([value(name) for name in uniques], dtype=float)[codes]


def predict_configurations(candidates: pd.DataFrame, predictor: Predictor, catalogs: Catalogs, flow: FlowConfig) -> pd.DataFrame:
    """Predictions and the memory-fit check for resolved configurations.

    Args:
        candidates: :func:`resolve_configurations` output.
        predictor: Fitted predictor.
        catalogs: Catalogs (model architecture and platform memory for the fit check).
        flow: Decision flow (memory-fit constants, minimum context).

    Returns:
        The candidate columns, then every :data:`~recommender.model.api.PREDICTION_COLUMNS`
        column, then ``memory_gb_required`` (per device, for the task's prompt + output
        tokens per sequence, at least the flow's minimum context), ``memory_gb_available``,
        ``fits_memory`` and ``kv_known`` (False: the model's KV-cache size is unknown and
        counted as zero).
    """
    preds = predictor.predict(candidates)
    m_codes, m_uniques = pd.factorize(candidates["model_id"].astype(str).to_numpy())
    arch = {k: v[m_codes] for k, v in fit.architecture([catalogs.resolve_model(m) for m in m_uniques]).items()}
    bpw = _per_row(candidates["quantization"], lambda q: catalogs.resolve_quant(q).bytes_per_weight)
    context = _per_row(candidates["task"], lambda t: context_tokens(catalogs.resolve_task(t), flow))
    available = _per_row(candidates["platform"], lambda p: catalogs.resolve_platform(p).memory_gb)
    required = fit.required_gb_per_device(
        arch["params_total_b"], bpw, arch["layers"], arch["kv_heads"], arch["head_dim"],
        candidates["batch_size"].to_numpy(dtype=float), context, candidates["device_count"].to_numpy(dtype=float), flow.memory_fit,
    )
    out = pd.concat([candidates.reset_index(drop=True), preds.reset_index(drop=True)], axis=1)
    out["memory_gb_required"] = required
    out["memory_gb_available"] = available
    out["fits_memory"] = fit.fits(required, available)
    out["kv_known"] = fit.kv_known(arch["layers"], arch["kv_heads"], arch["head_dim"])
    out.index = candidates.index
    return out
