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

from pathlib import Path

from recommender.importers.base import ImportResult
from recommender.importers.open_llm_leaderboard import LeaderboardTable, import_table

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
TABLE = LeaderboardTable(
    name=NAME, folder=FOLDER, file=FILE, id_column="fullname", precision_column="precision",
    precisions=PRECISION, tasks=TASKS, score_key="{column}", score_divisor=100.0, params_column="params_b",
    unknown_precision="precision {value!r} is not one the leaderboard documents",
    not_a_number="{column} is not a number: {value!r}",
)  # fmt: skip


def _entry_fields(rec: dict[str, str]) -> dict[str, object]:
    return {
        "architecture": rec["architecture"] if rec["architecture"] not in ("?", "Unknown") else "",
        "model_type": TYPES.get(rec["t"], "unknown"),
    }


def import_rows(root: Path) -> ImportResult:
    """Read the final v1 table's six scores per entry into accuracy rows."""
    return import_table(TABLE, root, _entry_fields)
