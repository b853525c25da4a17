"""The Ray executor on a local Ray with fake GPU devices: placement, resume, failures.

The real SmolLM2 comparison of Ray and serial runs is in ``test_ray_smollm2.py``.

Ray is an optional extra (``eai[cluster]``); without it these tests are skipped.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from recommender.table import MeasuredRow
from recommender.table.io import read_rows

from profiler.sweep import SweepSpec, failures_path, run_sweep

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed (eai[cluster])")

FAKE_GPUS = 2


@pytest.fixture(scope="module")
def local_ray():
    import ray
    import ray.cloudpickle

    from profiler.executors.ray import RayExecutor

    # The fakes below live in this test module, which Ray workers cannot import by name.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=2, num_gpus=FAKE_GPUS, include_dashboard=False, log_to_driver=False)
    try:
        yield RayExecutor()
    finally:
        ray.shutdown()


class GpuFakeRunner:
    """Shaped like LmEvalRunner on a GPU; records which devices Ray made visible to it."""

    platform = "h100-sxm5-80gb"

    def __init__(self, device: str | None, device_count: int, crash_on: str | None) -> None:
        self.device = device
        self.device_count = device_count
        self.crash_on = crash_on
        self.quant = ""
        self.engine = ""

    def model_id(self, model: str) -> str:
        return f"org/{model}"

    def cell_settings(self, workload: str) -> tuple[str | None, int | None]:
        return "0", 1

    def check(self, model: str, quant: str, engine: str) -> None:
        return None

    def load(self, model: str, quant: str, engine: str) -> None:
        self.quant = quant
        self.engine = engine  # the group's engine, as LmEvalRunner records it

    def unload(self) -> None:
        self.quant = ""

    def measure(self, workload: str, limit: int | None, progress: object) -> MeasuredRow:
        if (self.quant, workload) == (self.crash_on, "gsm8k"):
            os._exit(3)  # the worker process dies mid-group, as on a GPU fault
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
        return MeasuredRow(
            platform=self.platform, device_count=self.device_count, engine=self.engine, model_id="org/m",
            params_total_b=8.0, params_active_b=8.0, quantization=self.quant, batch_size=1, workload=workload,
            energy_j_per_query=100.0, time_s_per_query=1.0, power_w_mean=100.0, energy_method="nvml-counter",
            energy_scope="gpu", idle_subtracted=False, repeats=1, source="eai-profiler",
            source_ref=(f"test; limit={limit}; fewshot=0; threads=1; device={self.device}; visible={visible}; "
                        f"pid={os.getpid()}"),
            measured_on=dt.date(2026, 1, 1),
        )


@dataclass(frozen=True)
class GpuFakeFactory:
    device_count: int = 1
    crash_on: str | None = None

    def __call__(self, device: str | None = None) -> GpuFakeRunner:
        return GpuFakeRunner(device, self.device_count, self.crash_on)


def _gpu_spec(**kw: object) -> SweepSpec:
    base = {"models": ["m"], "quants": ["fp16", "bf16", "fp8"], "tasks": ["arc_easy", "gsm8k"], "limit": 2,
            "device": "cuda", "threads": 1, "engines": ["vllm"], "repeats": 1}  # the fake records 1 window
    base.update(kw)
    return SweepSpec.model_validate(base)


def test_each_group_is_a_task_on_its_own_reserved_gpu(local_ray, tmp_path: Path) -> None:
    out = tmp_path / "gpu.csv"
    factory = GpuFakeFactory()
    summary = run_sweep(_gpu_spec(), out, factory(None), executor=local_ray, make_runner=factory)
    assert summary.written == 6 and not summary.failed
    rows = read_rows(out)
    by_group: dict[str, set[str]] = {}
    for r in rows:
        entries = dict(p.split("=", 1) for p in r.source_ref.split("; ") if "=" in p)
        assert entries["device"] == "cuda"  # the runner sees only the devices Ray reserved
        assert entries["visible"] in {str(i) for i in range(FAKE_GPUS)}  # one reserved GPU each
        by_group.setdefault(r.quantization, set()).add(entries["pid"])
    assert set(by_group) == {"fp16", "bf16", "fp8"}
    assert all(len(pids) == 1 for pids in by_group.values())  # a group loads once, in one task
    # Resume: the same sweep appends nothing.
    again = run_sweep(_gpu_spec(), out, factory(None), executor=local_ray, make_runner=factory)
    assert again.written == 0 and again.skipped == 6


def test_a_group_needing_more_gpus_than_the_cluster_fails_at_once(local_ray, tmp_path: Path) -> None:
    out = tmp_path / "big.csv"
    factory = GpuFakeFactory(device_count=FAKE_GPUS + 1)
    summary = run_sweep(_gpu_spec(quants=["bf16"]), out, factory(None), executor=local_ray, make_runner=factory)
    assert summary.written == 0 and len(summary.failed) == 2
    assert {f["stage"] for f in summary.failed} == {"executor"}
    assert f"needs {FAKE_GPUS + 1} GPU(s), the Ray cluster has {FAKE_GPUS}" in summary.failed[0]["reason"]


def test_a_dying_worker_fails_its_cells_and_the_sweep_goes_on(local_ray, tmp_path: Path) -> None:
    import json

    out = tmp_path / "crash.csv"
    factory = GpuFakeFactory(crash_on="bf16")
    summary = run_sweep(_gpu_spec(), out, factory(None), executor=local_ray, make_runner=factory)
    assert summary.written == 5
    (entry,) = [json.loads(line) for line in failures_path(out).read_text().splitlines()]
    assert (entry["quantization"], entry["workload"], entry["stage"]) == ("bf16", "gsm8k", "executor")
    assert entry["engine"] == "vllm" and entry["limit"] == 2 and entry["reason"]
    # The rows finished before the crash were kept; a re-run measures only the failed cell.
    retry = run_sweep(_gpu_spec(), out, factory(None), executor=local_ray, make_runner=GpuFakeFactory())
    assert retry.written == 1 and retry.skipped == 5


def test_each_engine_is_its_own_group_and_reaches_the_worker(local_ray, tmp_path: Path) -> None:
    out = tmp_path / "engines.csv"
    factory = GpuFakeFactory()
    spec = _gpu_spec(quants=["bf16"], engines=["vllm", "hf-transformers"])
    summary = run_sweep(spec, out, factory(None), executor=local_ray, make_runner=factory)
    assert summary.written == 4 and not summary.failed
    rows = read_rows(out)
    assert sorted((r.engine, r.workload) for r in rows) == [
        ("hf-transformers", "arc_easy"), ("hf-transformers", "gsm8k"), ("vllm", "arc_easy"), ("vllm", "gsm8k")]
    pids: dict[str, set[str]] = {}
    for r in rows:
        entries = dict(p.split("=", 1) for p in r.source_ref.split("; ") if "=" in p)
        pids.setdefault(r.engine, set()).add(entries["pid"])
    assert all(len(p) == 1 for p in pids.values())  # one Ray task (one load) per engine
    again = run_sweep(spec, out, factory(None), executor=local_ray, make_runner=factory)
    assert again.written == 0 and again.skipped == 4
