"""Measurement windows: synchronized, warmed-up, repeated energy measurements.

Typical use around one lm-eval (or any) run::

    from profiler.hardware import select_meter, make_synchronize
    from profiler.window import measure_idle, run_windows

    meter = select_meter("cuda")          # nvml-counter if supported, else nvml-sampled
    sync = make_synchronize("cuda")
    idle = measure_idle(meter, seconds=10.0, sync=sync)     # once, before the sweep
    stats = run_windows(lambda: evaluate(...), meter, sync, repeats=3, warmup=1, idle=idle)
    stats.energy_j_median      # net J of one fn() call (gross if idle is None)
    stats.flags                # ("high-spread", "short-window", "estimated", ...)
    stats.result               # what fn returned in the last measured window

Flags (joined with ``;`` they go into ``MeasuredRow.flags``):

- ``short-window``: a window was shorter than ``short_window_factor`` x the meter's
  ``update_period_s`` (also warned via :func:`warnings.warn`). The NVML energy counter only
  moves every few tens of ms, so such a window's energy can be off by up to one update's
  worth (see ``resolution_pct``).
- ``high-spread``: ``spread_pct`` > ``HIGH_SPREAD_PCT`` (5 %).
- ``net-nonpositive``: idle subtraction left zero or negative energy (the workload is
  not distinguishable from idle with this meter); ``spread_pct`` is then ``inf``.
- any flags the meter put on its readings (``estimated``).
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from profiler.hardware.base import EnergyMeter, MeterReading, Synchronize, no_sync, power_mean_w
from recommender.errors import MeasurementError

T = TypeVar("T")

HIGH_SPREAD_PCT = 5.0
"""Spread (max - min) / median above which a result is flagged ``high-spread``, percent."""


class ShortWindowWarning(UserWarning):
    """A measurement window was shorter than the meter's update period."""


@dataclass(frozen=True)
class IdleBaseline:
    """Idle power measured before a sweep.

    Attributes:
        power_w: Mean idle power, watts (gross energy / time over the idle window).
        time_s: Length of the idle window, seconds.
        energy_j: Energy over the idle window, joules.
        method: Meter method that measured it (must match the windows it is used with).
        scope: Meter scope that measured it.
    """

    power_w: float
    time_s: float
    energy_j: float
    method: str
    scope: str


@dataclass(frozen=True)
class WindowResult:
    """One measured window.

    Attributes:
        reading: The meter's reading (gross energy, time).
        energy_net_j: ``reading.energy_j - idle.power_w * reading.time_s``, joules;
            ``None`` when no idle baseline was given.
    """

    reading: MeterReading
    energy_net_j: float | None


@dataclass(frozen=True)
class WindowStats(Generic[T]):
    """Summary of repeated windows around the same call.

    Attributes:
        energy_gross_j_median: Median gross energy of one window, joules.
        energy_net_j_median: Median net energy (gross - idle power x time), joules;
            ``None`` without an idle baseline.
        energy_j_median: The figure to report: net if an idle baseline was given,
            else gross, joules.
        idle_subtracted: Whether ``energy_j_median`` is net of idle.
        time_s_median: Median window wall time, seconds.
        power_w_mean: Mean gross power over all windows (total energy / total time), W.
        spread_pct: (max - min) / median of the reported energy over the windows, percent
            (``inf`` when that median is <= 0).
        time_spread_pct: (max - min) / median of the window times, percent.
        resolution_pct: Meter granularity relative to the window,
            ``100 * update_period_s / time_s_median`` percent: a bound on the counter's
            quantization error for one window.
        repeats: Number of measured windows.
        warmup: Number of unmeasured warm-up calls before them.
        flags: Quality flags, sorted (see module docstring).
        method: Meter method (schema ``EnergyMethod``).
        scope: Meter scope (schema ``EnergyScope``).
        sample_hz: Sampling rate for sampled meters, else ``None``.
        idle_power_w: Idle power subtracted, watts; ``None`` without a baseline.
        windows: Every window, in order.
        result: What ``fn`` returned in the last measured window.
    """

    energy_gross_j_median: float
    energy_net_j_median: float | None
    energy_j_median: float
    idle_subtracted: bool
    time_s_median: float
    power_w_mean: float
    spread_pct: float
    time_spread_pct: float
    resolution_pct: float
    repeats: int
    warmup: int
    flags: tuple[str, ...]
    method: str
    scope: str
    sample_hz: float | None
    idle_power_w: float | None
    windows: tuple[WindowResult, ...]
    result: T

    @property
    def flags_str(self) -> str:
        """Flags joined with ``;`` as ``MeasuredRow.flags`` expects."""
        return ";".join(self.flags)

    def row_fields(self, query_count: int, output_tokens_total: int | None = None) -> dict[str, object]:
        """The energy/time fields of a ``MeasuredRow`` for one window of ``query_count`` queries.

        Args:
            query_count: Queries processed by one call of ``fn`` (one window), >= 1.
            output_tokens_total: Tokens generated by one call of ``fn``, where known.

        Returns:
            ``energy_j_per_query``, ``energy_gross_j_per_query``, ``energy_j_per_output_token``
            (when tokens are given), ``energy_spread_pct``, ``time_s_per_query``,
            ``power_w_mean``, ``energy_method``, ``energy_sample_hz``, ``energy_scope``,
            ``idle_subtracted``, ``repeats``, ``query_count``, ``flags``; merge them with
            the row's identity fields. ``time_s_per_query`` is window time / queries:
            amortized, which with batching is shorter than one query's latency.

        Raises:
            MeasurementError: If ``query_count`` < 1 or the energy is not positive
                (``net-nonpositive``: the run is indistinguishable from idle; measure
                more work per window).
        """
        if query_count < 1:
            raise MeasurementError(f"query_count must be >= 1, got {query_count}")
        if not self.energy_j_median > 0:
            raise MeasurementError(
                f"measured energy {self.energy_j_median:.3f} J is not positive "
                f"(gross {self.energy_gross_j_median:.3f} J, idle {self.idle_power_w} W); "
                "the window cannot be told apart from idle: measure more work per window"
            )
        fields: dict[str, object] = {
            "energy_j_per_query": self.energy_j_median / query_count,
            "energy_gross_j_per_query": self.energy_gross_j_median / query_count,
            "energy_spread_pct": self.spread_pct,
            "time_s_per_query": self.time_s_median / query_count,
            "power_w_mean": self.power_w_mean if self.power_w_mean > 0 else None,
            "energy_method": self.method,
            "energy_sample_hz": self.sample_hz,
            "energy_scope": self.scope,
            "idle_subtracted": self.idle_subtracted,
            "repeats": self.repeats,
            "query_count": query_count,
            "flags": self.flags_str,
        }
        if output_tokens_total:
            fields["energy_j_per_output_token"] = self.energy_j_median / output_tokens_total
        return fields


def spread_pct(values: list[float]) -> float:
    """(max - min) / median of ``values`` in percent.

    Returns:
        0 for fewer than two values; ``inf`` when the median is <= 0 (a relative
        spread is meaningless there).
    """
    if len(values) < 2:
        return 0.0
    med = statistics.median(values)
    if med <= 0:
        return math.inf
    return 100.0 * (max(values) - min(values)) / med


def measure_idle(
    meter: EnergyMeter,
    seconds: float = 10.0,
    sync: Synchronize = no_sync,
    sleep: Callable[[float], None] = time.sleep,
) -> IdleBaseline:
    """Measure idle power over ``seconds`` with nothing running.

    Call once before a sweep, with the model not yet running (loaded is fine: that is
    the idle state a deployment pays for).

    Args:
        meter: The meter the sweep will use.
        seconds: Length of the idle window, seconds (> 0). Use >= 10 x the meter's
            ``update_period_s``; 10 s is plenty for NVML.
        sync: Device synchronize, so earlier queued work is not counted as idle.
        sleep: Sleep function (injectable for replayed fakes).

    Returns:
        The idle baseline.

    Raises:
        MeasurementError: If ``seconds`` <= 0 or the meter fails.
    """
    if not seconds > 0:
        raise MeasurementError(f"idle window must be > 0 s, got {seconds}")
    sync()
    meter.begin()
    sleep(seconds)
    reading = meter.end()
    if reading.time_s < meter.update_period_s:
        warnings.warn(
            f"idle window {reading.time_s:.3f} s is shorter than the meter's update period "
            f"{meter.update_period_s:.3f} s; the idle power is unreliable",
            ShortWindowWarning,
            stacklevel=2,
        )
    return IdleBaseline(
        power_w=power_mean_w(reading.energy_j, reading.time_s),
        time_s=reading.time_s,
        energy_j=reading.energy_j,
        method=reading.method,
        scope=reading.scope,
    )


def run_windows(
    fn: Callable[[], T],
    meter: EnergyMeter,
    sync: Synchronize,
    repeats: int = 3,
    warmup: int = 1,
    idle: IdleBaseline | None = None,
    short_window_factor: float = 1.0,
    high_spread_pct: float = HIGH_SPREAD_PCT,
) -> WindowStats[T]:
    """Measure ``fn()`` in ``repeats`` synchronized windows after ``warmup`` calls.

    Each window is ``sync(); meter.begin(); r = fn(); sync(); meter.end()``, so queued
    device work is neither billed to nor missing from the window.

    Args:
        fn: The work to measure; called ``warmup + repeats`` times. Its return value
            from the last window is kept in ``WindowStats.result``.
        meter: Energy meter (see :func:`profiler.hardware.select_meter`).
        sync: Device synchronize (:func:`profiler.hardware.make_synchronize`).
        repeats: Measured windows, >= 1 (3 gives a median and a spread).
        warmup: Unmeasured calls first (compilation, caches, clocks ramping), >= 0.
        idle: Idle baseline from :func:`measure_idle` with the same meter; when given,
            net energy = gross - ``idle.power_w`` x window time.
        short_window_factor: A window shorter than this x ``meter.update_period_s`` is
            flagged ``short-window`` and warned about.
        high_spread_pct: Spread above which ``high-spread`` is flagged, percent.

    Returns:
        The window statistics.

    Raises:
        MeasurementError: On bad arguments, an idle baseline from another meter method or
            scope, or a meter failure.
    """
    if repeats < 1:
        raise MeasurementError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise MeasurementError(f"warmup must be >= 0, got {warmup}")
    if idle is not None and (idle.method != meter.method or idle.scope != meter.scope):
        raise MeasurementError(
            f"idle baseline was measured with {idle.method}/{idle.scope} but the meter is "
            f"{meter.method}/{meter.scope}; measure idle with the same meter"
        )
    for _ in range(warmup):
        fn()
    sync()

    windows: list[WindowResult] = []
    result: T
    for _ in range(repeats):
        sync()
        meter.begin()
        try:
            result = fn()
            sync()
        except BaseException:
            meter.close()  # stop a sampling thread before propagating
            raise
        reading = meter.end()
        net = None if idle is None else reading.energy_j - idle.power_w * reading.time_s
        windows.append(WindowResult(reading=reading, energy_net_j=net))

    flags: set[str] = set()
    for w in windows:
        flags.update(w.reading.flags)
    gross = [w.reading.energy_j for w in windows]
    times = [w.reading.time_s for w in windows]
    nets = [w.energy_net_j for w in windows if w.energy_net_j is not None]
    gross_med = statistics.median(gross)
    net_med = statistics.median(nets) if idle is not None else None
    reported = nets if idle is not None else gross
    reported_med = net_med if net_med is not None else gross_med
    if idle is not None and reported_med <= 0:
        flags.add("net-nonpositive")
    spread = spread_pct(reported)
    if spread > high_spread_pct:
        flags.add("high-spread")
    update_period_s = meter.update_period_s
    short = [t for t in times if t < short_window_factor * update_period_s]
    if short:
        flags.add("short-window")
        warnings.warn(
            f"{len(short)} of {repeats} windows are shorter than {short_window_factor:g} x the "
            f"meter's update period ({update_period_s * 1000:.0f} ms, {meter.method}); shortest "
            f"{min(short) * 1000:.1f} ms. Measure more work per window (more queries).",
            ShortWindowWarning,
            stacklevel=2,
        )
    time_med = statistics.median(times)
    total_time = sum(times)
    return WindowStats(
        energy_gross_j_median=gross_med,
        energy_net_j_median=net_med,
        energy_j_median=reported_med,
        idle_subtracted=idle is not None,
        time_s_median=time_med,
        power_w_mean=power_mean_w(sum(gross), total_time),
        spread_pct=spread,
        time_spread_pct=spread_pct(times),
        resolution_pct=(100.0 * update_period_s / time_med) if time_med > 0 else math.inf,
        repeats=repeats,
        warmup=warmup,
        flags=tuple(sorted(flags)),
        method=meter.method,
        scope=meter.scope,
        sample_hz=meter.sample_hz,
        idle_power_w=None if idle is None else idle.power_w,
        windows=tuple(windows),
        result=result,
    )
