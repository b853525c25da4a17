"""Requirements spec: valid specs parse, every malformed input is one SpecError line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.errors import SpecError
from recommender.rules.spec import MAX_SPEC_BYTES, Requirements, parse_spec, parse_spec_text, spec_json_schema

ROOT = Path(__file__).resolve().parents[1]


def test_minimal_spec_fills_defaults() -> None:
    spec = parse_spec_text('{"tasks": ["gsm8k"]}')
    assert spec.scenario == "auto"
    assert spec.priority == "balanced"
    assert spec.objective is None
    assert spec.hardware.device_count is None and spec.serving.batch_size is None  # the decision flow picks them
    assert spec.allow_predicted is True
    assert spec.task_weights() == {"gsm8k": 1.0}


def test_full_spec_round_trips() -> None:
    doc = {
        "scenario": "edge",
        "hardware": {"platforms": ["rtx-4060-ti-16gb"], "device_count": 2, "power_cap_w": 150, "memory_limit_gb": 12},
        "models": {"families": ["qwen2.5"], "max_params_b": 8},
        "tasks": [{"id": "gsm8k", "weight": 3}, "mmlu"],
        "accuracy": {"min": 0.5, "min_relative_to_fp16": 0.98},
        "latency_s_max": 2.5,
        "throughput_qps_min": 0.1,
        "energy_wh_per_1k_max": 100,
        "priority": "energy",
        "objective": "cost",
        "serving": {"batch_size": 4, "context_tokens": 2048, "engines": ["hf-transformers"]},
        "economics": {"electricity_usd_per_kwh": 0.2, "carbon_g_per_kwh": 350, "pue": 1.3, "queries_per_day": 10000},
        "top_k": 3,
        "allow_predicted": False,
    }
    spec = parse_spec(doc)
    assert spec.task_weights() == {"gsm8k": 0.75, "mmlu": 0.25}
    again = parse_spec(spec.model_dump(mode="json"))
    assert again == spec


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"tasks": ["gsm8k"], "accuracy": {"min": 60}}, "accuracy.min is 60.0, above 1"),
        ({"tasks": ["gsm8k"], "objective": "cost"}, "economics.electricity_usd_per_kwh"),
        ({"tasks": ["gsm8k"], "objective": "carbon"}, "economics.carbon_g_per_kwh"),
        ({"tasks": ["gsm8k"], "colour": "red"}, "unknown field 'colour'"),
        ({"tasks": ["gsm8k"], "hardware": {"gpus": 2}}, "unknown field 'hardware.gpus'"),
        ({"tasks": ["gsm8k"], "hardware": {"device_count": 0}}, "'hardware.device_count' value 0"),
        ({"tasks": ["gsm8k"], "priority": "speed"}, "'priority' value 'speed'"),
        ({"tasks": ["gsm8k"], "top_k": "3"}, "'top_k' value '3'"),
        ({"tasks": ["gsm8k"], "top_k": True}, "'top_k' value True"),
        ({"tasks": ["gsm8k"], "allow_predicted": 1}, "'allow_predicted' value 1"),
        ({"tasks": []}, "'tasks'"),
        ({}, "field 'tasks' is required"),
        ({"tasks": ["gsm8k", "GSM8K"]}, "listed more than once"),
        ({"tasks": [{"id": "gsm8k", "weight": 0}]}, "'tasks.0.weight' value 0"),
        ({"tasks": ["gsm8k"], "models": {"min_params_b": 9, "max_params_b": 3}}, "min_params_b (9.0) is above"),
        ({"tasks": ["gsm8k"], "economics": {"pue": 0.5}}, "'economics.pue' value 0.5"),
        ({"tasks": ["gsm8k"], "serving": {"engines": ["ollama"]}}, "'serving.engines.0' value 'ollama'"),
        ({"tasks": ["gsm8k"], "hardware": {"platforms": ["a100", "A100"]}}, "must not repeat"),
        ({"tasks": ["gsm8k"], "accuracy": {"min": 0.5, "min_confidence": 0.99}}, "'accuracy.min_confidence' value 0.99"),
        ({"tasks": ["gsm8k"], "accuracy": {"min": 0.5, "min_confidence": 0.3}}, "'accuracy.min_confidence' value 0.3"),
    ],
)
def test_invalid_specs_name_the_field(doc: dict, needle: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(doc)
    msg = str(err.value)
    assert needle in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "spec is empty"),
        ("   \n", "spec is empty"),
        ("{", "not valid JSON at line 1"),
        ('{"tasks": ["gsm8k"],}', "not valid JSON"),
        ("[1, 2]", "must be a JSON object, got list"),
        ('"gsm8k"', "must be a JSON object, got str"),
        ('{"tasks": ["gsm8k"], "top_k": NaN}', "NaN is not a valid number"),
        ('{"tasks": ["gsm8k"], "latency_s_max": 1e999}', "'latency_s_max'"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"tasks": ["gsm8k"], "top_k": ' + "9" * 5000 + "}", "not valid JSON"),
    ],
)
def test_malformed_documents(text: str, needle: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec_text(text)
    assert needle in str(err.value)


def test_byte_order_mark_is_accepted() -> None:
    assert parse_spec_text(b'\xef\xbb\xbf{"tasks": ["gsm8k"]}').tasks[0].id == "gsm8k"
    assert parse_spec_text('\ufeff{"tasks": ["gsm8k"]}').tasks[0].id == "gsm8k"


def test_oversized_and_binary_input() -> None:
    big = '{"tasks": ["gsm8k"], "pad": "' + "x" * MAX_SPEC_BYTES + '"}'
    with pytest.raises(SpecError, match="larger than"):
        parse_spec_text(big)
    with pytest.raises(SpecError, match="not UTF-8"):
        parse_spec_text(b'{"tasks": ["\xff\xfe"]}')


def test_published_schema_is_committed_and_current() -> None:
    committed = json.loads((ROOT / "schemas" / "requirements.schema.json").read_text(encoding="utf-8"))
    assert committed == spec_json_schema()
    assert committed["additionalProperties"] is False
    assert "tasks" in committed["required"]


# --- property-based: arbitrary and adversarial input never escapes as anything but SpecError ---

_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
)
_json = st.recursive(
    _json_leaf,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
_field_names = st.sampled_from(
    ["scenario", "hardware", "models", "tasks", "accuracy", "latency_s_max", "throughput_qps_min",
     "energy_wh_per_1k_max", "priority", "objective", "serving", "economics", "top_k", "allow_predicted",
     "schema_version", "platforms", "device_count", "min", "weight", "id"]
)
_spec_like = st.dictionaries(_field_names, _json, max_size=8)


def _parses_or_spec_error(value: object) -> None:
    try:
        spec = parse_spec(value)
    except SpecError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg
        assert "Traceback" not in msg
    else:
        assert isinstance(spec, Requirements)
        assert parse_spec(spec.model_dump(mode="json")) == spec


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_any_json_value_is_spec_or_spec_error(value: object) -> None:
    _parses_or_spec_error(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_spec_like)
def test_spec_shaped_dicts_are_spec_or_spec_error(value: dict) -> None:
    _parses_or_spec_error(value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_spec_or_spec_error(data: bytes) -> None:
    try:
        parse_spec_text(data)
    except SpecError as exc:
        assert "\n" not in str(exc)


_valid_spec = st.fixed_dictionaries(
    {"tasks": st.lists(st.sampled_from(["gsm8k", "mmlu", "arc", "hellaswag"]), min_size=1, max_size=4, unique=True)},
    optional={
        "scenario": st.sampled_from(["data-center", "enterprise", "edge", "auto"]),
        "priority": st.sampled_from(["accuracy", "energy", "latency", "balanced", "flexibility"]),
        "latency_s_max": st.floats(min_value=1e-3, max_value=1e3),
        "accuracy": st.fixed_dictionaries({"min": st.floats(min_value=0, max_value=1)}),
        "top_k": st.integers(min_value=1, max_value=50),
    },
)


@settings(max_examples=150, deadline=None)
@given(_valid_spec, st.sampled_from(["top_k", "latency_s_max", "priority", "scenario", "tasks", "accuracy"]), _json)
def test_one_corrupted_field_is_named(doc: dict, key: str, bad: object) -> None:
    """Replace one field of a valid spec with junk: either still valid, or the error names that field."""
    doc = dict(doc)
    doc[key] = bad
    try:
        parse_spec(doc)
    except SpecError as exc:
        assert key in str(exc)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"tasks": ["mmlu"], "tasks": ["gsm8k"]}', "tasks"),
        ('{"tasks": ["mmlu"], "hardware": {"platforms": ["h100"], "platforms": ["l4"]}}', "hardware.platforms"),
        ('{"tasks": [{"id": "mmlu", "weight": 1, "weight": 2}]}', "tasks.0.weight"),
    ],
)
def test_duplicate_keys_are_an_error_naming_the_key(text: str, path: str) -> None:
    """JSON leaves duplicate keys undefined and Python keeps the last: a spec refuses them."""
    with pytest.raises(SpecError, match=rf"field '{path}' is given more than once"):
        parse_spec_text(text, source="spec.json")
