"""Rebuild the shipped tables from the shared data sets plus locally profiled rows.

``data/measured.csv`` = every importer's energy rows + every CSV under ``data/profiled/``
(rows eai's profiler produced, which are not in the shared data sets), so re-importing
never loses profiled rows. ``data/accuracy.csv`` = every importer's accuracy rows. Both are
sorted by a fixed key, so the same inputs always give byte-identical files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from recommender.errors import TableValidationError, UnknownNameError
from recommender.importers import importer_names, run_importer
from recommender.importers.base import REPO_ROOT, SkippedRow, default_shared_root
from recommender.table.accuracy import AccuracyRow, render_accuracy_csv
from recommender.table.checks import check_rows
from recommender.table.io import _atomic_write, read_located_rows, render_csv
from recommender.table.schema import MeasuredRow

DATA_DIR = REPO_ROOT / "data"
DEFAULT_MEASURED = DATA_DIR / "measured.csv"
DEFAULT_ACCURACY = DATA_DIR / "accuracy.csv"
DEFAULT_PROFILED_DIR = DATA_DIR / "profiled"
"""Folder of profiler-produced CSV tables merged into every import."""


def platform_tdp_w(platform: str) -> float | None:
    """Thermal design power of one device of ``platform``, watts, from the platform catalog."""
    from recommender.catalog.platforms import resolve_platform

    return resolve_platform(platform).tdp_w


def check_platform_id(platform: str) -> str:
    """Check that ``platform`` is a canonical id of the platform catalog.

    Returns:
        The id.

    Raises:
        UnknownNameError: Not a known platform (with did-you-mean).
        ValueError: A known alias, not the canonical id (the message names the id to use).
    """
    from recommender.catalog.platforms import resolve_platform

    canonical = resolve_platform(platform).id
    if canonical != platform:
        raise ValueError(f"platform alias {platform!r} must be written as its canonical id {canonical!r}")
    return platform


def measured_sort_key(row: MeasuredRow) -> tuple:
    """Deterministic order of the measured table."""
    return (
        row.source,
        row.platform,
        row.model_id,
        row.quantization,
        row.workload,
        row.engine,
        row.device_count,
        row.batch_size,
        row.source_ref,
    )


def accuracy_sort_key(row: AccuracyRow) -> tuple:
    """Deterministic order of the accuracy table."""
    return (row.source, row.model_id, row.task, row.source_ref)


@dataclass(frozen=True)
class BuildResult:
    """Both tables as rebuilt, with per-source counts and every skipped source record.

    Attributes:
        measured: Energy rows in table order.
        accuracy: Accuracy rows in table order.
        skipped: Source records that did not become rows, with reasons.
        profiled_files: The ``data/profiled`` CSVs that were merged.
    """

    measured: tuple[MeasuredRow, ...]
    accuracy: tuple[AccuracyRow, ...]
    skipped: tuple[SkippedRow, ...]
    profiled_files: tuple[Path, ...]

    def measured_counts(self) -> dict[str, int]:
        """Energy rows per source tag."""
        return dict(sorted(Counter(r.source for r in self.measured).items()))

    def accuracy_counts(self) -> dict[str, int]:
        """Accuracy rows per source tag."""
        return dict(sorted(Counter(r.source for r in self.accuracy).items()))

    def skipped_counts(self) -> dict[str, int]:
        """Skipped source records per importer."""
        return dict(sorted(Counter(s.source for s in self.skipped).items()))

    def measured_csv(self) -> str:
        """The measured table as CSV text."""
        return render_csv(self.measured)

    def accuracy_csv(self) -> str:
        """The accuracy table as CSV text."""
        return render_accuracy_csv(self.accuracy)


def profiled_files(profiled_dir: Path = DEFAULT_PROFILED_DIR) -> list[Path]:
    """CSV files under ``profiled_dir`` in name order (none if the folder does not exist)."""
    if not profiled_dir.is_dir():
        return []
    return sorted(p for p in profiled_dir.glob("*.csv") if p.is_file())


def build_tables(
    shared_root: Path | None = None,
    profiled_dir: Path = DEFAULT_PROFILED_DIR,
    sources: Sequence[str] | None = None,
) -> BuildResult:
    """Run the importers and merge the profiled tables.

    Args:
        shared_root: Shared data-set root (default :func:`default_shared_root`).
        profiled_dir: Folder of profiler CSVs to merge (validated like any table).
        sources: Importer names to run (default: all registered).

    Returns:
        The rebuilt tables; nothing is written.

    Raises:
        DataSourceError: A data-set folder is missing.
        TableValidationError: A profiled CSV is invalid, a row names an unknown platform, two
            rows share a cell key, or a row reports power or energy above TDP x devices.
    """
    root = Path(shared_root) if shared_root is not None else default_shared_root()
    measured: list[MeasuredRow] = []
    accuracy: list[AccuracyRow] = []
    skipped: list[SkippedRow] = []
    for name in sources if sources is not None else importer_names():
        result = run_importer(name, root)
        measured.extend(result.rows)
        accuracy.extend(result.accuracy)
        skipped.extend(result.skipped)
    for row in measured:
        try:
            check_platform_id(row.platform)
        except (UnknownNameError, ValueError) as exc:
            raise TableValidationError(row.source_ref, 0, "platform", row.platform, str(exc)) from exc
    files = profiled_files(profiled_dir)
    located = [(row.source_ref, 0, row) for row in measured]
    for path in files:
        located.extend((str(path), line, row) for line, row in read_located_rows(path, check_platform=check_platform_id))
    # No cell twice (e.g. a profiled row copied into two files), nothing above TDP x devices.
    check_rows(located, tdp_w=platform_tdp_w)
    measured = [row for _path, _line, row in located]
    return BuildResult(
        measured=tuple(sorted(measured, key=measured_sort_key)),
        accuracy=tuple(sorted(accuracy, key=accuracy_sort_key)),
        skipped=tuple(skipped),
        profiled_files=tuple(files),
    )


def write_tables(result: BuildResult, measured_path: Path, accuracy_path: Path) -> None:
    """Write both tables atomically."""
    _atomic_write(Path(measured_path), result.measured_csv())
    _atomic_write(Path(accuracy_path), result.accuracy_csv())
