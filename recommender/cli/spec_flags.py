"""The requirement flags of a spec, declared once for every command that asks the question.

``eai recommend`` answers a question and ``eai plan`` says which measurement would settle it;
both take the same requirement flags (``--min-accuracy``, ``--max-latency``, ``--workload``,
``--queries-per-day`` ...), so the plan is made for the very question the answer was given for.
Each flag is one :class:`Flag`: its option, and the spec field it sets (a dotted path of
:class:`recommender.rules.spec.Requirements`). :func:`with_requirement_flags` adds them all to
a Typer command; the command gets them back as one :class:`RequirementFlags`, which lays them
over a spec file's fields (:meth:`RequirementFlags.spec_data`).

Light on purpose (no pandas, no spec parser at import): command modules import it at start-up.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import typer

from recommender.errors import SpecError

PRIORITIES = ("accuracy", "energy", "latency", "balanced", "flexibility")
OBJECTIVES = ("eor", "tweor", "energy", "cost", "carbon")
SCENARIOS = ("data-center", "enterprise", "edge", "auto")


def parse_task(text: str) -> dict[str, Any]:
    """``gsm8k`` or ``gsm8k:2`` (weight after the colon) as a spec task entry."""
    name, sep, weight = text.rpartition(":")
    if not sep:
        return {"id": text}
    try:
        w = float(weight)
    except ValueError:
        raise SpecError(f"invalid --task {text!r}: weight {weight!r} is not a number (use TASK or TASK:WEIGHT)") from None
    if not math.isfinite(w) or w <= 0:
        raise SpecError(f"invalid --task {text!r}: weight must be a positive number")
    return {"id": name, "weight": w}


def parse_engine_versions(items: list[str]) -> dict[str, str]:
    """``["vllm=0.11.1"]`` -> ``{"vllm": "0.11.1"}`` (the spec validates names and releases)."""
    out: dict[str, str] = {}
    for text in items:
        name, sep, version = text.partition("=")
        if not sep or not name or not version:
            raise SpecError(f"invalid --engine-version {text!r}: use ENGINE=VERSION, e.g. vllm=0.11.1")
        out[name.strip()] = version.strip()
    return out


def set_dotted(d: dict[str, Any], dotted: str, value: Any) -> None:
    """``d["a"]["b"] = value`` for ``dotted="a.b"`` (creating the inner dicts)."""
    parts = dotted.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def _one_of(allowed: tuple[str, ...], flag: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise SpecError(f"invalid {flag} {value!r}: allowed are {', '.join(allowed)}")
        return value

    return check


@dataclass(frozen=True)
class Flag:
    """One requirement flag.

    Attributes:
        name: Parameter name the command receives it under.
        field: Dotted spec field it sets.
        annotation: Its Typer declaration (``Annotated[type, typer.Option(...)]``).
        default: Value when not given (None, an empty list, or False): the spec field is left
            unset, so a spec file's value (or the flow's default) stands.
        convert: Turns a given value into the spec's (validates choices, parses ``TASK:WEIGHT``).
    """

    name: str
    field: str
    annotation: Any
    default: Any = None
    convert: Callable[[Any], Any] | None = None

    def spec_value(self, value: Any) -> Any:
        """The spec field's value for the flag's ``value``; None where the flag was not given."""
        if value is None or value is False or (isinstance(value, list) and not value):
            return None
        return self.convert(value) if self.convert is not None else value


def _opt(kind: Any, *names: str, help: str) -> Any:  # noqa: A002 (typer's own keyword)
    return Annotated[kind, typer.Option(*names, help=help)]


FLAGS: tuple[Flag, ...] = (
    Flag("scenario", "scenario", _opt(Optional[str], "--scenario", help=" | ".join(SCENARIOS)), convert=_one_of(SCENARIOS, "--scenario")),
    Flag("platform", "hardware.platforms", _opt(list[str], "--platform", "-p", help="Candidate platform (repeatable)."), default=[], convert=list),
    Flag("device_count", "hardware.device_count", _opt(Optional[int], "--devices", help="Devices per deployment.")),
    Flag("power_cap", "hardware.power_cap_w", _opt(Optional[float], "--power-cap", help="Per-device power cap, W.")),
    Flag("memory_limit", "hardware.memory_limit_gb", _opt(Optional[float], "--memory-limit", help="Usable memory per device, GB.")),
    Flag("model", "models.ids", _opt(list[str], "--model", "-m", help="Candidate model id/alias (repeatable)."), default=[], convert=list),
    Flag("family", "models.families", _opt(list[str], "--family", help="Allowed model family (repeatable)."), default=[], convert=list),
    Flag("max_params", "models.max_params_b", _opt(Optional[float], "--max-params", help="Largest model, billions of parameters.")),
    Flag("task", "tasks", _opt(list[str], "--task", "-t", help="Task, optionally TASK:WEIGHT (repeatable)."), default=[],
         convert=lambda items: [parse_task(t) for t in items]),
    Flag("min_accuracy", "accuracy.min", _opt(Optional[float], "--min-accuracy", help="Absolute accuracy floor in [0, 1].")),
    Flag("min_relative", "accuracy.min_relative_to_fp16",
         _opt(Optional[float], "--min-relative-accuracy", help="Floor relative to the same model at fp16, e.g. 0.98.")),
    Flag("chance_adjusted", "accuracy.chance_adjusted",
         _opt(bool, "--chance-adjusted", help="Apply --min-accuracy to (score - chance) / (1 - chance)."), default=False),
    Flag("min_confidence", "accuracy.min_confidence", _opt(
        Optional[float], "--min-accuracy-confidence",
        help="Probability in [0.5, 0.95] with which the accuracy floors (--min-accuracy, and the one relative to fp16) "
        "must hold, from each score's 90%% interval (default: the point prediction must reach them).")),
    Flag("max_latency", "latency_s_max", _opt(Optional[float], "--max-latency", help="Latency limit, s per query.")),
    Flag("min_throughput", "throughput_qps_min", _opt(Optional[float], "--min-throughput", help="Throughput floor, queries/s.")),
    Flag("max_energy", "energy_wh_per_1k_max", _opt(Optional[float], "--max-energy", help="Energy budget, Wh per 1,000 queries.")),
    Flag("priority", "priority", _opt(Optional[str], "--priority", help=" | ".join(PRIORITIES)), convert=_one_of(PRIORITIES, "--priority")),
    Flag("objective", "objective", _opt(Optional[str], "--objective", help=" | ".join(OBJECTIVES)), convert=_one_of(OBJECTIVES, "--objective")),
    Flag("batch_size", "serving.batch_size", _opt(Optional[int], "--batch-size", help="Concurrent sequences.")),
    Flag("context", "serving.context_tokens", _opt(Optional[int], "--context", help="KV-cache tokens per sequence.")),
    Flag("workload", "serving.workload", _opt(
        Optional[str], "--workload",
        help="Traffic served (e.g. lm-arena-chat): energy, time and concurrency priced on it; accuracy from --task.")),
    Flag("prompt_tokens", "serving.prompt_tokens", _opt(Optional[float], "--prompt-tokens", help="Prompt tokens per query of --workload.")),
    Flag("output_tokens", "serving.output_tokens", _opt(Optional[float], "--output-tokens", help="Output tokens per query of --workload.")),
    Flag("engine", "serving.engines", _opt(list[str], "--engine", help="Allowed serving engine (repeatable)."), default=[], convert=list),
    Flag("engine_version", "serving.engine_versions", _opt(
        list[str], "--engine-version",
        help="Release an engine runs at, ENGINE=VERSION, e.g. vllm=0.11.1 or its git tag vllm=v0.11.1 (repeatable)."),
        default=[], convert=parse_engine_versions),
    Flag("price", "economics.electricity_usd_per_kwh", _opt(Optional[float], "--price", help="Electricity price, $/kWh.")),
    Flag("carbon", "economics.carbon_g_per_kwh", _opt(Optional[float], "--carbon", help="Grid carbon intensity, gCO2e/kWh.")),
    Flag("pue", "economics.pue", _opt(Optional[float], "--pue", help="Power usage effectiveness (>= 1).")),
    Flag("queries_per_day", "economics.queries_per_day", _opt(Optional[float], "--queries-per-day", help="Expected load.")),
)
"""Every requirement flag, in the order ``--help`` lists them."""


@dataclass(frozen=True)
class RequirementFlags:
    """The requirement flags a command was given (``values``: parameter name -> value)."""

    values: Mapping[str, Any]

    def spec_data(self, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``base`` (a spec's fields, as set) with every given flag laid over it.

        Raises:
            SpecError: A flag's value is not allowed (names the flag and the allowed values).
        """
        data: dict[str, Any] = copy.deepcopy(dict(base or {}))
        for flag in FLAGS:
            value = flag.spec_value(self.values[flag.name])
            if value is not None:
                set_dotted(data, flag.field, value)
        return data


def read_requirements(source: str | None, flags: RequirementFlags, **fields: Any) -> Any:
    """The spec a command asks: ``source`` (a file, ``-`` for stdin, or None), the requirement
    ``flags`` laid over it, then the command's own ``fields`` that are not None (``top_k``...).

    Returns:
        The validated :class:`recommender.rules.spec.Requirements`.

    Raises:
        SpecError: No task anywhere, a flag's value is not allowed, or the spec is invalid.
    """
    from recommender.cli.common import read_spec
    from recommender.rules.spec import parse_spec

    data = flags.spec_data(read_spec(source).model_dump(mode="json", exclude_unset=True) if source is not None else None)
    data.update({k: v for k, v in fields.items() if v is not None})
    if "tasks" not in data:
        raise SpecError("no task given: pass --task TASK (repeatable) or a spec with \"tasks\"")
    return parse_spec(data)


def with_requirement_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a Typer command every flag of :data:`FLAGS`, collected into its ``requirements``
    parameter (a :class:`RequirementFlags`).

    The command's positional arguments come first in ``--help``, then the requirement flags,
    then its own options. Annotations are resolved in the command's own module (which may
    use ``from __future__ import annotations``), so Typer reads real types.
    """
    hints = typing.get_type_hints(command, include_extras=True)
    own = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in inspect.signature(command).parameters.values() if p.name != "requirements"]
    clash = {p.name for p in own} & {f.name for f in FLAGS}
    if clash:
        raise TypeError(f"{command.__name__} declares requirement flags itself: {sorted(clash)}")
    added = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.annotation) for f in FLAGS]
    arguments = [p for p in own if isinstance(p.default, typer.models.ArgumentInfo)]
    options = [p for p in own if p not in arguments]
    params = [*arguments, *added, *options]
    # Keyword-only where a flag follows a defaulted positional (inspect's ordering rule);
    # Typer passes every parameter by name.
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        flags = RequirementFlags({f.name: kwargs.pop(f.name) for f in FLAGS})
        return command(requirements=flags, **kwargs)

    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # Typer must read this signature, not the command's
    return wrapper
