"""Read, validate and write the measured table (CSV).

Loading validates every row against :class:`MeasuredRow` and stops at the first
bad one with its file, line, column and value: nothing is dropped or coerced
silently. Writing is atomic (temporary file + ``os.replace``) so an interrupted
append never leaves a partial row, and appends hold an exclusive file lock so concurrent
writers never lose each other's rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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

TdpLookup = Callable[[str], "float | None"]
"""Called with a platform id; returns the thermal design power of ONE device in watts (None:
unknown). Passed in by callers above the table layer, e.g.
``lambda p: resolve_platform(p).tdp_w``."""


def decode_table_bytes(data: bytes, path: str) -> str:
    """UTF-8 text of a table file, or a :class:`TableValidationError` naming the bad byte.

    The error names the line, the column (from the header, counting commas before the
    byte on its line) and the undecodable bytes, instead of a traceback.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        header = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r").split(",")
        index = data.count(b",", line_start, exc.start)
        column = header[index] if line > 1 and index < len(header) else "(header)" if line == 1 else "(row)"
        bad = data[exc.start:exc.end]
        raise TableValidationError(
            path, line, column, bad,
            f"byte {bad.hex(' ')} at file offset {exc.start} is not UTF-8; re-save the file as UTF-8",
        ) from None


def read_located_rows(path: str | Path, check_platform: PlatformCheck | None = None) -> list[tuple[int, MeasuredRow]]:
    """Read and validate every row of a CSV table, each with its 1-based line number.

    Same checks as :func:`read_rows`.
    """
    p = Path(path)
    if p.is_dir():
        raise DataSourceError(f"table {str(p)!r} is a directory; pass a CSV file path")
    if not p.is_file():
        raise DataSourceError(f"table {str(p)!r} not found; run 'eai data import' or pass an existing CSV")
    text = decode_table_bytes(p.read_bytes(), str(p))
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing_required = [
        name for name, f in MeasuredRow.model_fields.items() if f.is_required() and name not in header
    ]
    if missing_required:
        raise TableValidationError(str(p), 1, missing_required[0], "", "required column missing from header")
    rows: list[tuple[int, MeasuredRow]] = []
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
        rows.append((line, row))
    return rows


def read_rows(path: str | Path, check_platform: PlatformCheck | None = None) -> list[MeasuredRow]:
    """Read and validate every row of a CSV table.

    Args:
        path: CSV file with a header line naming schema columns.
        check_platform: Optional platform-id check applied to every row (see ``PlatformCheck``).

    Returns:
        The validated rows in file order.

    Raises:
        DataSourceError: The file is missing, a directory or unreadable.
        TableValidationError: A row violates the schema, or the file holds bytes that are not
            UTF-8 (names line, column and value).
    """
    return [row for _line, row in read_located_rows(path, check_platform)]


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


def validate_file(path: str | Path, check_platform: PlatformCheck | None = None,
                  tdp_w: TdpLookup | None = None) -> int:
    """Validate a table file and return its row count (raises on the first bad row).

    Beyond the schema: no two rows share a cell key (:mod:`recommender.table.keys`), and,
    when ``tdp_w`` is given, energy and power stay within what the devices can draw
    (:func:`recommender.table.checks.check_rows`).
    """
    from recommender.table.checks import check_rows

    p = Path(path)
    located = read_located_rows(p, check_platform)
    check_rows([(str(p), line, row) for line, row in located], tdp_w)
    return len(located)


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
        # mkstemp creates 0600; a shared table keeps its mode (a new one gets 0666 less umask)
        # so that the other writers and readers of a shared folder can still open it.
        if path.exists():
            mode = path.stat().st_mode & 0o7777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
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


def lock_path(path: str | Path) -> Path:
    """The lock file guarding appends to ``path`` (a hidden sibling; never deleted)."""
    p = Path(path)
    return p.with_name(f".{p.name}.lock")


@contextmanager
def table_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for a read-modify-write (blocks until free).

    ``fcntl.flock`` on a sibling lock file: the table itself is replaced atomically under
    the lock, so locking the table's own inode would not exclude a writer that opened the
    old inode. The lock is released when the process dies, so a crash never leaves it held.
    Works across processes on one host and on NFS mounts that support flock.
    """
    import fcntl

    p = Path(path)
    if p.is_dir():
        raise DataSourceError(f"table {str(p)!r} is a directory; pass a CSV file path")
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(p), "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class AppendResult:
    """Outcome of :func:`append_rows`.

    Attributes:
        written: Rows appended, in order.
        duplicates: Rows not appended because a row of the same cell key was already in the
            table (e.g. written by a concurrent sweep) or earlier in the same batch.
        total: Rows in the table afterwards.
    """

    written: tuple[MeasuredRow, ...]
    duplicates: tuple[MeasuredRow, ...]
    total: int


def append_rows(rows: Iterable[MeasuredRow], path: str | Path, on_duplicate: str = "skip") -> AppendResult:
    """Append validated rows to a table, safely against concurrent writers.

    Under :func:`table_lock`, the existing file is re-read and re-validated (a bad table is
    never extended), rows whose cell key is already present are dropped (``on_duplicate=
    "skip"``) or refused (``"raise"``), and the whole table is written to a temporary file
    and moved over the old one (``os.replace``): readers see the old or the new table,
    never a partial one, and no writer's rows are lost.

    Raises:
        DataSourceError: ``path`` is a directory.
        TableValidationError: The existing table is invalid, or (``on_duplicate="raise"``)
            a row duplicates a cell already in it.
    """
    from recommender.table.keys import cell_key

    if on_duplicate not in ("skip", "raise"):
        raise ValueError(f"on_duplicate must be 'skip' or 'raise', not {on_duplicate!r}")
    p = Path(path)
    new = list(rows)
    with table_lock(p):
        existing = read_rows(p) if p.exists() else []
        seen = {cell_key(r) for r in existing}
        written: list[MeasuredRow] = []
        dups: list[MeasuredRow] = []
        for row in new:
            key = cell_key(row)
            if key in seen:
                if on_duplicate == "raise":
                    raise TableValidationError(str(p), 0, "(row)", key.describe(),
                                               "a row of this cell is already in the table")
                dups.append(row)
                continue
            seen.add(key)
            written.append(row)
        if written:
            write_table(existing + written, p)
        return AppendResult(tuple(written), tuple(dups), len(existing) + len(written))


def table_hash(path: str | Path = DEFAULT_TABLE) -> str:
    """SHA-256 hex digest of the table file's bytes (identifies the data a model was fit on)."""
    p = Path(path)
    if not p.is_file():
        raise DataSourceError(f"table {str(p)!r} not found; run 'eai data import'")
    return hashlib.sha256(p.read_bytes()).hexdigest()
