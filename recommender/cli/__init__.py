"""The ``eai`` command line.

Each area registers its commands from its own module (``register(app)``); heavy
imports happen inside command functions so that ``eai recommend`` loads only
what it needs. Known errors (:class:`~recommender.errors.EaiError`) become one
line on stderr and the error's exit code; no traceback for user error, nor for a
write that fails (exit status 10). ``python -m recommender.cli`` runs the same app.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from recommender.errors import EaiError, OutputError

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

_CATALOG_COMMANDS = frozenset({"version", "platforms", "models", "tasks", "quants", "schema"})
"""Commands that read catalogs only, never a table (no pandas)."""


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
    def _root(ctx: typer.Context) -> None:
        """Energy-aware LLM deployment recommender."""
        if ctx.invoked_subcommand not in _CATALOG_COMMANDS:
            # Imports pandas: only for the commands that read tables (the catalog listings
            # stay fast to start). The setting is undone when the command ends.
            from recommender.cli.common import pandas_object_strings

            ctx.with_resource(pandas_object_strings())

    @app.command("version")
    def version() -> None:
        """Print eai's version."""
        from recommender import __version__

        typer.echo(__version__)

    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (tests capture it)
        pass


def _io_error(exc: OSError) -> int:
    """One line for a file that could not be written (or read) and the output-error status.

    Commands turn the writes they know about into :class:`OutputError` themselves; this
    catches the rest (``--out`` of any command, a full disk under ``eai fit``), so that a
    failing write is never a traceback. ``EAI_TRACEBACK=1`` re-raises it for debugging.
    """
    if os.environ.get("EAI_TRACEBACK"):
        raise exc
    where = exc.filename if exc.filename is not None else "<stdout>"
    err = OutputError(where, exc)
    sys.stderr.write(f"eai: error: {err}\n")
    return err.exit_code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``eai`` console script; returns the exit status.

    Click handles usage errors itself (exit status 2 with a usage line); eai's
    own errors propagate out of click and are turned into one line here, and so is a
    write that fails (exit status 10): a full disk, ``> /dev/full``, an unwritable
    ``--out``. A reader that closes the pipe early (``eai models | head -3``) ends eai
    quietly with status 141, as other command-line tools do.
    """
    app = build_app()
    try:
        app(args=argv, prog_name="eai")
        sys.stdout.flush()
    except EaiError as exc:
        sys.stderr.write(f"eai: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("eai: interrupted\n")
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except OSError as exc:
        if exc.filename is None:  # stdout itself failed (a full disk behind a redirection)
            _silence_stdout()
        return _io_error(exc)
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
