"""``eai verify``: measure one configuration and compare it with the model-only prediction.

Model-only means the predictor never saw the cell: before measuring, every row of the measured
table with the same (platform, devices, engine, model, quantization, batch size, task) is
left out and the predictor is refit on the rest (when the table has no such row, the fitted
predictor for the table is that already). After measuring, that predictor predicts the cell
with the measured run's own token profile (prompt, output and fed tokens per query), and each
quantity is checked against its 90% interval. The measurement itself never enters the
prediction it is compared with.

Measuring goes through a :class:`Measurer` (the CLI passes one backed by the profiler's
``LmEvalRunner``/``run_sweep``, which append the row to the profiled table), so this module
does not import the measurement stack.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from recommender.errors import InvalidInputError, MeasurementError

QUANTITIES: dict[str, str] = {"energy": "energy_j_per_query", "time": "time_s_per_query", "accuracy": "accuracy"}
UNITS: dict[str, str] = {"energy": "J/query", "time": "s/query", "accuracy": ""}


@dataclass(frozen=True)
class Configuration:
    """The configuration to verify.

    Attributes:
        platform: Platform id (None: this machine's).
        device_count: Devices.
        engine: Serving engine.
        model: Model id or alias.
        quantization: Quantization name.
        batch_size: Concurrent sequences.
        tasks: Tasks to measure.
    """

    platform: str | None
    device_count: int
    engine: str
    model: str
    quantization: str
    batch_size: int
    tasks: tuple[str, ...]


class Measurer(Protocol):
    """Measures a configuration on this machine (the profiler, or a fake in tests)."""

    platform: str
    engine: str

    def model_id(self, model: str) -> str:
        """Canonical id of a model reference (no weights loaded)."""
        ...

    def measure(self, config: Configuration) -> list[Any]:
        """Measure every task; returns the appended rows (``MeasuredRow``)."""
        ...


@dataclass(frozen=True)
class Check:
    """One quantity of one task: measured vs model-only prediction."""

    task: str
    quantity: str
    measured: float
    predicted: float
    lo: float
    hi: float

    @property
    def inside(self) -> bool:
        """Whether the measurement lies in the 90% interval (unknown counts as inside)."""
        if not all(np.isfinite([self.measured, self.lo, self.hi])):
            return True
        return bool(self.lo <= self.measured <= self.hi)


@dataclass(frozen=True)
class VerificationResult:
    """What ``eai verify`` reports.

    Attributes:
        configuration: As measured (canonical model id, detected platform).
        checks: Per task and quantity.
        rows_left_out: Table rows of the cell left out of the model-only fit.
        refit: Whether the predictor was refit for this check.
        out: Where the measured rows were appended.
    """

    configuration: dict[str, Any]
    checks: tuple[Check, ...]
    rows_left_out: int
    refit: bool
    out: str

    def selected(self, check: str) -> list[Check]:
        """Checks the exit status depends on (``check``: a quantity or ``all``)."""
        return [c for c in self.checks if check == "all" or c.quantity == check]

    def to_dict(self, check: str = "energy") -> dict[str, Any]:
        """JSON-able form with the verdict for ``check``."""
        sel = self.selected(check)
        outside = [f"{c.task} {c.quantity}" for c in sel if not c.inside]
        return {
            "configuration": self.configuration,
            "prediction": "model-only: refit without the cell's rows" if self.refit else "model-only: the table has no row of this cell",
            "rows_left_out": self.rows_left_out,
            "appended_to": self.out,
            "checked": check,
            "inside": not outside,
            "outside": outside,
            "checks": [
                {**c.__dict__, "inside": c.inside} for c in self.checks
            ],
        }

    def lines(self, check: str = "energy") -> list[str]:
        """Human-readable report."""
        c = self.configuration
        out = [
            f"eai verify - {c['platform']} + {c['model_id']} @ {c['quantization']} ({c['engine']}, batch {c['batch_size']})",
            ("prediction: model-only, refit without the " + f"{self.rows_left_out} table row(s) of this cell")
            if self.refit
            else "prediction: model-only (the table has no row of this cell)",
        ]
        for ch in self.checks:
            unit = UNITS[ch.quantity]
            mark = "inside" if ch.inside else "OUTSIDE"
            out.append(
                f"  {ch.task:<16} {ch.quantity:<8} measured {ch.measured:.4g} {unit}  predicted {ch.predicted:.4g} "
                f"[{ch.lo:.4g}-{ch.hi:.4g}]  {mark}"
            )
        doc = self.to_dict(check)
        out.append(
            f"verdict ({check}): " + ("inside the 90% interval" if doc["inside"] else "outside: " + ", ".join(doc["outside"]))
        )
        out.append(f"row(s) appended to {self.out}; `eai data import` merges them and `eai recommend` refits")
        return out


def _cell_mask(table, platform: str, device_count: int, engine: str, model_id: str, quant: str, batch: int, tasks: Sequence[str]):
    return (
        (table["platform"].astype(str) == platform)
        & (table["device_count"].astype(int) == device_count)
        & (table["engine"].astype(str) == engine)
        & (table["model_id"].astype(str) == model_id)
        & (table["quantization"].astype(str) == quant)
        & (table["batch_size"].astype(int) == batch)
        & (table["workload"].astype(str).isin(list(tasks)))
    ).to_numpy()


def model_only_predictor(
    table_path: Path, mask_fn: Callable[[Any], np.ndarray], fit: Callable[[Path], Any] | None = None
) -> tuple[Any, int]:
    """The predictor for the table without the rows ``mask_fn`` selects, and how many were left out.

    Args:
        table_path: Measured table.
        mask_fn: Table frame -> boolean mask of the cell's rows.
        fit: Table path -> fitted predictor (default: ``recommender.model.fit_from_files``;
            without rows to leave out, ``load_predictor`` for the table).
    """
    from recommender.table import load_table, write_table
    from recommender.table.io import read_rows

    table = load_table(table_path)
    mask = mask_fn(table)
    dropped = int(mask.sum())
    if fit is None:
        from recommender.model import fit_from_files, load_predictor

        if dropped == 0:
            return load_predictor(table_path=table_path, save_refit=False), 0
        fit = fit_from_files
    if dropped == 0:
        return fit(table_path), 0
    rows = read_rows(table_path)
    keep = [r for r, m in zip(rows, mask) if not m]
    with tempfile.TemporaryDirectory(prefix="eai-verify-") as tmp:
        path = Path(tmp) / "measured-without-cell.csv"
        write_table(keep, path)
        return fit(path), dropped


def run_verification(
    config: Configuration,
    measurer: Measurer,
    table_path: str | Path | None = None,
    out: str = "",
    fit: Callable[[Path], Any] | None = None,
) -> VerificationResult:
    """Fit the model-only predictor, measure, predict the measured cell, compare.

    Raises:
        InvalidInputError: The configuration is for another platform or engine than the measurer's.
        MeasurementError: No row was measured.
    """
    import pandas as pd

    from recommender.table.io import DEFAULT_TABLE

    platform = config.platform or measurer.platform
    if platform != measurer.platform:
        raise InvalidInputError(
            f"the configuration runs on {platform}; this machine measures as {measurer.platform} "
            "(verify it on that platform, or give --platform of this machine)"
        )
    if config.engine != measurer.engine:
        raise InvalidInputError(
            f"the configuration is served by {config.engine}; the profiler here measures with {measurer.engine} "
            f"(a row measured with {measurer.engine} would not verify a {config.engine} prediction)"
        )
    model_id = measurer.model_id(config.model)
    tpath = Path(table_path) if table_path is not None else DEFAULT_TABLE
    predictor, dropped = model_only_predictor(
        tpath,
        lambda t: _cell_mask(t, platform, config.device_count, config.engine, model_id, config.quantization, config.batch_size, config.tasks),
        fit,
    )
    rows = measurer.measure(config)
    if not rows:
        raise MeasurementError(f"no row was measured for {model_id} @ {config.quantization}; see the profiler's failures file")
    cand = pd.DataFrame(
        {
            "platform": [r.platform for r in rows],
            "device_count": [r.device_count for r in rows],
            "engine": [r.engine for r in rows],
            "model_id": [r.model_id for r in rows],
            "quantization": [r.quantization for r in rows],
            "batch_size": [r.batch_size for r in rows],
            "task": [r.workload for r in rows],
            "prompt_tokens_mean": [r.prompt_tokens_mean for r in rows],
            "output_tokens_mean": [r.output_tokens_mean for r in rows],
            "fed_tokens_mean": [getattr(r, "fed_tokens_mean", None) for r in rows],
        }
    )
    for col in ("prompt_tokens_mean", "output_tokens_mean", "fed_tokens_mean"):
        cand[col] = pd.to_numeric(cand[col], errors="coerce")
    pred = predictor.predict(cand)
    checks = []
    for i, r in enumerate(rows):
        for q, col in QUANTITIES.items():
            y = getattr(r, col)
            checks.append(
                Check(
                    task=r.workload, quantity=q, measured=float(y) if y is not None else float("nan"),
                    predicted=float(pred[col].iat[i]), lo=float(pred[col + "_lo"].iat[i]), hi=float(pred[col + "_hi"].iat[i]),
                )
            )
    r0 = rows[0]
    return VerificationResult(
        configuration={
            "platform": r0.platform, "device_count": r0.device_count, "engine": r0.engine, "model_id": r0.model_id,
            "quantization": r0.quantization, "batch_size": r0.batch_size, "tasks": [r.workload for r in rows],
        },
        checks=tuple(checks),
        rows_left_out=dropped,
        refit=dropped > 0,
        out=out,
    )
