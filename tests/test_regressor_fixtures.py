"""Small synthetic catalogs and a measured table generated from known physics (for fast tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.catalog.types import ModelSpec, Platform, QuantSpec, TaskSpec
from recommender.model.features import Catalogs


def _platform(pid: str, bw: float, tdp: float, tflops: float, mem: float, gen: float, cls: str = "data-center") -> Platform:
    return Platform(
        id=pid, name=pid, vendor="nvidia", platform_class=cls, architecture="x", arch_generation=gen,
        release_year=2020, memory_gb=mem, memory_bandwidth_gbs=bw, tdp_w=tdp,
        fp16_dense_tflops=tflops, bf16_dense_tflops=tflops, int8_dense_tops=2 * tflops, fp32_tflops=tflops / 16,
    )


def _model(mid: str, params: float, layers: int, hidden: int) -> ModelSpec:
    return ModelSpec(
        id=mid, family="toy", params_total_b=params, params_active_b=params, layers=layers,
        hidden_size=hidden, attention_heads=hidden // 128, kv_heads=hidden // 128, source="synthetic",
    )


_LB_SIZES = np.exp(np.random.default_rng(1).uniform(np.log(0.5), np.log(70), 40))
"""Sizes (billions) of the leaderboard-only models of the synthetic accuracy table."""


def catalogs() -> Catalogs:
    platforms = {
        "gpu-a": _platform("gpu-a", 900, 300, 125, 32, 7.0),
        "gpu-b": _platform("gpu-b", 1500, 400, 312, 40, 8.0),
        "gpu-c": _platform("gpu-c", 700, 300, 150, 48, 8.6),
        "gpu-d": _platform("gpu-d", 3300, 700, 990, 80, 9.0),
        "gpu-new": _platform("gpu-new", 1000, 450, 165, 24, 8.9, "workstation"),
        "cpu-x": _platform("cpu-x", 10, 8, 0.3, 24, 0.0, "cpu"),
    }
    models = {
        "toy/m1": _model("toy/m1", 1.1, 22, 2048),
        "toy/m3": _model("toy/m3", 3.0, 26, 3072),
        "toy/m7": _model("toy/m7", 7.0, 32, 4096),
        "toy/m13": _model("toy/m13", 13.0, 40, 5120),
        "toy/m30": _model("toy/m30", 30.0, 60, 6656),
    }
    for i, size in enumerate(_LB_SIZES):
        models[f"lb/model-{i}"] = _model(f"lb/model-{i}", float(size), 32, 4096)
    quants = {
        "fp16": QuantSpec(name="fp16", bytes_per_weight=2.0, compute_precision="fp16", devices=("cuda",), family="float", description=""),
        "bf16": QuantSpec(name="bf16", bytes_per_weight=2.0, compute_precision="bf16", devices=("cuda",), family="float", description=""),
        "int8-bnb": QuantSpec(name="int8-bnb", bytes_per_weight=1.0, compute_precision="int8", devices=("cuda",), family="bnb", description=""),
    }
    tasks = {
        "mmlu": TaskSpec(id="mmlu", kind="benchmark", metric="acc", chance=0.25, output_type="multiple_choice",
                         prompt_tokens_mean=600, output_tokens_mean=0, choices_mean=4, source="synthetic"),
        "gsm8k": TaskSpec(id="gsm8k", kind="benchmark", metric="exact_match", chance=0.0, output_type="generate_until",
                          prompt_tokens_mean=900, output_tokens_mean=150, source="synthetic"),
        "chat": TaskSpec(id="chat", kind="workload", prompt_tokens_mean=150, output_tokens_mean=250, source="synthetic"),
    }
    return Catalogs(platforms=platforms, models=models, tasks=tasks, quants=quants)


def measured_table(seed: int = 0) -> pd.DataFrame:
    """Rows of the measured-table schema from a known law with 5% noise.

    Energy per output token follows a roofline-like law (weight bytes / bandwidth x power,
    amortized over batch, plus a compute floor) with a per-engine efficiency factor.
    Platforms gpu-a..gpu-d are measured; gpu-new never is. Model m30 never is.
    """
    rng = np.random.default_rng(seed)
    cats = catalogs()
    rows = []
    for pid in ("gpu-a", "gpu-b", "gpu-c", "gpu-d"):
        p = cats.platforms[pid]
        for mid in ("toy/m1", "toy/m3", "toy/m7", "toy/m13"):
            m = cats.models[mid]
            for quant, bpw, q_eff in (("fp16", 2.0, 1.0), ("int8-bnb", 1.0, 2.2)):
                for engine, batch, eff in (("hf-transformers", 1, 3.0), ("vllm", 8, 1.6), ("vllm", 64, 1.6)):
                    if quant == "int8-bnb" and engine == "vllm":
                        continue
                    t_mem = m.params_total_b * 1e9 * bpw / (p.memory_bandwidth_gbs * 1e9)
                    t_comp = batch * 2 * m.params_total_b * 1e9 / (p.fp16_dense_tflops * 1e12)
                    t_step = max(t_mem, t_comp) * eff * q_eff
                    e_tok = 0.6 * p.tdp_w * t_step / batch * float(np.exp(rng.normal(0, 0.05)))
                    out = 250.0
                    rows.append({
                        "platform": pid, "device_count": 1, "engine": engine, "model_id": mid,
                        "params_total_b": m.params_total_b, "params_active_b": m.params_active_b,
                        "quantization": quant, "batch_size": batch, "workload": "chat",
                        "output_tokens_mean": out, "energy_j_per_query": e_tok * out,
                        "energy_j_per_output_token": e_tok, "time_s_per_query": t_step * out,
                        "energy_method": "nvml-counter", "energy_scope": "gpu", "idle_subtracted": False,
                        "source": "mlenergy-v1" if engine == "hf-transformers" else "mlenergy-v3",
                        "source_ref": f"synthetic:{pid}:{mid}:{quant}:{engine}:{batch}",
                    })
    # Scored rows (profiler-like): mmlu on gpu-a at fp16 and int8 for two models.
    for mid, acc_fp16, acc_int8 in (("toy/m1", 0.30, 0.28), ("toy/m3", 0.45, 0.44)):
        for quant, acc in (("fp16", acc_fp16), ("int8-bnb", acc_int8)):
            rows.append({
                "platform": "gpu-a", "device_count": 1, "engine": "hf-transformers", "model_id": mid,
                "params_total_b": cats.models[mid].params_total_b, "params_active_b": cats.models[mid].params_active_b,
                "quantization": quant, "batch_size": 1, "workload": "mmlu", "prompt_tokens_mean": 2400.0,
                "output_tokens_mean": 0.0, "accuracy": acc, "accuracy_metric": "acc", "accuracy_n": 500,
                "energy_j_per_query": 0.02 * cats.models[mid].params_total_b * 2400.0 / 10,
                "time_s_per_query": 0.5, "energy_method": "nvml-counter", "energy_scope": "gpu",
                "idle_subtracted": False, "source": "eai-profiler", "source_ref": f"synthetic:mmlu:{mid}:{quant}",
            })
    from recommender.table.schema import MeasuredRow

    validated = [MeasuredRow.model_validate(r) for r in rows]
    from recommender.table.io import rows_to_frame

    return rows_to_frame(validated)


def accuracy_table() -> pd.DataFrame:
    """Leaderboard-like scores (unknown precision) for a size prior on mmlu."""
    rng = np.random.default_rng(2)
    recs = []
    for i, size in enumerate(_LB_SIZES):
        recs.append({"model_id": f"lb/model-{i}", "task": "mmlu", "accuracy": float(np.clip(0.25 + 0.08 * np.log(size) + rng.normal(0, 0.03), 0.25, 0.9)),
                     "metric": "acc", "num_fewshot": 5, "accuracy_stderr": None, "quantization": "unknown", "note": "",
                     "source": "open-llm-leaderboard-v1", "source_ref": f"synthetic:{i}"})
    recs.append({"model_id": "toy/m7", "task": "mmlu", "accuracy": 0.55, "metric": "acc", "num_fewshot": 5, "accuracy_stderr": 0.01,
                 "quantization": "unknown", "note": "", "source": "open-llm-leaderboard-v1", "source_ref": "synthetic:m7"})
    return pd.DataFrame(recs)


def params_lookup() -> dict[str, float]:
    return {k: v.params_total_b for k, v in catalogs().models.items()}
