"""Quantization registry: names, device checks before loading, and real quantized layers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from recommender.errors import InvalidInputError, UnknownNameError, UnsupportedCombinationError
from recommender.table.schema import QUANTIZATIONS

from profiler import quant as q


def test_registry_names_are_schema_quantizations() -> None:
    assert set(q.QUANT_METHODS) <= set(QUANTIZATIONS)
    assert {"fp32", "fp16", "bf16", "int8-bnb", "int8-bnb-t0", "nf4-bnb", "fp4-bnb", "dynamic-int8"} == set(q.QUANT_METHODS)


def test_unknown_quant_suggests_close_name() -> None:
    with pytest.raises(UnknownNameError) as exc:
        q.get_quant("nf4")
    assert "nf4-bnb" in str(exc.value)
    assert exc.value.exit_code == 2


def test_bad_device_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="cuda:N"):
        q.check_combination("fp32", "gpu0")


def _must_not_load(*args: object) -> None:
    raise AssertionError("loader called although the combination is unsupported")


def test_dynamic_int8_on_cuda_fails_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(q, "load_dynamic_int8", _must_not_load)
    with pytest.raises(UnsupportedCombinationError) as exc:
        q.load_quantized("/nonexistent/checkpoint", "dynamic-int8", "cuda:0")
    msg = str(exc.value)
    assert "dynamic-int8 on cuda:0" in msg and "fp16" in msg  # names the combination and what works
    assert exc.value.exit_code == 7


def test_bnb_without_bitsandbytes_fails_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def fake_find_spec(name: str, *args: object) -> object:
        return None if name == "bitsandbytes" else real(name, *args)

    monkeypatch.setattr(q.importlib.util, "find_spec", fake_find_spec)
    monkeypatch.setattr(q, "load_nf4_bnb", _must_not_load)
    with pytest.raises(UnsupportedCombinationError, match="nf4-bnb on cpu needs .*bitsandbytes"):
        q.load_quantized("/nonexistent/checkpoint", "nf4-bnb", "cpu")


def test_fp16_on_cpu_without_support_fails_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(q, "_cpu_dtype_works", lambda name: False)
    monkeypatch.setattr(q, "load_fp16", _must_not_load)
    with pytest.raises(UnsupportedCombinationError, match="fp16 on cpu.*fp32"):
        q.load_quantized("/nonexistent/checkpoint", "fp16", "cpu")


def test_cuda_device_missing_is_unsupported() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(UnsupportedCombinationError, match="no such CUDA device"):
        q.check_combination("fp16", "cuda:0")


# ---------------------------------------------------------------- real quantization on a tiny model


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer random Llama saved as an ordinary fp32 checkpoint (tied embeddings)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(
        vocab_size=256, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    return str(path)


def _forward_ok(model: object) -> None:
    import torch

    ids = torch.tensor([[1, 5, 9, 17]])
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, 4, 256)
    assert torch.isfinite(logits.float()).all()


def test_fp32_baseline_is_plain_linear(tiny_checkpoint: str) -> None:
    model = q.load_quantized(tiny_checkpoint, "fp32", "cpu")
    s = q.quant_summary(model)
    assert s.linear_types == {"torch.nn.modules.linear.Linear": 2 * 7 + 1}
    _forward_ok(model)


@pytest.mark.parametrize(
    ("name", "layer", "max_ratio"),
    [
        ("int8-bnb", "bitsandbytes.nn.modules.Linear8bitLt", 0.45),
        ("int8-bnb-t0", "bitsandbytes.nn.modules.Linear8bitLt", 0.45),
        ("nf4-bnb", "bitsandbytes.nn.modules.Linear4bit", 0.35),
        ("fp4-bnb", "bitsandbytes.nn.modules.Linear4bit", 0.35),
        ("dynamic-int8", "torch.ao.nn.quantized.dynamic.modules.linear.Linear", 0.45),
    ],
)
def test_quantization_really_applied(tiny_checkpoint: str, name: str, layer: str, max_ratio: float) -> None:
    if name != "dynamic-int8" and importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("bitsandbytes not installed")
    fp32 = q.quant_summary(q.load_quantized(tiny_checkpoint, "fp32", "cpu"))
    model = q.load_quantized(tiny_checkpoint, name, "cpu")
    s = q.quant_summary(model)
    # Every decoder Linear (7 per layer) is quantized; lm_head stays full precision (tied).
    assert s.linear_types.get(layer) == 2 * 7, s.linear_types
    # Decoder weights shrink to <= 1/4 (int8) or 1/8 (4-bit) of fp32; the fp32 embedding
    # (256 x 128) keeps the total ratio above that.
    linear_fp32 = 2 * (4 * 128 * 128 + 3 * 128 * 256) * 4
    embed_fp32 = 256 * 128 * 4
    assert s.weight_bytes < fp32.weight_bytes * max_ratio, (s.weight_bytes, fp32.weight_bytes)
    assert s.weight_bytes >= embed_fp32 + linear_fp32 // 8 * 0.9
    _forward_ok(model)


def test_int8_thresholds_differ(tiny_checkpoint: str) -> None:
    if importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("bitsandbytes not installed")
    m6 = q.load_quantized(tiny_checkpoint, "int8-bnb", "cpu")
    m0 = q.load_quantized(tiny_checkpoint, "int8-bnb-t0", "cpu")
    l6 = m6.model.layers[0].self_attn.q_proj
    l0 = m0.model.layers[0].self_attn.q_proj
    assert l6.state.threshold == pytest.approx(6.0)
    assert l0.state.threshold == pytest.approx(0.0)


def test_bf16_weights(tiny_checkpoint: str) -> None:
    import torch

    model = q.load_quantized(tiny_checkpoint, "bf16", "cpu")
    assert next(model.parameters()).dtype == torch.bfloat16
    fp32 = q.quant_summary(q.load_quantized(tiny_checkpoint, "fp32", "cpu"))
    # Halved, up to fp32 buffers such as the rotary inv_freq (a few hundred bytes).
    assert q.quant_summary(model).weight_bytes == pytest.approx(fp32.weight_bytes / 2, rel=1e-3)


def test_loaders_are_lazy_import_strings() -> None:
    for method in q.QUANT_METHODS.values():
        module, func = method.loader.split(":")
        assert module == "profiler.quant"
        assert callable(getattr(q, func))
    # importing the registry must not have needed torch at module level
    src = Path(q.__file__).read_text(encoding="utf-8")
    top = [ln for ln in src.splitlines() if ln.startswith(("import ", "from "))]
    assert not any("torch" in ln or "transformers" in ln or "bitsandbytes" in ln for ln in top)
