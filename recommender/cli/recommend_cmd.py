"""``eai recommend``, ``eai schema`` and ``eai matrix``.

``recommend`` reads a requirements spec from flags, a file (``--spec FILE``)
or stdin (``-``), ranks configurations and prints a table with an
explanation, or one versioned JSON document with ``--json``. Exit status: 0
answered; 2 invalid spec; 3 nothing feasible (names the binding constraint
and the nearest miss); 6 no fitted predictor; 9 an output (``--report``,
``--out``, stdout) could not be written.

Heavy imports (pandas, the predictor) happen inside the command functions so
that ``eai --help`` and ``eai schema`` stay fast.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from recommender.cli.common import json_text, read_json_document, read_spec
from recommender.errors import InvalidInputError, ModelStateError, OutputError, SpecError

_PRIORITIES = ("accuracy", "energy", "latency", "balanced", "flexibility")
_OBJECTIVES = ("eor", "tweor", "energy", "cost", "carbon")
_SCENARIOS = ("data-center", "enterprise", "edge", "auto")


def _parse_task(text: str) -> dict[str, Any]:
    """``gsm8k`` or ``gsm8k:2`` (weight after the colon)."""
    name, sep, weight = text.rpartition(":")
    if not sep:
        return {"id": text}
    try:
        w = float(weight)
    except ValueError:
        raise SpecError(f"invalid --task {text!r}: weight {weight!r} is not a number (use TASK or TASK:WEIGHT)") from None
    if not math.isfinite(w) or w <= 0:
        raise SpecError(f"invalid --task {text!r}: weight must be a positive number")
    return {"id": name, "weight": w}


def _parse_engine_versions(items: list[str]) -> dict[str, str]:
    """``["vllm=0.11.1"]`` -> ``{"vllm": "0.11.1"}`` (the spec validates names and releases)."""
    out: dict[str, str] = {}
    for text in items:
        name, sep, version = text.partition("=")
        if not sep or not name or not version:
            raise SpecError(f"invalid --engine-version {text!r}: use ENGINE=VERSION, e.g. vllm=0.11.1")
        out[name.strip()] = version.strip()
    return out


def _set(d: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def _choice(value: Optional[str], allowed: tuple[str, ...], flag: str) -> Optional[str]:
    if value is not None and value not in allowed:
        raise SpecError(f"invalid {flag} {value!r}: allowed are {', '.join(allowed)}")
    return value


def _load_predictor(model_dir: Optional[Path]):
    """The fitted predictor (``recommender.model.load_predictor``; refits if stale for the table)."""
    try:
        from recommender.model import load_predictor
    except ImportError:
        raise ModelStateError("no predictor is available in this installation (recommender.model.load_predictor missing)") from None
    return load_predictor(model_dir=model_dir) if model_dir is not None else load_predictor()


def _emit_json(doc: dict[str, Any]) -> None:
    sys.stdout.write(json_text(doc))
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add ``recommend``, ``schema`` and ``matrix`` to ``app``."""

    @app.command("recommend")
    def recommend_cmd(
        source: Optional[str] = typer.Argument(None, metavar="[SPEC]", help="Spec JSON file, or '-' for stdin."),
        spec_file: Optional[str] = typer.Option(None, "--spec", help="Spec JSON file ('-' for stdin)."),
        scenario: Optional[str] = typer.Option(None, help="data-center | enterprise | edge | auto"),
        platform: list[str] = typer.Option([], "--platform", "-p", help="Candidate platform (repeatable)."),
        device_count: Optional[int] = typer.Option(None, "--devices", help="Devices per deployment."),
        power_cap: Optional[float] = typer.Option(None, "--power-cap", help="Per-device power cap, W."),
        memory_limit: Optional[float] = typer.Option(None, "--memory-limit", help="Usable memory per device, GB."),
        model: list[str] = typer.Option([], "--model", "-m", help="Candidate model id/alias (repeatable)."),
        family: list[str] = typer.Option([], "--family", help="Allowed model family (repeatable)."),
        max_params: Optional[float] = typer.Option(None, "--max-params", help="Largest model, billions of parameters."),
        task: list[str] = typer.Option([], "--task", "-t", help="Task, optionally TASK:WEIGHT (repeatable)."),
        min_accuracy: Optional[float] = typer.Option(None, "--min-accuracy", help="Absolute accuracy floor in [0, 1]."),
        min_relative: Optional[float] = typer.Option(
            None, "--min-relative-accuracy", help="Floor relative to the same model at fp16, e.g. 0.98."
        ),
        chance_adjusted: bool = typer.Option(
            False, "--chance-adjusted", help="Apply --min-accuracy to (score - chance) / (1 - chance)."
        ),
        min_confidence: Optional[float] = typer.Option(
            None, "--min-accuracy-confidence",
            help="Probability in [0.5, 0.95] with which the accuracy floors (--min-accuracy, and the one relative to fp16) "
            "must hold, from each score's 90%% interval (default: the point prediction must reach them).",
        ),
        max_latency: Optional[float] = typer.Option(None, "--max-latency", help="Latency limit, s per query."),
        min_throughput: Optional[float] = typer.Option(None, "--min-throughput", help="Throughput floor, queries/s."),
        max_energy: Optional[float] = typer.Option(None, "--max-energy", help="Energy budget, Wh per 1,000 queries."),
        priority: Optional[str] = typer.Option(None, help="accuracy | energy | latency | balanced | flexibility"),
        objective: Optional[str] = typer.Option(None, help="eor | tweor | energy | cost | carbon"),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Concurrent sequences."),
        context: Optional[int] = typer.Option(None, "--context", help="KV-cache tokens per sequence."),
        workload: Optional[str] = typer.Option(
            None, "--workload",
            help="Traffic served (e.g. lm-arena-chat): energy, time and concurrency priced on it; accuracy from --task.",
        ),
        prompt_tokens: Optional[float] = typer.Option(None, "--prompt-tokens", help="Prompt tokens per query of --workload."),
        output_tokens: Optional[float] = typer.Option(None, "--output-tokens", help="Output tokens per query of --workload."),
        engine: list[str] = typer.Option([], "--engine", help="Allowed serving engine (repeatable)."),
        engine_version: list[str] = typer.Option(
            [], "--engine-version", help="Release an engine runs at, ENGINE=VERSION, e.g. vllm=0.11.1 or its git tag vllm=v0.11.1 (repeatable)."
        ),
        price: Optional[float] = typer.Option(None, "--price", help="Electricity price, $/kWh."),
        carbon: Optional[float] = typer.Option(None, "--carbon", help="Grid carbon intensity, gCO2e/kWh."),
        pue: Optional[float] = typer.Option(None, "--pue", help="Power usage effectiveness (>= 1)."),
        queries_per_day: Optional[float] = typer.Option(None, "--queries-per-day", help="Expected load."),
        top_k: Optional[int] = typer.Option(None, "--top-k", help="Configurations to show."),
        measured_only: bool = typer.Option(False, "--measured-only", help="Only measured configurations."),
        as_json: bool = typer.Option(False, "--json", help="Write one versioned JSON document to stdout."),
        report: Optional[Path] = typer.Option(None, "--report", help="Also write an offline HTML page of the result."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Directory written by `eai fit` (default: models/)."),
        since: Optional[Path] = typer.Option(
            None, "--since", help="An earlier `eai recommend --json` output: show how the pick and its probabilities moved."
        ),
    ) -> None:
        """Recommend deployment configurations (platform x model x quantization) for a requirements spec."""
        from recommender.rules.spec import parse_spec

        if source is not None and spec_file is not None:
            raise SpecError("give the spec either as an argument or with --spec, not both")
        data: dict[str, Any] = {}
        src = spec_file if spec_file is not None else source
        if src is not None:
            data = read_spec(src).model_dump(mode="json", exclude_unset=True)
        flags: list[tuple[str, Any]] = [
            ("scenario", _choice(scenario, _SCENARIOS, "--scenario")),
            ("hardware.platforms", list(platform) or None),
            ("hardware.device_count", device_count),
            ("hardware.power_cap_w", power_cap),
            ("hardware.memory_limit_gb", memory_limit),
            ("models.ids", list(model) or None),
            ("models.families", list(family) or None),
            ("models.max_params_b", max_params),
            ("tasks", [_parse_task(t) for t in task] or None),
            ("accuracy.min", min_accuracy),
            ("accuracy.min_relative_to_fp16", min_relative),
            ("accuracy.chance_adjusted", True if chance_adjusted else None),
            ("accuracy.min_confidence", min_confidence),
            ("latency_s_max", max_latency),
            ("throughput_qps_min", min_throughput),
            ("energy_wh_per_1k_max", max_energy),
            ("priority", _choice(priority, _PRIORITIES, "--priority")),
            ("objective", _choice(objective, _OBJECTIVES, "--objective")),
            ("serving.batch_size", batch_size),
            ("serving.context_tokens", context),
            ("serving.workload", workload),
            ("serving.prompt_tokens", prompt_tokens),
            ("serving.output_tokens", output_tokens),
            ("serving.engines", list(engine) or None),
            ("serving.engine_versions", _parse_engine_versions(engine_version) or None),
            ("economics.electricity_usd_per_kwh", price),
            ("economics.carbon_g_per_kwh", carbon),
            ("economics.pue", pue),
            ("economics.queries_per_day", queries_per_day),
            ("top_k", top_k),
            ("allow_predicted", False if measured_only else None),
        ]
        for dotted, value in flags:
            if value is not None:
                _set(data, dotted, value)
        if "tasks" not in data:
            raise SpecError("no task given: pass --task TASK (repeatable) or a spec with \"tasks\"")
        spec = parse_spec(data)

        from recommender.rules.engine import finish, prepare_answer
        from recommender.rules.explain import NothingFeasible

        earlier = read_json_document(since, "earlier answer") if since is not None else None
        predictor = _load_predictor(model_dir)
        try:
            ctx = prepare_answer(spec, predictor)
            result = finish(ctx, str(getattr(predictor, "data_hash", "")))
            # Probability of being best (joint sampling with shared-component correlation)
            # replaces the bare tie count: recommender.plan.decision.
            from recommender.plan.decision import movement, with_probabilities

            result = with_probabilities(result, ctx)
        except NothingFeasible as exc:
            if as_json:
                from recommender import __version__
                from recommender.rules.engine import RESULT_SCHEMA_VERSION

                _emit_json(
                    {
                        "schema_version": RESULT_SCHEMA_VERSION,
                        "eai_version": __version__,
                        "status": "infeasible",
                        "message": str(exc),
                        "spec": spec.model_dump(mode="json"),
                        **exc.details,
                    }
                )
            raise
        if report is not None:
            from recommender.report.recommendation import render_recommendation_report

            try:
                render_recommendation_report(result, report)
            except OSError as exc:
                raise OutputError(report, exc) from None
        doc = result.to_dict()
        moved = movement(earlier, doc) if earlier is not None else []
        if moved:
            doc["since"] = moved
        if as_json:
            _emit_json(doc)
        else:
            from recommender.rules.render import print_recommendation

            print_recommendation(result)
            if moved:
                typer.echo("Since the earlier answer:\n" + "\n".join("  " + line for line in moved))

    @app.command("schema")
    def schema_cmd(
        out: Optional[Path] = typer.Option(None, "--out", help="Write to this file instead of stdout."),
    ) -> None:
        """Print the JSON Schema of the requirements spec."""
        from recommender.rules.spec import spec_json_schema

        text = json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"
        if out is None:
            sys.stdout.write(text)
        else:
            _write(out, text)

    @app.command("matrix")
    def matrix_cmd(
        fmt: str = typer.Option("markdown", "--format", help="markdown | csv | json"),
        out: Optional[Path] = typer.Option(None, "--out", help="Write to this file instead of stdout."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Directory written by `eai fit` (default: models/)."),
    ) -> None:
        """Decision matrix: scenario x priority -> recommended configuration, vs the study's matrix."""
        if fmt not in ("markdown", "csv", "json"):
            raise InvalidInputError(f"invalid --format {fmt!r}: allowed are markdown, csv, json")
        from recommender.rules.matrix import build_matrix, render

        predictor = _load_predictor(model_dir)
        text = render(build_matrix(predictor), fmt)
        if out is None:
            sys.stdout.write(text)
        else:
            _write(out, text)


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file, then a rename).

    A device path (``/dev/stdout``, ``/dev/full``) is written directly, since it cannot be
    renamed onto.

    Raises:
        OutputError: The file could not be written (exit status 10); no partial file is left.
    """
    if path.exists() and not path.is_file():
        try:
            with path.open("w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise OutputError(path, exc) from None
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True) if tmp.parent.is_dir() else None
        raise OutputError(path, exc) from None
