"""Importers of public measurement data sets, one per format.

The registry maps importer names to lazy import strings so that listing importers
imports none of them. Each importer module exposes ``import_rows(root) -> ImportResult``
reading its folder under the shared data-set root (see :func:`default_shared_root`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from recommender.errors import UnknownNameError
from recommender.importers.base import ImportResult, SkippedRow, default_shared_root

IMPORTERS: dict[str, str] = {
    "mlenergy-v1": "recommender.importers.mlenergy_v1:import_rows",
    "mlenergy-v2": "recommender.importers.mlenergy_v2:import_rows",
    "mlenergy-v3": "recommender.importers.mlenergy_v3:import_rows",
    "quant-reports": "recommender.importers.quant_reports:import_rows",
    "open-llm-leaderboard-v1": "recommender.importers.open_llm_leaderboard_v1:import_rows",
    "open-llm-leaderboard-v1-final": "recommender.importers.open_llm_leaderboard_v1_final:import_rows",
    "open-llm-leaderboard-v2": "recommender.importers.open_llm_leaderboard_v2:import_rows",
    "intel-autoround": "recommender.importers.intel_autoround:import_rows",
    "llm-stats-vendor-reported": "recommender.importers.llm_stats_vendor:import_rows",
}
"""Importer name -> ``module:function`` (imported only when used)."""


def importer_names() -> list[str]:
    """Registered importer names in registry order."""
    return list(IMPORTERS)


def get_importer(name: str) -> Callable[[Path], ImportResult]:
    """The ``import_rows`` function registered under ``name``.

    Raises:
        UnknownNameError: ``name`` is not registered (message suggests close names).
    """
    if name not in IMPORTERS:
        raise UnknownNameError("importer", name, IMPORTERS)
    module_name, func_name = IMPORTERS[name].split(":")
    return getattr(importlib.import_module(module_name), func_name)


def run_importer(name: str, root: Path | None = None) -> ImportResult:
    """Run one importer on ``root`` (default: the shared data-set root)."""
    return get_importer(name)(Path(root) if root is not None else default_shared_root())


__all__ = [
    "IMPORTERS",
    "ImportResult",
    "SkippedRow",
    "default_shared_root",
    "get_importer",
    "importer_names",
    "run_importer",
]
