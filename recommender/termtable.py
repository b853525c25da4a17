"""Plain-text tables and paragraphs that fit the reader's terminal.

Shared by every ``eai`` command that prints a table (``recommend``, ``predict``, the
catalogs). The layout is computed here, not by rich, so that it is the same on a
terminal, through a pipe and in a file:

- The width is ``$COLUMNS`` if set, else the terminal that stdout (or, when stdout is
  piped, stderr) is attached to, else 80. ``eai recommend ... | cat`` on a 100-column
  terminal is laid out for 100 columns; ``> file`` in a script gets 80.
- Cells wrap at word boundaries (spaces, and after ``-``, ``/``, ``_``, ``,``), so a model
  name becomes ``Llama-3.1-8B-`` / ``Instruct``, never ``Llam`` / ``a-3.`` ...
- When the columns cannot fit even wrapped, the least important ones (highest
  ``Column.drop_order``) are left out and a note names them.
- No line ends in spaces, and nothing is padded to a fixed width.

Only the standard library is used: this module sits under every layer.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TextIO

DEFAULT_WIDTH = 80
"""Width used when neither ``$COLUMNS`` nor a terminal says otherwise."""

MIN_WIDTH = 40
"""Narrowest layout attempted; below it lines simply run long."""

GAP = "  "
"""Space between two columns."""

_BREAK_AFTER = "-/_,"
"""Characters a cell may break after (kept at the end of the line)."""


@dataclass(frozen=True)
class Column:
    """One table column.

    Attributes:
        header: Column title (wraps at spaces like a cell).
        align: ``left`` or ``right`` (numbers).
        drop_order: 0 = never dropped; among the others the highest goes first when
            the table cannot fit the width.
        wrap: Whether cells may break across lines; a column that may not keeps its
            natural width (short codes, ranks).
        breaks: Characters a cell may break after, besides spaces: names break after
            ``-`` and ``/``; numeric columns set ``""`` so that ``[0.41-0.65]`` stays whole.
        min_width: Narrowest the column may wrap to (up to its natural width); a prose
            column below it is more noise than help, so the column is left out first.
    """

    header: str
    align: Literal["left", "right"] = "left"
    drop_order: int = 0
    wrap: bool = True
    breaks: str = _BREAK_AFTER
    min_width: int = 0


def terminal_width(stream: TextIO | None = None) -> int:
    """Columns available to the reader.

    Args:
        stream: Output stream (default ``sys.stdout``).

    Returns:
        ``$COLUMNS`` when it is a positive integer; else the width of the terminal the
        stream (or stderr, when the stream is piped) is attached to; else
        :data:`DEFAULT_WIDTH`.
    """
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    for s in (stream or sys.stdout, sys.stderr):
        try:
            if s.isatty():
                return os.get_terminal_size(s.fileno()).columns or DEFAULT_WIDTH
        except (AttributeError, OSError, ValueError):
            continue
    return DEFAULT_WIDTH


def _tokens(text: str, breaks: str = _BREAK_AFTER) -> list[str]:
    """Split a cell into pieces that may end a line: words keep a trailing break character."""
    out: list[str] = []
    for word in text.split(" "):
        if not word:
            continue
        start = 0
        for i, ch in enumerate(word):
            if ch in breaks and i + 1 < len(word):
                out.append(word[start : i + 1])
                start = i + 1
        out.append(word[start:])
        out[-1] += " "  # a word boundary: a space joins it to the next piece
    if out:
        out[-1] = out[-1].rstrip(" ")
    return out


def wrap_cell(text: str, width: int, breaks: str = _BREAK_AFTER) -> list[str]:
    """Lines of ``text`` no wider than ``width``, broken at spaces and after ``-/_,``.

    A piece longer than ``width`` on its own is split hard (only when the column is
    narrower than its longest word, which :func:`render_table` avoids).
    """
    lines: list[str] = []
    for para in str(text).split("\n"):
        if len(para) <= width:
            lines.append(para)
            continue
        line = ""
        for piece in _tokens(para, breaks):
            if len((line + piece).rstrip()) <= width:
                line += piece
                continue
            if line.strip():
                lines.append(line.rstrip())
            line = piece
            while len(line.rstrip()) > width:
                lines.append(line[:width])
                line = line[width:]
        if line.strip() or not lines:
            lines.append(line.rstrip())
    return lines or [""]


def _longest_piece(text: str, breaks: str) -> int:
    return max((len(p.rstrip()) for line in str(text).split("\n") for p in _tokens(line, breaks)), default=0)


def _natural(text: str) -> int:
    return max((len(line) for line in str(text).split("\n")), default=0)


def _layout(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> tuple[list[int], list[int]]:
    """Indices of the columns kept and their widths."""
    keep = list(range(len(columns)))
    cells = [[str(r[i]) for r in rows] for i in range(len(columns))]
    natural = [max([_natural(columns[i].header), *map(_natural, cells[i])]) for i in keep]
    least = [
        max(
            min(columns[i].min_width, natural[i]),
            *(_longest_piece(t, columns[i].breaks) for t in (columns[i].header, *cells[i])),
        )
        if columns[i].wrap
        else natural[i]
        for i in keep
    ]

    def total(idx: list[int], ws: list[int]) -> int:
        return sum(ws[i] for i in idx) + len(GAP) * (len(idx) - 1)

    if total(keep, natural) <= width:
        return keep, [natural[i] for i in keep]
    while total(keep, least) > width and any(columns[i].drop_order for i in keep):
        victim = max((i for i in keep if columns[i].drop_order), key=lambda i: (columns[i].drop_order, i))
        keep.remove(victim)
    widths = {i: least[i] for i in keep}
    if total(keep, natural) <= width:
        return keep, [natural[i] for i in keep]
    spare = width - total(keep, least)
    # Hand out the spare columns where they shorten the table most: at each step, every
    # column may widen to its next width at which its cells need fewer lines; the move
    # that saves the most rendered lines (row heights, header included) per column wins.
    memo: dict[tuple[int, int], list[int]] = {}

    def heights(i: int, w: int) -> list[int]:
        if (i, w) not in memo:
            memo[i, w] = [len(wrap_cell(t, w, columns[i].breaks)) for t in (columns[i].header, *cells[i])]
        return memo[i, w]

    def table_height(ws: dict[int, int]) -> int:
        per = [heights(i, ws[i]) for i in keep]
        return sum(max(h[r] for h in per) for r in range(len(rows) + 1))

    height = table_height(widths)
    while spare > 0:
        best: tuple[float, float, int, int] | None = None
        for i in keep:
            if widths[i] >= natural[i]:
                continue
            lines = sum(heights(i, widths[i]))
            for step in range(1, min(spare, natural[i] - widths[i]) + 1):
                fewer = lines - sum(heights(i, widths[i] + step))
                if fewer > 0:
                    saved = height - table_height({**widths, i: widths[i] + step})
                    score = (saved / step, fewer / step, -i, step)
                    if best is None or score > best:
                        best = score
                    break
        if best is None:
            break
        i, step = -best[2], best[3]
        widths[i] += step
        spare -= step
        height = table_height(widths)
    return keep, [widths[i] for i in keep]


def render_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[object]],
    width: int | None = None,
    title: str | None = None,
    separate_rows: bool | None = None,
) -> str:
    """The table as text, fitted to ``width``.

    Args:
        columns: Column definitions, left to right.
        rows: Cell values (``str()`` is applied); each row as long as ``columns``.
        width: Target line width; default :func:`terminal_width`.
        title: Optional title, wrapped to the width above the table.
        separate_rows: Blank line between rows; None: only when some row spans several
            lines (long lists whose first column starts each row may pass False).

    Returns:
        Lines joined by newlines (with a trailing newline), none ending in a space; a
        last line names the columns left out, if any.
    """
    width = max(width or terminal_width(), MIN_WIDTH)
    text_rows = [[str(c) for c in r] for r in rows]
    for r in text_rows:
        if len(r) != len(columns):
            raise ValueError(f"row has {len(r)} cells for {len(columns)} columns: {r!r}")
    keep, widths = _layout(columns, text_rows, width)
    out: list[str] = []
    if title:
        out.extend(wrap_paragraph(title, width))

    def emit(cells: list[str]) -> int:
        wrapped = [wrap_cell(c, w, columns[i].breaks) for c, w, i in zip(cells, widths, keep)]
        height = max(len(w) for w in wrapped)
        for k in range(height):
            parts = []
            for j, (lines, w) in enumerate(zip(wrapped, widths)):
                piece = lines[k] if k < len(lines) else ""
                parts.append(piece.rjust(w) if columns[keep[j]].align == "right" else piece.ljust(w))
            out.append(GAP.join(parts).rstrip())
        return height

    emit([columns[i].header for i in keep])
    out.append(GAP.join("-" * w for w in widths))
    body = [[r[i] for i in keep] for r in text_rows]
    tall = separate_rows
    if tall is None:
        tall = any(len(wrap_cell(c, w, columns[i].breaks)) > 1 for r in body for c, w, i in zip(r, widths, keep))
    for n, r in enumerate(body):
        if tall and n:
            out.append("")
        emit(r)
    dropped = [columns[i].header for i in range(len(columns)) if i not in keep]
    if dropped:
        out.extend(
            wrap_paragraph(
                f"(left out to fit {width} columns: {', '.join(dropped)}; a wider terminal or COLUMNS=N shows them)",
                width,
            )
        )
    return "\n".join(out) + "\n"


def wrap_paragraph(text: str, width: int | None = None, indent: str = "", subsequent: str | None = None) -> list[str]:
    """A paragraph wrapped to ``width`` at spaces (long words are not split).

    Args:
        text: The paragraph.
        width: Line width; default :func:`terminal_width`.
        indent: Prefix of the first line.
        subsequent: Prefix of the following lines (default: as many spaces as ``indent``).

    Returns:
        The lines, none ending in a space.
    """
    width = max(width or terminal_width(), MIN_WIDTH)
    lines = textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=" " * len(indent) if subsequent is None else subsequent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return [ln.rstrip() for ln in lines] or [indent.rstrip()]


def strip_trailing(text: str) -> str:
    """``text`` with trailing spaces removed from every line (for output rich produced)."""
    return re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE)


class Table:
    """A table built row by row, shaped like the subset of ``rich.table.Table`` eai used.

    ``add_column`` takes :class:`Column`'s fields (``justify`` is rich's name for
    ``align``); rich's ``overflow`` is accepted and ignored, since cells always wrap at
    word boundaries here.
    """

    def __init__(self, title: str | None = None, title_justify: str = "left") -> None:
        self.title = title
        self.columns: list[Column] = []
        self.rows: list[list[str]] = []

    def add_column(
        self,
        header: str,
        *,
        justify: Literal["left", "right"] = "left",
        drop_order: int = 0,
        wrap: bool = True,
        breaks: str = _BREAK_AFTER,
        min_width: int = 0,
        overflow: str | None = None,
    ) -> None:
        """Append a column (see :class:`Column`)."""
        self.columns.append(Column(header, justify, drop_order, wrap, breaks, min_width))

    def add_row(self, *cells: object) -> None:
        """Append a row of cells, one per column."""
        self.rows.append([str(c) for c in cells])

    def render(self, width: int | None = None) -> str:
        """The table text (see :func:`render_table`)."""
        return render_table(self.columns, self.rows, width=width, title=self.title)


class Console:
    """Writes :class:`Table` objects and wrapped paragraphs to a stream at one width.

    Shaped like the subset of ``rich.console.Console`` eai used (``print``); no markup,
    no colour, no padding, so piped output is plain text without trailing spaces.
    """

    def __init__(self, width: int | None = None, file: TextIO | None = None, highlight: bool = False) -> None:
        self.file = file or sys.stdout
        self.width = width or terminal_width(self.file)

    def print(self, obj: object = "") -> None:
        """Write a table, or a paragraph wrapped to the width."""
        if isinstance(obj, Table):
            self.file.write(obj.render(self.width))
        else:
            self.file.write("\n".join(wrap_paragraph(str(obj), self.width)) + "\n")
