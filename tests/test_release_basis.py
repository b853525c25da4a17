"""Which engine release a prediction is for, and why that one (``engine_release``,
``engine_release_basis``), through the predictor's public API and the two renderings a user
reads (``eai predict``'s table note, ``eai recommend``'s explanation).

Fixture: the synthetic table with its vLLM rows given releases (gpu-a and gpu-b ran vLLM
0.5.4, gpu-c and gpu-d 0.11.1); HF transformers rows state none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import test_regressor_fixtures as fx
from recommender.cli.predict_cmd import _release_note
from recommender.model.api import PREDICTION_COLUMNS, RELEASE_BASES
from recommender.model.predictor import fit_predictor
from recommender.rules.render import _release_statement


@pytest.fixture(scope="module")
def fitted():
    table = fx.measured_table()
    vllm = (table["engine"] == "vllm").to_numpy()
    old = table["platform"].isin(("gpu-a", "gpu-b")).to_numpy()
    table = table.assign(engine_version=np.where(vllm, np.where(old, "0.5.4", "0.11.1"), None))
    return fit_predictor(table, fx.accuracy_table(), fx.catalogs(), data_hash="x" * 64, calibrate=True)


def _ask(predictor, rows: list[tuple[str, str | None]]) -> pd.DataFrame:
    frame = pd.DataFrame([
        {"platform": "gpu-c", "device_count": 1, "engine": engine, "engine_version": version, "model_id": "toy/m7",
         "quantization": "fp16", "task": "chat", "batch_size": 8}
        for engine, version in rows
    ])
    return predictor.predict(frame, use_measured=False)


def test_each_row_says_the_release_it_was_predicted_at_and_why(fitted) -> None:
    out = _ask(fitted, [
        ("vllm", None),  # none named: the newest measured
        ("vllm", "0.11.1"),  # measured, as named
        ("vllm", "0.5.4"),
        ("vllm", "0.10.2"),  # never measured, between 0.5 and 0.11: the nearer
        ("hf-transformers", None),  # its rows state none
        ("sglang", None),  # never measured: read as its continuous-batching peer
    ])
    assert list(out.columns) == list(PREDICTION_COLUMNS)
    got = list(zip(out["engine_release"].astype(str), out["engine_release_basis"].astype(str), strict=True))
    assert got == [
        ("vllm@0.11", "assumed"),
        ("vllm@0.11", "stated"),
        ("vllm@0.5", "stated"),
        ("vllm@0.11", "nearest"),
        ("", "none"),
        ("vllm@0.11", "peer"),
    ]
    assert set(out["engine_release_basis"].astype(str)) <= set(RELEASE_BASES)


def test_an_assumed_release_is_the_one_named_as_newest(fitted) -> None:
    """Not naming the release predicts exactly what naming the newest measured one does (the
    interval aside: an assumed release's also holds the other releases' predictions)."""
    out = _ask(fitted, [("vllm", None), ("vllm", "0.11.1")])
    np.testing.assert_allclose(out["energy_j_per_query"].iloc[0], out["energy_j_per_query"].iloc[1], rtol=1e-12)
    np.testing.assert_allclose(out["time_s_per_query"].iloc[0], out["time_s_per_query"].iloc[1], rtol=1e-12)
    assert out["time_s_per_query_hi"].iloc[0] >= out["time_s_per_query_hi"].iloc[1]


def test_the_renderings_name_a_release_the_user_did_not() -> None:
    assert _release_note({"engine_release": "vllm@0.11", "engine_release_basis": "assumed"}) == (
        "release assumed: vllm 0.11 (none named; the newest measured)"
    )
    assert "vllm 0.11" in _release_note({"engine_release": "vllm@0.11", "engine_release_basis": "nearest"})
    assert "peer" in _release_note({"engine_release": "vllm@0.11", "engine_release_basis": "peer"})
    # A release the user named and that was measured, or none to speak of: nothing to add.
    assert _release_note({"engine_release": "vllm@0.11", "engine_release_basis": "stated"}) == ""
    assert _release_note({"engine_release": "", "engine_release_basis": "none"}) == ""
    assert "vllm 0.11" in _release_statement({"level": "vllm@0.11", "basis": "assumed"})
    assert _release_statement({"level": None, "basis": "none"}) == ""
    assert _release_statement(None) == ""


@pytest.fixture(scope="module")
def hf_versioned():
    """gpu-d's HF transformers rows state transformers 5.17.0 and ran 2.5x slower (a slower
    host); every other HF row states no release."""
    table = fx.measured_table()
    mine = ((table["engine"] == "hf-transformers") & (table["platform"] == "gpu-d")).to_numpy()
    slow = np.where(mine, 2.5, 1.0)
    table = table.assign(
        engine_version=np.where(mine, "5.17.0", None),
        time_s_per_query=table["time_s_per_query"] * slow,
        energy_j_per_query=table["energy_j_per_query"] * slow,
        energy_j_per_output_token=table["energy_j_per_output_token"] * slow,
    )
    return fit_predictor(table, fx.accuracy_table(), fx.catalogs(), data_hash="y" * 64, calibrate=True)


def test_a_release_named_by_nobody_holds_the_engines_stated_releases(hf_versioned) -> None:
    """An HF candidate naming no release is read as the rows that named none (its point), but its
    interval also holds what the stated release predicts: the user's may be either."""
    from dataclasses import replace

    from recommender.model.config import PipelineConfig

    def ask(predictor, version):
        frame = pd.DataFrame([{"platform": "gpu-c", "device_count": 1, "engine": "hf-transformers", "engine_version": version,
                               "model_id": "toy/m30", "quantization": "fp16", "task": "chat", "batch_size": 1}])
        return predictor.predict(frame, use_measured=False).iloc[0]

    unnamed = ask(hf_versioned, None)
    narrow = ask(replace(hf_versioned, config=PipelineConfig.without_stages(["release_widening"])), None)
    stated = ask(hf_versioned, "5.17.0")
    assert (unnamed["engine_release"], unnamed["engine_release_basis"]) == ("", "none")
    assert unnamed["time_s_per_query"] == pytest.approx(narrow["time_s_per_query"], rel=1e-12)
    # Widened by the gap to the stated release (in quadrature with the fixture's already wide
    # interval): wider than without the stage, and holding the stated release's prediction.
    assert unnamed["time_s_per_query_hi"] > 1.03 * narrow["time_s_per_query_hi"]
    assert unnamed["time_s_per_query_lo"] <= narrow["time_s_per_query_lo"]  # (here at the forward-pass floor)
    assert unnamed["time_s_per_query_lo"] <= stated["time_s_per_query"] <= unnamed["time_s_per_query_hi"]


def test_a_prediction_at_another_release_reusing_what_no_release_enters_equals_one_computed_afresh(fitted) -> None:
    """Stage ``release_widening`` predicts each row again at its engine's other measured releases,
    taking from the prediction at the row's own release what no release enters (the smoother's
    correction, the size / batch / class reasons, the log ratio or the terms before the release
    enters it). That shortcut must give what a prediction computed from scratch gives."""
    from recommender.model.component import with_column
    from recommender.model.predictor import RELEASE_COMPONENTS

    cand = pd.DataFrame([
        {"platform": p, "device_count": 1, "engine": "vllm", "engine_version": v, "model_id": m, "quantization": "fp16",
         "task": t, "batch_size": b}
        for p in ("gpu-a", "gpu-c", "gpu-d") for v in ("0.5.4", "0.11.1") for m in ("toy/m3", "toy/m13")
        for t in ("chat", "mmlu") for b in (1, 8, 64)
    ])
    cf = fitted._candidate_frame(cand)
    feats = fitted._features.columns(cf)
    checked = 0
    for name in RELEASE_COMPONENTS:
        comp = fitted.components[name]
        own = fitted.component_feats(name, feats, cf)
        point, half, bits, kept = comp.predict_keeping(own)
        np.testing.assert_array_equal(point, comp.predict(own)[0])
        for release in ("0.5.4", "0.11.1"):
            other = with_column(own, "engine_release", pd.Categorical([release] * len(cf)))
            fresh = comp.predict(other)
            reused = comp.predict(other, release_free=kept)
            for a, b in zip(reused, fresh, strict=True):
                np.testing.assert_array_equal(a, b)
            checked += 1
        assert kept.range_bits is not None
    assert checked == 2 * len(RELEASE_COMPONENTS)
