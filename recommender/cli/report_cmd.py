"""``eai report``: build the self-contained offline HTML report."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``eai report`` to ``app``."""

    @app.command("report")
    def report(
        out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML file to write."),
        table: Path | None = typer.Option(None, "--table", help="Measured table CSV (default: the shipped data/measured.csv)."),
        no_predictions: bool = typer.Option(False, "--no-predictions", help="Show measured data only (do not load the predictor)."),
        model_dir: Path | None = typer.Option(None, "--model-dir", help="Fitted-model directory (default: the shipped models/)."),
    ) -> None:
        """Build ONE offline HTML file: claims check, EOR heatmap, trade-off, flow, matrix, validation, provenance."""
        from recommender.report.build import build_report
        from recommender.table.io import DEFAULT_TABLE

        result = build_report(out, table if table is not None else DEFAULT_TABLE, with_predictions=not no_predictions, model_dir=model_dir)
        verdicts = ", ".join(f"{c.claim_id}={c.verdict}" for c in result.claims)
        typer.echo(
            f"wrote {result.path} ({result.size_bytes / 1e6:.1f} MB) in {result.build_s:.2f} s: "
            f"{result.points_measured} measured + {result.points_predicted} predicted points"
        )
        typer.echo(f"claims: {verdicts}")
        for section, why in result.notes.items():
            typer.echo(f"note [{section}]: {why}", err=True)
