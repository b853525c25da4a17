"""Energy integration error on replayed bursty power traces (prints figures).

Compares, against the exact integral of each trace in ``profiler/traces``:

- ``counter``: the NVML total-energy counter (updates every 100 ms), read at both window
  ends with :class:`profiler.hardware.CounterMeter`;
- ``sampled <hz>``: the sampling scheme of :class:`profiler.hardware.SampledMeter`
  (one sample at begin, then every ``1/hz`` s, one at end; trapezoid rule) at the default
  20 Hz and at the 1 Hz the replaced study used.

Windows of several lengths start at random (seeded) offsets, so the sampling phase
relative to the bursts varies; the error is reported per window as
``100 * (measured - exact) / exact``. Power readings are the trace's instantaneous power
(``--power-avg-s`` models a boxcar-averaged reading instead).

A final section runs the real threaded ``SampledMeter`` at 20 Hz on a real-time replay
for a few windows, to check that the threaded implementation matches the simulation.

All traces are synthetic (see ``profiler/traces/README.md``); the device is a fake.

Run: ``.venv/bin/python bench/energy_integration.py``
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time

from profiler.hardware import CounterMeter, SampledMeter, integrate_trapezoid
from profiler.hardware.fake import FakeGpu, ManualClock, PowerTrace, bundled_traces, load_trace


def sampled_energy_j(gpu: FakeGpu, clock: ManualClock, t0: float, t1: float, hz: float) -> float:
    """Energy as SampledMeter computes it, on simulated time."""
    times: list[float] = []
    powers: list[float] = []
    k = 0
    while True:
        t = t0 + k / hz
        if t >= t1:
            break
        clock.now_s = t
        times.append(t)
        powers.append(gpu.power_mw() / 1000.0)
        k += 1
    clock.now_s = t1
    times.append(t1)
    powers.append(gpu.power_mw() / 1000.0)
    return integrate_trapezoid(times, powers)


def counter_energy_j(gpu: FakeGpu, clock: ManualClock, t0: float, t1: float) -> float:
    """Energy as CounterMeter computes it, on simulated time."""
    meter = CounterMeter(gpu, update_period_s=gpu.counter_update_period_s, clock=clock)
    clock.now_s = t0
    meter.begin()
    clock.now_s = t1
    return meter.end().energy_j


def summarize(errors_pct: list[float]) -> str:
    abs_err = [abs(e) for e in errors_pct]
    return (
        f"mean|err| {statistics.fmean(abs_err):6.2f}%  "
        f"p95|err| {sorted(abs_err)[max(0, math.ceil(0.95 * len(abs_err)) - 1)]:6.2f}%  "
        f"max|err| {max(abs_err):6.2f}%  bias {statistics.fmean(errors_pct):+6.2f}%"
    )


def simulate(trace: PowerTrace, window_s: float, n_windows: int, rates_hz: list[float], power_avg_s: float, seed: int) -> None:
    rng = random.Random(seed)
    clock = ManualClock()
    gpu = FakeGpu(trace, clock=clock, counter_update_period_s=0.1, power_update_period_s=power_avg_s)
    starts = [rng.uniform(1.0, 1.0 + trace.duration_s) for _ in range(n_windows)]
    results: dict[str, list[float]] = {"counter 100ms": []}
    for hz in rates_hz:
        results[f"sampled {hz:g} Hz"] = []
    # Lengths jitter +-5 % so windows are not whole multiples of a periodic trace's period
    # (real windows never are; whole multiples would make the counter look exact).
    lengths = [window_s * rng.uniform(0.95, 1.05) for _ in range(n_windows)]
    for t0, length in zip(starts, lengths, strict=True):
        t1 = t0 + length
        exact = trace.energy_j(t0, t1)
        results["counter 100ms"].append(100.0 * (counter_energy_j(gpu, clock, t0, t1) - exact) / exact)
        for hz in rates_hz:
            measured = sampled_energy_j(gpu, clock, t0, t1, hz)
            results[f"sampled {hz:g} Hz"].append(100.0 * (measured - exact) / exact)
    print(f"  window ~{window_s:g} s (+-5 %) x {n_windows} windows")
    for name, errs in results.items():
        print(f"    {name:16s} {summarize(errs)}")


def realtime_check(trace_name: str, windows: int, window_s: float, hz: float) -> None:
    trace = load_trace(trace_name)
    gpu = FakeGpu(trace, counter_update_period_s=0.1)  # real-time replay
    meter = SampledMeter(gpu, sample_hz=hz, clock=gpu.clock)
    errs: list[float] = []
    rates: list[float] = []
    for _ in range(windows):
        t0 = gpu.clock()
        meter.begin()
        time.sleep(window_s)
        reading = meter.end()
        # The first sample is taken at (just after) t0 and the last at t0 + time_s.
        exact = trace.energy_j(t0, t0 + reading.time_s)
        errs.append(100.0 * (reading.energy_j - exact) / exact)
        rates.append((reading.samples - 1) / reading.time_s)
    print(
        f"  real-time SampledMeter {hz:g} Hz on {trace_name}, {windows} x {window_s:g} s: "
        f"{summarize(errs)}; achieved rate {statistics.fmean(rates):.1f} Hz"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=100, help="random windows per (trace, length)")
    parser.add_argument("--lengths", type=float, nargs="+", default=[60.0, 10.0, 2.0], help="window lengths, s")
    parser.add_argument("--rates", type=float, nargs="+", default=[20.0, 1.0], help="sampling rates, Hz")
    parser.add_argument("--power-avg-s", type=float, default=0.0, help="boxcar-average the power reading over this, s")
    parser.add_argument("--realtime-windows", type=int, default=3)
    parser.add_argument("--realtime-s", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    reading = "instantaneous" if args.power_avg_s == 0 else f"{args.power_avg_s:g} s boxcar average"
    print(f"Energy integration error vs exact integral (synthetic traces, fake GPU, power reading: {reading})")
    for name in bundled_traces():
        trace = load_trace(name)
        print(f"{name}: {trace.duration_s:.1f} s, mean power {trace.period_energy_j / trace.duration_s:.1f} W")
        for length in args.lengths:
            simulate(trace, length, args.windows, args.rates, args.power_avg_s, args.seed)
    if args.realtime_windows > 0:
        print("Threaded implementation check (real time):")
        realtime_check("decode_bursty_jitter", args.realtime_windows, args.realtime_s, 20.0)


if __name__ == "__main__":
    main()
