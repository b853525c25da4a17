"""Energy integration error of the REAL meters on replayed power traces; exits 1 past its goals.

Every window is measured by the profiler's own classes, :class:`profiler.hardware.CounterMeter`
and the threaded :class:`profiler.hardware.SampledMeter`, reading a
:class:`profiler.hardware.fake.FakeGpu` that replays a trace from ``profiler/traces``
(all synthetic, see its README). Time is :class:`profiler.hardware.fake.VirtualTime`: the
sampler's thread really runs and waits, but on simulated time, so minutes of trace replay
in a second and every run takes the same samples.

Goals (exit code 1 when one is missed):

1. ``counter``: |error| < 1 % on every window of the profiler's minimum length
   (:data:`profiler.window.MIN_WINDOW_PERIODS` x the counter's update period, which is
   first MEASURED on a real-time replay with :func:`infer_update_period_s`, not assumed).
2. ``sampled`` at the profiler's rate (:data:`DEFAULT_SAMPLE_HZ`), windows of the
   profiler's minimum length: every window the meter does not flag ``undersampled`` has
   |error| < 1 %.
3. The flag means something: no window of the trace a 20 Hz sampler resolves
   (``batch_serving_smooth``) is flagged, and every window of the periodic 10 Hz burst
   trace (``decode_bursty_periodic``: the aliasing case) is.

For information it also prints the fixed-phase sampler (``jitter=False``, what the meter
did before) and 1 Hz sampling (the rate of the replaced study), and short 2 s windows,
which the profiler lengthens (its short-window fallback) rather than reports.

Run: ``.venv/bin/python bench/energy_integration.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from dataclasses import dataclass

from profiler.hardware import CounterMeter, SampledMeter
from profiler.hardware.fake import FakeGpu, PowerTrace, RealTimeClock, VirtualTime, bundled_traces, load_trace
from profiler.hardware.gpu_meters import DEFAULT_SAMPLE_HZ, infer_update_period_s
from profiler.window import MIN_WINDOW_PERIODS

GOAL_PCT = 1.0
COUNTER_PERIOD_S = 0.1  # what the fake's counter does; the bench measures it back
RESOLVABLE = "batch_serving_smooth"
ALIASING = "decode_bursty_periodic"


@dataclass
class Window:
    error_pct: float
    flagged: bool
    error_pct_est: float | None


def windows_for(trace: PowerTrace, length_s: float, n: int, seed: int) -> list[tuple[float, float]]:
    """``n`` (start, length) pairs: random starts, lengths +-5 % (never whole trace periods)."""
    rng = random.Random(seed)
    return [(rng.uniform(1.0, 1.0 + trace.duration_s), length_s * rng.uniform(0.95, 1.05)) for _ in range(n)]


def counter_windows(trace: PowerTrace, spans: list[tuple[float, float]], period_s: float) -> list[Window]:
    clock = VirtualTime()
    gpu = FakeGpu(trace, clock=clock, counter_update_period_s=COUNTER_PERIOD_S)
    meter = CounterMeter(gpu, update_period_s=period_s, clock=clock)
    out = []
    for t0, length in spans:
        clock.advance_to(max(clock(), t0) if clock() <= t0 else clock(), sampler=False)
        start = clock()
        meter.begin()
        clock.advance_to(start + length, sampler=False)
        reading = meter.end()
        exact = trace.energy_j(start, start + reading.time_s)
        out.append(Window(100.0 * (reading.energy_j - exact) / exact, bool(reading.flags), None))
    return out


def sampled_windows(trace: PowerTrace, spans: list[tuple[float, float]], hz: float, jitter: bool,
                    seed: int) -> list[Window]:
    clock = VirtualTime()
    gpu = FakeGpu(trace, clock=clock)
    meter = SampledMeter(gpu, sample_hz=hz, clock=clock, wait=clock.wait, jitter=jitter, seed=seed)
    out = []
    for t0, length in spans:
        if clock() < t0:
            clock.advance_to(t0, sampler=False)
        start = clock()
        meter.begin()
        clock.advance_to(start + length)
        reading = meter.end()
        exact = trace.energy_j(start, start + reading.time_s)
        out.append(Window(100.0 * (reading.energy_j - exact) / exact, "undersampled" in reading.flags,
                          reading.error_pct_est))
    return out


def summarize(ws: list[Window]) -> str:
    errs = [abs(w.error_pct) for w in ws]
    p95 = sorted(errs)[max(0, math.ceil(0.95 * len(errs)) - 1)]
    flagged = sum(w.flagged for w in ws)
    unflagged = [abs(w.error_pct) for w in ws if not w.flagged]
    worst_unflagged = f"{max(unflagged):6.2f}%" if unflagged else "   n/a"
    return (f"mean|err| {statistics.fmean(errs):6.2f}%  p95 {p95:6.2f}%  max {max(errs):6.2f}%  "
            f"flagged {flagged:3d}/{len(ws)}  max|err| unflagged {worst_unflagged}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=40, help="random windows per trace and check")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    failures: list[str] = []

    probe = FakeGpu(load_trace(RESOLVABLE), clock=RealTimeClock(), counter_update_period_s=COUNTER_PERIOD_S)
    period_s = infer_update_period_s(probe.total_energy_mj, duration_s=1.0, clock=probe.clock)
    counter_min_s = MIN_WINDOW_PERIODS * period_s
    sampled_min_s = MIN_WINDOW_PERIODS / DEFAULT_SAMPLE_HZ
    print(f"counter update period measured on a real-time replay: {period_s * 1000:.1f} ms "
          f"(fake set to {COUNTER_PERIOD_S * 1000:.0f} ms); profiler minimum windows: counter "
          f"{counter_min_s:.1f} s, sampled {DEFAULT_SAMPLE_HZ:g} Hz {sampled_min_s:.1f} s")
    if abs(period_s - COUNTER_PERIOD_S) > 0.2 * COUNTER_PERIOD_S:
        failures.append(f"measured counter period {period_s:.3f} s is not the replayed {COUNTER_PERIOD_S} s")

    for i, name in enumerate(bundled_traces()):
        trace = load_trace(name)
        print(f"\n{name}: {trace.duration_s:.1f} s, mean {trace.period_energy_j / trace.duration_s:.1f} W")
        spans_c = windows_for(trace, counter_min_s, args.windows, args.seed + i)
        counter = counter_windows(trace, spans_c, period_s)
        print(f"  counter, {counter_min_s:4.1f} s windows      {summarize(counter)}")
        worst = max(abs(w.error_pct) for w in counter)
        if worst >= GOAL_PCT:
            failures.append(f"{name}: counter error {worst:.2f} % >= {GOAL_PCT} % at {counter_min_s:.1f} s windows")

        spans_s = windows_for(trace, sampled_min_s, args.windows, args.seed + 100 + i)
        sampled = sampled_windows(trace, spans_s, DEFAULT_SAMPLE_HZ, jitter=True, seed=args.seed + i)
        print(f"  sampled {DEFAULT_SAMPLE_HZ:g} Hz, {sampled_min_s:4.1f} s       {summarize(sampled)}")
        bad = [w for w in sampled if not w.flagged and abs(w.error_pct) >= GOAL_PCT]
        if bad:
            failures.append(f"{name}: {len(bad)} unflagged sampled window(s) with error >= {GOAL_PCT} % "
                            f"(worst {max(abs(w.error_pct) for w in bad):.2f} %)")
        flagged = sum(w.flagged for w in sampled)
        if name == RESOLVABLE and flagged:
            failures.append(f"{name}: {flagged} window(s) of a resolvable trace flagged undersampled")
        if name == ALIASING and flagged < len(sampled):
            failures.append(f"{name}: {len(sampled) - flagged} aliasing window(s) not flagged")

        fixed = sampled_windows(trace, spans_s, DEFAULT_SAMPLE_HZ, jitter=False, seed=0)
        print(f"  (info) fixed-phase {DEFAULT_SAMPLE_HZ:g} Hz          {summarize(fixed)}")
        slow = sampled_windows(trace, spans_s, 1.0, jitter=True, seed=0)
        print(f"  (info) sampled 1 Hz               {summarize(slow)}")
        short = counter_windows(trace, windows_for(trace, 2.0, args.windows, args.seed), period_s)
        print(f"  (info) counter, 2 s windows       {summarize(short)}  <- lengthened by the profiler")

    print()
    if failures:
        for f in failures:
            print(f"FAIL {f}")
        return 1
    print(f"PASS counter < {GOAL_PCT} % on every trace; sampled < {GOAL_PCT} % on every unflagged window; "
          f"{RESOLVABLE} never flagged, {ALIASING} always flagged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
