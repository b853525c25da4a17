"""The decision flow: ``data/decision_flow.yaml`` evaluated generically.

The YAML holds every scenario-, class- and priority-specific choice (which
platform classes a scenario covers, the default objective and accuracy floor
of a priority, each class's quantization preferences, data-driven demotions,
engines per quantization, memory-fit constants). This module only walks it;
it holds no branch on a particular scenario, class or quantization.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from recommender.catalog.types import PlatformClass
from recommender.errors import DataSourceError, InvalidInputError
from recommender.rules.fit import FitParams
from recommender.rules.spec import Objective, Priority, Requirements

FLOW_PATH = Path(__file__).resolve().parents[2] / "data" / "decision_flow.yaml"

PRIORITIES: tuple[str, ...] = ("accuracy", "energy", "latency", "balanced", "flexibility")


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioNode(_Node):
    """A scenario: which platform classes it covers."""

    platform_classes: tuple[str, ...] = Field(min_length=1)
    description: str = ""


class AutoNode(_Node):
    """How scenario ``auto`` is inferred: scenario order for ties."""

    order: tuple[str, ...] = Field(min_length=1)


class ObjectiveWhen(_Node):
    """Switch the objective when a spec field (dotted path) is set."""

    if_set: str
    objective: Objective


class PriorityNode(_Node):
    """A priority's defaults."""

    objective: Objective
    objective_when: tuple[ObjectiveWhen, ...] = ()
    min_accuracy_relative_to_fp16: float | None = Field(default=None, gt=0, le=1.5)
    why: str = ""


class ClassNode(_Node):
    """A platform class: cost tier and per-priority quantization preferences."""

    cost_tier: str
    preferences: dict[Priority, tuple[str, ...]]


class Demotion(_Node):
    """Move a quantization to the end of the preference order where ``when`` holds."""

    quantization: str
    when: dict[str, float | tuple[str, ...]]
    why: str

    @model_validator(mode="after")
    def _keys(self) -> Demotion:
        for key, value in self.when.items():
            numeric = key.endswith("_max") or key.endswith("_min")
            listed = key.endswith("_in")
            if not (numeric or listed) or (listed and not isinstance(value, tuple)) or (numeric and isinstance(value, tuple)):
                raise ValueError(f"demotion condition {key!r}: use <column>_max/_min with a number or <column>_in with a list")
        return self


def _condition(key: str, limit: float | tuple[str, ...], col: Any) -> np.ndarray | bool:
    """Whether ``col`` (array or scalar) meets one ``when`` condition."""
    if key.endswith("_in"):
        import pandas as pd

        if np.ndim(col) == 0:
            return col in limit
        return pd.Series(col, copy=False).isin(list(limit)).to_numpy()
    return (np.asarray(col) <= limit) if key.endswith("_max") else (np.asarray(col) >= limit)


def _column_name(key: str) -> str:
    return key[:-3] if key.endswith("_in") else key[:-4]


class StudyCell(_Node):
    """One row of the study's decision matrix."""

    platform: str
    quantization: str
    accuracy_kept: float
    efficiency_gain: float
    cost_tier: str


class MatrixNode(_Node):
    """What ``eai matrix`` evaluates and the study's claims it compares with."""

    scenarios: tuple[str, ...]
    priorities: tuple[Priority, ...]
    platform_pool: tuple[str, ...] = ()
    conclusive_max_interval_ratio: float = Field(default=3.0, gt=1)
    spec: dict[str, Any]
    study: dict[str, StudyCell]


class FlowConfig(_Node):
    """The whole decision flow file."""

    version: Literal[1]
    scenarios: dict[str, ScenarioNode]
    auto: AutoNode
    priorities: dict[Priority, PriorityNode]
    classes: dict[str, ClassNode]
    demotions: tuple[Demotion, ...] = ()
    engines: dict[str, tuple[str, ...]]
    device_kinds: dict[PlatformClass, str]
    compute_capability_kinds: tuple[str, ...] = ()
    exclude_accuracy_status: tuple[Literal["measured", "imputed", "interpolated", "extrapolated", "prior"], ...] = ()
    baseline_quantizations: tuple[str, ...] = Field(min_length=1)
    min_context_tokens: int = Field(ge=1)
    memory_fit: FitParams
    what_if: dict[str, float]
    matrix: MatrixNode

    @model_validator(mode="after")
    def _consistent(self) -> FlowConfig:
        for name in self.auto.order:
            if name not in self.scenarios:
                raise ValueError(f"auto.order names unknown scenario {name!r}")
        missing = set(PRIORITIES) - set(self.priorities)
        if missing:
            raise ValueError(f"priorities lacks {sorted(missing)}")
        for cls, node in self.classes.items():
            lacking = set(PRIORITIES) - set(node.preferences)
            if lacking:
                raise ValueError(f"classes.{cls}.preferences lacks {sorted(lacking)}")
        lacking_kinds = set(get_args(PlatformClass)) - set(self.device_kinds)
        if lacking_kinds:
            raise ValueError(f"device_kinds lacks platform classes {sorted(lacking_kinds)}")
        for s in self.matrix.scenarios:
            if s not in self.scenarios:
                raise ValueError(f"matrix.scenarios names unknown scenario {s!r}")
        return self


@functools.lru_cache(maxsize=4)
def load_flow(path: Path = FLOW_PATH) -> FlowConfig:
    """Read and validate the decision flow file.

    Raises:
        DataSourceError: The file is missing or does not match the flow format.
    """
    import yaml

    try:
        # libyaml's loader when built in: the pure-Python one is ~30x slower at startup.
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        raise DataSourceError(f"decision flow {path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise DataSourceError(f"decision flow {path}: not valid YAML: {exc}") from None
    try:
        return FlowConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise DataSourceError(f"decision flow {path}: {loc}: {err['msg']}") from None


@dataclass(frozen=True)
class FlowStep:
    """One step of the path through the flow.

    Attributes:
        node: ``scenario``, ``platform classes``, ``priority``, ``objective``,
            ``accuracy floor``, ``preferences``.
        value: What was chosen.
        why: Where it came from (the spec, an inference, the flow file).
    """

    node: str
    value: str
    why: str


@dataclass(frozen=True)
class FlowDecision:
    """Where the flow led for one spec.

    Attributes:
        scenario: Scenario used (``any`` when auto had nothing to infer from).
        platform_classes: Classes whose platforms are candidates.
        objective: Ranking objective.
        min_accuracy_relative_to_fp16: Relative accuracy floor in force, or None.
        relative_floor_from_flow: Whether that floor is the flow's default (not the spec's).
        priority: The spec's priority.
        steps: Human-readable path.
    """

    scenario: str
    platform_classes: tuple[str, ...]
    objective: str
    min_accuracy_relative_to_fp16: float | None
    relative_floor_from_flow: bool
    priority: str
    steps: tuple[FlowStep, ...]


def _spec_value(spec: Requirements, dotted: str) -> Any:
    obj: Any = spec
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def decide(spec: Requirements, given_classes: list[str], flow: FlowConfig) -> FlowDecision:
    """Walk the flow for a spec.

    Args:
        spec: Validated requirements.
        given_classes: Platform class of each platform named in the spec, in order
            (empty when the spec names none).
        flow: The decision flow.

    Returns:
        The decision with its path.

    Raises:
        InvalidInputError: A named platform is outside the given scenario's classes.
    """
    steps: list[FlowStep] = []
    if spec.scenario != "auto":
        scenario = spec.scenario
        classes = flow.scenarios[scenario].platform_classes
        for i, cls in enumerate(given_classes):
            if cls not in classes:
                raise InvalidInputError(
                    f"hardware.platforms[{i}] ({spec.hardware.platforms[i]!r}) is a {cls} platform, outside scenario "
                    f"{scenario!r} (classes: {', '.join(classes)}); drop it or use scenario 'auto'"
                )
        steps.append(FlowStep("scenario", scenario, "given in the spec"))
    elif given_classes:
        counts = {s: sum(c in flow.scenarios[s].platform_classes for c in given_classes) for s in flow.auto.order}
        best = max(flow.auto.order, key=lambda s: (counts[s], -flow.auto.order.index(s)))
        scenario = best if counts[best] > 0 else "any"
        classes = tuple(dict.fromkeys(given_classes))
        steps.append(
            FlowStep("scenario", scenario, f"inferred from the hardware given ({', '.join(classes)} platforms)")
        )
    else:
        scenario = "any"
        classes = tuple(flow.classes)
        steps.append(FlowStep("scenario", "any", "auto with no hardware given: every platform class"))
    steps.append(FlowStep("platform classes", ", ".join(classes), f"scenario {scenario}"))

    node = flow.priorities[spec.priority]
    steps.append(FlowStep("priority", spec.priority, node.why or "given in the spec"))
    if spec.objective is not None:
        objective = spec.objective
        steps.append(FlowStep("objective", objective, "given in the spec"))
    else:
        objective = node.objective
        why = f"default for priority {spec.priority}"
        for rule in node.objective_when:
            if _spec_value(spec, rule.if_set) is not None:
                objective = rule.objective
                why = f"priority {spec.priority} with {rule.if_set} set"
                break
        steps.append(FlowStep("objective", objective, why))

    if spec.accuracy.min_relative_to_fp16 is not None:
        rel = spec.accuracy.min_relative_to_fp16
        rel_from_flow = False
        steps.append(FlowStep("accuracy floor", f">= {rel:.0%} of fp16", "given in the spec"))
    else:
        rel = node.min_accuracy_relative_to_fp16
        rel_from_flow = rel is not None
        if rel is not None:
            steps.append(FlowStep("accuracy floor", f">= {rel:.0%} of fp16", f"default for priority {spec.priority}"))
    for cls in classes:
        if cls in flow.classes:
            prefs = flow.classes[cls].preferences[spec.priority]
            steps.append(
                FlowStep("preferences", f"{cls}: {', '.join(prefs)}", f"class {cls}, priority {spec.priority} (breaks ties)")
            )
    return FlowDecision(
        scenario=scenario,
        platform_classes=tuple(classes),
        objective=objective,
        min_accuracy_relative_to_fp16=rel,
        relative_floor_from_flow=rel_from_flow,
        priority=spec.priority,
        steps=tuple(steps),
    )


def preference_rank(
    flow: FlowConfig,
    priority: str,
    platform_class: np.ndarray,
    quantization: np.ndarray,
    columns: dict[str, np.ndarray],
) -> np.ndarray:
    """Preference rank of each candidate (0 = most preferred; larger = less).

    Args:
        flow: The decision flow.
        priority: The spec's priority.
        platform_class: Class of each candidate's platform (array or categorical).
        quantization: Quantization of each candidate (array or categorical).
        columns: Candidate columns that demotion conditions may test
            (e.g. ``batch_size``, ``params_total_b``, ``platform_class``).

    Returns:
        Integer array, one rank per candidate.
    """
    n = len(quantization)
    unlisted = 1 + max((len(c.preferences[priority]) for c in flow.classes.values()), default=0)
    rank = np.full(n, unlisted, dtype=np.int64)
    # Hash-based factorization: sorting large object arrays (np.unique) is far slower.
    import pandas as pd

    cls_inv, classes = pd.factorize(platform_class)
    q_inv, quants = pd.factorize(quantization)
    table = np.full((len(classes), len(quants)), unlisted, dtype=np.int64)
    q_pos = {q: j for j, q in enumerate(quants)}
    for i, cls in enumerate(classes):
        node = flow.classes.get(str(cls))
        if node is None:
            continue
        for r, q in enumerate(node.preferences[priority]):
            if q in q_pos:
                table[i, q_pos[q]] = r
    rank = table[cls_inv, q_inv] if n else rank
    for dem in flow.demotions:
        hit = (q_inv == q_pos[dem.quantization]) if dem.quantization in q_pos else np.zeros(n, dtype=bool)
        for key, limit in dem.when.items():
            col = columns.get(_column_name(key))
            if col is None:
                hit = np.zeros(n, dtype=bool)
                break
            hit = hit & _condition(key, limit, col)
        rank = np.where(hit, rank + 2 * unlisted, rank)
    return rank


def demotion_notes(flow: FlowConfig, quantization: str, columns: dict[str, Any]) -> list[str]:
    """Why-lines of the demotions that apply to one candidate."""
    out = []
    for dem in flow.demotions:
        if dem.quantization != quantization:
            continue
        ok = True
        for key, limit in dem.when.items():
            value = columns.get(_column_name(key))
            if value is None or not bool(_condition(key, limit, value)):
                ok = False
                break
        if ok:
            out.append(dem.why)
    return out


def cost_tier(flow: FlowConfig, platform_class: str) -> str:
    """Cost tier of a platform class (``unknown`` if the flow has none)."""
    node = flow.classes.get(platform_class)
    return node.cost_tier if node else "unknown"


def native_engines(flow: FlowConfig, quantization: str) -> tuple[str, ...]:
    """Engines that run a quantization, native one first (empty if the flow names none)."""
    return flow.engines.get(quantization, ())
