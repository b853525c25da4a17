"""NVML device wrapper: the only module in eai that imports ``pynvml``.

``pynvml`` (package ``nvidia-ml-py``) is imported inside functions, so importing
:mod:`profiler.hardware` on a machine without a GPU or without the package works; the
import happens when an NVML meter or device is first created.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from profiler.hardware.base import GpuDevice
from profiler.hardware.gpu_meters import DEFAULT_SAMPLE_HZ, CounterMeter, MultiGpuMeter, SampledMeter
from recommender.errors import MeasurementError

_init_lock = threading.Lock()
_initialized = False


NVML_SAMPLER: Literal["thread", "process"] = "process" if os.name == "posix" else "thread"
"""Where the NVML sampled meters poll: a process of their own (:mod:`profiler.hardware.sampler`;
its private pipes are passed with ``pass_fds``, which only POSIX has), else a thread."""


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


@dataclass(frozen=True)
class CudaIdentity:
    """How the CUDA runtime identifies one of its devices.

    Attributes:
        ordinal: CUDA ordinal as this process numbers it (``cuda:N``).
        uuid: Device UUID without NVML's ``GPU-`` prefix (``torch``'s ``props.uuid``), or None.
        pci_bus_id: PCI address as NVML writes it (``00000000:3B:00.0``), or None.
    """

    ordinal: int
    uuid: str | None = None
    pci_bus_id: str | None = None


def torch_cuda_identity(ordinal: int) -> CudaIdentity:
    """UUID and PCI address of CUDA device ``ordinal`` from ``torch.cuda.get_device_properties``.

    CUDA numbers devices fastest-first (unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``) and after
    ``CUDA_VISIBLE_DEVICES``; NVML numbers them by PCI bus. Matching by UUID or bus id is
    right in every case, ordinal = NVML index only in some.
    """
    import torch

    props = torch.cuda.get_device_properties(ordinal)
    uuid = getattr(props, "uuid", None)
    uuid_text = str(uuid).removeprefix("GPU-") if uuid is not None else None
    bus = getattr(props, "pci_bus_id", None)
    pci = None
    if bus is not None:
        pci = f"{int(getattr(props, 'pci_domain_id', 0)):08X}:{int(bus):02X}:{int(getattr(props, 'pci_device_id', 0)):02X}.0"
    return CudaIdentity(ordinal=ordinal, uuid=uuid_text, pci_bus_id=pci)


def _identity_or_none(ordinal: int) -> CudaIdentity | None:
    import sys

    if "torch" not in sys.modules:
        # Every GPU engine has imported torch by the time a meter opens its devices; do
        # not pay torch's import (seconds) just to meter, use the fallback instead.
        return None
    try:
        return torch_cuda_identity(ordinal)
    except (ImportError, RuntimeError, AssertionError, AttributeError):
        return None  # no torch or no CUDA runtime here: fall back to the visible-devices list


def _cuda_ordinal_to_handle(pynvml: ModuleType, ordinal: int, identity: CudaIdentity | None = None) -> Any:
    """NVML handle of CUDA device ``ordinal`` as the current process numbers them.

    By the device's UUID, else its PCI bus id (both from the CUDA runtime, see
    :func:`torch_cuda_identity`). Without them, through ``CUDA_VISIBLE_DEVICES`` (indices or
    UUIDs), which is right only when CUDA orders devices by PCI bus like NVML does
    (``CUDA_DEVICE_ORDER=PCI_BUS_ID``, or all GPUs of one model).

    Raises:
        MeasurementError: The ordinal is not visible, or CUDA and NVML order may differ and
            no identity is available.
    """
    if identity is not None and identity.uuid:
        return pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{identity.uuid}")
    if identity is not None and identity.pci_bus_id:
        by_bus = getattr(pynvml, "nvmlDeviceGetHandleByPciBusId_v2", None) or pynvml.nvmlDeviceGetHandleByPciBusId
        return by_bus(identity.pci_bus_id)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None or visible.strip() == "":
        entries = [str(i) for i in range(int(pynvml.nvmlDeviceGetCount()))]
    else:
        entries = [e.strip() for e in visible.split(",") if e.strip()]
    if ordinal >= len(entries):
        raise MeasurementError(
            f"cuda:{ordinal} is not visible: CUDA_VISIBLE_DEVICES={visible!r} lists {len(entries)} device(s)"
        )
    if os.environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
        names = {_text(pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i)))
                 for i in range(int(pynvml.nvmlDeviceGetCount()))}
        if len(names) > 1:
            raise MeasurementError(
                f"cannot tell which NVML device is cuda:{ordinal}: GPUs of {len(names)} models ({', '.join(sorted(names))}) "
                "and CUDA numbers them fastest-first; set CUDA_DEVICE_ORDER=PCI_BUS_ID or install torch with CUDA"
            )
    entry = entries[ordinal]
    if entry.isdigit():
        return pynvml.nvmlDeviceGetHandleByIndex(int(entry))
    return pynvml.nvmlDeviceGetHandleByUUID(entry)


def own_process_ids() -> set[int]:
    """This process and its descendants (vLLM's tensor-parallel workers are children)."""
    pids = {os.getpid()}
    try:
        import psutil

        pids.update(c.pid for c in psutil.Process().children(recursive=True))
    except ImportError:
        pass
    return pids


class NvmlDevice:
    """One GPU read through NVML; implements :class:`~profiler.hardware.base.GpuDevice`.

    Args:
        cuda_ordinal: CUDA device number as the process sees it (``cuda:N``).
        identity: The device's UUID / PCI bus id from the CUDA runtime; looked up with
            torch when None (see :func:`_cuda_ordinal_to_handle` for the fallback).
        pynvml_module: The ``pynvml`` module (tests pass a fake shaped like it).

    Raises:
        MeasurementError: If NVML is unavailable or the device does not exist.
    """

    def __init__(self, cuda_ordinal: int = 0, identity: CudaIdentity | None = None,
                 pynvml_module: ModuleType | None = None) -> None:
        self._pynvml = pynvml_module if pynvml_module is not None else _nvml()
        self.cuda_ordinal = cuda_ordinal
        if identity is None:
            identity = _identity_or_none(cuda_ordinal)
        try:
            self._handle = _cuda_ordinal_to_handle(self._pynvml, cuda_ordinal, identity)
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

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled for a sampling process (profiler.hardware.sampler): an NVML handle is a
        # pointer into this process, so the other one opens the same GPU again by its UUID,
        # which needs neither torch nor CUDA_VISIBLE_DEVICES there.
        if self._pynvml is not sys.modules.get("pynvml"):
            raise TypeError(f"GPU {self._index} is read through {self._pynvml!r}, not the pynvml module another process imports")
        uuid = self.uuid()
        return (_reopen_by_uuid, (self.cuda_ordinal, uuid[4:] if uuid.startswith("GPU-") else uuid))

    def uuid(self) -> str:
        """NVML UUID (``GPU-...``)."""
        return _text(self._pynvml.nvmlDeviceGetUUID(self._handle))

    def other_process_ids(self, own: set[int] | None = None) -> list[int]:
        """Processes other than this one (and its children) holding a context on this GPU.

        Their work lands in the same energy counter, so a row measured next to them is
        flagged ``other-gpu-processes``.
        """
        own = own_process_ids() if own is None else own
        pids: set[int] = set()
        for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            fn = getattr(self._pynvml, getter, None)
            if fn is None:
                continue
            try:
                pids.update(int(p.pid) for p in fn(self._handle))
            except self._pynvml.NVMLError as exc:
                if exc.value != self._pynvml.NVML_ERROR_NOT_SUPPORTED:
                    raise MeasurementError(f"listing processes on GPU {self._index} failed: {exc}") from exc
        return sorted(pids - own)

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


def _reopen_by_uuid(cuda_ordinal: int, uuid: str) -> NvmlDevice:
    """The GPU with NVML UUID ``GPU-<uuid>``, opened in this process (see ``NvmlDevice.__reduce__``)."""
    return NvmlDevice(cuda_ordinal, identity=CudaIdentity(cuda_ordinal, uuid=uuid))


def gpu_count() -> int:
    """NVIDIA GPUs NVML sees on this machine.

    Raises:
        MeasurementError: nvidia-ml-py missing or NVML unable to initialize (no driver/GPU).
    """
    pynvml = _nvml()
    try:
        return int(pynvml.nvmlDeviceGetCount())
    except pynvml.NVMLError as exc:
        raise MeasurementError(f"NVML could not count GPUs: {exc}") from exc


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


def counter_meter(device: str = "cuda", update_period_s: float | None = None, **_: Any) -> CounterMeter:
    """``nvml-counter`` meter for ``device``; the counter's update period is measured on it
    (about 1 s of polling) unless given.

    Raises:
        MeasurementError: If NVML is unavailable or the GPU has no energy counter.
    """
    return CounterMeter(open_device(device), update_period_s=update_period_s)


def sampled_meter(device: str = "cuda", sample_hz: float = DEFAULT_SAMPLE_HZ, **_: Any) -> SampledMeter:
    """``nvml-sampled`` meter for ``device`` polling power at ``sample_hz`` Hz in a process of
    its own (:class:`~profiler.hardware.sampler.ProcessSampler`).

    Raises:
        MeasurementError: If NVML is unavailable.
    """
    return SampledMeter(open_device(device), sample_hz=sample_hz, sampler=NVML_SAMPLER)


def best_meter(device: str = "cuda", sample_hz: float = DEFAULT_SAMPLE_HZ, **_: Any) -> CounterMeter | SampledMeter:
    """``nvml-counter`` when the GPU has the counter, else ``nvml-sampled``."""
    gpu = open_device(device)
    if gpu.supports_energy_counter():
        return CounterMeter(gpu)
    return SampledMeter(gpu, sample_hz=sample_hz, sampler=NVML_SAMPLER)


def deployment_meter(
    cuda_ordinals: tuple[int, ...] | list[int],
    prefer: str | None = None,
    sample_hz: float = DEFAULT_SAMPLE_HZ,
    identities: dict[int, CudaIdentity] | None = None,
    pynvml_module: ModuleType | None = None,
    counter_update_period_s: float | None = None,
) -> MultiGpuMeter:
    """Meter over every GPU of a deployment, each matched to NVML by UUID / PCI bus id.

    A :class:`MultiGpuMeter` summing one meter per GPU (also for a single GPU), which
    lists processes other than this one (and its children, e.g. vLLM workers) on those
    GPUs as the flag ``other-gpu-processes``. The method is ``prefer``, else the counter if
    every GPU has it, else sampling for all.

    Args:
        cuda_ordinals: CUDA ordinals of the deployment (as this process numbers them).
        prefer: ``nvml-counter`` or ``nvml-sampled`` to insist on one.
        sample_hz: Sampling rate for ``nvml-sampled``, Hz.
        identities: CUDA ordinal -> identity (looked up with torch when missing).
        pynvml_module: ``pynvml`` or a fake shaped like it.
        counter_update_period_s: Counter update period; measured per GPU when None.

    Raises:
        MeasurementError: NVML unavailable, a device missing, or ``prefer`` unsupported.
    """
    if not cuda_ordinals:
        raise MeasurementError("a GPU deployment needs at least one CUDA device to meter")
    ids = identities or {}
    gpus = [NvmlDevice(o, identity=ids.get(o), pynvml_module=pynvml_module) for o in cuda_ordinals]
    indices = [g.index for g in gpus]
    if len(set(indices)) != len(indices):
        raise MeasurementError(f"CUDA devices {list(cuda_ordinals)} map to NVML indices {indices}: one GPU twice")
    counter_everywhere = all(g.supports_energy_counter() for g in gpus)
    method = prefer or ("nvml-counter" if counter_everywhere else "nvml-sampled")
    meters: list[Any]
    if method == "nvml-counter":
        meters = [CounterMeter(g, update_period_s=counter_update_period_s) for g in gpus]
    elif method == "nvml-sampled":
        # A sampling process per GPU (no GIL shared with the engine), unless NVML is a module
        # handed in (a test's fake), which another process could not import.
        sampler = NVML_SAMPLER if pynvml_module is None else "thread"
        meters = [SampledMeter(g, sample_hz=sample_hz, seed=i, sampler=sampler) for i, g in enumerate(gpus)]
    else:
        raise MeasurementError(f"meter {method!r} does not read GPUs; use nvml-counter or nvml-sampled")
    own = own_process_ids

    def others() -> list[int]:
        mine = own()
        return sorted({pid for g in gpus for pid in g.other_process_ids(mine)})

    # Also for one GPU: the wrapper reports other processes and the device count.
    return MultiGpuMeter(meters, other_processes=others)
