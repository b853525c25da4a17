"""``eai fit`` and ``eai evaluate``: fit the regressor on the measured table and score it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

MEASURED_DEFAULT = "data/measured.csv"
ACCURACY_DEFAULT = "data/accuracy.csv"
MODELS_DEFAULT = "models"


def _repo_path(text: str, default: str) -> Path:
    """Relative defaults resolve against the repository root, not the working directory."""
    p = Path(text)
    if p.is_absolute() or text != default:
        return p
    return Path(__file__).resolve().parents[2] / p


def register(app: typer.Typer) -> None:
    """Add ``eai fit`` and ``eai evaluate``."""

    @app.command("fit")
    def fit_cmd(
        table: Annotated[str, typer.Option("--table", help="Measured table (CSV) to fit on.")] = MEASURED_DEFAULT,
        accuracy: Annotated[str, typer.Option("--accuracy", help="Accuracy table (CSV).")] = ACCURACY_DEFAULT,
        out: Annotated[str, typer.Option("--out", help="Directory for the fitted model.")] = MODELS_DEFAULT,
        without: Annotated[
            list[str] | None,
            typer.Option("--without", help="Fit with this pipeline stage switched off (repeatable; stored with the model)."),
        ] = None,
    ) -> None:
        """Fit energy/time/accuracy models with calibrated intervals; write them to --out."""
        import time

        from recommender.model.config import PipelineConfig

        from recommender.model.roofline_fit import describe as describe_roofline
        from recommender.model.store import fit_from_files, save_predictor

        start = time.perf_counter()
        config = PipelineConfig.without_stages(tuple(without or ()))
        predictor = fit_from_files(_repo_path(table, MEASURED_DEFAULT), _repo_path(accuracy, ACCURACY_DEFAULT), config=config)
        out_dir = save_predictor(predictor, _repo_path(out, MODELS_DEFAULT))
        elapsed = time.perf_counter() - start
        typer.echo(f"fitted on {predictor.meta.get('n_rows', 0)} rows in {elapsed:.1f} s; wrote {out_dir}")
        typer.echo(f"data SHA-256 {predictor.data_hash}")
        if config.without:
            typer.echo(f"stages switched off: {', '.join(sorted(config.without))}")
        for name, comp in predictor.components.items():
            widths = ", ".join(f"{k} x{2.718281828 ** v:.2f}" for k, v in comp.widths.items())
            typer.echo(f"  {name}: {comp.n_rows} rows; 90% interval factors: {widths}")
            if comp.roofline:
                typer.echo(f"    fitted roofline: {describe_roofline(comp.roofline)}")
            blends = {r: w for r, w in (comp.simple or {}).get("weights", {}).items() if w < 1.0}
            if blends:
                parts = ", ".join(f"{r} {w:.2f}" for r, w in blends.items())
                typer.echo(f"    full-model weight vs roofline x constant when extrapolating: {parts}")
        camp = predictor.campaign
        if camp is not None:
            typer.echo(
                f"  campaign never seen: every energy interval's log-width x{camp.energy:.2f}, time x{camp.time:.2f} "
                f"(held-out 90% quantile of the interval used: {camp.raw_energy:.2f} / {camp.raw_time:.2f}, "
                f"{camp.n_campaigns} campaigns held out one at a time, whole pipeline refitted)"
            )

    @app.command("evaluate")
    def evaluate_cmd(
        table: Annotated[str, typer.Option("--table", help="Measured table (CSV).")] = MEASURED_DEFAULT,
        accuracy: Annotated[str, typer.Option("--accuracy", help="Accuracy table (CSV).")] = ACCURACY_DEFAULT,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
        splits: Annotated[
            list[str] | None,
            typer.Option("--split", help="Only these splits (repeatable): model, platform, source (the default three), workload, format, devices."),
        ] = None,
        out: Annotated[
            str | None,
            typer.Option("--out", help="Model directory to store evaluation.json in (default: models/ for the shipped table)."),
        ] = None,
        without: Annotated[
            list[str] | None,
            typer.Option("--without", help="Refit with this pipeline stage switched off (repeatable): an ablation; see docs/model.md."),
        ] = None,
        by: Annotated[
            list[str] | None,
            typer.Option("--by", help="Also break each split's errors down by source, platform or engine (repeatable)."),
        ] = None,
    ) -> None:
        """Cross-validated errors and 90% interval coverage against two baselines."""
        from recommender.model.config import PipelineConfig
        from recommender.model.evaluate import ALL_SPLITS, BREAKDOWN_COLUMNS, SPLITS, evaluate_files, format_breakdown, format_report

        config = PipelineConfig.without_stages(tuple(without or ()))
        for column in by or ():
            if column not in BREAKDOWN_COLUMNS:
                from recommender.errors import UnknownNameError

                raise UnknownNameError("breakdown column", column, BREAKDOWN_COLUMNS)

        chosen = tuple(splits) if splits else SPLITS
        unknown = [s for s in chosen if s not in ALL_SPLITS]
        if unknown:
            from recommender.errors import UnknownNameError

            raise UnknownNameError("split", unknown[0], ALL_SPLITS)
        # The stored evaluation describes the shipped table; another table's report is only
        # printed unless a directory is named.
        store = out is not None or (table == MEASURED_DEFAULT and set(chosen) == set(SPLITS) and not config.without)
        from threadpoolctl import threadpool_limits

        from recommender.model.accuracy_eval import evaluate_accuracy_model, format_accuracy_report
        from recommender.table.accuracy import load_accuracy

        acc_path = Path(_repo_path(accuracy, ACCURACY_DEFAULT))
        # Read once: the cross-validation and the accuracy model's own evaluation share it.
        acc_table = load_accuracy(acc_path) if acc_path.is_file() else None
        report = evaluate_files(
            _repo_path(table, MEASURED_DEFAULT),
            acc_path,
            chosen,
            model_dir=_repo_path(out, MODELS_DEFAULT) if out is not None else None,
            store=store,
            config=config,
            accuracy_table=acc_table,
        )
        # The accuracy model's own held-out error beside the size prior (family-grouped folds).
        # Energy and time need no accuracy table; without one there is no accuracy model to score.
        # One thread: the tree fits' OpenMP threads spin against each other on shared cores
        # (51 s instead of 2 s measured at load 5 on 2 cores).
        with threadpool_limits(1):
            acc_report = evaluate_accuracy_model(acc_table) if acc_table is not None else None
        if as_json:
            from recommender.model.evaluate import summary_only

            typer.echo(json.dumps({**summary_only(report), "accuracy_model": acc_report}, indent=2, sort_keys=True))
        else:
            typer.echo(format_report(report))
            for column in by or ():
                typer.echo(format_breakdown(report, column))
            typer.echo("")
            typer.echo(format_accuracy_report(acc_report) if acc_report is not None
                       else f"accuracy model: not evaluated ({acc_path} does not exist)")
