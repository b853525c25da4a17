"""Measurement windows: synchronized, warmed-up, repeated energy measurements.

Typical use around one lm-eval (or any) run::

    from profiler.hardware import select_meter, make_synchronize
    from profiler.window import measure_idle, run_windows

    meter = select_meter("cuda")          # nvml-counter if supported, else nvml-sampled
    sync = make_synchronize("cuda")
    idle = measure_idle(meter, seconds=10.0, sync=sync)     # after each model load
    stats = run_windows(lambda: evaluate(...), meter, sync, idle=idle)  # 1 warm-up, 3 repeats
    stats.energy_j_median      # GROSS J of one fn() call (idle included: the table's definition)
    stats.idle_power_w         # idle power, kept apart (never subtracted here)
    stats.flags                # ("high-spread", "short-window", "estimated", ...)
    stats.result               # what fn returned in the last measured window

Energy is always gross. An idle baseline is recorded beside it (``idle_power_w``), and
``energy_net_j_median`` is computed for information, but no figure a row reports has idle
taken out: every public row in the table is gross, and a net figure next to them would
be read as if it were comparable.

Windows shorter than the meter can resolve: a counter that moves every 100 ms quantizes a
2 s window's energy by up to 5 % per end. When the first measured window is shorter than
``min_window_s`` (default :data:`MIN_WINDOW_PERIODS` x the meter's update period),
every window calls ``fn`` as many times as it takes to last that long and the energy and
time per call are the window's divided by its calls (``calls_per_window``); that first
window is discarded.

Flags (joined with ``;`` they go into ``MeasuredRow.flags``):

- ``short-window``: a window was still shorter than ``short_window_factor`` x the meter's
  ``update_period_s`` (also warned via :func:`warnings.warn`), i.e. the fallback was
  disabled (``min_window_s=0``) or capped at ``max_calls``.
- ``high-spread``: ``spread_pct`` > ``HIGH_SPREAD_PCT`` (5 %).
- any flags the meter put on its readings (``estimated``, ``undersampled``,
  ``other-gpu-processes``, ``update-period-assumed``).
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

MIN_WINDOW_PERIODS = 200.0
"""Default shortest window, in meter update periods. A counter read at both ends of a
window is off by at most one update's energy per end; over 200 periods that is <= 1 % of
the window at constant power (``bench/energy_integration.py`` checks it on bursty traces:
20 s at the 100 ms period)."""

DEFAULT_REPEATS = 3
"""Measured windows per result (a median and a spread)."""

DEFAULT_WARMUP = 1
"""Unmeasured calls before the windows (compilation, caches, clocks ramping up)."""


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
        reading: The meter's reading (gross energy, time) over all calls of the window.
        energy_net_j: ``reading.energy_j - idle.power_w * reading.time_s``, joules (for
            information; never reported); ``None`` when no idle baseline was given.
        calls: How many times ``fn`` ran in this window.
    """

    reading: MeterReading
    energy_net_j: float | None
    calls: int = 1


@dataclass(frozen=True)
class WindowStats(Generic[T]):
    """Summary of repeated windows around the same call.

    Attributes:
        energy_gross_j_median: Median gross energy of one ``fn()`` call, joules.
        energy_net_j_median: Median net energy (gross - idle power x time) of one call,
            joules, for information; ``None`` without an idle baseline.
        energy_j_median: The figure to report: gross, joules (= ``energy_gross_j_median``).
        idle_subtracted: Always False (kept for the row schema).
        time_s_median: Median wall time of one call, seconds.
        power_w_mean: Mean gross power over all windows (total energy / total time), W.
        spread_pct: (max - min) / median of the reported energy over the windows, percent
            (``inf`` when that median is <= 0).
        time_spread_pct: (max - min) / median of the window times, percent.
        resolution_pct: Meter granularity relative to the window,
            ``100 * update_period_s / time_s_median`` percent: a bound on the counter's
            quantization error for one window.
        repeats: Number of measured windows.
        warmup: Number of unmeasured warm-up calls before them.
        calls_per_window: Calls of ``fn`` per measured window (> 1 when the short-window
            fallback lengthened the windows).
        flags: Quality flags, sorted (see module docstring).
        method: Meter method (schema ``EnergyMethod``).
        scope: Meter scope (schema ``EnergyScope``).
        sample_hz: Sampling rate for sampled meters, else ``None``.
        idle_power_w: Idle power measured beside the windows (not subtracted), watts;
            ``None`` without a baseline.
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
    calls_per_window: int
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

    def row_fields(
        self, query_count: int, output_tokens_total: int | None = None, queries_in_flight: float = 1.0
    ) -> dict[str, object]:
        """The energy/time fields of a ``MeasuredRow`` for one window of ``query_count`` queries.

        Args:
            query_count: Queries processed by one call of ``fn`` (one window), >= 1.
            queries_in_flight: Queries that share the devices at once (a static batch's
                queries), clipped to 1 .. ``query_count``: each waits for its whole batch, so its
                time is the window's time per query times this (the table's
                ``time_s_per_query`` is a query's latency, which the predictor's power bound
                ``E x in flight / T <= limit`` reads it as).
            output_tokens_total: Tokens generated by one call of ``fn``, where known.

        Returns:
            ``energy_j_per_query`` and ``energy_gross_j_per_query`` (both gross),
            ``energy_j_per_output_token`` (when tokens are given), ``energy_spread_pct``,
            ``time_s_per_query``, ``power_w_mean``, ``energy_method``, ``energy_sample_hz``,
            ``energy_scope``, ``idle_subtracted`` (false), ``idle_power_w``, ``repeats``,
            ``query_count``, ``flags``; merge them with
            the row's identity fields. ``time_s_per_query`` is window time / queries x
            queries in flight: the latency of one query of a static batch (with one query in
            flight, the amortized time).

        Raises:
            MeasurementError: If ``query_count`` < 1 or the energy is not positive.
        """
        if query_count < 1:
            raise MeasurementError(f"query_count must be >= 1, got {query_count}")
        if not self.energy_j_median > 0:
            raise MeasurementError(
                f"measured energy {self.energy_j_median:.3f} J is not positive "
                f"(gross {self.energy_gross_j_median:.3f} J, idle {self.idle_power_w} W); "
                "the meter saw no energy over the window: measure more work per window"
            )
        fields: dict[str, object] = {
            "energy_j_per_query": self.energy_j_median / query_count,
            "energy_gross_j_per_query": self.energy_gross_j_median / query_count,
            "energy_spread_pct": self.spread_pct,
            "time_s_per_query": self.time_s_median / query_count * min(max(queries_in_flight, 1.0), float(query_count)),
            "power_w_mean": self.power_w_mean if self.power_w_mean > 0 else None,
            "energy_method": self.method,
            "energy_sample_hz": self.sample_hz,
            "energy_scope": self.scope,
            "idle_subtracted": False,
            "idle_power_w": self.idle_power_w,
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

    Call after each model load, before its windows: a loaded model's memory and clocks
    are the idle state a deployment pays for, and it changes with what is loaded.

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


def _measure_window(fn: Callable[[], T], meter: EnergyMeter, sync: Synchronize, calls: int) -> tuple[MeterReading, T]:
    sync()
    meter.begin()
    try:
        for _ in range(calls):
            result = fn()
        sync()
    except BaseException:
        meter.close()  # stop a sampling thread before propagating
        raise
    return meter.end(), result


def run_windows(
    fn: Callable[[], T],
    meter: EnergyMeter,
    sync: Synchronize,
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
    idle: IdleBaseline | None = None,
    short_window_factor: float = 1.0,
    high_spread_pct: float = HIGH_SPREAD_PCT,
    min_window_s: float | None = None,
    max_calls: int = 1000,
) -> WindowStats[T]:
    """Measure ``fn()`` in ``repeats`` synchronized windows after ``warmup`` calls.

    Each window is ``sync(); meter.begin(); r = fn() [x calls]; sync(); meter.end()``, so
    queued device work is neither billed to nor missing from the window.

    Args:
        fn: The work to measure. Its return value from the last call is kept in
            ``WindowStats.result``.
        meter: Energy meter (see :func:`profiler.hardware.select_meter`).
        sync: Device synchronize (:func:`profiler.hardware.make_synchronize`).
        repeats: Measured windows, >= 1 (3 gives a median and a spread).
        warmup: Unmeasured calls first (compilation, caches, clocks ramping), >= 0.
        idle: Idle baseline from :func:`measure_idle` with the same meter; recorded in
            ``idle_power_w`` and used for ``energy_net_j_median`` only (never subtracted
            from the reported energy).
        short_window_factor: A window shorter than this x ``meter.update_period_s`` is
            flagged ``short-window`` and warned about.
        high_spread_pct: Spread above which ``high-spread`` is flagged, percent.
        min_window_s: Shortest acceptable window, seconds; shorter ones make every window
            repeat ``fn`` (see module docstring). None: :data:`MIN_WINDOW_PERIODS` x
            ``meter.update_period_s``; 0 disables the fallback.
        max_calls: Cap on calls per window of the fallback.

    Returns:
        The window statistics (energy and time per call).

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
    update_period_s = meter.update_period_s
    min_s = MIN_WINDOW_PERIODS * update_period_s if min_window_s is None else float(min_window_s)
    for _ in range(warmup):
        fn()
    sync()

    windows: list[WindowResult] = []
    calls = 1
    result: T
    while len(windows) < repeats:
        reading, result = _measure_window(fn, meter, sync, calls)
        if not windows and calls == 1 and 0 < reading.time_s < min_s and max_calls > 1:
            # Too short for the meter: lengthen every window (10 % margin) and measure
            # again; this first window served as one more warm-up.
            calls = min(max_calls, max(2, math.ceil(1.1 * min_s / reading.time_s)))
            continue
        net = None if idle is None else reading.energy_j - idle.power_w * reading.time_s
        windows.append(WindowResult(reading=reading, energy_net_j=net, calls=calls))

    flags: set[str] = set()
    for w in windows:
        flags.update(w.reading.flags)
    gross = [w.reading.energy_j / w.calls for w in windows]
    times = [w.reading.time_s / w.calls for w in windows]
    window_times = [w.reading.time_s for w in windows]
    nets = [w.energy_net_j / w.calls for w in windows if w.energy_net_j is not None]
    gross_med = statistics.median(gross)
    net_med = statistics.median(nets) if idle is not None else None
    spread = spread_pct(gross)
    if spread > high_spread_pct:
        flags.add("high-spread")
    short = [t for t in window_times if t < short_window_factor * update_period_s]
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
    total_time = sum(window_times)
    window_med = statistics.median(window_times)
    return WindowStats(
        energy_gross_j_median=gross_med,
        energy_net_j_median=net_med,
        energy_j_median=gross_med,
        idle_subtracted=False,
        time_s_median=time_med,
        power_w_mean=power_mean_w(sum(w.reading.energy_j for w in windows), total_time),
        spread_pct=spread,
        time_spread_pct=spread_pct(times),
        resolution_pct=(100.0 * update_period_s / window_med) if window_med > 0 else math.inf,
        repeats=repeats,
        warmup=warmup,
        calls_per_window=calls,
        flags=tuple(sorted(flags)),
        method=meter.method,
        scope=meter.scope,
        sample_hz=meter.sample_hz,
        idle_power_w=None if idle is None else idle.power_w,
        windows=tuple(windows),
        result=result,
    )
