"""The fitted model file cannot be swapped: integrity checks of ``recommender.model.store``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import test_regressor_fixtures as fx
from recommender.errors import ModelStateError


@pytest.fixture(scope="module")
def cats():
    return fx.catalogs()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, cats):
    """A model fitted on the synthetic fixture table and saved: (table, accuracy, model dir)."""
    import numpy as np

    from recommender.model.store import fit_from_files, save_predictor
    from recommender.table.io import write_table
    from recommender.table.schema import MeasuredRow

    d = tmp_path_factory.mktemp("store")
    tpath, apath = d / "measured.csv", d / "accuracy.csv"
    rows = [MeasuredRow.model_validate({k: v for k, v in r.items() if v is not None and not (isinstance(v, float) and np.isnan(v))})
            for r in fx.measured_table().to_dict("records")]
    write_table(rows, tpath)
    fx.accuracy_table().to_csv(apath, index=False)
    save_predictor(fit_from_files(tpath, apath, cats), d / "models")
    return tpath, apath, d / "models"


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in ("manifest.json", "predictor.json"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def test_saved_state_matches_its_manifest_hash_and_loads(fitted, cats):
    import hashlib

    from recommender.model.store import load_predictor

    tpath, apath, mdir = fitted
    manifest = json.loads((mdir / "manifest.json").read_text())
    assert manifest["state_sha256"] == hashlib.sha256((mdir / "predictor.json").read_bytes()).hexdigest()
    assert load_predictor(tpath, mdir, on_stale="refuse", accuracy_path=apath, catalogs=cats).data_hash == manifest["data_hash"]


@pytest.mark.parametrize("on_stale", ["refuse", "refit"])
def test_edited_state_is_refused_even_when_refit_is_allowed(fitted, cats, tmp_path, on_stale):
    from recommender.model.store import load_predictor

    tpath, apath, mdir = fitted
    d = _copy(mdir, tmp_path / "m")
    state = json.loads((d / "predictor.json").read_text())
    comp = next(iter(state["components"].values()))
    comp["linear"]["intercept"] = float(comp["linear"]["intercept"]) + 3.0
    (d / "predictor.json").write_text(json.dumps(state, sort_keys=True, separators=(",", ":")))
    with pytest.raises(ModelStateError, match=r"predictor\.json.*SHA-256.*eai fit") as info:
        load_predictor(tpath, d, on_stale=on_stale, accuracy_path=apath, catalogs=cats)
    assert info.value.exit_code == 6
    assert "\n" not in str(info.value)


def test_non_finite_state_is_refused_even_with_a_matching_hash(fitted, cats, tmp_path):
    import hashlib

    from recommender.model.store import load_predictor

    tpath, apath, mdir = fitted
    d = _copy(mdir, tmp_path / "m")
    state = json.loads((d / "predictor.json").read_text())
    next(iter(state["components"].values()))["linear"]["intercept"] = float("nan")
    raw = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
    (d / "predictor.json").write_bytes(raw)
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["state_sha256"] = hashlib.sha256(raw).hexdigest()
    (d / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelStateError, match="non-finite.*intercept"):
        load_predictor(tpath, d, on_stale="refuse", accuracy_path=apath, catalogs=cats)


def test_model_dir_that_does_not_exist_is_an_error_not_a_refit(fitted, cats, tmp_path):
    from recommender.model.store import load_predictor

    tpath, apath, _ = fitted
    missing = tmp_path / "mistyped"
    with pytest.raises(ModelStateError, match="does not exist"):
        load_predictor(tpath, missing, on_stale="refit", accuracy_path=apath, catalogs=cats)
    assert not missing.exists()


def test_candidate_frame_reads_serving_mode_and_refuses_an_unknown_one(fitted, cats):
    import pandas as pd

    from recommender.errors import InvalidInputError
    from recommender.model.store import load_predictor

    tpath, apath, mdir = fitted
    p = load_predictor(tpath, mdir, on_stale="refuse", accuracy_path=apath, catalogs=cats)
    base = {"platform": "gpu-b", "device_count": 1, "engine": "hf-transformers", "model_id": "toy/m7",
            "quantization": "fp16", "batch_size": 1, "task": "chat"}
    cand = pd.DataFrame([{**base, "serving_mode": m} for m in ("online", "offline", None)])
    assert [str(x) for x in p._candidate_frame(cand)["serving_mode"]] == ["online", "offline", "nan"]
    with pytest.raises(InvalidInputError, match="'streaming' in candidate row 2"):
        p.predict(pd.DataFrame([{**base, "serving_mode": "online"}, {**base, "serving_mode": "streaming"}]))


def test_a_catalog_figure_makes_the_model_stale_a_checkpoint_name_does_not(cats):
    from dataclasses import replace

    from recommender.model.store import catalog_hash

    name = next(iter(cats.models))
    spec = cats.models[name]
    named = replace(cats, models={**cats.models, name: spec.model_copy(update={"checkpoints": {"awq-int4": "org/x-AWQ"}})})
    resized = replace(cats, models={**cats.models, name: spec.model_copy(update={"params_total_b": spec.params_total_b * 2})})
    # Where the profiler finds AWQ weights says nothing of energy or time; a parameter count does.
    assert catalog_hash(named) == catalog_hash(cats) != catalog_hash(resized)
