"""Where a sweep's cell groups run: ``serial`` (this process) or ``ray`` (a local or remote Ray cluster).

Executors are looked up by name and imported lazily, so ``ray`` is needed only when used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from recommender.errors import UnknownNameError

from profiler.executors.base import (
    CellGroup,
    CellOutcome,
    CellProgress,
    CellRunner,
    CollectingSink,
    Executor,
    NullProgress,
    OutcomeSink,
    RunnerFactory,
    iter_group,
    run_group,
)

EXECUTORS: dict[str, tuple[str, str]] = {
    "serial": ("profiler.executors.serial", "SerialExecutor"),
    "ray": ("profiler.executors.ray", "RayExecutor"),
}
"""Executor name -> (module, class), imported on use."""


def get_executor(name: str, **options: Any) -> Executor:
    """Build the executor called ``name`` with ``options`` (e.g. ``address`` for ray).

    Raises:
        UnknownNameError: Not a known executor (with did-you-mean).
        InvalidInputError: An option the executor does not take.
    """
    if name not in EXECUTORS:
        raise UnknownNameError("executor", name, EXECUTORS)
    module, cls = EXECUTORS[name]
    factory = getattr(import_module(module), cls)
    try:
        return factory(**options)
    except TypeError as exc:
        from recommender.errors import InvalidInputError

        raise InvalidInputError(f"executor {name!r}: {exc}") from exc


__all__ = [
    "EXECUTORS", "CellGroup", "CellOutcome", "CellProgress", "CellRunner", "CollectingSink", "Executor",
    "NullProgress", "OutcomeSink", "RunnerFactory", "get_executor", "iter_group", "run_group",
]
