"""Facts about the shipped measured table: every row ran, so the memory-fit rule accepts it.

Each row of ``data/measured.csv`` is a configuration that ran on its hardware; a rule that
refuses one of them is wrong. Paged rows (vLLM) also bound the concurrency: ML.ENERGY kept
only runs whose mean running batch was >= 95 % of the configured one (mlenergy-v2 README),
so the KV pool held that many sequences. The rule's ``max_concurrent_sequences`` is a
steady-state estimate (each running sequence holds its prompt and half its output) and errs
low: measured at the shipped catalog, the lowest ratio to the measured running batch over the
579 full-attention paged rows is 0.99; with head widths from the models' configs (Qwen3's
``head_dim`` 128 where hidden / heads gives 64) it is 0.55 (Qwen3 MoE on the B200 at
512-4,096 sequences, where ML.ENERGY v3's runs held more sequences than a steady state
allows). The check asks for at least half: a KV size off by the tensor-parallel split or
by grouped-query heads fails it.
"""


from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.model.predictor import canonical_task
from recommender.rules import fit
from recommender.rules.catalogs import Catalogs
from recommender.rules.flow import load_flow
from recommender.table.io import load_table

MIN_CONCURRENCY_RATIO = 0.5
"""Least share of the measured running batch the estimated KV pool must hold (see above)."""

SLIDING_WINDOW_MODELS = ("openai/gpt-oss-20b", "openai/gpt-oss-120b")
"""Models whose config alternates full and 128-token sliding-window attention layers
(gpt-oss config.json ``layer_types``); the catalog has no field for it, so their KV cache is
counted as if every layer kept the whole context and the concurrency comes out low (a
conservative error, excluded from the concurrency check only)."""


@pytest.fixture(scope="module")
def verdict():
    return shipped_verdict()


def shipped_verdict():
    """The shipped table and the rule's verdict on each of its rows."""
    catalogs, flow = Catalogs.load(), load_flow()
    table = load_table()
    tasks = np.asarray(canonical_task(table["workload"], catalogs.tasks), dtype=object)
    models = []
    for mid in table["model_id"]:
        try:
            models.append(catalogs.resolve_model(mid))
        except Exception:  # a model the catalog lacks: parameters from the row, KV unknown
            models.append(None)
    arch = {k: np.array([fit.architecture([m])[k][0] if m else np.nan for m in models]) for k in ("params_total_b", "layers", "kv_heads", "head_dim")}
    params = np.where(np.isnan(arch["params_total_b"]), pd.to_numeric(table["params_total_b"]), arch["params_total_b"])
    profile = [(catalogs.tasks[t].prompt_tokens_mean, catalogs.tasks[t].output_tokens_mean) if t in catalogs.tasks else (0.0, 0.0) for t in tasks]
    prompt = pd.to_numeric(table["prompt_tokens_mean"]).fillna(pd.Series([p for p, _ in profile], index=table.index)).to_numpy(dtype=float)
    output = pd.to_numeric(table["output_tokens_mean"]).fillna(pd.Series([o for _, o in profile], index=table.index)).to_numpy(dtype=float)
    result = fit.deployment_memory(
        params,
        [catalogs.resolve_quant(q).bytes_per_weight for q in table["quantization"]],
        arch["layers"], arch["kv_heads"], arch["head_dim"],
        pd.to_numeric(table["batch_size"]).to_numpy(dtype=float),
        prompt, output,
        pd.to_numeric(table["device_count"]).to_numpy(dtype=float),
        [catalogs.resolve_platform(p).memory_gb for p in table["platform"]],
        fit.is_paged(table["engine"], flow.memory_fit),
        flow.memory_fit,
        flow.min_context_tokens,
    )
    return table, result


def test_every_measured_configuration_fits(verdict) -> None:
    table, result = verdict
    assert len(table) > 1000
    refused = table.loc[~result.fits, ["platform", "model_id", "quantization", "engine", "batch_size", "device_count"]]
    assert refused.empty, f"{len(refused)} measured rows refused:\n{refused.head(20).to_string()}"


def test_paged_pool_holds_the_measured_running_batch(verdict) -> None:
    table, result = verdict
    running = pd.to_numeric(table["avg_batch_size"]).to_numpy(dtype=float)
    checked = (
        np.isfinite(running)
        & result.kv_known
        & fit.is_paged(table["engine"])
        & ~table["model_id"].isin(SLIDING_WINDOW_MODELS).to_numpy()
    )
    assert checked.sum() > 500
    short = checked & (result.max_concurrent_sequences < MIN_CONCURRENCY_RATIO * running)
    assert not short.any(), table.loc[short, ["platform", "model_id", "batch_size", "avg_batch_size"]].to_string()


def test_every_measured_tensor_parallel_split_shares_the_heads_out_evenly() -> None:
    # The rule refuses vLLM over a device count the heads do not divide; every measured
    # multi-device vLLM row (ML.ENERGY v2 and v3: up to 16 GPUs) ran, so none may be refused.
    catalogs, table = Catalogs.load(), load_table()
    tp = pd.to_numeric(table["device_count"]).to_numpy(dtype=float) / pd.to_numeric(table["pipeline_stages"]).fillna(1).to_numpy(dtype=float)
    split = fit.is_tensor_parallel(table["engine"]) & (tp > 1)
    assert split.sum() > 300
    heads, kv = fit.attention_heads([catalogs.resolve_model(m) for m in table.loc[split, "model_id"]])
    assert not np.isnan(heads).any()
    even = fit.splits_evenly(heads, kv, tp[split])
    assert even.all(), table.loc[split].loc[~even, ["model_id", "device_count", "pipeline_stages"]].to_string()


def test_every_measured_query_fits_its_models_context_window() -> None:
    # eai predict refuses a query longer than the model's window (prompt + output, the row's
    # own or its task's); every measured row ran, so none may be that long.
    catalogs, table = Catalogs.load(), load_table()
    tasks = np.asarray(canonical_task(table["workload"], catalogs.tasks), dtype=object)
    own_prompt = pd.to_numeric(table["prompt_tokens_mean"]).to_numpy(dtype=float)
    own_output = pd.to_numeric(table["output_tokens_mean"]).to_numpy(dtype=float)
    task_prompt = np.array([catalogs.tasks[t].prompt_tokens_mean if t in catalogs.tasks else np.nan for t in tasks])
    task_output = np.array([catalogs.tasks[t].output_tokens_mean if t in catalogs.tasks else np.nan for t in tasks])
    query = np.where(np.isnan(own_prompt), task_prompt, own_prompt) + np.where(np.isnan(own_output), task_output, own_output)
    window = fit.context_windows([catalogs.resolve_model(m) for m in table["model_id"]])
    assert np.isfinite(query).sum() > 1000 and np.isfinite(window).sum() > 900
    with np.errstate(invalid="ignore"):
        too_long = query > window
    assert not too_long.any(), table.loc[too_long, ["model_id", "workload"]].to_string()
