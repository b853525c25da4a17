"""Rules engine: memory fit (hand-computed), flow, constraints, ranking with ties, explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.errors import InvalidInputError, SpecError
from recommender.rules import fit
from recommender.rules.engine import prepare_answer, recommend
from recommender.rules.explain import NothingFeasible
from recommender.rules.flow import load_flow, preference_rank
from recommender.rules.rank import Objective, confident_kept, confident_score, select
from recommender.rules.spec import parse_spec
from recommender.rules.synthetic import FormulaPredictor, TablePredictor, small_catalogs

P = fit.FitParams(runtime_overhead_gb=1.0, fragmentation_fraction=0.10, kv_cache_bytes=2.0)


# ---------------------------------------------------------------- memory fit, by hand


def test_kv_cache_hand_computed() -> None:
    # Mistral-7B: 32 layers, 8 KV heads, head dim 4096/32 = 128, fp16 cache.
    # 2 (K,V) * 32 * 8 * 128 * 2 B = 131,072 B per token; x 4096 tokens = 536,870,912 B.
    assert fit.kv_cache_gb(32, 8, 128, 1, 4096, 2.0) == pytest.approx(0.536870912)
    # Batch 8 x 2048 tokens is the same 16,384-token budget as batch 4 x 4096.
    assert fit.kv_cache_gb(32, 8, 128, 8, 2048) == pytest.approx(fit.kv_cache_gb(32, 8, 128, 4, 4096))


# ---------------------------------------------------------------- fixtures

CAT = small_catalogs()
# bitsandbytes precisions run only under HF transformers, which the flow proposes only when asked.
HF = {"engines": ["hf-transformers"]}


def _table(entries: dict[tuple[str, str, str], tuple[float, float, float, float]], tasks=("gsm8k",)) -> TablePredictor:
    """(platform, model, quant) -> (energy J, time s, accuracy, rel half-width), same for every task."""
    values = {}
    for (p, m, q), (e, t, a, h) in entries.items():
        for task in tasks:
            values[(p, m, q, task)] = {"energy_j": e, "time_s": t, "accuracy": a, "rel_halfwidth": h}
    return TablePredictor(values)


# ---------------------------------------------------------------- ties


def test_select_marks_overlapping_intervals_as_ties() -> None:
    score = np.array([10.0, 9.5, 5.0, 9.9])
    obj = Objective("eor", "eor", 1, score, score, score - 1.0, score + 1.0)
    sel = select(np.ones(4, dtype=bool), obj, np.zeros(4, dtype=np.int64))
    assert sel is not None
    assert sel.winner == 0
    assert list(sel.order) == [0, 3, 1, 2]
    assert list(sel.tie) == [True, True, True, False]
    assert list(sel.rank) == [1, 1, 1, 4]


def test_rows_sharing_an_unnamed_release_are_compared_without_its_gap() -> None:
    """Rows 0-2 run one engine at a release the user did not name (group 0), row 3 another
    engine's (group -1, none shared). Their full intervals (the release's gap included) all
    overlap the winner's; without the gap, which moves rows 0-2 alike, row 2 is clearly worse,
    and row 3, whose release is its own unknown, stays compared with the full widths."""
    score = np.array([10.0, 9.5, 5.0, 6.0])
    obj = Objective(
        "eor", "eor", 1, score, score, score - 6.0, score + 6.0,
        shared_lo=score - 1.0, shared_hi=score + 1.0, release_group=np.array([0, 0, 0, -1]),
    )
    sel = select(np.ones(4, dtype=bool), obj, np.zeros(4, dtype=np.int64))
    assert sel is not None and sel.winner == 0
    tied = {int(r) for r, t in zip(sel.order, sel.tie, strict=True) if t}
    assert tied == {0, 1, 3}
    # Without the shared ends every row is tied.
    full = Objective("eor", "eor", 1, score, score, score - 6.0, score + 6.0)
    assert select(np.ones(4, dtype=bool), full, np.zeros(4, dtype=np.int64)).tie.all()


def test_rows_equal_in_cost_go_to_the_more_accurate() -> None:
    # One architecture (a model, its newer release, its instruct tune) costs the same: the
    # accuracy orders them, in the tie group and outside it, never the order they came in.
    energy = np.array([5.0, 5.0, 5.0, 9.0, 9.0])
    accuracy = np.array([0.56, 0.61, 0.59, 0.70, 0.72])
    obj = Objective("energy", "wh_per_1k", -1, energy, -energy, -energy - 0.5, -energy + 0.5, last_score=accuracy)
    sel = select(np.ones(5, dtype=bool), obj, np.zeros(5, dtype=np.int64))
    assert sel.winner == 1 and list(sel.order) == [1, 2, 0, 4, 3]
    # The flow's preference still comes first.
    assert select(np.ones(5, dtype=bool), obj, np.array([1, 1, 0, 0, 0])).winner == 2


def test_select_uses_preference_only_inside_tie_group() -> None:
    score = np.array([10.0, 9.5, 5.0])
    obj = Objective("eor", "eor", 1, score, score, score - 1.0, score + 1.0)
    # Row 1 is preferred and tied with the point-best: it wins.
    sel = select(np.ones(3, dtype=bool), obj, np.array([3, 0, 0]))
    assert sel.winner == 1 and sel.anchor == 0
    # Row 2 is preferred but clearly worse: preference does not override the data.
    sel = select(np.ones(3, dtype=bool), obj, np.array([3, 3, 0]))
    assert sel.winner == 0


def test_recommend_ties_and_clear_loser() -> None:
    pred = _table(
        {
            ("a100-pcie-40gb", "org/mid-7b", "fp16"): (100.0, 2.0, 0.50, 0.05),
            ("a100-pcie-40gb", "org/mid-7b", "bf16"): (103.0, 2.0, 0.50, 0.05),  # overlaps fp16
            ("a100-pcie-40gb", "org/mid-7b", "int8-bnb"): (200.0, 3.0, 0.50, 0.05),  # clearly worse
        }
    )
    spec = parse_spec(
        {"tasks": ["gsm8k"], "serving": HF, "hardware": {"platforms": ["a100"]}, "models": {"ids": ["org/mid-7b"]},
         "objective": "energy", "priority": "latency"}
    )
    rec = recommend(spec, pred, catalogs=CAT)
    rows = {r["quantization"]: r for r in rec.rows}
    assert rows["fp16"]["rank"] == 1 and rows["bf16"]["rank"] == 1
    assert rows["fp16"]["tie"] and rows["bf16"]["tie"]
    assert not rows["int8-bnb"]["tie"] and rows["int8-bnb"]["rank"] == 3
    # Data-center latency preferences list bf16 before fp16, and the two are tied: bf16 wins.
    prefs = load_flow().classes["data-center"].preferences["latency"]
    assert prefs.index("bf16") < prefs.index("fp16")
    assert rec.winner["quantization"] == "bf16"
    assert any("flow preference" in d for d in rec.explanation["decided_by"])
    assert rec.explanation["margin_to_runner_up"]["tied"] is True
    assert rec.explanation["ties"]["count"] == 1


def test_clear_winner_is_not_a_tie() -> None:
    pred = _table(
        {
            ("a100-pcie-40gb", "org/mid-7b", "fp16"): (100.0, 2.0, 0.50, 0.01),
            ("a100-pcie-40gb", "org/mid-7b", "bf16"): (150.0, 2.0, 0.50, 0.01),
        }
    )
    spec = parse_spec({"tasks": ["gsm8k"], "hardware": {"platforms": ["a100"]}, "models": {"ids": ["org/mid-7b"]}, "objective": "energy"})
    rec = recommend(spec, pred, catalogs=CAT)
    assert rec.winner["quantization"] == "fp16" and rec.winner["tie"] is False
    assert rec.rows[1]["rank"] == 2
    m = rec.explanation["margin_to_runner_up"]
    assert m["tied"] is False
    assert m["difference_pct"] == pytest.approx((100 - 150) / 150 * 100)


# ---------------------------------------------------------------- constraints and explanation


def _three_way() -> TablePredictor:
    return _table(
        {
            ("rtx-4090", "org/small-1b", "fp16"): (20.0, 0.5, 0.30, 0.02),
            ("rtx-4090", "org/mid-7b", "fp16"): (80.0, 1.5, 0.60, 0.02),
            ("rtx-4090", "org/mid-7b", "int8-bnb"): (60.0, 3.0, 0.595, 0.02),
        }
    )


def test_accuracy_floor_decides_and_what_if() -> None:
    spec = parse_spec(
        {"tasks": ["gsm8k"], "serving": HF, "hardware": {"platforms": ["rtx-4090"]}, "objective": "energy",
         "accuracy": {"min": 0.55}, "latency_s_max": 2.0, "priority": "latency"}
    )
    rec = recommend(spec, _three_way(), catalogs=CAT)
    w = rec.winner
    assert (w["model_id"], w["quantization"]) == ("org/mid-7b", "fp16")
    assert "accuracy.min" in rec.explanation["binding_constraints"]
    assert "latency_s_max" in rec.explanation["binding_constraints"]
    changes = " | ".join(rec.explanation["what_would_change"])
    # A 2x latency limit (4 s) admits the int8 configuration, which uses less energy.
    assert "2x latency limit (4 s)" in changes and "org/mid-7b @ int8-bnb" in changes
    # A 0.9x accuracy floor (0.495) still excludes the 1B model (0.30): no flip from that one.
    assert "accuracy floor of 0.495" not in changes


def test_memory_limit_filters_by_hand_computed_requirement() -> None:
    # org/big-13b fp16: 26 GB weights -> never fits a 24 GB RTX 4090.
    pred = _table(
        {
            ("rtx-4090", "org/big-13b", "fp16"): (10.0, 1.0, 0.9, 0.02),
            ("rtx-4090", "org/big-13b", "nf4-bnb"): (50.0, 1.0, 0.89, 0.02),
        }
    )
    spec = parse_spec(
        {"tasks": ["gsm8k"], "serving": HF, "hardware": {"platforms": ["rtx-4090"], "device_count": 1},
         "models": {"ids": ["org/big-13b"]}, "objective": "energy"}
    )
    rec = recommend(spec, pred, catalogs=CAT)
    assert rec.winner["quantization"] == "nf4-bnb"
    assert "memory" in rec.explanation["binding_constraints"]
    # The rule `eai predict` applies (fit.deployment_memory), for a static engine: nf4 (0.56 B/weight
    # in the test catalog): 13 * 0.56 = 7.28 GB of weights + 1 GB runtime + the batch's KV cache,
    # 2*40*40*128*2 B = 819,200 B/token x 920 tokens (gsm8k 800 prompt + 120 output; above the
    # flow minimum of 512) x 1.1 (fragmentation) = 0.8290304 GB: 9.1090304 GB per device, of the
    # card's 24 GiB = 25.769803776 GB.
    assert rec.winner["memory_gb_required_per_device"] == pytest.approx(9.1090304)
    assert rec.winner["memory_gb_available_per_device"] == pytest.approx(24 * 2**30 / 1e9)


def test_power_cap_and_energy_budget() -> None:
    pred = _table(
        {
            ("rtx-4090", "org/mid-7b", "fp16"): (300.0, 1.0, 0.6, 0.02),  # 300 W mean
            ("rtx-4090", "org/mid-7b", "int8-bnb"): (150.0, 1.0, 0.59, 0.02),  # 150 W mean
        }
    )
    base = {"tasks": ["gsm8k"], "serving": HF, "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/mid-7b"]}, "objective": "tweor"}
    rec = recommend(parse_spec(base), pred, catalogs=CAT)
    assert rec.winner["power_w_mean"] in (pytest.approx(300.0), pytest.approx(150.0))
    capped = recommend(parse_spec({**base, "hardware": {"platforms": ["rtx-4090"], "power_cap_w": 200}}), pred, catalogs=CAT)
    assert capped.winner["quantization"] == "int8-bnb"
    # 150 J/query = 41.67 Wh per 1,000 queries; a 40 Wh budget excludes both.
    with pytest.raises(NothingFeasible) as err:
        recommend(parse_spec({**base, "energy_wh_per_1k_max": 40}), pred, catalogs=CAT)
    assert "energy_wh_per_1k_max" in str(err.value)
    assert err.value.details["binding_constraint"]["name"] == "energy_wh_per_1k_max"
    assert "org/mid-7b @ int8-bnb" in err.value.details["nearest_miss"]["configuration"]
    assert err.value.exit_code == 3


def test_infeasible_names_binding_constraint_and_nearest_miss() -> None:
    spec = parse_spec({"tasks": ["gsm8k"], "hardware": {"platforms": ["rtx-4090"]}, "latency_s_max": 0.1})
    with pytest.raises(NothingFeasible) as err:
        recommend(spec, _three_way(), catalogs=CAT)
    msg = str(err.value)
    assert "binding constraint latency_s_max" in msg
    # The 1B model at 0.5 s is the nearest to a 0.1 s limit.
    assert "nearest miss: rtx-4090 + org/small-1b @ fp16" in msg


def test_relative_accuracy_floor_uses_fp16_of_same_model() -> None:
    pred = _table(
        {
            ("rtx-4090", "org/mid-7b", "fp16"): (100.0, 1.0, 0.60, 0.02),
            ("rtx-4090", "org/mid-7b", "nf4-bnb"): (40.0, 1.0, 0.57, 0.02),  # 95% of fp16
            ("rtx-4090", "org/mid-7b", "int8-bnb"): (70.0, 1.0, 0.594, 0.02),  # 99% of fp16
        }
    )
    spec = parse_spec(
        {"tasks": ["gsm8k"], "serving": HF, "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/mid-7b"]},
         "objective": "energy", "accuracy": {"min_relative_to_fp16": 0.98}}
    )
    rec = recommend(spec, pred, catalogs=CAT)
    assert rec.winner["quantization"] == "int8-bnb"
    assert rec.winner["accuracy_relative_to_fp16"] == pytest.approx(0.99)
    assert rec.winner["efficiency_gain_vs_fp16"] == pytest.approx((0.594 / 70) / (0.60 / 100) - 1)


def test_measured_only_excludes_predicted() -> None:
    values = {
        ("rtx-4090", "org/mid-7b", "fp16", "gsm8k"): {"energy_j": 100.0, "time_s": 1.0, "accuracy": 0.6, "status": "measured"},
        ("rtx-4090", "org/mid-7b", "int8-bnb", "gsm8k"): {"energy_j": 50.0, "time_s": 1.0, "accuracy": 0.6, "status": "extrapolated"},
    }
    pred = TablePredictor(values)
    base = {"tasks": ["gsm8k"], "serving": HF, "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/mid-7b"]}, "objective": "energy"}
    assert recommend(parse_spec(base), pred, catalogs=CAT).winner["quantization"] == "int8-bnb"
    rec = recommend(parse_spec({**base, "allow_predicted": False}), pred, catalogs=CAT)
    assert rec.winner["quantization"] == "fp16" and rec.winner["status"] == "measured"
    assert any("measured configurations only" in c for c in rec.explanation["what_would_change"])


def test_multi_task_weights_aggregate() -> None:
    values = {
        ("rtx-4090", "org/mid-7b", "fp16", "gsm8k"): {"energy_j": 100.0, "time_s": 2.0, "accuracy": 0.4},
        ("rtx-4090", "org/mid-7b", "fp16", "mmlu"): {"energy_j": 10.0, "time_s": 0.2, "accuracy": 0.8},
    }
    spec = parse_spec(
        {"tasks": [{"id": "gsm8k", "weight": 3}, "mmlu"], "hardware": {"platforms": ["rtx-4090"]},
         "models": {"ids": ["org/mid-7b"]}, "economics": {"electricity_usd_per_kwh": 0.1, "carbon_g_per_kwh": 500, "pue": 1.5}}
    )
    rec = recommend(spec, TablePredictor(values), catalogs=CAT)
    w = rec.winner
    assert w["accuracy"]["value"] == pytest.approx(0.75 * 0.4 + 0.25 * 0.8)
    wh = (0.75 * 100 + 0.25 * 10) * 1000 / 3600
    assert w["wh_per_1k_queries"]["value"] == pytest.approx(wh)
    # $ per 1M queries = Wh/1k * PUE * $/kWh; gCO2e per 1k = Wh/1k / 1000 * PUE * g/kWh.
    assert w["cost_usd_per_1m_queries"]["value"] == pytest.approx(wh * 1.5 * 0.1)
    assert w["carbon_g_per_1k_queries"]["value"] == pytest.approx(wh / 1000 * 1.5 * 500)
    assert [t["task"] for t in w["per_task"]] == ["gsm8k", "mmlu"]


# ---------------------------------------------------------------- flow


def test_scenario_filters_platform_classes_and_auto_infers() -> None:
    pred = FormulaPredictor(CAT)
    edge = recommend(parse_spec({"tasks": ["gsm8k"], "scenario": "edge", "top_k": 50}), pred, catalogs=CAT)
    assert {r["platform_class"] for r in edge.rows} == {"edge"}
    auto = recommend(parse_spec({"tasks": ["gsm8k"], "hardware": {"platforms": ["4090"]}}), pred, catalogs=CAT)
    assert auto.scenario == "enterprise"
    assert auto.explanation["flow_path"][0]["why"].startswith("inferred from the hardware")
    with pytest.raises(InvalidInputError, match=r"hardware.platforms\[0\].*outside scenario 'edge'"):
        recommend(parse_spec({"tasks": ["gsm8k"], "scenario": "edge", "hardware": {"platforms": ["a100"]}}), pred, catalogs=CAT)


def test_unknown_names_suggest_and_name_the_field() -> None:
    pred = FormulaPredictor(CAT)
    with pytest.raises(InvalidInputError) as err:
        recommend(parse_spec({"tasks": ["gsm8k"], "hardware": {"platforms": ["rtx-4900"]}}), pred, catalogs=CAT)
    assert "hardware.platforms[0]" in str(err.value) and "did you mean" in str(err.value)
    assert err.value.exit_code == 2
    with pytest.raises(InvalidInputError, match=r"tasks\[0\].*did you mean"):
        recommend(parse_spec({"tasks": ["gsm8"]}), pred, catalogs=CAT)
    with pytest.raises(InvalidInputError, match="workload has no accuracy"):
        recommend(parse_spec({"tasks": ["sharegpt-chat"]}), pred, catalogs=CAT)


def test_flow_defaults_objective_and_floor_from_yaml() -> None:
    flow = load_flow()
    pred = FormulaPredictor(CAT)
    for priority, node in flow.priorities.items():
        rec = recommend(parse_spec({"tasks": ["gsm8k"], "priority": priority}), pred, catalogs=CAT)
        assert rec.objective == node.objective
    # energy with an absolute floor switches to the energy objective (objective_when in the YAML).
    rec = recommend(parse_spec({"tasks": ["gsm8k"], "priority": "energy", "accuracy": {"min": 0.1}}), pred, catalogs=CAT)
    assert rec.objective == "energy"


def test_demotions_apply_by_candidate_columns() -> None:
    flow = load_flow()
    q = np.array(["int8-bnb", "int8-bnb", "fp16"], dtype=object)
    cls = np.array(["data-center"] * 3, dtype=object)
    rank_small = preference_rank(flow, "energy", cls, q, {"batch_size": np.array([1.0, 64.0, 1.0]), "params_total_b": np.full(3, 7.0)})
    # int8-bnb at batch 1 is demoted below fp16; at batch 64 it keeps its place.
    assert rank_small[0] > rank_small[2]
    assert rank_small[1] < rank_small[2]
    # Pure INT8 drew more gross energy than FP16 at batch 1-8 on both GPUs reported: demoted in both classes.
    q2 = np.array(["int8-bnb-t0", "int8-bnb-t0", "fp16", "fp16"], dtype=object)
    cls2 = np.array(["data-center", "workstation", "data-center", "workstation"], dtype=object)
    cols = {"batch_size": np.ones(4), "params_total_b": np.full(4, 7.0), "platform_class": cls2}
    r2 = preference_rank(flow, "energy", cls2, q2, cols)
    assert r2[0] > r2[2] and r2[1] > r2[3]
    # A list condition (platform_class_in) limits a demotion to the classes it names.
    from recommender.rules.flow import Demotion

    only_dc = flow.model_copy(
        update={"demotions": (Demotion(quantization="int8-bnb-t0", when={"batch_size_max": 8, "platform_class_in": ("data-center",)}, why="t"),)}
    )
    r3 = preference_rank(only_dc, "energy", cls2, q2, cols)
    assert r3[0] > r3[2]  # data-center: below fp16
    assert r3[1] < r3[3]  # workstation: keeps its place ahead of fp16


def test_an_upcast_of_published_weights_is_never_the_preferred_format() -> None:
    # Priority accuracy on data-center orders bf16 before fp8; for a model published in FP8
    # (DeepSeek-V3) bf16 is an exact upcast that moves twice the bytes, so it ranks last.
    flow = load_flow()
    q = np.array(["bf16", "fp8", "bf16", "fp8"], dtype=object)
    cls = np.array(["data-center"] * 4, dtype=object)
    cols = {"batch_size": np.full(4, 64.0), "params_total_b": np.full(4, 671.0), "platform_class": cls,
            "upcast": np.array([True, False, False, False])}
    r = preference_rank(flow, "accuracy", cls, q, cols)
    assert r[2] < r[3] < r[0]  # a 16-bit model keeps the class order; the upcast comes after the published FP8
    assert list(preference_rank(flow, "accuracy", cls, q, {k: v for k, v in cols.items() if k != "upcast"})) == [r[2], r[3], r[2], r[3]]


def test_predictor_called_once_per_recommendation() -> None:
    pred = _three_way()
    recommend(parse_spec({"tasks": ["gsm8k"], "hardware": {"platforms": ["rtx-4090"]}}), pred, catalogs=CAT)
    assert len(pred.calls) == 1


def test_chance_adjusted_floor() -> None:
    # mmlu has chance 0.25 in the test catalog: raw 0.40 -> (0.40 - 0.25) / 0.75 = 0.20 adjusted.
    values = {
        ("rtx-4090", "org/small-1b", "fp16", "mmlu"): {"energy_j": 10.0, "time_s": 0.1, "accuracy": 0.40},
        ("rtx-4090", "org/mid-7b", "fp16", "mmlu"): {"energy_j": 50.0, "time_s": 0.5, "accuracy": 0.70},
    }
    base = {"tasks": ["mmlu"], "hardware": {"platforms": ["rtx-4090"]}, "objective": "energy"}
    raw = recommend(parse_spec({**base, "accuracy": {"min": 0.3}}), TablePredictor(values), catalogs=CAT)
    assert raw.winner["model_id"] == "org/small-1b"
    assert raw.winner["accuracy_chance_adjusted"] == pytest.approx(0.2)
    adj = recommend(parse_spec({**base, "accuracy": {"min": 0.3, "chance_adjusted": True}}), TablePredictor(values), catalogs=CAT)
    assert adj.winner["model_id"] == "org/mid-7b"
    assert adj.winner["accuracy_chance_adjusted"] == pytest.approx(0.6)


def test_confident_score_reads_the_interval_lower_side() -> None:
    point, lo = np.array([0.62, 0.70, 0.5, np.nan]), np.array([0.40, 0.665, np.nan, 0.3])
    assert confident_score(point, lo, 0.5)[:3] == pytest.approx(point[:3])
    assert confident_score(point, lo, 0.95)[:2] == pytest.approx(lo[:2])
    # 0.9: 1.2816 / 1.6449 of the way down to the lower end.
    assert confident_score(point, lo, 0.9)[0] == pytest.approx(0.62 - 0.7791 * 0.22, abs=1e-4)
    # No interval: the point; no point: unknown.
    assert confident_score(point, lo, 0.9)[2] == 0.5 and np.isnan(confident_score(point, lo, 0.9)[3])


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(0.05, 1.0), b=st.floats(0.05, 1.0), wa=st.floats(0.0, 0.3), wb=st.floats(0.0, 0.3),
    status=st.sampled_from([0, 1]), quant=st.sampled_from(["nf4-bnb", "bf16"]),
)
def test_the_share_kept_with_confidence_never_exceeds_the_point_and_falls_with_the_probability(a, b, wa, wb, status, quant) -> None:
    # Row 0 is the fp16 baseline, row 1 the candidate: a lower-side quantile is never above the
    # point, it falls as the asked probability rises, and a reference format keeps its share exactly.
    frame = pd.DataFrame({
        "accuracy": [b, a], "accuracy_lo": [max(b - wb, 0.0), max(a - wa, 0.0)], "base_row": [0, 0],
        "accuracy_status_code": [0, status], "quantization": ["fp16", quant],
    })
    frame["accuracy_relative_to_fp16"] = frame["accuracy"] / b
    kept = [confident_kept(frame, p, ("fp16", "bf16", "fp32"))[1] for p in (0.5, 0.7, 0.9, 0.95)]
    assert kept[0] == pytest.approx(a / b)
    assert all(k2 <= k1 + 1e-12 for k1, k2 in zip(kept, kept[1:]))
    if quant == "bf16":
        assert kept[-1] == pytest.approx(a / b)


def test_a_floor_asked_with_confidence_passes_over_an_uncertain_score() -> None:
    # small-1b's score clears the floor at its point but its interval is wide (imputed); mid-7b's
    # is known. At the point the cheaper small-1b wins; at 0.9 it reaches 0.45 and mid-7b wins.
    values = {
        ("rtx-4090", "org/small-1b", "fp16", "mmlu"): {"energy_j": 10.0, "time_s": 0.1, "accuracy": 0.62, "rel_halfwidth": 0.35,
                                                        "accuracy_status": "imputed"},
        ("rtx-4090", "org/mid-7b", "fp16", "mmlu"): {"energy_j": 50.0, "time_s": 0.5, "accuracy": 0.70, "rel_halfwidth": 0.05},
    }
    base = {"tasks": ["mmlu"], "hardware": {"platforms": ["rtx-4090"]}, "objective": "energy"}
    at_point = recommend(parse_spec({**base, "accuracy": {"min": 0.6}}), TablePredictor(values), catalogs=CAT)
    assert at_point.winner["model_id"] == "org/small-1b"
    half = recommend(parse_spec({**base, "accuracy": {"min": 0.6, "min_confidence": 0.5}}), TablePredictor(values), catalogs=CAT)
    assert half.winner["model_id"] == "org/small-1b"
    sure = recommend(parse_spec({**base, "accuracy": {"min": 0.6, "min_confidence": 0.9}}), TablePredictor(values), catalogs=CAT)
    assert sure.winner["model_id"] == "org/mid-7b"
    floor = next(d for d in sure.explanation["decided_by"] if "(accuracy.min)" in d)
    assert floor.startswith("accuracy floor (met with probability >= 0.9)") and "org/small-1b" in floor and "has 0.451 against" in floor
    assert any("accuracy floors on each score's 10% quantile" in a for a in sure.assumptions)
    assert not any("quantile" in a for a in at_point.assumptions)
    # The chance-adjusted floor reads its own lower end (mmlu chance 0.25): small-1b 0.493 at its
    # point, 0.268 at 0.9; mid-7b 0.564 at 0.9.
    adj = {"min": 0.4, "chance_adjusted": True}
    assert recommend(parse_spec({**base, "accuracy": adj}), TablePredictor(values), catalogs=CAT).winner["model_id"] == "org/small-1b"
    sure_adj = recommend(parse_spec({**base, "accuracy": {**adj, "min_confidence": 0.9}}), TablePredictor(values), catalogs=CAT)
    assert sure_adj.winner["model_id"] == "org/mid-7b"
    # Nothing reaches a floor with that confidence: the miss says what would admit more.
    with pytest.raises(NothingFeasible) as err:
        recommend(parse_spec({**base, "accuracy": {"min": 0.69, "min_confidence": 0.95}}), TablePredictor(values), catalogs=CAT)
    assert "accuracy.min_confidence" in str(err.value)


def test_a_relative_floor_asked_with_confidence_reads_the_format_effects_spread() -> None:
    # nf4's score is fp16's (measured, narrow) plus an imputed effect (wide): it keeps 98.6 % of
    # fp16 at its point, 87.7 % at 0.9 (the effect's own spread, sqrt(s_nf4^2 - s_fp16^2), over
    # fp16's score). A format measured at its own precision shares nothing with its baseline.
    def values(nf4_status: str) -> dict:
        return {
            ("rtx-4090", "org/mid-7b", "fp16", "gsm8k"): {"energy_j": 100.0, "time_s": 1.0, "accuracy": 0.70, "rel_halfwidth": 0.05},
            ("rtx-4090", "org/mid-7b", "nf4-bnb", "gsm8k"): {"energy_j": 60.0, "time_s": 1.0, "accuracy": 0.69, "rel_halfwidth": 0.15,
                                                             "accuracy_status": nf4_status},
        }

    base = {"tasks": ["gsm8k"], "serving": HF, "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/mid-7b"]},
            "objective": "energy", "accuracy": {"min_relative_to_fp16": 0.95}}
    at_point = recommend(parse_spec(base), TablePredictor(values("imputed")), catalogs=CAT)
    assert at_point.winner["quantization"] == "nf4-bnb"
    sure_spec = parse_spec({**base, "accuracy": {"min_relative_to_fp16": 0.95, "min_confidence": 0.9}})
    sure = recommend(sure_spec, TablePredictor(values("imputed")), catalogs=CAT)
    assert sure.winner["quantization"] == "fp16"  # a reference format keeps its own score exactly
    assert any(d.startswith("accuracy kept vs fp16 (met with probability >= 0.9)") for d in sure.explanation["decided_by"])
    # The same number measured at nf4 itself: both errors count, relative, in quadrature.
    s_nf4, s_fp16 = 0.69 * 0.15 / 1.6449, 0.70 * 0.05 / 1.6449
    apart = (0.69 / 0.70) * np.hypot(s_nf4 / 0.69, s_fp16 / 0.70)
    frame = prepare_answer(sure_spec, TablePredictor(values("measured")), catalogs=CAT).cs.frame
    row = frame.index[(frame["quantization"].astype(str) == "nf4-bnb") & frame["is_candidate"]][0]
    kept = confident_kept(frame, 0.9, ("fp16", "bf16", "fp32"))
    assert kept[row] == pytest.approx(0.69 / 0.70 - 1.2816 * apart, abs=1e-3)
    frame = prepare_answer(sure_spec, TablePredictor(values("imputed")), catalogs=CAT).cs.frame
    kept = confident_kept(frame, 0.9, ("fp16", "bf16", "fp32"))
    effect = np.sqrt(s_nf4**2 - s_fp16**2)
    assert kept[row] == pytest.approx(0.69 / 0.70 - 1.2816 * np.hypot(effect, s_fp16 * (1 - 0.69 / 0.70)) / 0.70, abs=1e-3)


def test_confidence_without_a_floor_in_force_is_refused() -> None:
    spec = parse_spec({"tasks": ["gsm8k"], "hardware": {"platforms": ["rtx-4090"]}, "priority": "latency", "accuracy": {"min_confidence": 0.9}})
    with pytest.raises(SpecError, match="no accuracy floor is in force"):
        recommend(spec, _three_way(), catalogs=CAT)


def test_infeasible_pair_of_constraints_is_named() -> None:
    # One configuration misses both the latency limit and the energy budget: no single removal helps.
    pred = _table({("rtx-4090", "org/mid-7b", "fp16"): (100.0, 2.0, 0.6, 0.02)})
    spec = parse_spec(
        {"tasks": ["gsm8k"], "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/mid-7b"]},
         "latency_s_max": 1.0, "energy_wh_per_1k_max": 10.0}
    )
    with pytest.raises(NothingFeasible) as err:
        recommend(spec, pred, catalogs=CAT)
    b = err.value.details["binding_constraint"]
    assert {b["name"], *b["also"]} == {"latency_s_max", "energy_wh_per_1k_max"}
    assert "without both, 1 configurations would qualify" in str(err.value)


def test_what_if_other_priority_rewalks_the_flow() -> None:
    # fp16 and nf4 are statistically tied on energy; the class preferences of the priority decide.
    pred = _table(
        {
            ("rtx-4090", "org/mid-7b", "fp16"): (100.0, 1.0, 0.60, 0.05),
            ("rtx-4090", "org/mid-7b", "nf4-bnb"): (99.0, 1.0, 0.60, 0.05),
        }
    )
    base = {"tasks": ["gsm8k"], "serving": HF, "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/mid-7b"]}}
    prefs = load_flow().classes["workstation"].preferences
    assert prefs["accuracy"].index("fp16") == 0 and prefs["flexibility"].index("nf4-bnb") < prefs["flexibility"].index("fp16")
    rec = recommend(parse_spec({**base, "priority": "accuracy"}), pred, catalogs=CAT)
    assert rec.winner["quantization"] == "fp16"
    assert any(c.startswith("with priority flexibility") and "@ nf4-bnb" in c for c in rec.explanation["what_would_change"])
    flex = recommend(parse_spec({**base, "priority": "flexibility"}), pred, catalogs=CAT)
    assert flex.winner["quantization"] == "nf4-bnb"


def test_rules_code_has_no_scenario_class_or_quantization_branches() -> None:
    """Scenario, class and quantization choices live in data/decision_flow.yaml, not in code."""
    import ast
    from pathlib import Path

    flow = load_flow()
    names = set(flow.scenarios) | set(flow.classes) | set(flow.engines) | {"cuda", "cpu"}
    rules = Path(__file__).resolve().parents[1] / "recommender" / "rules"
    offenders = []
    for path in sorted(rules.glob("*.py")):
        if path.name in {"spec.py", "synthetic.py"}:  # the spec's enums; the synthetic test catalog
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                offenders.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert not offenders, offenders


# ---------------------------------------------------------------- no near-chance winners (issue 17 item 5)


def _acc_table(entries: dict[tuple[str, str, str, str], tuple[float, float, str]]) -> TablePredictor:
    """(platform, model, quant, task) -> (energy J, accuracy, accuracy_status); 1 s per query, 2% intervals."""
    return TablePredictor(
        {k: {"energy_j": e, "time_s": 1.0, "accuracy": a, "rel_halfwidth": 0.02, "accuracy_status": st} for k, (e, a, st) in entries.items()}
    )


def test_chance_margin_excludes_near_chance_model_without_a_floor() -> None:
    # mmlu: chance 0.25 + the flow's margin 0.10 = 0.35. The 1B model at 0.289 is guessing: never recommended.
    flow = load_flow()
    assert flow.chance_margin.for_task("mmlu") == pytest.approx(0.10)
    pred = _acc_table(
        {
            ("rtx-4090", "org/small-1b", "fp16", "mmlu"): (5.0, 0.289, "measured"),
            ("rtx-4090", "org/mid-7b", "fp16", "mmlu"): (50.0, 0.60, "measured"),
        }
    )
    base = {"tasks": ["mmlu"], "hardware": {"platforms": ["rtx-4090"]}, "objective": "energy"}
    rec = recommend(parse_spec(base), pred, catalogs=CAT)
    assert rec.winner["model_id"] == "org/mid-7b"
    assert "chance_margin" in rec.explanation["binding_constraints"]
    # Just under / just over the line.
    for acc, ok in ((0.349, False), (0.351, True)):
        only = _acc_table({("rtx-4090", "org/small-1b", "fp16", "mmlu"): (5.0, acc, "measured")})
        spec = parse_spec({**base, "models": {"ids": ["org/small-1b"]}})
        if ok:
            assert recommend(spec, only, catalogs=CAT).winner["model_id"] == "org/small-1b"
        else:
            with pytest.raises(NothingFeasible) as err:
                recommend(spec, only, catalogs=CAT)
            assert err.value.details["binding_constraint"]["name"] == "chance_margin"
            assert "mmlu (best candidate 0.349, needs 0.350" in str(err.value)


def test_chance_margin_holds_on_every_task_and_rejects_zero_gsm8k() -> None:
    # The weighted mean would pass (0.5 * 0.9 + 0.5 * 0.0 = 0.45), but GSM8K at 0 (chance 0 + margin 0.05) fails.
    pred = _acc_table(
        {
            ("rtx-4090", "org/small-1b", "fp16", "mmlu"): (5.0, 0.90, "measured"),
            ("rtx-4090", "org/small-1b", "fp16", "gsm8k"): (5.0, 0.0, "measured"),
            ("rtx-4090", "org/mid-7b", "fp16", "mmlu"): (50.0, 0.60, "measured"),
            ("rtx-4090", "org/mid-7b", "fp16", "gsm8k"): (50.0, 0.30, "measured"),
        }
    )
    spec = parse_spec({"tasks": ["mmlu", "gsm8k"], "hardware": {"platforms": ["rtx-4090"]}, "objective": "energy", "accuracy": {"min": 0.2}})
    rec = recommend(spec, pred, catalogs=CAT)
    assert rec.winner["model_id"] == "org/mid-7b"


@pytest.mark.parametrize(
    ("status", "qualifies"),
    [("measured", True), ("imputed", True), ("interpolated", True), ("extrapolated", True), ("prior", False), ("guess", False)],
)
def test_only_measured_or_imputed_accuracy_qualifies(status: str, qualifies: bool) -> None:
    # Both vocabularies: the accuracy model's measured/imputed/prior and the older measured/interpolated/extrapolated/prior.
    pred = _acc_table(
        {
            ("rtx-4090", "org/small-1b", "fp16", "mmlu"): (5.0, 0.80, status),
            ("rtx-4090", "org/mid-7b", "fp16", "mmlu"): (50.0, 0.60, "measured"),
        }
    )
    spec = parse_spec({"tasks": ["mmlu"], "hardware": {"platforms": ["rtx-4090"]}, "objective": "energy"})
    rec = recommend(spec, pred, catalogs=CAT)
    assert (rec.winner["model_id"] == "org/small-1b") is qualifies
    if not qualifies:
        assert "accuracy_informed" in rec.explanation["binding_constraints"]


def test_unsupported_answer_names_the_missing_scores() -> None:
    # Only a size prior says the 13B model might clear 0.65 (interval up to 0.714); the measured 7B does not.
    pred = _acc_table(
        {
            ("h100-sxm5-80gb", "org/mid-7b", "fp16", "mmlu"): (50.0, 0.60, "measured"),
            ("h100-sxm5-80gb", "org/big-13b", "fp16", "mmlu"): (90.0, 0.70, "prior"),
        }
    )
    spec = parse_spec({"tasks": ["mmlu"], "scenario": "data-center", "hardware": {"platforms": ["h100"]}, "accuracy": {"min": 0.65}})
    with pytest.raises(NothingFeasible) as err:
        recommend(spec, pred, catalogs=CAT)
    missing = err.value.details["missing_scores"]
    assert [m["model_id"] for m in missing] == ["org/big-13b"]
    assert missing[0]["tasks"] == ["mmlu"]
    assert "the data cannot support an answer: missing a measured or imputed score" in str(err.value)
    assert "org/big-13b (mmlu)" in str(err.value)
    # The 7B model (measured, 0.60) is not "missing": its score is known and too low.
    assert "org/mid-7b (mmlu)" not in str(err.value)


# ---------------------------------------------------------------- priority accuracy


def test_priority_accuracy_ranks_by_accuracy_and_energy_breaks_ties() -> None:
    pred = _acc_table(
        {
            ("a100-pcie-40gb", "org/small-1b", "bf16", "mmlu"): (5.0, 0.45, "measured"),
            ("a100-pcie-40gb", "org/mid-7b", "bf16", "mmlu"): (50.0, 0.62, "measured"),
            ("h100-sxm5-80gb", "org/mid-7b", "bf16", "mmlu"): (40.0, 0.62, "measured"),  # same score, less energy
            ("h100-sxm5-80gb", "org/big-13b", "bf16", "mmlu"): (90.0, 0.55, "imputed"),
        }
    )
    spec = parse_spec({"tasks": ["mmlu"], "scenario": "data-center", "priority": "accuracy"})
    rec = recommend(spec, pred, catalogs=CAT)
    assert rec.objective == "accuracy"
    w = rec.winner
    assert (w["platform"], w["model_id"], w["quantization"]) == ("h100-sxm5-80gb", "org/mid-7b", "bf16")
    assert w["tie"] is True and rec.rows[1]["platform"] == "a100-pcie-40gb"
    # Ranked by score, not by EOR (the 1B model has by far the best EOR).
    assert [r["model_id"] for r in rec.rows[2:4]] == ["org/big-13b", "org/small-1b"]
    assert any("least energy" in s["why"] for s in rec.explanation["flow_path"] if s["node"] == "objective")


# ---------------------------------------------------------------- serving defaults (issue 17 item 6)


def _group_choice(pred: FormulaPredictor, w: dict, latency: float) -> int:
    """The batch of the flow's list with least energy per query within ``latency`` (by hand, from the predictor)."""
    import pandas as pd

    sizes = load_flow().serving.batches_for(w["platform_class"], w["engine"])
    cand = pd.DataFrame(
        {"platform": w["platform"], "device_count": 1, "engine": w["engine"], "model_id": w["model_id"],
         "quantization": w["quantization"], "batch_size": list(sizes), "task": "gsm8k"}
    )
    out = pred.predict(cand)
    ok = out["time_s_per_query"].to_numpy() <= latency
    return int(np.array(sizes)[ok][np.argmin(out["energy_j_per_query"].to_numpy()[ok])])


def test_data_center_serves_with_vllm_at_the_least_energy_concurrency() -> None:
    pred = FormulaPredictor(CAT)
    flow = load_flow()
    spec = parse_spec({"tasks": ["gsm8k"], "scenario": "data-center", "models": {"ids": ["org/mid-7b"]}, "priority": "energy", "top_k": 20})
    rec = recommend(spec, pred, catalogs=CAT)
    assert {r["engine"] for r in rec.rows} == {"vllm"}
    w = rec.winner
    assert w["batch_size"] > 1
    # No latency limit in the spec: the flow's default, 0.1 s per output token (gsm8k: 120 tokens -> 12 s).
    assert w["batch_size"] == _group_choice(pred, w, max(flow.serving.default_latency_min_s, 120 * flow.serving.default_s_per_output_token))
    # One concurrency per deployment: no platform + precision appears twice.
    keys = [(r["platform"], r["quantization"]) for r in rec.rows]
    assert len(keys) == len(set(keys))
    # A tighter latency limit picks a smaller concurrency for the same deployment.
    tight = w["time_s_per_query"]["value"] * 0.6
    rec2 = recommend(parse_spec({**spec.model_dump(mode="json"), "latency_s_max": tight}), pred, catalogs=CAT)
    same = [r for r in rec2.rows if (r["platform"], r["quantization"]) == (w["platform"], w["quantization"])]
    assert same and same[0]["batch_size"] < w["batch_size"]
    assert same[0]["batch_size"] == _group_choice(pred, same[0], tight)
    assert any(s["node"] == "serving" and "vllm" in s["value"] for s in rec.explanation["flow_path"])


def test_edge_serves_llama_cpp_at_batch_1_and_hf_only_when_asked() -> None:
    pred = FormulaPredictor(CAT)
    edge = recommend(parse_spec({"tasks": ["gsm8k"], "scenario": "edge", "top_k": 20}), pred, catalogs=CAT)
    assert {(r["engine"], r["batch_size"]) for r in edge.rows} == {("llama.cpp", 1)}
    dc = {"tasks": ["gsm8k"], "scenario": "data-center", "top_k": 100}
    rows = recommend(parse_spec(dc), pred, catalogs=CAT).rows
    assert "hf-transformers" not in {r["engine"] for r in rows}
    assert "int8-bnb" not in {r["quantization"] for r in rows}
    asked = recommend(parse_spec({**dc, "serving": {"engines": ["hf-transformers"]}}), pred, catalogs=CAT).rows
    assert {r["engine"] for r in asked} == {"hf-transformers"} and "int8-bnb" in {r["quantization"] for r in asked}
    # A batch size given in the spec is used as is.
    fixed = recommend(parse_spec({**dc, "serving": {"batch_size": 4}}), pred, catalogs=CAT).rows
    assert {r["batch_size"] for r in fixed} == {4}


def test_tensor_parallel_device_counts_share_the_heads_out_evenly() -> None:
    from recommender.catalog.types import ModelSpec
    from recommender.rules.catalogs import Catalogs

    # 13B at fp16 (26 GB) needs two RTX 4090s, but vLLM cannot split 25 heads over 2 or 4.
    odd = ModelSpec(id="org/odd-13b", family="odd", params_total_b=13.0, params_active_b=13.0, layers=40, hidden_size=5000,
                    attention_heads=25, kv_heads=25, context_length=32768, source="test")
    cat = Catalogs.from_entries(list(CAT.platforms.values()), [*CAT.models.values(), odd], list(CAT.tasks.values()), list(CAT.quants.values()))
    pred = _table({("rtx-4090", "org/odd-13b", "fp16"): (100.0, 1.0, 0.9, 0.02)})
    base = {"tasks": ["gsm8k"], "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/odd-13b"]}}
    with pytest.raises(NothingFeasible) as err:
        recommend(parse_spec({**base, "serving": {"engines": ["vllm"]}}), pred, catalogs=cat)
    assert err.value.details["binding_constraint"]["name"] == "device_split"
    # HF transformers splits by layers: two devices.
    assert recommend(parse_spec({**base, "serving": HF}), pred, catalogs=cat).winner["device_count"] == 2
    # 5 devices share 25 heads out evenly.
    rec = recommend(parse_spec({**base, "serving": {"engines": ["vllm"]}, "hardware": {"platforms": ["rtx-4090"], "device_count": 5}}), pred, catalogs=cat)
    assert rec.winner["device_count"] == 5
    # A layer split gives each device whole layers: 40 layers go over 40 devices, not 41.
    at = {**base, "serving": HF}
    assert recommend(parse_spec({**at, "hardware": {"platforms": ["rtx-4090"], "device_count": 40}}), pred, catalogs=cat).winner["device_count"] == 40
    with pytest.raises(NothingFeasible) as err:
        recommend(parse_spec({**at, "hardware": {"platforms": ["rtx-4090"], "device_count": 41}}), pred, catalogs=cat)
    assert err.value.details["binding_constraint"]["name"] == "device_split"
    assert "no larger than its layer count" in str(err.value)


def test_queries_longer_than_a_models_context_window_rule_it_out() -> None:
    from recommender.catalog.types import ModelSpec
    from recommender.rules.catalogs import Catalogs

    short = ModelSpec(id="org/short-7b", family="short", params_total_b=7.0, params_active_b=7.0, layers=32, hidden_size=4096,
                      attention_heads=32, kv_heads=8, context_length=2048, source="test")
    cat = Catalogs.from_entries(list(CAT.platforms.values()), [*CAT.models.values(), short], list(CAT.tasks.values()), list(CAT.quants.values()))
    pred = _table({("rtx-4090", "org/short-7b", "fp16"): (50.0, 1.0, 0.9, 0.02), ("rtx-4090", "org/mid-7b", "fp16"): (80.0, 1.0, 0.9, 0.02)})
    base = {"tasks": ["gsm8k"], "serving": HF, "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/short-7b", "org/mid-7b"]},
            "objective": "energy"}
    # gsm8k (800 + 120 tokens) fits a 2,048-token window: the cheaper model wins.
    assert recommend(parse_spec(base), pred, catalogs=cat).winner["model_id"] == "org/short-7b"
    # 3,000-token queries do not: the 32,768-token model wins, and alone it is named.
    long = {**base, "serving": {**HF, "context_tokens": 3000}}
    assert recommend(parse_spec(long), pred, catalogs=cat).winner["model_id"] == "org/mid-7b"
    with pytest.raises(NothingFeasible) as err:
        recommend(parse_spec({**long, "models": {"ids": ["org/short-7b"]}}), pred, catalogs=cat)
    assert err.value.details["binding_constraint"]["name"] == "context_window"


def test_device_count_is_the_fewest_the_model_fits_on() -> None:
    # org/big-13b at fp16 needs 26 GB of weights: two RTX 4090s (24 GB each); at nf4 one is enough.
    pred = _table(
        {
            ("rtx-4090", "org/big-13b", "fp16"): (100.0, 1.0, 0.9, 0.02),
            ("rtx-4090", "org/big-13b", "nf4-bnb"): (100.0, 1.0, 0.9, 0.02),
            ("rtx-4060-ti-16gb", "org/big-13b", "fp16"): (100.0, 1.0, 0.9, 0.02),
        }
    )
    spec = parse_spec({"tasks": ["gsm8k"], "serving": HF, "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/big-13b"]}, "top_k": 5})
    rows = {r["quantization"]: r for r in recommend(spec, pred, catalogs=CAT).rows}
    assert rows["fp16"]["device_count"] == 2 and rows["nf4-bnb"]["device_count"] == 1
    # 26 / 2 GB of weights + 1 GB runtime + KV 0.8290304 / 2 = 14.4145152 GB per device (one device
    # needs 27.83 of 25.77 GB).
    assert rows["fp16"]["memory_gb_required_per_device"] == pytest.approx(14.4145152)
    # Edge deployments stay on one device: the 13B fp16 model does not fit there and is named by memory.
    edge = parse_spec({"tasks": ["gsm8k"], "scenario": "edge", "models": {"ids": ["org/big-13b"]}, "serving": {"engines": ["llama.cpp"]}})
    with pytest.raises(NothingFeasible) as err:
        recommend(edge, pred, catalogs=CAT)
    assert err.value.details["binding_constraint"]["name"] == "memory"


def test_realistic_floor_on_data_center_yields_a_current_model_served_by_vllm() -> None:
    """Issue 17's acceptance case on the shipped catalogs, with accuracies the accuracy model would give.

    MMLU >= 0.65 on data-center GPUs: the 2024 model with an imputed score wins, served by vLLM; a
    larger model whose score is only a size prior is never the answer, however high that prior.
    """
    import pandas as pd

    from recommender.rules.catalogs import Catalogs

    cat = Catalogs.load()
    scores = {
        "meta-llama/Llama-3.1-8B-Instruct": (0.68, "imputed"),
        "meta-llama/Llama-2-13b-chat-hf": (0.546, "measured"),
        "HuggingFaceTB/SmolLM2-135M-Instruct": (0.289, "measured"),
    }
    prior_model = next(m.id for m in cat.models.values() if m.params_total_b > 60)

    class Accuracy(FormulaPredictor):
        def predict(self, candidates: pd.DataFrame) -> pd.DataFrame:
            out = super().predict(candidates)
            ids = candidates["model_id"].astype(str).to_numpy()
            acc = np.array([scores.get(m, (0.85 if m == prior_model else 0.5, ""))[0] for m in ids])
            status = np.array([scores.get(m, (0, "prior"))[1] for m in ids], dtype=object)
            ratio = acc / out["accuracy"].to_numpy()
            for c in ("accuracy", "accuracy_lo", "accuracy_hi", "eor", "eor_lo", "eor_hi", "tweor", "tweor_lo", "tweor_hi"):
                out[c] = out[c].to_numpy() * ratio
            out["accuracy_status"] = status
            return out

    spec = parse_spec({"tasks": ["mmlu"], "scenario": "data-center", "accuracy": {"min": 0.65}, "priority": "energy"})
    rec = recommend(spec, Accuracy(cat), catalogs=cat)
    w = rec.winner
    assert w["model_id"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert w["engine"] == "vllm" and w["accuracy_status"] == "imputed"
    assert {r["model_id"] for r in rec.rows} == {"meta-llama/Llama-3.1-8B-Instruct"}
    # Ranked by accuracy, the prior-only model (0.85) would win if a prior could qualify; it cannot.
    acc = recommend(parse_spec({**spec.model_dump(mode="json"), "priority": "accuracy"}), Accuracy(cat), catalogs=cat)
    assert acc.winner["model_id"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert "accuracy_informed" in acc.explanation["binding_constraints"]
    assert any(prior_model in c and c.startswith("without the constraint 'accuracy measured") for c in acc.explanation["what_would_change"])


def test_unsupported_answer_names_the_missing_measurement() -> None:
    values = {
        ("rtx-4090", "org/mid-7b", "fp16", "gsm8k"): {"energy_j": 100.0, "time_s": 2.0, "accuracy": 0.6, "status": "extrapolated", "accuracy_status": "measured"},
    }
    spec = parse_spec({"tasks": ["gsm8k"], "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/mid-7b"]}, "latency_s_max": 1.0})
    with pytest.raises(NothingFeasible) as err:
        recommend(spec, TablePredictor(values), catalogs=CAT)
    note = err.value.details["missing_measurement"]
    assert note.startswith("the nearest miss's energy and time are extrapolated (platform-unseen), not measured")
    assert "rtx-4090 + org/mid-7b @ fp16" in note and note in str(err.value)
    # Measured: nothing to ask for.
    values[("rtx-4090", "org/mid-7b", "fp16", "gsm8k")]["status"] = "measured"
    with pytest.raises(NothingFeasible) as err:
        recommend(spec, TablePredictor(values), catalogs=CAT)
    assert err.value.details["missing_measurement"] is None


def test_accuracy_basis_is_passed_through_when_the_predictor_gives_it() -> None:
    class WithBasis(TablePredictor):
        def predict(self, candidates):
            out = super().predict(candidates)
            out["accuracy_basis"] = "imputed from mmlu, arc_challenge"
            return out

    values = {("rtx-4090", "org/mid-7b", "fp16", "gsm8k"): {"energy_j": 100.0, "time_s": 1.0, "accuracy": 0.6, "accuracy_status": "imputed"}}
    spec = parse_spec({"tasks": ["gsm8k"], "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/mid-7b"]}})
    task = recommend(spec, WithBasis(values), catalogs=CAT).winner["per_task"][0]
    assert task["accuracy_status"] == "imputed" and task["accuracy_basis"] == "imputed from mmlu, arc_challenge"

    class WithoutBasis(TablePredictor):
        def predict(self, candidates):
            return super().predict(candidates).drop(columns=["accuracy_basis"], errors="ignore")

    assert recommend(spec, WithoutBasis(values), catalogs=CAT).winner["per_task"][0]["accuracy_basis"] is None


def test_a_quantization_only_published_checkpoints_come_in_is_proposed_for_their_families_only() -> None:
    pred = _table(
        {
            ("h100-sxm5-80gb", "org/mid-7b", "fp16"): (100.0, 2.0, 0.50, 0.01),
            ("h100-sxm5-80gb", "org/mid-7b", "fp8"): (40.0, 1.0, 0.50, 0.01),
            ("h100-sxm5-80gb", "org/small-1b", "fp16"): (50.0, 1.0, 0.45, 0.01),
            ("h100-sxm5-80gb", "org/small-1b", "fp8"): (20.0, 0.5, 0.45, 0.01),
        }
    )
    spec = parse_spec({"tasks": ["gsm8k"], "hardware": {"platforms": ["h100"]}, "models": {"ids": ["org/mid-7b", "org/small-1b"]},
                       "objective": "energy"})
    free = recommend(spec, pred, catalogs=CAT)
    assert {(r["model_id"], r["quantization"]) for r in free.rows} >= {("org/mid-7b", "fp8"), ("org/small-1b", "fp8")}
    flow = load_flow().model_copy(update={"checkpoint_families": {"fp8": ("small",)}})
    rec = recommend(spec, pred, catalogs=CAT, flow=flow)
    proposed = {(r["model_id"], r["quantization"]) for r in rec.rows}
    assert ("org/small-1b", "fp8") in proposed and ("org/mid-7b", "fp8") not in proposed
    assert ("org/mid-7b", "fp16") in proposed


def test_the_shipped_flow_proposes_mxfp4_for_gpt_oss_only() -> None:
    flow = load_flow()
    assert flow.checkpoint_families["mxfp4"] == ("gpt-oss",)
    with pytest.raises(ValueError, match="checkpoint_families names quantization 'int3'"):
        type(flow).model_validate({**flow.model_dump(), "checkpoint_families": {"int3": ["x"]}})


# ---------------------------------------------------------------- served workload


def _served() -> TablePredictor:
    """Two models: the cheaper one on the benchmark is the costlier one on the chat workload."""
    return TablePredictor({
        ("rtx-4090", "org/mid-7b", "fp16", "mmlu"): {"energy_j": 10.0, "time_s": 0.2, "accuracy": 0.70},
        ("rtx-4090", "org/mid-7b", "fp16", "sharegpt-chat"): {"energy_j": 900.0, "time_s": 9.0, "accuracy": np.nan},
        ("rtx-4090", "org/small-1b", "fp16", "mmlu"): {"energy_j": 20.0, "time_s": 0.4, "accuracy": 0.68},
        ("rtx-4090", "org/small-1b", "fp16", "sharegpt-chat"): {"energy_j": 300.0, "time_s": 3.0, "accuracy": np.nan},
    })


def test_served_workload_prices_energy_and_the_tasks_keep_accuracy() -> None:
    base = {"tasks": ["mmlu"], "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/mid-7b", "org/small-1b"]},
            "objective": "energy", "serving": {"batch_size": 1}}
    on_task = recommend(parse_spec(base), _served(), catalogs=CAT)
    assert on_task.winner["model_id"] == "org/mid-7b"  # 10 J per MMLU query against 20 J
    served = recommend(parse_spec({**base, "serving": {"batch_size": 1, "workload": "sharegpt-chat"}}), _served(), catalogs=CAT)
    w = served.winner
    assert w["model_id"] == "org/small-1b"  # 300 J per chat query against 900 J
    assert w["wh_per_1k_queries"]["value"] == pytest.approx(300.0 * 1000 / 3600)
    assert w["time_s_per_query"]["value"] == pytest.approx(3.0)
    assert w["accuracy"]["value"] == pytest.approx(0.68)
    # EOR combines the task's score with the workload's energy, its interval in quadrature.
    assert w["eor"]["value"] == pytest.approx(0.68 * 100 / (300.0 * 1000 / 3600))
    assert w["eor"]["lo"] < w["eor"]["value"] < w["eor"]["hi"]
    assert w["workload"]["id"] == "sharegpt-chat" and w["workload"]["prompt_tokens"] == pytest.approx(200)
    assert [t["task"] for t in w["per_task"]] == ["mmlu"]
    assert any("priced on the served workload sharegpt-chat" in a for a in served.assumptions)


def test_served_workload_tokens_reach_the_predictor_and_size_the_cache() -> None:
    seen = []

    class Recording(TablePredictor):
        def predict(self, candidates):
            seen.append(candidates.copy())
            return super().predict(candidates)

    spec = parse_spec({"tasks": ["mmlu"], "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/small-1b"]},
                       "serving": {"batch_size": 1, "workload": "sharegpt-chat", "prompt_tokens": 3000, "output_tokens": 40}})
    rec = recommend(spec, Recording(_served().values), catalogs=CAT)
    served = [c for c in seen if set(c["task"].astype(str)) == {"sharegpt-chat"}]
    assert len(served) == 1
    assert (served[0]["prompt_tokens_mean"] == 3000).all() and (served[0]["output_tokens_mean"] == 40).all()
    assert any("KV cache sized for 3040 tokens" in a for a in rec.assumptions)


def test_served_workload_is_validated() -> None:
    from recommender.errors import SpecError

    with pytest.raises(SpecError, match="serving.workload"):
        parse_spec({"tasks": ["mmlu"], "serving": {"output_tokens": 40}})
    with pytest.raises(InvalidInputError, match="serving.workload: unknown task 'sharegpt-chta'; did you mean 'sharegpt-chat'"):
        recommend(parse_spec({"tasks": ["mmlu"], "hardware": {"platforms": ["rtx-4090"]},
                              "serving": {"workload": "sharegpt-chta"}}), _served(), catalogs=CAT)


def test_a_release_named_for_an_engine_no_candidate_runs_is_said_to_be_unused() -> None:
    # Workstation candidates serve with vLLM here: a llama.cpp release has nothing to apply to.
    spec = parse_spec({"tasks": ["mmlu"], "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/mid-7b", "org/small-1b"]},
                       "serving": {"batch_size": 1, "engine_versions": {"llama.cpp": "0.3.36"}}})
    rec = recommend(spec, _served(), catalogs=CAT)
    note = next(a for a in rec.assumptions if a.startswith("engines"))
    assert "so unused: llama.cpp=0.3.36; candidates run vllm" in note
    named = parse_spec({"tasks": ["mmlu"], "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/mid-7b", "org/small-1b"]},
                        "serving": {"batch_size": 1, "engine_versions": {"vllm": "0.11.1"}}})
    assert not any("unused" in a for a in recommend(named, _served(), catalogs=CAT).assumptions)


def test_concurrency_is_picked_within_the_power_cap() -> None:
    import pandas as pd

    from recommender.rules.candidates import pick_concurrency

    # One deployment at three batches: energy per query falls with the batch while the mean
    # power rises (a decode step shared by more sequences draws more).
    frame = pd.DataFrame({
        "_serving_group": [0, 0, 0], "is_candidate": [True] * 3, "batch_size": [1, 8, 64], "device_count": [1] * 3,
        "memory_gb_required": [10.0] * 3, "memory_gb_available": [80.0] * 3,
        "energy_j_per_query": [300.0, 46.0, 16.0], "time_s_per_query": [0.7, 0.8, 1.7], "power_w": [420.0, 447.0, 591.0],
    })
    assert pick_concurrency(frame, 10.0).tolist() == [False, False, True]
    assert pick_concurrency(frame, 10.0, power_cap_w=460.0).tolist() == [False, True, False]
    # A cap per device: two devices may draw twice as much.
    assert pick_concurrency(frame.assign(device_count=2), 10.0, power_cap_w=300.0).tolist() == [False, False, True]
    # None within the cap: the least drawing, so that the cap is what the explanation names.
    assert pick_concurrency(frame, 10.0, power_cap_w=400.0).tolist() == [True, False, False]
    # Within the cap but none within the latency: the fastest of those within the cap.
    assert pick_concurrency(frame, 0.5, power_cap_w=460.0).tolist() == [True, False, False]
    # Another objective to minimize among the rows that meet both (minus TWEOR: EOR / latency).
    tweor = 1.0 / (frame["energy_j_per_query"] * frame["time_s_per_query"]) * np.array([1.0, 0.5, 0.1]) * 1e4
    assert pick_concurrency(frame, 10.0, worse=-tweor.to_numpy()).tolist() == [False, True, False]
    # A throughput floor the TWEOR batch misses: the best TWEOR among those that reach it.
    qps = frame["batch_size"] / frame["time_s_per_query"]  # 1.4, 10, 37.6 queries/s
    with_qps = frame.assign(throughput_qps=qps)
    assert pick_concurrency(with_qps, 10.0, worse=-tweor.to_numpy(), throughput_qps_min=20.0).tolist() == [False, False, True]
    # None reaches it: the highest throughput, so that the floor is what the explanation names.
    assert pick_concurrency(with_qps, 10.0, throughput_qps_min=100.0).tolist() == [False, False, True]
    assert pick_concurrency(with_qps, 1.0, throughput_qps_min=100.0).tolist() == [False, True, False]
    # An energy budget the TWEOR batch (46 J = 12.8 Wh per 1k queries) spends past.
    assert pick_concurrency(frame, 10.0, worse=-tweor.to_numpy(), energy_wh_per_1k_max=10.0).tolist() == [False, False, True]


def test_a_conversation_served_runs_an_instruction_tuned_model() -> None:
    # small-1b, the cheaper on the chat workload, is a base model: it cannot hold the
    # conversation, so serving sharegpt-chat (a conversational workload of the flow) picks mid-7b;
    # ranked on the benchmark alone, or serving a workload that is not conversation, a base model may win.
    models = [m.model_copy(update={"variant": "base"}) if m.id == "org/small-1b" else m for m in CAT.models.values()]
    cat = type(CAT).from_entries(list(CAT.platforms.values()), models, list(CAT.tasks.values()), list(CAT.quants.values()))
    base = {"tasks": ["mmlu"], "hardware": {"platforms": ["rtx-4090"]}, "models": {"ids": ["org/mid-7b", "org/small-1b"]},
            "objective": "energy", "serving": {"batch_size": 1, "workload": "sharegpt-chat"}}
    served = recommend(parse_spec(base), _served(), catalogs=cat)
    assert served.winner["model_id"] == "org/mid-7b"
    assert any("(chat_model)" in d and "org/small-1b" in d for d in served.explanation["decided_by"])
    not_chat = load_flow().model_copy(update={"conversational_workloads": ()})
    assert recommend(parse_spec(base), _served(), catalogs=cat, flow=not_chat).winner["model_id"] == "org/small-1b"
    with pytest.raises(NothingFeasible, match="instruction-tuned"):
        recommend(parse_spec({**base, "models": {"ids": ["org/small-1b"]}}), _served(), catalogs=cat)


def test_the_nearest_miss_is_the_row_the_flow_would_pick_among_equal_misses() -> None:
    # Both models miss the floor by as much (same score): the nearest miss named is the one the
    # objective prefers (big-13b at half the energy), not the first in the catalog's order.
    pred = _table({("rtx-4090", "org/mid-7b", "fp16"): (100.0, 1.0, 0.5, 0.05), ("rtx-4090", "org/big-13b", "fp16"): (50.0, 1.0, 0.5, 0.05)})
    spec = parse_spec({"tasks": ["gsm8k"], "serving": HF, "hardware": {"platforms": ["rtx-4090"]}, "objective": "energy",
                       "models": {"ids": ["org/mid-7b", "org/big-13b"]}, "accuracy": {"min": 0.9}})
    with pytest.raises(NothingFeasible) as err:
        recommend(spec, pred, catalogs=CAT)
    assert "org/big-13b" in err.value.details["nearest_miss"]["configuration"]


def test_a_nearest_miss_failing_something_else_comes_with_the_closest_on_the_binding_constraint() -> None:
    # small-1b is fast but just under the floor (the nearest miss, 3 % short); the latency limit
    # binds (without it two models qualify), and of those meeting the floor mid-7b comes closest.
    pred = _table({("rtx-4090", "org/small-1b", "fp16"): (20.0, 0.5, 0.58, 0.02),
                   ("rtx-4090", "org/mid-7b", "fp16"): (80.0, 1.5, 0.70, 0.02),
                   ("rtx-4090", "org/big-13b", "fp16"): (150.0, 2.0, 0.80, 0.02)})
    spec = parse_spec({"tasks": ["gsm8k"], "serving": HF, "hardware": {"platforms": ["rtx-4090"]}, "objective": "energy",
                       "models": {"ids": ["org/small-1b", "org/mid-7b", "org/big-13b"]}, "accuracy": {"min": 0.6},
                       "latency_s_max": 1.0})
    with pytest.raises(NothingFeasible) as err:
        recommend(spec, pred, catalogs=CAT)
    details = err.value.details
    assert details["binding_constraint"]["name"] == "latency_s_max"
    assert "org/small-1b" in details["nearest_miss"]["configuration"]
    assert [m["constraint"] for m in details["nearest_miss"]["misses"]] == ["accuracy.min"]
    closest = details["closest_on_binding"]
    assert "org/mid-7b" in closest["configuration"] and (closest["value"], closest["limit"]) == (1.5, 1.0)
    assert "closest on latency_s_max among configurations meeting every other constraint: rtx-4090 + org/mid-7b" in str(err.value)
    # A nearest miss that misses the binding constraint itself needs no second name.
    with pytest.raises(NothingFeasible) as err:
        recommend(spec.model_copy(update={"accuracy": spec.accuracy.model_copy(update={"min": 0.5})}),
                  _table({("rtx-4090", "org/mid-7b", "fp16"): (80.0, 1.5, 0.70, 0.02)}), catalogs=CAT)
    assert err.value.details["closest_on_binding"] is None and "closest on" not in str(err.value)
