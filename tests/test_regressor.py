"""Regressor: sklearn conventions, measured rows, extrapolation flags, staleness, task profiles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.errors import InvalidInputError, ModelStateError, UnknownNameError
from recommender.model.api import PREDICTION_COLUMNS
from recommender.model.estimator import InteractionExpander, LogRatioRegressor
from recommender.model.linear import LinearLogModel
from recommender.model.component import REASONS as REASONS_ALL
from recommender.model.predictor import EaiPredictor, fit_predictor
import test_regressor_fixtures as fx


@pytest.fixture(scope="module")
def cats():
    return fx.catalogs()


@pytest.fixture(scope="module")
def table():
    return fx.measured_table()


@pytest.fixture(scope="module")
def predictor(table, cats) -> EaiPredictor:
    return fit_predictor(table, fx.accuracy_table(), cats, data_hash="x" * 64)


def _cand(**over):
    base = {"platform": "gpu-b", "device_count": 1, "engine": "hf-transformers", "model_id": "toy/m7",
            "quantization": "fp16", "batch_size": 1, "task": "chat"}
    base.update(over)
    return pd.DataFrame([base])


# --- estimator conventions ---------------------------------------------------------------


def _xy(n: int = 80, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["x", "y"], n),
                      "prior": np.exp(rng.normal(size=n))})
    y = X["prior"] * np.exp(0.5 * X["a"] - 0.3 * X["b"] + 0.2 * (X["c"] == "x") + rng.normal(0, 0.01, n))
    return X, y.to_numpy()


def test_estimator_sklearn_checks():
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.estimator_checks import (
        check_get_params_invariance,
        check_no_attributes_set_in_init,
        check_set_params,
    )

    est = LogRatioRegressor(prior_column="prior", categorical_features=("c",))
    check_no_attributes_set_in_init("LogRatioRegressor", est)
    check_get_params_invariance("LogRatioRegressor", est)
    check_set_params("LogRatioRegressor", est)
    check_no_attributes_set_in_init("InteractionExpander", InteractionExpander("c", ("a",)))
    X, y = _xy()
    with pytest.raises(NotFittedError):
        est.predict(X)
    fitted = clone(est).fit(X, y)
    assert hasattr(fitted, "pipeline_") and not hasattr(est, "pipeline_")
    assert fitted.n_features_in_ == X.shape[1]
    np.testing.assert_allclose(fitted.predict(X), y, rtol=0.05)
    # Fitting twice gives the same model (idempotent), and numpy input works with an int prior column.
    np.testing.assert_allclose(clone(est).fit(X, y).predict(X), fitted.predict(X))
    arr = X[["a", "b", "prior"]].to_numpy()
    num = LogRatioRegressor(prior_column=2).fit(arr, y)
    assert num.predict(arr).shape == (len(y),)
    with pytest.raises(ValueError):
        num.predict(arr[:, :2])
    with pytest.raises(ValueError):
        clone(est).fit(X, -y)


def test_penalty_chosen_on_held_out_groups_resists_group_texture():
    """Rows in near-duplicate groups (one deployment at several batches) with a shared offset per
    group: leave-one-out rewards fitting that offset through spurious features, holding out whole
    groups does not."""
    from sklearn.linear_model import Ridge

    from recommender.model.estimator import grouped_alpha

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(12), 15)
    texture = rng.normal(size=(12, 8))[groups] + 0.01 * rng.normal(size=(len(groups), 8))
    signal = rng.normal(size=len(groups))
    X = pd.DataFrame(texture, columns=[f"t{i}" for i in range(8)]).assign(s=signal, prior=1.0)
    y = np.exp(0.5 * signal + rng.normal(scale=0.6, size=12)[groups] + 0.01 * rng.normal(size=len(groups)))
    loo = LogRatioRegressor(prior_column="prior").fit(X, y)
    held = LogRatioRegressor(prior_column="prior").fit(X, y, groups=groups)
    alpha_loo = loo.pipeline_.named_steps["ridge"].alpha_
    alpha_grouped = held.pipeline_.named_steps["ridge"].alpha
    assert alpha_loo <= 1.0 and alpha_grouped >= 10 * alpha_loo, (alpha_loo, alpha_grouped)
    # The grouped choice predicts unseen groups better than the leave-one-out one.
    z, t = X.drop(columns="prior").to_numpy(), np.log(y)
    errs = {}
    for alpha in (alpha_loo, alpha_grouped):
        err = 0.0
        for g in range(12):
            tr, te = groups != g, groups == g
            fit = Ridge(alpha=alpha).fit((z[tr] - z[tr].mean(0)) / z[tr].std(0), t[tr])
            err += float(np.sum((fit.predict((z[te] - z[tr].mean(0)) / z[tr].std(0)) - t[te]) ** 2))
        errs[alpha] = err
    assert errs[alpha_grouped] < errs[alpha_loo]
    # Fewer than three groups: no grouped choice (leave-one-out decides).
    assert grouped_alpha(z, t, np.repeat([0, 1], 90), (0.1, 1.0)) is None


def test_linear_export_matches_pipeline_with_interactions():
    X, y = _xy(120, seed=3)
    est = LogRatioRegressor(prior_column="prior", numeric_features=("a", "b"), categorical_features=("c",),
                            interactions=(("c", ("a", "b")),)).fit(X, y)
    state = json.loads(json.dumps(est.export_linear()))  # survives JSON
    np.testing.assert_allclose(LinearLogModel(state).predict(X), est.predict(X), rtol=1e-10)


def test_a_measured_cell_is_returned_only_for_its_own_release_and_prompts(predictor, table):
    cand = table[["platform", "device_count", "engine", "model_id", "quantization", "batch_size", "workload"]].rename(
        columns={"workload": "task"})
    assert (predictor.predict(cand)["status"] == "measured").all()
    # The fixture's rows state no release: they ran at *some* release, which a named one may be
    # (a release other than a cell's own is not that cell: tests/shipped, vLLM 0.5.4 on an H100).
    named = predictor.predict(cand.assign(engine_version="0.11.1"))
    assert (named["status"] == "measured").all()
    # A row stating its own prompt length asks for that profile, not the cell's workload mix,
    # whatever the length; the output length alone is carried per output token.
    own_prompt = predictor.predict(cand.assign(prompt_tokens_mean=512.0))
    assert (own_prompt["status"] != "measured").all()
    own_output = predictor.predict(cand.assign(output_tokens_mean=table["output_tokens_mean"].to_numpy() * 2.0))
    generated = table["output_tokens_mean"].notna().to_numpy() & (table["output_tokens_mean"].fillna(0) > 0).to_numpy()
    assert (own_output.loc[generated, "status"] == "measured").all()
    np.testing.assert_allclose(own_output.loc[generated, "energy_j_per_query"], 2.0 * table.loc[generated, "energy_j_per_query"], rtol=1e-9)


def test_malformed_linear_state_is_a_model_state_error():
    with pytest.raises(ModelStateError):
        LinearLogModel({"intercept": 0.0})


# --- predictor behaviour -------------------------------------------------------------------


def test_a_measured_rows_queries_in_flight_agree_with_its_measured_power(table, cats):
    # A server's row whose energy per query, latency and mean power imply fewer requests in flight
    # than its batch (a KV-limited or draining server): its mean power, energy x in-flight /
    # latency, is the one it measured, not the batch's.
    t = table.copy()
    row = int(np.flatnonzero(t["batch_size"].to_numpy() > 1)[0])
    stated = 0.8 * float(t["batch_size"].iloc[row])
    t["power_w_mean"] = np.nan
    t.loc[t.index[row], "power_w_mean"] = stated * float(t["energy_j_per_query"].iloc[row]) / float(t["time_s_per_query"].iloc[row])
    model = fit_predictor(t, fx.accuracy_table(), cats, data_hash="x" * 64)
    cand = t[["platform", "device_count", "engine", "model_id", "quantization", "batch_size", "workload"]].rename(columns={"workload": "task"})
    out = model.predict(cand)
    assert out["status"].iloc[row] == "measured"
    assert out["queries_in_flight"].iloc[row] == pytest.approx(stated, rel=1e-9)
    # Rows that state no power keep the in-flight count their batch implies.
    other = int(np.flatnonzero((t["batch_size"].to_numpy() > 1) & (np.arange(len(t)) != row))[0])
    assert out["queries_in_flight"].iloc[other] == pytest.approx(
        model.predict(cand.iloc[[other]], use_measured=False)["queries_in_flight"].iloc[0], rel=1e-9)
    # A row stating its token throughput instead: its completion rate (tokens per second over
    # tokens per query) times its latency.
    rate = 0.6 * float(t["batch_size"].iloc[other]) / float(t["time_s_per_query"].iloc[other])
    t2 = t.assign(throughput_tokens_per_s=np.nan)
    t2.loc[t2.index[other], "throughput_tokens_per_s"] = rate * float(t2["output_tokens_mean"].iloc[other])
    out2 = fit_predictor(t2, fx.accuracy_table(), cats, data_hash="x" * 64).predict(cand)
    assert out2["queries_in_flight"].iloc[other] == pytest.approx(0.6 * float(t["batch_size"].iloc[other]), rel=1e-9)


def test_prediction_columns_and_measured_rows_return_measurement(predictor, table):
    cand = table[["platform", "device_count", "engine", "model_id", "quantization", "batch_size", "workload"]].rename(
        columns={"workload": "task"})
    out = predictor.predict(cand)
    assert list(out.columns) == list(PREDICTION_COLUMNS)
    assert (out["status"] == "measured").all()
    np.testing.assert_allclose(out["energy_j_per_query"], table["energy_j_per_query"], rtol=1e-12)
    np.testing.assert_allclose(out["time_s_per_query"], table["time_s_per_query"], rtol=1e-12)
    scored = table["accuracy"].notna().to_numpy()
    np.testing.assert_allclose(out.loc[scored, "accuracy"], table.loc[scored, "accuracy"], rtol=1e-12)
    assert (out.loc[scored, "accuracy_status"] == "measured").all()
    # The same rows without the lookup and the anchor are model predictions (not bit-identical).
    from dataclasses import replace

    from recommender.model.config import PipelineConfig

    model_only = replace(predictor, config=PipelineConfig.without_stages(["anchor"])).predict(cand, use_measured=False)
    assert not np.allclose(model_only["energy_j_per_query"], table["energy_j_per_query"], rtol=1e-9)


def test_unseen_platform_is_extrapolated_with_wider_interval(predictor):
    # Batch 16: inside the batches vLLM was measured at (8 and 64), so only the platform is new.
    seen = predictor.predict(_cand(platform="gpu-c", model_id="toy/m7", quantization="fp16", batch_size=16, engine="vllm"))
    unseen = predictor.predict(_cand(platform="gpu-new", model_id="toy/m7", quantization="fp16", batch_size=16, engine="vllm"))
    assert seen["status"].iloc[0] == "interpolated"
    assert unseen["status"].iloc[0] == "extrapolated"
    assert "platform-unseen" in unseen["extrapolated_reasons"].iloc[0].split(";")

    def rel_width(r):
        return float(np.log(r["energy_j_per_query_hi"].iloc[0] / r["energy_j_per_query_lo"].iloc[0]))

    assert rel_width(unseen) > rel_width(seen)


def test_size_outside_and_unknown_names(predictor):
    big = predictor.predict(_cand(model_id="toy/m30"))
    assert "size-outside" in big["extrapolated_reasons"].iloc[0]
    with pytest.raises(UnknownNameError):
        predictor.predict(_cand(platform="no-such-gpu"))
    with pytest.raises(InvalidInputError):
        predictor.predict(_cand(batch_size=0))
    with pytest.raises(InvalidInputError):
        predictor.predict(_cand().drop(columns=["engine"]))


def test_multiple_choice_and_generation_cost_differently(predictor):
    mc = predictor.predict(_cand(task="mmlu"))
    gen = predictor.predict(_cand(task="gsm8k"))
    assert mc["energy_j_per_query"].iloc[0] != pytest.approx(gen["energy_j_per_query"].iloc[0], rel=0.05)
    # Composition: MC = prompt tokens x choices x e_pre; generation = output tokens x e_dec,
    # where e_dec depends on the prompt length through the features.
    comps = predictor.predict_components(_cand(task="mmlu"))
    assert mc["energy_j_per_query"].iloc[0] == pytest.approx(600 * 4 * comps["e_pre"].iloc[0], rel=1e-9)
    comps_g = predictor.predict_components(_cand(task="gsm8k"))
    assert gen["energy_j_per_query"].iloc[0] == pytest.approx(150 * comps_g["e_dec"].iloc[0], rel=1e-9)
    assert gen["time_s_per_query"].iloc[0] == pytest.approx(150 * comps_g["t_dec"].iloc[0], rel=1e-9)
    # A token-profile override changes the energy proportionally for a generation-only profile.
    one = predictor.predict(_cand(task="chat", platform="gpu-new").assign(prompt_tokens_mean=0.0, output_tokens_mean=100.0))
    two = predictor.predict(_cand(task="chat", platform="gpu-new").assign(prompt_tokens_mean=0.0, output_tokens_mean=200.0))
    assert two["energy_j_per_query"].iloc[0] == pytest.approx(2 * one["energy_j_per_query"].iloc[0], rel=0.05)


def test_log_likelihood_cost_follows_forward_passes(predictor):
    # The toy mmlu states no answer length: one pass per choice (600 x 4 positions fed).
    four = predictor.predict(_cand(task="mmlu"))["energy_j_per_query"].iloc[0]
    # One-token answers share one pass (lm-eval's logits cache): a quarter of the positions,
    # each pass as long as before, so exactly a quarter of the energy.
    one = predictor.predict(_cand(task="mmlu").assign(forward_passes_mean=1.0))["energy_j_per_query"].iloc[0]
    assert one == pytest.approx(four / 4, rel=1e-9)
    # The same positions cut into four short passes cost more than one long pass: each pass
    # reads every weight once.
    split = predictor.predict(_cand(task="mmlu", platform="gpu-new").assign(fed_tokens_mean=64.0, forward_passes_mean=4.0))
    whole = predictor.predict(_cand(task="mmlu", platform="gpu-new").assign(fed_tokens_mean=64.0, forward_passes_mean=1.0))
    assert split["energy_j_per_query"].iloc[0] > 1.5 * whole["energy_j_per_query"].iloc[0]


def test_measured_fed_tokens_drive_log_likelihood_targets(cats):
    from recommender.model.features import Catalogs
    from recommender.model.predictor import prepare_table
    from recommender.table import load_table
    from recommender.table.io import DEFAULT_TABLE

    prep = prepare_table(load_table(DEFAULT_TABLE), Catalogs.load())
    prof = prep[prep["source"] == "eai-profiler"]
    mc = prof[prof["y_e_pre"].notna()]
    assert len(mc) > 0
    # Per-position targets divide by the positions the profiler counted, not by the prompt.
    assert (mc["fed_tokens"] == mc["fed_tokens_mean"]).all()
    assert np.allclose(mc["y_e_pre"], mc["energy_j_per_query"] / mc["fed_tokens_mean"])
    # One pass for MMLU (one-token answers), four for ARC.
    assert set(mc.loc[mc["task"] == "mmlu", "passes"]) == {1.0}
    assert set(mc.loc[mc["task"] == "arc_challenge", "passes"]) == {4.0}
    arc = mc[mc["task"] == "arc_challenge"]
    assert np.allclose(arc["pass_tokens"], arc["fed_tokens_mean"] / 4)


def test_bigger_model_costs_more(predictor):
    sizes = ["toy/m1", "toy/m3", "toy/m7", "toy/m13", "toy/m30"]
    cands = pd.concat([_cand(platform="gpu-new", model_id=m, task="gsm8k") for m in sizes], ignore_index=True)
    energy = predictor.predict(cands)["energy_j_per_query"].to_numpy()
    assert np.all(np.diff(energy) > 0), energy
    prior = predictor.predict_components(cands)["prior_e_dec"].to_numpy()
    assert np.all(np.diff(prior) > 0)


def test_eor_and_tweor_follow_their_definitions(predictor):
    out = predictor.predict(_cand(task="mmlu"))
    r = out.iloc[0]
    assert r["eor"] == pytest.approx(r["accuracy"] * 100 / (r["energy_j_per_query"] * 1000 / 3600))
    assert r["tweor"] == pytest.approx(r["eor"] / r["time_s_per_query"])
    assert r["eor_lo"] <= r["eor"] <= r["eor_hi"]
    assert r["tweor_lo"] <= r["tweor"] <= r["tweor_hi"]


def test_accuracy_statuses(predictor):
    # Measured pairs (1.1B and 3B models) give the int8 effect (-0.015 on average). m7 has a
    # leaderboard score (16-bit): measured at fp16; at int8 the effect is applied to it: imputed
    # (issue 17 vocabulary), with the pairs' spread widening the interval.
    m7 = predictor.predict(pd.concat([_cand(task="mmlu"), _cand(task="mmlu", quantization="int8-bnb")], ignore_index=True))
    assert list(m7["accuracy_status"]) == ["measured", "imputed"]
    assert m7["accuracy"].iloc[0] == pytest.approx(0.55)
    assert m7["accuracy"].iloc[1] == pytest.approx(0.55 - 0.015, abs=1e-9)
    assert "int8-bnb effect" in m7["accuracy_basis"].iloc[1]
    widths = (m7["accuracy_hi"] - m7["accuracy_lo"]).to_numpy()
    assert widths[1] > widths[0]
    # bf16 of a model measured at fp16: the leaderboard's 16-bit score is its measurement.
    m3 = predictor.predict(_cand(task="mmlu", model_id="toy/m3", quantization="bf16"))
    assert m3["accuracy_status"].iloc[0] == "measured"
    assert m3["accuracy"].iloc[0] == pytest.approx(0.45)
    none = predictor.predict(_cand(task="mmlu", model_id="toy/m30"))
    assert none["accuracy_status"].iloc[0] == "prior" and none["accuracy_basis"].iloc[0].startswith("prior")
    assert none["accuracy_hi"].iloc[0] - none["accuracy_lo"].iloc[0] > 0.05
    gsm = predictor.predict(_cand(task="gsm8k", model_id="toy/m30"))
    assert gsm["accuracy_status"].iloc[0] == "prior"
    assert gsm["accuracy_lo"].iloc[0] == 0.0 and gsm["accuracy_hi"].iloc[0] == 1.0
    chat = predictor.predict(_cand(task="chat"))
    assert np.isnan(chat["accuracy"].iloc[0]) and np.isnan(chat["eor"].iloc[0])


def test_state_round_trip(predictor, cats):
    state = json.loads(json.dumps(predictor.to_state()))
    again = EaiPredictor.from_state(state, cats)
    cands = pd.concat([_cand(task=t, platform=p) for t in ("mmlu", "gsm8k", "chat") for p in ("gpu-a", "gpu-new")], ignore_index=True)
    pd.testing.assert_frame_equal(again.predict(cands), predictor.predict(cands))


# --- storage and staleness -----------------------------------------------------------------


def _write_tables(tmp_path: Path, table: pd.DataFrame) -> tuple[Path, Path]:
    from recommender.table.schema import MeasuredRow

    rows = [MeasuredRow.model_validate({k: v for k, v in r.items() if not (isinstance(v, float) and np.isnan(v)) and v is not None})
            for r in table.to_dict("records")]
    tpath = tmp_path / "measured.csv"
    from recommender.table.io import write_table

    write_table(rows, tpath)
    apath = tmp_path / "accuracy.csv"
    fx.accuracy_table().to_csv(apath, index=False)
    return tpath, apath


def test_stale_model_refuses_or_refits(tmp_path, table, cats):
    from recommender.model.store import fit_from_files, load_predictor, save_predictor
    from recommender.table import table_hash

    tpath, apath = _write_tables(tmp_path, table)
    mdir = tmp_path / "models"
    p = fit_from_files(tpath, apath, cats)
    save_predictor(p, mdir)
    manifest = json.loads((mdir / "manifest.json").read_text())
    assert manifest["data_hash"] == table_hash(tpath)
    assert {"numpy", "pandas", "scikit-learn", "python"} <= set(manifest["versions"])
    # Fresh: loads without refitting and predicts identically.
    loaded = load_predictor(tpath, mdir, on_stale="refuse", accuracy_path=apath, catalogs=cats)
    pd.testing.assert_frame_equal(loaded.predict(_cand()), p.predict(_cand()))
    # Change the table: refuse raises, refit refits on the new data.
    text = tpath.read_text().splitlines()
    tpath.write_text("\n".join(text[:-1]) + "\n")
    with pytest.raises(ModelStateError, match="stale"):
        load_predictor(tpath, mdir, on_stale="refuse", accuracy_path=apath, catalogs=cats)
    refit = load_predictor(tpath, mdir, on_stale="refit", accuracy_path=apath, catalogs=cats)
    assert refit.data_hash == table_hash(tpath) != p.data_hash
    # ... and saved it, so a later refuse-mode load succeeds.
    assert load_predictor(tpath, mdir, on_stale="refuse", accuracy_path=apath, catalogs=cats).data_hash == refit.data_hash


def test_missing_model_dir_refuse(tmp_path, table, cats):
    from recommender.model.store import load_predictor

    tpath, apath = _write_tables(tmp_path, table)
    with pytest.raises(ModelStateError):
        load_predictor(tpath, tmp_path / "nothing", on_stale="refuse", accuracy_path=apath, catalogs=cats)
    with pytest.raises(ModelStateError):
        load_predictor(tpath, tmp_path / "nothing", on_stale="sometimes", accuracy_path=apath, catalogs=cats)  # type: ignore[arg-type]


def test_public_entry_points_are_lazy_and_light():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import recommender.model as m\n"
        "assert callable(m.load_predictor) and callable(m.load_evaluation) and callable(m.fit_from_files)\n"
        "print(','.join(x for x in ('sklearn', 'scipy', 'torch', 'transformers', 'pynvml', 'skops') if x in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_stored_evaluation_must_match_the_table(tmp_path, table):
    from recommender.model.evaluate import EVALUATION_FILE, load_evaluation

    tpath, _ = _write_tables(tmp_path, table)
    with pytest.raises(ModelStateError):
        load_evaluation(tpath, tmp_path)
    (tmp_path / EVALUATION_FILE).write_text(json.dumps({"data_hash": "0" * 64, "splits": {}}))
    with pytest.raises(ModelStateError, match="another table"):
        load_evaluation(tpath, tmp_path)


def test_evaluate_reports_model_and_baselines(table, cats):
    from recommender.model.evaluate import METHODS, evaluate, format_report

    report = evaluate(table, fx.accuracy_table(), cats, splits=("platform",))
    block = report["splits"]["platform"]
    assert block["groups"] == 4
    for method in METHODS:
        r = block["energy_j_per_query"][method]
        assert r["n"] == len(table)
        assert 0.0 <= r["coverage_90_pct"] <= 100.0 and r["median_ape_pct"] >= 0.0
    # EOR rows are the scored ones (measured accuracy and energy).
    assert block["eor"]["model"]["n"] == int(table["accuracy"].notna().sum())
    # On data generated from a roofline-like law the model beats the one-constant roofline.
    assert block["energy_j_per_output_token"]["model"]["median_ape_pct"] < block["energy_j_per_output_token"]["roofline"]["median_ape_pct"]
    assert "leave-one-platform-out" in format_report(report)
    # Held-out points for parity plots: one per scored row, the measurement itself as "measured".
    pts = block["predictions"]["energy_j_per_query"]
    assert len(pts["measured"]) == len(pts["predicted"]) == len(pts["lo"]) == len(pts["platform"]) == len(table)
    assert sorted(pts["measured"]) == pytest.approx(sorted(table["energy_j_per_query"]), rel=1e-4)
    assert all(lo <= p <= hi for lo, p, hi in zip(pts["lo"], pts["predicted"], pts["hi"], strict=True))
    assert len(block["predictions"]["eor"]["measured"]) == int(table["accuracy"].notna().sum())
    from recommender.model.evaluate import format_breakdown, summary_only

    assert "predictions" not in summary_only(report)["splits"]["platform"]
    # The same errors broken down: the groups partition the rows, and the whole split's
    # coverage is the row-weighted mean of theirs.
    by = block["by"]["platform"]["energy_j_per_query"]
    assert set(by) == set(table["platform"]) and sum(g["n"] for g in by.values()) == len(table)
    weighted = sum(g["n"] * g["coverage_90_pct"] for g in by.values()) / len(table)
    assert weighted == pytest.approx(block["energy_j_per_query"]["model"]["coverage_90_pct"])
    assert all(g["median_ratio"] > 0 for g in by.values())
    text = format_breakdown(report, "engine")
    assert "by engine" in text and all(e in text for e in set(table["engine"]))


def test_cpu_rows_do_not_bend_the_accelerator_model(table, cats, predictor):
    cpu_rows = table[table["platform"] == "gpu-a"].head(3).copy()
    cpu_rows["platform"] = "cpu-x"
    cpu_rows["engine"] = "hf-transformers"
    # CPU decode is ~40x slower per token than the law the GPU rows follow.
    cpu_rows["energy_j_per_output_token"] *= 40
    cpu_rows["energy_j_per_query"] *= 40
    with_cpu = fit_predictor(pd.concat([table, cpu_rows], ignore_index=True), fx.accuracy_table(), cats)
    assert with_cpu.components["e_dec"].cpu_model is not None
    gpu = _cand(platform="gpu-new", batch_size=4, engine="vllm")
    np.testing.assert_allclose(
        with_cpu.predict(gpu)["energy_j_per_query"], predictor.predict(gpu)["energy_j_per_query"], rtol=0.05
    )
    cpu = with_cpu.predict_components(_cand(platform="cpu-x", model_id="toy/m3"))
    ratio = cpu["e_dec"].iloc[0] / cpu["prior_e_dec"].iloc[0]
    own = (cpu_rows["energy_j_per_output_token"] / with_cpu.predict_components(
        cpu_rows[["platform", "device_count", "engine", "model_id", "quantization", "batch_size", "workload"]]
        .rename(columns={"workload": "task"}).assign(output_tokens_mean=250.0, prompt_tokens_mean=150.0)
    )["prior_e_dec"].to_numpy()).to_numpy()
    assert np.min(own) * 0.99 <= ratio <= np.max(own) * 1.01


def test_interval_widths_are_calibrated_per_engine_regime(table, cats):
    # vLLM rows get 40% extra log noise, HF rows keep 5%: one pooled width would be too wide
    # for HF and too narrow for vLLM; the Mondrian widths follow each regime.
    noisy = table.copy()
    rng = np.random.default_rng(3)
    is_vllm = (noisy["engine"] == "vllm").to_numpy()
    factor = np.where(is_vllm, np.exp(rng.normal(0.0, 0.4, len(noisy))), 1.0)
    for col in ("energy_j_per_output_token", "energy_j_per_query"):
        noisy[col] = noisy[col] * factor
    fitted = fit_predictor(noisy, fx.accuracy_table(), cats)
    comp = fitted.components["e_dec"]
    assert comp.regime_widths is not None and {"hf-transformers", "vllm"} <= set(comp.regime_widths)
    hf, vllm = comp.regime_widths["hf-transformers"], comp.regime_widths["vllm"]
    assert hf["cell"] < comp.widths["cell"] < vllm["cell"]
    # Four models and four platforms are too few held-out groups to narrow a regime's width
    # under the model and platform schemes (the noisy regime may still widen).
    assert hf["model"] == comp.widths["model"] < vllm["model"]
    assert hf["platform"] == comp.widths["platform"] <= vllm["platform"]
    comps = fitted.predict_components(pd.concat([_cand(engine="hf-transformers"), _cand(engine="vllm", batch_size=8)]))
    half = comps["e_dec_halfwidth"].to_numpy()
    assert half[0] == pytest.approx(hf["cell"]) and half[1] == pytest.approx(vllm["cell"])
    # The widths survive the JSON round trip.
    again = EaiPredictor.from_state(json.loads(json.dumps(fitted.to_state())), cats)
    assert again.components["e_dec"].regime_widths == comp.regime_widths


def test_platform_and_format_measured_apart_is_a_format_novelty(table, cats):
    # gpu-b keeps its fp16 rows and int8 keeps its other GPUs, but int8 on gpu-b was never measured.
    apart = table[~((table["platform"] == "gpu-b") & (table["quantization"] == "int8-bnb"))]
    fitted = fit_predictor(apart, fx.accuracy_table(), cats)
    res = fitted.predict(pd.concat([_cand(quantization="int8-bnb"), _cand(), _cand(platform="gpu-a", quantization="int8-bnb"),
                                    _cand(platform="gpu-new", quantization="int8-bnb")]), use_measured=False)
    reasons = [r.split(";") for r in res["extrapolated_reasons"].astype(str)]
    assert "format-unseen" in reasons[0] and res["status"].iloc[0] == "extrapolated"
    assert "format-unseen" not in reasons[1] and "format-unseen" not in reasons[2]
    # A new platform is a platform novelty, not (also) a format one.
    assert "platform-unseen" in reasons[3] and "format-unseen" not in reasons[3]
    # It takes the width of a format never measured, and labels only: the point is the full
    # model's, never blended toward the roofline.
    comp = fitted.components["e_dec"]
    assert comp.simple["weights"]["format-unseen"] == 1.0
    comps = fitted.predict_components(pd.concat([_cand(quantization="int8-bnb"), _cand(platform="gpu-a", quantization="int8-bnb")]))
    half = comps["e_dec_halfwidth"].to_numpy()
    widths = (comp.regime_widths or {}).get("hf-transformers", comp.widths)
    assert half[0] == pytest.approx(widths["quantization"]) and half[0] > half[1]


def test_evaluate_format_split_holds_out_a_format_on_a_gpu_that_ran_others(table, cats):
    from recommender.model.evaluate import evaluate, split_groups

    uneven = table[~((table["platform"] == "gpu-d") & (table["quantization"] == "int8-bnb"))].reset_index(drop=True)
    groups = split_groups("format", uneven)
    on_d = (uneven["platform"] == "gpu-d").to_numpy()
    # gpu-d ran one format: the split never holds its rows out (that is leave-one-platform-out).
    assert (groups[on_d] == "").all() and (groups[~on_d] != "").all()
    assert set(groups[~on_d]) == {f"gpu-{p}|{q}" for p in "abc" for q in ("fp16", "int8-bnb")}
    report = evaluate(uneven, fx.accuracy_table(), cats, splits=("format",))
    block = report["splits"]["format"]
    assert block["groups"] == 6
    pts = block["predictions"]["energy_j_per_query"]
    assert len(pts["measured"]) == int((~on_d).sum())
    # Each held-out pair was measured on no other row of its GPU: every one is labelled so.
    assert block["status_counts"] == {"extrapolated": int((~on_d).sum())}


def test_evaluate_devices_split_holds_out_larger_device_counts_of_a_deployment(table, cats):
    from recommender.model.evaluate import evaluate, format_report, split_groups

    # toy/m7 under vLLM on gpu-a measured again on two and four devices (every batch).
    one = table[(table["platform"] == "gpu-a") & (table["model_id"] == "toy/m7") & (table["engine"] == "vllm")]
    more = [one.assign(device_count=n, energy_j_per_query=one["energy_j_per_query"] * (1 + 0.4 * k),
                       time_s_per_query=one["time_s_per_query"] * (1 - 0.2 * k),
                       source_ref=one["source_ref"] + f":tp{n}") for k, n in ((1, 2), (2, 4))]
    scaled = pd.concat([table, *more], ignore_index=True)
    groups = split_groups("devices", scaled)
    held = groups != ""
    # Only the larger counts are held out, both in one group; the one-device rows stay in.
    assert held.sum() == 2 * len(one)
    assert set(scaled.loc[held, "device_count"]) == {2, 4} and len(set(groups[held])) == 1
    # A table measured on one device count per deployment has nothing to hold out.
    assert (split_groups("devices", table) == "").all()
    report = evaluate(scaled, fx.accuracy_table(), cats, splits=("devices",))
    block = report["splits"]["devices"]
    assert block["groups"] == 1
    assert block["energy_j_per_query"]["model"]["n"] == int(held.sum())
    assert "larger device counts held out" in format_report(report)


def test_platform_and_engine_measured_apart_is_a_deployment_novelty(table, cats):
    # gpu-b keeps its HF rows and vLLM keeps its other GPUs, but vLLM on gpu-b was never measured.
    apart = table[~((table["platform"] == "gpu-b") & (table["engine"] == "vllm"))]
    fitted = fit_predictor(apart, fx.accuracy_table(), cats)
    res = fitted.predict(pd.concat([_cand(engine="vllm", batch_size=8), _cand(engine="hf-transformers"),
                                    _cand(platform="gpu-new", engine="vllm", batch_size=8)]), use_measured=False)
    reasons = [r.split(";") for r in res["extrapolated_reasons"].astype(str)]
    assert "deployment-unseen" in reasons[0] and res["status"].iloc[0] == "extrapolated"
    assert "deployment-unseen" not in reasons[1]
    # A new platform is a platform novelty, not (also) a deployment one.
    assert "platform-unseen" in reasons[2] and "deployment-unseen" not in reasons[2]
    comp = fitted.components["e_dec"]
    assert comp.widths["deployment"] >= comp.widths["cell"]


def test_smoother_width_is_chosen_by_leave_models_out_cv_and_persisted(predictor, cats):
    from recommender.model.smoother import BANDWIDTHS

    sm = predictor.components["e_dec"].smoother
    assert sm is not None and sm.bandwidth in BANDWIDTHS
    again = EaiPredictor.from_state(json.loads(json.dumps(predictor.to_state())), cats)
    assert again.components["e_dec"].smoother.bandwidth == sm.bandwidth
    # A wider kernel borrows from farther rows: the corrections differ.
    cand = predictor._features.build(predictor._candidate_frame(_cand(model_id="toy/m3", batch_size=4)))
    narrow = type(sm)({**sm.state, "bandwidth": min(BANDWIDTHS)}).correction(cand)
    wide = type(sm)({**sm.state, "bandwidth": max(BANDWIDTHS)}).correction(cand)
    assert not np.allclose(narrow, wide)


def test_unseen_platform_class_is_flagged_and_at_least_as_wide_as_an_unseen_platform(predictor):
    # gpu-new is a workstation card; only data-center cards were measured.
    comps = predictor.predict_components(pd.concat([_cand(platform="gpu-new"), _cand(platform="gpu-b")]))
    reasons = comps["e_dec_reasons"].astype(str).tolist()
    assert "class-unseen" in reasons[0].split(";") and "platform-unseen" in reasons[0].split(";")
    assert "class-unseen" not in reasons[1].split(";")
    comp = predictor.components["e_dec"]
    assert comp.widths["class"] >= comp.widths["platform"]
    assert comps["e_dec_halfwidth"].iloc[0] >= comp.widths["platform"] - 1e-12


def test_extrapolation_blends_full_model_and_fitted_roofline_geometrically(table, cats):
    fitted = fit_predictor(table, fx.accuracy_table(), cats)
    comp = fitted.components["e_dec"]
    assert comp.roofline is not None and comp.linear.prior_column == "fitted_prior_e_dec"
    assert set(comp.simple["weights"]) == set(REASONS_ALL)
    cand = _cand(platform="gpu-new")
    comp.simple["weights"] = {r: 1.0 for r in REASONS_ALL}
    full = fitted.predict_components(cand)["e_dec"].iloc[0]
    comp.simple["weights"] = {r: 0.0 for r in REASONS_ALL}
    simple = fitted.predict_components(cand)["e_dec"].iloc[0]
    comp.simple["weights"] = {r: (0.25 if r == "platform-unseen" else 1.0) for r in REASONS_ALL}
    blend = fitted.predict_components(cand)["e_dec"].iloc[0]
    assert full != pytest.approx(simple, rel=1e-3)
    assert blend == pytest.approx(full**0.25 * simple**0.75, rel=1e-9)
    # A measured platform is not extrapolated: the weights do not touch it.
    comp.simple["weights"] = {r: 0.0 for r in REASONS_ALL}
    seen = fitted.predict_components(_cand(platform="gpu-b"))["e_dec"].iloc[0]
    comp.simple["weights"] = {r: 1.0 for r in REASONS_ALL}
    assert fitted.predict_components(_cand(platform="gpu-b"))["e_dec"].iloc[0] == pytest.approx(seen, rel=1e-12)


def test_interaction_slope_on_a_feature_constant_in_training_is_inert():
    rng = np.random.default_rng(0)
    n = 60
    X = pd.DataFrame({"a": rng.normal(size=n), "z": np.full(n, 3.0), "c": rng.choice(["x", "y"], n),
                      "prior": np.exp(rng.normal(size=n))})
    y = X["prior"].to_numpy() * np.exp(0.4 * X["a"].to_numpy() + 0.3 * (X["c"] == "x").to_numpy())
    est = LogRatioRegressor(numeric_features=["a"], categorical_features=["c"], interactions=[("c", ("z",))]).fit(X, y)
    moved = X.assign(z=10.0)
    np.testing.assert_allclose(est.predict(moved), est.predict(X), rtol=1e-12)
    lin = LinearLogModel(est.export_linear())
    np.testing.assert_allclose(lin.predict(moved), est.predict(X), rtol=1e-9)


def test_level_slope_is_held_at_the_levels_measured_range_unless_unclamped():
    # Level "x" was measured at a in [0, 1] only, level "y" over [0, 6], with different slopes.
    # Beyond a = 1, level "x" must follow the shared slope, not its own.
    rng = np.random.default_rng(1)
    n = 200
    c = np.where(np.arange(n) < n // 2, "x", "y")
    a = np.where(c == "x", rng.uniform(0, 1, n), rng.uniform(0, 6, n))
    b = rng.uniform(0, 1, n)
    X = pd.DataFrame({"a": a, "b": b, "c": c, "prior": np.ones(n)})
    y = np.exp(np.where(c == "x", 0.5 * a, 2.5 * a) + 0.5 * b)
    est = LogRatioRegressor(numeric_features=["a", "b"], categorical_features=["c"], interactions=[("c", ("a", "b"))],
                            alphas=(1e-6,)).fit(X, y)
    state = json.loads(json.dumps(est.export_linear()))
    shared, own = state["numeric"]["a"], state["interactions"]["c"]["a"]["x"]
    assert abs(own) * 5.0 > 1.0  # the level's own slope matters, so the test can tell them apart
    far = pd.DataFrame({"a": [1.0, 6.0], "b": [0.5, 0.5], "c": ["x", "x"], "prior": [1.0, 1.0]})
    lr = np.log(est.predict(far))
    np.testing.assert_allclose(lr[1] - lr[0], shared * 5.0, atol=1e-6)
    np.testing.assert_allclose(LinearLogModel(state).predict(far), est.predict(far), rtol=1e-9)
    # Inside the level's range nothing changes: the fit reproduces the training rows.
    np.testing.assert_allclose(est.predict(X), y, rtol=0.05)
    # An unclamped column keeps the level's own slope beyond its range.
    ex = InteractionExpander("c", ("a", "b"), unclamped=("b",)).fit(X[["c", "a", "b"]])
    out = ex.transform(pd.DataFrame({"c": ["x"], "a": [6.0], "b": [9.0]}))
    np.testing.assert_allclose(out[0], [ex.hi_[0, 0], 9.0, 0.0, 0.0])


def test_anchored_prefill_widens_where_borrowing_was_never_checked(predictor, table, cats):
    from recommender.model.component import fit_anchored_component
    from recommender.model.features import FeatureBuilder
    from recommender.model.predictor import prepare_table

    comp = predictor.components["e_pre"]
    assert comp.widths["platform"] > comp.widths["cell"]  # transfer error added off the measured platform
    # A prefill component with no rows of its own: every width is the 90% spread of all anchor rows.
    prep = prepare_table(table, cats)
    feats = FeatureBuilder(cats).build(prep[["platform", "device_count", "engine", "model_id", "quantization", "batch_size",
                                             "prompt_tokens", "output_tokens", "choices", "params_total_b", "params_active_b"]])
    dec = prep["y_e_dec"].notna().to_numpy()
    anchor_ratio = np.log(prep["y_e_dec"].to_numpy()[dec]) - np.log(feats["prior_e_dec"].to_numpy()[dec])
    empty = fit_anchored_component("e_pre", feats.iloc[:0], np.zeros(0), "prior_e_pre", feats.loc[dec],
                                   prep["y_e_dec"].to_numpy()[dec], "prior_e_dec")
    offset = empty.linear.intercept
    from recommender.model.conformal import conformal_halfwidth

    expect = conformal_halfwidth(np.abs(anchor_ratio - offset))
    assert list(empty.widths.values()) == pytest.approx([max(expect, empty.widths["cell"])] * len(empty.widths))
    assert expect > conformal_halfwidth(np.abs(anchor_ratio[np.abs(anchor_ratio - offset) < 0.5] - offset))
    assert empty.widths["platform"] >= comp.widths["cell"]
    # Anchored toward the roofline bound (prefill on decode): halfway between the anchor's
    # median log ratio and 0, with half that gap added to every width in quadrature.
    toward = fit_anchored_component("e_pre", feats.iloc[:0], np.zeros(0), "prior_e_pre", feats.loc[dec],
                                    prep["y_e_dec"].to_numpy()[dec], "prior_e_dec", toward_bound=True)
    assert offset > 0  # decode spends more than its roofline bound
    assert toward.linear.intercept == pytest.approx(offset / 2)
    assert toward.widths["platform"] == pytest.approx(np.hypot(empty.widths["platform"], offset / 2))


def test_release_width_without_two_measured_releases_is_the_published_prior():
    from recommender.model.component import _SCHEMES, _fill_widths
    from recommender.model.roofline_fit import RELEASE_PRIOR_FACTOR

    calibrated = {s: 0.3 for s in _SCHEMES} | {"engine": 0.5, "release": float("nan")}
    filled = _fill_widths(calibrated, None)
    # Half the published range of one release's gain, around the middle the cost is placed at.
    assert filled["release"] == pytest.approx(0.5 * np.log(RELEASE_PRIOR_FACTOR))
    # An engine-unseen width above the prior wins; a calibrated release width is kept as is.
    assert _fill_widths(calibrated | {"engine": 2.0}, None)["release"] == pytest.approx(2.0)
    assert _fill_widths(calibrated | {"release": 0.4}, None)["release"] == pytest.approx(0.4)
    # A wide calibrated release width never stands in for a scheme that could not be calibrated.
    assert _fill_widths(calibrated | {"release": 2.3, "class": float("nan")}, None)["class"] == pytest.approx(0.5)


def test_release_residuals_see_the_release_held_out_of_the_prior_too():
    from recommender.model.component import _scheme_residuals

    n = 40
    feats = pd.DataFrame({
        "platform": pd.Categorical(np.where(np.arange(n) % 2, "gpu-a", "gpu-b")),
        "model_id": pd.Categorical(np.where(np.arange(n) % 4 < 2, "m1", "m2")),
        "engine": pd.Categorical(["vllm"] * n), "quantization": pd.Categorical(["bf16"] * n),
        "numerics": pd.Categorical(["fp16"] * n), "platform_class": pd.Categorical(["datacenter"] * n),
        "engine_release": pd.Categorical(np.where(np.arange(n) < n // 2, "vllm@0.5", "vllm@0.11")),
    })
    y = np.exp(np.linspace(0.0, 1.0, n))
    fit_predict = lambda train, test: np.full(len(test), float(np.exp(np.mean(np.log(y[train])))))  # noqa: E731
    shift = np.where(np.arange(n) < n // 2, 0.7, -0.4)
    plain = _scheme_residuals(fit_predict, feats, y, np.ones(n), np.ones(n))
    moved = _scheme_residuals(fit_predict, feats, y, np.ones(n), np.ones(n), release_shift=shift)
    # Held out by release, a row is predicted with the prior its release would get unseen.
    np.testing.assert_allclose(moved["release"][0], plain["release"][0] - shift)
    np.testing.assert_allclose(moved["platform"][0], plain["platform"][0])


def test_smoother_borrows_only_from_models_of_the_same_layer_design():
    from recommender.model.smoother import KERNEL_FEATURES, ResidualSmoother

    def rows(block: str, n: int) -> pd.DataFrame:
        return pd.DataFrame({
            **{c: np.zeros(n) for c in KERNEL_FEATURES},
            "platform": pd.Categorical(["gpu-a"] * n), "engine": pd.Categorical(["hf"] * n),
            "numerics": pd.Categorical(["fp16"] * n), "block": pd.Categorical([block] * n),
        })

    train = pd.concat([rows("gpt-neox", 5), rows("decoder", 5)], ignore_index=True)
    train["block"] = pd.Categorical(train["block"].astype(str))
    residuals = np.r_[np.full(5, 0.2), np.full(5, -0.1)]
    sm = ResidualSmoother.fit(train, residuals)
    neox, dec, rwkv = (sm.correction(rows(b, 1))[0] for b in ("gpt-neox", "decoder", "rwkv"))
    assert neox == pytest.approx(0.2 * 5 / (5 + 0.1)) and dec == pytest.approx(-0.1 * 5 / (5 + 0.1))
    assert rwkv == 0.0  # no measured model of that design: no borrowed residual


def test_smoother_discounts_a_model_that_disagrees_with_its_neighbours_except_for_itself():
    from recommender.model.smoother import KERNEL_FEATURES, ResidualSmoother

    def rows(model: str, n: int) -> pd.DataFrame:
        return pd.DataFrame({
            **{c: np.zeros(n) for c in KERNEL_FEATURES},
            "platform": ["gpu-a"] * n, "engine": ["hf"] * n, "numerics": ["fp16"] * n,
            "block": ["decoder"] * n, "model_id": [model] * n,
        })

    # Four models agree (residual 0.05 +- 0.01); a fifth, measured another way, sits at -0.3.
    agree = [rows(f"m{i}", 4) for i in range(4)]
    train = pd.concat([*agree, rows("odd", 4)], ignore_index=True)
    residuals = np.r_[0.04, 0.05, 0.06, 0.05, 0.05, 0.06, 0.04, 0.05, 0.06, 0.05, 0.04, 0.05, 0.05, 0.04, 0.06, 0.05, np.full(4, -0.3)]
    sm = ResidualSmoother.fit(train, residuals)
    d = np.asarray(sm.state["groups"]["gpu-a|hf|fp16|decoder"]["d"])
    assert (d[:16] > 0.9).all() and (d[16:] == 0.0).all()
    new_model, odd = sm.correction(rows("new", 1))[0], sm.correction(rows("odd", 1))[0]
    # Another model borrows what the agreeing four say; the odd model keeps its own residual.
    assert new_model == pytest.approx(0.05, abs=0.003)
    assert odd == pytest.approx(((d[:16] * residuals[:16]).sum() - 0.3 * 4) / (d[:16].sum() + 4 + 0.1), abs=1e-12)
    # Without a model column nothing can be judged: plain kernel mean, as before.
    plain = ResidualSmoother.fit(train.drop(columns="model_id"), residuals)
    assert plain.correction(rows("new", 1).drop(columns="model_id"))[0] == pytest.approx(residuals.sum() / (20 + 0.1))
    # Two models alone cannot outvote each other: each keeps weight 1 (too little witness weight).
    pair = ResidualSmoother.fit(pd.concat([rows("a", 1), rows("b", 1)], ignore_index=True), np.r_[0.3, -0.3])
    assert np.asarray(pair.state["groups"]["gpu-a|hf|fp16|decoder"]["d"]).tolist() == [1.0, 1.0]


def test_decode_time_comes_from_throughput_where_a_source_gives_no_time():
    """The quantization reports' batch-1 runs give throughput (summed over the batch) but no
    time per query: their seconds per output token are the batch over the throughput."""
    from recommender.model.features import Catalogs
    from recommender.model.predictor import prepare_table
    from recommender.table import load_table

    prep = prepare_table(load_table(Path(__file__).resolve().parents[1] / "data" / "measured.csv"), Catalogs.load())
    no_time = prep["time_s_per_query"].isna() & (prep["throughput_tokens_per_s"] > 0) & prep["y_e_dec"].notna()
    assert no_time.sum() >= 30
    batch = prep["avg_batch_size"].fillna(prep["batch_size"])
    expected = batch[no_time] / prep.loc[no_time, "throughput_tokens_per_s"]
    np.testing.assert_allclose(prep.loc[no_time, "y_t_dec"], expected)
    # Where time per query is given, it wins (it includes the request's own prefill).
    timed = prep["time_s_per_query"].notna() & prep["y_e_dec"].notna()
    np.testing.assert_allclose(prep.loc[timed, "y_t_dec"], prep.loc[timed, "time_s_per_query"] / prep.loc[timed, "output_tokens"])
    # They count: an RTX 4090D LLM.int8() run decodes ~3.7x slower than fp16, and the fit sees it.
    q = prep[(prep["platform"] == "rtx-4090d") & (prep["model_id"] == "mistralai/Mistral-7B-Instruct-v0.3")]
    ratio = q.loc[q["quantization"] == "int8-bnb", "y_t_dec"].iloc[0] / q.loc[q["quantization"] == "fp16", "y_t_dec"].iloc[0]
    assert 3.0 < ratio < 4.5


def test_quantization_pair_corrections_compare_runs_that_differ_only_in_quantization():
    from recommender.model.component import QuantPairs

    def quant_pair_corrections(key, quant, log_ratio):
        return QuantPairs(key, quant).corrections(log_ratio)

    # Two deployments measured at fp16 and int8; a third only at int8 on a slow platform:
    # without its fp16 twin it must not count (a per-quantization mean would take it).
    key = np.array(["a", "a", "b", "b", "c"], dtype=object)
    quant = np.array(["fp16", "int8", "bf16", "int8", "int8"], dtype=object)
    log_ratio = np.array([0.1, 0.6, -0.2, 0.4, 3.0])
    got = quant_pair_corrections(key, quant, log_ratio)
    assert got == {"int8": pytest.approx(np.median([0.5, 0.6]))}
    # One pair is not enough.
    assert quant_pair_corrections(key[:2], quant[:2], log_ratio[:2]) == {}


def test_twin_platforms_are_same_silicon_only():
    from recommender.catalog import get_platforms
    from recommender.model.features import platform_frame
    from recommender.model.predictor import twin_platforms

    frame = platform_frame(get_platforms())
    measured = ["a100-sxm4-40gb", "a40", "v100-sxm2-32gb", "h100-sxm5-80gb", "b200", "a800-sxm4-80gb", "rtx-4090d",
                "rtx-5090", "cpu-amd-epyc-zen4"]
    # Same compute silicon at the same power, nearest memory first. A100 PCIe (250 W vs 400 W)
    # and L40S (another chip) are no one's twins; a GH200's GPU is an H100's GH100 at its 700 W
    # (the module's 1,000 W covers the Grace CPU); a B300 (sm_103) runs a B200's (sm_100) tensor
    # cores at 1,100 W: one generation, one major compute capability.
    assert twin_platforms(frame, measured) == {
        "a100-sxm4-80gb": ["a800-sxm4-80gb", "a100-sxm4-40gb"],
        "b300": ["b200"],
        "gh200": ["h100-sxm5-80gb"],
        "h200-sxm-141gb": ["h100-sxm5-80gb"],
        "rtx-4090": ["rtx-4090d"],
    }
    assert twin_platforms(frame, []) == {}
    assert twin_platforms(frame, ["rtx-4090"]) == {"rtx-4090d": ["rtx-4090"]}
    # Measured platforms too (for engines they never ran): never their own twin.
    both = twin_platforms(frame, [*measured, "h200-sxm-141gb"], measured_too=True)
    assert both["h200-sxm-141gb"] == ["h100-sxm5-80gb"] and both["h100-sxm5-80gb"] == ["h200-sxm-141gb"]
    assert both["a100-sxm4-40gb"][0] == "a800-sxm4-80gb" and "a100-sxm4-40gb" not in both["a100-sxm4-40gb"]


def test_batch_range_is_the_candidates_own_engines(predictor, table):
    # The fixture ran HF at batch 1 and vLLM at 8 and 64: vLLM at batch 1 is outside what vLLM
    # was measured at, although batch 1 was measured (under HF); HF at 1 and vLLM at 16 are inside.
    row = table[table["engine"] == "vllm"].iloc[0]
    base = dict(platform=row["platform"], model_id=row["model_id"], quantization=row["quantization"])
    cand = pd.concat([_cand(**base, engine="vllm", batch_size=1), _cand(**base, engine="vllm", batch_size=16),
                      _cand(**base, engine="hf-transformers", batch_size=1)], ignore_index=True)
    reasons = predictor.predict_components(cand)["e_dec_reasons"].astype(str).tolist()
    assert "batch-outside" in reasons[0]
    assert "batch-outside" not in reasons[1] and "batch-outside" not in reasons[2]
    # A state saved before per-engine ranges falls back to the pooled range.
    from recommender.model.component import _batch_outside

    pooled = {"batch": [1.0, 64.0]}
    assert not _batch_outside(np.array([1.0]), pd.Categorical(["vllm"]), pooled).any()


def test_batch_range_calibration_holds_out_each_engines_own_extremes():
    # An engine measured at batch 1 only has no range to extrapolate from; a server measured at
    # 8-512 gives up its own smallest and largest batches (the range batch-outside is judged on).
    from recommender.model.component import _extreme_residuals

    engine = np.array(["hf"] * 6 + ["vllm"] * 7)
    batch = np.array([1.0] * 6 + [8, 16, 32, 64, 128, 256, 512])
    seen: dict[str, np.ndarray] = {}

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        seen["train"], seen["test"] = train, test
        return np.ones(len(test))

    res, rows = _extreme_residuals(fit_predict, np.full(13, np.e), batch, None, within=engine)
    assert batch[rows].tolist() == [8.0, 512.0] and set(engine[rows]) == {"vllm"}
    assert np.allclose(res, 1.0) and len(seen["train"]) == 11
    # Pooled across engines, the lowest rows would be the batch-1 engine's whole range.
    _, pooled = _extreme_residuals(fit_predict, np.full(13, np.e), batch, None)
    assert set(batch[pooled]) >= {1.0}


def test_bf16_is_predicted_as_fp16_where_only_fp16_was_measured(predictor):
    # The fixture measured fp16 only: bf16 moves the same bytes at the same rate, and no
    # measurement says otherwise, so neither the regressor's precision class nor the smoother's
    # group may tell them apart.
    out = predictor.predict(pd.concat([_cand(quantization="fp16", engine=e) for e in ("hf-transformers", "vllm")]
                                      + [_cand(quantization="bf16", engine=e) for e in ("hf-transformers", "vllm")]), use_measured=False)
    for col in ("energy_j_per_query", "time_s_per_query"):
        v = out[col].to_numpy()
        assert v[0] == pytest.approx(v[2], rel=1e-9) and v[1] == pytest.approx(v[3], rel=1e-9)


def test_platform_measured_under_another_engine_borrows_its_twin_for_this_one(table, cats):
    """gpu-b2: gpu-b's silicon and power with more bandwidth, measured under HF transformers only
    (and slow there). Under vLLM it never ran: it borrows gpu-b's vLLM departure from physics
    rather than reading its HF rows, so it is not predicted costlier than gpu-b."""
    from dataclasses import replace

    from recommender.table.io import rows_to_frame
    from recommender.table.schema import MeasuredRow

    b = cats.platforms["gpu-b"]
    twin = b.model_copy(update={"id": "gpu-b2", "name": "gpu-b2", "memory_bandwidth_gbs": 2000.0, "memory_gb": 80.0})
    cats2 = replace(cats, platforms={**cats.platforms, "gpu-b2": twin})
    hf_b = table[(table["platform"] == "gpu-b") & (table["engine"] == "hf-transformers")]
    slow = hf_b.assign(platform="gpu-b2", energy_j_per_query=hf_b["energy_j_per_query"] * 3.0,
                       energy_j_per_output_token=hf_b["energy_j_per_output_token"] * 3.0,
                       time_s_per_query=hf_b["time_s_per_query"] * 3.0,
                       source_ref=hf_b["source_ref"] + ":b2")
    rows = [MeasuredRow.model_validate({k: v for k, v in r.items() if not (isinstance(v, float) and np.isnan(v))})
            for r in slow.to_dict("records")]
    both = pd.concat([table, rows_to_frame(rows)], ignore_index=True)
    model = fit_predictor(both, fx.accuracy_table(), cats2, calibrate=False)
    cand = pd.DataFrame([dict(platform=p, device_count=1, engine="vllm", model_id="toy/m7", quantization="fp16",
                              batch_size=8, task="chat") for p in ("gpu-b2", "gpu-b")])
    got = model.predict(cand, use_measured=False)
    assert "twin:gpu-b" in str(got["extrapolated_reasons"].iloc[0])
    assert got["energy_j_per_query"].iloc[0] <= got["energy_j_per_query"].iloc[1] * (1 + 1e-9)
    assert got["time_s_per_query"].iloc[0] <= got["time_s_per_query"].iloc[1] * (1 + 1e-9)
    # Under HF, where it was measured, its own rows tell (no borrowing).
    hf = model.predict(cand.assign(engine="hf-transformers", batch_size=1), use_measured=False)
    assert "twin:" not in str(hf["extrapolated_reasons"].iloc[0])


def test_a_twin_lends_across_a_concurrency_sweep_without_a_jump_where_a_kv_cache_fills(table, cats):
    """gpu-b2: gpu-b's silicon, power and bandwidth with half its memory, never measured. Its KV
    cache fills first (toy/m7 in fp16, 512 + 512 tokens a query), then gpu-b's: past either
    limit the twin still lends, at the sequences both run (gpu-b2's queue waits), so a sweep of
    concurrency keeps the twin, never gets faster per query with more load, and never jumps
    in energy. Lent only where both ran as many sequences, the sweep left the twin at 16
    sequences, where its energy per query became the pooled model's, 12 % above the twin's."""
    from dataclasses import replace

    b = cats.platforms["gpu-b"]
    small = b.model_copy(update={"id": "gpu-b2", "name": "gpu-b2", "memory_gb": b.memory_gb / 2.0})
    cats2 = replace(cats, platforms={**cats.platforms, "gpu-b2": small})
    model = fit_predictor(table, fx.accuracy_table(), cats2, calibrate=False)
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    base = dict(device_count=1, engine="vllm", model_id="toy/m7", quantization="fp16", task="chat",
                prompt_tokens_mean=512.0, output_tokens_mean=512.0)
    cand = pd.DataFrame([{**base, "platform": p, "batch_size": bs} for p in ("gpu-b2", "gpu-b") for bs in batches])
    running = np.asarray(model._features.columns(model._candidate_frame(cand))["batch_running"], dtype=float)
    own, twin = running[: len(batches)], running[len(batches):]
    # The sweep crosses both caches: gpu-b2 queues first, gpu-b later.
    assert own[-1] < twin[-1] < batches[-1] and own[0] == batches[0]
    got = model.predict(cand, use_measured=False).iloc[: len(batches)]
    assert got["extrapolated_reasons"].astype(str).str.contains("twin:gpu-b").all()
    t, e = got["time_s_per_query"].to_numpy(), got["energy_j_per_query"].to_numpy()
    assert np.all(np.diff(np.log(t)) >= -1e-9), t
    step = np.diff(np.log(e))
    grows = np.diff(own) > 1e-9
    # More sequences at once share each step: cheaper per query. Queued ones wait: the twin and
    # the siblings (stage sibling, the other GPUs' measured ratios) are read at the sequences
    # gpu-b2 runs, so energy per query stays put.
    assert grows.any() and np.all(step[grows] <= 1e-9), e
    assert (~grows).any() and np.all(np.abs(step[~grows]) < 1e-9), e


def test_a_release_stated_but_never_measured_is_flagged_where_the_rows_name_none(predictor):
    # The fixture's HF transformers rows state no release: a candidate stating one is read as
    # them (the same point) but flagged, since nothing says they ran at that release.
    base = {"platform": "gpu-b", "device_count": 1, "engine": "hf-transformers", "model_id": "toy/m7", "quantization": "fp16",
            "batch_size": 1, "task": "gsm8k"}
    frame = pd.DataFrame([base, {**base, "engine_version": "4.57.1"}])
    out = predictor.predict(frame, use_measured=False)
    assert "release-unseen" not in str(out["extrapolated_reasons"].iloc[0])
    assert "release-unseen" in str(out["extrapolated_reasons"].iloc[1])
    assert out["energy_j_per_query"].iloc[1] == pytest.approx(out["energy_j_per_query"].iloc[0], rel=1e-9)
    assert out["time_s_per_query"].iloc[1] == pytest.approx(out["time_s_per_query"].iloc[0], rel=1e-9)
    assert out["time_s_per_query_hi"].iloc[1] >= out["time_s_per_query_hi"].iloc[0] * (1 - 1e-9)
    assert out["time_s_per_query_lo"].iloc[1] <= out["time_s_per_query_lo"].iloc[0] * (1 + 1e-9)
    assert out["time_s_per_query_hi"].iloc[1] / out["time_s_per_query_lo"].iloc[1] > out["time_s_per_query_hi"].iloc[0] / out["time_s_per_query_lo"].iloc[0]


def test_a_row_with_a_throughput_and_no_latency_is_timed_at_its_output_count(table, cats):
    # A static-batch row giving its summed token throughput but no time per query (the
    # quantization reports' fixed-prompt runs): each query waits for the whole batch, so its
    # time is output tokens x batch / throughput, as its energy per query is per-token energy x
    # output tokens.
    from recommender.model.predictor import prepare_table

    gen = np.flatnonzero((table["output_tokens_mean"].to_numpy(dtype=float) > 0) & (table["batch_size"].to_numpy() > 1))[0]
    t = table.copy()
    t["throughput_tokens_per_s"] = np.nan
    t.loc[t.index[gen], "time_s_per_query"] = np.nan
    t.loc[t.index[gen], "throughput_tokens_per_s"] = 500.0
    if "avg_batch_size" in t:
        t.loc[t.index[gen], "avg_batch_size"] = np.nan
    prep = prepare_table(t, cats)
    out = float(prep["output_tokens"].iloc[gen])
    assert prep["time_q"].iloc[gen] == pytest.approx(out * float(t["batch_size"].iloc[gen]) / 500.0)
    assert prep["y_t_dec"].iloc[gen] == pytest.approx(float(t["batch_size"].iloc[gen]) / 500.0)
    # Neither a latency nor a throughput: no time.
    t.loc[t.index[gen], "throughput_tokens_per_s"] = np.nan
    assert np.isnan(prepare_table(t, cats)["time_q"].iloc[gen])

