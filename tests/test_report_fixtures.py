"""Shared fixtures of the report tests (no tests here): a synthetic table and a deterministic predictor."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.model.api import PREDICTION_COLUMNS
from recommender.table import MeasuredRow, write_table


def row(**kw: object) -> MeasuredRow:
    """A valid measured row with overridable fields (energy in J per query)."""
    base: dict[str, object] = {
        "platform": "a100-sxm4-40gb",
        "device_count": 1,
        "engine": "hf-transformers",
        "model_id": "mistralai/Mistral-7B-Instruct-v0.3",
        "params_total_b": 7.25,
        "params_active_b": 7.25,
        "quantization": "fp16",
        "batch_size": 1,
        "workload": "sharegpt-chat",
        "energy_j_per_query": 100.0,
        "energy_method": "nvml-counter",
        "energy_scope": "gpu",
        "idle_subtracted": False,
        "source": "user",
        "source_ref": "synthetic",
    }
    base.update(kw)
    return MeasuredRow.model_validate(base)


def write_rows(path: Path, rows: list[MeasuredRow]) -> Path:
    """Write rows as a table CSV and return its path."""
    write_table(rows, path)
    return path


def quant_table(effect: float, n_models: int, platform: str = "a100-sxm4-40gb", quant: str = "int8-bnb", base: str = "fp32") -> list[MeasuredRow]:
    """Pairs (quant vs base) on ``n_models`` models whose energy differs by ``effect`` (fraction)."""
    rows = []
    for i in range(n_models):
        e0 = 100.0 + 10.0 * i
        # A small per-pair wobble so the bootstrap has spread; it averages out to ``effect``.
        wobble = 0.01 * ((i % 3) - 1)
        rows.append(row(platform=platform, model_id=f"m{i}", quantization=base, energy_j_per_query=e0, source_ref=f"s{i}a"))
        rows.append(row(platform=platform, model_id=f"m{i}", quantization=quant, energy_j_per_query=e0 * (1 + effect + wobble), source_ref=f"s{i}b"))
    return rows


def scored_rows() -> list[MeasuredRow]:
    """Rows with accuracy and energy on benchmark tasks (measured EOR points)."""
    out = []
    for j, (plat, e) in enumerate((("a100-pcie-40gb", 40.0), ("rtx-4090", 55.0), ("v100-sxm2-32gb", 90.0))):
        for task, acc in (("mmlu", 0.61), ("gsm8k", 0.42)):
            out.append(
                row(
                    platform=plat,
                    workload=task,
                    accuracy=acc,
                    accuracy_metric="acc",
                    accuracy_stderr=0.01,
                    energy_j_per_query=e,
                    energy_spread_pct=4.0,
                    source_ref=f"scored-{j}-{task}",
                )
            )
    return out


class FakePredictor:
    """Deterministic predictions following the contract of ``recommender.model.api``.

    Energy depends on a hash of platform and model and on the quantization's bytes; accuracy
    on the model and task. Rows whose platform is in ``measured`` get status ``measured``,
    A100/RTX 4090 ``interpolated``, the rest ``extrapolated``.
    """

    data_hash = "fake"

    def __init__(self, measured: tuple[str, ...] = ()) -> None:
        self.measured = set(measured)

    def predict(self, candidates: pd.DataFrame) -> pd.DataFrame:
        def h(s: str) -> float:
            return (zlib.crc32(s.encode()) % 1000) / 1000.0

        qf = {"fp32": 1.0, "bf16": 0.6, "fp16": 0.6, "int8-bnb": 0.7, "int8-bnb-t0": 0.5, "dynamic-int8": 0.55, "nf4-bnb": 0.65}
        plat = candidates["platform"].astype(str)
        e = np.array([30.0 + 120.0 * h(p) for p in plat]) * np.array([1.0 + 0.5 * h(m) for m in candidates["model_id"].astype(str)])
        e = e * np.array([qf.get(q, 0.8) for q in candidates["quantization"].astype(str)])
        acc = np.array([0.3 + 0.5 * h(m + t) for m, t in zip(candidates["model_id"].astype(str), candidates["task"].astype(str), strict=True)])
        acc = acc - np.array([0.01 if q.startswith("int8") else 0.0 for q in candidates["quantization"].astype(str)])
        t = e / 200.0
        wh = e * 1000 / 3600
        eor = acc * 100 / wh
        status = np.array(
            ["measured" if p in self.measured else ("interpolated" if p.startswith(("a100", "rtx-4090")) else "extrapolated") for p in plat],
            dtype=object,
        )
        out = pd.DataFrame(index=candidates.index)
        for name, v, rel in (("energy_j_per_query", e, 0.1), ("time_s_per_query", t, 0.1), ("accuracy", acc, 0.03), ("eor", eor, 0.12), ("tweor", eor / t, 0.15)):
            out[name] = v
            out[f"{name}_lo"] = v * (1 - rel)
            out[f"{name}_hi"] = v * (1 + rel)
        out["status"] = status
        out["accuracy_status"] = "interpolated"
        out["accuracy_basis"] = "fixture"
        out["extrapolated_reasons"] = np.where(status == "extrapolated", "platform-unseen", "")
        out["engine_release"] = ""
        out["engine_release_basis"] = "none"
        out["queries_in_flight"] = candidates["batch_size"].to_numpy(dtype=float)
        return out[list(PREDICTION_COLUMNS)]
