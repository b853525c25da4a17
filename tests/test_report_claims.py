"""Claims check (issue 17 item 8): cluster bootstrap, one reference with the matrix, 8-bit formats
each on their own (FP8 paired with its BF16 original), scope of every verdict, the bytes-moved
bound on predictions and the accuracy half of each claim."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recommender.report.claims import base_model, bootstrap_median, check_claims, references, verdict_for
from recommender.rules.flow import load_flow, reference_quantization
from recommender.table import load_table
from tests.test_report_fixtures import quant_table, row, write_rows

BPW = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8-bnb": 1.03, "int8-bnb-t0": 1.03, "fp8": 1.0, "dynamic-int8": 1.0}


def _claim(table: pd.DataFrame, claim_id: str, points: pd.DataFrame | None = None):
    return next(c for c in check_claims(table, points) if c.claim_id == claim_id)


def test_pairs_from_one_cluster_are_not_independent_evidence() -> None:
    band = (-35.0, -15.0)
    effects = [-25.0, -24.0, -26.0, -25.5, -24.5, -23.0]
    # Six pairs from six clusters decide; the same six from two clusters (e.g. one model at three
    # batch sizes on each of two GPUs) are two pieces of evidence, fewer than the three a verdict needs.
    assert verdict_for(effects, band)[0] == "supported"
    assert verdict_for(effects, band, clusters=["a", "a", "a", "b", "b", "b"])[0] == "not enough data"
    # Resampling whole clusters: two clusters far apart give a wider interval than six free pairs.
    spread = [-10.0, -11.0, -12.0, -40.0, -41.0, -42.0]
    _, free = bootstrap_median(spread)
    _, clustered = bootstrap_median(spread, ["x", "x", "x", "y", "y", "y"])
    assert clustered[1] - clustered[0] >= free[1] - free[0]
    assert clustered == pytest.approx((-41.0, -11.0))


def test_reference_is_the_matrix_rule(tmp_path: Path) -> None:
    flow = load_flow()
    for q in ("int8-bnb", "fp8", "fp16", "dynamic-int8"):
        refs = references(q, BPW)
        assert refs[0] == reference_quantization(flow, q, BPW)
    # A group with fp32, fp16 and int8: int8 is compared with fp16 (the first reference), not fp32.
    rows = []
    for i in range(4):
        for quant, e in (("fp32", 200.0), ("fp16", 100.0), ("int8-bnb", 75.0)):
            rows.append(row(model_id=f"m{i}", quantization=quant, energy_j_per_query=e * (1 + 0.01 * i), source_ref=f"{quant}{i}"))
    claim = _claim(load_table(write_rows(tmp_path / "t.csv", rows)), "int8-energy")
    data = next(c for c in claim.comparisons if c.basis == "data" and c.counted and c.n)
    assert data.estimate_pct == pytest.approx(-25.0, abs=0.01)
    assert "int8-bnb vs fp16: n=4" in data.detail
    assert claim.verdict == "supported"


def test_fp8_repository_pairs_with_its_bf16_original_and_formats_can_disagree(tmp_path: Path) -> None:
    assert base_model("meta-llama/Llama-3.1-405B-Instruct-FP8") == "meta-llama/Llama-3.1-405B-Instruct"
    rows = quant_table(-0.25, 4, platform="h100-sxm5-80gb", quant="int8-bnb", base="fp16")
    for i in range(4):
        rows.append(row(platform="h100-sxm5-80gb", model_id=f"org/big{i}", quantization="bf16", engine="vllm", batch_size=64,
                        energy_j_per_query=100.0, source="mlenergy-v3", source_ref=f"b{i}"))
        rows.append(row(platform="h100-sxm5-80gb", model_id=f"org/big{i}-FP8", quantization="fp8", engine="vllm", batch_size=64,
                        energy_j_per_query=150.0 + i, source="mlenergy-v3", source_ref=f"f{i}"))
    claim = _claim(load_table(write_rows(tmp_path / "t.csv", rows)), "int8-energy")
    by_fmt = {c.description.split(" ")[0]: c for c in claim.comparisons if c.basis == "data" and c.counted}
    assert by_fmt["fp8"].n == 4 and by_fmt["fp8"].verdict == "contradicted"
    assert "fp8 vs bf16: n=4" in by_fmt["fp8"].detail
    assert by_fmt["int8-bnb"].verdict == "supported"
    # One 8-bit format supports the claim, another contradicts it: the precision alone does not decide.
    assert claim.verdict == "depends on the format"
    assert "supported for int8-bnb at batch 1" in claim.scope and "contradicted for fp8 at batch 64" in claim.scope
    assert "does not say" in claim.tested_as


def test_every_verdict_states_its_scope(tmp_path: Path) -> None:
    rows = []
    for i, (plat, batch) in enumerate((("a800-sxm4-80gb", 1), ("a800-sxm4-80gb", 8), ("rtx-4090d", 1), ("rtx-4090d", 4))):
        for quant, e in (("fp16", 100.0), ("int8-bnb", 150.0 + i)):
            rows.append(row(platform=plat, model_id=f"m{i}", batch_size=batch, quantization=quant, energy_j_per_query=e,
                            source="quant-reports", source_ref=f"{quant}{i}"))
    claim = _claim(load_table(write_rows(tmp_path / "t.csv", rows)), "int8-energy")
    data = next(c for c in claim.comparisons if c.basis == "data" and c.counted and c.n)
    # data/SOURCES.md calls quant-reports self-reported: the scope says so.
    assert data.scope == "int8-bnb at batch 1-8; 1 source (quant-reports, self-reported); 2 platforms (a800-sxm4-80gb, rtx-4090d); 4 models"
    assert claim.verdict == "contradicted" and claim.scope == "contradicted for " + data.scope


def test_accuracy_half_is_tested(tmp_path: Path) -> None:
    def table(drop: float) -> pd.DataFrame:
        rows = []
        for i in range(4):
            for quant, e, acc in (("fp16", 100.0, 0.60), ("int8-bnb", 75.0, 0.60 * (1 + drop) + 0.0005 * i)):
                rows.append(row(model_id=f"m{i}", workload="mmlu", quantization=quant, energy_j_per_query=e, accuracy=acc,
                                accuracy_metric="acc", accuracy_stderr=0.01, source_ref=f"{quant}{i}{drop}"))
        return load_table(write_rows(tmp_path / f"t{drop}.csv", rows))

    kept = _claim(table(-0.002), "int8-energy")
    assert kept.accuracy_statement.startswith("INT8 loses less than 1%")
    assert kept.accuracy_verdict == "supported" and kept.accuracy_basis == "data"
    lost = _claim(table(-0.05), "int8-energy")
    assert lost.accuracy_verdict == "contradicted"
    acc = next(c for c in lost.accuracy_comparisons if c.basis == "data" and c.n)
    assert acc.estimate_pct == pytest.approx(-5.0, abs=0.2)
    # A claim without an accuracy half has no accuracy verdict.
    assert _claim(table(-0.002), "dynamic-energy").accuracy_verdict is None


def test_predictions_beyond_the_bytes_moved_are_never_shown() -> None:
    # int8 (1.03 B/weight) vs fp16 (2 B): energy can fall at most 1.03 / 2 - 1 = -48.5%.
    pts = []
    for i, e_int8 in enumerate((30.0, 35.0, 80.0, 78.0, 76.0)):  # the first two claim -70% and -65%
        for quant, e in (("fp16", 100.0), ("int8-bnb", e_int8)):
            pts.append({"task": "mmlu", "platform": "a100-pcie-40gb", "model_id": f"m{i}", "quantization": quant, "engine": "hf-transformers",
                        "batch_size": 1, "device_count": 1, "accuracy": 0.6, "energy_wh_per_1k": e, "eor": 60.0 / e,
                        "status": "interpolated", "accuracy_status": "measured"})
    claim = _claim(load_table_empty(), "int8-energy", pd.DataFrame(pts))
    model = next(c for c in claim.comparisons if c.basis == "model" and c.description.startswith("int8-bnb"))
    assert model.n == 3
    assert "2 predicted pairs beyond what the bytes moved allow were dropped" in model.detail
    assert model.estimate_pct == pytest.approx(-22.0)


def load_table_empty() -> pd.DataFrame:
    from recommender.table.schema import MeasuredRow

    return pd.DataFrame(columns=list(MeasuredRow.model_fields))


def test_a_task_scored_zero_gives_no_platform_ratio_instead_of_a_crash():
    # BLOOMZ scores 0 on GSM8K: its EOR is 0 on every GPU, so no Ada / Ampere or A100 margin exists.
    from recommender.report.claims import _a100_leads_model, _ada_model

    rows = [
        {"task": t, "model_id": "m", "quantization": "fp16", "engine": "vllm", "batch_size": 1, "platform": p, "eor": e, "status": "interpolated"}
        for t, e in (("gsm8k", 0.0), ("mmlu", 2.0))
        for p in ("rtx-4090", "rtx-3090", "a100-pcie-40gb")
    ]
    points = pd.DataFrame(rows)
    meta = {"rtx-4090": ("Ada Lovelace", "workstation"), "rtx-3090": ("Ampere", "workstation")}
    effects, _ = _ada_model(points, meta)
    assert effects == [0.0]
    assert _a100_leads_model(points) is not None
