"""Environment record: keys, GPU start/end state, unreadable fields kept as notes."""

from __future__ import annotations

import json
from pathlib import Path

from profiler.environment import capture_environment, cpu_model, library_versions
from profiler.hardware.fake import FakeGpu, ManualClock, PowerTrace

EXPECTED_KEYS = {
    "started_at_utc",
    "finished_at_utc",
    "python_version",
    "os_platform",
    "cpu_model",
    "cpu_count",
    "hostname_sha256",
    "library_versions",
    "gpu_name",
    "gpu_index",
    "gpu_driver_version",
    "gpu_power_limit_w",
    "gpu_clocks_mhz_start",
    "gpu_clocks_mhz_end",
    "gpu_temperature_c_start",
    "gpu_temperature_c_end",
    "gpu_power_w_start",
    "gpu_power_w_end",
    "notes",
}


def test_cpu_record_keys_and_json() -> None:
    env = capture_environment(None).finish(None)
    d = env.to_dict()
    assert set(d) == EXPECTED_KEYS
    assert d["gpu_name"] is None and d["hostname_sha256"] is None
    assert d["finished_at_utc"] is not None and d["cpu_count"] >= 1
    assert {"torch", "transformers", "bitsandbytes", "lm-eval"} <= set(d["library_versions"])
    json.dumps(d)  # serializable


def test_gpu_start_and_end_state() -> None:
    clock = ManualClock()
    gpu = FakeGpu(PowerTrace((0.0, 1000.0), (120.0, 120.0)), clock=clock, power_limit_w=250.0)
    env = capture_environment(gpu, hostname_hash=True)
    clock.advance(200.0)  # the fake warms up 1 degree C per 10 s
    env = env.finish(gpu)
    assert env.gpu_name == gpu.name() and env.gpu_driver_version == "fake-0.0"
    assert env.gpu_power_limit_w == 250.0 and env.gpu_power_w_start == 120.0
    assert env.gpu_clocks_mhz_start == {"sm": 1410, "mem": 1215} == env.gpu_clocks_mhz_end
    assert env.gpu_temperature_c_start == 40 and env.gpu_temperature_c_end == 60
    assert env.hostname_sha256 is not None and len(env.hostname_sha256) == 16
    assert env.notes == ()


def test_unreadable_gpu_field_is_noted_not_fatal() -> None:
    class NoClocks(FakeGpu):
        def clocks_mhz(self) -> dict[str, int]:
            raise RuntimeError("Not Supported")

    gpu = NoClocks(PowerTrace((0.0, 10.0), (50.0, 50.0)), clock=ManualClock())
    env = capture_environment(gpu).finish(gpu)
    assert env.gpu_clocks_mhz_start is None and env.gpu_clocks_mhz_end is None
    assert len(env.notes) == 2 and all("Not Supported" in n for n in env.notes)
    assert env.gpu_temperature_c_end == 40


def test_library_versions_and_cpu_model(tmp_path: Path) -> None:
    v = library_versions(["pydantic", "surely-not-installed-xyz"])
    assert v["pydantic"] and v["surely-not-installed-xyz"] is None
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14 96-Core Processor\n")
    assert cpu_model(info) == "AMD EPYC 9R14 96-Core Processor"
    assert cpu_model(tmp_path / "missing")  # portable fallback, never empty
