"""Sweeps of models x quantizations x tasks that survive failures, resume and share tables.

- Names and settings (tasks, models, quantizations, engines) are settled before any model loads.
- Engines are a sweep dimension (``engines``: hf-transformers, llama.cpp, vllm; see
  :mod:`profiler.engines`). Each model x engine x quantization group is loaded once and
  serves all its pending tasks; an executor (:mod:`profiler.executors`: ``serial`` here, ``ray`` on a cluster) runs groups.
- A failed cell (unsupported combination, out of memory, a task error, a lost worker) is
  appended to a sidecar ``<out stem>.failures.jsonl`` with its cell and reason; the sweep goes on.
- A finished cell's row is appended to the output table at once, under the table's lock and
  atomically (:func:`recommender.table.append_rows`), so Ctrl-C or a crash never leaves a
  partial row and concurrent writers never lose one.
- Re-running skips cells whose key (:mod:`recommender.table.keys`: platform, model,
  quantization, engine, devices, workload, batch, limit, few-shot, generation cap, repeats,
  threads) already has a row in the output; other settings make other cells.
- Cells are claimed (:mod:`profiler.claims`) before they run, so the same sweep started twice
  on one table measures each cell once.

The measuring is behind :class:`~profiler.executors.base.CellRunner` so the bookkeeping can
be tested with a fake; :class:`LmEvalRunner` is the real one (lm-eval inside an energy window).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recommender.errors import EaiError, InvalidInputError, MeasurementError, UnknownNameError
from recommender.table import MeasuredRow, append_rows
from recommender.table.io import read_rows, table_lock
from recommender.table.keys import CellKey, cell_key, ref_limit  # noqa: F401 - ref_limit re-exported

from profiler.claims import ClaimBook
from profiler.executors.base import (
    CellGroup,
    CellOutcome,
    CellProgress,
    CellRunner,
    Executor,
    NullProgress,
    RunnerFactory,
)

# --------------------------------------------------------------------------- spec


class SweepSpec(BaseModel):
    """What to measure.

    Attributes:
        models: Model ids, local paths or aliases.
        quants: Quantization names.
        tasks: Workload names (local ones: arc_easy, arc_challenge, mmlu, truthfulqa_mc2,
            gsm8k; any other lm-eval task name goes to lm-eval as is).
        limit: Items per task (per subtask for groups such as mmlu); None = all.
        task_limits: Per-workload override of ``limit``.
        batch_size: Requests per forward pass (vLLM: ``max_num_seqs``).
        device: ``cpu`` or ``cuda[:N]`` (the deployment's first GPU).
        device_count: GPUs one deployment spans (HF ``device_map="auto"``, vLLM tensor
            parallelism); every one of them is metered.
        engines: Engines to run each model x quantization under (names or aliases of
            :data:`profiler.engines.ENGINES`).
        repeats: Measured windows per cell (accuracy from the first, energy median).
        warmup: Unmeasured evaluations before the windows of each cell.
        num_fewshot: Per-workload override of the YAML's shot count.
        max_gen_toks: Cap on generated tokens for generative tasks.
        local_tasks: Map known workload names to the local offline YAMLs.
        tasks_path: Extra directories of lm-eval task YAMLs.
        idle_s: Idle window measured after each model load, seconds, stored in the rows'
            ``idle_power_w`` and never subtracted (0: not measured; never for the
            ``estimated`` meter, which only sees this process).
        threads: torch intra-op CPU threads (None: torch's default). On a CPU shared with
            other work, 1 thread avoids the spin-wait slowdown of oversubscribed threads.
        min_window_s: Shortest measured window, seconds (None: 200 meter update periods, 20 s
            on NVML's 100 ms counter, which bounds the counter's quantization at 1 % of the
            window; 10 s allows 2 %). Each cell runs warm-up + repeats + 1 such windows, so
            it sets how many cells a short GPU lease measures (an H200 took ~100 s a cell at
            20 s windows on 2026-12-04).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[str] = Field(min_length=1)
    quants: list[str] = Field(min_length=1)
    tasks: list[str] = Field(min_length=1)
    limit: int | None = Field(default=None, ge=1)
    task_limits: dict[str, int] = Field(default_factory=dict)
    batch_size: int = Field(default=1, ge=1)
    device: str = "cpu"
    device_count: int = Field(default=1, ge=1, le=64)
    engines: list[str] = Field(default_factory=lambda: ["hf-transformers"], min_length=1)
    repeats: int = Field(default=3, ge=1, le=20)
    warmup: int = Field(default=1, ge=0, le=10)
    num_fewshot: dict[str, int] = Field(default_factory=dict)
    max_gen_toks: int | None = Field(default=None, ge=1)
    local_tasks: bool = True
    tasks_path: list[str] = Field(default_factory=list)
    idle_s: float = Field(default=10.0, ge=0)
    threads: int | None = Field(default=None, ge=1)
    min_window_s: float | None = Field(default=None, gt=0)

    @field_validator("models", "quants", "tasks")
    @classmethod
    def _no_blank(cls, v: list[str]) -> list[str]:
        cleaned = [s.strip() for s in v if s.strip()]
        if not cleaned:
            raise ValueError("must name at least one entry")
        return cleaned

    @field_validator("engines")
    @classmethod
    def _known_engines(cls, v: list[str]) -> list[str]:
        from profiler.engines import canonical_engine

        # An unknown engine raises UnknownNameError (did-you-mean) before anything loads.
        return list(dict.fromkeys(canonical_engine(e) for e in v))

    def limit_for(self, workload: str) -> int | None:
        """Item limit of one workload."""
        return self.task_limits.get(workload, self.limit)


def load_sweep_file(path: str | Path, **overrides: Any) -> SweepSpec:
    """Read a sweep spec from YAML or JSON; ``overrides`` (non-None) replace its fields.

    Raises:
        InvalidInputError: Unreadable file or invalid spec (names the field).
    """
    import yaml
    from pydantic import ValidationError

    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"sweep file {str(p)!r} not found")
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidInputError(f"sweep file {str(p)!r} is not valid {p.suffix[1:] or 'YAML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"sweep file {str(p)!r} must hold a mapping with models, quants, tasks")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise InvalidInputError(f"sweep file {str(p)!r}: field {loc!r}: {err['msg']}") from exc


# --------------------------------------------------------------------------- keys and resume

row_key = cell_key
"""Cell key of a row (:func:`recommender.table.keys.cell_key`)."""


def completed_keys(out: Path) -> set[CellKey]:
    """Keys of the rows already in ``out`` (empty if it does not exist)."""
    if not out.exists():
        return set()
    return {cell_key(r) for r in read_rows(out)}


def failures_path(out: Path) -> Path:
    """Sidecar JSONL of failed cells next to ``out``."""
    return out.with_name(out.stem + ".failures.jsonl")


def record_failure(out: Path, key: CellKey, stage: str, error: str, reason: str, worker: str = "") -> dict[str, Any]:
    """Append one failed cell to the sidecar (one JSON object per line, under a lock).

    The entry holds the whole cell key (every setting), the stage that failed (``resolve``,
    ``check``, ``load``, ``measure``, ``executor``), the exception type, its message and where
    it ran.
    """
    entry = {
        "at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **{k: v for k, v in asdict(key).items() if k != "source_ref"},
        "stage": stage, "error": error, "reason": reason[:2000], "worker": worker,
    }
    path = failures_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with table_lock(path), path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
    return entry


def cell_keys_for(spec: SweepSpec, runner: CellRunner, model_id: str, quant: str, engine: str,
                  settings: dict[str, tuple[str | None, int | None]]) -> list[tuple[str, CellKey]]:
    """``(workload, key)`` of every task of one model x quantization x engine, in sweep order."""
    out = []
    for task in spec.tasks:
        fewshot, threads = settings[task]
        out.append((task, CellKey(
            platform=runner.platform, model_id=model_id, quantization=quant, engine=engine,
            device_count=runner.device_count, workload=task, batch_size=spec.batch_size,
            limit=spec.limit_for(task), fewshot=fewshot, max_gen_toks=spec.max_gen_toks,
            repeats=spec.repeats, threads=threads)))
    return out


# --------------------------------------------------------------------------- sweep


class SweepProgress(Protocol):
    """Progress sink of a sweep."""

    def start(self, total_cells: int, skipped: int) -> None: ...

    def cell(self, key: CellKey, index: int) -> CellProgress: ...

    def finish_cell(self, key: CellKey, ok: bool, message: str) -> None: ...


@dataclass
class SweepSummary:
    """Outcome of a sweep.

    Attributes:
        written: Rows appended.
        skipped: Cells already in the output.
        failed: Failure entries (also in the sidecar).
        rows: The rows appended, in order.
        claimed_elsewhere: Cells left to another sweep running on the same table, with who.
        duplicates: Cells measured here but found already written when appending (a
            concurrent writer got there first); not written again.
    """

    written: int = 0
    skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    rows: list[MeasuredRow] = field(default_factory=list)
    claimed_elsewhere: dict[CellKey, str] = field(default_factory=dict)
    duplicates: int = 0


class _DriverSink:
    """Where outcomes land on the driver: append rows under the lock, log failures, release claims."""

    def __init__(self, out: Path, summary: SweepSummary, claims: ClaimBook,
                 progress: SweepProgress | None) -> None:
        self.out = out
        self.summary = summary
        self.claims = claims
        self.progress = progress
        self.index = 0

    def cell_started(self, key: CellKey) -> CellProgress:
        self.index += 1
        return self.progress.cell(key, self.index) if self.progress else NullProgress()

    def cell_done(self, outcome: CellOutcome) -> None:
        key = outcome.key
        try:
            if outcome.row is not None and cell_key(outcome.row) != key:
                # The runner recorded other settings than the sweep planned (a runner bug):
                # such a row would never be found on resume, so it is logged, not written.
                outcome = CellOutcome.failed(key, "measure", MeasurementError(
                    f"row key {cell_key(outcome.row).describe()} differs from the planned cell "
                    f"{key.describe()}"), outcome.worker)
            if outcome.row is not None:
                result = append_rows([outcome.row], self.out)
                if result.written:
                    self.summary.rows.append(outcome.row)
                    self.summary.written += 1
                    message = _row_line(outcome.row)
                else:
                    self.summary.duplicates += 1
                    message = "already written by another run; not written again"
                if self.progress:
                    self.progress.finish_cell(key, True, message)
                return
            self.summary.failed.append(record_failure(self.out, key, outcome.stage, outcome.error,
                                                      outcome.reason, outcome.worker))
            if self.progress:
                self.progress.finish_cell(key, False, f"{outcome.error}: {outcome.reason}")
        finally:
            self.claims.release([key])


def plan_sweep(spec: SweepSpec, runner: CellRunner, done: set[CellKey]
               ) -> tuple[list[CellGroup], int, list[tuple[CellKey, EaiError]]]:
    """Settle every name and setting and list the pending groups, before any model loads.

    Returns:
        ``(groups, skipped, unresolved)``: pending groups (model x engine x quantization, in
        that nesting: every ``spec.engines`` entry is its own group and load), the
        number of cells already in ``done``, and cells whose model could not be resolved
        (other than by an unknown name) with the error.

    Raises:
        UnknownNameError: An unknown task or model name (with did-you-mean): nothing runs.
    """
    settings = {task: runner.cell_settings(task) for task in spec.tasks}  # unknown task -> error now
    groups: list[CellGroup] = []
    unresolved: list[tuple[CellKey, EaiError]] = []
    skipped = 0
    for model in spec.models:
        try:
            model_id = runner.model_id(model)
        except UnknownNameError:
            raise
        except EaiError as exc:
            for engine in spec.engines:
                for quant in spec.quants:
                    unresolved.extend((key, exc) for _t, key in
                                      cell_keys_for(spec, runner, model, quant, engine, settings))
            continue
        for engine in spec.engines:
            for quant in spec.quants:
                cells = cell_keys_for(spec, runner, model_id, quant, engine, settings)
                pending = tuple((task, key) for task, key in cells if key not in done)
                skipped += len(cells) - len(pending)
                if pending:
                    groups.append(CellGroup(model, quant, engine, pending,
                                            num_gpus=runner.device_count if spec.device.startswith("cuda") else 0,
                                            num_cpus=_group_cpus(spec, pending)))
    return groups, skipped, unresolved


def _group_cpus(spec: SweepSpec, cells: Sequence[tuple[str, CellKey]]) -> int:
    if spec.device.startswith("cuda"):
        return 1
    return max((key.threads or 1) for _t, key in cells)


def run_sweep(spec: SweepSpec, out: str | Path, runner: CellRunner,
              progress: SweepProgress | None = None, executor: Executor | None = None,
              make_runner: RunnerFactory | None = None) -> SweepSummary:
    """Measure every pending cell of ``spec``, appending each finished row to ``out``.

    Names and settings are checked first (nothing loads before an unknown task or model is
    reported); cells already in ``out`` or claimed by another sweep on ``out`` are skipped;
    the rest run on ``executor`` (default: this process) and each row is appended as it
    arrives, under the table's lock.

    Args:
        spec: The sweep.
        out: Output CSV (created if missing; re-validated before each append).
        runner: Resolves names and settings here (and measures, for the serial executor).
        progress: Optional display.
        executor: Where groups run (default :class:`profiler.executors.serial.SerialExecutor`).
        make_runner: Builds a runner where a group runs (default: reuse ``runner``; needed
            by executors that run groups in other processes).

    Returns:
        What was written, skipped and failed.
    """
    from profiler.executors.serial import SerialExecutor

    out_path = Path(out)
    if out_path.is_dir():
        raise InvalidInputError(f"--out {str(out_path)!r} is a directory; name a CSV file, e.g. {out_path / 'rows.csv'}")
    summary = SweepSummary()
    done = completed_keys(out_path)
    groups, summary.skipped, unresolved = plan_sweep(spec, runner, done)
    claims = ClaimBook(out_path)
    sink = _DriverSink(out_path, summary, claims, progress)
    try:
        claimed, summary.claimed_elsewhere = claims.claim(
            [k for g in groups for _t, k in g.cells], done=None)
        held = set(claimed)
        # Cells another writer finished between planning and claiming count as already there.
        summary.skipped += sum(1 for g in groups for _t, k in g.cells
                               if k not in held and k not in summary.claimed_elsewhere)
        groups = [g for g in (CellGroup(g.model, g.quant, g.engine, tuple(c for c in g.cells if c[1] in held),
                                        g.num_gpus, g.num_cpus) for g in groups) if g.cells]
        if progress:
            progress.start(sum(len(g.cells) for g in groups) + len(unresolved), summary.skipped)
        for key, exc in unresolved:
            sink.cell_done(CellOutcome.failed(key, "resolve", exc))
        if groups:
            (executor or SerialExecutor()).run(
                groups, make_runner if make_runner is not None else (lambda _device: runner), sink,
                local_runner=runner)
    finally:
        claims.release()
    return summary


def _row_line(row: MeasuredRow) -> str:
    """One console line per finished cell; an estimated energy says so."""
    acc = "n/a" if row.accuracy is None else f"{row.accuracy:.3f}"
    e = row.energy_j_per_query
    t = row.time_s_per_query
    if e is None or t is None:
        return f"acc {acc}"
    label = " (estimated: CPU time x TDP share, not metered)" if row.energy_method == "estimated" else ""
    return f"acc {acc}, {e:.2f} J/query{label}, {t:.2f} s/query"


# --------------------------------------------------------------------------- real runner


def _local_task_fewshot(workload: str) -> str:
    """Shot count the local task YAML of ``workload`` sets (the MMLU group: its subject template's)."""
    import yaml

    from profiler.tasks import LOCAL_TASKS, TEMPLATES

    name = "_eai_mmlu_template" if workload == "mmlu" else LOCAL_TASKS[workload]
    text = (TEMPLATES / f"{name}.yaml").read_text(encoding="utf-8")
    # The templates hold lm-eval's !function tags; only the plain num_fewshot line matters here.
    for line in text.splitlines():
        if line.startswith("num_fewshot:"):
            return str(int(yaml.safe_load(line.split(":", 1)[1])))
    return "0"  # lm-eval's default when a task sets none


@dataclass(frozen=True)
class LmEvalRunnerFactory:
    """Builds an :class:`LmEvalRunner` where a group runs (picklable: spec and strings only).

    Attributes:
        spec: The sweep, with ``threads`` pinned to what the driver resolved (a Ray task
            otherwise gets its own OMP default and would measure another cell).
        platform: Platform id the rows record.
        command: Command line recorded in ``source_ref``.
        platform_given: The user named the platform (``--platform``): recorded as given.
            Otherwise each node detects its own, and a node of another platform than the
            driver's fails its cells (the executor compares them) instead of mislabelling rows.
    """

    spec: SweepSpec
    platform: str
    command: str
    platform_given: bool = False

    def __call__(self, device: str | None = None) -> LmEvalRunner:
        spec = self.spec if device is None else self.spec.model_copy(update={"device": device})
        platform = self.platform if self.platform_given else detect_platform(spec.device)
        return LmEvalRunner(spec, platform=platform, command=self.command)


def pin_threads(spec: SweepSpec, runner: CellRunner) -> SweepSpec:
    """``spec`` with ``threads`` set to what ``runner`` resolves here when it was left open."""
    if spec.threads is not None or not spec.tasks:
        return spec
    _fewshot, threads = runner.cell_settings(spec.tasks[0])
    return spec.model_copy(update={"threads": threads}) if threads else spec


def detect_platform(device: str) -> str:
    """Canonical platform id of ``device`` via the platform catalog.

    CUDA devices by their NVML name; the CPU by its ``/proc/cpuinfo`` model name.

    Raises:
        UnknownNameError: The catalog has no such platform (pass ``--platform``).
    """
    from recommender.catalog import resolve_platform

    if device.startswith("cuda"):
        from profiler.hardware.nvml import NvmlDevice

        index = int(device.split(":")[1]) if ":" in device else 0
        return resolve_platform(NvmlDevice(index).name()).id
    from profiler.environment import cpu_model

    return resolve_platform(cpu_model()).id


def cpu_core_count() -> int:
    """CPUs this process may run on."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class LmEvalRunner:
    """Measures cells with lm-eval inside energy windows, under any registered engine.

    Per model load: the engine loads (and, for GGUF types other than the shipped one,
    re-quantizes) the model; the meter is opened on the devices the deployment really
    uses (every GPU it spans, matched to NVML by UUID / PCI bus id); idle power is measured
    with the model resident and stored in ``idle_power_w``. Per cell: lm-eval tasks are
    built before the window; ``spec.warmup`` unmeasured evaluations, then
    ``spec.repeats`` measured ones (gross energy, median and spread).

    Args:
        spec: The sweep (device, batch size, repeats, shots, limits...).
        platform: Canonical platform id; detected from the device when None.
        command: Command line recorded in ``source_ref``.
        meter: Energy meter; chosen per load when None (CPU: RAPL, else the ``estimated``
            fallback from the platform's ``tdp_w`` / visible cores; GPU: NVML over the
            deployment's GPUs).
        engines: Engine name -> engine object (tests inject fakes); built from
            :func:`profiler.engines.get_engine` when missing.
    """

    def __init__(self, spec: SweepSpec, platform: str | None = None, command: str = "eai profile",
                 meter: Any = None, engines: dict[str, Any] | None = None) -> None:
        from profiler.quant import parse_device

        parse_device(spec.device)
        self.spec = spec
        self.platform = platform or detect_platform(spec.device)
        self.command = command
        self._fixed_meter = meter
        self._meter: Any = meter
        self._meter_devices: tuple[int, ...] | None = None
        self._idle: Any = None
        self._sources: dict[str, Any] = {}
        self._engines: dict[str, Any] = dict(engines or {})
        self._task_manager: Any = None
        self._rendered: Any = None
        self._loaded_model: Any = None
        self._loaded: tuple[str, str, str] | None = None
        self._env: str | None = None

    # -- helpers
    def _source(self, model: str) -> Any:
        from profiler.models import resolve_model_source

        if model not in self._sources:
            self._sources[model] = resolve_model_source(model)
        return self._sources[model]

    def _engine(self, name: str) -> Any:
        from profiler.engines import canonical_engine, get_engine

        key = canonical_engine(name)
        if key not in self._engines:
            self._engines[key] = get_engine(key)
        return self._engines[key]

    @property
    def device_count(self) -> int:
        """Devices one deployment spans (the cell key's): ``spec.device_count`` GPUs, or 1 CPU."""
        return self.spec.device_count if self.spec.device.startswith("cuda") else 1

    def _options(self) -> Any:
        from profiler.engines import EngineOptions

        # Threads resolved here (the sweep's, else torch's default) so every engine runs with
        # the count the cell key and source_ref record (llama.cpp's own default is os.cpu_count()).
        return EngineOptions(device=self.spec.device, device_count=self.spec.device_count,
                             batch_size=self.spec.batch_size, threads=self._threads(),
                             max_gen_toks=self.spec.max_gen_toks)

    @property
    def meter(self) -> Any:
        if self._meter is None:
            from profiler.hardware import select_meter
            from recommender.catalog import resolve_platform

            if self.spec.device.startswith("cuda"):
                from profiler.hardware.nvml import deployment_meter, parse_cuda_device

                devices = self._meter_devices or (parse_cuda_device(self.spec.device),)
                self._meter = deployment_meter(devices)
            else:
                tdp_core = resolve_platform(self.platform).tdp_w / max(1, cpu_core_count())
                self._meter = select_meter(self.spec.device, tdp_w_per_core=tdp_core)
        return self._meter

    def _measure_idle(self) -> Any:
        """Idle power with the model just loaded (None when off or for the estimate)."""
        self._idle = None
        if self.spec.idle_s > 0 and self.meter.method != "estimated":
            from profiler.window import measure_idle

            self._idle = measure_idle(self.meter, self.spec.idle_s, self._sync())
        return self._idle

    def _sync(self) -> Any:
        from profiler.hardware import make_synchronize, no_sync

        if not self.spec.device.startswith("cuda"):
            return no_sync
        devices = (self._loaded_model.cuda_devices if self._loaded_model is not None else ()) or (0,)
        syncs = [make_synchronize(f"cuda:{d}") for d in devices]

        def sync_all() -> None:
            for s in syncs:
                s()

        return sync_all

    def task_manager(self) -> Any:
        if self._task_manager is None:
            import os

            from lm_eval.tasks import TaskManager

            from profiler.models import hub_reachable

            if not hub_reachable():
                # Hub-backed tasks (e.g. lm-eval's hellaswag) then fail at once with an
                # offline error (recorded per cell) instead of retrying for minutes;
                # data already in the local cache still loads.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

            from profiler.tasks import render_tasks

            paths: list[str] = []
            if self.spec.local_tasks:
                self._rendered = render_tasks()
                paths.append(str(self._rendered.directory))
            paths.extend(str(Path(p).expanduser().resolve()) for p in self.spec.tasks_path)
            from profiler.tasks import LOCAL_TASKS

            # lm-eval's own index of ~15,000 task YAMLs takes ~30 s on 2 cores; a sweep of
            # local tasks only (no extra YAML directories that might include stock ones)
            # does not need it.
            only_local = self.spec.local_tasks and not self.spec.tasks_path and all(
                t in LOCAL_TASKS for t in self.spec.tasks)
            self._task_manager = TaskManager(include_path=paths or None, include_defaults=not only_local)
        return self._task_manager

    def _threads(self) -> int:
        if self.spec.threads:
            return self.spec.threads
        import torch

        return torch.get_num_threads()

    def _env_summary(self) -> str:
        if self._env is None:
            from profiler.environment import capture_environment

            gpu = None
            if self.spec.device.startswith("cuda"):
                from profiler.hardware.nvml import NvmlDevice

                gpu = NvmlDevice(int(self.spec.device.split(":")[1]) if ":" in self.spec.device else 0)
            env = capture_environment(gpu)
            libs = env.library_versions
            keys = ("torch", "transformers", "lm-eval", "bitsandbytes", "llama-cpp-python", "vllm")
            parts = [f"{k} {libs.get(k)}" for k in keys if libs.get(k)]
            # The OS string carries the kernel release, which tells a sandboxed runtime (gVisor
            # reports Linux 4.4.0) from a VM or bare metal: launch-bound costs differ between them.
            text = f"{env.cpu_model} x{env.cpu_count}; {env.os_platform}; python {env.python_version}; " + ", ".join(parts)
            if env.gpu_name:
                text += (f"; gpu {env.gpu_name}, driver {env.gpu_driver_version}, "
                         f"power limit {env.gpu_power_limit_w} W")
            self._env = text
        return self._env

    # -- CellRunner
    def model_id(self, model: str) -> str:
        return self._source(model).model_id

    def cell_settings(self, workload: str) -> tuple[str | None, int | None]:
        """``(fewshot, threads)`` a cell of ``workload`` runs with (its key), without a model.

        Few-shot: the sweep's override, else the task's own count (the local YAML's, or
        lm-eval's task config). Threads: the sweep's, else torch's default here.

        Raises:
            UnknownNameError: ``workload`` is neither a local task nor one lm-eval knows.
        """
        from profiler.tasks import LOCAL_TASKS, lm_eval_task_name

        threads = self.spec.threads if self.spec.threads else self._threads()
        override = self.spec.num_fewshot.get(workload)
        if override is not None:
            return str(override), threads
        task = lm_eval_task_name(workload, self.spec.local_tasks)
        if self.spec.local_tasks and workload in LOCAL_TASKS:
            return _local_task_fewshot(workload), threads
        manager = self.task_manager()
        if task not in manager.all_tasks:
            local = list(LOCAL_TASKS) if self.spec.local_tasks else []
            raise UnknownNameError("task", workload, [*local, *manager.all_tasks],
                                   hint="local tasks or lm-eval task names; --tasks-path adds YAML directories")
        try:
            shots = manager._get_config(task).get("num_fewshot")  # noqa: SLF001 - lm-eval's own task index
        except (KeyError, AttributeError, TypeError):
            shots = None
        return (str(shots) if isinstance(shots, int) else None), threads

    def check(self, model: str, quant: str, engine: str) -> None:
        self._engine(engine).check(self._source(model), quant, self._options())

    def load(self, model: str, quant: str, engine: str) -> None:
        self.unload()
        loaded = self._engine(engine).load(self._source(model), quant, self._options())
        self._loaded_model = loaded
        self._loaded = (model, quant, loaded.engine)
        if self._fixed_meter is None and loaded.cuda_devices != self._meter_devices:
            # Meter exactly the GPUs this deployment landed on.
            if self._meter is not None:
                self._meter.close()
            self._meter = None
            self._meter_devices = loaded.cuda_devices or None
        self._measure_idle()  # model resident, nothing running: the idle this deployment pays

    def unload(self) -> None:
        if self._loaded_model is not None:
            self._loaded_model.close()
        self._loaded_model = None
        self._loaded = None
        gc.collect()
        if self.spec.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def measure(self, workload: str, limit: int | None, progress: CellProgress) -> MeasuredRow:
        from profiler.evaluate import PeakMemory, load_task_dict, run_evaluation, score_from_results
        from profiler.tasks import LOCAL_TASK_NOTES, lm_eval_task_name
        from profiler.window import run_windows

        if self._loaded is None or self._loaded_model is None:
            raise MeasurementError("no model loaded; call load() first")
        model, quant, engine = self._loaded
        loaded = self._loaded_model
        task = lm_eval_task_name(workload, self.spec.local_tasks)
        shots = self.spec.num_fewshot.get(workload)
        task_dict = load_task_dict(task, self.task_manager(), num_fewshot=shots, max_gen_toks=self.spec.max_gen_toks)
        lm = loaded.lm
        repeats = self.spec.repeats
        runs: list[tuple[dict[str, Any], Any]] = []

        def one_run() -> dict[str, Any]:
            note = f"run {len(runs) + 1} ({self.spec.warmup} warm-up, {repeats} measured)"
            lm.on_progress = lambda d, t: progress.update(d, t, note)
            res = run_evaluation(lm, task_dict, limit)
            runs.append((res, lm.counts))
            return res

        with PeakMemory(self.spec.device) as mem:
            stats = run_windows(one_run, self.meter, self._sync(), repeats=repeats, warmup=self.spec.warmup,
                                min_window_s=self.spec.min_window_s,
                                idle=self._idle)
        lm.on_progress = None
        first, counts = runs[0]
        score = score_from_results(first, task)
        flags = set(stats.flags) | set(loaded.flags)
        later = [score_from_results(r, task).value for r, _ in runs[1:]]
        if any(abs(v - score.value) > 1e-9 for v in later):
            flags.add("accuracy-varied")  # should not happen with greedy decoding
        # Random weights score at chance whatever the model: the row keeps energy and time only.
        scored = "random-weights" not in flags
        queries = counts.queries
        if queries < 1:
            raise MeasurementError(f"{workload}: lm-eval sent no requests (limit {limit})")
        output_total = sum(counts.output.values())
        # The queries one static batch holds: lm-eval batches requests (a multiple-choice query
        # sends one per choice), so batch / requests-per-query of them wait for the same passes.
        per_query = max(counts.requests, queries) / queries
        in_flight = min(max(self.spec.batch_size / per_query, 1.0), queries)
        fields = stats.row_fields(query_count=queries, output_tokens_total=output_total or None,
                                  queries_in_flight=in_flight)
        fields["flags"] = ";".join(sorted(flags))
        if fields.get("energy_spread_pct") is not None and fields["energy_spread_pct"] == float("inf"):
            fields["energy_spread_pct"] = None
        params = loaded.params
        throughput = output_total / stats.time_s_median if output_total and stats.time_s_median > 0 else None
        source = self._source(model)
        shots_used = sorted({t.get_config("num_fewshot") for t in task_dict["tasks"].values()})
        gen_cap = self.spec.max_gen_toks
        note = LOCAL_TASK_NOTES.get(workload, f"lm-eval task {task}") if task != workload else f"lm-eval task {task}"
        ref = "; ".join([
            f"{self.command}",
            f"task={task}",
            f"limit={'all' if limit is None else limit}",
            f"fewshot={','.join(str(s) for s in shots_used)}",
            *( [f"max_gen_toks={gen_cap}"] if gen_cap else [] ),
            f"data={note}",
            f"metric={score.metric}",
            f"fed_tokens_per_query={counts.fed_mean():.1f}",
            # memory_gb_peak is the whole process (CPU RSS) or allocator peak (CUDA); the
            # weights alone, as stored after quantization:
            f"weights_gb={loaded.weights_gb:.3f}",
            f"model={loaded.note or source.note}",
            f"quant={quant}",
            f"engine={engine} {loaded.engine_version}",
            *loaded.extra_ref,
            f"device={self.spec.device}",
            f"devices={','.join(str(d) for d in loaded.cuda_devices) or 'cpu'}",
            f"batch={self.spec.batch_size}",
            f"threads={self._threads()}",
            f"warmup={stats.warmup}",
            f"repeats={repeats}",
            f"calls_per_window={stats.calls_per_window}",
            *([f"min_window_s={self.spec.min_window_s:g}"] if self.spec.min_window_s else []),
            f"requests_per_query={per_query:.3g}",
            f"queries_in_flight={in_flight:.3g}",
            f"meter_update_period_s={self.meter.update_period_s:.6g}",
            f"env={self._env_summary()}",
            f"date={dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        ])
        row = MeasuredRow(
            platform=self.platform,
            device_count=loaded.device_count,
            engine=engine,
            engine_version=loaded.engine_version,
            model_id=source.model_id,
            params_total_b=params / 1e9,
            params_active_b=params / 1e9,
            quantization=quant,
            batch_size=self.spec.batch_size,
            workload=workload,
            prompt_tokens_mean=counts.prompt_mean(),
            output_tokens_mean=counts.output_mean(),
            fed_tokens_mean=counts.fed_mean(),
            accuracy=min(1.0, max(0.0, score.value)) if scored else None,
            accuracy_metric=score.metric if scored else None,
            accuracy_stderr=None if score.stderr is None or not scored else min(1.0, score.stderr),
            accuracy_n=score.n if scored else None,
            throughput_tokens_per_s=throughput,
            memory_gb_peak=mem.peak_bytes / 1e9 if mem.peak_bytes > 0 else None,
            serving_mode="offline",
            source="eai-profiler",
            source_ref=ref,
            measured_on=dt.datetime.now(dt.UTC).date(),
            **fields,
        )
        return row


# --------------------------------------------------------------------------- parsing helpers


def split_list(values: Sequence[str] | str | None) -> list[str]:
    """Comma- or repeat-separated option values as one list."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [s.strip() for v in items for s in v.split(",") if s.strip()]


def parse_task_ints(values: Sequence[str] | str | None, what: str) -> dict[str, int]:
    """Parse ``name=N`` pairs (comma-separated or repeated).

    Raises:
        InvalidInputError: A pair is malformed.
    """
    out: dict[str, int] = {}
    for item in split_list(values):
        name, sep, num = item.partition("=")
        if not sep or not name.strip() or not num.strip().isdigit():
            raise InvalidInputError(f"{what} {item!r} is not TASK=N (e.g. mmlu=2)")
        out[name.strip()] = int(num)
    return out


