"""``eai predict``: energy, time, accuracy, EOR and TWEOR of named configurations.

Configurations come from flags (every combination of the values given; each flag is
repeatable) or from a CSV table with one configuration per row (``--candidates FILE``,
``-`` for stdin; columns ``platform, model_id, quantization, task`` and optionally
``engine, device_count, batch_size, engine_version``). Output: a table, ``--json`` (one
versioned document) or ``--csv`` (every column, for scripts and large batches).
Exit status: 0 predicted; 2 bad input (unknown name, bad count, missing column);
6 no fitted predictor; 7 a combination that cannot run.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from recommender.errors import InvalidInputError, UnsupportedCombinationError

PREDICT_SCHEMA_VERSION = "1"
"""Version of ``eai predict --json``; bumped on incompatible changes."""

MAX_CANDIDATES_BYTES = 256 * 1024 * 1024
"""Largest configuration table read, bytes (the row cap is
:data:`recommender.rules.predict.MAX_CONFIGURATIONS`)."""

MAX_TABLE_ROWS = 200
"""Rows the terminal table shows; ``--csv`` and ``--json`` carry every row."""

_TARGETS = ("energy_j_per_query", "time_s_per_query", "accuracy", "eor", "tweor")


def _read_candidates(source: str):
    """The configuration table from a CSV path or ``-`` (stdin), names kept as text."""
    import pandas as pd

    try:
        if source == "-":
            data = sys.stdin.buffer.read(MAX_CANDIDATES_BYTES + 1)
        else:
            path = Path(source)
            if path.stat().st_size > MAX_CANDIDATES_BYTES:
                raise InvalidInputError(f"{source}: larger than {MAX_CANDIDATES_BYTES // 2**20} MiB; split it")
            data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read configuration table {source!r}: {exc.strerror or exc}") from None
    if len(data) > MAX_CANDIDATES_BYTES:
        raise InvalidInputError(f"configuration table on stdin is larger than {MAX_CANDIDATES_BYTES // 2**20} MiB; split it")
    try:
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"configuration table {source!r} is not a readable CSV: {exc}") from None


def _records(result) -> list[dict[str, Any]]:
    """One JSON record per row (targets as ``{value, lo, hi}``, memory fit as an object); NaN
    stays a float here and becomes null in ``_emit_json``."""
    out = []
    for row in result.to_dict(orient="records"):
        rec: dict[str, Any] = {
            "platform": str(row["platform"]),
            "device_count": int(row["device_count"]),
            "engine": str(row["engine"]),
            "model_id": str(row["model_id"]),
            "quantization": str(row["quantization"]),
            "batch_size": int(row["batch_size"]),
            "task": str(row["task"]),
        }
        if "engine_version" in row:
            rec["engine_version"] = str(row["engine_version"]) or None
        for t in _TARGETS:
            rec[t] = {k: float(row[f"{t}{s}"]) for k, s in (("value", ""), ("lo", "_lo"), ("hi", "_hi"))}
        rec["status"] = str(row["status"])
        rec["accuracy_status"] = str(row["accuracy_status"])
        if "accuracy_basis" in row:
            rec["accuracy_basis"] = str(row["accuracy_basis"])
        rec["extrapolated_reasons"] = [r for r in str(row["extrapolated_reasons"] or "").split(";") if r]
        rec["memory"] = {
            "required_gb_per_device": float(row["memory_gb_required"]),
            "available_gb_per_device": float(row["memory_gb_available"]),
            "fits": bool(row["fits_memory"]),
            "kv_cache_known": bool(row["kv_known"]),
        }
        out.append(rec)
    return out


def _print_table(result, data_hash: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from recommender.rules.explain import fmt

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 220)
    table = Table(title="eai predict - 90% prediction intervals in brackets", title_justify="left")
    for col in ("platform", "model", "quant (engine)", "batch", "task", "J/query", "s/query", "accuracy", "EOR", "status", "memory/device"):
        table.add_column(col, overflow="fold")

    def iv(row: Any, t: str) -> str:
        v = row[t]
        if v != v:
            return "n/a"
        return f"{fmt(v)} [{fmt(row[f'{t}_lo'])}-{fmt(row[f'{t}_hi'])}]"

    for _, r in result.head(MAX_TABLE_ROWS).iterrows():
        devices = f" x{int(r['device_count'])}" if int(r["device_count"]) > 1 else ""
        status = r["status"] if r["status"] == r["accuracy_status"] else f"{r['status']}/{r['accuracy_status']}"
        reasons = str(r["extrapolated_reasons"] or "")
        if reasons:
            status += f" ({reasons.replace(';', ', ')})"
        memory = f"{fmt(r['memory_gb_required'])} of {fmt(r['memory_gb_available'])} GB"
        if not r["fits_memory"]:
            memory = f"over: {memory}"
        table.add_row(
            str(r["platform"]) + devices,
            str(r["model_id"]).split("/")[-1],
            f"{r['quantization']} ({r['engine']})",
            str(int(r["batch_size"])),
            str(r["task"]),
            iv(r, "energy_j_per_query"),
            iv(r, "time_s_per_query"),
            iv(r, "accuracy"),
            iv(r, "eor"),
            status,
            memory,
        )
    console.print(table)
    if len(result) > MAX_TABLE_ROWS:
        console.print(f"showing {MAX_TABLE_ROWS} of {len(result):,} configurations; --csv or --json writes them all")
    console.print(
        f"J/query: net energy per query summed over devices; EOR: accuracy x 100 per Wh per 1,000 queries; "
        f"status: measured / interpolated / extrapolated (energy and time) / accuracy's; memory/device: "
        f"needed of available ('over:' does not fit). Data {data_hash[:12]}"
    )


def register(app: typer.Typer) -> None:
    """Add ``eai predict`` to ``app``."""

    @app.command("predict")
    def predict_cmd(
        platform: list[str] = typer.Option([], "--platform", "-p", help="Platform id or alias (repeatable)."),
        model: list[str] = typer.Option([], "--model", "-m", help="Model id or alias (repeatable)."),
        quant: list[str] = typer.Option([], "--quant", "-q", help="Quantization (repeatable), e.g. bf16, fp8, int8-bnb."),
        task: list[str] = typer.Option([], "--task", "-t", help="Task or workload id (repeatable)."),
        engine: list[str] = typer.Option([], "--engine", help="Serving engine (repeatable; default: the quantization's native one)."),
        devices: list[int] = typer.Option([], "--devices", help="Devices per deployment (repeatable; default 1)."),
        batch_size: list[int] = typer.Option([], "--batch-size", "-b", help="Concurrent sequences (repeatable; default 1)."),
        engine_version: list[str] = typer.Option(
            [], "--engine-version", help="Release an engine runs at, ENGINE=VERSION, e.g. vllm=0.11.1 (repeatable)."
        ),
        candidates: Optional[str] = typer.Option(
            None, "--candidates", help="CSV of configurations, one per row ('-' for stdin); replaces the grid flags."
        ),
        skip_unsupported: bool = typer.Option(
            False, "--skip-unsupported", help="Leave out configurations that cannot run (listed on stderr) instead of refusing."
        ),
        as_json: bool = typer.Option(False, "--json", help="Write one versioned JSON document to stdout."),
        as_csv: bool = typer.Option(False, "--csv", help="Write every column as CSV to stdout."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Directory written by `eai fit` (default: models/)."),
    ) -> None:
        """Predict energy, time, accuracy, EOR and TWEOR (90% intervals) for named configurations."""
        from recommender.cli.recommend_cmd import _emit_json, _load_predictor, _parse_engine_versions
        from recommender.rules.catalogs import Catalogs
        from recommender.rules.flow import load_flow
        from recommender.rules.predict import Grid, predict_configurations, resolve_configurations

        if as_json and as_csv:
            raise InvalidInputError("give --json or --csv, not both")
        grid_flags = platform or model or quant or task or engine or devices or batch_size or engine_version
        versions = _parse_engine_versions(engine_version)
        if candidates is not None:
            if grid_flags:
                raise InvalidInputError("give configurations either with --candidates or with the grid flags (-p/-m/-q/-t...), not both")
            frame = _read_candidates(candidates)
        else:
            frame = Grid(
                platforms=platform,
                models=model,
                quantizations=quant,
                tasks=task,
                engines=engine,
                device_counts=devices or (1,),
                batch_sizes=batch_size or (1,),
            ).frame()
        catalogs, flow = Catalogs.load(), load_flow()
        try:
            resolution = resolve_configurations(
                frame, catalogs, flow, versions, first_line=2 if candidates is not None else None, skip_unsupported=skip_unsupported
            )
        except UnsupportedCombinationError as exc:
            if skip_unsupported:
                raise
            raise UnsupportedCombinationError(f"{exc}; --skip-unsupported leaves such rows out") from None
        for line in resolution.skipped:
            sys.stderr.write(f"eai: skipped: {line}\n")
        resolved = resolution.candidates
        predictor = _load_predictor(model_dir)
        result = predict_configurations(resolved, predictor, catalogs, flow)
        if as_csv:
            result.to_csv(sys.stdout, index=False)
            return
        if as_json:
            from recommender import __version__

            _emit_json(
                {
                    "schema_version": PREDICT_SCHEMA_VERSION,
                    "eai_version": __version__,
                    "data_hash": predictor.data_hash,
                    "units": {
                        "energy_j_per_query": "J per query, net, summed over devices",
                        "time_s_per_query": "s per query",
                        "accuracy": "task metric in [0, 1]",
                        "eor": "accuracy x 100 / (Wh per 1,000 queries)",
                        "tweor": "eor / time_s_per_query",
                        "interval": "90% prediction interval (lo, hi)",
                    },
                    "predictions": _records(result),
                }
            )
            return
        _print_table(result, predictor.data_hash)
