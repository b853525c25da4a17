"""Contracts for energy meters and the devices they read.

Everything above ``profiler/hardware`` codes against these protocols, never against
``pynvml`` or sysfs directly, so measurement logic can be tested on fakes
(:mod:`profiler.hardware.fake`) and replayed traces.

Units live in the names: ``*_j`` joules, ``*_mj`` millijoules, ``*_uj`` microjoules,
``*_w`` watts, ``*_mw`` milliwatts, ``*_s`` seconds, ``*_mhz`` megahertz, ``*_c`` degrees
Celsius.

Usage of a meter (what :func:`profiler.window.run_windows` does for you)::

    sync()            # drain queued device work so it is not billed to this window
    meter.begin()
    fn()
    sync()            # wait until fn's device work has really finished
    reading = meter.end()
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    # Annotations only (strings at run time): a sampling process (profiler/hardware/sampler.py)
    # imports this module without pandas and pydantic, which the table package pulls in.
    from recommender.table.schema import EnergyMethod, EnergyScope

Synchronize = Callable[[], None]
"""Blocks until all work queued on the device has finished (``torch.cuda.synchronize``)."""


def no_sync() -> None:
    """Synchronize for CPU work: a no-op, since CPU calls return when done."""


def make_synchronize(device: str) -> Synchronize:
    """Return the synchronize callable for a torch device string.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns:
        :func:`no_sync` for CPU; for CUDA a closure over ``torch.cuda.synchronize(device)``
        (torch is imported here, lazily, so CPU-only callers never pay for it).
    """
    if device == "cpu":
        return no_sync
    if device == "cuda" or device.startswith("cuda:"):
        import torch  # lazy: only GPU runs need torch here

        def _sync() -> None:
            torch.cuda.synchronize(device)

        return _sync
    from recommender.errors import InvalidInputError

    raise InvalidInputError(f"cannot synchronize device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")


@dataclass(frozen=True)
class MeterReading:
    """Energy over one window ``begin()`` .. ``end()``.

    Attributes:
        energy_j: Gross energy over the window, joules (idle not subtracted).
        time_s: Wall time between ``begin()`` and ``end()``, seconds.
        power_w_mean: ``energy_j / time_s``, watts (0 for a zero-length window).
        samples: Number of device reads behind the figure (2 for counter meters: one at
            each end; for sampled meters every power sample including both ends).
        method: How energy was obtained (schema ``EnergyMethod``).
        scope: What the energy covers (schema ``EnergyScope``).
        sample_hz: Power sampling rate for ``nvml-sampled``; ``None`` otherwise.
        update_period_s: Granularity of the meter (counter update or sample interval), s.
        power_w_peak: Highest power sample seen, watts; ``None`` for counter meters.
        flags: Quality flags of this reading (``estimated`` for estimates).
        monitor_cpu_s: CPU time the meter's own background sampler (thread or process)
            used during the window, seconds (0 for meters without one); its overhead.
        error_pct_est: Sampled meters: estimated 2-sigma integration error of the window,
            percent (``undersampled`` when above the meter's threshold); None otherwise.
        device_count: Devices whose energy is summed in ``energy_j``.
        other_process_ids: Process ids other than this one (and its children) seen on the
            metered GPUs during the window (flag ``other-gpu-processes``).
    """

    energy_j: float
    time_s: float
    power_w_mean: float
    samples: int
    method: EnergyMethod
    scope: EnergyScope
    sample_hz: float | None = None
    update_period_s: float = 0.0
    power_w_peak: float | None = None
    flags: tuple[str, ...] = ()
    monitor_cpu_s: float = 0.0
    error_pct_est: float | None = None
    device_count: int = 1
    other_process_ids: tuple[int, ...] = ()


@runtime_checkable
class EnergyMeter(Protocol):
    """Measures energy between ``begin()`` and ``end()``.

    Attributes:
        method: Schema ``EnergyMethod`` literal this meter produces.
        scope: Schema ``EnergyScope`` literal (``gpu``, ``cpu``, ``cpu+dram``...).
        update_period_s: How often the underlying value changes (counter update period
            or sampling interval), seconds. Windows shorter than this are unreliable.
        sample_hz: Power sampling rate in Hz for sampled meters, else ``None``.
    """

    @property
    def method(self) -> EnergyMethod: ...

    @property
    def scope(self) -> EnergyScope: ...

    @property
    def update_period_s(self) -> float: ...

    @property
    def sample_hz(self) -> float | None: ...

    def begin(self) -> None:
        """Start a window (reads the counter or starts sampling)."""
        ...

    def end(self) -> MeterReading:
        """Finish the window started by :meth:`begin` and return its reading.

        Raises:
            MeasurementError: If no window is open or the device read failed.
        """
        ...

    def close(self) -> None:
        """Release background threads, processes and handles. Idempotent."""
        ...


@runtime_checkable
class GpuDevice(Protocol):
    """Low-level read access to one GPU (NVML or a fake)."""

    @property
    def index(self) -> int:
        """NVML index of the device."""
        ...

    def name(self) -> str:
        """Marketing name, e.g. ``NVIDIA A100-SXM4-40GB``."""
        ...

    def driver_version(self) -> str:
        """Driver version string."""
        ...

    def supports_energy_counter(self) -> bool:
        """Whether :meth:`total_energy_mj` works (NVML: Volta and newer)."""
        ...

    def total_energy_mj(self) -> int:
        """Energy consumed since the driver was loaded, millijoules (monotone counter)."""
        ...

    def power_mw(self) -> int:
        """Current power draw as the driver reports it, milliwatts."""
        ...

    def power_limit_mw(self) -> int:
        """Enforced power limit, milliwatts."""
        ...

    def clocks_mhz(self) -> dict[str, int]:
        """Current clocks in MHz, keys ``sm`` and ``mem``."""
        ...

    def temperature_c(self) -> int:
        """GPU core temperature, degrees Celsius."""
        ...


@runtime_checkable
class RaplZone(Protocol):
    """One Linux powercap RAPL zone (``/sys/class/powercap/intel-rapl:N[:M]``)."""

    @property
    def name(self) -> str:
        """Zone name from the ``name`` file (``package-0``, ``dram``, ``core``...)."""
        ...

    def energy_uj(self) -> int:
        """Cumulative energy counter, microjoules; wraps at :meth:`max_energy_range_uj`."""
        ...

    def max_energy_range_uj(self) -> int:
        """Value at which :meth:`energy_uj` wraps back to zero, microjoules."""
        ...


def integrate_trapezoid(times_s: Sequence[float], powers_w: Sequence[float]) -> float:
    """Energy in joules of power samples by the trapezoid rule.

    Exact for power that is linear between consecutive samples.

    Args:
        times_s: Sample times, seconds, non-decreasing.
        powers_w: Power at each time, watts.

    Returns:
        Integral of power over ``[times_s[0], times_s[-1]]``, joules (0 for < 2 samples).

    Raises:
        ValueError: If the lengths differ or times decrease.
    """
    if len(times_s) != len(powers_w):
        raise ValueError(f"times_s has {len(times_s)} entries but powers_w has {len(powers_w)}")
    energy_j = 0.0
    for i in range(1, len(times_s)):
        dt_s = times_s[i] - times_s[i - 1]
        if dt_s < 0:
            raise ValueError(f"sample times decrease at index {i}: {times_s[i - 1]} -> {times_s[i]}")
        energy_j += 0.5 * (powers_w[i] + powers_w[i - 1]) * dt_s
    return energy_j


def counter_delta(start: int, end: int, max_range: int) -> int:
    """Increase of a counter that wraps to zero at ``max_range``.

    Assumes at most one wrap between the two reads; callers poll often enough
    (see :class:`profiler.hardware.rapl.RaplMeter`).

    Args:
        start: Counter at the start (any unit).
        end: Counter at the end (same unit).
        max_range: Value at which the counter wraps (same unit), > 0.

    Returns:
        ``end - start`` if the counter did not wrap, else ``end + max_range - start``.
    """
    if max_range <= 0:
        raise ValueError(f"max_range must be > 0, got {max_range}")
    if end >= start:
        return end - start
    return end + max_range - start


def counter_reading(meter: EnergyMeter, energy_j: float, time_s: float, flags: tuple[str, ...] = ()) -> MeterReading:
    """Reading of a meter that reads a counter once at each end of the window.

    Args:
        meter: The meter (its method, scope and update period are recorded).
        energy_j: Energy over the window, joules.
        time_s: Window length, seconds.
        flags: Quality flags (``estimated`` for estimates).
    """
    return MeterReading(
        energy_j=energy_j,
        time_s=time_s,
        power_w_mean=power_mean_w(energy_j, time_s),
        samples=2,
        method=meter.method,
        scope=meter.scope,
        sample_hz=None,
        update_period_s=meter.update_period_s,
        flags=flags,
    )


def power_mean_w(energy_j: float, time_s: float) -> float:
    """Mean power in watts; 0 for a zero-length window rather than a division error."""
    if time_s <= 0 or not math.isfinite(time_s):
        return 0.0
    return energy_j / time_s
