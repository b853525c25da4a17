"""Quantization catalog: names match the table schema, storage ordering, aliases, support."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender.catalog import get_quants, resolve_quant
from recommender.catalog.quant import quant_aliases, quant_sources
from recommender.errors import DataSourceError, UnknownNameError
from recommender.table.schema import QUANTIZATIONS


def test_names_equal_table_literal() -> None:
    assert set(get_quants()) == set(QUANTIZATIONS)


def test_bytes_per_weight_ordering() -> None:
    q = get_quants()
    bpw = {name: spec.bytes_per_weight for name, spec in q.items()}
    assert bpw["fp32"] > bpw["fp16"] > bpw["int8-bnb"] > bpw["nf4-bnb"]
    assert bpw["fp16"] == bpw["bf16"] == 2.0
    assert bpw["fp8"] == bpw["int8-bnb"] == bpw["dynamic-int8"] == 1.0
    # 4-bit formats carry block scales: strictly above half a byte, well below one byte.
    for name in ("nf4-bnb", "fp4-bnb", "mxfp4", "gguf-q4"):
        assert 0.5 < bpw[name] < 0.7, name
    assert bpw["mxfp4"] == pytest.approx((32 * 4 + 8) / 32 / 8)
    assert bpw["nf4-bnb"] == pytest.approx((64 * 4 + 32) / 64 / 8)


def test_bitsandbytes_methods_name_their_per_layer_kernel_path() -> None:
    q = get_quants()
    paths = {name: spec.layer_kernel for name, spec in q.items()}
    # Each bitsandbytes method wraps every linear layer in its kernels; NF4 and FP4 share them,
    # LLM.int8()'s outlier path is not threshold 0's.
    assert all(paths[name] for name, spec in q.items() if spec.family == "bnb")
    assert paths["nf4-bnb"] == paths["fp4-bnb"]
    assert len({paths["int8-bnb"], paths["int8-bnb-t0"], paths["nf4-bnb"]}) == 3
    # Formats served by compiled kernels or unquantized ones name none.
    for name in ("fp16", "bf16", "fp8", "mxfp4", "gguf-q4"):
        assert paths[name] is None, name


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("int8", "int8-bnb"),
        ("INT8", "int8-bnb"),
        ("4bit", "nf4-bnb"),
        ("nf4", "nf4-bnb"),
        ("bfloat16", "bf16"),
        ("dynamic", "dynamic-int8"),
        ("float16", "fp16"),
        ("int8_threshold0", "int8-bnb-t0"),
        ("int8_llmint8_default", "int8-bnb"),
        ("Q4_K_M", "gguf-q4"),
        ("MXFP4", "mxfp4"),
        ("Int8-BNB", "int8-bnb"),
    ],
)
def test_alias_resolution(alias: str, expected: str) -> None:
    assert resolve_quant(alias).name == expected


def test_every_alias_resolves_and_sources_exist() -> None:
    sources = quant_sources()
    for name, aliases in quant_aliases().items():
        assert sources[name]
        for alias in aliases:
            assert resolve_quant(alias).name == name


def test_hardware_support() -> None:
    q = get_quants()
    assert q["fp8"].min_arch_generation == 8.9 and q["fp8"].devices == ("cuda",)
    assert q["dynamic-int8"].devices == ("cpu",)
    # vLLM runs MXFP4 checkpoints (gpt-oss) on Ampere and Ada through its Marlin kernel.
    assert q["mxfp4"].min_arch_generation == 8.0
    assert q["bf16"].min_arch_generation == 8.0
    assert "cpu" in q["nf4-bnb"].devices and "cuda" in q["nf4-bnb"].devices


def test_did_you_mean() -> None:
    with pytest.raises(UnknownNameError) as info:
        resolve_quant("int9")
    assert "int8-bnb" in info.value.suggestions


def test_invalid_entries_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "q.yaml"
    bad.write_text(
        "quantizations:\n  - name: x\n    bytes_per_weight: 1\n    compute_precision: int8\n"
        "    devices: [tpu]\n    family: f\n    description: d\n    source: s\n"
    )
    with pytest.raises(DataSourceError, match="devices"):
        get_quants(bad)
    nosrc = tmp_path / "n.yaml"
    nosrc.write_text(
        "quantizations:\n  - name: x\n    bytes_per_weight: 1\n    compute_precision: int8\n"
        "    devices: [cpu]\n    family: f\n    description: d\n"
    )
    with pytest.raises(DataSourceError, match="no source"):
        get_quants(nosrc)


def test_gpt_oss_mxfp4_runs_on_ampere_and_ada_but_not_volta() -> None:
    from recommender.catalog.platforms import platform_from_specs, resolve_platform
    from recommender.rules.candidates import unsupported_reason

    mx = get_quants()["mxfp4"]
    assert unsupported_reason(mx, resolve_platform("a100-sxm4-80gb")) == ""
    assert unsupported_reason(mx, resolve_platform("rtx-4090")) == ""  # Ada, 8.9
    assert unsupported_reason(mx, platform_from_specs("RTX 3090")) == ""  # Ampere, 8.6 (from specifications)
    assert "8.0" in unsupported_reason(mx, resolve_platform("v100-sxm2-32gb"))
