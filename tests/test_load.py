"""A stated load (economics.queries_per_day): copies, busy share, waiting energy, and the ranking it changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.model.invariants import POWER_FLOOR_SHARE
from recommender.rules.engine import recommend
from recommender.rules.load import copies_and_busy, daily_load, operating_points
from recommender.rules.spec import parse_spec
from recommender.rules.synthetic import TablePredictor, small_catalogs

CAT = small_catalogs()


def _alone(thr, qpd, devices, limit):
    """Operating points of configurations each predicted at its own batch only."""
    n = len(thr)
    return operating_points(np.arange(n), np.ones(n), thr, np.ones(n), np.ones(n), qpd, devices, limit)


def test_copies_cover_the_load_and_the_rest_of_the_day_is_waiting() -> None:
    # 86,400 queries a day = 1 per second: a copy serving 4 per second is busy a quarter of the day;
    # one serving 0.4 per second needs three copies, busy 1 / 1.2 of the day.
    copies, busy = copies_and_busy([4.0, 0.4], 86400.0)
    np.testing.assert_allclose(copies, [1.0, 3.0])
    np.testing.assert_allclose(busy, [0.25, 1 / 1.2])
    op = _alone([4.0, 0.4], 86400.0, [2, 1], [700.0, 700.0])
    np.testing.assert_allclose(op.deployments, [1.0, 3.0])
    np.testing.assert_allclose(op.busy_share, [0.25, 1 / 1.2])
    # Two devices at 0.16 x 700 W for three quarters of each second, per query (one a second).
    np.testing.assert_allclose(op.waiting_j_per_query, [2 * POWER_FLOOR_SHARE * 700 * 0.75, 3 * POWER_FLOOR_SHARE * 700 * (1 - 1 / 1.2)])
    np.testing.assert_allclose(op.energy_scale, [1.0, 1.0])
    # A CPU waits at no cost; an unknown throughput gives no figure and leaves the energy alone.
    assert _alone([4.0], 86400.0, [1], [np.nan]).waiting_j_per_query[0] == 0.0
    unknown = _alone([np.nan], 86400.0, [1], [700.0])
    assert np.isnan(unknown.waiting_j_per_query[0]) and unknown.energy_scale[0] == 1.0


# One deployment predicted at three batches: throughput 10, 40, 60 queries/s; energy 10, 4, 3 J.
GRID = dict(group=[7, 7, 7], batch=[1, 8, 16], throughput_qps=[10.0, 40.0, 60.0], energy_j_per_query=[10.0, 4.0, 3.0],
            time_s_per_query=[0.1, 0.2, 16 / 60])


def _grid(qps: float, order=(0, 1, 2)):
    cols = {k: np.asarray(v)[list(order)] for k, v in GRID.items()}
    return operating_points(**cols, queries_per_day=qps * 86400, devices=np.ones(3), limit_w=np.full(3, 400.0))


def test_a_server_its_load_does_not_fill_runs_the_requests_littles_law_gives() -> None:
    # 20 queries/s reach batch 16's throughput with one copy; they keep it running between the
    # batch-1 and batch-8 points (10 and 40 queries/s): halfway in log throughput, energy sqrt(10 x 4).
    op = _grid(20.0)
    assert op.deployments.tolist() == [2.0, 1.0, 1.0]
    e_mid, t_mid = np.sqrt(10.0 * 4.0), np.sqrt(0.1 * 0.2)
    np.testing.assert_allclose(op.energy_scale, [1.0, e_mid / 4.0, e_mid / 3.0])
    np.testing.assert_allclose(op.running[1:], [20.0 * t_mid] * 2)
    # Never idle: no waiting, however large the configured batch.
    np.testing.assert_allclose(op.busy_share, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(op.waiting_j_per_query, [0.0, 0.0, 0.0])
    # Rows given in any order get the same points.
    shuffled = _grid(20.0, order=(2, 0, 1))
    np.testing.assert_allclose(shuffled.energy_scale, op.energy_scale[[2, 0, 1]])


def test_below_the_smallest_batch_the_server_waits_and_above_it_copies_are_added() -> None:
    # 1 query/s: every configuration runs batch 1 a tenth of the day and waits the rest.
    low = _grid(1.0)
    np.testing.assert_allclose(low.busy_share, [0.1, 0.1, 0.1])
    np.testing.assert_allclose(low.energy_scale * np.array([10.0, 4.0, 3.0]), [10.0, 10.0, 10.0])
    np.testing.assert_allclose(low.waiting_j_per_query, [POWER_FLOOR_SHARE * 400 * 0.9] * 3)
    # 200 queries/s: batch 16 needs 4 copies at 50 each (between batch 8 and 16), batch 8 five at
    # its own throughput (saturated: its own energy), batch 1 twenty.
    high = _grid(200.0)
    assert high.deployments.tolist() == [20.0, 5.0, 4.0]
    w = np.log(50 / 40) / np.log(60 / 40)
    np.testing.assert_allclose(high.energy_scale, [1.0, 1.0, np.exp((1 - w) * np.log(4.0) + w * np.log(3.0)) / 3.0])
    # The energy per query never falls below the configured batch's.
    assert (high.energy_scale >= 1.0).all() and (low.energy_scale >= 1.0).all()
    # Another deployment's rows are not read.
    two = operating_points([1, 2], [1, 16], [10.0, 60.0], [10.0, 3.0], [0.1, 16 / 60], 20.0 * 86400, [1, 1], [400.0, 400.0])
    np.testing.assert_allclose(two.energy_scale, [1.0, 1.0])


def test_a_day_splits_back_into_serving_and_waiting() -> None:
    waiting = float(_alone([4.0], 1000.0, [1], [450.0]).waiting_j_per_query[0])
    serving_wh_per_1k = 2.0
    day = daily_load(waiting, serving_wh_per_1k + waiting * 1000 / 3600, 1.0, 250 / 86400, 250 / 86400, 1000.0)
    assert day.serving_kwh == pytest.approx(serving_wh_per_1k * 1000 / 1e6)
    # 1,000 queries at 4 per second keep the card busy 250 s of the day: it waits the rest.
    assert day.waiting_kwh == pytest.approx(POWER_FLOOR_SHARE * 450 * (86400 - 250) / 3.6e6)
    assert day.deployments == 1.0 and day.energy_kwh == pytest.approx(day.serving_kwh + day.waiting_kwh)


# The H100 serves a query for less energy than the A100 PCIe (60 J in 1 s against 90 J in 1.5 s).
TWO_CARDS = {
    ("h100-sxm5-80gb", "org/mid-7b", "fp16", "gsm8k"): {"energy_j": 60.0, "time_s": 1.0, "accuracy": 0.6, "rel_halfwidth": 0.02},
    ("a100-pcie-40gb", "org/mid-7b", "fp16", "gsm8k"): {"energy_j": 90.0, "time_s": 1.5, "accuracy": 0.6, "rel_halfwidth": 0.02},
}
TWO_CARDS_SPEC = {"tasks": ["gsm8k"], "serving": {"engines": ["hf-transformers"]}, "models": {"ids": ["org/mid-7b"]},
                  "hardware": {"platforms": ["h100-sxm5-80gb", "a100-pcie-40gb"]}, "objective": "energy"}


def test_at_a_light_load_the_card_that_waits_cheaply_wins() -> None:
    # The H100 serves a query for less energy than the A100 PCIe, but at 1,000 queries a day both
    # mostly wait with the model loaded, and the A100's limit is 250 W against 700 W.
    pred, base = TablePredictor(TWO_CARDS), dict(TWO_CARDS_SPEC)
    assert recommend(parse_spec(base), pred, catalogs=CAT).winner["platform"] == "h100-sxm5-80gb"
    light = recommend(parse_spec({**base, "economics": {"queries_per_day": 1000}}), pred, catalogs=CAT)
    w = light.winner
    assert w["platform"] == "a100-pcie-40gb"
    day = w["per_day"]
    assert day["deployments_needed"] == 1 and day["busy_share"] == pytest.approx(1000 / 86400 / w["throughput_qps"])
    assert day["waiting_kwh"] == pytest.approx(POWER_FLOOR_SHARE * 250 * 24 * (1 - day["busy_share"]) / 1000)
    assert day["serving_kwh"] == pytest.approx(90.0 * 1000 / 3.6e6)
    # Little's law: 1,000 queries a day of 1.5 s each keep 0.017 requests running on average.
    assert day["running_requests"] == pytest.approx(1000 / 86400 * 1.5)
    assert day["mean_gap_between_queries_s"] == pytest.approx(86.4)
    # 86 s between queries: holding the model loaded beats reloading it (break-even 1-5 minutes).
    from recommender.rules.render import recommendation_text

    assert "break-even" not in recommendation_text(light, width=100)
    sparse = recommend(parse_spec({**base, "economics": {"queries_per_day": 100}}), pred, catalogs=CAT)
    assert sparse.winner["per_day"]["mean_gap_between_queries_s"] == pytest.approx(864.0)
    text = " ".join(recommendation_text(sparse, width=100).split())
    assert "Between two queries of a copy 14.4 min pass on average, beyond the 5-minute break-even" in text
    # The energy shown per query is the day's over its queries; the power a cap bounds stays the serving one.
    assert w["wh_per_1k_queries"]["value"] == pytest.approx(day["energy_kwh"] * 1e6 / 1000)
    assert w["power_w_mean"] == pytest.approx(90.0 * w["throughput_qps"])
    assert any("queries per day" in a for a in light.assumptions)


class _BatchPredictor(TablePredictor):
    """The table's figures at batch 1; energy per query falls as 1 / sqrt(batch) while the time
    per query stays, so a copy serves ``batch`` queries per second-of-time."""

    def predict(self, candidates):
        out = super().predict(candidates)
        f = 1.0 / np.sqrt(candidates["batch_size"].to_numpy(dtype=float))
        for c in ("energy_j_per_query", "energy_j_per_query_lo", "energy_j_per_query_hi"):
            out[c] = out[c].to_numpy(dtype=float) * f
        for c in ("eor", "eor_lo", "eor_hi", "tweor", "tweor_lo", "tweor_hi"):
            out[c] = out[c].to_numpy(dtype=float) / f
        return out


def test_a_fixed_concurrency_under_a_load_runs_where_the_free_pick_does() -> None:
    pred = _BatchPredictor({("h100-sxm5-80gb", "org/mid-7b", "fp16", "gsm8k"): {"energy_j": 10.0, "time_s": 1.0, "accuracy": 0.6}})
    base = {"tasks": ["gsm8k"], "serving": {"engines": ["vllm"]}, "models": {"ids": ["org/mid-7b"]},
            "hardware": {"platforms": ["h100-sxm5-80gb"]}, "objective": "energy", "economics": {"queries_per_day": 4 * 86400}}
    free = recommend(parse_spec(base), pred, catalogs=CAT).winner
    fixed = recommend(parse_spec({**base, "serving": {"engines": ["vllm"], "batch_size": 16}}), pred, catalogs=CAT).winner
    # Four queries a second on one copy that serves 8 or 16 a second: it runs 4 at once, at 10 / sqrt(4) J,
    # whether its limit was picked (8) or given (16); at 16 saturated it would be 2.5 J plus waiting.
    for w in (free, fixed):
        assert w["wh_per_1k_queries"]["value"] == pytest.approx(5.0 * 1000 / 3600)
        assert w["per_day"]["running_requests"] == pytest.approx(4.0) and w["per_day"]["waiting_kwh"] == 0.0
    assert free["batch_size"] == 8 and fixed["batch_size"] == 16


def test_the_same_candidates_at_another_load_match_a_build_at_that_load() -> None:
    from recommender.rules import candidates as cand
    from recommender.rules.flow import load_flow

    flow = load_flow()
    pred, base = _BatchPredictor(TWO_CARDS), {**TWO_CARDS_SPEC, "serving": {"engines": ["vllm"]}}
    cols = ["is_candidate", "energy_j_per_query", "energy_j_per_query_hi", "wh_per_1k", "eor_lo", "running_at_load", "busy_share"]
    for stated in (None, 50_000.0):
        spec = parse_spec({**base, "economics": {"queries_per_day": stated}} if stated else base)
        cs = cand.build(cand.resolve(spec, CAT, flow), flow, pred)
        kept = cs.frame[cols[1:4]].copy()
        for load in (1_000.0, 2e7):
            direct = cand.build(cand.resolve(parse_spec({**base, "economics": {"queries_per_day": load}}), CAT, flow), flow, pred)
            moved = cand.with_load(cs, flow, load)
            for c in cols:
                np.testing.assert_allclose(moved.frame[c].to_numpy(dtype=float), direct.frame[c].to_numpy(dtype=float), rtol=1e-9, err_msg=c)
        # The candidates asked about are left as they were.
        pd.testing.assert_frame_equal(cs.frame[cols[1:4]], kept)


def test_the_answer_names_the_load_that_would_change_it() -> None:
    pred, base = TablePredictor(TWO_CARDS), dict(TWO_CARDS_SPEC)
    busy = recommend(parse_spec(base), pred, catalogs=CAT)
    assert busy.winner["platform"] == "h100-sxm5-80gb"
    changes = busy.explanation["what_would_change"]
    light = next(c for c in changes if c.startswith("at 1,000 queries a day"))
    # The light load's own answer, asked directly, is the one named.
    direct = recommend(parse_spec({**base, "economics": {"queries_per_day": 1000}}), pred, catalogs=CAT).winner
    assert direct["platform"] == "a100-pcie-40gb"
    assert "(the answer assumes servers kept busy), a100-pcie-40gb" in light
    assert f"energy {direct['wh_per_1k_queries']['value']:.3g}" in light
    # A stated load is asked again at a tenth and ten times of it.
    stated = recommend(parse_spec({**base, "economics": {"queries_per_day": 1000}}), pred, catalogs=CAT)
    assert [c.split(" (")[0] for c in stated.explanation["what_would_change"] if "queries a day" in c] == [
        "at 100 queries a day", "at 10,000 queries a day"]
    # Accuracy does not move with the load: no such line.
    acc = recommend(parse_spec({**base, "objective": None, "priority": "accuracy"}), pred, catalogs=CAT)
    assert not any("queries a day" in c for c in acc.explanation["what_would_change"])


def test_a_fixed_batch_is_asked_again_at_each_load() -> None:
    # Predicted at its fixed batch alone, a spec has no smaller batch to read a light load's point
    # off: the what-if asks the spec again with the load, and names what that answer says.
    pred = _BatchPredictor(TWO_CARDS)
    base = {**TWO_CARDS_SPEC, "serving": {"engines": ["vllm"], "batch_size": 16}}
    changes = recommend(parse_spec(base), pred, catalogs=CAT).explanation["what_would_change"]
    for load, label in ((1000, "1,000"), (100_000, "100,000")):
        direct = recommend(parse_spec({**base, "economics": {"queries_per_day": load}}), pred, catalogs=CAT).winner
        line = next(c for c in changes if c.startswith(f"at {label} queries a day"))
        assert f"energy {direct['wh_per_1k_queries']['value']:.3g})" in line
