"""A fitted roofline: the peak-rate priors corrected by a handful of global constants.

The roofline priors of :mod:`recommender.model.physics` assume that a decode step runs at
peak memory bandwidth or peak tensor throughput, whichever binds, and nothing else. Real
servers miss both peaks and pay a per-layer cost that no peak rate shrinks (kernel
launches, synchronisation, the scheduler between steps). Across GPUs these are *shared*
constants, not properties of one card: an H100 and a B200 run the same kernels and the same
engine. So the decode step time is modelled as::

    t_step = a * t_mem + b * t_compute + c[release] * layers + s[release] * running

plus ``d * t_prefill_share`` (prompt-pass time x batch / output tokens: in time the prompt
passes of batch-mates that interleave with a request's decode steps, ``d`` fitted; in energy the
query's own prompt pass, ``d = 1``, see :class:`~recommender.model.estimator.RooflineFit`), the
per-sequence cost ``s`` where fitted (:data:`SEQ_SCALE_S`),
with ``a >= 1`` (inverse achieved share of peak bandwidth), ``b >= 1`` (inverse achieved
share of peak tensor throughput) and ``c[release] >= 0`` (seconds per layer per step, one per
serving engine release, ``vllm@0.11``, or per engine where releases are not given; a release
not seen in ``fit`` is placed by its version among its engine's fitted releases, see
:func:`unseen_release_log_c`; an engine not seen gets the geometric mean of its family's levels,
:func:`unseen_engine_log_c`), all
fitted by robust non-linear least squares in log space (``scipy.optimize.least_squares``,
soft-L1 loss so a few odd rows cannot pull the constants). Energy per output token is
``power * t_step / batch`` with board power at TDP, exactly as the raw prior, so the fitted
roofline is the raw one whenever ``a = b = 1`` and ``c = 0``.

Because the constants are shared by every platform, a GPU never measured still gets the
slower-than-bandwidth speed-up measured on the others (a faster memory system shortens
``t_mem`` only, not the per-layer term): that is the point. The regressor of
:mod:`recommender.model.estimator` then learns ``log(measured / fitted roofline)``.

:class:`recommender.model.estimator.RooflineFit` (scikit-learn's estimator conventions)
fits the constants; its state is a few floats (JSON) and :func:`fitted_prior` here evaluates
it with numpy only, so loading a fitted model never imports scikit-learn or SciPy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from recommender.errors import ModelStateError
from recommender.model import cats
from recommender.model.features import column_of, floats

LAYER_SCALE_S = 1e-5
"""Unit of the per-layer constant (10 microseconds), so every parameter starts near 0 in log."""

KINDS = ("energy", "time")


PRIOR_INPUTS: tuple[str, ...] = ("t_mem_s", "t_kv_s", "t_compute_s", "t_comm_s", "t_prefill_share_s", "log_layers", "power_draw_w", "batch_running", "engine")
"""Feature columns the fitted roofline reads (besides ``engine_release`` where present)."""


def _terms(feats: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(t_mem_s, t_compute_s, layers, power_draw_w, batch)`` per row from a feature frame."""
    return (
        floats(feats, "t_mem_s"),
        floats(feats, "t_compute_s"),
        np.exp(floats(feats, "log_layers")),
        floats(feats, "power_draw_w"),
        floats(feats, "batch_running"),
    )


OVERHEAD_COLUMN = "engine_release"
"""Column whose levels get their own per-layer constant where the frame has it (``vllm@0.11``):
the per-step overhead is a property of the engine's *release* (vLLM 0.6.0's release notes are
about cutting exactly this CPU-side cost), not of the GPU. Frames without it key by engine."""


def level_column(feats: Any) -> Any:
    """The per-row overhead level: the engine release where the frame carries it, else the engine."""
    columns = getattr(feats, "columns", ())
    return column_of(feats, OVERHEAD_COLUMN) if OVERHEAD_COLUMN in columns else column_of(feats, "engine")


RELEASE_PRIOR_FACTOR = 5.0
"""Largest speed-up of the per-step cost one engine release is assumed to bring.

Published evidence of one release's effect: vLLM 0.6.0 cut time per output token 5x on Llama
3 8B (1 x H100) and 2x on Llama 3 70B (4 x H100) against 0.5.3 (vLLM blog, "vLLM v0.6.0:
2.7x Throughput Improvement and 5x Latency Reduction", 2024-09-05). It bounds how far a
release never measured may lie from its measured neighbour (:data:`RELEASE_STEP_LOG`); where
it is placed is :func:`release_gap_log`'s."""

RELEASE_STEP_LOG = 0.5 * float(np.log(RELEASE_PRIOR_FACTOR))
"""The 90% half-width of an unseen release's per-step cost where no engine was measured at two
releases: half the log range from "as fast" to :data:`RELEASE_PRIOR_FACTOR` times faster."""


CONTINUOUS_BATCHING_ENGINES: tuple[str, ...] = ("vllm", "tensorrt-llm", "sglang", "deepspeed-mii", "tgi", "lmdeploy")
"""Serving engines built around iteration-level (continuous) batching over a paged KV cache,
with fused attention kernels and captured CUDA graphs for decode steps: vLLM (Kwon et al.,
SOSP 2023), TensorRT-LLM (in-flight batching, paged KV), SGLang (RadixAttention), DeepSpeed-MII
(DeepSpeed-FastGen's blocked KV cache), Hugging Face TGI and LMDeploy (TurboMind), each as
its own documentation describes it. Their per-step host cost is of one kind, unlike a research
stack's (HF transformers' ``generate``, FastChat on top of it), which launches every kernel
from Python each step. So one of them never measured takes the per-layer cost of this family's
newest measured releases (:func:`unseen_engine_log_c`); the same engines page their KV cache in the
memory-fit rule (``recommender.rules.fit.FitParams.paged_engines``)."""


COMPILED_STEP_ENGINES: tuple[str, ...] = (*CONTINUOUS_BATCHING_ENGINES, "llama.cpp")
"""Engines whose decode step is launched from compiled code, not from Python kernel by kernel:
the continuous-batching servers and llama.cpp (a C/C++ runtime whose ggml graph runs a step on
the GPU in one go; its server batches its slots continuously too, but over a KV cache of fixed
slots, not pages). An accelerator never measured under such an engine takes the per-layer host
cost of the continuous-batching family's newest measured releases
(:func:`unseen_engine_log_c`); the ridge still reads llama.cpp as itself (no peer engine)."""


RELEASE_MILESTONES: dict[str, tuple[tuple[tuple[int, ...], float, float], ...]] = {
    "vllm": (
        # vLLM blog, "vLLM v0.6.0: 2.7x Throughput Improvement and 5x Latency Reduction"
        # (2024-09-05): time per output token 5x lower than v0.5.3 on Llama 3 8B (1 x H100),
        # 2x lower on Llama 3 70B (4 x H100); CPU scheduling overlapped with the GPU.
        ((0, 6), 2.0, 5.0),
        # vLLM blog, "vLLM V1: A Major Upgrade to vLLM's Core Architecture" (2025-01-27): up to
        # 1.7x the throughput of V0; v0.8.0 (2025-03) is the first release serving with V1 by
        # default.
        ((0, 8), 1.0, 1.7),
    ),
}
"""Releases whose announcements report a rebuilt per-step path, per engine: ``(release, least,
most)`` speed-up of the step the announcement reports (``least`` 1 where it gives one figure
"up to"). :func:`release_gap_log` places a release never measured across them."""


RELEASE_QUIET_FACTOR = 1.17
"""Per-step gain placed for one minor release that announced no rebuilt per-step path.

vLLM's own benchmark in the pull request bumping it to v0.4.3 (vllm-project/vllm#5046,
2024-05-25): offline throughput 14.33 -> 15.62 requests/s for Llama 7B on one GPU (x1.09) and
8.05 -> 10.15 for Llama 70B on four (x1.26), geometric mean x1.17. Releases also regress (v0.4.0
-> v0.4.1: 20.13 -> 17.67 requests/s, vllm-project/vllm#4210, fixed later); the width of
``release-unseen`` is what covers either. Until 2026-12-05 a gap with no announced milestone
was one step of x2.24 (the middle of "as fast" and the largest announced gain, x5), however
few releases it spanned: vLLM 0.4.x was placed 2.1x slower than 0.5.4 (Llama-3-8B, one H100,
40.9 against 19.7 s per query), a gap no release note reports."""


def minor_steps(older: tuple[int, ...], newer: tuple[int, ...]) -> int:
    """Minor release lines from ``older`` to ``newer`` (``(0, 5)`` -> ``(0, 11)``: 6; a new major
    counts as one plus its minors), at least one."""
    o = (tuple(older) + (0, 0))[:2]
    n = (tuple(newer) + (0, 0))[:2]
    steps = n[1] - o[1] if n[0] == o[0] else (n[0] - o[0]) + n[1]
    return max(int(steps), 1)


def release_gap_log(engine: str, older: tuple[int, ...], newer: tuple[int, ...], kind: str = "time") -> float:
    """Log factor by which the per-step costs of ``engine`` at release ``older`` are placed above
    those at ``newer``.

    For an engine whose release history was read (:data:`RELEASE_MILESTONES`: vLLM), time
    (``kind="time"``) is the sum, over the milestones of :data:`RELEASE_MILESTONES` in
    ``(older, newer]``, of the log geometric middle of each one's published range, plus
    :data:`RELEASE_QUIET_FACTOR` for each other minor release line between them (one at least).
    Energy (``"energy"``): the milestones alone (none between: as the measured release). A
    quiet release's gain is taken as host-side work, as the announced rebuilds were (0.6.0
    overlapped CPU scheduling with the GPU): it shortens a step, while the GPU's kernels, which
    draw the power, stay; on the shipped rows vLLM 0.5 -> 0.11 cut the time roofline's per-layer
    cost x6.8 but energy per query x3.2. Held out (`eai evaluate`, 2026-12-05), time
    with quiet steps: leave-one-source-out time per query 23.8 -> 17.2 % (ML.ENERGY v3 held out
    1.25 -> 0.92x, v2 0.78 -> 1.22x), leave-one-platform-out 19.0 -> 18.7 %, energy unchanged;
    energy with them too: leave-one-source-out energy 15.5 -> 23.2 % (v3 held out 0.91 -> 0.77x).
    Another engine's unseen release is one step of unknown gain in both, :data:`RELEASE_STEP_LOG`
    (its minor versions say nothing of its speed: HF transformers ships one a month); placing
    transformers' releases as vLLM's (x1.17 a minor in time, none in energy) took the
    quantization reports held out from 38.7 to 53.7 % in energy.

    vLLM 0.5 -> 0.11 crosses 0.6.0 (2-5x) and 0.8.0 (1-1.7x): x4.1, and 0.7, 0.9, 0.10, 0.11
    (x1.17 each): x7.7 in time, x4.1 in energy."""
    if engine not in RELEASE_MILESTONES:
        # No release history was read for this engine: one release of unknown gain, the middle
        # of "as fast" and the largest gain announced for any engine (x2.24), in both.
        return RELEASE_STEP_LOG
    crossed = [(lo, hi) for at, lo, hi in RELEASE_MILESTONES[engine] if older < at <= newer]
    total = sum(0.5 * float(np.log(lo * hi)) for lo, hi in crossed)
    quiet = float(np.log(RELEASE_QUIET_FACTOR))
    if kind == "energy":
        return total
    return total + max(minor_steps(older, newer) - len(crossed), 0 if crossed else 1) * quiet


def release_order(level: str) -> tuple[int, ...]:
    """Numeric sort key of ``engine@major.minor`` (``vllm@0.11`` after ``vllm@0.5``).

    Raises:
        ValueError: ``level`` names no numeric release (``vllm``, ``vllm@dev``).
    """
    if "@" not in level:
        raise ValueError(f"engine level {level!r} names no release")
    return tuple(int(x) for x in level.split("@", 1)[1].split("."))


def _engine_of(level: str) -> str:
    return level.split("@", 1)[0]


def release_neighbours(level: str, fitted: Iterable[str]) -> tuple[str | None, str | None]:
    """The nearest releases of ``level``'s engine among ``fitted`` below and above it by version
    (``level`` itself and levels naming no numeric release left out); None on a side without one,
    and on both where ``level`` names no numeric release."""
    try:
        key = release_order(level)
    except ValueError:
        return None, None
    below: list[tuple[tuple[int, ...], str]] = []
    above: list[tuple[tuple[int, ...], str]] = []
    for e in fitted:
        if _engine_of(e) != _engine_of(level) or e == level:
            continue
        try:
            k = release_order(e)
        except ValueError:
            continue
        if k < key:
            below.append((k, e))
        elif k > key:
            above.append((k, e))
    return (max(below)[1] if below else None), (min(above)[1] if above else None)


def past_range_neighbour(level: str, measured: Iterable[str]) -> tuple[str, bool] | None:
    """For a release newer (older) than every measured release of its engine: the newest
    (oldest) measured one and whether ``level`` is newer; None for a measured release, one
    between two measured ones, or one whose engine has no numeric measured release."""
    measured = set(measured)
    if level in measured:
        return None
    lo, hi = release_neighbours(level, measured)
    if (lo is None) == (hi is None):
        return None
    return (lo, True) if lo is not None else (str(hi), False)


def unseen_release_log_c(level: str, fitted: Mapping[str, float], kind: str = "time") -> float:
    """Log per-layer constant of an engine level that was not fitted, from its engine's fitted
    releases ``fitted`` (``{level: log_c}``, at least one).

    Engines are not expected to get slower from one release to the next: each release's notes
    list the per-step costs it cut (vLLM 0.6.0: CPU scheduling overlapped with the GPU, 5x lower
    time per output token). So a release newer than every fitted one is placed faster than the
    newest by :func:`release_gap_log` (``kind``: ``"time"`` or ``"energy"``): the announced
    speed-ups of the milestone releases between them and, in time, a typical release's gain
    for each other one (:data:`RELEASE_QUIET_FACTOR`); one older than every fitted one mirrors
    it; one between
    two fitted releases takes their geometric mean. Where versions cannot place it (the level
    or every fitted one names no numeric release) it takes the geometric mean of all of them.

    Regressions happen (a release can slow a given model down), and the width of
    ``release-unseen``, calibrated where two releases were measured, is what covers them.
    """
    lo, hi = release_neighbours(level, fitted)
    if lo is not None and hi is not None:
        return 0.5 * (fitted[lo] + fitted[hi])
    if lo is not None:
        return fitted[lo] - release_gap_log(_engine_of(level), release_order(lo), release_order(level), kind)
    if hi is not None:
        return fitted[hi] + release_gap_log(_engine_of(level), release_order(level), release_order(hi), kind)
    return float(np.mean(list(fitted.values())))


def family_engine(engine: str, fitted: Iterable[str]) -> str | None:
    """The measured engine an engine never measured is read as, or None.

    A continuous-batching server (:data:`CONTINUOUS_BATCHING_ENGINES`) never measured is read as
    the first of that family that was (in the tuple's order; vLLM is the only one measured in
    the shipped table): its per-step physics is of that kind, so the ridge's per-engine offset
    and batch slopes, the measured batch range and the batch floor are that peer's, while the
    row keeps its own name and the ``engine-unseen`` flag and width. Any other engine, and one
    that was measured, maps to None (read as itself).
    """
    known = set(fitted)
    if engine in known or engine not in CONTINUOUS_BATCHING_ENGINES:
        return None
    peers = [e for e in CONTINUOUS_BATCHING_ENGINES if e in known]
    return peers[0] if peers else None


def unseen_engine_log_c(level: str, fitted: Mapping[str, float]) -> float:
    """Log per-layer constant of an engine none of whose releases was fitted, from the fitted
    levels ``fitted`` (``{level: log_c}``, at least one).

    An engine whose step is launched from compiled code (:data:`COMPILED_STEP_ENGINES`: the
    continuous-batching servers and llama.cpp) takes the continuous-batching family's current
    state: the newest fitted release of each such engine (by version; an engine fitted only
    without a numeric release, that level), geometric mean over those engines. An engine
    asked without a release is taken at the newest fitted release for a measured engine too
    (``ComponentModel._release_as_fitted``); a peer's old releases say how that peer ran before
    its own per-step costs were cut, not how another engine runs today. Any other engine, or
    one with no continuous-batching level fitted, takes the geometric mean of every fitted level.

    History: before 2026-12-03 every unseen engine took the mean of all levels, research stacks
    included (TensorRT-LLM twice as slow as vLLM, Llama-3-8B on an H100 at batch 1: 18.0 vs
    9.0 s for 1,024 output tokens); until 2026-12-04 a continuous-batching one took the mean of
    vLLM 0.5 and 0.11, placing it 4.1x / 2 behind the vLLM it is asked next to (14.9 vs 8.7 s).
    Until 2026-12-05 llama.cpp on a GPU (measured on CPUs only, whose rows are modelled apart)
    took the mean of every level, HF transformers' and FastChat's Python loops included: 651 us
    per layer per step, 42 ms of a 64-layer 32B model's step on an RTX 4090 whose weights take
    18 ms to read (57 ms per token); now vLLM 0.11's 124 us. The shipped rows cannot test this (one
    continuous-batching engine was measured, no GPU llama.cpp row).
    """
    if _engine_of(level) in COMPILED_STEP_ENGINES:
        newest: dict[str, tuple[tuple[int, ...], float]] = {}
        for e, v in fitted.items():
            engine = _engine_of(e)
            if engine not in CONTINUOUS_BATCHING_ENGINES:
                continue
            try:
                key = release_order(e)
            except ValueError:
                key = ()
            if engine not in newest or key > newest[engine][0]:
                newest[engine] = (key, float(v))
        if newest:
            return float(np.mean([v for _, v in newest.values()]))
    return float(np.mean(list(fitted.values())))


def _level_log_c(labels: np.ndarray, engines: Sequence[str], log_c: np.ndarray, own_unseen: bool, kind: str) -> np.ndarray:
    """Log per-layer constant per level of ``labels`` (engine releases, or engines), plus a last
    slot (the mean of ``log_c``) for a missing level: a table the rows' level codes index.

    A level's own constant; for a level not fitted, placed among the fitted releases of its
    engine (:func:`unseen_release_log_c`), else as an engine never seen
    (:func:`unseen_engine_log_c`). ``own_unseen``: every level is treated as not fitted and
    placed among the *other* releases of its engine (what a row would get with its release held
    out); levels whose engine has no other release keep their own."""
    fallback = float(np.mean(log_c)) if len(log_c) else 0.0
    index = {e: i for i, e in enumerate(engines)}

    def value(label: str) -> float:
        if label in index and not own_unseen:
            return float(log_c[index[label]])
        others = {e: float(log_c[i]) for e, i in index.items() if _engine_of(e) == _engine_of(label) and e != label}
        if others:
            return unseen_release_log_c(label, others, kind)
        if label in index:
            return float(log_c[index[label]])
        return unseen_engine_log_c(label, {e: float(log_c[i]) for e, i in index.items()}) if index else fallback

    return np.array([value(str(lab)) for lab in labels] + [fallback], dtype=float)


def batch_varied_levels(feats: Any, engines: Sequence[str]) -> list[str]:
    """The levels among ``engines`` that get a cost per running sequence: continuous-batching
    servers (:data:`CONTINUOUS_BATCHING_ENGINES`, whose schedulers handle each sequence on the
    host every step) whose rows ran at more than one running batch (max / min >= 2), where a
    cost per sequence can be told from a cost per step."""
    batch = np.asarray(feats["batch_running"], dtype=float)
    level = np.asarray(level_column(feats)).astype(str)
    out = []
    for e in engines:
        if _engine_of(e) not in CONTINUOUS_BATCHING_ENGINES:
            continue
        b = batch[level == e]
        if len(b) and b.max() >= 2.0 * b.min():
            out.append(e)
    return out


KERNEL_COLUMN = "layer_kernel"
"""Feature column naming each row's per-layer kernel path ('' for none): the quantization
catalog's ``layer_kernel`` (bitsandbytes' int8 and 4-bit paths)."""


def kernel_rows(feats: Any, kernels: Sequence[str]) -> np.ndarray:
    """Per row, the position in ``kernels`` of its quantization's per-layer kernel path; -1 where
    none applies: no such path, a path not in ``kernels``, or an engine whose step is launched
    from compiled code (:data:`COMPILED_STEP_ENGINES`), where the launches a Python loop pays
    per kernel are not paid."""
    columns = getattr(feats, "columns", ())
    if not len(kernels) or KERNEL_COLUMN not in columns:
        return np.full(len(feats), -1, dtype=np.int64)
    codes, labels = cats.parts(column_of(feats, KERNEL_COLUMN))
    index = {k: i for i, k in enumerate(kernels)}
    path = np.array([index.get(str(lab), -1) for lab in labels] + [-1], dtype=np.int64)[codes]  # code -1: the last slot
    return np.where(_python_launched(feats), path, -1)


def _python_launched(feats: Any) -> np.ndarray:
    """Per row, whether its engine launches a step's kernels from Python (not in
    :data:`COMPILED_STEP_ENGINES`)."""
    codes, labels = cats.parts(column_of(feats, "engine"))
    python_loop = np.array([str(e) not in COMPILED_STEP_ENGINES for e in labels] + [True], dtype=bool)
    return np.take(python_loop, codes)  # code -1 (missing): the last slot


def measured_kernels(feats: Any) -> list[str]:
    """The per-layer kernel paths some row of ``feats`` ran (under a Python-launched engine)."""
    columns = getattr(feats, "columns", ())
    if KERNEL_COLUMN not in columns:
        return []
    _, labels = cats.parts(feats[KERNEL_COLUMN])
    named = sorted(str(lab) for lab in labels if str(lab))
    rows = kernel_rows(feats, named)
    return [k for i, k in enumerate(named) if (rows == i).any()]


def kernel_layer_cost_s(feats: Any, log_k: Mapping[str, float] | None) -> np.ndarray | None:
    """Per row, the fitted per-layer cost of its kernel path, s (0 where none applies; None: no
    path fitted).

    A path never measured takes the cheapest measured path's cost: every such path wraps each
    linear layer in kernels of its own, and the least any of them was seen to cost is the
    smallest claim. Held out (the quantization reports' RTX 4090 D and RTX 5090 together, no
    4-bit row left), costing it nothing put their NF4 runs at 0.52-0.74x the measured time."""
    if not log_k:
        return None
    columns = getattr(feats, "columns", ())
    if KERNEL_COLUMN not in columns:
        return None
    codes, labels = cats.parts(column_of(feats, KERNEL_COLUMN))
    cheapest = float(min(log_k.values()))
    per_label = np.array(
        [np.exp(float(log_k.get(str(lab), cheapest))) * LAYER_SCALE_S if str(lab) else 0.0 for lab in labels] + [0.0], dtype=float
    )
    cost = np.take(per_label, codes)  # code -1 (missing): the last slot
    return np.where(_python_launched(feats), cost, 0.0)


SEQ_SCALE_S = 1e-5
"""Unit of the per-sequence cost per step, s (10 us).

Besides the per-layer cost, a serving engine spends host time on every running sequence every
step: scheduling it, preparing its inputs, sampling and detokenizing its token (vLLM 0.6.0's
release notes measured these CPU-side costs and overlapped them with the GPU; vLLM V1 rebuilt
the scheduler around them). That time does not shrink on a faster GPU, so at large batches a
B200 or an H100 is not as far ahead of an A100 as its bandwidth says (ML.ENERGY v3: at the
same concurrency a B200 serves 1.35x an H100's tokens per second, median of 108 matched
configurations, against 2.4x the bandwidth). Fitted per level, in time and (as that time drawn
at part of TDP) in energy (:class:`~recommender.model.estimator.RooflineFit` ``sequence_cost``)."""


def evaluate(
    kind: str,
    log_a: float,
    log_b: float,
    engines: Sequence[str],
    log_c: np.ndarray,
    feats: Any,
    own_unseen: bool = False,
    log_d: float | None = None,
    log_e: float | None = None,
    log_kv: float | None = None,
    log_s: Mapping[str, float] | None = None,
    log_k: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Fitted-roofline J (``kind="energy"``) or s (``"time"``) per output token for every row,
    from the log constants (``log_c`` per level in ``engines``; ``log_d`` the prompt-pass
    factor, None for none; ``log_e`` a factor on the tensor-parallel all-reduce time ``t_comm_s``,
    None for the raw physics term; ``log_s`` the cost per running sequence per step of the
    levels that have one, :data:`SEQ_SCALE_S`: none for the other fitted levels, placed like the
    per-layer cost for levels never fitted; None or empty for none; ``log_k`` the per-layer cost
    of each quantization kernel path, :data:`LAYER_SCALE_S`, added to the level's on rows of a
    Python-launched engine, :func:`kernel_layer_cost_s`); ``own_unseen`` as in
    :func:`_level_log_c`.

    The all-reduce term is added at its raw size: fitting its factor (``log_e``) on the shipped
    rows made leave-one-source-out worse (energy per query 18.8 -> 20.6 % median APE, time
    44.2 -> 50.4 %), so :class:`~recommender.model.estimator.RooflineFit` leaves it unfitted."""
    t = StepTerms(feats, with_kv=log_kv is not None, with_d=log_d is not None)
    # The per-level constants are exponentiated per level (a few), then taken per row.
    codes, labels = cats.parts(level_column(feats))
    c = np.take(np.exp(_level_log_c(labels, engines, log_c, own_unseen, kind)) * LAYER_SCALE_S, codes)  # code -1: the last slot
    # The sum is built in one array this function owns, term by term in the order the step
    # adds them (in place: no temporary per term on a million rows).
    t_step = np.exp(log_a) * t.t_weights
    if t.t_kv is not None:
        t_step += np.exp(log_kv) * t.t_kv
    t_step += np.exp(log_b) * t.t_comp
    t_step += np.multiply(c, t.layers, out=c)
    kernel = kernel_layer_cost_s(feats, log_k)
    if kernel is not None:
        t_step += np.multiply(kernel, t.layers, out=kernel)
    if log_s:
        s_levels = list(log_s)
        per_level = np.exp(_level_log_c(labels, s_levels, np.array([log_s[e] for e in s_levels], dtype=float), own_unseen, kind))
        # A level fitted without one (its rows all ran at one batch size) keeps none, as in the
        # fit; a level never fitted is placed among those that have one.
        fitted = set(engines)
        without = np.array([str(lab) in fitted and str(lab) not in log_s for lab in labels] + [False], dtype=bool)
        per_seq = np.take(np.where(without, 0.0, per_level) * SEQ_SCALE_S, codes)
        t_step += np.multiply(per_seq, t.batch, out=per_seq)
    if t.comm is not None:
        t_step += np.exp(log_e if log_e is not None else 0.0) * t.comm
    if t.prefill is not None:
        t_step += np.exp(log_d) * t.prefill
    if kind == "energy":
        np.multiply(t.power, t_step, out=t_step)
        t_step /= t.batch
    return t_step


class StepTerms:
    """The arrays a roofline step is built from, per row (the roofline's physics, read once).

    ``t_weights`` is the bandwidth time the weights' factor multiplies: all of ``t_mem_s``, or
    without its KV-cache part where ``with_kv`` gives those reads their own factor (paged-attention
    kernels reach another share of peak bandwidth than the weight GEMMs). ``t_kv``, ``comm``
    (tensor-parallel all-reduce) and ``prefill`` (batch-mates' prompt passes, ``with_d``) are None
    where the term is off or the frame lacks its column.
    """

    def __init__(self, feats: Any, with_kv: bool, with_d: bool) -> None:
        t_mem, t_comp, layers, power, batch = _terms(feats)
        columns = getattr(feats, "columns", ())
        self.t_comp, self.layers, self.power, self.batch = t_comp, layers, power, batch
        if with_kv and "t_kv_s" in columns:
            self.t_kv = np.minimum(floats(feats, "t_kv_s"), t_mem)
            self.t_weights = t_mem - self.t_kv
        else:
            self.t_kv, self.t_weights = None, t_mem
        self.comm = floats(feats, "t_comm_s") if "t_comm_s" in columns else None
        self.prefill = floats(feats, "t_prefill_share_s") if with_d and "t_prefill_share_s" in columns else None


class FitTerms:
    """:class:`StepTerms` for rows whose every level was fitted, so that a least-squares fit
    evaluates the roofline and its exact Jacobian in log space with a few vector operations per
    step (:class:`~recommender.model.estimator.RooflineFit`); the same values as :func:`evaluate`.

    ``theta = (log_a, log_b, log_d, log_kv, log_c per level..., log_s per level of s_levels...,
    log_k per kernel path...)``.

    Args:
        kind: ``"energy"`` or ``"time"``.
        feats: Feature frame of the fit's rows.
        engines: The fit's overhead levels (every row's level among them).
        with_d: Whether the prompt-pass term is fitted.
        with_kv: Whether the KV-cache reads have their own factor.
        s_levels: Levels with a cost per running sequence (:func:`batch_varied_levels`); rows of
            other levels get none in the fit.
        fixed_d: The prompt-pass term (``with_d``) enters at factor 1, not as a parameter.
        kernels: Quantization kernel paths with a per-layer cost (:func:`measured_kernels`).
    """

    def __init__(
        self,
        kind: str,
        feats: Any,
        engines: Sequence[str],
        with_d: bool,
        with_kv: bool,
        s_levels: Sequence[str] = (),
        fixed_d: bool = False,
        kernels: Sequence[str] = (),
    ) -> None:
        t = StepTerms(feats, with_kv=with_kv, with_d=with_d)
        self.n_s = len(s_levels)
        self.seq_s = t.batch * SEQ_SCALE_S
        self.scale = t.power / t.batch if kind == "energy" else np.ones(len(t.t_comp))
        self.t_weights, self.t_kv, self.t_comp, self.prefill = t.t_weights, t.t_kv, t.t_comp, t.prefill
        self.layer_s = t.layers * LAYER_SCALE_S
        self.fixed = t.comm if t.comm is not None else np.zeros(len(t.t_comp))
        if fixed_d and self.prefill is not None:
            # The prompt-pass term at its raw size: part of the step, not a parameter.
            self.fixed = self.fixed + self.prefill
            self.prefill = None
        codes, labels = cats.parts(level_column(feats))
        index = {e: i for i, e in enumerate(engines)}
        # Categories no row uses may be absent from ``engines`` (-1); every row's level is there.
        self.level = np.array([index.get(str(lab), -1) for lab in labels] + [-1], dtype=np.int64)[codes]
        if (self.level < 0).any():
            raise ValueError("a row's overhead level is not among the fit's levels")
        self.n_levels = len(engines)
        s_index = {e: i for i, e in enumerate(s_levels)}
        self.s_level = np.array([s_index.get(e, -1) for e in engines], dtype=np.int64)[self.level]
        self.n_k = len(kernels)
        self.k_row = kernel_rows(feats, kernels)

    def log_value_and_jacobian(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``log`` of the roofline per row at ``theta = (log_a, log_b, log_d, log_kv, log_c...)``
        and its derivative in each parameter (columns in the order of ``theta``; zero for a term
        not fitted)."""
        parts = np.zeros((len(self.t_comp), 4 + self.n_levels + self.n_s + self.n_k))
        parts[:, 0] = np.exp(theta[0]) * self.t_weights
        parts[:, 1] = np.exp(theta[1]) * self.t_comp
        if self.prefill is not None:
            parts[:, 2] = np.exp(theta[2]) * self.prefill
        if self.t_kv is not None:
            parts[:, 3] = np.exp(theta[3]) * self.t_kv
        rows = np.arange(len(self.level))
        parts[rows, 4 + self.level] = np.exp(theta[4 : 4 + self.n_levels])[self.level] * self.layer_s
        if self.n_s:
            has = self.s_level >= 0
            s_theta = theta[4 + self.n_levels : 4 + self.n_levels + self.n_s]
            parts[rows[has], 4 + self.n_levels + self.s_level[has]] = np.exp(s_theta)[self.s_level[has]] * self.seq_s[has]
        if self.n_k:
            has = self.k_row >= 0
            k0 = 4 + self.n_levels + self.n_s
            parts[rows[has], k0 + self.k_row[has]] = np.exp(theta[k0:])[self.k_row[has]] * self.layer_s[has]
        t_step = parts.sum(axis=1) + self.fixed
        # d log(scale x t_step) / d log(factor) = that factor's term / t_step.
        return np.log(self.scale * t_step), parts / t_step[:, None]


PREFILL_KINDS = ("prefill-energy", "prefill-time")
"""Kinds of :func:`prefill_state`: a log-likelihood pass priced with decode's per-layer cost."""


def prefill_state(decode_state: Mapping[str, Any]) -> dict[str, Any]:
    """The prefill prior's state from a fitted decode roofline's (its per-layer cost per level).

    A log-likelihood forward pass walks every layer as a decode step does, so it pays the same
    per-layer cost (kernel launches, the engine's Python between them), which no peak rate
    shrinks; only that constant is carried over, with the quantization kernel paths' per-layer
    costs (a prompt pass runs the same kernels around every linear layer); the bandwidth and
    throughput shares were fitted on decode steps, whose products are far smaller than a prompt
    pass's."""
    kind = "prefill-energy" if str(decode_state["kind"]) == "energy" else "prefill-time"
    log_k = {str(k): float(v) for k, v in dict(decode_state.get("log_k") or {}).items()}
    return {
        "kind": kind, "log_a": 0.0, "log_b": 0.0, "log_c": {str(k): float(v) for k, v in dict(decode_state["log_c"]).items()},
        "log_k": log_k or None,
    }


def prefill_prior(
    kind: str, engines: Sequence[str], log_c: np.ndarray, feats: Any, own_unseen: bool = False, log_k: Mapping[str, float] | None = None
) -> np.ndarray:
    """Prefill prior per fed token: J (``prefill-energy``) or s of latency (``prefill-time``).

    A static batch of ``B`` sequences runs one pass over all of them, holding ``Q = B / passes``
    queries (``prefill_queries``), or a query's passes run ``R = passes / B`` rounds one after
    another (``prefill_rounds``). With the roofline time per token ``t`` (``prior_t_pre``,
    throughput sense) and the per-layer cost ``c`` (decode's, per engine level):

    - latency per fed token ``= Q x t + c x layers x R / fed`` (the query waits for its batch's
      pass, and for the layers' fixed cost once per round; ``prior_t_pre`` is ``Q x t``);
    - energy per fed token ``= power x (t + c x layers x R / (Q x fed))`` (the devices' time
      per query: the pass's fixed cost is shared by the queries it holds).

    On SmolLM2-135M, one H200, hf-transformers, ARC-Easy (``data/profiled/smollm2-h200.csv``):
    latency at batch 1 0.15 s against 0.12 s measured, where the roofline alone gave 0.2 ms.
    """
    codes, labels = cats.parts(level_column(feats))
    per_level = np.exp(_level_log_c(labels, engines, log_c, own_unseen, "energy" if kind == "prefill-energy" else "time")) * LAYER_SCALE_S
    # ``fixed`` is built in place in the one array this function owns (the same operations in
    # the same order: no temporary per step on a million rows).
    fixed = np.take(per_level, codes)  # exponentiated per level, then taken per row (code -1: the last slot)
    kernel = kernel_layer_cost_s(feats, log_k)
    if kernel is not None:
        fixed += kernel
    fixed *= np.exp(floats(feats, "log_layers"))
    fixed *= floats(feats, "prefill_rounds")
    fixed /= np.maximum(floats(feats, "fed_tokens"), 1.0)
    if kind == "prefill-time":
        fixed += floats(feats, "prior_t_pre")  # prior_t_pre: Q x t already
        return fixed
    np.multiply(floats(feats, "power_draw_w"), fixed, out=fixed)
    fixed /= floats(feats, "prefill_queries")
    fixed += floats(feats, "prior_e_pre")
    return fixed


def fitted_prior(state: Mapping[str, Any], feats: Any, own_release_unseen: bool = False) -> np.ndarray:
    """Evaluate an exported :class:`~recommender.model.estimator.RooflineFit` with numpy only.

    ``own_release_unseen``: each row as if its own engine release had not been fitted (its
    per-layer cost from the engine's other releases): how a held-out release is predicted.

    Raises:
        ModelStateError: The state is malformed.
    """
    try:
        kind = str(state["kind"])
        engines = list(dict(state["log_c"]))
        log_c = np.array([float(state["log_c"][e]) for e in engines], dtype=float)
        log_a, log_b = float(state["log_a"]), float(state["log_b"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelStateError(f"fitted-roofline state is malformed ({exc}); refit with 'eai fit'") from exc
    log_k = {str(e): float(v) for e, v in dict(state["log_k"]).items()} if state.get("log_k") else None
    if kind in PREFILL_KINDS:
        return prefill_prior(kind, engines, log_c, feats, own_release_unseen, log_k)
    if kind not in KINDS:
        raise ModelStateError(f"fitted-roofline kind {kind!r} is not one of {KINDS + PREFILL_KINDS}; refit with 'eai fit'")
    log_d, log_e, log_kv = state.get("log_d"), state.get("log_e"), state.get("log_kv")
    log_s = {str(e): float(v) for e, v in dict(state["log_s"]).items()} if state.get("log_s") else None
    return evaluate(
        kind, log_a, log_b, engines, log_c, feats, own_release_unseen,
        None if log_d is None else float(log_d), None if log_e is None else float(log_e),
        None if log_kv is None else float(log_kv), log_s, log_k,
    )


def describe(state: Mapping[str, Any]) -> str:
    """One line: achieved shares of peak bandwidth / throughput and per-layer cost per engine."""
    per_layer = ", ".join(f"{e} {np.exp(v) * LAYER_SCALE_S * 1e6:.1f} us" for e, v in dict(state["log_c"]).items())
    prompt = ""
    if state.get("log_d") is not None:
        # Time fits the batch-mates' prompt passes; energy charges the query's own at factor 1.
        whose = "the query's own prompt pass" if state.get("kind") == "energy" else "batch-mates' prompt passes"
        prompt = f"; {whose} x{np.exp(state['log_d']):.2f}"
    if state.get("log_kv") is not None:
        prompt += f"; KV-cache reads x{np.exp(state['log_kv']):.2f} of the peak-bandwidth time"
    if state.get("log_e") is not None:
        prompt += f"; tensor-parallel all-reduce x{np.exp(state['log_e']):.2f} of 10 us per step"
    if state.get("log_s"):
        per_seq = ", ".join(f"{e} {np.exp(v) * SEQ_SCALE_S * 1e6:.1f} us" for e, v in dict(state["log_s"]).items())
        prompt += f"; per running sequence per step: {per_seq}"
    if state.get("log_k"):
        per_kernel = ", ".join(f"{k} {np.exp(v) * LAYER_SCALE_S * 1e6:.1f} us" for k, v in dict(state["log_k"]).items())
        prompt += f"; per layer per step of a quantization kernel path (Python-launched engines): {per_kernel}"
    return (
        f"bandwidth x{np.exp(state['log_a']):.2f}, tensor throughput x{np.exp(state['log_b']):.2f} "
        f"of the peak-rate time; per-layer cost per step: {per_layer}{prompt}"
    )
