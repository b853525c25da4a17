"""``eai data`` commands through ``recommender.cli.main`` (exit codes and messages)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from recommender.cli import main
from recommender.importers.base import default_shared_root
from recommender.importers.build import DEFAULT_ACCURACY, DEFAULT_MEASURED
from recommender.table.io import read_rows

SHARED = default_shared_root()


def _copy_with_bad_cell(src: Path, dst: Path, data_row: int, column: str, value: str) -> None:
    with src.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        fields = reader.fieldnames
    rows[data_row][column] = value
    with dst.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows[: data_row + 2])


def test_validate_shipped_tables_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "validate", str(DEFAULT_MEASURED)]) == 0
    assert "valid measured table" in capsys.readouterr().out
    assert main(["data", "validate", str(DEFAULT_ACCURACY)]) == 0
    assert "valid accuracy table" in capsys.readouterr().out


def test_validate_bad_measured_file_exits_4_naming_line_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    _copy_with_bad_cell(DEFAULT_MEASURED, bad, 2, "energy_j_per_output_token", "-1.5")
    assert main(["data", "validate", str(bad)]) == 4
    err = capsys.readouterr().err
    assert f"{bad}:4" in err and "energy_j_per_output_token" in err and "'-1.5'" in err


def test_validate_unknown_platform_exits_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad_platform.csv"
    _copy_with_bad_cell(DEFAULT_MEASURED, bad, 0, "platform", "a100")
    assert main(["data", "validate", str(bad)]) == 4
    err = capsys.readouterr().err
    assert ":2:" in err and "'platform'" in err and "'a100'" in err


def test_validate_bad_accuracy_file_exits_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "acc.csv"
    _copy_with_bad_cell(DEFAULT_ACCURACY, bad, 1, "accuracy", "77.5")
    assert main(["data", "validate", str(bad)]) == 4
    err = capsys.readouterr().err
    assert f"{bad}:3" in err and "'accuracy'" in err and "'77.5'" in err


def test_validate_missing_file_exits_5(tmp_path: Path) -> None:
    assert main(["data", "validate", str(tmp_path / "nope.csv")]) == 5


def test_show_json_filters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "show", "--source", "mlenergy-v3", "--platform", "b200", "--limit", "5", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["shown"] == 5 and payload["total"] > 5
    assert {r["platform"] for r in payload["rows"]} == {"b200"}
    assert {r["source"] for r in payload["rows"]} == {"mlenergy-v3"}


def test_show_table_and_unknown_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "show", "--model", "metaai/llama-7B", "--limit", "2"]) == 0
    assert "of 12 measured rows" in capsys.readouterr().out
    assert main(["data", "show", "--source", "mlenergy-v4"]) == 2
    assert "did you mean" in capsys.readouterr().err


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data sets not found at {SHARED}")
def test_import_writes_tables_and_reports_skips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, acc = tmp_path / "m.csv", tmp_path / "a.csv"
    profiled = tmp_path / "profiled"
    profiled.mkdir()
    code = main([
        "data", "import", "--shared", str(SHARED), "--out", str(out), "--accuracy-out", str(acc),
        "--profiled", str(profiled), "--source", "quant-reports", "--source", "mlenergy-v1",
    ])
    assert code == 0
    text = capsys.readouterr().out
    assert "quant-reports                  38" in text and "mlenergy-v1                   260" in text
    assert "skipped 20 source records" in text and "relative-only" in text
    assert len(read_rows(out)) == 298
    assert main(["data", "validate", str(acc)]) == 0


def test_import_unknown_source_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "import", "--source", "mlenergy-v5"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_import_missing_shared_exits_5(tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    assert main(["data", "import", "--shared", str(tmp_path / "none"), "--out", str(out),
                 "--accuracy-out", str(tmp_path / "a.csv")]) == 5
    assert not out.exists()
