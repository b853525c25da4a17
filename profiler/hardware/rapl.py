"""``rapl`` meter: CPU package + DRAM energy from Linux powercap.

Reads ``<root>/intel-rapl:N/energy_uj`` (package zones) and their ``dram`` sub-zones
(``intel-rapl:N:M`` whose ``name`` is ``dram``). ``core``/``uncore`` sub-zones are part of
the package and are skipped so nothing is counted twice. AMD Zen CPUs expose the same
tree through the same driver. Counters wrap at ``max_energy_range_uj``; a poll thread
reads them every ``poll_interval_s`` so that no counter can wrap twice unseen.

Since Linux 5.10 (the Platypus mitigation) ``energy_uj`` is readable by root only;
:func:`rapl_readable` tells whether this process can use it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from profiler.hardware.base import MeterReading, RaplZone, counter_delta, counter_reading
from recommender.errors import MeasurementError

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")
RAPL_UPDATE_PERIOD_S = 0.001
"""RAPL counters update about every millisecond (Intel SDM, MSR_PKG_ENERGY_STATUS)."""


class SysfsRaplZone:
    """A powercap zone directory; implements :class:`~profiler.hardware.base.RaplZone`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._name = (path / "name").read_text().strip()
        self._max_uj = int((path / "max_energy_range_uj").read_text().strip())

    @property
    def name(self) -> str:
        """Zone name (``package-0``, ``dram``...)."""
        return self._name

    def energy_uj(self) -> int:
        """Current counter, uJ."""
        return int((self.path / "energy_uj").read_text().strip())

    def max_energy_range_uj(self) -> int:
        """Wrap value of the counter, uJ."""
        return self._max_uj


def discover_zones(root: Path = DEFAULT_POWERCAP_ROOT) -> list[SysfsRaplZone]:
    """Package zones and their DRAM sub-zones under ``root``.

    Returns:
        Zones sorted by path; empty if there is no RAPL tree.
    """
    zones: list[SysfsRaplZone] = []
    if not root.is_dir():
        return zones
    for pkg in sorted(root.glob("intel-rapl:*")):
        # Top-level zones have exactly one ':' (intel-rapl:N); sub-zones are found below.
        if pkg.name.count(":") != 1 or not (pkg / "energy_uj").exists():
            continue
        zones.append(SysfsRaplZone(pkg))
        for sub in sorted(pkg.glob(f"{pkg.name}:*")):
            if (sub / "name").exists() and (sub / "name").read_text().strip() == "dram":
                zones.append(SysfsRaplZone(sub))
    return zones


def rapl_readable(root: Path = DEFAULT_POWERCAP_ROOT) -> tuple[bool, str]:
    """Whether RAPL energy can be read here.

    Returns:
        ``(True, "")`` or ``(False, reason)`` with a reason fit for an error message.
    """
    try:
        zones = discover_zones(root)
    except OSError as exc:
        return False, f"cannot list RAPL zones under {root}: {exc}"
    if not zones:
        return False, f"no RAPL zones under {root} (no powercap driver, or a VM without RAPL)"
    try:
        zones[0].energy_uj()
    except PermissionError:
        return False, f"{zones[0].path}/energy_uj is readable by root only (Linux >= 5.10); run as root or chmod it"
    except OSError as exc:
        return False, f"cannot read {zones[0].path}/energy_uj: {exc}"
    return True, ""


class RaplMeter:
    """``rapl``: summed energy of RAPL zones over a window.

    Args:
        zones: Zones to sum (see :func:`discover_zones`); at least one.
        poll_interval_s: How often the background thread accumulates counter deltas, s.
            Must be shorter than the fastest wrap time (max range / max power: ~260 kJ /
            300 W ~ 15 min on typical parts); 10 s is far below.
        clock: Monotonic clock, seconds.
    """

    method: Literal["rapl"] = "rapl"
    sample_hz: float | None = None

    def __init__(
        self,
        zones: list[RaplZone],
        poll_interval_s: float = 10.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not zones:
            raise MeasurementError("RaplMeter needs at least one RAPL zone")
        self.zones = zones
        self.scope: Literal["cpu", "cpu+dram"] = "cpu+dram" if any(z.name == "dram" for z in zones) else "cpu"
        self.update_period_s = RAPL_UPDATE_PERIOD_S
        self._poll_interval_s = poll_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: list[int] = []
        self._acc_uj = 0
        self._t_start = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def poll(self) -> None:
        """Fold counter increases since the last read into the window total.

        The background thread calls this every ``poll_interval_s``; calling it more often
        is harmless. Each zone must not wrap more than once between two polls.

        Raises:
            MeasurementError: If no window is open.
        """
        if len(self._last) != len(self.zones):
            raise MeasurementError("RaplMeter.poll() called outside a begin()/end() window")
        with self._lock:
            for i, zone in enumerate(self.zones):
                now = zone.energy_uj()
                self._acc_uj += counter_delta(self._last[i], now, zone.max_energy_range_uj())
                self._last[i] = now

    def _run(self) -> None:
        while not self._stop.wait(self._poll_interval_s):
            try:
                self.poll()
            except BaseException as exc:  # noqa: BLE001 - surfaced in end()
                self._error = exc
                return

    def begin(self) -> None:
        """Read all counters and start the wrap-guard poll thread."""
        if self._thread is not None:
            raise MeasurementError("RaplMeter.begin() called twice without end()")
        with self._lock:
            self._last = [z.energy_uj() for z in self.zones]
            self._acc_uj = 0
        self._t_start = self._clock()
        self._error = None
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="eai-rapl-poll", daemon=True)
        self._thread.start()

    def end(self) -> MeterReading:
        """Stop polling, read the counters, return the window's energy.

        Raises:
            MeasurementError: If no window is open or a read failed.
        """
        if self._thread is None:
            raise MeasurementError("RaplMeter.end() called without begin()")
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self._error is not None:
            raise MeasurementError(f"reading RAPL failed: {self._error}")
        try:
            self.poll()
        except OSError as exc:
            raise MeasurementError(f"reading RAPL failed: {exc}") from exc
        t_end = self._clock()
        self._last = []
        energy_j = self._acc_uj / 1e6
        time_s = t_end - self._t_start
        return counter_reading(self, energy_j, time_s)

    def close(self) -> None:
        """Stop the poll thread if a window is open. Idempotent."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self._last = []


def rapl_meter(device: str = "cpu", rapl_root: Path | str = DEFAULT_POWERCAP_ROOT, **_: Any) -> RaplMeter:
    """``rapl`` meter over all package and DRAM zones under ``rapl_root``.

    Raises:
        MeasurementError: If ``device`` is not ``cpu`` or RAPL is not readable (says why).
    """
    if device != "cpu":
        raise MeasurementError(f"meter 'rapl' measures the CPU, not {device!r}")
    root = Path(rapl_root)
    ok, reason = rapl_readable(root)
    if not ok:
        raise MeasurementError(f"meter 'rapl' is not available: {reason}; use meter 'estimated' instead")
    return RaplMeter(list(discover_zones(root)))
