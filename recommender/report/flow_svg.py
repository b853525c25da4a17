"""Draw the decision flow (``data/decision_flow.yaml``) as an inline SVG.

Columns, left to right: the requirements spec -> scenarios -> platform classes
(cost tier) -> each class's quantization preference per priority. Priorities
(objective, default accuracy floor) and the data-driven demotions are drawn as
notes under the columns. The layout is computed here (no graph library) so the
SVG is static, self-contained and readable without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

_COL_W = (170, 230, 190, 360)
_GAP_X = 60
_LINE_H = 16
_PAD = 8
_GAP_Y = 14
_CHAR_W = 6.6  # average glyph width of 12px sans-serif, for wrapping


@dataclass(frozen=True)
class _Box:
    key: str
    col: int
    title: str
    lines: tuple[str, ...]
    fill: str
    x: float = 0.0
    y: float = 0.0
    width: float | None = None

    @property
    def w(self) -> float:
        return float(self.width if self.width is not None else _COL_W[self.col])

    @property
    def h(self) -> float:
        return _PAD * 2 + _LINE_H * (1 + len(self.lines))


def _wrap(text: str, width_px: float) -> list[str]:
    limit = max(8, int((width_px - 2 * _PAD) / _CHAR_W))
    words, lines, cur = str(text).split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > limit:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        lines.append(cur)
    return lines or [""]


def _fmt_floor(p: dict[str, Any]) -> str:
    floor = p.get("min_accuracy_relative_to_fp16")
    return f", keep >= {floor:.0%} of fp16" if isinstance(floor, (int, float)) else ""


def _condition(key: str, value: Any) -> str:
    """``batch_size_max: 8`` -> ``batch_size <= 8``; ``platform_class_in: [a, b]`` -> ``platform_class in {a, b}``."""
    if key.endswith("_max"):
        return f"{key[:-4]} <= {value}"
    if key.endswith("_min"):
        return f"{key[:-4]} >= {value}"
    if key.endswith("_in") and isinstance(value, (list, tuple)):
        return f"{key[:-3]} in {{{', '.join(map(str, value))}}}"
    return f"{key} = {value}"


def flow_boxes(flow: dict[str, Any]) -> tuple[list[_Box], list[tuple[str, str, bool]]]:
    """Boxes (by column) and edges (from key, to key, dashed) of the flow.

    Raises:
        KeyError: The flow lacks ``scenarios`` or ``classes``.
    """
    scenarios: dict[str, Any] = flow["scenarios"]
    classes: dict[str, Any] = flow["classes"]
    priorities: dict[str, Any] = flow.get("priorities", {})
    boxes: list[_Box] = [
        _Box("spec", 0, "Requirements", tuple(_wrap("scenario, task(s), accuracy floor, priority, hardware, limits (latency, energy, memory, power)", _COL_W[0])), "#e8eef9")
    ]
    edges: list[tuple[str, str, bool]] = []
    for name, sc in scenarios.items():
        boxes.append(_Box(f"sc:{name}", 1, f"scenario: {name}", tuple(_wrap(sc.get("description", ""), _COL_W[1])), "#fdf3e1"))
        edges.append(("spec", f"sc:{name}", False))
        for cls in sc.get("platform_classes", []):
            edges.append((f"sc:{name}", f"cl:{cls}", False))
    auto = flow.get("auto", {})
    if auto:
        order = " > ".join(auto.get("order", []))
        boxes.append(_Box("sc:auto", 1, "scenario: auto", tuple(_wrap(f"inferred from the hardware given (ties: {order}); no hardware: every class", _COL_W[1])), "#f5f5f5"))
        edges.append(("spec", "sc:auto", True))
        for cls in classes:
            edges.append(("sc:auto", f"cl:{cls}", True))
    serving = flow.get("serving", {})
    for cls, spec in classes.items():
        lines_cls = [f"cost tier: {spec.get('cost_tier', '?')}"]
        sv = serving.get("classes", {}).get(cls)
        if sv:
            engines = sv.get("engines", [])
            batches = sv.get("batch_sizes") or sorted({b for e in engines for b in serving.get("batch_sizes", {}).get(e, [1])})
            batch = f"batch {batches[0]}" if len(batches) == 1 else f"batch {batches[0]}-{batches[-1]}"
            devices = "/".join(str(d) for d in sv.get("device_counts", [1]))
            lines_cls.extend(_wrap(f"serves: {', '.join(engines)}, {batch}, {devices} device(s)", _COL_W[2]))
        boxes.append(_Box(f"cl:{cls}", 2, f"class: {cls}", tuple(lines_cls), "#e6f4ea"))
        prefs = spec.get("preferences", {})
        lines = []
        for prio, quants in prefs.items():
            lines.extend(_wrap(f"{prio}: {' > '.join(quants)}", _COL_W[3]))
        boxes.append(_Box(f"pr:{cls}", 3, f"{cls}: quantization preference by priority", tuple(lines), "#ffffff"))
        edges.append((f"cl:{cls}", f"pr:{cls}", False))
    notes: list[str] = []
    margin = flow.get("chance_margin")
    if margin:
        per = ", ".join(f"{t} {m:g}" for t, m in (margin.get("tasks") or {}).items())
        notes.append(f"every task: score >= chance + margin ({per}; else {margin.get('default', 0):g})")
    if flow.get("recommendable_accuracy_status"):
        notes.append(f"accuracy must be {'/'.join(flow['recommendable_accuracy_status'])}: a size prior never qualifies")
    notes.append("energy is gross (idle draw included)")
    for prio, p in priorities.items():
        notes.append(f"{prio}: rank by {p.get('objective', '?')}{_fmt_floor(p)}")
    for d in flow.get("demotions", []):
        cond = ", ".join(_condition(k, v) for k, v in (d.get("when") or {}).items())
        notes.append(f"demote {d.get('quantization')} when {cond}")
    if notes:
        wrapped: list[str] = []
        for n in notes:
            wrapped.extend(_wrap(n, _COL_W[1] + _COL_W[2] + _GAP_X))
        boxes.append(_Box("notes", 1, "priorities and data-driven demotions", tuple(wrapped), "#fafafa", width=_COL_W[1] + _COL_W[2] + _GAP_X))
    return boxes, edges


def _layout(boxes: list[_Box]) -> tuple[list[_Box], float, float]:
    xs = [0.0]
    for w in _COL_W[:-1]:
        xs.append(xs[-1] + w + _GAP_X)
    heights = []
    for col in range(len(_COL_W)):
        heights.append(sum(b.h + _GAP_Y for b in boxes if b.col == col and b.key != "notes"))
    total_h = max(heights)
    placed: list[_Box] = []
    for col in range(len(_COL_W)):
        col_boxes = [b for b in boxes if b.col == col and b.key != "notes"]
        used = sum(b.h + _GAP_Y for b in col_boxes)
        y = (total_h - used) / 2.0
        for b in col_boxes:
            placed.append(_Box(b.key, b.col, b.title, b.lines, b.fill, xs[col], y))
            y += b.h + _GAP_Y
    for b in boxes:
        if b.key == "notes":
            placed.append(_Box(b.key, b.col, b.title, b.lines, b.fill, xs[1], total_h + 10, b.width))
            total_h += 10 + b.h
    width = xs[-1] + _COL_W[-1]
    return placed, width, total_h


def _text(x: float, y: float, s: str, bold: bool = False) -> str:
    weight = ' font-weight="600"' if bold else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{weight}>{escape(s)}</text>'


def flow_svg(flow: dict[str, Any]) -> str:
    """The decision flow as an SVG element (string), sized to its content.

    Args:
        flow: Parsed ``data/decision_flow.yaml``.

    Returns:
        ``<svg ...>...</svg>`` markup with a ``<title>`` for accessibility.
    """
    boxes, edges = flow_boxes(flow)
    placed, width, height = _layout(boxes)
    at = {b.key: b for b in placed}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow" viewBox="-4 -4 {width + 8:.0f} {height + 8:.0f}" '
        f'width="{width + 8:.0f}" height="{height + 8:.0f}" font-family="system-ui, sans-serif" font-size="12" role="img">',
        "<title>eai decision flow: requirements, scenario, platform class, quantization preference</title>",
    ]
    for a, b, dashed in edges:
        if a not in at or b not in at:
            continue
        s, t = at[a], at[b]
        x1, y1 = s.x + s.w, s.y + s.h / 2
        x2, y2 = t.x, t.y + t.h / 2
        mx = (x1 + x2) / 2
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        parts.append(f'<path d="M{x1:.1f},{y1:.1f} C{mx:.1f},{y1:.1f} {mx:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" fill="none" stroke="#7a8699" stroke-width="1.3"{dash}/>')
    for b in placed:
        parts.append(f'<g class="flow-node" data-key="{escape(b.key)}">')
        parts.append(f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" rx="6" fill="{b.fill}" stroke="#56627a"/>')
        parts.append(_text(b.x + _PAD, b.y + _PAD + 12, b.title, bold=True))
        for i, line in enumerate(b.lines):
            parts.append(_text(b.x + _PAD, b.y + _PAD + 12 + _LINE_H * (i + 1), line))
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)
