"""Record the environment a measurement ran in.

Energy figures depend on things outside the model: the device, its driver, its power
limit, the clocks and temperature it ran at, and the library versions. Capture them at
the start of a run and again at its end::

    env = capture_environment(gpu)        # gpu: a GpuDevice, or None on CPU
    ...                                   # the measured run
    env = env.finish(gpu)                 # adds end clocks/temperature
    json.dump(env.to_dict(), fh)

Library versions come from :mod:`importlib.metadata` only: nothing heavy is imported.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import platform
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from profiler.hardware.base import GpuDevice

DEFAULT_LIBRARIES: tuple[str, ...] = (
    "eai",
    "torch",
    "transformers",
    "accelerate",
    "bitsandbytes",
    "lm-eval",
    "nvidia-ml-py",
    "gguf",
    "llama-cpp-python",
    "vllm",
    "numpy",
)
"""Distributions whose versions are recorded (``None`` when not installed)."""

T = TypeVar("T")


def library_versions(names: Sequence[str] = DEFAULT_LIBRARIES) -> dict[str, str | None]:
    """Installed version of each distribution, ``None`` if it is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """CPU model name (``model name`` in /proc/cpuinfo, else :func:`platform.processor`)."""
    portable = platform.processor() or platform.machine() or "unknown"
    try:
        text = cpuinfo.read_text()
    except OSError:  # not Linux: the portable answer is all there is
        return portable
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return portable


def _read(what: str, fn: Callable[[], T], notes: list[str]) -> T | None:
    # One unreadable field (NVML "Not Supported" for clocks on some boards) must not lose
    # the whole record; the reason is kept in ``notes``.
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - recorded in notes, not swallowed
        notes.append(f"{what} unavailable: {type(exc).__name__}: {exc}")
        return None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class EnvironmentRecord:
    """Where and with what a measurement ran.

    Attributes:
        started_at_utc: ISO-8601 UTC time of :func:`capture_environment`.
        finished_at_utc: ISO-8601 UTC time of :meth:`finish`; ``None`` until then.
        python_version: ``sys.version`` first word.
        os_platform: :func:`platform.platform` string.
        cpu_model: CPU model name.
        cpu_count: Logical CPUs visible to this process.
        hostname_sha256: SHA-256 of the host name (first 16 hex digits) when asked for,
            to tell machines apart without publishing their names; else ``None``.
        library_versions: Distribution -> version (``None``: not installed).
        gpu_name: Device name; ``None`` without a GPU.
        gpu_index: NVML index.
        gpu_driver_version: Driver version.
        gpu_power_limit_w: Enforced power limit at start, watts.
        gpu_clocks_mhz_start: SM/memory clocks at start, MHz.
        gpu_clocks_mhz_end: SM/memory clocks at end, MHz.
        gpu_temperature_c_start: Core temperature at start, degrees C.
        gpu_temperature_c_end: Core temperature at end, degrees C.
        gpu_power_w_start: Power reading at start, watts.
        gpu_power_w_end: Power reading at end, watts.
        notes: Fields that could not be read, and why.
    """

    started_at_utc: str
    python_version: str
    os_platform: str
    cpu_model: str
    cpu_count: int
    library_versions: dict[str, str | None]
    hostname_sha256: str | None = None
    finished_at_utc: str | None = None
    gpu_name: str | None = None
    gpu_index: int | None = None
    gpu_driver_version: str | None = None
    gpu_power_limit_w: float | None = None
    gpu_clocks_mhz_start: dict[str, int] | None = None
    gpu_clocks_mhz_end: dict[str, int] | None = None
    gpu_temperature_c_start: int | None = None
    gpu_temperature_c_end: int | None = None
    gpu_power_w_start: float | None = None
    gpu_power_w_end: float | None = None
    notes: tuple[str, ...] = field(default=())

    def finish(self, gpu: GpuDevice | None = None) -> EnvironmentRecord:
        """A copy with the end time and, with a GPU, end clocks/temperature/power."""
        notes = list(self.notes)
        changes: dict[str, Any] = {"finished_at_utc": _now()}
        if gpu is not None:
            changes["gpu_clocks_mhz_end"] = _read("end clocks", gpu.clocks_mhz, notes)
            changes["gpu_temperature_c_end"] = _read("end temperature", gpu.temperature_c, notes)
            power_mw = _read("end power", gpu.power_mw, notes)
            changes["gpu_power_w_end"] = None if power_mw is None else power_mw / 1000.0
        changes["notes"] = tuple(notes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable dict of every field."""
        d = dataclasses.asdict(self)
        d["notes"] = list(self.notes)
        return d


def capture_environment(
    gpu: GpuDevice | None = None,
    *,
    hostname_hash: bool = False,
    libraries: Sequence[str] = DEFAULT_LIBRARIES,
) -> EnvironmentRecord:
    """Record the environment at the start of a run.

    Args:
        gpu: The device being measured (:class:`~profiler.hardware.base.GpuDevice`, e.g.
            ``meter.device`` of an NVML meter), or ``None`` for CPU runs.
        hostname_hash: Whether to store a hash of the host name.
        libraries: Distributions whose versions to record.

    Returns:
        A record; call :meth:`EnvironmentRecord.finish` at the end of the run.
    """
    notes: list[str] = []
    record = EnvironmentRecord(
        started_at_utc=_now(),
        python_version=sys.version.split()[0],
        os_platform=platform.platform(),
        cpu_model=cpu_model(),
        cpu_count=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
        library_versions=library_versions(libraries),
        hostname_sha256=hashlib.sha256(socket.gethostname().encode()).hexdigest()[:16] if hostname_hash else None,
    )
    if gpu is None:
        return record
    power_limit_mw = _read("power limit", gpu.power_limit_mw, notes)
    power_mw = _read("start power", gpu.power_mw, notes)
    return dataclasses.replace(
        record,
        gpu_name=_read("name", gpu.name, notes),
        gpu_index=gpu.index,
        gpu_driver_version=_read("driver version", gpu.driver_version, notes),
        gpu_power_limit_w=None if power_limit_mw is None else power_limit_mw / 1000.0,
        gpu_clocks_mhz_start=_read("start clocks", gpu.clocks_mhz, notes),
        gpu_temperature_c_start=_read("start temperature", gpu.temperature_c, notes),
        gpu_power_w_start=None if power_mw is None else power_mw / 1000.0,
        notes=tuple(notes),
    )
