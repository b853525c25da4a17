"""``eai profile``: measure models x quantizations x tasks on this machine.

Rows go to ``data/profiled/<platform>.csv`` unless ``--out`` says otherwise; ``eai data
import`` merges ``data/profiled/*.csv`` into the shipped table. Heavy imports (torch,
transformers, lm-eval) happen inside the command function only.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Annotated, Any

import typer

_REPO = Path(__file__).resolve().parents[2]
PROFILED_DIR = _REPO / "data" / "profiled"


class _RichProgress:
    """Sweep display: overall cells with ETA, plus the current cell's requests and ETA."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.overall: Any = None
        self.current: Any = None

    def __enter__(self) -> _RichProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def start(self, total_cells: int, skipped: int) -> None:
        label = "cells" + (f" ({skipped} already done)" if skipped else "")
        self.overall = self.progress.add_task(label, total=max(total_cells, 0), note="")

    def cell(self, key: Any, index: int) -> Any:
        if self.current is not None:
            self.progress.remove_task(self.current)
        desc = f"{key.model_id.split('/')[-1]} {key.quantization} {key.engine} {key.workload}"
        self.current = self.progress.add_task(desc, total=None, note="loading tasks")
        progress, task_id = self.progress, self.current

        class _Cell:
            def update(self, done: int, total: int, note: str = "") -> None:
                progress.update(task_id, completed=done, total=max(total, 1), note=note)

        return _Cell()

    def finish_cell(self, key: Any, ok: bool, message: str) -> None:
        status = "[green]ok[/green]" if ok else "[red]failed[/red]"
        self.console.print(f"{status} {key.model_id} {key.quantization} {key.engine} {key.workload} "
                           f"(limit {key.limit}): {message}", markup=True, highlight=False)
        if self.overall is not None:
            self.progress.advance(self.overall)


def _command_line(ctx: typer.Context) -> str:
    """The invocation as given, rebuilt from click's parsed parameters (works for ``main(argv)``)."""
    parts = ["eai", "profile"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value is False or value == [] or param.name == "help":
            continue
        flag = max(param.opts, key=len)
        if value is True:
            parts.append(flag)
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            parts += [flag, shlex.quote(str(v))]
    return " ".join(parts)


def register(app: typer.Typer) -> None:
    """Add ``eai profile``."""

    @app.command("profile")
    def profile(
        ctx: typer.Context,
        model: Annotated[list[str] | None, typer.Option("--model", help="Model id, local path, alias (smollm2-135m-gguf) or random:DIR (the architecture in DIR/config.json with random weights: energy and time only); comma-separated or repeated.")] = None,
        quant: Annotated[list[str] | None, typer.Option("--quant", help="Quantizations: fp32, fp16, bf16, int8-bnb, int8-bnb-t0, nf4-bnb, fp4-bnb, dynamic-int8.")] = None,
        task: Annotated[list[str] | None, typer.Option("--task", help="Workloads (arc_easy, arc_challenge, mmlu, truthfulqa_mc2, gsm8k run offline; any lm-eval task name).")] = None,
        limit: Annotated[int | None, typer.Option("--limit", min=1, help="Items per task (per subject for mmlu).")] = None,
        task_limit: Annotated[list[str] | None, typer.Option("--task-limit", help="Per-task limit, TASK=N (e.g. mmlu=2,gsm8k=10).")] = None,
        num_fewshot: Annotated[list[str] | None, typer.Option("--num-fewshot", help="Per-task shot count, TASK=N (overrides the task YAML).")] = None,
        max_gen_toks: Annotated[int | None, typer.Option("--max-gen-toks", min=1, help="Cap on generated tokens for generative tasks.")] = None,
        device: Annotated[str | None, typer.Option("--device", help="cpu, cuda or cuda:N.")] = None,
        engine: Annotated[list[str] | None, typer.Option("--engine", help="Engines: hf-transformers (default), llama.cpp (GGUF), vllm (CUDA); comma-separated or repeated.")] = None,
        device_count: Annotated[int | None, typer.Option("--device-count", min=1, help="GPUs per deployment (HF device_map=auto, vLLM tensor parallel); all are metered.")] = None,
        warmup: Annotated[int | None, typer.Option("--warmup", min=0, max=10, help="Unmeasured evaluations before each cell's windows (default 1).")] = None,
        repeats: Annotated[int | None, typer.Option("--repeats", min=1, max=20, help="Measured windows per cell (default 3; accuracy from the first, energy median and spread).")] = None,
        batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Requests per forward pass.")] = None,
        threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch CPU threads (default: torch's).")] = None,
        min_window_s: Annotated[float | None, typer.Option("--min-window-s", min=0.001, help="Shortest measured window, s (default 200 meter update periods: 20 s on NVML, <= 1 % counter quantization); shorter fits more cells in a GPU lease.")] = None,
        idle_seconds: Annotated[float | None, typer.Option("--idle-seconds", min=0, help="Idle window after each model load, s: stored as idle_power_w, never subtracted (not used by the estimated meter).")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Output CSV file (default data/profiled/<platform>.csv); several sweeps may share one (appends are locked).")] = None,
        tasks_path: Annotated[list[Path] | None, typer.Option("--tasks-path", help="Extra directory of lm-eval task YAMLs (repeatable).")] = None,
        sweep: Annotated[Path | None, typer.Option("--sweep", help="Sweep file (YAML/JSON) listing models, quants, tasks and settings; flags override it.")] = None,
        platform: Annotated[str | None, typer.Option("--platform", help="Platform id to record (default: detected from the device).")] = None,
        no_local_tasks: Annotated[bool, typer.Option("--no-local-tasks", help="Use lm-eval's own tasks (Hub data) instead of the offline YAMLs.")] = False,
        executor: Annotated[str, typer.Option("--executor", help="Where model x quantization x engine groups run: serial (this process) or ray (one Ray task per group, reserving its GPUs; needs eai[cluster]).")] = "serial",
        address: Annotated[str | None, typer.Option("--address", help="Ray cluster to join with --executor ray (auto, HOST:6379 or ray://HOST:10001); default: start a local Ray.")] = None,
    ) -> None:
        """Measure accuracy, energy, time, tokens and memory of each cell; append rows."""
        from rich.console import Console

        from recommender.catalog import resolve_platform
        from recommender.errors import InvalidInputError
        from profiler.quant import check_combination, get_quant, parse_device
        from profiler.executors import EXECUTORS, get_executor
        from profiler.sweep import (
            LmEvalRunner,
            LmEvalRunnerFactory,
            SweepSpec,
            failures_path,
            load_sweep_file,
            parse_task_ints,
            pin_threads,
            run_sweep,
            split_list,
        )

        if executor not in EXECUTORS:
            from recommender.errors import UnknownNameError

            raise UnknownNameError("executor", executor, EXECUTORS)
        if address is not None and executor != "ray":
            raise InvalidInputError("--address joins a Ray cluster; use it with --executor ray")
        if executor == "ray":
            import importlib.util

            if importlib.util.find_spec("ray") is None:
                raise InvalidInputError("--executor ray needs the ray package: pip install 'eai[cluster]' (or pip install ray)")
        if out is not None and out.is_dir():
            raise InvalidInputError(f"--out {str(out)!r} is a directory; name a CSV file, e.g. {out / 'rows.csv'}")

        overrides: dict[str, Any] = {
            "models": split_list(model) or None,
            "quants": split_list(quant) or None,
            "tasks": split_list(task) or None,
            "limit": limit,
            "task_limits": parse_task_ints(task_limit, "--task-limit") or None,
            "num_fewshot": parse_task_ints(num_fewshot, "--num-fewshot") or None,
            "max_gen_toks": max_gen_toks,
            "device": device,
            "engines": split_list(engine) or None,
            "device_count": device_count,
            "warmup": warmup,
            "repeats": repeats,
            "batch_size": batch_size,
            "threads": threads,
            "idle_s": idle_seconds,
            "min_window_s": min_window_s,
            "tasks_path": [str(p) for p in tasks_path] if tasks_path else None,
            "local_tasks": False if no_local_tasks else None,
        }
        if sweep is None and not overrides["quants"] and overrides["models"] and overrides["engines"] == ["llama.cpp"]:
            overrides["quants"] = _gguf_quants(overrides["models"])
        if sweep is not None:
            spec = load_sweep_file(sweep, **overrides)
        else:
            missing = [f"--{n}" for n in ("model", "quant", "task") if not overrides[n + "s"]]
            if missing:
                raise InvalidInputError(f"eai profile needs {', '.join(missing)} (or --sweep FILE)")
            from pydantic import ValidationError

            try:
                spec = SweepSpec.model_validate({k: v for k, v in overrides.items() if v is not None})
            except ValidationError as exc:
                err = exc.errors()[0]
                raise InvalidInputError(f"option {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc
        parse_device(spec.device)
        from profiler.engines import get_engine
        from recommender.errors import UnknownNameError

        runnable = {q for e in spec.engines for q in get_engine(e).quantizations()}
        for q in spec.quants:
            if q not in runnable:  # unknown name -> did-you-mean before any work
                if "hf-transformers" in spec.engines:
                    get_quant(q)
                raise UnknownNameError(f"quantization for engine(s) {', '.join(spec.engines)}", q, runnable)
        # Unsupported combinations are reported up front (and recorded per cell by the sweep).
        console = Console(stderr=True)
        if "hf-transformers" in spec.engines:
            for q in spec.quants:
                try:
                    check_combination(q, spec.device)
                except InvalidInputError as exc:
                    if len(spec.quants) == 1 and len(spec.engines) == 1:
                        raise
                    console.print(f"[yellow]will skip[/yellow] {exc}", highlight=False)
        platform_id = resolve_platform(platform).id if platform else None
        command = _command_line(ctx)
        runner = LmEvalRunner(spec, platform=platform_id, command=command)
        out_path = out if out is not None else PROFILED_DIR / f"{runner.platform}.csv"
        run_on = get_executor(executor, **({"address": address} if address else {}))
        make_runner = None
        if executor != "serial":
            # Workers build their own runner; threads pinned so every node runs the planned cell.
            spec = pin_threads(spec, runner)
            runner = LmEvalRunner(spec, platform=runner.platform, command=command)
            make_runner = LmEvalRunnerFactory(spec, runner.platform, command, platform_given=platform is not None)
        started = time.perf_counter()
        with _RichProgress(console) as display:
            summary = run_sweep(spec, out_path, runner, progress=display, executor=run_on, make_runner=make_runner)
        elapsed = time.perf_counter() - started
        typer.echo(
            f"{summary.written} row(s) appended to {out_path}, {summary.skipped} already there, "
            f"{len(summary.failed)} failed"
            + (f" (see {failures_path(out_path)})" if summary.failed else "")
            + (f", {len(summary.claimed_elsewhere)} left to another sweep running on this table"
               if summary.claimed_elsewhere else "")
            + (f", {summary.duplicates} measured but already written by another run" if summary.duplicates else "")
            + f"; {elapsed:.0f} s"
        )
        if summary.failed and not summary.written and not summary.skipped:
            raise typer.Exit(code=8)


def _gguf_quants(models: list[str]) -> list[str]:
    """The quantization llama.cpp runs the models' GGUF files at as shipped, when all agree
    (``eai profile --engine llama.cpp`` without ``--quant``; the header's type, as ``eai verify``
    reads it), said on stderr.

    Raises:
        InvalidInputError: A model is no GGUF file, a type no quantization names, or files of
            several types (then ``--quant`` says which).
    """
    import sys

    from recommender.cli.plan_cmd import gguf_quantization
    from recommender.errors import InvalidInputError

    found = {m: gguf_quantization(m) for m in models}
    quants = sorted({q for q, _ in found.values()})
    if len(quants) > 1:
        raise InvalidInputError(
            "the GGUF files are of several formats (" + ", ".join(f"{m}: {q}" for m, (q, _) in found.items())
            + "); give --quant, or profile them apart"
        )
    sys.stderr.write(f"eai profile: no --quant given: running {quants[0]} ({next(iter(found.values()))[1]})\n")
    return quants

