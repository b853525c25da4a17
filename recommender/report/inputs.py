"""Gather what the report shows: table, predictions on the study grid, evaluation, flow, matrix, sources.

Every optional piece (predictor, evaluation, decision flow, matrix, sources) is
loaded through its owner's public API when that exists; when it does not (yet),
the report says so in place of the section instead of failing. The measured
table is the only required input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from recommender.errors import EaiError
from recommender.report.metrics import POINT_COLUMNS, measured_points, merge_points, predicted_points
from recommender.table import load_table, table_hash
from recommender.table.accuracy import load_accuracy
from recommender.table.io import DEFAULT_TABLE

DATA_DIR = DEFAULT_TABLE.parent

STUDY_PLATFORMS: tuple[str, ...] = ("A100 PCIe", "RTX 4090", "RTX 3090 Ti", "RTX 4060 Ti", "V100", "L40S")
STUDY_MODELS: tuple[str, ...] = (
    "Qwen2.5-7B",
    "DeepSeek-R1-Distill-Qwen-7B",
    # MISSION.md says "Mistral"; the quantization reports' A800 sweep names its checkpoint
    # (Mistral-7B-Instruct-v0.2, the table's measured rows). "Mistral-7B" alone matches five.
    "mistralai/Mistral-7B-Instruct-v0.2",
    "neural-chat-7b",
    "bigscience/bloomz-7b1",
    "Yi-6B",
)
STUDY_TASKS: tuple[str, ...] = ("mmlu", "hellaswag", "arc_challenge", "truthfulqa", "gsm8k")
STUDY_FORMATS: tuple[tuple[str, str], ...] = (
    ("fp32", "hf-transformers"),
    ("fp16", "hf-transformers"),
    ("int8-bnb", "hf-transformers"),
    ("int8-bnb-t0", "hf-transformers"),
    ("dynamic-int8", "hf-transformers"),
    ("fp16", "vllm"),
    ("bf16", "vllm"),
    ("fp8", "vllm"),
)
"""(format, engine) pairs predicted on the study's grid. MISSION.md names the study's precisions
(INT8, FP16, dynamic) but not the library, kernel, engine or baseline behind them, so the grid holds
every catalogued format they could mean (INT8: LLM.int8(), pure INT8, FP8) on an engine that runs
it, next to the references the claims check compares them with (fp32, fp16, bf16) on the same engine."""

STUDY_QUANTS: tuple[str, ...] = tuple(dict.fromkeys(q for q, _ in STUDY_FORMATS))
"""Formats on the study's grid, in order."""

STUDY_SETUP = {"batch_size": 1, "device_count": 1}
"""One request at a time on one GPU: a setup chosen here for comparability (the study does not state it)."""


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report is built from.

    Attributes:
        table: Measured table.
        table_path: Its file.
        table_sha256: SHA-256 of the file.
        points: Measured points plus predicted points for unmeasured configurations.
        grid_points: Predicted points on the study grid (for the claims' model side).
        benchmark_tasks: Task ids that have accuracy (heatmap / trade-off tabs).
        notes: Section name -> why a piece is missing or partial.
        evaluation: Regressor's evaluation result (dict), if available.
        flow: Decision flow (parsed YAML), if available.
        matrix_md: Decision matrix as markdown, if available.
        sources_md: data/SOURCES.md text, if available.
    """

    table: pd.DataFrame
    table_path: Path
    table_sha256: str
    points: pd.DataFrame
    grid_points: pd.DataFrame
    benchmark_tasks: tuple[str, ...]
    notes: dict[str, str] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    flow: dict[str, Any] | None = None
    matrix_md: str | None = None
    sources_md: str | None = None
    accuracy_table: pd.DataFrame | None = None


def _resolve_all(resolver: Callable[[str], Any], names: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Canonical ids for names via a catalog resolver; names it does not know are returned separately."""
    ids, unknown = [], []
    for n in names:
        try:
            ids.append(resolver(n).id)
        except EaiError:
            unknown.append(n)
    return ids, unknown


def benchmark_task_ids(table: pd.DataFrame) -> tuple[str, ...]:
    """Benchmark tasks: catalog tasks of kind ``benchmark``, else workloads that carry accuracy."""
    from recommender.catalog import get_tasks

    found = [t.id for t in get_tasks().values() if t.kind == "benchmark"]
    with_acc = sorted(set(table.loc[table["accuracy"].notna(), "workload"].astype(str))) if not table.empty else []
    ordered = [t for t in STUDY_TASKS if t in found or t in with_acc]
    ordered += [t for t in with_acc if t not in ordered]
    if not ordered and found:
        ordered = [t for t in STUDY_TASKS if t in found]
    return tuple(ordered)


def study_grid() -> tuple[pd.DataFrame, list[str]]:
    """Candidate frame of the study's platforms x models x formats (:data:`STUDY_FORMATS`) x tasks.

    Returns:
        The candidates (``recommender.model.api.CANDIDATE_COLUMNS``) and names the catalogs
        did not know (left out of the grid).
    """
    from recommender.catalog import resolve_model, resolve_platform, resolve_task

    platforms, up = _resolve_all(resolve_platform, STUDY_PLATFORMS)
    models, um = _resolve_all(resolve_model, STUDY_MODELS)
    tasks, ut = _resolve_all(resolve_task, STUDY_TASKS)
    rows = [
        {"platform": p, "model_id": m, "quantization": q, "engine": e, "task": t, **STUDY_SETUP}
        for t in tasks
        for p in platforms
        for m in models
        for q, e in STUDY_FORMATS
    ]
    cols = ["platform", "device_count", "engine", "model_id", "quantization", "batch_size", "task"]
    return pd.DataFrame(rows, columns=cols), [*up, *um, *ut]


def measured_config_grid(table: pd.DataFrame, tasks: tuple[str, ...]) -> pd.DataFrame:
    """Candidates for every measured single-request configuration (batch 1) x benchmark task.

    These put the platforms and models the table actually measured next to the study's
    grid, in the same batch-1 regime (the predictor marks them ``measured`` where it
    has the energy measurement).
    """
    cols = ["platform", "device_count", "engine", "model_id", "quantization", "batch_size", "task"]
    if table.empty or not tasks:
        return pd.DataFrame(columns=cols)
    configs = table.loc[table["batch_size"] == 1, cols[:-1]].drop_duplicates()
    out = configs.merge(pd.DataFrame({"task": list(tasks)}), how="cross")
    return out[cols].reset_index(drop=True)


def _load_predictor(table_path: Path, model_dir: Path | None = None) -> tuple[Any | None, str]:
    from recommender.model import load_predictor

    kwargs: dict[str, Any] = {} if model_dir is None else {"model_dir": model_dir}
    try:
        # A report reads the model; it must never overwrite the shipped one with a refit on another table.
        return load_predictor(table_path=table_path, save_refit=False, **kwargs), ""
    except EaiError as exc:
        return None, f"no predictor: {exc}"
    except Exception as exc:  # noqa: BLE001 - reported on the page and by the CLI, never hidden
        return None, f"predictor failed to load ({type(exc).__name__}: {exc}); predictions left out of this report"


def predict_grid(predictor: Any, candidates: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Run the predictor over candidates; a combination it refuses is dropped, not fatal.

    Returns:
        Predicted points and a note listing refused combinations (empty when none).
    """
    if candidates.empty:
        return pd.DataFrame(columns=list(POINT_COLUMNS)), ""
    try:
        return predicted_points(candidates, predictor.predict(candidates)), ""
    except EaiError:
        pass
    # Retry per quantization x platform so that one unsupported pair does not hide the rest.
    frames, refused = [], []
    for (plat, quant), sub in candidates.groupby(["platform", "quantization"], sort=False):
        try:
            frames.append(predicted_points(sub, predictor.predict(sub)))
        except EaiError as exc:
            refused.append(f"{plat}+{quant} ({str(exc).splitlines()[0][:120]})")
    pts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(POINT_COLUMNS))
    return pts, ("predictor refused: " + "; ".join(refused)) if refused else ""


def _load_evaluation(table_path: Path, model_dir: Path | None = None) -> tuple[dict[str, Any] | None, str]:
    """The regressor's stored evaluation (what ``eai evaluate`` stored next to the model).

    Only a stored result is read: re-running the cross-validation here would take minutes.
    """
    from recommender.model import load_evaluation

    try:
        return load_evaluation(table_path, model_dir), ""
    except EaiError as exc:
        return None, f"evaluation unavailable: {exc}"
    except (OSError, ValueError) as exc:
        return None, f"evaluation unreadable ({type(exc).__name__}: {exc})"


def _load_flow() -> tuple[dict[str, Any] | None, str]:
    path = DATA_DIR / "decision_flow.yaml"
    if not path.is_file():
        return None, f"no decision flow: {path.name} is not in data/ yet"
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")), ""
    except yaml.YAMLError as exc:
        return None, f"decision flow unreadable: {exc}"


def _load_matrix() -> tuple[str | None, str]:
    path = DATA_DIR / "decision_matrix.md"
    if path.is_file():
        return path.read_text(encoding="utf-8"), ""
    return None, f"no decision matrix: {path.name} is not in data/ yet"


def gather(
    table_path: str | Path = DEFAULT_TABLE,
    with_predictor: bool = True,
    predictor: Any | None = None,
    model_dir: str | Path | None = None,
) -> ReportInputs:
    """Load the table and every optional input of the report.

    Args:
        table_path: Measured table CSV.
        with_predictor: Load the fitted predictor and predict the study grid.
        predictor: Use this predictor (``recommender.model.api.Predictor``) instead of loading one.
        model_dir: Fitted-model directory for ``load_predictor`` (default: the shipped ``models/``).

    Returns:
        The report inputs; ``notes`` explains anything that is missing.
    """
    path = Path(table_path)
    table = load_table(path)
    notes: dict[str, str] = {}
    tasks = benchmark_task_ids(table)
    measured = measured_points(table, set(tasks) if tasks else None)
    grid = pd.DataFrame(columns=list(POINT_COLUMNS))
    if with_predictor:
        why = ""
        if predictor is None:
            predictor, why = _load_predictor(path, Path(model_dir) if model_dir is not None else None)
        if predictor is None:
            notes["predictions"] = why
        else:
            candidates, unknown = study_grid()
            extra = measured_config_grid(table, tuple(dict.fromkeys([*tasks, *candidates["task"]])))
            candidates = pd.concat([candidates, extra], ignore_index=True).drop_duplicates(ignore_index=True)
            try:
                grid, why = predict_grid(predictor, candidates)
            except Exception as exc:  # noqa: BLE001 - a broken predictor must not take the measured report down
                # Not swallowed: the page and the CLI both state that predictions are missing and why.
                grid = pd.DataFrame(columns=list(POINT_COLUMNS))
                why = f"predictor failed ({type(exc).__name__}: {exc}); predictions left out of this report"
            if unknown:
                why = (why + "; " if why else "") + "not resolved by the catalogs (unknown or ambiguous): " + ", ".join(unknown)
            if why:
                notes["predictions"] = why
    else:
        notes["predictions"] = "predictions switched off (--no-predictions)"
    tasks = tuple(dict.fromkeys([*tasks, *(t for t in STUDY_TASKS if not grid.empty and t in set(grid["task"]))]))
    points = merge_points(measured, grid)
    evaluation, why = _load_evaluation(path, Path(model_dir) if model_dir is not None else None)
    if why:
        notes["validation"] = why
    flow, why = _load_flow()
    if why:
        notes["flow"] = why
    matrix, why = _load_matrix()
    if why:
        notes["matrix"] = why
    sources = DATA_DIR / "SOURCES.md"
    accuracy_table = None
    if (DATA_DIR / "accuracy.csv").is_file():
        try:
            accuracy_table = load_accuracy(DATA_DIR / "accuracy.csv")
        except EaiError as exc:
            notes["provenance"] = f"accuracy table unreadable: {exc}"
    return ReportInputs(
        table=table,
        table_path=path,
        table_sha256=table_hash(path),
        points=points,
        grid_points=grid,
        benchmark_tasks=tasks,
        notes=notes,
        evaluation=evaluation,
        flow=flow,
        matrix_md=matrix,
        sources_md=sources.read_text(encoding="utf-8") if sources.is_file() else None,
        accuracy_table=accuracy_table,
    )
