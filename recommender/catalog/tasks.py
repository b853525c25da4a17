"""Task catalog: accuracy benchmarks and energy-only workloads with token profiles.

Entries live in ``data/tasks.yaml``; its header says how each token profile was measured
(SmolLM2 tokenizer over the local task subsets, means over the energy data files) and which
figures are estimates. Names match case-, space- and punctuation-insensitively
(``"ARC-Challenge"``, ``"arc challenge"`` and ``"arc_challenge"`` are one task).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from recommender.catalog.platforms import build_alias_index, name_key, unknown_name_error
from recommender.catalog import _yaml
from recommender.catalog.types import TaskSpec
from recommender.errors import DataSourceError

TASKS_PATH = Path(__file__).resolve().parents[2] / "data" / "tasks.yaml"


def _load(path: Path) -> list[dict[str, Any]]:
    import yaml

    try:
        with path.open(encoding="utf-8") as fh:
            data = _yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise DataSourceError(f"task catalog {path} is missing") from exc
    except yaml.YAMLError as exc:
        raise DataSourceError(f"task catalog {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        raise DataSourceError(f"{path}: expected a mapping with a 'tasks' list")
    return data["tasks"]


@functools.lru_cache(maxsize=4)
def _catalog(path: Path) -> tuple[dict[str, TaskSpec], dict[str, str]]:
    tasks: dict[str, TaskSpec] = {}
    for i, entry in enumerate(_load(path)):
        try:
            spec = TaskSpec(**{**entry, "aliases": tuple(entry.get("aliases") or ())})
        except (TypeError, ValidationError) as exc:
            raise DataSourceError(f"{path}: task entry #{i + 1} is invalid: {exc}") from exc
        if spec.id in tasks:
            raise DataSourceError(f"{path}: task id {spec.id!r} appears twice")
        if spec.kind == "benchmark" and (spec.lm_eval_name is None or spec.metric is None):
            raise DataSourceError(
                f"{path}: benchmark {spec.id!r} needs lm_eval_name and metric"
            )
        tasks[spec.id] = spec
    index = build_alias_index("task", ((t.id, t.aliases) for t in tasks.values()))
    return tasks, index


def get_tasks(path: Path | None = None) -> dict[str, TaskSpec]:
    """All catalogued benchmarks and workloads.

    Args:
        path: Catalog file; defaults to the shipped ``data/tasks.yaml``.

    Returns:
        Canonical id -> :class:`TaskSpec`, benchmarks first (a fresh dict each call).

    Raises:
        DataSourceError: The catalog file is missing or an entry is malformed.
    """
    return dict(_catalog(path or TASKS_PATH)[0])


def resolve_task(name: str, path: Path | None = None) -> TaskSpec:
    """Find a task or workload by canonical id, lm-eval name or alias.

    Args:
        name: Any spelling, e.g. ``"ARC"``, ``"TruthfulQA"``, ``"sharegpt-chat"``.
        path: Catalog file; defaults to the shipped one.

    Returns:
        The matching :class:`TaskSpec`.

    Raises:
        UnknownNameError: No task matches; the message suggests close names.
    """
    tasks, index = _catalog(path or TASKS_PATH)
    key = name_key(name)
    if key in index:
        return tasks[index[key]]
    raise unknown_name_error("task", name, index, hint="`eai tasks` lists them")
