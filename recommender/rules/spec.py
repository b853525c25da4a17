"""Requirements spec: what a user asks ``eai recommend`` for.

The spec is a frozen pydantic model that rejects unknown fields. It only
checks shape, ranges and cross-field consistency; names (platforms, models,
tasks, quantizations) are resolved against the catalogs later, in
:mod:`recommender.rules.engine`, so that parsing needs no catalog.

Every way a spec can be wrong ends in :class:`~recommender.errors.SpecError`
(exit status 2) with one line naming the field path, the bad value and what
is allowed; :func:`parse_spec_text` never lets another exception escape for
user input (malformed JSON, deep nesting, huge numbers, non-UTF-8 bytes, an
over-large document).
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recommender.errors import SpecError
from recommender.table.schema import Engine

SPEC_SCHEMA_VERSION = "1"
"""Version of the requirements format; bumped on incompatible changes."""

MAX_SPEC_BYTES = 1_048_576
"""Largest spec document accepted (1 MiB); a requirements spec is a few hundred bytes."""

Scenario = Literal["data-center", "enterprise", "edge", "auto"]
Priority = Literal["accuracy", "energy", "latency", "balanced", "flexibility"]
Objective = Literal["eor", "tweor", "energy", "cost", "carbon"]
EngineName = Engine
"""A serving engine the catalog knows (the measured table's names)."""

_Name = Field(min_length=1, max_length=200)


RELEASE_REGEX = r"^[vV]?[0-9]+(\.[0-9]+){0,3}([.+-]?[A-Za-z0-9]+){0,3}$"
"""Shape of an engine release: ``0.11.1``, ``4.57.0``, ``0.6.3.post1``, or a git tag ``v0.5.4``."""


def normalize_release(release: str) -> str:
    """An engine release without the ``v`` of its git tag (``v0.5.4`` -> ``0.5.4``)."""
    release = release.strip()
    return release[1:] if release[:1] in ("v", "V") and release[1:2].isdigit() else release


ReleaseName = Annotated[str, Field(pattern=RELEASE_REGEX, max_length=40), AfterValidator(normalize_release)]
"""An engine release as engines print it (``0.11.1``, ``4.57.0``, ``0.6.3.post1``) or as its git
tag (``v0.5.4``, stored as ``0.5.4``)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, str_strip_whitespace=True)


class Hardware(_Frozen):
    """Hardware the deployment may use.

    Attributes:
        platforms: Candidate platforms (canonical ids or aliases). Empty: every
            platform of the scenario's classes.
        device_count: Devices per deployment (tensor parallel across them). None: the
            decision flow picks the fewest of its class's device counts the model fits on.
        power_cap_w: Per-device power cap, W; mean power must stay below
            ``power_cap_w * device_count``.
        memory_limit_gb: Usable memory per device, GB (caps the platform's own memory).
    """

    platforms: tuple[str, ...] = Field(default=(), max_length=500)
    device_count: int | None = Field(default=None, ge=1, le=1024)
    power_cap_w: float | None = Field(default=None, gt=0, le=100_000)
    memory_limit_gb: float | None = Field(default=None, gt=0, le=100_000)

    @field_validator("platforms")
    @classmethod
    def _names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _check_names(v)


class Models(_Frozen):
    """Which models may be deployed.

    Attributes:
        ids: Explicit model ids or aliases. Empty: any catalog model that passes
            the other constraints.
        families: Allowed model families (``qwen2.5``, ``mistral``...). Empty: any.
        max_params_b: Largest total parameter count, billions.
        min_params_b: Smallest total parameter count, billions.
    """

    ids: tuple[str, ...] = Field(default=(), max_length=2000)
    families: tuple[str, ...] = Field(default=(), max_length=200)
    max_params_b: float | None = Field(default=None, gt=0, le=100_000)
    min_params_b: float | None = Field(default=None, gt=0, le=100_000)

    @field_validator("ids", "families")
    @classmethod
    def _names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _check_names(v)

    @model_validator(mode="after")
    def _range(self) -> Models:
        if self.max_params_b is not None and self.min_params_b is not None and self.min_params_b > self.max_params_b:
            raise ValueError(
                f"models.min_params_b ({self.min_params_b}) is above models.max_params_b ({self.max_params_b})"
            )
        return self


class TaskWeight(_Frozen):
    """One benchmark task and its weight in the aggregate.

    Attributes:
        id: Task id or alias (``gsm8k``, ``mmlu``...).
        weight: Relative weight (> 0); weights are normalized to sum to 1.
    """

    id: str = _Name
    weight: float = Field(default=1.0, gt=0, le=1e6)


class Accuracy(_Frozen):
    """Accuracy floor.

    Attributes:
        min: Absolute floor on the (weighted) task score, in [0, 1].
        min_relative_to_fp16: Floor relative to the same model at fp16 on the
            same platform, e.g. 0.98 keeps at least 98% of fp16's score.
        chance_adjusted: Apply ``min`` to the chance-adjusted score
            (score - chance) / (1 - chance), so a model guessing at chance scores 0.
        min_confidence: Probability with which the accuracy floors in force must hold (``min``,
            and the floor relative to fp16, the spec's or the priority's default), read from
            each candidate's 90% accuracy interval (a normal on its lower side: 0.95 is the
            interval's lower end of ``min``). None: the point prediction must reach them, which
            an imputed score does about half the time whatever its uncertainty.
    """

    min: float | None = Field(default=None, ge=0)
    min_relative_to_fp16: float | None = Field(default=None, gt=0, le=1.5)
    chance_adjusted: bool = False
    min_confidence: float | None = Field(default=None, ge=0.5, le=0.95)

    @model_validator(mode="after")
    def _floor(self) -> Accuracy:
        # A score is a fraction; 60 almost always means "60%", so say so.
        if self.min is not None and self.min > 1:
            raise ValueError(
                f"accuracy.min is {self.min}, above 1; scores are fractions in [0, 1] (did you mean {self.min / 100:g}?)"
            )
        return self


class Serving(_Frozen):
    """How the model is served.

    Attributes:
        batch_size: Concurrent sequences per deployment. None: the decision flow picks
            it per platform class (the least energy per query within the latency limit).
        context_tokens: Tokens per sequence the KV cache must hold (prompt +
            output). None: the largest prompt + output of the selected tasks.
        engines: Allowed serving engines. Empty: the decision flow's serving
            engines of each platform class (vLLM in data centers, llama.cpp at the edge).
        engine_versions: Release each engine runs at, e.g. ``{"vllm": "0.11.1"}``. An engine
            not named here is predicted at its newest measured release, and its intervals
            also hold what its other measured releases predict (per-step overheads differ
            several-fold between vLLM 0.5 and 0.11).
        workload: The traffic served (a workload or task id, ``lm-arena-chat``,
            ``sharegpt-chat``...): energy, time, throughput and the concurrency are priced on
            its token profile, while accuracy comes from ``tasks``. None: each task prices
            itself (the study's setup: energy measured on the benchmark runs).
        prompt_tokens: Prompt tokens per query of ``workload`` (None: the workload's mean).
        output_tokens: Output tokens per query of ``workload`` (None: the workload's mean).
    """

    batch_size: int | None = Field(default=None, ge=1, le=65_536)
    context_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    engines: tuple[EngineName, ...] = Field(default=(), max_length=10)
    engine_versions: dict[EngineName, ReleaseName] = Field(default_factory=dict, max_length=10)
    workload: str | None = Field(default=None, min_length=1, max_length=200)
    prompt_tokens: float | None = Field(default=None, gt=0, le=10_000_000)
    output_tokens: float | None = Field(default=None, gt=0, le=10_000_000)

    @model_validator(mode="after")
    def _tokens_need_workload(self) -> Serving:
        if self.workload is None and (self.prompt_tokens is not None or self.output_tokens is not None):
            raise ValueError(
                "prompt_tokens / output_tokens describe the served workload; name it too (serving.workload, e.g. "
                "'lm-arena-chat'), whose other traits (output-length spread) they keep"
            )
        return self


class Economics(_Frozen):
    """Optional economics for cost and carbon figures.

    Attributes:
        electricity_usd_per_kwh: Electricity price, $/kWh.
        carbon_g_per_kwh: Grid carbon intensity, gCO2e/kWh.
        pue: Power usage effectiveness of the facility (>= 1).
        queries_per_day: Expected load, queries/day: each deployment is priced where that load
            runs it (the requests its arrivals keep running, the copies it needs, the draw
            of those copies waiting between queries) and its daily energy, cost and carbon
            are stated (None: servers kept busy, as every measured campaign ran them).
    """

    electricity_usd_per_kwh: float | None = Field(default=None, ge=0, le=100)
    carbon_g_per_kwh: float | None = Field(default=None, ge=0, le=10_000)
    pue: float = Field(default=1.0, ge=1, le=5)
    queries_per_day: float | None = Field(default=None, gt=0, le=1e15)


class Requirements(_Frozen):
    """A deployment requirements spec (input of ``eai recommend``).

    Attributes:
        schema_version: Version of this format (``"1"``).
        scenario: Deployment scenario; ``auto`` infers it from the hardware given.
        hardware: Platforms, device count, power cap, memory limit.
        models: Explicit models or constraints on them.
        tasks: One or more benchmarks with optional weights.
        accuracy: Absolute and/or fp16-relative accuracy floor.
        latency_s_max: Upper limit on seconds per query.
        throughput_qps_min: Lower limit on queries per second per deployment.
        energy_wh_per_1k_max: Energy budget, Wh per 1,000 queries.
        priority: What matters most; drives the decision flow.
        objective: Ranking objective. None: the decision flow's default for the priority.
        serving: Batch size, context and engines.
        economics: Price, carbon intensity, PUE, load.
        top_k: Number of ranked configurations returned.
        allow_predicted: Whether unmeasured (predicted) configurations may be recommended.
    """

    schema_version: Literal["1"] = SPEC_SCHEMA_VERSION
    scenario: Scenario = "auto"
    hardware: Hardware = Hardware()
    models: Models = Models()
    tasks: tuple[TaskWeight, ...] = Field(min_length=1, max_length=50)
    accuracy: Accuracy = Accuracy()
    latency_s_max: float | None = Field(default=None, gt=0, le=1e6)
    throughput_qps_min: float | None = Field(default=None, gt=0, le=1e9)
    energy_wh_per_1k_max: float | None = Field(default=None, gt=0, le=1e12)
    priority: Priority = "balanced"
    objective: Objective | None = None
    serving: Serving = Serving()
    economics: Economics = Economics()
    top_k: int = Field(default=5, ge=1, le=1000)
    allow_predicted: bool = True

    @field_validator("tasks", mode="before")
    @classmethod
    def _task_shorthand(cls, v: Any) -> Any:
        # "gsm8k" is shorthand for {"id": "gsm8k"}; a bare string is one task.
        # Strict mode still wants a tuple once a before-validator has touched the value.
        if isinstance(v, str):
            v = [v]
        if isinstance(v, (list, tuple)):
            return tuple({"id": t} if isinstance(t, str) else t for t in v)
        return v

    @model_validator(mode="after")
    def _cross_field(self) -> Requirements:
        ids = [t.id.lower() for t in self.tasks]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"tasks: {dup[0]!r} is listed more than once; give each task once with a weight")
        objective = self.objective
        if objective == "cost" and self.economics.electricity_usd_per_kwh is None:
            raise ValueError("objective 'cost' needs economics.electricity_usd_per_kwh (electricity price, $/kWh)")
        if objective == "carbon" and self.economics.carbon_g_per_kwh is None:
            raise ValueError("objective 'carbon' needs economics.carbon_g_per_kwh (grid intensity, gCO2e/kWh)")
        return self

    def task_weights(self) -> dict[str, float]:
        """Task id (as given) -> weight normalized to sum to 1."""
        total = sum(t.weight for t in self.tasks)
        return {t.id: t.weight / total for t in self.tasks}


def _check_names(v: tuple[str, ...]) -> tuple[str, ...]:
    for i, name in enumerate(v):
        if not name or len(name) > 200:
            raise ValueError(f"entry {i} must be a name of 1 to 200 characters")
    if len({n.lower() for n in v}) != len(v):
        raise ValueError("entries must not repeat")
    return v


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except RecursionError:  # a cyclic or very deep value
        text = "<deeply nested value>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_validation_error(exc: ValidationError) -> str:
    """One line for the first error: field path, bad value, what is allowed."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    msg = str(err.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    kind = err.get("type", "")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if kind == "extra_forbidden":
        return f"invalid spec: unknown field {loc!r}; allowed fields are listed by `eai schema`{more}"
    if kind == "missing":
        return f"invalid spec: field {loc!r} is required{more}"
    if not loc:
        return f"invalid spec: {msg}{more}"
    return f"invalid spec: field {loc!r} value {_short(err.get('input'))}: {msg}{more}"


def parse_spec(data: Any) -> Requirements:
    """Validate an already-decoded spec (a dict).

    Args:
        data: Decoded JSON value.

    Returns:
        The validated, frozen spec.

    Raises:
        SpecError: If the value is not a valid spec (one line naming the field).
    """
    if not isinstance(data, dict):
        raise SpecError(f"invalid spec: the document must be a JSON object, got {type(data).__name__}")
    bad = _non_finite_path(data)
    if bad is not None:
        raise SpecError(f"invalid spec: field {bad[0]!r} value {bad[1]!r}: numbers must be finite")
    try:
        # Through JSON in strict mode: JSON arrays become tuples, but "1" is not 1 and true is not 1.
        return Requirements.model_validate_json(json.dumps(data, allow_nan=False), strict=True)
    except ValueError as exc:  # NaN/Infinity in a Python value (json.dumps)
        if isinstance(exc, ValidationError):
            raise SpecError(_format_validation_error(exc)) from None
        raise SpecError(f"invalid spec: {exc}") from None
    except TypeError as exc:  # a Python value with no JSON form
        raise SpecError(f"invalid spec: {exc}") from None
    except ValidationError as exc:
        raise SpecError(_format_validation_error(exc)) from None
    except RecursionError:
        raise SpecError("invalid spec: the document is nested too deeply") from None


def parse_spec_text(text: str | bytes, source: str = "spec") -> Requirements:
    """Decode and validate a JSON spec document.

    Args:
        text: The document (str or UTF-8 bytes), at most :data:`MAX_SPEC_BYTES`.
        source: Where it came from, for messages (``stdin``, a file name).

    Returns:
        The validated, frozen spec.

    Raises:
        SpecError: Empty, over-large, non-UTF-8, malformed or invalid input.
    """
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"{source}: spec is larger than {MAX_SPEC_BYTES} bytes; a requirements spec is a small JSON object")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")  # a leading byte-order mark is harmless
        except UnicodeDecodeError as exc:
            raise SpecError(f"{source}: spec is not UTF-8 text (byte {exc.start})") from None
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_SPEC_BYTES:
        raise SpecError(f"{source}: spec is larger than {MAX_SPEC_BYTES} bytes; a requirements spec is a small JSON object")
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise SpecError(f"{source}: spec is empty; expected a JSON object such as {{\"tasks\": [\"gsm8k\"]}}")
    try:
        data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_KeyedObject.from_pairs)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{source}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise SpecError(f"{source}: JSON is nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity constants, integers beyond the digit limit
        raise SpecError(f"{source}: not valid JSON: {exc}") from None
    dup = _duplicate_key_path(data)
    if dup is not None:
        raise SpecError(
            f"{source}: invalid spec: field {dup!r} is given more than once; give each field once "
            "(JSON parsers disagree on which copy wins, so eai refuses instead of keeping the last)"
        )
    return parse_spec(data)


class _KeyedObject(dict):
    """A decoded JSON object that remembers the keys it saw more than once."""

    duplicates: tuple[str, ...] = ()

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _KeyedObject:
        obj = cls(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            obj.duplicates = tuple(k for k, _ in pairs if k in seen or seen.add(k))
        return obj


def _duplicate_key_path(data: Any, path: str = "", depth: int = 0) -> str | None:
    """Dotted path of the first key given twice in one object (``hardware.platforms``)."""
    if depth > 200:
        return None  # parse_spec reports the nesting
    if isinstance(data, _KeyedObject) and data.duplicates:
        return f"{path}.{data.duplicates[0]}" if path else data.duplicates[0]
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found = _duplicate_key_path(value, f"{path}.{key}" if path else str(key), depth + 1)
        if found is not None:
            return found
    return None


def _non_finite_path(data: Any, path: str = "", depth: int = 0) -> tuple[str, float] | None:
    """Dotted path and value of the first NaN/infinite number (``1e999`` decodes to inf)."""
    if depth > 200:
        return None  # json.dumps reports the nesting below
    if isinstance(data, float) and not math.isfinite(data):
        return path or "<document>", data
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, (list, tuple)) else ()
    for key, value in items:
        found = _non_finite_path(value, f"{path}.{key}" if path else str(key), depth + 1)
        if found is not None:
            return found
    return None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid number in a spec")


def _attribute_docs(cls: type) -> dict[str, str]:
    """Field descriptions from a class docstring's Google-style ``Attributes:`` section."""
    doc = cls.__doc__ or ""
    out: dict[str, str] = {}
    in_attrs, current = False, None
    for raw in doc.splitlines():
        line = raw.strip()
        if line == "Attributes:":
            in_attrs = True
            continue
        if not in_attrs:
            continue
        if not line:
            current = None
            continue
        name, sep, text = line.partition(":")
        if sep and name.isidentifier() and raw.startswith(" " * 8) and not raw.startswith(" " * 12):
            current = name
            out[name] = text.strip()
        elif current:
            out[current] += " " + line
    return out


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of :class:`Requirements`, as published by ``eai schema``.

    Field descriptions come from the models' ``Attributes:`` docstrings, so the
    schema and the code document the same thing.
    """
    schema = Requirements.model_json_schema(mode="validation")
    models = {m.__name__: m for m in (Requirements, Hardware, Models, TaskWeight, Accuracy, Serving, Economics)}
    for name, node in [("Requirements", schema), *schema.get("$defs", {}).items()]:
        docs = _attribute_docs(models[name]) if name in models else {}
        for field, prop in node.get("properties", {}).items():
            if field in docs and "description" not in prop:
                prop["description"] = docs[field]
    # The shorthand the validator accepts: "gsm8k" or ["gsm8k", {"id": "mmlu", "weight": 2}].
    tasks = schema["properties"]["tasks"]
    item = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 200}, tasks["items"]]}
    array = {k: v for k, v in tasks.items() if k not in ("description", "title")} | {"items": item}
    schema["properties"]["tasks"] = {
        "title": tasks["title"],
        "description": tasks.get("description", ""),
        "anyOf": [{"type": "string", "minLength": 1, "maxLength": 200}, array],
    }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://eai.invalid/schemas/requirements-v{SPEC_SCHEMA_VERSION}.json"
    return schema
