"""Read, validate and write the measured table (CSV).

Loading validates every row against :class:`MeasuredRow` and stops at the first
bad one with its file, line, column and value: nothing is dropped or coerced
silently. Writing is atomic (temporary file + ``os.replace``) so an interrupted
append never leaves a partial row.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from recommender.errors import DataSourceError, TableValidationError, UnknownNameError
from recommender.table.schema import MeasuredRow

COLUMNS: tuple[str, ...] = tuple(MeasuredRow.model_fields)
"""Column order of the CSV table (the schema's field order)."""

_BOOL_TEXT = {"true": True, "false": False}

DEFAULT_TABLE = Path(__file__).resolve().parents[2] / "data" / "measured.csv"
"""The shipped measured table."""


def _parse_cell(column: str, text: str) -> object:
    """Turn CSV text into the value pydantic validates; empty means missing."""
    if text == "":
        return None
    if column == "idle_subtracted":
        lowered = text.strip().lower()
        if lowered not in _BOOL_TEXT:
            # Returning the raw text lets pydantic report it; we never guess a boolean.
            return {"__bad_bool__": text}
        return _BOOL_TEXT[lowered]
    return text


def _row_from_record(record: dict[str, str], path: str, line: int) -> MeasuredRow:
    unknown = [k for k in record if k not in MeasuredRow.model_fields]
    if unknown:
        raise TableValidationError(path, line, unknown[0], record[unknown[0]], "column not in the schema")
    values = {k: _parse_cell(k, v if v is not None else "") for k, v in record.items()}
    if values.get("flags") is None:
        values["flags"] = ""
    try:
        return MeasuredRow.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        column = str(err["loc"][0]) if err["loc"] else "(row)"
        value = record.get(column, "") if err["loc"] else ""
        raise TableValidationError(path, line, column, value, err["msg"]) from exc


PlatformCheck = Callable[[str], object]
"""Called with each row's ``platform``; raises :class:`UnknownNameError` (or ``ValueError``)
when the id is not a canonical platform id. The table layer does not import the catalog;
callers above it pass e.g. ``recommender.importers.build.check_platform_id``."""


def read_rows(path: str | Path, check_platform: PlatformCheck | None = None) -> list[MeasuredRow]:
    """Read and validate every row of a CSV table.

    Args:
        path: CSV file with a header line naming schema columns.
        check_platform: Optional platform-id check applied to every row (see ``PlatformCheck``).

    Returns:
        The validated rows in file order.

    Raises:
        DataSourceError: The file is missing or unreadable.
        TableValidationError: A row violates the schema (names line, column and value).
    """
    p = Path(path)
    if not p.is_file():
        raise DataSourceError(f"table {str(p)!r} not found; run 'eai data import' or pass an existing CSV")
    text = p.read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing_required = [
        name for name, f in MeasuredRow.model_fields.items() if f.is_required() and name not in header
    ]
    if missing_required:
        raise TableValidationError(str(p), 1, missing_required[0], "", "required column missing from header")
    rows: list[MeasuredRow] = []
    for record in reader:
        line = reader.line_num
        if None in record:
            raise TableValidationError(str(p), line, "(row)", record[None], "more cells than header columns")
        row = _row_from_record(record, str(p), line)
        if check_platform is not None:
            try:
                check_platform(row.platform)
            except (UnknownNameError, ValueError) as exc:
                raise TableValidationError(str(p), line, "platform", record.get("platform", ""), str(exc)) from exc
        rows.append(row)
    return rows


def rows_to_frame(rows: Sequence[MeasuredRow]) -> pd.DataFrame:
    """Rows as a DataFrame with the schema's columns (missing values as NaN/None)."""
    frame = pd.DataFrame([r.model_dump() for r in rows], columns=list(COLUMNS))
    return frame


def load_table(path: str | Path = DEFAULT_TABLE, check_platform: PlatformCheck | None = None) -> pd.DataFrame:
    """Load and validate a measured table into a DataFrame.

    Args:
        path: CSV file; defaults to the shipped ``data/measured.csv``.
        check_platform: Optional platform-id check applied to every row.

    Returns:
        One row per measured cell, columns in schema order.
    """
    return rows_to_frame(read_rows(path, check_platform))


def validate_file(path: str | Path, check_platform: PlatformCheck | None = None) -> int:
    """Validate a table file and return its row count (raises on the first bad row)."""
    return len(read_rows(path, check_platform))


def _format(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def render_csv(rows: Iterable[MeasuredRow]) -> str:
    """Serialize rows to CSV text deterministically (schema column order, repr floats)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([_format(getattr(r, c)) for c in COLUMNS])
    return buf.getvalue()


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_table(rows: Iterable[MeasuredRow], path: str | Path) -> None:
    """Write rows as a CSV table atomically (replaces the file)."""
    _atomic_write(Path(path), render_csv(rows))


def append_rows(rows: Iterable[MeasuredRow], path: str | Path) -> int:
    """Append validated rows to a table atomically.

    The existing file is re-validated first so that a bad table is never
    extended. Returns the new total row count.
    """
    p = Path(path)
    existing = read_rows(p) if p.exists() else []
    combined = existing + list(rows)
    write_table(combined, p)
    return len(combined)


def table_hash(path: str | Path = DEFAULT_TABLE) -> str:
    """SHA-256 hex digest of the table file's bytes (identifies the data a model was fit on)."""
    p = Path(path)
    if not p.is_file():
        raise DataSourceError(f"table {str(p)!r} not found; run 'eai data import'")
    return hashlib.sha256(p.read_bytes()).hexdigest()
