"""Importers: unit conversions against hand-computed rows of the real files, registry, rebuild."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from recommender.errors import DataSourceError, TableValidationError, UnknownNameError
from recommender.importers import IMPORTERS, get_importer, importer_names, run_importer
from recommender.importers.base import SHARED_ENV, default_shared_root
from recommender.importers.build import DEFAULT_ACCURACY, DEFAULT_MEASURED, build_tables
from recommender.table.io import COLUMNS
from recommender.table.schema import MeasuredRow

SHARED = default_shared_root()
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared data sets not found at {SHARED} (set {SHARED_ENV} or check out ../shared)"
)


def _by_ref(rows: tuple[MeasuredRow, ...], ref_start: str) -> MeasuredRow:
    hits = [r for r in rows if r.source_ref.startswith(ref_start)]
    assert len(hits) == 1, (ref_start, len(hits))
    return hits[0]


def test_registry_is_lazy_and_complete() -> None:
    assert importer_names() == [
        "mlenergy-v1",
        "mlenergy-v2",
        "mlenergy-v3",
        "quant-reports",
        "open-llm-leaderboard-v1",
        "open-llm-leaderboard-v1-final",
        "open-llm-leaderboard-v2",
        "intel-autoround",
        "llm-stats-vendor-reported",
    ]
    assert all(isinstance(v, str) and ":" in v for v in IMPORTERS.values())
    assert callable(get_importer("mlenergy-v2"))


def test_unknown_importer_suggests_close_name() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'mlenergy-v2'"):
        get_importer("mlenergy_v2")


def test_shared_root_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SHARED_ENV, str(tmp_path))
    assert default_shared_root() == tmp_path
    with pytest.raises(DataSourceError, match="--shared"):
        run_importer("mlenergy-v1")


@needs_shared
def test_mlenergy_v1_row_by_hand() -> None:
    # A100_chat_benchmark.csv line 2 (raw):
    # BAIR/koala-13b,21.207721076321384,265.5732034922767,12.1433556952537,2144.8338435191445
    raw = (SHARED / "mlenergy-v1" / "A100_chat_benchmark.csv").read_text().splitlines()[1]
    assert raw == "BAIR/koala-13b,21.207721076321384,265.5732034922767,12.1433556952537,2144.8338435191445"
    result = run_importer("mlenergy-v1", SHARED)
    row = _by_ref(result.rows, "mlenergy-v1/A100_chat_benchmark.csv#L2:")
    assert row.energy_j_per_query == 2144.8338435191445
    assert row.energy_j_per_output_token == pytest.approx(2144.8338435191445 / 265.5732034922767, rel=1e-12)
    assert row.energy_j_per_output_token == pytest.approx(8.0762434, rel=1e-7)
    assert row.time_s_per_query == 12.1433556952537
    assert row.throughput_tokens_per_s == 21.207721076321384
    assert (row.platform, row.engine, row.batch_size, row.device_count) == ("a100-sxm4-40gb", "fastchat", 1, 1)
    assert (row.quantization, row.workload, row.energy_method, row.idle_subtracted) == (
        "fp16", "sharegpt-chat", "nvml-counter", False,
    )
    # params come from the catalog (LLaMA-13B shapes), not the leaderboard's rounded 13
    assert row.params_total_b == 13.02
    assert len(result.rows) == 21 * 4 + 23 * 4 + 21 * 4
    # score.csv line 2: BAIR/koala-13b arc 52.901023890784984 -> fraction
    arc = [a for a in result.accuracy if a.source_ref == "mlenergy-v1/score.csv#L2:model=BAIR/koala-13b:arc"]
    assert arc[0].accuracy == pytest.approx(52.901023890784984 / 100)
    assert (arc[0].task, arc[0].metric, arc[0].num_fewshot) == ("arc_challenge", "acc_norm", 25)


@needs_shared
def test_mlenergy_v1_codename_maps_to_catalog_id() -> None:
    rows = run_importer("mlenergy-v1", SHARED).rows
    llama = [r for r in rows if "model=metaai/llama-7B" in r.source_ref]
    assert llama and {r.model_id for r in llama} == {"huggyllama/llama-7b"}
    v100 = {r.platform for r in rows if "/V100_" in r.source_ref}
    assert v100 == {"v100-sxm2-32gb"}


@needs_shared
def test_mlenergy_v2_row_by_hand() -> None:
    first = json.loads((SHARED / "mlenergy-v2" / "mlenergy_v2_llm_text_generation_A100.jsonl").read_text().splitlines()[0])
    assert first["Model"] == "google/gemma-2-27b-it" and first["Energy/req (J)"] == 230.644433524673
    result = run_importer("mlenergy-v2", SHARED)
    assert len(result.rows) == 157 and not result.skipped
    row = _by_ref(result.rows, "mlenergy-v2/mlenergy_v2_llm_text_generation_A100.jsonl#L1:")
    # Raw: Energy/req 230.644433524673 J, Avg Output Tokens 392.47133333333335, Avg TPOT 0.11220224938943191 s,
    # TP 4, PP 1, Max BS 128, Avg BS 127.72361537073786
    assert row.energy_j_per_query == 230.644433524673
    assert row.energy_j_per_output_token == pytest.approx(230.644433524673 / 392.47133333333335, rel=1e-12)
    assert row.time_s_per_query == pytest.approx(0.11220224938943191 * 392.47133333333335, rel=1e-12)
    assert row.time_s_per_query == pytest.approx(44.0362, rel=1e-5)
    assert (row.device_count, row.batch_size, row.avg_batch_size) == (4, 128, 127.72361537073786)
    assert (row.platform, row.engine, row.workload, row.quantization) == (
        "a100-sxm4-40gb", "vllm", "sharegpt-chat-vllm", "bf16",
    )
    assert row.engine_version == "0.5.4"  # data set README: vLLM 0.5.4 server image
    assert row.params_total_b == 27.23
    mixtral = [r for r in result.rows if r.model_id == "mistralai/Mixtral-8x7B-Instruct-v0.1"]
    assert mixtral and all(r.params_active_b == 12.88 for r in mixtral)


@needs_shared
def test_mlenergy_v3_row_by_hand() -> None:
    result = run_importer("mlenergy-v3", SHARED)
    assert len(result.rows) == 565 and not result.skipped
    row = _by_ref(result.rows, "mlenergy-v3/mlenergy_v3_llm_configurations.jsonl#L1:")
    # Raw line 1: Qwen/Qwen3-14B gpqa on B200, 1 GPU, max_num_seqs 8, energy_per_token_joules 1.3662634337367148,
    # avg_output_len 7026.242424242424, median_itl_ms 33.62808651581872, avg_power_watts 319.7883095908309
    assert row.model_id == "Qwen/Qwen3-14B" and row.platform == "b200" and row.workload == "gpqa"
    assert row.energy_j_per_output_token == 1.3662634337367148
    assert row.energy_j_per_query == pytest.approx(1.3662634337367148 * 7026.242424242424, rel=1e-12)
    assert row.energy_j_per_query == pytest.approx(9599.698, rel=1e-6)  # equals the file's energy_per_request_joules
    assert row.time_s_per_query == pytest.approx(33.62808651581872 / 1000 * 7026.242424242424, rel=1e-12)
    assert row.power_w_mean == 319.7883095908309
    assert (row.device_count, row.batch_size, row.quantization) == (1, 8, "bf16")
    assert row.engine == "vllm" and row.engine_version == "0.11.1"  # data set README
    assert row.params_total_b == 14.77  # catalog, not the file's rounded 14.0
    by_precision = {r.quantization for r in result.rows}
    assert by_precision == {"bf16", "fp8", "mxfp4"}
    moe = [r for r in result.rows if r.model_id == "openai/gpt-oss-120b"]
    assert moe and all(r.params_active_b < r.params_total_b for r in moe)


@needs_shared
def test_quant_reports_rows_by_hand() -> None:
    result = run_importer("quant-reports", SHARED)
    rows = result.rows
    assert len(rows) == 38
    # Relative-only issue rows (#1867) and the #1851 duplicates are listed, not dropped silently.
    assert len(result.skipped) == 20
    assert sum("relative-only" in s.reason for s in result.skipped) == 14
    assert sum("duplicate" in s.reason for s in result.skipped) == 6

    # RTX 5090, memo, TinyLlama fp16: energy_per_1k_tokens 1659 J -> 1.659 J/token (gross: 157.45 W / 94.87 tok/s)
    r = [x for x in rows if x.platform == "rtx-5090" and x.model_id == "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
         and x.quantization == "fp16"][0]
    assert r.energy_j_per_output_token == pytest.approx(1659 / 1000)
    assert r.energy_j_per_output_token == pytest.approx(157.45 / 94.87, rel=1e-3)
    assert (r.energy_method, r.energy_sample_hz, r.idle_subtracted, r.repeats) == ("nvml-sampled", 10.0, False, 10)

    # RTX 4090D, memo, Yi-1.5-6B fp16: published 4716 J/1k is idle-subtracted; gross = 180.74 W / 34.72 tok/s
    y = [x for x in rows if x.platform == "rtx-4090d" and x.model_id == "01-ai/Yi-1.5-6B-Chat"
         and x.quantization == "fp16"][0]
    assert y.energy_j_per_output_token == pytest.approx(180.74 / 34.72, rel=1e-12)
    assert y.energy_j_per_output_token == pytest.approx(5.2056, rel=1e-4)
    assert not y.idle_subtracted and "recomputed-gross" in y.flag_set

    # A800 sweep, pure int8 (threshold 0), batch 8: 283.74 J/request, 150.35 tok/s aggregate, 256 output tokens
    s = [x for x in rows if x.workload == "fixed-prompt-in256-gen256" and x.batch_size == 8][0]
    assert s.quantization == "int8-bnb-t0" and s.platform == "a800-sxm4-80gb"
    assert s.model_id == "mistralai/Mistral-7B-Instruct-v0.2"
    assert s.energy_j_per_query == 283.74
    assert s.energy_j_per_output_token == pytest.approx(1108.35 / 1000)
    assert s.time_s_per_query == pytest.approx(256 * 8 / 150.35)
    assert {x.quantization for x in rows} == {"fp16", "int8-bnb", "int8-bnb-t0", "nf4-bnb"}


@needs_shared
def test_open_llm_leaderboard_rows_by_hand() -> None:
    result = run_importer("open-llm-leaderboard-v1", SHARED)
    assert not result.rows and len(result.accuracy) == 1291 * 4 and not result.skipped
    # Line 2: uni-tianyan/Uni-TianYan, ARC 72.1, HellaSwag 87.4, MMLU 69.9, TruthfulQA 65.8 (percent)
    first = {a.task: a for a in result.accuracy if a.source_ref.startswith("open-llm-leaderboard-v1/20230904.csv#L2:")}
    assert first["arc_challenge"].accuracy == pytest.approx(0.721)
    assert first["mmlu"].accuracy == pytest.approx(0.699) and first["mmlu"].metric == "acc"
    assert first["truthfulqa_mc2"].metric == "mc2" and first["truthfulqa_mc2"].num_fewshot == 0
    assert first["hellaswag"].num_fewshot == 10 and first["hellaswag"].quantization == "unknown"


@needs_shared
def test_every_row_traceable_and_params_from_catalog() -> None:
    from recommender.catalog.models import resolve_model

    for name in ("mlenergy-v1", "mlenergy-v2", "mlenergy-v3", "quant-reports"):
        for row in run_importer(name, SHARED).rows:
            assert row.source == name and "#L" in row.source_ref
            spec = resolve_model(row.model_id)
            assert spec.id == row.model_id
            assert (row.params_total_b, row.params_active_b) == (spec.params_total_b, spec.params_active_b)


@pytest.fixture(scope="module")
def rebuilt():
    if not SHARED.is_dir():
        pytest.skip(f"shared data sets not found at {SHARED}; cannot rebuild the shipped tables")
    return build_tables(SHARED)


def test_rebuild_equals_committed_tables_byte_for_byte(rebuilt) -> None:
    assert rebuilt.measured_csv() == DEFAULT_MEASURED.read_text(encoding="utf-8"), (
        "data/measured.csv is stale: run 'eai data import' and commit the result"
    )


def test_reimport_of_the_accuracy_table_is_byte_equal(rebuilt) -> None:
    assert rebuilt.accuracy_csv() == DEFAULT_ACCURACY.read_text(encoding="utf-8"), (
        "data/accuracy.csv is stale: run 'eai data import' and commit the result"
    )


def test_rebuild_is_deterministic(rebuilt) -> None:
    again = build_tables(SHARED, sources=["mlenergy-v1", "quant-reports"])
    wanted = ("mlenergy-v1", "quant-reports")
    subset = [r for r in rebuilt.measured if r.source in wanted]
    # Profiled rows (data/profiled/) are merged into every build, whichever sources are asked for.
    assert [r for r in again.measured if r.source in wanted] == subset
    assert {r.source for r in again.measured} <= {*wanted, "eai-profiler"}


@needs_shared
def test_profiled_rows_are_merged_and_validated(tmp_path: Path) -> None:
    profiled = tmp_path / "profiled"
    profiled.mkdir()
    row = {c: "" for c in COLUMNS} | {
        "platform": "cpu-amd-epyc-zen4", "device_count": "1", "engine": "hf-transformers",
        "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct", "params_total_b": "0.135", "params_active_b": "0.135",
        "quantization": "fp32", "batch_size": "1", "workload": "gsm8k", "energy_j_per_query": "12.5",
        "energy_method": "rapl", "energy_scope": "cpu", "idle_subtracted": "true",
        "source": "eai-profiler", "source_ref": "data/profiled/test.csv#1",
    }
    path = profiled / "test.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        w.writeheader()
        w.writerow(row)
    result = build_tables(SHARED, profiled_dir=profiled, sources=["quant-reports"])
    assert [r.source for r in result.measured].count("eai-profiler") == 1
    assert result.profiled_files == (path,)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        w.writeheader()
        w.writerow(row | {"platform": "epyc"})
    with pytest.raises(TableValidationError) as info:
        build_tables(SHARED, profiled_dir=profiled, sources=["quant-reports"])
    assert (info.value.line, info.value.column) == (2, "platform")


def test_shipped_tables_use_canonical_catalog_ids() -> None:
    from recommender.catalog import resolve_quant, resolve_task
    from recommender.table.accuracy import read_accuracy_rows
    from recommender.table.io import read_rows

    rows = read_rows(DEFAULT_MEASURED)
    for workload in {r.workload for r in rows}:
        assert resolve_task(workload).id == workload
    for quant in {r.quantization for r in rows}:
        assert resolve_quant(quant).name == quant
    for task in {a.task for a in read_accuracy_rows(DEFAULT_ACCURACY)}:
        assert resolve_task(task).id == task


@needs_shared
def test_mlenergy_v2_reads_every_gpu_file_of_the_same_layout(tmp_path: Path) -> None:
    # The leaderboard's H100 files (not shipped) have the A100 file's layout: a copy of two A100
    # lines re-labelled as H100, plus one GPU the catalog lacks, must import as h100 rows.
    src = SHARED / "mlenergy-v2" / "mlenergy_v2_llm_text_generation_A100.jsonl"
    folder = tmp_path / "mlenergy-v2"
    folder.mkdir()
    (folder / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    lines = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines()[:3]]
    for rec, gpu in zip(lines, ["H100 80GB HBM3", "H100 80GB HBM3", "Imaginary GPU 9000"], strict=True):
        rec["gpu"], rec["GPU"] = gpu, f"NVIDIA {gpu}"
    (folder / "mlenergy_v2_llm_text_generation_H100.jsonl").write_text(
        "".join(json.dumps(rec) + "\n" for rec in lines), encoding="utf-8")
    result = run_importer("mlenergy-v2", tmp_path)
    h100 = [r for r in result.rows if r.platform == "h100-sxm5-80gb"]
    assert len(result.rows) == 157 + 2 and len(h100) == 2
    assert all(r.engine_version == "0.5.4" and "_H100.jsonl#L" in r.source_ref for r in h100)
    assert len(result.skipped) == 1 and "Imaginary GPU 9000" in str(result.skipped[0])


@pytest.mark.parametrize(
    ("name", "mode"),
    [("mlenergy-v1", "offline"), ("mlenergy-v2", "offline"), ("mlenergy-v3", None), ("quant-reports", "offline")],
)
def test_serving_mode_is_what_each_source_readme_says(name: str, mode: str | None) -> None:
    # v1: FastChat, batch 1, prompts one after another; v2: every request submitted at time 0;
    # quant reports: one HF generate call per static batch; v3's README does not say.
    rows = run_importer(name, SHARED).rows
    assert {r.serving_mode for r in rows} == {mode}


# -- accuracy sources of issue 17 ------------------------------------------------------------


def _acc_by_ref(rows, ref: str):
    hits = [r for r in rows if r.source_ref == ref]
    assert len(hits) == 1, (ref, len(hits))
    return hits[0]


def test_hub_id_rules_base_instruct_and_quantized_repos() -> None:
    from recommender.importers.hub_ids import BaseIndex, quantized_format, resolve

    index = BaseIndex(["someorg/Cool-7B", "other/Cool-7B", "solo/Rare-3B", "TheBloke/Rare-3B-GPTQ"])
    # Rule 1: catalog ids and aliases, base and instruct kept apart.
    assert resolve("qwen/qwen2.5-7b", index)[0] == "Qwen/Qwen2.5-7B"
    assert resolve("Qwen/Qwen2.5-7B-Instruct", index)[0] == "Qwen/Qwen2.5-7B-Instruct"
    assert resolve("meta-llama/Meta-Llama-3.1-8B-Instruct", index)[0] == "meta-llama/Llama-3.1-8B-Instruct"
    # Rule 2: a quantized repo maps to the unique 16-bit repo of the same name.
    assert resolve("TheBloke/Rare-3B-GPTQ", index)[:3] == ("solo/Rare-3B", "gptq-int4", "solo/Rare-3B")
    assert resolve("unsloth/Qwen2.5-7B-Instruct-bnb-4bit", index)[:3] == (
        "Qwen/Qwen2.5-7B-Instruct", "nf4-bnb", "Qwen/Qwen2.5-7B-Instruct")
    # Two 16-bit repos of that name under different orgs: ambiguous, the Hub id stays.
    model, q, base, note = resolve("TheBloke/Cool-7B-AWQ", index)
    assert (model, q, base) == ("TheBloke/Cool-7B-AWQ", "awq-int4", "") and "not found" in note
    assert quantized_format("org/Model-7B") is None
    # Rule 3: unknown ids are kept as published.
    assert resolve("someorg/Cool-7B", index)[:2] == ("someorg/Cool-7B", None)


@needs_shared
def test_v1_final_row_by_hand_and_precisions() -> None:
    lines = (SHARED / "open-llm-leaderboard-v1-final" / "huggingface_v1.csv").read_text(encoding="utf-8").splitlines()
    header = next(csv.reader([lines[0]]))
    line_no = next(i for i, line in enumerate(lines, start=1) if line.split(",")[1] == "meta-llama/Llama-2-7b-hf"
                   and ",4bit," in line)
    rec = dict(zip(header, next(csv.reader([lines[line_no - 1]])), strict=True))
    result = run_importer("open-llm-leaderboard-v1-final", SHARED)
    row = _acc_by_ref(result.accuracy, f"open-llm-leaderboard-v1-final/huggingface_v1.csv#L{line_no}:mmlu")
    assert row.accuracy == pytest.approx(float(rec["mmlu"]) / 100)
    assert (row.model_id, row.quantization, row.base_model) == ("meta-llama/Llama-2-7b-hf", "fp4-bnb", "meta-llama/Llama-2-7b-hf")
    assert (row.task, row.metric, row.num_fewshot, row.revision) == ("mmlu", "acc", 5, rec["model_sha"][:12])
    assert len(result.accuracy) == 7169 * 6 and not result.skipped
    assert {r.quantization for r in result.accuracy} >= {"fp16", "bf16", "int8-bnb", "fp4-bnb", "gptq-int4"}


@needs_shared
def test_v2_raw_scores_and_chat_template_kept() -> None:
    result = run_importer("open-llm-leaderboard-v2", SHARED)
    # Line 3 of the file: 01-ai/Yi-1.5-34B bf16 (see the data set README's example row).
    rows = [r for r in result.accuracy if r.source_ref.startswith("open-llm-leaderboard-v2/huggingface_v2.csv#L3:")]
    by_task = {r.task: r for r in rows}
    assert set(by_task) == {"ifeval", "bbh", "math_lvl5", "gpqa_mc", "musr", "mmlu_pro"}
    assert by_task["mmlu_pro"].accuracy == pytest.approx(0.466589, abs=1e-6)
    assert by_task["gpqa_mc"].model_id == "01-ai/Yi-1.5-34B" and by_task["gpqa_mc"].chat_template is False
    assert all(r.task != "gpqa" for r in result.accuracy)  # gpqa is the generation workload


@needs_shared
def test_autoround_cells_are_pairs_and_vendor_rows_are_labelled() -> None:
    auto = run_importer("intel-autoround", SHARED)
    qwen = [r for r in auto.accuracy if r.model_id == "Qwen/Qwen2.5-7B-Instruct" and r.task == "mmlu"]
    assert {r.quantization for r in qwen} == {"bf16", "autoround-int4"}
    assert all("pair only" in r.note for r in qwen)
    assert any("truthfulqa_mc1" in s.reason for s in auto.skipped)
    vendor = run_importer("llm-stats-vendor-reported", SHARED)
    assert all(r.metric == "vendor-reported" and r.quantization == "unknown" for r in vendor.accuracy)
    # The README's wrong link (base repo for an instruct model) is replaced.
    assert any(r.model_id == "Qwen/Qwen2-72B-Instruct" for r in vendor.accuracy)
    assert not any(r.model_id == "Qwen/Qwen2-72B" for r in vendor.accuracy)
    assert any(r.model_id == "meta-llama/Llama-3.1-8B-Instruct" and r.task == "mmlu" for r in vendor.accuracy)


def test_leaderboard_tables_share_one_entry_loop_with_skips_named(tmp_path: Path) -> None:
    """Both final leaderboard formats on a tiny fixture: scale, precision mapping, skips by line."""
    from recommender.importers import open_llm_leaderboard_v1_final as v1f
    from recommender.importers import open_llm_leaderboard_v2 as v2

    def write(table, header: list[str], rows: list[dict[str, str]]) -> None:
        folder = tmp_path / table.folder
        folder.mkdir()
        with (folder / table.file).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)

    v1_cols = ["fullname", "precision", "model_sha", "params_b", "architecture", "t", *(t[0] for t in v1f.TASKS)]
    v1_row = {"fullname": "someorg/Thing-7B", "model_sha": "0123456789abcdef", "architecture": "?", "t": "💬",
              **{t[0]: "50.0" for t in v1f.TASKS}}  # fmt: skip
    write(v1f.TABLE, v1_cols, [
        {**v1_row, "precision": "8bit", "params_b": "7.2", "gsm8k": "NaN"},
        {**v1_row, "precision": "2bit", "params_b": "0"},
        {**v1_row, "precision": "float16", "params_b": "0"},
    ])  # fmt: skip
    res = v1f.import_rows(tmp_path)
    assert len(res.accuracy) == 5 + 6
    assert [(s.ref, s.reason) for s in res.skipped] == [
        ("open-llm-leaderboard-v1-final/huggingface_v1.csv#L2:gsm8k", "gsm8k is not a number: 'NaN'"),
        ("open-llm-leaderboard-v1-final/huggingface_v1.csv#L3", "precision '2bit' is not one the leaderboard documents"),
    ]
    q8 = _acc_by_ref(res.accuracy, "open-llm-leaderboard-v1-final/huggingface_v1.csv#L2:mmlu")
    assert (q8.accuracy, q8.quantization, q8.base_model, q8.params_b) == (0.5, "int8-bnb", "someorg/Thing-7B", 7.2)
    assert q8.revision == "0123456789ab" and q8.model_type == "chat" and q8.architecture == "" and "LLM.int8()" in q8.note
    fp = _acc_by_ref(res.accuracy, "open-llm-leaderboard-v1-final/huggingface_v1.csv#L4:mmlu")
    assert (fp.quantization, fp.base_model, fp.params_b, fp.note) == ("fp16", "", None, "")

    v2_cols = ["model_name", "model_precision", "model_sha", "metadata_params_billions", "model_architecture",
               "model_type", "model_has_chat_template", *(f"evaluations_{t[0]}_value" for t in v2.TASKS)]  # fmt: skip
    write(v2.TABLE, v2_cols, [{
        "model_name": "someorg/Thing-7B", "model_precision": "bfloat16", "model_sha": "abc", "metadata_params_billions": "x",
        "model_architecture": "LlamaForCausalLM", "model_type": "chatmodels", "model_has_chat_template": "TRUE",
        **{f"evaluations_{t[0]}_value": "0.25" for t in v2.TASKS}, "evaluations_bbh_value": "",
    }])  # fmt: skip
    res2 = v2.import_rows(tmp_path)
    assert [s.reason for s in res2.skipped] == ["bbh value is not a number: ''"]
    row = _acc_by_ref(res2.accuracy, "open-llm-leaderboard-v2/huggingface_v2.csv#L2:mmlu_pro")
    assert (row.accuracy, row.quantization, row.chat_template, row.params_b, row.model_type) == (0.25, "bf16", True, None, "chat")


def test_shots_and_finite_numbers_as_the_sources_write_them() -> None:
    from recommender.importers.base import finite_float, shots_in

    assert [shots_in(t) for t in ("5-shot CoT", "gsm8k 5 shots", "leaderboard_mmlu_pro 5shot", "Accuracy (25-Shot)")] == [5, 5, 5, 25]
    assert shots_in("zero-shot evaluation") == 0 and shots_in("") == 0
    assert finite_float(" 0.25") == 0.25
    for bad in ("nan", "inf", "-Infinity", "", "n/a"):
        with pytest.raises(ValueError):
            finite_float(bad)
    with pytest.raises(TypeError):
        finite_float(None)


def test_mlenergy_v3_dispersion_of_the_output_length_histogram():
    from recommender.importers.mlenergy_v3 import dispersion

    # Midpoints 1 and 3, one query each: E[L] = 2, E[L^2] = 5, so 5 / 4.
    assert dispersion({"bins": [0, 2, 4], "counts": [1, 1]}) == pytest.approx(1.25)
    # One length only: no spread.
    assert dispersion({"bins": [0, 2, 4], "counts": [0, 7]}) == pytest.approx(1.0)
    assert dispersion(None) is None
    assert dispersion({"bins": [0, 2], "counts": [1, 1]}) is None  # edges do not bound the counts
