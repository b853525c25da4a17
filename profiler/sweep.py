"""Sweeps of models x quantizations x tasks that survive failures and resume.

- Each model x quantization is loaded once and serves all its pending tasks.
- A failed cell (unsupported combination, out of memory, a task error) is appended to a
  sidecar ``<out stem>.failures.jsonl`` with its reason, and the sweep goes on.
- A finished cell's row is appended to the output table at once, atomically
  (:func:`recommender.table.append_rows`), so Ctrl-C or a crash never leaves a partial row.
- Re-running skips cells whose key (platform, model, quantization, workload, limit, batch
  size, engine) already has a row in the output.
- Engines are a sweep dimension (``engines``: hf-transformers, llama.cpp, vllm; see
  :mod:`profiler.engines`); each model x engine x quantization is one load.

The measuring is behind :class:`CellRunner` so the bookkeeping can be tested with a fake;
:class:`LmEvalRunner` is the real one (lm-eval inside an energy window).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recommender.errors import EaiError, InvalidInputError, MeasurementError
from recommender.table import MeasuredRow, append_rows
from recommender.table.io import read_rows

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


@dataclass(frozen=True)
class CellKey:
    """Identity of a measured cell for resuming."""

    platform: str
    model_id: str
    quantization: str
    workload: str
    limit: int | None
    batch_size: int
    engine: str = "hf-transformers"


_LIMIT_RE = re.compile(r"(?:^|; )limit=(\w+)(?:;|$)")


def ref_limit(source_ref: str) -> int | None:
    """The ``limit=`` entry of a profiler ``source_ref`` (``all`` -> None)."""
    m = _LIMIT_RE.search(source_ref)
    if not m or m.group(1) == "all":
        return None
    return int(m.group(1))


def row_key(row: MeasuredRow) -> CellKey:
    """Cell key of a profiler row."""
    return CellKey(row.platform, row.model_id, row.quantization, row.workload,
                   ref_limit(row.source_ref), row.batch_size, row.engine)


def completed_keys(out: Path) -> set[CellKey]:
    """Keys of the profiler rows already in ``out`` (empty if it does not exist)."""
    if not out.exists():
        return set()
    return {row_key(r) for r in read_rows(out) if r.source == "eai-profiler"}


def failures_path(out: Path) -> Path:
    """Sidecar JSONL of failed cells next to ``out``."""
    return out.with_name(out.stem + ".failures.jsonl")


def record_failure(out: Path, key: CellKey, stage: str, exc: BaseException) -> dict[str, Any]:
    """Append one failed cell to the sidecar (one JSON object per line)."""
    entry = {
        "at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "platform": key.platform, "model_id": key.model_id, "quantization": key.quantization,
        "workload": key.workload, "limit": key.limit, "batch_size": key.batch_size, "engine": key.engine,
        "stage": stage, "error": type(exc).__name__, "reason": str(exc)[:2000],
    }
    path = failures_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
    return entry


# --------------------------------------------------------------------------- runner contract


class CellRunner(Protocol):
    """Loads models and measures cells; the sweep does the bookkeeping around it."""

    platform: str

    def model_id(self, model: str) -> str:
        """Canonical id of a model reference (without loading weights)."""
        ...

    def check(self, model: str, quant: str, engine: str = "hf-transformers") -> None:
        """Raise UnsupportedCombinationError before loading when ``quant`` cannot run under ``engine``."""
        ...

    def load(self, model: str, quant: str, engine: str = "hf-transformers") -> None:
        """Load ``model`` quantized as ``quant`` under ``engine`` (replacing any loaded model)."""
        ...

    def measure(self, workload: str, limit: int | None, progress: CellProgress) -> MeasuredRow:
        """Measure one workload on the loaded model and return its row."""
        ...

    def unload(self) -> None:
        """Free the loaded model."""
        ...


class CellProgress(Protocol):
    """Progress sink of one cell."""

    def update(self, done: int, total: int, note: str = "") -> None:
        """Report ``done`` of ``total`` requests (``note``: e.g. the repeat)."""
        ...


class _NullProgress:
    def update(self, done: int, total: int, note: str = "") -> None:
        return None


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
    """

    written: int = 0
    skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    rows: list[MeasuredRow] = field(default_factory=list)


def run_sweep(spec: SweepSpec, out: str | Path, runner: CellRunner,
              progress: SweepProgress | None = None) -> SweepSummary:
    """Measure every pending cell of ``spec``, appending each finished row to ``out``.

    Args:
        spec: The sweep.
        out: Output CSV (created if missing; re-validated before each append).
        runner: Loads and measures.
        progress: Optional display.

    Returns:
        What was written, skipped and failed.
    """
    out_path = Path(out)
    done = completed_keys(out_path)
    summary = SweepSummary()
    plan: list[tuple[str, str, str, list[tuple[str, CellKey]]]] = []
    total = 0
    for model in spec.models:
        try:
            model_id = runner.model_id(model)
        except EaiError as exc:
            for engine in spec.engines:
                for quant in spec.quants:
                    for task in spec.tasks:
                        key = CellKey(runner.platform, model, quant, task, spec.limit_for(task), spec.batch_size, engine)
                        summary.failed.append(record_failure(out_path, key, "resolve", exc))
            continue
        for engine in spec.engines:
            for quant in spec.quants:
                pending = []
                for task in spec.tasks:
                    key = CellKey(runner.platform, model_id, quant, task, spec.limit_for(task), spec.batch_size, engine)
                    if key in done:
                        summary.skipped += 1
                    else:
                        pending.append((task, key))
                total += len(pending)
                if pending:
                    plan.append((model, engine, quant, pending))
    if progress:
        progress.start(total, summary.skipped)

    index = 0
    for model, engine, quant, pending in plan:
        try:
            runner.check(model, quant, engine)
            runner.load(model, quant, engine)
        except (EaiError, RuntimeError, OSError, ImportError, ValueError, KeyError, TypeError, MemoryError) as exc:
            # Unsupported/OOM/missing weights: every cell of this model x quant fails the same way.
            stage = "check" if isinstance(exc, InvalidInputError) else "load"
            for _task, key in pending:
                summary.failed.append(record_failure(out_path, key, stage, exc))
                index += 1
                if progress:
                    progress.finish_cell(key, False, f"{type(exc).__name__}: {exc}")
            runner.unload()
            continue
        try:
            for task, key in pending:
                index += 1
                sink = progress.cell(key, index) if progress else _NullProgress()
                try:
                    row = runner.measure(task, key.limit, sink)
                except (EaiError, RuntimeError, OSError, ImportError, ValueError, KeyError, TypeError, MemoryError) as exc:
                    summary.failed.append(record_failure(out_path, key, "measure", exc))
                    if progress:
                        progress.finish_cell(key, False, f"{type(exc).__name__}: {exc}")
                    continue
                append_rows([row], out_path)
                summary.rows.append(row)
                summary.written += 1
                if progress:
                    progress.finish_cell(key, True, _row_line(row))
        finally:
            runner.unload()
    return summary


def _row_line(row: MeasuredRow) -> str:
    acc = "n/a" if row.accuracy is None else f"{row.accuracy:.3f}"
    e = row.energy_j_per_query
    t = row.time_s_per_query
    return (f"acc {acc}, {e:.2f} J/query, {t:.2f} s/query" if e is not None and t is not None
            else f"acc {acc}")


# --------------------------------------------------------------------------- real runner


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

    def _options(self) -> Any:
        from profiler.engines import EngineOptions

        return EngineOptions(device=self.spec.device, device_count=self.spec.device_count,
                             batch_size=self.spec.batch_size, threads=self.spec.threads,
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
            self._task_manager = TaskManager(include_path=paths or None)
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
            text = f"{env.cpu_model} x{env.cpu_count}; python {env.python_version}; " + ", ".join(parts)
            if env.gpu_name:
                text += (f"; gpu {env.gpu_name}, driver {env.gpu_driver_version}, "
                         f"power limit {env.gpu_power_limit_w} W")
            self._env = text
        return self._env

    # -- CellRunner
    def model_id(self, model: str) -> str:
        return self._source(model).model_id

    def check(self, model: str, quant: str, engine: str = "hf-transformers") -> None:
        self._engine(engine).check(self._source(model), quant, self._options())

    def load(self, model: str, quant: str, engine: str = "hf-transformers") -> None:
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
                                idle=self._idle)
        lm.on_progress = None
        first, counts = runs[0]
        score = score_from_results(first, task)
        flags = set(stats.flags) | set(loaded.flags)
        later = [score_from_results(r, task).value for r, _ in runs[1:]]
        if any(abs(v - score.value) > 1e-9 for v in later):
            flags.add("accuracy-varied")  # should not happen with greedy decoding
        queries = counts.queries
        if queries < 1:
            raise MeasurementError(f"{workload}: lm-eval sent no requests (limit {limit})")
        output_total = sum(counts.output.values())
        fields = stats.row_fields(query_count=queries, output_tokens_total=output_total or None)
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
            accuracy=min(1.0, max(0.0, score.value)),
            accuracy_metric=score.metric,
            accuracy_stderr=None if score.stderr is None else min(1.0, score.stderr),
            accuracy_n=score.n,
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


