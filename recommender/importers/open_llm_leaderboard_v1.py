"""Open LLM Leaderboard v1 snapshot (2023-09-04): accuracy only, no energy.

Source: ``open-llm-leaderboard-v1/20230904.csv`` (UTF-8 with BOM). Each model line gives
four accuracy rows (percent / 100): ARC-Challenge 25-shot ``acc_norm``, HellaSwag 10-shot
``acc_norm``, MMLU 5-shot ``acc``, TruthfulQA MC2 0-shot ``mc2``. The snapshot does not say
in which precision a model was evaluated (the leaderboard ran the submitted precision,
mostly fp16/bf16), so ``quantization`` is ``unknown``. Model ids the catalog knows are
written as the catalog id; others keep the snapshot's Hub id. Entries listed more than once
(different precisions or revisions, not distinguished in the snapshot) are all kept with a
note, each with its own line reference.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from recommender.importers.hub_ids import catalog_id
from recommender.importers.base import ImportResult, RowCollector, read_csv_records, shared_ref

NAME = "open-llm-leaderboard-v1"
FOLDER = "open-llm-leaderboard-v1"
FILE = "20230904.csv"
TASKS: tuple[tuple[str, str, str, int], ...] = (
    ("ARC(25-shot)", "arc_challenge", "acc_norm", 25),
    ("HellaSwag(10-shot)", "hellaswag", "acc_norm", 10),
    ("MMLU(5-shot)", "mmlu", "acc", 5),
    ("TruthfulQA(0-shot)", "truthfulqa_mc2", "mc2", 0),
)
BASE_NOTE = "precision not in the snapshot (OLL v1 evaluated the submitted dtype, mostly fp16/bf16)"


def _catalog_id(model: str) -> str:
    # Most leaderboard entries are not in the energy catalog; keep the Hub id as published.
    return catalog_id(model) or model


def _percent(text: str) -> float:
    value = float(text)
    if math.isnan(value):
        raise ValueError("NaN")
    return value / 100.0


def import_rows(root: Path) -> ImportResult:
    """Read the snapshot's four scores per entry into accuracy rows."""
    out = RowCollector(NAME)
    records = read_csv_records(root, FOLDER, FILE, encoding="utf-8-sig")  # the file starts with a BOM
    counts = Counter(rec["Model"] for _, rec in records)
    for line, rec in records:
        model = rec["Model"]
        note = BASE_NOTE
        if counts[model] > 1:
            note += f"; entry {counts[model]} times in the snapshot (precision/revision not distinguished)"
        for column, task_id, metric, shots in TASKS:
            ref = shared_ref(FOLDER, FILE, f"L{line}:model={model}:{column}")
            try:
                accuracy = _percent(rec[column])
            except (TypeError, ValueError):
                out.skip(ref, f"{column} is not a number: {rec[column]!r}")
                continue
            out.add_accuracy(
                ref,
                lambda model=model, task_id=task_id, accuracy=accuracy, metric=metric, shots=shots,
                note=note, ref=ref: {
                    "model_id": _catalog_id(model),
                    "task": task_id,
                    "accuracy": accuracy,
                    "metric": metric,
                    "num_fewshot": shots,
                    "quantization": "unknown",
                    "note": note,
                    "source": NAME,
                    "source_ref": ref,
                },
            )
    return out.result()
