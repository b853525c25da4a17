"""Models outside the catalog, described by their architecture.

``eai predict`` can be asked about a model the catalog (``data/models.yaml``) does not list in
three ways, each labelled in its output (``model_basis``):

- **base/instruct sibling**: a base id whose instruct (chat, ``-it``) variant is catalogued, or
  the other way round, or a quantized checkpoint of either (``-AWQ``, ``-GPTQ-Int4``, ``-FP8``),
  borrows that entry's architecture (fine-tuning for chat keeps the
  config.json architecture: ``meta-llama/Llama-2-7b-hf`` and ``meta-llama/Llama-2-7b-chat-hf``
  have the same layers, widths and heads). Accuracy is NOT borrowed: the sibling is a model of
  its own with its own scores.
- **config.json**: the model's Hugging Face ``config.json`` (``--model-config FILE``), whose
  standard fields give the architecture; the parameter count is computed from them
  (:func:`parameter_count`).
- **flags**: parameters, layers, hidden size and heads given on the command line
  (:func:`describe_from_flags`).

Everything here is pure Python on the file's JSON; nothing is downloaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from recommender.catalog.types import ModelSpec
from recommender.errors import InvalidInputError

MAX_CONFIG_BYTES = 4 * 1024 * 1024
"""Largest config.json read (real ones are a few KB)."""

_VARIANT_TOKENS = frozenset({"hf", "instruct", "chat", "it", "base"})
"""Name tokens that tell a base model from its instruction-tuned variant (Llama-2 ``-hf`` /
``-chat-hf``, Llama-3 ``-Instruct``, Gemma ``-it``, Qwen ``-Base``/``-Instruct``)."""

_CHECKPOINT_TOKENS = frozenset(
    {"awq", "gptq", "int4", "int8", "fp8", "dynamic", "gguf", "bnb", "4bit", "8bit", "w4a16", "w8a8", "nvfp4", "mxfp4", "marlin", "exl2"}
)
"""Name tokens of a quantized checkpoint of a model (``Qwen/Qwen2.5-7B-Instruct-AWQ``,
``neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8``, ``TheBloke/Llama-2-7B-Chat-GPTQ``): quantizing
keeps the layers, widths and heads; the quantization itself is asked with ``-q``. A token
starting ``quantized`` counts too (``RedHatAI/Llama-3.3-70B-Instruct-quantized.w8a8``)."""


def _is_checkpoint_token(token: str) -> bool:
    t = token.lower()
    return t in _CHECKPOINT_TOKENS or t.startswith("quantized")

_UNGATED_MLP_TYPES = frozenset({"gpt2", "gpt_neox", "gpt_bigcode", "bloom", "opt", "falcon", "starcoder2", "phi", "gptj", "mpt"})
"""``model_type`` values whose MLP has two matrices (up, down); the others (LLaMA, Mistral,
Qwen, Gemma, Phi-3...) use a gated MLP with three (gate, up, down)."""


@dataclass(frozen=True)
class DescribedModel:
    """A model outside the catalog with the architecture eai uses for it.

    Attributes:
        spec: Catalog-shaped entry (its ``id`` is the name the user asked for).
        basis: How the architecture is known, shown in ``model_basis``.
        head_dim: Dimension of one attention head where it differs from
            ``hidden_size / attention_heads`` (Gemma: 256); None: the quotient.
        of: The catalogued model whose architecture it borrows (None: described).
    """

    spec: ModelSpec
    basis: str
    head_dim: int | None = None
    of: str | None = None


class HFConfig(BaseModel):
    """The standard architecture fields of a Hugging Face ``config.json``.

    Other keys of the file are ignored (a config carries dozens: rope scaling, token ids...);
    the ones below are validated. Multimodal configs that nest the language model under
    ``text_config`` are read from there.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    name_or_path: str | None = Field(default=None, alias="_name_or_path")
    model_type: str | None = None
    num_hidden_layers: int = Field(ge=1, le=10_000)
    hidden_size: int = Field(ge=1, le=1_000_000)
    num_attention_heads: int = Field(ge=1, le=10_000)
    num_key_value_heads: int | None = Field(default=None, ge=1, le=10_000)
    head_dim: int | None = Field(default=None, ge=1, le=100_000)
    intermediate_size: int | None = Field(default=None, ge=1)
    moe_intermediate_size: int | None = Field(default=None, ge=1)
    shared_expert_intermediate_size: int | None = Field(default=None, ge=0)
    vocab_size: int = Field(ge=1, le=10_000_000)
    tie_word_embeddings: bool = False
    num_local_experts: int | None = Field(default=None, ge=1)
    num_experts: int | None = Field(default=None, ge=1)
    num_experts_per_tok: int | None = Field(default=None, ge=1)
    max_position_embeddings: int | None = Field(default=None, ge=1)
    torch_dtype: str | None = None
    # How the KV cache is laid out (see ModelSpec.kv_layout).
    sliding_window: int | None = Field(default=None, ge=1)
    use_sliding_window: bool | None = None
    layer_types: list[str] | None = None
    sliding_window_pattern: int | None = Field(default=None, ge=1)
    kv_lora_rank: int | None = Field(default=None, ge=1)
    qk_rope_head_dim: int | None = Field(default=None, ge=0)
    hybrid_override_pattern: str | None = None

    def kv_fields(self) -> dict[str, int]:
        """The :class:`ModelSpec` KV-layout fields this config states (empty: plain attention
        on every layer).

        - ``kv_lora_rank`` (+ ``qk_rope_head_dim``): a compressed latent per layer (MLA);
        - ``hybrid_override_pattern`` (Nemotron-H): ``*`` marks the attention layers;
        - ``layer_types``: its ``sliding_attention`` entries are the local layers;
          ``sliding_window_pattern`` N (Gemma 3): every N-th layer global, the rest local;
          Gemma 2: every other layer local; otherwise a ``sliding_window`` applies to every
          layer unless ``use_sliding_window`` is false (Qwen2 configs state a window they do
          not use) or the window covers the whole context.
        """
        out: dict[str, int] = {}
        if self.kv_lora_rank:
            out["kv_latent_dim"] = self.kv_lora_rank + (self.qk_rope_head_dim or 0)
        cached = self.num_hidden_layers
        if self.hybrid_override_pattern:
            cached = self.hybrid_override_pattern.count("*")
            out["attention_layers"] = cached
        w = self.sliding_window
        if not w or self.use_sliding_window is False or (self.max_position_embeddings and w >= self.max_position_embeddings):
            return out
        if self.layer_types:
            local = sum(1 for t in self.layer_types if t == "sliding_attention")
        elif self.sliding_window_pattern:
            local = cached - cached // self.sliding_window_pattern
        elif (self.model_type or "").startswith("gemma2"):
            local = cached // 2
        else:
            local = cached
        if local:
            out["sliding_window"] = w
            out["sliding_window_layers"] = local
        return out

    @model_validator(mode="after")
    def _consistent(self) -> HFConfig:
        kv = self.num_key_value_heads or self.num_attention_heads
        if kv > self.num_attention_heads or self.num_attention_heads % kv:
            raise ValueError(
                f"num_key_value_heads {kv} must divide num_attention_heads {self.num_attention_heads}"
            )
        experts = self.experts
        if experts and experts > 1 and not self.num_experts_per_tok:
            raise ValueError(f"a mixture of {experts} experts needs num_experts_per_tok")
        if self.num_experts_per_tok and experts and self.num_experts_per_tok > experts:
            raise ValueError(f"num_experts_per_tok {self.num_experts_per_tok} exceeds the {experts} experts")
        if self.intermediate_size is None and self.moe_intermediate_size is None:
            raise ValueError("intermediate_size is missing (needed for the parameter count)")
        return self

    @property
    def experts(self) -> int | None:
        """Routed experts per MoE layer (``num_local_experts`` or ``num_experts``)."""
        return self.num_local_experts or self.num_experts


def parameter_count(cfg: HFConfig) -> tuple[float, float]:
    """Total and per-token active parameters of a decoder-only transformer, in billions.

    Embeddings ``vocab * hidden`` (and an untied output head of the same size); per layer the
    attention projections ``hidden * head_dim * (2 * heads + 2 * kv_heads)`` and the MLP (three
    matrices ``hidden * intermediate`` when gated, two otherwise; a mixture of experts has one
    MLP per expert of ``moe_intermediate_size`` plus a router ``hidden * experts`` and an
    optional shared expert); two norms per layer. Biases are left out (under 0.1 % of a
    model). Checked against published counts in ``tests/test_adhoc_models.py`` (Llama-2-7B
    6.74 B, Llama-3-8B 8.03 B, Mixtral-8x7B 46.7 B total / 12.9 B active).
    """
    h = cfg.hidden_size
    heads = cfg.num_attention_heads
    kv = cfg.num_key_value_heads or heads
    head_dim = cfg.head_dim or h // heads
    attention = h * head_dim * (2 * heads + 2 * kv)
    matrices = 2 if (cfg.model_type or "").lower() in _UNGATED_MLP_TYPES else 3
    experts = cfg.experts or 1
    if experts > 1:
        inter = cfg.moe_intermediate_size or cfg.intermediate_size or 0
        per_expert = matrices * h * inter
        shared = matrices * h * (cfg.shared_expert_intermediate_size or 0)
        mlp_total = experts * per_expert + shared + h * experts
        mlp_active = (cfg.num_experts_per_tok or 1) * per_expert + shared + h * experts
    else:
        mlp_total = mlp_active = matrices * h * (cfg.intermediate_size or 0)
    norms = 2 * h
    embeddings = cfg.vocab_size * h * (1 if cfg.tie_word_embeddings else 2) + h
    total = embeddings + cfg.num_hidden_layers * (attention + mlp_total + norms)
    active = embeddings + cfg.num_hidden_layers * (attention + mlp_active + norms)
    return total / 1e9, active / 1e9


def _read_json(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise InvalidInputError(f"--model-config {path}: larger than {MAX_CONFIG_BYTES // 2**20} MiB; is it a config.json?")
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(f"--model-config {path}: cannot read it: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"--model-config {path}: not a JSON file: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidInputError(f"--model-config {path}: expected a JSON object (a Hugging Face config.json)")
    if "num_hidden_layers" not in raw and isinstance(raw.get("text_config"), dict):
        nested = dict(raw["text_config"])
        nested.setdefault("_name_or_path", raw.get("_name_or_path"))
        nested.setdefault("torch_dtype", raw.get("torch_dtype"))
        nested.setdefault("tie_word_embeddings", raw.get("tie_word_embeddings", False))
        if "quantization_config" in raw:
            nested.setdefault("quantization_config", raw["quantization_config"])
        raw = nested
    return raw


def describe_from_config(path: str | Path, name: str | None = None) -> DescribedModel:
    """A model described by its Hugging Face ``config.json``.

    Args:
        path: The config file.
        name: Id to ask about it by; default the config's ``_name_or_path``, else the name of
            the folder holding the file (as a Hub snapshot is laid out), else the file's stem.

    Returns:
        The described model (parameters computed by :func:`parameter_count`).

    Raises:
        InvalidInputError: The file is unreadable, not JSON, or lacks or contradicts a field
            (the message names the field and the file).
    """
    p = Path(path)
    raw = _read_json(p)
    try:
        cfg = HFConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "config"
        raise InvalidInputError(
            f"--model-config {p}: field {where!r}: {first['msg']} (a Hugging Face config.json needs num_hidden_layers, "
            "hidden_size, num_attention_heads, intermediate_size and vocab_size)"
        ) from None
    model_id = (name or cfg.name_or_path or (p.parent.name if p.stem == "config" and p.parent.name else p.stem)).strip()
    if not model_id:
        raise InvalidInputError(f"--model-config {p}: no model name; give it as NAME=FILE")
    total, active = parameter_count(cfg)
    experts = cfg.experts if cfg.experts and cfg.experts > 1 else None
    spec = ModelSpec(
        id=model_id,
        family="described",
        params_total_b=round(total, 3),
        params_active_b=round(active, 3),
        layers=cfg.num_hidden_layers,
        hidden_size=cfg.hidden_size,
        attention_heads=cfg.num_attention_heads,
        kv_heads=cfg.num_key_value_heads or cfg.num_attention_heads,
        context_length=cfg.max_position_embeddings,
        architecture="moe" if experts else "dense",
        experts=experts,
        experts_per_token=cfg.num_experts_per_tok if experts else None,
        weights_format=_config_weights_format(raw),
        source=f"config.json {p} (parameters computed from its fields)",
    )
    head_dim = cfg.head_dim if cfg.head_dim and cfg.head_dim != cfg.hidden_size // cfg.num_attention_heads else None
    extra = {**({"head_dim": head_dim} if head_dim is not None else {}), **cfg.kv_fields()}
    if extra:
        try:
            spec = ModelSpec.model_validate({**spec.model_dump(), **extra})
        except ValidationError as exc:
            raise InvalidInputError(f"--model-config {p}: its attention layout does not add up: {exc.errors()[0]['msg']}") from None
    return DescribedModel(spec=spec, basis=f"described: config.json {p.name} ({total:.2f} B parameters computed)", head_dim=head_dim)


def describe_from_flags(
    name: str,
    params_b: float | None,
    layers: int | None,
    hidden: int | None,
    heads: int | None,
    kv_heads: int | None,
) -> DescribedModel:
    """A model described by its size and shape on the command line.

    ``params_b`` is required; layers, hidden size and heads give the KV cache and the attention
    cost (without them the memory fit cannot size the KV cache and says so).

    Raises:
        InvalidInputError: A value is missing or not positive, or the heads do not divide.
    """
    if params_b is None:
        raise InvalidInputError(f"describing model {name!r} needs --params-b (billions of parameters)")
    for flag, value in (("--params-b", params_b), ("--layers", layers), ("--hidden", hidden), ("--heads", heads), ("--kv-heads", kv_heads)):
        if value is not None and not value > 0:
            raise InvalidInputError(f"{flag} must be positive, got {value}")
    if kv_heads is not None and heads is None:
        raise InvalidInputError("--kv-heads needs --heads")
    if heads is not None and kv_heads is not None and (kv_heads > heads or heads % kv_heads):
        raise InvalidInputError(f"--kv-heads {kv_heads} must divide --heads {heads}")
    if hidden is not None and heads is not None and hidden % heads:
        raise InvalidInputError(f"--hidden {hidden} is not a multiple of --heads {heads}")
    spec = ModelSpec(
        id=name,
        family="described",
        params_total_b=float(params_b),
        params_active_b=float(params_b),
        layers=layers,
        hidden_size=hidden,
        attention_heads=heads,
        kv_heads=kv_heads or heads,
        source="command-line flags",
    )
    shape = ", ".join(f"{k} {v}" for k, v in (("layers", layers), ("hidden", hidden), ("heads", heads), ("kv heads", kv_heads)) if v)
    return DescribedModel(spec=spec, basis=f"described: flags ({params_b:g} B parameters{', ' + shape if shape else ''})")


def variant_key(name: str) -> tuple[str, str]:
    """(organisation, base name) with the base/instruct and quantized-checkpoint tokens
    removed, lower case: ``meta-llama/Llama-2-7b-chat-hf`` -> ``("meta-llama", "llama-2-7b")``,
    ``Qwen/Qwen2.5-7B-Instruct-AWQ`` -> ``("qwen", "qwen2.5-7b")``."""
    org, _, base = name.strip().lower().rpartition("/")
    tokens = [t for t in re.split(r"[-_]", base) if t and t not in _VARIANT_TOKENS and not _is_checkpoint_token(t)]
    return org, "-".join(tokens)


def checkpoint_base_names(name: str) -> tuple[str, ...]:
    """Names the model of a quantized checkpoint may be catalogued under: ``name`` without its
    checkpoint tokens, with its organisation and without (``neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8``
    -> ``neuralmagic/Meta-Llama-3.1-8B-Instruct``, ``Meta-Llama-3.1-8B-Instruct``)."""
    org, _, base = name.strip().rpartition("/")
    kept = "-".join(t for t in re.split(r"[-_]", base) if t and not _is_checkpoint_token(t))
    return (f"{org}/{kept}", kept) if org else (kept,)


_FORMAT_OF_METHOD = {"fp8": "fp8", "mxfp4": "mxfp4", "awq": "awq-int4", "gptq": "gptq-int4"}
"""Quantization methods with one catalogued quantization, as a checkpoint's name token
(``-FP8``, ``-AWQ``, ``-GPTQ-Int4``) or its config.json ``quantization_config.quant_method``
spells them (AWQ and GPTQ at 4 bits). Other tokens and methods (``int8``, ``bnb``, ``w8a8``,
``gguf``, ``compressed-tensors``...) name formats several catalog entries could be, so they tell
none."""


def checkpoint_format(name: str) -> str | None:
    """The quantization a checkpoint's name says its weights are stored in, or None where the
    name does not tell one (``neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8`` -> ``fp8``,
    ``TheBloke/Llama-2-7B-Chat-GPTQ`` -> ``gptq-int4``, ``...-bnb-4bit`` -> None)."""
    base = name.strip().lower().rpartition("/")[2]
    found = {_FORMAT_OF_METHOD[t] for t in re.split(r"[-_]", base) if t in _FORMAT_OF_METHOD}
    return found.pop() if len(found) == 1 else None


def _config_weights_format(raw: Mapping[str, Any]) -> str | None:
    """The catalogued quantization a config.json's ``quantization_config`` stores the weights in
    (None: 16-bit weights, or a method with no single catalogued match)."""
    q = raw.get("quantization_config")
    if not isinstance(q, Mapping):
        return None
    method = str(q.get("quant_method", "")).lower()
    if method in ("awq", "gptq") and q.get("bits", 4) != 4:
        return None
    return _FORMAT_OF_METHOD.get(method)


def checkpoint_original(spec: ModelSpec) -> str | None:
    """The 16-bit original a catalogued quantized checkpoint was made from, where its name
    carries the token of the format its weights are stored in (``meta-llama/Llama-4-Maverick-
    17B-128E-Instruct-FP8`` -> ``meta-llama/Llama-4-Maverick-17B-128E-Instruct``); None for a
    model published in that format under its own name (DeepSeek-V3) or in 16 bits."""
    if spec.weights_format is None or not is_quantized_checkpoint(spec.id) or checkpoint_format(spec.id) != spec.weights_format:
        return None
    original = checkpoint_base_names(spec.id)[0]
    return original if original != spec.id else None


def is_quantized_checkpoint(name: str) -> bool:
    """Whether ``name`` carries a quantized checkpoint's token (``-AWQ``, ``-GPTQ-Int4``, ``-FP8``...)."""
    base = name.strip().lower().rpartition("/")[2]
    return any(_is_checkpoint_token(t) for t in re.split(r"[-_]", base))


def _variant_index(models: Mapping[str, ModelSpec]) -> dict[str, list[tuple[str, ModelSpec]]]:
    """Catalog entries by the :func:`variant_key` base name of their id and each alias:
    ``{base name: [(organisation, spec), ...]}``."""
    index: dict[str, list[tuple[str, ModelSpec]]] = {}
    for spec in models.values():
        for n in (spec.id, *spec.aliases):
            o, k = variant_key(n)
            index.setdefault(k, []).append((o, spec))
    return index


def _variants_of(name: str, index: Mapping[str, list[tuple[str, ModelSpec]]]) -> dict[str, ModelSpec]:
    """Catalog entries (from :func:`_variant_index`) whose id or an alias is a base/instruct
    variant of ``name`` (see :func:`sibling_of` for the matching rule), by catalog id."""
    org, key = variant_key(name)
    if not key:
        return {}
    checkpoint = is_quantized_checkpoint(name)
    return {spec.id: spec for o, spec in index.get(key, ()) if checkpoint or not org or not o or o == org}


def _one_architecture(found: Mapping[str, ModelSpec]) -> bool:
    """Whether the matched variants share one architecture (so they are one answer)."""
    return len({(s.params_total_b, s.layers, s.hidden_size, s.attention_heads, s.kv_heads) for s in found.values()}) == 1


def catalogued_variants(names: Sequence[str], models: Mapping[str, ModelSpec]) -> dict[str, str]:
    """Of ``names`` outside the catalog, those :func:`sibling_of` resolves: name -> the catalog
    id whose architecture it borrows (one of them where several variants share it).

    The accuracy model is fitted for these too, so that a base model asked by its own name
    (``meta-llama/Llama-2-7b-hf``, which the leaderboards scored) reads its own scores, not
    a size prior."""
    out: dict[str, str] = {}
    index = _variant_index(models)
    for name in names:
        if name in models:
            continue
        found = _variants_of(name, index)
        if found and _one_architecture(found):
            out[name] = next(iter(found))
    return out


def sibling_of(name: str, models: Mapping[str, ModelSpec]) -> DescribedModel | None:
    """The catalogued base/instruct variant of ``name``, with ``name`` as its id (None: none).

    Ids and aliases match on :func:`variant_key`; where both carry an organisation it must be
    the same, except for a quantized checkpoint (:func:`is_quantized_checkpoint`), which is
    usually published by another organisation than the model's. Several matches with one
    architecture are one answer; several with different architectures are ambiguous. The
    16-bit original of a catalogued quantized checkpoint (``...-Instruct`` of ``...-Instruct-FP8``)
    is published in 16 bits: it does not take the checkpoint's ``weights_format``.

    Raises:
        InvalidInputError: Variants with different architectures match.
    """
    found = _variants_of(name, _variant_index(models))
    if not found:
        return None
    checkpoint = is_quantized_checkpoint(name)
    if not _one_architecture(found):
        raise InvalidInputError(
            f"model {name!r} is not catalogued and its variants {', '.join(sorted(found))} differ in architecture; "
            "name one of them or describe it with --model-config"
        )
    sib = next(iter(found.values()))
    update: dict[str, Any] = {"id": name.strip(), "aliases": (), "source": f"architecture of {sib.id} ({sib.source})"}
    # Identity fields a catalog may carry (which variant, what it was tuned from) are the
    # sibling's, not this model's.
    update.update({f: None for f in ("variant", "base_model", "release_date") if f in ModelSpec.model_fields})
    if not checkpoint and checkpoint_original(sib) is not None:
        # The catalog holds the quantized checkpoint (Meta's Llama-4-Maverick-...-FP8); the name
        # asked is the 16-bit original, published in bf16.
        update["weights_format"] = None
    spec = ModelSpec.model_validate({**sib.model_dump(), **update})
    kind = "quantized checkpoint; its quantization is the one asked" if checkpoint else "base/instruct variant"
    return DescribedModel(spec=spec, basis=f"architecture of {sib.id} ({kind})", head_dim=getattr(sib, "head_dim", None), of=sib.id)
