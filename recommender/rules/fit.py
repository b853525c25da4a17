"""Memory-fit rule: does a model at a quantization fit on the devices?

Per device, a deployment needs

    (weights + KV cache) * (1 + fragmentation) / device_count + runtime overhead

where

- weights = params_total_b * 1e9 * bytes_per_weight bytes (the quantization's
  stored bytes per parameter, scales included);
- KV cache = 2 (K and V) * layers * kv_heads * head_dim * kv_bytes
  * batch_size * context_tokens bytes, head_dim = hidden_size / attention_heads;
- tensor parallelism splits weights and KV cache evenly over ``device_count``;
- runtime overhead (CUDA context, allocator, activations) is a fixed amount
  per device, and fragmentation a fraction of the sharded state.

GB here are 1e9 bytes, as platform memory is stated in the catalog. All
functions take NumPy arrays (or scalars) and broadcast, so the rule runs on a
whole candidate frame at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recommender.catalog.types import ModelSpec


@dataclass(frozen=True)
class FitParams:
    """Constants of the memory-fit rule (defaults live in ``data/decision_flow.yaml``).

    Attributes:
        runtime_overhead_gb: Fixed memory per device for the CUDA context,
            allocator pools and activations, GB.
        fragmentation_fraction: Extra fraction on weights + KV cache for
            allocator fragmentation and padding.
        kv_cache_bytes: Bytes per stored K or V element (2 for an fp16/bf16 cache).
    """

    runtime_overhead_gb: float = 1.0
    fragmentation_fraction: float = 0.10
    kv_cache_bytes: float = 2.0


def architecture(models: Sequence[ModelSpec]) -> dict[str, NDArray[np.float64]]:
    """Per model, the fields the rule reads: ``params_total_b``, ``layers``, ``kv_heads`` and
    ``head_dim`` (hidden size / attention heads); NaN where the catalog does not say."""

    def field(attr: str) -> NDArray[np.float64]:
        return np.array([np.nan if getattr(m, attr) is None else float(getattr(m, attr)) for m in models], dtype=float)

    return {
        "params_total_b": field("params_total_b"),
        "layers": field("layers"),
        "kv_heads": field("kv_heads"),
        "head_dim": field("hidden_size") / field("attention_heads"),
    }


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


def required_gb_per_device(
    params_total_b: ArrayLike,
    bytes_per_weight: ArrayLike,
    layers: ArrayLike,
    kv_heads: ArrayLike,
    head_dim: ArrayLike,
    batch_size: ArrayLike,
    context_tokens: ArrayLike,
    device_count: ArrayLike,
    params: FitParams = FitParams(),
) -> NDArray[np.float64]:
    """Memory each device needs, GB (see the module docstring for the formula).

    Where the KV-cache size is unknown (architecture fields missing) it counts
    as zero; :func:`kv_known` tells which rows those are.
    """
    kv = np.nan_to_num(
        kv_cache_gb(layers, kv_heads, head_dim, batch_size, context_tokens, params.kv_cache_bytes), nan=0.0
    )
    sharded = (weights_gb(params_total_b, bytes_per_weight) + kv) * (1.0 + params.fragmentation_fraction)
    return sharded / np.asarray(device_count, dtype=float) + params.runtime_overhead_gb


def kv_known(layers: ArrayLike, kv_heads: ArrayLike, head_dim: ArrayLike) -> NDArray[np.bool_]:
    """Whether the KV-cache size could be computed (all architecture fields known)."""
    arr = np.asarray(layers, dtype=float) * np.asarray(kv_heads, dtype=float) * np.asarray(head_dim, dtype=float)
    return ~np.isnan(arr)


def fits(required_gb: ArrayLike, available_gb: ArrayLike) -> NDArray[np.bool_]:
    """Whether the per-device requirement is within the per-device memory."""
    return np.asarray(required_gb, dtype=float) <= np.asarray(available_gb, dtype=float)
