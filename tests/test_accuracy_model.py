"""AccuracyModel on a small synthetic leaderboard: measured, imputed, prior; quantization effects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recommender.model.accuracy_impute import conformal_halfwidth
from recommender.model.accuracy_model import AccuracyModel, quantization_pairs

CHANCE = 0.25
RNG = np.random.default_rng(7)
N_FAMILIES, PER_FAMILY = 16, 5


def _board() -> tuple[pd.DataFrame, dict[str, float], dict[str, tuple[str, float]]]:
    """A synthetic board: three tasks driven by one latent skill, five fine-tunes per family."""
    rows, params, families = [], {}, {}
    for f in range(N_FAMILIES):
        size = float(np.geomspace(0.5, 70, N_FAMILIES)[f])
        base_skill = 0.3 + 0.08 * np.log(size)
        for k in range(PER_FAMILY):
            m = f"org{f}/model-{k}"
            skill = base_skill + RNG.normal(0, 0.03)
            params[m] = size
            families[m] = (f"fam{f}", 2023.0 + f / 8)
            scores = {"mmlu": 0.25 + 0.6 * skill, "arc_challenge": 0.2 + 0.7 * skill, "gsm8k": max(0.0, 1.2 * skill - 0.4)}
            for t, a in scores.items():
                rows.append({"model_id": m, "task": t, "quantization": "bf16", "accuracy": float(np.clip(a + RNG.normal(0, 0.01), 0, 1)),
                             "source": "open-llm-leaderboard-v1-final", "architecture": f"Arch{f}", "params_b": size})
    records = pd.DataFrame(rows)
    # The model to impute: scored on two tasks, not on MMLU.
    target = "new/model"
    params[target], families[target] = 7.0, ("fam-new", 2024.5)
    for t, a in (("arc_challenge", 0.2 + 0.7 * 0.456), ("gsm8k", 1.2 * 0.456 - 0.4)):
        records.loc[len(records)] = {"model_id": target, "task": t, "quantization": "bf16", "accuracy": a,
                                     "source": "open-llm-leaderboard-v1-final", "architecture": "ArchNew", "params_b": 7.0}
    # An unscored model of a scored family, and quantization pairs of three models.
    params["org3/unscored"], families["org3/unscored"] = params["org3/model-0"], ("fam3", 2023.4)
    for m, d in (("org2/model-0", -0.02), ("org5/model-0", -0.04), ("org9/model-0", -0.03)):
        ref = records[(records.model_id == m) & (records.task == "mmlu")]["accuracy"].iloc[0]
        records.loc[len(records)] = {"model_id": m, "task": "mmlu", "quantization": "int8-bnb", "accuracy": ref + d,
                                     "source": "open-llm-leaderboard-v1-final", "architecture": "", "params_b": np.nan}
    records["accuracy_stderr"] = np.nan
    return records, params, families


@pytest.fixture(scope="module")
def fitted() -> tuple[AccuracyModel, pd.DataFrame]:
    records, params, families = _board()
    return AccuracyModel.fit(records, params, families=families), records


def _predict(model: AccuracyModel, model_id: str, task: str = "mmlu", quant: str = "bf16", size: float = 7.0, scored: bool = True) -> dict:
    out = model.predict(pd.Series([model_id]), pd.Series([task]), pd.Series([quant]), np.array([size]),
                        np.array([CHANCE]), np.array([scored]))
    return out.iloc[0].to_dict()


def test_measured_score_is_returned_with_its_source(fitted) -> None:
    model, records = fitted
    truth = records[(records.model_id == "org4/model-1") & (records.task == "mmlu")]["accuracy"].iloc[0]
    got = _predict(model, "org4/model-1")
    assert got["accuracy_status"] == "measured" and got["accuracy"] == pytest.approx(truth)
    assert got["accuracy_lo"] < truth < got["accuracy_hi"]
    assert "open-llm-leaderboard-v1-final" in got["accuracy_basis"]


def test_missing_task_is_imputed_from_the_models_other_scores(fitted) -> None:
    model, _ = fitted
    got = _predict(model, "new/model")
    truth = 0.25 + 0.6 * 0.456
    assert got["accuracy_status"] == "imputed"
    assert "arc_challenge" in got["accuracy_basis"] and "family-grouped CV" in got["accuracy_basis"]
    assert abs(got["accuracy"] - truth) < 0.03
    assert got["accuracy_lo"] <= truth <= got["accuracy_hi"]


def test_unscored_model_gets_a_labelled_prior(fitted) -> None:
    model, _ = fitted
    fam = _predict(model, "org3/unscored", size=1.0)
    assert fam["accuracy_status"] == "prior" and "family fam3" in fam["accuracy_basis"]
    unknown = _predict(model, "never/seen", size=7.0)
    assert unknown["accuracy_status"] == "prior" and "size only" in unknown["accuracy_basis"]
    assert unknown["accuracy_hi"] == 1.0  # open above: unscored models are often newer


def test_quantization_effect_from_pairs_and_pooled_prior_without_pairs(fitted) -> None:
    model, _ = fitted
    ref = _predict(model, "org4/model-1")
    int8 = _predict(model, "org4/model-1", quant="int8-bnb")
    assert int8["accuracy_status"] == "imputed"
    assert int8["accuracy"] == pytest.approx(ref["accuracy"] - 0.03, abs=1e-9)
    assert "int8-bnb effect -3.0 pts (median of 3 pairs, 3 models" in int8["accuracy_basis"]
    # No fp8 pairs: the pooled 8-bit prior (from the int8 pairs), never "100 % kept" with no width.
    fp8 = _predict(model, "org4/model-1", quant="fp8")
    assert "pooled 8-bit prior" in fp8["accuracy_basis"] and "no fp8 pairs" in fp8["accuracy_basis"]
    assert fp8["accuracy"] < ref["accuracy"]
    assert fp8["accuracy_hi"] - fp8["accuracy_lo"] > ref["accuracy_hi"] - ref["accuracy_lo"]


def test_dequantized_profiler_rows_are_not_quantization_pairs() -> None:
    rows = pd.DataFrame([
        {"model_id": "s", "task": "mmlu", "quantization": q, "accuracy": a, "source": "eai-profiler",
         "source_ref": "task=mmlu; model=weights from SmolLM2-135M-Instruct.Q4_1.gguf, dequantized to fp32"}
        for q, a in (("fp32", 0.30), ("nf4-bnb", 0.24))
    ] + [
        {"model_id": "t", "task": "mmlu", "quantization": q, "accuracy": a, "source": "lab", "source_ref": "x"}
        for q, a in (("bf16", 0.50), ("nf4-bnb", 0.47))
    ])
    pairs = quantization_pairs(rows)
    assert pairs["model_id"].tolist() == ["t"] and pairs["delta"].iloc[0] == pytest.approx(-0.03)
    # The rows stay measurements of those weights, labelled as such.
    model = AccuracyModel.fit(rows, {"s": 0.135, "t": 1.0}, families={"s": ("smollm2", 2024.8), "t": ("t", 2024.0)})
    got = _predict(model, "s", quant="nf4-bnb", size=0.135)
    assert got["accuracy_status"] == "measured" and got["accuracy"] == pytest.approx(0.24)
    assert "dequantized from one Q4_1 GGUF file" in got["accuracy_basis"]


def test_a_quantized_run_at_chance_beside_a_knowing_16_bit_model_is_a_failed_run_not_an_effect() -> None:
    rows = pd.DataFrame([
        {"model_id": m, "task": "mmlu", "quantization": q, "accuracy": a, "source": "lb", "source_ref": "x"}
        for m, pair in (("ok", (0.60, 0.58)), ("broken", (0.60, 0.245)), ("weak", (0.30, 0.26)))
        for q, a in zip(("fp16", "gptq-int4"), pair, strict=True)
    ])
    kept = quantization_pairs(rows, {"mmlu": 0.25})
    # The weak model was near chance at 16 bits too: its pair says nothing of a failed run.
    assert sorted(kept["model_id"]) == ["ok", "weak"]
    assert len(quantization_pairs(rows)) == 3  # without the tasks' chance nothing is judged


def test_format_effect_is_the_median_pair_so_one_outlier_does_not_set_it() -> None:
    rows = pd.DataFrame([
        {"model_id": f"m{i}", "task": "mmlu", "quantization": q, "accuracy": a, "source": "lb", "source_ref": "x"}
        for i, d in enumerate((-0.01, -0.02, -0.02, -0.30))
        for q, a in (("fp16", 0.60), ("gptq-int4", 0.60 + d))
    ] + [{"model_id": "m4", "task": "mmlu", "quantization": "fp16", "accuracy": 0.60, "source": "lb", "source_ref": "x"}])
    sizes = {f"m{i}": 7.0 for i in range(5)}
    model = AccuracyModel.fit(rows, sizes, families={m: ("f", 2024.0) for m in sizes})
    got = _predict(model, "m4", quant="gptq-int4", size=7.0)
    assert got["accuracy"] == pytest.approx(0.58, abs=1e-9)
    assert "gptq-int4 effect -2.0 pts (median of 4 pairs" in got["accuracy_basis"]


def test_workloads_have_no_accuracy_and_state_round_trips(fitted) -> None:
    model, _ = fitted
    assert np.isnan(_predict(model, "new/model", task="sharegpt-chat", scored=False)["accuracy"])
    again = AccuracyModel(json.loads(json.dumps(model.state)))
    for m in ("new/model", "org4/model-1", "org3/unscored"):
        assert _predict(again, m) == _predict(model, m)


def test_conformal_halfwidth_is_the_finite_sample_quantile() -> None:
    err = np.arange(1, 11) / 100.0  # 10 errors: ceil(11 * 0.9) / 10 = 1.0 -> the largest
    assert conformal_halfwidth(err) == pytest.approx(0.10)
    assert conformal_halfwidth(np.arange(1, 101) / 100.0) == pytest.approx(0.91)


def _reference_predict(model: AccuracyModel, m: list[str], t: list[str], q: list[str], size: np.ndarray, chance: np.ndarray, scored: np.ndarray) -> pd.DataFrame:
    """The resolution of the module docstring, one row at a time (an independent oracle for the
    vectorized :meth:`AccuracyModel.predict`)."""
    from recommender.model.accuracy_model import TASK_ITEMS, Z90, _effect_for, _size_prior

    tab = model.state["table"]
    table = {(r[0], r[1]): r for r in tab}
    exact = {(r[0], r[1], r[2]): r for r in model.state["exact"]}
    rows = []
    for i in range(len(m)):
        if not scored[i]:
            rows.append((np.nan, np.nan, np.nan, "prior", "workload: no accuracy score"))
            continue
        if (m[i], t[i], q[i]) in exact:
            _, _, _, a, se, source, dequant = exact[(m[i], t[i], q[i])]
            if not np.isfinite(se):
                n = TASK_ITEMS.get(t[i])
                se = np.sqrt(max(a * (1 - a), 1e-4) / n) if n else np.nan
            se = se if np.isfinite(se) else 0.02
            basis = f"measured at {q[i]} ({source})" + ("; weights dequantized from one Q4_1 GGUF file" if dequant else "")
            a_, lo, hi, st = a, a - Z90 * se, a + Z90 * se, "measured"
        else:
            if (m[i], t[i]) in table:
                _, _, a0, l0, h0, st0, b0 = table[(m[i], t[i])]
            elif t[i] in model.priors:
                pa, pl, ph = _size_prior(model.priors[t[i]], np.array([size[i]]), np.array([chance[i]]))
                a0, l0, h0, st0, b0 = pa[0], pl[0], ph[0], "prior", "prior: size only (model not in the fitted table)"
            else:
                a0, l0, h0, st0, b0 = (chance[i] + 1) / 2, chance[i], 1.0, "prior", "prior: nothing scored this task"
            shift, dlo, dhi, qb = _effect_for(model.effects, q[i], t[i])
            a_ = a0 + shift
            lo, hi = a_ - np.hypot(a0 - l0, dlo), a_ + np.hypot(h0 - a0, dhi)
            st = "measured" if (st0 == "measured" and not qb) else ("prior" if st0 == "prior" else "imputed")
            basis = "; ".join(x for x in (b0, qb) if x)
        a_ = float(np.clip(a_, chance[i] if st == "prior" else 0.0, 1.0))
        rows.append((a_, float(np.clip(min(lo, a_), 0, 1)), float(np.clip(max(hi, a_), 0, 1)), st, basis))
    return pd.DataFrame(rows, columns=["accuracy", "accuracy_lo", "accuracy_hi", "accuracy_status", "accuracy_basis"])


def test_a_model_asked_in_the_format_its_weights_are_published_in_has_no_quantization_effect(fitted) -> None:
    # Trained and published in fp8 (as DeepSeek-V3) or MXFP4 (as gpt-oss): its scores are that
    # format's and its 16-bit weights an exact upcast, so fp8 takes the 16-bit score, measured.
    model, _ = fitted
    ref = _predict(model, "org4/model-1")

    def asked(quant: str, native: dict | None) -> dict:
        out = model.predict(pd.Series(["org4/model-1"]), pd.Series(["mmlu"]), pd.Series([quant]), np.array([7.0]),
                            np.array([CHANCE]), np.array([True]), native)
        return out.iloc[0].to_dict()

    own = asked("fp8", {"org4/model-1": "fp8"})
    assert own["accuracy"] == ref["accuracy"] and (own["accuracy_lo"], own["accuracy_hi"]) == (ref["accuracy_lo"], ref["accuracy_hi"])
    assert own["accuracy_status"] == "measured" and "the weights as published" in own["accuracy_basis"]
    # Another model's native format, or another format of this one, keeps its effect.
    assert "pooled 8-bit prior" in asked("fp8", {"org2/model-0": "fp8"})["accuracy_basis"]
    assert asked("int8-bnb", {"org4/model-1": "fp8"})["accuracy"] == pytest.approx(ref["accuracy"] - 0.03, abs=1e-9)


def test_vectorized_predict_matches_the_per_row_resolution(fitted) -> None:
    """Every branch (measured at the candidate's precision, table, size prior, no prior, each kind
    of quantization effect, workloads) on shuffled, repeated rows, as strings and as Categoricals."""
    fitted_model, _ = fitted
    # Skewed effect ranges (the fixture's pairs are symmetric about their mean), so that an
    # interval end taking the other side's range shows.
    effects = json.loads(json.dumps(fitted_model.state["effects"]))
    for entry in (effects["formats"]["int8-bnb"]["all"], *effects["pooled"].values()):
        entry["q05"], entry["q95"] = entry["shift"] - 0.05, entry["shift"] + 0.01
    model = AccuracyModel({**fitted_model.state, "effects": effects})
    rng = np.random.default_rng(3)
    models = ["org4/model-1", "org2/model-0", "new/model", "org3/unscored", "never/seen", "org9/model-0"]
    tasks = ["mmlu", "arc_challenge", "gsm8k", "hellaswag", "custom-task"]
    quants = ["bf16", "fp16", "int8-bnb", "fp8", "nf4-bnb", "awq-int4", "odd-format", "unknown"]
    n = 600
    m = rng.choice(models, n).tolist()
    t = rng.choice(tasks, n).tolist()
    q = rng.choice(quants, n).tolist()
    size = rng.choice([0.3, 7.0, 70.0, 500.0, np.nan], n)
    chance = rng.choice([0.0, 0.25], n)
    scored = rng.random(n) > 0.1
    want = _reference_predict(model, m, t, q, size, chance, scored)
    for as_cat in (False, True):
        col = (lambda v: pd.Series(pd.Categorical(v))) if as_cat else pd.Series
        got = model.predict(col(m), col(t), col(q), size, chance, scored)
        for c in ("accuracy", "accuracy_lo", "accuracy_hi"):
            np.testing.assert_allclose(got[c].to_numpy(float), want[c].to_numpy(float), rtol=1e-12, atol=0)
        assert got["accuracy_status"].tolist() == want["accuracy_status"].tolist()
        assert got["accuracy_basis"].tolist() == want["accuracy_basis"].tolist()
    # The fixture reaches every status and every kind of basis.
    assert set(want["accuracy_status"]) == {"measured", "imputed", "prior"}
    for text in ("measured at int8-bnb", "pooled 8-bit prior", "size only", "nothing scored", "no accuracy score", "effect"):
        assert want["accuracy_basis"].str.contains(text, regex=False).any(), text


def test_a_vendor_score_below_what_the_staging_models_span_is_not_staged() -> None:
    """Vendor-reported scores map onto the leaderboard's through a ridge on the few models that
    carry both; below the scores those span (toward chance) the line says nothing, so such a
    model gets the labelled prior, not an imputed score (Gemma 3 1B's vendor MMLU-Pro of 0.147
    had become a leaderboard 0.32 and an MMLU of 0.63)."""
    rows, params, families = [], {}, {}
    for i in range(12):
        m, size = f"org{i}/both", float(np.geomspace(4, 70, 12)[i])
        vendor = 0.45 + 0.02 * i
        params[m], families[m] = size, (f"fam{i}", 2024.0)
        rows.append({"model_id": m, "task": "mmlu_pro", "accuracy": vendor, "source": "llm-stats-vendor-reported"})
        rows.append({"model_id": m, "task": "mmlu_pro", "accuracy": 0.8 * vendor + 0.02, "source": "open-llm-leaderboard-v2"})
    for m, vendor in (("inside/span", 0.55), ("near/chance", 0.15)):
        params[m], families[m] = 7.0, (m.split("/")[0], 2025.0)
        rows.append({"model_id": m, "task": "mmlu_pro", "accuracy": vendor, "source": "llm-stats-vendor-reported"})
    records = pd.DataFrame(rows).assign(quantization="bf16", accuracy_stderr=np.nan, architecture="", params_b=np.nan)
    model = AccuracyModel.fit(records, params, families=families)
    inside = _predict(model, "inside/span", task="mmlu_pro")
    # (size enters the ridge too, so the point is near, not on, the line 0.8 x + 0.02 = 0.46)
    assert inside["accuracy_status"] == "imputed" and 0.38 < inside["accuracy"] < 0.52
    assert _predict(model, "near/chance", task="mmlu_pro")["accuracy_status"] == "prior"


def test_a_family_prior_never_exceeds_the_best_score_the_table_holds() -> None:
    """Far beyond the scored models in size and date, the prior's line would pass 1; it stops
    at the best score the table holds for the task, its interval below 1."""
    records, params, families = _board()
    params["giant/new"], families["giant/new"] = 5000.0, ("fam-giant", 2031.0)
    model = AccuracyModel.fit(records, params, families=families)
    got = _predict(model, "giant/new", size=5000.0)
    assert got["accuracy_status"] == "prior"
    best = records.loc[(records.task == "mmlu") & (records.quantization == "bf16"), "accuracy"].max()
    assert got["accuracy"] <= best + 1e-9 and got["accuracy_hi"] <= 1.0


def test_an_imputation_from_scores_beyond_every_fitted_model_says_so() -> None:
    """A model scored above every model the regression was fitted on is imputed with a basis
    that names the score past the span; one inside the span is not flagged."""
    records, params, families = _board()
    best_arc = records.loc[records.task == "arc_challenge", "accuracy"].max()
    params["strong/new"], families["strong/new"] = 70.0, ("fam-strong", 2025.0)
    for t, a in (("arc_challenge", min(best_arc + 0.05, 0.99)), ("gsm8k", 0.5)):
        records.loc[len(records)] = {"model_id": "strong/new", "task": t, "quantization": "bf16", "accuracy": a,
                                     "source": "open-llm-leaderboard-v1-final", "architecture": "ArchStrong",
                                     "params_b": 70.0, "accuracy_stderr": np.nan}
    model = AccuracyModel.fit(records, params, families=families)
    strong = _predict(model, "strong/new", size=70.0)
    assert strong["accuracy_status"] == "imputed"
    assert "beyond the scored models (arc_challenge" in strong["accuracy_basis"]
    assert "beyond the scored models" not in _predict(model, "new/model")["accuracy_basis"]


def test_a_tasks_own_score_in_another_setup_is_mapped_onto_the_board_by_a_line() -> None:
    """Intel's 0-shot tables score models the leaderboard scored too: the board's MMLU is their
    MMLU plus an offset. A model scored only there gets the board's MMLU through that line; a
    model the board scored on other tasks keeps the regression from its own board."""
    records, params, families = _board()
    side = []
    for i in range(12):  # twelve board models, one per family, also scored in Intel's setup
        m = f"org{i}/model-0"
        board = records[(records.model_id == m) & (records.task == "mmlu") & (records.quantization == "bf16")]["accuracy"].iloc[0]
        side.append({"model_id": m, "task": "mmlu", "accuracy": board - 0.05})
    side.append({"model_id": "side/only", "task": "mmlu", "accuracy": 0.55})
    side.append({"model_id": "new/model", "task": "mmlu", "accuracy": 0.20})
    params["side/only"], families["side/only"] = 7.0, ("fam-side", 2025.0)
    extra = pd.DataFrame(side).assign(quantization="bf16", source="intel-autoround", architecture="", params_b=np.nan,
                                      accuracy_stderr=np.nan)
    model = AccuracyModel.fit(pd.concat([records, extra], ignore_index=True), params, families=families)
    only = _predict(model, "side/only")
    assert only["accuracy_status"] == "imputed" and "its own mmlu in another setup (intel:mmlu" in only["accuracy_basis"]
    assert abs(only["accuracy"] - 0.60) < 0.02
    # Scored on the board's ARC and GSM8K: those answer, not its (here misleading) Intel score.
    kept = _predict(model, "new/model")
    assert "arc_challenge" in kept["accuracy_basis"] and abs(kept["accuracy"] - (0.25 + 0.6 * 0.456)) < 0.03


def _fresh_fit(monkeypatch, min_trees: int) -> AccuracyModel:
    """The board fitted again, from no memoized state or regression, with trees from
    ``min_trees`` training models (the board's 80 models stay below the shipped 200)."""
    from recommender.model import accuracy_impute, accuracy_model

    monkeypatch.setattr(accuracy_impute, "MIN_TREES", min_trees)
    monkeypatch.setattr(accuracy_impute, "_REGRESSIONS", {})
    monkeypatch.setattr(accuracy_model, "_STATES", {})
    records, params, families = _board()
    return AccuracyModel.fit(records, params, families=families)


def test_tree_imputation_recovers_the_latent_skill(monkeypatch) -> None:
    """With enough models the cross-task regression is a tree ensemble (LightGBM): the
    unscored MMLU of a model scored on the two other tasks lands near the value its latent
    skill gives, inside its interval, and the basis names the regression."""
    model = _fresh_fit(monkeypatch, 40)
    mmlu = [v for k, v in model.state["imputation"].items() if k.startswith("mmlu<-")]
    assert mmlu and all(v["kind"] == "trees" for v in mmlu)
    got = _predict(model, "new/model")
    truth = 0.25 + 0.6 * 0.456
    assert got["accuracy_status"] == "imputed"
    assert abs(got["accuracy"] - truth) < 0.03
    assert got["accuracy_lo"] <= truth <= got["accuracy_hi"]


def test_a_missing_tree_library_is_an_error_that_names_the_fix(monkeypatch) -> None:
    """LightGBM absent (or its OpenMP runtime missing) stops the fit with eai's own error
    naming the fix, not an import traceback."""
    import sys

    from recommender.errors import EaiError

    monkeypatch.setitem(sys.modules, "lightgbm", None)  # the next import raises ImportError
    with pytest.raises(EaiError, match=r"pip install 'lightgbm>=4.0'.*libgomp1"):
        _fresh_fit(monkeypatch, 40)


@pytest.mark.parametrize("source", ["llm-stats-vendor-reported", "intel-autoround"])
def test_a_vendor_only_model_is_imputed_where_narrower_than_the_family_prior_and_stays_out_of_its_fit(source: str) -> None:
    """Mapped through the few models scored both ways, a vendor score's imputation can be wider
    than 10 points yet narrower than the family prior that would answer instead: it answers,
    says its width, and leaves the prior every other model reads as it was. The same score from
    Intel's tables does not answer that wide (the prior does): Intel-scored models are read
    through regressions fitted on the 2023 board, which miss newer models' drift."""
    rng = np.random.default_rng(3)
    rows, params, families = [], {}, {}
    for i in range(14):
        m, size = f"org{i}/both", float(np.geomspace(4, 70, 14)[i])
        vendor = float(rng.uniform(0.3, 0.9))
        params[m], families[m] = size, (f"fam{i % 5}", 2024.0 + i / 10)
        rows.append({"model_id": m, "task": "mmlu_pro", "accuracy": vendor, "source": source})
        rows.append({"model_id": m, "task": "mmlu_pro", "accuracy": float(np.clip(0.8 * vendor + 0.02 + rng.normal(0, 0.06), 0, 1)),
                     "source": "open-llm-leaderboard-v2"})
    params["fam1/unscored"], families["fam1/unscored"] = 9.0, ("fam1", 2024.6)
    records = pd.DataFrame(rows).assign(quantization="bf16", accuracy_stderr=np.nan, architecture="", params_b=np.nan)
    without = AccuracyModel.fit(records, params, families=families)
    params["vendor/only"], families["vendor/only"] = 7.0, ("fam-new", 2025.0)
    extra = {"model_id": "vendor/only", "task": "mmlu_pro", "accuracy": 0.7, "source": source,
             "quantization": "bf16", "accuracy_stderr": np.nan, "architecture": "", "params_b": np.nan}
    model = AccuracyModel.fit(pd.concat([records, pd.DataFrame([extra])], ignore_index=True), params, families=families)
    got = _predict(model, "vendor/only", task="mmlu_pro")
    prior = _predict(model, "fam1/unscored", task="mmlu_pro", size=9.0)
    assert prior == _predict(without, "fam1/unscored", task="mmlu_pro", size=9.0)
    if source == "intel-autoround":
        assert got["accuracy_status"] == "prior" and "family fam-new" in got["accuracy_basis"]
        return
    assert got["accuracy_status"] == "imputed" and prior["accuracy_status"] == "prior"
    width, prior_width = (got["accuracy_hi"] - got["accuracy_lo"]) / 2, (prior["accuracy_hi"] - prior["accuracy_lo"]) / 2
    assert 0.10 < width < prior_width
    assert prior == _predict(without, "fam1/unscored", task="mmlu_pro", size=9.0)


def test_the_size_only_prior_holds_its_line_past_the_largest_fitted_model(fitted) -> None:
    model, _ = fitted
    largest = model.priors["mmlu"]["size_max_b"]
    at_edge, far = _predict(model, "never/seen", size=largest), _predict(model, "never/seen", size=largest * 50)
    assert far["accuracy_status"] == "prior" and "size only" in far["accuracy_basis"]
    assert far["accuracy"] == pytest.approx(at_edge["accuracy"]) and far["accuracy"] < 1.0 and far["accuracy_hi"] == 1.0


def test_a_checkpoint_answers_with_its_originals_scores_without_training_on_them_twice() -> None:
    records, params, families = _board()
    params["org4/model-1-FP8"], families["org4/model-1-FP8"] = params["org4/model-1"], families["org4/model-1"]
    plain = AccuracyModel.fit(records, params, families=families)
    aliased = AccuracyModel.fit(records, params, families=families, same_as={"org4/model-1-FP8": "org4/model-1"})
    for task in ("mmlu", "gsm8k"):
        assert _predict(plain, "org4/model-1-FP8", task=task)["accuracy_status"] == "prior"
        got, original = _predict(aliased, "org4/model-1-FP8", task=task), _predict(aliased, "org4/model-1", task=task)
        assert got["accuracy"] == original["accuracy"] and got["accuracy_status"] == original["accuracy_status"] == "measured"
    # Nothing else moves: the alias's scores train no regression.
    assert _predict(aliased, "new/model") == _predict(plain, "new/model")


def test_a_name_without_a_family_of_its_own_takes_its_variants_family_prior_not_the_size_line() -> None:
    records, params, families = _board()
    params["org3/unscored-base"] = params["org3/unscored"]  # no family or release date of its own
    plain = AccuracyModel.fit(records, params, families=families)
    linked = AccuracyModel.fit(records, params, families=families, prior_from={"org3/unscored-base": "org3/unscored"})
    size = params["org3/unscored"]
    assert _predict(plain, "org3/unscored-base", size=size)["accuracy_basis"].startswith("prior: size only")
    got, variant = _predict(linked, "org3/unscored-base", size=size), _predict(linked, "org3/unscored", size=size)
    assert got["accuracy"] == variant["accuracy"] and got["accuracy_basis"].startswith("prior: family fam3")
    assert got["accuracy_basis"].endswith("(of its catalogued variant org3/unscored)")
    # A model scored on its own keeps its scores.
    assert _predict(AccuracyModel.fit(records, params, families=families, prior_from={"new/model": "org3/unscored"}), "new/model") == _predict(plain, "new/model")
