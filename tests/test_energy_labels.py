"""An estimated energy (process CPU time x TDP share) is labelled as such wherever it is shown."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from recommender.rules.catalogs import Catalogs
from recommender.rules.synthetic import FormulaPredictor
from recommender.table import MeasuredRow
from recommender.table.io import write_table

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def _row(platform: str, method: str) -> MeasuredRow:
    estimated = method == "estimated"
    return MeasuredRow(
        platform=platform, device_count=1, engine="hf-transformers", model_id=MODEL, params_total_b=0.1345,
        params_active_b=0.1345, quantization="fp32", batch_size=1, workload="arc_easy", accuracy=0.4,
        accuracy_metric="acc_norm", energy_j_per_query=2.0, time_s_per_query=1.0,
        energy_method=method, energy_scope="cpu" if estimated else "gpu", idle_subtracted=False,
        flags="estimated" if estimated else "", source="eai-profiler",
        source_ref=f"test; limit=5; fewshot=0; threads=1; {platform}", measured_on=dt.date(2026, 1, 1),
    )


@pytest.fixture
def cli_predictor() -> FormulaPredictor:
    # Reports both platforms' fp32 as measured, like a predictor that found the rows.
    return FormulaPredictor(Catalogs.load(), measured={("cpu-amd-epyc-zen4", "fp32"), ("a100-sxm4-40gb", "fp32")})


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import recommender.table.io as table_io

    path = tmp_path / "measured.csv"
    write_table([_row("cpu-amd-epyc-zen4", "estimated"), _row("a100-sxm4-40gb", "nvml-counter")], path)
    monkeypatch.setattr(table_io, "DEFAULT_TABLE", path)
    return path


def test_predict_labels_a_measured_status_built_on_estimated_energy(run, table: Path) -> None:
    args = ["predict", "-p", "cpu-amd-epyc-zen4", "-p", "a100-sxm4-40gb", "-m", MODEL, "-q", "fp32", "-t", "arc_easy", "--engine", "hf-transformers"]
    code, out, err = run([*args, "--json"])
    assert code == 0, err
    doc = json.loads(out)
    methods = {p["platform"]: (p["status"], p["energy_method"]) for p in doc["predictions"]}
    assert methods == {"cpu-amd-epyc-zen4": ("measured", "estimated"), "a100-sxm4-40gb": ("measured", "nvml-counter")}
    assert "net" not in doc["units"]["energy_j_per_query"] and "estimated" in doc["units"]["energy_method"]
    code, out, _ = run([*args, "--csv"])
    assert code == 0
    csv_rows = pd.read_csv(io.StringIO(out)).set_index("platform")
    assert csv_rows.loc["cpu-amd-epyc-zen4", "energy_method"] == "estimated"
    code, out, _ = run(["predict", "-p", "cpu-amd-epyc-zen4", "-m", MODEL, "-q", "fp32", "-t", "arc_easy", "--engine", "hf-transformers"])
    assert code == 0 and "(energy estimated)" in " ".join(out.split()).replace("│ ", "")


def test_report_heatmap_tags_estimated_measured_cells() -> None:
    from recommender.report.figures import eor_heatmap, heatmap_cells
    from recommender.report.metrics import measured_points
    from recommender.table.io import rows_to_frame

    frame = rows_to_frame([_row("cpu-amd-epyc-zen4", "estimated"), _row("a100-sxm4-40gb", "nvml-counter")])
    points = measured_points(frame)
    cells = heatmap_cells(points, "arc_easy").set_index("platform")
    assert bool(cells.loc["cpu-amd-epyc-zen4", "estimated"]) and not bool(cells.loc["a100-sxm4-40gb", "estimated"])
    fig = eor_heatmap(points, ["arc_easy"], ["a100-sxm4-40gb", "cpu-amd-epyc-zen4"], ["fp32"])
    text = [t for row in fig.data[0].text for t in row]
    assert any(t.endswith("M est.") for t in text) and any(t.endswith(" M") for t in text)
    hover = " ".join(h for row in fig.data[0].customdata for h in row)
    assert "not metered" in hover


def test_profile_console_line_says_estimated() -> None:
    from profiler.sweep import _row_line

    assert "estimated" in _row_line(_row("cpu-amd-epyc-zen4", "estimated"))
    assert "estimated" not in _row_line(_row("a100-sxm4-40gb", "nvml-counter"))
