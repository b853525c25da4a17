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
from recommender.rules.flow import bytes_bound_gain, load_flow, reference_quantization
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
    serving = {"data-center": "vllm", "enterprise": "vllm", "edge": "llama.cpp"}
    for c in synthetic.cells:
        assert c.platform in pool
        assert c.cost_tier == flow.classes[{"data-center": "data-center", "enterprise": "workstation", "edge": "edge"}[c.scenario]].cost_tier
        # A whole deployment: the flow's serving engine for the class, with its concurrency.
        assert c.engine == serving[c.scenario] and c.batch_size is not None
        assert c.decided_by.startswith(("data:", "flow preference:"))
        assert (", clear" in c.confidence) == ("clear of every other candidate" in c.decided_by)


def test_cells_say_when_only_the_flow_order_decided(catalogs: Catalogs, synthetic) -> None:
    # Wide intervals on every prediction: the data cannot order the candidates, the flow's preference does.
    wide = build_matrix(FormulaPredictor(catalogs), catalogs=catalogs)
    assert any(c.decided_by.startswith("flow preference:") for c in wide.cells)
    for c in wide.cells:
        if c.decided_by.startswith("flow preference:"):
            assert "tied" in c.confidence


def test_cells_nothing_informs_name_what_is_missing(catalogs: Catalogs) -> None:
    class PriorOnly(FormulaPredictor):
        def predict(self, candidates):
            out = super().predict(candidates)
            out["accuracy_status"] = "prior"
            return out

    m = build_matrix(PriorOnly(catalogs), catalogs=catalogs)
    for c in m.cells:
        assert c.platform is None and c.recommended.startswith("no answer")
        assert c.decided_by.startswith("nothing informed an answer")
    assert "no candidate model has a measured or imputed score" in m.cells[0].decided_by


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
    bpw = {n: q.bytes_per_weight for n, q in catalogs.quants.items()}
    checks = {(c.scenario, c.configuration.split(" + ")[1].split(" ")[0]): c for c in synthetic.checks}
    assert {s for s, _ in checks} == set(flow.matrix.study)
    for scenario, study in flow.matrix.study.items():
        for q in study.quantizations:
            check = checks[(scenario, q)]
            assert f"({study.precision})" in check.configuration
            runnable = supports(catalogs.quants[q], catalogs.platforms[study.platform])
            if not runnable:
                # e.g. dynamic-int8 is CPU-only in the quantization catalog; fp8 needs Ada or newer.
                assert check.verdict == "not runnable as catalogued"
                continue
            # One baseline rule with the claims check: the first reference moving more bytes per weight.
            ref = reference_quantization(flow, q, bpw)
            assert check.reference.startswith(ref) and bpw[ref] > bpw[q]
            if check.verdict == "cannot check":
                assert "does not fit" in check.data or "no prediction" in check.data
                continue
            bound = bytes_bound_gain(bpw[ref], bpw[q])
            assert check.efficiency_gain_hi <= bound + 1e-12
            if "beyond what the bytes moved allow" in check.verdict:
                assert check.efficiency_gain == pytest.approx(bound)  # shown capped, never beyond
                continue
            inside = check.efficiency_gain_lo <= study.efficiency_gain <= check.efficiency_gain_hi
            assert ("outside the 90% interval" in check.verdict) == (not inside)
            if inside:
                ratio = (1 + check.efficiency_gain_hi) / (1 + check.efficiency_gain_lo)
                wide = ratio > flow.matrix.conclusive_max_interval_ratio
                assert check.verdict.startswith("inconclusive" if wide else ("consistent", "disagrees"))
    md = render(synthetic, "markdown")
    assert "## The study's matrix checked against the data" in md
    assert "Energy is gross" in md


def test_reference_and_bytes_bound() -> None:
    flow = load_flow()
    bpw = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8-bnb": 1.03, "fp8": 1.0, "gguf-q4": 0.5625}
    assert reference_quantization(flow, "int8-bnb", bpw) == "fp16"
    assert reference_quantization(flow, "fp8", bpw, available=lambda b: b != "fp16") == "bf16"
    assert reference_quantization(flow, "fp16", bpw) == "fp32"
    assert reference_quantization(flow, "fp32", bpw) is None
    # 4-bit weights (0.5625 B) vs fp16 (2 B): at most 2 / 0.5625 - 1 = +256% at equal accuracy.
    assert bytes_bound_gain(2.0, 0.5625) == pytest.approx(2.5555555556)


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


def test_cells_name_the_device_count_of_a_split_model(synthetic, catalogs: Catalogs) -> None:
    # A model spread over several cards must say so: "rtx-4090 + fp16 (gemma-2-27b)" would read as
    # one 24 GB card holding 54 GB of weights.
    split = [c for c in synthetic.cells if c.device_count and c.device_count > 1]
    assert split, "the fixture should recommend at least one multi-device deployment"
    for c in synthetic.cells:
        if c.platform is None:
            continue
        named = f"{c.platform} x{c.device_count} + " if c.device_count > 1 else f"{c.platform} + "
        assert c.recommended.startswith(named)
    rows = list(csv.DictReader(io.StringIO(render(synthetic, "csv"))))
    assert {int(r["device_count"]) for r in rows if r["device_count"]} >= {1, split[0].device_count}
