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

import csv
import math
from pathlib import Path

from recommender.importers.base import ImportResult, RowCollector, require_folder, shared_ref
from recommender.importers.hub_ids import BaseIndex, resolve

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


def import_rows(root: Path) -> ImportResult:
    """Read the v2 table's six raw scores per entry into accuracy rows."""
    folder = require_folder(root, FOLDER)
    out = RowCollector(NAME)
    with (folder / FILE).open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        records = [(reader.line_num, rec) for rec in reader]
    index = BaseIndex(rec["model_name"] for _, rec in records)
    for line, rec in records:
        hub = rec["model_name"]
        if rec["model_precision"] not in PRECISION:
            out.skip(shared_ref(FOLDER, FILE, f"L{line}"), f"precision {rec['model_precision']!r} is not documented")
            continue
        model_id, repo_q, base, note = resolve(hub, index)
        quant, qnote = PRECISION[rec["model_precision"]]
        if repo_q is not None:
            quant = repo_q
        else:
            base = base or (model_id if quant not in ("fp16", "bf16") else "")
        try:
            params = float(rec["metadata_params_billions"])
        except ValueError:
            params = 0.0
        extra = {
            "source_model": hub if hub != model_id else "",
            "revision": rec["model_sha"][:12],
            "chat_template": rec["model_has_chat_template"] == "TRUE",
            "base_model": base,
            "params_b": params if params > 0 else None,
            "architecture": rec["model_architecture"],
            "model_type": TYPES.get(rec["model_type"], "unknown"),
            "note": "; ".join(n for n in (qnote, note) if n),
        }
        for column, task_id, metric, shots in TASKS:
            ref = shared_ref(FOLDER, FILE, f"L{line}:{column}")
            text = rec[f"evaluations_{column}_value"]
            try:
                accuracy = float(text)
                if not math.isfinite(accuracy):
                    raise ValueError
            except ValueError:
                out.skip(ref, f"{column} value is not a number: {text!r}")
                continue
            out.add_accuracy(ref, lambda task_id=task_id, accuracy=accuracy, metric=metric, shots=shots, ref=ref: {
                "model_id": model_id, "task": task_id, "accuracy": accuracy, "metric": metric,
                "num_fewshot": shots, "quantization": quant, "source": NAME, "source_ref": ref, **extra,
            })
    return out.result()
