"""Shared pieces of the importers: results, skip records, the shared-data root.

An importer reads one public data set's folder and returns validated rows plus a
record of every source row it could not use (and why): nothing is dropped silently.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from recommender.catalog.platforms import resolve_platform
from recommender.errors import DataSourceError, UnknownNameError
from recommender.table.accuracy import AccuracyRow
from recommender.table.schema import MeasuredRow

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Repository root (the folder holding ``recommender/`` and ``data/``)."""

SHARED_ENV = "EAI_SHARED"
"""Environment variable that overrides the shared data-set root."""


def default_shared_root() -> Path:
    """The shared data-set root: ``$EAI_SHARED`` if set, else ``<repo>/../shared/datasets``."""
    env = os.environ.get(SHARED_ENV)
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "datasets"


@dataclass(frozen=True)
class SkippedRow:
    """A source record that did not become a table row.

    Attributes:
        source: Importer name.
        ref: Where the record is (file and row key).
        reason: Why it was not used.
    """

    source: str
    ref: str
    reason: str


@dataclass(frozen=True)
class ImportResult:
    """What one importer produced.

    Attributes:
        source: Importer name.
        rows: Energy rows (validated :class:`MeasuredRow`).
        accuracy: Accuracy-only rows (validated :class:`AccuracyRow`).
        skipped: Source records not used, each with its reason.
    """

    source: str
    rows: tuple[MeasuredRow, ...] = ()
    accuracy: tuple[AccuracyRow, ...] = ()
    skipped: tuple[SkippedRow, ...] = field(default_factory=tuple)


class RowCollector:
    """Accumulates rows and skip records while an importer walks its files."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.rows: list[MeasuredRow] = []
        self.accuracy: list[AccuracyRow] = []
        self.skipped: list[SkippedRow] = []

    def skip(self, ref: str, reason: str) -> None:
        """Record a source record that is not used."""
        self.skipped.append(SkippedRow(self.source, ref, reason))

    def add(self, ref: str, build: Callable[[], dict[str, object]]) -> None:
        """Validate one energy row built by ``build``; a schema violation becomes a skip record."""
        self._add(ref, build, MeasuredRow, self.rows)

    def add_accuracy(self, ref: str, build: Callable[[], dict[str, object]]) -> None:
        """Validate one accuracy row built by ``build``; a violation becomes a skip record."""
        self._add(ref, build, AccuracyRow, self.accuracy)

    def _add(self, ref: str, build: Callable[[], dict[str, object]], schema: type, out: list) -> None:
        try:
            out.append(schema.model_validate(build()))
        except UnknownNameError as exc:
            self.skip(ref, str(exc))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "(row)"
            self.skip(ref, f"schema: {loc}: {err['msg']}")

    def result(self) -> ImportResult:
        """Freeze what was collected."""
        return ImportResult(self.source, tuple(self.rows), tuple(self.accuracy), tuple(self.skipped))


def require_folder(root: Path, folder: str) -> Path:
    """The data set's folder under ``root``, or a :class:`DataSourceError` saying how to fix it."""
    path = Path(root) / folder
    if not path.is_dir():
        raise DataSourceError(
            f"data set folder {str(path)!r} not found; pass --shared DIR or set {SHARED_ENV}"
        )
    return path


def shared_ref(folder: str, filename: str, key: str) -> str:
    """A ``source_ref``: data-set-relative file plus the row key inside it."""
    return f"{folder}/{filename}#{key}"


def read_csv_records(root: Path, folder: str, filename: str, *, encoding: str = "utf-8") -> list[tuple[int, dict[str, str]]]:
    """Every record of the data set's CSV file ``<root>/<folder>/<filename>``, read whole.

    Args:
        root: Shared data-set root.
        folder: The data set's folder under ``root`` (a missing one raises
            :class:`DataSourceError` saying how to point at the data).
        filename: CSV file inside the folder (header on the first line).
        encoding: Text encoding (``utf-8-sig`` for a file that starts with a BOM).

    Returns:
        ``(line, record)`` pairs in file order; ``line`` is the file line the record ends on
        (``csv.DictReader.line_num``), which every ``source_ref`` cites.
    """
    path = require_folder(root, folder) / filename
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.DictReader(fh)
        return [(reader.line_num, rec) for rec in reader]


def finite_float(text: str | None) -> float:
    """``text`` as a finite float.

    Raises:
        ValueError: Not a number, NaN or infinite (the caller records a skip with the text).
        TypeError: ``text`` is None (a short CSV line).
    """
    value = float(text)  # type: ignore[arg-type]
    if not math.isfinite(value):
        raise ValueError(f"not finite: {text!r}")
    return value


_SHOTS = re.compile(r"(\d+)[-\s]*shot", re.I)


def shots_in(text: str) -> int:
    """The few-shot count a source writes in a label (``5-shot``, ``5 shots``, ``5shot``); 0 if none."""
    m = _SHOTS.search(text)
    return int(m.group(1)) if m else 0


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, record)`` for every non-blank line of a JSON Lines file.

    Raises:
        DataSourceError: A line is not a JSON object (names the file and line).
    """
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataSourceError(f"{path}:{lineno}: not valid JSON ({exc.msg}); is the shared copy intact?") from exc
        if not isinstance(rec, dict):
            raise DataSourceError(f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}")
        yield lineno, rec


def platform_of(name: object, fixed: dict[str, str]) -> str | None:
    """Platform id of a source's GPU name: ``fixed`` first, then the platform catalog's aliases
    (``H100 80GB HBM3`` -> ``h100-sxm5-80gb``); None for a GPU the catalog lacks (the caller
    skips the row and says so)."""
    text = str(name)
    if text in fixed:
        return fixed[text]
    try:
        return resolve_platform(text).id
    except UnknownNameError:
        return None
