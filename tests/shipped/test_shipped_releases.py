"""Facts about the shipped model (models/) on engine releases, twin platforms, bitsandbytes
kernels and the power limit: they change when the lead refits, unlike the unit tests on synthetic
fixtures in tests/test_regressor.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_loading_the_shipped_model_and_predicting_stays_light():
    # The committed models/ must match data/measured.csv (else load_predictor refits, which
    # imports scikit-learn and SciPy): predicting then needs numpy and pandas only.
    import subprocess
    import sys

    code = (
        "import sys, pandas as pd\n"
        "from recommender.model import load_predictor\n"
        "p = load_predictor(on_stale='refuse')\n"
        "c = pd.DataFrame([{'platform': 'h100-sxm5-80gb', 'device_count': 1, 'engine': 'vllm', 'model_id': 'meta-llama/Llama-3.1-8B-Instruct',"
        " 'quantization': 'bf16', 'batch_size': 64, 'task': 'gsm8k'}])\n"
        "assert p.predict(c)['energy_j_per_query'].iloc[0] > 0\n"
        "print(','.join(x for x in ('sklearn', 'scipy', 'torch', 'transformers', 'pynvml') if x in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""



def test_engine_release_is_a_time_feature_with_newest_release_by_default():
    from recommender.model.predictor import default_releases, engine_release
    from recommender.model.store import load_predictor

    assert list(engine_release(["vllm", "vllm", "hf-transformers"], ["0.11.1", "0.5.4", None])) == [
        "vllm@0.11", "vllm@0.5", "hf-transformers"]
    # No release named: the engine's unversioned rows where it has some, else its newest release
    # (numeric order: 0.11 is newer than 0.5).
    assert default_releases(["vllm", "vllm", "hf", "hf"], ["vllm@0.5", "vllm@0.11", "hf", "hf@5.23"]) == {
        "vllm": "vllm@0.11", "hf": "hf"}
    shipped = load_predictor()
    assert shipped.releases["vllm"] == "vllm@0.11"
    table = pd.read_csv(ROOT / "data" / "measured.csv")
    rows = table[(table["source"] == "mlenergy-v3") & (table["platform"] == "h100-sxm5-80gb")].head(3)
    cand = rows[["platform", "device_count", "engine", "model_id", "quantization", "batch_size"]].assign(
        task=rows["workload"].to_numpy(), output_tokens_mean=rows["output_tokens_mean"].to_numpy())
    newest = shipped.predict(cand, use_measured=False)
    same = shipped.predict(cand.assign(engine_version="0.11.1"), use_measured=False)
    old = shipped.predict(cand.assign(engine_version="0.5.4"), use_measured=False)
    assert np.allclose(newest["time_s_per_query"], same["time_s_per_query"])
    # No release named: the newest is assumed, and the intervals also hold what the other
    # measured release predicts (its per-step overhead costs time and energy); status as stated.
    assert np.allclose(newest["energy_j_per_query"], same["energy_j_per_query"])
    assert (newest["time_s_per_query_hi"] > 1.2 * same["time_s_per_query_hi"]).all()
    # (or both at the physical floor of the query's forward passes, which no release beats)
    assert ((newest["time_s_per_query_lo"] < same["time_s_per_query_lo"] / 1.2) | (newest["time_s_per_query_lo"] <= same["time_s_per_query_lo"])).all()
    assert (newest["time_s_per_query_lo"] < same["time_s_per_query_lo"] / 1.2).any()
    # The widening measures the gap between releases on the fitted roofline and the ridge's release
    # offset, not on the smoother's residuals or the per-pass time floor, which can differ a few %
    # between releases (up to 6 % on the shipped model): the interval holds the other release's
    # point to within 10 %.
    assert (newest["time_s_per_query_hi"] >= 0.9 * old["time_s_per_query"]).all()
    # In energy the other release's point is also moved after the widening by stage
    # release_power (an H100 never ran vLLM 0.5): without that stage these rows' 0.5.4 energy is
    # 0.66-0.68 of the upper end, with it up to 1.002 (2026-12-06); the same 10 % holds.
    assert (newest["energy_j_per_query_hi"] >= 0.9 * old["energy_j_per_query"]).all()
    assert (newest["energy_j_per_query_hi"] > same["energy_j_per_query_hi"]).all()
    assert (newest["status"] == same["status"]).all()
    # vLLM 0.5.4 (ML.ENERGY v2) ran slower than 0.11.1 (v3): a larger per-layer cost per step,
    # which at these small batches costs energy too.
    assert (old["time_s_per_query"] > 1.3 * newest["time_s_per_query"]).all()
    assert (old["energy_j_per_query"] > newest["energy_j_per_query"]).all()



def test_unseen_engine_release_widens_time_only():
    from recommender.model.roofline_fit import RELEASE_PRIOR_FACTOR
    from recommender.model.store import load_predictor

    shipped = load_predictor()
    table = pd.read_csv(ROOT / "data" / "measured.csv")
    rows = table[(table["source"] == "mlenergy-v3") & (table["platform"] == "h100-sxm5-80gb")].head(3)
    cand = rows[["platform", "device_count", "engine", "model_id", "quantization", "batch_size"]].assign(
        task=rows["workload"].to_numpy(), output_tokens_mean=rows["output_tokens_mean"].to_numpy())
    known = shipped.predict(cand.assign(engine_version="0.11.1"), use_measured=False)
    # Newer than every measured release: nothing brackets it.
    new = shipped.predict(cand.assign(engine_version="0.12.0"), use_measured=False)
    assert (known["status"] == "interpolated").all()
    assert (new["status"] == "extrapolated").all()
    assert new["extrapolated_reasons"].astype(str).str.contains("release-unseen").all()
    log_width = lambda r: np.log(r["time_s_per_query_hi"] / r["time_s_per_query"])  # noqa: E731
    assert (log_width(new) > log_width(known) + 0.1).all()
    # Energy pools releases in its ridge and flags no release-unseen: its relative width stays.
    assert np.allclose(new["energy_j_per_query_hi"] / new["energy_j_per_query"], known["energy_j_per_query_hi"] / known["energy_j_per_query"])
    # A newer release is assumed to cut the per-step cost (by at most the published factor),
    # never to raise it: no point above the newest measured release's.
    for col in ("time_s_per_query", "energy_j_per_query"):
        assert (new[col] <= known[col] * (1 + 1e-9)).all()
        assert (new[col] > known[col] / RELEASE_PRIOR_FACTOR).all()
    # Older than every measured release: the mirror image, no faster than the oldest measured.
    older = shipped.predict(cand.assign(engine_version="0.4.0"), use_measured=False)
    v05 = shipped.predict(cand.assign(engine_version="0.5.4"), use_measured=False)
    assert (older["time_s_per_query"] >= v05["time_s_per_query"] * (1 - 1e-9)).all()
    assert (older["time_s_per_query"] < v05["time_s_per_query"] * RELEASE_PRIOR_FACTOR).all()
    assert older["extrapolated_reasons"].astype(str).str.contains("release-unseen").all()
    comp = shipped.components["t_dec"]
    assert comp.widths["release"] >= comp.widths["cell"]



def _vllm_frame_at(versions: dict | None):
    """Llama-3.1-8B at batch 16 on the H100 under vLLM, through the spec, at the stated releases."""
    from recommender.model.store import load_predictor
    from recommender.rules.engine import prepare
    from recommender.rules.spec import parse_spec

    base = {"tasks": ["gsm8k"], "scenario": "data-center", "hardware": {"platforms": ["h100-sxm5-80gb"]},
            "models": {"ids": ["meta-llama/Llama-3.1-8B-Instruct"]}, "serving": {"engines": ["vllm"], "batch_size": 16}}
    spec = parse_spec(base | {"serving": base["serving"] | ({"engine_versions": versions} if versions else {})})
    f = prepare(spec, load_predictor()).cs.frame
    return f[f["engine"].astype(str) == "vllm"].reset_index(drop=True)



def test_stated_engine_release_reaches_the_predictor_from_the_spec():
    assumed, new, old = _vllm_frame_at(None), _vllm_frame_at({"vllm": "0.11.1"}), _vllm_frame_at({"vllm": "0.5.4"})
    assert len(assumed) and len(assumed) == len(new) == len(old)
    # Unstated: the newest release's point, with an interval that also holds the older release.
    assert np.allclose(assumed["time_s_per_query"], new["time_s_per_query"])
    assert (assumed["time_s_per_query_hi"] > new["time_s_per_query_hi"]).all()
    # The older release is slower everywhere; by 1.3x or more where the per-step overhead it
    # cut is a large share of the step (16-bit and narrower formats at batch 16; fp32 moves
    # twice the bytes, so its steps are longer and the same overhead a smaller share).
    assert (old["time_s_per_query"] > new["time_s_per_query"]).all()
    narrow = (new["quantization"].astype(str) != "fp32").to_numpy()
    assert narrow.sum() >= 3 and (old["time_s_per_query"] > 1.3 * new["time_s_per_query"])[narrow].all()



def test_unstated_release_interval_holds_the_older_release_for_every_precision():
    assumed, old = _vllm_frame_at(None), _vllm_frame_at({"vllm": "0.5.4"})
    assert (assumed["time_s_per_query_hi"] >= old["time_s_per_query"]).all()



def test_anchored_component_takes_one_width_however_many_novelties():
    from recommender.model.store import load_predictor

    shipped = load_predictor()
    comp = shipped.components["e_pre"]
    assert comp.linear.state.get("anchored_on")  # prefill: too few accelerator rows to regress
    # The release-widening stage adds the gap between the engine's releases (the prefill prior
    # carries decode's per-release per-layer cost); this is about the component's own width.
    from dataclasses import replace

    from recommender.model.config import PipelineConfig

    shipped = replace(shipped, config=PipelineConfig.without_stages(["release_widening"]))
    cand = pd.DataFrame({
        "platform": ["b200", "a100-sxm4-40gb"], "device_count": [1, 1], "engine": ["vllm", "vllm"],
        "model_id": ["lmsys/vicuna-13b-v1.3", "mistralai/Mistral-7B-Instruct-v0.3"], "quantization": ["fp8", "fp16"],
        "batch_size": [1, 1], "task": ["mmlu", "mmlu"]})
    got = shipped.predict_components(cand)
    reasons = got["e_pre_reasons"].astype(str)
    assert (reasons.str.count(";") >= 1).all()  # novel in two ways or more
    # Every off-platform width measures the same transfer of the anchor's ratio: taken once,
    # not once per novelty.
    widest = max(comp.widths[s] for s in ("platform", "engine", "quantization", "size", "class"))
    np.testing.assert_allclose(got["e_pre_halfwidth"], widest)



def test_release_named_or_not_is_read_in_the_terms_of_the_rows_behind_each_component():
    from recommender.model.store import load_predictor

    shipped = load_predictor()
    versions = [None, "4.57.0", "5.23.0"]
    cand = pd.DataFrame({
        "platform": ["a100-sxm4-40gb"] * 3 + ["cpu-amd-epyc-zen4"] * 3, "device_count": [1] * 6,
        "engine": ["hf-transformers"] * 6,
        "model_id": ["mistralai/Mistral-7B-Instruct-v0.3"] * 3 + ["HuggingFaceTB/SmolLM2-135M-Instruct"] * 3,
        "quantization": ["fp16"] * 3 + ["bf16"] * 3, "batch_size": [1] * 6, "task": ["gsm8k"] * 6,
        "engine_version": versions * 2})
    got = shipped.predict(cand, use_measured=False)
    reasons = got["extrapolated_reasons"].astype(str).tolist()
    # GPU: the A100 40GB never ran HF transformers, its twin the A800 did, in rows that state no
    # release (the quantization reports): no release, or a named one never measured, is matched
    # with them (their point), not placed as a new release. A named one is flagged and takes the
    # release width: those rows may have run any release (eai's H200 rows at 5.17 paid 3x their
    # per-layer cost; only time sees releases).
    assert np.isclose(got["time_s_per_query"].iloc[2], got["time_s_per_query"].iloc[0])
    assert np.isclose(got["energy_j_per_query"].iloc[2], got["energy_j_per_query"].iloc[0])
    assert got["time_s_per_query_hi"].iloc[2] > got["time_s_per_query_hi"].iloc[0]
    assert got["time_s_per_query_lo"].iloc[2] < got["time_s_per_query_lo"].iloc[0]
    assert "release-unseen" in reasons[1] and "release-unseen" in reasons[2]
    assert "release-unseen" not in reasons[0]
    assert all("twin:a800-sxm4-80gb" in r for r in reasons[:3])
    # A release older than the one measured on a GPU (5.17, eai's H200 rows) is held no faster
    # than that one, predicted as the platform is (borrowing from its twin).
    at_517 = shipped.predict(cand.iloc[[1]].assign(engine_version="5.17.0"), use_measured=False)
    assert got["time_s_per_query"].iloc[1] >= at_517["time_s_per_query"].iloc[0] * (1 - 1e-9)
    # CPU: the profiler measured transformers 5.23; no release named means that one, another
    # named release is one the CPU rows never saw.
    assert got["status"].iloc[3] == got["status"].iloc[5] == "interpolated"
    assert "release-unseen" in reasons[4]



def test_named_release_between_measured_ones_is_predicted_at_the_nearer_one():
    from recommender.model.predictor import _bracketing_release
    from recommender.model.store import load_predictor

    measured = {"vllm@0.5", "vllm@0.11", "hf-transformers"}
    assert _bracketing_release("vllm@0.10", measured) == "vllm@0.11"
    # Nearer by the published per-step gap, not by minor versions: 0.6.0 rebuilt the scheduler
    # (2-5x), so 0.6 is nearer 0.11 (one more milestone of up to 1.7x) than 0.5.
    assert _bracketing_release("vllm@0.6", measured) == "vllm@0.11"
    assert _bracketing_release("vllm@0.8", measured) == "vllm@0.11"
    # Without milestones between, by minor versions, a tie going to the newer release.
    assert _bracketing_release("trt@0.7", {"trt@0.5", "trt@0.9"}) == "trt@0.9"
    assert _bracketing_release("trt@0.6", {"trt@0.5", "trt@0.9"}) == "trt@0.5"
    assert _bracketing_release("vllm@0.12", measured) is None and _bracketing_release("vllm@0.4", measured) is None

    shipped = load_predictor()
    table = pd.read_csv(ROOT / "data" / "measured.csv")
    rows = table[(table["source"] == "mlenergy-v3") & (table["platform"] == "h100-sxm5-80gb")].head(3)
    cand = rows[["platform", "device_count", "engine", "model_id", "quantization", "batch_size"]].assign(
        task=rows["workload"].to_numpy(), output_tokens_mean=rows["output_tokens_mean"].to_numpy())
    def run(version):
        return shipped.predict(cand.assign(engine_version=version), use_measured=False)

    unnamed, newest, oldest, between = run(None), run("0.11.1"), run("0.5.4"), run("0.10.1")
    # The point of the nearer measured release, the interval of an unnamed one (it holds every
    # measured release), and the flag that this release itself was never measured.
    assert np.allclose(between["time_s_per_query"], newest["time_s_per_query"])
    assert np.allclose(between["time_s_per_query_hi"], unnamed["time_s_per_query_hi"])
    # The widening measures the gap between releases on the fitted roofline and the ridge's release
    # offset, not on the smoother's residuals or the per-pass time floor, which can differ a few %
    # between releases (up to 6 % on the shipped model): the interval holds the other release's
    # point to within 10 %.
    assert (between["time_s_per_query_hi"] >= 0.9 * oldest["time_s_per_query"]).all()
    assert (between["status"] == "extrapolated").all() and (newest["status"] == "interpolated").all()
    assert between["extrapolated_reasons"].astype(str).str.contains("release-unseen").all()



def test_shipped_predictions_never_draw_more_than_the_board_power_limit():
    """Energy and time come from separate models; on every GPU, devices and batch they must
    still imply a mean power at most TDP x devices (every measured row does: <= 0.99), and a
    generated query at most 1/batch of it, within the slack the measured rows show."""
    from recommender.catalog import get_platforms
    from recommender.model.store import load_predictor

    shipped = load_predictor()
    platforms = {k: p for k, p in get_platforms().items() if p.platform_class != "cpu"}
    rows = [
        dict(platform=p, device_count=d, engine=e, model_id=m, quantization=q, batch_size=b, task=t)
        for p in platforms
        for d in (1, 4)
        for e in ("vllm", "hf-transformers")
        for m in ("Qwen/Qwen2.5-3B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "mistralai/Mixtral-8x7B-Instruct-v0.1")
        for q in ("bf16", "int8-bnb", "nf4-bnb", "fp8")
        for b in (1, 8, 64)
        for t in ("gsm8k", "mmlu", "lm-arena-chat")
    ]
    cand = pd.DataFrame(rows)
    got = shipped.predict(cand, use_measured=False)
    limit = cand["platform"].map({k: p.tdp_w for k, p in platforms.items()}) * cand["device_count"]
    power = got["energy_j_per_query"] / got["time_s_per_query"]
    assert (power <= limit * (1 + 1e-9)).all(), cand[power > limit].head()
    assert (got["energy_j_per_query_hi"] <= limit * got["time_s_per_query_hi"] * (1 + 1e-9)).all()
    gen = (cand["task"] != "mmlu").to_numpy()
    # Requests in flight: the batch limit, or fewer where the KV cache cannot hold that many.
    running = np.maximum(shipped._features.columns(shipped._candidate_frame(cand))["batch_running"].to_numpy(), 1.0)
    assert (running <= cand["batch_size"].to_numpy()).all() and (running[cand["batch_size"].to_numpy() == 64] > 8).any()
    bound = limit / running  # the mean power E x running / T never above the devices' limit
    assert (power[gen] <= bound[gen] * (1 + 1e-9)).all(), cand[gen & (power > bound).to_numpy()].head()



def test_unseen_gpu_keeps_the_measured_cost_of_bitsandbytes_kernels():
    """On an RTX 4090D, LLM.int8() costs 1.4-1.6x fp16's energy per token at batch 1 and NF4
    0.76-1.0x (the quantization reports). An RTX 4090 was never measured; its prediction must
    keep that order, not the roofline's (int8 moves half of fp16's bytes)."""
    from recommender.model.store import load_predictor

    shipped = load_predictor()
    cand = pd.DataFrame([dict(platform="rtx-4090", device_count=1, engine="hf-transformers",
                              model_id="meta-llama/Llama-3.1-8B-Instruct", quantization=q, batch_size=1,
                              task="sharegpt-chat") for q in ("fp16", "int8-bnb", "int8-bnb-t0", "nf4-bnb")])
    got = shipped.predict(cand, use_measured=False)
    assert (got["status"] == "extrapolated").all()
    e = dict(zip(cand["quantization"], got["energy_j_per_query"], strict=True))
    t = dict(zip(cand["quantization"], got["time_s_per_query"], strict=True))
    assert e["int8-bnb"] > 1.2 * e["fp16"]
    assert e["int8-bnb"] > e["int8-bnb-t0"] > e["nf4-bnb"]
    assert t["int8-bnb"] > 2.0 * t["fp16"] and t["nf4-bnb"] > t["fp16"]



def test_unseen_twin_carries_the_measured_twins_ratio_to_physics():
    """The shipped model has RTX 4090 D rows and none of the RTX 4090: a 4090 prediction is the
    4090 D's scaled by the ratio of their roofline priors, and stays flagged as unseen."""
    from recommender.model.store import load_predictor

    shipped = load_predictor()
    base = dict(device_count=1, engine="hf-transformers", model_id="mistralai/Mistral-7B-Instruct-v0.3", batch_size=1, task="gsm8k")
    cand = pd.DataFrame([{**base, "platform": p, "quantization": q} for q in ("fp16", "int8-bnb", "nf4-bnb")
                         for p in ("rtx-4090", "rtx-4090d", "rtx-3090-ti")])
    comps = shipped.predict_components(cand)
    twin, meas, other = (comps.iloc[i::3].reset_index(drop=True) for i in range(3))
    # An HF transformers row naming no release also holds what transformers 5.17 (measured on
    # the H200) predicts, a gap per row (stage release_widening): the widths compared below are
    # the platform's own, without it; with it they are never narrower.
    from dataclasses import replace

    from recommender.model.config import PipelineConfig

    plain = replace(shipped, config=PipelineConfig.without_stages(["release_widening"])).predict_components(cand)
    assert (comps["t_dec_halfwidth"] >= plain["t_dec_halfwidth"] - 1e-12).all()
    assert (comps["t_dec_halfwidth"] > plain["t_dec_halfwidth"] + 0.05).any()
    widths = {i: plain.iloc[i::3].reset_index(drop=True) for i in range(3)}
    for name in ("e_dec", "t_dec"):
        comp = shipped.components[name]
        cf = shipped._candidate_frame(cand)
        pri = comp.prior_values(shipped.component_feats(name, shipped._features.columns(cf), cf))
        np.testing.assert_allclose(twin[name] / meas[name], pri[0::3] / pri[1::3], rtol=1e-9)
        assert (twin[f"{name}_reasons"].astype(str).str.contains("platform-unseen")).all()
        # Borrowing moves the point only: the interval is an unseen platform's, never narrower.
        assert (widths[0][f"{name}_halfwidth"] >= widths[1][f"{name}_halfwidth"]).all()
        assert (widths[0][f"{name}_halfwidth"] == widths[2][f"{name}_halfwidth"]).all()
    # The explanation names the twin where decode carries the query (not for log-likelihood tasks).
    said = shipped.predict(cand.iloc[0::3], use_measured=False)["extrapolated_reasons"].astype(str)
    assert said.str.contains("platform-unseen").all() and said.str.contains("twin:rtx-4090d").all()
    mc = shipped.predict(cand.iloc[0::3].assign(task="mmlu"), use_measured=False)["extrapolated_reasons"].astype(str)
    assert not mc.str.contains("twin:").any()
    # The nearest twin measured under the candidate's engine: the 4090 D ran HF transformers only,
    # so vLLM on a 4090 borrows nothing; on an A100 80GB HF borrows from the A800 (HF only) and
    # vLLM from the A100 40GB.
    vllm = cand.iloc[0::3].assign(engine="vllm")
    said = shipped.predict(vllm, use_measured=False)["extrapolated_reasons"].astype(str)
    assert not said.str.contains("twin:").any()
    said = shipped.predict(vllm.assign(platform="a100-sxm4-80gb"), use_measured=False)["extrapolated_reasons"]
    assert said.astype(str).str.contains("twin:a100-sxm4-40gb").all()
    hf_a100 = shipped.predict(cand.iloc[0::3].assign(platform="a100-sxm4-80gb"), use_measured=False)["extrapolated_reasons"]
    assert hf_a100.astype(str).str.contains("twin:a800-sxm4-80gb").all()
    # The 4090 lands within 15 % of what its twin measured (HF batch 1, Mistral 7B, three precisions).
    got = shipped.predict(cand.iloc[0::3].assign(task="fixed-prompt-gen256"), use_measured=False)["energy_j_per_query"].to_numpy()
    measured = shipped.predict(cand.iloc[1::3].assign(task="fixed-prompt-gen256"))["energy_j_per_query"].to_numpy()
    assert np.all(np.abs(np.log(got / measured)) < np.log(1.15)), (got, measured)



def test_faster_memory_on_the_same_silicon_is_never_predicted_slower_or_costlier():
    """H200 = H100's compute and power with 1.43x the bandwidth; GH200's GPU with 1.19x; A100
    80GB = A100 40GB's with 1.31x. Predicted from their measured twins they must not come out
    slower or costlier, at any concurrency. (Until 2026-12-06 stage sibling averaged the H100's
    measured ratio with the B200's for the H200: Llama-3.1-8B at 128 LMArena sequences, where
    the B200 measured 10.5 s against 3.5 s at 64, came out 1.24x slower on the H200.)"""
    from recommender.model.store import load_predictor

    shipped = load_predictor()
    for fast, slow, engine, versions in (("h200-sxm-141gb", "h100-sxm5-80gb", "vllm", "0.11.1"),
                                         ("gh200", "h100-sxm5-80gb", "vllm", "0.11.1"),
                                         ("a100-sxm4-80gb", "a100-sxm4-40gb", "vllm", "0.5.4")):
        cand = pd.DataFrame([dict(device_count=d, engine=engine, engine_version=versions, model_id=m, quantization="bf16",
                                  batch_size=b, task=t)
                             for d in (1, 2) for m in ("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-14B")
                             for b in (1, 8, 32, 64, 128, 256, 512) for t in ("lm-arena-chat", "gpqa")])
        f = shipped.predict(cand.assign(platform=fast), use_measured=False)
        s = shipped.predict(cand.assign(platform=slow), use_measured=False)
        assert f["extrapolated_reasons"].astype(str).str.contains(f"twin:{slow}").all()
        for col in ("energy_j_per_query", "time_s_per_query"):
            assert (f[col] <= s[col] * (1 + 1e-9)).all(), (fast, col, (f[col] / s[col]).round(3).tolist())



def test_a_concurrency_sweep_keeps_its_twin_where_a_kv_cache_fills():
    """A B300 (never measured) borrows the B200's departure under vLLM: Mixtral-8x22B-Instruct in
    fp8 on LMArena chat and Llama-3.3-70B-Instruct in bf16 on GSM8K, 1-512 sequences. Until
    2026-12-06 the twin lent only where both cards held as many sequences, so the B300 dropped it
    where the B200's cache filled (256 and 128 sequences) and the Mixtral came out faster per
    query at more load (192 -> 256: 34.6 -> 31.1 s). The twin stays, time per query never falls,
    energy per query never rises."""
    from recommender.model.store import load_predictor

    shipped = load_predictor()
    batches = [1, 8, 32, 64, 128, 192, 256, 384, 512]
    for model_id, quant, task in (("mistralai/Mixtral-8x22B-Instruct-v0.1", "fp8", "lm-arena-chat"),
                                  ("meta-llama/Llama-3.3-70B-Instruct", "bf16", "gsm8k")):
        cand = pd.DataFrame([dict(platform="b300", device_count=1, engine="vllm", model_id=model_id, quantization=quant,
                                  batch_size=b, task=task) for b in batches])
        got = shipped.predict(cand, use_measured=False)
        assert got["extrapolated_reasons"].astype(str).str.contains("twin:b200").all(), model_id
        t, e = got["time_s_per_query"].to_numpy(), got["energy_j_per_query"].to_numpy()
        assert np.all(np.diff(np.log(t)) >= -1e-9), (model_id, t.round(2).tolist())
        assert np.all(np.diff(np.log(e)) <= 1e-9), (model_id, e.round(1).tolist())
    # A log-likelihood sweep: the H100 never ran HF transformers, its twin the H200 did. Past the
    # sequences the H100's memory holds (53 of Qwen3-32B's HellaSwag passes) the prefill parts
    # had stopped borrowing, and energy per query rose 22 % from 48 to 64 sequences.
    cand = pd.DataFrame([dict(platform="h100-sxm5-80gb", device_count=1, engine="hf-transformers", model_id="Qwen/Qwen3-32B",
                              quantization="bf16", batch_size=b, task="hellaswag") for b in (8, 16, 32, 48, 64, 128, 256)])
    e = shipped.predict(cand, use_measured=False)["energy_j_per_query"].to_numpy()
    assert np.all(np.diff(np.log(e)) <= 1e-9), e.round(1).tolist()


def test_twin_lends_only_where_the_configuration_runs_on_it():
    """Gemma-2 27B in bf16 (54 GB) fits an A100 80GB but not its 40 GB twin: no borrowing."""
    from recommender.model.store import load_predictor

    shipped = load_predictor()
    base = dict(platform="a100-sxm4-80gb", device_count=1, engine="vllm", engine_version="0.5.4", quantization="bf16",
                batch_size=8, task="sharegpt-chat")
    got = shipped.predict(pd.DataFrame([{**base, "model_id": m} for m in ("google/gemma-2-27b-it", "meta-llama/Llama-3.1-8B-Instruct")]),
                          use_measured=False)
    said = got["extrapolated_reasons"].astype(str).tolist()
    assert "twin:" not in said[0] and "twin:a100-sxm4-40gb" in said[1]
    assert got["energy_j_per_query"].iloc[0] > got["energy_j_per_query"].iloc[1]


def test_an_unnamed_vllm_release_neither_ties_every_candidate_nor_goes_unsaid():
    """Data-center GSM8K >= 0.8 at 32 sequences: every vLLM candidate runs the release the spec
    did not name, so between them its gap to vLLM 0.5 is left out of the tie test (as ranked
    without stage release_widening: 73 tied, not 349 as with the gap), and the explanation says
    what wins at vLLM 0.5."""
    import re
    from dataclasses import replace

    from recommender.model.config import PipelineConfig
    from recommender.model.store import load_predictor
    from recommender.rules.engine import recommend
    from recommender.rules.spec import parse_spec

    shipped = load_predictor()
    spec = parse_spec({"scenario": "data-center", "tasks": ["gsm8k"], "accuracy": {"min": 0.8}, "serving": {"batch_size": 32}})
    rec = recommend(spec, shipped).to_dict()
    plain = recommend(spec, replace(shipped, config=PipelineConfig.without_stages(["release_widening"]))).to_dict()

    def tied(doc) -> int:
        m = re.search(r"(\d+) other feasible candidates are tied", doc["explanation"]["ties"]["statement"])
        return int(m.group(1)) if m else 0

    top = rec["recommendations"][0]
    assert top["engine"] == "vllm" and top["engine_release"] == {"level": "vllm@0.11", "basis": "assumed"}
    assert tied(rec) == tied(plain) < 150
    # Its gain over its 16-bit baseline (same engine, the same unnamed release) is compared the same way.
    for end in ("efficiency_gain_vs_fp16_lo", "efficiency_gain_vs_fp16_hi"):
        assert top[end] == pytest.approx(plain["recommendations"][0][end], rel=1e-9)
    assert any(line.startswith("at vllm 0.5 (the answer assumes 0.11") for line in rec["explanation"]["what_would_change"])


def test_a_vllm_release_newer_than_every_measured_one_is_never_slower_or_costlier():
    """vLLM 0.12-0.14 (never measured) against 0.11.1 (ML.ENERGY v3's), on GPUs measured at 0.11.1,
    at 0.5.4 only, or never: a newer release is never predicted slower or costlier. Until
    2026-12-06 stage sibling read no sibling for a release past the measured ones, so an A100 40GB
    at 0.12 lost the H100's and B200's measured ratios and came out slower than at 0.11.1 (Llama-
    3.1-8B, 8 LMArena sequences: 5.46 against 5.12 s per query; up to 1.37x over 11,088 cases)."""
    from recommender.model.store import load_predictor

    shipped = load_predictor()
    versions = ["0.11.1", "0.12.0", "0.14.0"]
    grid = pd.DataFrame([dict(platform=p, device_count=1, engine="vllm", engine_version=v, model_id=m, quantization=q,
                              batch_size=b, task=t)
                         for p in ("h100-sxm5-80gb", "a100-sxm4-40gb", "l40s", "b300")
                         for m in ("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-32B") for q in ("bf16", "fp8")
                         for t in ("lm-arena-chat", "gpqa") for b in (8, 256) for v in versions])
    out = shipped.predict(grid, use_measured=False)
    for col in ("energy_j_per_query", "time_s_per_query"):
        steps = np.diff(np.log(out[col].to_numpy()).reshape(-1, len(versions)), axis=1)
        worst = int(np.argmax(steps.max(axis=1)))
        assert steps.max() <= 1e-3, (col, grid.iloc[worst * len(versions)].to_dict(), float(steps.max()))
