"""Energy meters: integration, counters, wrap-around, selection, lazy NVML import."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from profiler.hardware import (
    CounterMeter,
    MultiGpuMeter,
    EnergyMeter,
    EstimatedCpuMeter,
    RaplMeter,
    SampledMeter,
    integrate_trapezoid,
    make_meter,
    select_meter,
)
from profiler.hardware.base import counter_delta
from profiler.hardware.fake import (
    FakeGpu,
    FakeRaplZone,
    ManualClock,
    PowerTrace,
    bundled_traces,
    load_trace,
    make_fake_rapl_tree,
    set_rapl_energy,
)
from profiler.hardware.rapl import discover_zones, rapl_readable
from recommender.errors import MeasurementError, UnknownNameError

RAMP = PowerTrace((0.0, 10.0), (100.0, 200.0), "linear", name="ramp")  # P(t) = 100 + 10 t W


# --- trapezoid integration ---------------------------------------------------------


def test_trapezoid_equals_analytic_integral_of_linear_power() -> None:
    # P(t) = 100 + 10 t on [0, 7] at irregular times: integral = 700 + 5 * 49 = 945 J.
    times = [0.0, 0.3, 1.1, 2.0, 4.75, 7.0]
    powers = [100 + 10 * t for t in times]
    assert integrate_trapezoid(times, powers) == pytest.approx(945.0, rel=1e-12)


def test_trapezoid_of_piecewise_linear_trace_at_breakpoints_is_exact() -> None:
    trace = PowerTrace((0.0, 1.0, 1.5, 4.0), (50.0, 250.0, 250.0, 0.0), "linear")
    # 1 s ramp 50->250 (150 J) + 0.5 s at 250 (125 J) + 2.5 s ramp 250->0 (312.5 J).
    assert trace.energy_j(0.0, 4.0) == pytest.approx(587.5)
    assert integrate_trapezoid(list(trace.times_s), list(trace.powers_w)) == pytest.approx(587.5)


def test_trapezoid_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="decrease"):
        integrate_trapezoid([0.0, 2.0, 1.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="entries"):
        integrate_trapezoid([0.0, 1.0], [1.0])
    assert integrate_trapezoid([1.0], [5.0]) == 0.0


# --- traces ------------------------------------------------------------------------


def test_step_trace_exact_energy_and_periodicity() -> None:
    trace = load_trace("decode_bursty_periodic")  # 40 ms at 300 W, 60 ms at 70 W, 60 s
    assert trace.energy_j(0.0, 60.0) == pytest.approx(600 * (0.04 * 300 + 0.06 * 70))
    assert trace.energy_j(0.02, 0.05) == pytest.approx(0.02 * 300 + 0.01 * 70)
    # Past the end it repeats: [60.02, 60.05] is the same as [0.02, 0.05].
    assert trace.energy_j(60.02, 60.05) == pytest.approx(trace.energy_j(0.02, 0.05))
    assert trace.power_w_at(0.039) == 300.0 and trace.power_w_at(0.041) == 70.0


def test_bundled_traces_load_and_unknown_name_suggests() -> None:
    names = bundled_traces()
    assert {"decode_bursty_periodic", "decode_bursty_jitter", "serving_mix"} <= set(names)
    for name in names:
        assert load_trace(name).period_energy_j > 0
    with pytest.raises(UnknownNameError, match="did you mean 'serving_mix'"):
        load_trace("serving_mx")


def test_trace_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    RAMP.to_csv(path, comments=["synthetic"])
    again = PowerTrace.from_csv(path)
    assert again.interpolation == "linear"
    assert again.energy_j(0.0, 10.0) == pytest.approx(RAMP.energy_j(0.0, 10.0))
    path.write_text("time_s,power_w\n0,1\nx,2\n")
    with pytest.raises(ValueError, match=r"t.csv:3"):
        PowerTrace.from_csv(path)


# --- sampled meter -----------------------------------------------------------------


def test_sampled_meter_on_linear_trace_equals_exact_energy() -> None:
    clock = ManualClock()
    gpu = FakeGpu(RAMP, clock=clock)
    # A rate so low the thread never samples: only the begin/end samples remain, and the
    # trapezoid over them is exact for linear power.
    meter = SampledMeter(gpu, sample_hz=0.001, clock=clock)
    clock.advance(1.0)
    meter.begin()
    clock.advance(4.0)
    reading = meter.end()
    assert reading.energy_j == pytest.approx(RAMP.energy_j(1.0, 5.0))  # 4 s, 110->150 W: 520 J
    assert reading.energy_j == pytest.approx(520.0)
    assert reading.time_s == pytest.approx(4.0)
    assert reading.samples == 2
    assert reading.method == "nvml-sampled" and reading.sample_hz == 0.001


def test_sampled_meter_thread_samples_at_rate_and_stops() -> None:
    gpu = FakeGpu(RAMP)  # real-time clock
    meter = SampledMeter(gpu, sample_hz=100.0, clock=gpu.clock)
    assert isinstance(meter, EnergyMeter)
    meter.begin()
    time.sleep(0.3)
    reading = meter.end()
    assert not any(t.name == "eai-power-sampler" for t in threading.enumerate())
    # Roughly 100 Hz x 0.3 s (+ the two end samples); loose bounds for a busy machine.
    assert 10 <= reading.samples <= 40
    assert reading.time_s == pytest.approx(0.3, abs=0.1)
    assert 100.0 <= reading.power_w_mean <= 110.0  # the ramp's first second: 100-110 W
    assert reading.monitor_cpu_s >= 0.0
    meter.close()  # idempotent after end()


def test_sampled_meter_accuracy_on_replayed_bursty_trace() -> None:
    trace = load_trace("decode_bursty_jitter")
    gpu = FakeGpu(trace)
    meter = SampledMeter(gpu, sample_hz=200.0, clock=gpu.clock)
    t_begin = gpu.clock()
    meter.begin()
    time.sleep(1.0)
    reading = meter.end()
    exact = trace.energy_j(t_begin, t_begin + reading.time_s)
    # 200 Hz against 30-50 ms bursts: within a few percent (the bench quantifies this).
    assert reading.energy_j == pytest.approx(exact, rel=0.10)


def test_sampled_meter_misuse_and_thread_errors() -> None:
    class Broken(FakeGpu):
        def __init__(self) -> None:
            super().__init__(RAMP)
            self.calls = 0

        def power_mw(self) -> int:
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("GPU fell off the bus")
            return 100_000

    meter = SampledMeter(Broken(), sample_hz=200.0)
    with pytest.raises(MeasurementError, match="without begin"):
        meter.end()
    meter.begin()
    with pytest.raises(MeasurementError, match="twice"):
        meter.begin()
    time.sleep(0.05)
    with pytest.raises(MeasurementError, match="fell off the bus"):
        meter.end()
    with pytest.raises(MeasurementError, match="sample_hz"):
        SampledMeter(FakeGpu(RAMP), sample_hz=0)


class FailingGpu(FakeGpu):
    """A fake whose power reads fail after the first ``ok_reads`` (module level: it pickles)."""

    def __init__(self, ok_reads: int) -> None:
        super().__init__(RAMP)
        self.ok_reads = ok_reads

    def power_mw(self) -> int:
        self.ok_reads -= 1
        if self.ok_reads < 0:
            raise RuntimeError("GPU fell off the bus")
        return 100_000


def test_sampled_meter_in_a_process_samples_every_window_without_a_thread_here() -> None:
    trace = load_trace("decode_bursty_jitter")
    gpu = FakeGpu(trace)  # real-time clock on time.perf_counter: the same in the sampling process
    meter = SampledMeter(gpu, sample_hz=200.0, clock=gpu.clock, sampler="process")
    assert meter.sampler == "process"
    try:
        for _ in range(2):  # one process serves every window
            # The process starts before the window's first sample (begin() prepares it): started
            # here, the window opens at t_begin, not a process start (0.07 s, more on a busy
            # machine) later, which on a bursty trace moved the exact energy by 10-13 %.
            meter.prepare()
            t_begin = gpu.clock()
            meter.begin()
            assert not any(t.name == "eai-power-sampler" for t in threading.enumerate())
            time.sleep(0.5)
            reading = meter.end()
            assert 50 <= reading.samples <= 110  # ~200 Hz x 0.5 s, loose for a busy machine
            assert reading.energy_j == pytest.approx(trace.energy_j(t_begin, t_begin + reading.time_s), rel=0.10)
            assert reading.monitor_cpu_s >= 0.0 and reading.method == "nvml-sampled"
        meter.close()
        meter.close()  # idempotent
        meter.begin()  # a closed meter starts a new process
        time.sleep(0.1)
        assert meter.end().samples >= 5
    finally:
        meter.close()


def test_a_deployment_of_process_sampled_gpus_sums_its_devices() -> None:
    gpus = [FakeGpu(load_trace("batch_serving_smooth"), index=i) for i in range(2)]
    meter = MultiGpuMeter([SampledMeter(g, sample_hz=100.0, clock=g.clock, seed=i, sampler="process") for i, g in enumerate(gpus)])
    try:
        for m in meter.meters:  # the processes start before the windows (as in begin), then t0
            m.prepare()
        t0 = [g.clock() for g in gpus]
        meter.begin()
        time.sleep(0.3)
        reading = meter.end()
    finally:
        meter.close()
    assert reading.device_count == 2 and reading.method == "nvml-sampled"
    # Each device's window spans the same ~0.3 s (their processes started before either opened),
    # and the reading is both devices' energy over it.
    assert reading.time_s == pytest.approx(0.3, abs=0.1)
    exact = sum(g.trace.energy_j(t, t + reading.time_s) for g, t in zip(gpus, t0, strict=True))
    assert reading.energy_j == pytest.approx(exact, rel=0.10)


def test_a_sampling_process_imports_the_hardware_layer_only() -> None:
    # What the sampling process imports to open a fake or an NVML device: no pandas, pydantic or
    # torch (it started in 0.46 s with 116 MB resident while the table package came along).
    code = (
        "import sys; import profiler.hardware.sampler, profiler.hardware.fake, profiler.hardware.nvml; "
        "print(sorted(m for m in ('pandas', 'pydantic', 'torch', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sampled_meter_in_a_process_reports_read_errors_and_refuses_what_cannot_cross() -> None:
    meter = SampledMeter(FailingGpu(ok_reads=1), sample_hz=200.0, sampler="process")
    try:
        meter.begin()  # the first read is the meter's own, here; the process's copy fails its second
        time.sleep(0.1)
        with pytest.raises(MeasurementError, match="fell off the bus"):
            meter.end()
    finally:
        meter.close()
    with pytest.raises(MeasurementError, match="sampler='thread'"):
        SampledMeter(FakeGpu(RAMP, clock=lambda: time.perf_counter()), sampler="process")  # a lambda does not pickle
    clock = ManualClock()
    with pytest.raises(MeasurementError, match="virtual clock"):
        SampledMeter(FakeGpu(RAMP, clock=clock), clock=clock, wait=lambda e, s: e.wait(s), sampler="process")
    with pytest.raises(MeasurementError, match="unknown sampler"):
        SampledMeter(FakeGpu(RAMP), sampler="fork")  # type: ignore[arg-type]


# --- counter meter -----------------------------------------------------------------


def test_counter_meter_on_replay_equals_exact_energy() -> None:
    trace = load_trace("serving_mix")
    clock = ManualClock()
    gpu = FakeGpu(trace, clock=clock, counter_update_period_s=0.1)
    meter = CounterMeter(gpu, update_period_s=0.1, clock=clock)
    clock.advance(2.0)
    meter.begin()
    clock.advance(30.0)  # window aligned with counter updates
    reading = meter.end()
    assert reading.energy_j == pytest.approx(trace.energy_j(2.0, 32.0), abs=2e-3)  # mJ rounding
    assert reading.time_s == pytest.approx(30.0)
    assert reading.method == "nvml-counter" and reading.scope == "gpu" and reading.samples == 2


def test_counter_meter_unaligned_window_error_bounded_by_one_update() -> None:
    trace = load_trace("decode_bursty_periodic")
    clock = ManualClock(0.237)
    gpu = FakeGpu(trace, clock=clock, counter_update_period_s=0.1)
    meter = CounterMeter(gpu, update_period_s=0.1, clock=clock)
    meter.begin()
    clock.advance(5.318)
    reading = meter.end()
    exact = trace.energy_j(0.237, 0.237 + 5.318)
    # The counter lags by < one update at each end: error < max power x update period.
    assert abs(reading.energy_j - exact) < 300.0 * 0.1
    assert reading.energy_j != pytest.approx(exact, abs=1e-3)  # it really is quantized


def test_counter_meter_unsupported_and_backwards() -> None:
    with pytest.raises(MeasurementError, match="nvml-sampled"):
        CounterMeter(FakeGpu(RAMP, energy_counter=False))
    clock = ManualClock()
    gpu = FakeGpu(RAMP, clock=clock)
    meter = CounterMeter(gpu, clock=clock)
    clock.advance(5.0)
    meter.begin()
    gpu._offset_mj -= 10_000_000  # driver reload resets the counter
    clock.advance(1.0)
    with pytest.raises(MeasurementError, match="backwards"):
        meter.end()


# --- RAPL --------------------------------------------------------------------------


def test_counter_delta_wraps() -> None:
    assert counter_delta(100, 250, 1000) == 150
    assert counter_delta(900, 50, 1000) == 150
    with pytest.raises(ValueError):
        counter_delta(0, 1, 0)


def test_rapl_meter_wrap_around_in_memory() -> None:
    pkg = FakeRaplZone("package-0", max_energy_range_uj=1_000_000, energy_uj=900_000)
    dram = FakeRaplZone("dram", max_energy_range_uj=1_000_000, energy_uj=10)
    meter = RaplMeter([pkg, dram], poll_interval_s=3600)
    assert meter.scope == "cpu+dram"
    meter.begin()
    pkg.add_uj(300_000)  # wraps: 900_000 -> 200_000
    dram.add_uj(50_000)
    reading = meter.end()
    assert pkg.value_uj == 200_000
    assert reading.energy_j == pytest.approx(0.35)
    assert reading.method == "rapl"


def test_rapl_meter_polling_survives_multiple_wraps() -> None:
    pkg = FakeRaplZone("package-0", max_energy_range_uj=1_000_000, energy_uj=500_000)
    meter = RaplMeter([pkg], poll_interval_s=3600)
    assert meter.scope == "cpu"
    meter.begin()
    for _ in range(5):  # 5 x 0.7 of the range: the counter wraps 3 times
        pkg.add_uj(700_000)
        meter.poll()  # what the background thread does every poll_interval_s
    reading = meter.end()
    assert reading.energy_j == pytest.approx(3.5)
    with pytest.raises(MeasurementError, match="outside"):
        meter.poll()


def test_rapl_sysfs_tree_discovery_and_wrap(tmp_path: Path) -> None:
    zones = make_fake_rapl_tree(tmp_path, packages=2, dram=True, max_energy_range_uj=1_000_000)
    found = discover_zones(tmp_path)
    assert sorted(z.name for z in found) == ["dram", "dram", "package-0", "package-1"]  # no 'core'
    set_rapl_energy(zones["package-0"], 990_000)
    meter = make_meter("rapl", "cpu", rapl_root=tmp_path)
    assert isinstance(meter, RaplMeter) and meter.scope == "cpu+dram"
    meter.begin()
    set_rapl_energy(zones["package-0"], 40_000)  # wrapped: +50_000 uJ
    set_rapl_energy(zones["package-1"], 120_000)
    set_rapl_energy(zones["package-0/dram"], 30_000)
    set_rapl_energy(zones["package-0/core"], 999_999)  # must be ignored (inside package)
    reading = meter.end()
    assert reading.energy_j == pytest.approx(0.2)
    assert not any(t.name == "eai-rapl-poll" for t in threading.enumerate())


def test_rapl_unavailable_reasons(tmp_path: Path) -> None:
    ok, reason = rapl_readable(tmp_path / "nope")
    assert not ok and "no RAPL zones" in reason
    with pytest.raises(MeasurementError, match="use meter 'estimated'"):
        make_meter("rapl", "cpu", rapl_root=tmp_path / "nope")


# --- estimated ---------------------------------------------------------------------


def test_estimated_meter_arithmetic_and_flag() -> None:
    cpu = ManualClock()
    wall = ManualClock()
    meter = EstimatedCpuMeter(tdp_w_per_core=180.0, cpu_time=cpu, clock=wall)
    meter.begin()
    cpu.advance(1.5)  # 1.5 CPU seconds over 2 wall seconds
    wall.advance(2.0)
    reading = meter.end()
    assert reading.energy_j == pytest.approx(270.0)
    assert reading.power_w_mean == pytest.approx(135.0)
    assert reading.flags == ("estimated",)
    assert reading.method == "estimated" and reading.scope == "cpu"
    assert EstimatedCpuMeter.from_platform_tdp(tdp_w=20.0, cores=2).tdp_w_per_core == 10.0
    with pytest.raises(MeasurementError):
        EstimatedCpuMeter(tdp_w_per_core=0.0)


def test_estimated_meter_sees_real_cpu_work() -> None:
    meter = EstimatedCpuMeter(tdp_w_per_core=10.0)
    meter.begin()
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    reading = meter.end()
    assert reading.energy_j >= 0.05 * 10.0 * 0.9


# --- selection ---------------------------------------------------------------------


def test_select_meter_cpu_falls_back_to_estimated(tmp_path: Path) -> None:
    meter = select_meter("cpu", tdp_w_per_core=5.0, rapl_root=tmp_path / "none")
    assert isinstance(meter, EstimatedCpuMeter) and meter.method == "estimated"
    with pytest.raises(MeasurementError, match="tdp_w_per_core"):
        select_meter("cpu", rapl_root=tmp_path / "none")


def test_select_meter_cpu_prefers_rapl_when_readable(tmp_path: Path) -> None:
    make_fake_rapl_tree(tmp_path)
    assert isinstance(select_meter("cpu", tdp_w_per_core=5.0, rapl_root=tmp_path), RaplMeter)
    assert isinstance(select_meter("cpu", prefer="estimated", tdp_w_per_core=5.0), EstimatedCpuMeter)


def test_select_meter_names_and_devices() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'nvml-counter'"):
        select_meter("cuda", prefer="nvml-countr")
    with pytest.raises(UnknownNameError, match="did you mean 'estimated'"):
        select_meter("cpu", prefer="estimate")
    with pytest.raises(UnknownNameError, match="device"):
        select_meter("gpu0")
    with pytest.raises(MeasurementError, match="measures cpu devices"):
        select_meter("cuda:1", prefer="rapl")
    with pytest.raises(MeasurementError, match="measures cuda devices"):
        select_meter("cpu", prefer="nvml-sampled")


# --- NVML wrapper with a fake pynvml ------------------------------------------------


class _NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


def _fake_pynvml(energy_supported: bool, instant: bool = True) -> types.ModuleType:
    m = types.ModuleType("pynvml")
    m.NVMLError = _NVMLError  # type: ignore[attr-defined]
    m.NVML_SUCCESS = 0  # type: ignore[attr-defined]
    m.NVML_ERROR_NOT_SUPPORTED = 3  # type: ignore[attr-defined]
    m.NVML_ERROR_FUNCTION_NOT_FOUND = 13  # type: ignore[attr-defined]
    m.NVML_FI_DEV_POWER_INSTANT = 186  # type: ignore[attr-defined]
    m.NVML_CLOCK_SM, m.NVML_CLOCK_MEM, m.NVML_TEMPERATURE_GPU = 1, 2, 0  # type: ignore[attr-defined]
    m.opened = []  # type: ignore[attr-defined]

    def by_index(i: int) -> tuple[str, int]:
        m.opened.append(("index", i))  # type: ignore[attr-defined]
        return ("h", i)

    def by_uuid(u: str) -> tuple[str, int]:
        m.opened.append(("uuid", u))  # type: ignore[attr-defined]
        return ("h", 7)

    def energy(h: object) -> int:
        if not energy_supported:
            raise _NVMLError(3)
        return 5_000_000

    def fields(h: object, ids: list[int]) -> list[types.SimpleNamespace]:
        ret = 0 if instant else 3
        return [types.SimpleNamespace(nvmlReturn=ret, value=types.SimpleNamespace(uiVal=123_000))]

    m.nvmlInit = lambda: None  # type: ignore[attr-defined]
    m.nvmlDeviceGetCount = lambda: 4  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByIndex = by_index  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByUUID = by_uuid  # type: ignore[attr-defined]
    m.nvmlDeviceGetIndex = lambda h: h[1]  # type: ignore[attr-defined]
    m.nvmlDeviceGetName = lambda h: b"NVIDIA Fake-100"  # type: ignore[attr-defined]
    m.nvmlDeviceGetUUID = lambda h: f"GPU-fake-{h[1]}"  # type: ignore[attr-defined]
    m.nvmlSystemGetDriverVersion = lambda: "550.54"  # type: ignore[attr-defined]
    m.nvmlDeviceGetTotalEnergyConsumption = energy  # type: ignore[attr-defined]
    m.nvmlDeviceGetFieldValues = fields  # type: ignore[attr-defined]
    m.nvmlDeviceGetPowerUsage = lambda h: 99_000  # type: ignore[attr-defined]
    m.nvmlDeviceGetEnforcedPowerLimit = lambda h: 300_000  # type: ignore[attr-defined]
    m.nvmlDeviceGetClockInfo = lambda h, c: 1410 if c == 1 else 1215  # type: ignore[attr-defined]
    m.nvmlDeviceGetTemperature = lambda h, s: 55  # type: ignore[attr-defined]
    return m


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    import profiler.hardware.nvml as nvml

    def install(energy_supported: bool, instant: bool = True) -> types.ModuleType:
        mod = _fake_pynvml(energy_supported, instant)
        monkeypatch.setitem(sys.modules, "pynvml", mod)
        monkeypatch.setattr(nvml, "_initialized", False)
        return mod

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return install


def test_nvml_selects_counter_when_supported(fake_nvml) -> None:  # type: ignore[no-untyped-def]
    fake_nvml(energy_supported=True)
    meter = select_meter("cuda")
    assert isinstance(meter, CounterMeter) and meter.method == "nvml-counter"
    dev = meter.device
    assert dev.name() == "NVIDIA Fake-100" and dev.driver_version() == "550.54"
    assert dev.total_energy_mj() == 5_000_000 and dev.power_mw() == 123_000
    assert dev.clocks_mhz() == {"sm": 1410, "mem": 1215} and dev.power_limit_mw() == 300_000


def test_nvml_falls_back_to_sampled_without_counter(fake_nvml) -> None:  # type: ignore[no-untyped-def]
    mod = fake_nvml(energy_supported=False, instant=False)
    meter = select_meter("cuda", sample_hz=25.0)
    assert isinstance(meter, SampledMeter) and meter.sample_hz == 25.0
    # Sampled in a process of its own, which opens the GPU again by its UUID.
    assert meter.sampler == "process"
    import pickle

    pickle.loads(pickle.dumps(meter.device))
    assert mod.opened[-1] == ("uuid", "GPU-fake-0")
    assert meter.device.power_mw() == 99_000  # no instant field: nvmlDeviceGetPowerUsage
    with pytest.raises(MeasurementError, match="nvml-sampled"):
        select_meter("cuda", prefer="nvml-counter")


def test_nvml_maps_cuda_visible_devices(fake_nvml, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    mod = fake_nvml(energy_supported=True)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,GPU-abc")
    # Without the CUDA runtime's UUIDs the visible-devices list is trusted only when CUDA
    # numbers devices in PCI order like NVML.
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    assert select_meter("cuda:0").device.index == 3
    select_meter("cuda:1")
    assert mod.opened == [("index", 3), ("uuid", "GPU-abc")]
    with pytest.raises(MeasurementError, match="not visible"):
        select_meter("cuda:2")


def test_importing_profiler_does_not_import_pynvml_until_nvml_meter_used() -> None:
    code = (
        "import sys\n"
        "import profiler, profiler.hardware, profiler.window, profiler.environment\n"
        "from profiler.hardware import select_meter, make_meter\n"
        "from recommender.errors import MeasurementError\n"
        "select_meter('cpu', tdp_w_per_core=5.0, rapl_root='/nonexistent')\n"
        "assert 'pynvml' not in sys.modules, 'imported too early'\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "try:\n"
        "    make_meter('nvml-counter', 'cuda')\n"
        "except MeasurementError:\n"
        "    pass  # no GPU here; the import is what we check\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('pynvml') is None or 'pynvml' in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_infer_update_period_of_replayed_counter() -> None:
    from profiler.hardware.gpu_meters import infer_update_period_s

    gpu = FakeGpu(RAMP, counter_update_period_s=0.05)  # real-time replay
    period = infer_update_period_s(gpu.total_energy_mj, duration_s=0.4, clock=gpu.clock)
    # Loose bounds: a late poll on a loaded machine shifts when a change is seen.
    assert 0.02 <= period <= 0.15
    frozen = FakeGpu(PowerTrace((0.0, 10.0), (0.0, 0.0)), counter_update_period_s=0.05)
    with pytest.raises(MeasurementError, match="cannot infer"):
        infer_update_period_s(frozen.total_energy_mj, duration_s=0.1, clock=frozen.clock)


# --- every GPU of a deployment ---------------------------------------------------------


def _two_gpu_box(clock: ManualClock, other_pid: int | None = None):  # type: ignore[no-untyped-def]
    from profiler.hardware.fake import FakeNvmlGpu, make_fake_pynvml

    flat = PowerTrace((0.0, 1000.0), (100.0, 100.0), "step")
    busy = PowerTrace((0.0, 1000.0), (300.0, 300.0), "step")
    # NVML index 0 is an A100 at 100 W, index 1 an H100 at 300 W (PCI order).
    gpus = [
        FakeNvmlGpu(FakeGpu(flat, clock=clock, counter_update_period_s=0.0), "GPU-aaaa", "00000000:3B:00.0",
                    name="NVIDIA A100-SXM4-40GB"),
        FakeNvmlGpu(FakeGpu(busy, clock=clock, counter_update_period_s=0.0), "GPU-bbbb", "00000000:86:00.0",
                    name="NVIDIA H100 80GB HBM3", process_ids=[] if other_pid is None else [other_pid]),
    ]
    return make_fake_pynvml(gpus)


def test_cuda_devices_matched_to_nvml_by_uuid_not_ordinal() -> None:
    from profiler.hardware.nvml import CudaIdentity, NvmlDevice

    clock = ManualClock()
    nvml = _two_gpu_box(clock)
    # CUDA numbers the faster H100 first: cuda:0 is NVML index 1.
    dev = NvmlDevice(0, identity=CudaIdentity(0, uuid="bbbb"), pynvml_module=nvml)
    assert dev.index == 1 and dev.name().startswith("NVIDIA H100")
    by_bus = NvmlDevice(1, identity=CudaIdentity(1, pci_bus_id="00000000:3B:00.0"), pynvml_module=nvml)
    assert by_bus.index == 0
    assert nvml.opened == [("uuid", "GPU-bbbb"), ("pci", "00000000:3B:00.0")]


def test_mixed_gpus_without_identity_refuse_to_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    from profiler.hardware.nvml import NvmlDevice

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    nvml = _two_gpu_box(ManualClock())
    with pytest.raises(MeasurementError, match="CUDA_DEVICE_ORDER=PCI_BUS_ID"):
        NvmlDevice(0, pynvml_module=nvml)  # no CUDA runtime here: no UUID to match by
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    assert NvmlDevice(1, pynvml_module=nvml).index == 1


def test_deployment_meter_sums_every_gpu_and_flags_other_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from profiler.hardware.gpu_meters import MultiGpuMeter
    from profiler.hardware.nvml import CudaIdentity, deployment_meter

    clock = ManualClock(5.0)
    nvml = _two_gpu_box(clock)
    ids = {0: CudaIdentity(0, uuid="bbbb"), 1: CudaIdentity(1, uuid="aaaa")}
    meter = deployment_meter((0, 1), identities=ids, pynvml_module=nvml, counter_update_period_s=0.1)
    assert isinstance(meter, MultiGpuMeter) and meter.device_count == 2 and meter.method == "nvml-counter"
    meter.begin()
    clock.advance(2.0)
    reading = meter.end()
    assert reading.energy_j == pytest.approx(2.0 * (100.0 + 300.0))  # both GPUs, not just cuda:0
    assert reading.device_count == 2 and reading.flags == ()

    busy = _two_gpu_box(clock, other_pid=os.getpid() + 1_000_000)
    meter = deployment_meter((0, 1), identities=ids, pynvml_module=busy, counter_update_period_s=0.1)
    meter.begin()
    clock.advance(1.0)
    reading = meter.end()
    assert "other-gpu-processes" in reading.flags and reading.other_process_ids == (os.getpid() + 1_000_000,)
    own = _two_gpu_box(clock, other_pid=os.getpid())  # our own context is not "other"
    meter = deployment_meter((0,), identities=ids, pynvml_module=own, counter_update_period_s=0.1)
    meter.begin()
    clock.advance(1.0)
    assert meter.end().flags == ()
    with pytest.raises(MeasurementError, match="one GPU twice"):
        deployment_meter((0, 1), identities={0: ids[0], 1: ids[0]}, pynvml_module=nvml, counter_update_period_s=0.1)
    sampled = deployment_meter((0, 1), prefer="nvml-sampled", identities=ids, pynvml_module=nvml)
    assert sampled.method == "nvml-sampled" and sampled.device_count == 2


def test_counter_update_period_is_measured_or_flagged_assumed() -> None:
    gpu = FakeGpu(RAMP, counter_update_period_s=0.05)  # real-time replay
    meter = CounterMeter(gpu, clock=gpu.clock, probe_s=0.4)
    assert meter.update_period_measured and 0.02 <= meter.update_period_s <= 0.15
    clock = ManualClock()
    frozen = CounterMeter(FakeGpu(RAMP, clock=clock), clock=clock, probe_s=0.1)  # clock never moves
    assert not frozen.update_period_measured and frozen.update_period_s == 0.1
    frozen.begin()
    clock.advance(1.0)
    assert frozen.end().flags == ("update-period-assumed",)


def test_sampled_meter_flags_aliasing_the_fixed_phase_sampler_missed() -> None:
    from profiler.hardware.fake import VirtualTime

    trace = load_trace("decode_bursty_periodic")  # 10 Hz bursts: 20 Hz fixed-phase sampling aliases
    for jitter, expect_flag in ((True, True), (False, None)):
        clock = VirtualTime(0.045)  # a phase where fixed-rate samples all land in the 70 W gaps
        gpu = FakeGpu(trace, clock=clock)
        meter = SampledMeter(gpu, sample_hz=20.0, clock=clock, wait=clock.wait, jitter=jitter)
        meter.begin()
        clock.advance_to(10.045)
        reading = meter.end()
        exact = trace.energy_j(0.045, 10.045)
        error = abs(reading.energy_j - exact) / exact
        if jitter:
            assert "undersampled" in reading.flags and error < 0.15
        else:
            assert error > 0.5 and "undersampled" not in reading.flags  # silently wrong: why jitter exists
    smooth = load_trace("batch_serving_smooth")
    clock = VirtualTime(3.0)
    meter = SampledMeter(FakeGpu(smooth, clock=clock), sample_hz=20.0, clock=clock, wait=clock.wait)
    meter.begin()
    clock.advance_to(13.0)
    reading = meter.end()
    assert reading.flags == () and reading.error_pct_est is not None and reading.error_pct_est < 1.0
    assert reading.energy_j == pytest.approx(smooth.energy_j(3.0, 13.0), rel=0.002)
