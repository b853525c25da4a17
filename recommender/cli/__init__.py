"""The ``eai`` command line.

Each area registers its commands from its own module (``register(app)``); heavy
imports happen inside command functions so that ``eai recommend`` loads only
what it needs. Known errors (:class:`~recommender.errors.EaiError`) become one
line on stderr and the error's exit code; no traceback for user error.
"""

from __future__ import annotations

import importlib
import sys

import typer

from recommender.errors import EaiError

_COMMAND_MODULES = (
    "recommender.cli.data_cmd",
    "recommender.cli.catalog_cmd",
    "recommender.cli.model_cmd",
    "recommender.cli.recommend_cmd",
    "recommender.cli.profile_cmd",
    "recommender.cli.report_cmd",
)


def build_app() -> typer.Typer:
    """Assemble the Typer application from every command module."""
    app = typer.Typer(
        name="eai",
        help="Energy-aware LLM deployment recommender: what to deploy, on which hardware, at which precision.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    @app.command("version")
    def version() -> None:
        """Print eai's version."""
        from recommender import __version__

        typer.echo(__version__)

    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``eai`` console script; returns the exit status."""
    app = build_app()
    try:
        result = app(args=argv, standalone_mode=False, prog_name="eai")
    except EaiError as exc:
        sys.stderr.write(f"eai: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("eai: interrupted\n")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except Exception as exc:  # click usage errors arrive as ClickException subclasses
        import click

        if isinstance(exc, click.exceptions.Abort):
            sys.stderr.write("eai: aborted\n")
            return 130
        if isinstance(exc, click.ClickException):
            exc.show()
            return 2 if isinstance(exc, click.UsageError) else exc.exit_code
        raise
    # In non-standalone mode click returns typer.Exit's code instead of raising it.
    return result if isinstance(result, int) else 0


def console_main() -> None:
    """``eai`` script wrapper that exits with :func:`main`'s status."""
    sys.exit(main())
