"""Identity of a measured cell: what must differ for two rows to be two measurements.

One definition serves the profiler's resume (a cell whose key is already in the output is
not measured again), the shared-table append (a row whose key is already there is not
written twice) and ``eai data validate`` / ``eai data import`` (a table with two rows of one
key is refused).

Every setting that changes a result is part of the key: platform, device count, engine,
model, quantization, batch size, workload, and for profiler rows the item limit, few-shot
count, generation cap, repeats and CPU threads (read back from the row's ``source_ref``,
where the profiler records them). Rows from public sources are one record each of their
source, so their key also holds ``source_ref`` (the source file and record): two different
source records of one configuration (ML.ENERGY v3 has such pairs, e.g. two runs of
gpt-oss-20b on gpqa at batch 96) are two measurements, one record imported twice is a
duplicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recommender.table.schema import MeasuredRow

PROFILER_SOURCE = "eai-profiler"


@dataclass(frozen=True)
class CellKey:
    """Resume / duplicate key of one measured cell.

    Attributes:
        platform: Canonical platform id.
        model_id: Model id.
        quantization: Canonical quantization name.
        engine: Serving engine.
        device_count: Devices the cell ran on.
        workload: Workload (task) name.
        batch_size: Requests per forward pass / max concurrent sequences.
        limit: Items per task (None: all).
        fewshot: Few-shot examples per prompt as the profiler ran them (``"0"``, ``"5"``, or
            ``"0,5"`` for a group whose subtasks differ); None where unknown.
        max_gen_toks: Cap on generated tokens (None: the task's own).
        repeats: Measured windows behind the energy figure (None: not stated).
        threads: CPU threads the engine used (None: not stated).
        source_ref: The source record, for rows not measured by the profiler ("" for profiler
            rows, whose settings above identify them).
    """

    platform: str
    model_id: str
    quantization: str
    engine: str
    device_count: int
    workload: str
    batch_size: int
    limit: int | None = None
    fewshot: str | None = None
    max_gen_toks: int | None = None
    repeats: int | None = None
    threads: int | None = None
    source_ref: str = ""

    def describe(self) -> str:
        """Short human-readable form (for failure logs and error messages)."""
        parts = [f"{self.model_id} {self.quantization} {self.engine} x{self.device_count} on {self.platform}",
                 f"workload {self.workload}", f"batch {self.batch_size}"]
        if not self.source_ref:  # profiler cells: the item limit is a setting
            parts.append(f"limit {'all' if self.limit is None else self.limit}")
        if self.fewshot is not None:
            parts.append(f"fewshot {self.fewshot}")
        if self.max_gen_toks is not None:
            parts.append(f"max_gen_toks {self.max_gen_toks}")
        if self.repeats is not None:
            parts.append(f"repeats {self.repeats}")
        if self.threads is not None:
            parts.append(f"threads {self.threads}")
        if self.source_ref:
            parts.append(f"ref {self.source_ref}")
        return ", ".join(parts)


_ENTRY_RE = re.compile(r"(?:^|; )(\w+)=([^;]*)")


def ref_entries(source_ref: str) -> dict[str, str]:
    """The ``name=value`` entries of a profiler ``source_ref`` (``; ``-separated).

    The first occurrence of a name wins (``env=...`` text may contain ``=`` later on).
    """
    out: dict[str, str] = {}
    for m in _ENTRY_RE.finditer(source_ref):
        out.setdefault(m.group(1), m.group(2).strip())
    return out


def _int_or_none(text: str | None) -> int | None:
    if text is None or text in ("", "all", "default", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        return None


def ref_limit(source_ref: str) -> int | None:
    """The ``limit=`` entry of a profiler ``source_ref`` (``all`` or absent -> None)."""
    return _int_or_none(ref_entries(source_ref).get("limit"))


def cell_key(row: MeasuredRow) -> CellKey:
    """Key of a row (profiler rows by their settings, other rows by their source record)."""
    if row.source != PROFILER_SOURCE:
        return CellKey(row.platform, row.model_id, row.quantization, row.engine, row.device_count,
                       row.workload, row.batch_size, repeats=row.repeats, source_ref=row.source_ref)
    e = ref_entries(row.source_ref)
    return CellKey(
        platform=row.platform, model_id=row.model_id, quantization=row.quantization, engine=row.engine,
        device_count=row.device_count, workload=row.workload, batch_size=row.batch_size,
        limit=_int_or_none(e.get("limit")),
        fewshot=e.get("fewshot") or None,
        max_gen_toks=_int_or_none(e.get("max_gen_toks")),
        repeats=row.repeats if row.repeats is not None else _int_or_none(e.get("repeats")),
        threads=_int_or_none(e.get("threads")),
    )
