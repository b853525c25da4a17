"""Size prior of AccuracyModel: inside the fitted size range, and monotone bounds outside it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recommender.model.accuracy_model import Z90, AccuracyModel

CHANCE = 0.25
TASK = "bench"
SIZES_B = np.geomspace(1.0, 30.0, 12)
# Deterministic residuals so the expected quantiles are fixed and non-trivial.
NOISE = np.array([0.03, -0.02, 0.01, -0.04, 0.02, 0.0, -0.01, 0.04, -0.03, 0.015, -0.015, 0.005])


def _true_line(size_b: np.ndarray | float) -> np.ndarray:
    return 0.3 + 0.05 * np.log(size_b)


@pytest.fixture(scope="module")
def setup() -> tuple[AccuracyModel, dict[str, float], dict[str, float]]:
    models = [f"m{i}" for i in range(len(SIZES_B))]
    params = dict(zip(models, SIZES_B.tolist(), strict=True))
    acc = _true_line(SIZES_B) + NOISE
    rows = [
        {"model_id": m, "task": TASK, "quantization": "unknown", "accuracy": a, "source": "board"}
        for m, a in zip(models, acc, strict=True)
    ]
    # Quantized pairs from another source: a known effect for the prior to carry.
    for m, d in (("m0", -0.02), ("m5", -0.04), ("m11", -0.03)):
        base = float(acc[models.index(m)])
        rows.append({"model_id": m, "task": TASK, "quantization": "bf16", "accuracy": base, "source": "lab"})
        rows.append({"model_id": m, "task": TASK, "quantization": "int8", "accuracy": base + d, "source": "lab"})
    # A measured score below chance on a task with no prior.
    rows.append({"model_id": "m3", "task": "other", "quantization": "bf16", "accuracy": 0.2, "source": "lab"})
    records = pd.DataFrame(rows)
    records["accuracy_stderr"] = 0.01
    records["accuracy_n"] = np.nan
    model = AccuracyModel.fit(records, params)
    # Expected regression, computed independently of the model's stored state.
    x = np.log(SIZES_B)
    slope, intercept = np.polyfit(x, acc, 1)
    res = acc - (intercept + slope * x)
    reg = {"intercept": intercept, "slope": slope, "q05": float(np.quantile(res, 0.05)), "q95": float(np.quantile(res, 0.95))}
    deltas = np.array([-0.02, -0.04, -0.03])
    eff = {"mean": float(deltas.mean()), "sd": float(deltas.std(ddof=1))}
    return model, reg, eff


def _predict(model: AccuracyModel, sizes_b: list[float], quant: str = "bf16", task: str = TASK, model_id: str = "new") -> pd.DataFrame:
    n = len(sizes_b)
    return model.predict(
        pd.Series([model_id] * n),
        pd.Series([task] * n),
        pd.Series([quant] * n),
        np.asarray(sizes_b, dtype=float),
        np.full(n, CHANCE),
        np.ones(n, dtype=bool),
    )


def _mu(reg: dict[str, float], size_b: float) -> float:
    return float(reg["intercept"] + reg["slope"] * np.log(size_b))


def test_prior_stores_fitted_size_range(setup):
    model, _, _ = setup
    p = model.priors[TASK]
    assert p["size_min_b"] == pytest.approx(SIZES_B.min())
    assert p["size_max_b"] == pytest.approx(SIZES_B.max())


def test_inside_range_keeps_regression_floor_open_above(setup):
    model, reg, _ = setup
    out = _predict(model, [5.0]).iloc[0]
    mu = _mu(reg, 5.0)
    assert out["accuracy_status"] == "prior"
    assert out["accuracy"] == pytest.approx(mu, abs=1e-9)
    assert out["accuracy_lo"] == pytest.approx(mu + reg["q05"], abs=1e-9)
    # Open above: models that reach the prior were not in the leaderboard's population.
    assert out["accuracy_hi"] == 1.0


def test_smaller_than_fitted_is_floored_at_chance(setup):
    model, reg, _ = setup
    size = SIZES_B.min() / 10
    # The straight line alone would predict below chance here; the test relies on that.
    assert _mu(reg, size) < CHANCE
    out = _predict(model, [size]).iloc[0]
    assert out["accuracy_lo"] == CHANCE
    assert out["accuracy"] >= CHANCE
    assert out["accuracy"] == pytest.approx(CHANCE)
    assert out["accuracy_hi"] == 1.0


def test_larger_than_fitted_is_bounded_below_open_to_one(setup):
    model, reg, _ = setup
    size = SIZES_B.max() * 10
    out = _predict(model, [size]).iloc[0]
    assert out["accuracy_hi"] == 1.0
    assert out["accuracy_lo"] == pytest.approx(_mu(reg, SIZES_B.max()) + reg["q05"], abs=1e-9)
    assert out["accuracy"] == pytest.approx(min(max(_mu(reg, size), CHANCE), 1.0), abs=1e-9)


def test_quantization_shift_applies_on_top_of_bound(setup):
    model, reg, eff = setup
    size = SIZES_B.max() * 10
    out = _predict(model, [size], quant="int8").iloc[0]
    # Far outside the pairs' sizes: the effect's magnitude joins its spread.
    sd_total = np.sqrt(eff["sd"] ** 2 + (eff["mean"] / Z90) ** 2)
    expected_lo = _mu(reg, SIZES_B.max()) + reg["q05"] + eff["mean"] - Z90 * sd_total
    assert out["accuracy_lo"] == pytest.approx(expected_lo, abs=1e-9)
    assert out["accuracy"] == pytest.approx(_mu(reg, size) + eff["mean"], abs=1e-9)
    small = _predict(model, [SIZES_B.min() / 10], quant="int8").iloc[0]
    # The shift is negative, yet the prior point and lower end stay at chance.
    assert small["accuracy"] == CHANCE and small["accuracy_lo"] == CHANCE


def test_prior_never_outside_chance_and_one(setup):
    model, _, _ = setup
    sizes = np.geomspace(1e-3, 1e4, 60).tolist()
    for quant in ("bf16", "int8", "nf4"):
        out = _predict(model, sizes, quant=quant)
        assert (out["accuracy_status"] == "prior").all()
        for col in ("accuracy", "accuracy_lo", "accuracy_hi"):
            assert (out[col] >= CHANCE).all() and (out[col] <= 1.0).all(), (quant, col)
        assert (out["accuracy_lo"] <= out["accuracy"]).all() and (out["accuracy"] <= out["accuracy_hi"]).all()


def test_unknown_size_gets_uninformative_prior(setup):
    model, _, _ = setup
    out = _predict(model, [float("nan")]).iloc[0]
    assert (out["accuracy_lo"], out["accuracy"], out["accuracy_hi"]) == (CHANCE, (CHANCE + 1) / 2, 1.0)


def test_measured_below_chance_is_kept(setup):
    model, _, _ = setup
    out = _predict(model, [SIZES_B[3]], task="other", model_id="m3").iloc[0]
    assert out["accuracy_status"] == "measured"
    assert out["accuracy"] == pytest.approx(0.2)


def test_state_round_trips_through_json(setup):
    model, _, _ = setup
    again = AccuracyModel(json.loads(json.dumps(model.state)))
    sizes = [0.1, 5.0, 300.0]
    for quant in ("bf16", "int8"):
        pd.testing.assert_frame_equal(_predict(again, sizes, quant=quant), _predict(model, sizes, quant=quant))


def test_state_without_size_range_is_unbounded(setup):
    model, reg, _ = setup
    old = json.loads(json.dumps(model.state))
    for p in old["priors"].values():
        del p["size_min_b"], p["size_max_b"]
    out = _predict(AccuracyModel(old), [300.0]).iloc[0]
    mu = _mu(reg, 300.0)
    # States written before the range was stored extrapolate the line's floor, as they did then.
    assert out["accuracy"] == pytest.approx(min(mu, 1.0), abs=1e-9)
    assert out["accuracy_lo"] == pytest.approx(min(mu + reg["q05"], 1.0), abs=1e-9)
    assert out["accuracy_hi"] == 1.0


def test_a_positive_mean_quantization_effect_shifts_nothing_but_still_widens():
    """Pairs where the quantized model happened to score higher (noise) must not make a
    quantized candidate look more accurate than its own reference; their spread still counts."""
    rows = []
    for i, d in enumerate((0.03, -0.01, 0.04)):
        rows.append({"model_id": f"m{i}", "task": TASK, "quantization": "bf16", "accuracy": 0.5, "source": "lab"})
        rows.append({"model_id": f"m{i}", "task": TASK, "quantization": "nf4", "accuracy": 0.5 + d, "source": "lab"})
    rows.append({"model_id": "ref", "task": TASK, "quantization": "bf16", "accuracy": 0.6, "source": "lab"})
    records = pd.DataFrame(rows)
    records["accuracy_stderr"] = 0.01
    records["accuracy_n"] = np.nan
    params = {"m0": 7.0, "m1": 7.0, "m2": 7.0, "ref": 7.0}
    model = AccuracyModel.fit(records, params)
    eff = model.effects["nf4"]
    assert eff["measured_mean"] == pytest.approx(np.mean([0.03, -0.01, 0.04]))
    assert eff["mean"] == 0.0
    out = _predict(model, [7.0], quant="nf4", model_id="ref").iloc[0]
    assert out["accuracy"] == pytest.approx(0.6)
    sd = float(np.std([0.03, -0.01, 0.04], ddof=1))
    assert out["accuracy_hi"] - out["accuracy"] == pytest.approx(Z90 * np.hypot(0.01, sd))
    # A negative mean still shifts the point down.
    records.loc[records["quantization"] == "nf4", "accuracy"] = 0.47
    down = AccuracyModel.fit(records, params)
    assert _predict(down, [7.0], quant="nf4", model_id="ref").iloc[0]["accuracy"] == pytest.approx(0.57)
