"""The measured table: one pydantic row schema, validated load and atomic save."""

from recommender.table.schema import (
    ENERGY_METHODS,
    ENERGY_SCOPES,
    ENGINES,
    QUANTIZATIONS,
    MeasuredRow,
)
from recommender.table.io import (
    COLUMNS,
    AppendResult,
    append_rows,
    load_table,
    table_hash,
    validate_file,
    write_table,
)
from recommender.table.keys import CellKey, cell_key

__all__ = [
    "AppendResult",
    "COLUMNS",
    "ENERGY_METHODS",
    "ENERGY_SCOPES",
    "ENGINES",
    "QUANTIZATIONS",
    "CellKey",
    "MeasuredRow",
    "cell_key",
    "append_rows",
    "load_table",
    "table_hash",
    "validate_file",
    "write_table",
]
