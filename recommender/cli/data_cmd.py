"""``eai data``: rebuild, validate and inspect the measured and accuracy tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

MEASURED_DEFAULT = "data/measured.csv"
ACCURACY_DEFAULT = "data/accuracy.csv"


def _repo_path(text: str) -> Path:
    """Relative defaults are relative to the repository root, not the working directory."""
    from recommender.importers.base import REPO_ROOT

    p = Path(text)
    return p if p.is_absolute() or text not in (MEASURED_DEFAULT, ACCURACY_DEFAULT) else REPO_ROOT / p


def _table_kind(path: Path) -> str:
    """``measured`` or ``accuracy``, from the header line."""
    from recommender.errors import DataSourceError, TableValidationError
    from recommender.table.accuracy import ACCURACY_COLUMNS
    from recommender.table.io import COLUMNS

    if path.is_dir():
        raise DataSourceError(f"table {str(path)!r} is a directory; pass a CSV file")
    if not path.is_file():
        raise DataSourceError(f"table {str(path)!r} not found; pass an existing CSV file")
    from recommender.table.io import decode_table_bytes

    with path.open("rb") as fh:
        first = fh.readline()
    header = [h.strip() for h in decode_table_bytes(first, str(path)).rstrip("\r\n").split(",")]
    measured_hits = len(set(header) & set(COLUMNS))
    accuracy_hits = len(set(header) & set(ACCURACY_COLUMNS))
    if "task" in header and "platform" not in header:
        return "accuracy"
    if "platform" in header:
        return "measured"
    if measured_hits == 0 and accuracy_hits == 0:
        raise TableValidationError(
            str(path), 1, header[0] if header else "", ",".join(header),
            "header matches neither the measured nor the accuracy table schema",
        )
    return "measured" if measured_hits >= accuracy_hits else "accuracy"


def energy_label(row: object) -> str:
    """How a row's energy was obtained, in words: ``estimated (...)`` or the meter and scope."""
    method = getattr(row, "energy_method")
    scope = getattr(row, "energy_scope")
    if method == "estimated":
        return f"estimated ({scope}, not metered)"
    return f"{method} ({scope})"


def _energy_cell(value: float | None, fmt: str, row: object) -> str:
    if value is None:
        return ""
    text = format(value, fmt)
    return f"{text} est." if getattr(row, "energy_method") == "estimated" else text


def register(app: typer.Typer) -> None:
    """Add ``eai data import|validate|show``."""
    data_app = typer.Typer(help="Rebuild, validate and inspect the measured and accuracy tables.", no_args_is_help=True)

    @data_app.command("import")
    def import_cmd(
        shared: Annotated[
            Path | None,
            typer.Option("--shared", help="Shared data-set root (default: $EAI_SHARED or ../shared/datasets)."),
        ] = None,
        out: Annotated[str, typer.Option("--out", help="Measured table to write.")] = MEASURED_DEFAULT,
        accuracy_out: Annotated[
            str, typer.Option("--accuracy-out", help="Accuracy table to write.")
        ] = ACCURACY_DEFAULT,
        profiled: Annotated[
            Path | None, typer.Option("--profiled", help="Folder of profiler CSVs to merge (default data/profiled).")
        ] = None,
        source: Annotated[
            list[str] | None, typer.Option("--source", help="Run only these importers (repeatable).")
        ] = None,
    ) -> None:
        """Rebuild the tables from the public data sets plus data/profiled/*.csv."""
        from recommender.importers import get_importer
        from recommender.importers.build import DEFAULT_PROFILED_DIR, build_tables, write_tables

        for name in source or []:
            get_importer(name)  # unknown name -> did-you-mean before any work
        result = build_tables(shared, profiled if profiled is not None else DEFAULT_PROFILED_DIR, source or None)
        measured_path, accuracy_path = _repo_path(out), _repo_path(accuracy_out)
        write_tables(result, measured_path, accuracy_path)
        # Plain lines (no rich wrapping) so the skip list stays greppable.
        typer.echo(f"wrote {len(result.measured)} energy rows to {measured_path}")
        for name, n in result.measured_counts().items():
            typer.echo(f"  {name:<26} {n:>6}")
        for path in result.profiled_files:
            typer.echo(f"  merged profiled table {path}")
        typer.echo(f"wrote {len(result.accuracy)} accuracy rows to {accuracy_path}")
        for name, n in result.accuracy_counts().items():
            typer.echo(f"  {name:<26} {n:>6}")
        typer.echo(f"skipped {len(result.skipped)} source records")
        for name, n in result.skipped_counts().items():
            typer.echo(f"  {name:<26} {n:>6}")
        for s in result.skipped:
            typer.echo(f"  [{s.source}] {s.ref}: {s.reason}")

    @data_app.command("validate")
    def validate_cmd(
        file: Annotated[Path, typer.Argument(help="Measured or accuracy CSV (detected from the header).")],
    ) -> None:
        """Check a table: schema, platform ids, no duplicate cells, power and energy within TDP x devices.

        Names the line, column and value that is wrong (exit 4).
        """
        from recommender.importers.build import check_platform_id, platform_tdp_w
        from recommender.table.accuracy import validate_accuracy_file
        from recommender.table.io import validate_file

        kind = _table_kind(file)
        if kind == "accuracy":
            n = validate_accuracy_file(file)
        else:
            n = validate_file(file, check_platform=check_platform_id, tdp_w=platform_tdp_w)
        typer.echo(f"{file}: {n} rows, valid {kind} table")

    @data_app.command("show")
    def show_cmd(
        table: Annotated[str, typer.Option("--table", help="Measured table to read.")] = MEASURED_DEFAULT,
        source: Annotated[str | None, typer.Option("--source", help="Only rows of this source tag.")] = None,
        platform: Annotated[str | None, typer.Option("--platform", help="Only rows on this platform.")] = None,
        model: Annotated[str | None, typer.Option("--model", help="Only rows of this model (id or alias).")] = None,
        limit: Annotated[int, typer.Option("--limit", min=0, help="At most this many rows (0: all).")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    ) -> None:
        """Print measured rows (filtered) as a table or JSON."""
        from recommender.catalog.models import resolve_model
        from recommender.importers.build import check_platform_id
        from recommender.table.io import read_rows

        rows = read_rows(_repo_path(table), check_platform=check_platform_id)
        if source:
            from recommender.errors import UnknownNameError

            known = sorted({r.source for r in rows})
            if source not in known:
                raise UnknownNameError("source", source, known or ["(table is empty)"])
            rows = [r for r in rows if r.source == source]
        if platform:
            from recommender.catalog.platforms import resolve_platform

            pid = resolve_platform(platform).id
            rows = [r for r in rows if r.platform == pid]
        if model:
            mid = resolve_model(model).id
            rows = [r for r in rows if r.model_id == mid]
        total = len(rows)
        if limit:
            rows = rows[:limit]
        if as_json:
            # Each row says in words whether its energy was metered or estimated.
            payload = {"total": total, "shown": len(rows),
                       "rows": [{**r.model_dump(mode="json"), "energy_label": energy_label(r)} for r in rows]}
            typer.echo(json.dumps(payload, indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"{len(rows)} of {total} measured rows",
                  caption="J marked 'est.' are estimates (process CPU time x TDP share), not meter readings"
                  if any(r.energy_method == "estimated" for r in rows) else None)
        for col in ("platform", "n", "model_id", "quant", "batch", "workload", "J/query", "J/token", "s/query",
                    "meter", "source"):
            t.add_column(col, overflow="fold")
        for r in rows:
            t.add_row(
                r.platform,
                str(r.device_count),
                r.model_id,
                r.quantization,
                str(r.batch_size),
                r.workload,
                _energy_cell(r.energy_j_per_query, ".1f", r),
                _energy_cell(r.energy_j_per_output_token, ".4f", r),
                "" if r.time_s_per_query is None else f"{r.time_s_per_query:.2f}",
                r.energy_method,
                r.source,
            )
        Console().print(t)

    app.add_typer(data_app, name="data")
