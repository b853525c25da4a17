"""What an executor runs and what it hands back: cell groups in, cell outcomes out.

A *group* is one model x quantization x engine with its pending workloads: the unit that
loads weights once, and the unit an executor places (a process here, a Ray task on a
cluster). An *outcome* is one cell's row or its failure (stage and reason). Executors never
write the table: the driver receives outcomes and appends rows under the table lock, so
where a group ran does not change how its rows are stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from recommender.errors import EaiError, InvalidInputError
from recommender.table import MeasuredRow
from recommender.table.keys import CellKey

# Errors a cell (or a group's load) may raise that are recorded as a failed cell instead of
# stopping the sweep: unsupported combination, out of memory, missing weights, task errors.
CELL_ERRORS: tuple[type[BaseException], ...] = (
    EaiError, RuntimeError, OSError, ImportError, ValueError, KeyError, TypeError, MemoryError,
)


@dataclass(frozen=True)
class CellGroup:
    """One model x quantization x engine and its pending cells.

    Attributes:
        model: Model reference as the sweep names it (id, path or alias).
        quant: Quantization name.
        engine: Serving engine.
        cells: ``(workload, key)`` of each pending cell, in sweep order.
        num_gpus: GPUs the group needs (0 on CPU).
        num_cpus: CPU cores the group needs (its engine threads on CPU; 1 on GPU).
    """

    model: str
    quant: str
    engine: str
    cells: tuple[tuple[str, CellKey], ...]
    num_gpus: int = 0
    num_cpus: int = 1


@dataclass(frozen=True)
class CellOutcome:
    """One cell's result: its row, or the stage and reason it failed.

    Attributes:
        key: The cell.
        row: The measured row (None when it failed).
        stage: ``check``, ``load``, ``measure`` or ``executor`` (the task itself died) on failure.
        error: Exception type name on failure.
        reason: Exception message on failure.
        worker: Where it ran (``pid 123 on host``; Ray adds node id and GPU ids).
    """

    key: CellKey
    row: MeasuredRow | None = None
    stage: str = ""
    error: str = ""
    reason: str = ""
    worker: str = ""

    @property
    def ok(self) -> bool:
        """True when the cell produced a row."""
        return self.row is not None

    @classmethod
    def failed(cls, key: CellKey, stage: str, exc: BaseException, worker: str = "") -> CellOutcome:
        """Failure outcome from an exception."""
        return cls(key, None, stage, type(exc).__name__, str(exc)[:2000], worker)


class CellProgress(Protocol):
    """Progress sink of one cell."""

    def update(self, done: int, total: int, note: str = "") -> None:
        """Report ``done`` of ``total`` requests (``note``: e.g. the repeat)."""
        ...


class NullProgress:
    """Progress sink that shows nothing."""

    def update(self, done: int, total: int, note: str = "") -> None:
        return None


class OutcomeSink(Protocol):
    """Receives outcomes as they arrive (the driver: appends rows, logs failures, shows progress)."""

    def cell_started(self, key: CellKey) -> CellProgress:
        """A cell starts measuring here (only executors that run in this process call it)."""
        ...

    def cell_done(self, outcome: CellOutcome) -> None:
        """A cell finished (row or failure)."""
        ...


class CellRunner(Protocol):
    """Loads models and measures cells; the sweep does the bookkeeping around it.

    The engine is not the runner's: each group names its own (``spec.engines`` is a sweep
    dimension), and ``check``/``load`` receive it; the row a runner returns records it.

    Attributes:
        platform: Canonical platform id rows are recorded on.
        device_count: Devices one loaded model spans.
    """

    platform: str
    device_count: int

    def model_id(self, model: str) -> str:
        """Canonical id of a model reference (without loading weights)."""
        ...

    def cell_settings(self, workload: str) -> tuple[str | None, int | None]:
        """``(fewshot, threads)`` the cell will run with, for its key, without loading a model.

        Raises:
            UnknownNameError: ``workload`` is not a known task (with did-you-mean).
        """
        ...

    def check(self, model: str, quant: str, engine: str) -> None:
        """Raise UnsupportedCombinationError before loading when ``quant`` cannot run under ``engine``."""
        ...

    def load(self, model: str, quant: str, engine: str) -> None:
        """Load ``model`` quantized as ``quant`` under ``engine`` (replacing any loaded model)."""
        ...

    def measure(self, workload: str, limit: int | None, progress: CellProgress) -> MeasuredRow:
        """Measure one workload on the loaded model and return its row."""
        ...

    def unload(self) -> None:
        """Free the loaded model."""
        ...


RunnerFactory = Callable[[str | None], CellRunner]
"""Builds a runner where a group runs (picklable for executors that ship it elsewhere).

Called with a device override: ``"cuda"`` when the executor has already narrowed the
visible GPUs to the ones it reserved (``CUDA_VISIBLE_DEVICES``), else None (the sweep's own
device)."""


def worker_label() -> str:
    """``pid N on HOST`` of this process."""
    import os
    import socket

    return f"pid {os.getpid()} on {socket.gethostname()}"


def iter_group(runner: CellRunner, group: CellGroup, worker: str = "",
               started: Callable[[CellKey], CellProgress] | None = None) -> Iterator[CellOutcome]:
    """Check, load once, measure every cell of ``group``, unload; yield each cell's outcome.

    A failed check or load fails every cell of the group with that reason; a failed cell
    does not stop the others. ``KeyboardInterrupt`` and other exceptions outside
    :data:`CELL_ERRORS` propagate (after unloading).

    Args:
        runner: Measures the cells.
        group: The group.
        worker: Where this runs, recorded in each outcome.
        started: Called before a cell is measured; returns its progress sink.
    """
    try:
        runner.check(group.model, group.quant, group.engine)
        runner.load(group.model, group.quant, group.engine)
    except CELL_ERRORS as exc:
        stage = "check" if isinstance(exc, InvalidInputError) else "load"
        runner.unload()
        for _workload, key in group.cells:
            yield CellOutcome.failed(key, stage, exc, worker)
        return
    try:
        for workload, key in group.cells:
            progress = started(key) if started is not None else NullProgress()
            try:
                row = runner.measure(workload, key.limit, progress)
            except CELL_ERRORS as exc:
                yield CellOutcome.failed(key, "measure", exc, worker)
                continue
            yield CellOutcome(key, row, worker=worker)
    finally:
        runner.unload()


def run_group(runner: CellRunner, group: CellGroup, sink: OutcomeSink, worker: str = "") -> None:
    """:func:`iter_group` reporting to ``sink`` (each outcome as soon as it exists)."""
    for outcome in iter_group(runner, group, worker, started=sink.cell_started):
        sink.cell_done(outcome)


@dataclass
class CollectingSink:
    """Sink that keeps outcomes in a list (what a remote worker sends back)."""

    outcomes: list[CellOutcome] = field(default_factory=list)

    def cell_started(self, key: CellKey) -> CellProgress:
        return NullProgress()

    def cell_done(self, outcome: CellOutcome) -> None:
        self.outcomes.append(outcome)


class Executor(Protocol):
    """Runs cell groups somewhere and streams their outcomes to the driver's sink."""

    name: str

    def run(self, groups: Sequence[CellGroup], make_runner: RunnerFactory, sink: OutcomeSink,
            local_runner: CellRunner | None = None) -> None:
        """Run every group; report every cell of every group to ``sink`` exactly once.

        Args:
            groups: The groups to run.
            make_runner: Builds a runner where a group runs.
            sink: Receives outcomes on the driver.
            local_runner: An already built runner the driver may reuse in-process.
        """
        ...
