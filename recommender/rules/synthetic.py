"""Synthetic predictors for tests and benchmarks of the rules engine.

Neither is used by ``eai recommend``: they let the ranking, tie marking and
explanation be tested against predictions whose values are known exactly, and
let ``bench/rank_scaling.py`` time the rules on very large candidate sets
without the cost of a fitted regressor.

- :class:`TablePredictor` returns fixed values per (platform, model, quantization, task).
- :class:`FormulaPredictor` computes a roofline-style estimate from catalog
  attributes, vectorized (decode time = weight bytes / memory bandwidth per
  output token; power = a fixed share of TDP).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recommender.catalog.types import ModelSpec, Platform
from recommender.model.api import PREDICTION_COLUMNS
from recommender.rules.catalogs import Catalogs


def _lookup(column: pd.Series, table: pd.Series | pd.DataFrame) -> dict[str, np.ndarray] | np.ndarray:
    """``table`` values for each entry of ``column`` (a dict of arrays for a frame).

    Categorical columns look each category up once and then index by code.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = np.asarray(column.cat.codes)
        values = table.reindex(column.cat.categories)
    else:
        codes = None
        values = table.reindex(column.to_numpy())

    def take(arr: np.ndarray) -> np.ndarray:
        return arr if codes is None else arr[codes]

    if isinstance(values, pd.DataFrame):
        return {c: take(values[c].to_numpy(dtype=float)) for c in values.columns}
    return take(values.to_numpy(dtype=float))


def _finish(out: dict[str, np.ndarray], candidates: pd.DataFrame) -> pd.DataFrame:
    # Every query of a batch shares the devices (no task profile here to tell choices apart).
    batch = candidates["batch_size"].to_numpy(dtype=float) if "batch_size" in candidates else np.ones(len(candidates))
    # No engine releases here: every row is predicted as its engine, release unstated.
    n = len(candidates)
    release = {
        "engine_release": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=pd.Index([""], dtype=object)),
        "engine_release_basis": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=pd.Index(["none"], dtype=object)),
    }
    frame = pd.DataFrame({**out, **release, "queries_in_flight": np.maximum(batch, 1.0)}, index=candidates.index)
    return frame[list(PREDICTION_COLUMNS)]


@dataclass
class TablePredictor:
    """Fixed predictions.

    Attributes:
        values: (platform, model_id, quantization, task) -> dict with keys
            ``energy_j`` (J/query), ``time_s`` (s/query), ``accuracy`` and optional
            ``rel_halfwidth`` (interval half-width as a fraction, default 0.05)
            ``status`` (default ``measured``) and ``accuracy_status`` (default: ``status``;
            any string, e.g. ``imputed`` or ``prior``).
        data_hash: Reported hash.
    """

    values: Mapping[tuple[str, str, str, str], Mapping[str, float | str]]
    data_hash: str = "table-predictor"
    calls: list[int] = field(default_factory=list)

    def predict(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """Look each candidate up; unknown ones get NaN and status ``extrapolated``."""
        self.calls.append(len(candidates))
        keys = zip(candidates["platform"], candidates["model_id"], candidates["quantization"], candidates["task"])
        rows = [self.values.get(k) for k in keys]
        e = np.array([r["energy_j"] if r else np.nan for r in rows], dtype=float)
        t = np.array([r["time_s"] if r else np.nan for r in rows], dtype=float)
        a = np.array([r["accuracy"] if r else np.nan for r in rows], dtype=float)
        h = np.array([r.get("rel_halfwidth", 0.05) if r else 0.5 for r in rows], dtype=float)
        status = np.array([str(r.get("status", "measured")) if r else "extrapolated" for r in rows], dtype=object)
        acc_status = np.array(
            [str(r.get("accuracy_status", r.get("status", "measured"))) if r else "prior" for r in rows], dtype=object
        )
        out = _targets(e, t, a, h, status)
        out["accuracy_status"] = acc_status
        return _finish(out, candidates)


def _targets(e: np.ndarray, t: np.ndarray, a: np.ndarray, h: np.ndarray, status) -> dict[str, object]:
    wh1k = e * 1000 / 3600
    eor = a * 100 / wh1k
    tweor = eor / t
    out: dict[str, np.ndarray] = {}
    for name, v in (("energy_j_per_query", e), ("time_s_per_query", t), ("accuracy", a)):
        out[name] = v
        out[name + "_lo"] = v * (1 - h)
        out[name + "_hi"] = v * (1 + h)
    out["accuracy_lo"] = np.clip(out["accuracy_lo"], 0, 1)
    out["accuracy_hi"] = np.clip(out["accuracy_hi"], 0, 1)
    out["eor"] = eor
    out["eor_lo"] = out["accuracy_lo"] * 100 / (out["energy_j_per_query_hi"] * 1000 / 3600)
    out["eor_hi"] = out["accuracy_hi"] * 100 / (out["energy_j_per_query_lo"] * 1000 / 3600)
    out["tweor"] = tweor
    out["tweor_lo"] = out["eor_lo"] / out["time_s_per_query_hi"]
    out["tweor_hi"] = out["eor_hi"] / out["time_s_per_query_lo"]
    # Built from codes: converting ~1M Python strings dominates otherwise.
    labels = ["measured", "interpolated", "extrapolated"]
    if isinstance(status, pd.Categorical):
        cat = status
    else:
        codes, uniq = pd.factorize(np.asarray(status, dtype=object))
        cat = pd.Categorical.from_codes(codes, categories=pd.Index(list(uniq), dtype=object))
    cat = cat.set_categories(pd.Index(labels, dtype=object))
    out["status"] = cat
    out["accuracy_status"] = cat
    out["accuracy_basis"] = pd.Categorical.from_codes(np.zeros(len(e), dtype=np.int8), categories=pd.Index(["synthetic"], dtype=object))
    out["extrapolated_reasons"] = pd.Categorical.from_codes(
        (np.asarray(cat.codes) == 2).astype(np.int8), categories=pd.Index(["", "platform-unseen"], dtype=object)
    )
    return out


class FormulaPredictor:
    """Roofline-style synthetic predictions from catalog attributes (vectorized).

    Args:
        catalogs: Catalogs whose attributes feed the formula.
        measured: (platform, quantization) pairs reported as ``measured``; others
            are ``extrapolated`` with wider intervals.
    """

    data_hash = "formula-predictor"

    def __init__(self, catalogs: Catalogs, measured: set[tuple[str, str]] | None = None) -> None:
        self._p = pd.DataFrame(
            {
                "bw": [p.memory_bandwidth_gbs for p in catalogs.platforms.values()],
                "tdp": [p.tdp_w for p in catalogs.platforms.values()],
                "tflops": [p.fp16_dense_tflops or p.fp32_tflops or 10.0 for p in catalogs.platforms.values()],
            },
            index=pd.Index(list(catalogs.platforms), name="platform"),
        )
        self._m = pd.Series({m.id: m.params_total_b for m in catalogs.models.values()}, dtype=float)
        self._q = pd.Series({q.name: q.bytes_per_weight for q in catalogs.quants.values()}, dtype=float)
        self._t = pd.DataFrame(
            {
                "prompt": [t.prompt_tokens_mean for t in catalogs.tasks.values()],
                "output": [max(t.output_tokens_mean, 1.0) for t in catalogs.tasks.values()],
                "chance": [t.chance for t in catalogs.tasks.values()],
            },
            index=pd.Index(list(catalogs.tasks)),
        )
        self._measured = measured or set()
        self._catalogs = catalogs

    def with_catalog_entries(self, platforms: dict[str, Platform], models: dict[str, ModelSpec]) -> FormulaPredictor:
        """The same formula over the catalogs plus entries from outside them (as the fitted
        predictor's ``with_catalog_entries``)."""
        c = self._catalogs
        extended = Catalogs.from_entries(
            [*c.platforms.values(), *platforms.values()], [*c.models.values(), *models.values()], c.tasks.values(), c.quants.values()
        )
        return FormulaPredictor(extended, self._measured)

    def predict(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """Predict all targets for every candidate row."""
        p = _lookup(candidates["platform"], self._p)
        params = _lookup(candidates["model_id"], self._m)
        bpw = _lookup(candidates["quantization"], self._q)
        t = _lookup(candidates["task"], self._t)
        batch = candidates["batch_size"].to_numpy(dtype=float)
        devices = candidates["device_count"].to_numpy(dtype=float)
        bw = p["bw"] * 1e9 * devices
        flops = p["tflops"] * 1e12 * devices
        weight_bytes = params * 1e9 * bpw
        decode_s = t["output"] * weight_bytes / (0.6 * bw)
        prefill_s = t["prompt"] * batch * 2 * params * 1e9 / (0.4 * flops)
        time_s = decode_s + prefill_s
        power = 0.6 * p["tdp"] * devices
        energy = power * time_s / batch
        chance = t["chance"]
        skill = 1 - np.exp(-params / 6.0)
        penalty = np.where(bpw < 1.0, 0.03, np.where(bpw < 2.0, 0.005, 0.0))
        acc = np.clip(chance + (1 - chance) * (0.75 * skill - penalty), 0, 1)
        if self._measured:
            measured = np.zeros(len(candidates), dtype=bool)
            for plat, quant in self._measured:
                measured |= ((candidates["platform"] == plat) & (candidates["quantization"] == quant)).to_numpy()
        else:
            measured = np.zeros(len(candidates), dtype=bool)
        h = np.where(measured, 0.05, 0.25)
        status = pd.Categorical.from_codes(
            np.where(measured, 0, 2).astype(np.int8), categories=pd.Index(["measured", "interpolated", "extrapolated"], dtype=object)
        )
        return _finish(_targets(energy, time_s, acc, h, status), candidates)


def small_catalogs() -> Catalogs:
    """A small, fixed catalog bundle (4 platforms, 3 models, 2 tasks, 6 quantizations) for tests.

    Platform and model figures are rounded public datasheet / config.json values;
    they only need to be plausible here.
    """
    from recommender.catalog.types import ModelSpec, Platform, QuantSpec, TaskSpec

    def plat(pid: str, cls: str, mem: float, bw: float, tdp: float, gen: float, tflops: float, aliases=()) -> Platform:
        return Platform(
            id=pid, name=pid, vendor="nvidia", platform_class=cls, architecture="x", arch_generation=gen,
            release_year=2022, memory_gb=mem, memory_bandwidth_gbs=bw, tdp_w=tdp, fp16_dense_tflops=tflops,
            aliases=tuple(aliases),
        )

    platforms = [
        plat("a100-pcie-40gb", "data-center", 40, 1555, 250, 8.0, 312, ("a100",)),
        plat("h100-sxm5-80gb", "data-center", 80, 3350, 700, 9.0, 989, ("h100",)),
        plat("rtx-4090", "workstation", 24, 1008, 450, 8.9, 165, ("4090",)),
        plat("rtx-4060-ti-16gb", "edge", 16, 288, 165, 8.9, 44, ("4060ti",)),
    ]

    def model(mid: str, fam: str, params: float, layers: int, kv: int, hidden: int, heads: int) -> ModelSpec:
        return ModelSpec(
            id=mid, family=fam, params_total_b=params, params_active_b=params, layers=layers, hidden_size=hidden,
            attention_heads=heads, kv_heads=kv, context_length=32768, source="test",
        )

    models = [
        model("org/small-1b", "small", 1.0, 16, 8, 2048, 16),
        model("org/mid-7b", "mid", 7.0, 32, 8, 4096, 32),
        model("org/big-13b", "big", 13.0, 40, 40, 5120, 40),
    ]
    tasks = [
        TaskSpec(id="gsm8k", kind="benchmark", metric="exact_match", chance=0.0, prompt_tokens_mean=800,
                 output_tokens_mean=120, source="test"),
        TaskSpec(id="mmlu", kind="benchmark", metric="acc", chance=0.25, output_type="multiple_choice",
                 prompt_tokens_mean=600, output_tokens_mean=1, choices_mean=4, source="test"),
        TaskSpec(id="sharegpt-chat", kind="workload", prompt_tokens_mean=200, output_tokens_mean=250, source="test"),
    ]

    def quant(name: str, bpw: float, prec: str, fam: str, devices=("cuda",), min_gen=None) -> QuantSpec:
        return QuantSpec(name=name, bytes_per_weight=bpw, compute_precision=prec, devices=tuple(devices),
                         min_arch_generation=min_gen, family=fam, description=name)

    quants = [
        quant("fp16", 2.0, "fp16", "float", ("cuda", "cpu")),
        quant("bf16", 2.0, "bf16", "float", ("cuda", "cpu"), 8.0),
        quant("fp8", 1.0, "fp8", "native-lowp", ("cuda",), 8.9),
        quant("int8-bnb", 1.03, "int8", "bnb"),
        quant("nf4-bnb", 0.56, "fp16", "bnb"),
        quant("dynamic-int8", 1.0, "int8", "dynamic", ("cuda", "cpu")),
    ]
    return Catalogs.from_entries(platforms, models, tasks, quants)
