"""The regressor's validation section: predicted vs measured per cross-validation split, and its error table.

Input is the evaluation result as ``eai evaluate --json`` prints it (a dict). The
reader is tolerant about the exact layout, since the evaluation is owned by the
regressor: it looks for

* splits under ``splits`` (a name -> block mapping, as ``recommender.model.evaluate``
  writes, or a list of blocks with a ``name``);
* per-row held-out predictions in each block under ``predictions`` (or ``rows``/``points``),
  preferably ``{quantity: {"measured": [...], "predicted": [...], "lo": [...], "hi": [...],
  "labels": [...]}}``; long rows with a ``target`` column and wide rows with ``<target>`` /
  ``<target>_pred`` / ``<target>_lo`` / ``<target>_hi`` are read too. Without them no
  predicted-vs-measured plot can be drawn and the section says so;
* the error table: ``splits -> {split: {quantity: {method: {metric: value}}}}`` (metrics such
  as ``n``, ``median_ape_pct``, ``p90_ape_pct``, ``coverage_90_pct``), or a flat list of
  metric records under ``errors`` / ``metrics`` / ``table``.
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from recommender.report import figures
from recommender.report.html import plot_div, table

_SPLIT_KEYS = ("splits", "folds", "cv", "cross_validation")
_ROW_KEYS = ("predictions", "rows", "points", "heldout", "held_out")
_ERROR_KEYS = ("errors", "error_table", "metrics", "table", "summary", "scores")
_TARGETS = ("energy_j_per_query", "time_s_per_query", "accuracy", "eor", "tweor")
_LOG_TARGETS = {"energy_j_per_query", "time_s_per_query", "eor", "tweor", "energy_j_per_output_token"}


def _records(obj: Any) -> list[dict[str, Any]]:
    """List of row dicts from a list of dicts or a dict of equal-length lists."""
    if isinstance(obj, list):
        return [r for r in obj if isinstance(r, dict)]
    if isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()):
        n = min(len(v) for v in obj.values())
        return [{k: v[i] for k, v in obj.items()} for i in range(n)]
    return []


def _first(d: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return None


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _split_blocks(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """Split entries as dicts with a ``name`` (from a list or a name -> block mapping)."""
    splits = _first(evaluation, _SPLIT_KEYS)
    if isinstance(splits, dict):
        return [{"name": k, **v} if isinstance(v, dict) else {"name": k, "rows": v} for k, v in splits.items()]
    out = []
    for i, sp in enumerate(splits or []):
        if isinstance(sp, dict):
            out.append({"name": str(_first(sp, ("name", "split", "scheme", "id")) or f"split {i + 1}"), **sp})
    return out


def _split_label(name: str) -> str:
    return f"leave-one-{name}-out" if name in ("model", "platform", "source", "task", "quantization") else name


def parity_series(evaluation: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """target -> list of splits (``name``, ``measured``, ``predicted``, ``lo``, ``hi``, ``labels``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for sp in _split_blocks(evaluation):
        name = _split_label(str(sp["name"]))
        raw = _first(sp, _ROW_KEYS)
        # Form 1: {quantity: {"measured": [...], "predicted": [...], ...}} or {quantity: [row dicts]}.
        if isinstance(raw, dict) and raw and all(isinstance(v, (dict, list)) for v in raw.values()) and not all(isinstance(v, list) and v and not isinstance(v[0], dict) for v in raw.values()):
            for target, body in raw.items():
                rows = _records(body)
                if rows:
                    out.setdefault(str(target), []).append(_series(name, rows, "measured", "predicted", "lo", "hi"))
            continue
        rows = _records(raw)
        if not rows:
            continue
        # Form 2: long rows with a ``target`` column.
        targets = {str(r["target"]) for r in rows if "target" in r}
        if targets:
            for t in sorted(targets):
                rs = [r for r in rows if str(r.get("target")) == t]
                out.setdefault(t, []).append(_series(name, rs, "measured", "predicted", "lo", "hi"))
            continue
        # Form 3: wide rows with ``<target>`` and ``<target>_pred``.
        for t in _TARGETS:
            pred_key = next((k for k in (f"{t}_pred", f"pred_{t}", f"{t}_predicted") if k in rows[0]), None)
            meas_key = next((k for k in (t, f"{t}_measured", f"measured_{t}", f"{t}_true") if k in rows[0]), None)
            if pred_key is None or meas_key is None:
                continue
            out.setdefault(t, []).append(_series(name, rows, meas_key, pred_key, f"{t}_lo", f"{t}_hi"))
    return out


def _series(name: str, rows: list[dict[str, Any]], meas: str, pred: str, lo: str, hi: str) -> dict[str, Any]:
    m = np.array([_num(r.get(meas)) for r in rows])
    p = np.array([_num(r.get(pred)) for r in rows])
    has_iv = all(lo in r and hi in r for r in rows)
    lo_v = np.array([_num(r.get(lo)) for r in rows]) if has_iv else None
    hi_v = np.array([_num(r.get(hi)) for r in rows]) if has_iv else None
    ok = np.isfinite(m) & np.isfinite(p)
    label_keys = [k for k in ("platform", "model_id", "quantization", "workload", "task", "batch_size") if k in rows[0]]
    labels = [" / ".join(str(r.get(k)) for k in label_keys) for r in rows]
    return {
        "name": name,
        "measured": m[ok].tolist(),
        "predicted": p[ok].tolist(),
        "lo": lo_v[ok].tolist() if lo_v is not None else None,
        "hi": hi_v[ok].tolist() if hi_v is not None else None,
        "labels": [lab for lab, k in zip(labels, ok, strict=True) if k],
    }


def error_rows(evaluation: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the evaluation's error table (empty when it has none).

    Reads ``splits -> {split: {quantity: {method: {metric: value}}}}`` (the layout of
    ``recommender.model.evaluate``) or a flat list/dict of metric records.
    """
    rows: list[dict[str, Any]] = []
    for sp in _split_blocks(evaluation):
        for quantity, by_method in sp.items():
            if not isinstance(by_method, dict):
                continue
            for method, met in by_method.items():
                if isinstance(met, dict) and met and all(not isinstance(v, (dict, list)) for v in met.values()):
                    rows.append({"split": _split_label(str(sp["name"])), "groups": sp.get("groups"), "quantity": quantity, "method": method, **met})
    if not rows:
        obj = _first(evaluation, _ERROR_KEYS)
        rows = _records(obj)
        if not rows and isinstance(obj, dict):
            rows = [{"name": k, **v} for k, v in obj.items() if isinstance(v, dict)]
    if not rows:
        return [], []
    header: list[str] = []
    for r in rows:
        for k, v in r.items():
            if k not in header and not isinstance(v, (list, dict)):
                header.append(k)
    return header, [[r.get(h) for h in header] for r in rows]


def validation_section(evaluation: dict[str, Any] | None, note: str | None) -> str:
    """HTML of the validation section (one parity plot per target, then the error table)."""
    head = '<section id="validation"><h2>Regressor validation</h2>'
    if evaluation is None:
        return head + f'<p class="note warn">{escape(note or "no evaluation available")}</p></section>'
    parts = [head, "<p class=lead>Held-out predictions of the regressor against the measurements, one drop-down entry per "
             "cross-validation split (points in red fall outside their 90% prediction interval), and the error table of "
             "<code>eai evaluate</code>.</p>"]
    series = parity_series(evaluation)
    if series:
        parts.append('<div class="grid2">')
        for target, splits in series.items():
            fig = figures.parity(splits, target, log=target in _LOG_TARGETS)
            parts.append(f"<div><h3>{escape(target)}</h3>" + plot_div(f"fig-parity-{target}", figures.to_json(fig)) + "</div>")
        parts.append("</div>")
    else:
        parts.append(
            '<p class="note warn">The stored evaluation carries no per-row held-out predictions, so no predicted-vs-measured '
            "plot can be drawn; it needs <code>splits.&lt;split&gt;.predictions.&lt;quantity&gt;</code> = "
            "<code>{measured, predicted, lo, hi, labels}</code> lists (see recommender/report/validation.py).</p>"
        )
    header, rows = error_rows(evaluation)
    if rows:
        if {"split", "quantity", "method", "median_ape_pct"} <= set(header):
            fig = figures.error_bars(header, rows)
            parts.append("<h3>Median absolute percentage error by split</h3><p class=note>Lower is better; the label on each bar "
                         "is the share of held-out rows inside the 90% interval (target 90%). Pick the quantity in the drop-down.</p>")
            parts.append(plot_div("fig-errors", figures.to_json(fig)))
        nums = [i for i, _ in enumerate(header) if all(isinstance(r[i], (int, float)) or r[i] is None for r in rows)]
        parts.append(
            f"<details><summary>error table of <code>eai evaluate</code> ({len(rows)} rows: split x quantity x method)</summary>"
            + table(header, rows, num_cols=nums)
            + "</details>"
        )
    else:
        parts.append('<p class="note warn">The evaluation carries no error table.</p>')
    parts.append("</section>")
    return "\n".join(parts)
