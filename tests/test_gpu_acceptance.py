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
