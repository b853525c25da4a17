"""The decision flow: ``data/decision_flow.yaml`` evaluated generically.

The YAML holds every scenario-, class- and priority-specific choice (which
platform classes a scenario covers, the default objective and accuracy floor
of a priority, each class's quantization preferences, data-driven demotions,
engines per quantization, memory-fit constants). This module only walks it;
it holds no branch on a particular scenario, class or quantization.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
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

ACCURACY_STATUSES: tuple[str, ...] = ("measured", "imputed", "interpolated", "extrapolated", "prior")
"""Accuracy statuses a predictor may emit, most to least informed. "imputed" is the accuracy
model's (issue 17) word for a score predicted from the model's own other scores; "interpolated"
and "extrapolated" are the older predictor's words for a score derived from the model's own
measured one; "prior" means nothing the model scored informs it."""

FlowObjective = Literal["eor", "tweor", "energy", "cost", "carbon", "accuracy"]
"""Objectives the flow may set: the spec's, plus ``accuracy`` (the score itself)."""


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
    """A priority's defaults.

    Attributes:
        objective: Objective ranked by.
        objective_when: Switch the objective when a spec field is set.
        tie_break: Objective ordering the tied candidates after the class preference
            (e.g. ``energy`` under priority accuracy).
        tie_within: Tie on the point value within this absolute distance of the best
            instead of on overlapping intervals (units of the objective).
        min_accuracy_relative_to_fp16: Default relative accuracy floor.
        why: Where the priority's defaults come from.
    """

    objective: FlowObjective
    objective_when: tuple[ObjectiveWhen, ...] = ()
    tie_break: FlowObjective | None = None
    tie_within: float | None = Field(default=None, ge=0)
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


class ChanceMargin(_Node):
    """Score points above chance every recommended configuration must reach, per task."""

    default: float = Field(ge=0, le=1)
    tasks: dict[str, float] = Field(default_factory=dict)

    def for_task(self, task_id: str) -> float:
        """Margin for one task (the default where the task is not listed)."""
        return float(self.tasks.get(task_id, self.default))


class ServingClass(_Node):
    """Default serving of one platform class."""

    engines: tuple[str, ...] = Field(min_length=1)
    batch_sizes: tuple[int, ...] | None = None
    device_counts: tuple[int, ...] = (1,)


class ServingNode(_Node):
    """Default serving: engines per class, concurrencies per engine, latency for picking one."""

    def latency_for(self, output_tokens: float) -> float:
        """Time per query the concurrency must meet where the spec sets no limit, s."""
        return max(self.default_latency_min_s, self.default_s_per_output_token * float(output_tokens))

    default_s_per_output_token: float = Field(gt=0)
    default_latency_min_s: float = Field(gt=0)
    batch_sizes: dict[str, tuple[int, ...]]
    classes: dict[str, ServingClass]

    def engines_for(self, platform_class: str) -> tuple[str, ...] | None:
        """Default engines of a class (None: the flow names none; use each quantization's native one)."""
        node = self.classes.get(platform_class)
        return node.engines if node else None

    def devices_for(self, platform_class: str) -> tuple[int, ...]:
        """Device counts a deployment of the class may use, fewest first (1 where the flow names none)."""
        node = self.classes.get(platform_class)
        return tuple(sorted(node.device_counts)) if node else (1,)

    def batches_for(self, platform_class: str, engine: str) -> tuple[int, ...]:
        """Concurrencies tried for a class and engine (the class's own list first, then the engine's, else 1)."""
        node = self.classes.get(platform_class)
        if node is not None and node.batch_sizes:
            return node.batch_sizes
        return self.batch_sizes.get(engine, (1,))


class StudyCell(_Node):
    """One row of the study's decision matrix.

    Attributes:
        platform: The study's platform.
        precision: The precision in the study's words (``INT8``...).
        quantizations: Catalogued formats the precision could mean (each checked).
        accuracy_kept: Claimed fraction of the baseline's accuracy kept.
        efficiency_gain: Claimed efficiency gain (fraction).
        cost_tier: Claimed cost tier.
    """

    platform: str
    precision: str
    quantizations: tuple[str, ...] = Field(min_length=1)
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
    study_models: tuple[str, ...] = ()
    study_batch_size: int = Field(default=1, ge=1)
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
    engine_aliases: dict[str, str] = {}
    """Other spellings of serving engines (lower case) -> the name used in ``engines``."""
    checkpoint_families: dict[str, tuple[str, ...]] = {}
    """Quantizations served only from checkpoints their publishers ship in that format (the
    engines do not quantize to them at load time) -> the model families that publish one;
    a configuration of another family at such a quantization is not proposed."""
    device_kinds: dict[PlatformClass, str]
    compute_capability_kinds: tuple[str, ...] = ()
    recommendable_accuracy_status: tuple[Literal["measured", "imputed", "interpolated", "extrapolated"], ...] = Field(min_length=1)
    conversational_workloads: tuple[str, ...] = ()
    """Served workloads (task ids) that are people conversing with the model: a deployment serving
    one runs an instruction-tuned model, never a base one (constraint ``chat_model``)."""
    chance_margin: ChanceMargin
    serving: ServingNode
    baseline_quantizations: tuple[str, ...] = Field(min_length=1)
    default_16bit_quantizations: tuple[str, ...] = Field(min_length=1)
    min_context_tokens: int = Field(ge=1)
    memory_fit: FitParams
    what_if: dict[str, float]
    matrix: MatrixNode
    decisive_probability: float = Field(default=0.5, gt=0, le=1)

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
        for cls, node in self.serving.classes.items():
            for e in node.engines:
                if not any(e in engines for engines in self.engines.values()):
                    raise ValueError(f"serving.classes.{cls} names engine {e!r}, which no quantization lists under engines")
        for alias, name in self.engine_aliases.items():
            if alias != alias.lower() or alias == name:
                raise ValueError(f"engine_aliases: {alias!r} must be lower case and differ from its engine {name!r}")
        for q in self.checkpoint_families:
            if q not in self.engines:
                raise ValueError(f"checkpoint_families names quantization {q!r}, which engines does not list")
        for q in self.default_16bit_quantizations:
            if q not in self.engines:
                raise ValueError(f"default_16bit_quantizations names quantization {q!r}, which engines does not list")
        return self

    def canonical_engine(self, name: str) -> str:
        """An engine name as ``engines`` spells it: lower case, other spellings resolved
        (``TensorRT-LLM``, ``trt-llm`` -> ``tensorrt-llm``; ``deepspeed_mii`` -> ``deepspeed-mii``);
        names it does not know unchanged (lower case)."""
        key = name.strip().lower()
        if key in self.engine_aliases:
            return self.engine_aliases[key]
        # Python package and module names spell the same engines with underscores or spaces
        # (deepspeed_mii, text_generation_inference): read them hyphenated where that is a name.
        hyphenated = "-".join(key.replace("_", " ").split())
        known = {e for engines in self.engines.values() for e in engines}
        if hyphenated != key and (hyphenated in known or hyphenated in self.engine_aliases):
            return self.engine_aliases.get(hyphenated, hyphenated)
        return key

    @property
    def exclude_accuracy_status(self) -> tuple[str, ...]:
        """Statuses that never qualify: every known one not listed as recommendable (``prior`` always)."""
        return tuple(s for s in ACCURACY_STATUSES if s not in self.recommendable_accuracy_status)


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
        tie_break: Objective that orders tied candidates after the preference (None: the point value).
        tie_within: Point distance that counts as a tie (None: overlapping intervals).
    """

    scenario: str
    platform_classes: tuple[str, ...]
    objective: str
    min_accuracy_relative_to_fp16: float | None
    relative_floor_from_flow: bool
    priority: str
    steps: tuple[FlowStep, ...]
    tie_break: str | None = None
    tie_within: float | None = None


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
    tie_break: str | None = None
    tie_within: float | None = None
    if spec.objective is not None:
        objective = spec.objective
        steps.append(FlowStep("objective", objective, "given in the spec"))
    else:
        objective = node.objective
        why = f"default for priority {spec.priority}"
        switched = False
        for rule in node.objective_when:
            if _spec_value(spec, rule.if_set) is not None:
                objective = rule.objective
                why = f"priority {spec.priority} with {rule.if_set} set"
                switched = True
                break
        if not switched:
            tie_break, tie_within = node.tie_break, node.tie_within
        if tie_within is not None:
            why += f"; within {tie_within:g} of the best counts as a tie"
        if tie_break is not None:
            why += f"; ties go to the class preference, then the least {tie_break}"
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
    steps.extend(_serving_steps(spec, classes, flow, objective))
    return FlowDecision(
        scenario=scenario,
        platform_classes=tuple(classes),
        objective=objective,
        min_accuracy_relative_to_fp16=rel,
        relative_floor_from_flow=rel_from_flow,
        priority=spec.priority,
        steps=tuple(steps),
        tie_break=tie_break,
        tie_within=tie_within,
    )


def _serving_steps(spec: Requirements, classes: tuple[str, ...], flow: FlowConfig, objective: str = "energy") -> list[FlowStep]:
    """How each class serves: engines and concurrency (the spec's, else the flow's defaults)."""
    out = []
    latency = spec.latency_s_max
    for cls in classes:
        if spec.serving.engines:
            engines, e_why = tuple(spec.serving.engines), "engines given in the spec"
        else:
            default = flow.serving.engines_for(cls)
            engines = default or ("each precision's native engine",)
            e_why = f"class {cls} default" if default else "no serving default for the class"
        if spec.serving.batch_size is not None:
            batch, b_why = f"batch {spec.serving.batch_size}", "given in the spec"
        else:
            sizes = sorted({b for e in engines for b in flow.serving.batches_for(cls, e)})
            if len(sizes) == 1:
                batch, b_why = f"batch {sizes[0]}", f"class {cls} default"
            else:
                batch = f"concurrency {sizes[0]}-{sizes[-1]}"
                best = "the best TWEOR" if objective == "tweor" else "the least energy per query"
                if latency is not None:
                    b_why = f"per deployment, {best} within {latency:g} s per query (the spec's latency limit)"
                else:
                    b_why = (
                        f"per deployment, {best} within "
                        f"{flow.serving.default_s_per_output_token:g} s per output token (at least "
                        f"{flow.serving.default_latency_min_s:g} s per query; the flow's default, not a constraint)"
                    )
                if spec.hardware.power_cap_w is not None:
                    b_why += f", drawing at most the power cap ({spec.hardware.power_cap_w:g} W per device)"
                if spec.throughput_qps_min is not None:
                    b_why += f", serving at least {spec.throughput_qps_min:g} queries/s (the spec's throughput floor)"
        if spec.hardware.device_count is not None:
            dev, d_why = f"{spec.hardware.device_count} device(s)", "device count given in the spec"
        else:
            counts = flow.serving.devices_for(cls)
            dev = f"{counts[0]} device" if len(counts) == 1 else f"{'/'.join(map(str, counts))} devices"
            d_why = "the fewest the model fits on" if len(counts) > 1 else f"class {cls} default"
        out.append(FlowStep("serving", f"{cls}: {', '.join(engines)}, {batch}, {dev}", f"{e_why}; {b_why}; {d_why}"))
    return out


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
            (e.g. ``batch_size``, ``params_total_b``, ``platform_class``); ``upcast``, where
            given, marks candidates whose format moves more bytes per weight than the model's
            weights as published (DeepSeek-V3 in bf16): they rank after every other candidate
            of their class, as a demotion does.

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
    # An upcast of published weights (an FP8 model served in bf16) keeps the published format's
    # scores exactly and moves more bytes per weight, so among candidates the data cannot tell
    # apart it is never the one to prefer, whatever the class's order of formats says.
    upcast = columns.get("upcast")
    if upcast is not None:
        rank = np.where(np.asarray(upcast, dtype=bool), rank + 2 * unlisted, rank)
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


def reference_quantization(
    flow: FlowConfig,
    quantization: str,
    bytes_per_weight: Mapping[str, float],
    available: Callable[[str], bool] = lambda q: True,
) -> str | None:
    """The baseline a format's energy and efficiency changes are measured against.

    The first of the flow's ``baseline_quantizations`` that moves more bytes per weight than
    ``quantization`` and is ``available`` (runs on the platform, or is present in a matched
    group): fp16 for 8- and 4-bit formats, fp32 for 16-bit ones. The decision matrix's study
    check and the report's claims check both use it, so one claim gets one baseline.

    Returns:
        The reference, or None where none qualifies.
    """
    own = bytes_per_weight.get(quantization)
    for b in flow.baseline_quantizations:
        bb = bytes_per_weight.get(b)
        if own is not None and bb is not None and bb > own and available(b):
            return b
    return None


def reference_candidates(flow: FlowConfig, quantization: str, bytes_per_weight: Mapping[str, float]) -> tuple[str, ...]:
    """Every baseline :func:`reference_quantization` may pick, in order (for matched-group lookups)."""
    own = bytes_per_weight.get(quantization)
    return tuple(
        b for b in flow.baseline_quantizations
        if own is not None and bytes_per_weight.get(b) is not None and bytes_per_weight[b] > own
    )


def bytes_bound_gain(bytes_reference: float, bytes_format: float) -> float:
    """Largest efficiency gain (fraction) fewer weight bytes can give at equal accuracy.

    Decoding reads every weight once per step, so energy per token falls at most in
    proportion to the bytes moved: gain <= bytes_reference / bytes_format - 1, and the energy
    change is >= bytes_format / bytes_reference - 1. A prediction beyond it is an extrapolation
    the physics does not allow and is never shown uncapped.
    """
    return bytes_reference / bytes_format - 1.0


def cost_tier(flow: FlowConfig, platform_class: str) -> str:
    """Cost tier of a platform class (``unknown`` if the flow has none)."""
    node = flow.classes.get(platform_class)
    return node.cost_tier if node else "unknown"


def native_engines(flow: FlowConfig, quantization: str) -> tuple[str, ...]:
    """Engines that run a quantization, native one first (empty if the flow names none)."""
    return flow.engines.get(quantization, ())
