"""HTML building blocks: page shell with plotly.js inlined, tables, a small markdown renderer.

The page is one file: CSS and plotly.js are inlined, every figure's JSON sits in a
``<script type="application/json">`` block next to its ``<div>`` and one short
script draws them all. Nothing is fetched from the network.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

CSS = """
:root { --fg:#1d2433; --muted:#5b6478; --line:#d8dde6; --bg:#ffffff; --soft:#f5f7fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0; background: var(--soft); }
header { background: #1d2433; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header .meta { color: #c9d1e0; font-size: 12.5px; }
nav { background:#fff; border-bottom:1px solid var(--line); padding: 8px 28px; }
nav a { margin-right: 16px; color:#2456a6; text-decoration:none; font-weight:500; }
main { padding: 8px 28px 40px 28px; max-width: 1500px; }
section { background: var(--bg); border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; margin: 16px 0; }
section h2 { margin: 0 0 6px 0; font-size: 18px; }
p.lead, .note { color: var(--muted); margin: 4px 0 10px 0; }
.note.warn { color: #8a5a00; background:#fff6e0; border:1px solid #f1d48a; padding:6px 10px; border-radius:6px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display:inline-block; padding: 2px 8px; border-radius: 10px; font-weight: 600; font-size: 12px; white-space: nowrap; }
.v-supported { background:#d9f2e3; color:#0c6b35; }
.v-contradicted { background:#fbe0df; color:#9d1c17; }
.v-not-enough-data { background:#eceef2; color:#4a5161; }
.v-depends-on-the-format { background:#fdf1d6; color:#7a5200; }
details { margin: 4px 0; }
summary { cursor: pointer; color:#2456a6; }
.plot { width: 100%; min-height: 320px; }
.flow-wrap { overflow-x: auto; border:1px solid var(--line); border-radius:6px; padding:8px; background:#fff; }
.grid2 { display:grid; grid-template-columns: 1fr 1fr; gap: 16px; }
@media (max-width: 1100px) { .grid2 { grid-template-columns: 1fr; } }
code { background: var(--soft); padding: 0 3px; border-radius: 3px; }
.winner { background: #fff7cc; }
"""

_DRAW_JS = """
(function () {
  var cfg = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ['sendDataToCloud']};
  var drawn = 0, failed = 0;
  document.querySelectorAll('div.plot[data-fig]').forEach(function (div) {
    var src = document.getElementById(div.getAttribute('data-fig'));
    try {
      var fig = JSON.parse(src.textContent);
      Plotly.newPlot(div, fig.data, fig.layout, cfg);
      drawn += 1;
    } catch (err) {
      failed += 1;
      console.error('eai report: figure ' + div.id + ' failed: ' + err);
    }
  });
  document.body.setAttribute('data-plots-drawn', String(drawn));
  document.body.setAttribute('data-plots-failed', String(failed));
})();
"""


@functools.lru_cache(maxsize=1)
def plotly_js() -> str:
    """plotly.js (minified) from the installed plotly package, for inlining."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def json_script(element_id: str, payload: Any) -> str:
    """A JSON data block; ``</`` is escaped so the data can never close the script element."""
    text = payload if isinstance(payload, str) else json.dumps(payload, allow_nan=False, default=str)
    text = text.replace("</", "<\\/")
    return f'<script type="application/json" id="{escape(element_id)}">{text}</script>'


def plot_div(element_id: str, figure_json: str, height_px: int | None = None) -> str:
    """A plot container plus its figure JSON (drawn by the page script)."""
    style = f' style="min-height:{height_px}px"' if height_px else ""
    return f'<div class="plot" id="{escape(element_id)}" data-fig="{escape(element_id)}-json"{style}></div>\n' + json_script(f"{element_id}-json", figure_json)


def verdict_badge(verdict: str) -> str:
    """Coloured verdict label."""
    cls = "v-" + re.sub(r"[^a-z]+", "-", verdict.lower()).strip("-")
    return f'<span class="badge {cls}">{escape(verdict)}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], num_cols: Iterable[int] = (), row_classes: Sequence[str] | None = None, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then they must already be safe HTML)."""
    nums = set(num_cols)
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{escape(str(h))}</th>" for h in headers) + "</tr></thead>", "<tbody>"]
    for i, r in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = []
        for j, c in enumerate(r):
            text = str(c) if raw else escape(_fmt(c))
            cells.append(f'<td class="num">{text}</td>' if j in nums else f"<td>{text}</td>")
        out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if v != v:  # NaN
            return ""
        return f"{v:.4g}"
    return str(v)


_INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])"), r"<em>\1</em>"),
]
_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")


def _inline(text: str) -> str:
    # Links are rendered as their text plus the target in parentheses: the report makes no
    # clickable references to external hosts (it must stay self-contained and offline).
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    s = escape(text, quote=False)
    for pat, rep in _INLINE:
        s = pat.sub(rep, s)
    return s


def markdown_to_html(md: str) -> str:
    """Render the markdown subset the data files use: headings, pipe tables, lists, paragraphs.

    Args:
        md: Markdown text.

    Returns:
        Safe HTML (all text escaped).
    """
    lines = md.splitlines()
    out: list[str] = []
    i = 0
    para: list[str] = []

    def flush() -> None:
        if para:
            out.append("<p>" + _inline(" ".join(para)) + "</p>")
            para.clear()

    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            flush()
            i += 1
            continue
        if line.lstrip().startswith("<!--"):
            while i < len(lines) and "-->" not in lines[i]:
                i += 1
            i += 1
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            flush()
            level = min(6, len(m.group(1)) + 2)
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
            i += 1
            continue
        if line.lstrip().startswith("|"):
            flush()
            block = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                block.append(lines[i].strip())
                i += 1
            out.append(_md_table(block))
            continue
        if re.match(r"^\s*([-*]|\d+\.)\s+", line):
            flush()
            items = []
            while i < len(lines) and re.match(r"^\s*([-*]|\d+\.)\s+", lines[i]):
                items.append(re.sub(r"^\s*([-*]|\d+\.)\s+", "", lines[i]))
                i += 1
                # continuation lines of the same item
                while i < len(lines) and lines[i].startswith("  ") and lines[i].strip() and not re.match(r"^\s*([-*]|\d+\.)\s+", lines[i]):
                    items[-1] += " " + lines[i].strip()
                    i += 1
            out.append("<ul>" + "".join(f"<li>{_inline(it)}</li>" for it in items) + "</ul>")
            continue
        para.append(line.strip())
        i += 1
    flush()
    return "\n".join(out)


def _split_row(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)]


def md_tables(md: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every pipe table in a markdown text as (header, rows) of raw cell text."""
    tables = []
    block: list[str] = []
    for line in [*md.splitlines(), ""]:
        if line.lstrip().startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2:
            header = _split_row(block[0])
            body = [_split_row(r) for r in block[1:] if not re.match(r"^\s*\|?\s*:?-{2,}", r)]
            tables.append((header, body))
        block = []
    return tables


def _md_table(block: list[str]) -> str:
    header = _split_row(block[0])
    body = [_split_row(r) for r in block[1:] if not re.match(r"^\s*\|?\s*:?-{2,}", r)]
    head = "<tr>" + "".join(f"<th>{_inline(h)}</th>" for h in header) + "</tr>"
    rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>"


def page(title: str, meta_html: str, nav: Sequence[tuple[str, str]], sections: Sequence[str]) -> str:
    """The whole document.

    Args:
        title: Page title.
        meta_html: Safe HTML under the title (data hash, time...).
        nav: (anchor id, label) pairs for the navigation bar.
        sections: Safe HTML of each ``<section>``.
    """
    nav_html = "".join(f'<a href="#{escape(a)}">{escape(label)}</a>' for a, label in nav)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n"
        f'<script type="text/javascript">{plotly_js()}</script>\n'
        "</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1><div class=\"meta\">{meta_html}</div></header>\n"
        f"<nav>{nav_html}</nav>\n<main>\n" + "\n".join(sections) + "\n</main>\n"
        f"<script>{_DRAW_JS}</script>\n</body>\n</html>\n"
    )
