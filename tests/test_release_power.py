"""Stage ``release_power`` through the predictor's public API (synthetic fixture, fitted once).

The fixture's vLLM rows are given releases so that each GPU ran one: gpu-a and gpu-b vLLM 0.5.4,
gpu-c and gpu-d 0.11.1, each release's rows at their own power share. The measured stage is off
(``use_measured=False``) so that only the model and its stages act.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import test_regressor_fixtures as fx
from recommender.model.adjust.release_power import reference_level
from recommender.model.config import PipelineConfig
from recommender.model.predictor import fit_predictor

OLD = ("gpu-a", "gpu-b")


@pytest.fixture(scope="module")
def fitted():
    table = fx.measured_table()
    vllm = (table["engine"] == "vllm").to_numpy()
    old = table["platform"].isin(OLD).to_numpy()
    # The old release at a lower power share: the GPU draws less while the host schedules.
    table = table.assign(
        engine_version=np.where(vllm, np.where(old, "0.5.4", "0.11.1"), None),
        energy_j_per_query=table["energy_j_per_query"] * np.where(vllm & old, 0.6, 1.0),
        energy_j_per_output_token=table["energy_j_per_output_token"] * np.where(vllm & old, 0.6, 1.0),
        time_s_per_query=table["time_s_per_query"] * np.where(vllm & old, 2.0, 1.0),
    )
    return fit_predictor(table, fx.accuracy_table(), fx.catalogs(), data_hash="x" * 64, calibrate=True)


def _frame(platform: str, version: str, batches=(8, 32)) -> pd.DataFrame:
    return pd.DataFrame([
        {"platform": platform, "device_count": 1, "engine": "vllm", "engine_version": version, "model_id": "toy/m7",
         "quantization": "fp16", "task": "chat", "batch_size": b}
        for b in batches
    ])


def _off(predictor):
    return replace(predictor, config=PipelineConfig.without_stages(["release_power"]))


def _power(out: pd.DataFrame) -> np.ndarray:
    return (out["energy_j_per_query"] / out["time_s_per_query"] * out["queries_in_flight"]).to_numpy()


def test_a_gpu_at_a_release_it_never_ran_is_priced_between_both_readings(fitted) -> None:
    """gpu-a ran vLLM 0.5.4 only: asked at 0.11.1 its energy is the geometric middle of the
    model's and of its time at 0.11.1 x its power at 0.5.4; time is untouched; the interval
    holds both readings."""
    on = fitted.predict(_frame("gpu-a", "0.11.1"), use_measured=False)
    off = _off(fitted).predict(_frame("gpu-a", "0.11.1"), use_measured=False)
    own = fitted.predict(_frame("gpu-a", "0.5.4"), use_measured=False)
    carried = off["time_s_per_query"] * own["energy_j_per_query"] / own["time_s_per_query"]
    np.testing.assert_allclose(on["time_s_per_query"], off["time_s_per_query"], rtol=1e-12)
    np.testing.assert_allclose(on["energy_j_per_query"], np.sqrt(off["energy_j_per_query"] * carried), rtol=1e-9)
    # The two readings differ in the fixture, so the stage moves something.
    assert (np.abs(np.log(carried / off["energy_j_per_query"])) > 0.05).all()
    for reading in (off["energy_j_per_query"], carried):
        assert (on["energy_j_per_query_lo"] <= reading * (1 + 1e-9)).all()
        assert (on["energy_j_per_query_hi"] >= reading * (1 - 1e-9)).all()
    # The label says whose power was carried.
    assert on["extrapolated_reasons"].astype(str).str.contains("power-at:vllm@0.5", regex=False).all()
    assert not off["extrapolated_reasons"].astype(str).str.contains("power-at:", regex=False).any()
    # Its power lies between the release's and its own.
    lo, hi = np.minimum(_power(off), _power(own)), np.maximum(_power(off), _power(own))
    assert ((_power(on) >= lo * (1 - 1e-9)) & (_power(on) <= hi * (1 + 1e-9))).all()


def test_the_other_direction_and_what_is_left_alone(fitted) -> None:
    """gpu-d (0.11.1) asked at 0.5.4 moves too; a GPU at its own release, and one never measured
    under the engine, are left as the model gives them."""
    on = fitted.predict(_frame("gpu-d", "0.5.4"), use_measured=False)
    off = _off(fitted).predict(_frame("gpu-d", "0.5.4"), use_measured=False)
    assert not np.allclose(on["energy_j_per_query"], off["energy_j_per_query"], rtol=1e-3)
    for platform, version in (("gpu-a", "0.5.4"), ("gpu-d", "0.11.1"), ("gpu-new", "0.11.1")):
        a = fitted.predict(_frame(platform, version), use_measured=False)
        b = _off(fitted).predict(_frame(platform, version), use_measured=False)
        pd.testing.assert_frame_equal(a, b)


def test_the_reference_release_is_the_nearest_measured_one() -> None:
    assert reference_level("vllm@0.11", {"vllm@0.5"}) == "vllm@0.5"
    assert reference_level("vllm@0.8", {"vllm@0.5", "vllm@0.11"}) == "vllm@0.11"  # 3 minors away vs 3: the newer
    assert reference_level("vllm@0.6", {"vllm@0.5", "vllm@0.11"}) == "vllm@0.5"
    assert reference_level("vllm@1.1", {"vllm@0.5", "vllm@0.11"}) == "vllm@0.11"
    assert reference_level("vllm@0.5", {"vllm@0.5"}) is None  # measured
    assert reference_level("vllm", {"vllm@0.5"}) is None  # no release named
