"""Serial executor: every group in this process, one after the other (the default)."""

from __future__ import annotations

from collections.abc import Sequence

from profiler.executors.base import CellGroup, CellRunner, OutcomeSink, RunnerFactory, run_group, worker_label


class SerialExecutor:
    """Runs groups in this process with one runner (loads one model at a time)."""

    name = "serial"

    def run(self, groups: Sequence[CellGroup], make_runner: RunnerFactory, sink: OutcomeSink,
            local_runner: CellRunner | None = None) -> None:
        runner = local_runner if local_runner is not None else make_runner(None)
        worker = worker_label()
        for group in groups:
            run_group(runner, group, sink, worker)
