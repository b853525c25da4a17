"""A stated load (economics.queries_per_day): copies, busy share, waiting energy, and the ranking it changes."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.model.invariants import POWER_FLOOR_SHARE
from recommender.rules.engine import recommend
from recommender.rules.load import copies_and_busy, daily_load, waiting_j_per_query
from recommender.rules.spec import parse_spec
from recommender.rules.synthetic import TablePredictor, small_catalogs

CAT = small_catalogs()


def test_copies_cover_the_load_and_the_rest_of_the_day_is_waiting() -> None:
    # 86,400 queries a day = 1 per second: a copy serving 4 per second is busy a quarter of the day;
    # one serving 0.4 per second needs three copies, busy 1 / 1.2 of the day.
    copies, busy = copies_and_busy([4.0, 0.4], 86400.0)
    np.testing.assert_allclose(copies, [1.0, 3.0])
    np.testing.assert_allclose(busy, [0.25, 1 / 1.2])
    waiting = waiting_j_per_query([4.0, 0.4], 86400.0, [2, 1], [700.0, 700.0])
    # Two devices at 0.16 x 700 W for three quarters of each second, per query (one a second).
    np.testing.assert_allclose(waiting, [2 * POWER_FLOOR_SHARE * 700 * 0.75, 3 * POWER_FLOOR_SHARE * 700 * (1 - 1 / 1.2)])
    # A CPU waits at no cost; an unknown throughput gives no figure.
    assert waiting_j_per_query([4.0], 86400.0, [1], [np.nan])[0] == 0.0
    assert np.isnan(waiting_j_per_query([np.nan], 86400.0, [1], [700.0])[0])


def test_a_day_splits_back_into_serving_and_waiting() -> None:
    waiting = float(waiting_j_per_query([4.0], 1000.0, [1], [450.0])[0])
    serving_wh_per_1k = 2.0
    day = daily_load(waiting, serving_wh_per_1k + waiting * 1000 / 3600, 4.0, 1000.0)
    assert day.serving_kwh == pytest.approx(serving_wh_per_1k * 1000 / 1e6)
    # 1,000 queries at 4 per second keep the card busy 250 s of the day: it waits the rest.
    assert day.waiting_kwh == pytest.approx(POWER_FLOOR_SHARE * 450 * (86400 - 250) / 3.6e6)
    assert day.deployments == 1.0 and day.energy_kwh == pytest.approx(day.serving_kwh + day.waiting_kwh)


def test_at_a_light_load_the_card_that_waits_cheaply_wins() -> None:
    # The H100 serves a query for less energy than the A100 PCIe, but at 1,000 queries a day both
    # mostly wait with the model loaded, and the A100's limit is 250 W against 700 W.
    pred = TablePredictor({
        ("h100-sxm5-80gb", "org/mid-7b", "fp16", "gsm8k"): {"energy_j": 60.0, "time_s": 1.0, "accuracy": 0.6, "rel_halfwidth": 0.02},
        ("a100-pcie-40gb", "org/mid-7b", "fp16", "gsm8k"): {"energy_j": 90.0, "time_s": 1.5, "accuracy": 0.6, "rel_halfwidth": 0.02},
    })
    base = {"tasks": ["gsm8k"], "serving": {"engines": ["hf-transformers"]}, "models": {"ids": ["org/mid-7b"]},
            "hardware": {"platforms": ["h100-sxm5-80gb", "a100-pcie-40gb"]}, "objective": "energy"}
    assert recommend(parse_spec(base), pred, catalogs=CAT).winner["platform"] == "h100-sxm5-80gb"
    light = recommend(parse_spec({**base, "economics": {"queries_per_day": 1000}}), pred, catalogs=CAT)
    w = light.winner
    assert w["platform"] == "a100-pcie-40gb"
    day = w["per_day"]
    assert day["deployments_needed"] == 1 and day["busy_share"] == pytest.approx(1000 / 86400 / w["throughput_qps"])
    assert day["waiting_kwh"] == pytest.approx(POWER_FLOOR_SHARE * 250 * 24 * (1 - day["busy_share"]) / 1000)
    assert day["serving_kwh"] == pytest.approx(90.0 * 1000 / 3.6e6)
    # The energy shown per query is the day's over its queries; the power a cap bounds stays the serving one.
    assert w["wh_per_1k_queries"]["value"] == pytest.approx(day["energy_kwh"] * 1e6 / 1000)
    assert w["power_w_mean"] == pytest.approx(90.0 * w["throughput_qps"])
    assert any("queries per day" in a for a in light.assumptions)
