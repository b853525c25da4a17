"""Measurement windows: sync order, warm-up, repeats, median/spread, flags, gross energy with idle kept
apart, the short-window fallback."""

from __future__ import annotations

import threading
import warnings

import pytest

from profiler.hardware import CounterMeter, MeterReading, SampledMeter, no_sync
from profiler.hardware.fake import FakeGpu, ManualClock, PowerTrace
from profiler.window import (
    IdleBaseline,
    ShortWindowWarning,
    WindowStats,
    measure_idle,
    run_windows,
    spread_pct,
)
from recommender.errors import MeasurementError


class ScriptedMeter:
    """Returns pre-set (energy_j, time_s) readings in order; logs calls."""

    method = "nvml-counter"
    scope = "gpu"
    sample_hz = None

    def __init__(self, readings: list[tuple[float, float]], update_period_s: float = 0.001, log: list[str] | None = None):
        self._readings = list(readings)
        self.update_period_s = update_period_s
        self.log = log if log is not None else []
        self.closed = 0

    def begin(self) -> None:
        self.log.append("begin")

    def end(self) -> MeterReading:
        self.log.append("end")
        energy_j, time_s = self._readings.pop(0)
        return MeterReading(energy_j, time_s, energy_j / time_s, 2, "nvml-counter", "gpu", update_period_s=0.1)

    def close(self) -> None:
        self.closed += 1


def test_window_sync_order_warmup_and_result() -> None:
    log: list[str] = []
    meter = ScriptedMeter([(100.0, 1.0), (101.0, 1.0), (102.0, 1.0)], log=log)
    calls = iter(range(100))

    def fn() -> int:
        log.append("fn")
        return next(calls)

    stats = run_windows(fn, meter, lambda: log.append("sync"), repeats=3, warmup=2)
    assert log[:3] == ["fn", "fn", "sync"]  # warm-up, then drain
    assert log[3:] == ["sync", "begin", "fn", "sync", "end"] * 3
    assert stats.result == 4  # 2 warm-up calls + 3 windows: last returned 4
    assert stats.repeats == 3 and stats.warmup == 2 and len(stats.windows) == 3


def test_median_spread_power_and_flag() -> None:
    meter = ScriptedMeter([(100.0, 2.0), (104.0, 2.1), (98.0, 1.9)])
    stats = run_windows(lambda: None, meter, no_sync)
    assert stats.energy_gross_j_median == 100.0
    assert stats.energy_j_median == 100.0 and not stats.idle_subtracted
    assert stats.energy_net_j_median is None
    assert stats.time_s_median == 2.0
    assert stats.spread_pct == pytest.approx(6.0 / 100.0 * 100)  # 6 %
    assert stats.time_spread_pct == pytest.approx(10.0)
    assert stats.power_w_mean == pytest.approx(302.0 / 6.0)
    assert "high-spread" in stats.flags  # 6 % > 5 %


def test_spread_flag_threshold() -> None:
    tight = run_windows(lambda: None, ScriptedMeter([(100.0, 1.0), (104.9, 1.0), (100.5, 1.0)]), no_sync)
    assert tight.spread_pct == pytest.approx(4.9 / 100.5 * 100)
    assert tight.flags == ()
    wide = run_windows(lambda: None, ScriptedMeter([(100.0, 1.0), (110.0, 1.0), (100.5, 1.0)]), no_sync)
    assert wide.flags == ("high-spread",) and wide.flags_str == "high-spread"


def test_spread_pct_edge_cases() -> None:
    assert spread_pct([5.0]) == 0.0
    assert spread_pct([1.0, 2.0, 3.0]) == pytest.approx(100.0)
    assert spread_pct([-1.0, 0.0, 1.0]) == float("inf")


def test_short_window_warns_and_flags() -> None:
    trace = PowerTrace((0.0, 100.0), (200.0, 200.0), "step")
    clock = ManualClock()
    gpu = FakeGpu(trace, clock=clock, counter_update_period_s=0.1)
    meter = CounterMeter(gpu, update_period_s=0.1, clock=clock)
    with pytest.warns(ShortWindowWarning, match="shorter than"):
        stats = run_windows(lambda: clock.advance(0.04), meter, no_sync, repeats=3, warmup=0, min_window_s=0)
    assert "short-window" in stats.flags
    assert stats.resolution_pct == pytest.approx(250.0)


def test_short_windows_are_lengthened_to_the_counter_resolution() -> None:
    # 40 ms of work at 200 W on a counter that moves every 100 ms: alone, each window's
    # energy is 0 or 20 J for a true 8 J. The fallback repeats the call until the window
    # lasts MIN_WINDOW_PERIODS x 100 ms and divides by the calls.
    trace = PowerTrace((0.0, 100.0), (200.0, 200.0), "step")
    clock = ManualClock(0.013)
    gpu = FakeGpu(trace, clock=clock, counter_update_period_s=0.1)
    meter = CounterMeter(gpu, update_period_s=0.1, clock=clock)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShortWindowWarning)
        stats = run_windows(lambda: clock.advance(0.04), meter, no_sync, repeats=3, warmup=1)
    assert stats.calls_per_window == 550  # ceil(1.1 x 200 x 0.1 s / 0.04 s)
    assert "short-window" not in stats.flags
    assert stats.energy_j_median == pytest.approx(8.0, rel=0.01)
    assert stats.time_s_median == pytest.approx(0.04)
    assert all(w.calls == 550 for w in stats.windows)


def test_long_window_does_not_warn() -> None:
    trace = PowerTrace((0.0, 100.0), (200.0, 200.0), "step")
    clock = ManualClock()
    gpu = FakeGpu(trace, clock=clock, counter_update_period_s=0.1)
    meter = CounterMeter(gpu, update_period_s=0.1, clock=clock)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShortWindowWarning)
        stats = run_windows(lambda: clock.advance(2.0), meter, no_sync, repeats=3, warmup=0, min_window_s=1.0)
    assert stats.flags == () and stats.calls_per_window == 1
    assert stats.energy_gross_j_median == pytest.approx(400.0)


def test_idle_is_recorded_never_subtracted_on_replay() -> None:
    # 0-10 s idle at 50 W, then the workload at 150 W.
    trace = PowerTrace((0.0, 10.0, 1000.0), (50.0, 150.0, 150.0), "step")
    clock = ManualClock()
    gpu = FakeGpu(trace, clock=clock, counter_update_period_s=0.1)
    meter = CounterMeter(gpu, update_period_s=0.1, clock=clock)
    idle = measure_idle(meter, seconds=10.0, sleep=clock.advance)
    assert idle == IdleBaseline(power_w=50.0, time_s=10.0, energy_j=500.0, method="nvml-counter", scope="gpu")
    stats = run_windows(lambda: clock.advance(2.0), meter, no_sync, repeats=3, warmup=1, idle=idle,
                        min_window_s=1.0)
    assert stats.energy_gross_j_median == pytest.approx(300.0)
    assert stats.energy_net_j_median == pytest.approx(300.0 - 50.0 * 2.0)  # for information only
    assert stats.energy_j_median == stats.energy_gross_j_median and not stats.idle_subtracted
    assert stats.idle_power_w == 50.0
    assert all(w.energy_net_j == pytest.approx(200.0) for w in stats.windows)


def test_defaults_are_one_warmup_and_three_repeats() -> None:
    log: list[str] = []
    stats = run_windows(lambda: log.append("fn"), ScriptedMeter([(10.0, 1.0)] * 3), no_sync)
    assert stats.warmup == 1 and stats.repeats == 3 and len(log) == 4


def test_energy_below_idle_is_still_reported_gross() -> None:
    idle = IdleBaseline(power_w=60.0, time_s=10.0, energy_j=600.0, method="nvml-counter", scope="gpu")
    stats = run_windows(lambda: None, ScriptedMeter([(50.0, 1.0)] * 3), no_sync, idle=idle)
    assert stats.energy_net_j_median == pytest.approx(-10.0)
    assert stats.energy_j_median == pytest.approx(50.0) and stats.flags == ()


def test_idle_from_other_meter_rejected_and_bad_args() -> None:
    idle = IdleBaseline(power_w=60.0, time_s=10.0, energy_j=600.0, method="rapl", scope="cpu")
    with pytest.raises(MeasurementError, match="same meter"):
        run_windows(lambda: None, ScriptedMeter([(1.0, 1.0)]), no_sync, idle=idle)
    with pytest.raises(MeasurementError, match="repeats"):
        run_windows(lambda: None, ScriptedMeter([]), no_sync, repeats=0)
    with pytest.raises(MeasurementError, match="warmup"):
        run_windows(lambda: None, ScriptedMeter([]), no_sync, warmup=-1)
    with pytest.raises(MeasurementError, match="idle window"):
        measure_idle(ScriptedMeter([]), seconds=0.0)


def test_failing_fn_closes_meter_and_propagates() -> None:
    gpu = FakeGpu(PowerTrace((0.0, 10.0), (100.0, 100.0)))
    meter = SampledMeter(gpu, sample_hz=50.0, clock=gpu.clock)

    def boom() -> None:
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        run_windows(boom, meter, no_sync, warmup=0)
    assert not any(t.name == "eai-power-sampler" for t in threading.enumerate())  # the sampler was stopped
    meter.begin()  # and the meter is usable again
    meter.end()


def test_estimated_flag_propagates_from_readings() -> None:
    from profiler.hardware import EstimatedCpuMeter

    cpu, wall = ManualClock(), ManualClock()
    meter = EstimatedCpuMeter(10.0, cpu_time=cpu, clock=wall)

    def work() -> None:
        cpu.advance(1.0)
        wall.advance(1.0)

    stats: WindowStats[None] = run_windows(work, meter, no_sync)
    assert stats.flags == ("estimated",)
    assert stats.energy_j_median == pytest.approx(10.0) and stats.method == "estimated"


def test_row_fields_make_a_valid_measured_row() -> None:
    from recommender.table.schema import MeasuredRow

    idle = IdleBaseline(power_w=50.0, time_s=10.0, energy_j=500.0, method="nvml-counter", scope="gpu")
    stats = run_windows(lambda: None, ScriptedMeter([(400.0, 2.0), (410.0, 2.0), (405.0, 2.0)]), no_sync, idle=idle)
    fields = stats.row_fields(query_count=100, output_tokens_total=2000)
    assert fields["energy_j_per_query"] == pytest.approx(4.05)  # gross: idle not taken out
    assert fields["energy_gross_j_per_query"] == pytest.approx(4.05)
    assert fields["idle_power_w"] == 50.0 and fields["idle_subtracted"] is False
    assert fields["energy_j_per_output_token"] == pytest.approx(405.0 / 2000)
    assert fields["time_s_per_query"] == pytest.approx(0.02)
    row = MeasuredRow(
        platform="a100-sxm4-40gb", device_count=1, engine="hf-transformers", model_id="m/x",
        params_total_b=7.0, params_active_b=7.0, quantization="fp16", batch_size=1, workload="gsm8k",
        source="eai-profiler", source_ref="test", **fields,  # type: ignore[arg-type]
    )
    assert not row.idle_subtracted and row.idle_power_w == 50.0 and row.energy_method == "nvml-counter"
    # A static batch of 8 queries: each waits for its batch, so its latency is 8x the amortized
    # time and energy x in flight / time is the window's mean power (here 202.5 W).
    batched = stats.row_fields(query_count=100, queries_in_flight=8.0)
    assert batched["time_s_per_query"] == pytest.approx(0.16)
    assert batched["energy_j_per_query"] * 8.0 / batched["time_s_per_query"] == pytest.approx(405.0 / 2.0)
    assert stats.row_fields(query_count=4, queries_in_flight=32.0)["time_s_per_query"] == pytest.approx(2.0)
    bad = run_windows(lambda: None, ScriptedMeter([(0.0, 1.0)] * 3), no_sync, idle=idle)
    with pytest.raises(MeasurementError, match="not positive"):
        bad.row_fields(query_count=10)
    with pytest.raises(MeasurementError, match="query_count"):
        stats.row_fields(query_count=0)
