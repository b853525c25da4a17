"""Plotly figures of the report, returned as JSON-ready dicts (``{"data": [...], "layout": {...}}``).

Each figure with one tab per task carries all tasks' traces and a dropdown that
switches their visibility, so the page needs no JavaScript of its own beyond
``Plotly.newPlot``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from recommender.report.metrics import pareto_mask

QUANT_COLORS = {
    "fp32": "#636efa",
    "fp16": "#00a087",
    "bf16": "#4dbbd5",
    "fp8": "#8491b4",
    "mxfp4": "#91d1c2",
    "int8-bnb": "#e64b35",
    "int8-bnb-t0": "#f39b7f",
    "nf4-bnb": "#7e6148",
    "fp4-bnb": "#b09c85",
    "dynamic-int8": "#ab63fa",
    "gguf-q4": "#3c5488",
    "gguf-q8": "#6a7fb8",
}
STATUS_SYMBOL = {"measured": "circle", "interpolated": "circle-open", "extrapolated": "diamond-open"}
STATUS_LABEL = {"measured": "measured", "interpolated": "predicted (interpolated)", "extrapolated": "predicted (extrapolated)"}
_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}


def to_json(fig: go.Figure) -> str:
    """Figure as compact JSON (plotly's encoder handles numpy and NaN)."""
    return pio.to_json(fig, validate=False, pretty=False, engine="json")


def _task_buttons(
    tasks: Sequence[str],
    owners: Sequence[str],
    extra_layouts: Sequence[dict[str, Any]] | None = None,
    states: Sequence[bool | str] | None = None,
) -> list[dict[str, Any]]:
    """Dropdown entries: task i shows traces whose owner is task i (owner '*' is always shown).

    ``states`` gives each trace's visibility when shown (True, or "legendonly" for traces
    that start hidden but can be switched on from the legend).
    """
    buttons = []
    for i, task in enumerate(tasks):
        vis = [(states[k] if states is not None else True) if (o == task or o == "*") else False for k, o in enumerate(owners)]
        args: list[Any] = [{"visible": vis}]
        if extra_layouts is not None:
            args.append(extra_layouts[i])
        buttons.append({"label": task, "method": "update", "args": args})
    return buttons


def _dropdown(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "buttons": buttons,
            "direction": "down",
            "x": 0.0,
            "xanchor": "left",
            "y": 1.16,
            "yanchor": "top",
            "showactive": True,
            "pad": {"r": 4, "t": 2},
        }
    ]


def _ordered(values: Sequence[str], preferred: Sequence[str]) -> list[str]:
    present = list(dict.fromkeys(values))
    return [p for p in preferred if p in present] + sorted(p for p in present if p not in preferred)


def heatmap_cells(points: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per platform x quantization cell of one task: EOR, its evidence kind, how many models.

    A cell shows the median EOR over its best-evidence points: measured (a measured row, or a
    prediction the predictor marks ``measured``), else interpolated, else extrapolated.
    """
    p = points[(points["task"] == task) & points["eor"].notna()]
    rows = []
    for (plat, quant), g in p.groupby(["platform", "quantization"], sort=False):
        # The cell shows the best evidence it has: measured points, else interpolated, else extrapolated.
        measured = (g["origin"] == "measured") | (g["status"] == "measured")
        for kind, sel in (("measured", measured), ("interpolated", ~measured & (g["status"] == "interpolated")), ("extrapolated", ~measured & (g["status"] == "extrapolated"))):
            d = g[sel]
            if not d.empty:
                # A measured cell whose energy is the CPU estimate (not a meter) says so.
                estimated = kind == "measured" and "energy_method" in d and bool((d["energy_method"] == "estimated").any())
                rows.append({"platform": plat, "quantization": quant, "eor": float(d["eor"].median()), "kind": kind, "n_models": d["model_id"].nunique(), "n_points": len(d), "estimated": estimated})
                break
    return pd.DataFrame(rows, columns=["platform", "quantization", "eor", "kind", "n_models", "n_points", "estimated"])


def eor_heatmap(points: pd.DataFrame, tasks: Sequence[str], platform_order: Sequence[str], quant_order: Sequence[str]) -> go.Figure:
    """EOR heatmap (platform rows x quantization columns), one dropdown entry per task.

    Colour is log10(EOR) so that CPU and GPU cells share one scale; measured cells are
    outlined in black (a layout shape per cell, switched with the task) and labelled "M"
    ("M est." where the measured energy is the CPU estimate, not a meter reading),
    predicted ones "P" (extrapolated "P!"). All tasks share the same row and column
    categories so that the outlines line up with their cells.
    """
    fig = go.Figure()
    owners: list[str] = []
    all_eor = points.loc[points["eor"] > 0, "eor"] if not points.empty else pd.Series(dtype=float)
    zmin = math.floor(np.log10(all_eor.min())) if len(all_eor) else 0
    zmax = math.ceil(np.log10(all_eor.max())) if len(all_eor) else 1
    zmax = max(zmax, zmin + 1)
    ticks = list(range(zmin, zmax + 1))
    per_task = {task: heatmap_cells(points, task) for task in tasks}
    every = pd.concat(list(per_task.values()), ignore_index=True) if per_task else pd.DataFrame(columns=["platform", "quantization"])
    plats = _ordered(every["platform"], platform_order)
    quants = _ordered(every["quantization"], quant_order)
    shapes_by_task: list[list[dict[str, Any]]] = []
    for i, task in enumerate(tasks):
        cells = per_task[task]
        z = np.full((len(plats), len(quants)), np.nan)
        text = [["" for _ in quants] for _ in plats]
        hover = [["no data" for _ in quants] for _ in plats]
        shapes: list[dict[str, Any]] = []
        for _, c in cells.iterrows():
            r, k = plats.index(c["platform"]), quants.index(c["quantization"])
            z[r, k] = np.log10(c["eor"]) if c["eor"] > 0 else np.nan
            tag = {"measured": "M", "interpolated": "P", "extrapolated": "P!"}[c["kind"]]
            if c["estimated"]:
                tag = "M est."
            text[r][k] = f"{c['eor']:.3g} {tag}"
            hover[r][k] = (
                f"{c['platform']} / {c['quantization']}<br>EOR {c['eor']:.4g} (median of {c['n_points']} point(s), "
                f"{c['n_models']} model(s))<br>{STATUS_LABEL[c['kind']]}"
                + ("<br>energy estimated (process CPU time x TDP share), not metered" if c["estimated"] else "")
            )
            if c["kind"] == "measured":
                shapes.append(
                    {"type": "rect", "xref": "x", "yref": "y", "x0": k - 0.47, "x1": k + 0.47, "y0": r - 0.45, "y1": r + 0.45,
                     "line": {"color": "black", "width": 3}, "fillcolor": "rgba(0,0,0,0)"}
                )
        shapes_by_task.append(shapes)
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=quants,
                y=plats,
                text=text,
                texttemplate="%{text}",
                textfont={"size": 11},
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
                colorscale="Viridis",
                zmin=zmin,
                zmax=zmax,
                colorbar={"title": {"text": "EOR"}, "tickvals": ticks, "ticktext": [f"{10.0 ** t:g}" for t in ticks]},
                visible=i == 0,
                name=task,
                xgap=2,
                ygap=2,
            )
        )
        owners.append(task)
    fig.update_layout(
        font=_FONT,
        height=max(320, 110 + 44 * len(plats)),
        margin={"l": 140, "r": 30, "t": 70, "b": 50},
        xaxis={"title": {"text": "quantization"}, "type": "category", "categoryorder": "array", "categoryarray": quants},
        yaxis={"title": {"text": "platform"}, "type": "category", "categoryorder": "array", "categoryarray": plats, "autorange": "reversed"},
        shapes=shapes_by_task[0] if shapes_by_task else [],
        updatemenus=_dropdown(_task_buttons(tasks, owners, extra_layouts=[{"shapes": sh} for sh in shapes_by_task])),
        plot_bgcolor="#f4f4f4",
    )
    return fig


def _err(values: pd.Series, lo: pd.Series, hi: pd.Series) -> tuple[list[float], list[float]]:
    plus = (hi - values).clip(lower=0).fillna(0.0)
    minus = (values - lo).clip(lower=0).fillna(0.0)
    return plus.tolist(), minus.tolist()


def _hover(df: pd.DataFrame) -> list[str]:
    out = []
    for _, r in df.iterrows():
        out.append(
            f"<b>{r['platform']}</b> / {r['model_id']} / {r['quantization']}<br>"
            f"accuracy {r['accuracy']:.3f} [{r['accuracy_lo']:.3f}, {r['accuracy_hi']:.3f}]<br>"
            f"energy {r['energy_wh_per_1k']:.4g} Wh/1k queries [{r['energy_wh_per_1k_lo']:.4g}, {r['energy_wh_per_1k_hi']:.4g}]<br>"
            f"EOR {r['eor']:.4g}<br>{STATUS_LABEL.get(r['status'], r['status'])} ({r['source']})"
        )
    return out


def tradeoff(
    points: pd.DataFrame,
    tasks: Sequence[str],
    quant_order: Sequence[str],
    highlight: pd.DataFrame | None = None,
    title: str = "",
) -> go.Figure:
    """Accuracy vs energy per task with 90% interval bars and the Pareto frontier.

    Args:
        points: Points frame (``metrics.POINT_COLUMNS``).
        tasks: Tasks in dropdown order (one entry per task).
        quant_order: Preferred order of quantizations in the legend.
        highlight: Points to mark with a star (e.g. a recommendation's winner).
        title: Figure title.
    """
    fig = go.Figure()
    owners: list[str] = []
    states: list[bool | str] = []
    for i, task in enumerate(tasks):
        p = points[(points["task"] == task)].dropna(subset=["accuracy", "energy_wh_per_1k"])
        p = p[p["energy_wh_per_1k"] > 0]
        # Extrapolations start hidden (legend click shows them) when anything better exists, and
        # the frontier is then drawn over measured + interpolated points only.
        hide_extrap = bool((p["status"] != "extrapolated").any()) and bool((p["status"] == "extrapolated").any())
        basis = p[p["status"] != "extrapolated"] if hide_extrap else p
        front = basis[pareto_mask(basis["energy_wh_per_1k"].to_numpy(), basis["accuracy"].to_numpy())].sort_values("energy_wh_per_1k")
        fig.add_trace(
            go.Scatter(
                x=front["energy_wh_per_1k"].tolist(),
                y=front["accuracy"].tolist(),
                mode="lines",
                line={"shape": "hv", "color": "#222", "width": 2, "dash": "dot"},
                name="Pareto frontier" + (" (measured + interpolated)" if hide_extrap else ""),
                hoverinfo="skip",
                visible=i == 0,
                legendgroup="pareto",
            )
        )
        owners.append(task)
        states.append(True)
        for quant in _ordered(p["quantization"], quant_order):
            for status in ("measured", "interpolated", "extrapolated"):
                d = p[(p["quantization"] == quant) & (p["status"] == status)]
                if d.empty:
                    continue
                state: bool | str = "legendonly" if (hide_extrap and status == "extrapolated") else True
                ex_p, ex_m = _err(d["energy_wh_per_1k"], d["energy_wh_per_1k_lo"], d["energy_wh_per_1k_hi"])
                ey_p, ey_m = _err(d["accuracy"], d["accuracy_lo"], d["accuracy_hi"])
                color = QUANT_COLORS.get(quant, "#555")
                # Predicted intervals are wide; fainter bars keep the points readable.
                bar_color = color if status == "measured" else _rgba(color, 0.35)
                fig.add_trace(
                    go.Scatter(
                        x=d["energy_wh_per_1k"].tolist(),
                        y=d["accuracy"].tolist(),
                        mode="markers",
                        marker={
                            "symbol": STATUS_SYMBOL[status],
                            "size": 10 if status == "measured" else 8,
                            "color": color,
                            "line": {"width": 1.5 if status == "measured" else 1.2, "color": "#111" if status == "measured" else color},
                        },
                        error_x={"type": "data", "array": ex_p, "arrayminus": ex_m, "thickness": 1, "width": 0, "color": bar_color},
                        error_y={"type": "data", "array": ey_p, "arrayminus": ey_m, "thickness": 1, "width": 0, "color": bar_color},
                        opacity=1.0 if status == "measured" else 0.65,
                        name=f"{quant} · {STATUS_LABEL[status]}",
                        text=_hover(d),
                        hovertemplate="%{text}<extra></extra>",
                        visible=state if i == 0 else False,
                        legendgroup=quant,
                    )
                )
                owners.append(task)
                states.append(state)
        if highlight is not None and not highlight.empty:
            h = highlight[highlight["task"] == task] if "task" in highlight else highlight
            if not h.empty:
                fig.add_trace(
                    go.Scatter(
                        x=h["energy_wh_per_1k"].tolist(),
                        y=h["accuracy"].tolist(),
                        mode="markers+text",
                        marker={"symbol": "star", "size": 22, "color": "#ffd400", "line": {"width": 1.5, "color": "#111"}},
                        text=["winner"] * len(h),
                        textposition="top center",
                        name="recommended",
                        hovertext=_hover(h),
                        hovertemplate="%{hovertext}<extra>recommended</extra>",
                        visible=i == 0,
                    )
                )
                owners.append(task)
                states.append(True)
    fig.update_layout(
        title={"text": title, "x": 0.5, "xanchor": "center"} if title else None,
        font=_FONT,
        height=560,
        margin={"l": 70, "r": 20, "t": 80, "b": 60},
        xaxis={"title": {"text": "energy, Wh per 1,000 queries (log scale)"}, "type": "log"},
        yaxis={"title": {"text": "accuracy"}},
        legend={"font": {"size": 10}},
        hovermode="closest",
        updatemenus=(_dropdown(_task_buttons(tasks, owners, states=states)) if len(tasks) > 1 else []) + [_interval_toggle()],
    )
    return fig


def _interval_toggle() -> dict[str, Any]:
    """Buttons that show or hide every trace's interval bars."""
    return {
        "type": "buttons",
        "direction": "right",
        "x": 0.22,
        "xanchor": "left",
        "y": 1.16,
        "yanchor": "top",
        "showactive": True,
        "active": 0,
        "pad": {"r": 4, "t": 2},
        "buttons": [
            {"label": "intervals on", "method": "restyle", "args": [{"error_x.visible": True, "error_y.visible": True}]},
            {"label": "intervals off", "method": "restyle", "args": [{"error_x.visible": False, "error_y.visible": False}]},
        ],
    }


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    if len(h) == 3:  # short form (#555): each digit doubled
        h = "".join(c * 2 for c in h)
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def parity(splits: Sequence[dict[str, Any]], target: str, log: bool) -> go.Figure:
    """Predicted vs measured, one dropdown entry per cross-validation split.

    Args:
        splits: Dicts with ``name``, ``measured``, ``predicted`` and optional ``lo``/``hi``/``labels``.
        target: Target name for the axis titles.
        log: Log axes (energy, time) or linear (accuracy).
    """
    fig = go.Figure()
    owners: list[str] = []
    names = [s["name"] for s in splits]
    vals = [v for s in splits for v in (*s["measured"], *s["predicted"]) if v is not None and np.isfinite(v) and (v > 0 or not log)]
    lo_v, hi_v = (min(vals), max(vals)) if vals else (0.1, 1.0)
    for i, s in enumerate(splits):
        meas = np.asarray(s["measured"], dtype=float)
        pred = np.asarray(s["predicted"], dtype=float)
        kw: dict[str, Any] = {}
        if s.get("lo") is not None and s.get("hi") is not None:
            lo = np.asarray(s["lo"], dtype=float)
            hi = np.asarray(s["hi"], dtype=float)
            kw["error_y"] = {"type": "data", "array": np.clip(hi - pred, 0, None).tolist(), "arrayminus": np.clip(pred - lo, 0, None).tolist(), "thickness": 1, "width": 0, "color": "#9bb"}
        inside = None
        if "error_y" in kw:
            inside = (meas >= np.asarray(s["lo"], dtype=float)) & (meas <= np.asarray(s["hi"], dtype=float))
        colors = ["#1f77b4" if (inside is None or ok) else "#d62728" for ok in (inside if inside is not None else [True] * len(meas))]
        labels = s.get("labels") or [""] * len(meas)
        fig.add_trace(
            go.Scatter(
                x=meas.tolist(),
                y=pred.tolist(),
                mode="markers",
                marker={"size": 6, "color": colors, "opacity": 0.75},
                text=[str(x) for x in labels],
                hovertemplate="%{text}<br>measured %{x:.4g}<br>predicted %{y:.4g}<extra></extra>",
                name=f"{s['name']} (red: outside 90% interval)",
                visible=i == 0,
                **kw,
            )
        )
        owners.append(s["name"])
    fig.add_trace(go.Scatter(x=[lo_v, hi_v], y=[lo_v, hi_v], mode="lines", line={"color": "#888", "dash": "dash"}, name="y = x", hoverinfo="skip"))
    owners.append("*")
    axis_type = "log" if log else "linear"
    fig.update_layout(
        font=_FONT,
        height=460,
        margin={"l": 70, "r": 20, "t": 70, "b": 60},
        xaxis={"title": {"text": f"measured {target}"}, "type": axis_type},
        yaxis={"title": {"text": f"predicted {target}"}, "type": axis_type},
        legend={"orientation": "h", "y": -0.2},
        updatemenus=_dropdown(_task_buttons(names, owners)) if len(names) > 1 else [],
    )
    return fig


METHOD_COLORS = {"model": "#1f77b4", "roofline": "#ff7f0e", "platform_median": "#2ca02c"}


def error_bars(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> go.Figure:
    """Grouped bars of median APE per split and method, one drop-down entry per quantity."""
    df = pd.DataFrame([list(r) for r in rows], columns=list(header))
    df = df[pd.to_numeric(df["median_ape_pct"], errors="coerce").notna()]
    quantities = list(dict.fromkeys(df["quantity"].astype(str)))
    fig = go.Figure()
    owners: list[str] = []
    for i, q in enumerate(quantities):
        d = df[df["quantity"] == q]
        for method in dict.fromkeys(d["method"].astype(str)):
            m = d[d["method"] == method]
            cov = m["coverage_90_pct"] if "coverage_90_pct" in m else pd.Series([np.nan] * len(m))
            fig.add_trace(
                go.Bar(
                    x=m["split"].astype(str).tolist(),
                    y=pd.to_numeric(m["median_ape_pct"]).tolist(),
                    name=method,
                    marker_color=METHOD_COLORS.get(method),
                    text=[f"cov {c:.0f}%" if pd.notna(c) else "" for c in pd.to_numeric(cov, errors="coerce")],
                    textposition="outside",
                    customdata=[[n] for n in (m["n"] if "n" in m else [None] * len(m))],
                    hovertemplate="%{x}<br>" + method + ": median APE %{y:.1f}%<br>%{text}, n=%{customdata[0]}<extra></extra>",
                    visible=i == 0,
                    legendgroup=method,
                    showlegend=True,
                )
            )
            owners.append(q)
    fig.update_layout(
        barmode="group",
        font=_FONT,
        height=400,
        margin={"l": 70, "r": 20, "t": 70, "b": 50},
        yaxis={"title": {"text": "median absolute % error"}, "rangemode": "tozero"},
        updatemenus=_dropdown(_task_buttons(quantities, owners)) if len(quantities) > 1 else [],
    )
    return fig


def provenance_bars(counts: pd.DataFrame) -> go.Figure:
    """Stacked bars: rows per source, split by energy method."""
    fig = go.Figure()
    for method, g in counts.groupby("energy_method", sort=True):
        fig.add_trace(go.Bar(x=g["source"].tolist(), y=g["rows"].tolist(), name=str(method), hovertemplate="%{x}: %{y} rows<extra>" + str(method) + "</extra>"))
    fig.update_layout(barmode="stack", font=_FONT, height=320, margin={"l": 60, "r": 20, "t": 30, "b": 60}, yaxis={"title": {"text": "rows"}}, legend={"title": {"text": "energy method"}})
    return fig
