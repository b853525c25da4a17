"""The predictor side of ``eai predict``'s contract (synthetic fixtures, fitted once).

- One output-length basis per row: a row stating none is at its model's measured length
  (stage ``answer_length``; off: the task's), and a measured cell asked at another output
  length than it ran at comes back per output token times the row's length, so measured and
  predicted cells of one table compare on the same basis.
- Entries outside the catalog: ``with_catalog_entries`` lets the predictor take a platform and
  a model it was not fitted with (physics features from their specs; flagged unseen).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.catalog.types import ModelSpec, Platform
from recommender.errors import UnknownNameError
from recommender.model.config import PipelineConfig
from recommender.model.predictor import fit_predictor
import test_regressor_fixtures as fx

MEASURED_OUT = 400.0
"""Output tokens the fixture's chat rows ran at here (the task profile says 250)."""


@pytest.fixture(scope="module")
def cats():
    return fx.catalogs()


@pytest.fixture(scope="module")
def fitted(cats):
    table = fx.measured_table()
    chat = table["workload"] == "chat"
    scale = MEASURED_OUT / table.loc[chat, "output_tokens_mean"]
    table.loc[chat, "energy_j_per_query"] = table.loc[chat, "energy_j_per_query"] * scale
    table.loc[chat, "time_s_per_query"] = table.loc[chat, "time_s_per_query"] * scale
    table.loc[chat, "output_tokens_mean"] = MEASURED_OUT
    return fit_predictor(table, fx.accuracy_table(), cats, data_hash="x" * 64, calibrate=False), table


def _cell(**over) -> pd.DataFrame:
    row = {"platform": "gpu-b", "device_count": 1, "engine": "vllm", "model_id": "toy/m7", "quantization": "fp16", "batch_size": 8, "task": "chat"}
    row.update(over)
    return pd.DataFrame([row])


def test_a_measured_cell_is_carried_to_the_rows_output_length(fitted) -> None:
    predictor, table = fitted
    m = table[(table["platform"] == "gpu-b") & (table["engine"] == "vllm") & (table["model_id"] == "toy/m7") & (table["batch_size"] == 8) & (table["quantization"] == "fp16")]
    per_token = float(m["energy_j_per_query"].mean()) / MEASURED_OUT
    at_model = predictor.predict(_cell())  # no length stated: the model's measured one (400)
    own = predictor.predict(_cell(output_tokens_mean=250.0))
    assert at_model["status"].iloc[0] == "measured" and own["status"].iloc[0] == "measured"
    assert at_model["energy_j_per_query"].iloc[0] == pytest.approx(per_token * MEASURED_OUT)
    assert own["energy_j_per_query"].iloc[0] == pytest.approx(per_token * 250.0)
    ratio = own["time_s_per_query"].iloc[0] / at_model["time_s_per_query"].iloc[0]
    assert ratio == pytest.approx(250.0 / MEASURED_OUT)


def test_without_the_answer_length_stage_a_cell_is_carried_to_the_tasks_length(fitted, cats) -> None:
    _, table = fitted
    predictor = fit_predictor(table, fx.accuracy_table(), cats, data_hash="x" * 64, calibrate=False,
                              config=PipelineConfig.without_stages(["answer_length"]))
    m = table[(table["platform"] == "gpu-b") & (table["engine"] == "vllm") & (table["model_id"] == "toy/m7") & (table["batch_size"] == 8) & (table["quantization"] == "fp16")]
    per_token = float(m["energy_j_per_query"].mean()) / MEASURED_OUT
    task_basis = predictor.predict(_cell())  # the chat task's profile: 250 output tokens
    assert task_basis["status"].iloc[0] == "measured"
    assert task_basis["energy_j_per_query"].iloc[0] == pytest.approx(per_token * 250.0)
    assert predictor.answer_lengths is None


def test_measured_and_predicted_cells_share_one_basis(fitted) -> None:
    predictor, _ = fitted
    # gpu-b is measured, gpu-new never: both rows take the model's measured length, so a
    # stated length moves both alike.
    frame = pd.concat([_cell(), _cell(platform="gpu-new")], ignore_index=True)
    out = predictor.predict(frame)
    assert out["status"].tolist()[0] == "measured" and out["status"].tolist()[1] != "measured"
    tokens, basis = predictor.output_lengths(frame)
    np.testing.assert_allclose(tokens, MEASURED_OUT)
    assert list(basis) == ["model", "model"]
    assert np.all(np.isfinite(out["energy_j_per_query"].to_numpy()))
    doubled = predictor.predict(frame.assign(output_tokens_mean=2 * MEASURED_OUT))
    np.testing.assert_allclose(doubled["energy_j_per_query"].to_numpy()[0] / out["energy_j_per_query"].to_numpy()[0], 2.0, rtol=1e-9)


def test_entries_outside_the_catalog_are_predicted_and_flagged(fitted) -> None:
    predictor, _ = fitted
    gpu = Platform(
        id="specs:gpuz", name="gpu z", vendor="nvidia", platform_class="workstation", architecture="x",
        arch_generation=8.6, release_year=2020, memory_gb=24, memory_bandwidth_gbs=936, tdp_w=350, fp32_tflops=35.6,
    )
    model = ModelSpec(id="someone/base-7b", family="described", params_total_b=7.0, params_active_b=7.0, layers=32,
                      hidden_size=4096, attention_heads=32, kv_heads=32, source="test")
    with pytest.raises(UnknownNameError):
        predictor.predict(_cell(platform="specs:gpuz", model_id="someone/base-7b"))
    extended = predictor.with_catalog_entries(platforms={gpu.id: gpu}, models={model.id: model})
    out = extended.predict(_cell(platform="specs:gpuz", model_id="someone/base-7b"))
    assert np.isfinite(out["energy_j_per_query"].iloc[0]) and out["energy_j_per_query"].iloc[0] > 0
    assert out["status"].iloc[0] == "extrapolated" and "platform-unseen" in str(out["extrapolated_reasons"].iloc[0])
    # The original predictor is unchanged.
    with pytest.raises(UnknownNameError):
        predictor.predict(_cell(platform="specs:gpuz"))


def test_an_unseen_continuous_batching_engine_is_read_as_its_measured_peer(fitted) -> None:
    predictor, _ = fitted
    frame = pd.concat([_cell(engine="vllm"), _cell(engine="tensorrt-llm"), _cell(engine="vllm", platform="gpu-new"),
                       _cell(engine="tensorrt-llm", platform="gpu-new")], ignore_index=True)
    out = predictor.predict(frame, use_measured=False)
    # The same point as the peer (its ridge offsets, batch range and roofline), flagged unseen.
    np.testing.assert_allclose(out["energy_j_per_query"].to_numpy()[[1, 3]], out["energy_j_per_query"].to_numpy()[[0, 2]], rtol=1e-12)
    np.testing.assert_allclose(out["time_s_per_query"].to_numpy()[[1, 3]], out["time_s_per_query"].to_numpy()[[0, 2]], rtol=1e-12)
    assert all("engine-unseen" in str(r) for r in out["extrapolated_reasons"].iloc[[1, 3]])
    assert not any("engine-unseen" in str(r) for r in out["extrapolated_reasons"].iloc[[0, 2]])
    # The peer's measured cell is not this engine's measurement.
    measured = predictor.predict(frame.iloc[:2])
    assert measured["status"].tolist() == ["measured", "extrapolated"]


def test_an_unseen_engine_outside_the_family_is_not_read_as_vllm(fitted) -> None:
    predictor, _ = fitted
    out = predictor.predict(pd.concat([_cell(engine="vllm"), _cell(engine="some-research-stack")], ignore_index=True), use_measured=False)
    assert out["energy_j_per_query"].iloc[1] != pytest.approx(out["energy_j_per_query"].iloc[0], rel=1e-6)
    assert "engine-unseen" in str(out["extrapolated_reasons"].iloc[1])


def test_family_engine_maps_only_unseen_continuous_batching_servers() -> None:
    from recommender.model.roofline_fit import family_engine

    assert family_engine("tensorrt-llm", {"vllm", "hf-transformers"}) == "vllm"
    assert family_engine("sglang", {"hf-transformers"}) is None  # no peer measured
    assert family_engine("vllm", {"vllm"}) is None  # measured: read as itself
    assert family_engine("fastchat", {"vllm"}) is None  # not of the family
    assert family_engine("tgi", {"sglang", "vllm"}) == "vllm"  # the family's listed order
