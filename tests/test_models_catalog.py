"""Model catalog: aliases, did-you-mean, coverage of the energy table and the study's families."""

from __future__ import annotations

import csv

import pytest

from pydantic import ValidationError

from recommender.catalog import get_models, resolve_model
from recommender.catalog.types import ModelSpec
from recommender.catalog.models import params_note
from recommender.errors import UnknownNameError
from recommender.importers.build import DEFAULT_MEASURED


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("metaai/llama-7B", "huggyllama/llama-7b"),
        ("METAAI/LLAMA-7b", "huggyllama/llama-7b"),
        ("lmsys/vicuna-13B", "lmsys/vicuna-13b-v1.3"),
        ("metaai/Llama-2-7b-chat-hf", "meta-llama/Llama-2-7b-chat-hf"),
        ("StabilityAI/stablelm-tuned-alpha-7b", "stabilityai/stablelm-tuned-alpha-7b"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("mistralai/Mixtral-8x22B-Instruct-v0.1-pp1", "mistralai/Mixtral-8x22B-Instruct-v0.1"),
        # A base model's short name names the base, never its chat/instruct sibling (issue 17).
        ("Yi-1.5-6B", "01-ai/Yi-1.5-6B"),
        ("Qwen2.5-7B", "Qwen/Qwen2.5-7B"),
        ("SmolLM2-135M", "HuggingFaceTB/SmolLM2-135M"),
        ("  qwen/qwen2.5-7b-instruct ", "Qwen/Qwen2.5-7B-Instruct"),
    ],
)
def test_aliases_resolve_case_insensitively(name: str, expected: str) -> None:
    assert resolve_model(name).id == expected


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'Qwen/Qwen2.5-7B-Instruct'") as info:
        resolve_model("Qwen/Qwen2.5-7B-Instuct")
    assert info.value.exit_code == 2


def test_study_families_and_small_model_present_with_precise_params() -> None:
    expected = {
        "Qwen/Qwen2.5-7B-Instruct": 7.62,
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": 7.62,
        "mistralai/Mistral-7B-Instruct-v0.2": 7.24,
        "mistralai/Mistral-7B-Instruct-v0.3": 7.25,
        "Intel/neural-chat-7b-v3-1": 7.24,
        "bigscience/bloomz-7b1": 7.07,
        "01-ai/Yi-6B-Chat": 6.06,
        "HuggingFaceTB/SmolLM2-135M-Instruct": 0.135,
    }
    models = get_models()
    for model_id, params in expected.items():
        spec = models[model_id]
        assert spec.params_total_b == params
        assert spec.params_active_b == params
        assert spec.source.startswith("https://huggingface.co/") and spec.source.endswith("config.json")
    assert models["Qwen/Qwen2.5-7B-Instruct"].kv_heads == 4
    assert models["bigscience/bloomz-7b1"].layers == 30


def test_catalog_is_consistent() -> None:
    seen: dict[str, str] = {}
    for spec in get_models().values():
        assert 0 < spec.params_active_b <= spec.params_total_b
        assert (spec.params_active_b < spec.params_total_b) == (spec.architecture == "moe")
        if spec.kv_heads is not None and spec.attention_heads is not None:
            assert spec.attention_heads % spec.kv_heads == 0, spec.id
        for name in (spec.id, *spec.aliases):
            assert seen.setdefault(name.lower(), spec.id) == spec.id, f"{name} is ambiguous"


def test_every_model_in_the_shipped_table_is_in_the_catalog() -> None:
    with DEFAULT_MEASURED.open(encoding="utf-8", newline="") as fh:
        model_ids = {row["model_id"] for row in csv.DictReader(fh)}
    assert len(model_ids) > 60
    for model_id in model_ids:
        assert resolve_model(model_id).id == model_id


def test_params_note_documents_uncertain_counts() -> None:
    assert "rounded" in (params_note("RWKV/rwkv-raven-7b") or "")
    assert params_note("Qwen/Qwen2.5-7B-Instruct") is None
    with pytest.raises(UnknownNameError):
        params_note("no/such-model")


def test_layer_design_is_catalogued() -> None:
    from recommender.catalog import resolve_model

    assert resolve_model("OpenAssistant/oasst-sft-1-pythia-12b").block == "gpt-neox"
    assert resolve_model("RWKV/rwkv-raven-7b").block == "rwkv"
    assert resolve_model("lmsys/fastchat-t5-3b-v1.0").block == "t5"
    assert resolve_model("Qwen/Qwen2.5-7B-Instruct").block == "decoder"  # the default


def test_moe_routing_fields_are_validated_together():
    base = {"id": "x/moe", "family": "x", "params_total_b": 40.0, "params_active_b": 10.0, "source": "test"}
    spec = ModelSpec(**base, architecture="moe", experts=8, experts_per_token=2)
    assert spec.route_share == pytest.approx(0.25)
    assert ModelSpec(**base).route_share is None
    with pytest.raises(ValidationError, match="both experts and experts_per_token"):
        ModelSpec(**base, architecture="moe", experts=8)
    with pytest.raises(ValidationError, match="must be below experts"):
        ModelSpec(**base, architecture="moe", experts=8, experts_per_token=8)
    with pytest.raises(ValidationError, match="set architecture: moe"):
        ModelSpec(**base, experts=8, experts_per_token=2)


CURRENT_FAMILIES = {
    # family -> ids a user deploys today (base and instruct are separate entries)
    "llama-3.2": ["meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-3B-Instruct"],
    "llama-3.1": ["meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct"],
    "qwen2.5": [f"Qwen/Qwen2.5-{s}-Instruct" for s in ("0.5B", "1.5B", "3B", "7B", "14B", "32B", "72B")],
    "qwen3": ["Qwen/Qwen3-0.6B", "Qwen/Qwen3-4B", "Qwen/Qwen3-8B", "Qwen/Qwen3-32B"],
    "qwen3-moe": ["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-235B-A22B"],
    "gemma-2": ["google/gemma-2-2b-it", "google/gemma-2-9b", "google/gemma-2-27b-it"],
    "gemma-3": ["google/gemma-3-1b-it", "google/gemma-3-4b-it", "google/gemma-3-27b-it"],
    "phi-4": ["microsoft/phi-4", "microsoft/Phi-4-mini-instruct"],
    "phi-3.5": ["microsoft/Phi-3.5-mini-instruct", "microsoft/Phi-3.5-MoE-instruct"],
    "mistral-small": ["mistralai/Mistral-Small-24B-Instruct-2501"],
    "mixtral": ["mistralai/Mixtral-8x7B-v0.1", "mistralai/Mixtral-8x7B-Instruct-v0.1"],
    "deepseek-r1-distill": [f"deepseek-ai/DeepSeek-R1-Distill-{s}" for s in ("Qwen-1.5B", "Qwen-7B", "Llama-8B", "Qwen-14B", "Qwen-32B", "Llama-70B")],
    "yi-1.5": ["01-ai/Yi-1.5-9B-Chat", "01-ai/Yi-1.5-34B"],
    "olmo-2": ["allenai/OLMo-2-1124-7B-Instruct", "allenai/OLMo-2-1124-13B"],
    "granite-3": ["ibm-granite/granite-3.1-8b-instruct", "ibm-granite/granite-3.3-2b-instruct"],
    "falcon3": ["tiiuae/Falcon3-7B-Instruct", "tiiuae/Falcon3-10B-Base"],
    "smollm2": ["HuggingFaceTB/SmolLM2-1.7B-Instruct", "HuggingFaceTB/SmolLM2-360M"],
}


def test_current_families_are_catalogued_with_dates_and_variants() -> None:
    models = get_models()
    for family, ids in CURRENT_FAMILIES.items():
        for mid in ids:
            spec = models[mid]
            assert spec.family == family, mid
            assert spec.release_date is not None and spec.release_date.year >= 2023, mid
            assert spec.variant in ("base", "instruct"), mid
            assert spec.layers and spec.hidden_size and spec.attention_heads and spec.kv_heads, mid


def test_base_and_instruct_are_distinct_entries_linked_by_base_model() -> None:
    base, inst = resolve_model("Qwen/Qwen2.5-7B"), resolve_model("Qwen/Qwen2.5-7B-Instruct")
    assert base.id != inst.id and (base.variant, inst.variant) == ("base", "instruct")
    assert inst.base_model == base.id
    # Qwen2's instruct repo was an alias of the base entry; it is its own model now.
    assert resolve_model("Qwen/Qwen2-7B-Instruct").id == "Qwen/Qwen2-7B-Instruct"
    assert resolve_model("Qwen/Qwen2-7B").variant == "base"
    assert resolve_model("google/gemma-2-9b-it").head_dim == 256  # config head_dim, not hidden / heads


def test_base_model_must_be_a_catalog_id(tmp_path) -> None:
    from recommender.catalog.models import _load
    from recommender.errors import DataSourceError

    path = tmp_path / "models.yaml"
    path.write_text(
        "models:\n  - {id: a/x-it, family: x, params_total_b: 1, params_active_b: 1, variant: instruct,"
        " base_model: a/missing, source: test}\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="base_model 'a/missing' is not a catalog id"):
        _load(path)


def test_kv_layout_counts_only_what_each_attention_design_caches():
    import numpy as np
    import pytest as _pytest

    from recommender.catalog.types import ModelSpec

    base = dict(family="x", params_total_b=8.0, params_active_b=8.0, layers=32, hidden_size=4096, attention_heads=32, kv_heads=8, source="test")
    dense = ModelSpec(id="dense", **base).kv_layout()
    assert dense.full_bytes_per_token == 2 * 32 * 8 * 128 * 2 and dense.window_bytes_per_token == 0.0
    # Hybrid: only the attention layers keep a cache.
    hybrid = ModelSpec(id="hybrid", **{**base, "attention_layers": 4}).kv_layout()
    assert hybrid.full_bytes_per_token == dense.full_bytes_per_token / 8
    # MLA: one compressed latent per layer instead of keys and values of every KV head.
    mla = ModelSpec(id="mla", **{**base, "kv_latent_dim": 576}).kv_layout()
    assert mla.full_bytes_per_token == 32 * 576 * 2
    # Local layers cost their full share up to the window, less per token beyond it.
    local = ModelSpec(id="local", **{**base, "sliding_window": 128, "sliding_window_layers": 16}).kv_layout()
    per_tok = local.bytes_per_context_token(np.array([64.0, 128.0, 1280.0]))
    assert per_tok[0] == per_tok[1] == dense.full_bytes_per_token
    assert per_tok[2] == _pytest.approx(dense.full_bytes_per_token / 2 * (1 + 0.1))
    with _pytest.raises(ValueError, match="sliding_window"):
        ModelSpec(id="bad", **{**base, "sliding_window": 128})
    with _pytest.raises(ValueError, match="attention_layers"):
        ModelSpec(id="bad", **{**base, "attention_layers": 40})


def test_checkpoint_formats_are_catalogued_quantizations_loaded_from_checkpoints(tmp_path) -> None:
    from profiler.engines.vllm import PREQUANTIZED_ARGS
    from recommender.catalog.models import _load
    from recommender.errors import DataSourceError

    named = {q for spec in get_models().values() for q in spec.checkpoints}
    assert named and named <= set(PREQUANTIZED_ARGS)
    assert resolve_model("meta-llama/Llama-3.1-8B-Instruct").checkpoints["awq-int4"] == "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - {id: a/x, family: x, params_total_b: 1, params_active_b: 1, source: test,"
                    " checkpoints: {awq-int3: a/x-AWQ}}\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="checkpoint format 'awq-int3' is not a catalogued quantization"):
        _load(path)
    path.write_text("models:\n  - {id: a/x, family: x, params_total_b: 1, params_active_b: 1, source: test,"
                    " weights_format: fp6}\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="weights_format 'fp6' is not a catalogued quantization"):
        _load(path)
    path.write_text("models:\n  - {id: a/x, family: x, params_total_b: 1, params_active_b: 1, source: test,"
                    " checkpoints: {awq-int4: x-AWQ}}\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="not a Hugging Face id"):
        _load(path)
