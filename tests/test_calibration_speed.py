"""The fast paths of calibration and cross-validation give the very numbers of the plain ones.

- :class:`~recommender.model.smoother.SubsetSmoother` (the smoother of every calibration refit)
  equals fitting a :class:`~recommender.model.smoother.ResidualSmoother` on the training rows
  and correcting the test rows, bit for bit;
- ``eai evaluate``'s report does not depend on how many worker processes run its folds;
- the accuracy imputer's regressions, memoized on their training data, equal fresh fits.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recommender.model.smoother import GROUP_COLUMNS, KERNEL_FEATURES, ResidualSmoother, SubsetSmoother
import test_regressor_fixtures as fx


def _smoother_rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Workload features at two operating points (plus one batch-like feature with jitter), so
    # rows of different models sit close enough to judge each other.
    point = rng.choice([0.0, 1.0], n)
    frame = pd.DataFrame({c: point.copy() for c in KERNEL_FEATURES})
    frame[KERNEL_FEATURES[-1]] = point + rng.normal(scale=0.2, size=n)
    # Few levels per group column, so groups hold several models each (robustness weights act).
    for c, levels in zip(GROUP_COLUMNS, (["a", "b"], ["vllm", "hf"], ["fp16"], ["llama", "neox"]), strict=True):
        frame[c] = pd.Categorical(rng.choice(levels, n))
    frame["model_id"] = rng.choice([f"m{i}" for i in range(7)], n)
    # Model features shared within a model (as in the table); models come in two shapes.
    shapes = rng.normal(size=(2, 4))
    per_model = {m: shapes[int(m[1:]) % 2] for m in frame["model_id"].unique()}
    for j, c in enumerate(KERNEL_FEATURES[:4]):
        frame[c] = [per_model[m][j] for m in frame["model_id"]]
    resid = rng.normal(scale=0.1, size=n)
    resid[frame["model_id"].to_numpy() == "m3"] += 1.5  # one model disagrees with its neighbours
    return frame, resid


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("bandwidth", [0.25, 0.5, 1.0])
def test_subset_smoother_equals_fit_then_correction(seed: int, bandwidth: float) -> None:
    frame, resid = _smoother_rows(160, seed)
    rng = np.random.default_rng(seed + 10)
    test = np.sort(rng.choice(len(frame), 40, replace=False))
    train = np.setdiff1d(np.arange(len(frame)), test)
    sub = SubsetSmoother(frame)
    fast = sub.fit_correct(train, resid[train], test, bandwidth=bandwidth)
    plain = ResidualSmoother.fit(frame.iloc[train], resid[train], bandwidth=bandwidth).correction(frame.iloc[test])
    assert np.array_equal(fast, plain)
    assert np.any(fast != 0.0)
    # Robustness weights did discount the disagreeing model somewhere (the "own rows" path ran).
    sm = ResidualSmoother.fit(frame.iloc[train], resid[train], bandwidth=bandwidth)
    assert any(sm.own.values())


def test_subset_smoother_leaves_unseen_groups_at_zero() -> None:
    frame, resid = _smoother_rows(120, 3)
    platform = frame["platform"].astype(str).to_numpy()
    train, test = np.flatnonzero(platform == "a"), np.flatnonzero(platform == "b")
    assert np.array_equal(SubsetSmoother(frame).fit_correct(train, resid[train], test), np.zeros(len(test)))


def test_evaluate_report_does_not_depend_on_worker_count() -> None:
    from recommender.model.evaluate import evaluate

    table, cats = fx.measured_table(), fx.catalogs()
    one = evaluate(table, fx.accuracy_table(), cats, splits=("platform",), workers=1)
    two = evaluate(table, fx.accuracy_table(), cats, splits=("platform",), workers=2)
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    assert one["splits"]["platform"]["groups"] == 4


def test_memoized_regressions_equal_fresh_fits() -> None:
    from recommender.model import accuracy_impute
    from recommender.model.accuracy_impute import Imputer

    rng = np.random.default_rng(0)
    models = [f"org/m{i}" for i in range(60)]
    size = rng.uniform(0.5, 70, len(models))
    rows = []
    for m, s in zip(models, size, strict=True):
        base = 0.3 + 0.1 * np.log(s)
        for task in ("mmlu", "arc_challenge", "hellaswag"):
            rows.append({"model_id": m, "column": task, "accuracy": base + rng.normal(scale=0.02), "se": 0.01, "source": "x"})
    reference = pd.DataFrame(rows)
    sizes = dict(zip(models, size, strict=True))
    families = {m: (f"fam{i % 9}", 2023.0) for i, m in enumerate(models)}
    accuracy_impute._REGRESSIONS.clear()
    first = Imputer(reference, sizes, {}, families).regression("mmlu", ("arc_challenge", "log_params"))
    assert len(accuracy_impute._REGRESSIONS) == 1
    again = Imputer(reference, sizes, {}, families).regression("mmlu", ("arc_challenge", "log_params"))
    assert again is first  # same training data: reused
    # One model's score changed: a new fit, equal to one made without any memo.
    changed = reference.copy()
    changed.loc[changed.index[0], "accuracy"] += 0.05
    memo = Imputer(changed, sizes, {}, families).regression("mmlu", ("arc_challenge", "log_params"))
    assert memo is not first and len(accuracy_impute._REGRESSIONS) == 2
    accuracy_impute._REGRESSIONS.clear()
    fresh = Imputer(changed, sizes, {}, families).regression("mmlu", ("arc_challenge", "log_params"))
    x = np.array([[0.5, np.log(7.0)]])
    assert memo["halfwidth"] == fresh["halfwidth"] and memo["n"] == fresh["n"]
    assert np.array_equal(memo["estimator"].predict(x), fresh["estimator"].predict(x))


def test_parallel_prefit_equals_fits_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from recommender.model import accuracy_impute
    from recommender.model.accuracy_impute import Imputer

    rng = np.random.default_rng(1)
    models = [f"org/m{i}" for i in range(50)]
    size = rng.uniform(0.5, 70, len(models))
    tasks = ("mmlu", "arc_challenge", "hellaswag", "winogrande")
    reference = pd.DataFrame(
        [{"model_id": m, "column": t, "accuracy": 0.3 + 0.1 * np.log(s) + rng.normal(scale=0.02), "se": 0.01, "source": "x"}
         for m, s in zip(models, size, strict=True) for t in tasks]
    )  # fmt: skip
    sizes = dict(zip(models, size, strict=True))
    families = {m: (f"fam{i % 9}", 2023.0) for i, m in enumerate(models)}
    wanted = [(t, (f, "log_params")) for t in tasks for f in tasks if f != t]
    monkeypatch.setattr(accuracy_impute, "PARALLEL_MIN_FITS", 2)
    monkeypatch.setattr(accuracy_impute.os, "sched_getaffinity", lambda _pid: {0, 1})  # two workers even on one core
    accuracy_impute._REGRESSIONS.clear()
    parallel = Imputer(reference, sizes, {}, families)
    parallel.prefit(wanted)
    assert len(accuracy_impute._REGRESSIONS) == len(wanted)
    accuracy_impute._REGRESSIONS.clear()
    serial = Imputer(reference, sizes, {}, families)
    x = np.array([[0.6, np.log(3.0)], [0.4, np.log(30.0)]])
    for key in wanted:
        a, b = parallel.regression(*key), serial.regression(*key)
        assert (a["halfwidth"], a["mae"], a["n"]) == (b["halfwidth"], b["mae"], b["n"])
        assert np.array_equal(a["estimator"].predict(x), b["estimator"].predict(x))
