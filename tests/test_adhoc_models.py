"""Models outside the catalog (``recommender.catalog.adhoc``): parameter counts from
config.json fields against published counts, validation, and base/instruct siblings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender.catalog.adhoc import (
    HFConfig,
    catalogued_variants,
    describe_from_config,
    describe_from_flags,
    parameter_count,
    sibling_of,
    variant_key,
)
from recommender.catalog.types import ModelSpec
from recommender.errors import InvalidInputError

# Architecture fields as published in each model's config.json on the Hugging Face Hub.
LLAMA2_7B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32,
             "num_hidden_layers": 32, "num_key_value_heads": 32, "vocab_size": 32000, "tie_word_embeddings": False}
LLAMA3_8B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
             "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": False}
MIXTRAL_8X7B = {"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
                "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 32000, "num_local_experts": 8,
                "num_experts_per_tok": 2, "tie_word_embeddings": False}
QWEN25_05B = {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14,
              "num_hidden_layers": 24, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True}


@pytest.mark.parametrize(
    ("cfg", "total_b", "active_b"),
    [
        (LLAMA2_7B, 6.74, 6.74),  # model card: 7B; safetensors 6,738,415,616
        (LLAMA3_8B, 8.03, 8.03),  # safetensors 8,030,261,248
        (MIXTRAL_8X7B, 46.7, 12.9),  # Mistral AI: 46.7B total, 12.9B active
        (QWEN25_05B, 0.494, 0.494),  # safetensors 494,032,768 (q/k/v biases left out: < 0.01 %)
    ],
)
def test_parameter_count_matches_published_counts(cfg: dict, total_b: float, active_b: float) -> None:
    total, active = parameter_count(HFConfig.model_validate(cfg))
    assert total == pytest.approx(total_b, rel=0.005)
    assert active == pytest.approx(active_b, rel=0.005)


def test_config_file_gives_a_model_named_by_its_path(tmp_path: Path) -> None:
    folder = tmp_path / "Meta-Llama-3-8B"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA3_8B))
    d = describe_from_config(folder / "config.json")
    assert d.spec.id == "Meta-Llama-3-8B" and d.spec.kv_heads == 8 and d.spec.layers == 32
    assert d.spec.params_total_b == pytest.approx(8.03, rel=1e-3) and d.head_dim is None
    assert describe_from_config(folder / "config.json", "meta-llama/Meta-Llama-3-8B").spec.id == "meta-llama/Meta-Llama-3-8B"


@pytest.mark.parametrize(
    ("quantization_config", "fmt"),
    [
        (None, None),
        ({"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}, "fp8"),  # DeepSeek-V3
        ({"quant_method": "mxfp4"}, "mxfp4"),  # gpt-oss
        ({"quant_method": "awq", "bits": 4, "group_size": 128}, "awq-int4"),
        ({"quant_method": "gptq", "bits": 8}, None),  # 8-bit GPTQ: no catalogued format
        ({"quant_method": "bitsandbytes", "load_in_4bit": True}, None),
    ],
)
def test_config_quantization_gives_the_published_weights_format(tmp_path: Path, quantization_config: dict | None, fmt: str | None) -> None:
    cfg = dict(LLAMA3_8B, **({"quantization_config": quantization_config} if quantization_config else {}))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    assert describe_from_config(path, "x/y").spec.weights_format == fmt


def test_nested_text_config_and_explicit_head_dim(tmp_path: Path) -> None:
    # Gemma-3-style: the language model under text_config, head_dim 256 != 2560 / 8.
    text = {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240, "num_attention_heads": 8,
            "num_hidden_layers": 34, "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 262208}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"_name_or_path": "google/gemma-3-4b-it", "text_config": text, "tie_word_embeddings": True}))
    d = describe_from_config(path)
    assert d.spec.id == "google/gemma-3-4b-it" and d.head_dim == 256 and d.spec.layers == 34


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"num_hidden_layers": None}, "num_hidden_layers"),
        ({"num_key_value_heads": 5}, "must divide num_attention_heads"),
        ({"hidden_size": -1}, "hidden_size"),
        ({"num_local_experts": 8}, "needs num_experts_per_tok"),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, change: dict, fragment: str) -> None:
    cfg = {**LLAMA3_8B, **change}
    cfg = {k: v for k, v in cfg.items() if v is not None}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(InvalidInputError, match=fragment):
        describe_from_config(path)


def test_unreadable_config_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read it"):
        describe_from_config(tmp_path / "missing.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(InvalidInputError, match="expected a JSON object"):
        describe_from_config(tmp_path / "list.json")


def test_flags_describe_a_model() -> None:
    d = describe_from_flags("lab/m", 7.0, 32, 4096, 32, 8)
    assert d.spec.params_total_b == 7.0 and d.spec.kv_heads == 8
    assert describe_from_flags("lab/m", 7.0, None, None, None, None).spec.layers is None
    with pytest.raises(InvalidInputError, match="--params-b"):
        describe_from_flags("lab/m", None, 32, 4096, 32, 8)
    with pytest.raises(InvalidInputError, match="must divide"):
        describe_from_flags("lab/m", 7.0, 32, 4096, 32, 5)


def _spec(mid: str, layers: int = 32, aliases: tuple[str, ...] = ()) -> ModelSpec:
    return ModelSpec(id=mid, family="f", params_total_b=7.0, params_active_b=7.0, layers=layers, hidden_size=4096,
                     attention_heads=32, kv_heads=32, aliases=aliases, source="test")


def test_variant_key_drops_base_and_instruct_tokens() -> None:
    assert variant_key("meta-llama/Llama-2-7b-chat-hf") == variant_key("meta-llama/Llama-2-7b-hf") == ("meta-llama", "llama-2-7b")
    assert variant_key("meta-llama/Meta-Llama-3-8B-Instruct") == variant_key("meta-llama/Meta-Llama-3-8B")
    assert variant_key("google/gemma-2-9b-it") == variant_key("google/gemma-2-9b")
    assert variant_key("Qwen/Qwen2.5-7B-Instruct") == variant_key("Qwen/Qwen2.5-7B")
    assert variant_key("meta-llama/Llama-3.1-8B") != variant_key("meta-llama/Meta-Llama-3-8B")


def test_sibling_borrows_the_architecture_not_the_identity() -> None:
    models = {m.id: m for m in (_spec("meta-llama/Meta-Llama-3-8B-Instruct"), _spec("meta-llama/Llama-2-7b-chat-hf"))}
    d = sibling_of("meta-llama/Meta-Llama-3-8B", models)
    assert d is not None and d.spec.id == "meta-llama/Meta-Llama-3-8B" and d.spec.aliases == ()
    assert d.basis == "architecture of meta-llama/Meta-Llama-3-8B-Instruct (base/instruct variant)"
    assert sibling_of("other-org/Llama-2-7b-hf", models) is None  # another organisation's model
    assert sibling_of("meta-llama/Llama-2-13b-hf", models) is None


def test_a_quantized_checkpoint_borrows_its_models_architecture_whoever_published_it() -> None:
    models = {m.id: m for m in (_spec("Qwen/Qwen2.5-7B-Instruct"), _spec("meta-llama/Llama-3.1-8B-Instruct", aliases=("Meta-Llama-3.1-8B-Instruct",)))}
    for name, base in (
        ("Qwen/Qwen2.5-7B-Instruct-AWQ", "Qwen/Qwen2.5-7B-Instruct"),
        ("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4", "Qwen/Qwen2.5-7B-Instruct"),
        ("neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8", "meta-llama/Llama-3.1-8B-Instruct"),
        ("hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", "meta-llama/Llama-3.1-8B-Instruct"),
        ("RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w8a8", "meta-llama/Llama-3.1-8B-Instruct"),
    ):
        d = sibling_of(name, models)
        assert d is not None, name
        assert d.spec.id == name and d.basis.startswith(f"architecture of {base} (quantized checkpoint")
    # Another organisation's model of the same name that is not a quantized checkpoint is not assumed to be it.
    assert sibling_of("other-org/Qwen2.5-7B-Instruct", models) is None
    # The size must still match.
    assert sibling_of("Qwen/Qwen2.5-14B-Instruct-AWQ", models) is None


def test_the_16_bit_original_of_a_catalogued_checkpoint_is_published_in_16_bits() -> None:
    fp8 = _spec("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8").model_copy(update={"weights_format": "fp8"})
    native = _spec("deepseek-ai/DeepSeek-V3").model_copy(update={"weights_format": "fp8"})
    models = {m.id: m for m in (fp8, native)}
    original = sibling_of("meta-llama/Llama-4-Maverick-17B-128E-Instruct", models)
    assert original is not None and original.spec.weights_format is None
    # A variant of a model published in FP8 under its own name keeps the format (DeepSeek-V3's base).
    base = sibling_of("deepseek-ai/DeepSeek-V3-Base", models)
    assert base is not None and base.spec.weights_format == "fp8"
    # Another organisation's FP8 checkpoint of the catalogued checkpoint's model is FP8 too.
    other = sibling_of("someone/Llama-4-Maverick-17B-128E-Instruct-FP8-dynamic", models)
    assert other is not None and other.spec.weights_format == "fp8"


def test_catalogued_variants_maps_names_outside_the_catalog_to_the_architecture_they_borrow() -> None:
    models = {m.id: m for m in (_spec("meta-llama/Llama-2-7b-chat-hf"), _spec("org/m-7b-instruct"), _spec("org/m-7b-chat", layers=40))}
    got = catalogued_variants(["meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-7b-chat-hf", "other/Llama-2-7b-hf", "org/m-7b"], models)
    # Catalogued names, other organisations' models and ambiguous variants are left out.
    assert got == {"meta-llama/Llama-2-7b-hf": "meta-llama/Llama-2-7b-chat-hf"}


def test_siblings_with_different_architectures_are_ambiguous() -> None:
    models = {m.id: m for m in (_spec("org/m-7b-instruct"), _spec("org/m-7b-chat", layers=40))}
    with pytest.raises(InvalidInputError, match="differ in architecture"):
        sibling_of("org/m-7b", models)


@pytest.mark.parametrize(
    ("extra", "expect"),
    [
        # gpt-oss: alternating local (128) and full layers, spelled out in layer_types.
        ({"sliding_window": 128, "layer_types": ["sliding_attention", "full_attention"] * 16},
         {"sliding_window": 128, "sliding_window_layers": 16}),
        # Gemma 3: every 6th layer global.
        ({"model_type": "gemma3_text", "sliding_window": 1024, "sliding_window_pattern": 6},
         {"sliding_window": 1024, "sliding_window_layers": 27}),
        # Qwen2/2.5 state a window they do not use.
        ({"sliding_window": 131072, "use_sliding_window": False}, {}),
        # Mistral 7B v0.1: one window on every layer.
        ({"sliding_window": 4096, "max_position_embeddings": 32768}, {"sliding_window": 4096, "sliding_window_layers": 32}),
        # DeepSeek-V3 MLA: a 512 + 64 latent per layer.
        ({"kv_lora_rank": 512, "qk_rope_head_dim": 64}, {"kv_latent_dim": 576}),
        # Nemotron-H: '*' marks the attention blocks of the hybrid.
        ({"hybrid_override_pattern": "M-M-M-M*-M-M-M-M*-M-M-M-M*-M-M-M-M*-M-M-M-M-M-M-"}, {"attention_layers": 4}),
    ],
)
def test_config_kv_layout(tmp_path: Path, extra: dict, expect: dict) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**LLAMA3_8B, **extra}))
    spec = describe_from_config(path, "x").spec
    for field in ("sliding_window", "sliding_window_layers", "kv_latent_dim", "attention_layers"):
        assert getattr(spec, field) == expect.get(field), field
    layout = spec.kv_layout()
    dense = 2 * 32 * 8 * 128 * 2
    assert layout.full_bytes_per_token + layout.window_bytes_per_token <= dense


def test_config_with_more_local_layers_than_layers_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**LLAMA3_8B, "sliding_window": 128, "layer_types": ["sliding_attention"] * 40}))
    with pytest.raises(InvalidInputError, match="attention layout"):
        describe_from_config(path, "x")
