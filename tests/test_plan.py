"""recommender.plan: variance split, joint predictive, probability of best, value of information,
cost model, sweep files, and ``eai plan`` on a synthetic predictor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.plan import cost as costmod
from recommender.plan.joint import JointPredictive, Scales
from recommender.plan.probability import probabilities
from recommender.plan.problem import Problem, SampledConstraint
from recommender.plan.variance import FACTORS, VarianceSplit, estimate, standardized_residuals
from recommender.plan.voi import ValueModel


def _split(platform: float = 0.3, model: float = 0.4, engine: float = 0.0, rho: float = 0.6) -> VarianceSplit:
    return VarianceSplit(
        weights={"platform": platform, "model": model, "engine": engine},
        idiosyncratic=1.0 - platform - model - engine,
        rho_energy_time=rho,
        pairs={f: 0 for f in FACTORS},
        data_hash="",
        source="test",
        computed_at="",
    )


def _problem(energy, half=0.3, cap=None, time=None):
    """Minimize energy (log-symmetric 90% half-width ``half``), optionally with a latency cap."""
    e = np.asarray(energy, dtype=float)
    n = e.size
    t = np.ones(n) if time is None else np.asarray(time, dtype=float)
    s = {q: np.full(n, half / 1.6448536269514722) for q in ("energy", "time", "accuracy")}
    scales = Scales(lo=dict(s), hi=dict(s))
    cons = ()
    if cap is not None:
        cons = (SampledConstraint("latency_s_max", "latency", t, np.full(n, cap), "max", (0.0, 1.0, 0.0)),)
    return Problem("energy", -1, np.log(e), (1.0, 0.0, 0.0), cons, np.ones(n, dtype=bool),
                   {"energy": e, "time": t, "accuracy": np.full(n, 0.5)}, scales)


def _joint(problem, platforms, models, split=None):
    return JointPredictive(
        levels={"platform": np.asarray(platforms), "model": np.asarray(models), "engine": np.zeros(len(platforms), dtype=int)},
        accuracy_levels=np.asarray(models),
        scales=problem.scales,
        split=split or _split(),
    )


# ----------------------------------------------------------------------------- variance split


def test_standardized_residual_uses_the_side_of_the_interval() -> None:
    z = standardized_residuals([2.0, 0.5, 1.0], [1.0, 1.0, 1.0], [0.25, 0.25, 0.25], [2.0, 2.0, 2.0])
    # y = hi -> +1.645; y = p * (lo/p)^(log 2 / log 4) -> -0.8225; y = p -> 0.
    assert z[0] == pytest.approx(1.6448536, rel=1e-6)
    assert z[1] == pytest.approx(-1.6448536 / 2, rel=1e-6)
    assert z[2] == 0.0


def test_estimate_recovers_a_shared_platform_error() -> None:
    """Residuals with a strong per-platform error: the split gives the platform the weight."""
    rng = np.random.default_rng(0)
    rows = []
    for p in range(8):
        u_p = rng.standard_normal()
        for m in range(6):
            for e in range(2):
                rows.append({"platform": f"p{p}", "model_id": f"m{m}", "engine": f"e{e}", "source": f"s{e}",
                             "z": np.sqrt(0.7) * u_p + np.sqrt(0.3) * rng.standard_normal()})
    t = pd.DataFrame(rows)
    pred = np.ones(len(t))
    y = np.exp(t["z"].to_numpy() * 0.1)  # scale 0.1 per unit z
    lo, hi = np.exp(-0.1 * 1.6448536) * pred, np.exp(0.1 * 1.6448536) * pred
    block = {"measured": y.tolist(), "predicted": pred.tolist(), "lo": lo.tolist(), "hi": hi.tolist()}
    t["energy_j_per_query"] = y
    t["time_s_per_query"] = y
    report = {"splits": {s: {"predictions": {"energy_j_per_query": block, "time_s_per_query": block}} for s in ("platform", "model", "source")}}
    split = estimate(report, t, "h", "synthetic")
    assert split.weights["platform"] > 0.4
    assert split.weights["model"] < 0.15
    assert split.idiosyncratic >= 0.1
    assert split.rho_energy_time == pytest.approx(0.99)  # identical residuals, clipped


# ----------------------------------------------------------------------------- joint predictive


def test_samples_reproduce_the_calibrated_interval() -> None:
    prob = _problem([1.0, 2.0, 3.0], half=0.4)
    joint = _joint(prob, [0, 0, 1], [0, 1, 1])
    z = joint.sample(np.arange(3), 4000, np.random.default_rng(1))
    d = prob.delta(np.arange(3), z)["energy"]
    inside = np.mean(np.abs(d) <= 0.4, axis=0)
    assert np.all(np.abs(inside - 0.90) < 0.03)


def test_shared_platform_errors_are_correlated_and_others_not() -> None:
    prob = _problem([1.0, 1.0, 1.0])
    joint = _joint(prob, [0, 0, 1], [0, 1, 2], _split(platform=0.5, model=0.0))
    z = joint.sample(np.arange(3), 6000, np.random.default_rng(2))["energy"]
    c = np.corrcoef(z.T)
    assert c[0, 1] == pytest.approx(0.5, abs=0.05)
    assert abs(c[0, 2]) < 0.05


def test_observing_a_cell_moves_cells_that_share_its_components() -> None:
    prob = _problem([1.0, 1.0, 1.0])
    joint = _joint(prob, [0, 0, 1], [0, 1, 2], _split(platform=0.5, model=0.0))
    joint.observe_values(0, {"energy": 1.0}, {"energy": 1.3})
    mean = joint.posterior_mean("energy", np.arange(3))
    assert mean[0] > 1.0  # the cell itself: about its measured latent
    assert 0.2 < mean[1] < mean[0]  # same platform: pulled up, less
    assert mean[2] == pytest.approx(0.0, abs=1e-12)  # shares nothing
    var = joint.posterior_var("energy", np.arange(3))
    assert var[0] < 0.01 and var[1] < 1.0 and var[2] == pytest.approx(1.0)
    # Conditional samples agree with the conditional mean.
    z = joint.sample(np.arange(3), 4000, np.random.default_rng(3))["energy"]
    assert np.allclose(z.mean(axis=0), mean, atol=0.06)


# ----------------------------------------------------------------------------- probabilities


def test_a_models_16_bit_formats_share_one_accuracy_error_and_quantized_formats_their_own() -> None:
    from recommender.plan.problem import joint_from_frame

    frame = pd.DataFrame({
        "platform": ["h100"] * 4, "engine": ["vllm"] * 4,
        "model_id": ["a", "a", "a", "b"], "quantization": ["fp16", "bf16", "int8-bnb", "bf16"],
    })
    scales = _problem([1.0] * 4).scales
    rows = np.arange(4)
    corr = joint_from_frame(frame, _split(), scales, ("fp16", "bf16", "fp32")).corr(rows, rows, "accuracy")
    assert corr[0, 1] == 1.0 and corr[0, 2] == 0.0 and corr[1, 3] == 0.0
    draws = joint_from_frame(frame, _split(), scales, ("fp16", "bf16", "fp32")).sample(rows, 200, np.random.default_rng(0))
    assert np.array_equal(draws["accuracy"][:, 0], draws["accuracy"][:, 1])
    # Without the reference formats named, each (model, quantization) is drawn apart (as before).
    assert joint_from_frame(frame, _split(), scales).corr(rows, rows, "accuracy")[0, 1] == 0.0


def test_a_quantized_score_derived_from_the_reference_shares_the_reference_error() -> None:
    from recommender.plan.problem import joint_from_frame

    # Row 0: the model's fp16 reference (90 % half-width 0.1 in log accuracy); row 1: int8 scored
    # as reference + effect (half-width 0.2, so a quarter of its variance is the reference's);
    # row 2: int4 measured at its own precision (nothing shared); row 3: another model.
    frame = pd.DataFrame({
        "platform": ["h100"] * 4, "engine": ["vllm"] * 4, "model_id": ["a", "a", "a", "b"],
        "quantization": ["fp16", "int8-bnb", "awq-int4", "fp16"], "base_row": [0, 0, 0, 3],
        "accuracy_status_code": [1, 1, 0, 1],
    })
    z90 = 1.6448536269514722
    s = {q: np.array([0.1, 0.2, 0.05, 0.1]) / z90 for q in ("energy", "time", "accuracy")}
    joint = joint_from_frame(frame, _split(), Scales(lo=dict(s), hi=dict(s)), ("fp16", "bf16", "fp32"))
    rows = np.arange(4)
    corr = joint.corr(rows, rows, "accuracy")
    assert corr[0, 1] == pytest.approx(0.5) and corr[0, 2] == 0.0 and corr[1, 2] == 0.0 and corr[1, 3] == 0.0
    assert np.allclose(np.diag(corr), 1.0)
    draws = joint.sample(rows, 20000, np.random.default_rng(1))["accuracy"]
    assert np.corrcoef(draws[:, 0], draws[:, 1])[0, 1] == pytest.approx(0.5, abs=0.03)
    assert draws[:, 1].std() == pytest.approx(1.0, abs=0.03)


def test_probability_of_best_orders_and_splits_ties() -> None:
    prob = _problem([1.0, 1.0, 10.0], half=0.3)
    joint = _joint(prob, [0, 1, 2], [0, 1, 2])
    res = probabilities(prob, joint, samples=4000, seed=0)
    assert res.p_best[2] == 0.0
    assert res.p_best[0] == pytest.approx(0.5, abs=0.04)
    assert res.p_best.sum() == pytest.approx(1.0)


def test_constraint_probability_at_the_limit_is_one_half() -> None:
    prob = _problem([1.0, 2.0], half=0.3, cap=1.0, time=[1.0, 0.5])
    joint = _joint(prob, [0, 1], [0, 1])
    res = probabilities(prob, joint, samples=4000, seed=0)
    p = res.p_constraint["latency_s_max"]
    assert p[0] == pytest.approx(0.5, abs=0.04)
    assert p[1] > 0.99
    # In worlds where the cheap candidate misses the limit, the other one is best.
    assert res.p_best[1] == pytest.approx(1 - res.p_feasible[0], abs=0.03)


# ----------------------------------------------------------------------------- value of information


def test_value_of_information_is_zero_for_unrelated_cells_and_falls_once_measured() -> None:
    # Two close contenders (platforms 0, 1), a far-off candidate on platform 2 sharing nothing.
    prob = _problem([1.0, 1.05, 50.0], half=0.5)
    joint = _joint(prob, [0, 1, 2], [0, 1, 2], _split(platform=0.0, model=0.0))
    res = probabilities(prob, joint, samples=3000, seed=0)
    vm = ValueModel.build(res, joint)
    v = vm.values(joint, np.arange(3))
    assert v[0] > 0.01 and v[1] > 0.01
    assert v[2] == 0.0
    joint.observe(0, 0.0, 0.0, np.nan)
    v_after = vm.values(joint, np.array([0]))
    assert v_after[0] < 0.1 * v[0]


# ----------------------------------------------------------------------------- cost model


def _cfg(**kw) -> costmod.CostConfig:
    base = dict(confidence_z=1.645, accuracy_halfwidth_min=0.02, energy_window_s=30, repeats=3, min_queries=20,
                setup_s=120, items={"arc_easy": 100, "mmlu": 5700}, limit_units={"mmlu": 57})
    base.update(kw)
    return costmod.CostConfig(**base)


def test_queries_for_accuracy_precision_and_the_item_cap() -> None:
    cfg = _cfg()
    # p = 0.5, predicted half-width 0.2 -> aim 0.1: 1.645^2 * 0.25 / 0.01 = 67.65 -> 68.
    c = costmod.task_cost("mmlu", 0.5, 0.2, False, time_s_per_query=0.01, batch_size=1, config=cfg)
    assert (c.queries, c.reason) == (3000, "energy")  # 30 s at 100 queries/s beats 68
    c = costmod.task_cost("mmlu", 0.5, 0.2, False, time_s_per_query=10.0, batch_size=1, config=cfg)
    assert (c.queries, c.reason) == (68, "accuracy")
    assert c.seconds == pytest.approx(3 * 68 * 10.0)
    c = costmod.task_cost("arc_easy", 0.5, 0.2, True, time_s_per_query=0.001, batch_size=1, config=cfg)
    assert (c.queries, c.reason) == (100, "all items")
    assert costmod.sweep_limit("mmlu", 68, cfg) == 2


def test_shipped_plan_settings_load() -> None:
    cfg = costmod.load_config()
    assert cfg.cost.repeats >= 1 and cfg.planner.max_cells >= 1


# ----------------------------------------------------------------------------- eai plan (synthetic predictor)


@pytest.fixture(scope="module")
def predictor():
    from recommender.rules.catalogs import Catalogs
    from recommender.rules.synthetic import FormulaPredictor

    return FormulaPredictor(Catalogs.load(), measured={("a100-pcie-40gb", "fp16")})


@pytest.fixture
def run_plan(monkeypatch, capsys, predictor):
    import recommender.cli.plan_cmd as plan_cmd
    from recommender.cli import main

    monkeypatch.setattr(plan_cmd, "_load_predictor", lambda model_dir: predictor)

    def _run(args):
        code = main(args)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def test_plan_writes_sweep_files_the_profiler_loads(run_plan, tmp_path: Path) -> None:
    from profiler.sweep import load_sweep_file

    out = tmp_path / "sweep.yaml"
    code, stdout, err = run_plan(["plan", "--task", "gsm8k", "--scenario", "enterprise", "--budget-gpu-hours", "3", "--out", str(out)])
    assert code == 0, err
    doc = json.loads((tmp_path / "sweep.plan.json").read_text())
    assert doc["cells"], stdout
    assert doc["spent_gpu_hours"] <= 3.0
    assert [Path(p).name for p in doc["sweep_files"]][0] == "sweep.yaml"
    for path, cell in zip(doc["sweep_files"], doc["cells"]):
        spec = load_sweep_file(path)
        assert spec.models == [cell["model_id"]] and spec.quants == [cell["quantization"]]
        assert spec.engines == [cell["engine"]]
        assert spec.batch_size == cell["batch_size"] and spec.device == "cuda"
        assert f"platform: {cell['platform']}" in Path(path).read_text()
    # Probabilities of being best sum to at most one; the verdict follows the flow's threshold.
    assert sum(c["p_best"] for c in doc["most_likely_best"]) <= 1.0 + 1e-9
    d = doc["decision"]
    assert d["decisive"] == (doc["most_likely_best"][0]["p_best"] >= d["decisive_probability"])
    assert ("tie:" in stdout) != d["decisive"]


def test_an_edge_plan_measures_llamacpp_on_the_gpu_and_says_which_file_to_give(run_plan, tmp_path: Path) -> None:
    from profiler.sweep import load_sweep_file

    out = tmp_path / "edge.yaml"
    code, stdout, err = run_plan(["plan", "--task", "gsm8k", "--scenario", "edge", "--have", "rtx-4060-ti-16gb",
                                  "--budget-gpu-hours", "1", "--out", str(out)])
    assert code == 0, err
    doc = json.loads((tmp_path / "edge.plan.json").read_text())
    cells = [(c, p) for c, p in zip(doc["cells"], doc["sweep_files"]) if c["engine"] == "llama.cpp"]
    assert cells, stdout
    for cell, path in cells:
        text = Path(path).read_text()
        assert load_sweep_file(path).device == "cuda"
        assert f"write the model as '{cell['model_id']}=/path/to/file.gguf'" in text and "built with CUDA" in text


def test_plan_lists_cells_on_missing_hardware_apart(run_plan) -> None:
    code, stdout, err = run_plan(["plan", "--task", "gsm8k", "--scenario", "enterprise", "--have", "rtx-4090", "--json"])
    assert code == 0, err
    doc = json.loads(stdout)
    assert all(c["platform"] == "rtx-4090" for c in doc["cells"])
    # Every chosen cell is one the profiler can measure (its engine and quantization).
    from recommender.cli.plan_cmd import _profiler_can_measure

    assert all(_profiler_can_measure(c["platform"], c["engine"], c["quantization"]) == "" for c in doc["cells"])
    assert _profiler_can_measure("rtx-4090", "vllm", "fp16") == ""
    # llama.cpp offloads to a GPU (with a CUDA build, checked where the sweep runs); vLLM needs one.
    assert _profiler_can_measure("rtx-4090", "llama.cpp", "gguf-q4") == ""
    assert "vllm on cuda" in _profiler_can_measure("cpu-amd-epyc-zen4", "vllm", "fp16")
    assert "cannot load" in _profiler_can_measure("rtx-4090", "vllm", "nf4-bnb")
    assert "not tensorrt-llm" in _profiler_can_measure("rtx-4090", "tensorrt-llm", "fp16")
    # AWQ under vLLM: measurable where the catalog names the model's checkpoint.
    assert _profiler_can_measure("rtx-4090", "vllm", "awq-int4", "Qwen/Qwen2.5-7B-Instruct") == ""
    assert "names none" in _profiler_can_measure("rtx-4090", "vllm", "awq-int4", "mistralai/Mistral-7B-Instruct-v0.2")
    for c in doc["cells_elsewhere"]:
        assert not c["available"]
        assert ("not among the platforms you have" in c["unavailable_reason"]) == (c["platform"] != "rtx-4090")
        assert c["platform"] != "rtx-4090" or "profiler" in c["unavailable_reason"]


def test_plan_since_reports_how_the_pick_moved(run_plan, tmp_path: Path) -> None:
    code, stdout, _ = run_plan(["plan", "--task", "gsm8k", "--scenario", "enterprise", "--json"])
    old = tmp_path / "old.plan.json"
    old.write_text(stdout)
    code, stdout, err = run_plan(["plan", "--task", "gsm8k", "--scenario", "enterprise", "--since", str(old)])
    assert code == 0, err
    assert "since the earlier plan:" in stdout
    assert "same measured table as the earlier plan" in stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["plan", "--task", "gsm8k", "--budget-gpu-hours", "-1"], "--budget-gpu-hours"),
        (["plan", "--task", "gsm8k", "--have", "rtx-40900"], "did you mean"),
        (["plan"], "no task given"),
    ],
)
def test_plan_user_errors_are_one_line(run_plan, one_line_error, args, needle) -> None:
    code, _, err = run_plan(args)
    assert code == 2
    assert needle in one_line_error(err)


# ----------------------------------------------------------------------------- eai recommend with probabilities


@pytest.fixture
def run_recommend(monkeypatch, capsys, predictor):
    import recommender.cli.recommend_cmd as recommend_cmd
    from recommender.cli import main

    monkeypatch.setattr(recommend_cmd, "_load_predictor", lambda model_dir: predictor)

    def _run(args):
        code = main(args)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def test_recommend_reports_probabilities_and_names_ties_by_the_flow_threshold(run_recommend, tmp_path: Path) -> None:
    code, out, err = run_recommend(["recommend", "--task", "gsm8k", "--scenario", "enterprise", "--json"])
    assert code == 0, err
    doc = json.loads(out)
    d = doc["explanation"]["decision"]
    rows = doc["recommendations"]
    assert all(0.0 <= r["probability_best"] <= 1.0 for r in rows)
    assert sum(r["probability_best"] for r in rows) <= 1.0 + 1e-9
    assert d["pick_probability_best"] == rows[0]["probability_best"]
    top = d["most_likely_best"][0]["probability_best"]
    assert d["decisive"] == (top >= d["decisive_probability"]) and d["named_tie"] == (not d["decisive"])
    assert doc["explanation"]["ties"]["statement"].startswith("decisive:" if d["decisive"] else "tie:")
    earlier = tmp_path / "before.json"
    earlier.write_text(out)
    code, out, err = run_recommend(["recommend", "--task", "gsm8k", "--scenario", "enterprise", "--since", str(earlier)])
    assert code == 0, err
    assert "Since the earlier answer:" in out and "pick unchanged" in out


def test_movement_names_a_changed_pick() -> None:
    from recommender.plan.decision import movement

    def doc(h, platform, p):
        row = {"platform": platform, "device_count": 1, "model_id": "m", "quantization": "fp16", "engine": "vllm", "batch_size": 1}
        return {"data_hash": h, "recommendations": [row],
                "explanation": {"decision": {"pick_probability_best": p, "decisive": p >= 0.5,
                                             "most_likely_best": [{"configuration": platform, "probability_best": p}]}}}

    lines = movement(doc("a", "l4", 0.3), doc("b", "a10", 0.8))
    assert lines[0].startswith("pick changed: l4")
    assert "30% -> 80% (now decisive)" in lines[1]


def test_plan_says_what_its_runs_cannot_settle_for_a_served_workload(run_plan, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"tasks": ["gsm8k"], "scenario": "enterprise", "serving": {"workload": "lm-arena-chat"}}))
    code, stdout, err = run_plan(["plan", str(spec), "--json"])
    assert code == 0, err
    notes = json.loads(stdout)["notes"]
    assert any("served workload lm-arena-chat" in n and "(gsm8k)" in n for n in notes)
    code, stdout, err = run_plan(["plan", "--task", "gsm8k", "--scenario", "enterprise", "--json"])
    assert not any("served workload" in n for n in json.loads(stdout)["notes"])


def test_the_sampled_worlds_draw_scores_around_their_points_when_floors_are_asked_with_confidence() -> None:
    # The answer holds its floors to a quantile of each score; the planner's worlds know the
    # score, so its constraints start from the point score and the point share kept.
    from recommender.plan.problem import from_context
    from recommender.rules.engine import prepare_answer
    from recommender.rules.spec import parse_spec
    from recommender.rules.synthetic import TablePredictor, small_catalogs

    values = {
        ("rtx-4090", "org/mid-7b", q, "gsm8k"): {"energy_j": e, "time_s": 1.0, "accuracy": a, "rel_halfwidth": h, "accuracy_status": s}
        for q, e, a, h, s in (("fp16", 100.0, 0.70, 0.05, "measured"), ("nf4-bnb", 60.0, 0.69, 0.15, "imputed"))
    }
    base = {"tasks": ["gsm8k"], "serving": {"engines": ["hf-transformers"]}, "hardware": {"platforms": ["rtx-4090"]},
            "models": {"ids": ["org/mid-7b"]}, "objective": "energy"}
    floors = {"min": 0.6, "min_relative_to_fp16": 0.95}
    plain = prepare_answer(parse_spec({**base, "accuracy": floors}), TablePredictor(values), catalogs=small_catalogs())
    sure = prepare_answer(parse_spec({**base, "accuracy": {**floors, "min_confidence": 0.9}}), TablePredictor(values), catalogs=small_catalogs())
    for name in ("accuracy.min", "accuracy.min_relative_to_fp16"):
        c_plain = next(c for c in plain.constraints if c.name == name)
        c_sure = next(c for c in sure.constraints if c.name == name)
        assert np.nanmax(c_plain.values - c_sure.values) > 0.01  # the answer reads a quantile
        p_plain = next(c for c in from_context(plain).constraints if c.name == name)
        p_sure = next(c for c in from_context(sure).constraints if c.name == name)
        np.testing.assert_allclose(p_sure.point, p_plain.point, equal_nan=True)
        np.testing.assert_allclose(p_plain.point, c_plain.values, equal_nan=True)


def test_plan_asks_the_question_recommend_answered(run_plan, run_recommend, tmp_path: Path) -> None:
    # The requirement flags are one declaration (recommender.cli.spec_flags): the same flags
    # make the same spec in both commands, and the plan document names it.
    flags = ["--task", "gsm8k:2", "--task", "mmlu", "--scenario", "enterprise", "--min-accuracy", "0.3", "--max-latency", "60",
             "--queries-per-day", "10000", "--engine-version", "vllm=0.11.1", "--priority", "energy", "--chance-adjusted"]
    code, stdout, err = run_recommend(["recommend", *flags, "--json"])
    assert code == 0, err
    answered = json.loads(stdout)["spec"]
    code, stdout, err = run_plan(["plan", *flags, "--json"])
    assert code == 0, err
    planned = json.loads(stdout)["spec"]
    assert {k: v for k, v in planned.items() if k != "top_k"} == {k: v for k, v in answered.items() if k != "top_k"}
    assert planned["tasks"] == [{"id": "gsm8k", "weight": 2.0}, {"id": "mmlu", "weight": 1.0}]
    assert planned["accuracy"]["min"] == 0.3 and planned["accuracy"]["chance_adjusted"] is True
    assert planned["economics"]["queries_per_day"] == 10000 and planned["serving"]["engine_versions"] == {"vllm": "0.11.1"}
    # A spec file with flags laid over it: the flags win field by field, the file keeps the rest.
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"tasks": ["mmlu"], "scenario": "enterprise", "latency_s_max": 30}), encoding="utf-8")
    code, stdout, err = run_plan(["plan", str(spec), "--min-accuracy", "0.4", "--json"])
    assert code == 0, err
    got = json.loads(stdout)["spec"]
    assert got["latency_s_max"] == 30 and got["accuracy"]["min"] == 0.4 and [t["id"] for t in got["tasks"]] == ["mmlu"]


def test_plan_since_says_when_the_earlier_plan_asked_another_question(run_plan, tmp_path: Path) -> None:
    code, stdout, _ = run_plan(["plan", "--task", "gsm8k", "--scenario", "enterprise", "--json"])
    old = tmp_path / "old.plan.json"
    old.write_text(stdout)
    code, stdout, err = run_plan(["plan", "--task", "gsm8k", "--scenario", "enterprise", "--min-accuracy", "0.3", "--since", str(old)])
    assert code == 0, err
    assert "the earlier plan was made for another question (accuracy.min differ)" in stdout
    code, stdout, err = run_plan(["plan", "--task", "gsm8k", "--scenario", "enterprise", "--since", str(old)])
    assert code == 0, err
    assert "another question" not in stdout
