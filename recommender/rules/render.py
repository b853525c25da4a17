"""Terminal rendering of a :class:`~recommender.rules.engine.Recommendation` (rich)."""

from __future__ import annotations

from typing import Any

from recommender.rules.engine import Recommendation
from recommender.rules.explain import fmt


def _iv(d: dict[str, Any] | None, pct: bool = False) -> str:
    if not d or d.get("value") is None:
        return "n/a"
    f = (lambda x: f"{x:.1%}") if pct else fmt
    lo, hi = d.get("lo"), d.get("hi")
    if lo is None or hi is None:
        return f(d["value"])
    return f"{f(d['value'])} [{f(lo)}-{f(hi)}]"


def print_recommendation(rec: Recommendation) -> None:
    """Print the ranked table and the explanation to stdout."""
    from rich.console import Console
    from rich.table import Table

    import sys

    # Piped output gets a fixed wide layout instead of rich's 80-column fallback.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    doc = rec.to_dict()
    rows = doc["recommendations"]
    obj = doc["objective"]
    table = Table(
        title=f"eai recommend - scenario {doc['scenario']}, objective {obj['label']} ({obj['direction']}; {obj['unit']})",
        title_justify="left",
    )
    for col in ("#", "platform", "model", "quant", "accuracy [90%]", "Wh/1k q", "s/query", "EOR", "TWEOR", "kept vs fp16", "status"):
        table.add_column(col, overflow="fold")
    eco_cost = any("cost_usd_per_1m_queries" in r for r in rows)
    eco_carbon = any("carbon_g_per_1k_queries" in r for r in rows)
    if eco_cost:
        table.add_column("$/1M q")
    if eco_carbon:
        table.add_column("gCO2e/1k q")
    for r in rows:
        rank = f"{r['rank']}=" if r["tie"] and len(rows) > 1 else str(r["rank"])
        devices = f" x{r['device_count']}" if r["device_count"] > 1 else ""
        kept = r.get("accuracy_relative_to_fp16")
        status = r["status"] if r["status"] == r["accuracy_status"] else f"{r['status']}/{r['accuracy_status']}"
        cells = [
            rank,
            r["platform"] + devices,
            r["model_id"].split("/")[-1],
            f"{r['quantization']} ({r['engine']})",
            _iv(r["accuracy"]),
            _iv(r["wh_per_1k_queries"]),
            _iv(r["time_s_per_query"]),
            _iv(r["eor"]),
            _iv(r["tweor"]),
            f"{kept:.1%}" if kept is not None else "n/a",
            status,
        ]
        if eco_cost:
            cells.append(_iv(r.get("cost_usd_per_1m_queries")))
        if eco_carbon:
            cells.append(_iv(r.get("carbon_g_per_1k_queries")))
        table.add_row(*cells)
    console.print(table)
    ex = doc["explanation"]
    w = rows[0]
    console.print(f"[bold]Recommended:[/bold] {w.get('deployment') or w['platform'] + ' + ' + w['model_id'] + ' @ ' + w['quantization']}")
    console.print("[bold]Path through the flow:[/bold]")
    for step in ex["flow_path"]:
        console.print(f"  {step['node']}: {step['value']}  ({step['why']})")
    console.print("[bold]Decided by:[/bold]")
    for line in ex["decided_by"]:
        console.print(f"  - {line}")
    margin = ex["margin_to_runner_up"]
    if margin.get("runner_up"):
        console.print(f"[bold]Runner-up:[/bold] {margin['runner_up']}: {margin['statement']}")
    console.print(f"[bold]Ties:[/bold] {ex['ties']['statement']}")
    conf = ex["confidence"]["statement"]
    reasons = [r for r in w["extrapolated_reasons"] if not r.startswith("twin:")]
    if reasons:
        conf += f"; extrapolated because: {', '.join(reasons)}"
    twins = [r.split(":", 1)[1] for r in w["extrapolated_reasons"] if r.startswith("twin:")]
    if twins:
        conf += f"; point carried over from the measured twin {', '.join(twins)} (same silicon), interval not narrowed"
    console.print(f"[bold]Confidence:[/bold] {conf}")
    if w["flow_notes"]:
        console.print("[bold]Data notes:[/bold] " + "; ".join(w["flow_notes"]))
    if ex["constraint_headroom"]:
        console.print("[bold]Headroom:[/bold]")
        for h in ex["constraint_headroom"]:
            console.print(f"  - {h['statement']}")
    console.print("[bold]What would change the answer:[/bold]")
    for line in ex["what_would_change"]:
        console.print(f"  - {line}")
    if "per_day" in w:
        d = w["per_day"]
        parts = [f"{fmt(d['energy_kwh'])} kWh"]
        if d.get("cost_usd") is not None:
            parts.append(f"${fmt(d['cost_usd'])}")
        if d.get("carbon_kg") is not None:
            parts.append(f"{fmt(d['carbon_kg'])} kg CO2e")
        parts.append(f"{fmt(d['deployments_needed'])} deployment(s) at the predicted throughput")
        console.print(f"[bold]Per day:[/bold] {', '.join(parts)}")
    counts = ex["counts"]
    excluded = ", ".join(f"{k} {v}" for k, v in counts["excluded_by"].items() if v)
    console.print(
        f"[dim]{counts['candidates']} candidates, {counts['feasible']} feasible"
        + (f"; excluded by {excluded}" if excluded else "")
        + f"; data {doc['data_hash'][:12]}[/dim]"
    )
    console.print("[dim]Assumptions: " + "; ".join(doc["assumptions"]) + "[/dim]")
