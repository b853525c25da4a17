"""GPU energy meters over any :class:`~profiler.hardware.base.GpuDevice`.

- :class:`CounterMeter` (``nvml-counter``): difference of the device's cumulative energy
  counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ, Volta and newer). Sees every joule,
  but the counter only moves every ``update_period_s``.
- :class:`SampledMeter` (``nvml-sampled``): power polled in the background (a thread, or a
  process of its own: :mod:`profiler.hardware.sampler`) at ``sample_hz`` and integrated with
  the trapezoid rule; for GPUs without the counter.

Neither imports ``pynvml``: they read whatever device they are given (the NVML wrapper in
:mod:`profiler.hardware.nvml` or a fake), so the same code runs in tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Literal

from profiler.hardware.base import GpuDevice, MeterReading, counter_reading, integrate_trapezoid, power_mean_w
from profiler.hardware.sampler import ProcessSampler, Sampler, ThreadSampler
from recommender.errors import MeasurementError

DEFAULT_SAMPLE_HZ = 20.0
"""Default power sampling rate of :class:`SampledMeter`, Hz (the study used 1 Hz)."""

DEFAULT_COUNTER_UPDATE_PERIOD_S = 0.1
"""Assumed update period of the NVML energy counter, seconds.

The driver refreshes its counters at a GPU-dependent rate, as slow as 10 Hz on some
models (Zeus, ``ml-energy/zeus`` ``zeus/monitor/power.py``, ``infer_counter_update_period``);
100 ms is that conservative end, used for the ``short-window`` check. Measure the real
period of a device with :func:`infer_update_period_s`. Power *readings* are worse: on A100
and H100 only about 25 % of the runtime is sampled (Yang et al., "Part-time Power
Measurements: nvidia-smi's Lack of Attention", arXiv:2312.02741), which is why the counter
is preferred.
"""


def infer_update_period_s(
    read: Callable[[], int],
    duration_s: float = 1.0,
    clock: Callable[[], float] = time.perf_counter,
    poll_s: float = 0.001,
) -> float:
    """Typical interval between changes of a device value, seconds.

    Polls ``read`` (e.g. ``device.total_energy_mj``) every ``poll_s`` for ``duration_s``
    of wall time and returns the median time (on ``clock``) between consecutive observed
    changes (the median, so one late poll does not shorten or lengthen the answer). On an
    idle GPU the energy counter still moves (idle power), so this works without load.

    Raises:
        MeasurementError: If the value changed fewer than three times (period longer than
            the probe, or a frozen counter).
    """
    change_times: list[float] = []
    last = read()
    wall_end = time.perf_counter() + duration_s  # bounded in wall time even on a frozen clock
    while time.perf_counter() < wall_end:
        time.sleep(poll_s)
        value = read()
        if value != last:
            change_times.append(clock())
            last = value
    if len(change_times) < 3:
        raise MeasurementError(
            f"value changed {len(change_times)} time(s) in {duration_s} s; cannot infer its update "
            "period (probe longer, or the counter is not moving)"
        )
    gaps = sorted(b - a for a, b in zip(change_times, change_times[1:], strict=False))
    return gaps[len(gaps) // 2]


class CounterMeter:
    """``nvml-counter``: energy from the device's cumulative counter.

    Args:
        device: GPU whose ``total_energy_mj()`` works.
        update_period_s: How often the counter moves, seconds (for the short-window check
            and the minimum window). None: measured on the device with
            :func:`infer_update_period_s` (``probe_s`` of polling); if the counter does not
            move often enough to measure, :data:`DEFAULT_COUNTER_UPDATE_PERIOD_S` is used and
            every reading carries the flag ``update-period-assumed``.
        clock: Monotonic clock in seconds; the device's clock when replaying fakes.
        probe_s: Wall time spent measuring the update period, seconds.

    Attributes:
        update_period_measured: Whether ``update_period_s`` was measured (or given) rather
            than assumed.

    Raises:
        MeasurementError: If the device has no energy counter.
    """

    method: Literal["nvml-counter"] = "nvml-counter"
    scope: Literal["gpu"] = "gpu"
    sample_hz: float | None = None

    def __init__(
        self,
        device: GpuDevice,
        update_period_s: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
        probe_s: float = 1.0,
    ) -> None:
        if not device.supports_energy_counter():
            raise MeasurementError(
                f"GPU {device.index} ({device.name()}) has no total-energy counter "
                "(NVML supports it from Volta on); use meter 'nvml-sampled' instead"
            )
        self.device = device
        self._clock = clock
        self.update_period_measured = True
        if update_period_s is None:
            try:
                update_period_s = infer_update_period_s(device.total_energy_mj, duration_s=probe_s, clock=clock)
            except MeasurementError:
                update_period_s = DEFAULT_COUNTER_UPDATE_PERIOD_S
                self.update_period_measured = False
        self.update_period_s = float(update_period_s)
        self._start: tuple[float, int] | None = None

    def begin(self) -> None:
        """Read the counter and the clock at the start of a window."""
        self._start = (self._clock(), self.device.total_energy_mj())

    def end(self) -> MeterReading:
        """Read the counter again and return the window's energy.

        Raises:
            MeasurementError: If :meth:`begin` was not called or the counter went backwards
                (driver reloaded during the window).
        """
        if self._start is None:
            raise MeasurementError("CounterMeter.end() called without begin()")
        energy_end_mj = self.device.total_energy_mj()
        t_end = self._clock()
        t_start, energy_start_mj = self._start
        self._start = None
        delta_mj = energy_end_mj - energy_start_mj
        if delta_mj < 0:
            raise MeasurementError(
                f"GPU {self.device.index} energy counter went backwards "
                f"({energy_start_mj} -> {energy_end_mj} mJ); was the driver reloaded? repeat the run"
            )
        energy_j = delta_mj / 1000.0
        time_s = t_end - t_start
        flags = () if self.update_period_measured else ("update-period-assumed",)
        return counter_reading(self, energy_j, time_s, flags)

    def close(self) -> None:
        """Nothing to release (no thread)."""
        self._start = None


UNDERSAMPLED_PCT = 1.0
"""Estimated integration error (2 sigma, percent) above which a sampled window is flagged
``undersampled``: the power changed faster than the meter samples it."""


def sampled_error_pct(powers_w: list[float], energy_j: float, time_s: float) -> float:
    """Estimated 2-sigma integration error of a sampled window, percent of its energy.

    With sample times drawn at random within each sampling interval, the integral of power
    that changes faster than the samples behaves like a stratified Monte Carlo mean: its
    error is about ``s / sqrt(n)`` of the mean power, where ``s`` is the sample-to-sample
    variability. ``s`` is von Neumann's successive-difference estimate
    (``s^2 = sum((p_i - p_(i-1))^2) / (2 (n - 1))``), which ignores slow trends the
    trapezoid rule integrates correctly and sees only what the samples cannot resolve.

    Returns:
        ``200 * s / sqrt(n) / mean power``; ``inf`` for fewer than 3 samples or no energy.
    """
    n = len(powers_w)
    if n < 3 or not energy_j > 0 or not time_s > 0:
        return math.inf
    s2 = sum((b - a) ** 2 for a, b in zip(powers_w, powers_w[1:], strict=False)) / (2 * (n - 1))
    return 200.0 * math.sqrt(s2 / n) / (energy_j / time_s)


class SampledMeter:
    """``nvml-sampled``: power polled in the background, trapezoid-integrated.

    One sample is taken synchronously in :meth:`begin` and one in :meth:`end`, so the
    integral spans exactly the window; the sampler fills in one sample per ``1 / sample_hz``
    interval in between. With ``jitter`` (default) each sample falls at a random point of
    its interval (stratified sampling): a fixed-rate sampler locked in phase with a periodic
    load (a decode step every 100 ms sampled every 50 ms) reads the same phase every time
    and can be off by half the power swing without any sign of it; random phases make the
    error unbiased and visible in the samples' own spread. Each reading carries that
    estimate (``error_pct_est``, :func:`sampled_error_pct`) and the flag ``undersampled``
    when it exceeds ``undersampled_pct``.

    Where the background samples are taken is ``sampler`` (:mod:`profiler.hardware.sampler`):
    ``thread`` (default; any clock, virtual ones included) or ``process`` (a process of its
    own, kept across windows: the measured code never yields the GIL to it; what the NVML
    meters use).

    Args:
        device: GPU to read ``power_mw()`` from.
        sample_hz: Sampling rate on ``clock``'s time scale, Hz (default 20; must be > 0).
        power_update_period_s: How often the driver refreshes its power reading, s; the
            meter's ``update_period_s`` is the larger of this and ``1 / sample_hz``.
        clock: Monotonic clock in seconds; the device's clock when replaying fakes.
        wait: How the sampling thread waits ``seconds`` of ``clock`` time or until the stop
            event is set (returns whether it was set). Default ``event.wait(seconds)`` (real
            time); replays on :class:`~profiler.hardware.fake.VirtualTime` pass its ``wait``.
            Thread sampler only.
        jitter: Random sample phase within each interval (see above).
        undersampled_pct: Threshold of the ``undersampled`` flag, percent.
        seed: Seed of the jitter (reproducible replays).
        sampler: ``thread`` or ``process`` (see above).

    Raises:
        MeasurementError: ``sample_hz`` not > 0, an unknown ``sampler``, a ``wait`` given to
            the process sampler, or a device or clock that cannot be sent to a process.
    """

    method: Literal["nvml-sampled"] = "nvml-sampled"
    scope: Literal["gpu"] = "gpu"

    def __init__(
        self,
        device: GpuDevice,
        sample_hz: float = DEFAULT_SAMPLE_HZ,
        power_update_period_s: float = 0.0,
        clock: Callable[[], float] = time.perf_counter,
        wait: Callable[[threading.Event, float], bool] | None = None,
        jitter: bool = True,
        undersampled_pct: float = UNDERSAMPLED_PCT,
        seed: int | None = 0,
        sampler: Literal["thread", "process"] = "thread",
    ) -> None:
        if not sample_hz > 0:
            raise MeasurementError(f"sample_hz must be > 0, got {sample_hz}")
        self.device = device
        self.sample_hz: float | None = float(sample_hz)
        self.update_period_s = max(1.0 / float(sample_hz), float(power_update_period_s))
        self._clock = clock
        self.undersampled_pct = float(undersampled_pct)
        self._times_s: list[float] = []
        self._powers_w: list[float] = []
        self._open = False
        interval_s = 1.0 / float(sample_hz)
        self._sampler: Sampler
        if sampler == "thread":
            self._sampler = ThreadSampler(device, clock, wait if wait is not None else (lambda event, seconds: event.wait(seconds)),
                                          interval_s, jitter, seed)
        elif sampler == "process":
            if wait is not None:
                raise MeasurementError("a custom wait (a virtual clock) cannot drive a sampling process; use sampler='thread'")
            self._sampler = ProcessSampler(device, clock, interval_s, jitter, seed)
        else:
            raise MeasurementError(f"unknown sampler {sampler!r}; use 'thread' or 'process'")
        self.sampler = sampler

    def _sample(self) -> None:
        power_w = self.device.power_mw() / 1000.0
        self._times_s.append(self._clock())
        self._powers_w.append(power_w)

    def prepare(self) -> None:
        """Start the background sampler ahead of a window (a sampling process: once per meter,
        0.07 s here; a thread: nothing to do). :meth:`begin` calls it too."""
        self._sampler.prepare()

    def begin(self) -> None:
        """Take the first sample and start the background sampling.

        Raises:
            MeasurementError: If a window is already open, or the sampler could not start.
        """
        if self._open:
            raise MeasurementError("SampledMeter.begin() called twice without end()")
        self._times_s, self._powers_w = [], []
        self.prepare()  # a sampling process starts before the window, not inside it
        self._sample()
        self._sampler.start(self._times_s[0])
        self._open = True

    def end(self) -> MeterReading:
        """Stop the background sampling, take the last sample, integrate.

        Raises:
            MeasurementError: If no window is open or a device read failed while sampling.
        """
        if not self._open:
            raise MeasurementError("SampledMeter.end() called without begin()")
        self._open = False
        strata = self._sampler.stop()
        self._sample()
        times_s = [self._times_s[0], *strata.times_s, self._times_s[-1]]
        powers_w = [self._powers_w[0], *strata.powers_w, self._powers_w[-1]]
        energy_j = integrate_trapezoid(times_s, powers_w)
        time_s = times_s[-1] - times_s[0]
        error_pct = sampled_error_pct(powers_w, energy_j, time_s)
        flags = ("undersampled",) if error_pct > self.undersampled_pct else ()
        return MeterReading(
            energy_j=energy_j,
            time_s=time_s,
            power_w_mean=power_mean_w(energy_j, time_s),
            samples=len(times_s),
            method=self.method,
            scope=self.scope,
            sample_hz=self.sample_hz,
            update_period_s=self.update_period_s,
            power_w_peak=max(powers_w),
            flags=flags,
            monitor_cpu_s=strata.cpu_s,
            error_pct_est=error_pct,
        )

    def close(self) -> None:
        """Stop the background sampling (a process sampler's process too). Idempotent."""
        self._open = False
        self._sampler.close()


class MultiGpuMeter:
    """Energy of a deployment over several GPUs: one meter per GPU, summed.

    All member meters run the same method (all counters, or all sampled at one rate);
    the window's energy is the sum over devices, its time the longest member window. A
    tensor-parallel or ``device_map="auto"`` deployment draws power on every GPU it spans,
    idle ones included, so metering only the first one under-reports it.

    Args:
        meters: One meter per GPU of the deployment (>= 1, same ``method``).
        other_processes: Returns the process ids other than this one found on the
            deployment's GPUs (NVML's running-process lists); any seen at ``begin`` or
            ``end`` put the flag ``other-gpu-processes`` on the reading.

    Raises:
        MeasurementError: No meters, or meters of different methods.
    """

    scope: Literal["gpu"] = "gpu"

    def __init__(self, meters: list[CounterMeter] | list[SampledMeter],
                 other_processes: Callable[[], list[int]] | None = None) -> None:
        if not meters:
            raise MeasurementError("MultiGpuMeter needs at least one device meter")
        methods = {m.method for m in meters}
        if len(methods) != 1:
            raise MeasurementError(f"all GPUs of a deployment need one meter method, got {sorted(methods)}")
        self.meters = list(meters)
        self.method = meters[0].method
        self.sample_hz = meters[0].sample_hz
        self.update_period_s = max(m.update_period_s for m in meters)
        self._other = other_processes
        self._others_seen: set[int] = set()

    @property
    def device_count(self) -> int:
        """GPUs metered."""
        return len(self.meters)

    def _check_others(self) -> None:
        if self._other is not None:
            self._others_seen.update(self._other())

    def begin(self) -> None:
        """Start every device's window (and look for other processes)."""
        self._others_seen = set()
        self._check_others()
        # Every device's sampling process first, so the first window of each GPU opens together.
        for m in self.meters:
            if isinstance(m, SampledMeter):
                m.prepare()
        started: list[CounterMeter | SampledMeter] = []
        try:
            for m in self.meters:
                m.begin()
                started.append(m)
        except BaseException:
            for m in started:
                m.close()
            raise

    def end(self) -> MeterReading:
        """End every device's window and sum them."""
        readings = [m.end() for m in self.meters]
        self._check_others()
        energy_j = sum(r.energy_j for r in readings)
        time_s = max(r.time_s for r in readings)
        flags = {f for r in readings for f in r.flags}
        if self._others_seen:
            flags.add("other-gpu-processes")
        peaks = [r.power_w_peak for r in readings if r.power_w_peak is not None]
        errors = [r.error_pct_est for r in readings if r.error_pct_est is not None]
        return MeterReading(
            energy_j=energy_j,
            time_s=time_s,
            power_w_mean=power_mean_w(energy_j, time_s),
            samples=sum(r.samples for r in readings),
            method=self.method,
            scope=self.scope,
            sample_hz=self.sample_hz,
            update_period_s=self.update_period_s,
            power_w_peak=sum(peaks) if peaks else None,
            flags=tuple(sorted(flags)),
            monitor_cpu_s=sum(r.monitor_cpu_s for r in readings),
            error_pct_est=max(errors) if errors else None,
            device_count=len(readings),
            other_process_ids=tuple(sorted(self._others_seen)),
        )

    def close(self) -> None:
        """Close every device meter."""
        for m in self.meters:
            m.close()
