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
    "recommender.cli.predict_cmd",
    "recommender.cli.profile_cmd",
    "recommender.cli.report_cmd",
    "recommender.cli.plan_cmd",
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
    @app.callback()
    def _root() -> None:
        """Energy-aware LLM deployment recommender."""

    @app.command("version")
    def version() -> None:
        """Print eai's version."""
        from recommender import __version__

        typer.echo(__version__)

    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``eai`` console script; returns the exit status.

    Click handles usage errors itself (exit status 2 with a usage line); eai's
    own errors propagate out of click and are turned into one line here.
    """
    app = build_app()
    try:
        app(args=argv, prog_name="eai")
    except EaiError as exc:
        sys.stderr.write(f"eai: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("eai: interrupted\n")
        return 130
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        sys.stderr.write(f"{code}\n")
        return 1
    return 0


def console_main() -> None:
    """``eai`` script wrapper that exits with :func:`main`'s status."""
    sys.exit(main())
