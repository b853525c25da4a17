"""Pieces several ``eai`` commands share: reading a spec file or stdin, and strict JSON output.

Light on purpose: the spec parser is imported inside :func:`read_spec`, so a command module
that imports this one stays fast to load.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from recommender.errors import InvalidInputError, SpecError


def read_spec(source: str):
    """A validated requirements spec from a JSON file or ``-`` (stdin).

    At most ``MAX_SPEC_BYTES`` (+1, so that the parser can tell an oversized stream) are read.

    Raises:
        SpecError: The file is larger than the limit, or the spec is invalid (names the field).
        InvalidInputError: The file cannot be read (names it and the OS reason).
    """
    from recommender.rules.spec import MAX_SPEC_BYTES, parse_spec_text

    if source == "-":
        return parse_spec_text(sys.stdin.buffer.read(MAX_SPEC_BYTES + 1), source="stdin")
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"{source}: spec is {size} bytes, larger than the {MAX_SPEC_BYTES}-byte limit")
        with path.open("rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise InvalidInputError(f"cannot read spec file {source!r}: {exc.strerror or exc}") from None
    return parse_spec_text(data, source=source)


def json_safe(obj: Any) -> Any:
    """``obj`` with non-finite floats as None, NumPy scalars as Python ones and keys as strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # NumPy scalar
        return json_safe(obj.item())
    return obj


def json_text(doc: dict[str, Any]) -> str:
    """``doc`` as indented strict JSON (no NaN or Infinity), ending in a newline."""
    return json.dumps(json_safe(doc), indent=2, allow_nan=False) + "\n"


def read_json_document(path: Path, what: str) -> Any:
    """An earlier JSON output of eai (``--since``), or an InvalidInputError naming ``what`` and the path."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read {what} {str(path)!r}: {exc}") from None


@contextlib.contextmanager
def pandas_object_strings() -> Iterator[None]:
    """Within the block, pandas infers plain ``object`` columns for strings (pandas 2's
    default), and the caller's setting is restored after it.

    Why: pandas 3 stores every string column it infers as Arrow strings, and the model layer
    makes many small frames (1,078 training rows, refitted 94 times by ``eai evaluate``):
    each ``take``, ``factorize`` or row iteration on an Arrow column costs a call into Arrow.
    Measured here (2 cores, pandas 3.1.1, ``bench/evaluate_speed.py`` and ``time``):
    ``eai evaluate`` 131.5 -> 115.1 CPU s (70.1 -> 62.5 s wall), ``eai fit`` 18.4-20.5 ->
    16.1-17.1 user s, with the same fitted state, evaluation figures and ``eai recommend``
    answer (which gains nothing measurable: its time is elsewhere). pandas marks the option deprecated (it goes in pandas 4,
    and the speed with it); where it does not exist the block runs with pandas' own default.
    """
    import warnings

    import pandas as pd

    option = "future.infer_string"
    with warnings.catch_warnings():
        # The option itself warns that pandas 4 removes it: known, and said above.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            before = pd.get_option(option)
        except pd.errors.OptionError:  # pandas 4: the option is gone, Arrow strings always
            before = None
        if before is not None:
            pd.set_option(option, False)
    try:
        yield
    finally:
        if before is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                pd.set_option(option, before)
