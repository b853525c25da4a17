"""Helpers shared by the CLI tests: ``eai`` run in-process, and the one-line error contract.

A module that uses ``run`` defines a ``cli_predictor`` fixture: the predictor the commands
load instead of the fitted one (``recommender.cli.recommend_cmd._load_predictor``, which
``eai recommend`` and ``eai predict`` both call).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

import pytest


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, cli_predictor) -> Callable[..., tuple[int, str, str]]:
    """``run(args, stdin=None) -> (exit status, stdout, stderr)`` of ``eai`` with ``cli_predictor``."""
    import recommender.cli.recommend_cmd as recommend_cmd
    from recommender.cli import main

    monkeypatch.setattr(recommend_cmd, "_load_predictor", lambda path: cli_predictor)
    # Tables fit the terminal (80 columns when piped); these tests check content, so they
    # read a wide layout. A test of the layout sets COLUMNS itself.
    monkeypatch.setenv("COLUMNS", "250")

    def _run(args: list[str], stdin: bytes | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(args)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def _one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("eai: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def one_line_error() -> Callable[[str], str]:
    """Checks that stderr is one ``eai: error: ...`` line with no traceback; returns the line."""
    return _one_line_error
