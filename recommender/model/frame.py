"""Training and candidate frames: canonical keys, token profile, engine release, serving mode.

Both frames carry, per row, the task's token profile (``prompt_tokens``, ``output_tokens``,
``choices``, ``passes``, ``fed_tokens``) taken from the task catalog unless the row states its
own (measured rows: their measured counts; candidates: optional ``prompt_tokens_mean`` /
``output_tokens_mean`` / ``choices_mean`` / ``forward_passes_mean`` / ``fed_tokens_mean``
columns, NaN meaning the task's profile; a candidate's output length where it states none is
its model's where the table measured it, :mod:`recommender.model.answer_length`), the engine release level (``vllm@0.5``) and the
serving mode (``offline``: a static batch submitted at once; ``online``: requests arriving
over time at a server; optional ``serving_mode`` column, missing meaning the source's or, for
candidates, ``online`` for continuous-batching engines and ``offline`` otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from recommender.catalog.types import fed_tokens, forward_passes
from recommender.errors import InvalidInputError, UnknownNameError
from recommender.model import cats
from recommender.model.answer_length import BASES, AnswerLengths
from recommender.model.api import CANDIDATE_COLUMNS
from recommender.model.features import Catalogs
from recommender.model.roofline_fit import family_engine, release_gap_log, release_neighbours, release_order
from recommender.table.schema import SERVING_MODES


def engine_release(engine: Any, version: Any) -> np.ndarray:
    """``engine@major.minor`` where the release is known, else the engine name (object array)."""
    eng = np.array([str(e) for e in np.asarray(engine, dtype=object)], dtype=object)
    ver = pd.Series(np.asarray(version, dtype=object))
    known = ver.notna().to_numpy() & (ver.astype(str).str.len() > 0).to_numpy()
    majmin = ver.astype(str).str.extract(r"^[vV]?([0-9]+(?:\.[0-9]+)?)", expand=False).to_numpy(dtype=object)
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
    ``choices``, ``dispersion`` (of the output lengths), ``continuation`` (tokens per answer),
    ``passes_fixed`` (stated passes), ``chance``, ``scored``, ``mc`` and ``known``.
    """
    nan = float("nan")
    rows = {
        tid: (s.prompt_tokens_mean, s.output_tokens_mean, s.choices_mean if s.output_type == "multiple_choice" else 1.0,
              nan if s.output_tokens_dispersion is None else s.output_tokens_dispersion,
              nan if s.continuation_tokens_mean is None else s.continuation_tokens_mean,
              nan if s.forward_passes_mean is None else s.forward_passes_mean,
              s.chance, s.kind == "benchmark", s.output_type == "multiple_choice")
        for tid, s in tasks.items()
    }
    columns = ["prompt", "output", "choices", "dispersion", "continuation", "passes_fixed", "chance", "scored", "mc"]
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
    out["known"] = known[take]
    # The arrays were made here: wrapped as they are, not copied into one block (~10 ms a
    # million rows).
    return pd.DataFrame(out, copy=False)


def prepare_table(table: pd.DataFrame, catalogs: Catalogs) -> pd.DataFrame:
    """Measured rows as training records: canonical keys, token profile, per-token targets.

    Rows whose workload is not in the task catalog keep their own token counts (and are
    treated as generation). Missing prompt counts take the catalog's profile.
    """
    t = table.reset_index(drop=True).copy()
    t["task"] = np.asarray(canonical_task(t["workload"], catalogs.tasks), dtype=object)
    t["engine_release"] = engine_release(t["engine"], t["engine_version"] if "engine_version" in t else [None] * len(t))
    t["serving_mode"] = serving_mode_column(t)
    t["pipeline_stages"] = pipeline_stages_column(t)
    prof = task_profile(t["task"], catalogs.tasks)
    t["prompt_tokens"] = pd.to_numeric(t["prompt_tokens_mean"], errors="coerce").fillna(prof["prompt"])
    t["output_tokens"] = pd.to_numeric(t["output_tokens_mean"], errors="coerce").fillna(prof["output"])
    t["output_dispersion"] = output_dispersion(t, prof)
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
    # Energy per query where only per-token energy was given (so every row has one), and time
    # per query where only a throughput was (the same output count: the quantization reports'
    # runs to their token limit, each query waiting for its whole static batch).
    t["energy_q"] = e_q.fillna(e_tok * out)
    t["time_q"] = time_q.fillna((from_tput * out).where(gen))
    return t


def _bracketing_release(level: str, measured: set[str]) -> str | None:
    """The measured release of ``level``'s engine nearest to it, where measured releases lie on
    both sides of it (None where it is older or newer than every measured one: extrapolation).

    Nearness is by the per-step gap placed between the two releases
    (:func:`~recommender.model.roofline_fit.release_gap_log`: the announced speed-ups of the
    milestone releases between them and a typical release's gain for each other one), then by
    ``(major, minor)`` distance, ties going to the newer release. vLLM 0.7 stands in at 0.11 (a
    gap of x2.1: 0.8.0's V1 engine, up to 1.7x, and 0.9-0.11 at x1.17 each) rather than at 0.5
    (x3.7: 0.6.0's overlapped scheduler, 2-5x, and 0.7), although 0.5 is fewer minor versions
    away: until 2026-12-04 such releases were predicted at 0.5.4's pace.
    """
    lo, hi = release_neighbours(level, measured)
    if lo is None or hi is None:
        return None
    key = release_order(level)
    engine = level.split("@", 1)[0]

    def distance(m: str) -> tuple[float, tuple[int, ...]]:
        other = release_order(m)
        gap = release_gap_log(engine, min(other, key), max(other, key))
        return gap, tuple(abs(a - b) for a, b in zip(other, key, strict=False))

    return hi if distance(hi) <= distance(lo) else lo



def candidate_frame(
    candidates: pd.DataFrame,
    catalogs: Catalogs,
    releases: Mapping[str, str],
    measured_releases: set[str],
    answer_lengths: AnswerLengths | None = None,
    fitted_engines: Iterable[str] = (),
) -> pd.DataFrame:
    """Validated candidate rows with canonical tasks, token profile and engine release.

    Args:
        candidates: Frame with :data:`~recommender.model.api.CANDIDATE_COLUMNS` and any of
            :data:`~recommender.model.api.OPTIONAL_CANDIDATE_COLUMNS` (NaN: the task's profile).
        catalogs: Catalogs.
        releases: Per engine, the release level a candidate without ``engine_version`` gets.
        measured_releases: Engine releases the release-aware components were fitted on.
        answer_lengths: Fitted answer lengths (stage ``answer_length``): a generation row that
            states no output length takes its model's (:func:`output_lengths`); None: the task's.
        fitted_engines: Engines the components were fitted on. A continuous-batching engine
            outside them with a measured peer is read as that peer at its default release
            (:func:`recommender.model.roofline_fit.family_engine`), and marked ``engine_peer``:
            the components flag it ``engine-unseen`` and the measured cells never match it.

    Raises:
        InvalidInputError: Missing columns, device counts or batch sizes below 1, an unknown
            serving mode.
        UnknownNameError: A task neither catalogued nor described by its token profile.
    """
    missing = [c for c in CANDIDATE_COLUMNS if c not in candidates.columns]
    if missing:
        raise InvalidInputError(f"candidate frame lacks columns {missing}; it needs {list(CANDIDATE_COLUMNS)}")
    c = candidates
    tasks = canonical_task(c["task"], catalogs.tasks)
    prof = task_profile(tasks, catalogs.tasks)
    override = {
        "prompt": "prompt_tokens_mean",
        "output": "output_tokens_mean",
        "choices": "choices_mean",
        "passes_fixed": "forward_passes_mean",
    }
    prompt_given = np.zeros(len(c), dtype=bool)
    model = cats.as_categorical(c["model_id"])  # factorized once: the answer lengths read it too
    out_tokens, out_basis = output_lengths(c.assign(model_id=model), tasks, prof, answer_lengths)
    prof["output"] = out_tokens
    for key, col in override.items():
        if key == "output":
            continue  # output_lengths took the row's own
        if col in c.columns:
            given = pd.to_numeric(c[col], errors="coerce").to_numpy(dtype=float)
            prof[key] = np.where(np.isfinite(given), given, prof[key].to_numpy())
            if key == "prompt":
                prompt_given |= np.isfinite(given)
    mc_task = prof["mc"].fillna(0.0).to_numpy(dtype=float) > 0
    choices = prof["choices"].fillna(1.0)
    prompt = prof["prompt"].fillna(0.0)
    if len(c) and not any(override[k] in c.columns for k in ("prompt", "choices", "passes_fixed")):
        # No row states its own prompt, choices or passes: the passes and fed tokens are its
        # task's, worked out on one row per task and taken per row (the same elementwise
        # arithmetic, ~25 ms less on a million candidates).
        slot, first = _task_slots(tasks)
        per_task = (prompt.to_numpy()[first], choices.to_numpy()[first], prof["continuation"].to_numpy()[first],
                    prof["passes_fixed"].to_numpy()[first], mc_task[first])
        passes = np.take(forward_passes(*per_task[1:]), slot)
        fed = np.take(fed_tokens(*per_task), slot)
    else:
        passes = forward_passes(choices, prof["continuation"], prof["passes_fixed"], mc_task)
        fed = fed_tokens(prompt, choices, prof["continuation"], prof["passes_fixed"], mc_task)
    if "fed_tokens_mean" in c.columns:
        given = pd.to_numeric(c["fed_tokens_mean"], errors="coerce").to_numpy(dtype=float)
        fed = np.where(np.isfinite(given), given, fed)
        prompt_given |= np.isfinite(given)
    unknown = ~prof["known"].to_numpy() & prof["output"].isna().to_numpy()
    if unknown.any():
        first = str(np.asarray(tasks)[np.flatnonzero(unknown)[0]])
        raise UnknownNameError("task", first, list(catalogs.tasks), hint="pass a task id or give its token profile")
    engine = cats.as_categorical(c["engine"])  # factorized once: the release column reads it too
    release, release_assumed, release_bracketed = release_column(c.assign(engine=engine), releases, measured_releases)
    engine, release, release_assumed, release_bracketed, engine_peer = _read_as_peer(
        engine, release, release_assumed, release_bracketed, releases, fitted_engines
    )
    dev = pd.to_numeric(c["device_count"], errors="coerce")
    bs = pd.to_numeric(c["batch_size"], errors="coerce")
    if dev.isna().any() or (dev < 1).any() or bs.isna().any() or (bs < 1).any():
        raise InvalidInputError("device_count and batch_size must be integers >= 1 in every candidate row")
    if "avg_batch_size" in c.columns:
        # A server that arrivals do not saturate runs fewer requests than its limit: each decode
        # step runs (and costs, and takes the time of) those, so they are the batch of the physics.
        # Training keeps the configured limit: every measured server ran 0.85-1.0 of it (ML.ENERGY
        # v2, v3), and their averages as the batch moved LOSO energy per query 17.3 -> 19.3 %.
        running = pd.to_numeric(c["avg_batch_size"], errors="coerce")
        bad = running.notna() & ((running <= 0) | (running > bs * (1 + 1e-9)))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InvalidInputError(
                f"avg_batch_size {running.iloc[row]:g} in candidate row {row + 1} is not above 0 and at most its batch_size {bs.iloc[row]:g}"
            )
        bs = running.fillna(bs)
    mode = serving_mode_column(c)
    stages = pipeline_stages_column(c)
    if (np.mod(dev.to_numpy(dtype=float), stages) != 0).any():
        row = int(np.flatnonzero(np.mod(dev.to_numpy(dtype=float), stages) != 0)[0])
        raise InvalidInputError(
            f"pipeline_stages {stages[row]:g} does not divide device_count {dev.iloc[row]:g} in candidate row {row + 1}: "
            "every stage runs on the same number of devices"
        )
    frame = pd.DataFrame(
        {
            "platform": cats.as_categorical(c["platform"]),
            "device_count": dev.to_numpy(dtype=float),
            "engine": engine,
            "engine_release": release,
            "release_assumed": release_assumed,
            "release_bracketed": release_bracketed,
            "model_id": model,
            "quantization": cats.as_categorical(c["quantization"]),
            "batch_size": bs.to_numpy(dtype=float),
            "task": tasks,
            "prompt_tokens": prompt.to_numpy(dtype=float),
            "output_tokens": prof["output"].fillna(0.0).to_numpy(dtype=float),
            "output_dispersion": output_dispersion(c, prof),
            "choices": choices.to_numpy(dtype=float),
            "passes": passes,
            "fed_tokens": fed,
            "pass_tokens": fed / passes,
            "chance": prof["chance"].fillna(0.0).to_numpy(dtype=float),
            "scored": prof["scored"].fillna(0.0).to_numpy(dtype=float) > 0,
            "mc": prof["mc"].fillna(0.0).to_numpy(dtype=float) > 0,
            "serving_mode": mode,
            "pipeline_stages": stages,
            # A row stating its own prompt length asks for that profile, not a measured cell's.
            "prompt_given": prompt_given,
            "output_basis": out_basis,
            "engine_peer": engine_peer,
        },
        copy=False,
    )
    frame.index = candidates.index
    return frame


def _task_slots(tasks: pd.Categorical) -> tuple[np.ndarray, np.ndarray]:
    """Per row, its task's slot (:func:`cats.level_index`: a missing task at the last); per
    slot, one of its rows (row 0 for a slot no row has, never taken): every row of a task has
    its task's profile, so any one of them stands for all."""
    slot, labels = cats.level_index(tasks)
    first = np.zeros(len(labels) + 1, dtype=np.int64)
    first[slot] = np.arange(len(slot))
    return slot, first


def output_dispersion(frame: pd.DataFrame, prof: pd.DataFrame) -> np.ndarray:
    """``E[L^2] / E[L]^2`` of each row's output lengths: the row's ``output_tokens_dispersion``
    where given, else the task's, else 1 (every query the same length, as in a static batch
    generating a fixed count).

    Raises:
        InvalidInputError: A stated value below 1 (no distribution has one; named, with the row).
    """
    d = prof["dispersion"].to_numpy(dtype=float) if "dispersion" in prof else np.full(len(frame), np.nan)
    if "output_tokens_dispersion" in frame.columns:
        given = pd.to_numeric(frame["output_tokens_dispersion"], errors="coerce").to_numpy(dtype=float)
        bad = np.isfinite(given) & (given < 1.0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InvalidInputError(
                f"output_tokens_dispersion {given[row]:g} in row {row + 1} is below 1; it is E[L^2]/E[L]^2 of the output "
                "lengths (1: every query the same length)"
            )
        d = np.where(np.isfinite(given), given, d)
    return np.where(np.isfinite(d), d, 1.0)


def pipeline_stages_column(frame: pd.DataFrame) -> np.ndarray:
    """Pipeline-parallel stages per row (1 where the column is missing or NaN).

    Raises:
        InvalidInputError: A value that is not a whole number >= 1 (named, with the row).
    """
    if "pipeline_stages" not in frame.columns:
        return np.ones(len(frame))
    v = pd.to_numeric(frame["pipeline_stages"], errors="coerce").to_numpy(dtype=float)
    v = np.where(np.isnan(v), 1.0, v)
    bad = (v < 1) | (v != np.floor(v))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"pipeline_stages {frame['pipeline_stages'].iloc[row]!r} in row {row + 1} is not a whole number >= 1")
    return v


def _read_as_peer(
    engine: pd.Categorical,
    release: pd.Categorical,
    assumed: np.ndarray,
    bracketed: np.ndarray,
    releases: Mapping[str, str],
    fitted_engines: Iterable[str],
) -> tuple[pd.Categorical, pd.Categorical, np.ndarray, np.ndarray, np.ndarray]:
    """Engines never measured that have a measured continuous-batching peer, read as that peer.

    The row becomes the peer at its default release (its own release says nothing about the
    peer's), neither assumed nor bracketed (the ``engine-unseen`` width covers it), and
    ``engine_peer`` marks it. Decided once per distinct engine.
    """
    codes = np.asarray(engine.codes)
    labels = [str(x) for x in engine.categories]
    peers = [family_engine(lab, fitted_engines) for lab in labels]
    is_peer = np.take(np.append(np.array([p is not None for p in peers], dtype=bool), False), codes)  # code -1: the last slot
    if not is_peer.any():
        return engine, release, assumed, bracketed, is_peer
    mapped = [p or lab for p, lab in zip(peers, labels, strict=True)] + [""]  # the last: a missing engine
    new_engine = cats.from_table(codes, mapped)  # code -1 takes the last label
    rel = np.asarray(release.astype(object), dtype=object)
    peer_rows = np.flatnonzero(is_peer)
    peer_names = np.asarray(new_engine.astype(object), dtype=object)[peer_rows]
    rel[peer_rows] = [releases.get(str(p), str(p)) for p in peer_names]
    return (
        new_engine, cats.as_categorical(pd.Series(rel)), np.where(is_peer, False, assumed), np.where(is_peer, False, bracketed), is_peer,
    )


def output_lengths(
    candidates: pd.DataFrame, tasks: pd.Categorical, prof: pd.DataFrame, answer_lengths: AnswerLengths | None
) -> tuple[np.ndarray, np.ndarray]:
    """Output tokens per query of each candidate and where they come from.

    The row's own ``output_tokens_mean``; else, for a task that generates (not multiple choice,
    catalogued length above 0), the model's measured length on the task or its relative one
    (:meth:`recommender.model.answer_length.AnswerLengths.lengths`); else the task's.

    Args:
        candidates: Candidate rows (``model_id``, optional ``output_tokens_mean``).
        tasks: Canonical task ids.
        prof: :func:`task_profile` of ``tasks``.
        answer_lengths: Fitted answer lengths (None: stage off).

    Returns:
        ``(tokens, basis)``: tokens per query (NaN: neither given nor catalogued) and the index of
        each row's basis in :data:`recommender.model.answer_length.BASES`.
    """
    task_out = prof["output"].to_numpy(dtype=float)
    tokens, basis = task_out.copy(), np.full(len(candidates), BASES.index("task"), dtype=np.int8)
    generates = ~(prof["mc"].fillna(0.0).to_numpy(dtype=float) > 0) & ~(task_out <= 0)
    if answer_lengths is not None and generates.any():
        t_model, b_model = answer_lengths.lengths(candidates["model_id"], tasks, task_out)
        tokens = np.where(generates, t_model, tokens)
        basis = np.where(generates, b_model, basis).astype(np.int8)
    if "output_tokens_mean" in candidates.columns:
        given = pd.to_numeric(candidates["output_tokens_mean"], errors="coerce").to_numpy(dtype=float)
        own = np.isfinite(given)
        tokens = np.where(own, given, tokens)
        basis = np.where(own, BASES.index("row"), basis).astype(np.int8)
    return tokens, basis


def serving_mode_column(frame: pd.DataFrame) -> pd.Categorical:
    """The rows' serving mode (``offline`` / ``online``; NaN where unstated).

    Raises:
        InvalidInputError: A value that is neither (named, with the row).
    """
    categories = list(SERVING_MODES)
    if "serving_mode" not in frame.columns:
        return pd.Categorical.from_codes(np.full(len(frame), -1, dtype=np.int8), categories=categories)
    # Decided per distinct value, not per row (a million candidates name two modes at most).
    codes, uniq = cats.parts(frame["serving_mode"])
    known = [str(u) in SERVING_MODES for u in uniq]
    if not all(known):
        bad = next(i for i, k in enumerate(known) if not k)
        row = int(np.flatnonzero(codes == bad)[0])
        raise InvalidInputError(f"serving_mode {str(uniq[bad])!r} in candidate row {row + 1} is not one of {categories}")
    table = np.array([categories.index(str(u)) for u in uniq] + [-1], dtype=np.int8)
    return pd.Categorical.from_codes(np.take(table, codes), categories=categories)  # code -1: the last slot


def release_column(c: pd.DataFrame, releases: Mapping[str, str], measured: set[str]) -> tuple[pd.Categorical, np.ndarray, np.ndarray]:
    """Engine release level per candidate, whether it was assumed, and whether it stands in
    for a named release that lies between measured ones.

    The level is the candidate's ``engine_version`` where given, else the engine's default
    (``releases``); *assumed* marks rows that name none whose engine was measured at stated
    releases: the newest was picked for them where every row of the engine stated one, else
    they are read as the rows that stated none (and stage ``release_widening`` gives both an
    interval holding what the engine's stated releases predict). A named release never
    measured but lying between two measured releases of its engine (vLLM 0.10 between 0.5
    and 0.11) is *bracketed*: predicted at the nearer measured release, its interval holding
    what every measured release predicts, like an assumed one, and flagged
    ``release-unseen``. Decided per distinct (engine, version) pair.
    """
    engine = cats.as_categorical(c["engine"])
    # Engines measured at stated releases too: a row naming none is read as the rows that
    # stated none (like with like), but may run any release, so its interval also holds what
    # the stated ones predict (HF transformers: the quantization reports' unstated releases at
    # 495 us per layer, 5.17 on our H200's host at 1,452 us).
    versioned = {level.split("@", 1)[0] for level in measured if "@" in level}

    def unnamed_assumed(e: str, default: str) -> bool:
        return "@" in default or e in versioned

    if "engine_version" not in c.columns or c["engine_version"].isna().all():
        labels = [releases.get(str(e), str(e)) for e in engine.categories]
        if not labels:
            return pd.Categorical([]), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
        flags = [unnamed_assumed(str(e), lab) for e, lab in zip(engine.categories, labels, strict=True)]
        assumed = np.append(np.array(flags, dtype=bool), False)[np.where(np.asarray(engine.codes) < 0, len(flags), engine.codes)]
        return cats.from_table(np.asarray(engine.codes), labels), assumed, np.zeros(len(assumed), dtype=bool)
    version = cats.as_categorical(c["engine_version"].astype(object).where(c["engine_version"].notna(), ""))
    pair_codes, pairs = pd.MultiIndex.from_arrays([engine.codes, version.codes]).factorize()
    eng = np.asarray(engine.categories, dtype=object)[[p[0] for p in pairs]]
    ver = np.asarray(version.categories, dtype=object)[[p[1] for p in pairs]]
    named = ver != ""
    default = np.array([releases.get(str(e), str(e)) for e in eng], dtype=object)
    labels = np.where(named, engine_release(eng, np.where(named, ver, None)), default)
    bracketed = np.zeros(len(labels), dtype=bool)

    for i, label in enumerate(labels):
        if named[i] and "@" in str(label) and str(label) not in measured:
            nearest = _bracketing_release(str(label), measured)
            if nearest is not None:
                labels[i], bracketed[i] = nearest, True
    assumed = (~named & np.array([unnamed_assumed(str(e), str(d)) for e, d in zip(eng, default, strict=True)], dtype=bool)) | bracketed
    codes = np.asarray(pair_codes)
    return cats.from_table(codes, labels.tolist()), assumed[codes], bracketed[codes]


def measured_candidates(prep: pd.DataFrame) -> pd.DataFrame:
    """The candidate frame of measured rows (:func:`prepare_table` output), each with its own
    engine release and token profile: what cross-validation and calibration predict them from."""
    return pd.DataFrame(
        {
            "platform": prep["platform"].to_numpy(),
            "device_count": prep["device_count"].to_numpy(),
            "pipeline_stages": prep["pipeline_stages"].to_numpy(),
            "engine": prep["engine"].to_numpy(),
            "engine_version": prep["engine_version"].to_numpy(dtype=object) if "engine_version" in prep else None,
            "model_id": prep["model_id"].to_numpy(),
            "quantization": prep["quantization"].to_numpy(),
            "batch_size": prep["batch_size"].to_numpy(),
            "task": prep["task"].to_numpy(),
            "prompt_tokens_mean": prep["prompt_tokens"].to_numpy(),
            "output_tokens_mean": prep["output_tokens"].to_numpy(),
            "output_tokens_dispersion": prep["output_dispersion"].to_numpy(),
            "choices_mean": prep["choices"].to_numpy(),
            "forward_passes_mean": prep["passes"].to_numpy(),
            "fed_tokens_mean": prep["fed_tokens"].to_numpy(),
        }
    )
