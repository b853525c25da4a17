"""ML.ENERGY leaderboard v1 (2023): FastChat, batch size 1, per-response GPU energy.

Source files: ``mlenergy-v1/<GPU>_<task>_benchmark.csv`` (GPU and task only in the file
name) and ``score.csv`` (accuracies in percent). Conversions (README of the data set):

- ``energy_j_per_query`` = ``energy`` (J per response, GPU-only, Zeus/NVML counter)
- ``energy_j_per_output_token`` = ``energy / response_length``
- ``time_s_per_query`` = ``latency``; ``throughput_tokens_per_s`` = ``throughput``
- ``output_tokens_mean`` = ``response_length``

Assumptions (not stated in the data): ``A100`` is the A100 SXM4 40 GB and ``V100`` the
V100 SXM2 32 GB; FP16 weights, one GPU, batch size 1, no idle subtraction (Zeus reports
the counter difference). ``score.csv`` goes to the accuracy table: ARC-Challenge 25-shot
and HellaSwag 10-shot as ``acc_norm`` (the Open LLM Leaderboard setup the v1 leaderboard
reproduced), TruthfulQA MC2 0-shot.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from recommender.catalog.models import resolve_model
from recommender.importers.base import ImportResult, RowCollector, require_folder, shared_ref

NAME = "mlenergy-v1"
FOLDER = "mlenergy-v1"

PLATFORMS: dict[str, str] = {
    # Variant not stated in the data: assume the SXM4 40 GB board (ML.ENERGY's later runs).
    "A100": "a100-sxm4-40gb",
    "A40": "a40",
    # Variant not stated: assume the SXM2 32 GB board.
    "V100": "v100-sxm2-32gb",
}
VARIANT_ASSUMED = frozenset({"A100", "V100"})
"""GPU names whose board variant (memory, form factor) is assumed, not stated."""
WORKLOADS: dict[str, str] = {
    "chat": "sharegpt-chat",
    "chat-concise": "sharegpt-chat-concise",
    "instruct": "sharegpt-instruct",
    "instruct-concise": "sharegpt-instruct-concise",
}
SCORES: tuple[tuple[str, str, str, int], ...] = (
    # column, task id, lm-eval metric, shots
    ("arc", "arc_challenge", "acc_norm", 25),
    ("hellaswag", "hellaswag", "acc_norm", 10),
    ("truthfulqa", "truthfulqa_mc2", "mc2", 0),
)
_FILE_RE = re.compile(r"^(?P<gpu>[^_]+)_(?P<task>.+)_benchmark\.csv$")


def _energy_row(rec: dict[str, str], gpu: str, task: str, ref: str) -> dict[str, object]:
    spec = resolve_model(rec["model"])
    energy_j = float(rec["energy"])
    length = float(rec["response_length"])
    return {
        "platform": PLATFORMS[gpu],
        "device_count": 1,
        "engine": "fastchat",
        "model_id": spec.id,
        "params_total_b": spec.params_total_b,
        "params_active_b": spec.params_active_b,
        "quantization": "fp16",
        "batch_size": 1,
        # README: FastChat, no serving engine, batch size 1 over a fixed prompt set: prompts are
        # run one after another, none arrives while another waits.
        "serving_mode": "offline",
        "workload": WORKLOADS[task],
        "output_tokens_mean": length,
        "energy_j_per_query": energy_j,
        "energy_j_per_output_token": energy_j / length,
        "time_s_per_query": float(rec["latency"]),
        "throughput_tokens_per_s": float(rec["throughput"]),
        "energy_method": "nvml-counter",
        "energy_scope": "gpu",
        "idle_subtracted": False,
        "flags": "platform-variant-assumed" if gpu in VARIANT_ASSUMED else "",
        "source": NAME,
        "source_ref": ref,
    }


def import_rows(root: Path) -> ImportResult:
    """Read every ``*_benchmark.csv`` and ``score.csv`` under ``root/mlenergy-v1``."""
    folder = require_folder(root, FOLDER)
    out = RowCollector(NAME)
    for path in sorted(folder.glob("*_benchmark.csv")):
        m = _FILE_RE.match(path.name)
        gpu, task = (m["gpu"], m["task"]) if m else ("", "")
        if gpu not in PLATFORMS or task not in WORKLOADS:
            out.skip(f"{FOLDER}/{path.name}", f"file name does not give a known GPU and task ({gpu!r}, {task!r})")
            continue
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            for rec in reader:
                ref = shared_ref(FOLDER, path.name, f"L{reader.line_num}:model={rec['model']}")
                out.add(ref, lambda rec=rec, ref=ref: _energy_row(rec, gpu, task, ref))
    score = folder / "score.csv"
    with score.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for rec in reader:
            for column, task_id, metric, shots in SCORES:
                ref = shared_ref(FOLDER, score.name, f"L{reader.line_num}:model={rec['model']}:{column}")
                out.add_accuracy(
                    ref,
                    lambda rec=rec, ref=ref, column=column, task_id=task_id, metric=metric, shots=shots: {
                        "model_id": resolve_model(rec["model"]).id,
                        "task": task_id,
                        "accuracy": float(rec[column]) / 100.0,
                        "metric": metric,
                        "num_fewshot": shots,
                        "quantization": "unknown",
                        "note": "lm-eval run once on A40 by ML.ENERGY; precision not stated; "
                        "metric acc_norm assumed for ARC/HellaSwag (Open LLM Leaderboard setup)"
                        if metric == "acc_norm"
                        else "lm-eval run once on A40 by ML.ENERGY; precision not stated",
                        "source": NAME,
                        "source_ref": ref,
                    },
                )
    return out.result()
