"""ML.ENERGY leaderboard v3 (2025-26): vLLM 0.11.1 sweeps on H100 and B200.

Source: ``mlenergy-v3/mlenergy_v3_llm_configurations.jsonl`` (one line per benchmarked
configuration). Conversions:

- ``energy_j_per_output_token`` = ``energy_per_token_joules`` (steady state, all GPUs summed)
- ``energy_j_per_query`` = ``energy_per_token_joules x avg_output_len`` (J per response)
- ``device_count`` = ``num_gpus``; ``batch_size`` = ``max_num_seqs``; ``avg_batch_size`` as given
- ``time_s_per_query`` = ``median_itl_ms / 1000 x avg_output_len``: decode time of a typical
  request at the median inter-token latency (prefill and queueing are not in the record)
- ``power_w_mean`` = ``avg_power_watts`` (summed over GPUs)
- ``output_tokens_dispersion`` = ``E[L^2] / E[L]^2`` of the row's ``output_length_distribution``
  histogram (bin midpoints), see :func:`dispersion`
- ``quantization``: ``weight_precision`` bfloat16 -> bf16, fp8 -> fp8, mxfp4 -> mxfp4

Platforms: ``H100`` is the H100 80GB HBM3 (SXM5) board, ``B200`` the B200 (README).
"""

from __future__ import annotations

from pathlib import Path

from recommender.catalog.models import resolve_model
from recommender.importers.base import ImportResult, RowCollector, iter_jsonl, platform_of, require_folder, shared_ref

NAME = "mlenergy-v3"
ENGINE_VERSION = "0.11.1"
"""vLLM release of the v3 runs (data set README)."""
FOLDER = "mlenergy-v3"
FILE = "mlenergy_v3_llm_configurations.jsonl"
PLATFORMS = {"H100": "h100-sxm5-80gb", "B200": "b200"}
"""``gpu_model`` values fixed here (README); others resolve through the platform catalog."""
WORKLOADS = {"lm-arena-chat": "lm-arena-chat", "gpqa": "gpqa", "sourcegraph-fim": "sourcegraph-fim"}
PRECISIONS = {"bfloat16": "bf16", "fp8": "fp8", "mxfp4": "mxfp4"}


def dispersion(hist: object) -> float | None:
    """``E[L^2] / E[L]^2`` of a histogram ``{bins: edges, counts}`` at bin midpoints (None
    where it is missing or empty); at least 1 by Jensen's inequality."""
    if not isinstance(hist, dict) or not hist.get("bins") or not hist.get("counts"):
        return None
    edges, counts = hist["bins"], hist["counts"]
    if len(edges) != len(counts) + 1:
        return None
    mids = [(float(a) + float(b)) / 2.0 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    n = float(sum(counts))
    m1 = sum(m * c for m, c in zip(mids, counts, strict=True)) / n if n > 0 else 0.0
    if m1 <= 0:
        return None
    m2 = sum(m * m * c for m, c in zip(mids, counts, strict=True)) / n
    return max(m2 / (m1 * m1), 1.0)


def _row(rec: dict[str, object], ref: str) -> dict[str, object]:
    spec = resolve_model(str(rec["model_id"]))
    j_per_token = float(rec["energy_per_token_joules"])
    out_tokens = float(rec["avg_output_len"])
    return {
        "platform": platform_of(rec["gpu_model"], PLATFORMS),
        "device_count": int(rec["num_gpus"]),
        "engine": "vllm",
        "engine_version": ENGINE_VERSION,
        "model_id": spec.id,
        "params_total_b": spec.params_total_b,
        "params_active_b": spec.params_active_b,
        "quantization": PRECISIONS[str(rec["weight_precision"])],
        "batch_size": int(rec["max_num_seqs"]),
        # serving_mode left unset: the README does not say how requests reached the server (it
        # gives steady-state figures at the configured batch, unstable runs excluded).
        "avg_batch_size": float(rec["avg_batch_size"]),
        "workload": WORKLOADS[str(rec["task"])],
        "output_tokens_mean": out_tokens,
        "output_tokens_dispersion": dispersion(rec.get("output_length_distribution")),
        "energy_j_per_query": j_per_token * out_tokens,
        "energy_j_per_output_token": j_per_token,
        "time_s_per_query": float(rec["median_itl_ms"]) / 1000.0 * out_tokens,
        "throughput_tokens_per_s": float(rec["output_throughput_tokens_per_sec"]),
        "power_w_mean": float(rec["avg_power_watts"]),
        "energy_method": "nvml-counter",
        "energy_scope": "gpu",
        "idle_subtracted": False,
        "source": NAME,
        "source_ref": ref,
    }


def import_rows(root: Path) -> ImportResult:
    """Read every configuration line of the v3 JSONL under ``root/mlenergy-v3``."""
    folder = require_folder(root, FOLDER)
    out = RowCollector(NAME)
    for lineno, rec in iter_jsonl(folder / FILE):
        ref = shared_ref(FOLDER, FILE, f"L{lineno}:{rec['source_path']}[{rec['config_index']}]")
        if platform_of(rec.get("gpu_model"), PLATFORMS) is None:
            out.skip(ref, f"unknown gpu_model {rec.get('gpu_model')!r}")
        elif rec.get("task") not in WORKLOADS:
            out.skip(ref, f"task {rec.get('task')!r} is not a text LLM workload eai models")
        elif rec.get("weight_precision") not in PRECISIONS:
            out.skip(ref, f"weight_precision {rec.get('weight_precision')!r} has no canonical quantization")
        else:
            out.add(ref, lambda rec=rec, ref=ref: _row(rec, ref))
    return out.result()
