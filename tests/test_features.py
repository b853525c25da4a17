"""Features and roofline priors: hand-computed values, vectorized lookups, unknown names."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import test_regressor_fixtures as fx
from recommender.errors import UnknownNameError
from recommender.model import physics
from recommender.model.conformal import combine_halfwidths, conformal_halfwidth
from recommender.model.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, PRIOR_COLUMNS, FeatureBuilder


def _configs(**over) -> pd.DataFrame:
    base = {"platform": "gpu-b", "device_count": 1, "engine": "vllm", "model_id": "toy/m7", "quantization": "fp16",
            "batch_size": 1, "prompt_tokens": 100.0, "output_tokens": 200.0, "choices": 1.0}
    base.update(over)
    return pd.DataFrame([base])


def test_decode_prior_matches_hand_computation():
    fb = FeatureBuilder(fx.catalogs())
    f = fb.build(_configs()).iloc[0]
    # toy/m7: 7e9 params x 2 B = 14 GB; KV per token 2 x 32 layers x 32 heads x 128 x 2 B = 524,288 B;
    # context 100 + 200/2 = 200 tokens; bandwidth 1500 GB/s; TDP 400 W; batch 1 (memory-bound).
    weight_bytes = 7e9 * 2
    kv = 2 * 32 * 32 * 128 * 2 * 200
    t_mem = (weight_bytes + kv) / 1500e9
    t_comp = (2 * 7e9 + 4 * 32 * 4096 * 200) / 312e12
    assert t_mem > t_comp
    assert f["prior_t_dec"] == pytest.approx(t_mem, rel=1e-12)
    assert f["prior_e_dec"] == pytest.approx(400 * t_mem, rel=1e-12)
    assert f["log_mem_over_compute"] == pytest.approx(math.log(t_mem / t_comp), rel=1e-12)


def test_batch_amortizes_until_compute_bound_and_kv_caps_batch():
    fb = FeatureBuilder(fx.catalogs())
    f = fb.build(pd.concat([_configs(batch_size=b) for b in (1, 8, 64, 4096)], ignore_index=True))
    e = f["prior_e_dec"].to_numpy()
    assert np.all(np.diff(e) < 0)  # bigger batches amortize weight reads
    # 4096 sequences of 200 tokens do not fit next to 14 GB of weights and the 1 GB runtime in
    # 40 GB (binary, as vendors state device memory): capped.
    cap = f["batch_running"].to_numpy() / np.array([1, 8, 64, 4096])
    assert cap[0] == 1.0 and cap[-1] < 1.0
    fits = (40 * 2**30 * physics.KV_MEMORY_SHARE - 14e9 - physics.RUNTIME_GB_PER_DEVICE * 1e9) / (2 * 32 * 32 * 128 * 2 * 200)
    assert cap[-1] * 4096 == pytest.approx(fits, rel=1e-9)


def test_quantization_changes_bytes_and_precision():
    fb = FeatureBuilder(fx.catalogs())
    f = fb.build(pd.concat([_configs(quantization="fp16"), _configs(quantization="int8-bnb")], ignore_index=True))
    assert f["log_bytes_per_weight"].iloc[1] == pytest.approx(0.0)
    assert f["prior_e_dec"].iloc[1] < f["prior_e_dec"].iloc[0]  # half the bytes to move
    assert list(f["compute_precision"].astype(str)) == ["fp16", "int8"]
    assert f["log_peak"].iloc[1] == pytest.approx(math.log(624))


def test_feature_frame_columns_and_vectorized_lookup():
    fb = FeatureBuilder(fx.catalogs())
    rng = np.random.default_rng(0)
    n = 5000
    cfg = pd.DataFrame({
        "platform": rng.choice(["gpu-a", "gpu-b", "gpu-new"], n), "device_count": rng.choice([1, 2], n),
        "engine": rng.choice(["vllm", "hf-transformers"], n), "model_id": rng.choice(["toy/m1", "toy/m30"], n),
        "quantization": rng.choice(["fp16", "int8-bnb"], n), "batch_size": rng.choice([1, 16], n),
        "prompt_tokens": 100.0, "output_tokens": 50.0, "choices": 1.0,
    })
    f = fb.build(cfg)
    for col in (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES, *PRIOR_COLUMNS):
        assert col in f.columns
    assert np.isfinite(f[list(NUMERIC_FEATURES) + list(PRIOR_COLUMNS)].to_numpy()).all()
    # Row-by-row equals whole-frame.
    one = fb.build(cfg.iloc[[17]]).iloc[0]
    assert one["prior_e_dec"] == pytest.approx(f["prior_e_dec"].iloc[17])
    # Two devices share the weights: half the memory time per step, plus their all-reduces.
    two = fb.build(pd.concat([_configs(device_count=1), _configs(device_count=2)], ignore_index=True))
    assert two["t_comm_s"].iloc[0] == 0.0 < two["t_comm_s"].iloc[1]
    assert two["prior_t_dec"].iloc[1] - two["t_comm_s"].iloc[1] == pytest.approx(two["prior_t_dec"].iloc[0] / 2, rel=1e-9)


def test_comm_share_is_the_all_reduce_part_of_a_step_and_grows_with_devices():
    fb = FeatureBuilder(fx.catalogs())
    f = fb.build(pd.concat([_configs(device_count=n, batch_size=8) for n in (1, 2, 4, 8)], ignore_index=True))
    share = f["comm_share"].to_numpy()
    # None on one device; the all-reduce time over the whole step elsewhere, a larger part of a
    # step whose weight reads each device shares out.
    assert share[0] == 0.0
    assert share[1:] == pytest.approx((f["t_comm_s"] / f["prior_t_dec"]).to_numpy()[1:], rel=1e-12)
    assert 0.0 < share[1] < share[2] < share[3] < 1.0
    # A layer split waits on its hops, not on all-reduces: its share is the hops' part.
    hf = fb.build(_configs(device_count=2, engine="hf-transformers"))
    assert hf["comm_share"].iloc[0] == pytest.approx(hf["t_comm_s"].iloc[0] / hf["prior_t_dec"].iloc[0], rel=1e-12)


def test_unknown_names_raise_with_suggestions():
    fb = FeatureBuilder(fx.catalogs())
    with pytest.raises(UnknownNameError, match="gpu-b"):
        fb.build(_configs(platform="gpu-bb"))
    with pytest.raises(UnknownNameError):
        fb.build(_configs(model_id="toy/m8"))
    with pytest.raises(UnknownNameError):
        fb.build(_configs(quantization="int3"))


def test_moe_weights_touched_grow_with_batch():
    touched = physics.weight_params_touched_b(np.array([100.0, 100.0, 100.0]), np.array([10.0, 10.0, 10.0]), np.array([1.0, 8.0, 512.0]))
    assert touched[0] == pytest.approx(10.0)
    assert touched[0] < touched[1] < touched[2] <= 100.0


def test_moe_routing_splits_always_active_weights_from_routed_experts():
    # Llama-4 Maverick: 400 B total, 17 B active, 1 of 128 routed experts per token.
    total, active, share = np.full(4, 400.0), np.full(4, 17.0), np.full(4, 1 / 128)
    batch = np.array([1.0, 8.0, 64.0, 1e6])
    routed = physics.weight_params_touched_b(total, active, batch, share)
    expert = (400.0 - 17.0) / 127  # one routed expert across the MoE layers, billions
    always = 17.0 - expert
    assert routed[0] == pytest.approx(17.0) and routed[3] == pytest.approx(400.0)
    assert routed[1] == pytest.approx(always + 128 * expert * (1 - (127 / 128) ** 8))
    # Treating every weight as routed at active/total (the fallback) reads 3x more at batch 8.
    naive = physics.weight_params_touched_b(total, active, batch)
    assert naive[1] > 3 * routed[1]
    # Unknown routing (NaN) keeps the fallback row by row.
    mixed = physics.weight_params_touched_b(total, active, batch, np.array([np.nan, np.nan, 1 / 128, 1 / 128]))
    assert mixed[1] == pytest.approx(naive[1]) and mixed[2] == pytest.approx(routed[2])
    # A dense model is untouched by any share.
    dense = physics.weight_params_touched_b(np.full(2, 8.0), np.full(2, 8.0), np.array([1.0, 64.0]), np.full(2, 0.25))
    assert dense.tolist() == [8.0, 8.0]


def test_catalog_routing_reaches_the_decode_prior():
    from recommender.model.features import model_frame
    from recommender.catalog import get_models

    frame = model_frame(get_models())
    assert frame.loc["meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "route_share"] == pytest.approx(1 / 128)
    assert frame.loc["Qwen/Qwen3-30B-A3B-Instruct-2507", "route_share"] == pytest.approx(8 / 128)
    assert np.isnan(frame.loc["meta-llama/Llama-3.1-8B-Instruct", "route_share"])
    moe = [m for m in get_models().values() if m.architecture == "moe"]
    assert moe and all(m.experts is not None for m in moe)  # every catalogued MoE states its routing


def test_conformal_rank_and_combination():
    r = np.arange(1, 20, dtype=float)  # n = 19: rank ceil(20 * 0.9) = 18
    assert conformal_halfwidth(r) == 18.0
    assert conformal_halfwidth(np.array([0.5, 0.1])) == 0.5  # too few: the largest
    assert math.isnan(conformal_halfwidth(np.array([np.nan])))
    out = combine_halfwidths(np.array([0.3, 0.3]), [np.array([0.5, 0.0]), np.array([0.4, 0.0])])
    assert out[0] == pytest.approx(math.sqrt(0.09 + (0.25 - 0.09) + (0.16 - 0.09)))
    assert out[1] == pytest.approx(0.3)


def test_prefill_prior_reads_the_rate_bitsandbytes_int8_kernels_reach():
    """The shipped catalog bounds bitsandbytes int8 matmuls by the fp16 tensor rate
    (throughput_precision): prefill, a pure compute bound with no GPU measurement to correct
    it, must not come out 2x cheaper than fp16 from the int8 datasheet rate. Decode keeps the
    compute precision's rate in its (memory-bound, pair-corrected) prior."""
    from recommender.catalog import get_quants
    from recommender.model.features import Catalogs

    cats = Catalogs.load()
    assert get_quants()["int8-bnb"].throughput_precision == "fp16"
    assert get_quants()["fp8"].throughput_precision is None
    fb = FeatureBuilder(cats)
    rows = [dict(platform="a100-pcie-40gb", device_count=1, engine="hf-transformers",
                 model_id="meta-llama/Llama-3.1-8B-Instruct", quantization=q, batch_size=64,
                 prompt_tokens=600.0, output_tokens=0.0, choices=1.0) for q in ("fp16", "int8-bnb")]
    f = fb.build(pd.DataFrame(rows))
    fp16, int8 = f["prior_e_pre"].to_numpy()
    assert int8 == pytest.approx(fp16, rel=1e-9)
    # The A100's datasheet int8 rate (624 TOPS) still sets decode's compute term and log_peak.
    assert f["log_peak"].iloc[1] == pytest.approx(math.log(624))


def test_pipeline_stages_add_power_and_micro_batches_not_speed():
    # 16 devices as 2 pipeline stages of 8: a token passes both stages one after the other, each
    # stage serving one of two micro-batches of 32 at a time. Its step is that of 8 devices at
    # batch 32 (not 16 devices at 64), and its energy per token that step at 16 devices' power
    # spread over all 64 sequences.
    fb = FeatureBuilder(fx.catalogs())
    pp = fb.build(_configs(device_count=16, pipeline_stages=2, batch_size=64)).iloc[0]
    tp16 = fb.build(_configs(device_count=16, pipeline_stages=1, batch_size=64)).iloc[0]
    tp8 = fb.build(_configs(device_count=8, batch_size=32)).iloc[0]
    assert pp["prior_t_dec"] == pytest.approx(tp8["prior_t_dec"], rel=1e-12)
    assert pp["prior_e_dec"] == pytest.approx(tp8["prior_e_dec"] * 16 / 8 * 32 / 64, rel=1e-12)
    # Each stage reads its weights once per micro-batch: more bytes per token than 16-way
    # tensor parallelism (whose all-reduces over 16 devices can still cost more in all).
    assert pp["t_mem_s"] > tp16["t_mem_s"]
    # Without the column every row is one stage (the features of before).
    one = fb.build(_configs(device_count=16, batch_size=64)).iloc[0]
    assert one["prior_e_dec"] == pytest.approx(tp16["prior_e_dec"], rel=1e-12)


def test_pipeline_stages_must_divide_the_devices():
    from recommender.errors import InvalidInputError
    from recommender.model.frame import candidate_frame, pipeline_stages_column

    assert pipeline_stages_column(pd.DataFrame({"pipeline_stages": [2, None]})).tolist() == [2.0, 1.0]
    with pytest.raises(InvalidInputError, match="pipeline_stages"):
        pipeline_stages_column(pd.DataFrame({"pipeline_stages": [0.5]}))
    cats = fx.catalogs()
    cand = pd.DataFrame([{"platform": "gpu-b", "device_count": 6, "pipeline_stages": 4, "engine": "vllm", "model_id": "toy/m7",
                          "quantization": "fp16", "batch_size": 8, "task": "chat"}])
    with pytest.raises(InvalidInputError, match="does not divide device_count 6"):
        candidate_frame(cand, cats, {}, set())


def test_output_length_dispersion_lengthens_the_context_a_step_reads():
    # Steps average over tokens: with output lengths of dispersion E[L^2]/E[L]^2 = 2, the mean
    # context is 100 + 200 x 2 / 2 = 300 tokens, not 200 (a long answer holds more steps).
    fb = FeatureBuilder(fx.catalogs())
    f = fb.build(pd.concat([_configs(output_dispersion=1.0), _configs(output_dispersion=2.0)], ignore_index=True))
    kv_token = 2 * 32 * 32 * 128 * 2
    t_mem = [(7e9 * 2 + kv_token * ctx) / 1500e9 for ctx in (200, 300)]
    assert f["prior_t_dec"].tolist() == pytest.approx(t_mem, rel=1e-12)
    # Without the column, every query is taken to generate the same count.
    plain = fb.build(_configs()).iloc[0]
    assert plain["prior_t_dec"] == pytest.approx(t_mem[0], rel=1e-12)


def test_dispersion_comes_from_the_row_then_the_task_then_one():
    from recommender.catalog.types import TaskSpec
    from recommender.errors import InvalidInputError
    from recommender.model.features import Catalogs
    from recommender.model.frame import candidate_frame

    base = fx.catalogs()
    tasks = dict(base.tasks)
    tasks["chat"] = tasks["chat"].model_copy(update={"output_tokens_dispersion": 1.9})
    tasks["fixed"] = TaskSpec(id="fixed", kind="workload", prompt_tokens_mean=10, output_tokens_mean=256, source="synthetic")
    cats = Catalogs(platforms=base.platforms, models=base.models, tasks=tasks, quants=base.quants)
    row = {"platform": "gpu-b", "device_count": 1, "engine": "vllm", "model_id": "toy/m7", "quantization": "fp16", "batch_size": 8}
    cand = pd.DataFrame([{**row, "task": "chat"}, {**row, "task": "chat", "output_tokens_dispersion": 1.0}, {**row, "task": "fixed"}])
    cand.loc[0, "output_tokens_dispersion"] = np.nan
    assert candidate_frame(cand, cats, {}, set())["output_dispersion"].tolist() == [1.9, 1.0, 1.0]
    bad = pd.DataFrame([{**row, "task": "chat", "output_tokens_dispersion": 0.5}])
    with pytest.raises(InvalidInputError, match="output_tokens_dispersion 0.5 in row 1 is below 1"):
        candidate_frame(bad, cats, {}, set())


def test_moe_ratio_of_fp8_gemms_is_its_own_feature():
    # The MoE-ness of a model run in FP8 is apart from the format's offset: zero for a dense model
    # in FP8 and for a MoE in any other format, the MoE's log active / total share in FP8.
    from recommender.model.features import Catalogs

    cats = Catalogs.load()
    fb = FeatureBuilder(cats)
    dense, moe = "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-30B-A3B-Instruct-2507"
    rows = pd.concat([_configs(platform="h100-sxm5-80gb", model_id=m, quantization=q)
                      for m in (dense, moe) for q in ("bf16", "fp8")], ignore_index=True)
    f = fb.build(rows)
    share = cats.models[moe].params_active_b / cats.models[moe].params_total_b
    assert share < 0.2
    assert f["log_moe_ratio_fp8"].tolist() == pytest.approx([0.0, 0.0, 0.0, math.log(share)])
