"""The shared width-aware table renderer (recommender.termtable)."""

from __future__ import annotations

import pytest

from recommender.termtable import Column, render_table, terminal_width, wrap_cell, wrap_paragraph

NAMES = ["meta-llama/Llama-3.1-8B-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", "Qwen/Qwen2.5-72B-Instruct"]


def _table(width: int, **kw) -> str:
    cols = [
        Column("model"),
        Column("energy [90%]", breaks=""),
        Column("time", breaks=""),
        Column("notes", drop_order=2),
        Column("extra", drop_order=1),
    ]
    rows = [[n, "12.3 [4.56-78.9]", "0.123 [0.0456-0.789]", "extrapolated (platform-unseen)", "x" * 12] for n in NAMES]
    return render_table(cols, rows, width=width, **kw)


@pytest.mark.parametrize("width", [50, 60, 80, 100, 200])
def test_lines_fit_and_have_no_trailing_spaces(width: int) -> None:
    text = _table(width, title="a title that is long enough to wrap at the narrowest widths we try here")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert all(line == line.rstrip() for line in lines)


def test_names_wrap_at_word_boundaries_not_into_fragments() -> None:
    text = _table(60)
    # every piece of a wrapped name ends at '-' or '/' or the name's end: no "Llam" / "a-3."
    body = text.split("(left out")[0].splitlines()[2:]
    pieces = [line.split("  ")[0] for line in body if line.strip()]
    joined = "".join(p.strip() for p in pieces)
    for name in NAMES:
        assert name in joined
    assert all(p.strip().endswith(("-", "/")) or any(n.endswith(p.strip()) for n in NAMES) for p in pieces if p.strip())


def test_intervals_stay_whole() -> None:
    text = _table(60)
    assert "[4.56-78.9]" in text
    assert "[0.0456-0.789]" in text


def test_least_important_columns_are_dropped_first_and_named() -> None:
    text = _table(60)
    header = text.splitlines()[0]
    assert "notes" not in header and "extra" in header  # notes has the higher drop_order
    assert "left out to fit 60 columns: notes;" in text
    assert "left out to fit 50 columns: notes, extra;" in _table(50)
    wide = _table(200)
    assert "left out" not in wide and "notes" in wide.splitlines()[0]


def test_natural_width_when_it_fits() -> None:
    text = render_table([Column("a"), Column("b", align="right")], [["x", "1"], ["yy", "22"]], width=80)
    assert text == "a    b\n--  --\nx    1\nyy  22\n"


def test_wrap_cell_breaks_after_hyphen_and_keeps_it() -> None:
    assert wrap_cell("meta-llama/Llama-3.1-8B-Instruct", 14) == ["meta-llama/", "Llama-3.1-8B-", "Instruct"]
    assert wrap_cell("0.5 [0.1-0.9]", 9, breaks="") == ["0.5", "[0.1-0.9]"]


def test_wrap_paragraph_hanging_indent() -> None:
    lines = wrap_paragraph("word " * 30, 40, indent="  - ")
    assert lines[0].startswith("  - ") and all(line.startswith("    ") for line in lines[1:])
    assert max(map(len, lines)) <= 40


def test_width_from_columns_env_else_80_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setenv("COLUMNS", "123")
    assert terminal_width(io.StringIO()) == 123
    monkeypatch.delenv("COLUMNS")
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert terminal_width(io.StringIO()) == 80
