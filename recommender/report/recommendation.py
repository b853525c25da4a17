"""``eai recommend ... --report FILE``: one offline HTML page for one recommendation.

:func:`render_recommendation_report` accepts, for ``result``:

1. a :class:`recommender.rules.engine.Recommendation` (anything with ``to_dict()``), or
2. its JSON document as a dict (``eai recommend --json``: ``recommendations`` = ranked rows,
   ``explanation``, ``scenario``, ``objective``, ``spec``, ``assumptions``, ``data_hash``), or
3. a pandas DataFrame of ranked candidates (best first, or with a ``rank`` column), or a
   ``(DataFrame, explanation)`` tuple; the explanation may be a string or a dict.

A candidate row needs ``platform``, ``model_id``, ``quantization`` and an accuracy and an
energy figure; each figure may be a ``{"value", "lo", "hi"}`` dict (the JSON document's form)
or flat columns ``accuracy``/``accuracy_lo``/``accuracy_hi``. Energy is read from
``wh_per_1k_queries`` (Wh per 1,000 queries) or ``energy_wh_per_1k`` or, in J,
``energy_j_per_query``. Optional: ``rank``, ``tie``, ``status``, ``eor``, ``tweor``,
``time_s_per_query``, ``engine``, ``batch_size``, ``device_count``, ``per_task`` (list of
``{"task", "accuracy", "wh_per_1k_queries"}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender.errors import InvalidInputError
from recommender.report import figures
from recommender.report.html import page, plot_div, table
from recommender.report.metrics import POINT_COLUMNS, j_per_query_to_wh_per_1k
from recommender.table.schema import QUANTIZATIONS

_OVERALL = "all tasks (weighted)"


def _triple(row: Mapping[str, Any], *names: str, scale: float = 1.0) -> tuple[float, float, float]:
    """(value, lo, hi) of the first present name; dict form or flat ``_lo``/``_hi`` columns."""
    for name in names:
        if name not in row:
            continue
        v = row[name]
        if isinstance(v, Mapping):
            val = _f(v.get("value"))
            lo, hi = _f(v.get("lo")), _f(v.get("hi"))
        else:
            val, lo, hi = _f(v), _f(row.get(f"{name}_lo")), _f(row.get(f"{name}_hi"))
        if np.isnan(val):
            continue
        lo = val if np.isnan(lo) else lo
        hi = val if np.isnan(hi) else hi
        return val * scale, lo * scale, hi * scale
    return float("nan"), float("nan"), float("nan")


def _f(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def normalize_result(result: Any, explanation: Any = None) -> tuple[list[dict[str, Any]], Any, dict[str, Any]]:
    """Ranked rows (dicts, best first), the explanation, and metadata from any accepted form.

    Raises:
        InvalidInputError: ``result`` is none of the accepted forms or has no candidates.
    """
    meta: dict[str, Any] = {}
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], pd.DataFrame):
        result, explanation = result
    if hasattr(result, "to_dict") and not isinstance(result, (pd.DataFrame, dict)):
        result = result.to_dict()
    if isinstance(result, pd.DataFrame):
        frame = result.sort_values("rank", kind="stable") if "rank" in result.columns else result
        rows = [{k: v for k, v in r.items()} for r in frame.to_dict("records")]
    elif isinstance(result, Mapping):
        rows = list(result.get("recommendations") or result.get("rows") or result.get("candidates") or [])
        explanation = explanation if explanation is not None else result.get("explanation")
        obj = result.get("objective")
        meta = {
            "scenario": result.get("scenario"),
            "objective": obj.get("label") or obj.get("name") if isinstance(obj, Mapping) else obj,
            "spec": result.get("spec"),
            "assumptions": result.get("assumptions") or [],
            "data_hash": result.get("data_hash"),
            "eai_version": result.get("eai_version"),
        }
    else:
        raise InvalidInputError(
            f"cannot render a recommendation report from {type(result).__name__}; pass a Recommendation, "
            "its to_dict() document, or a DataFrame of ranked candidates (+ explanation)"
        )
    if not rows:
        raise InvalidInputError("the recommendation has no candidates to report")
    return rows, explanation, meta


def candidate_points(rows: list[dict[str, Any]], tasks: list[str]) -> pd.DataFrame:
    """Points frame for the trade-off plot: overall figures plus one entry per task where given."""
    recs = []
    for i, r in enumerate(rows):
        base = {
            "platform": str(r.get("platform", "?")),
            "model_id": str(r.get("model_id", "?")),
            "quantization": str(r.get("quantization", "?")),
            "engine": str(r.get("engine", "")),
            "batch_size": int(_f(r.get("batch_size")) if np.isfinite(_f(r.get("batch_size"))) else 1),
            "device_count": int(_f(r.get("device_count")) if np.isfinite(_f(r.get("device_count"))) else 1),
            "status": str(r.get("status", "interpolated")) if str(r.get("status", "")) in figures.STATUS_SYMBOL else "interpolated",
            "origin": "measured" if str(r.get("status")) == "measured" else "predicted",
            "source": f"candidate {i + 1}, rank {r.get('rank', i + 1)}",
        }
        acc = _triple(r, "accuracy")
        energy = _triple(r, "wh_per_1k_queries", "energy_wh_per_1k")
        if np.isnan(energy[0]):
            energy = _triple(r, "energy_j_per_query", scale=1000.0 / 3600.0)
        eor = _triple(r, "eor")
        time = _triple(r, "time_s_per_query")
        recs.append({**base, "task": _OVERALL, "accuracy": acc[0], "accuracy_lo": acc[1], "accuracy_hi": acc[2],
                     "energy_wh_per_1k": energy[0], "energy_wh_per_1k_lo": energy[1], "energy_wh_per_1k_hi": energy[2],
                     "eor": eor[0], "eor_lo": eor[1], "eor_hi": eor[2], "time_s_per_query": time[0]})
        for pt in r.get("per_task") or []:
            if not isinstance(pt, Mapping) or "task" not in pt:
                continue
            a = _f(pt.get("accuracy"))
            e = _f(pt.get("wh_per_1k_queries"))
            if np.isnan(e):
                e = float(j_per_query_to_wh_per_1k(_f(pt.get("energy_j_per_query"))))
            st = str(pt.get("status", base["status"]))
            recs.append({**base, "status": st if st in figures.STATUS_SYMBOL else base["status"], "task": str(pt["task"]),
                         "accuracy": a, "accuracy_lo": a, "accuracy_hi": a, "energy_wh_per_1k": e,
                         "energy_wh_per_1k_lo": e, "energy_wh_per_1k_hi": e,
                         "eor": a * 100.0 / e if e and e > 0 else float("nan"), "eor_lo": float("nan"), "eor_hi": float("nan"),
                         "time_s_per_query": _f(pt.get("time_s_per_query"))})
            if str(pt["task"]) not in tasks:
                tasks.append(str(pt["task"]))
    return pd.DataFrame(recs, columns=list(POINT_COLUMNS))


def _explanation_html(expl: Any, depth: int = 0) -> str:
    """Render an explanation of any JSON shape as nested lists (strings stay prose)."""
    if expl is None:
        return "<p class=note>No explanation was given.</p>"
    if isinstance(expl, str):
        return "<p>" + escape(expl) + "</p>"
    if isinstance(expl, Mapping):
        items = []
        for k, v in expl.items():
            if isinstance(v, (Mapping, list, tuple)) and v:
                items.append(f"<li><b>{escape(str(k))}</b>{_explanation_html(v, depth + 1)}</li>")
            else:
                items.append(f"<li><b>{escape(str(k))}</b>: {escape(_scalar(v))}</li>")
        return "<ul>" + "".join(items) + "</ul>"
    if isinstance(expl, (list, tuple)):
        if expl and all(isinstance(x, Mapping) for x in expl) and depth < 3:
            header: list[str] = []
            for x in expl:
                header += [k for k in x if k not in header]
            return table(header, [[_scalar(x.get(h)) for h in header] for x in expl])
        return "<ul>" + "".join(f"<li>{_explanation_html(x, depth + 1) if isinstance(x, (Mapping, list, tuple)) else escape(_scalar(x))}</li>" for x in expl) + "</ul>"
    return "<p>" + escape(_scalar(expl)) + "</p>"


def _scalar(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}" if np.isfinite(v) else "—"
    if isinstance(v, (Mapping, list, tuple)):
        return json.dumps(v, default=str)
    return str(v)


def _iv(t: tuple[float, float, float], fmt: str = "{:.4g}") -> str:
    if np.isnan(t[0]):
        return "—"
    if t[1] == t[0] and t[2] == t[0]:
        return fmt.format(t[0])
    return f"{fmt.format(t[0])} [{fmt.format(t[1])}, {fmt.format(t[2])}]"


def render_recommendation_report(result: Any, path: str | Path, explanation: Any = None, title: str = "eai recommendation") -> Path:
    """Write a self-contained offline HTML page for one recommendation.

    Shows the winner, the ranked candidates (table and accuracy-vs-energy plot with
    90% interval bars, the Pareto frontier of the candidates, the winner starred),
    the explanation and the spec.

    Args:
        result: A ``Recommendation``, its ``to_dict()`` document, a DataFrame of ranked
            candidates, or ``(DataFrame, explanation)``; see the module docstring.
        path: HTML file to write (parent folders are created).
        explanation: Explanation (string or dict) when ``result`` does not carry one.
        title: Page title.

    Returns:
        The written path.

    Raises:
        InvalidInputError: ``result`` cannot be read as a recommendation.
    """
    rows, expl, meta = normalize_result(result, explanation)
    tasks = [_OVERALL]
    pts = candidate_points(rows, tasks)
    drawable = pts.dropna(subset=["accuracy", "energy_wh_per_1k"])
    winner_pts = drawable[drawable["source"] == pts["source"].iloc[0]]
    w = rows[0]
    acc = _triple(w, "accuracy")
    energy = _triple(w, "wh_per_1k_queries", "energy_wh_per_1k")
    if np.isnan(energy[0]):
        energy = _triple(w, "energy_j_per_query", scale=1000.0 / 3600.0)
    summary = table(
        ["platform", "model", "quantization", "accuracy [90%]", "Wh / 1k queries [90%]", "s / query [90%]", "EOR [90%]", "TWEOR [90%]", "status"],
        [[w.get("platform"), w.get("model_id"), w.get("quantization"), _iv(acc, "{:.3f}"), _iv(energy), _iv(_triple(w, "time_s_per_query")),
          _iv(_triple(w, "eor")), _iv(_triple(w, "tweor")), w.get("status", "")]],
    )
    ranked = []
    for i, r in enumerate(rows):
        e = _triple(r, "wh_per_1k_queries", "energy_wh_per_1k")
        if np.isnan(e[0]):
            e = _triple(r, "energy_j_per_query", scale=1000.0 / 3600.0)
        pb = r.get("probability_best")  # from recommender.plan.decision (None when not sampled)
        ranked.append([r.get("rank", i + 1), "yes" if r.get("tie") else "", "" if pb is None else f"{100 * pb:.0f}%",
                       r.get("platform"), r.get("model_id"), r.get("quantization"),
                       r.get("engine", ""), r.get("batch_size", ""), _iv(_triple(r, "accuracy"), "{:.3f}"), _iv(e), _iv(_triple(r, "eor")),
                       r.get("status", ""), r.get("accuracy_status", "")])
    ranked_html = table(["rank", "tied", "P(best)", "platform", "model", "quantization", "engine", "batch", "accuracy", "Wh / 1k queries", "EOR", "status", "accuracy status"],
                        ranked, num_cols=[0, 7], row_classes=["winner"] + [""] * (len(ranked) - 1))
    decision = expl.get("ties", {}).get("statement") if isinstance(expl, Mapping) and isinstance(expl.get("ties"), Mapping) else None
    if decision:
        ranked_html = f'<p class="note">{escape(str(decision))}</p>' + ranked_html
    plot_tasks = [t for t in tasks if not drawable[drawable["task"] == t].empty]
    if plot_tasks:
        fig = figures.tradeoff(drawable, plot_tasks, QUANTIZATIONS, highlight=winner_pts)
        plot_html = plot_div("fig-rec-tradeoff", figures.to_json(fig))
    else:
        plot_html = '<p class="note warn">The candidates carry no accuracy/energy figures to plot.</p>'
    meta_bits = [f"{k}: {escape(_scalar(v))}" for k, v in meta.items() if k in ("scenario", "objective", "data_hash", "eai_version") and v]
    sections = [
        '<section id="winner"><h2>Recommendation</h2>' + summary + "</section>",
        '<section id="tradeoff"><h2>Ranked candidates on the accuracy-vs-energy plane</h2>'
        "<p class=lead>Each ranked candidate with its 90% interval bars; the star is the winner, the dotted step line the "
        "Pareto frontier of these candidates. Use the drop-down for per-task figures (points only, no intervals). "
        "Energy is gross: everything the devices drew while serving, idle draw included.</p>"
        + plot_html + ranked_html + "</section>",
        '<section id="explanation"><h2>Why</h2>' + _explanation_html(expl) + "</section>",
    ]
    if meta.get("assumptions"):
        sections.append('<section id="assumptions"><h2>Assumptions</h2>' + _explanation_html(list(meta["assumptions"])) + "</section>")
    if meta.get("spec"):
        sections.append('<section id="spec"><h2>Requirements spec</h2><pre>' + escape(json.dumps(meta["spec"], indent=2, default=str)) + "</pre></section>")
    nav = [("winner", "Recommendation"), ("tradeoff", "Candidates"), ("explanation", "Why")]
    html = page(title, " · ".join(meta_bits) + (" · " if meta_bits else "") + "fully offline page", nav, sections)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
