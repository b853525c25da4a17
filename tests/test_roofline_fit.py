"""Fitted roofline: recovers known constants, exports a numpy-only state, handles unseen engines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.errors import ModelStateError
from recommender.model.estimator import RooflineFit
from recommender.model.roofline_fit import (
    LAYER_SCALE_S,
    SEQ_SCALE_S,
    batch_varied_levels,
    RELEASE_PRIOR_FACTOR,
    RELEASE_QUIET_FACTOR,
    RELEASE_STEP_LOG,
    describe,
    fitted_prior,
    release_gap_log,
    unseen_engine_log_c,
    unseen_release_log_c,
)


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "t_mem_s": np.exp(rng.uniform(np.log(1e-4), np.log(5e-2), n)),
            "t_compute_s": np.exp(rng.uniform(np.log(1e-5), np.log(2e-2), n)),
            "log_layers": np.log(rng.choice([24.0, 32.0, 40.0, 80.0], n)),
            "power_draw_w": rng.choice([300.0, 700.0, 2000.0], n),
            "batch_running": rng.choice([1.0, 8.0, 64.0, 256.0], n),
            "engine": pd.Categorical(rng.choice(["vllm", "hf-transformers"], n)),
        }
    )


def _truth(frame: pd.DataFrame, a: float, b: float, c: dict[str, float], kind: str) -> np.ndarray:
    per_layer = frame["engine"].astype(str).map(c).to_numpy() * LAYER_SCALE_S
    t = a * frame["t_mem_s"] + b * frame["t_compute_s"] + per_layer * np.exp(frame["log_layers"])
    return (frame["power_draw_w"] * t / frame["batch_running"]).to_numpy() if kind == "energy" else t.to_numpy()


@pytest.mark.parametrize("kind", ["energy", "time"])
def test_recovers_known_constants(kind):
    f = _frame()
    c = {"vllm": 3.0, "hf-transformers": 20.0}
    rng = np.random.default_rng(1)
    y = _truth(f, 1.6, 4.0, c, kind) * np.exp(rng.normal(0, 0.02, len(f)))
    est = RooflineFit(kind=kind).fit(f, y)
    assert np.exp(est.log_a_) == pytest.approx(1.6, rel=0.05)
    assert np.exp(est.log_b_) == pytest.approx(4.0, rel=0.05)
    got = dict(zip(est.engines_, np.exp(est.log_c_), strict=True))
    assert got["vllm"] == pytest.approx(3.0, rel=0.1)
    assert got["hf-transformers"] == pytest.approx(20.0, rel=0.1)
    # The exported state evaluates to the same numbers without the estimator.
    np.testing.assert_allclose(fitted_prior(est.export_state(), f), est.predict(f), rtol=1e-12)


@pytest.mark.parametrize("kind", ["energy", "time"])
def test_kv_reads_get_their_own_bandwidth_factor(kind):
    # Steps where KV-cache reads make up a varying share of the bytes: the fit separates the
    # weights' factor (1.5) from the attention kernels' (3.0); with kv_share off it cannot.
    f = _frame(seed=4)
    rng = np.random.default_rng(5)
    f["t_kv_s"] = f["t_mem_s"] * rng.uniform(0.0, 0.9, len(f))
    weights = f["t_mem_s"] - f["t_kv_s"]
    per_layer = f["engine"].astype(str).map({"vllm": 3.0, "hf-transformers": 20.0}).to_numpy() * LAYER_SCALE_S
    t = 1.5 * weights + 3.0 * f["t_kv_s"] + 2.0 * f["t_compute_s"] + per_layer * np.exp(f["log_layers"])
    y = (f["power_draw_w"] * t / f["batch_running"]).to_numpy() if kind == "energy" else t.to_numpy()
    est = RooflineFit(kind=kind).fit(f, y)
    assert np.exp(est.log_a_) == pytest.approx(1.5, rel=0.05)
    assert np.exp(est.log_kv_) == pytest.approx(3.0, rel=0.05)
    np.testing.assert_allclose(fitted_prior(est.export_state(), f), est.predict(f), rtol=1e-12)
    assert "KV-cache reads x3.00" in describe(est.export_state())
    shared = RooflineFit(kind=kind, kv_share=False).fit(f, y)
    assert shared.log_kv_ is None
    assert np.median(np.abs(np.log(shared.predict(f) / y))) > np.median(np.abs(np.log(est.predict(f) / y)))


def test_robust_to_a_few_wild_rows():
    f = _frame(seed=2)
    y = _truth(f, 2.0, 3.0, {"vllm": 5.0, "hf-transformers": 5.0}, "energy").copy()
    y[:10] *= 50.0  # a broken measurement must not drag the shared constants
    est = RooflineFit().fit(f, y)
    assert np.exp(est.log_a_) == pytest.approx(2.0, rel=0.05)


def test_unseen_engine_takes_its_familys_levels():
    f = _frame(seed=3)
    est = RooflineFit().fit(f, _truth(f, 1.0, 1.0, {"vllm": 2.0, "hf-transformers": 8.0}, "energy"))
    fitted = dict(zip(est.engines_, est.log_c_, strict=True))
    a, b = np.exp(est.log_a_), np.exp(est.log_b_)
    row = f.iloc[[0]].copy()
    # A continuous-batching server never measured runs like the measured one (vLLM), not like
    # the average of vLLM and HF transformers' generate loop.
    trt = row.assign(engine=pd.Categorical(["tensorrt-llm"]))
    expect = _truth(trt.assign(engine=pd.Categorical(["x"])), a, b, {"x": float(np.exp(fitted["vllm"]))}, "energy")
    assert est.predict(trt)[0] == pytest.approx(expect[0], rel=1e-9)
    # Any other engine never measured: the geometric mean of every level.
    other = row.assign(engine=pd.Categorical(["exllamav2"]))
    expect = _truth(other.assign(engine=pd.Categorical(["x"])), a, b, {"x": float(np.exp(np.mean(est.log_c_)))}, "energy")
    assert est.predict(other)[0] == pytest.approx(expect[0], rel=1e-9)


def test_unseen_engine_placement_by_family():
    fitted = {"vllm@0.5": np.log(12.0), "vllm@0.11": np.log(3.0), "hf-transformers": np.log(40.0)}
    # The family's current state: vLLM's newest release, not the mean with its old one.
    assert unseen_engine_log_c("sglang", fitted) == pytest.approx(np.log(3.0))
    assert unseen_engine_log_c("tensorrt-llm@0.9", fitted) == pytest.approx(np.log(3.0))
    # Several peers measured: each one's newest, geometric mean over engines.
    peers = {**fitted, "sglang@0.4": np.log(2.0), "sglang@0.3": np.log(6.0), "tgi": np.log(4.5)}
    assert unseen_engine_log_c("lmdeploy", peers) == pytest.approx(np.mean(np.log([3.0, 2.0, 4.5])))
    assert unseen_engine_log_c("exllamav2", fitted) == pytest.approx(np.mean(np.log([12.0, 3.0, 40.0])))
    # llama.cpp launches its step from compiled code: the same family's cost, not the Python loops'.
    assert unseen_engine_log_c("llama.cpp", fitted) == pytest.approx(np.log(3.0))
    # No continuous-batching level fitted: nothing closer than every level.
    assert unseen_engine_log_c("sglang", {"hf-transformers": np.log(40.0), "fastchat": np.log(10.0)}) == pytest.approx(
        np.mean(np.log([40.0, 10.0]))
    )


def test_estimator_conventions():
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    est = RooflineFit(kind="time", f_scale=0.5)
    assert clone(est).get_params() == {
        "kind": "time", "f_scale": 0.5, "kv_share": True, "sequence_cost": False, "prompt_energy": False, "time_roofline": None,
        "layer_kernels": False,
    }
    assert not [k for k in vars(est) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        est.predict(_frame(5))
    with pytest.raises(ValueError, match="positive"):
        RooflineFit().fit(_frame(5), np.array([1.0, 2.0, -1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="kind"):
        RooflineFit(kind="power").fit(_frame(5), np.ones(5))  # type: ignore[arg-type]


def test_malformed_state_is_a_model_state_error():
    with pytest.raises(ModelStateError, match="refit"):
        fitted_prior({"kind": "energy", "log_a": 0.0}, _frame(3))
    state = {"kind": "energy", "log_a": 0.0, "log_b": 0.0, "log_c": {"vllm": 0.0}}
    assert "us" in describe(state)


def test_per_layer_cost_is_per_engine_release_where_the_frame_has_one():
    f = _frame(seed=4)
    rng = np.random.default_rng(5)
    release = np.where(f["engine"].astype(str) == "vllm", rng.choice(["vllm@0.5", "vllm@0.11"], len(f)), "hf-transformers@4.57")
    f = f.assign(engine_release=pd.Categorical(release))
    c = {"vllm@0.5": 12.0, "vllm@0.11": 3.0, "hf-transformers@4.57": 20.0}
    per_layer = f["engine_release"].astype(str).map(c).to_numpy() * LAYER_SCALE_S
    y = (f["power_draw_w"] * (1.3 * f["t_mem_s"] + 2.0 * f["t_compute_s"] + per_layer * np.exp(f["log_layers"])) / f["batch_running"]).to_numpy()
    est = RooflineFit().fit(f, y)
    got = dict(zip(est.engines_, np.exp(est.log_c_), strict=True))
    assert got["vllm@0.5"] == pytest.approx(12.0, rel=0.05)
    assert got["vllm@0.11"] == pytest.approx(3.0, rel=0.05)
    # A release never fitted between two fitted ones takes their geometric mean, not every
    # engine's.
    row = f.iloc[[0]].assign(engine=pd.Categorical(["vllm"]), engine_release=pd.Categorical(["vllm@0.6"]))
    mean_vllm = float(np.exp(np.mean(np.log([got["vllm@0.5"], got["vllm@0.11"]]))))

    def expect(per_layer: float) -> float:
        frame = row.assign(engine=pd.Categorical(["x"]))
        return float(_truth(frame, np.exp(est.log_a_), np.exp(est.log_b_), {"x": per_layer}, "energy")[0])

    assert est.predict(row)[0] == pytest.approx(expect(mean_vllm), rel=1e-9)
    # A frame without releases keys by engine name and still finds the engine's releases.
    assert est.predict(row.drop(columns="engine_release"))[0] == pytest.approx(expect(mean_vllm), rel=1e-9)
    # Energy places a release newer or older than every fitted one by the announced milestones
    # alone: none lies past 0.11 or before 0.5, so each is its nearest fitted release.
    newer = row.assign(engine_release=pd.Categorical(["vllm@0.12"]))
    older = row.assign(engine_release=pd.Categorical(["vllm@0.4"]))
    assert est.predict(newer)[0] == pytest.approx(expect(got["vllm@0.11"]), rel=1e-9)
    assert est.predict(older)[0] == pytest.approx(expect(got["vllm@0.5"]), rel=1e-9)


def test_unseen_release_is_placed_by_its_version():
    fitted = {"vllm@0.5": np.log(12.0), "vllm@0.11": np.log(3.0)}
    quiet = np.log(RELEASE_QUIET_FACTOR)
    # Newer than every fitted release with no announced milestone between: in time, a typical
    # release's gain per minor release line; in energy, as the nearest fitted release.
    assert unseen_release_log_c("vllm@0.12", fitted) == pytest.approx(np.log(3.0) - quiet)
    assert unseen_release_log_c("vllm@0.13", fitted) == pytest.approx(np.log(3.0) - 2 * quiet)
    assert unseen_release_log_c("vllm@1.0", fitted) == pytest.approx(np.log(3.0) - quiet)
    assert unseen_release_log_c("vllm@0.4", fitted) == pytest.approx(np.log(12.0) + quiet)
    assert unseen_release_log_c("vllm@0.12", fitted, "energy") == pytest.approx(np.log(3.0))
    assert unseen_release_log_c("vllm@0.4", fitted, "energy") == pytest.approx(np.log(12.0))
    assert unseen_release_log_c("vllm@0.8", fitted) == pytest.approx(np.mean(np.log([12.0, 3.0])))
    # Three fitted releases: only the two neighbours count.
    three = fitted | {"vllm@0.7": np.log(6.0)}
    assert unseen_release_log_c("vllm@0.9", three) == pytest.approx(np.mean(np.log([6.0, 3.0])))
    # No numeric release named: nothing says which, so the mean of all.
    assert unseen_release_log_c("vllm", fitted) == pytest.approx(np.mean(np.log([12.0, 3.0])))
    # Across announced milestones (vLLM 0.6.0: 2-5x, 0.8.0: up to 1.7x) the gap adds up; time
    # adds 0.7, 0.9, 0.10 and 0.11 as quiet releases, energy does not.
    gap = 0.5 * np.log(2.0 * 5.0) + 0.5 * np.log(1.7)
    assert unseen_release_log_c("vllm@0.5", {"vllm@0.11": np.log(3.0)}) == pytest.approx(np.log(3.0) + gap + 4 * quiet)
    assert unseen_release_log_c("vllm@0.11", {"vllm@0.5": np.log(12.0)}) == pytest.approx(np.log(12.0) - gap - 4 * quiet)
    assert unseen_release_log_c("vllm@0.11", {"vllm@0.5": np.log(12.0)}, "energy") == pytest.approx(np.log(12.0) - gap)
    assert unseen_release_log_c("vllm@0.9", {"vllm@0.7": np.log(6.0)}) == pytest.approx(np.log(6.0) - 0.5 * np.log(1.7) - quiet)
    # An engine whose release history was not read: one release of unknown gain, in both.
    step = RELEASE_STEP_LOG
    assert step == pytest.approx(0.5 * np.log(RELEASE_PRIOR_FACTOR))
    assert release_gap_log("tensorrt-llm", (0, 9), (0, 12)) == pytest.approx(step)
    assert release_gap_log("hf-transformers", (4, 57), (5, 17), "energy") == pytest.approx(step)
    # Held out in calibration: each release is placed by the others, the same way.
    state = {"kind": "time", "log_a": 0.0, "log_b": 0.0, "log_c": {k: float(v) for k, v in fitted.items()}}
    f = _frame(seed=6).head(2).assign(engine_release=pd.Categorical(["vllm@0.5", "vllm@0.11"]))
    t_mem, t_comp, layers = f["t_mem_s"].to_numpy(), f["t_compute_s"].to_numpy(), np.exp(f["log_layers"].to_numpy())
    held_out = np.array([3.0 * np.exp(gap + 4 * quiet), 12.0 * np.exp(-gap - 4 * quiet)]) * LAYER_SCALE_S
    own = np.array([12.0, 3.0]) * LAYER_SCALE_S
    assert fitted_prior(state, f, own_release_unseen=True) == pytest.approx(t_mem + t_comp + held_out * layers, rel=1e-9)
    assert fitted_prior(state, f) == pytest.approx(t_mem + t_comp + own * layers, rel=1e-9)


def test_sequence_cost_is_recovered_where_batch_varies_and_left_out_where_it_does_not():
    f = _frame(n=400, seed=8)
    # Both engines span batch 1-256; only vLLM, a continuous-batching server, schedules each
    # sequence on the host every step.
    c = {"vllm": 2.0, "hf-transformers": 8.0}
    per_seq_s = 30e-6
    t = _truth(f, 1.2, 1.5, c, "time") + np.where(f["engine"] == "vllm", per_seq_s * f["batch_running"], 0.0)
    est = RooflineFit(kind="time", sequence_cost=True).fit(f, t)
    assert est.s_levels_ == ["vllm"]
    assert np.exp(est.log_s_[0]) * SEQ_SCALE_S == pytest.approx(per_seq_s, rel=1e-3)
    assert est.predict(f) == pytest.approx(t, rel=1e-4)
    state = est.export_state()
    assert set(state["log_s"]) == {"vllm"}
    assert fitted_prior(state, f) == pytest.approx(est.predict(f), rel=1e-12)
    assert "per running sequence per step: vllm 30.0 us" in describe(state)
    # A continuous-batching engine never measured takes the family's per-sequence cost too.
    row = f[f["engine"] == "vllm"].head(1)
    trt = row.assign(engine=pd.Categorical(["tensorrt-llm"]))
    assert est.predict(trt)[0] == pytest.approx(est.predict(row)[0], rel=1e-9)
    # Without the term the same data leaves the constants biased (the per-sequence time has
    # nowhere else to go), and no log_s is stored.
    plain = RooflineFit(kind="time").fit(f, t)
    assert plain.export_state()["log_s"] is None
    assert np.median(np.abs(np.log(plain.predict(f) / t))) > 0.01


def test_only_servers_that_ran_several_batch_sizes_get_a_per_sequence_cost():
    f = pd.DataFrame(
        {
            "batch_running": [8.0, 256.0, 64.0, 64.0, 1.0, 32.0],
            "engine_release": pd.Categorical(["vllm@0.11", "vllm@0.11", "vllm@0.5", "vllm@0.5", "hf-transformers", "hf-transformers"]),
        }
    )
    assert batch_varied_levels(f, ["hf-transformers", "vllm@0.11", "vllm@0.5"]) == ["vllm@0.11"]

def _with_prompt_passes(d: float) -> tuple[pd.DataFrame, np.ndarray, dict[str, float]]:
    """A frame with batch-mates' prompt passes, and step times (2 % noise) whose passes take
    ``d`` times their peak-rate time."""
    f = _frame(seed=5)
    rng = np.random.default_rng(6)
    f["t_prefill_share_s"] = np.exp(rng.uniform(np.log(1e-4), np.log(3e-2), len(f)))
    c = {"vllm": 3.0, "hf-transformers": 20.0}
    y = _truth(f, 1.6, 4.0, c, "time") + d * f["t_prefill_share_s"].to_numpy()
    return f, y * np.exp(rng.normal(0, 0.02, len(f))), c


def test_time_recovers_the_prompt_pass_share_and_energy_leaves_it_to_the_ridge():
    f, y, c = _with_prompt_passes(2.5)
    est = RooflineFit(kind="time").fit(f, y)
    assert np.exp(est.log_d_) == pytest.approx(2.5, rel=0.1)
    assert np.exp(est.log_a_) == pytest.approx(1.6, rel=0.05)
    np.testing.assert_allclose(fitted_prior(est.export_state(), f), est.predict(f), rtol=1e-12)
    # Without the column (frames from before the term) the term is simply absent.
    np.testing.assert_allclose(fitted_prior(est.export_state(), f.drop(columns="t_prefill_share_s")),
                               _truth(f, np.exp(est.log_a_), np.exp(est.log_b_), dict(zip(est.engines_, np.exp(est.log_c_))), "time"), rtol=1e-9)
    energy = RooflineFit(kind="energy").fit(f, _truth(f, 1.6, 4.0, c, "energy"))
    assert energy.export_state()["log_d"] is None
    # With prompt_energy the energy roofline charges the prompt pass at its raw size (factor 1,
    # at TDP), not fitted: the other constants are recovered around it.
    scale = (f["power_draw_w"] / f["batch_running"]).to_numpy()
    y_e = _truth(f, 1.6, 4.0, c, "energy") + scale * f["t_prefill_share_s"].to_numpy()
    charged = RooflineFit(kind="energy", prompt_energy=True).fit(f, y_e)
    assert charged.export_state()["log_d"] == 0.0
    assert np.exp(charged.log_a_) == pytest.approx(1.6, rel=1e-3)
    assert charged.predict(f) == pytest.approx(y_e, rel=1e-4)
    np.testing.assert_allclose(fitted_prior(charged.export_state(), f), charged.predict(f), rtol=1e-12)


def test_no_prompt_pass_is_fitted_faster_than_peak():
    # Rows whose prompt passes ran at half their peak-rate time (a meter, or peaks understated):
    # the factor stops at 1, as the bandwidth and throughput factors do, and the rest stays.
    f, y, _ = _with_prompt_passes(0.5)
    est = RooflineFit(kind="time").fit(f, y)
    assert np.exp(est.log_d_) == pytest.approx(1.0, abs=1e-6)
    assert np.exp(est.log_a_) >= 1.0 and np.exp(est.log_b_) >= 1.0


def test_sample_weight_lets_a_small_campaign_count_as_much_as_a_large_one():
    # 270 rows of one campaign at a = 1.2 and 30 of another at a = 3.0: unweighted, the fit
    # follows the large one; with 1/n per campaign it moves toward the small one (the soft-L1
    # loss still treats a lone disagreeing campaign as partly outlying).
    f = _frame(seed=6)
    big = np.arange(len(f)) < 270
    c = {"vllm": 3.0, "hf-transformers": 3.0}
    y = np.where(big, _truth(f, 1.2, 1.0, c, "time"), _truth(f, 3.0, 1.0, c, "time"))
    plain = np.exp(RooflineFit(kind="time").fit(f, y).log_a_)
    weighted = np.exp(RooflineFit(kind="time").fit(f, y, sample_weight=np.where(big, 1 / 270, 1 / 30)).log_a_)
    assert plain < 1.25
    assert plain * 1.05 < weighted < 3.0


def test_fit_terms_give_the_roofline_and_its_exact_log_jacobian():
    """The least-squares fit evaluates the roofline through FitTerms: the same values as
    evaluate(), and a Jacobian equal to finite differences of log(evaluate)."""
    import numpy as np
    import pandas as pd

    from recommender.model import roofline_fit as roofline

    rng = np.random.default_rng(3)
    n = 40
    feats = pd.DataFrame({
        "t_mem_s": rng.uniform(1e-3, 2e-2, n), "t_compute_s": rng.uniform(1e-4, 1e-2, n),
        "log_layers": np.log(rng.choice([24.0, 32.0, 80.0], n)), "power_draw_w": rng.choice([400.0, 700.0], n),
        "batch_running": rng.choice([1.0, 8.0, 64.0], n), "engine": rng.choice(["vllm", "hf-transformers"], n),
        "t_comm_s": rng.uniform(0.0, 1e-4, n), "t_prefill_share_s": rng.uniform(0.0, 1e-3, n),
    })
    feats["t_kv_s"] = feats["t_mem_s"] * rng.uniform(0.0, 0.6, n)
    feats["engine"] = feats["engine"].astype("category")
    engines = ["hf-transformers", "vllm"]
    theta = np.array([0.2, 1.1, 0.4, 0.7, 1.5, 2.5])
    for kind in ("energy", "time"):
        terms = roofline.FitTerms(kind, feats, engines, with_d=True, with_kv=True)
        want = roofline.evaluate(kind, theta[0], theta[1], engines, theta[4:], feats, log_d=theta[2], log_kv=theta[3])
        _assert_values_and_exact_jacobian(terms, theta, want, range(len(theta)))


def _assert_values_and_exact_jacobian(terms, theta: np.ndarray, want: np.ndarray, columns) -> None:
    """FitTerms gives ``want`` at ``theta`` and a Jacobian equal to central differences of its log."""
    value, jac = terms.log_value_and_jacobian(theta)
    np.testing.assert_allclose(np.exp(value), want, rtol=1e-12)
    for k in columns:
        step = np.zeros(len(theta))
        step[k] = 1e-6
        up, _ = terms.log_value_and_jacobian(theta + step)
        down, _ = terms.log_value_and_jacobian(theta - step)
        np.testing.assert_allclose(jac[:, k], (up - down) / 2e-6, rtol=1e-5, atol=1e-9)


def test_a_log_likelihood_pass_pays_decodes_per_layer_cost():
    from recommender.model.roofline_fit import LAYER_SCALE_S, fitted_prior, prefill_state

    # Decode fitted 100 us per layer per step for hf-transformers (log_c in units of 10 us).
    decode = {"kind": "time", "log_a": 0.0, "log_b": 0.0, "log_c": {"hf-transformers": float(np.log(10.0))}}
    state = prefill_state(decode)
    assert state["kind"] == "prefill-time" and fitted_prior(prefill_state({**decode, "kind": "energy"}), _prefill_feats()).shape == (3,)
    feats = _prefill_feats()
    t = fitted_prior(state, feats)
    c_layers = 10.0 * LAYER_SCALE_S * 30  # 3 ms a pass
    # Batch 1, four passes: four rounds of the fixed cost over the query's 400 fed tokens; the
    # roofline part is the throughput rate (one query in a pass).
    assert t[0] * 400 == pytest.approx(4 * c_layers + 400 * 1e-6)
    # Batch 32: one pass holds 8 queries; the query waits for it once.
    assert t[1] * 400 == pytest.approx(c_layers + 400 * 8e-6)
    # An engine never fitted is placed among the fitted ones (here: the only one).
    assert t[2] == pytest.approx(t[0])
    e = fitted_prior(prefill_state({**decode, "kind": "energy"}), feats)
    # Energy: the devices' time per query, the pass's fixed cost shared by its 8 queries.
    assert e[1] * 400 == pytest.approx(0.5 * 400 + 700.0 * c_layers / 8)


def _prefill_feats() -> pd.DataFrame:
    return pd.DataFrame({
        "engine": pd.Categorical(["hf-transformers", "hf-transformers", "llama.cpp"]),
        "log_layers": np.log([30.0, 30.0, 30.0]),
        "power_draw_w": [700.0, 700.0, 700.0],
        "prefill_queries": [1.0, 8.0, 1.0],
        "prefill_rounds": [4.0, 1.0, 4.0],
        "fed_tokens": [400.0, 400.0, 400.0],
        "prior_t_pre": [1e-6, 8e-6, 1e-6],  # latency sense: Q x the roofline rate
        "prior_e_pre": [0.5, 0.5, 0.5],
    })


def test_energy_phases_capped_at_the_time_roofline_draw_at_most_the_board_limit():
    # Energy measured at 2x TDP over compute-bound time (a meter or a time that does not match):
    # unbounded, the energy fit takes b = 2 x the time's; capped by the time roofline, no phase's
    # energy factor exceeds its time factor (mean power <= TDP in every phase), the rest fitted.
    f = _frame(seed=9)
    c_t, c_e = {"vllm": 10.0, "hf-transformers": 40.0}, {"vllm": 3.0, "hf-transformers": 8.0}
    y_t = _truth(f, 1.5, 2.0, c_t, "time")
    y_e = _truth(f, 1.2, 4.0, c_e, "energy")
    time = RooflineFit(kind="time").fit(f, y_t)
    free = RooflineFit(kind="energy").fit(f, y_e)
    assert np.exp(free.log_b_) == pytest.approx(4.0, rel=0.05)
    capped = RooflineFit(kind="energy", time_roofline=time.export_state()).fit(f, y_e)
    t_state, e_state = time.export_state(), capped.export_state()
    assert e_state["log_b"] <= t_state["log_b"] + 1e-9 and np.exp(e_state["log_b"]) == pytest.approx(2.0, rel=1e-3)
    assert e_state["log_a"] <= t_state["log_a"] + 1e-9
    for level, v in e_state["log_c"].items():
        assert v <= t_state["log_c"][level] + 1e-9
    # A phase that draws less than the limit is left to the fit (weights at 1.2 / 1.5 = 80 % of TDP).
    assert np.exp(e_state["log_a"] - t_state["log_a"]) < 1.0


def test_energy_phases_draw_at_least_the_idle_share_of_their_time():
    # Host phases measured at 5 % of TDP (below any GPU's idle draw) are fitted at the idle
    # share of their time instead, and phases above it are left to the fit.
    from recommender.model.invariants import POWER_FLOOR_SHARE

    f = _frame(seed=11)
    c_t = {"vllm": 10.0, "hf-transformers": 40.0}
    c_e = {k: 0.05 * v for k, v in c_t.items()}
    time = RooflineFit(kind="time").fit(f, _truth(f, 1.5, 2.0, c_t, "time"))
    y_e = _truth(f, 1.2, 1.6, c_e, "energy")
    e_state = RooflineFit(kind="energy", time_roofline=time.export_state()).fit(f, y_e).export_state()
    t_state = time.export_state()
    for level, v in e_state["log_c"].items():
        assert np.exp(v - t_state["log_c"][level]) == pytest.approx(POWER_FLOOR_SHARE, rel=1e-3)
    # The weight reads (at 0.8 of TDP) stay free: between the floor and the cap, the fit's own.
    assert POWER_FLOOR_SHARE * 1.5 < np.exp(e_state["log_a"] - t_state["log_a"]) < 0.95


def _with_kernels(seed: int = 13) -> tuple[pd.DataFrame, dict[str, float], dict[str, float]]:
    """Rows of a Python-launched engine and a compiled one, some run with a quantization kernel
    path that adds a per-layer cost (bitsandbytes' wrappers): truth per engine and per path."""
    f = _frame(seed=seed)
    rng = np.random.default_rng(seed + 1)
    f["layer_kernel"] = pd.Categorical(rng.choice(["", "bnb-int8", "bnb-4bit"], len(f)))
    c = {"vllm": 3.0, "hf-transformers": 40.0}
    k = {"bnb-int8": 110.0, "bnb-4bit": 55.0}
    return f, c, k


def _kernel_truth(f: pd.DataFrame, c: dict[str, float], k: dict[str, float], kind: str) -> np.ndarray:
    python_loop = f["engine"].astype(str).to_numpy() == "hf-transformers"
    per_layer = f["layer_kernel"].astype(str).map(lambda p: k.get(p, 0.0)).to_numpy(dtype=float) * python_loop * LAYER_SCALE_S
    t = _truth(f, 1.5, 2.0, c, "time") + per_layer * np.exp(f["log_layers"].to_numpy())
    return (f["power_draw_w"] * t / f["batch_running"]).to_numpy() if kind == "energy" else t


@pytest.mark.parametrize("kind", ["energy", "time"])
def test_a_quantization_kernel_paths_per_layer_cost_is_fitted_apart_from_the_engines(kind):
    f, c, k = _with_kernels()
    y = _kernel_truth(f, c, k, kind)
    est = RooflineFit(kind=kind, layer_kernels=True).fit(f, y)
    assert est.kernels_ == ["bnb-4bit", "bnb-int8"]
    got_k = dict(zip(est.kernels_, np.exp(est.log_k_), strict=True))
    assert got_k["bnb-int8"] == pytest.approx(110.0, rel=0.05) and got_k["bnb-4bit"] == pytest.approx(55.0, rel=0.05)
    got_c = dict(zip(est.engines_, np.exp(est.log_c_), strict=True))
    assert got_c["hf-transformers"] == pytest.approx(40.0, rel=0.05)
    np.testing.assert_allclose(fitted_prior(est.export_state(), f), est.predict(f), rtol=1e-12)
    # Without the stage the paths' cost is folded into the engine's per-layer cost: every
    # unquantized step of the Python-launched engine comes out slower than it is.
    folded = RooflineFit(kind=kind).fit(f, y)
    assert folded.log_k_ is None
    assert np.exp(dict(zip(folded.engines_, folded.log_c_, strict=True))["hf-transformers"]) > 1.3 * 40.0


def test_a_kernel_paths_cost_applies_to_python_launched_engines_and_unmeasured_paths_take_the_cheapest():
    from recommender.model.roofline_fit import kernel_layer_cost_s, measured_kernels

    f = pd.DataFrame({
        "engine": pd.Categorical(["hf-transformers", "vllm", "hf-transformers", "hf-transformers", "llama.cpp"]),
        "layer_kernel": pd.Categorical(["bnb-int8", "bnb-int8", "", "bnb-llm-int8", "bnb-4bit"]),
    })
    cost = kernel_layer_cost_s(f, {"bnb-int8": np.log(110.0), "bnb-4bit": np.log(55.0)})
    # The HF row pays its path; vLLM (captured graphs) and llama.cpp (ggml graphs) do not; a row
    # without a path pays nothing; a path never fitted (LLM.int8 with outliers) takes the
    # cheapest fitted one.
    np.testing.assert_allclose(cost, np.array([110.0, 0.0, 0.0, 55.0, 0.0]) * LAYER_SCALE_S)
    assert kernel_layer_cost_s(f, None) is None
    # Only paths run under a Python-launched engine can be fitted.
    assert measured_kernels(f) == ["bnb-int8", "bnb-llm-int8"]


def test_kernel_paths_enter_the_fit_terms_with_their_exact_jacobian():
    from recommender.model import roofline_fit as roofline

    f, c, k = _with_kernels(seed=21)
    engines, kernels = ["hf-transformers", "vllm"], ["bnb-4bit", "bnb-int8"]
    theta = np.array([0.3, 0.6, 0.0, 0.3, 3.7, 1.1, 4.0, 4.7])
    for kind in ("energy", "time"):
        terms = roofline.FitTerms(kind, f, engines, with_d=False, with_kv=False, kernels=kernels)
        want = roofline.evaluate(kind, theta[0], theta[1], engines, theta[4:6], f, log_k=dict(zip(kernels, theta[6:], strict=True)))
        _assert_values_and_exact_jacobian(terms, theta, want, (4, 6, 7))


def test_an_energy_kernel_phase_draws_no_more_than_the_board_limit():
    # Energy whose kernel phase would draw 3x TDP against the time fit: capped at the time's factor.
    f, c, k = _with_kernels(seed=31)
    time = RooflineFit(kind="time", layer_kernels=True).fit(f, _kernel_truth(f, c, k, "time"))
    y_e = _kernel_truth(f, c, {p: 3.0 * v for p, v in k.items()}, "energy")
    e_state = RooflineFit(kind="energy", layer_kernels=True, time_roofline=time.export_state()).fit(f, y_e).export_state()
    t_state = time.export_state()
    for path, v in e_state["log_k"].items():
        assert v <= t_state["log_k"][path] + 1e-9
