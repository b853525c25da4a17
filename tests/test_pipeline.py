"""The pipeline's stages: switches in one config, saved with the model, ablations through evaluate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import test_regressor_fixtures as fx
from recommender.errors import UnknownNameError
from recommender.model.config import FIT_STAGES, PREDICT_STAGES, STAGES, PipelineConfig
from recommender.model.predictor import EaiPredictor, fit_predictor


@pytest.fixture(scope="module")
def cats():
    return fx.catalogs()


def test_every_stage_is_a_fit_or_a_predict_stage_and_unknown_names_get_suggestions():
    assert set(FIT_STAGES) | set(PREDICT_STAGES) == set(STAGES)
    assert not set(FIT_STAGES) & set(PREDICT_STAGES)
    with pytest.raises(UnknownNameError, match="did you mean 'smoother'"):
        PipelineConfig.without_stages(["smoothr"])


def test_switches_travel_with_the_saved_state_and_change_predictions(cats):
    table, acc = fx.measured_table(), fx.accuracy_table()
    off = fit_predictor(table, acc, cats, calibrate=False, config=PipelineConfig.without_stages(["smoother", "twins"]))
    assert off.components["e_dec"].smoother is None
    back = EaiPredictor.from_state(off.to_state(), cats)
    assert back.config.without == frozenset({"smoother", "twins"})
    on = fit_predictor(table, acc, cats, calibrate=False)
    assert on.components["e_dec"].smoother is not None and on.config == PipelineConfig()
    cand = pd.DataFrame([{"platform": p, "device_count": 1, "engine": "hf-transformers", "model_id": m,
                          "quantization": "fp16", "batch_size": 1, "task": "chat"} for p in ("gpu-a", "gpu-b", "gpu-c") for m in ("toy/m3", "toy/m13")])
    a = on.predict_components(cand)["e_dec"].to_numpy()
    b = back.predict_components(cand)["e_dec"].to_numpy()
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and not np.allclose(a, b)


def test_predict_stage_ablations_reuse_each_folds_fit_and_fit_stages_are_refused(cats):
    from recommender.model.evaluate import evaluate

    table = fx.measured_table()
    report = evaluate(table, fx.accuracy_table(), cats, ("platform",),
                      predict_variants={"twins": PipelineConfig.without_stages(["twins"])})
    v = report["variants"]["twins"]["platform"]
    base = report["splits"]["platform"]
    assert v["energy_j_per_query"]["n"] == base["energy_j_per_query"]["model"]["n"] > 0
    with pytest.raises(ValueError, match="fit-time stages"):
        evaluate(table, fx.accuracy_table(), cats, ("platform",), predict_variants={"x": PipelineConfig.without_stages(["smoother"])})


def test_eai_evaluate_without_a_stage_reports_it_and_stores_nothing(tmp_path, capsys):
    import json

    from pathlib import Path

    from recommender.cli import main

    # The CLI reads the shipped catalogs: a slice of the shipped table (ML.ENERGY v1, 3 GPUs).
    shipped = Path(__file__).resolve().parents[1] / "data" / "measured.csv"
    import csv

    lines = shipped.read_text().splitlines()
    source_col = next(csv.reader([lines[0]])).index("source")
    keep = [ln for ln in lines[1:] if next(csv.reader([ln]))[source_col] == "mlenergy-v1"]
    assert len(keep) > 100
    tpath = tmp_path / "measured.csv"
    tpath.write_text("\n".join([lines[0], *keep]) + "\n")
    code = main(["evaluate", "--table", str(tpath), "--accuracy", str(tmp_path / "none.csv"), "--split", "platform",
                 "--without", "twins", "--without", "smoother", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    assert code == 0 and out["without"] == ["smoother", "twins"]
    assert out["splits"]["platform"]["energy_j_per_query"]["model"]["n"] > 0
    assert not (tmp_path / "evaluation.json").exists()
    assert main(["evaluate", "--table", str(tpath), "--without", "twin"]) == 2
    assert "did you mean 'twins'" in capsys.readouterr().err
    assert main(["evaluate", "--table", str(tpath), "--by", "sources"]) == 2
    assert "did you mean 'source'" in capsys.readouterr().err


def test_components_predicted_only_where_a_query_uses_them_give_the_same_parts(cats):
    """A generation query reads the decode parts, a log-likelihood query the prefill parts; the
    pipeline predicts each component on those rows only, with the same result there."""
    from recommender.model import pipeline

    model = fit_predictor(fx.measured_table(), fx.accuracy_table(), cats, calibrate=False)
    cand = pd.DataFrame([{"platform": p, "device_count": 1, "engine": "hf-transformers", "model_id": m, "quantization": "fp16",
                          "batch_size": b, "task": t}
                         for p in ("gpu-a", "gpu-b", "gpu-c") for m in ("toy/m3", "toy/m13") for b in (1, 8) for t in ("chat", "mmlu")])
    cf = model._candidate_frame(cand)
    feats = model._features.columns(cf)
    full, _ = pipeline.predict_parts(model, cf, feats)
    some, _ = pipeline.predict_parts(model, cf, feats, only_needed=True)
    need = pipeline.needed_rows(cf)
    assert need["e_dec"].any() and need["e_pre"].any()
    for name, rows in need.items():
        np.testing.assert_array_equal(some[name].point[rows], full[name].point[rows])
        np.testing.assert_array_equal(some[name].log_half[rows], full[name].log_half[rows])
        np.testing.assert_array_equal(some[name].reason_bits[rows], full[name].reason_bits[rows])
        assert np.all(some[name].point[~rows] == 1.0)  # placeholders a query multiplies by zero tokens


def test_a_zero_score_keeps_a_finite_eor_interval(cats, monkeypatch):
    # GSM8K of a model that never answers: the point score is 0, its upper end is not.
    table, acc = fx.measured_table(), fx.accuracy_table()
    p = fit_predictor(table, acc, cats)
    frame = pd.DataFrame({"platform": ["gpu-a"], "device_count": [1], "engine": ["vllm"], "model_id": ["toy/m7"],
                          "quantization": ["fp16"], "batch_size": [8], "task": ["gsm8k"]})

    real = p._predict_accuracy

    def zero(cf, feats):
        return real(cf, feats).assign(accuracy=0.0, accuracy_lo=0.0, accuracy_hi=0.01)

    monkeypatch.setattr(p, "_predict_accuracy", zero)
    out = p.predict(frame, use_measured=False)
    assert out["eor"].iloc[0] == 0.0 and out["eor_lo"].iloc[0] == 0.0
    e_lo, t_lo = out["energy_j_per_query_lo"].iloc[0], out["time_s_per_query_lo"].iloc[0]
    assert out["eor_hi"].iloc[0] == pytest.approx(0.01 * 360.0 / e_lo)
    assert out["tweor_hi"].iloc[0] == pytest.approx(0.01 * 360.0 / e_lo / t_lo)
