"""Stage ``answer_length`` through its public API (synthetic fixtures).

A candidate that states no output length takes its model's measured length on the task, else
the campaign's additive fit (model verbosity + task length), else the task's catalogued length.
"""

from __future__ import annotations

import numpy as np
import pytest

from recommender.errors import ModelStateError
from recommender.model.answer_length import BASES, AnswerLengths, additive_fit, fit_answer_lengths

A = {"m1": 0.0, "m2": np.log(2.0), "m3": np.log(0.5)}
B = {"chat": np.log(300.0), "code": np.log(100.0), "qa": np.log(1000.0)}


def _rows(pairs, source="camp", repeats=2, fixed=False):
    """Rows of exact lengths exp(a + b), each pair measured ``repeats`` times."""
    model, task, src, out = [], [], [], []
    for m, t in pairs:
        for _ in range(repeats):
            model.append(m)
            task.append(t)
            src.append(source)
            out.append(float(np.exp(A[m] + B[t])))
    n = len(out)
    return np.array(model, dtype=object), np.array(task, dtype=object), np.array(src, dtype=object), np.array(out), np.full(n, fixed)


def _ask(lengths: AnswerLengths, model: str, task: str, task_len: float = 250.0) -> tuple[float, str]:
    tokens, basis = lengths.lengths(np.array([model], dtype=object), np.array([task], dtype=object), np.array([task_len]))
    return float(tokens[0]), BASES[int(basis[0])]


def test_a_measured_pair_takes_its_median_length() -> None:
    model, task, src, out, fixed = _rows([("m1", "chat")], repeats=3)
    out[0] = 10_000.0  # one odd row does not move a median of three
    fitted = fit_answer_lengths(model, task, src, out, fixed)
    assert _ask(fitted, "m1", "chat") == (pytest.approx(300.0), "model")


def test_an_unmeasured_pair_of_the_campaign_takes_verbosity_plus_task_length() -> None:
    pairs = [(m, t) for m in A for t in B if (m, t) != ("m2", "qa")]
    fitted = fit_answer_lengths(*_rows(pairs))
    tokens, basis = _ask(fitted, "m2", "qa")
    assert basis == "model-relative"
    assert tokens == pytest.approx(2.0 * 1000.0, rel=1e-6)  # exact on an additive table


def test_additive_fit_is_exact_on_an_unbalanced_additive_table() -> None:
    pairs = [("m1", "chat"), ("m1", "code"), ("m2", "code"), ("m2", "qa"), ("m3", "qa"), ("m3", "chat")]
    model = np.array([m for m, _ in pairs], dtype=object)
    task = np.array([t for _, t in pairs], dtype=object)
    y = np.array([A[m] + B[t] for m, t in pairs])
    a, b = additive_fit(model, task, y)
    for m, t in pairs:
        assert a[m] + b[t] == pytest.approx(A[m] + B[t], abs=1e-6)
    assert np.mean(list(a.values())) == pytest.approx(0.0, abs=1e-12)


def test_verbosity_does_not_cross_campaigns() -> None:
    # m2 is verbose in campaign one; the qa task was measured only in campaign two.
    one = _rows([("m1", "chat"), ("m2", "chat"), ("m1", "code"), ("m2", "code")], source="one")
    two = _rows([("m1", "qa"), ("m3", "qa")], source="two")
    fitted = fit_answer_lengths(*(np.concatenate([x, y]) for x, y in zip(one, two, strict=True)))
    assert _ask(fitted, "m2", "qa", task_len=777.0) == (777.0, "task")


def test_fixed_length_tasks_lend_no_verbosity() -> None:
    # m2 ran only a fixed-length task next to the others: no verbosity for it.
    var = _rows([("m1", "chat"), ("m3", "chat"), ("m1", "code"), ("m3", "code")])
    fixed = _rows([("m2", "qa"), ("m1", "qa")], fixed=True)
    fitted = fit_answer_lengths(*(np.concatenate([x, y]) for x, y in zip(var, fixed, strict=True)))
    assert _ask(fitted, "m2", "chat", task_len=250.0) == (250.0, "task")
    assert _ask(fitted, "m2", "qa") == (pytest.approx(2.0 * 1000.0), "model")  # its own run still counts


def test_unknown_models_and_tasks_keep_the_tasks_length() -> None:
    fitted = fit_answer_lengths(*_rows([("m1", "chat"), ("m2", "chat")]))
    assert _ask(fitted, "other/model", "chat", task_len=250.0) == (250.0, "task")
    tokens, basis = fitted.lengths(np.array(["m1", "m1"], dtype=object), np.array(["nope", "chat"], dtype=object), np.array([np.nan, 250.0]))
    assert np.isnan(tokens[0]) and BASES[int(basis[0])] == "task"
    assert tokens[1] == pytest.approx(300.0)


def test_rows_without_a_measured_length_are_ignored() -> None:
    model, task, src, out, fixed = _rows([("m1", "chat"), ("m2", "chat")])
    out[:] = np.nan
    fitted = fit_answer_lengths(model, task, src, out, fixed)
    assert fitted == AnswerLengths()
    assert _ask(fitted, "m1", "chat") == (250.0, "task")


def test_state_round_trips_and_refuses_bad_values() -> None:
    pairs = [(m, t) for m in A for t in B if (m, t) != ("m2", "qa")]
    fitted = fit_answer_lengths(*_rows(pairs))
    back = AnswerLengths.from_state(fitted.to_state())
    assert back == fitted
    assert AnswerLengths.from_state(None) is None
    state = fitted.to_state()
    state["own"][0][2] = float("nan")
    with pytest.raises(ModelStateError, match="answer-length"):
        AnswerLengths.from_state(state)
    state = fitted.to_state()
    state["verbosity"][0][2] = float("inf")
    with pytest.raises(ModelStateError, match="answer-length"):
        AnswerLengths.from_state(state)
    with pytest.raises(ModelStateError, match="malformed"):
        AnswerLengths.from_state({"own": [["m1", "chat"]], "verbosity": [], "task_offset": []})


def test_a_million_candidates_cost_one_small_table() -> None:
    pairs = [(m, t) for m in A for t in B if (m, t) != ("m2", "qa")]
    fitted = fit_answer_lengths(*_rows(pairs))
    n = 1_000_000
    rng = np.random.default_rng(0)
    models = np.array(list(A) + ["x"], dtype=object)[rng.integers(0, 4, n)]
    tasks = np.array(list(B), dtype=object)[rng.integers(0, 3, n)]
    tokens, basis = fitted.lengths(models, tasks, np.full(n, 250.0))
    assert tokens.shape == (n,) and basis.dtype == np.int8
    assert set(np.unique(basis).tolist()) == {BASES.index("model"), BASES.index("model-relative"), BASES.index("task")}


def test_rows_measured_with_random_weights_lend_no_answer_length() -> None:
    """A random-weights row generates to its token cap: that is not the model's answer length."""
    import pandas as pd

    import test_regressor_fixtures as fx
    from recommender.model.predictor import fit_predictor
    from recommender.table.io import rows_to_frame
    from recommender.table.schema import MeasuredRow

    cats, table = fx.catalogs(), fx.measured_table()
    base = {"platform": "gpu-b", "device_count": 1, "engine": "hf-transformers", "model_id": "toy/m7",
            "params_total_b": 7.0, "params_active_b": 7.0, "quantization": "fp16", "batch_size": 1,
            "workload": "gsm8k", "prompt_tokens_mean": 900.0, "output_tokens_mean": 999.0,
            "energy_j_per_query": 500.0, "time_s_per_query": 20.0, "energy_method": "nvml-counter",
            "energy_scope": "gpu", "idle_subtracted": False, "source": "eai-profiler"}
    ask = pd.DataFrame([{"model_id": "toy/m7", "task": "gsm8k"}])
    for flags, expect_model_basis in (("random-weights", False), ("", True)):
        row = MeasuredRow.model_validate({**base, "flags": flags, "source_ref": f"synthetic:gsm8k:{flags or 'trained'}"})
        model = fit_predictor(pd.concat([table, rows_to_frame([row])], ignore_index=True), fx.accuracy_table(), cats,
                              calibrate=False)
        tokens, basis = model.output_lengths(ask)
        assert bool(str(basis[0]) == "model" and tokens[0] == 999.0) is expect_model_basis, (flags, tokens, basis)
