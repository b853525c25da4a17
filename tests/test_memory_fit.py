"""Memory fit of a deployment (``recommender.rules.fit.deployment_memory``), hand-computed.

Paged engines (vLLM) start when the weights, the runtime and one sequence's KV cache fit, and
serve as many sequences as the rest of the pool holds; static engines need the whole batch.
"""

from __future__ import annotations

import numpy as np
import pytest

from recommender.rules import fit

P = fit.FitParams(runtime_overhead_gb=1.0, fragmentation_fraction=0.10, kv_cache_bytes=2.0, memory_utilization=0.9, kv_block_tokens=16)
GIB = 2**30 / 1e9
# Llama-3.1-8B: 32 layers, 8 KV heads, head dim 128: 2 * 32 * 8 * 128 * 2 B = 131,072 B per token.
KV_TOKEN_GB = 131_072 / 1e9


def _llama8b(batch, prompt, output, devices=1, memory=80.0, paged=True, params=P):
    return fit.deployment_memory(8.03, 2.0, 32, 8, 128, batch, prompt, output, devices, memory, paged, params)


def test_paged_engine_needs_one_sequence_and_reports_the_concurrency_it_reaches() -> None:
    r = _llama8b(batch=256, prompt=2000, output=2000)
    # weights 16.06 GB + runtime 1 GB + one sequence of 4,000 tokens + half a block (8).
    assert r.required_gb[()] == pytest.approx(16.06 + 1.0 + 4008 * KV_TOKEN_GB)
    assert r.usable_gb[()] == pytest.approx(80 * GIB * 0.9)
    assert r.fits[()]
    # Pool after weights and runtime, over 2,000 + 1,000 + 8 tokens held per running sequence.
    expected = np.floor((80 * GIB * 0.9 - 17.06) / (3008 * KV_TOKEN_GB))
    assert r.max_concurrent_sequences[()] == expected
    assert expected < 256 and r.kv_limited[()]  # it runs, at the lower concurrency


def test_a_batch_the_pool_holds_is_not_limited() -> None:
    r = _llama8b(batch=64, prompt=1000, output=1000)
    assert r.fits[()] and not r.kv_limited[()] and r.max_concurrent_sequences[()] >= 64


def test_static_engine_needs_the_whole_batch_at_full_context() -> None:
    r = _llama8b(batch=256, prompt=1000, output=1000, paged=False)
    need = 16.06 + 1.0 + 256 * 2000 * KV_TOKEN_GB * 1.1
    assert r.required_gb[()] == pytest.approx(need)
    assert r.usable_gb[()] == pytest.approx(80 * GIB)  # no pre-allocated share
    assert not r.fits[()] and r.max_concurrent_sequences[()] == 0 and not r.kv_limited[()]


def test_tensor_parallelism_splits_weights_and_kv() -> None:
    # Llama-3.1-70B bf16 (141.1 GB of weights) on H100s: one does not hold it, two do.
    one = fit.deployment_memory(70.55, 2.0, 80, 8, 128, 64, 500, 500, 1, 80.0, True, P)
    two = fit.deployment_memory(70.55, 2.0, 80, 8, 128, 64, 500, 500, 2, 80.0, True, P)
    assert not one.fits[()] and two.fits[()]
    kv_seq = 2 * 80 * 8 * 128 * 2 * 1008 / 1e9
    assert two.required_gb[()] == pytest.approx(141.1 / 2 + 1.0 + kv_seq / 2)


def test_weights_alone_too_large_is_refused_whatever_the_engine() -> None:
    r = fit.deployment_memory(70.55, 2.0, 80, 8, 128, 1, 100, 100, 1, 24.0, np.array([True, False]), P)
    assert not r.fits.any()


def test_unknown_architecture_leaves_the_concurrency_unknown() -> None:
    r = fit.deployment_memory(8.0, 2.0, np.nan, np.nan, np.nan, 8, 100, 100, 1, 80.0, True, P)
    assert r.fits[()] and not r.kv_known[()] and np.isnan(r.max_concurrent_sequences[()])
    assert r.required_gb[()] == pytest.approx(16.0 + 1.0)


def test_min_context_floors_the_one_sequence_block() -> None:
    short = fit.deployment_memory(8.03, 2.0, 32, 8, 128, 1, 10, 10, 1, 80.0, True, P, min_context_tokens=4096)
    assert short.required_gb[()] == pytest.approx(17.06 + (4096 + 8) * KV_TOKEN_GB)


def test_vectorized_matches_scalar_rows() -> None:
    batch = np.array([1, 64, 512])
    devices = np.array([1, 2, 4])
    paged = np.array([True, False, True])
    v = fit.deployment_memory(8.03, 2.0, 32, 8, 128, batch, 700, 300, devices, 40.0, paged, P)
    for i in range(3):
        s = fit.deployment_memory(8.03, 2.0, 32, 8, 128, batch[i], 700, 300, devices[i], 40.0, paged[i], P)
        assert v.required_gb[i] == pytest.approx(s.required_gb[()])
        assert v.max_concurrent_sequences[i] == s.max_concurrent_sequences[()]


def test_paged_engines_by_name() -> None:
    assert fit.is_paged(["vllm", "VLLM", "hf-transformers", "llama.cpp", "tensorrt-llm"]).tolist() == [True, True, False, False, True]


def test_the_energy_model_runs_as_many_sequences_as_the_rule_allows() -> None:
    # One model of memory: the predictor's running batch (physics.kv_limited_batch) and the
    # memory-fit rule agree, runtime per device included. Llama-3.1-70B in bf16 on four A100-40GB
    # (80 layers, 8 KV heads, head dim 128), ShareGPT-like 110 + 427 tokens.
    from recommender.model import physics
    from recommender.rules.flow import load_flow

    assert physics.RUNTIME_GB_PER_DEVICE == load_flow().memory_fit.runtime_overhead_gb
    kv_token = 2 * 80 * 8 * 128 * 2.0
    prompt, output = 110.5, 426.6
    rule = fit.deployment_memory(70.55, 2.0, 80, 8, 128, 1024, prompt, output, 4, 40.0, True, P)
    def running(devices: float) -> float:
        return physics.kv_limited_batch(
            batch=np.array([1024.0]), memory_gb=np.array([160.0]), weight_bytes=np.array([70.55e9 * 2.0]),
            kv_bytes_token=np.array([kv_token]), context_tokens=np.array([prompt + output / 2.0]), devices=devices,
        )[0]

    # The rule also pads each sequence by half a KV block (8 tokens) and floors to whole sequences.
    assert rule.max_concurrent_sequences[()] <= running(4.0) <= rule.max_concurrent_sequences[()] * 1.05
    # Without the runtime (as until 2026-12-05) the pool was 4 of 9.5 GB larger: 127 sequences, not 90.
    assert running(0.0) > 1.3 * running(4.0)


@pytest.mark.parametrize(
    ("heads", "kv_heads", "even", "uneven"),
    [
        (32, 8, [1, 2, 4, 8, 16, 32], [3, 6, 12, 64]),  # Llama-3-8B: key/value heads replicated past 8
        (28, 4, [1, 2, 4, 28], [3, 7, 8, 14]),  # Qwen2.5-7B: 7 and 14 divide the query heads, not the 4 key/value heads
        (40, 10, [1, 2, 5, 10, 20, 40], [4, 8]),  # Phi-3-medium
        (128, np.nan, [1, 2, 4, 8, 16], [3, 6]),  # a compressed-latent cache: query heads only
        (np.nan, np.nan, [1, 3, 7], []),  # unknown: nothing refused
    ],
)
def test_tensor_parallelism_shares_heads_out_evenly(heads, kv_heads, even, uneven) -> None:
    counts = np.array(even + uneven, dtype=float)
    got = fit.splits_evenly(np.full(counts.size, heads), np.full(counts.size, kv_heads), counts)
    assert got.tolist() == [True] * len(even) + [False] * len(uneven)
    if not np.isnan(heads):
        assert fit.even_splits(heads, kv_heads, 8) == [c for c in sorted(even) if c <= 8]


def test_only_tensor_parallel_engines_split_heads() -> None:
    assert fit.is_tensor_parallel(["vllm", "TensorRT-LLM", "hf-transformers", "llama.cpp", "fastchat"]).tolist() == [
        True, True, False, False, False,
    ]
