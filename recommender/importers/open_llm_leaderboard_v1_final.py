"""Open LLM Leaderboard v1, final (archived June 2024) table: six scores per entry, no energy.

Source: ``open-llm-leaderboard-v1-final/huggingface_v1.csv`` (7,169 entries). Each entry gives six
accuracy rows (percent / 100): ARC-Challenge 25-shot ``acc_norm``, HellaSwag 10-shot
``acc_norm``, MMLU 5-shot ``acc``, TruthfulQA MC2 0-shot, Winogrande 5-shot ``acc``, GSM8K
5-shot exact match. Precision comes from the entry's ``precision`` column: ``float16``/``bfloat16``
-> ``fp16``/``bf16``, ``8bit`` -> ``int8-bnb`` (bitsandbytes LLM.int8() load of the 16-bit
checkpoint), ``4bit`` -> ``fp4-bnb`` (bitsandbytes ``load_in_4bit`` with the loader's default
4-bit type; the leaderboard does not state it), ``GPTQ`` -> ``gptq-int4`` (TheBloke's pre-quantized
repos). Ids resolve by :mod:`recommender.importers.hub_ids`. Every entry is kept, with its
revision (``model_sha``, first 12 hex digits): (id, precision) is unique in the file, so an id
listed twice is the same model at two precisions, which is what the quantization pairs need.

The file's ``merged``/``moe``/``flagged`` booleans read inverted (see the data set's README);
they are not used. ``type`` (pretrained / fine-tuned / chat / merge) is kept in ``model_type``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from recommender.importers.base import ImportResult, RowCollector, require_folder, shared_ref
from recommender.importers.hub_ids import BaseIndex, resolve

NAME = "open-llm-leaderboard-v1-final"
FOLDER = "open-llm-leaderboard-v1-final"
FILE = "huggingface_v1.csv"
TASKS: tuple[tuple[str, str, str, int], ...] = (
    ("arc", "arc_challenge", "acc_norm", 25),
    ("hellaswag", "hellaswag", "acc_norm", 10),
    ("mmlu", "mmlu", "acc", 5),
    ("truthfulqa", "truthfulqa_mc2", "mc2", 0),
    ("winogrande", "winogrande", "acc", 5),
    ("gsm8k", "gsm8k", "exact_match", 5),
)
PRECISION: dict[str, tuple[str, str]] = {
    "float16": ("fp16", ""),
    "bfloat16": ("bf16", ""),
    "8bit": ("int8-bnb", "leaderboard 8bit: bitsandbytes LLM.int8() load of the 16-bit checkpoint"),
    "4bit": ("fp4-bnb", "leaderboard 4bit: bitsandbytes load_in_4bit, 4-bit type not stated (loader default fp4)"),
    "GPTQ": ("gptq-int4", "leaderboard GPTQ: pre-quantized repo"),
}
TYPES = {"🟢": "pretrained", "🟩": "continuously-pretrained", "🔶": "fine-tuned", "💬": "chat", "🤝": "merge", "?": "unknown"}


def _percent(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value / 100.0


def _params(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def import_rows(root: Path) -> ImportResult:
    """Read the final v1 table's six scores per entry into accuracy rows."""
    folder = require_folder(root, FOLDER)
    out = RowCollector(NAME)
    with (folder / FILE).open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        records = [(reader.line_num, rec) for rec in reader]
    index = BaseIndex(rec["fullname"] for _, rec in records)
    for line, rec in records:
        hub = rec["fullname"]
        if rec["precision"] not in PRECISION:
            out.skip(shared_ref(FOLDER, FILE, f"L{line}"), f"precision {rec['precision']!r} is not one the leaderboard documents")
            continue
        model_id, repo_q, base, note = resolve(hub, index)
        quant, qnote = PRECISION[rec["precision"]]
        if repo_q is not None:
            quant = repo_q
        else:
            base = base or (model_id if quant not in ("fp16", "bf16") else "")
        note = "; ".join(n for n in (qnote, note) if n)
        extra = {
            "source_model": hub if hub != model_id else "",
            "revision": rec["model_sha"][:12],
            "base_model": base,
            "params_b": _params(rec["params_b"]),
            "architecture": rec["architecture"] if rec["architecture"] not in ("?", "Unknown") else "",
            "model_type": TYPES.get(rec["t"], "unknown"),
        }
        for column, task_id, metric, shots in TASKS:
            ref = shared_ref(FOLDER, FILE, f"L{line}:{column}")
            try:
                accuracy = _percent(rec[column])
            except (TypeError, ValueError):
                out.skip(ref, f"{column} is not a number: {rec[column]!r}")
                continue
            out.add_accuracy(ref, lambda task_id=task_id, accuracy=accuracy, metric=metric, shots=shots, ref=ref: {
                "model_id": model_id, "task": task_id, "accuracy": accuracy, "metric": metric,
                "num_fewshot": shots, "quantization": quant, "note": note, "source": NAME, "source_ref": ref, **extra,
            })
    return out.result()
