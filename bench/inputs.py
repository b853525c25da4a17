"""The inputs the held-out benches refit on: ``--table`` and ``--accuracy``, read as ``eai fit`` reads them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def measured_inputs(description: str) -> tuple[Any, pd.DataFrame, Any, pd.DataFrame]:
    """Parse ``--table`` / ``--accuracy`` (defaults: the shipped ``data/`` files) and load them.

    Args:
        description: The bench's one-line description for ``--help``.

    Returns:
        ``(catalogs, table, accuracy, prep)``: the shipped catalogs, the measured table (index
        0..n-1), the accuracy table (None where the file is absent) and the prepared frame, row for
        row with the table.

    Raises:
        SystemExit: Exit 2 (argparse's usage error) where ``--table`` is not a file.
    """
    from recommender.model.features import Catalogs
    from recommender.model.frame import prepare_table
    from recommender.table import load_table
    from recommender.table.accuracy import load_accuracy

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--table", type=Path, default=ROOT / "data" / "measured.csv")
    parser.add_argument("--accuracy", type=Path, default=ROOT / "data" / "accuracy.csv")
    args = parser.parse_args()
    if not args.table.is_file():
        # A bench with nothing to measure must fail, not print figures of nothing.
        parser.error(f"--table {str(args.table)!r} is not a file; pass a measured table (eai data import writes data/measured.csv)")
    catalogs = Catalogs.load()
    table = load_table(args.table).reset_index(drop=True)
    accuracy = load_accuracy(args.accuracy) if args.accuracy.is_file() else None
    return catalogs, table, accuracy, prepare_table(table, catalogs).reset_index(drop=True)
