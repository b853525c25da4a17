"""Profiling an architecture with random weights (``random:DIR``): energy and time, no accuracy."""

from __future__ import annotations

import importlib.util
import json
import platform
from pathlib import Path

import pytest

from recommender.errors import DataSourceError, UnsupportedCombinationError
from recommender.table.io import read_rows

needs_lm_eval = pytest.mark.skipif(
    importlib.util.find_spec("lm_eval") is None or importlib.util.find_spec("transformers") is None,
    reason="lm-eval / transformers not installed",
)

TINY = {  # a 2-layer Llama small enough to run a task on one CPU thread in seconds
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False, "hidden_act": "silu",
}


def _byte_tokenizer(directory: Path) -> int:
    """Save a byte-level BPE tokenizer without merges into ``directory``; returns its size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab["<|endoftext|>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                            pad_token="<|endoftext|>").save_pretrained(directory)
    return len(vocab)


def _arch_dir(tmp: Path, vocab_size: int | None = None, name: str | None = "acme/Tiny-Llama") -> Path:
    directory = tmp / "tiny"
    directory.mkdir(exist_ok=True)
    ids = _byte_tokenizer(directory)
    config = dict(TINY, vocab_size=vocab_size or ids + 3, eos_token_id=ids - 1, bos_token_id=ids - 1)
    if name:
        config["_name_or_path"] = name
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def test_random_source_names_the_architecture_and_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    from profiler.engines import EngineOptions, get_engine
    from profiler.models import resolve_model_source

    src = resolve_model_source(f"random:{_arch_dir(tmp_path)}")
    assert src.kind == "random" and src.model_id == "acme/Tiny-Llama" and "RANDOM weights" in src.note
    hf = get_engine("hf-transformers")
    hf.check(src, "bf16", EngineOptions(device="cpu"))
    with pytest.raises(UnsupportedCombinationError, match="trained"):
        hf.check(src, "int8-bnb", EngineOptions(device="cpu"))
    with pytest.raises(UnsupportedCombinationError, match="GGUF"):
        get_engine("llama.cpp").check(src, "Q4_1", EngineOptions(device="cpu"))
    with pytest.raises(DataSourceError, match="config.json"):
        resolve_model_source(f"random:{tmp_path / 'nowhere'}")


def test_random_source_needs_a_model_name_and_a_tokenizer(tmp_path: Path) -> None:
    from profiler.models import resolve_model_source

    nameless = _arch_dir(tmp_path, name=None)
    with pytest.raises(DataSourceError, match="_name_or_path"):
        resolve_model_source(f"random:{nameless}")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text(json.dumps(dict(TINY, _name_or_path="acme/x")))
    with pytest.raises(DataSourceError, match="tokenizer"):
        resolve_model_source(f"random:{bare}")


def test_vllm_loads_random_weights_with_its_dummy_loader(tmp_path: Path) -> None:
    from profiler.engines import EngineOptions
    from profiler.engines.vllm import model_args
    from profiler.models import resolve_model_source

    src = resolve_model_source(f"random:{_arch_dir(tmp_path)}")
    args = model_args(src, "bf16", EngineOptions(device="cuda", batch_size=8), src.location)
    assert args["load_format"] == "dummy" and args["pretrained"] == src.location


@needs_lm_eval
def test_tokenizer_larger_than_the_embedding_is_refused(tmp_path: Path) -> None:
    from profiler.engines import EngineOptions, get_engine
    from profiler.models import resolve_model_source

    src = resolve_model_source(f"random:{_arch_dir(tmp_path, vocab_size=100)}")
    with pytest.raises(DataSourceError, match="vocab_size is 100"):
        get_engine("hf-transformers").load(src, "fp32", EngineOptions(device="cpu"))


@needs_lm_eval
@pytest.mark.slow
def test_sweep_of_random_weights_writes_energy_and_time_without_accuracy(tmp_path: Path) -> None:
    from profiler.sweep import LmEvalRunner, SweepSpec, run_sweep

    arch = _arch_dir(tmp_path)
    spec = SweepSpec(models=[f"random:{arch}"], quants=["fp32"], tasks=["arc_easy", "gsm8k"], limit=2,
                     num_fewshot={"gsm8k": 0}, max_gen_toks=12, device="cpu", repeats=1, threads=1,
                     idle_s=0, min_window_s=0.2)
    out = tmp_path / "random.csv"
    summary = run_sweep(spec, out, LmEvalRunner(spec, platform="cpu-amd-epyc-zen4", command="pytest"))
    assert not summary.failed, summary.failed
    arc, gsm = read_rows(out)
    for row in (arc, gsm):
        assert row.model_id == "acme/Tiny-Llama" and row.engine == "hf-transformers"
        assert row.accuracy is None and row.accuracy_metric is None and row.accuracy_n is None
        assert "random-weights" in row.flag_set and "RANDOM weights" in row.source_ref
        assert f"; {platform.platform()}; python " in row.source_ref  # the kernel tells sandbox from VM
        assert row.energy_j_per_query is not None and row.energy_j_per_query > 0
        assert row.time_s_per_query is not None and row.time_s_per_query > 0
    # Two 2-layer blocks of 64 x 128 MLP + attention + untied embedding and head.
    vocab = json.loads((arch / "config.json").read_text())["vocab_size"]
    per_layer = 64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128 + 2 * 64
    assert arc.params_total_b * 1e9 == pytest.approx(2 * per_layer + 2 * vocab * 64 + 64)
    # Random logits almost never pick the end token: generation runs to its cap, and the ids
    # generated are counted (ids past the tokenizer's vocabulary decode to nothing).
    assert gsm.output_tokens_mean is not None and 10 <= gsm.output_tokens_mean <= 12
