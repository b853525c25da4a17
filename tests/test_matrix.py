"""``eai matrix``: deterministic output, the study's matrix checked, committed file regenerates."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

import recommender.cli.recommend_cmd as recommend_cmd
from recommender.cli import main
from recommender.rules.candidates import supports
from recommender.rules.catalogs import Catalogs
from recommender.rules.flow import load_flow
from recommender.rules.matrix import build_matrix, render
from recommender.rules.synthetic import FormulaPredictor

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs.load()


@pytest.fixture(scope="module")
def synthetic(catalogs: Catalogs):
    return build_matrix(FormulaPredictor(catalogs, measured={("a100-pcie-40gb", "fp16")}), catalogs=catalogs)


def test_every_scenario_and_priority_has_a_cell(synthetic) -> None:
    flow = load_flow()
    keys = [(c.scenario, c.priority) for c in synthetic.cells]
    assert keys == [(s, p) for s in flow.matrix.scenarios for p in flow.matrix.priorities]
    pool = set(flow.matrix.platform_pool)
    for c in synthetic.cells:
        assert c.platform in pool
        assert c.cost_tier == flow.classes[{"data-center": "data-center", "enterprise": "workstation", "edge": "edge"}[c.scenario]].cost_tier


def test_render_is_deterministic_in_every_format(catalogs: Catalogs, synthetic) -> None:
    again = build_matrix(FormulaPredictor(catalogs, measured={("a100-pcie-40gb", "fp16")}), catalogs=catalogs)
    for fmt in ("markdown", "csv", "json"):
        assert render(synthetic, fmt) == render(again, fmt)
    doc = json.loads(render(synthetic, "json"))
    assert doc["schema_version"] == "1.0" and len(doc["cells"]) == 15
    rows = list(csv.DictReader(io.StringIO(render(synthetic, "csv"))))
    assert len(rows) == 15 and rows[0]["scenario"] == "data-center"


def test_study_matrix_is_checked_against_catalog_and_predictions(catalogs: Catalogs, synthetic) -> None:
    flow = load_flow()
    checks = {c.scenario: c for c in synthetic.checks}
    assert set(checks) == set(flow.matrix.study)
    for scenario, study in flow.matrix.study.items():
        check = checks[scenario]
        runnable = supports(catalogs.quants[study.quantization], catalogs.platforms[study.platform])
        if not runnable:
            # e.g. dynamic-int8 is CPU-only in the quantization catalog: the study's edge pick cannot run on a GPU.
            assert check.verdict.startswith("disagrees: the study's configuration is not runnable")
        elif study.quantization == "fp16":
            assert "0% by definition" in check.verdict
        else:
            assert check.efficiency_gain is not None
            inside = check.efficiency_gain_lo <= study.efficiency_gain <= check.efficiency_gain_hi
            assert ("outside the 90% interval" in check.verdict) == (not inside)
            if inside:
                ratio = (1 + check.efficiency_gain_hi) / (1 + check.efficiency_gain_lo)
                wide = ratio > flow.matrix.conclusive_max_interval_ratio
                assert check.verdict.startswith("inconclusive" if wide else "consistent")
    md = render(synthetic, "markdown")
    assert "## The study's matrix checked against the data" in md


def test_matrix_cli_writes_formats(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, catalogs: Catalogs) -> None:
    pred = FormulaPredictor(catalogs)
    monkeypatch.setattr(recommend_cmd, "_load_predictor", lambda path: pred)
    out = tmp_path / "m.csv"
    assert main(["matrix", "--format", "csv", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("scenario,priority,objective,recommended")
    assert main(["matrix", "--format", "yaml"]) == 2


def test_committed_matrix_regenerates_identically() -> None:
    """data/decision_matrix.md is exactly what `eai matrix` produces from the shipped predictor."""
    predictor = recommend_cmd._load_predictor(None)
    committed = (ROOT / "data" / "decision_matrix.md").read_text(encoding="utf-8")
    assert render(build_matrix(predictor), "markdown") == committed
