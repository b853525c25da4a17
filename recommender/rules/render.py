"""Terminal rendering of a :class:`~recommender.rules.engine.Recommendation`.

The ranked table goes through :func:`recommender.termtable.render_table`, so it fits the
reader's width (80 columns when piped to a file): names wrap at ``-`` and ``/`` instead
of being cut, interval brackets move under their point value, and the least important
columns (TWEOR, kept vs fp16, ...) are left out with a note when they cannot fit. The
column of the ranking objective is never left out. ``--json`` carries every field.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any, TextIO

from recommender.rules.engine import Recommendation
from recommender.rules.explain import fmt
from recommender.rules.load import UNLOAD_BREAKEVEN_S
from recommender.termtable import Column, render_table, terminal_width, wrap_paragraph

_OBJECTIVE_COLUMN = {
    "eor": "EOR",
    "tweor": "TWEOR",
    "energy": "Wh/1k q",
    "cost": "$/1M q",
    "carbon": "gCO2e/1k q",
}
"""Table column that carries each ranking objective (kept at any width)."""


def _iv(d: dict[str, Any] | None, pct: bool = False) -> str:
    if not d or d.get("value") is None:
        return "n/a"
    f = (lambda x: f"{x:.1%}") if pct else fmt
    lo, hi = d.get("lo"), d.get("hi")
    if lo is None or hi is None:
        return f(d["value"])
    return f"{f(d['value'])} [{f(lo)}-{f(hi)}]"


def model_labels(model_ids: list[str]) -> dict[str, str]:
    """Short label per model id: the name after the organization, unless two ids share it.

    Args:
        model_ids: Hugging Face ids shown in one table.

    Returns:
        Id -> label (the full id where the short name would be ambiguous).
    """
    short = {m: m.split("/")[-1] for m in model_ids}
    seen: dict[str, set[str]] = {}
    for m, s in short.items():
        seen.setdefault(s.lower(), set()).add(m)
    return {m: (s if len(seen[s.lower()]) == 1 else m) for m, s in short.items()}


def _deployment(r: dict[str, Any]) -> str:
    parts = [str(r["quantization"]), str(r["engine"])]
    if r.get("batch_size") is not None:
        parts.append(f"batch {r['batch_size']}")
    return ", ".join(parts)


_RELEASE_STATEMENTS = {
    "assumed": "energy and time at engine release {} (none named: the newest measured)",
    "nearest": "energy and time at engine release {} (the nearest measured to the one named)",
    "peer": "energy and time read as {} (the engine's measured peer)",
}


def _release_statement(release: dict[str, Any] | None) -> str:
    """What the explanation says of the engine release the winner was priced at ("" where the
    spec named it and it was measured, or the engine's rows state none)."""
    if not release or not release.get("level"):
        return ""
    form = _RELEASE_STATEMENTS.get(str(release.get("basis")))
    return form.format(str(release["level"]).replace("@", " ")) if form else ""


def recommendation_table(doc: dict[str, Any], width: int) -> str:
    """The ranked configurations of a recommendation document as a fitted text table.

    Args:
        doc: :meth:`Recommendation.to_dict` output.
        width: Line width in columns.

    Returns:
        The table text (title included), newline-terminated.
    """
    rows = doc["recommendations"]
    obj = doc["objective"]
    eco_cost = any("cost_usd_per_1m_queries" in r for r in rows)
    eco_carbon = any("carbon_g_per_1k_queries" in r for r in rows)
    cols: list[tuple[Column, Any]] = [
        (Column("#", wrap=False), None),
        (Column("platform"), None),
        (Column("model"), None),
        (Column("serving"), None),
        (Column("accuracy [90%]", breaks=""), None),
        (Column("Wh/1k q", drop_order=1, breaks=""), None),
        (Column("status", drop_order=2), None),
        (Column("s/query", drop_order=4, breaks=""), None),
        (Column("EOR", drop_order=3, breaks=""), None),
        (Column("TWEOR", drop_order=6, breaks=""), None),
        (Column("kept vs fp16", drop_order=5, breaks=""), None),
    ]
    if eco_cost:
        cols.append((Column("$/1M q", drop_order=4, breaks=""), None))
    if eco_carbon:
        cols.append((Column("gCO2e/1k q", drop_order=4, breaks=""), None))
    keep_header = _OBJECTIVE_COLUMN.get(obj.get("name", ""), "")
    columns = [replace(c, drop_order=0) if c.header == keep_header else c for c, _ in cols]
    labels = model_labels([r["model_id"] for r in rows])
    body: list[list[str]] = []
    for r in rows:
        rank = f"{r['rank']}=" if r["tie"] and len(rows) > 1 else str(r["rank"])
        devices = f" x{r['device_count']}" if r["device_count"] > 1 else ""
        kept = r.get("accuracy_relative_to_fp16")
        status = r["status"] if r["status"] == r["accuracy_status"] else f"{r['status']}, accuracy {r['accuracy_status']}"
        cells = [
            rank,
            r["platform"] + devices,
            labels[r["model_id"]],
            _deployment(r),
            _iv(r["accuracy"]),
            _iv(r["wh_per_1k_queries"]),
            status,
            _iv(r["time_s_per_query"]),
            _iv(r["eor"]),
            _iv(r["tweor"]),
            f"{kept:.1%}" if kept is not None else "n/a",
        ]
        if eco_cost:
            cells.append(_iv(r.get("cost_usd_per_1m_queries")))
        if eco_carbon:
            cells.append(_iv(r.get("carbon_g_per_1k_queries")))
        body.append(cells)
    title = f"eai recommend: scenario {doc['scenario']}, objective {obj['label']} ({obj['direction']}; {obj['unit']})"
    return render_table(columns, body, width=width, title=title)


def recommendation_text(rec: Recommendation | dict[str, Any], width: int | None = None) -> str:
    """The whole terminal answer: ranked table, then the explanation, wrapped to ``width``.

    Args:
        rec: The recommendation (or its :meth:`~Recommendation.to_dict` document).
        width: Line width; default :func:`~recommender.termtable.terminal_width`.

    Returns:
        Text with no line ending in a space.
    """
    width = width or terminal_width()
    doc = rec.to_dict() if isinstance(rec, Recommendation) else rec
    rows = doc["recommendations"]
    out: list[str] = [recommendation_table(doc, width).rstrip("\n"), ""]

    def para(text: str) -> None:
        # continuation lines indented, so each heading starts the only unindented line
        out.extend(wrap_paragraph(text, width, subsequent="  "))

    def item(text: str) -> None:
        out.extend(wrap_paragraph(text, width, indent="  - "))

    ex = doc["explanation"]
    w = rows[0]
    dev = f" x{w['device_count']}" if w["device_count"] > 1 else ""
    para(f"Recommended: {w.get('deployment') or w['platform'] + dev + ' + ' + w['model_id'] + ' @ ' + _deployment(w)}")
    para("Path through the flow:")
    for step in ex["flow_path"]:
        item(f"{step['node']}: {step['value']} ({step['why']})")
    para("Decided by:")
    for line in ex["decided_by"]:
        item(line)
    margin = ex["margin_to_runner_up"]
    if margin.get("runner_up"):
        para(f"Runner-up: {margin['runner_up']}: {margin['statement']}")
    para(f"Ties: {ex['ties']['statement']}")
    conf = ex["confidence"]["statement"]
    reasons = [r for r in w["extrapolated_reasons"] if not r.startswith("twin:")]
    if reasons:
        conf += f"; extrapolated because: {', '.join(reasons)}"
    twins = [r.split(":", 1)[1] for r in w["extrapolated_reasons"] if r.startswith("twin:")]
    if twins:
        conf += f"; point carried over from the measured twin {', '.join(twins)} (same silicon), interval not narrowed"
    release = _release_statement(w.get("engine_release"))
    if release:
        conf += f"; {release}"
    para(f"Confidence: {conf}")
    if w.get("accuracy_basis"):
        para(f"Accuracy basis: {w['accuracy_basis']}")
    if w["flow_notes"]:
        para("Data notes: " + "; ".join(w["flow_notes"]))
    if ex["constraint_headroom"]:
        para("Headroom:")
        for h in ex["constraint_headroom"]:
            item(h["statement"])
    para("What would change the answer:")
    for line in ex["what_would_change"]:
        item(line)
    if "per_day" in w:
        d = w["per_day"]
        parts = [f"{fmt(d['energy_kwh'])} kWh ({fmt(d['serving_kwh'])} serving, {fmt(d['waiting_kwh'])} waiting between "
                 f"queries with the model loaded; busy {fmt(100 * d['busy_share'])}% of the day)"]
        if d.get("cost_usd") is not None:
            parts.append(f"${fmt(d['cost_usd'])}")
        if d.get("carbon_kg") is not None:
            parts.append(f"{fmt(d['carbon_kg'])} kg CO2e")
        running = d.get("running_requests")
        parts.append(f"{fmt(d['deployments_needed'])} deployment(s) at the predicted throughput"
                     + (f", each running {fmt(running)} request(s) at once on average" if running is not None else ""))
        para(f"Per day: {', '.join(parts)}")
        gap = d.get("mean_gap_between_queries_s")
        if gap is not None and gap > UNLOAD_BREAKEVEN_S and d["waiting_kwh"] > 0:
            para(f"Between two queries of a copy {fmt(gap / 60)} min pass on average, beyond the {UNLOAD_BREAKEVEN_S / 60:g}-minute "
                 "break-even of unloading the model and loading it again (arXiv:2605.23918): loading on demand would draw "
                 "less than the waiting priced here, at the cost of a cold start per query")
    counts = ex["counts"]
    excluded = ", ".join(f"{k} {v}" for k, v in counts["excluded_by"].items() if v)
    para(
        f"{counts['candidates']} candidates, {counts['feasible']} feasible"
        + (f"; excluded by {excluded}" if excluded else "")
        + f"; data {doc['data_hash'][:12]}"
    )
    para("Assumptions: " + "; ".join(doc["assumptions"]))
    return "\n".join(out) + "\n"


def print_recommendation(rec: Recommendation, stream: TextIO | None = None) -> None:
    """Print the ranked table and the explanation, fitted to the reader's width.

    Args:
        rec: The recommendation.
        stream: Where to write (default ``sys.stdout``).
    """
    stream = stream or sys.stdout
    stream.write(recommendation_text(rec, terminal_width(stream)))
