"""GPU energy meters over any :class:`~profiler.hardware.base.GpuDevice`.

- :class:`CounterMeter` (``nvml-counter``): difference of the device's cumulative energy
  counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ, Volta and newer). Sees every joule,
  but the counter only moves every ``update_period_s``.
- :class:`SampledMeter` (``nvml-sampled``): power polled by a background thread at
  ``sample_hz`` and integrated with the trapezoid rule; for GPUs without the counter.

Neither imports ``pynvml``: they read whatever device they are given (the NVML wrapper in
:mod:`profiler.hardware.nvml` or a fake), so the same code runs in tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from profiler.hardware.base import GpuDevice, MeterReading, counter_reading, integrate_trapezoid, power_mean_w
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
    """Smallest interval between changes of a device value, seconds.

    Polls ``read`` (e.g. ``device.total_energy_mj``) every ``poll_s`` for ``duration_s``
    and returns the shortest time between two observed changes. On an idle GPU the
    energy counter still moves (idle power), so this works without load.

    Raises:
        MeasurementError: If the value changed fewer than twice (period longer than the
            probe, or a frozen counter).
    """
    change_times: list[float] = []
    last = read()
    end = clock() + duration_s
    while clock() < end:
        time.sleep(poll_s)
        value = read()
        if value != last:
            change_times.append(clock())
            last = value
    if len(change_times) < 2:
        raise MeasurementError(
            f"value changed {len(change_times)} time(s) in {duration_s} s; cannot infer its update "
            "period (probe longer, or the counter is not moving)"
        )
    return min(b - a for a, b in zip(change_times, change_times[1:], strict=False))


class CounterMeter:
    """``nvml-counter``: energy from the device's cumulative counter.

    Args:
        device: GPU whose ``total_energy_mj()`` works.
        update_period_s: How often the counter moves, seconds (for the short-window check).
        clock: Monotonic clock in seconds; the device's clock when replaying fakes.

    Raises:
        MeasurementError: If the device has no energy counter.
    """

    method: Literal["nvml-counter"] = "nvml-counter"
    scope: Literal["gpu"] = "gpu"
    sample_hz: float | None = None

    def __init__(
        self,
        device: GpuDevice,
        update_period_s: float = DEFAULT_COUNTER_UPDATE_PERIOD_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not device.supports_energy_counter():
            raise MeasurementError(
                f"GPU {device.index} ({device.name()}) has no total-energy counter "
                "(NVML supports it from Volta on); use meter 'nvml-sampled' instead"
            )
        self.device = device
        self.update_period_s = float(update_period_s)
        self._clock = clock
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
        return counter_reading(self, energy_j, time_s)

    def close(self) -> None:
        """Nothing to release (no thread)."""
        self._start = None


class SampledMeter:
    """``nvml-sampled``: power polled in a background thread, trapezoid-integrated.

    One sample is taken synchronously in :meth:`begin` and one in :meth:`end`, so the
    integral spans exactly the window; the thread fills in samples every
    ``1 / sample_hz`` seconds in between. The thread sleeps on an :class:`threading.Event`
    between samples (no busy waiting) and is joined in :meth:`end`.

    Args:
        device: GPU to read ``power_mw()`` from.
        sample_hz: Sampling rate, Hz (default 20; must be > 0).
        power_update_period_s: How often the driver refreshes its power reading, s; the
            meter's ``update_period_s`` is the larger of this and ``1 / sample_hz``.
        clock: Monotonic clock in seconds; the device's clock when replaying fakes.
    """

    method: Literal["nvml-sampled"] = "nvml-sampled"
    scope: Literal["gpu"] = "gpu"

    def __init__(
        self,
        device: GpuDevice,
        sample_hz: float = DEFAULT_SAMPLE_HZ,
        power_update_period_s: float = 0.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not sample_hz > 0:
            raise MeasurementError(f"sample_hz must be > 0, got {sample_hz}")
        self.device = device
        self.sample_hz: float | None = float(sample_hz)
        self.update_period_s = max(1.0 / float(sample_hz), float(power_update_period_s))
        self._interval_s = 1.0 / float(sample_hz)
        self._clock = clock
        self._times_s: list[float] = []
        self._powers_w: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._thread_cpu_s = 0.0

    def _sample(self) -> None:
        power_w = self.device.power_mw() / 1000.0
        t_s = self._clock()
        with self._lock:
            self._times_s.append(t_s)
            self._powers_w.append(power_w)

    def _run(self) -> None:
        cpu_start_s = time.thread_time()
        try:
            # Absolute deadlines so the rate does not drift by the cost of each read.
            next_t = time.perf_counter() + self._interval_s
            while not self._stop.wait(max(0.0, next_t - time.perf_counter())):
                try:
                    self._sample()
                except BaseException as exc:  # noqa: BLE001 - surfaced in end(), not swallowed
                    self._error = exc
                    return
                next_t += self._interval_s
                now = time.perf_counter()
                if next_t < now:  # fell behind (e.g. GIL held long): skip, do not burst
                    next_t = now + self._interval_s
        finally:
            self._thread_cpu_s = time.thread_time() - cpu_start_s

    def begin(self) -> None:
        """Take the first sample and start the sampling thread.

        Raises:
            MeasurementError: If a window is already open.
        """
        if self._thread is not None:
            raise MeasurementError("SampledMeter.begin() called twice without end()")
        with self._lock:
            self._times_s = []
            self._powers_w = []
        self._error = None
        self._thread_cpu_s = 0.0
        self._stop.clear()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="eai-power-sampler", daemon=True)
        self._thread.start()

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def end(self) -> MeterReading:
        """Stop the thread, take the last sample, integrate.

        Raises:
            MeasurementError: If no window is open or a device read failed in the thread.
        """
        if self._thread is None:
            raise MeasurementError("SampledMeter.end() called without begin()")
        self._stop_thread()
        if self._error is not None:
            raise MeasurementError(f"power sampling failed on GPU {self.device.index}: {self._error}")
        self._sample()
        with self._lock:
            times_s = list(self._times_s)
            powers_w = list(self._powers_w)
        energy_j = integrate_trapezoid(times_s, powers_w)
        time_s = times_s[-1] - times_s[0]
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
            monitor_cpu_s=self._thread_cpu_s,
        )

    def close(self) -> None:
        """Stop the sampling thread if a window is still open. Idempotent."""
        self._stop_thread()
