"""Fakes for testing and benchmarking meters without hardware.

- :class:`PowerTrace`: a power-vs-time trace (step or linear), loaded from
  ``profiler/traces/*.csv``, with the exact energy integral between any two times.
- :class:`FakeGpu`: a :class:`~profiler.hardware.base.GpuDevice` replaying a trace. Like
  real NVML, its energy counter only moves every ``counter_update_period_s`` and its power
  reading can be a boxcar average refreshed every ``power_update_period_s``.
- :class:`ManualClock`: a clock tests advance by hand.
- :class:`FakeRaplZone` and :func:`make_fake_rapl_tree`: in-memory and on-disk RAPL
  zones for wrap-around tests.

Trace CSV format: ``#`` comment lines (``# interpolation: step|linear`` is read; others are
free text), a ``time_s,power_w`` header, then rows with strictly increasing ``time_s``
starting at 0. With ``step`` interpolation a row's power holds until the next row's time;
the last row marks the end of the trace. Past its end a trace repeats (periodic).
"""

from __future__ import annotations

import bisect
import math
import threading
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

TRACES_DIR = Path(__file__).resolve().parent.parent / "traces"
"""Directory of the bundled traces (``profiler/traces``)."""


@dataclass(frozen=True)
class PowerTrace:
    """Power over time with an exact integral.

    Attributes:
        times_s: Breakpoints, seconds, strictly increasing, first is 0.
        powers_w: Power at each breakpoint, watts (>= 0).
        interpolation: ``step`` (hold until next breakpoint) or ``linear``.
        name: Label for reports.
    """

    times_s: tuple[float, ...]
    powers_w: tuple[float, ...]
    interpolation: Literal["step", "linear"] = "step"
    name: str = ""
    _cum_j: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.times_s) != len(self.powers_w) or len(self.times_s) < 2:
            raise ValueError("a trace needs >= 2 breakpoints and as many powers as times")
        if self.times_s[0] != 0:
            raise ValueError(f"a trace starts at time 0, got {self.times_s[0]}")
        if any(b <= a for a, b in zip(self.times_s, self.times_s[1:], strict=False)):
            raise ValueError("trace times must be strictly increasing")
        if any(p < 0 for p in self.powers_w):
            raise ValueError("trace powers must be >= 0 W")
        if self.interpolation not in ("step", "linear"):
            raise ValueError(f"interpolation must be 'step' or 'linear', got {self.interpolation!r}")
        cum = [0.0]
        for i in range(1, len(self.times_s)):
            dt = self.times_s[i] - self.times_s[i - 1]
            if self.interpolation == "step":
                cum.append(cum[-1] + self.powers_w[i - 1] * dt)
            else:
                cum.append(cum[-1] + 0.5 * (self.powers_w[i - 1] + self.powers_w[i]) * dt)
        object.__setattr__(self, "_cum_j", tuple(cum))

    @property
    def duration_s(self) -> float:
        """Length of one period of the trace, seconds."""
        return self.times_s[-1]

    @property
    def period_energy_j(self) -> float:
        """Energy of one full period, joules."""
        return self._cum_j[-1]

    def _locate(self, t: float) -> tuple[int, float]:
        periods = math.floor(t / self.duration_s)
        return periods, t - periods * self.duration_s

    def power_w_at(self, t_s: float) -> float:
        """Power at time ``t_s`` (periodic past the end), watts."""
        _, tau = self._locate(t_s)
        i = bisect.bisect_right(self.times_s, tau) - 1
        i = min(max(i, 0), len(self.times_s) - 2)
        if self.interpolation == "step":
            return self.powers_w[i]
        t0, t1 = self.times_s[i], self.times_s[i + 1]
        p0, p1 = self.powers_w[i], self.powers_w[i + 1]
        return p0 + (p1 - p0) * (tau - t0) / (t1 - t0)

    def _energy_from_zero(self, t_s: float) -> float:
        periods, tau = self._locate(t_s)
        i = bisect.bisect_right(self.times_s, tau) - 1
        i = min(max(i, 0), len(self.times_s) - 2)
        dt = tau - self.times_s[i]
        if self.interpolation == "step":
            partial = self.powers_w[i] * dt
        else:
            partial = 0.5 * (self.powers_w[i] + self.power_w_at(t_s)) * dt
        return periods * self.period_energy_j + self._cum_j[i] + partial

    def energy_j(self, t0_s: float, t1_s: float) -> float:
        """Exact energy between ``t0_s`` and ``t1_s``, joules."""
        return self._energy_from_zero(t1_s) - self._energy_from_zero(t0_s)

    def mean_power_w(self, t0_s: float, t1_s: float) -> float:
        """Exact mean power over ``[t0_s, t1_s]``, watts."""
        if t1_s <= t0_s:
            return self.power_w_at(t0_s)
        return self.energy_j(t0_s, t1_s) / (t1_s - t0_s)

    @classmethod
    def from_csv(cls, path: Path | str) -> PowerTrace:
        """Load a trace CSV (see module docstring).

        Raises:
            ValueError: On a malformed file (message names the file and line).
        """
        path = Path(path)
        interpolation: Literal["step", "linear"] = "step"
        times: list[float] = []
        powers: list[float] = []
        header_seen = False
        for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                if key.strip() == "interpolation":
                    v = value.strip()
                    if v not in ("step", "linear"):
                        raise ValueError(f"{path}:{lineno}: interpolation must be step or linear, got {v!r}")
                    interpolation = "step" if v == "step" else "linear"
                continue
            if not header_seen:
                if line.replace(" ", "") != "time_s,power_w":
                    raise ValueError(f"{path}:{lineno}: expected header 'time_s,power_w', got {line!r}")
                header_seen = True
                continue
            try:
                t_str, p_str = line.split(",")
                times.append(float(t_str))
                powers.append(float(p_str))
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: bad row {line!r}: {exc}") from exc
        return cls(tuple(times), tuple(powers), interpolation, name=path.stem)

    def to_csv(self, path: Path | str, comments: Sequence[str] = ()) -> None:
        """Write the trace as CSV with ``comments`` as leading ``#`` lines."""
        lines = [f"# {c}" for c in comments]
        lines.append(f"# interpolation: {self.interpolation}")
        lines.append("time_s,power_w")
        lines.extend(f"{t:.6f},{p:.3f}" for t, p in zip(self.times_s, self.powers_w, strict=True))
        Path(path).write_text("\n".join(lines) + "\n")


def load_trace(name: str) -> PowerTrace:
    """Load a bundled trace from ``profiler/traces`` by file stem.

    Raises:
        UnknownNameError: If no such trace exists (with "did you mean").
    """
    path = TRACES_DIR / f"{name}.csv"
    if not path.exists():
        from recommender.errors import UnknownNameError

        raise UnknownNameError("power trace", name, bundled_traces())
    return PowerTrace.from_csv(path)


def bundled_traces() -> list[str]:
    """Stems of the traces in ``profiler/traces``."""
    return sorted(p.stem for p in TRACES_DIR.glob("*.csv"))


class ManualClock:
    """A clock that only moves when told to; call it to read seconds."""

    def __init__(self, start_s: float = 0.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self.now_s += seconds


class VirtualTime:
    """Simulated time shared by a test's main thread and a meter's sampling thread.

    The clock moves only as far as the main thread allows (:meth:`advance_to`); the sampling
    thread's waits (:meth:`wait`, given to :class:`~profiler.hardware.SampledMeter` as
    ``wait``) jump the clock to each sample time within that horizon. So the real,
    threaded meter replays minutes of a trace in milliseconds, with the same samples on
    every run (no dependence on how busy the machine is).
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self.now_s = start_s
        self._horizon_s = start_s
        self._blocked_at: float | None = None
        self._cond = threading.Condition()

    def __call__(self) -> float:
        return self.now_s

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Sampling thread: let ``seconds`` pass, or return True once ``stop`` is set."""
        target = self.now_s + max(0.0, seconds)
        with self._cond:
            while target > self._horizon_s:
                if stop.is_set():
                    return True
                self._blocked_at = target
                self._cond.notify_all()
                self._cond.wait(0.001)  # short: the stop event is polled, not notified
            self._blocked_at = None
            self.now_s = target
        return stop.is_set()

    def advance_to(self, t_s: float, sampler: bool = True) -> None:
        """Main thread: move time to ``t_s``, letting a running sampler take every sample before it.

        Args:
            t_s: New time, seconds (>= now).
            sampler: Whether a sampling thread is running (then wait until it is parked
                beyond ``t_s``).
        """
        if t_s < self.now_s:
            raise ValueError("time cannot go backwards")
        with self._cond:
            self._horizon_s = t_s
            self._cond.notify_all()
            while sampler and not (self._blocked_at is not None and self._blocked_at > t_s):
                self._cond.wait(0.01)
            self.now_s = t_s


class RealTimeClock:
    """Seconds since construction on ``time.perf_counter``, times ``speed``."""

    def __init__(self, speed: float = 1.0) -> None:
        self._t0 = time.perf_counter()
        self.speed = speed

    def __call__(self) -> float:
        return (time.perf_counter() - self._t0) * self.speed


class FakeGpu:
    """A :class:`~profiler.hardware.base.GpuDevice` replaying a :class:`PowerTrace`.

    Args:
        trace: Power over time (trace time 0 = clock 0).
        clock: Trace-time clock, seconds; default real time since construction. Meters
            used with this device must be given the same clock.
        counter_update_period_s: The energy counter moves only at multiples of this, s
            (NVML-like); 0 updates continuously.
        power_update_period_s: When > 0, ``power_mw()`` returns the mean power over the
            last completed period of this length (a boxcar-averaged reading such as a
            1 s average); 0 returns the instantaneous power.
        energy_counter: Whether ``supports_energy_counter()`` is true (pre-Volta: false).
        counter_offset_mj: Counter value at trace time 0 (energy since "driver load").
        name: Device name.
        index: NVML index.
        power_limit_w: Reported power limit, watts.
    """

    def __init__(
        self,
        trace: PowerTrace,
        clock: Callable[[], float] | None = None,
        counter_update_period_s: float = 0.1,
        power_update_period_s: float = 0.0,
        energy_counter: bool = True,
        counter_offset_mj: int = 123_456_789,
        name: str = "Fake GPU (replayed trace)",
        index: int = 0,
        power_limit_w: float = 300.0,
    ) -> None:
        self.trace = trace
        self.clock: Callable[[], float] = clock if clock is not None else RealTimeClock()
        self.counter_update_period_s = counter_update_period_s
        self.power_update_period_s = power_update_period_s
        self._energy_counter = energy_counter
        self._offset_mj = counter_offset_mj
        self._name = name
        self._index = index
        self._power_limit_w = power_limit_w
        self.power_reads = 0

    @property
    def index(self) -> int:
        """Fake NVML index."""
        return self._index

    def name(self) -> str:
        """Device name."""
        return self._name

    def driver_version(self) -> str:
        """A fixed fake driver version."""
        return "fake-0.0"

    def supports_energy_counter(self) -> bool:
        """Whether the fake has an energy counter."""
        return self._energy_counter

    def total_energy_mj(self) -> int:
        """Exact trace energy up to the last counter update, mJ."""
        if not self._energy_counter:
            raise RuntimeError("this FakeGpu has no energy counter")
        t = self.clock()
        if self.counter_update_period_s > 0:
            t = math.floor(t / self.counter_update_period_s) * self.counter_update_period_s
        return self._offset_mj + int(self.trace.energy_j(0.0, t) * 1000.0)

    def power_mw(self) -> int:
        """Power reading, mW (instantaneous or boxcar-averaged, see class doc)."""
        self.power_reads += 1
        t = self.clock()
        period = self.power_update_period_s
        if period > 0:
            t_upd = math.floor(t / period) * period
            if t_upd <= 0:  # no completed period yet: report the starting power
                return int(self.trace.power_w_at(0.0) * 1000.0)
            return int(self.trace.mean_power_w(t_upd - period, t_upd) * 1000.0)
        return int(self.trace.power_w_at(t) * 1000.0)

    def power_limit_mw(self) -> int:
        """Configured fake power limit, mW."""
        return int(self._power_limit_w * 1000)

    def clocks_mhz(self) -> dict[str, int]:
        """Fixed fake clocks, MHz."""
        return {"sm": 1410, "mem": 1215}

    def temperature_c(self) -> int:
        """A temperature that rises slowly with trace time, degrees C."""
        return 40 + min(40, int(self.clock() / 10.0))


class FakeRaplZone:
    """In-memory :class:`~profiler.hardware.base.RaplZone` whose counter tests set."""

    def __init__(self, name: str, max_energy_range_uj: int, energy_uj: int = 0) -> None:
        self._name = name
        self._max = max_energy_range_uj
        self.value_uj = energy_uj

    @property
    def name(self) -> str:
        """Zone name."""
        return self._name

    def energy_uj(self) -> int:
        """Current counter, uJ."""
        return self.value_uj

    def max_energy_range_uj(self) -> int:
        """Wrap value, uJ."""
        return self._max

    def add_uj(self, energy_uj: int) -> None:
        """Consume ``energy_uj``, wrapping like hardware."""
        self.value_uj = (self.value_uj + energy_uj) % self._max


def make_fake_rapl_tree(
    root: Path, packages: int = 1, dram: bool = True, max_energy_range_uj: int = 262_143_328_850
) -> dict[str, Path]:
    """Create a powercap-like tree under ``root`` (e.g. a pytest tmp dir).

    Each package gets ``intel-rapl:N`` (name ``package-N``) with a ``core`` sub-zone
    (``intel-rapl:N:0``, must be ignored) and, if ``dram``, a ``dram`` sub-zone
    (``intel-rapl:N:1``). All counters start at 0.

    Returns:
        Zone name -> directory, e.g. ``{"package-0": ..., "package-0/dram": ...}``.
    """
    made: dict[str, Path] = {}
    for n in range(packages):
        pkg = root / f"intel-rapl:{n}"
        subs = [("core", f"intel-rapl:{n}:0")] + ([("dram", f"intel-rapl:{n}:1")] if dram else [])
        for zone_dir, zone_name in [(pkg, f"package-{n}")] + [(pkg / d, s) for s, d in subs]:
            zone_dir.mkdir(parents=True, exist_ok=True)
            (zone_dir / "name").write_text(zone_name + "\n")
            (zone_dir / "energy_uj").write_text("0\n")
            (zone_dir / "max_energy_range_uj").write_text(f"{max_energy_range_uj}\n")
            key = zone_name if zone_dir == pkg else f"package-{n}/{zone_name}"
            made[key] = zone_dir
    return made


def set_rapl_energy(zone_dir: Path, energy_uj: int) -> None:
    """Set a fake sysfs zone's ``energy_uj``."""
    (zone_dir / "energy_uj").write_text(f"{energy_uj}\n")


class FakeNVMLError(Exception):
    """Stand-in for ``pynvml.NVMLError`` (carries ``value``, NVML's return code)."""

    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class FakeNvmlGpu:
    """One GPU of :func:`make_fake_pynvml`.

    Attributes:
        gpu: The replaying device behind its energy and power reads.
        uuid: NVML UUID, ``GPU-`` prefixed as NVML returns it.
        pci_bus_id: PCI address as NVML writes it (``00000000:3B:00.0``).
        name: Marketing name.
        process_ids: Processes with a context on it (NVML's running-process list).
    """

    gpu: FakeGpu
    uuid: str
    pci_bus_id: str
    name: str = "NVIDIA Fake-100"
    process_ids: list[int] = field(default_factory=list)


def make_fake_pynvml(gpus: Sequence[FakeNvmlGpu]) -> types.ModuleType:
    """A module shaped like ``pynvml`` (nvidia-ml-py) over fake GPUs, NVML index = list order.

    Implements what :mod:`profiler.hardware.nvml` calls: ``nvmlInit``,
    ``nvmlDeviceGetCount``, ``nvmlDeviceGetHandleByIndex`` / ``ByUUID`` /
    ``ByPciBusId_v2``, ``nvmlDeviceGetIndex``, ``GetName``, ``GetUUID``, ``GetPciInfo``,
    ``GetTotalEnergyConsumption`` (mJ), ``GetPowerUsage`` (mW), ``GetFieldValues``
    (``NVML_FI_DEV_POWER_INSTANT``), ``GetEnforcedPowerLimit``, ``GetClockInfo``,
    ``GetTemperature``, ``GetComputeRunningProcesses`` / ``GetGraphicsRunningProcesses``
    and ``nvmlSystemGetDriverVersion``, with pynvml's constants and ``NVMLError``. Every
    handle lookup is logged in ``module.opened`` as ``(how, key)``.
    """
    m = types.ModuleType("pynvml")
    m.NVMLError = FakeNVMLError  # type: ignore[attr-defined]
    m.NVML_SUCCESS = 0  # type: ignore[attr-defined]
    m.NVML_ERROR_NOT_FOUND = 6  # type: ignore[attr-defined]
    m.NVML_ERROR_NOT_SUPPORTED = 3  # type: ignore[attr-defined]
    m.NVML_ERROR_FUNCTION_NOT_FOUND = 13  # type: ignore[attr-defined]
    m.NVML_FI_DEV_POWER_INSTANT = 186  # type: ignore[attr-defined]
    m.NVML_CLOCK_SM, m.NVML_CLOCK_MEM, m.NVML_TEMPERATURE_GPU = 1, 2, 0  # type: ignore[attr-defined]
    m.opened = []  # type: ignore[attr-defined]
    devices = list(gpus)

    def lookup(how: str, key: object, match: Callable[[FakeNvmlGpu], bool]) -> int:
        m.opened.append((how, key))  # type: ignore[attr-defined]
        for i, g in enumerate(devices):
            if match(g):
                return i
        raise FakeNVMLError(6)

    def by_index(i: int) -> int:
        return lookup("index", i, lambda g: devices.index(g) == i)

    def dev(h: int) -> FakeNvmlGpu:
        return devices[h]

    def processes(h: int) -> list[types.SimpleNamespace]:
        return [types.SimpleNamespace(pid=p, usedGpuMemory=1 << 30) for p in dev(h).process_ids]

    def fields(h: int, ids: list[int]) -> list[types.SimpleNamespace]:
        return [types.SimpleNamespace(nvmlReturn=0, value=types.SimpleNamespace(uiVal=dev(h).gpu.power_mw()))]

    m.nvmlInit = lambda: None  # type: ignore[attr-defined]
    m.nvmlDeviceGetCount = lambda: len(devices)  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByIndex = by_index  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByUUID = lambda u: lookup("uuid", u, lambda g: g.uuid == u)  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByPciBusId_v2 = (  # type: ignore[attr-defined]
        lambda b: lookup("pci", b, lambda g: g.pci_bus_id.upper() == b.upper())
    )
    m.nvmlDeviceGetIndex = lambda h: h  # type: ignore[attr-defined]
    m.nvmlDeviceGetName = lambda h: dev(h).name  # type: ignore[attr-defined]
    m.nvmlDeviceGetUUID = lambda h: dev(h).uuid  # type: ignore[attr-defined]
    m.nvmlDeviceGetPciInfo = lambda h: types.SimpleNamespace(busId=dev(h).pci_bus_id)  # type: ignore[attr-defined]
    m.nvmlSystemGetDriverVersion = lambda: "fake-550.54"  # type: ignore[attr-defined]
    m.nvmlDeviceGetTotalEnergyConsumption = lambda h: dev(h).gpu.total_energy_mj()  # type: ignore[attr-defined]
    m.nvmlDeviceGetPowerUsage = lambda h: dev(h).gpu.power_mw()  # type: ignore[attr-defined]
    m.nvmlDeviceGetFieldValues = fields  # type: ignore[attr-defined]
    m.nvmlDeviceGetEnforcedPowerLimit = lambda h: dev(h).gpu.power_limit_mw()  # type: ignore[attr-defined]
    m.nvmlDeviceGetClockInfo = lambda h, c: 1410 if c == 1 else 1215  # type: ignore[attr-defined]
    m.nvmlDeviceGetTemperature = lambda h, s: dev(h).gpu.temperature_c()  # type: ignore[attr-defined]
    m.nvmlDeviceGetComputeRunningProcesses = processes  # type: ignore[attr-defined]
    m.nvmlDeviceGetGraphicsRunningProcesses = lambda h: []  # type: ignore[attr-defined]
    return m
