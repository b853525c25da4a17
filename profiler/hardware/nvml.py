"""NVML device wrapper: the only module in eai that imports ``pynvml``.

``pynvml`` (package ``nvidia-ml-py``) is imported inside functions, so importing
:mod:`profiler.hardware` on a machine without a GPU or without the package works; the
import happens when an NVML meter or device is first created.
"""

from __future__ import annotations

import os
import threading
from types import ModuleType
from typing import Any

from profiler.hardware.base import GpuDevice
from profiler.hardware.gpu_meters import DEFAULT_COUNTER_UPDATE_PERIOD_S, DEFAULT_SAMPLE_HZ, CounterMeter, SampledMeter
from recommender.errors import MeasurementError

_init_lock = threading.Lock()
_initialized = False


def _nvml() -> ModuleType:
    """Import pynvml and initialize NVML once per process.

    Raises:
        MeasurementError: If nvidia-ml-py is not installed or NVML cannot initialize
            (no driver, no GPU).
    """
    global _initialized
    try:
        import pynvml
    except ImportError as exc:
        raise MeasurementError(
            "GPU energy meters need nvidia-ml-py: pip install 'eai[profile]' (or nvidia-ml-py)"
        ) from exc
    with _init_lock:
        if not _initialized:
            try:
                pynvml.nvmlInit()
            except pynvml.NVMLError as exc:
                raise MeasurementError(
                    f"NVML could not initialize ({exc}); is an NVIDIA driver loaded and a GPU visible?"
                ) from exc
            _initialized = True
    return pynvml


def _text(value: str | bytes) -> str:
    # Older pynvml releases return bytes.
    return value.decode() if isinstance(value, bytes) else value


def _cuda_ordinal_to_handle(pynvml: ModuleType, ordinal: int) -> Any:
    """NVML handle of CUDA device ``ordinal`` as the current process numbers them.

    CUDA ordinals are renumbered by ``CUDA_VISIBLE_DEVICES`` while NVML indices are
    physical, so the mapping goes through the visible-devices list (indices or UUIDs).
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None or visible.strip() == "":
        return pynvml.nvmlDeviceGetHandleByIndex(ordinal)
    entries = [e.strip() for e in visible.split(",") if e.strip()]
    if ordinal >= len(entries):
        raise MeasurementError(
            f"cuda:{ordinal} is not visible: CUDA_VISIBLE_DEVICES={visible!r} lists {len(entries)} device(s)"
        )
    entry = entries[ordinal]
    if entry.isdigit():
        return pynvml.nvmlDeviceGetHandleByIndex(int(entry))
    return pynvml.nvmlDeviceGetHandleByUUID(entry)


class NvmlDevice:
    """One GPU read through NVML; implements :class:`~profiler.hardware.base.GpuDevice`.

    Args:
        cuda_ordinal: CUDA device number as the process sees it (``cuda:N``).

    Raises:
        MeasurementError: If NVML is unavailable or the device does not exist.
    """

    def __init__(self, cuda_ordinal: int = 0) -> None:
        self._pynvml = _nvml()
        try:
            self._handle = _cuda_ordinal_to_handle(self._pynvml, cuda_ordinal)
            self._index = int(self._pynvml.nvmlDeviceGetIndex(self._handle))
        except self._pynvml.NVMLError as exc:
            raise MeasurementError(f"no NVML device for cuda:{cuda_ordinal}: {exc}") from exc
        self._energy_supported: bool | None = None
        # None: not probed yet; True: use the instantaneous power field; False: use
        # nvmlDeviceGetPowerUsage (a 1 s average on some newer GPUs).
        self._instant_power: bool | None = None

    @property
    def index(self) -> int:
        """NVML (physical) index of the device."""
        return self._index

    def name(self) -> str:
        """Device name as NVML reports it."""
        return _text(self._pynvml.nvmlDeviceGetName(self._handle))

    def driver_version(self) -> str:
        """NVIDIA driver version."""
        return _text(self._pynvml.nvmlSystemGetDriverVersion())

    def supports_energy_counter(self) -> bool:
        """Probe ``nvmlDeviceGetTotalEnergyConsumption`` once (Volta and newer)."""
        if self._energy_supported is None:
            try:
                self._pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
                self._energy_supported = True
            except self._pynvml.NVMLError as exc:
                if exc.value not in (
                    self._pynvml.NVML_ERROR_NOT_SUPPORTED,
                    self._pynvml.NVML_ERROR_FUNCTION_NOT_FOUND,
                ):
                    raise MeasurementError(f"reading the energy counter of GPU {self._index} failed: {exc}") from exc
                self._energy_supported = False
        return self._energy_supported

    def total_energy_mj(self) -> int:
        """Energy since driver load, mJ.

        Raises:
            MeasurementError: If the read fails.
        """
        try:
            return int(self._pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except self._pynvml.NVMLError as exc:
            raise MeasurementError(f"reading the energy counter of GPU {self._index} failed: {exc}") from exc

    def _instant_power_mw(self) -> int | None:
        field = getattr(self._pynvml, "NVML_FI_DEV_POWER_INSTANT", None)
        if field is None:
            return None
        values = self._pynvml.nvmlDeviceGetFieldValues(self._handle, [field])
        if values[0].nvmlReturn != self._pynvml.NVML_SUCCESS:
            return None
        return int(values[0].value.uiVal)

    def power_mw(self) -> int:
        """Current power, mW: the instantaneous field where the driver has it, else
        ``nvmlDeviceGetPowerUsage``.

        Raises:
            MeasurementError: If the read fails.
        """
        try:
            if self._instant_power is not False:
                value = self._instant_power_mw()
                if value is not None:
                    self._instant_power = True
                    return value
                self._instant_power = False
            return int(self._pynvml.nvmlDeviceGetPowerUsage(self._handle))
        except self._pynvml.NVMLError as exc:
            raise MeasurementError(f"reading the power of GPU {self._index} failed: {exc}") from exc

    def power_limit_mw(self) -> int:
        """Enforced power limit, mW."""
        return int(self._pynvml.nvmlDeviceGetEnforcedPowerLimit(self._handle))

    def clocks_mhz(self) -> dict[str, int]:
        """Current SM and memory clocks, MHz."""
        p = self._pynvml
        return {
            "sm": int(p.nvmlDeviceGetClockInfo(self._handle, p.NVML_CLOCK_SM)),
            "mem": int(p.nvmlDeviceGetClockInfo(self._handle, p.NVML_CLOCK_MEM)),
        }

    def temperature_c(self) -> int:
        """GPU core temperature, degrees Celsius."""
        p = self._pynvml
        return int(p.nvmlDeviceGetTemperature(self._handle, p.NVML_TEMPERATURE_GPU))


def parse_cuda_device(device: str) -> int:
    """CUDA ordinal of ``"cuda"`` (0) or ``"cuda:N"`` (N).

    Raises:
        MeasurementError: For anything else.
    """
    if device == "cuda":
        return 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise MeasurementError(f"not a CUDA device: {device!r}; use 'cuda' or 'cuda:N'")


def open_device(device: str = "cuda") -> GpuDevice:
    """Open the NVML device for a torch device string (``cuda``/``cuda:N``)."""
    return NvmlDevice(parse_cuda_device(device))


def counter_meter(
    device: str = "cuda", update_period_s: float = DEFAULT_COUNTER_UPDATE_PERIOD_S, **_: Any
) -> CounterMeter:
    """``nvml-counter`` meter for ``device``.

    Raises:
        MeasurementError: If NVML is unavailable or the GPU has no energy counter.
    """
    return CounterMeter(open_device(device), update_period_s=update_period_s)


def sampled_meter(device: str = "cuda", sample_hz: float = DEFAULT_SAMPLE_HZ, **_: Any) -> SampledMeter:
    """``nvml-sampled`` meter for ``device`` polling power at ``sample_hz`` Hz.

    Raises:
        MeasurementError: If NVML is unavailable.
    """
    return SampledMeter(open_device(device), sample_hz=sample_hz)


def best_meter(device: str = "cuda", sample_hz: float = DEFAULT_SAMPLE_HZ, **_: Any) -> CounterMeter | SampledMeter:
    """``nvml-counter`` when the GPU has the counter, else ``nvml-sampled``."""
    gpu = open_device(device)
    if gpu.supports_energy_counter():
        return CounterMeter(gpu)
    return SampledMeter(gpu, sample_hz=sample_hz)
