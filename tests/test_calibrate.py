"""The campaign scale (stage ``campaign_scale``): whole-pipeline refits with each campaign held out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import test_regressor_fixtures as fx
from recommender.model import calibrate
from recommender.model.calibrate import CampaignResiduals, CampaignScale, campaign_scale, interval_z, widen
from recommender.model.config import PipelineConfig
from recommender.model.prediction import QueryPrediction
from recommender.model.predictor import EaiPredictor, fit_campaign_residuals, fit_predictor


def test_z_is_the_share_of_the_interval_a_measurement_used_on_its_own_side():
    point = np.full(6, 100.0)
    lo, hi = np.full(6, 50.0), np.full(6, 400.0)
    measured = np.array([100.0, 400.0, 200.0, 50.0, 800.0, 25.0])
    z = interval_z(measured, point, lo, hi)
    np.testing.assert_allclose(z, [0.0, 1.0, 0.5, 1.0, 1.5, 2.0])
    # An end at the point itself: any miss beyond it is infinitely far; a missing value is NaN.
    z2 = interval_z(np.array([120.0, 80.0, np.nan]), np.full(3, 100.0), np.array([50.0, 50.0, 50.0]), np.full(3, 100.0))
    assert z2[0] == np.inf and z2[1] == pytest.approx(np.log(1.25) / np.log(2.0)) and np.isnan(z2[2])


def _residuals(z_energy, z_time, campaign):
    return CampaignResiduals(z={"energy": np.asarray(z_energy, dtype=float), "time": np.asarray(z_time, dtype=float)},
                             campaign=np.asarray(campaign, dtype=object))


def test_scale_is_the_conformal_quantile_of_z_never_below_one_and_skips_excluded_rows():
    z = np.linspace(0.1, 2.0, 20)  # 90 % conformal rank of 20: the 19th smallest
    res = _residuals(z, z / 4.0, ["a"] * 10 + ["b"] * 10)
    s = campaign_scale(res)
    assert s.energy == pytest.approx(z[18]) and s.raw_energy == pytest.approx(z[18])
    assert s.raw_time == pytest.approx(z[18] / 4.0) and s.time == 1.0  # never narrows
    assert s.n_rows == (20, 20) and s.n_campaigns == 2
    # The rows a fold holds out never set its own scale.
    held = np.arange(15, 20)
    s_fold = campaign_scale(res, exclude=held)
    assert s_fold.raw_energy == pytest.approx(z[14]) and s_fold.n_rows == (15, 15)
    # NaN (rows that could not be predicted) are not counted.
    res_nan = _residuals(np.append(z, np.nan), np.append(z, np.nan), ["a"] * 21)
    assert campaign_scale(res_nan).n_rows == (20, 20)


def test_widen_multiplies_log_distances_and_keeps_the_point():
    n = 3
    q = QueryPrediction(
        energy_j=np.full(n, 100.0), energy_lo_j=np.full(n, 50.0), energy_hi_j=np.full(n, 200.0),
        time_s=np.full(n, 10.0), time_lo_s=np.full(n, 5.0), time_hi_s=np.full(n, 40.0),
        status_code=np.ones(n, dtype=int), reason_bits=np.zeros(n, dtype=np.int64), prefill_share=np.zeros(n),
        twin_of=np.full(n, "", dtype=object),
    )
    w = widen(q, CampaignScale(energy=2.0, time=1.0, raw_energy=2.0, raw_time=0.5, n_rows=(1, 1), n_campaigns=3))
    np.testing.assert_allclose(w.energy_j, 100.0)
    np.testing.assert_allclose(w.energy_lo_j, 25.0)
    np.testing.assert_allclose(w.energy_hi_j, 400.0)
    assert w.time_lo_s is q.time_lo_s and w.time_hi_s is q.time_hi_s  # scale 1: untouched


def test_fit_holds_out_each_campaign_and_widens_intervals_with_the_stage_on():
    cats = fx.catalogs()
    table, acc = fx.measured_table(), fx.accuracy_table()
    assert table["source"].nunique() >= calibrate.MIN_CAMPAIGNS
    on = fit_predictor(table, acc, cats)
    assert on.campaign is not None and on.campaign.n_campaigns == table["source"].nunique()
    assert on.campaign.energy >= 1.0 and on.campaign.time >= 1.0
    # The scale is what the residuals of the whole pipeline's held-out campaigns say.
    residuals = fit_campaign_residuals(table, acc, cats, PipelineConfig(), on.accuracy)
    assert residuals is not None and np.isfinite(residuals.z["energy"]).sum() > 0
    assert campaign_scale(residuals) == on.campaign
    # Saved and loaded with the state.
    back = EaiPredictor.from_state(on.to_state(), cats)
    assert back.campaign == on.campaign
    off = fit_predictor(table, acc, cats, config=PipelineConfig.without_stages(["campaign_scale"]), accuracy_model=on.accuracy)
    assert off.campaign is None
    cand = pd.DataFrame([{"platform": p, "device_count": 1, "engine": "hf-transformers", "model_id": "toy/m7",
                          "quantization": "fp16", "batch_size": 1, "task": "chat"} for p in ("gpu-a", "gpu-b", "gpu-c")])
    a, b = on.predict(cand, use_measured=False), off.predict(cand, use_measured=False)
    np.testing.assert_allclose(a["energy_j_per_query"], b["energy_j_per_query"])
    ratio_on = np.log(a["energy_j_per_query_hi"] / a["energy_j_per_query"])
    ratio_off = np.log(b["energy_j_per_query_hi"] / b["energy_j_per_query"])
    assert np.all(ratio_on >= ratio_off - 1e-12)
    if on.campaign.energy > 1.0:
        assert np.any(ratio_on > ratio_off * 1.0001)


def test_too_few_campaigns_leave_the_scale_uncalibrated():
    cats = fx.catalogs()
    table = fx.measured_table()
    two = table[table["source"] != "eai-profiler"]
    assert two["source"].nunique() == 2
    p = fit_predictor(two, fx.accuracy_table(), cats)
    assert p.campaign is None


def test_comparison_intervals_take_the_campaign_scale_back_out():
    from dataclasses import replace

    from recommender.model.api import comparison_intervals

    cats = fx.catalogs()
    on = fit_predictor(fx.measured_table(), fx.accuracy_table(), cats)
    scaled = replace(on, campaign=CampaignScale(energy=1.5, time=1.25, raw_energy=1.5, raw_time=1.25, n_rows=(1, 1), n_campaigns=3))
    plain = replace(on, campaign=None)
    cand = pd.DataFrame([{"platform": p, "device_count": 1, "engine": "hf-transformers", "model_id": m,
                          "quantization": "fp16", "batch_size": b, "task": t}
                         for p in ("gpu-a", "gpu-b", "gpu-c") for m in ("toy/m3", "toy/m7") for b in (1, 4) for t in ("gsm8k", "mmlu")])
    a, b = scaled.predict(cand, use_measured=False), plain.predict(cand, use_measured=False)
    # Reported: wider by the scale; for comparing candidates: as without it.
    assert np.all(a["energy_j_per_query_hi"] >= b["energy_j_per_query_hi"]) and np.any(a["energy_j_per_query_hi"] > b["energy_j_per_query_hi"])
    cmp = comparison_intervals(scaled, a)
    # Never wider than without the scale; as wide where no invariant cut the scaled end (an end
    # cut to a physical bound comes back narrower: the time floor here).
    assert np.isfinite(b["eor_lo"]).all()
    for col in ("energy_j_per_query", "time_s_per_query", "eor", "tweor"):
        assert np.all(cmp[col + "_lo"] >= b[col + "_lo"].to_numpy() * (1 - 1e-9)), col
        assert np.all(cmp[col + "_hi"] <= b[col + "_hi"].to_numpy() * (1 + 1e-9)), col
    # Exact where no invariant cut the lower end (the power floor raises low ends of small
    # toy models on these GPUs: a query drawing less than an idle card is ruled out).
    from recommender.model.invariants import POWER_FLOOR_SHARE

    tdp = np.array([cats.platforms[p].tdp_w for p in cand["platform"]])
    floor_j = POWER_FLOOR_SHARE * tdp * a["time_s_per_query_lo"].to_numpy() / a["queries_in_flight"].to_numpy()
    free = a["energy_j_per_query_lo"].to_numpy() > floor_j * (1 + 1e-6)
    assert free.sum() >= 4
    for key in ("energy_j_per_query_lo", "eor_hi"):
        np.testing.assert_allclose(cmp[key][free], b[key].to_numpy()[free], rtol=1e-9, err_msg=key)
    # A predictor without a campaign scale compares by its reported ends.
    same = comparison_intervals(plain, b)
    np.testing.assert_array_equal(same["eor_lo"], b["eor_lo"].to_numpy())


def test_ties_are_decided_on_comparison_ends_where_the_frame_has_them():
    from recommender.rules.rank import objective

    frame = pd.DataFrame({"wh_per_1k": [1.0, 1.3], "wh_per_1k_lo": [0.5, 0.6], "wh_per_1k_hi": [2.0, 2.5],
                          "wh_per_1k_lo_cmp": [0.8, 1.15], "wh_per_1k_hi_cmp": [1.2, 1.5]})
    obj = objective(frame, "energy")
    # Minimized: score is -value, so the comparison ends (not the reported ones) bound it.
    np.testing.assert_allclose(obj.score_lo, [-1.2, -1.5])
    np.testing.assert_allclose(obj.score_hi, [-0.8, -1.15])
    no_cmp = objective(frame.drop(columns=["wh_per_1k_lo_cmp", "wh_per_1k_hi_cmp"]), "energy")
    np.testing.assert_allclose(no_cmp.score_lo, [-2.0, -2.5])


def test_source_folds_nest_the_campaign_scale_exactly_and_other_folds_leave_their_rows_out(monkeypatch):
    from recommender.model import evaluate as ev

    cats = fx.catalogs()
    table = fx.measured_table()
    # A fourth campaign (every campaign needs three others for a nested scale).
    gpu_c = table["platform"] == "gpu-c"
    table.loc[gpu_c & (table["source"] == "mlenergy-v3"), "source"] = "quant-reports"
    assert table["source"].nunique() == 4
    acc = fx.accuracy_table()
    seen: list[tuple[str, np.ndarray, object]] = []
    fold = ev._fold

    def recording(split, train_idx, held_idx, key, accuracy=None, campaign=None):
        seen.append((split, train_idx, campaign))
        return fold(split, train_idx, held_idx, key, accuracy, campaign)

    monkeypatch.setattr(ev, "_fold", recording)
    ev.evaluate(table, acc, cats, ("source", "platform"), workers=1)
    full = fit_predictor(table, acc, cats)
    whole = fit_campaign_residuals(table, acc, cats, PipelineConfig(), full.accuracy)
    for split, train_idx, campaign in seen:
        if split == "source":
            train = table.iloc[train_idx]
            own = fit_campaign_residuals(train, acc, cats, PipelineConfig(), full.accuracy)
            assert campaign == campaign_scale(own)
        else:
            held = np.setdiff1d(np.arange(len(table)), train_idx)
            assert campaign == campaign_scale(whole, exclude=held)
    # With the stage off nothing is calibrated, and every split still runs.
    seen.clear()
    ev.evaluate(table, acc, cats, ("source", "platform"), config=PipelineConfig.without_stages(["campaign_scale"]), workers=1)
    assert seen and all(c is None for _, _, c in seen)


def test_a_scale_no_finite_widening_reaches_is_refused_with_the_fix():
    from recommender.errors import ModelStateError

    z = np.r_[np.linspace(0.1, 1.0, 8), np.inf, np.inf]  # 2 of 10 beyond an end equal to its point
    with pytest.raises(ModelStateError, match="campaign scale of energy is not finite.*--without campaign_scale"):
        campaign_scale(_residuals(z, np.linspace(0.1, 1.0, 10), ["a"] * 10))
