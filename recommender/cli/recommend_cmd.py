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
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from recommender.cli.common import json_text, read_json_document
from recommender.cli.spec_flags import RequirementFlags, read_requirements, with_requirement_flags
from recommender.errors import InvalidInputError, ModelStateError, OutputError, SpecError


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
    @with_requirement_flags
    def recommend_cmd(
        requirements: RequirementFlags,
        source: Optional[str] = typer.Argument(None, metavar="[SPEC]", help="Spec JSON file, or '-' for stdin."),
        spec_file: Optional[str] = typer.Option(None, "--spec", help="Spec JSON file ('-' for stdin)."),
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
        if source is not None and spec_file is not None:
            raise SpecError("give the spec either as an argument or with --spec, not both")
        spec = read_requirements(spec_file if spec_file is not None else source, requirements,
                                 top_k=top_k, allow_predicted=False if measured_only else None)

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
