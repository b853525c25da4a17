"""Ray executor: each model x quantization x engine group is one Ray task reserving its GPUs.

``ray`` is an optional dependency (``pip install 'eai[cluster]'``), imported only when this
executor runs. Without ``address`` a local Ray instance is started (and stopped again);
with it the sweep joins an existing cluster (``ray start --head`` / ``ray://host:10001``),
whose nodes must have eai and its task data installed (nothing is shipped to them).

Each group runs as a streaming generator task with ``num_gpus`` = the GPUs one model needs
and ``num_cpus`` = its engine threads on CPU, so Ray never places two groups on one GPU and
sets ``CUDA_VISIBLE_DEVICES`` to the reserved ones; the runner is built inside the task with
its device narrowed to ``cuda``. Each cell's outcome streams back to the driver as soon as
it exists, and the driver (not the worker) appends rows under the table lock, so an
interrupted sweep keeps every finished cell and resumes from there. A group that needs more
GPUs than the whole cluster has fails at once with that reason instead of waiting forever;
a task that dies (worker crash, node lost) fails its remaining cells with stage
``executor``.
"""

from __future__ import annotations

import logging

import os
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from recommender.errors import InvalidInputError, MeasurementError

from profiler.executors.base import CellGroup, CellOutcome, CellRunner, OutcomeSink, RunnerFactory


logger = logging.getLogger(__name__)

def _run_group_task(make_runner: RunnerFactory, group: CellGroup, platform: str) -> Iterator[CellOutcome]:
    """Body of the Ray task: build a runner here and yield each cell's outcome."""
    import ray

    from profiler.executors.base import CELL_ERRORS, iter_group, worker_label

    ctx = ray.get_runtime_context()
    gpus = [str(g) for g in ray.get_gpu_ids()]
    worker = (f"{worker_label()}, ray node {ctx.get_node_id()[:12]}, nice {os.nice(0)}"
              + (f", gpus {','.join(gpus)}" if gpus else ""))
    try:
        runner = make_runner("cuda" if group.num_gpus > 0 else None)
        if runner.platform != platform:
            raise MeasurementError(
                f"this node measures on {runner.platform!r}, the sweep records {platform!r}; "
                "run one sweep per platform (a Ray resource label per node type keeps them apart)")
    except CELL_ERRORS as exc:
        for _workload, key in group.cells:
            yield CellOutcome.failed(key, "load", exc, worker)
        return
    yield from iter_group(runner, group, worker)


class RayExecutor:
    """Runs groups as Ray tasks.

    Args:
        address: Existing cluster (``auto``, ``host:6379`` or ``ray://host:10001``); None
            starts a local Ray for the sweep.
        num_cpus: CPUs of a local Ray (None: all of this machine).
        num_gpus: GPUs of a local Ray (None: Ray's detection). Declaring GPUs a machine does
            not have is how the placement is tested without them.
        init_kwargs: Further ``ray.init`` arguments.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None,
                 **init_kwargs: Any) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.init_kwargs = init_kwargs

    def _init(self) -> bool:
        """Connect (or start a local Ray); True when this call started it."""
        try:
            import ray
        except ImportError as exc:
            raise InvalidInputError(
                "--executor ray needs the ray package: pip install 'eai[cluster]' (or pip install ray)") from exc
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
        if self.address is None:
            # Ray runs workers at nice 15 by default (measured here: os.nice(0) == 15 in a task),
            # which slows a measured engine whenever anything else wants the CPU; a local Ray
            # started for a sweep runs them at normal priority. (A cluster's nodes need
            # RAY_worker_niceness=0 in their environment at `ray start`.)
            os.environ.setdefault("RAY_worker_niceness", "0")
            if self.num_cpus is not None:
                kwargs["num_cpus"] = self.num_cpus
            if self.num_gpus is not None:
                kwargs["num_gpus"] = self.num_gpus
        else:
            kwargs["address"] = self.address
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray instance"
            raise MeasurementError(f"could not start or reach {where}: {exc}") from exc
        return True

    def run(self, groups: Sequence[CellGroup], make_runner: RunnerFactory, sink: OutcomeSink,
            local_runner: CellRunner | None = None) -> None:
        import ray

        started_here = self._init()
        generators: list[Any] = []
        try:
            cluster_gpus = int(ray.cluster_resources().get("GPU", 0))
            platform = local_runner.platform if local_runner is not None else make_runner(None).platform
            task = ray.remote(_run_group_task)
            events: queue.Queue[tuple[str, Any]] = queue.Queue()
            threads: list[threading.Thread] = []
            for group in groups:
                if group.num_gpus > cluster_gpus:
                    exc = MeasurementError(f"needs {group.num_gpus} GPU(s), the Ray cluster has {cluster_gpus}")
                    for _workload, key in group.cells:
                        sink.cell_done(CellOutcome.failed(key, "executor", exc))
                    continue
                gen = task.options(num_returns="streaming", num_gpus=group.num_gpus, num_cpus=group.num_cpus,
                                   max_retries=0, name=f"eai {group.model} {group.quant} {group.engine}",
                                   ).remote(make_runner, group, platform)
                generators.append(gen)
                thread = threading.Thread(target=_drain, args=(gen, group, events), daemon=True)
                thread.start()
                threads.append(thread)
            finished = 0
            while finished < len(threads):
                kind, payload = events.get()
                if kind == "done":
                    finished += 1
                else:
                    sink.cell_done(payload)
            for thread in threads:
                thread.join()
        finally:
            for gen in generators:
                try:
                    ray.cancel(gen, force=True)
                except Exception as exc:  # noqa: BLE001 - a finished task cannot be cancelled
                    # Said, not swallowed: a cancel that fails on a running task leaves it holding GPUs.
                    logger.debug("ray executor: cancelling %s failed: %s: %s", gen, type(exc).__name__, exc)
            if started_here:
                ray.shutdown()


def _drain(gen: Any, group: CellGroup, events: queue.Queue[tuple[str, Any]]) -> None:
    """Forward one task's outcomes to the driver's queue; fail the cells it never reported."""
    import ray

    reported: set[Any] = set()
    try:
        for ref in gen:
            outcome = ray.get(ref)
            reported.add(outcome.key)
            events.put(("outcome", outcome))
    except Exception as exc:  # noqa: BLE001 - any task/worker failure becomes a recorded cell failure
        for _workload, key in group.cells:
            if key not in reported:
                events.put(("outcome", CellOutcome.failed(key, "executor", exc)))
    finally:
        events.put(("done", None))
