"""``eai platforms|models|tasks|quants``: list and inspect the catalogs.

Each command prints a rich table by default and machine-readable JSON with ``--json``
(a list of entries, or one object with ``--show NAME``). An unknown ``--show`` name or
``--class``/``--kind`` value is an :class:`~recommender.errors.UnknownNameError`
(did-you-mean, exit status 2).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import typer

_SHOW_HELP = "Show one entry (any alias works) with every field."
_JSON_HELP = "Print JSON instead of a table."


def _emit_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))


def _fmt(value: Any) -> str:
    """Table cell text: '-' for missing, compact numbers, joined tuples."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _print_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    fold: frozenset[str] = frozenset({"description"}),
) -> None:
    """Rich table whose id and number cells never wrap.

    Only the columns named in ``fold`` wrap on a narrow terminal; otherwise the table is
    printed at its natural width (the terminal wraps the line rather than rich splitting
    numbers and ids across lines).
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    cells = [[_fmt(v) for v in row] for row in rows]
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    natural = 0
    for i, col in enumerate(columns):
        width = max([len(col), *(len(r[i]) for r in cells)])
        if col in fold:
            table.add_column(col, overflow="fold", min_width=min(width, 30))
            natural += 30
        else:
            table.add_column(col, no_wrap=True, min_width=width)
            natural += width
        natural += 2
    for row in cells:
        table.add_row(*row)
    from rich.measure import Measurement

    console = Console()
    wide = Console(width=max(natural * 2, 200))
    needed = Measurement.get(wide, wide.options, table).maximum
    # Folding columns only need their minimum; the rest keep their natural width.
    width = min(needed, natural + 4) if any(col in fold for col in columns) else needed
    Console(width=max(console.width, width)).print(table)


def _print_entry(title: str, data: dict[str, Any], sources: dict[str, str] | None = None) -> None:
    """One entry as field / value (/ source) rows."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    if sources is not None:
        table.add_column("source", overflow="fold")
    for key, value in data.items():
        if key == "sources":
            continue
        cells = [key, _fmt(value)]
        if sources is not None:
            cells.append(sources.get(key, ""))
        table.add_row(*cells)
    Console().print(table)


def _check_choice(kind: str, value: str | None, allowed: Sequence[str]) -> str | None:
    """Normalize a filter value or raise UnknownNameError with did-you-mean."""
    from recommender.errors import UnknownNameError

    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered not in allowed:
        raise UnknownNameError(kind, value, allowed)
    return lowered


def register(app: typer.Typer) -> None:
    """Add ``eai platforms``, ``eai models``, ``eai tasks`` and ``eai quants``."""

    @app.command("platforms")
    def platforms_cmd(
        platform_class: Annotated[
            str | None,
            typer.Option("--class", help="Only this class: data-center, workstation, edge, cpu."),
        ] = None,
        show: Annotated[str | None, typer.Option("--show", help=_SHOW_HELP)] = None,
        as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
    ) -> None:
        """List hardware platforms with memory, bandwidth, power and dense tensor throughput."""
        from typing import get_args

        from recommender.catalog import PlatformClass, get_platforms, resolve_platform

        if show is not None:
            p = resolve_platform(show)
            if as_json:
                _emit_json(p.model_dump(mode="json"))
            else:
                _print_entry(f"{p.id}: {p.name}", p.model_dump(mode="json"), p.sources)
            return
        wanted = _check_choice("platform class", platform_class, get_args(PlatformClass))
        items = [p for p in get_platforms().values() if wanted is None or p.platform_class == wanted]
        if as_json:
            _emit_json([p.model_dump(mode="json") for p in items])
            return
        _print_table(
            "Platforms: cc = CUDA compute capability, mem GB, BW GB/s, TDP W, dense tensor "
            "TFLOPS/TOPS (`--show ID` for sources)",
            ["id", "class", "cc", "mem", "BW", "TDP", "FP16", "INT8", "FP8", "FP4"],
            (
                [p.id, p.platform_class, p.arch_generation, p.memory_gb,
                 p.memory_bandwidth_gbs, p.tdp_w, p.fp16_dense_tflops, p.int8_dense_tops,
                 p.fp8_dense_tflops, p.fp4_dense_tflops]  # fmt: skip
                for p in items
            ),
        )

    @app.command("models")
    def models_cmd(
        show: Annotated[str | None, typer.Option("--show", help=_SHOW_HELP)] = None,
        as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
    ) -> None:
        """List language models with size and architecture."""
        from recommender.catalog import get_models, resolve_model

        if show is not None:
            m = resolve_model(show)
            if as_json:
                _emit_json(m.model_dump(mode="json"))
            else:
                _print_entry(m.id, m.model_dump(mode="json"))
            return
        items = list(get_models().values())
        if as_json:
            _emit_json([m.model_dump(mode="json") for m in items])
            return
        _print_table(
            "Models",
            ["id", "family", "params B", "active B", "layers", "hidden", "kv heads", "context", "arch"],
            (
                [m.id, m.family, m.params_total_b, m.params_active_b, m.layers, m.hidden_size,
                 m.kv_heads, m.context_length, m.architecture]  # fmt: skip
                for m in items
            ),
        )

    @app.command("tasks")
    def tasks_cmd(
        kind: Annotated[
            str | None, typer.Option("--kind", help="Only 'benchmark' or 'workload'.")
        ] = None,
        show: Annotated[str | None, typer.Option("--show", help=_SHOW_HELP)] = None,
        as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
    ) -> None:
        """List benchmarks and workloads with their token profiles."""
        from recommender.catalog import get_tasks, resolve_task

        if show is not None:
            t = resolve_task(show)
            if as_json:
                _emit_json(t.model_dump(mode="json"))
            else:
                _print_entry(t.id, t.model_dump(mode="json"))
            return
        wanted = _check_choice("task kind", kind, ("benchmark", "workload"))
        items = [t for t in get_tasks().values() if wanted is None or t.kind == wanted]
        if as_json:
            _emit_json([t.model_dump(mode="json") for t in items])
            return
        _print_table(
            "Tasks and workloads (tokens per query; `--show ID` for sources)",
            ["id", "kind", "metric", "chance", "shots", "prompt tok", "output tok", "choices", "passes", "fed tok"],
            (
                [t.id, t.kind, t.metric, t.chance, t.num_fewshot, t.prompt_tokens_mean,
                 t.output_tokens_mean, t.choices_mean, round(t.passes(), 2), round(t.fed_tokens(), 1)]  # fmt: skip
                for t in items
            ),
        )

    @app.command("quants")
    def quants_cmd(
        show: Annotated[str | None, typer.Option("--show", help=_SHOW_HELP)] = None,
        as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
    ) -> None:
        """List quantization schemes: bytes per weight, compute precision, where they run."""
        from recommender.catalog import get_quants, resolve_quant
        from recommender.catalog.quant import quant_aliases, quant_sources

        aliases, sources = quant_aliases(), quant_sources()

        def record(q: Any) -> dict[str, Any]:
            return {
                **q.model_dump(mode="json"),
                "aliases": list(aliases[q.name]),
                "source": sources[q.name],
            }

        if show is not None:
            q = resolve_quant(show)
            if as_json:
                _emit_json(record(q))
            else:
                _print_entry(q.name, record(q))
            return
        items = list(get_quants().values())
        if as_json:
            _emit_json([record(q) for q in items])
            return
        _print_table(
            "Quantizations (`--show NAME` for sources)",
            ["name", "bytes/weight", "compute", "rate of", "devices", "min cc", "family", "description"],
            (
                [q.name, q.bytes_per_weight, q.compute_precision, q.throughput_precision or q.compute_precision,
                 q.devices, q.min_arch_generation, q.family, q.description]  # fmt: skip
                for q in items
            ),
        )
