"""Open LLM Leaderboard v2, final state (2025-03): IFEval, BBH, MATH Lvl 5, GPQA, MuSR, MMLU-Pro.

Source: ``open-llm-leaderboard-v2/huggingface_v2.csv`` (4,576 entries). Scores are the raw values
(fractions; the leaderboard's normalized scores subtract chance and are not used), one row per
task: ``ifeval`` (0-shot strict accuracy), ``bbh`` (3-shot ``acc_norm``), ``math_lvl5`` (4-shot
exact match), ``gpqa_mc`` (0-shot ``acc_norm``), ``musr`` (0-shot ``acc_norm``), ``mmlu_pro``
(5-shot ``acc``). ``model_precision`` -> ``bf16``/``fp16``; ``4bit`` -> ``fp4-bnb`` (bitsandbytes,
type not stated). ``model_has_chat_template`` is kept in ``chat_template``: an instruct model
scored without its template reads far lower (the accuracy model prefers templated runs).
Entries listed twice (79 ids: another precision, revision or template flag) are all kept with
their revision. The column ``features_is_not_available_on_hub`` reads inverted; it is not used.
"""

from __future__ import annotations

from pathlib import Path

from recommender.importers.base import ImportResult
from recommender.importers.open_llm_leaderboard import LeaderboardTable, import_table

NAME = "open-llm-leaderboard-v2"
FOLDER = "open-llm-leaderboard-v2"
FILE = "huggingface_v2.csv"
TASKS: tuple[tuple[str, str, str, int], ...] = (
    ("ifeval", "ifeval", "strict_acc", 0),
    ("bbh", "bbh", "acc_norm", 3),
    ("math", "math_lvl5", "exact_match", 4),
    ("gpqa", "gpqa_mc", "acc_norm", 0),
    ("musr", "musr", "acc_norm", 0),
    ("mmlu_pro", "mmlu_pro", "acc", 5),
)
PRECISION: dict[str, tuple[str, str]] = {
    "bfloat16": ("bf16", ""),
    "float16": ("fp16", ""),
    "4bit": ("fp4-bnb", "leaderboard 4bit: bitsandbytes 4-bit load, type not stated"),
}
TYPES = {
    "chatmodels": "chat", "pretrained": "pretrained", "fine-tunedondomain-specificdatasets": "fine-tuned",
    "basemergesandmoerges": "merge", "continuouslypretrained": "continuously-pretrained", "multimodal": "multimodal",
}
TABLE = LeaderboardTable(
    name=NAME, folder=FOLDER, file=FILE, id_column="model_name", precision_column="model_precision",
    precisions=PRECISION, tasks=TASKS, score_key="evaluations_{column}_value", score_divisor=1.0,
    params_column="metadata_params_billions", unknown_precision="precision {value!r} is not documented",
    not_a_number="{column} value is not a number: {value!r}",
)  # fmt: skip


def _entry_fields(rec: dict[str, str]) -> dict[str, object]:
    return {
        "chat_template": rec["model_has_chat_template"] == "TRUE",
        "architecture": rec["model_architecture"],
        "model_type": TYPES.get(rec["model_type"], "unknown"),
    }


def import_rows(root: Path) -> ImportResult:
    """Read the v2 table's six raw scores per entry into accuracy rows."""
    return import_table(TABLE, root, _entry_fields)
