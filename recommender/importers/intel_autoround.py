"""Intel AutoRound documentation tables: the same model scored at 16 bits and quantized.

Source: ``intel-autoround-quant-acc/cells.csv`` (cell-level extraction of Intel's docs). Used:
the per-model docs (``doc_model_hint`` set), whose tables have tasks as rows and precisions as
columns, so each quantized cell has its 16-bit reference in the same row. Intel's absolute
numbers are 0-shot ``acc`` (not the leaderboards' shots and ``acc_norm``): rows keep the setting
(``num_fewshot`` from the row label, else 0) and the accuracy model uses them only as
within-table pairs (quantized minus 16-bit of the same table row), never as a model's score.

Columns: ``BF16``/``FP16`` -> ``bf16``/``fp16``; AutoRound's own INT4 columns (``INT4``,
``int4``, ``w4g128 ...``, ``INT4(best)`` ...) -> ``autoround-int4``; linked vendor repos
``...-AWQ`` -> ``awq-int4`` and ``...-GPTQ-Int4`` -> ``gptq-int4``; ``int4 qdq`` (fake
quantization in 16-bit kernels) -> ``autoround-int4`` with a note; other columns (01-ai's own
``4bits`` repo of unstated method, AutoRound version comparisons of one doc) are skipped.
Rows: ``mmlu``, ``hellaswag``, ``winogrande``, ``arc_challenge``, ``gsm8k`` (any shots),
``leaderboard_mmlu_pro``, ``leaderboard_ifeval inst_level_strict_acc``; ``truthfulqa_mc1`` is
not the catalog's MC2 task and other tasks are not catalogued (skipped with a reason).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from recommender.importers.base import ImportResult, RowCollector, finite_float, read_csv_records, shared_ref, shots_in
from recommender.importers.hub_ids import catalog_id

NAME = "intel-autoround"
FOLDER = "intel-autoround-quant-acc"
FILE = "cells.csv"
MODELS: dict[str, str] = {
    "Llama-2-7b-chat-hf": "meta-llama/Llama-2-7b-chat-hf",
    "Meta-Llama-3-8B-Instruct": "meta-llama/Meta-Llama-3-8B-Instruct",
    "Mistral-7B-Instruct-v0.2": "mistralai/Mistral-7B-Instruct-v0.2",
    "Mistral-7B-v0.1": "mistralai/Mistral-7B-v0.1",
    "Mixtral-8x7B-Instruct-v0.1": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "Mixtral-8x7B-v0.1": "mistralai/Mixtral-8x7B-v0.1",
    "Qwen1.5-7B-Chat": "Qwen/Qwen1.5-7B-Chat",
    "Qwen2.5-7B-Instruct": "Qwen/Qwen2.5-7B-Instruct",
    "Qwen2.5-14B-Instruct": "Qwen/Qwen2.5-14B-Instruct",
    "Qwen2.5-32B-Instruct": "Qwen/Qwen2.5-32B-Instruct",
    "Qwen2.5-72B-Instruct": "Qwen/Qwen2.5-72B-Instruct",
    "Qwen3-8B": "Qwen/Qwen3-8B",
    "Qwen3-14B": "Qwen/Qwen3-14B",
    "Yi-6B-Chat": "01-ai/Yi-6B-Chat",
    "baichuan2-7b-cha": "baichuan-inc/Baichuan2-7B-Chat",
    "bloom-3B": "bigscience/bloom-3b",
    "falcon-7b": "tiiuae/falcon-7b",
    "gemma-2b": "google/gemma-2b",
    "gemma-7b": "google/gemma-7b",
    "gemma-7b-it": "google/gemma-7b-it",
    "glm-4-9b-chat": "THUDM/glm-4-9b-chat",
    "gpt-j-6B": "EleutherAI/gpt-j-6b",
    "neural-chat-7b-v3-1": "Intel/neural-chat-7b-v3-1",
    "neural-chat-7b-v3-3": "Intel/neural-chat-7b-v3-3",
    "opt-2.7b": "facebook/opt-2.7b",
    "phi-2": "microsoft/phi-2",
}
"""The docs' file-name model hints -> Hub ids (``baichuan2-7b-cha`` is the file's own typo)."""
TASK_ROWS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^mmlu$"), "mmlu", "acc"),
    (re.compile(r"^hellaswag$"), "hellaswag", "acc"),
    (re.compile(r"^winogrande$"), "winogrande", "acc"),
    (re.compile(r"^arc_challenge$"), "arc_challenge", "acc"),
    (re.compile(r"^gsm8k\b"), "gsm8k", "exact_match"),
    (re.compile(r"^leaderboard_mmlu_pro\b"), "mmlu_pro", "acc"),
    (re.compile(r"^leaderboard_ifeval inst_level_strict_acc$"), "ifeval", "strict_acc"),
)


def _column_format(header: str) -> tuple[str, str] | None:
    h = header.replace("*", "").strip()
    low = h.lower()
    if low in ("bf16", "fp16"):
        return low, ""
    if "-awq" in low:
        return "awq-int4", f"vendor AWQ repo {h}"
    if "gptq-int4" in low:
        return "gptq-int4", f"vendor GPTQ repo {h}"
    if low == "int4 qdq":
        return "autoround-int4", "fake (QDQ) quantization in 16-bit kernels"
    if low.startswith(("int4", "w4g128", "[int4")):
        return "autoround-int4", f"AutoRound W4G128 column {h!r}"
    return None


def import_rows(root: Path) -> ImportResult:
    """Read the per-model docs' 16-bit and quantized cells into accuracy rows (pairs)."""
    out = RowCollector(NAME)
    records = [(line, rec) for line, rec in read_csv_records(root, FOLDER, FILE) if rec["doc_model_hint"]]
    tables: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = defaultdict(list)
    for line, rec in records:
        tables[(rec["source_path"], rec["table_no"])].append((line, rec))
    for (path, table_no), cells in sorted(tables.items()):
        hint = cells[0][1]["doc_model_hint"]
        hub = MODELS.get(hint)
        ref0 = shared_ref(FOLDER, FILE, f"{path}:T{table_no}")
        if hub is None:
            out.skip(ref0, f"model hint {hint!r} has no Hub id mapping")
            continue
        model_id = catalog_id(hub) or hub
        has_reference = any((_column_format(r["col_header"]) or ("",))[0] in ("bf16", "fp16") for _, r in cells)
        for line, rec in cells:
            ref = shared_ref(FOLDER, FILE, f"L{line}:{path}:T{table_no}R{rec['row_no']}C{rec['col_no']}")
            label = rec["row_label"].strip().lower()
            task = next(((t, m) for pat, t, m in TASK_ROWS if pat.search(label)), None)
            fmt = _column_format(rec["col_header"])
            if rec["col_no"] == "1":
                continue  # the row-label column itself
            if task is None:
                out.skip(ref, f"row {rec['row_label']!r} is not a catalogued task")
                continue
            if fmt is None or not has_reference:
                out.skip(ref, f"column {rec['col_header']!r} is not a 16-bit reference or a known 4-bit format")
                continue
            try:
                value = finite_float(rec["value"])
            except ValueError:
                out.skip(ref, f"cell {rec['cell_text']!r} is not a number")
                continue
            value = value / 100.0 if value > 1.0 else value
            q, note = fmt
            out.add_accuracy(ref, lambda task=task, value=value, label=label, q=q, note=note, ref=ref: {
                "model_id": model_id, "task": task[0], "accuracy": value, "metric": task[1],
                "num_fewshot": shots_in(label), "quantization": q,
                "note": "; ".join(x for x in (note, "within-table pair only (Intel's 0-shot setup)") if x),
                "source": NAME, "source_ref": ref, "source_model": hub if hub != model_id else "",
                "base_model": model_id if q not in ("bf16", "fp16") else "",
            })
    return out.result()
