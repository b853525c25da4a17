"""Facts about the shipped model (models/) on the shipped catalogs: they change when the lead
refits, unlike the unit tests on synthetic fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shipped():
    from recommender.model.store import load_predictor

    return load_predictor(on_stale="refuse")


def _grid(**cols) -> pd.DataFrame:
    n = max(len(v) if isinstance(v, list) else 1 for v in cols.values())
    return pd.DataFrame({k: (v if isinstance(v, list) else [v] * n) for k, v in cols.items()})


def test_shipped_state_matches_its_manifest_sha256():
    import hashlib

    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    assert manifest["state_sha256"] == hashlib.sha256((ROOT / "models" / "predictor.json").read_bytes()).hexdigest()


def test_llama2_13b_mmlu_on_one_h100_draws_at_most_its_tdp_at_any_batch(shipped):
    batches = [1, 8, 32, 128]
    out = shipped.predict(_grid(platform="h100-sxm5-80gb", device_count=1, engine="vllm", model_id="meta-llama/Llama-2-13b-chat-hf",
                                quantization="fp16", batch_size=batches, task="mmlu"), use_measured=False)
    power = out["energy_j_per_query"].to_numpy() * np.array(batches) / out["time_s_per_query"].to_numpy()
    assert np.all(power <= shipped.catalogs.platforms["h100-sxm5-80gb"].tdp_w * (1 + 1e-9))
    assert np.all(np.diff(out["time_s_per_query"].to_numpy()) > 0)


def test_a_thousand_b200s_do_not_answer_mmlu_in_microseconds(shipped):
    out = shipped.predict(_grid(platform="b200", device_count=[1, 8, 1024], engine="vllm", model_id="meta-llama/Llama-2-13b-chat-hf",
                                quantization="fp16", batch_size=1, task="mmlu"), use_measured=False)
    t, e = out["time_s_per_query"].to_numpy(), out["energy_j_per_query"].to_numpy()
    assert t[2] > 1e-3 and t[2] >= t[1] * 0.5
    assert e[2] > e[1] > 0


def test_splitting_a_dense_model_over_more_h100s_lowers_each_ones_draw(shipped):
    # Measured pairs (the same deployment and batch on two device counts) draw 0.82x per device
    # per doubling (docs/model.md, known gaps); the all-reduce part of a step (features.comm_share)
    # lets the model say so. The B200 is not held to it yet: its smoother reaches only the
    # eight-GPU rows of 235 B+ models (the same gap).
    devices = [1, 2, 4, 8]
    out = shipped.predict(_grid(platform="h100-sxm5-80gb", device_count=devices, engine="vllm", model_id="meta-llama/Llama-3.1-8B-Instruct",
                                quantization="bf16", batch_size=64, task="lm-arena-chat"), use_measured=False)
    per_device = out["energy_j_per_query"].to_numpy() * 64 / out["time_s_per_query"].to_numpy() / np.array(devices)
    assert np.all(np.diff(per_device) < 0)
    # ... and no faster than the forward passes allow: eight devices are not eight times as fast.
    t = out["time_s_per_query"].to_numpy()
    assert t[-1] > t[0] / 4


def test_gh200_energy_scales_with_its_gpu_not_its_module_tdp(shipped):
    out = shipped.predict(_grid(platform=["gh200", "h100-sxm5-80gb"], device_count=1, engine="vllm", model_id="meta-llama/Llama-3.1-8B-Instruct",
                                quantization="bf16", batch_size=16, task="sharegpt-chat-vllm"), use_measured=False)
    e = out["energy_j_per_query"].to_numpy()
    # Same GH100 die at the same 700 W, more bandwidth: no costlier than the H100 by the module's 1,000 W.
    assert e[0] < e[1] * 1.2


def test_h100_under_the_vllm_release_it_was_never_measured_with_is_extrapolated(shipped):
    # Needs a model fitted by this code (its domain lists platform x release pairs).
    if "release_deployments" not in shipped.components["t_dec"].domain:
        pytest.fail("models/ predates platform x release domains: refit with 'eai fit'")
    out = shipped.predict(_grid(platform="h100-sxm5-80gb", device_count=1, engine="vllm", engine_version=["0.5.4", "0.11.1"],
                                model_id="google/gemma-2-2b-it", quantization="bf16", batch_size=64, task="sharegpt-chat-vllm"), use_measured=False)
    assert out["status"].tolist()[0] == "extrapolated" and "deployment-unseen" in out["extrapolated_reasons"].tolist()[0]


def test_a_measured_h100_cell_is_not_the_answer_for_another_vllm_release(shipped):
    # ML.ENERGY v3 measured Llama-3.1-8B on one H100 at 64 sequences under vLLM 0.11.1; asked
    # under 0.5.4 (never run on an H100) or 0.10 (never measured), that is not the measurement.
    out = shipped.predict(_grid(platform="h100-sxm5-80gb", device_count=1, engine="vllm", engine_version=["0.11.1", None, "0.10.1", "0.5.4"],
                                model_id="meta-llama/Llama-3.1-8B-Instruct", quantization="bf16", batch_size=64, task="lm-arena-chat"))
    assert out["status"].tolist() == ["measured", "measured", "extrapolated", "extrapolated"]
    assert out["energy_j_per_query_hi"].iloc[3] > out["energy_j_per_query_lo"].iloc[3]
    # 0.5.4's per-step host cost (ML.ENERGY v2) makes it the slower one.
    assert out["time_s_per_query"].iloc[3] > 1.5 * out["time_s_per_query"].iloc[0]


def test_vllm_releases_after_the_060_scheduler_rewrite_run_at_the_newer_pace(shipped):
    # vLLM 0.6.0 cut time per output token 2-5x against 0.5.3 (vLLM blog, 2024-09-05): a 0.6 or
    # 0.7 server stands in at 0.11, not at 0.5.
    out = shipped.predict(_grid(platform="a100-sxm4-40gb", device_count=1, engine="vllm", engine_version=["0.5.4", "0.6.3", "0.7.3", "0.11.1"],
                                model_id="meta-llama/Llama-3.1-8B-Instruct", quantization="bf16", batch_size=64, task="sharegpt-chat-vllm"),
                          use_measured=False)
    t = out["time_s_per_query"].to_numpy()
    assert np.allclose(t[1:3], t[3]) and t[0] > 1.5 * t[3]


def test_a_continuous_batching_server_never_measured_runs_like_the_measured_one_today(shipped):
    # TensorRT-LLM and SGLang were never measured: their per-step cost is vLLM's newest
    # release's (the one vLLM unversioned is read at), not the mean with vLLM 0.5's.
    out = shipped.predict(_grid(platform="h100-sxm5-80gb", device_count=1, engine=["vllm", "tensorrt-llm", "sglang"],
                                model_id="meta-llama/Llama-3.1-8B-Instruct", quantization="bf16", batch_size=1,
                                task="sharegpt-chat-vllm"), use_measured=False)
    t = out["time_s_per_query"].to_numpy()
    assert np.all(t[1:] < t[0] * 1.25) and np.all(t[1:] > t[0] / 1.25)
    assert set(out["status"].tolist()[1:]) == {"extrapolated"}


def test_a_server_running_fewer_requests_than_its_limit_costs_what_it_runs(shipped):
    # An online server limited to 512 requests that arrivals keep at 180 on average runs
    # decode steps of 180 sequences: priced as a server at 180, not one at 512.
    rows = pd.DataFrame({"platform": "h100-sxm5-80gb", "device_count": 1, "engine": "vllm", "model_id": "meta-llama/Llama-3.1-8B-Instruct",
                         "quantization": "bf16", "task": "sharegpt-chat-vllm", "batch_size": [512, 512, 180], "avg_batch_size": [np.nan, 180.0, np.nan]})
    out = shipped.predict(rows, use_measured=False)
    e = out["energy_j_per_query"].to_numpy()
    assert e[1] == pytest.approx(e[2], rel=1e-9) and e[1] > e[0]


def test_fp16_and_bf16_are_one_deployment_to_the_model(shipped):
    # Same bytes, same tensor rate on every GPU that runs both: the data cannot tell them apart,
    # so neither may stand for a measurement campaign (every bf16 energy row is ML.ENERGY v3).
    rows = _grid(platform=["h100-sxm5-80gb"] * 2 + ["rtx-4090d"] * 2, device_count=1, engine=["vllm"] * 2 + ["hf-transformers"] * 2,
                 model_id="meta-llama/Llama-2-7b-chat-hf", quantization=["fp16", "bf16"] * 2, batch_size=8, task="sharegpt-chat-vllm")
    out = shipped.predict(rows, use_measured=False)
    for col in ("energy_j_per_query", "time_s_per_query"):
        v = out[col].to_numpy()
        assert v[0] == pytest.approx(v[1], rel=1e-9) and v[2] == pytest.approx(v[3], rel=1e-9)


def test_a_model_is_asked_at_its_own_answer_length(shipped):
    """Llama-3.1-8B-Instruct answered LMArena chat prompts in ~390-410 tokens on ML.ENERGY v3's
    H100 and B200 (the task's mean over every model is 641): asked on a GPU nobody measured, it
    is predicted at its own length, and its measured H100 cell returns the measurement."""
    table = pd.read_csv(ROOT / "data" / "measured.csv")
    rows = table[(table["model_id"] == "meta-llama/Llama-3.1-8B-Instruct") & (table["workload"] == "lm-arena-chat")]
    grid = _grid(platform=["a100-sxm4-80gb", "h100-sxm5-80gb"], device_count=1, engine="vllm",
                 model_id="meta-llama/Llama-3.1-8B-Instruct", quantization="bf16", batch_size=8, task="lm-arena-chat")
    tokens, basis = shipped.output_lengths(grid)
    assert list(basis) == ["model", "model"]
    assert rows["output_tokens_mean"].min() <= tokens[0] <= rows["output_tokens_mean"].max()
    assert tokens[0] < 0.7 * shipped.catalogs.tasks["lm-arena-chat"].output_tokens_mean
    out = shipped.predict(grid)
    cell = rows[(rows["platform"] == "h100-sxm5-80gb") & (rows["batch_size"] == 8) & (rows["quantization"] == "bf16")]
    assert out["status"].iloc[1] == "measured"
    assert out["energy_j_per_query"].iloc[1] == pytest.approx(float(cell["energy_j_per_query"].mean()))


def test_a_static_hf_batch_of_bitsandbytes_weights_is_never_faster_per_query_than_a_smaller_one(shipped):
    # A static batch's requests wait for every step of the batch: more sequences never shorten a
    # query. The A800 int8 (threshold 0) sweep measured 13.5 -> 15.6 s from batch 1 to 64; with a
    # per-format batch slope the model took the other bitsandbytes formats down with batch
    # (int8 27.6 -> 24.6 s).
    batches = [1, 4, 16, 64]
    for quant in ("int8-bnb", "int8-bnb-t0", "nf4-bnb"):
        grid = _grid(platform="a800-sxm4-80gb", device_count=1, engine="hf-transformers", model_id="mistralai/Mistral-7B-Instruct-v0.2",
                     quantization=quant, batch_size=batches, task="sharegpt-chat")
        grid["prompt_tokens_mean"], grid["output_tokens_mean"] = 256.0, 256.0
        t = shipped.predict(grid, use_measured=False)["time_s_per_query"].to_numpy()
        assert np.all(np.diff(t) >= -1e-9 * t[:-1]), (quant, t.round(2).tolist())


def test_recommend_says_who_picked_as_the_rule_layer_decided(capsys):
    # Accuracy on an RTX 4090: the pick leads on point score (ties are a score margin there),
    # while wide imputed intervals make other candidates likelier best in sampled worlds. The
    # words must follow the rule layer: "the flow's preference order picks" only where it found
    # ties, and "clear of every other ... interval" never for a margin-on-points objective.
    from recommender.cli import main

    code = main(["recommend", "--scenario", "enterprise", "--priority", "accuracy", "-p", "rtx-4090", "-t", "mmlu", "-t", "gsm8k", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    ex = json.loads(out)["explanation"]
    statement, tied = ex["ties"]["statement"], ex["ties"]["count"] > 0
    if not ex["decision"]["decisive"]:
        assert ("the flow's preference order picks among them" in statement) == tied
    assert not any("interval" in d and d.startswith("objective: best accuracy, clear") for d in ex["decided_by"])


def test_a_floor_asked_with_confidence_is_met_by_the_picks_quantile_and_says_whom_it_left_out(capsys):
    # Edge, GSM8K >= 0.6: at the point an imputed small model (wide interval) clears the floor;
    # asked with probability 0.9, the pick's 10 % quantile must, and where the likeliest best
    # candidates of the sampled worlds miss that confidence the tie line says so.
    from statistics import NormalDist

    from recommender.cli import main

    args = ["recommend", "--scenario", "edge", "--task", "gsm8k", "--min-accuracy", "0.6", "--priority", "energy", "--json"]
    code = main([*args, "--min-accuracy-confidence", "0.9"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    top = doc["recommendations"][0]
    acc, lo = top["accuracy"]["value"], top["accuracy"]["lo"]
    assert acc - NormalDist().inv_cdf(0.9) / NormalDist().inv_cdf(0.95) * (acc - lo) >= 0.6
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    point = json.loads(out)["recommendations"][0]
    assert point["accuracy"]["value"] >= 0.6 and point["wh_per_1k_queries"]["value"] <= top["wh_per_1k_queries"]["value"]
    q = point["accuracy"]["value"] - NormalDist().inv_cdf(0.9) / NormalDist().inv_cdf(0.95) * (point["accuracy"]["value"] - point["accuracy"]["lo"])
    if q < 0.6:  # the point's pick misses the confidence: another is picked, and if it is among the likeliest, said so
        assert point["deployment"] != top["deployment"]
        likeliest = [c["configuration"] for c in doc["explanation"]["decision"]["most_likely_best"][:3]]
        if point["deployment"] in likeliest and not doc["explanation"]["decision"]["decisive"]:
            assert "accuracy.min_confidence" in doc["explanation"]["ties"]["statement"]


def test_an_unquantized_hf_step_on_a_consumer_card_never_measured_is_not_priced_at_bitsandbytes_pace(shipped):
    # The quantization reports' RTX 5090 served TinyLlama-1.1B in fp16 at batch 1 under HF
    # transformers at 94.9 tokens/s (10.5 ms per token). With bitsandbytes' per-layer wrappers
    # folded into HF's own per-layer cost (1.45 ms, stage layer_kernel_cost off), a consumer
    # card outside the table (an RTX 4090 here) was priced at 22 layers x 1.45 ms = 32 ms a step.
    grid = _grid(platform="rtx-4090", device_count=1, engine="hf-transformers", model_id="TinyLlama/TinyLlama-1.1B-Chat-v1.0",
                 quantization=["fp16", "nf4-bnb", "int8-bnb"], batch_size=1, task="fixed-prompt-gen256")
    t = shipped.predict(grid, use_measured=False)["time_s_per_query"].to_numpy()
    per_token_ms = t / 256.0 * 1e3
    assert per_token_ms[0] < 20.0, per_token_ms.round(1).tolist()
    # bitsandbytes' wrappers cost time on top: 4-bit less than LLM.int8().
    assert per_token_ms[0] < per_token_ms[1] < per_token_ms[2], per_token_ms.round(1).tolist()


def test_every_measured_gpu_row_asked_back_draws_at_most_its_cards_limit(shipped):
    # A measured cell returns its measurement; its mean power (energy x queries in flight /
    # latency) must be the one it measured, not the batch's: ML.ENERGY v3's gpt-oss-120b on an
    # H100 at 64 sequences came out at 709 W of 700 W when 64 requests were taken to be in flight.
    from recommender.model.features import device_power_limit_w

    table = pd.read_csv(ROOT / "data" / "measured.csv")
    rows = table[~table["platform"].str.startswith("cpu")]
    cand = rows[["platform", "device_count", "engine", "model_id", "quantization", "batch_size"]].assign(
        task=rows["workload"].to_numpy(), engine_version=rows["engine_version"].astype(object).where(rows["engine_version"].notna(), ""))
    out = shipped.predict(cand)
    measured = (out["status"] == "measured").to_numpy()
    assert measured.sum() >= 800
    devices = cand["device_count"].to_numpy(dtype=float)
    power = out["energy_j_per_query"].to_numpy() * out["queries_in_flight"].to_numpy() / (out["time_s_per_query"].to_numpy() * devices)
    limit = device_power_limit_w([shipped.catalogs.platforms[p] for p in cand["platform"]])
    assert np.all(power[measured] <= limit[measured] * (1 + 1e-9)), cand[measured & (power > limit)].head().to_string()
    # Where the rows state their mean power and latency, the power shown is theirs (a
    # configuration measured twice shows the mean of the two).
    key = cand.astype(str).agg("|".join, axis=1).to_numpy()
    stated = measured & rows["power_w_mean"].notna().to_numpy() & rows["time_s_per_query"].notna().to_numpy()
    assert stated.sum() >= 500
    mean_power = pd.Series(rows["power_w_mean"].to_numpy()).groupby(key).transform("mean").to_numpy()
    np.testing.assert_allclose(power[stated] * devices[stated], mean_power[stated], rtol=1e-6)


def test_a_gpu_at_a_vllm_release_it_never_ran_draws_between_its_own_and_the_releases_power(shipped):
    """Stage release_power on the shipped table: the A100 40GB ran vLLM 0.5.4 only, the H100 0.11.1
    only; asked at the other release, each is priced between the power the model gives it at its
    own release and the one it gets without the stage, at most its board limit, and says so."""
    from dataclasses import replace

    from recommender.model.config import PipelineConfig

    without = replace(shipped, config=PipelineConfig.without_stages(["release_power"]))
    batches = [1, 8, 32, 128]
    for platform, own, other in (("a100-sxm4-40gb", "0.5.4", "0.11.1"), ("h100-sxm5-80gb", "0.11.1", "0.5.4")):
        grid = _grid(platform=platform, device_count=1, engine="vllm", model_id="meta-llama/Llama-3.1-8B-Instruct",
                     quantization="bf16", batch_size=batches, task="sharegpt-chat-vllm")
        asked = shipped.predict(grid.assign(engine_version=other), use_measured=False)
        plain = without.predict(grid.assign(engine_version=other), use_measured=False)
        at_own = shipped.predict(grid.assign(engine_version=own), use_measured=False)

        def power(out):
            return (out["energy_j_per_query"] * out["queries_in_flight"] / out["time_s_per_query"]).to_numpy()

        lo, hi = np.minimum(power(plain), power(at_own)), np.maximum(power(plain), power(at_own))
        assert np.all((power(asked) >= lo * (1 - 1e-9)) & (power(asked) <= hi * (1 + 1e-9)))
        assert np.all(np.abs(np.log(power(plain) / power(at_own))) > 0.1)  # the two readings differ: the stage acts
        assert np.all(power(asked) <= shipped.catalogs.platforms[platform].tdp_w * (1 + 1e-9))
        assert asked["extrapolated_reasons"].astype(str).str.contains(f"power-at:vllm@{'.'.join(own.split('.')[:2])}", regex=False).all()
        np.testing.assert_allclose(asked["time_s_per_query"], plain["time_s_per_query"], rtol=1e-12)


def test_a_longer_prompt_or_answer_never_makes_a_query_cheaper_or_faster(shipped):
    """One token profile moved at a time, every other input held: data-center, workstation, edge
    and CPU platforms, vLLM, HF transformers and llama.cpp, batches 1-64. Until 2026-12-06 stage
    batch_floor held a CPU row under vLLM (measured on GPUs from 8 sequences) to its batch-8
    prediction carried down by the GPUs' roofline, and Llama-3.1-8B on the EPYC at batch 1 came
    out at 7.8 kJ per query with 16 prompt tokens and 3.7 kJ with 8,192."""
    platforms = ["h100-sxm5-80gb", "a100-sxm4-40gb", "l40s", "rtx-4090", "jetson-agx-orin-64gb", "cpu-amd-epyc-zen4"]
    models = ["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-30B-A3B", "Qwen/Qwen2.5-0.5B-Instruct"]
    for moved, values, held in (("prompt_tokens_mean", [16.0, 512.0, 8192.0], {"output_tokens_mean": 256.0}),
                                ("output_tokens_mean", [16.0, 256.0, 4096.0], {"prompt_tokens_mean": 512.0})):
        grid = pd.DataFrame([dict(platform=p, device_count=1, engine=e, model_id=m, quantization=q, batch_size=b,
                                  task="lm-arena-chat", **held, **{moved: v})
                             for p in platforms for e, q in (("vllm", "bf16"), ("hf-transformers", "bf16"), ("llama.cpp", "gguf-q4"))
                             for m in models for b in (1, 8, 64) for v in values])
        out = shipped.predict(grid, use_measured=False)
        for col in ("energy_j_per_query", "time_s_per_query"):
            steps = np.diff(np.log(out[col].to_numpy()).reshape(-1, len(values)), axis=1)
            worst = int(np.argmin(steps.min(axis=1)))
            assert steps.min() >= -1e-9, (moved, col, grid.iloc[worst * len(values)].to_dict())


def test_a_gpu_at_a_format_it_never_ran_is_extrapolated_and_wider(shipped):
    # The H200's rows are bf16 (HF transformers); fp8 ran on the H100 and the B200, never on it.
    out = shipped.predict(_grid(platform=["h200-sxm-141gb", "h200-sxm-141gb", "h100-sxm5-80gb"], device_count=1, engine="vllm",
                                model_id="meta-llama/Llama-3.1-8B-Instruct", quantization=["fp8", "bf16", "fp8"], batch_size=8,
                                task="lm-arena-chat"), use_measured=False)
    reasons = out["extrapolated_reasons"].astype(str).tolist()
    assert "format-unseen" in reasons[0].split(";") and out["status"].iloc[0] == "extrapolated"
    assert "format-unseen" not in reasons[1].split(";") and "format-unseen" not in reasons[2].split(";")
    span = np.log(out["energy_j_per_query_hi"].to_numpy() / out["energy_j_per_query_lo"].to_numpy())
    assert span[0] >= span[1] * (1 - 1e-9)


def test_names_outside_the_catalog_read_their_own_scores_and_weights(capsys):
    # The base model of a catalogued chat model reads the board's scores of that base model; the
    # 16-bit original of a catalogued FP8 checkpoint is served in bf16 and reads the vendor's
    # scores; a model scored only by its vendor gets an imputation where it is narrower than the
    # family prior (DeepSeek-V3's MMLU: +-11.0 points against the prior's +-12.7).
    from recommender.cli import main

    code = main(["predict", "-p", "b200", "--devices", "8", "-m", "meta-llama/Llama-2-7b-hf", "-m",
                 "meta-llama/Llama-4-Maverick-17B-128E-Instruct", "-m", "deepseek-ai/DeepSeek-V3", "-t", "mmlu", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = {r["model_id"]: r for r in json.loads(out)["predictions"]}
    base = rows["meta-llama/Llama-2-7b-hf"]
    assert base["accuracy_status"] == "measured" and "open-llm-leaderboard" in base["accuracy_basis"]
    assert abs(base["accuracy"]["value"] - 0.4687) < 1e-3  # the v1 board's MMLU of the base model, not the chat model's 0.4832
    maverick = rows["meta-llama/Llama-4-Maverick-17B-128E-Instruct"]
    assert maverick["quantization"] == "bf16" and maverick["accuracy_status"] == "imputed"
    v3 = rows["deepseek-ai/DeepSeek-V3"]
    assert v3["accuracy_status"] == "imputed" and "first imputed from other setups' scores" in v3["accuracy_basis"]
    import re

    halfwidth = float(re.search(r"\+-([0-9.]+) pts from family-grouped CV", v3["accuracy_basis"]).group(1))
    assert 10.0 < halfwidth < 12.7 and abs(v3["accuracy"]["lo"] - (v3["accuracy"]["value"] - halfwidth / 100)) < 1e-3


def test_a_model_published_in_fp8_is_not_recommended_as_its_bf16_upcast(capsys):
    # Accuracy first in the data center, MMLU: DeepSeek-V3-0324 (FP8 weights) ties with itself
    # in bf16, fp16 and fp8; the class order lists bf16 first, but bf16 is an exact upcast that
    # needs twice the memory (eight B200s instead of four) and more energy.
    from recommender.catalog.models import get_models
    from recommender.cli import main

    code = main(["recommend", "--scenario", "data-center", "--priority", "accuracy", "-t", "mmlu", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    pick = json.loads(out)["recommendations"][0]
    published = get_models()[pick["model_id"]].weights_format
    assert published is not None, pick["model_id"]  # today the pick is a DeepSeek-V3 model; a refit may change that
    assert pick["quantization"] == published
