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
