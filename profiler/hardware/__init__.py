"""Energy meters and the devices they read.

Importing this package is cheap and never imports ``pynvml`` (only
:mod:`profiler.hardware.nvml` does, when an NVML meter is built).

Main entry points:

- :func:`select_meter` / :func:`make_meter` and :data:`METERS` (``registry.py``)
- :class:`EnergyMeter`, :class:`MeterReading`, :class:`GpuDevice`, :class:`RaplZone`,
  :func:`make_synchronize`, :func:`no_sync` (``base.py``)
- :class:`CounterMeter`, :class:`SampledMeter`, :class:`MultiGpuMeter` (``gpu_meters.py``;
  :func:`profiler.hardware.nvml.deployment_meter` builds the latter over a deployment's GPUs),
  :class:`RaplMeter`
  (``rapl.py``), :class:`EstimatedCpuMeter` (``estimated.py``)
"""

from __future__ import annotations

from profiler.hardware.base import (
    EnergyMeter,
    GpuDevice,
    MeterReading,
    RaplZone,
    Synchronize,
    integrate_trapezoid,
    make_synchronize,
    no_sync,
)
from profiler.hardware.estimated import EstimatedCpuMeter
from profiler.hardware.gpu_meters import DEFAULT_SAMPLE_HZ, CounterMeter, MultiGpuMeter, SampledMeter
from profiler.hardware.rapl import RaplMeter
from profiler.hardware.registry import METERS, make_meter, select_meter

__all__ = [
    "DEFAULT_SAMPLE_HZ",
    "METERS",
    "CounterMeter",
    "EnergyMeter",
    "EstimatedCpuMeter",
    "GpuDevice",
    "MeterReading",
    "MultiGpuMeter",
    "RaplMeter",
    "RaplZone",
    "SampledMeter",
    "Synchronize",
    "integrate_trapezoid",
    "make_meter",
    "make_synchronize",
    "no_sync",
    "select_meter",
]
