"""Assemble the study report: claims, EOR heatmap, trade-off, decision flow/matrix, validation, provenance."""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from recommender import __version__
from recommender.report import figures
from recommender.report.claims import VERDICTS, ClaimResult, check_claims
from recommender.report.flow_svg import flow_svg
from recommender.report.html import markdown_to_html, md_tables, page, plot_div, table, verdict_badge
from recommender.report.inputs import ReportInputs, gather
from recommender.report.validation import validation_section
from recommender.table.io import DEFAULT_TABLE
from recommender.table.schema import QUANTIZATIONS

SECTIONS: tuple[tuple[str, str], ...] = (
    ("claims", "Claims check"),
    ("heatmap", "EOR heatmap"),
    ("tradeoff", "Accuracy vs energy"),
    ("flow", "Decision flow & matrix"),
    ("validation", "Regressor validation"),
    ("provenance", "Data provenance"),
)
"""(anchor id, title) of every section, in page order."""


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_report` wrote.

    Attributes:
        path: The HTML file.
        size_bytes: Its size.
        build_s: Wall time to gather inputs and render, seconds.
        gather_s: Part of ``build_s`` spent loading the table/predictor/evaluation, seconds.
        points_measured: Measured configuration points drawn.
        points_predicted: Predicted configuration points drawn.
        claims: The claim verdicts shown.
        notes: Sections that are missing or partial, with the reason.
    """

    path: Path
    size_bytes: int
    build_s: float
    gather_s: float
    points_measured: int
    points_predicted: int
    claims: tuple[ClaimResult, ...]
    notes: dict[str, str]


def _platform_order(platforms: pd.Series) -> list[str]:
    """Platforms in catalog order (data center first), unknown ones after."""
    try:
        from recommender.catalog import get_platforms

        known = list(get_platforms())
    except ImportError:
        known = []
    present = list(dict.fromkeys(platforms.astype(str)))
    return [p for p in known if p in present] + sorted(p for p in present if p not in known)


def _note(inputs: ReportInputs, key: str) -> str:
    return f'<p class="note warn">{escape(inputs.notes[key])}</p>' if key in inputs.notes else ""


def _fmt_pct(v: float | None) -> str:
    return "" if v is None else f"{v:+.1f}%"


def _fmt_band(b: tuple[float, float] | None, lead: bool = False) -> str:
    if b is None:
        return ""
    if b[1] == float("inf"):
        return f">= {b[0]:+.0f}%" + (" (A100 ahead)" if lead else "")
    return f"{b[0]:+.1f}% .. {b[1]:+.1f}%"


def _comparison_items(comps, lead: bool) -> str:
    return "".join(
        f"<li><b>{c.basis}</b> — {escape(c.description)}; claim band {escape(_fmt_band(c.band_pct, lead))}; "
        f"n={c.n}" + (f" in {c.clusters} clusters" if c.clusters else "") + f"; median {escape(_fmt_pct(c.estimate_pct)) or '—'}"
        f"{escape(f' (90% CI {c.ci_pct[0]:+.1f} .. {c.ci_pct[1]:+.1f})' if c.ci_pct else '')}; {verdict_badge(c.verdict)}"
        f"{'<br><span class=note>scope: ' + escape(c.scope) + '</span>' if c.scope else ''}"
        f"{'<br><span class=note>' + escape(c.detail) + '</span>' if c.detail else ''}</li>"
        for c in comps
    )


def claims_section(results: list[ClaimResult], inputs: ReportInputs) -> str:
    """The claims table: claim, verdict with its scope, basis, evidence count, data/model estimates, accuracy half."""
    rows = []
    for r in results:
        lead = r.claim_id == "a100-leads"
        by_basis: dict[str, list[str]] = {"data": [], "model": []}
        for c in r.comparisons:
            if not c.counted:
                continue
            est = _fmt_pct(c.estimate_pct)
            ci = f" [{c.ci_pct[0]:+.1f}, {c.ci_pct[1]:+.1f}]" if c.ci_pct else ""
            by_basis[c.basis].append(f"{escape(c.label)}: <b>{est or 'no evidence'}</b>{escape(ci)} (n={c.n}) {verdict_badge(c.verdict)}")
        accuracy = ""
        if r.accuracy_verdict is not None:
            accuracy = (
                f"<br><span class=note>accuracy half: {escape(r.accuracy_statement)}</span> {verdict_badge(r.accuracy_verdict)}"
                f"<span class=note> (decided by: {escape(r.accuracy_basis)})</span>"
            )
        rows.append(
            [
                f"<b>{escape(r.statement)}</b><details><summary>how it is tested</summary><p class=note>{escape(r.tested_as)}</p>"
                f"<ul>{_comparison_items(r.comparisons, lead)}</ul>"
                + (f"<p class=note>Accuracy half: {escape(r.accuracy_statement)}</p><ul>{_comparison_items(r.accuracy_comparisons, False)}</ul>"
                   if r.accuracy_comparisons else "")
                + "</details>",
                "<br>".join(by_basis["data"]) or "—",
                "<br>".join(by_basis["model"]) or "—",
                f"{r.evidence_n}",
                f"{verdict_badge(r.verdict)}<br><span class=note>decided by: {escape(r.basis)}"
                + (f"; holds only for: {escape(r.scope)}" if r.scope else "")
                + "</span>" + accuracy,
            ]
        )
    counts = {v: sum(1 for r in results if r.verdict == v) for v in VERDICTS}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n or v in ("supported", "contradicted", "not enough data"))
    return (
        '<section id="claims"><h2>Claims check</h2>'
        "<p class=lead>Each headline claim of the study (../shared/context/MISSION.md) next to what the measured table and the "
        "regressor say. Verdicts are computed when this page is built: <b>supported</b> when the median matched effect lies in "
        "the claim's band, <b>contradicted</b> when the whole 90% cluster-bootstrap interval lies outside it (or, for 'leads "
        "everywhere', any matched counterexample), <b>depends on the format</b> when the formats a precision could mean disagree, "
        "<b>not enough data</b> otherwise or with fewer than 3 independent clusters (source x GPU x model). Each verdict holds only "
        "within the scope stated under it. Quantization effects are against the decision flow's reference for each format (the first "
        "of fp16, bf16, fp32 moving more bytes per weight; the decision matrix uses the same); the study does not say what its baseline "
        "was. Energy is gross (idle draw included). Predicted effects beyond what the bytes moved allow are never shown. "
        f"Now: {escape(summary)}.</p>"
        + _note(inputs, "predictions")
        + table(["claim", "what the data say", "what the model says", "evidence (n)", "verdict (scope)"], rows, num_cols=[3], raw=True)
        + "</section>"
    )


def heatmap_section(inputs: ReportInputs, plat_order: list[str]) -> str:
    """EOR heatmap per task."""
    pts = inputs.points
    if pts.empty or not inputs.benchmark_tasks:
        return f'<section id="heatmap"><h2>EOR heatmap</h2><p class="note warn">No configuration has both accuracy and energy yet (measured or predicted).</p>{_note(inputs, "predictions")}</section>'
    fig = figures.eor_heatmap(pts, inputs.benchmark_tasks, plat_order, QUANTIZATIONS)
    return (
        '<section id="heatmap"><h2>EOR heatmap: platform × quantization</h2>'
        "<p class=lead>EOR = accuracy × 100 / (Wh per 1,000 queries), median over the models of the cell's best evidence. "
        "Cells outlined in black and labelled <b>M</b> are measured; <b>P</b> cells are predicted by the regressor "
        "(interpolated), <b>P!</b> only extrapolated beyond the data. Predicted cells use the study's setup (Hugging Face transformers, batch 1, one GPU). Pick the task "
        "in the drop-down; hover a cell for its provenance.</p>"
        + _note(inputs, "predictions")
        + plot_div("fig-heatmap", figures.to_json(fig))
        + "</section>"
    )


def tradeoff_section(inputs: ReportInputs) -> str:
    """Accuracy vs energy with intervals and the Pareto frontier, per task."""
    pts = inputs.points
    if pts.empty or not inputs.benchmark_tasks:
        return '<section id="tradeoff"><h2>Accuracy vs energy</h2><p class="note warn">No configuration points to draw.</p></section>'
    fig = figures.tradeoff(pts, inputs.benchmark_tasks, QUANTIZATIONS)
    per_task = []
    for t in inputs.benchmark_tasks:
        p = pts[pts["task"] == t]
        per_task.append([t, int((p["origin"] == "measured").sum()), int((p["status"] == "interpolated").sum()), int((p["status"] == "extrapolated").sum())])
    return (
        '<section id="tradeoff"><h2>Accuracy vs energy trade-off</h2>'
        "<p class=lead>Every configuration of the task as a point with its 90% interval bars; filled markers are measured, "
        "open circles predicted (interpolated), open diamonds extrapolated beyond the data. Where a task has measured or "
        "interpolated points, the extrapolated ones start hidden: click their legend entries to show them. The dotted step "
        "line is the Pareto frontier of the points shown by default (no other configuration is both cheaper and more "
        "accurate). Hover a point for its interval and source.</p>"
        + plot_div("fig-tradeoff", figures.to_json(fig))
        + "<details><summary>points per task</summary>"
        + table(["task", "measured", "predicted (interpolated)", "predicted (extrapolated)"], per_task, num_cols=[1, 2, 3])
        + "</details></section>"
    )


def flow_section(inputs: ReportInputs) -> str:
    """The decision flow SVG and the decision matrix."""
    parts = ['<section id="flow"><h2>Decision flow and decision matrix</h2>']
    if inputs.flow is not None:
        try:
            svg = flow_svg(inputs.flow)
            parts.append("<p class=lead>How <code>eai recommend</code> narrows the candidates (from <code>data/decision_flow.yaml</code>); "
                         "preferences only break ties between candidates whose predicted objective intervals overlap.</p>")
            parts.append(f'<div class="flow-wrap">{svg}</div>')
        except KeyError as exc:
            parts.append(f'<p class="note warn">decision_flow.yaml lacks the {escape(str(exc))} section; flow not drawn.</p>')
    else:
        parts.append(_note(inputs, "flow"))
    if inputs.matrix_md is None or not inputs.matrix_md.lstrip().startswith("#"):
        parts.append("<h3>Decision matrix</h3>")
    if inputs.matrix_md is not None:
        parts.append("<p class=lead>Current <code>data/decision_matrix.md</code> (generated by <code>eai matrix</code>).</p>")
        parts.append(markdown_to_html(inputs.matrix_md))
    else:
        parts.append(_note(inputs, "matrix"))
    parts.append("</section>")
    return "\n".join(parts)


_LICENSE_IDS = re.compile(r"\b(MIT|Apache-2\.0|CC[- ]BY(?:[-A-Z]*)?[- ]?[0-9.]*|BSD-[0-9]-Clause|GPL-[0-9.]+|ODC-[A-Za-z]+)\b")


def license_from_sources_md(source: str, sources_md: str) -> str | None:
    """License of one source tag as data/SOURCES.md states it.

    Looks in the ``## <tag> ...`` section for a "License: ..." sentence, else for a
    license identifier (MIT, Apache-2.0, CC-BY...) mentioned in it, else in a pipe
    table with a license column.
    """
    sections = re.split(r"(?m)^## ", sources_md)
    for sec in sections[1:]:
        head = sec.split("\n", 1)[0]
        if head.split()[0].strip("`") != source:
            continue
        body = " ".join(sec.split())
        m = re.search(r"License:\s*(.+?)(?:\.\s|\.$)", body)
        if m:
            return m.group(1).strip()
        ids = list(dict.fromkeys(x.group(1) for x in _LICENSE_IDS.finditer(body)))
        if ids:
            return ", ".join(ids) + " (named in the source's section)"
    for header, rows in md_tables(sources_md):
        lower = [h.lower() for h in header]
        lic_col = next((i for i, h in enumerate(lower) if "licen" in h), None)
        if lic_col is None:
            continue
        for r in rows:
            if any(source == c.strip("` ") for c in r) and lic_col < len(r):
                return r[lic_col]
    return None


def _license_for(source: str, inputs: ReportInputs) -> str:
    if inputs.sources_md:
        found = license_from_sources_md(source, inputs.sources_md)
        if found:
            return found
    if source == "eai-profiler":
        return "eai's own measurements (project license, pyproject.toml)"
    return "not stated (see data/SOURCES.md)"


def provenance_section(inputs: ReportInputs) -> str:
    """Rows per source with license and energy method, plus a stacked bar chart."""
    t = inputs.table
    if t.empty:
        return '<section id="provenance"><h2>Data provenance</h2><p class="note warn">The measured table is empty.</p></section>'
    rows = []
    for src, g in t.groupby("source", sort=True):
        pairs = g.groupby(["energy_method", "energy_scope"]).size()
        methods = "; ".join(f"{m}, {sc} ({n})" for (m, sc), n in pairs.items())
        idle = int(g["idle_subtracted"].sum())
        rows.append(
            [
                src,
                len(g),
                int(g["accuracy"].notna().sum()),
                g["platform"].nunique(),
                g["model_id"].nunique(),
                ", ".join(sorted(g["quantization"].astype(str).unique())),
                methods,
                f"{idle} of {len(g)}",
                _license_for(str(src), inputs),
            ]
        )
    counts = t.groupby(["source", "energy_method"]).size().rename("rows").reset_index()
    fig = figures.provenance_bars(counts)
    acc_html = ""
    a = inputs.accuracy_table
    if a is not None and not a.empty:
        acc_rows = [
            [src, len(g), g["model_id"].nunique(), ", ".join(sorted(g["task"].astype(str).unique())), _license_for(str(src), inputs)]
            for src, g in a.groupby("source", sort=True)
        ]
        acc_html = (
            "<h3>Accuracy table (data/accuracy.csv)</h3><p class=note>Scores without energy (leaderboards); the regressor's "
            "accuracy model learns from them.</p>"
            + table(["source", "rows", "models", "tasks", "license"], acc_rows, num_cols=[1, 2])
        )
    sources_html = _note(inputs, "provenance")
    if inputs.sources_md:
        sources_html += "<details><summary>data/SOURCES.md</summary>" + markdown_to_html(inputs.sources_md) + "</details>"
    return (
        '<section id="provenance"><h2>Data provenance</h2>'
        f"<p class=lead>Table <code>{escape(str(inputs.table_path))}</code>, {len(t)} rows, SHA-256 <code>{inputs.table_sha256[:16]}…</code>. "
        "Energy method says how energy was obtained (NVML energy counter, sampled power, RAPL, estimate); scope says what it covers. "
        "Energy is gross throughout this report: everything the devices drew while serving, idle draw included; "
        "the idle-subtracted column counts rows that would subtract it.</p>"
        + table(["source", "rows", "with accuracy", "platforms", "models", "quantizations", "energy method, scope (rows)", "idle subtracted", "license"], rows, num_cols=[1, 2, 3, 4])
        + plot_div("fig-provenance", figures.to_json(fig))
        + acc_html
        + sources_html
        + "</section>"
    )


def render_report(inputs: ReportInputs) -> tuple[str, list[ClaimResult]]:
    """The report page for gathered inputs (HTML text) and the claim results shown in it."""
    plat_order = _platform_order(inputs.points["platform"] if not inputs.points.empty else inputs.table["platform"])
    results = check_claims(inputs.table, inputs.grid_points)
    n_meas = int((inputs.points["origin"] == "measured").sum()) if not inputs.points.empty else 0
    n_pred = len(inputs.points) - n_meas
    meta = (
        f"generated {escape(dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC'))} by eai {escape(__version__)} · "
        f"table {escape(inputs.table_path.name)} ({len(inputs.table)} rows, sha256 {inputs.table_sha256[:12]}) · "
        f"{n_meas} measured and {n_pred} predicted configuration points · fully offline page"
    )
    sections = [
        claims_section(results, inputs),
        heatmap_section(inputs, plat_order),
        tradeoff_section(inputs),
        flow_section(inputs),
        validation_section(inputs.evaluation, inputs.notes.get("validation")),
        provenance_section(inputs),
    ]
    return page("eai report: energy-aware LLM deployment", meta, SECTIONS, sections), results


def build_report(
    out: str | Path,
    table_path: str | Path = DEFAULT_TABLE,
    with_predictions: bool = True,
    predictor: Any | None = None,
    model_dir: str | Path | None = None,
) -> BuildResult:
    """Build the self-contained HTML report.

    Args:
        out: Output HTML file (parent folders are created).
        table_path: Measured table CSV.
        with_predictions: Load the fitted predictor and add predicted configurations.
        predictor: A fitted predictor to use instead of loading the shipped one.
        model_dir: Fitted-model directory to load the predictor from (default: shipped).

    Returns:
        What was written and how long it took.
    """
    t0 = time.perf_counter()
    inputs = gather(table_path, with_predictor=with_predictions, predictor=predictor, model_dir=model_dir)
    t1 = time.perf_counter()
    html, results = render_report(inputs)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    t2 = time.perf_counter()
    n_meas = int((inputs.points["origin"] == "measured").sum()) if not inputs.points.empty else 0
    return BuildResult(
        path=path,
        size_bytes=path.stat().st_size,
        build_s=t2 - t0,
        gather_s=t1 - t0,
        points_measured=n_meas,
        points_predicted=len(inputs.points) - n_meas,
        claims=tuple(results),
        notes=dict(inputs.notes),
    )
