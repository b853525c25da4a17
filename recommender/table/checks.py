"""Table-level checks beyond one row's schema: duplicate cells and physically impossible figures.

A row can be valid on its own and still be impossible: mean power above what its devices can
draw, or energy per query above that power times the query's time. The bound is the
platform's thermal design power (TDP, from the platform catalog, looked up by the caller:
the table layer does not import the catalog) times the device count, times a slack for
meters and boost:

- GPU scope, slack 1.2: NVML's energy counter and power readings are specified to within
  +/- 5 % (NVML API reference, ``nvmlDeviceGetPowerUsage``), and boards briefly exceed their
  power limit, which defaults to TDP, before the limiter pulls them back; a window's mean
  stays below ~1.1 x TDP. The shipped table's highest GPU row reaches 0.99 x TDP
  (ML.ENERGY v1, A40).
- CPU scope, slack 1.5: a package may draw above TDP for long stretches (AMD's package
  power tracking limit PPT is 1.35 x TDP on EPYC / Ryzen; Intel's PL2 is set above PL1 by
  the board), and RAPL is itself a model-based estimate.

Other scopes (``cpu+dram``, ``gpu+cpu``, ``system``) include power the platform's TDP does not
cover (memory, host, fans), so no TDP bound applies to them; they are only checked for
duplicates and for power >= 0 (the schema already requires positive energy, time and power).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from recommender.errors import TableValidationError
from recommender.table.keys import cell_key
from recommender.table.schema import MeasuredRow

METER_SLACK: dict[str, float] = {"gpu": 1.2, "cpu": 1.5}
"""Energy scope -> factor on TDP x devices a window's mean power may reach (see module doc)."""

Located = tuple[str, int, MeasuredRow]
"""A row with where it came from: file (or source reference) and 1-based line (0: not a file line)."""


def power_cap_w(row: MeasuredRow, tdp_w: Callable[[str], float | None]) -> float | None:
    """Highest mean power ``row`` may report, watts (None: no bound for its scope or platform).

    TDP of one device x ``device_count`` x :data:`METER_SLACK` of the row's energy scope.
    """
    slack = METER_SLACK.get(row.energy_scope)
    if slack is None:
        return None
    tdp = tdp_w(row.platform)
    if tdp is None or tdp <= 0:
        return None
    return tdp * row.device_count * slack


def check_physics(path: str, line: int, row: MeasuredRow, tdp_w: Callable[[str], float | None]) -> None:
    """Refuse a row whose power or energy its devices cannot reach.

    Checks ``power_w_mean`` <= cap and ``energy_j_per_query`` <= cap x ``time_s_per_query``.
    Energy per query over time per query is the mean power for sequential queries and at most
    that when queries overlap (batching shares the window among them), so both bounds hold
    for any batch size.

    Raises:
        TableValidationError: Names the file, line, column, value and the bound it breaks.
    """
    cap = power_cap_w(row, tdp_w)
    if cap is None:
        return
    what = (f"{row.device_count} x {tdp_w(row.platform):g} W TDP of {row.platform} "
            f"x {METER_SLACK[row.energy_scope]} meter slack = {cap:g} W")
    if row.power_w_mean is not None and row.power_w_mean > cap:
        raise TableValidationError(path, line, "power_w_mean", row.power_w_mean,
                                   f"mean power above what the devices can draw ({what})")
    if row.energy_j_per_query is not None and row.time_s_per_query is not None:
        limit_j = cap * row.time_s_per_query
        if row.energy_j_per_query > limit_j:
            raise TableValidationError(
                path, line, "energy_j_per_query", row.energy_j_per_query,
                f"energy above power cap x time_s_per_query ({row.time_s_per_query:g} s x {what} "
                f"= {limit_j:g} J; implied {row.energy_j_per_query / row.time_s_per_query:g} W)",
            )


def check_rows(located: Sequence[Located], tdp_w: Callable[[str], float | None] | None = None) -> None:
    """Refuse duplicate cells and (when ``tdp_w`` is given) physically impossible rows.

    Args:
        located: Rows with their file and line, in file order.
        tdp_w: Platform id -> TDP of one device in watts (None: skip the physics checks).

    Raises:
        TableValidationError: At the first offending row, naming its line, column and value;
            for a duplicate, also the line of the first row of that cell.
    """
    first_seen: dict[object, tuple[str, int]] = {}
    for path, line, row in located:
        key = cell_key(row)
        if key in first_seen:
            other_path, other_line = first_seen[key]
            where = f"line {other_line}" if other_path == path else f"{other_path}:{other_line}"
            raise TableValidationError(
                path, line, "(row)", key.describe(),
                f"duplicate cell: {where} has a row with the same key "
                "(platform, devices, engine, model, quantization, batch, workload and settings)",
            )
        first_seen[key] = (path, line)
        if tdp_w is not None:
            check_physics(path, line, row, tdp_w)
