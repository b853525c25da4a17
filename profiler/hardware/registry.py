"""Meter registry and automatic meter selection.

Meters are named by the schema's ``EnergyMethod`` literals and map to lazy
``"module:factory"`` strings, so nothing (in particular ``pynvml``) is imported until a
meter is actually built. Every factory takes ``device`` plus keyword options and ignores
options meant for other meters.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from profiler.hardware.base import EnergyMeter
from profiler.hardware.gpu_meters import DEFAULT_SAMPLE_HZ
from recommender.errors import MeasurementError, UnknownNameError

METERS: dict[str, str] = {
    "nvml-counter": "profiler.hardware.nvml:counter_meter",
    "nvml-sampled": "profiler.hardware.nvml:sampled_meter",
    "rapl": "profiler.hardware.rapl:rapl_meter",
    "estimated": "profiler.hardware.estimated:estimated_meter",
}
"""Meter name (schema ``EnergyMethod``) -> lazy factory import string."""

_DEVICE_KIND = {"nvml-counter": "cuda", "nvml-sampled": "cuda", "rapl": "cpu", "estimated": "cpu"}


def _device_kind(device: str) -> str:
    if device == "cpu":
        return "cpu"
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        return "cuda"
    raise UnknownNameError("device", device, ["cpu", "cuda", "cuda:0"], hint="use 'cpu', 'cuda' or 'cuda:N'")


def _factory(name: str) -> Any:
    if name not in METERS:
        raise UnknownNameError("energy meter", name, METERS)
    module_name, attr = METERS[name].split(":")
    return getattr(importlib.import_module(module_name), attr)


def make_meter(name: str, device: str, **options: Any) -> EnergyMeter:
    """Build the meter ``name`` for ``device``.

    Args:
        name: One of :data:`METERS` (``nvml-counter``, ``nvml-sampled``, ``rapl``, ``estimated``).
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        **options: ``sample_hz`` (nvml-sampled), ``rapl_root`` (rapl),
            ``tdp_w_per_core`` (estimated).

    Raises:
        UnknownNameError: Unknown meter or device name (with "did you mean").
        MeasurementError: The meter does not measure that device or is not available here.
    """
    factory = _factory(name)
    kind = _device_kind(device)
    if _DEVICE_KIND[name] != kind:
        raise MeasurementError(
            f"meter {name!r} measures {_DEVICE_KIND[name]} devices, not {device!r}; "
            f"for {kind} use one of {', '.join(m for m, k in _DEVICE_KIND.items() if k == kind)}"
        )
    meter: EnergyMeter = factory(device=device, **options)
    return meter


def select_meter(
    device: str,
    prefer: str | None = None,
    *,
    sample_hz: float = DEFAULT_SAMPLE_HZ,
    tdp_w_per_core: float | None = None,
    rapl_root: Path | str | None = None,
) -> EnergyMeter:
    """Choose the best available meter for ``device``, or build the one asked for.

    Without ``prefer``: on CUDA ``nvml-counter`` if the GPU has the energy counter, else
    ``nvml-sampled`` at ``sample_hz``; on CPU ``rapl`` if readable, else ``estimated``
    (which needs ``tdp_w_per_core``).

    Args:
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        prefer: A meter name to insist on; errors if it is unavailable instead of
            falling back.
        sample_hz: Power sampling rate for ``nvml-sampled``, Hz.
        tdp_w_per_core: TDP share of one core/vCPU in watts for ``estimated`` (platform
            ``tdp_w`` / its core count).
        rapl_root: Powercap root (tests point it at a fake tree).

    Raises:
        UnknownNameError: Unknown ``prefer`` or ``device``.
        MeasurementError: Requested meter unavailable, or nothing usable (says why and
            what to pass).
    """
    options: dict[str, Any] = {"sample_hz": sample_hz}
    if rapl_root is not None:
        options["rapl_root"] = rapl_root
    if tdp_w_per_core is not None:
        options["tdp_w_per_core"] = tdp_w_per_core
    if prefer is not None:
        return make_meter(prefer, device, **options)
    kind = _device_kind(device)
    if kind == "cuda":
        from profiler.hardware.nvml import best_meter

        return best_meter(device, sample_hz=sample_hz)
    try:
        return make_meter("rapl", device, **options)
    except MeasurementError as rapl_exc:
        if tdp_w_per_core is None:
            raise MeasurementError(
                f"no CPU energy meter available: {rapl_exc}; to estimate from CPU time instead, "
                "pass tdp_w_per_core (the platform's tdp_w divided by its core count)"
            ) from rapl_exc
        return make_meter("estimated", device, **options)
