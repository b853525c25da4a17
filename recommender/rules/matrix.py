"""Decision matrix: scenario x priority -> recommended deployment, checked against the study.

For every scenario and priority listed under ``matrix`` in the decision flow,
the engine recommends a whole deployment (platform, model, precision, engine,
concurrency) for the matrix spec (the study's platforms and tasks, every
catalogued model, the flow's serving defaults); each cell reports accuracy kept
relative to fp16 on the same platform, efficiency (EOR) gain over that fp16
baseline, the platform class's cost tier, how sure the answer is and what
decided it: the data, or only the flow's preference order among candidates the
data cannot tell apart; a cell nothing informs says so and names what is
missing. The study's own cells (A100+INT8, RTX 4090+FP16, RTX 4060 Ti+dynamic)
are checked on the study's six models, each precision as every catalogued
format it could mean, against the same reference as the report's claims check
(:func:`~recommender.rules.flow.reference_quantization`). Energy is gross
(idle draw included) throughout.

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
from recommender.rules.candidates import ACCURACY_STATUS_ORDER, CMP, STATUS_ORDER, supports, unsupported_reason
from recommender.rules.catalogs import Catalogs
from recommender.rules.engine import finish, prepare
from recommender.rules.explain import NothingFeasible, with_devices
from recommender.rules.flow import FlowConfig, bytes_bound_gain, load_flow, reference_quantization
from recommender.rules.rank import uninformed_tasks
from recommender.rules.spec import parse_spec

MATRIX_SCHEMA_VERSION = "1.0"


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x * 100:+.0f}%" if signed else f"{x * 100:.1f}%"


@dataclass(frozen=True)
class Cell:
    """One scenario x priority cell.

    Attributes:
        decided_by: What decided the winner: ``data`` (its objective is clear of the
            others', or a constraint picked it), ``flow preference`` (its interval overlaps
            others' and only the flow's order chose), or ``nothing informed`` (no answer,
            with what is missing).
    """

    scenario: str
    priority: str
    objective: str
    recommended: str
    platform: str | None
    quantization: str | None
    model_id: str | None
    engine: str | None
    batch_size: int | None
    device_count: int | None
    accuracy_kept: float | None
    efficiency_gain: float | None
    efficiency_gain_lo: float | None
    efficiency_gain_hi: float | None
    cost_tier: str
    confidence: str
    decided_by: str
    vs_study: str


@dataclass(frozen=True)
class StudyCheck:
    """One format the study's configuration for a scenario could mean, evaluated on the data."""

    scenario: str
    configuration: str
    claim: str
    reference: str
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
    if x is None:
        return None
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
        base: dict[str, Any] = {**m.spec, "scenario": scenario}
        pool = _pool(flow, catalogs, scenario)
        if pool:
            base["hardware"] = {**base.get("hardware", {}), "platforms": pool}
        # A task no candidate has accuracy data for would exclude every candidate; leave it out and say so.
        probe = prepare(parse_spec({**base, "priority": m.priorities[0]}), predictor, catalogs, flow)
        blind = uninformed_tasks(probe.cs, flow.exclude_accuracy_status)
        if blind and len(blind) < len(probe.cs.resolved.tasks):
            dropped.update(blind)
            base["tasks"] = [t.id for t in probe.cs.resolved.tasks if t.id not in blind]
        for priority in m.priorities:
            cells.append(_cell(scenario, priority, parse_spec({**base, "priority": priority}), predictor, catalogs, flow, data_hash))
        study = m.study.get(scenario)
        if study is not None:
            checks.extend(_check_study(scenario, study, base, predictor, catalogs, flow))
    pool_note = ", ".join(m.platform_pool) if m.platform_pool else "every catalogued platform"
    tasks_note = ", ".join(t for t in m.spec.get("tasks", []) if t not in dropped)
    if dropped:
        tasks_note += f" ({', '.join(sorted(dropped))} left out: no measured or imputed accuracy for any candidate)"
    ids = m.spec.get("models", {}).get("ids", [])
    models_note = f"{len(ids)} models" if ids else f"every catalogued model ({len(catalogs.models)})"
    note = (
        f"platforms {pool_note} (each scenario: those of its classes); tasks {tasks_note}; {models_note}; "
        "serving as the flow's defaults (engine per platform class, concurrency with the least energy per query, "
        "or the best TWEOR where that is the objective, within the latency limit); each priority's flow defaults "
        "(objective, accuracy floor, chance margin)"
    )
    return Matrix(data_hash=data_hash, spec_note=note, cells=tuple(cells), checks=tuple(checks))


def _cell(scenario: str, priority: str, spec, predictor: Predictor, catalogs: Catalogs, flow: FlowConfig, data_hash: str) -> Cell:
    """Recommend one cell and say what decided it."""
    ctx = prepare(spec, predictor, catalogs, flow)
    try:
        rec = finish(ctx, data_hash)
    except NothingFeasible as exc:
        binding = exc.details.get("binding_constraint") or {}
        missing = exc.details.get("missing_scores") or []
        what = "; ".join(binding.get("hints") or [])
        if missing:
            named = ", ".join(f"{x['model_id']} ({'/'.join(x['tasks'])})" for x in missing[:3])
            what = (what + "; " if what else "") + f"missing measured or imputed scores: {named}" + (
                f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            )
        decided = "nothing informed an answer" + (f": {what}" if what else "")
        name = binding.get("name") or "no prediction"
        return Cell(
            scenario, priority, ctx.obj.name, f"no answer ({name})", None, None, None, None, None, None,
            None, None, None, None, "n/a", "n/a", decided, "n/a",
        )
    w = rec.winner
    gain = w["efficiency_gain_vs_fp16"]
    # The candidate's comparison interval over its baseline's point (candidates.py).
    g_lo, g_hi = w["efficiency_gain_vs_fp16_lo"], w["efficiency_gain_vs_fp16_hi"]
    if w["quantization"] == w["baseline_quantization"]:
        g_lo = g_hi = None  # the configuration is its own baseline: 0% by definition
    elif g_hi is not None:
        bound = _bound(catalogs, w["quantization"], w["baseline_quantization"])
        if bound is not None:
            g_hi = min(g_hi, bound)
            gain = min(gain, bound) if gain is not None else None
            g_lo = min(g_lo, bound) if g_lo is not None else None
    status = w["status"] if w["status"] == w["accuracy_status"] else f"{w['status']}/{w['accuracy_status']}"
    ties = rec.explanation["ties"]["count"]
    confidence = status + (f", {ties} tied" if ties else ", clear")
    decided = _decided_by(rec)
    study = flow.matrix.study.get(scenario)
    if study is None:
        vs = "n/a"
    elif w["platform"] == study.platform and w["quantization"] in study.quantizations:
        vs = "agrees"
    else:
        tied = [q for q in study.quantizations if f"{study.platform} + {q}" in rec.explanation["ties"]["platform_quantizations"]]
        if tied:
            vs = f"tied with the study's {study.platform} + {tied[0]}"
        else:
            vs = f"differs (study: {study.platform} + {study.precision})"
    devices = int(w["device_count"])
    # A model split over several devices names how many, as `eai recommend` does: never a bare
    # card a 72B model could not fit on.
    platform = with_devices(w["platform"], devices)
    return Cell(
        scenario, priority, rec.objective,
        f"{platform} + {w['quantization']} ({w['model_id']}; {w['engine']}, batch {w['batch_size']})",
        w["platform"], w["quantization"], w["model_id"], w["engine"], int(w["batch_size"]), devices,
        w["accuracy_relative_to_fp16"], gain, g_lo, g_hi, w["cost_tier"], confidence, decided, vs,
    )


def _decided_by(rec) -> str:
    """Data, or only the flow's preference among ties; plus the constraints that changed the winner."""
    ex = rec.explanation
    n = ex["ties"]["count"]
    if any(d.startswith("flow preference") for d in ex["decided_by"]):
        what = f"flow preference: {n + 1} candidates are tied on {rec.objective}; the data cannot order them"
    elif n:
        what = f"data: best point {rec.objective}, {n} statistically tied (the flow's order agrees)"
    else:
        what = f"data: best {rec.objective}, clear of every other candidate"
    binding = ex.get("binding_constraints") or []
    if binding:
        what += f"; constraints that changed the winner: {', '.join(binding)}"
    return what


def _bound(catalogs: Catalogs, quantization: str, reference: str) -> float | None:
    """The bytes-moved bound on the efficiency gain of ``quantization`` over ``reference`` (None if unknown)."""
    q, r = catalogs.quants.get(quantization), catalogs.quants.get(reference)
    if q is None or r is None or q.bytes_per_weight >= r.bytes_per_weight:
        return None
    return bytes_bound_gain(r.bytes_per_weight, q.bytes_per_weight)


def _pool(flow: FlowConfig, catalogs: Catalogs, scenario: str) -> list[str]:
    """Platforms of the matrix's pool that belong to the scenario's classes (empty: no pool)."""
    classes = flow.scenarios[scenario].platform_classes
    return [p for p in flow.matrix.platform_pool if catalogs.resolve_platform(p).platform_class in classes]


def _check_study(scenario: str, study, base: dict[str, Any], predictor: Predictor, catalogs: Catalogs, flow: FlowConfig) -> list[StudyCheck]:
    """Evaluate each format the study's configuration could mean, against the flow's reference."""
    claim = f"{study.accuracy_kept:.0%} kept, {study.efficiency_gain * 100:+.0f}% efficiency, {study.cost_tier} cost"
    platform = catalogs.platforms.get(study.platform)
    bpw = {name: q.bytes_per_weight for name, q in catalogs.quants.items()}
    out = []
    for qname in study.quantizations:
        config = f"{study.platform} + {qname} ({study.precision})"
        quant = catalogs.quants.get(qname)
        if platform is None or quant is None:
            missing = study.platform if platform is None else qname
            out.append(StudyCheck(scenario, config, claim, "n/a", f"{missing} is not in the catalogs", "cannot check", None, None, None, None, "n/a"))
            continue
        if not supports(quant, platform, flow):
            why = unsupported_reason(quant, platform, flow)
            out.append(StudyCheck(scenario, config, claim, "n/a", why, "not runnable as catalogued", None, None, None, None, "n/a"))
            continue
        engine = flow.engines.get(qname, ("",))[0]
        ref = reference_quantization(
            flow, qname, bpw,
            lambda b, e=engine: b in catalogs.quants and supports(catalogs.quants[b], platform, flow) and e in flow.engines.get(b, ()),
        )
        if ref is None:
            out.append(StudyCheck(scenario, config, claim, "n/a", f"no reference format moving more bytes than {qname} runs on {study.platform} with {engine}", "cannot check", None, None, None, None, "n/a"))
            continue
        out.append(_study_format(scenario, study, config, claim, qname, ref, engine, base, predictor, catalogs, flow))
    return out


def _study_format(scenario, study, config, claim, qname, ref, engine, base, predictor, catalogs, flow) -> StudyCheck:
    """One format of a study cell vs its reference on the study's models, same engine and batch."""
    m = flow.matrix
    spec = parse_spec(
        {
            "scenario": scenario,
            "tasks": base.get("tasks", m.spec.get("tasks")),
            # One device on both sides: a reference spread over more devices is not a matched comparison.
            "hardware": {"platforms": [study.platform], "device_count": 1},
            "models": {"ids": list(m.study_models)} if m.study_models else {},
            "serving": {"engines": [engine], "batch_size": m.study_batch_size},
            "priority": "energy",
        }
    )
    ctx = prepare(spec, predictor, catalogs, flow)
    f = ctx.cs.frame
    keys = ["platform", "engine", "batch_size", "model_id"]
    plain = f[keys].astype({"platform": object, "engine": object, "model_id": object})
    q_rows = np.flatnonzero(((f["quantization"] == qname) & f["is_candidate"]).to_numpy())
    r_rows = np.flatnonzero((f["quantization"] == ref).to_numpy())
    r_index = {tuple(plain.iloc[r]): r for r in r_rows}
    pairs = [(q, r_index[tuple(plain.iloc[q])]) for q in q_rows if tuple(plain.iloc[q]) in r_index]
    reference = f"{ref} ({engine}, batch {m.study_batch_size}, 1 device)"
    if not pairs:
        return StudyCheck(scenario, config, claim, reference, "no prediction for it", "cannot check", None, None, None, None, "n/a")
    qa, ra = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    bad = [ACCURACY_STATUS_ORDER.index(x) for x in flow.exclude_accuracy_status]
    acc_code = f["accuracy_status_code"].to_numpy()
    informed = ~np.isin(acc_code[qa], bad) & ~np.isin(acc_code[ra], bad)
    eor = f["eor"].to_numpy(dtype=float)
    ok = np.isfinite(eor[qa]) & np.isfinite(eor[ra]) & (eor[ra] > 0)
    # Both sides must fit in the platform's memory: a reference that cannot run there is no reference.
    need, have = f["memory_gb_required"].to_numpy(dtype=float), f["memory_gb_available"].to_numpy(dtype=float)
    fits_both = (need[qa] <= have[qa]) & (need[ra] <= have[ra])
    if ok.any() and not (ok & fits_both).any():
        side = "the reference " + ref if (need[qa] <= have[qa]).any() else qname
        return StudyCheck(
            scenario, config, claim, reference, f"{side} does not fit in {study.platform}'s memory for any study model",
            "cannot check", None, None, None, None, "n/a",
        )
    ok &= fits_both
    use = ok & informed if (ok & informed).any() else ok
    if not use.any():
        return StudyCheck(scenario, config, claim, reference, "no finite prediction for it", "cannot check", None, None, None, None, "n/a")
    qa, ra = qa[use], ra[use]
    acc = f["accuracy"].to_numpy(dtype=float)
    kept = float(np.median(acc[qa] / acc[ra]))
    gain = float(np.median(eor[qa] / eor[ra] - 1))
    # Gains compare two candidates of one deployment: their comparison ends (candidates.py).
    cmp = CMP if "eor_lo" + CMP in f.columns else ""
    lo = float(np.median(f["eor_lo" + cmp].to_numpy(dtype=float)[qa] / eor[ra] - 1))
    hi = float(np.median(f["eor_hi" + cmp].to_numpy(dtype=float)[qa] / eor[ra] - 1))
    capped = ""
    beyond = False
    bound = _bound(catalogs, qname, ref)
    if bound is not None and hi > bound:
        capped = f"; capped at the bytes-moved bound {bound * 100:+.0f}%"
        beyond = gain > bound
        hi, gain, lo = min(hi, bound), min(gain, bound), min(lo, bound)
    st = STATUS_ORDER[int(f["status_code"].to_numpy()[qa].max())]
    ast = ACCURACY_STATUS_ORDER[int(acc_code[qa].max())]
    status = st if st == ast else f"{st}/{ast}"
    n = len(qa)
    n_prior = int((~informed[use]).sum())
    acc_note = (
        "" if n_prior == 0
        else f"; accuracy only a prior for {'every model' if n_prior == n else f'{n_prior} of {n} models'}: no data on the format's accuracy"
    )
    data = (
        f"{kept:.1%} kept, {gain * 100:+.0f}% efficiency [90%: {lo * 100:+.0f}% to {hi * 100:+.0f}%{capped}] "
        f"(median over {n} model{'s' if n != 1 else ''}; {status}{acc_note})"
    )
    problems = []
    if beyond:
        return StudyCheck(
            scenario, config, claim, reference, data,
            "inconclusive: the predicted gain itself lies beyond what the bytes moved allow (an extrapolation, not evidence)",
            _f(kept), _f(gain), _f(lo), _f(hi), status,
        )
    if not (lo <= study.efficiency_gain <= hi):
        problems.append(f"claimed {study.efficiency_gain * 100:+.0f}% is outside the 90% interval")
    elif (1 + hi) / max(1 + lo, 1e-9) > m.conclusive_max_interval_ratio:
        return StudyCheck(
            scenario, config, claim, reference, data,
            f"inconclusive: the claim lies inside a 90% interval too wide to confirm or refute it "
            f"(high/low EOR ratio {(1 + hi) / max(1 + lo, 1e-9):.0f}x > {m.conclusive_max_interval_ratio:g}x)",
            _f(kept), _f(gain), _f(lo), _f(hi), status,
        )
    if kept + 0.005 < study.accuracy_kept:
        problems.append(f"accuracy kept {kept:.1%} is below the claimed {study.accuracy_kept:.0%}")
    verdict = "disagrees: " + "; ".join(problems) if problems else "consistent: the claim lies inside the 90% interval"
    return StudyCheck(scenario, config, claim, reference, data, verdict, _f(kept), _f(gain), _f(lo), _f(hi), status)


def render(matrix: Matrix, fmt: str) -> str:
    """The matrix as ``markdown``, ``csv`` or ``json`` text."""
    if fmt == "json":
        doc = {
            "schema_version": MATRIX_SCHEMA_VERSION,
            "data_hash": matrix.data_hash,
            "spec": matrix.spec_note,
            "energy": "gross (idle draw included; no figure subtracts idle power)",
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
        "Energy is gross: everything the devices drew while serving, idle draw included (no figure subtracts idle power).",
        "Accuracy kept and efficiency (EOR) gain are relative to the same model at fp16 on the same platform.",
        "The gain's interval is the candidate's 90% EOR interval over the baseline's point value; errors shared",
        "with the baseline (same platform and model) are not cancelled, so it is wider than the true ratio's.",
        "No gain is shown beyond what the bytes moved allow (reference bytes / format bytes - 1).",
        "'Tied' counts candidates whose objective interval overlaps the winner's (accuracy: within the flow's tie_within of it).",
        "'Decided by' says whether the data",
        "chose the winner or only the flow's preference order among candidates the data cannot tell apart.",
        "",
        "| Scenario | Priority | Objective | Recommended (platform [x devices] + precision (model; engine, batch)) | Accuracy kept vs fp16 | Efficiency gain vs fp16 [90%] | Cost tier | Confidence | Decided by | vs study |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in matrix.cells:
        gain = _pct(c.efficiency_gain, signed=True)
        if c.quantization is not None and c.efficiency_gain == 0 and c.efficiency_gain_lo is None:
            gain = "0% (is the baseline)"
        elif c.efficiency_gain_lo is not None and c.efficiency_gain_hi is not None:
            gain += f" [{_pct(c.efficiency_gain_lo, True)}, {_pct(c.efficiency_gain_hi, True)}]"
        lines.append(
            f"| {c.scenario} | {c.priority} | {c.objective} | {c.recommended} | {_pct(c.accuracy_kept)} | {gain} | "
            f"{c.cost_tier} | {c.confidence} | {c.decided_by} | {c.vs_study} |"
        )
    lines += [
        "",
        "## The study's matrix checked against the data",
        "",
        "The study names a precision, not the library, kernel or baseline behind it; each catalogued format it could",
        "mean is checked on the study's six models against the flow's reference (the first of its baseline formats",
        "moving more bytes per weight), the same reference the report's claims check uses.",
        "",
        "| Scenario | Study configuration | Study claim | Reference | Data for that configuration | Verdict |",
        "|---|---|---|---|---|---|",
    ]
    for s in matrix.checks:
        lines.append(f"| {s.scenario} | {s.configuration} | {s.claim} | {s.reference} | {s.data} | {s.verdict} |")
    lines.append("")
    return "\n".join(lines)
