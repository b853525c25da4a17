"""Overhead of the sampled power monitor as a share of a run's wall time (prints figures).

Runs a fixed CPU workload with and without :class:`profiler.hardware.SampledMeter`
sampling in its background thread, and reports

- ``thread CPU``: CPU time the sampling thread itself used (``MeterReading.monitor_cpu_s``,
  measured with ``time.thread_time`` inside the thread) / the window's wall time;
- ``slowdown``: median wall time with the monitor / median without, minus 1.

Two workloads: a pure-Python loop (holds the GIL: the worst case, the sampler has to take
the GIL from it 20 times a second) and numpy matrix products (release the GIL).

The device is a FAKE GPU replaying a synthetic trace: its ``power_mw()`` is a Python
function, not an NVML call, so a real NVML read (a driver ioctl) would cost more per
sample than measured here. The goal is < 1 % of wall time at the default 20 Hz.

Run: ``.venv/bin/python bench/monitor_overhead.py``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from profiler.hardware import SampledMeter
from profiler.hardware.fake import FakeGpu, load_trace


def python_loop(n: int) -> Callable[[], None]:
    def work() -> None:
        acc = 0
        for i in range(n):
            acc += i * i % 7
    return work


def numpy_matmul(size: int, reps: int) -> Callable[[], None]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size))
    b = rng.standard_normal((size, size))

    def work() -> None:
        for _ in range(reps):
            a @ b
    return work


def calibrate(make: Callable[[int], Callable[[], None]], target_s: float) -> Callable[[], None]:
    n = 1
    while True:
        fn = make(n)
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        if dt > target_s / 8:
            return make(max(1, int(n * target_s / dt)))
        n *= 4


def measure(fn: Callable[[], None], hz: float, repeats: int) -> None:
    gpu = FakeGpu(load_trace("decode_bursty_jitter"))
    meter = SampledMeter(gpu, sample_hz=hz, clock=gpu.clock)
    plain: list[float] = []
    monitored: list[float] = []
    shares: list[float] = []
    samples: list[int] = []
    fn()  # warm-up
    for _ in range(repeats):  # interleaved, so drifting machine load hits both alike
        t = time.perf_counter()
        fn()
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        meter.begin()
        fn()
        reading = meter.end()
        monitored.append(time.perf_counter() - t)
        shares.append(100.0 * reading.monitor_cpu_s / reading.time_s)
        samples.append(reading.samples)
    # Median of paired ratios: each monitored run is compared with the plain run just
    # before it, which cancels most of the load other users put on a shared machine.
    ratios = [m / p for m, p in zip(monitored, plain, strict=True)]
    slowdown = 100.0 * (statistics.median(ratios) - 1.0)
    plain_spread = 100.0 * (max(plain) - min(plain)) / statistics.median(plain)
    # On a shared machine the plain runs themselves can vary by more than any overhead;
    # then the slowdown figure says nothing and is marked so.
    verdict = "" if plain_spread < 20.0 else f" UNRELIABLE (plain runs spread {plain_spread:.0f}%)"
    print(
        f"    {hz:6g} Hz: thread CPU {statistics.median(shares):6.3f}% of wall (max {max(shares):.3f}%), "
        f"slowdown {slowdown:+6.2f}% (paired median; plain runs {min(plain):.2f}-{max(plain):.2f} s), "
        f"{statistics.median(samples):.0f} samples/window{verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="target length of one workload run, s")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--rates", type=float, nargs="+", default=[20.0, 100.0, 1000.0])
    args = parser.parse_args()
    print(f"Sampled-monitor overhead (FAKE GPU device; {args.repeats} interleaved runs of ~{args.seconds:g} s each)")
    workloads = {
        "pure-Python loop (holds the GIL)": calibrate(python_loop, args.seconds),
        "numpy 256x256 matmul (releases the GIL)": calibrate(lambda n: numpy_matmul(256, n), args.seconds),
    }
    for name, fn in workloads.items():
        print(f"  {name}")
        for hz in args.rates:
            measure(fn, hz, args.repeats)


if __name__ == "__main__":
    main()
