"""ML.ENERGY leaderboard v2 (2024): vLLM 0.5.4 serving sweeps on A100-SXM4-40GB.

Source: ``mlenergy-v2/mlenergy_v2_llm_text_generation_A100.jsonl`` (one line per
original ``bs<B>+tp<T>+pp<P>.json``). Conversions:

- ``energy_j_per_query`` = ``Energy/req (J)`` (steady state, summed over all TP x PP GPUs)
- ``energy_j_per_output_token`` = ``Energy/req (J) / Avg Output Tokens``
- ``device_count`` = ``TP x PP``; ``pipeline_stages`` = ``PP``; ``batch_size`` = ``Max BS (reqs)``; ``avg_batch_size`` = ``Avg BS (reqs)``
- ``time_s_per_query`` = ``Avg TPOT (s) x Avg Output Tokens`` (decode time of one request;
  queueing and prefill are not in the source, so this is a lower bound of end-to-end time)
- ``throughput_tokens_per_s`` = ``Token tput (tok/s)`` (whole server)

Assumption: models were served in their default 16-bit dtype, recorded as bf16 (see
``SERVED_DTYPE``).
"""

from __future__ import annotations

from pathlib import Path

from recommender.catalog.models import resolve_model
from recommender.importers.base import ImportResult, RowCollector, iter_jsonl, platform_of, require_folder, shared_ref

NAME = "mlenergy-v2"
ENGINE_VERSION = "0.5.4"
"""vLLM release of the v2 runs (data set README)."""
FOLDER = "mlenergy-v2"
FILE = "mlenergy_v2_llm_text_generation_A100.jsonl"
FILE_PATTERN = "mlenergy_v2_llm_text_generation_*.jsonl"
"""Every GPU's file of the same layout is read (the shared copy holds the A100 one; the
leaderboard's H100 files, concatenated the same way, import unchanged)."""
PLATFORMS = {"A100-SXM4-40GB": "a100-sxm4-40gb"}
"""GPU folder names whose platform id is fixed here; others resolve through the platform
catalog's aliases (``H100 80GB HBM3`` -> ``h100-sxm5-80gb``)."""
WORKLOADS = {"chat": "sharegpt-chat-vllm", "code": "humaneval-code"}

SERVED_DTYPE = "bf16"
"""Assumed weight dtype of every v2 run.

The v2 data and run configs do not state the dtype; vLLM's ``dtype=auto`` serves a
checkpoint in its config's ``torch_dtype`` (bf16 for most of these models; fp32 configs are
cast to a 16-bit type). bf16 and fp16 run at the same tensor-core rate on the A100, so the
choice does not change the energy figures; every row carries the ``dtype-assumed`` flag.
"""


def _row(rec: dict[str, object], ref: str) -> dict[str, object]:
    spec = resolve_model(str(rec["Model"]))
    tp, pp = int(rec["TP"]), int(rec["PP"])
    energy_j = float(rec["Energy/req (J)"])
    out_tokens = float(rec["Avg Output Tokens"])
    return {
        "platform": platform_of(rec["gpu"], PLATFORMS),
        "device_count": tp * pp,
        # PP stages run one after another for a token: they add power and concurrent
        # micro-batches, not speed per step (the physics prior reads it).
        "pipeline_stages": pp,
        "engine": "vllm",
        "engine_version": ENGINE_VERSION,
        "model_id": spec.id,
        "params_total_b": spec.params_total_b,
        "params_active_b": spec.params_active_b,
        "quantization": SERVED_DTYPE,
        "batch_size": int(rec["Max BS (reqs)"]),
        # README: all requests are submitted at time 0 (request rate = inf).
        "serving_mode": "offline",
        "avg_batch_size": float(rec["Avg BS (reqs)"]),
        "workload": WORKLOADS[str(rec["task"])],
        "output_tokens_mean": out_tokens,
        "energy_j_per_query": energy_j,
        "energy_j_per_output_token": energy_j / out_tokens,
        "time_s_per_query": float(rec["Avg TPOT (s)"]) * out_tokens,
        "throughput_tokens_per_s": float(rec["Token tput (tok/s)"]),
        "energy_method": "nvml-counter",
        "energy_scope": "gpu",
        "idle_subtracted": False,
        "flags": "dtype-assumed",
        "source": NAME,
        "source_ref": ref,
    }


def import_rows(root: Path) -> ImportResult:
    """Read every line of every v2 JSONL (:data:`FILE_PATTERN`) under ``root/mlenergy-v2``."""
    folder = require_folder(root, FOLDER)
    out = RowCollector(NAME)
    files = sorted(folder.glob(FILE_PATTERN)) or [folder / FILE]
    for path in files:
        for lineno, rec in iter_jsonl(path):
            ref = shared_ref(FOLDER, path.name, f"L{lineno}:{rec['source_path']}")
            if platform_of(rec.get("gpu"), PLATFORMS) is None or rec.get("task") not in WORKLOADS:
                out.skip(ref, f"unknown GPU folder or task ({rec.get('gpu')!r}, {rec.get('task')!r})")
                continue
            out.add(ref, lambda rec=rec, ref=ref: _row(rec, ref))
    return out.result()
