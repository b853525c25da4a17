"""Stage ``anchor`` through the predictor's public API (synthetic fixture, fitted once).

The fixture measured vLLM deployments at batches 8 and 64; the measured stage is switched off
(``use_measured=False``) so that only the anchor acts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import test_regressor_fixtures as fx
from recommender.model.config import PipelineConfig
from recommender.model.predictor import fit_predictor

CELL = {"platform": "gpu-b", "device_count": 1, "engine": "vllm", "model_id": "toy/m7", "quantization": "fp16", "task": "chat"}


@pytest.fixture(scope="module")
def fitted():
    table = fx.measured_table()
    return fit_predictor(table, fx.accuracy_table(), fx.catalogs(), data_hash="x" * 64, calibrate=False), table


def _frame(batches, **over) -> pd.DataFrame:
    return pd.DataFrame([{**CELL, **over, "batch_size": b} for b in batches])


def _measured(table: pd.DataFrame, batch: int, column: str) -> float:
    m = table[(table["platform"] == CELL["platform"]) & (table["engine"] == "vllm") & (table["model_id"] == CELL["model_id"])
              & (table["quantization"] == "fp16") & (table["workload"] == "chat") & (table["batch_size"] == batch)]
    return float(m[column].mean())


def _without(predictor, stage):
    from dataclasses import replace

    return replace(predictor, config=PipelineConfig.without_stages([stage]))


def test_measured_batches_are_met_and_batches_between_follow_them(fitted) -> None:
    predictor, table = fitted
    frame = _frame([8, 16, 32, 64])
    on = predictor.predict(frame, use_measured=False)
    off = _without(predictor, "anchor").predict(frame, use_measured=False)
    for col in ("energy_j_per_query", "time_s_per_query"):
        # At a measured batch the anchored model is the measurement (same output length).
        assert on[col].iloc[0] == pytest.approx(_measured(table, 8, col), rel=1e-6)
        assert on[col].iloc[3] == pytest.approx(_measured(table, 64, col), rel=1e-6)
        # Between them: the model times the ratio interpolated in log batch.
        r8 = on[col].iloc[0] / off[col].iloc[0]
        r64 = on[col].iloc[3] / off[col].iloc[3]
        for i, b in ((1, 16), (2, 32)):
            w = np.log(b / 8) / np.log(64 / 8)
            assert on[col].iloc[i] / off[col].iloc[i] == pytest.approx(np.exp((1 - w) * np.log(r8) + w * np.log(r64)), rel=1e-6)
    assert on["status"].tolist() == off["status"].tolist()  # anchoring is not a measurement


def test_outside_the_measured_batches_the_nearest_ratio_holds(fitted) -> None:
    predictor, _ = fitted
    frame = _frame([2, 8, 64, 512])
    on = predictor.predict(frame, use_measured=False)
    off = _without(predictor, "anchor").predict(frame, use_measured=False)
    ratio = (on["time_s_per_query"] / off["time_s_per_query"]).to_numpy()
    assert ratio[0] == pytest.approx(ratio[1], rel=1e-6) and ratio[3] == pytest.approx(ratio[2], rel=1e-6)


def test_only_the_measured_deployment_is_anchored(fitted) -> None:
    predictor, _ = fitted
    others = pd.concat([
        _frame([16], platform="gpu-new"),  # never measured
        _frame([16], engine_version="0.4.0"),  # a release the cells do not name
        _frame([16], model_id="toy/m30"),  # a model this deployment did not run
    ], ignore_index=True)
    on = predictor.predict(others, use_measured=False)
    off = _without(predictor, "anchor").predict(others, use_measured=False)
    np.testing.assert_allclose(on["energy_j_per_query"], off["energy_j_per_query"], rtol=1e-12)
    np.testing.assert_allclose(on["time_s_per_query"], off["time_s_per_query"], rtol=1e-12)


def test_a_peer_engine_and_the_same_numerics_are_anchored_as_the_deployment(fitted) -> None:
    predictor, _ = fitted
    frame = pd.concat([_frame([16]), _frame([16], engine="tensorrt-llm"), _frame([16], quantization="bf16")], ignore_index=True)
    on = predictor.predict(frame, use_measured=False)
    off = _without(predictor, "anchor").predict(frame, use_measured=False)
    assert on["time_s_per_query"].iloc[0] != pytest.approx(off["time_s_per_query"].iloc[0], rel=1e-6)  # anchored at all
    for col in ("energy_j_per_query", "time_s_per_query"):
        assert on[col].iloc[1] == pytest.approx(on[col].iloc[0], rel=1e-9)  # read as vLLM, anchored as vLLM
        assert on[col].iloc[2] == pytest.approx(on[col].iloc[0], rel=1e-9)  # bf16 is the fp16 deployment
    assert "engine-unseen" in str(on["extrapolated_reasons"].iloc[1])


def test_anchored_rows_keep_the_power_bound(fitted) -> None:
    predictor, _ = fitted
    cats = fx.catalogs()
    frame = _frame([1, 2, 4, 8, 16, 32, 64, 128, 1024])
    out = predictor.predict(frame, use_measured=False)
    running = np.maximum(predictor._features.columns(predictor._candidate_frame(frame))["batch_running"].to_numpy(dtype=float), 1.0)
    power = out["energy_j_per_query"].to_numpy() * running / out["time_s_per_query"].to_numpy()
    assert np.all(power <= cats.platforms["gpu-b"].tdp_w * (1 + 1e-9))


def test_the_anchor_corrects_the_deployment_not_the_workload(fitted) -> None:
    predictor, _ = fitted
    # A row asking a far longer prompt than the cells ran gets the same correction as one asking
    # the cells' own profile: the ratio is taken at the cells' profile, the model carries the rest.
    # Each asked alone, so neither borrows the other's neighbours.
    rows = [_frame([16]), _frame([16], prompt_tokens_mean=4096.0, output_tokens_mean=900.0)]
    on = [predictor.predict(f, use_measured=False) for f in rows]
    off = [_without(predictor, "anchor").predict(f, use_measured=False) for f in rows]
    for col in ("energy_j_per_query", "time_s_per_query"):
        ratio = [float(a[col].iloc[0] / b[col].iloc[0]) for a, b in zip(on, off, strict=True)]
        assert ratio[1] == pytest.approx(ratio[0], rel=1e-6)
        assert ratio[0] != pytest.approx(1.0, abs=1e-6)
    assert on[1]["energy_j_per_query"].iloc[0] > 2 * on[0]["energy_j_per_query"].iloc[0]


def test_a_row_naming_no_release_is_anchored_to_the_newest_measured_release() -> None:
    # The deployment's cells state a release while the engine's other rows state none (as the
    # profiler's transformers rows do beside the quantization reports'): a row naming no release
    # is at the unstated level, which the measured stage reads as the newest stated release of a
    # cell measured only at stated ones; the anchor must read it alike.
    table = fx.measured_table()
    mine = ((table["platform"] == CELL["platform"]) & (table["engine"] == "vllm") & (table["model_id"] == CELL["model_id"])
            & (table["quantization"] == "fp16") & (table["workload"] == "chat")).to_numpy()
    assert mine.any() and (~mine & table["engine"].eq("vllm").to_numpy()).any()
    table = table.assign(engine_version=np.where(mine, "0.6.0", None))
    predictor = fit_predictor(table, fx.accuracy_table(), fx.catalogs(), data_hash="y" * 64, calibrate=False)
    frame = _frame([8, 16])
    on = predictor.predict(frame, use_measured=False)
    off = _without(predictor, "anchor").predict(frame, use_measured=False)
    assert on["time_s_per_query"].iloc[0] == pytest.approx(_measured(table, 8, "time_s_per_query"), rel=1e-6)
    assert on["time_s_per_query"].iloc[1] != pytest.approx(off["time_s_per_query"].iloc[1], rel=1e-6)


def test_a_deployment_never_measured_borrows_its_siblings_departure() -> None:
    """Stage ``sibling``: toy/m7 under vLLM never measured on gpu-d, measured on the other GPUs:
    the model there times the geometric mean of those deployments' measured / model ratios
    (interpolated in log batch like the anchor's); in time, of their excesses over each query's
    physical floor, which the candidate keeps. A measured deployment is left to the anchor."""
    table = fx.measured_table()
    own = (table["platform"] == "gpu-d") & (table["engine"] == "vllm") & (table["model_id"] == CELL["model_id"])
    predictor = fit_predictor(table[~own], fx.accuracy_table(), fx.catalogs(), data_hash="x" * 64, calibrate=False)
    siblings = sorted(set(table.loc[(table["engine"] == "vllm") & (table["model_id"] == CELL["model_id"]) & ~own, "platform"]))
    assert len(siblings) >= 2
    model_only = _without(predictor, "sibling")
    bare = replace_config(predictor, ["anchor", "sibling"])
    frame = _frame([8, 64], platform="gpu-d")
    on = predictor.predict(frame, use_measured=False)
    off = model_only.predict(frame, use_measured=False)
    departures = []
    for col in ("energy_j_per_query", "time_s_per_query"):
        for i, b in enumerate((8, 64)):
            floor_at = (lambda p: _time_floor(predictor, _frame([b], platform=p))) if col == "time_s_per_query" else (lambda p: 0.0)
            logs = [np.log((_measured_at(table, p, b, col) - floor_at(p))
                           / (bare.predict(_frame([b], platform=p), use_measured=False)[col].iloc[0] - floor_at(p)))
                    for p in siblings]
            departures.append(abs(np.mean(logs)))
            floor = floor_at("gpu-d")
            assert on[col].iloc[i] - floor == pytest.approx((off[col].iloc[i] - floor) * np.exp(np.mean(logs)), rel=1e-6)
    assert 0 < _time_floor(predictor, _frame([8], platform="gpu-d")) < off["time_s_per_query"].iloc[0]
    assert max(departures) > 0.01  # the fixture's siblings do depart from the model: the stage moves something
    # gpu-b's own deployment was measured: the sibling stage leaves it to the anchor.
    measured = _frame([16], platform="gpu-b")
    assert predictor.predict(measured, use_measured=False)["energy_j_per_query"].iloc[0] == pytest.approx(
        model_only.predict(measured, use_measured=False)["energy_j_per_query"].iloc[0], rel=1e-12)


def test_a_sibling_on_the_candidates_own_silicon_speaks_for_it_alone() -> None:
    """gpu-b2: gpu-b's silicon and power with more bandwidth, never measured. toy/m7 under vLLM
    was measured on gpu-b and on other GPUs: gpu-b2 takes gpu-b's measured / model ratio alone
    (its twin: the same die), not the mean over every GPU, whose own misses would mix in."""
    from dataclasses import replace

    cats = fx.catalogs()
    b = cats.platforms["gpu-b"]
    twin = b.model_copy(update={"id": "gpu-b2", "name": "gpu-b2", "memory_bandwidth_gbs": b.memory_bandwidth_gbs * 1.4})
    cats2 = replace(cats, platforms={**cats.platforms, "gpu-b2": twin})
    table = fx.measured_table()
    predictor = fit_predictor(table, fx.accuracy_table(), cats2, data_hash="x" * 64, calibrate=False)
    siblings = sorted(set(table.loc[(table["engine"] == "vllm") & (table["model_id"] == CELL["model_id"]), "platform"]))
    assert "gpu-b" in siblings and len(siblings) >= 2
    bare = replace_config(predictor, ["anchor", "sibling"])
    frame = _frame([8, 64], platform="gpu-b2")
    on = predictor.predict(frame, use_measured=False)
    off = _without(predictor, "sibling").predict(frame, use_measured=False)
    spread = []
    for col in ("energy_j_per_query", "time_s_per_query"):
        for i, bs in enumerate((8, 64)):
            floor_at = (lambda p: _time_floor(predictor, _frame([bs], platform=p))) if col == "time_s_per_query" else (lambda p: 0.0)
            logs = {p: np.log((_measured_at(table, p, bs, col) - floor_at(p))
                              / (bare.predict(_frame([bs], platform=p), use_measured=False)[col].iloc[0] - floor_at(p)))
                    for p in siblings}
            spread.append(abs(logs["gpu-b"] - np.mean(list(logs.values()))))
            floor = floor_at("gpu-b2")
            assert on[col].iloc[i] - floor == pytest.approx((off[col].iloc[i] - floor) * np.exp(logs["gpu-b"]), rel=1e-6)
    assert max(spread) > 0.01  # the mean over every sibling would have given another answer


def test_a_release_past_the_measured_ones_reads_its_siblings_at_the_nearest_measured_release() -> None:
    """Every vLLM row ran 0.6.0; toy/m7 was never measured on gpu-d. Asked at 0.7.0 (newer than
    every measured release) gpu-d takes its siblings' ratios at 0.6.0, as stage anchor reads a
    deployment's own cells; it had taken none, so a newer release came out as the model alone,
    slower or costlier than the older one where the siblings ran faster than the model."""
    table = fx.measured_table()
    table = table.assign(engine_version=np.where(table["engine"].eq("vllm").to_numpy(), "0.6.0", None))
    own = (table["platform"] == "gpu-d") & (table["engine"] == "vllm") & (table["model_id"] == CELL["model_id"])
    predictor = fit_predictor(table[~own], fx.accuracy_table(), fx.catalogs(), data_hash="z" * 64, calibrate=False)
    off = _without(predictor, "sibling")
    ratios = {}
    for version in ("0.6.0", "0.7.0"):
        frame = _frame([8, 64], platform="gpu-d", engine_version=version)
        on, plain = predictor.predict(frame, use_measured=False), off.predict(frame, use_measured=False)
        floor = np.array([_time_floor(predictor, frame.iloc[[i]]) for i in range(len(frame))])
        ratios[version] = (on["energy_j_per_query"].to_numpy() / plain["energy_j_per_query"].to_numpy(),
                           (on["time_s_per_query"].to_numpy() - floor) / (plain["time_s_per_query"].to_numpy() - floor))
    for now, then in zip(ratios["0.7.0"], ratios["0.6.0"], strict=True):
        np.testing.assert_allclose(now, then, rtol=1e-6)
    assert np.abs(np.log(ratios["0.7.0"][0])).max() > 0.01  # the siblings do move it


def _time_floor(predictor, frame: pd.DataFrame) -> float:
    """The first row's physical floor on its time per query, s (the invariants' own)."""
    from recommender.model.invariants import time_floor_s

    cf = predictor._candidate_frame(frame)
    return float(time_floor_s(cf, predictor._features.columns(cf))[0])


def replace_config(predictor, stages):
    from dataclasses import replace

    return replace(predictor, config=PipelineConfig.without_stages(stages))


def _measured_at(table: pd.DataFrame, platform: str, batch: int, column: str) -> float:
    m = table[(table["platform"] == platform) & (table["engine"] == "vllm") & (table["model_id"] == CELL["model_id"])
              & (table["quantization"] == "fp16") & (table["workload"] == "chat") & (table["batch_size"] == batch)]
    return float(m[column].mean())


def test_a_release_past_the_measured_ones_reads_its_nearest_measured_release() -> None:
    import pandas as pd

    from recommender.model.adjust.anchor import past_measured_as_nearest

    cf = pd.DataFrame({"engine_release": pd.Categorical(["vllm@0.12", "vllm@0.4", "vllm@0.8", "vllm@0.11", "hf-transformers"])})
    out = past_measured_as_nearest(cf, {"vllm@0.5", "vllm@0.11", "hf-transformers"})
    # Newer than every measured: the newest; older: the oldest; between or measured: as asked.
    assert out["engine_release"].astype(str).tolist() == ["vllm@0.11", "vllm@0.5", "vllm@0.8", "vllm@0.11", "hf-transformers"]
    same = pd.DataFrame({"engine_release": pd.Categorical(["vllm@0.8", "vllm@0.11"])})
    assert past_measured_as_nearest(same, {"vllm@0.5", "vllm@0.11"}) is same
