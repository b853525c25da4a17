"""Shared tables: concurrent appends keep every row; a sweep started twice measures each cell once."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import time
from pathlib import Path

import pytest

from recommender.errors import DataSourceError, TableValidationError
from recommender.table import MeasuredRow, append_rows
from recommender.table.io import read_rows, write_table
from recommender.table.keys import cell_key


def _row(i: int, writer: str = "w") -> MeasuredRow:
    return MeasuredRow(
        platform="cpu-amd-epyc-zen4", device_count=1, engine="hf-transformers", model_id=f"org/{writer}",
        params_total_b=0.1, params_active_b=0.1, quantization="fp32", batch_size=1, workload="arc_easy",
        query_count=2, accuracy=0.5, accuracy_metric="acc", accuracy_n=2, energy_j_per_query=1.0,
        time_s_per_query=0.1, energy_method="estimated", energy_scope="cpu", idle_subtracted=False,
        repeats=1, flags="estimated", source="eai-profiler",
        source_ref=f"eai profile; task=eai_arc_easy; limit={i}; fewshot=0; threads=1; date=x",
        measured_on=dt.date(2026, 1, 1),
    )


def _writer(path: str, name: str, n: int, start: mp.synchronize.Event) -> None:
    start.wait()
    for i in range(1, n + 1):
        append_rows([_row(i, name)], path)


def test_two_concurrent_writer_processes_keep_every_row(tmp_path: Path) -> None:
    out = tmp_path / "shared.csv"
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(out), name, 30, start)) for name in ("a", "b")]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    rows = read_rows(out)
    assert len(rows) == 60  # the unlocked rewrite kept 33 of 60
    assert {(r.model_id, cell_key(r).limit) for r in rows} == {
        (f"org/{w}", i) for w in ("a", "b") for i in range(1, 31)}


def test_append_skips_or_refuses_a_cell_already_there(tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    first = append_rows([_row(1), _row(2)], out)
    assert len(first.written) == 2 and first.total == 2
    again = append_rows([_row(2), _row(3), _row(3)], out)
    assert [cell_key(r).limit for r in again.written] == [3]
    assert len(again.duplicates) == 2 and again.total == 3
    with pytest.raises(TableValidationError, match="already in the table"):
        append_rows([_row(1)], out, on_duplicate="raise")
    assert len(read_rows(out)) == 3


def test_append_to_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="is a directory"):
        append_rows([_row(1)], tmp_path)
    with pytest.raises(DataSourceError, match="is a directory"):
        read_rows(tmp_path)


def test_append_never_extends_an_invalid_table(tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    write_table([_row(1)], out)
    out.write_text(out.read_text().replace("hf-transformers", "hf-transfomers"))
    with pytest.raises(TableValidationError, match="engine"):
        append_rows([_row(2)], out)


# --------------------------------------------------------------------- the same sweep twice at once


class _SlowRunner:
    """Fake runner whose cells take a while, so two sweeps overlap."""

    platform = "cpu-amd-epyc-zen4"
    device_count = 1

    def __init__(self, log: str) -> None:
        self.log = log
        self.quant = ""

    def model_id(self, model: str) -> str:
        return f"org/{model}"

    def cell_settings(self, workload: str) -> tuple[str | None, int | None]:
        return "0", 1

    def check(self, model: str, quant: str, engine: str) -> None:
        return None

    def load(self, model: str, quant: str, engine: str) -> None:
        self.quant = quant

    def unload(self) -> None:
        self.quant = ""

    def measure(self, workload: str, limit: int | None, progress: object) -> MeasuredRow:
        time.sleep(0.3)
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write(f"{self.quant} {workload}\n")
        row = _row(limit or 1)
        return row.model_copy(update={"model_id": "org/m", "quantization": self.quant, "workload": workload})


def _sweep(out: str, log: str, start: mp.synchronize.Event) -> None:
    from profiler.sweep import SweepSpec, run_sweep

    spec = SweepSpec(models=["m"], quants=["fp32", "bf16", "fp16"], tasks=["arc_easy", "gsm8k"], limit=4, threads=1,
                     repeats=1)  # the fake rows record 1 window
    start.wait()
    run_sweep(spec, out, _SlowRunner(log))


def test_same_sweep_started_twice_measures_and_writes_each_cell_once(tmp_path: Path) -> None:
    out, log = tmp_path / "p.csv", tmp_path / "measured.log"
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_sweep, args=(str(out), str(log), start)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    rows = read_rows(out)
    cells = sorted((r.quantization, r.workload) for r in rows)
    assert cells == sorted((q, t) for q in ("fp32", "bf16", "fp16") for t in ("arc_easy", "gsm8k"))
    measured = log.read_text().splitlines()
    assert len(measured) == 6  # no cell measured twice: one run claimed it, the other left it
    assert not list(tmp_path.glob(".p.csv.claims*"))


def test_claims_of_a_dead_process_do_not_block(tmp_path: Path) -> None:
    import json

    from profiler.claims import ClaimBook, claims_path
    from recommender.table.keys import CellKey

    out = tmp_path / "p.csv"
    key = CellKey("cpu-amd-epyc-zen4", "org/m", "fp32", "hf-transformers", 1, "arc_easy", 1, limit=4)
    holder = ClaimBook(out)
    assert holder.claim([key])[0] == [key]
    other = ClaimBook(out)
    claimed, others = other.claim([key])
    assert claimed == [] and key in others  # a live run holds it
    # Rewrite the claim as if its process had died (pid that cannot exist).
    entry = json.loads(claims_path(out).read_text())
    claims_path(out).write_text(json.dumps({**entry, "pid": 2**22 + 12345}) + "\n")
    assert other.claim([key])[0] == [key]
    other.release()
    assert not claims_path(out).exists()


def test_atomic_replace_keeps_a_shared_table_readable(tmp_path: Path) -> None:
    import os
    import stat

    out = tmp_path / "t.csv"
    append_rows([_row(1)], out)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    out.chmod(0o664)
    append_rows([_row(2)], out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o664
