"""Roofline priors: what physics alone says a token costs on a platform.

Every function is vectorized over numpy arrays (one element per configuration) and
uses no fitted state. The priors deliberately carry no efficiency factors: they are
peak-bandwidth / peak-throughput / board-power bounds, and the regressor learns the
(log) ratio of measured to prior. A prior that is off by a constant factor costs
nothing; a prior that gets the *shape* right (bytes moved, batch amortization,
bandwidth, power) is what lets the model reason about GPUs it has not seen.

Decode (one generated token per running sequence per step)::

    bytes_step  = weight_bytes_touched(B) + B * kv_bytes_per_token * context
    t_mem       = bytes_step / (bandwidth * D)
    t_compute   = B * flops_per_token / (peak_flops_at_precision * D)
    t_step      = max(t_mem, t_compute)                 # s per step = s per output token of one request
    e_token     = tdp * D * t_step / B                   # J per output token (all devices)

Prefill (the prompt processed in one forward pass, L tokens per query, B queries)::

    t_token     = max(weight_bytes / (bandwidth * D) / (L * B), flops_per_token / (peak * D))
    e_token     = tdp * D * t_token                      # J per prompt token

Units: params in billions, bandwidth GB/s, throughput TFLOPS, power W, bytes, seconds, joules.
"""

from __future__ import annotations

import numpy as np

# KV cache entries are 16-bit floats by HF transformers' and vLLM's defaults; one constant for
# the catalog's cache layouts and the priors.
from recommender.catalog.platforms import pcie_link_gbs
from recommender.catalog.types import KV_BYTES_PER_VALUE


def weight_params_touched_b(
    params_total_b: np.ndarray,
    params_active_b: np.ndarray,
    batch: np.ndarray,
    route_share: np.ndarray | None = None,
) -> np.ndarray:
    """Parameters (billions) whose weights one decode step must read.

    Dense models read every weight once per step. A mixture-of-experts model reads its
    always-active part (attention, embeddings, shared experts, dense layers) and the routed
    experts its ``batch`` tokens were sent to. With ``E`` routed experts of ``e`` parameters
    each, ``k`` per token (``route_share = k / E``) and uniform, independent routing, an
    expert escapes all ``B`` tokens with probability ``(1 - k/E)^B``, so::

        touched = D + E e (1 - (1 - k/E)^B),   e = (total - active) / (E - k),  D = active - k e

    which is ``active`` at ``B = 1`` and tends to ``total``. Where the routing is unknown
    (NaN or None) every parameter is treated as routed with ``k/E = active / total``, which
    overstates the share touched when a large always-active part leaves few routed experts
    per token (Llama-4 Maverick: 17 B active of 400 B, but 1 of 128 routed experts).

    Args:
        params_total_b: Total parameters, billions.
        params_active_b: Active parameters per token, billions.
        batch: Concurrent sequences (or tokens of one pass) per step.
        route_share: ``experts_per_token / experts`` per row (NaN: unknown).

    Returns:
        Parameters touched per step, billions (between active and total).
    """
    total = np.asarray(params_total_b, dtype=float)
    active = np.asarray(params_active_b, dtype=float)
    b = np.maximum(np.asarray(batch, dtype=float), 1.0)
    ratio = np.clip(active / total, 1e-6, 1.0)
    touched = total * (1.0 - np.power(1.0 - ratio, b))
    if route_share is not None:
        r = np.asarray(route_share, dtype=float)
        known = np.flatnonzero(np.isfinite(r) & (r > 0) & (r < 1) & (active < total))
        if len(known):
            rk, tk, ak, bk = r[known], total[known], active[known], b[known]
            # Routed parameters in all experts: (total - active) / (1 - k/E).
            routed = (tk - ak) / (1.0 - rk)
            always = np.maximum(tk - routed, 0.0)
            touched[known] = always + routed * (1.0 - np.power(1.0 - rk, bk))
    return np.clip(touched, active, total)


def kv_bytes_per_token(
    layers: np.ndarray, hidden: np.ndarray, heads: np.ndarray, kv_heads: np.ndarray
) -> np.ndarray:
    """Bytes of K and V cache one token of context occupies across all layers.

    ``2 (K, V) * layers * kv_heads * head_dim * 2 bytes`` with ``head_dim = hidden / heads``.
    """
    head_dim = hidden / heads
    return 2.0 * layers * kv_heads * head_dim * KV_BYTES_PER_VALUE


def flops_per_token(params_active_b: np.ndarray, layers: np.ndarray, hidden: np.ndarray, context: np.ndarray) -> np.ndarray:
    """Forward FLOPs for one token: ``2 * active params`` plus attention over ``context`` tokens."""
    return 2.0 * params_active_b * 1e9 + 4.0 * layers * hidden * context


def empty_stage_devices(layers: np.ndarray, devices: np.ndarray, pipeline_stages: np.ndarray) -> np.ndarray:
    """Devices of the pipeline stages past the model's layer count: each stage places whole
    layers, so those stages hold none (their ``devices / pipeline_stages`` devices each only
    wait). 0 where the layer count is unknown (NaN).

    Args:
        layers: Transformer layers per model.
        devices: Devices per deployment.
        pipeline_stages: Pipeline stages the devices form (1 for none).
    """
    n = np.asarray(layers, dtype=float)
    d = np.asarray(devices, dtype=float)
    s = np.maximum(np.asarray(pipeline_stages, dtype=float), 1.0)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(n), np.maximum(s - n, 0.0), 0.0) * d / s


def decode_weight_bytes(
    params_total_b: np.ndarray,
    params_active_b: np.ndarray,
    bytes_per_weight: np.ndarray,
    batch: np.ndarray,
    route_share: np.ndarray | None = None,
) -> np.ndarray:
    """Bytes of weights one decode step reads: the parameters its ``batch`` tokens touch
    (:func:`weight_params_touched_b`) at ``bytes_per_weight`` each."""
    return weight_params_touched_b(params_total_b, params_active_b, batch, route_share) * 1e9 * bytes_per_weight


def decode_step(
    *,
    params_total_b: np.ndarray,
    params_active_b: np.ndarray,
    bytes_per_weight: np.ndarray,
    layers: np.ndarray,
    hidden: np.ndarray,
    kv_bytes_token: np.ndarray,
    context_tokens: np.ndarray,
    batch: np.ndarray,
    devices: np.ndarray,
    bandwidth_gbs: np.ndarray,
    peak_tflops: np.ndarray,
    route_share: np.ndarray | None = None,
    comm_s: np.ndarray | float = 0.0,
    weight_bytes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Roofline time of one decode step (``route_share`` as in :func:`weight_params_touched_b`).

    ``devices`` are the devices the step is split over (:func:`split_devices`); ``comm_s``
    their communication per step (:func:`tensor_parallel_comm_s`), added to the bound.
    ``weight_bytes``: the step's weight reads, bytes, where the caller has them already
    (:func:`decode_weight_bytes` of the same arguments); None: computed here.

    Returns:
        ``(t_step_s, t_mem_s, t_compute_s)``: the step time and its memory and compute bounds.
    """
    if weight_bytes is None:
        weight_bytes = decode_weight_bytes(params_total_b, params_active_b, bytes_per_weight, batch, route_share)
    bytes_step = weight_bytes + batch * kv_bytes_token * context_tokens
    t_mem = bytes_step / (bandwidth_gbs * 1e9 * devices)
    t_compute = batch * flops_per_token(params_active_b, layers, hidden, context_tokens) / (peak_tflops * 1e12 * devices)
    return np.maximum(t_mem, t_compute) + comm_s, t_mem, t_compute


def prefill_token_time(
    *,
    params_total_b: np.ndarray,
    params_active_b: np.ndarray,
    bytes_per_weight: np.ndarray,
    layers: np.ndarray,
    hidden: np.ndarray,
    prompt_tokens: np.ndarray,
    batch: np.ndarray,
    devices: np.ndarray,
    bandwidth_gbs: np.ndarray,
    peak_tflops: np.ndarray,
    comm_s: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Roofline time per prompt token of a prefill forward pass (s per token, throughput sense).

    ``comm_s``: communication of one pass split over ``devices`` (spread over its tokens).
    """
    tokens_in_pass = np.maximum(prompt_tokens * batch, 1.0)
    weight_bytes = params_total_b * 1e9 * bytes_per_weight
    t_mem = weight_bytes / (bandwidth_gbs * 1e9 * devices) / tokens_in_pass
    t_compute = flops_per_token(params_active_b, layers, hidden, prompt_tokens / 2.0) / (peak_tflops * 1e12 * devices)
    return np.maximum(t_mem, t_compute) + comm_s / tokens_in_pass


ALLREDUCE_LATENCY_S = 1e-5
"""Seconds of one small-message all-reduce step between devices (order of magnitude of NCCL's
latency-bound all-reduce on NVLink / PCIe; the fitted roofline rescales it on multi-device rows,
see :mod:`recommender.model.roofline_fit`)."""

ALLREDUCES_PER_LAYER = 2.0
"""Tensor-parallel all-reduces per transformer layer per forward pass: one after attention, one
after the MLP (Megatron-LM, Shoeybi et al. 2019, section 3)."""


def static_batch_queries(batch: np.ndarray, passes: np.ndarray) -> np.ndarray:
    """Log-likelihood queries one static batch holds (>= 1).

    ``batch`` counts sequences per forward pass (lm-eval's batch of requests) and a
    multiple-choice query sends one per choice (``passes``): a batch of 32 holds 8 four-choice
    queries, which all wait for the same pass. A query with more passes than the batch runs
    them one after another and is alone in each (1).
    """
    return np.maximum(np.maximum(batch, 1.0) / np.maximum(passes, 1.0), 1.0)


def split_devices(devices: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """Devices a model's forward pass can actually be split over (tensor parallel).

    Tensor parallelism splits attention heads: more devices than heads (vLLM requires the
    head count to divide evenly) cannot shorten a pass; further devices can only hold pipeline
    stages, which run one after another for a given token. So the speed-up is bounded by
    ``min(devices, heads)``; every device still draws power.
    """
    d = np.maximum(np.asarray(devices, dtype=float), 1.0)
    h = np.asarray(heads, dtype=float)
    return np.where(np.isfinite(h) & (h >= 1), np.minimum(d, h), d)


ACTIVATION_BYTES = 2.0
"""Bytes per activation value an all-reduce carries: fp16/bf16 whatever the weights' format
(weight-only quantization and FP8 GEMMs both hand 16-bit activations to the all-reduce)."""

DEFAULT_INTERCONNECT_GBS = float(pcie_link_gbs("PCIe 4.0 x16") or 0.0)
"""GPU-to-GPU bandwidth, one direction, GB/s, of a platform whose catalog entry gives none: a
PCIe 4.0 x16 link (:func:`recommender.catalog.platforms.pcie_link_gbs`, 31.5), the common slot of
the cards catalogued."""


def tensor_parallel_comm_s(
    layers: np.ndarray,
    devices_split: np.ndarray,
    tokens: np.ndarray | float = 0.0,
    hidden: np.ndarray | float = 0.0,
    link_gbs: np.ndarray | float = np.inf,
) -> np.ndarray:
    """Communication time of one forward pass split over ``devices_split`` devices, s.

    ``ALLREDUCES_PER_LAYER * layers`` all-reduces of the pass's activations, each taking
    ``log2(D)`` latency-bound steps of :data:`ALLREDUCE_LATENCY_S` (tree) plus its bytes at the
    link's rate: a ring all-reduce sends and receives ``2 (D - 1) / D`` times the message on
    every device, and the message is ``tokens x hidden x`` :data:`ACTIVATION_BYTES` (a decode
    step's running sequences, a prefill pass's token positions). Zero on one device. A floor
    that no number of devices removes, and on a PCIe card (~32 GB/s against NVLink's 300-900)
    the term that makes splitting a large batch slower, not faster.

    Args:
        layers: Transformer layers.
        devices_split: Devices the pass is split over (:func:`split_devices`).
        tokens: Token positions in the pass (0: latency only).
        hidden: Hidden size (the all-reduced activation width).
        link_gbs: One-direction GPU-to-GPU bandwidth, GB/s (``Platform.interconnect_gbs``).
    """
    d = np.maximum(np.asarray(devices_split, dtype=float), 1.0)
    latency = np.log2(d) * ALLREDUCE_LATENCY_S
    message = np.asarray(tokens, dtype=float) * np.asarray(hidden, dtype=float) * ACTIVATION_BYTES
    volume = 2.0 * (d - 1.0) / d * message / (np.asarray(link_gbs, dtype=float) * 1e9)
    return ALLREDUCES_PER_LAYER * np.asarray(layers, dtype=float) * (latency + volume)


LAYER_SPLIT_ENGINES: tuple[str, ...] = ("hf-transformers", "fastchat", "llama.cpp")
"""Engines that spread a model over devices by layers, each token passing the devices one after
another: HF transformers' ``device_map`` (accelerate's big-model inference moves activations
between the devices that hold consecutive layers; a device computes only while the token is in
its layers), FastChat's model worker on top of it (``--num-gpus``), and llama.cpp's default
``--split-mode layer``. A step is no faster than on one device with room for the model: the same
weights are read at one device's bandwidth, in turns, plus a hop per device boundary; the
devices waiting meanwhile draw their resident power (:mod:`recommender.model.layer_split`)."""


def layer_split_hop_s(devices: np.ndarray, tokens: np.ndarray | float, hidden: np.ndarray | float, link_gbs: np.ndarray | float) -> np.ndarray:
    """Seconds one forward pass of a layer split spends handing activations between devices.

    ``devices - 1`` boundaries, each a copy of the pass's activations (``tokens x hidden x``
    :data:`ACTIVATION_BYTES`) over the link plus one :data:`ALLREDUCE_LATENCY_S` of latency.
    Zero on one device.

    Args:
        devices: Devices holding consecutive layers.
        tokens: Token positions in the pass (a decode step's running sequences).
        hidden: Hidden size.
        link_gbs: One-direction GPU-to-GPU bandwidth, GB/s.
    """
    hops = np.maximum(np.asarray(devices, dtype=float), 1.0) - 1.0
    message = np.asarray(tokens, dtype=float) * np.asarray(hidden, dtype=float) * ACTIVATION_BYTES
    return hops * (ALLREDUCE_LATENCY_S + message / (np.asarray(link_gbs, dtype=float) * 1e9))


KV_MEMORY_SHARE = 0.9
"""Share of device memory a server may use for weights + KV cache (vLLM's default
``gpu_memory_utilization`` is 0.9)."""

BYTES_PER_DEVICE_GB = 2.0**30
"""Bytes in one GB of a GPU's stated memory: vendors state device memory in binary gigabytes
(an A100 40GB reports 40,960 MiB in nvidia-smi, an H100 80GB 81,559 MiB), while weights and KV
cache are counted in 1e9 bytes. Until 2026-12-04 the KV limit read it as 1e9 bytes, 7 % short:
four A100-40GB holding Llama-3.1-70B in bf16 ran 19 sequences at once where the memory-fit rule
(:mod:`recommender.rules.fit`, binary) said 62, and of the 722 measured server rows with a
recorded mean batch, 40 ran more sequences than the limit allowed (28 with binary GB)."""


RUNTIME_GB_PER_DEVICE = 1.0
"""Memory each device holds besides weights and KV cache (CUDA context, allocator pools,
activations), GB of 1e9 bytes: the memory-fit rule's ``runtime_overhead_gb`` in
``data/decision_flow.yaml`` (a test keeps the two equal). Until 2026-12-05 the KV limit left it
out, so the two disagreed where the pool is small: Llama-3.1-70B in bf16 on four A100-40GB,
ShareGPT, 90 sequences here against the rule's 62 (4 of the 13.5 GB left after the weights);
now 63. Measured server rows that ran more sequences than the limit: 28 -> 29 of 722; held out
(`eai evaluate`), every split within 0.15 points (leave-one-source-out energy per query 15.46 ->
15.49 %, leave-one-platform-out 18.10 -> 18.19 %, leave-one-model-out 10.41 -> 10.45 %)."""


def kv_limited_batch(
    *,
    batch: np.ndarray,
    memory_gb: np.ndarray,
    weight_bytes: np.ndarray,
    kv_bytes_token: np.ndarray,
    context_tokens: np.ndarray,
    devices: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Sequences that can actually run at once: configured batch capped by KV-cache memory.

    ``min(B, (0.9 * memory - weight bytes - devices * runtime) / (kv bytes per token *
    context))``, at least 1.

    Args:
        batch: Configured maximum concurrent sequences.
        memory_gb: Device memory summed over devices, GB as vendors state it (binary,
            :data:`BYTES_PER_DEVICE_GB`).
        weight_bytes: Bytes of all weights.
        kv_bytes_token: KV bytes per token of context.
        context_tokens: Mean context length per sequence.
        devices: Devices holding the model, each with its :data:`RUNTIME_GB_PER_DEVICE`.
    """
    runtime = np.asarray(devices, dtype=float) * RUNTIME_GB_PER_DEVICE * 1e9
    free = memory_gb * BYTES_PER_DEVICE_GB * KV_MEMORY_SHARE - weight_bytes - runtime
    fits = free / np.maximum(kv_bytes_token * context_tokens, 1.0)
    return np.clip(np.minimum(batch, fits), 1.0, np.maximum(batch, 1.0))
