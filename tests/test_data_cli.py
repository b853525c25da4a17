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


def _b200_row(**changes: str) -> dict[str, str]:
    """A valid ML.ENERGY-shaped row on one B200 (TDP 1,000 W in the platform catalog)."""
    row = {
        "platform": "b200", "device_count": "1", "engine": "vllm", "model_id": "meta-llama/Llama-3.1-8B-Instruct",
        "params_total_b": "8.03", "params_active_b": "8.03", "quantization": "bf16", "batch_size": "64",
        "workload": "lm-arena-chat", "energy_j_per_query": "50.0", "time_s_per_query": "10.0",
        "power_w_mean": "700.0", "energy_method": "nvml-counter", "energy_scope": "gpu", "idle_subtracted": "false",
        "source": "mlenergy-v3", "source_ref": "test#L1", "flags": "",
    }
    row.update(changes)
    return row


def _write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    from recommender.table.io import COLUMNS

    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("rows", "line", "column", "value"),
    [
        # The same source record twice: a duplicate cell.
        ([_b200_row(), _b200_row(source_ref="test#L2"), _b200_row()], 4, "(row)", "b200"),
        # 5,000 W mean on one B200 (TDP 1,000 W, slack 1.2).
        ([_b200_row(), _b200_row(source_ref="test#L2", power_w_mean="5000")], 3, "power_w_mean", "5000"),
        # 10 x TDP x time: 100,000 J in 10 s on one 1,000 W device.
        ([_b200_row(energy_j_per_query="100000", power_w_mean="")], 2, "energy_j_per_query", "100000"),
        # Eight devices lift the cap eightfold: 5,000 W passes there, 12,000 W does not.
        ([_b200_row(device_count="8", power_w_mean="5000"), _b200_row(device_count="8", power_w_mean="12000",
                                                                       source_ref="test#L9")],
         3, "power_w_mean", "12000"),
    ],
    ids=["duplicate", "power-5kW", "energy-10x-tdp", "eight-devices"],
)
def test_validate_refuses_duplicates_and_impossible_physics(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[dict[str, str]], line: int,
        column: str, value: str) -> None:
    bad = _write_rows(tmp_path / "bad.csv", rows)
    assert main(["data", "validate", str(bad)]) == 4
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1  # one line, no traceback
    assert f"{bad}:{line}:" in err and f"column {column!r}" in err and value in err


def test_duplicate_profiler_cells_named_by_their_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = "eai profile; task=eai_arc_easy; limit=50; fewshot=0; batch=1; threads=1; repeats=1; date={}"
    base = _b200_row(platform="cpu-amd-epyc-zen4", engine="hf-transformers", batch_size="1", workload="arc_easy",
                     energy_j_per_query="1.0", time_s_per_query="0.5", power_w_mean="2.0",
                     energy_method="estimated", energy_scope="cpu", flags="estimated", source="eai-profiler",
                     repeats="1", source_ref=ref.format("2026-01-01"))
    other_day = {**base, "source_ref": ref.format("2026-02-02")}  # same cell measured again: still one cell
    other_threads = {**base, "source_ref": ref.replace("threads=1", "threads=2").format("x")}  # another cell
    ok = _write_rows(tmp_path / "ok.csv", [base, other_threads])
    assert main(["data", "validate", str(ok)]) == 0
    capsys.readouterr()
    bad = _write_rows(tmp_path / "dup.csv", [base, other_threads, other_day])
    assert main(["data", "validate", str(bad)]) == 4
    err = capsys.readouterr().err
    assert f"{bad}:4:" in err and "duplicate cell: line 2" in err and "threads 1" in err


def test_validate_undecodable_bytes_is_one_line_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write_rows(tmp_path / "good.csv", [_b200_row(), _b200_row(source_ref="test#L2")])
    data = good.read_bytes().replace(b"test#L2", b"test#L\xe92")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(data)
    assert main(["data", "validate", str(bad)]) == 4
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{bad}:3:" in err and "column 'source_ref'" in err and "e9" in err and "UTF-8" in err
    # Same for a bad byte in the header, and for data show.
    bad.write_bytes(b"platf\xffrm" + data[8:])
    assert main(["data", "validate", str(bad)]) == 4
    assert f"{bad}:1:" in capsys.readouterr().err


def test_validate_a_directory_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "validate", str(tmp_path)]) == 5
    assert "is a directory" in capsys.readouterr().err


def test_import_refuses_a_profiled_row_copied_into_two_files(tmp_path: Path) -> None:
    from recommender.errors import TableValidationError
    from recommender.importers.build import build_tables

    profiled = tmp_path / "profiled"
    profiled.mkdir()
    src = Path(DEFAULT_MEASURED).parent / "profiled" / "smollm2-cpu.csv"
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    (profiled / "a.csv").write_text("".join(lines[:3]), encoding="utf-8")
    (profiled / "b.csv").write_text(lines[0] + lines[2], encoding="utf-8")
    with pytest.raises(TableValidationError, match=r"b\.csv:2: .*duplicate cell: .*a\.csv:3"):
        build_tables(tmp_path / "no-shared", profiled, sources=[])


def test_show_labels_estimated_energy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "show", "--source", "eai-profiler", "--limit", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert all(r["energy_method"] == "estimated" and r["energy_label"].startswith("estimated") for r in rows)
    assert main(["data", "show", "--source", "eai-profiler", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "est." in out and "not meter readings" in out
    assert main(["data", "show", "--source", "mlenergy-v3", "--limit", "2"]) == 0
    assert "est." not in capsys.readouterr().out
