"""What measuring a cell costs: queries needed and GPU-hours.

A cell is a configuration (platform x devices x engine x model x quantization x batch) on
one task. Its queries are the most of:

- accuracy precision: where the task's accuracy is not measured yet, enough queries for a
  90% half-width of ``max(accuracy_halfwidth_min, predicted half-width / 2)``, i.e.
  ``z^2 p (1 - p) / m^2`` (binomial standard error; halving the predicted uncertainty);
- energy precision: enough queries to fill the energy window (``energy_window_s`` at the
  predicted throughput ``batch / time_s_per_query``);
- ``min_queries``;

capped at the items the task has. Wall time is ``setup_s`` once per configuration plus
``repeats x queries / throughput`` per task; GPU-hours multiply it by the device count.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recommender.errors import DataSourceError

PLAN_CONFIG = Path(__file__).resolve().parents[2] / "data" / "plan.yaml"


class CostConfig(BaseModel):
    """The ``cost`` block of ``data/plan.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    confidence_z: float = Field(gt=0)
    accuracy_halfwidth_min: float = Field(gt=0, lt=0.5)
    energy_window_s: float = Field(gt=0)
    repeats: int = Field(ge=1, le=20)
    min_queries: int = Field(ge=1)
    setup_s: float = Field(ge=0)
    items: dict[str, int]
    limit_units: dict[str, int] = Field(default_factory=dict)


class PlannerConfig(BaseModel):
    """The ``planner`` block of ``data/plan.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_cells: int = Field(ge=1)
    min_value: float = Field(ge=0)
    probability_samples: int = Field(ge=100)
    recompute_top: int = Field(ge=1)


class PlanConfig(BaseModel):
    """``data/plan.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int
    cost: CostConfig
    planner: PlannerConfig


@functools.lru_cache(maxsize=4)
def load_config(path: Path = PLAN_CONFIG) -> PlanConfig:
    """Read and validate the plan settings.

    Raises:
        DataSourceError: Missing or invalid file.
    """
    import yaml
    from pydantic import ValidationError

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return PlanConfig.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise DataSourceError(f"plan settings {str(path)!r} unreadable: {exc}") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        raise DataSourceError(f"plan settings {str(path)!r}: field {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc


@dataclass(frozen=True)
class TaskCost:
    """Measuring one task of a configuration.

    Attributes:
        task: Task id.
        queries: Queries to run (per repeat).
        reason: Which precision set the number (``accuracy``, ``energy``, ``minimum``, ``all items``).
        seconds: Wall seconds for every repeat (without the configuration's setup).
    """

    task: str
    queries: int
    reason: str
    seconds: float


def task_cost(
    task: str,
    accuracy: float,
    accuracy_halfwidth: float,
    accuracy_measured: bool,
    time_s_per_query: float,
    batch_size: int,
    config: CostConfig,
) -> TaskCost:
    """Queries and seconds to measure one task of a configuration (see the module docstring)."""
    needs: dict[str, int] = {"minimum": config.min_queries}
    if not accuracy_measured and np.isfinite(accuracy):
        p = float(np.clip(accuracy, 0.05, 0.95))
        m = max(config.accuracy_halfwidth_min, float(accuracy_halfwidth) / 2.0 if np.isfinite(accuracy_halfwidth) else 0.0)
        needs["accuracy"] = int(np.ceil(config.confidence_z**2 * p * (1 - p) / m**2))
    t = float(time_s_per_query) if np.isfinite(time_s_per_query) and time_s_per_query > 0 else float("nan")
    throughput = batch_size / t if np.isfinite(t) else float("nan")
    if np.isfinite(throughput):
        needs["energy"] = int(np.ceil(config.energy_window_s * throughput))
    reason = max(needs, key=lambda k: needs[k])
    queries = needs[reason]
    cap = config.items.get(task)
    if cap is not None and queries > cap:
        queries, reason = cap, "all items"
    seconds = config.repeats * queries / throughput if np.isfinite(throughput) else float("nan")
    return TaskCost(task=task, queries=int(queries), reason=reason, seconds=float(seconds))


def sweep_limit(task: str, queries: int, config: CostConfig) -> int:
    """The sweep file's ``limit`` for ``queries`` items of a task (per subtask for groups)."""
    units = config.limit_units.get(task, 1)
    return max(1, int(np.ceil(queries / units)))


def configuration_hours(
    accuracy: np.ndarray,
    accuracy_halfwidth: np.ndarray,
    accuracy_measured: np.ndarray,
    time_s_per_query: np.ndarray,
    batch_size: np.ndarray,
    device_count: np.ndarray,
    items: np.ndarray,
    config: CostConfig,
) -> np.ndarray:
    """GPU-hours to measure whole configurations, vectorized (same rule as :func:`task_cost`).

    Per-task arrays are (configurations, tasks); ``batch_size`` and ``device_count`` are per
    configuration; ``items`` per task (inf: no cap). A task without a time prediction adds nothing.
    """
    p = np.clip(accuracy, 0.05, 0.95)
    m = np.maximum(config.accuracy_halfwidth_min, np.where(np.isfinite(accuracy_halfwidth), accuracy_halfwidth / 2.0, 0.0))
    acc_q = np.where(~accuracy_measured & np.isfinite(accuracy), np.ceil(config.confidence_z**2 * p * (1 - p) / m**2), 0.0)
    t = np.where(np.isfinite(time_s_per_query) & (time_s_per_query > 0), time_s_per_query, np.nan)
    throughput = batch_size[:, None] / t
    energy_q = np.where(np.isfinite(throughput), np.ceil(config.energy_window_s * throughput), 0.0)
    q = np.maximum(np.maximum(acc_q, energy_q), config.min_queries)
    q = np.minimum(q, items[None, :])
    seconds = np.where(np.isfinite(throughput), config.repeats * q / throughput, 0.0).sum(axis=1) + config.setup_s
    return device_count * seconds / 3600.0
