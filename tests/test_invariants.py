"""Physical invariants hold on every prediction: property tests over batch, devices, platforms, tasks.

A predictor fitted on the synthetic fixture table (tests/test_regressor_fixtures.py) is asked
about configurations drawn by hypothesis, far outside what it saw included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import test_regressor_fixtures as fx
from recommender.model import invariants
from recommender.model.config import PipelineConfig
from recommender.model.predictor import fit_predictor

GPUS = ("gpu-a", "gpu-b", "gpu-c", "gpu-d", "gpu-new")
MODELS = ("toy/m1", "toy/m7", "toy/m13", "toy/m30")
TASKS = ("mmlu", "gsm8k", "chat")


@pytest.fixture(scope="module")
def cats():
    return fx.catalogs()


@pytest.fixture(scope="module")
def predictors(cats):
    table, acc = fx.measured_table(), fx.accuracy_table()
    return {
        "all": fit_predictor(table, acc, cats),
        # The invariants are not a stage: with the stages that move predictions switched off
        # they still hold.
        "bare": fit_predictor(
            table, acc, cats, config=PipelineConfig.without_stages(["blend", "smoother", "twins", "release_order", "release_widening", "batch_floor"])
        ),
    }


def _frame(**cols) -> pd.DataFrame:
    n = max(len(v) if isinstance(v, list) else 1 for v in cols.values())
    return pd.DataFrame({k: (v if isinstance(v, list) else [v] * n) for k, v in cols.items()})


config_rows = st.lists(
    st.fixed_dictionaries(
        {
            "platform": st.sampled_from(GPUS),
            "device_count": st.sampled_from([1, 2, 4, 8, 64, 1024]),
            "engine": st.sampled_from(["hf-transformers", "vllm"]),
            "model_id": st.sampled_from(MODELS),
            "quantization": st.sampled_from(["fp16", "int8-bnb"]),
            "batch_size": st.integers(1, 4096),
            "task": st.sampled_from(TASKS),
        }
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=config_rows, which=st.sampled_from(["all", "bare"]))
def test_mean_power_never_exceeds_the_devices_limit(predictors, cats, rows, which):
    p = predictors[which]
    cand = pd.DataFrame(rows)
    out = p.predict(cand, use_measured=False)
    tdp = np.array([cats.platforms[x].tdp_w for x in cand["platform"]]) * cand["device_count"].to_numpy()
    e, t = out["energy_j_per_query"].to_numpy(), out["time_s_per_query"].to_numpy()
    assert np.all(np.isfinite(e) & (e > 0) & np.isfinite(t) & (t > 0))
    # One query alone never draws more than every device at its limit.
    assert np.all(e / t <= tdp * (1 + 1e-9))
    # A static log-likelihood batch shares the devices exactly: mean power = E x queries / T, a
    # batch of B requests holding B / 4 four-choice MMLU queries.
    ll = cand["task"].eq("mmlu").to_numpy()
    batch = cand["batch_size"].to_numpy(dtype=float)
    in_flight = out["queries_in_flight"].to_numpy(dtype=float)
    assert np.allclose(in_flight[ll], np.maximum(batch[ll] / 4.0, 1.0))
    # A server's requests share it too, those its KV cache runs and those queued behind them
    # (their wait is in the latency): E x requests / T is the devices' mean power.
    assert np.allclose(in_flight[~ll], np.maximum(batch[~ll], 1.0))
    assert np.all(e * in_flight / t <= tdp * (1 + 1e-9))
    # Nor less than a GPU holding a model draws while it serves (these platforms are all GPUs).
    assert np.all(e * in_flight / t >= invariants.POWER_FLOOR_SHARE * tdp * (1 - 1e-9))
    assert np.all(out["energy_j_per_query_lo"].to_numpy() * in_flight / out["time_s_per_query_lo"].to_numpy()
                  >= invariants.POWER_FLOOR_SHARE * tdp * (1 - 1e-9))
    assert np.all(out["energy_j_per_query_lo"] <= e * (1 + 1e-9)) and np.all(e <= out["energy_j_per_query_hi"] * (1 + 1e-9))
    assert np.all(out["time_s_per_query_lo"] <= t * (1 + 1e-9)) and np.all(t <= out["time_s_per_query_hi"] * (1 + 1e-9))


@pytest.mark.parametrize("which", ["all", "bare"])
def test_requests_queued_past_the_kv_cache_add_latency_not_energy(predictors, which):
    # Past what the KV cache runs at once, more requests only queue: the server's throughput
    # and power stay, so energy per query stays and latency grows with the queue. (Counting
    # only the running requests as sharing the devices made the power floor grow with the
    # queue: 16x the energy per query at 16x the requests.)
    p = predictors[which]
    batches = [256, 1024, 4096]
    cand = _frame(platform="gpu-a", device_count=1, engine="vllm", model_id="toy/m30", quantization="fp16",
                  batch_size=batches, task="chat")
    running = p._features.columns(p._candidate_frame(cand))["batch_running"].to_numpy(dtype=float)
    assert np.all(running < np.array(batches))  # every batch asked is past the KV limit
    assert np.allclose(running, running[0])
    out = p.predict(cand, use_measured=False)
    e, t = out["energy_j_per_query"].to_numpy(), out["time_s_per_query"].to_numpy()
    assert np.allclose(e, e[0], rtol=1e-6)
    assert np.allclose(t / t[0], np.array(batches) / batches[0], rtol=1e-6)
    assert np.allclose(out["queries_in_flight"].to_numpy(dtype=float), batches)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(platform=st.sampled_from(GPUS), model=st.sampled_from(MODELS), devices=st.sampled_from([1, 2, 8]))
def test_log_likelihood_time_per_query_grows_with_batch_once_saturated(predictors, platform, model, devices):
    p = predictors["all"]
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    out = p.predict(_frame(platform=platform, device_count=devices, engine="hf-transformers", model_id=model,
                           quantization="fp16", batch_size=batches, task="mmlu"), use_measured=False)
    t = out["time_s_per_query"].to_numpy()
    full = _full_batches(p, batches, "mmlu")
    # A query waits for its batch's pass: once a pass holds all of a query's requests (fewer
    # sequences run its passes one after another, each paying the layers' fixed cost), never
    # shorter at a larger batch, and from 64 to 512 sequences (far past any device's
    # saturation for these prompts) at least 4x longer.
    assert full.sum() >= 7
    assert np.all(np.diff(t[full]) >= -1e-12 * t[full][:-1])
    assert t[-1] >= 4.0 * t[batches.index(64)]


def _full_batches(p, batches, task) -> np.ndarray:
    """Which ``batches`` hold every pass of a query of ``task`` (all, for a generated task)."""
    cf = p._candidate_frame(_frame(platform="gpu-a", device_count=1, engine="vllm", model_id="toy/m7",
                                   quantization="fp16", batch_size=[1], task=task))
    passes = float(cf["passes"].iloc[0]) if float(cf["output_tokens"].iloc[0]) <= 0 else 1.0
    return np.asarray(batches, dtype=float) >= passes


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(platform=st.sampled_from(GPUS), model=st.sampled_from(MODELS), batch=st.integers(1, 7), devices=st.sampled_from([1, 2]))
def test_below_the_measured_batches_a_step_is_no_slower_and_no_costlier(predictors, platform, model, batch, devices):
    # vLLM was measured at 8 and 64 sequences: fewer sequences per step never make the step
    # longer or costlier than at 8 (stage batch_floor).
    out = predictors["all"].predict(_frame(platform=platform, device_count=devices, engine="vllm", model_id=model,
                                           quantization="fp16", batch_size=[batch, 8], task="chat"), use_measured=False)
    t, e = out["time_s_per_query"].to_numpy(), out["energy_j_per_query"].to_numpy()
    assert t[0] <= t[1] * (1 + 1e-9)
    assert e[0] * batch <= e[1] * 8 * (1 + 1e-9)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(platform=st.sampled_from(GPUS), model=st.sampled_from(MODELS), task=st.sampled_from(TASKS), devices=st.sampled_from([1, 2]))
def test_below_the_measured_batches_time_and_step_energy_grow_with_the_batch(predictors, platform, model, task, devices):
    # From one sequence up to vLLM's smallest measured batch (8), each added sequence makes a
    # query no faster and a step no cheaper (stage batch_floor carries the edge down by physics).
    batches = [1, 2, 3, 4, 5, 6, 7, 8]
    out = predictors["all"].predict(_frame(platform=platform, device_count=devices, engine="vllm", model_id=model,
                                           quantization="fp16", batch_size=batches, task=task), use_measured=False)
    t = out["time_s_per_query"].to_numpy()
    step = out["energy_j_per_query"].to_numpy() * np.array(batches)
    # (A log-likelihood query's passes run one after another until one pass holds them all.)
    full = _full_batches(predictors["all"], batches, task)
    assert np.all(np.diff(t[full]) >= -1e-9 * t[full][:-1])
    assert np.all(np.diff(step) >= -1e-9 * step[:-1])


def test_below_the_measured_batches_a_step_is_the_edges_carried_down_by_the_roofline(predictors):
    from recommender.model.roofline_fit import fitted_prior

    p = predictors["all"]
    batches = np.array([1, 2, 4, 8], dtype=float)
    frame = _frame(platform="gpu-a", device_count=1, engine="vllm", model_id="toy/m13", quantization="fp16",
                   batch_size=batches.astype(int).tolist(), task="chat")
    comps = p.predict_components(frame)
    cf = p._candidate_frame(frame)
    feats = p._features.columns(cf)
    roof_t = fitted_prior(p.components["t_dec"].roofline, p.component_feats("t_dec", feats, cf))
    roof_e = fitted_prior(p.components["e_dec"].roofline, p.component_feats("e_dec", feats, cf)) * batches
    t, e_step = comps["t_dec"].to_numpy(), comps["e_dec"].to_numpy() * batches
    np.testing.assert_allclose(t, t[-1] * np.minimum(roof_t / roof_t[-1], 1.0), rtol=1e-9)
    np.testing.assert_allclose(e_step, e_step[-1] * np.minimum(roof_e / roof_e[-1], 1.0), rtol=1e-9)
    assert t[0] < t[-1]  # a lone sequence's step is shorter than eight's, not held at the edge's


def test_the_batch_floor_is_what_holds_a_step_below_the_measured_batches(cats):
    table, acc = fx.measured_table(), fx.accuracy_table()
    frame = _frame(platform="gpu-a", device_count=1, engine="vllm", model_id="toy/m13", quantization="fp16", batch_size=[1, 8], task="chat")
    step = {}
    for name, config in (("on", PipelineConfig()), ("off", PipelineConfig.without_stages(["batch_floor"]))):
        e = fit_predictor(table, acc, cats, calibrate=False, config=config).predict(frame, use_measured=False)["energy_j_per_query"].to_numpy()
        step[name] = e[0] * 1 / (e[1] * 8)
    # The ridge's batch slope alone prices one sequence's step above eight's on this fixture.
    assert step["off"] > 1.05 and step["on"] <= 1 + 1e-9


def test_slots_past_the_kv_cache_add_waiting_time_not_energy(cats):
    """gpu-b holds about 15 of toy/m7's 4,096-token sequences: configured for 16-128, the server
    runs the same batch and the rest queue. Time per query grows with the queue (Little's law);
    energy per query does not: queued requests draw nothing of their own."""
    from dataclasses import replace

    model = fit_predictor(fx.measured_table(), fx.accuracy_table(), cats, calibrate=False)
    # The stages that read measured ratios at the configured batch are left out: the physics alone.
    model = replace(model, config=PipelineConfig.without_stages(["anchor", "sibling"]))
    frame = pd.DataFrame([dict(platform="gpu-b", device_count=1, engine="vllm", model_id="toy/m7", quantization="fp16",
                               batch_size=b, task="chat", prompt_tokens_mean=2048.0, output_tokens_mean=2048.0)
                          for b in (16, 32, 64, 128)])
    running = np.asarray(model._features.columns(model._candidate_frame(frame))["batch_running"], dtype=float)
    assert np.allclose(running, running[0]) and running[0] < 16
    out = model.predict(frame, use_measured=False)
    np.testing.assert_allclose(out["energy_j_per_query"], out["energy_j_per_query"].iloc[0], rtol=1e-9)
    np.testing.assert_allclose(out["time_s_per_query"] / frame["batch_size"], out["time_s_per_query"].iloc[0] / 16, rtol=1e-9)


def test_a_cpu_row_is_held_to_the_cpu_models_batch_range_not_the_accelerators(cats):
    """With CPU rows in the table (HF transformers on cpu-x, batch 1) the components predict CPU
    rows with their own CPU model. vLLM was measured on the GPUs at 8 and 64 sequences only, never
    on a CPU: a vLLM row on cpu-x at batch 1 is the CPU model's, not the CPU model's batch-8
    prediction carried down by the GPUs' roofline, which made a longer prompt cheaper per token."""
    from dataclasses import replace

    from recommender.table.io import rows_to_frame
    from recommender.table.schema import MeasuredRow

    table = fx.measured_table()
    hf = table[(table["engine"] == "hf-transformers") & (table["platform"] == "gpu-b")]
    slow = {c: hf[c] * 20.0 for c in ("energy_j_per_query", "energy_j_per_output_token", "time_s_per_query")}
    cpu = hf.assign(platform="cpu-x", source_ref=hf["source_ref"] + ":cpu", **slow)
    rows = [MeasuredRow.model_validate({k: v for k, v in r.items() if not (isinstance(v, float) and np.isnan(v))})
            for r in cpu.to_dict("records")]
    model = fit_predictor(pd.concat([table, rows_to_frame(rows)], ignore_index=True), fx.accuracy_table(), cats, calibrate=False)
    assert model.components["t_dec"].cpu_model is not None
    frame = pd.DataFrame([dict(platform="cpu-x", device_count=1, engine="vllm", model_id="toy/m7", quantization="fp16",
                               batch_size=1, task="chat", prompt_tokens_mean=v, output_tokens_mean=256.0) for v in (16.0, 512.0, 4096.0)])
    on = model.predict_components(frame)
    off = replace(model, config=PipelineConfig.without_stages(["batch_floor"])).predict_components(frame)
    for name in ("t_dec", "e_dec"):
        np.testing.assert_allclose(on[name], off[name], rtol=1e-12)
        assert np.all(np.diff(on[name].to_numpy()) > 0)
    # On a GPU the same vLLM row at batch 1 is still held to vLLM's edge at 8.
    gpu = frame.assign(platform="gpu-b")
    assert not np.allclose(model.predict_components(gpu)["t_dec"],
                           replace(model, config=PipelineConfig.without_stages(["batch_floor"])).predict_components(gpu)["t_dec"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(platform=st.sampled_from(GPUS), model=st.sampled_from(MODELS), task=st.sampled_from(TASKS), batch=st.sampled_from([1, 8, 64]))
def test_devices_beyond_what_the_model_splits_into_add_power_not_speed(predictors, cats, platform, model, task, batch):
    p = predictors["all"]
    devices = [1, 2, 4, 8, 16, 64, 1024]
    out = p.predict(_frame(platform=platform, device_count=devices, engine="vllm", model_id=model,
                           quantization="fp16", batch_size=batch, task=task), use_measured=False)
    t = out["time_s_per_query"].to_numpy()
    e = out["energy_j_per_query"].to_numpy()
    # Past the attention heads no device shortens a query, while each still draws power.
    heads = cats.models[model].attention_heads
    beyond = [i for i, d in enumerate(devices) if d >= heads]
    assert all(t[i] >= t[beyond[0]] * (1 - 1e-9) for i in beyond)
    assert e[-1] > e[beyond[0]]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(platform=st.sampled_from(GPUS), model=st.sampled_from(MODELS), task=st.sampled_from(TASKS), batch=st.sampled_from([1, 64, 1024]))
# Past the KV cache's limit: the empty stages' memory holds no cache either (found by hypothesis).
@example(platform="gpu-new", model="toy/m30", task="gsm8k", batch=1024)
def test_pipeline_stages_beyond_the_layers_add_power_not_speed(predictors, cats, platform, model, task, batch):
    layers = cats.models[model].layers
    stages = [layers, 2 * layers, 4 * layers]
    out = predictors["all"].predict(_frame(platform=platform, device_count=stages, pipeline_stages=stages, engine="vllm", model_id=model,
                                           quantization="fp16", batch_size=batch, task=task), use_measured=False)
    t = out["time_s_per_query"].to_numpy()
    e = out["energy_j_per_query"].to_numpy()
    # A stage past the layer count holds no layer: the query is no faster, and its devices
    # still draw their resident floor.
    assert t[1] == pytest.approx(t[0], rel=1e-9) and t[2] == pytest.approx(t[0], rel=1e-9)
    assert e[0] < e[1] < e[2]


def test_gpu_share_of_a_module_tdp_bounds_and_scales_the_energy():
    from recommender.model.features import MODULE_GPU_POWER_W, FeatureBuilder, gpu_power_w

    assert MODULE_GPU_POWER_W["gh200"] < 1000.0
    index = pd.Index(["gh200", "h100"])
    assert gpu_power_w(np.array([1000.0, 700.0]), np.array([0, 1]), index).tolist() == [700.0, 700.0]
    assert FeatureBuilder  # the builder reads it for power_w and log_tdp (see features.py)


def test_tensor_parallel_communication_is_a_floor_that_grows_with_devices():
    from recommender.model import physics

    layers = np.array([32.0, 32.0, 32.0, 32.0])
    split = physics.split_devices(np.array([1, 2, 8, 1024]), np.array([32, 32, 32, 32]))
    assert split.tolist() == [1.0, 2.0, 8.0, 32.0]
    comm = physics.tensor_parallel_comm_s(layers, split)
    assert comm[0] == 0.0 and np.all(np.diff(comm) > 0)
    # One decode step on 8 devices is never shorter than its all-reduces.
    t, _, _ = physics.decode_step(
        params_total_b=np.array([7.0]), params_active_b=np.array([7.0]), bytes_per_weight=np.array([2.0]),
        layers=np.array([32.0]), hidden=np.array([4096.0]), kv_bytes_token=np.array([5e5]), context_tokens=np.array([512.0]),
        batch=np.array([1.0]), devices=np.array([8.0]), bandwidth_gbs=np.array([3350.0]), peak_tflops=np.array([989.0]),
        comm_s=comm[2:3],
    )
    assert t[0] > comm[2]


def test_all_reduce_volume_makes_a_slow_link_cost_more_than_a_split_saves():
    from recommender.model import physics

    # Llama-3.1-8B-like (32 layers, hidden 4096) at 256 running sequences on two devices: over
    # NVLink (450 GB/s each way) the all-reduces are a small part of a step, over a PCIe 4.0
    # link (31.5 GB/s) they are not; more tokens in the pass cost proportionally more bytes.
    layers, hidden = np.array([32.0]), np.array([4096.0])
    nvlink = physics.tensor_parallel_comm_s(layers, np.array([2.0]), 256.0, hidden, 450.0)
    pcie = physics.tensor_parallel_comm_s(layers, np.array([2.0]), 256.0, hidden, 31.5)
    latency_only = physics.tensor_parallel_comm_s(layers, np.array([2.0]))
    # Ring all-reduce: 2 (D - 1) / D x 256 x 4096 x 2 bytes per device per all-reduce, 64 of them.
    volume = 64 * 1.0 * 256 * 4096 * 2.0 / 31.5e9
    assert pcie[0] == pytest.approx(latency_only[0] + volume)
    assert latency_only[0] < nvlink[0] < pcie[0]
    assert physics.tensor_parallel_comm_s(layers, np.array([2.0]), 512.0, hidden, 31.5)[0] - latency_only[0] == pytest.approx(2 * volume)
    assert physics.tensor_parallel_comm_s(layers, np.array([1.0]), 256.0, hidden, 31.5)[0] == 0.0
    step = dict(params_total_b=np.array([8.0]), params_active_b=np.array([8.0]), bytes_per_weight=np.array([2.0]),
                layers=layers, hidden=hidden, kv_bytes_token=np.array([131072.0]), context_tokens=np.array([1024.0]),
                batch=np.array([256.0]), bandwidth_gbs=np.array([1008.0]), peak_tflops=np.array([165.0]))
    one, _, _ = physics.decode_step(devices=np.array([1.0]), **step)
    two_pcie, _, _ = physics.decode_step(devices=np.array([2.0]), comm_s=pcie, **step)
    two_nvlink, _, _ = physics.decode_step(devices=np.array([2.0]), comm_s=nvlink, **step)
    # Split in two, the NVLink pair is close to twice as fast; the PCIe pair's step is 15 % longer.
    assert one[0] / two_nvlink[0] > 1.9 and two_pcie[0] > 1.15 * two_nvlink[0]


def test_predicted_split_over_pcie_gains_less_than_over_nvlink(cats):
    # Same fixture GPU, its link as catalogued (PCIe 4.0 x16 by default) against NVLink.
    from recommender.model.features import FeatureBuilder

    nv = dict(cats.platforms)
    nv["gpu-nv"] = cats.platforms["gpu-a"].model_copy(update={"id": "gpu-nv", "interconnect_gbs": 450.0})
    fb = FeatureBuilder(type(cats)(platforms=nv, models=cats.models, tasks=cats.tasks, quants=cats.quants))
    rows = _frame(platform=["gpu-a", "gpu-nv"], device_count=4, engine="vllm", model_id="toy/m7", quantization="fp16",
                  batch_size=256, prompt_tokens=500.0, output_tokens=300.0, choices=1.0)
    f = fb.build(rows)
    comm = f["t_comm_s"].to_numpy()
    assert comm[0] > 4 * comm[1] > 0
    assert f["prior_t_dec"].iloc[0] > f["prior_t_dec"].iloc[1]


def test_power_cap_lowers_energy_and_keeps_time_where_the_two_disagree():
    from recommender.model import invariants

    # Row 0 implies 200 W on a 100 W limit; row 1 is within it; row 2 has no limit (a CPU).
    e = np.array([200.0, 50.0, 200.0])
    t = np.array([1.0, 1.0, 1.0])
    q = _query(e, t, factor=2.0)
    cf = pd.DataFrame({"output_tokens": [100.0, 100.0, 100.0], "batch_size": [1, 1, 1]})
    feats = pd.DataFrame({"batch_running": [1.0, 1.0, 1.0], "power_w": [100.0, 100.0, 100.0],
                          "platform_class": pd.Categorical(["data-center", "data-center", "cpu"])})
    floor = np.zeros(3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(invariants, "time_floor_s", lambda cf, feats: floor)
        out = invariants.enforce(q, cf, feats)
    assert out.energy_j.tolist() == [100.0, 50.0, 200.0]
    assert out.time_s.tolist() == [1.0, 1.0, 1.0]
    # The upper ends are trimmed to what the limit allows over the longest time.
    assert out.energy_hi_j.tolist() == [200.0, 100.0, 400.0]
    assert np.all(out.energy_lo_j <= out.energy_j)


def test_a_point_moved_onto_a_bound_keeps_its_width_on_the_open_side():
    from recommender.model import invariants

    # Row 0: energy 4x over a 100 W limit (its whole interval above it); row 1: time below its
    # floor (its whole interval under it).
    e = np.array([400.0, 50.0])
    t = np.array([1.0, 1.0])
    q = _query(e, t, factor=1.5)
    cf = pd.DataFrame({"output_tokens": [100.0, 100.0], "batch_size": [1, 1]})
    feats = pd.DataFrame({"batch_running": [1.0, 1.0], "power_w": [100.0, 100.0],
                          "platform_class": pd.Categorical(["data-center", "data-center"])})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(invariants, "time_floor_s", lambda cf, feats: np.array([0.0, 3.0]))
        out = invariants.enforce(q, cf, feats)
    # Energy at the limit, and below it the query may draw less: the lower width stays.
    assert out.energy_j[0] == pytest.approx(100.0) and out.energy_lo_j[0] == pytest.approx(100.0 / 1.5)
    # Time raised to the floor, and above it the query may take longer: the upper width stays.
    assert out.time_s[1] == pytest.approx(3.0) and out.time_lo_s[1] == pytest.approx(3.0)
    assert out.time_hi_s[1] == pytest.approx(4.5)
    assert np.all(out.energy_lo_j < out.energy_j) and np.all(out.time_hi_s > out.time_s)


def test_a_gpu_is_never_charged_less_than_its_power_floor():
    from recommender.model import invariants

    # A 700 W GPU: 1 J over 1 s with 8 queries in flight is 8 W, far under what it draws holding
    # a model; a CPU row (no limit, hence no floor) and a row above the floor are left alone.
    e = np.array([1.0, 1.0, 200.0])
    t = np.array([1.0, 1.0, 1.0])
    q = _query(e, t, factor=2.0)
    cf = pd.DataFrame({"output_tokens": [0.0, 0.0, 100.0], "batch_size": [32, 32, 1], "passes": [4.0, 4.0, 1.0],
                       "fed_tokens": [100.0, 100.0, 100.0]})
    feats = pd.DataFrame({"batch_running": [1.0, 1.0, 1.0], "power_w": [700.0, 300.0, 700.0],
                          "platform_class": pd.Categorical(["data-center", "cpu", "data-center"]),
                          "t_floor_pre_s": [0.0, 0.0, 0.0], "t_floor_dec_s": [0.0, 0.0, 0.0]})
    out = invariants.enforce(q, cf, feats)
    floor_w = invariants.POWER_FLOOR_SHARE * 700.0
    # 32 requests of four-choice queries: 8 queries share the device.
    assert invariants.queries_in_flight(cf, feats).tolist() == [8.0, 8.0, 1.0]
    assert out.energy_j[0] * 8.0 / out.time_s[0] == pytest.approx(floor_w)
    assert out.energy_lo_j[0] * 8.0 / out.time_lo_s[0] == pytest.approx(floor_w)
    assert out.energy_hi_j[0] == pytest.approx(2.0 * out.energy_j[0])  # the upper width stays
    assert out.energy_j[1] == 1.0 and out.energy_j[2] == 200.0 and out.energy_lo_j[2] == 100.0


def _query(e: np.ndarray, t: np.ndarray, factor: float):
    """An extrapolated prediction of energy ``e`` and time ``t`` with ends ``factor`` either way."""
    from recommender.model.prediction import QueryPrediction

    n = len(e)
    return QueryPrediction(
        energy_j=e, energy_lo_j=e / factor, energy_hi_j=e * factor, time_s=t, time_lo_s=t / factor, time_hi_s=t * factor,
        status_code=np.full(n, 2), reason_bits=np.zeros(n, dtype=np.int64), prefill_share=np.zeros(n),
        twin_of=np.full(n, "", dtype=object),
    )


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(platform=st.sampled_from(GPUS), model=st.sampled_from(MODELS), task=st.sampled_from(TASKS),
       engine=st.sampled_from(["hf-transformers", "llama.cpp", "fastchat"]))
def test_a_layer_split_is_no_faster_than_one_device_and_every_device_draws(predictors, platform, model, task, engine):
    # One sequence at a time: more devices' memory cannot run more sequences at once (at larger
    # batches it may, which shortens the queue, not the pass).
    devices = [1, 2, 4, 8]
    out = predictors["all"].predict(_frame(platform=platform, device_count=devices, engine=engine, model_id=model,
                                           quantization="fp16", batch_size=1, task=task), use_measured=False)
    t = out["time_s_per_query"].to_numpy()
    e = out["energy_j_per_query"].to_numpy()
    # A token passes the devices one after another: each added device adds a hop, no speed.
    assert np.all(np.diff(t) >= 0)
    # The waiting devices draw power: energy grows with every device, and the mean power by
    # at most the device count (exactly that where each device sits at its power floor).
    assert np.all(np.diff(e) > 0)
    assert np.all((e[1:] / t[1:]) / (e[0] / t[0]) <= np.array(devices[1:]) * (1 + 1e-9))


def test_layer_split_features_read_one_devices_bandwidth_and_count_the_waiting_devices(cats):
    from recommender.model.features import FeatureBuilder

    rows = _frame(platform=["gpu-a"] * 4 + ["cpu-x"], device_count=[1, 4, 1, 4, 2], engine=["hf-transformers"] * 2 + ["vllm"] * 2 + ["llama.cpp"],
                  model_id="toy/m7", quantization="fp16", batch_size=8, prompt_tokens=500.0, output_tokens=300.0, choices=1.0)
    f = FeatureBuilder(cats).build(rows)
    t_mem, power, draw, comm = (f[c].to_numpy() for c in ("t_mem_s", "power_w", "power_draw_w", "t_comm_s"))
    # HF transformers over four devices: one device's bandwidth, the four devices' limit, the
    # computing device's power in the priors and three waiting; a hop per boundary, no all-reduce.
    assert t_mem[1] == pytest.approx(t_mem[0])
    assert power[1] == pytest.approx(4 * power[0])
    # (A CPU's two sockets run every layer's threads together: no layer split there.)
    assert draw[1] == pytest.approx(power[0]) and f["waiting_devices"].tolist() == [0.0, 3.0, 0.0, 0.0, 0.0]
    assert 0 < comm[1] < comm[3]
    # vLLM splits the same step's weights four ways and draws on all four devices.
    assert t_mem[3] == pytest.approx(t_mem[2] / 4)
    assert draw[3] == pytest.approx(power[3])


def test_waiting_devices_of_a_layer_split_draw_the_resident_floor_over_the_querys_time(predictors, cats):
    from recommender.model import invariants

    out = predictors["bare"].predict(_frame(platform="gpu-a", device_count=[1, 3], engine="hf-transformers", model_id="toy/m7",
                                            quantization="fp16", batch_size=1, task="chat"), use_measured=False)
    e, t = out["energy_j_per_query"].to_numpy(), out["time_s_per_query"].to_numpy()
    # Two waiting devices at the power floor over the query's latency (one query in flight), on
    # top of what the computing device draws (its mean power moved only by the hops' share of a
    # step, priced at the fitted communication rate).
    waiting_w = (e[1] - e[0] * t[1] / t[0]) / t[1]
    assert waiting_w == pytest.approx(2 * invariants.POWER_FLOOR_SHARE * cats.platforms["gpu-a"].tdp_w, rel=0.02)


def test_layer_split_charge_adds_the_floor_per_waiting_device_to_every_end():
    from recommender.model import invariants, layer_split
    from recommender.model.prediction import QueryPrediction

    ones = np.ones(3)
    q = QueryPrediction(energy_j=100 * ones, energy_lo_j=50 * ones, energy_hi_j=200 * ones, time_s=np.array([1.0, 2.0, 2.0]),
                        time_lo_s=0.5 * ones, time_hi_s=4.0 * ones, status_code=ones.astype(int), reason_bits=np.zeros(3, dtype=np.int64),
                        prefill_share=0 * ones, twin_of=np.full(3, "", dtype=object))
    cf = _frame(device_count=[4, 4, 1], batch_size=[1, 2, 1], output_tokens=[100.0, 100.0, 100.0])
    feats = {"waiting_devices": np.array([3.0, 3.0, 0.0]), "power_w": pd.Series([1600.0, 1600.0, 400.0]),
             "batch_running": np.array([1.0, 2.0, 1.0]), "platform_class": pd.Categorical(["gpu"] * 3)}
    out = layer_split.charge(q, cf, feats)
    floor_w = 3 * invariants.POWER_FLOOR_SHARE * 400.0
    # One query in flight: the waiting devices' draw over its latency; two: half of it each.
    assert out.energy_j.tolist() == pytest.approx([100 + floor_w * 1.0, 100 + floor_w * 2.0 / 2, 100])
    assert out.energy_lo_j.tolist() == pytest.approx([50 + floor_w * 0.5, 50 + floor_w * 0.5 / 2, 50])
    assert out.energy_hi_j.tolist() == pytest.approx([200 + floor_w * 4.0, 200 + floor_w * 4.0 / 2, 200])
    assert out.time_s.tolist() == q.time_s.tolist()
