"""``eai plan`` (which cells to measure next) and ``eai verify`` (measure the pick, check the prediction).

``eai plan SPEC [--budget-gpu-hours H] [--have PLATFORM] [--out sweep.yaml] [--since OLD.json] [--json]``
ranks the cells whose measurement would most improve the decision per GPU-hour and writes
sweep files ``eai profile --sweep`` runs (``--out``; the plan itself goes next to them as
``<out>.plan.json``, which ``--since`` compares with after new rows are imported).

``eai verify [SPEC] [--platform P --model M --quant Q --task T ...]`` measures one
configuration on this machine through the profiler, appends the row, and compares it with
the MODEL-ONLY prediction: the predictor refit without any row of that cell (the prediction
it would have made before the measurement), never the measurement itself. Exit status 0:
inside the 90% interval; 9 (:class:`~recommender.errors.PredictionMissError`): outside.

Heavy imports (the predictor, the profiler) happen inside the command functions.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from recommender.cli.common import json_text, read_json_document, read_spec
from recommender.cli.spec_flags import RequirementFlags, read_requirements, with_requirement_flags
from recommender.errors import InvalidInputError, PredictionMissError, UnknownNameError


def _load_predictor(model_dir: Optional[Path]):
    from recommender.model import load_predictor

    return load_predictor(model_dir=model_dir) if model_dir is not None else load_predictor()


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%" if p >= 0.005 or p == 0 else "<1%"


def _fields_that_differ(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted names of the spec fields whose values differ between two spec documents."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [f for k in dict.fromkeys([*a, *b]) for f in _fields_that_differ(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [prefix.rstrip(".")]


def compare_plans(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Lines saying how the pick and the probabilities moved between two plan documents."""
    lines = []
    od, nd = old.get("decision", {}), new.get("decision", {})
    # ``top_k`` says how much to show, not what is asked.
    differ = [f for f in _fields_that_differ(old.get("spec"), new.get("spec")) if f != "top_k"] if "spec" in old else []
    if differ:
        lines.append(f"the earlier plan was made for another question ({', '.join(differ)} differ): the probabilities below compare two questions")
    if old.get("data_hash") == new.get("data_hash"):
        lines.append("same measured table as the earlier plan: nothing new was learned")
    if od.get("pick") != nd.get("pick"):
        lines.append(f"pick changed: {od.get('pick')} -> {nd.get('pick')}")
    else:
        lines.append(f"pick unchanged: {nd.get('pick')}")
    lines.append(
        f"pick's probability of being best: {_pct(od.get('pick_probability_best', 0.0))} -> {_pct(nd.get('pick_probability_best', 0.0))}"
        + ("; now decisive" if nd.get("decisive") and not od.get("decisive") else "")
    )
    before = {c["label"]: c["p_best"] for c in old.get("most_likely_best", [])}
    after = {c["label"]: c["p_best"] for c in new.get("most_likely_best", [])}
    for label in list(dict.fromkeys([*after, *before])):
        lines.append(f"  {_pct(before.get(label, 0.0)):>4} -> {_pct(after.get(label, 0.0)):>4}  {label}")
    return lines


def _print_plan(plan, written: list[Path], since_lines: list[str]) -> None:
    from recommender.plan.cost import load_config

    out = []
    d = plan.to_dict()["decision"]
    out.append(f"eai plan - objective {plan.objective}; {plan.n_candidates} candidates, {plan.n_eligible} pass the fixed constraints")
    verdict = (
        f"decisive: a candidate is best with probability >= {_pct(plan.decisive_probability)}"
        if plan.decisive
        else f"tie: no candidate is best with probability >= {_pct(plan.decisive_probability)}"
    )
    out.append(f"pick now: {plan.pick} (probability of being best {_pct(plan.pick_p_best)}); {verdict}")
    if plan.top and plan.top[0].label != plan.pick:
        out.append(
            f"most likely best: {plan.top[0].label} ({_pct(plan.top[0].p_best)}); the pick comes from the flow's "
            "preference order among candidates whose intervals overlap"
        )
    if d["probability_none_feasible"] > 0:
        out.append(f"in {_pct(d['probability_none_feasible'])} of sampled worlds no candidate meets every constraint")
    out.append("most likely best (probability best / meets every constraint):")
    for c in plan.top:
        cons = ", ".join(f"{k} {_pct(v)}" for k, v in c.p_constraints.items())
        out.append(f"  {_pct(c.p_best):>5} / {_pct(c.p_feasible):>5}  {c.label} [{c.status}]" + (f" ({cons})" if cons else ""))
    if since_lines:
        out.append("since the earlier plan:")
        out.extend("  " + s for s in since_lines)
    budget = f"budget {plan.budget_gpu_hours:g} GPU-hours" if plan.budget_gpu_hours is not None else f"best {load_config().planner.max_cells} cells"
    out.append(f"measure next ({budget}; {plan.spent_gpu_hours:.3g} GPU-hours planned):")
    for i, c in enumerate(plan.cells, 1):
        tasks = ", ".join(f"{t.task} x{t.queries}" for t in c.tasks)
        out.append(f"  {i}. {c.label()}  value {c.value:.3f}, {c.gpu_hours:.3g} GPU-h, P(best) {_pct(c.p_best)}; {tasks}")
    out.extend("  note: " + n if plan.cells else "  " + n for n in plan.notes)
    if plan.elsewhere:
        out.append("worth measuring, but not here (not in the sweep files):")
        for c in plan.elsewhere:
            out.append(f"  - {c.label()}  value {c.value:.3f}, {c.gpu_hours:.3g} GPU-h: {c.unavailable_reason}")
    for p in written:
        out.append(f"wrote {p} (run: eai profile --sweep {p})")
    out.append(f"({plan.samples} sampled worlds; {plan.elapsed_s:.1f} s)")
    sys.stdout.write("\n".join(out) + "\n")


def _profiler_engines() -> tuple[str, ...]:
    """Engines the profiler measures with (:data:`profiler.engines.ENGINES`)."""
    from profiler.engines import ENGINES

    return tuple(ENGINES)


# Where the profiler runs each engine (profiler/engines: vLLM needs CUDA GPUs; HF transformers
# and llama.cpp run on both, llama.cpp on a GPU with a CUDA build of llama-cpp-python, which
# `eai profile` checks on the machine that runs the sweep).
_ENGINE_DEVICES: dict[str, tuple[str, ...]] = {"hf-transformers": ("cpu", "cuda"), "llama.cpp": ("cpu", "cuda"),
                                               "vllm": ("cuda",)}


def _profiler_can_measure(platform: str, engine: str, quantization: str, model_id: str | None = None) -> str:
    """"" when ``eai profile`` can measure the combination (of ``model_id`` where given: AWQ and
    GPTQ load the checkpoint its catalog entry names), else why not."""
    from recommender.catalog import resolve_platform
    from recommender.errors import EaiError

    engines = _profiler_engines()
    if engine not in engines:
        return f"the profiler measures with {', '.join(engines)}, not {engine}"
    try:
        device = "cpu" if resolve_platform(platform).platform_class == "cpu" else "cuda"
    except EaiError as exc:
        return f"the profiler does not know platform {platform}: {exc}"
    if device not in _ENGINE_DEVICES.get(engine, ("cpu", "cuda")):
        return f"the profiler runs {engine} on {' or '.join(_ENGINE_DEVICES[engine])}, not on {platform} ({device})"
    try:
        from profiler.engines import get_engine

        loadable = get_engine(engine).quantizations()
        if quantization not in loadable:
            return f"the profiler's {engine} engine cannot load {quantization} (it loads {', '.join(loadable)})"
        if engine == "hf-transformers":
            from profiler.quant import check_combination, get_quant

            get_quant(quantization)
            check_combination(quantization, device)
        if engine == "vllm" and model_id is not None:
            from profiler.engines.vllm import PREQUANTIZED_ARGS, prequantized_checkpoint

            if quantization in PREQUANTIZED_ARGS:
                prequantized_checkpoint(model_id, quantization)
    except EaiError as exc:
        return f"the profiler cannot load {quantization} with {engine} on {device}: {exc}"
    return ""


def register(app: typer.Typer) -> None:
    """Add ``plan`` and ``verify``."""

    @app.command("plan")
    @with_requirement_flags
    def plan_cmd(
        requirements: RequirementFlags,
        source: Optional[str] = typer.Argument(None, metavar="[SPEC]", help="Spec JSON file, or '-' for stdin."),
        budget: Optional[float] = typer.Option(None, "--budget-gpu-hours", help="GPU-hours to spend (default: the best few cells)."),
        have: list[str] = typer.Option([], "--have", help="Platform you can measure on (repeatable; default: the spec's platforms, else all)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write sweep files here (sweep.yaml, sweep.2.yaml...) and the plan as <out>.plan.json."),
        since: Optional[Path] = typer.Option(None, "--since", help="An earlier <out>.plan.json: show how the pick and probabilities moved."),
        as_json: bool = typer.Option(False, "--json", help="Write the plan as one JSON document."),
        seed: int = typer.Option(0, "--seed", help="Random seed of the sampling."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Directory written by `eai fit`."),
    ) -> None:
        """Which cells (platform x model x quantization x engine x batch x task) to measure next, by value of information per GPU-hour."""
        if budget is not None and not (math.isfinite(budget) and budget > 0):
            raise InvalidInputError(f"invalid --budget-gpu-hours {budget!r}: give a positive number of GPU-hours")
        spec = read_requirements(source, requirements)
        from recommender.plan.cost import load_config
        from recommender.plan.planner import make_plan
        from recommender.plan.sweep_writer import write_sweeps
        from recommender.rules.catalogs import Catalogs

        catalogs = Catalogs.load()
        have_ids: tuple[str, ...] | None = None
        if have:
            have_ids = tuple(catalogs.resolve_platform(h).id for h in have)
        elif spec.hardware.platforms:
            have_ids = tuple(catalogs.resolve_platform(h).id for h in spec.hardware.platforms)
        old = read_json_document(since, "earlier plan") if since is not None else None
        predictor = _load_predictor(model_dir)
        plan, _ctx = make_plan(
            spec, predictor, budget_gpu_hours=budget, have=have_ids, catalogs=catalogs, seed=seed, can_measure=_profiler_can_measure
        )
        doc = plan.to_dict()
        doc["spec"] = spec.model_dump(mode="json")  # the question this plan settles (``--since`` checks it)
        since_lines = compare_plans(old, doc) if old is not None else []
        written: list[Path] = []
        if out is not None:
            if plan.cells:
                classes = {p.id: p.platform_class for p in catalogs.platforms.values()}
                written = write_sweeps(plan.cells, classes, out, load_config().cost)
            doc["sweep_files"] = [str(p) for p in written]
            record = out.with_name(out.stem + ".plan.json")
            try:
                record.write_text(json_text(doc), encoding="utf-8")
            except OSError as exc:
                raise InvalidInputError(f"cannot write {record}: {exc.strerror or exc}") from None
        if since_lines:
            doc["since"] = since_lines
        if as_json:
            sys.stdout.write(json_text(doc))
        else:
            _print_plan(plan, written, since_lines)

    @app.command("verify")
    def verify_cmd(
        source: Optional[str] = typer.Argument(None, metavar="[SPEC]", help="Spec JSON file: verify what `eai recommend` picks."),
        platform: Optional[str] = typer.Option(None, "--platform", help="Configuration given directly: platform id (default: this machine)."),
        model: Optional[str] = typer.Option(None, "--model", help="Model id or alias (e.g. smollm2-135m-gguf)."),
        quant: Optional[str] = typer.Option(None, "--quant", help="Quantization."),
        engine: str = typer.Option("hf-transformers", "--engine", help="Serving engine the profiler measures with."),
        batch_size: int = typer.Option(1, "--batch-size", min=1, help="Concurrent sequences."),
        task: list[str] = typer.Option([], "--task", "-t", help="Task to measure (repeatable; default: the spec's)."),
        limit: int = typer.Option(20, "--limit", min=1, help="Items per task (per subject for mmlu)."),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
        repeats: int = typer.Option(1, "--repeats", min=1, max=20, help="Measured windows per cell."),
        threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch CPU threads."),
        check: str = typer.Option("energy", "--check", help="Quantity the exit status checks: energy | time | accuracy | all."),
        table: Optional[Path] = typer.Option(None, "--table", help="Measured table the prediction is fit on (default data/measured.csv)."),
        out: Optional[Path] = typer.Option(None, "--out", help="CSV the measured row is appended to (default data/profiled/<platform>.csv)."),
        as_json: bool = typer.Option(False, "--json", help="Write the comparison as one JSON document."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Directory written by `eai fit` (for the spec's recommendation)."),
    ) -> None:
        """Measure a configuration on this machine and check it against the model-only prediction."""
        if check not in ("energy", "time", "accuracy", "all"):
            raise InvalidInputError(f"invalid --check {check!r}: allowed are energy, time, accuracy, all")
        from recommender.plan.verify import Configuration, run_verification

        if source is not None:
            if model or quant:
                raise InvalidInputError("give either a spec or a configuration (--model/--quant), not both")
            spec = read_spec(source)
            from recommender.rules.engine import recommend

            rec = recommend(spec, _load_predictor(model_dir))
            w = rec.winner
            config = Configuration(
                platform=w["platform"], device_count=w["device_count"], engine=w["engine"], model=w["model_id"],
                quantization=w["quantization"], batch_size=w["batch_size"],
                tasks=tuple(task) if task else tuple(t.id for t in spec.tasks),
            )
        else:
            if not model or not task:
                raise InvalidInputError("eai verify needs a spec, or --model and --task (configuration given directly; --quant optional)")
            if not quant:
                quant, why = _default_quantization(model, platform, device, engine)
                if not as_json:
                    sys.stderr.write(f"eai verify: no --quant given: measuring {quant} ({why})\n")
            config = Configuration(
                platform=platform, device_count=1, engine=engine, model=model, quantization=quant,
                batch_size=batch_size, tasks=tuple(task),
            )
        measurer = _ProfilerMeasurer(config, limit=limit, device=device, repeats=repeats, threads=threads, out=out, quiet=as_json)
        result = run_verification(config, measurer, table_path=table, out=str(measurer.out))
        doc = result.to_dict(check)
        if as_json:
            sys.stdout.write(json_text(doc))
        else:
            sys.stdout.write("\n".join(result.lines(check)) + "\n")
        if not doc["inside"]:
            raise PredictionMissError(
                f"measured {check} lies outside the model-only 90% interval for {', '.join(doc['outside'])}"
            )


def _default_quantization(model: str, platform: Optional[str], device: str, engine: str) -> tuple[str, str]:
    """The quantization ``eai verify`` measures when none is named, and why: what ``eai predict``
    asks by default on this machine's platform (the model's published format, else 16-bit weights
    in the first format the platform runs; :func:`recommender.rules.predict.default_quantization`).

    With llama.cpp the format is the GGUF file's own, read from its header.

    Raises:
        InvalidInputError: llama.cpp asked of a model that is no GGUF file, or of a file whose
            type no quantization names.
    """
    if engine == "llama.cpp":
        return gguf_quantization(model)
    from profiler.sweep import detect_platform

    from recommender.rules.catalogs import Catalogs
    from recommender.rules.flow import load_flow
    from recommender.rules.predict import default_quantization

    catalogs = Catalogs.load()
    target = catalogs.resolve_platform(platform if platform else detect_platform(device))
    try:
        published = catalogs.resolve_model(model).weights_format
    except UnknownNameError:
        published = None  # a local path or a model outside the catalog: its weights as 16-bit
    quant, basis = default_quantization(published, target, catalogs, load_flow())
    return quant, f"{basis} on {target.id}"


def gguf_quantization(model: str) -> tuple[str, str]:
    """The quantization a GGUF model runs as shipped under llama.cpp, and why (its header's type);
    what ``eai verify`` and ``eai profile`` measure when no ``--quant`` is named.

    Raises:
        InvalidInputError: The model is no GGUF file, or its type names no quantization.
    """
    from pathlib import Path

    from profiler.engines.llamacpp import gguf_file_type, quant_of_file_type
    from profiler.models import resolve_model_source

    source = resolve_model_source(model)
    if source.kind != "gguf" or source.gguf_file is None:
        raise InvalidInputError(
            f"eai verify with engine llama.cpp runs a GGUF file, and {model!r} is none: give the bundled smollm2-135m-gguf "
            "or org/name=FILE.gguf"
        )
    file_type = gguf_file_type(Path(source.location) / source.gguf_file)
    quant = quant_of_file_type(file_type)
    if quant is None:
        raise InvalidInputError(
            f"{source.gguf_file} is a {file_type} file, which no quantization eai names runs as shipped; give --quant "
            "(gguf-q8, fp16 or fp32 re-quantize it)"
        )
    return quant, f"the GGUF file's own type ({file_type})"


class _ProfilerMeasurer:
    """Measures through the profiler's public API (``LmEvalRunner`` + ``run_sweep``); appends rows to ``out``."""

    def __init__(self, config, limit: int, device: str, repeats: int, threads: Optional[int], out: Optional[Path], quiet: bool) -> None:
        from profiler.engines import ENGINES
        from profiler.quant import check_combination, get_quant, parse_device
        from profiler.sweep import LmEvalRunner, SweepSpec

        from recommender.catalog import resolve_platform
        from recommender.cli.profile_cmd import PROFILED_DIR

        parse_device(device)
        # The configuration's engine when the profiler has it (run_verification refuses the
        # others by name), else hf-transformers.
        self.engine = config.engine if config.engine in ENGINES else "hf-transformers"
        if self.engine == "hf-transformers":
            get_quant(config.quantization)
            check_combination(config.quantization, device)
        self.spec = SweepSpec(
            models=[config.model], quants=[config.quantization], tasks=list(config.tasks), limit=limit,
            batch_size=config.batch_size, device=device, repeats=repeats, threads=threads, idle_s=0.0,
            engines=[self.engine],
        )
        platform = resolve_platform(config.platform).id if config.platform else None
        self.runner = LmEvalRunner(self.spec, platform=platform, command="eai verify")
        self.platform = self.runner.platform
        self.out = out if out is not None else PROFILED_DIR / f"{self.platform}.csv"
        self.quiet = quiet

    def model_id(self, model: str) -> str:
        return self.runner.model_id(model)

    def measure(self, config) -> list:
        from profiler.sweep import run_sweep

        summary = run_sweep(self.spec, self.out, self.runner)
        if summary.skipped and not summary.written:
            raise InvalidInputError(
                f"{self.out} already holds this cell at limit {self.spec.limit}: the sweep resumes instead of measuring; "
                "pass --out NEW.csv or another --limit"
            )
        if summary.failed and not summary.written:
            first = summary.failed[0]
            from recommender.errors import MeasurementError

            raise MeasurementError(f"measuring failed at {first['stage']}: {first['error']}: {first['reason'][:300]}")
        return list(summary.rows)
