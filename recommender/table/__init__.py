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
    append_rows,
    load_table,
    table_hash,
    validate_file,
    write_table,
)

__all__ = [
    "COLUMNS",
    "ENERGY_METHODS",
    "ENERGY_SCOPES",
    "ENGINES",
    "QUANTIZATIONS",
    "MeasuredRow",
    "append_rows",
    "load_table",
    "table_hash",
    "validate_file",
    "write_table",
]
