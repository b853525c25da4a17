"""Memory-fit rule: does a model at a quantization fit on the devices, and how many
sequences can it serve at once?

:func:`deployment_memory` is the rule ``eai predict`` applies (see its docstring): engines with
a paged KV cache (vLLM, TensorRT-LLM...) need the weights, the runtime and the KV cache of ONE
sequence to fit, and serve as many concurrent sequences as the rest of the memory holds;
engines that allocate the KV cache per batch (HF transformers, llama.cpp) need the whole
batch's KV cache at full context. Checked against every shipped measured row
(``tests/shipped/test_shipped_memory_fit.py``: all of them ran, so the rule must accept all of
them).

`eai recommend`'s candidate builder sizes its candidates with the same rule, the KV cache at
the spec's context (the largest prompt + output of its tasks, or ``serving.context_tokens``),
and the device count from :func:`splits_evenly` too: an answer never differs from `eai predict`'s
on whether a configuration fits.

GB here are 1e9 bytes; the catalog states device memory in binary GB (GiB), which
:func:`usable_gb_per_device` converts. All functions take NumPy arrays (or scalars) and
broadcast, so the rule runs on a whole candidate frame at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recommender.catalog.types import ModelSpec
from recommender.model.physics import BYTES_PER_DEVICE_GB, KV_MEMORY_SHARE, RUNTIME_GB_PER_DEVICE, empty_stage_devices
from recommender.model.roofline_fit import CONTINUOUS_BATCHING_ENGINES


@dataclass(frozen=True)
class FitParams:
    """Constants of the memory-fit rule (defaults live in ``data/decision_flow.yaml``).

    Attributes:
        runtime_overhead_gb: Fixed memory per device for the CUDA context,
            allocator pools and activations, GB.
        fragmentation_fraction: Extra fraction on weights + KV cache for
            allocator fragmentation and padding.
        kv_cache_bytes: Bytes per stored K or V element (2 for an fp16/bf16 cache).
        memory_utilization: Share of device memory a paged engine takes for itself (weights,
            runtime and KV pool): vLLM's ``gpu_memory_utilization`` default, 0.9 (vLLM engine
            arguments documentation). Engines that allocate as they go use all of it.
        paged_engines: Engines whose KV cache is paged (allocated in blocks as sequences grow,
            with fewer concurrent sequences when memory runs short instead of failing): vLLM
            (PagedAttention, Kwon et al., SOSP 2023) and the servers built the same way.
        kv_block_tokens: Tokens per KV block of a paged engine (vLLM's default ``block_size``,
            16): a sequence wastes half a block on average, its only fragmentation (the
            ``fragmentation_fraction`` applies to engines that allocate per batch).
    """

    runtime_overhead_gb: float = RUNTIME_GB_PER_DEVICE
    fragmentation_fraction: float = 0.10
    kv_cache_bytes: float = 2.0
    memory_utilization: float = KV_MEMORY_SHARE
    paged_engines: tuple[str, ...] = CONTINUOUS_BATCHING_ENGINES
    kv_block_tokens: int = 16


def architecture(models: Sequence[ModelSpec]) -> dict[str, NDArray[np.float64]]:
    """Per model, the fields the rule reads: ``params_total_b``, ``layers``, ``kv_heads`` and
    ``head_dim`` (the entry's own where it states one, else hidden size / attention heads);
    NaN where the catalog does not say."""

    def field(attr: str) -> NDArray[np.float64]:
        return np.array([np.nan if getattr(m, attr) is None else float(getattr(m, attr)) for m in models], dtype=float)

    # A config may set the head width apart from hidden / heads (Gemma, Qwen3); catalogs that
    # record it (ModelSpec.head_dim) win over the quotient.
    quotient = field("hidden_size") / field("attention_heads")
    stated = np.array([float(getattr(m, "head_dim", None) or np.nan) for m in models], dtype=float)
    head_dim = np.where(np.isnan(stated), quotient, stated)
    kv_heads = field("kv_heads")
    # Only the layers that keep a KV cache count (hybrids' Mamba-2 layers keep a fixed state);
    # a compressed-latent cache (MLA) stores kv_latent_dim values per layer, written here as
    # one "head" of half that width so that 2 * kv_heads * head_dim is the values cached.
    # Local-attention windows are not credited: the rule sizes the cache at full context.
    cached = np.array([float(getattr(m, "attention_layers", None) or np.nan) for m in models], dtype=float)
    layers = np.where(np.isnan(cached), field("layers"), cached)
    latent = np.array([float(getattr(m, "kv_latent_dim", None) or np.nan) for m in models], dtype=float)
    has_latent = ~np.isnan(latent)
    return {
        "params_total_b": field("params_total_b"),
        "layers": layers,
        "kv_heads": np.where(has_latent, 1.0, kv_heads),
        "head_dim": np.where(has_latent, latent / 2.0, head_dim),
    }


TENSOR_PARALLEL_ENGINES: tuple[str, ...] = CONTINUOUS_BATCHING_ENGINES
"""Engines that split a model over devices by tensor parallelism, attention heads shared out
evenly: vLLM refuses a ``tensor_parallel_size`` that does not divide the attention heads
(``ModelConfig.verify_with_parallel_config``: "Total number of attention heads (32) must be
divisible by tensor parallel size (3)") and shares key/value heads out the same way, or
replicates them when there are fewer than devices (``QKVParallelLinear``: ``divide(kv_heads,
tp)`` or ``divide(tp, kv_heads)``); LMDeploy's TurboMind asserts ``head_num %
tensor_para_size == 0``, and the other continuous-batching servers shard attention the same
way. HF transformers (``device_map``), llama.cpp and FastChat's workers split by layers, so any
device count runs."""


def attention_heads(models: Sequence[ModelSpec]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per model, its query heads and its key/value heads as tensor parallelism shares them out
    (NaN where the catalog does not say; key/value NaN for a compressed-latent cache, MLA, which
    every device keeps whole)."""
    heads = np.array([np.nan if m.attention_heads is None else float(m.attention_heads) for m in models], dtype=float)
    kv = np.array([np.nan if m.kv_heads is None else float(m.kv_heads) for m in models], dtype=float)
    latent = np.array([getattr(m, "kv_latent_dim", None) is not None for m in models], dtype=bool)
    return heads, np.where(latent, np.nan, np.where(np.isnan(kv), heads, kv))


def context_windows(models: Sequence[ModelSpec]) -> NDArray[np.float64]:
    """Per model, the most tokens one sequence may hold (its config's ``max_position_embeddings``,
    the catalog's ``context_length``; NaN where the catalog does not say)."""
    return np.array([np.nan if m.context_length is None else float(m.context_length) for m in models], dtype=float)


def splits_evenly(heads: ArrayLike, kv_heads: ArrayLike, tensor_parallel: ArrayLike) -> NDArray[np.bool_]:
    """Whether a tensor-parallel engine can share a model's heads over ``tensor_parallel`` devices.

    The query heads must divide evenly; key/value heads divide evenly, or, fewer than the
    devices, are replicated a whole number of times (:data:`TENSOR_PARALLEL_ENGINES`). Unknown
    head counts (NaN) pass: the rule refuses only what it knows cannot run.
    """
    h = np.asarray(heads, dtype=float)
    kv = np.asarray(kv_heads, dtype=float)
    tp = np.asarray(tensor_parallel, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        q_ok = np.isnan(h) | (np.mod(h, tp) == 0)
        kv_ok = np.isnan(kv) | np.where(kv >= tp, np.mod(kv, tp) == 0, np.mod(tp, kv) == 0)
    return np.asarray((tp <= 1) | (q_ok & kv_ok), dtype=bool)


def total_layers(models: Sequence[ModelSpec]) -> NDArray[np.float64]:
    """Per model, every transformer layer, attention or not (what a layer split places; NaN
    where the catalog does not say). :func:`architecture`'s ``layers`` counts only those that
    keep a KV cache."""
    return np.array([np.nan if m.layers is None else float(m.layers) for m in models], dtype=float)


def splits_by_layers(layers: ArrayLike, devices: ArrayLike) -> NDArray[np.bool_]:
    """Whether an engine that splits by layers gives each of ``devices`` a layer or more.

    HF transformers (``device_map``), llama.cpp and FastChat's workers place whole transformer
    layers on devices: beyond the model's layer count a device holds nothing and only waits
    (Qwen2.5-0.5B has 24 layers; 1,000 Jetson boards under llama.cpp run it no faster than 24
    and draw for all 1,000). Unknown layer counts (NaN) pass.
    """
    n = np.asarray(layers, dtype=float)
    d = np.asarray(devices, dtype=float)
    return np.asarray(np.isnan(n) | (d <= n), dtype=bool)


def devices_without_layer(
    layers: ArrayLike, devices: ArrayLike, pipeline_stages: ArrayLike, tensor_parallel: ArrayLike
) -> NDArray[np.int64]:
    """Per deployment, the devices that hold no transformer layer and only wait.

    An engine that splits by layers (``tensor_parallel`` False) gives each device whole layers, so
    past the layer count the rest hold nothing; a tensor-parallel engine shares every layer of its
    stage over the stage's ``devices / pipeline_stages`` devices, so only whole stages past the
    layer count are empty (vLLM's pipeline parallelism also places whole layers per stage).
    Unknown layer counts (NaN) give 0.

    Args:
        layers: Transformer layers per model (:func:`total_layers`).
        devices: Devices per deployment.
        pipeline_stages: Pipeline stages the devices form (1 for none).
        tensor_parallel: Whether the engine splits heads (:func:`is_tensor_parallel`).
    """
    n = np.asarray(layers, dtype=float)
    d = np.asarray(devices, dtype=float)
    with np.errstate(invalid="ignore"):
        empty_layer_split = np.maximum(d - n, 0.0)
    out = np.where(np.asarray(tensor_parallel, dtype=bool), empty_stage_devices(n, d, pipeline_stages), empty_layer_split)
    return np.nan_to_num(out, nan=0.0).astype(np.int64)


def even_splits(heads: float, kv_heads: float, most: int) -> list[int]:
    """The tensor-parallel device counts from 1 to ``most`` that share the heads out evenly."""
    counts = np.arange(1, max(int(most), 1) + 1, dtype=float)
    return [int(c) for c in counts[splits_evenly(np.full(counts.size, heads), np.full(counts.size, kv_heads), counts)]]


def is_tensor_parallel(engines: Sequence[str] | NDArray) -> NDArray[np.bool_]:
    """Whether each engine splits heads over devices (:data:`TENSOR_PARALLEL_ENGINES`)."""
    names = set(TENSOR_PARALLEL_ENGINES)
    return np.array([str(e).lower() in names for e in engines], dtype=bool)


def weights_gb(params_total_b: ArrayLike, bytes_per_weight: ArrayLike) -> NDArray[np.float64]:
    """Weight memory in GB: billions of parameters times bytes per weight."""
    return np.asarray(params_total_b, dtype=float) * np.asarray(bytes_per_weight, dtype=float)


def kv_cache_gb(
    layers: ArrayLike,
    kv_heads: ArrayLike,
    head_dim: ArrayLike,
    batch_size: ArrayLike,
    context_tokens: ArrayLike,
    kv_cache_bytes: float = 2.0,
) -> NDArray[np.float64]:
    """KV-cache memory in GB for ``batch_size`` sequences of ``context_tokens`` tokens.

    Unknown architecture fields (NaN) give NaN; callers decide how to treat them.
    """
    per_token_bytes = 2.0 * np.asarray(layers, dtype=float) * np.asarray(kv_heads, dtype=float)
    per_token_bytes = per_token_bytes * np.asarray(head_dim, dtype=float) * kv_cache_bytes
    tokens = np.asarray(batch_size, dtype=float) * np.asarray(context_tokens, dtype=float)
    return per_token_bytes * tokens / 1e9


def kv_known(layers: ArrayLike, kv_heads: ArrayLike, head_dim: ArrayLike) -> NDArray[np.bool_]:
    """Whether the KV-cache size could be computed (all architecture fields known)."""
    arr = np.asarray(layers, dtype=float) * np.asarray(kv_heads, dtype=float) * np.asarray(head_dim, dtype=float)
    return ~np.isnan(arr)


@dataclass(frozen=True)
class MemoryFit:
    """The memory-fit verdict per configuration (arrays, one value per row).

    Attributes:
        required_gb: Memory each device needs to start serving, GB (1e9 bytes): weights share +
            runtime + the KV cache of one sequence (paged) or of the whole batch (static).
        usable_gb: Memory the engine may use per device, GB (1e9 bytes): the stated memory in
            binary GB, times ``memory_utilization`` for a paged engine.
        fits: ``required_gb <= usable_gb``.
        max_concurrent_sequences: Sequences the KV pool holds at once at the row's token profile
            (paged: each holds its prompt and on average half its output; static: the full
            context); 0 where the deployment does not fit, NaN where the KV size is unknown.
        kv_limited: A paged deployment that fits but holds fewer sequences than the batch asked
            for: it runs, at that lower concurrency.
        kv_known: Whether the model's KV-cache size per token is known.
    """

    required_gb: NDArray[np.float64]
    usable_gb: NDArray[np.float64]
    fits: NDArray[np.bool_]
    max_concurrent_sequences: NDArray[np.float64]
    kv_limited: NDArray[np.bool_]
    kv_known: NDArray[np.bool_]


def usable_gb_per_device(memory_gb: ArrayLike, paged: ArrayLike, params: FitParams = FitParams()) -> NDArray[np.float64]:
    """Memory an engine may use per device, GB of 1e9 bytes (see :class:`MemoryFit`)."""
    share = np.where(np.asarray(paged, dtype=bool), params.memory_utilization, 1.0)
    return np.asarray(memory_gb, dtype=float) * (BYTES_PER_DEVICE_GB / 1e9) * share


def deployment_memory(
    params_total_b: ArrayLike,
    bytes_per_weight: ArrayLike,
    layers: ArrayLike,
    kv_heads: ArrayLike,
    head_dim: ArrayLike,
    batch_size: ArrayLike,
    prompt_tokens: ArrayLike,
    output_tokens: ArrayLike,
    device_count: ArrayLike,
    memory_gb: ArrayLike,
    paged: ArrayLike,
    params: FitParams = FitParams(),
    min_context_tokens: float = 0.0,
    output_dispersion: ArrayLike = 1.0,
) -> MemoryFit:
    """Whether each deployment fits, and how many sequences it serves at once.

    Per device (tensor parallelism splits the weights and the KV heads evenly):

    - weights: ``params_total_b * bytes_per_weight / device_count`` GB;
    - runtime: ``runtime_overhead_gb`` (CUDA context, allocator pools, activations);
    - a sequence's KV cache at ``t`` tokens: ``2 * layers * kv_heads * head_dim * kv_cache_bytes
      * t / device_count`` bytes; a paged engine adds half a block (``kv_block_tokens / 2``) per
      sequence, a static one ``fragmentation_fraction`` of it;
    - a paged engine starts when weights + runtime + the KV cache of one sequence at its full
      context (``prompt + output`` tokens, at least ``min_context_tokens``) fit in the usable
      memory; the rest of the pool holds ``max_concurrent_sequences`` sequences of ``prompt +
      output x dispersion / 2`` tokens each (a running sequence holds its prompt and what it has
      generated so far, and long answers stay running longer: the energy model's mean context,
      :mod:`recommender.model.features`). A batch above that runs at the lower concurrency.
    - a static engine needs the whole batch at full context up front.

    Unknown architecture fields (NaN) count the KV cache as zero in ``required_gb`` and leave
    ``max_concurrent_sequences`` NaN; ``kv_known`` marks them.

    Args:
        params_total_b: Total parameters, billions.
        bytes_per_weight: Stored bytes per parameter of the quantization.
        layers: Transformer layers.
        kv_heads: Key/value heads.
        head_dim: Dimension of one head.
        batch_size: Concurrent sequences asked for.
        prompt_tokens: Prompt tokens per sequence.
        output_tokens: Generated tokens per sequence.
        device_count: Devices the model is split over (tensor parallel).
        memory_gb: Stated memory per device, binary GB (as the platform catalog gives it).
        paged: Whether the engine pages its KV cache (see :attr:`FitParams.paged_engines`).
        params: Rule constants.
        min_context_tokens: Floor on the full context one sequence must be able to hold.
        output_dispersion: ``E[L^2] / E[L]^2`` of the output lengths (1: a fixed count).

    Returns:
        The verdict per row.
    """
    devices = np.asarray(device_count, dtype=float)
    paged_b = np.asarray(paged, dtype=bool)
    weights = weights_gb(params_total_b, bytes_per_weight) / devices
    kv_token_gb = kv_cache_gb(layers, kv_heads, head_dim, 1.0, 1.0, params.kv_cache_bytes) / devices
    kv_token_gb = kv_token_gb * np.where(paged_b, 1.0, 1.0 + params.fragmentation_fraction)
    prompt = np.asarray(prompt_tokens, dtype=float)
    output = np.asarray(output_tokens, dtype=float)
    pad = np.where(paged_b, params.kv_block_tokens / 2.0, 0.0)
    full = np.maximum(prompt + output, min_context_tokens) + pad
    steady = np.where(paged_b, prompt + output * np.asarray(output_dispersion, dtype=float) / 2.0 + pad, full)
    batch = np.asarray(batch_size, dtype=float)
    known = ~np.isnan(kv_token_gb)
    kv_tok = np.where(known, kv_token_gb, 0.0)
    base = weights + params.runtime_overhead_gb
    required = base + np.where(paged_b, 1.0, batch) * kv_tok * full
    usable = usable_gb_per_device(memory_gb, paged_b, params)
    required, usable, paged_b, batch = np.broadcast_arrays(required, usable, paged_b, batch)
    ok = required <= usable
    with np.errstate(divide="ignore", invalid="ignore"):
        pool = np.floor(np.maximum(usable - base, 0.0) / (kv_tok * np.maximum(steady, 1.0)))
    concurrency = np.where(known, np.where(ok, pool, 0.0), np.nan)
    concurrency = np.broadcast_to(concurrency, required.shape).astype(float)
    limited = np.broadcast_to(paged_b & ok & known & (concurrency < batch), required.shape)
    return MemoryFit(
        required_gb=np.array(required, dtype=float),
        usable_gb=np.array(usable, dtype=float),
        fits=np.array(ok, dtype=bool),
        max_concurrent_sequences=np.array(concurrency, dtype=float),
        kv_limited=np.array(limited, dtype=bool),
        kv_known=np.array(np.broadcast_to(known, required.shape), dtype=bool),
    )


def is_paged(engines: Sequence[str] | NDArray, params: FitParams = FitParams()) -> NDArray[np.bool_]:
    """Whether each engine pages its KV cache (:attr:`FitParams.paged_engines`)."""
    names = set(params.paged_engines)
    return np.array([str(e).lower() in names for e in engines], dtype=bool)
