"""One exception hierarchy for all of eai.

Every error a user can cause derives from :class:`EaiError` and carries an
``exit_code``; the CLI turns these into one-line messages and distinct exit
statuses instead of tracebacks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EaiError(Exception):
    """Root of every error eai raises on purpose.

    Attributes:
        exit_code: Process exit status the CLI uses for this error.
    """

    exit_code: int = 1


class InvalidInputError(EaiError):
    """A user-supplied value (flag, spec, file) is malformed or out of range."""

    exit_code = 2


class SpecError(InvalidInputError):
    """A requirements spec failed validation."""

    exit_code = 2


class UnknownNameError(InvalidInputError):
    """A name (platform, model, task, quantization, importer) is not known."""

    exit_code = 2

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = "") -> None:
        known_list = sorted(set(known))
        close = difflib.get_close_matches(name, known_list, n=3, cutoff=0.5)
        if not close:
            lowered = name.lower()
            close = [k for k in known_list if lowered in k.lower() or k.lower() in lowered][:3]
        msg = f"unknown {kind} {name!r}"
        if close:
            msg += f"; did you mean {', '.join(repr(c) for c in close)}?"
        else:
            preview = ", ".join(known_list[:8]) + (", ..." if len(known_list) > 8 else "")
            msg += f"; known: {preview}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)
        self.kind = kind
        self.name = name
        self.suggestions = close


class InfeasibleError(EaiError):
    """No configuration satisfies the requirements."""

    exit_code = 3


class TableValidationError(InvalidInputError):
    """A measured table has a row that violates the schema.

    Attributes:
        path: File that was read.
        line: 1-based line number in that file (header is line 1 for CSV).
        column: Offending column name.
        value: Offending value as read.
    """

    exit_code = 4

    def __init__(self, path: str, line: int, column: str, value: object, reason: str) -> None:
        super().__init__(f"{path}:{line}: column {column!r} value {value!r}: {reason}")
        self.path = path
        self.line = line
        self.column = column
        self.value = value
        self.reason = reason


class DataSourceError(EaiError):
    """A source data set is missing or not in the expected format."""

    exit_code = 5


class ModelStateError(EaiError):
    """A fitted model is missing, stale for the current table, or unreadable."""

    exit_code = 6


class UnsupportedCombinationError(InvalidInputError):
    """A quantization/device/engine combination cannot run; says what would."""

    exit_code = 7


class MeasurementError(EaiError):
    """A measurement could not be taken (meter unavailable, window failed)."""

    exit_code = 8


class PredictionMissError(EaiError):
    """``eai verify``: the measurement lies outside the model-only 90% prediction interval."""

    exit_code = 9
