"""The measured and accuracy table schemas reject bad rows and name line, column and value."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from recommender.errors import TableValidationError
from recommender.importers.build import check_platform_id
from recommender.table.accuracy import ACCURACY_COLUMNS, read_accuracy_rows, write_accuracy, AccuracyRow
from recommender.table.io import COLUMNS, read_rows, write_table
from recommender.table.schema import MeasuredRow

GOOD = {
    "platform": "a100-sxm4-40gb",
    "device_count": "1",
    "engine": "fastchat",
    "model_id": "BAIR/koala-13b",
    "params_total_b": "13.02",
    "params_active_b": "13.02",
    "quantization": "fp16",
    "batch_size": "1",
    "workload": "sharegpt-chat",
    "energy_j_per_query": "2144.8",
    "energy_j_per_output_token": "8.07",
    "energy_method": "nvml-counter",
    "energy_scope": "gpu",
    "idle_subtracted": "false",
    "source": "mlenergy-v1",
    "source_ref": "mlenergy-v1/A100_chat_benchmark.csv#L2",
}

GOOD_ACC = {
    "model_id": "BAIR/koala-13b",
    "task": "arc_challenge",
    "accuracy": "0.529",
    "metric": "acc_norm",
    "num_fewshot": "25",
    "quantization": "unknown",
    "source": "mlenergy-v1",
    "source_ref": "mlenergy-v1/score.csv#L2:arc",
}


def _write(path: Path, columns: tuple[str, ...] | list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        for r in rows:
            writer.writerow(r)
    return path


def test_good_measured_row_reads(tmp_path: Path) -> None:
    rows = read_rows(_write(tmp_path / "t.csv", COLUMNS, [GOOD]))
    assert rows[0].energy_j_per_query == 2144.8
    assert rows[0].idle_subtracted is False


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("device_count", "0"),
        ("quantization", "int3"),
        ("energy_j_per_query", "-5"),
        ("idle_subtracted", "maybe"),
        ("engine", "pytorch"),
    ],
)
def test_bad_cell_names_line_column_value(tmp_path: Path, column: str, value: str) -> None:
    path = _write(tmp_path / "bad.csv", COLUMNS, [GOOD, {**GOOD, column: value}])
    with pytest.raises(TableValidationError) as info:
        read_rows(path)
    err = info.value
    assert err.line == 3  # header is line 1, the bad row is the second data row
    assert err.column == column
    assert err.value == value
    assert f"{path}:3" in str(err) and column in str(err)
    assert err.exit_code == 4


def test_cross_field_rule_is_reported(tmp_path: Path) -> None:
    row = {**GOOD, "energy_method": "nvml-sampled"}  # needs energy_sample_hz
    with pytest.raises(TableValidationError, match="energy_sample_hz") as info:
        read_rows(_write(tmp_path / "bad.csv", COLUMNS, [row]))
    assert info.value.line == 2


def test_unknown_column_and_missing_required_column(tmp_path: Path) -> None:
    with pytest.raises(TableValidationError) as info:
        read_rows(_write(tmp_path / "extra.csv", [*COLUMNS, "joules"], [{**GOOD, "joules": "3"}]))
    assert info.value.column == "joules"
    cols = [c for c in COLUMNS if c != "engine"]
    with pytest.raises(TableValidationError) as info:
        read_rows(_write(tmp_path / "missing.csv", cols, [{k: v for k, v in GOOD.items() if k != "engine"}]))
    assert (info.value.line, info.value.column) == (1, "engine")


def test_platform_check_rejects_unknown_and_alias_ids(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", COLUMNS, [GOOD, {**GOOD, "platform": "a100-sxm4-40g"}])
    assert len(read_rows(path)) == 2  # without the check the table layer accepts any id
    with pytest.raises(TableValidationError, match="did you mean") as info:
        read_rows(path, check_platform=check_platform_id)
    assert (info.value.line, info.value.column, info.value.value) == (3, "platform", "a100-sxm4-40g")


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    row = MeasuredRow.model_validate({**GOOD, "flags": "estimated;x", "energy_method": "estimated"})
    write_table([row], tmp_path / "rt.csv")
    assert read_rows(tmp_path / "rt.csv") == [row]


def test_accuracy_bad_rows_name_line_and_column(tmp_path: Path) -> None:
    assert read_accuracy_rows(_write(tmp_path / "a.csv", ACCURACY_COLUMNS, [GOOD_ACC]))[0].accuracy == 0.529
    cases = [
        ({**GOOD_ACC, "accuracy": "52.9"}, "accuracy", "52.9"),  # percent, not a fraction
        ({**GOOD_ACC, "task": "gsm9k"}, "task", "gsm9k"),
        ({**GOOD_ACC, "num_fewshot": "-1"}, "num_fewshot", "-1"),
    ]
    for i, (bad, column, value) in enumerate(cases):
        path = _write(tmp_path / f"bad{i}.csv", ACCURACY_COLUMNS, [GOOD_ACC, bad])
        with pytest.raises(TableValidationError) as info:
            read_accuracy_rows(path)
        assert (info.value.line, info.value.column, info.value.value) == (3, column, value)


def test_accuracy_metric_must_fit_task(tmp_path: Path) -> None:
    bad = {**GOOD_ACC, "task": "truthfulqa_mc2", "metric": "acc", "num_fewshot": "0"}
    with pytest.raises(TableValidationError, match="mc2"):
        read_accuracy_rows(_write(tmp_path / "m.csv", ACCURACY_COLUMNS, [bad]))


def test_accuracy_round_trip(tmp_path: Path) -> None:
    row = AccuracyRow.model_validate({**GOOD_ACC, "accuracy_stderr": "0.01", "note": "a, b"})
    write_accuracy([row], tmp_path / "acc.csv")
    assert read_accuracy_rows(tmp_path / "acc.csv") == [row]


def test_pipeline_stages_must_divide_the_device_count(tmp_path: Path) -> None:
    ok = {**GOOD, "device_count": "16", "pipeline_stages": "2"}
    assert read_rows(_write(tmp_path / "ok.csv", COLUMNS, [ok]))[0].pipeline_stages == 2
    with pytest.raises(TableValidationError, match="pipeline_stages"):
        read_rows(_write(tmp_path / "bad.csv", COLUMNS, [{**GOOD, "device_count": "6", "pipeline_stages": "4"}]))
