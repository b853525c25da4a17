"""Decision matrix: scenario x priority -> recommended configuration, checked against the study.

For every scenario and priority listed under ``matrix`` in the decision flow,
the engine recommends a configuration for the matrix spec (the study's tasks
and models); each cell reports accuracy kept relative to fp16 on the same
platform, efficiency (EOR) gain over that fp16 baseline, the platform class's
cost tier and how sure the answer is. The study's own matrix (A100+INT8,
RTX 4090+FP16, RTX 4060 Ti+dynamic) is evaluated on the same predictions and
every disagreement is stated.

Output is deterministic for a given predictor and flow: fixed ordering and
fixed number formats, so ``data/decision_matrix.md`` regenerates byte for byte.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from recommender.model.api import Predictor
from recommender.rules.candidates import ACCURACY_STATUS_ORDER, STATUS_ORDER, supports
from recommender.rules.catalogs import Catalogs
from recommender.rules.engine import finish, prepare
from recommender.rules.explain import NothingFeasible
from recommender.rules.flow import FlowConfig, load_flow
from recommender.rules.rank import uninformed_tasks
from recommender.rules.spec import parse_spec

MATRIX_SCHEMA_VERSION = "1.0"


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x * 100:+.0f}%" if signed else f"{x * 100:.1f}%"


@dataclass(frozen=True)
class Cell:
    """One scenario x priority cell."""

    scenario: str
    priority: str
    objective: str
    recommended: str
    platform: str | None
    quantization: str | None
    model_id: str | None
    accuracy_kept: float | None
    efficiency_gain: float | None
    efficiency_gain_lo: float | None
    efficiency_gain_hi: float | None
    cost_tier: str
    confidence: str
    vs_study: str


@dataclass(frozen=True)
class StudyCheck:
    """The study's configuration for a scenario, evaluated on the data."""

    scenario: str
    configuration: str
    claim: str
    data: str
    verdict: str
    accuracy_kept: float | None
    efficiency_gain: float | None
    efficiency_gain_lo: float | None
    efficiency_gain_hi: float | None
    status: str


@dataclass(frozen=True)
class Matrix:
    """The whole matrix."""

    data_hash: str
    spec_note: str
    cells: tuple[Cell, ...]
    checks: tuple[StudyCheck, ...]


def _f(x: Any) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def build_matrix(predictor: Predictor, catalogs: Catalogs | None = None, flow: FlowConfig | None = None) -> Matrix:
    """Evaluate every scenario x priority cell and the study's matrix.

    Args:
        predictor: Fitted predictor.
        catalogs: Catalog bundle (default: shipped).
        flow: Decision flow (default: shipped).

    Returns:
        The matrix.
    """
    flow = flow or load_flow()
    catalogs = catalogs or Catalogs.load()
    data_hash = str(getattr(predictor, "data_hash", ""))
    m = flow.matrix
    cells: list[Cell] = []
    checks: list[StudyCheck] = []
    dropped: set[str] = set()
    for scenario in m.scenarios:
        study = m.study.get(scenario)
        study_ctx = None
        base: dict[str, Any] = {**m.spec, "scenario": scenario}
        pool = _pool(flow, catalogs, scenario)
        if pool:
            base["hardware"] = {**base.get("hardware", {}), "platforms": pool}
        # A task no candidate has accuracy data for would exclude every candidate; leave it out and say so.
        probe = prepare(parse_spec({**base, "priority": m.priorities[0]}), predictor, catalogs, flow)
        blind = uninformed_tasks(probe.cs, flow.exclude_accuracy_status)
        if blind and len(blind) < len(probe.cs.resolved.tasks):
            dropped.update(blind)
            keep = [t for t in probe.cs.resolved.tasks if t.id not in blind]
            base["tasks"] = [t.id for t in keep]
        for priority in m.priorities:
            spec = parse_spec({**base, "priority": priority})
            ctx = prepare(spec, predictor, catalogs, flow)
            study_ctx = study_ctx or ctx
            try:
                rec = finish(ctx, data_hash)
            except NothingFeasible as exc:
                cells.append(
                    Cell(scenario, priority, ctx.obj.name, f"nothing feasible ({exc.details['binding_constraint']['name'] if exc.details.get('binding_constraint') else 'no data'})",
                         None, None, None, None, None, None, None, "n/a", "n/a", "n/a")
                )
                continue
            w = rec.winner
            eor = w["eor"]
            gain = w["efficiency_gain_vs_fp16"]
            base_eor = (eor["value"] / (1 + gain)) if (gain is not None and eor["value"] is not None and gain != -1) else None
            g_lo = eor["lo"] / base_eor - 1 if base_eor and eor["lo"] is not None else None
            g_hi = eor["hi"] / base_eor - 1 if base_eor and eor["hi"] is not None else None
            if w["quantization"] == w["baseline_quantization"]:
                g_lo = g_hi = None  # the configuration is its own baseline: 0% by definition
            status = w["status"] if w["status"] == w["accuracy_status"] else f"{w['status']}/{w['accuracy_status']}"
            ties = rec.explanation["ties"]["count"]
            confidence = status + (f", {ties} tied" if ties else ", clear")
            if study is None:
                vs = "n/a"
            elif w["platform"] == study.platform and w["quantization"] == study.quantization:
                vs = "agrees"
            elif f"{study.platform} + {study.quantization}" in rec.explanation["ties"]["platform_quantizations"]:
                vs = f"tied with the study's {study.platform} + {study.quantization}"
            else:
                vs = f"differs (study: {study.platform} + {study.quantization})"
            cells.append(
                Cell(
                    scenario, priority, rec.objective,
                    f"{w['platform']} + {w['quantization']} ({w['model_id']})",
                    w["platform"], w["quantization"], w["model_id"],
                    w["accuracy_relative_to_fp16"], gain, g_lo, g_hi, w["cost_tier"], confidence, vs,
                )
            )
        if study is not None and study_ctx is not None:
            checks.append(_check_study(scenario, study, study_ctx, catalogs, flow))
    models = m.spec.get("models", {}).get("ids", [])
    pool_note = ", ".join(m.platform_pool) if m.platform_pool else "every catalogued platform"
    tasks_note = ", ".join(t for t in m.spec.get("tasks", []) if t not in dropped)
    if dropped:
        tasks_note += f" ({', '.join(sorted(dropped))} left out: no accuracy data for any candidate)"
    note = (
        f"platforms {pool_note} (each scenario: those of its classes); tasks {tasks_note}; {len(models)} models; batch "
        f"{m.spec.get('serving', {}).get('batch_size', 1)}; each priority's flow defaults (objective, accuracy floor)"
    )

    return Matrix(data_hash=data_hash, spec_note=note, cells=tuple(cells), checks=tuple(checks))


def _pool(flow: FlowConfig, catalogs: Catalogs, scenario: str) -> list[str]:
    """Platforms of the matrix's pool that belong to the scenario's classes (empty: no pool)."""
    classes = flow.scenarios[scenario].platform_classes
    return [p for p in flow.matrix.platform_pool if catalogs.resolve_platform(p).platform_class in classes]


def _check_study(scenario: str, study, ctx, catalogs: Catalogs, flow: FlowConfig) -> StudyCheck:
    """Evaluate the study's configuration for a scenario on the matrix spec's candidates."""
    claim = f"{study.accuracy_kept:.0%} kept, {study.efficiency_gain * 100:+.0f}% efficiency, {study.cost_tier} cost"
    config = f"{study.platform} + {study.quantization}"
    platform = catalogs.platforms.get(study.platform)
    quant = catalogs.quants.get(study.quantization)
    if platform is None or quant is None:
        missing = study.platform if platform is None else study.quantization
        return StudyCheck(scenario, config, claim, f"{missing} is not in the catalogs", "cannot check", None, None, None, None, "n/a")
    if not supports(quant, platform, flow):
        where = ", ".join(quant.devices)
        return StudyCheck(
            scenario, config, claim,
            f"{study.quantization} does not run on {study.platform} (quantization catalog: devices {where})",
            "disagrees: the study's configuration is not runnable as catalogued", None, None, None, None, "n/a",
        )
    f = ctx.cs.frame
    sel = ((f["platform"] == study.platform) & (f["quantization"] == study.quantization) & f["is_candidate"]).to_numpy()
    sel = sel & np.isfinite(f["efficiency_gain_vs_fp16"].to_numpy(dtype=float))
    if not sel.any():
        return StudyCheck(scenario, config, claim, "no prediction for it", "cannot check", None, None, None, None, "n/a")
    # Same evidence rule as the recommendations: models whose accuracy is an uninformed prior do not count.
    bad = [ACCURACY_STATUS_ORDER.index(x) for x in flow.exclude_accuracy_status]
    informed = sel & ~np.isin(f["accuracy_status_code"].to_numpy(), bad)
    if informed.any():
        sel = informed
    kept = float(np.median(f["accuracy_relative_to_fp16"].to_numpy(dtype=float)[sel]))
    gain = float(np.median(f["efficiency_gain_vs_fp16"].to_numpy(dtype=float)[sel]))
    base_rows = f["base_row"].to_numpy()[sel]
    eor_base = f["eor"].to_numpy(dtype=float)[base_rows]
    lo = float(np.median(f["eor_lo"].to_numpy(dtype=float)[sel] / eor_base - 1))
    hi = float(np.median(f["eor_hi"].to_numpy(dtype=float)[sel] / eor_base - 1))
    st = STATUS_ORDER[int(f["status_code"].to_numpy()[sel].max())]
    ast = ACCURACY_STATUS_ORDER[int(f["accuracy_status_code"].to_numpy()[sel].max())]
    status = st if st == ast else f"{st}/{ast}"
    data = (
        f"{kept:.1%} kept, {gain * 100:+.0f}% efficiency [90%: {lo * 100:+.0f}% to {hi * 100:+.0f}%] "
        f"(median over {int(sel.sum())} model{'s' if int(sel.sum()) != 1 else ''}; {status})"
    )
    base_q = f["baseline_quantization"].array[np.flatnonzero(sel)[0]]
    problems = []
    if study.quantization == base_q:
        problems.append(
            f"gain over fp16 on the same platform is 0% by definition for {study.quantization}; the study's "
            f"{study.efficiency_gain * 100:+.0f}% must be against another baseline"
        )
    elif not (lo <= study.efficiency_gain <= hi):
        problems.append(f"claimed {study.efficiency_gain * 100:+.0f}% is outside the 90% interval")
    elif (1 + hi) / max(1 + lo, 1e-9) > flow.matrix.conclusive_max_interval_ratio:
        return StudyCheck(
            scenario, config, claim, data,
            f"inconclusive: the claim lies inside a 90% interval too wide to confirm or refute it "
            f"(high/low EOR ratio {(1 + hi) / max(1 + lo, 1e-9):.0f}x > {flow.matrix.conclusive_max_interval_ratio:g}x)",
            _f(kept), _f(gain), _f(lo), _f(hi), status,
        )
    if kept + 0.005 < study.accuracy_kept:
        problems.append(f"accuracy kept {kept:.1%} is below the claimed {study.accuracy_kept:.0%}")
    verdict = "disagrees: " + "; ".join(problems) if problems else "consistent: the claim lies inside the 90% interval"
    return StudyCheck(scenario, config, claim, data, verdict, _f(kept), _f(gain), _f(lo), _f(hi), status)


def render(matrix: Matrix, fmt: str) -> str:
    """The matrix as ``markdown``, ``csv`` or ``json`` text."""
    if fmt == "json":
        doc = {
            "schema_version": MATRIX_SCHEMA_VERSION,
            "data_hash": matrix.data_hash,
            "spec": matrix.spec_note,
            "cells": [c.__dict__ for c in matrix.cells],
            "study_check": [c.__dict__ for c in matrix.checks],
        }
        return json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        fields = list(Cell.__dataclass_fields__)
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for c in matrix.cells:
            writer.writerow({k: ("" if v is None else (f"{v:.4f}" if isinstance(v, float) else v)) for k, v in c.__dict__.items()})
        return buf.getvalue()
    lines = [
        "# Decision matrix",
        "",
        "Generated by `eai matrix` from the fitted predictor and `data/decision_flow.yaml`; do not edit by hand.",
        f"Predictor data hash: `{matrix.data_hash[:16]}`. Spec per cell: {matrix.spec_note}.",
        "Accuracy kept and efficiency (EOR) gain are relative to the same model at fp16 on the same platform.",
        "The gain's interval is the candidate's 90% EOR interval over the baseline's point value; errors shared",
        "with the baseline (same platform and model) are not cancelled, so it is wider than the true ratio's.",
        "'Tied' counts candidates whose objective interval overlaps the winner's.",
        "",
        "| Scenario | Priority | Objective | Recommended (platform + quantization (model)) | Accuracy kept vs fp16 | Efficiency gain vs fp16 [90%] | Cost tier | Confidence | vs study |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in matrix.cells:
        gain = _pct(c.efficiency_gain, signed=True)
        if c.quantization is not None and c.efficiency_gain == 0 and c.efficiency_gain_lo is None:
            gain = "0% (is the baseline)"
        elif c.efficiency_gain_lo is not None and c.efficiency_gain_hi is not None:
            gain += f" [{_pct(c.efficiency_gain_lo, True)}, {_pct(c.efficiency_gain_hi, True)}]"
        lines.append(
            f"| {c.scenario} | {c.priority} | {c.objective} | {c.recommended} | {_pct(c.accuracy_kept)} | {gain} | "
            f"{c.cost_tier} | {c.confidence} | {c.vs_study} |"
        )
    lines += [
        "",
        "## The study's matrix checked against the data",
        "",
        "| Scenario | Study configuration | Study claim | Data for that configuration | Verdict |",
        "|---|---|---|---|---|",
    ]
    for s in matrix.checks:
        lines.append(f"| {s.scenario} | {s.configuration} | {s.claim} | {s.data} | {s.verdict} |")
    lines.append("")
    return "\n".join(lines)
