"""Report: metrics, claim verdicts computed from data, offline HTML, recommendation page, CLI."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_report_fixtures import FakePredictor, quant_table, row, scored_rows, write_rows

from recommender.cli import main
from recommender.errors import InvalidInputError
from recommender.report.build import build_report, license_from_sources_md
from recommender.report.claims import check_claims, verdict_for
from recommender.report.flow_svg import flow_svg
from recommender.report.html import markdown_to_html
from recommender.report.metrics import measured_points, pareto_mask
from recommender.report.recommendation import render_recommendation_report
from recommender.table import load_table

REPO = Path(__file__).resolve().parents[1]


class _Refs(HTMLParser):
    """Collect every src/href/action attribute of real elements (script bodies are not markup)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "action", "srcset", "data", "poster", "xlink:href") and v:
                self.refs.append((tag, k, v))


def external_refs(html: str) -> list[tuple[str, str, str]]:
    p = _Refs()
    p.feed(html)
    return [r for r in p.refs if re.match(r"^\s*(https?:)?//", r[2], re.I)]


@pytest.fixture(scope="module")
def synthetic_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = quant_table(-0.25, 6) + scored_rows()
    return write_rows(tmp_path_factory.mktemp("tbl") / "measured.csv", rows)


@pytest.fixture(scope="module")
def built(synthetic_table: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("rep") / "report.html"
    result = build_report(out, synthetic_table, predictor=FakePredictor(measured=("rtx-4090",)))
    return result, out.read_text(encoding="utf-8")


# ---------------------------------------------------------------- metrics


def test_pareto_mask_keeps_only_undominated_points() -> None:
    energy = np.array([1.0, 2.0, 3.0, 2.0, 4.0, np.nan])
    acc = np.array([0.5, 0.7, 0.6, 0.4, 0.9, 0.99])
    # (3, 0.6) is dominated by (2, 0.7); (2, 0.4) by (1, 0.5); NaN never on the frontier.
    assert pareto_mask(energy, acc).tolist() == [True, True, False, False, True, False]


def test_measured_points_compute_eor_in_wh_per_1k_queries(tmp_path: Path) -> None:
    t = load_table(write_rows(tmp_path / "t.csv", scored_rows()))
    pts = measured_points(t, {"mmlu"})
    a100 = pts[pts["platform"] == "a100-pcie-40gb"].iloc[0]
    wh = 40.0 * 1000 / 3600
    assert a100["energy_wh_per_1k"] == pytest.approx(wh)
    assert a100["eor"] == pytest.approx(0.61 * 100 / wh)
    assert a100["accuracy_lo"] == pytest.approx(0.61 - 1.6448536 * 0.01)
    assert a100["eor_lo"] < a100["eor"] < a100["eor_hi"]
    assert set(pts["task"]) == {"mmlu"} and len(pts) == 3


# ---------------------------------------------------------------- verdicts


def test_verdict_rule() -> None:
    band = (-35.0, -15.0)
    assert verdict_for([-24.0, -26.0, -25.0, -23.0], band)[0] == "supported"
    assert verdict_for([40.0, 45.0, 50.0, 42.0], band)[0] == "contradicted"
    assert verdict_for([-25.0, -24.0], band)[0] == "not enough data"  # fewer than 3
    assert verdict_for([], band)[0] == "not enough data"
    # Median outside the band but the interval reaches into it: undecided.
    assert verdict_for([-60.0, -10.0, -12.0, -40.0, -5.0], band)[0] == "not enough data"


@pytest.mark.parametrize(("effect", "expected"), [(-0.25, "supported"), (0.45, "contradicted")])
def test_int8_claim_verdict_follows_the_data(tmp_path: Path, effect: float, expected: str) -> None:
    t = load_table(write_rows(tmp_path / "t.csv", quant_table(effect, 5)))
    claim = next(c for c in check_claims(t) if c.claim_id == "int8-energy")
    assert claim.verdict == expected
    assert claim.basis == "data"
    data = next(c for c in claim.comparisons if c.basis == "data" and c.n)
    assert data.n == 5
    assert data.estimate_pct == pytest.approx(effect * 100, abs=1.5)


def test_claims_without_evidence_say_not_enough_data(tmp_path: Path) -> None:
    t = load_table(write_rows(tmp_path / "t.csv", quant_table(-0.25, 2)))
    results = {c.claim_id: c for c in check_claims(t)}
    assert results["int8-energy"].verdict == "not enough data"
    assert results["ada-generation"].verdict == "not enough data"
    assert all(c.verdict in ("supported", "contradicted", "not enough data") for c in results.values())


def test_a100_lead_is_contradicted_by_a_counterexample(tmp_path: Path) -> None:
    rows = []
    for i in range(4):
        rows.append(row(platform="a100-sxm4-40gb", model_id=f"m{i}", energy_j_per_query=100.0, source_ref=f"a{i}"))
        # V100 beats the A100 on the last model by 30%.
        rows.append(row(platform="v100-sxm2-32gb", model_id=f"m{i}", energy_j_per_query=70.0 if i == 3 else 150.0, source_ref=f"v{i}"))
    t = load_table(write_rows(tmp_path / "t.csv", rows))
    lead = next(c for c in check_claims(t) if c.claim_id == "a100-leads")
    assert lead.verdict == "contradicted"
    assert "3 of 4" in lead.comparisons[0].detail
    rows[-1] = row(platform="v100-sxm2-32gb", model_id="m3", energy_j_per_query=150.0, source_ref="v3")
    t = load_table(write_rows(tmp_path / "t2.csv", rows))
    assert next(c for c in check_claims(t) if c.claim_id == "a100-leads").verdict == "supported"


def test_model_side_decides_when_data_are_silent(synthetic_table: Path) -> None:
    from recommender.report.inputs import predict_grid, study_grid

    cands, _ = study_grid()
    pts, _ = predict_grid(FakePredictor(), cands)
    t = load_table(synthetic_table)
    lead = next(c for c in check_claims(t, pts) if c.claim_id == "a100-leads")
    model = next(c for c in lead.comparisons if c.basis == "model")
    # Only A100 and RTX 4090 are interpolated in the fake, so each group has exactly one rival.
    usable = pts[pts["status"] != "extrapolated"]
    assert model.n == len({(r.task, r.model_id, r.quantization) for r in usable.itertuples()})
    # The table has only 2 matched A100 groups (< 3), so the model decides; recompute its verdict.
    assert next(c for c in lead.comparisons if c.basis == "data").verdict == "not enough data"
    assert lead.basis == "model"
    a = usable[usable["platform"] == "a100-pcie-40gb"].set_index(["task", "model_id", "quantization"])["eor"]
    r = usable[usable["platform"] == "rtx-4090"].set_index(["task", "model_id", "quantization"])["eor"]
    beaten = (r > a * 1.10).any()
    assert lead.verdict == ("contradicted" if beaten else "supported")


# ---------------------------------------------------------------- page


def test_report_has_no_external_references(built) -> None:
    _, html = built
    assert external_refs(html) == []
    assert not re.search(r"<link[^>]+rel=[\"']?stylesheet", html, re.I)
    assert "<iframe" not in html.lower()
    # plotly.js is inlined, not loaded from a CDN.
    assert "cdn.plot.ly" not in " ".join(v for _, _, v in _all_refs(html))
    assert len(html) > 3_000_000


def _all_refs(html: str) -> list[tuple[str, str, str]]:
    p = _Refs()
    p.feed(html)
    return p.refs


def test_external_reference_detector_catches_cdn_scripts() -> None:
    bad = '<html><head><script src="https://cdn.plot.ly/plotly.min.js"></script><a href="//x.org/a">x</a></head></html>'
    assert len(external_refs(bad)) == 2
    assert external_refs('<a href="#claims">ok</a><script>var s = "<a href=\'https://x\'>";</script>') == []


def test_report_sections_figures_and_claims(built) -> None:
    result, html = built
    for sid in ("claims", "heatmap", "tradeoff", "flow", "validation", "provenance"):
        assert f'<section id="{sid}"' in html
    blocks = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', html, re.S)
    ids = {b[0] for b in blocks}
    assert {"fig-heatmap-json", "fig-tradeoff-json", "fig-provenance-json"} <= ids
    for _, body in blocks:
        fig = json.loads(body.replace("<\\/", "</"))
        assert fig["data"], "every figure has traces"
    assert result.points_measured == 6  # scored_rows: 3 platforms x 2 tasks
    assert result.points_predicted > 0
    assert len(result.claims) == 8
    assert 'class="flow"' in html and "scenario: data-center" in html
    # The int8 pairs in the synthetic table are -25% vs fp32: the verdict is computed, not fixed.
    assert next(c for c in result.claims if c.claim_id == "int8-energy").verdict == "supported"


def test_heatmap_marks_measured_and_predicted_cells(built) -> None:
    _, html = built
    body = re.search(r'id="fig-heatmap-json">(.*?)</script>', html, re.S).group(1)
    fig = json.loads(body.replace("<\\/", "</"))
    texts = [c for tr in fig["data"] if tr["type"] == "heatmap" for r in tr["text"] for c in r if c]
    assert any(t.endswith(" M") for t in texts)
    assert any(t.endswith(" P") or t.endswith(" P!") for t in texts)
    # Each task's button outlines exactly that task's measured cells.
    buttons = fig["layout"]["updatemenus"][0]["buttons"]
    heatmaps = [tr for tr in fig["data"] if tr["type"] == "heatmap"]
    assert len(buttons) == len(heatmaps)
    for b, tr in zip(buttons, heatmaps, strict=True):
        n_measured = sum(c.endswith(" M") for r in tr["text"] for c in r)
        assert len(b["args"][1]["shapes"]) == n_measured


def test_tradeoff_draws_pareto_and_both_kinds(built) -> None:
    _, html = built
    body = re.search(r'id="fig-tradeoff-json">(.*?)</script>', html, re.S).group(1)
    fig = json.loads(body.replace("<\\/", "</"))
    names = [tr.get("name", "") for tr in fig["data"]]
    assert any(n.startswith("Pareto frontier") for n in names)
    assert any("measured" in n for n in names) and any("predicted" in n for n in names)
    # Extrapolated traces start legend-only when the task has better evidence.
    first = fig["layout"]["updatemenus"][0]["buttons"][0]["args"][0]["visible"]
    states = {tr["name"]: v for tr, v in zip(fig["data"], first, strict=True) if v is not False}
    assert states["fp16 · predicted (extrapolated)"] == "legendonly"
    assert states["fp16 · predicted (interpolated)"] is True
    buttons = fig["layout"]["updatemenus"][0]["buttons"]
    assert [b["label"] for b in buttons][:2] == ["mmlu", "gsm8k"] or {"mmlu", "gsm8k"} <= {b["label"] for b in buttons}


def test_report_builds_from_shipped_table_without_predictor(tmp_path: Path) -> None:
    res = build_report(tmp_path / "r.html", with_predictions=False)
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "predictions switched off" in html
    assert res.points_predicted == 0
    assert external_refs(html) == []
    matrix = REPO / "data" / "decision_matrix.md"
    if matrix.is_file():
        # Every heading and table header of the shipped matrix is on the page.
        md = matrix.read_text(encoding="utf-8")
        for line in md.splitlines():
            if line.startswith("#"):
                assert markdown_to_html(line).split(">", 1)[1].rsplit("<", 1)[0] in html
        assert html.count("<table>") >= 3
    else:
        assert "decision_matrix.md is not in data/ yet" in html


def test_flow_svg_is_valid_xml_with_every_class() -> None:
    flow = yaml.safe_load((REPO / "data" / "decision_flow.yaml").read_text(encoding="utf-8"))
    svg = flow_svg(flow)
    root = ET.fromstring(svg)
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for cls in flow["classes"]:
        assert f"class: {cls}" in texts
    for sc in flow["scenarios"]:
        assert f"scenario: {sc}" in texts
    # The flow's serving defaults, chance margin, evidence rule and energy definition are drawn too.
    assert "serves: vllm" in texts and "serves: llama.cpp" in texts
    assert "chance + margin" in texts and "size prior never qualifies" in texts and "energy is gross" in texts


def test_markdown_renderer_escapes_and_renders_tables() -> None:
    html = markdown_to_html("# T\n\n| a | b |\n|---|---|\n| <x> | `c` |\n\n- item [link](https://example.org)\n")
    assert "<table>" in html and "&lt;x&gt;" in html and "<code>c</code>" in html
    assert "href" not in html  # links are not made clickable: the page stays offline


def test_license_lookup_from_sources_md() -> None:
    md = "# S\n\n## alpha — thing\n\n- Origin: x. License: Apache-2.0.\n\n## beta — other\n\n- taken from repo (MIT)\n"
    assert license_from_sources_md("alpha", md) == "Apache-2.0"
    assert license_from_sources_md("beta", md).startswith("MIT")
    assert license_from_sources_md("gamma", md) is None


# ---------------------------------------------------------------- recommendation page


def _ranked() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"rank": 2, "platform": "rtx-4090", "model_id": "m", "quantization": "fp16", "accuracy": 0.60, "accuracy_lo": 0.58, "accuracy_hi": 0.62, "energy_j_per_query": 50.0, "status": "interpolated"},
            {"rank": 1, "platform": "a100-pcie-40gb", "model_id": "m", "quantization": "int8-bnb", "accuracy": 0.59, "accuracy_lo": 0.57, "accuracy_hi": 0.61, "energy_j_per_query": 30.0, "status": "measured"},
        ]
    )


def test_recommendation_page_from_dataframe(tmp_path: Path) -> None:
    out = render_recommendation_report((_ranked(), "lowest energy at the accuracy floor"), tmp_path / "rec.html")
    html = out.read_text(encoding="utf-8")
    assert "lowest energy at the accuracy floor" in html
    assert external_refs(html) == []
    fig = json.loads(re.search(r'id="fig-rec-tradeoff-json">(.*?)</script>', html, re.S).group(1).replace("<\\/", "</"))
    star = next(tr for tr in fig["data"] if tr.get("name") == "recommended")
    # rank 1 is the winner even though it is the second row of the frame.
    assert star["x"] == [pytest.approx(30.0 * 1000 / 3600)]
    assert '<tr class="winner"><td class="num">1</td>' in html


def test_recommendation_page_from_json_document(tmp_path: Path) -> None:
    doc = {
        "schema_version": "1.0",
        "scenario": "edge",
        "objective": {"name": "eor", "label": "EOR"},
        "recommendations": [
            {"rank": 1, "platform": "rtx-4060-ti-16gb", "model_id": "m", "quantization": "dynamic-int8",
             "accuracy": {"value": 0.5, "lo": 0.45, "hi": 0.55}, "wh_per_1k_queries": {"value": 5.0, "lo": 4.0, "hi": 6.0},
             "eor": {"value": 10.0, "lo": 8.0, "hi": 12.0}, "status": "extrapolated",
             "per_task": [{"task": "gsm8k", "accuracy": 0.4, "wh_per_1k_queries": 7.0, "status": "extrapolated"}]},
        ],
        "explanation": {"decided_by": ["objective: best EOR"], "margin": {"runner_up": None}},
        "spec": {"scenario": "edge"},
        "assumptions": ["a1"],
    }
    out = render_recommendation_report(doc, tmp_path / "rec.html")
    html = out.read_text(encoding="utf-8")
    assert "objective: best EOR" in html and "scenario: edge" in html
    fig = json.loads(re.search(r'id="fig-rec-tradeoff-json">(.*?)</script>', html, re.S).group(1).replace("<\\/", "</"))
    assert [b["label"] for b in fig["layout"]["updatemenus"][0]["buttons"]] == ["all tasks (weighted)", "gsm8k"]


def test_recommendation_page_rejects_unknown_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        render_recommendation_report(42, tmp_path / "x.html")
    with pytest.raises(InvalidInputError):
        render_recommendation_report({"recommendations": []}, tmp_path / "x.html")


# ---------------------------------------------------------------- CLI


def test_cli_report_writes_file(tmp_path: Path, synthetic_table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "report.html"
    code = main(["report", "--out", str(out), "--table", str(synthetic_table), "--no-predictions"])
    assert code == 0
    assert out.is_file() and out.stat().st_size > 1_000_000
    printed = capsys.readouterr().out
    assert "int8-energy=supported" in printed


def test_cli_report_bad_table_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["report", "--out", str(tmp_path / "r.html"), "--table", str(tmp_path / "missing.csv")])
    assert code == 5
    assert "not found" in capsys.readouterr().err


# ---------------------------------------------------------------- validation section


def _evaluation(with_predictions: bool) -> dict:
    metrics = {"n": 40, "median_ape_pct": 31.5, "p90_ape_pct": 120.0, "coverage_90_pct": 87.5}
    block = {
        "groups": 4,
        "status_counts": {"interpolated": 30, "extrapolated": 10},
        "energy_j_per_query": {"model": metrics, "roofline": {**metrics, "median_ape_pct": 60.0}},
        "eor": {"model": {"n": 0}},
    }
    if with_predictions:
        block["predictions"] = {
            "energy_j_per_query": {"measured": [10.0, 20.0, 40.0], "predicted": [12.0, 18.0, 80.0], "lo": [8.0, 15.0, 60.0], "hi": [15.0, 25.0, 90.0], "labels": ["a", "b", "c"]}
        }
    return {"n_rows": 40, "splits": {"source": block, "model": dict(block)}, "data_hash": "x"}


def test_validation_reads_the_regressor_layout() -> None:
    from recommender.report.validation import error_rows, parity_series, validation_section

    header, rows = error_rows(_evaluation(False))
    assert header[:4] == ["split", "groups", "quantity", "method"]
    assert ["leave-one-source-out", 4, "energy_j_per_query", "roofline", 40, 60.0, 120.0, 87.5] in rows
    assert len(rows) == 6  # 2 splits x (2 energy methods + 1 empty eor)
    html = validation_section(_evaluation(False), None)
    assert "no per-row held-out predictions" in html and 'id="fig-errors"' in html
    series = parity_series(_evaluation(True))
    assert [s["name"] for s in series["energy_j_per_query"]] == ["leave-one-source-out", "leave-one-model-out"]
    s0 = series["energy_j_per_query"][0]
    assert s0["predicted"] == [12.0, 18.0, 80.0] and s0["lo"] == [8.0, 15.0, 60.0]
    html = validation_section(_evaluation(True), None)
    assert 'id="fig-parity-energy_j_per_query"' in html and "no per-row" not in html


def test_a_crashing_predictor_is_reported_not_fatal(synthetic_table: Path, tmp_path: Path) -> None:
    class Broken:
        data_hash = "broken"

        def predict(self, candidates: pd.DataFrame) -> pd.DataFrame:
            raise AttributeError("bug in the regressor")

    res = build_report(tmp_path / "r.html", synthetic_table, predictor=Broken())
    assert "AttributeError: bug in the regressor" in res.notes["predictions"]
    assert res.points_predicted == 0 and res.points_measured == 6
    assert "bug in the regressor" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_recommendation_page_from_a_real_recommendation(tmp_path: Path) -> None:
    """The object `eai recommend --report` passes: a rules-engine Recommendation."""
    from recommender.rules.engine import recommend
    from recommender.rules.spec import parse_spec
    from recommender.rules.synthetic import TablePredictor, small_catalogs

    values = {
        ("a100-pcie-40gb", "org/mid-7b", q, "gsm8k"): {"energy_j": e, "time_s": 2.0, "accuracy": 0.5, "rel_halfwidth": 0.05}
        for q, e in (("fp16", 100.0), ("bf16", 103.0), ("int8-bnb", 200.0))
    }
    spec = parse_spec({"tasks": ["gsm8k"], "hardware": {"platforms": ["a100"]}, "models": {"ids": ["org/mid-7b"]}, "objective": "energy"})
    rec = recommend(spec, TablePredictor(values), catalogs=small_catalogs())
    html = render_recommendation_report(rec, tmp_path / "rec.html").read_text(encoding="utf-8")
    fig = json.loads(re.search(r'id="fig-rec-tradeoff-json">(.*?)</script>', html, re.S).group(1).replace("<\\/", "</"))
    star = next(tr for tr in fig["data"] if tr.get("name") == "recommended")
    winner_wh = rec.winner["wh_per_1k_queries"]["value"]
    assert star["x"][0] == pytest.approx(winner_wh)
    ranked = [tr for tr in fig["data"] if "·" in tr.get("name", "")]
    assert sum(len(tr["x"]) for tr in ranked) == len(rec.rows) * 2  # overall + the one task
    for d in rec.explanation["decided_by"]:
        assert d.replace(">", "&gt;").replace("'", "&#x27;") in html


def test_cpu_rows_are_context_not_evidence_for_the_gpu_study(tmp_path: Path) -> None:
    t = load_table(write_rows(tmp_path / "t.csv", quant_table(-0.25, 5, platform="cpu-amd-epyc-zen4")))
    claim = next(c for c in check_claims(t) if c.claim_id == "int8-energy")
    assert claim.verdict == "not enough data" and claim.evidence_n == 0
    cpu = next(c for c in claim.comparisons if not c.counted and "CPU" in c.description)
    assert cpu.n == 5 and cpu.verdict == "supported"


def test_a_quantization_without_its_own_colour_still_draws() -> None:
    # A format missing from the palette falls back to the short-form grey (#555); its
    # translucent interval colour must still be a valid rgba (it crashed on gguf-q8).
    from recommender.report.figures import QUANT_COLORS, _rgba

    assert _rgba("#555", 0.35) == "rgba(85,85,85,0.35)"
    assert _rgba(QUANT_COLORS["gguf-q4"], 1.0) == "rgba(60,84,136,1.0)"


def test_every_model_platform_and_task_of_the_study_grid_is_catalogued() -> None:
    # A study name the catalogs cannot resolve (unknown, or ambiguous like "Mistral-7B") drops
    # out of the report's predicted grid with a note; every one must resolve.
    from recommender.report.inputs import STUDY_MODELS, study_grid

    grid, unknown = study_grid()
    assert unknown == []
    assert grid["model_id"].nunique() == len(STUDY_MODELS)
