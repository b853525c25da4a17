"""The entry loop the final Open LLM Leaderboard tables (v1 final, v2) share.

Both tables list one model entry a line with a Hub id, an evaluation precision, a revision
(``model_sha``), a parameter count and six task scores. Each entry becomes one accuracy row
per task: the id resolved by :mod:`recommender.importers.hub_ids` (a repo whose name says its
quantization keeps that quantization; a quantized entry of a 16-bit repo gets the repo as its
``base_model``), the precision mapped by the table's own documented values, and every score
that is not a finite number recorded as a skip. The two importers differ only in their
columns, precisions, score scale and the per-entry fields they keep, which
:class:`LeaderboardTable` and the ``entry_fields`` hook carry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from recommender.importers.base import ImportResult, RowCollector, finite_float, read_csv_records, shared_ref
from recommender.importers.hub_ids import BaseIndex, resolve

UNQUANTIZED = ("fp16", "bf16")
"""Precisions that are the checkpoint itself (no ``base_model``)."""


@dataclass(frozen=True)
class LeaderboardTable:
    """How one leaderboard CSV names its columns and values.

    Attributes:
        name: Importer name (the rows' ``source``).
        folder: Data-set folder under the shared root.
        file: CSV file in the folder.
        id_column: Column with the Hub id of the entry.
        precision_column: Column with the evaluation precision.
        precisions: Documented precision value -> (catalog quantization, note); any other
            value skips the entry.
        tasks: ``(column key, task id, lm-eval metric, shots)`` per score.
        score_key: Record key of a score, formatted with ``column`` (the tasks' first field).
        score_divisor: What a score is divided by to give a fraction (100 for percent).
        params_column: Column with the parameter count in billions.
        unknown_precision: Skip reason for an undocumented precision, formatted with ``value``.
        not_a_number: Skip reason for a score that is not a finite number, formatted with
            ``column`` and ``value``.
    """

    name: str
    folder: str
    file: str
    id_column: str
    precision_column: str
    precisions: Mapping[str, tuple[str, str]]
    tasks: tuple[tuple[str, str, str, int], ...]
    score_key: str
    score_divisor: float
    params_column: str
    unknown_precision: str
    not_a_number: str


def positive_float(text: str) -> float | None:
    """``text`` as a float when it is one and above zero, else None (a missing count)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def import_table(
    table: LeaderboardTable, root: Path, entry_fields: Callable[[dict[str, str]], dict[str, object]]
) -> ImportResult:
    """Read every entry of ``table`` into accuracy rows.

    Args:
        table: The table's columns and documented values.
        root: Shared data-set root.
        entry_fields: Record -> row fields the table adds to each of the entry's rows
            (architecture, model type, chat template).

    Returns:
        The accuracy rows and a skip record (with its reason) for each entry or score not used.
    """
    out = RowCollector(table.name)
    records = read_csv_records(root, table.folder, table.file)
    index = BaseIndex(rec[table.id_column] for _, rec in records)
    for line, rec in records:
        hub = rec[table.id_column]
        precision = rec[table.precision_column]
        if precision not in table.precisions:
            out.skip(shared_ref(table.folder, table.file, f"L{line}"), table.unknown_precision.format(value=precision))
            continue
        model_id, repo_q, base, note = resolve(hub, index)
        quant, qnote = table.precisions[precision]
        if repo_q is not None:
            quant = repo_q
        else:
            base = base or (model_id if quant not in UNQUANTIZED else "")
        fields = {
            "source_model": hub if hub != model_id else "",
            "revision": rec["model_sha"][:12],
            "base_model": base,
            "params_b": positive_float(rec[table.params_column]),
            "note": "; ".join(n for n in (qnote, note) if n),
            **entry_fields(rec),
        }
        for column, task_id, metric, shots in table.tasks:
            ref = shared_ref(table.folder, table.file, f"L{line}:{column}")
            text = rec[table.score_key.format(column=column)]
            try:
                accuracy = finite_float(text) / table.score_divisor
            except (TypeError, ValueError):
                out.skip(ref, table.not_a_number.format(column=column, value=text))
                continue
            out.add_accuracy(ref, lambda task_id=task_id, accuracy=accuracy, metric=metric, shots=shots, ref=ref: {
                "model_id": model_id, "task": task_id, "accuracy": accuracy, "metric": metric,
                "num_fewshot": shots, "quantization": quant, "source": table.name, "source_ref": ref, **fields,
            })
    return out.result()
