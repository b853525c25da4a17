"""recommender.cli.common: the spec reader, the strict JSON writer and the --since reader that
`eai recommend`, `eai plan` and `eai verify` share."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from recommender.cli.common import json_safe, json_text, read_json_document, read_spec
from recommender.errors import InvalidInputError, SpecError
from recommender.rules.spec import MAX_SPEC_BYTES


def test_read_spec_from_file_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "spec.json"
    good.write_text('{"tasks": ["gsm8k"], "priority": "energy"}', encoding="utf-8")
    spec = read_spec(str(good))
    assert spec.priority == "energy" and [t.id for t in spec.tasks] == ["gsm8k"]
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_SPEC_BYTES + 1))
    with pytest.raises(SpecError, match=rf"{MAX_SPEC_BYTES + 1} bytes, larger than the {MAX_SPEC_BYTES}-byte limit"):
        read_spec(str(big))
    with pytest.raises(InvalidInputError, match="cannot read spec file .*missing.json"):
        read_spec(str(tmp_path / "missing.json"))


def test_json_text_is_strict_json_with_numpy_and_non_finite_values() -> None:
    doc = {"a": math.nan, "b": [np.float64(1.5), (np.int64(2), math.inf)], 3: {"c": "x"}}
    assert json_safe(doc) == {"a": None, "b": [1.5, [2, None]], "3": {"c": "x"}}
    text = json_text(doc)
    assert text.endswith("}\n") and json.loads(text) == {"a": None, "b": [1.5, [2, None]], "3": {"c": "x"}}


def test_read_json_document_names_what_and_where(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text('{"pick": "x"}', encoding="utf-8")
    assert read_json_document(path, "earlier plan") == {"pick": "x"}
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"cannot read earlier plan '.*old.json'"):
        read_json_document(path, "earlier plan")


def _infers_object() -> bool:
    import pandas as pd

    return pd.Series(["a", "b"]).dtype == object


def test_pandas_object_strings_applies_inside_and_restores_after() -> None:
    import pandas as pd

    from recommender.cli.common import pandas_object_strings

    if "infer_string" not in dir(pd.options.future):
        pytest.skip("this pandas has no future.infer_string option (pandas 4: Arrow strings always)")
    before = _infers_object()
    with pandas_object_strings():
        assert _infers_object()
    assert _infers_object() == before
    with pytest.raises(RuntimeError), pandas_object_strings():
        raise RuntimeError("restored on the way out of an error too")
    assert _infers_object() == before


def test_table_commands_run_with_object_strings_catalog_commands_do_not(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import contextlib

    import recommender.cli.common as common
    from recommender.cli import main

    seen: list[str] = []
    real = common.pandas_object_strings

    @contextlib.contextmanager
    def spy():  # type: ignore[no-untyped-def]
        with real():
            seen.append("in")
            yield
        seen.append("out")

    monkeypatch.setattr(common, "pandas_object_strings", spy)
    before = _infers_object()
    assert main(["data", "show", "--source", "mlenergy-v3", "--platform", "b200", "--limit", "1", "--json"]) == 0
    assert seen == ["in", "out"] and _infers_object() == before
    seen.clear()
    assert main(["platforms"]) == 0 and main(["version"]) == 0
    assert seen == []
    capsys.readouterr()


def test_every_requirement_flag_sets_a_field_of_the_spec() -> None:
    import typing

    from pydantic import BaseModel

    from recommender.cli.spec_flags import FLAGS
    from recommender.rules.spec import Requirements

    def model_of(annotation):  # type: ignore[no-untyped-def]
        for arg in (annotation, *typing.get_args(annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
        return None

    assert len({f.name for f in FLAGS}) == len(FLAGS) and len({f.field for f in FLAGS}) == len(FLAGS)
    for flag in FLAGS:
        model = Requirements
        *inner, last = flag.field.split(".")
        for part in inner:
            model = model_of(model.model_fields[part].annotation)
            assert model is not None, flag.field
        assert last in model.model_fields, f"--{flag.name}: the spec has no field {flag.field!r}"


def test_requirement_flags_lay_given_values_over_a_spec_and_leave_the_rest() -> None:
    from recommender.cli.spec_flags import FLAGS, RequirementFlags

    unset = {f.name: f.default for f in FLAGS}
    assert RequirementFlags(unset).spec_data({"tasks": ["mmlu"]}) == {"tasks": ["mmlu"]}
    base = {"tasks": ["mmlu"], "accuracy": {"min_relative_to_fp16": 0.98}}
    flags = RequirementFlags({**unset, "min_accuracy": 0.6, "task": ["gsm8k:3"], "engine_version": ["vllm=v0.11.1"], "chance_adjusted": True})
    assert flags.spec_data(base) == {
        "tasks": [{"id": "gsm8k", "weight": 3.0}],
        "accuracy": {"min_relative_to_fp16": 0.98, "min": 0.6, "chance_adjusted": True},
        "serving": {"engine_versions": {"vllm": "v0.11.1"}},
    }
    assert base == {"tasks": ["mmlu"], "accuracy": {"min_relative_to_fp16": 0.98}}  # the spec's own fields untouched
    for name, value, needle in (
        ("priority", "fast", "invalid --priority 'fast': allowed are accuracy"),
        ("task", ["gsm8k:x"], "weight 'x' is not a number"),
        ("task", ["gsm8k:-1"], "weight must be a positive number"),
        ("engine_version", ["vllm"], "use ENGINE=VERSION"),
    ):
        with pytest.raises(SpecError, match=needle):
            RequirementFlags({**unset, name: value}).spec_data()


def test_a_command_cannot_declare_a_requirement_flag_twice() -> None:
    from recommender.cli.spec_flags import with_requirement_flags

    def command(requirements, scenario: str = "x") -> None:  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(TypeError, match=r"declares requirement flags itself: \['scenario'\]"):
        with_requirement_flags(command)
