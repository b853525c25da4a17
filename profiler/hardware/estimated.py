"""``estimated`` meter: CPU energy from process CPU time and a per-core TDP share.

For machines where nothing is measurable (no RAPL readable, no GPU), e.g. a cloud VM.
Energy = (CPU seconds this process used in the window) x (TDP share of one core, W).
This is an upper-bound style estimate: cores rarely draw their full TDP share, and idle
and uncore/DRAM power are not seen at all. Every reading carries the ``estimated`` flag,
which :class:`recommender.table.schema.MeasuredRow` requires for this method.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from profiler.hardware.base import MeterReading, counter_reading
from recommender.errors import MeasurementError


class EstimatedCpuMeter:
    """``estimated``: process CPU time x TDP per core.

    Args:
        tdp_w_per_core: Share of the CPU's TDP one core (vCPU) stands for, watts, > 0.
            For a platform entry whose ``tdp_w`` covers ``n`` vCPUs: ``tdp_w / n``
            (see :meth:`from_platform_tdp`).
        cpu_time: CPU-time clock of this process, seconds (all threads).
        clock: Wall clock, seconds.
    """

    method: Literal["estimated"] = "estimated"
    scope: Literal["cpu"] = "cpu"
    sample_hz: float | None = None

    def __init__(
        self,
        tdp_w_per_core: float,
        cpu_time: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not tdp_w_per_core > 0:
            raise MeasurementError(f"tdp_w_per_core must be > 0 W, got {tdp_w_per_core}")
        self.tdp_w_per_core = float(tdp_w_per_core)
        self._cpu_time = cpu_time
        self._clock = clock
        # CLOCK_PROCESS_CPUTIME_ID is nanosecond-resolution on Linux; the meter is only as
        # fine as that clock.
        self.update_period_s = float(time.get_clock_info("process_time").resolution)
        self._start: tuple[float, float] | None = None

    @classmethod
    def from_platform_tdp(cls, tdp_w: float, cores: int) -> EstimatedCpuMeter:
        """Meter for a CPU platform whose ``tdp_w`` covers ``cores`` cores/vCPUs.

        Raises:
            MeasurementError: If ``cores`` < 1 or ``tdp_w`` <= 0.
        """
        if cores < 1:
            raise MeasurementError(f"cores must be >= 1, got {cores}")
        return cls(tdp_w_per_core=tdp_w / cores)

    def begin(self) -> None:
        """Record CPU time and wall time at the start of a window."""
        self._start = (self._clock(), self._cpu_time())

    def end(self) -> MeterReading:
        """Return the estimated energy of the window.

        Raises:
            MeasurementError: If :meth:`begin` was not called.
        """
        if self._start is None:
            raise MeasurementError("EstimatedCpuMeter.end() called without begin()")
        cpu_end_s = self._cpu_time()
        t_end = self._clock()
        t_start, cpu_start_s = self._start
        self._start = None
        energy_j = max(0.0, cpu_end_s - cpu_start_s) * self.tdp_w_per_core
        time_s = t_end - t_start
        return counter_reading(self, energy_j, time_s, flags=("estimated",))

    def close(self) -> None:
        """Nothing to release."""
        self._start = None


def estimated_meter(device: str = "cpu", tdp_w_per_core: float | None = None, **_: Any) -> EstimatedCpuMeter:
    """``estimated`` meter for the CPU.

    Raises:
        MeasurementError: If ``device`` is not ``cpu`` or ``tdp_w_per_core`` is missing.
    """
    if device != "cpu":
        raise MeasurementError(f"meter 'estimated' estimates CPU energy, not {device!r}")
    if tdp_w_per_core is None:
        raise MeasurementError(
            "meter 'estimated' needs tdp_w_per_core (watts per core: the platform's tdp_w "
            "divided by its core count)"
        )
    return EstimatedCpuMeter(tdp_w_per_core=tdp_w_per_core)
