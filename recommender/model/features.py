"""Features of a configuration, looked up from the catalogs and vectorized.

A configuration is (platform, device count, engine, model, quantization, batch size)
plus a token profile (prompt tokens, generated tokens, answer choices). Catalog values
are gathered into small lookup frames once; a frame of configurations is then mapped
with categorical codes (``pd.Categorical(...).codes`` + ``numpy.take``), so a million
candidate rows cost a few array operations, never a Python loop per row.

Every numeric feature is a physical quantity (log-scaled where it spans decades): memory
bandwidth, dense tensor throughput at the compute precision, TDP, memory size,
architecture generation, total/active parameters, bytes per weight, KV bytes per token,
batch size, token profile, and the roofline priors of :mod:`recommender.model.physics`.
Device count acts through the priors only (bandwidth, throughput, board power and per-step
overhead all scale with it there). Identifiers (platform, model, engine, quantization)
are kept as categorical columns the regressor may use for shrunken per-level offsets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recommender.catalog.types import BLOCKS, ModelSpec, Platform, QuantSpec, TaskSpec, kv_bytes_per_context_token
from recommender.errors import UnknownNameError
from recommender.model import cats, physics

PRECISION_FALLBACK: dict[str, tuple[str, ...]] = {
    "fp32": ("fp32_tflops",),
    "fp16": ("fp16_dense_tflops", "bf16_dense_tflops", "fp32_tflops"),
    "bf16": ("bf16_dense_tflops", "fp16_dense_tflops", "fp32_tflops"),
    "fp8": ("fp8_dense_tflops", "fp16_dense_tflops", "bf16_dense_tflops", "fp32_tflops"),
    "int8": ("int8_dense_tops", "fp16_dense_tflops", "bf16_dense_tflops", "fp32_tflops"),
    "fp4": ("fp4_dense_tflops", "fp8_dense_tflops", "fp16_dense_tflops", "bf16_dense_tflops", "fp32_tflops"),
}
"""Platform throughput column used for each compute precision, with fallbacks.

A GPU without a tensor path for the precision runs it through the next wider one
(e.g. FP8 weights on Ampere are up-cast to FP16), so the fallback is the physically
right number, not a guess.
"""

PRECISIONS: tuple[str, ...] = tuple(PRECISION_FALLBACK)

KV_BYTES_PER_PARAM_FALLBACK = 7.5e-5
"""KV bytes per token per parameter for a model without architecture figures.

Derived from LLaMA-7B (32 layers x 4096 hidden, MHA: 524,288 B/token for 6.7e9 params);
used only for the two catalog models whose config lacks layer counts.
"""

NUMERIC_FEATURES: tuple[str, ...] = (
    "log_bandwidth",
    "log_tdp",
    "log_memory",
    "arch_generation",
    "log_peak",
    "log_params_active",
    "log_params_total",
    "log_moe_ratio",
    "log_moe_ratio_fp8",
    "log_layers",
    "log_hidden",
    "log_kv_token",
    "log_bytes_per_weight",
    "log_batch",
    "log_mem_over_compute",
    "comm_share",
)
"""Numeric (physics) features the regressor sees.

Not ``log_weights_over_memory`` (the share of the devices' memory the weights take; still a
column, the twins stage reads it): a step's cost does not depend on how full the memory is,
and where fullness matters (fewer sequences fit next to the weights) the physics already caps
the running batch (:func:`recommender.model.physics.kv_limited_batch`). A free slope on it was
fitted on which GPUs happened to run which model sizes. Without it (``eai evaluate``,
2026-12-05): leave-one-source-out energy per query 15.5 -> 14.8 % (coverage 88.8 -> 89.8 %),
per output token 14.8 -> 14.4 %, time 17.2 % either way; leave-one-platform-out energy per
output token 18.2 -> 18.1 % (per query 18.2 -> 18.3 %, time 18.7 -> 18.9 %);
leave-one-model-out energy 10.4 % either way, time 10.9 -> 10.6 %. ``log_memory`` stays:
without it too, leave-one-source-out went to 15.7 % and leave-one-platform-out to 18.5 %.

``comm_share``: the share of a roofline decode step spent in tensor-parallel all-reduces (0 on
one device; Llama-3.1-8B at 64 sequences on eight H100s: 0.73). The energy roofline charges
that time at the board's whole limit on every device, so its draw per device stays where one
device's is, while each doubling of the devices lowered it to 0.82x in the measured pairs (the
same deployment and batch on two device counts; docs/model.md, known gaps); a slope on the
share lets the shipped multi-GPU rows say how much less a waiting device draws. Evidence
(``eai evaluate``, 2026-12-06, without -> with): leave-one-source-out energy per query 15.8 ->
15.4 % (ML.ENERGY v2 held out 13.5 -> 13.2 %), leave-one-model-out 10.4 -> 10.2 % (time 10.3 ->
10.5 %), leave-one-platform-out energy per output token 17.6 -> 17.4 % (per query 17.8 -> 18.0 %,
time 18.7 -> 18.4 %); ``--split devices`` (larger device counts held out) 14.0 -> 15.1 % pooled,
but better on 12 of its 20 deployments and worse on 4 (mean of the deployments' median errors
21.1 -> 19.5 %). Eight H100s serving Llama-3.1-8B at 64 sequences: 481 -> 356 W per device (one:
610 W measured). The KV-cache reads' part of the step beside it (``kv_share``) was tried the same
day and is not in: leave-one-source-out energy 15.4 -> 15.3 %, but ML.ENERGY v2 held out 13.2 ->
13.8 % (time 16.7 -> 19.3 %) and leave-one-source-out time 17.2 -> 17.8 %.

Not ``log_devices``: the priors already carry everything a device count changes (bandwidth,
throughput, board power and per-step overhead all scale with it there), and a free slope on
it is fitted on whichever models each platform happened to run on many GPUs. Under
leave-one-platform-out it moved the held-out H100's single-GPU rows from +0.19 to +0.27 in
median log error; energy per output token was 18.5 % median APE with it, 17.7 % without it
(``eai evaluate``).

Nor the token profile (prompt, output and context lengths): it acts through the roofline
only (the KV bytes a step reads at the mean context, the prompt pass in time), where it
carries physics. Free slopes on it were fitted on three token profiles, each run by other
models (FIM's long prompts only by two Qwen3-Coder MoEs, whose prompt length is itself an
estimate), and moved predictions for a profile never measured the wrong way: held out,
LMArena chat was predicted 1.75x too high and a 1,024 + 1,024-token static batch of an 8B
model on an H100 at 0.62 J per token against 0.46 through the roofline alone. Without
them (2026-12-03, ``eai evaluate`` plus ``--split workload``), leave-one-workload-out energy
per query went 20.4 -> 22.4 % median APE but its 90 % coverage 81 -> 88 %, time per query
20.8 -> 17.1 %; leave-one-source-out energy 22.0 -> 20.5 %, time 36.9 -> 35.5 %;
leave-one-platform-out energy 23.6 -> 23.4 %."""

CATEGORICAL_FEATURES: tuple[str, ...] = (
    "engine",
    "quant_family",
    "compute_precision",
    "platform_class",
)
"""Categorical features the regressor sees: classes, not identifiers.

Platform, model and quantization identifiers are deliberately left out: under
leave-one-model-out and leave-one-platform-out CV they made predictions worse (they
absorb variance the physics features should explain), and a model meant to judge
unseen GPUs must lean on bandwidth, throughput and power, not on names. ``compute_precision``
reads bf16 and fp16 as one (:data:`SAME_NUMERICS`).
"""

IDENTIFIER_COLUMNS: tuple[str, ...] = ("platform", "model_id", "quantization")
"""Identifier columns kept in the feature frame for domain checks (seen / unseen)."""

INTERACTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "engine",
        (
            "log_batch",
            "log_params_active",
            "log_layers",
            "log_mem_over_compute",
            "log_bandwidth",
            "log_tdp",
            "log_hidden",
            "log_kv_token",
        ),
    ),
    ("quant_family", ("log_params_active",)),
)
"""Per-engine and per-quantization-family slopes (batching and overheads differ by regime).

Not a per-format batch slope: the only bitsandbytes rows with a time are one A800 sweep (7 rows),
against which a ``quant_family x log_batch`` slope (-0.19) undid HF transformers' own (+0.11,
from eai's H200 rows) and made every other bitsandbytes format faster per query at larger static
batches (Mistral-7B int8 on the A800: 27.6 s at batch 1, 24.6 s at 64; 792 of 26,880 swept
configurations more than 5 % faster at 4x the batch, 21 without it). ``eai evaluate`` on
2026-12-04, with -> without: LOSO energy per query 15.4 -> 15.5 %, time 23.7 % either way; LOPO
18.2 -> 18.1 %, time 19.5 -> 19.0 %; leave-one-model-out 10.3 -> 10.4 %, time 10.8 -> 10.7 %."""

OPERATING_POINT_FEATURES: tuple[str, ...] = ("log_batch",)
"""Interaction columns whose per-level slope may extrapolate beyond the level's measured range.

It varies within one deployment, so a level's slope on it is identified by many points of each
model and GPU, and batching keeps amortizing past the largest measured batch. The other
interaction columns describe *which* models and GPUs a level saw (a handful of groups): their
per-level slope is held at the nearest measured end."""

PRIOR_COLUMNS: tuple[str, ...] = ("prior_e_dec", "prior_t_dec", "prior_e_pre", "prior_t_pre")
"""Roofline priors: decode J/output token, decode s/output token (per request),
prefill J/prompt token, prefill s/prompt token."""


MODULE_GPU_POWER_W: dict[str, float] = {"gh200": 700.0}
"""The GPU's own power limit where a catalogued TDP covers a whole module, W.

GH200: the catalog's 1,000 W is the superchip module (Grace CPU + Hopper GPU + memory;
programmable 450-1,000 W, NVIDIA datasheet); its GPU is the GH100 of the H100 SXM5 (same
989.5 dense fp16 TFLOPS), whose board limit is 700 W. Every source meters the GPU alone (NVML
GPU energy counter), so the GPU's share is what bounds and scales the energy it reports."""


def gpu_power_w(tdp_w: np.ndarray, codes: np.ndarray, index: pd.Index) -> np.ndarray:
    """Per row, the power limit of the accelerator itself (:data:`MODULE_GPU_POWER_W`, else TDP), W.

    Args:
        tdp_w: Per row, the platform's catalogued TDP, W.
        codes: Per row, the position of its platform in ``index``.
        index: Platform ids."""
    if not any(p in index for p in MODULE_GPU_POWER_W):
        return tdp_w
    table = np.array([min(MODULE_GPU_POWER_W.get(str(p), np.inf), 1e12) for p in index], dtype=float)
    return np.minimum(tdp_w, table[codes])


def device_power_limit_w(platforms: Sequence[Platform]) -> np.ndarray:
    """Per platform, the limit one device's mean power is held to, W: the GPU's own
    (:data:`MODULE_GPU_POWER_W`, else TDP); NaN for a CPU, whose TDP share is no such limit (as
    :func:`recommender.model.invariants.power_limit_w` reads it)."""
    ids = pd.Index([p.id for p in platforms])
    tdp = np.array([float(p.tdp_w) for p in platforms], dtype=float)
    limit = gpu_power_w(tdp, np.arange(len(ids)), ids)
    return np.where(np.array([p.platform_class == "cpu" for p in platforms], dtype=bool), np.nan, limit)


class FeatureColumns:
    """Feature columns without a DataFrame (building one would copy every float column).

    ``cols[name]`` gives a zero-copy ``pd.Series``; ``len(cols)`` is the row count.
    """

    def __init__(self, data: Mapping[str, np.ndarray | pd.Categorical], n_rows: int | None = None) -> None:
        self.data = data
        self.n_rows = len(next(iter(data.values()))) if n_rows is None else int(n_rows)

    def __getitem__(self, name: str) -> pd.Series:
        return pd.Series(self.data[name], copy=False)

    def __contains__(self, name: object) -> bool:
        return name in self.data

    def __len__(self) -> int:
        return self.n_rows

    @property
    def columns(self) -> list[str]:
        """Column names."""
        return list(self.data)


def column_of(frame: Any, name: str) -> Any:
    """Column ``name`` of a feature frame as stored: a :class:`FeatureColumns`' own array or
    Categorical (no ``pd.Series`` built around it: about 10 us each, and a million-candidate
    prediction reads some 2,700 columns), a DataFrame's Series."""
    return frame.data[name] if isinstance(frame, FeatureColumns) else frame[name]


def floats(frame: Any, name: str) -> np.ndarray:
    """Column ``name`` of a feature frame as float64 values (see :func:`column_of`)."""
    column = column_of(frame, name)
    return column.to_numpy(dtype=float) if isinstance(column, pd.Series) else np.asarray(column, dtype=float)


@dataclass(frozen=True)
class Catalogs:
    """The four catalogs the features come from (injected so tests can use small ones)."""

    platforms: Mapping[str, Platform]
    models: Mapping[str, ModelSpec]
    tasks: Mapping[str, TaskSpec]
    quants: Mapping[str, QuantSpec]

    @classmethod
    def load(cls) -> Catalogs:
        """The shipped catalogs (platforms, models, tasks, quantizations)."""
        from recommender.catalog import get_models, get_platforms, get_quants, get_tasks

        return cls(platforms=get_platforms(), models=get_models(), tasks=get_tasks(), quants=get_quants())


def platform_frame(platforms: Mapping[str, Platform]) -> pd.DataFrame:
    """One row per platform id with the fields the features and the twins stage need."""
    rows = []
    for pid, p in platforms.items():
        rec = {
            "platform": pid,
            "bandwidth_gbs": p.memory_bandwidth_gbs,
            "tdp_w": p.tdp_w,
            "memory_gb": p.memory_gb,
            # What a model may use: a Jetson's shared DRAM less the host's share.
            "model_memory_gb": p.model_memory_gb,
            "arch_generation": p.arch_generation,
            # One architecture generation: the major compute capability and the architecture's
            # name (Ampere's A100 sm_80 and A40 sm_86; not Ada's sm_89, whose major is also 8;
            # Blackwell's B200 sm_100 and B300 sm_103), read by the twins stage.
            "arch_family": f"{int(p.arch_generation)}:{(p.architecture or '').split(' ')[0].lower()}",
            "platform_class": p.platform_class,
            "interconnect_gbs": p.interconnect_gbs if p.interconnect_gbs is not None else physics.DEFAULT_INTERCONNECT_GBS,
        }
        for precision, fields in PRECISION_FALLBACK.items():
            value = next((getattr(p, f) for f in fields if getattr(p, f) is not None), None)
            # A platform with no throughput figure at all is still bandwidth-bound in decode;
            # NaN here would poison the max(), so use the bandwidth-only bound (infinite peak).
            rec[f"peak_{precision}"] = float(value) if value else np.inf
        rows.append(rec)
    return pd.DataFrame(rows).set_index("platform")


def model_frame(models: Mapping[str, ModelSpec], extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per model id: parameters and architecture (missing figures derived from size).

    Args:
        models: Catalog models.
        extra: Optional frame with ``model_id, params_total_b, params_active_b`` for models
            that occur in a measured table but not in the catalog (architecture unknown).
    """
    rows = [
        {
            "model_id": mid,
            "params_total_b": m.params_total_b,
            "params_active_b": m.params_active_b,
            "layers": m.layers,
            "hidden": m.hidden_size,
            "heads": m.attention_heads,
            "kv_heads": m.kv_heads,
            "route_share": m.route_share,
        }
        for mid, m in models.items()
    ]
    frame = pd.DataFrame(
        rows, columns=["model_id", "params_total_b", "params_active_b", "layers", "hidden", "heads", "kv_heads", "route_share"]
    )
    if extra is not None and len(extra):
        add = extra.loc[~extra["model_id"].isin(frame["model_id"])].drop_duplicates("model_id")
        add = add[["model_id", "params_total_b", "params_active_b"]].assign(
            layers=np.nan, hidden=np.nan, heads=np.nan, kv_heads=np.nan, route_share=np.nan
        )
        frame = pd.concat([frame, add], ignore_index=True)
    frame = frame.set_index("model_id").astype(float)
    # Models outside the catalog count as the default design (code 0).
    frame["block_code"] = [float(BLOCKS.index(models[m].block)) if m in models else 0.0 for m in frame.index]
    # Missing architecture: LLaMA-like scaling (params ~ 12 * layers * hidden^2, 128-dim heads)
    # keeps the attention-FLOP and KV terms the right order of magnitude.
    guess_hidden = np.sqrt(frame["params_active_b"] * 1e9 / (12.0 * 32.0))
    frame["hidden"] = frame["hidden"].fillna(guess_hidden)
    frame["layers"] = frame["layers"].fillna(frame["params_active_b"] * 1e9 / (12.0 * frame["hidden"] ** 2))
    frame["heads"] = frame["heads"].fillna(np.maximum(frame["hidden"] / 128.0, 1.0))
    frame["kv_heads"] = frame["kv_heads"].fillna(frame["heads"])
    kv = physics.kv_bytes_per_token(frame["layers"], frame["hidden"], frame["heads"], frame["kv_heads"])
    frame["kv_bytes_token"] = kv.fillna(frame["params_active_b"] * 1e9 * KV_BYTES_PER_PARAM_FALLBACK)
    # Where the catalog states the cache's layout (head width, hybrid layers without a cache,
    # local-attention windows, compressed latents), it replaces the dense-attention formula:
    # a hybrid or an MLA model caches 10-25x less than full attention of its width would.
    layouts = {m: models[m].kv_layout() for m in frame.index if m in models}
    full = np.array([layouts[m].full_bytes_per_token if layouts.get(m) is not None else np.nan for m in frame.index])
    frame["kv_full_bytes_token"] = np.where(np.isfinite(full), full, frame["kv_bytes_token"].to_numpy())
    frame["kv_window_bytes_token"] = [layouts[m].window_bytes_per_token if layouts.get(m) is not None else 0.0 for m in frame.index]
    frame["kv_window_tokens"] = [layouts[m].window_tokens if layouts.get(m) is not None else np.inf for m in frame.index]
    frame["kv_bytes_token"] = frame["kv_full_bytes_token"] + frame["kv_window_bytes_token"]
    return frame


def _known_precision(precision: str) -> str:
    """``precision`` where the platform frame has a peak for it, else fp16."""
    return precision if precision in PRECISION_FALLBACK else "fp16"


SAME_NUMERICS: dict[str, str] = {"bf16": "fp16"}
"""Names the regressor and the smoother read as one: bf16 and fp16 store 2 bytes per weight and
run at the same tensor rate on every GPU that has both (bf16 needs Ampere, 8.0, where the rates
are equal), so they are one deployment to the data. Read apart, ``bf16`` named the ML.ENERGY v3
campaign (every bf16 energy row is vLLM 0.11 on an H100 or B200) and ``fp16`` the older ones: on
one H100 under vLLM, Llama-2-7B at fp16 was predicted 2.0x the energy and 2.5x the time of the
same model at bf16 (1,024 + 1,024 tokens, batch 1-64), and on an RTX 4090 D under HF
transformers bf16 1.9x faster than fp16. The physics (rates per precision) still reads each
quantization's own ``compute_precision``."""


def quant_frame(quants: Mapping[str, QuantSpec]) -> pd.DataFrame:
    """One row per quantization name: bytes per weight, compute precision, family."""
    rows = [
        {
            "quantization": name,
            "bytes_per_weight": q.bytes_per_weight,
            "compute_precision": _known_precision(q.compute_precision),
            "throughput_precision": _known_precision(q.throughput_precision or q.compute_precision),
            "quant_family": q.family,
            "layer_kernel": q.layer_kernel or "",
        }
        for name, q in quants.items()
    ]
    return pd.DataFrame(rows).set_index("quantization")


def _codes(values: pd.Series | pd.Categorical, index: pd.Index, kind: str) -> np.ndarray:
    """Positions of ``values`` in ``index``; raises UnknownNameError for a value not there."""
    codes = cats.positions(values, index)
    bad = codes < 0
    if bad.any():
        first = str(np.asarray(cats.as_categorical(values))[np.flatnonzero(bad)[0]])
        raise UnknownNameError(kind, first, [str(i) for i in index])
    return codes


class FeatureBuilder:
    """Maps configuration frames to feature frames using catalog lookup tables.

    Args:
        catalogs: Platform, model, task and quantization catalogs.
        extra_models: Models outside the catalog (``model_id, params_total_b, params_active_b``),
            typically those of a measured table.
    """

    def __init__(self, catalogs: Catalogs, extra_models: pd.DataFrame | None = None) -> None:
        self.catalogs = catalogs
        self.platforms = platform_frame(catalogs.platforms)
        self.models = model_frame(catalogs.models, extra_models)
        self.quants = quant_frame(catalogs.quants)
        self._logs: dict[str, np.ndarray] | None = None
        self._tables: dict[str, Any] | None = None

    def _log_tables(self) -> dict[str, np.ndarray]:
        """Log features per platform, model, quantization (and platform x quantization), so
        that a frame takes them by code instead of taking a value and its log per row (the
        same numbers: the log of each catalog value)."""
        if self._logs is None:
            P, M, Q = self.platforms, self.models, self.quants
            with np.errstate(divide="ignore", invalid="ignore"):
                bw = P["bandwidth_gbs"].to_numpy()
                tdp = gpu_power_w(P["tdp_w"].to_numpy(), np.arange(len(P)), P.index)
                peak_table = np.stack([P[f"peak_{p}"].to_numpy() for p in PRECISIONS], axis=1)
                prec_of_quant = np.array([PRECISIONS.index(p) for p in Q["compute_precision"]], dtype=np.int64)
                peak = peak_table[:, prec_of_quant]  # platform x quantization
                total = M["params_total_b"].to_numpy()
                active = np.minimum(M["params_active_b"].to_numpy(), total)
                self._logs = {
                    "log_bandwidth": np.log(bw),
                    "log_tdp": np.log(tdp),
                    "log_memory": np.log(P["memory_gb"].to_numpy()),
                    "log_peak": np.log(np.where(np.isfinite(peak), peak, bw[:, None])),
                    "log_params_active": np.log(active),
                    "log_params_total": np.log(total),
                    "log_moe_ratio": np.log(active / total),
                    "log_layers": np.log(M["layers"].to_numpy()),
                    "log_hidden": np.log(M["hidden"].to_numpy()),
                    "log_kv_token": np.log(M["kv_bytes_token"].to_numpy()),
                    "log_bytes_per_weight": np.log(Q["bytes_per_weight"].to_numpy()),
                }
        return self._logs

    def _catalog_tables(self) -> dict[str, Any]:
        """What :meth:`columns` reads per platform, model or quantization and not per row, worked
        out once per builder (the catalogs do not change under it): every call took the same
        ~3 ms of pandas work on a dozen small tables, and a million-candidate prediction builds
        features a dozen times (twins, batch floors, inner predictions).

        Per categorical feature, ``(code per catalog entry, categories)``: :func:`cats.from_table`'s
        sorted labels and each entry's position among them, so that a frame's column is one take
        of its rows' catalog positions (the same Categorical as ``from_table`` builds)."""
        if self._tables is None:
            P, M, Q = self.platforms, self.models, self.quants

            def coded(labels: Any) -> tuple[np.ndarray, pd.Index]:
                lab = pd.Index([str(x) for x in labels], dtype=object)
                uniq, inverse = np.unique(lab, return_inverse=True)
                return inverse.ravel(), pd.Index(uniq, dtype=object)

            block_codes, block_labels = coded(BLOCKS)
            self._tables = {
                "tdp": gpu_power_w(P["tdp_w"].to_numpy(), np.arange(len(P)), P.index),
                "peak_table": np.stack([P[f"peak_{p}"].to_numpy() for p in PRECISIONS], axis=1),
                "prec_of_quant": np.array([PRECISIONS.index(p) for p in Q["compute_precision"]], dtype=np.int64),
                "rate_of_quant": np.array([PRECISIONS.index(p) for p in Q["throughput_precision"]], dtype=np.int64),
                "fp8_quant": Q["compute_precision"].to_numpy() == "fp8",
                "quant_family": coded(Q["quant_family"]),
                "layer_kernel": coded(Q["layer_kernel"]),
                # Per model: its block's position among the sorted block labels.
                "block": (block_codes[M["block_code"].to_numpy().astype(np.int64)], block_labels),
                "compute_precision": coded(Q["compute_precision"].replace(SAME_NUMERICS)),
                "numerics": coded(pd.Series(Q.index, index=Q.index).replace(SAME_NUMERICS)),
                "platform_class": coded(P["platform_class"]),
            }
        return self._tables

    def _categorical(self, name: str, codes: np.ndarray) -> pd.Categorical:
        """Categorical feature ``name`` per row from the rows' catalog positions ``codes``."""
        per_entry, categories = self._catalog_tables()[name]
        return pd.Categorical.from_codes(np.take(per_entry, codes), categories=categories)

    def build(self, configs: pd.DataFrame) -> pd.DataFrame:
        """Features as a DataFrame (see :meth:`columns`); used for fitting."""
        cols = self.columns(configs)
        return pd.DataFrame(cols.data, index=configs.index)

    def columns(self, configs: pd.DataFrame) -> FeatureColumns:
        """Features and roofline priors for every configuration row.

        Args:
            configs: Columns ``platform, device_count, engine, model_id, quantization,
                batch_size, prompt_tokens, output_tokens, choices``; optional
                ``params_total_b, params_active_b`` override the catalog (measured rows
                carry their own counts), optional ``pass_tokens`` (token positions of one
                log-likelihood forward pass) sizes the prefill prior (default: the prompt).

        Returns:
            Frame indexed like ``configs`` with :data:`NUMERIC_FEATURES`,
            :data:`CATEGORICAL_FEATURES`, :data:`PRIOR_COLUMNS` and helper columns.
        """
        pc = _codes(configs["platform"], self.platforms.index, "platform")
        mc = _codes(configs["model_id"], self.models.index, "model")
        qc = _codes(configs["quantization"], self.quants.index, "quantization")
        P, M, Q = self.platforms, self.models, self.quants
        tables = self._catalog_tables()

        bw = np.take(P["bandwidth_gbs"].to_numpy(), pc)
        tdp = np.take(tables["tdp"], pc)  # per platform, then per row
        mem = np.take(P["model_memory_gb"].to_numpy(), pc)
        gen = np.take(P["arch_generation"].to_numpy(), pc)
        # Per (platform, quantization) pair, as one flat index (the codes are all valid: _codes
        # raised otherwise): the peak rates and log_peak are taken from platform x quantization
        # tables with it, one plain take each (a 2-D fancy index costs three).
        pq = pc.astype(np.intp) * len(Q) + qc
        peak_table, prec_of_quant = tables["peak_table"], tables["prec_of_quant"]
        peak = np.take(peak_table[:, prec_of_quant].ravel(), pq)
        # Prefill's prior is its compute bound alone, and no GPU prefill was measured to correct
        # it, so it reads the rate the method's kernels actually reach (bitsandbytes int8: fp16's).
        # Decode keeps the compute precision's rate: it is memory-bound at the batches measured,
        # and its bitsandbytes costs are learned from measured pairs instead (component.QuantPairs).
        rate_of_quant = tables["rate_of_quant"]
        peak_prefill = np.take(peak_table[:, rate_of_quant].ravel(), pq)

        total = np.take(M["params_total_b"].to_numpy(), mc)
        active = np.take(M["params_active_b"].to_numpy(), mc)
        if "params_total_b" in configs:
            given_t = pd.to_numeric(configs["params_total_b"], errors="coerce").to_numpy(dtype=float)
            given_a = pd.to_numeric(configs["params_active_b"], errors="coerce").to_numpy(dtype=float)
            total = np.where(np.isfinite(given_t), given_t, total)
            active = np.where(np.isfinite(given_a), given_a, active)
        active = np.minimum(active, total)
        layers = np.take(M["layers"].to_numpy(), mc)
        hidden = np.take(M["hidden"].to_numpy(), mc)
        route = np.take(M["route_share"].to_numpy(), mc)
        bpw = np.take(Q["bytes_per_weight"].to_numpy(), qc)

        batch = configs["batch_size"].to_numpy(dtype=float)
        devices_all = configs["device_count"].to_numpy(dtype=float)
        heads = np.take(M["heads"].to_numpy(), mc)
        # Speed comes from the devices a pass can be split over; power from all of them. With
        # pipeline stages, a step's tensor-parallel group is one stage's devices: a token passes
        # the stages one after another, and the stages serve different micro-batches at once
        # (batch / stages sequences each), so a stage reads its weights once per micro-batch.
        stages = configs["pipeline_stages"].to_numpy(dtype=float) if "pipeline_stages" in configs else np.ones(len(configs))
        # A layer split (HF transformers' device_map, FastChat, llama.cpp) runs a token through the
        # GPUs in turn: one device's speed, every device's memory, a hop per boundary. (A CPU's
        # devices are sockets, whose cores run every layer's threads together.)
        on_gpu = np.take((P["platform_class"].to_numpy() != "cpu"), pc)  # per platform, then per row
        layer_split = cats.isin(configs["engine"], physics.LAYER_SPLIT_ENGINES) & (devices_all > 1) & on_gpu
        stages = np.where(layer_split, 1.0, stages)
        devices = np.where(layer_split, 1.0, physics.split_devices(devices_all / stages, heads))
        # Pipeline stages place whole layers: past the layer count a stage holds none, so its
        # devices only wait (charged by layer_split.py) and the pipeline runs as one of
        # `layers` stages.
        empty_stage_devices = physics.empty_stage_devices(layers, devices_all, stages)
        with np.errstate(invalid="ignore"):
            stages = np.where(np.isfinite(layers), np.minimum(stages, np.maximum(layers, 1.0)), stages)
        link = np.take(P["interconnect_gbs"].to_numpy(), pc)
        prompt = np.maximum(configs["prompt_tokens"].to_numpy(dtype=float), 1.0)
        output = configs["output_tokens"].to_numpy(dtype=float)
        # The mean context a decode step reads: a long answer holds more steps, each at a longer
        # context, so steps see prompt + E[L^2] / (2 E[L]) = prompt + mean x dispersion / 2.
        dispersion = configs["output_dispersion"].to_numpy(dtype=float) if "output_dispersion" in configs else 1.0
        context = prompt + np.maximum(output, 1.0) * dispersion / 2.0
        # KV bytes per context token at this row's context: local-attention layers hold at
        # most their window, so their share per token falls as the context grows.
        kv_tok = kv_bytes_per_context_token(
            np.take(M["kv_full_bytes_token"].to_numpy(), mc), np.take(M["kv_window_bytes_token"].to_numpy(), mc), np.take(M["kv_window_tokens"].to_numpy(), mc), context
        )

        # Concurrency is capped by KV-cache memory: a server configured for B sequences runs
        # only as many as fit next to the weights.
        batch_cfg = batch
        all_weight_bytes = total * 1e9 * bpw  # every weight, bytes (also the prefill floor's)
        # The devices of empty pipeline stages hold no layer, so no KV cache either.
        devices_holding = devices_all - empty_stage_devices
        batch = physics.kv_limited_batch(
            batch=batch_cfg,
            memory_gb=mem * devices_holding,
            weight_bytes=all_weight_bytes,
            kv_bytes_token=kv_tok,
            context_tokens=context,
            devices=devices_holding,
        )

        def pass_comm_s(tokens: np.ndarray) -> np.ndarray:
            """Communication of a pass carrying ``tokens`` positions: all-reduces, or a layer
            split's hops (whose rows run one stage, so per micro-batch is the whole batch)."""
            comm = physics.tensor_parallel_comm_s(layers, devices, tokens, hidden, link)
            if layer_split.any():
                comm = np.where(layer_split, physics.layer_split_hop_s(devices_all, tokens, hidden, link), comm)
            return comm

        # A decode step's all-reduces carry its running sequences (per micro-batch).
        per_stage = batch / stages
        comm = pass_comm_s(per_stage)
        # Its weight reads, bytes: the step's memory bound and the floor below both read them.
        weight_bytes = physics.decode_weight_bytes(total, active, bpw, per_stage, route)
        t_step, t_mem, t_comp = physics.decode_step(
            params_total_b=total,
            params_active_b=active,
            bytes_per_weight=bpw,
            layers=layers,
            hidden=hidden,
            kv_bytes_token=kv_tok,
            context_tokens=context,
            batch=per_stage,
            devices=devices,
            bandwidth_gbs=bw,
            peak_tflops=peak,
            route_share=route,
            comm_s=comm,
            weight_bytes=weight_bytes,
        )
        # A log-likelihood pass carries fed_tokens / passes positions (MMLU: the whole prompt in
        # one pass; ARC: context + answer, four times); without that column, the prompt.
        pass_tokens = (
            np.maximum(configs["pass_tokens"].to_numpy(dtype=float), 1.0) if "pass_tokens" in configs else prompt
        )
        passes = np.maximum(configs["passes"].to_numpy(dtype=float), 1.0) if "passes" in configs else np.ones(len(configs))
        queries = physics.static_batch_queries(batch_cfg, passes)
        t_pre_tok = physics.prefill_token_time(
            params_total_b=total,
            params_active_b=active,
            bytes_per_weight=bpw,
            layers=layers,
            hidden=hidden,
            prompt_tokens=pass_tokens,
            batch=batch_cfg,
            devices=devices * stages,  # throughput sense: every stage busy with another pass
            bandwidth_gbs=bw,
            peak_tflops=peak_prefill,
            comm_s=pass_comm_s(pass_tokens * np.maximum(batch_cfg, 1.0)),
        )
        # The devices' power limit (the invariants' bound) and what the priors charge: a layer
        # split computes on one device at a time (the others' resident draw: layer_split.py).
        power = tdp * devices_all
        power_draw = tdp * np.where(layer_split, 1.0, devices_all)
        # Floors no configuration beats: every touched weight read once per step at peak
        # bandwidth, or the step's FLOPs at peak throughput. The KV reads are left out: a
        # server may keep its cache in FP8 (half the bytes the layout counts), and with them
        # (2026-12-05, the stated layouts only) every shipped row still cleared the floor
        # (1.13x at least) but the anchored and calibrated fixtures' rows did not.
        bytes_per_s = bw * 1e9 * devices  # the split's peak bandwidth, B/s (the KV reads' too)
        t_weights = weight_bytes / bytes_per_s
        t_floor_pre = np.maximum(
            all_weight_bytes / (bytes_per_s * stages) / np.maximum(pass_tokens * batch_cfg, 1.0),
            physics.flops_per_token(active, layers, hidden, pass_tokens / 2.0) / (peak_prefill * 1e12 * devices * stages),
        )
        logs = self._log_tables()
        if "params_total_b" in configs:  # counts stated per row: their logs per row
            model_logs = {
                "log_params_active": np.log(active),
                "log_params_total": np.log(total),
                "log_moe_ratio": np.log(active / total),
            }
        else:
            model_logs = {c: np.take(logs[c], mc) for c in ("log_params_active", "log_params_total", "log_moe_ratio")}

        out = FeatureColumns(
            {
                "log_bandwidth": np.take(logs["log_bandwidth"], pc),
                "log_tdp": np.take(logs["log_tdp"], pc),
                "log_memory": np.take(logs["log_memory"], pc),
                "arch_generation": gen,
                "log_peak": np.take(logs["log_peak"].ravel(), pq),
                **model_logs,
                # The MoE-ness of a model run with 8-bit float GEMMs (0 for every other format and
                # for dense models). ML.ENERGY v3's FP8 MoEs (Qwen3-235B, Qwen3-Coder-480B,
                # DeepSeek, under vLLM 0.11's block-scaled fused-MoE kernels) ran no faster than
                # in bf16, while its dense FP8 model (Llama-3.1-405B) ran as its bytes say; one
                # offset for 'fp8' carried the MoE kernels' slowness to every dense FP8 model.
                # Leave-one-model-out, the dense FP8 rows went 1.48x -> 1.25x too slow; eai
                # evaluate 2026-12-04: LOSO energy per query 17.4 -> 17.2 %, time 24.6 -> 23.7 %,
                # LOMO 10.5 -> 10.4 % (time 10.6 -> 10.8 %), LOPO unchanged (18.6 %).
                "log_moe_ratio_fp8": model_logs["log_moe_ratio"] * np.take(tables["fp8_quant"], qc),
                "log_layers": np.take(logs["log_layers"], mc),
                "log_hidden": np.take(logs["log_hidden"], mc),
                "log_kv_token": np.take(logs["log_kv_token"], mc),
                "log_bytes_per_weight": np.take(logs["log_bytes_per_weight"], qc),
                # The sequences that run at once: a server configured for more than its KV cache
                # holds runs what fits, and more configured slots only queue (the pipeline charges
                # the wait, recommender.model.pipeline.compose). On the shipped rows (2026-12-03,
                # eai evaluate): LOSO energy 20.5 -> 20.2 %, LOMO 12.6 -> 12.2 % (ML.ENERGY v1
                # 4.9 -> 4.5 %) against the configured batch plus a free slope on the cap's log.
                "log_batch": np.log(batch),
                # Devices the pass is split over (speed); power_w counts all of them.
                "log_devices": np.log(devices),
                "log_prompt": np.log(prompt),
                "log_output": np.log1p(output),
                "log_context": np.log(context),
                "log_mem_over_compute": np.log(t_mem / t_comp),
                "comm_share": comm / t_step,
                "log_weights_over_memory": np.log(total * bpw / (mem * devices_all)),
                "engine": cats.as_categorical(configs["engine"]),
                "quant_family": self._categorical("quant_family", qc),
                # The quantization's per-layer kernel path ('' for none), for the fitted roofline.
                "layer_kernel": self._categorical("layer_kernel", qc),
                "block": self._categorical("block", mc),
                "compute_precision": self._categorical("compute_precision", qc),
                "numerics": self._categorical("numerics", qc),
                "platform_class": self._categorical("platform_class", pc),
                "platform": cats.as_categorical(configs["platform"]),
                "model_id": cats.as_categorical(configs["model_id"]),
                "quantization": cats.as_categorical(configs["quantization"]),
                "prior_e_dec": power_draw * t_step / batch,
                "prior_t_dec": t_step,
                "prior_e_pre": power_draw * t_pre_tok,
                # Latency per fed token of a log-likelihood query at the roofline rate: a query
                # of a static batch waits for the whole pass, which holds batch / passes queries
                # (the profiler times a query so, the invariants read it so); at batch 1, the rate.
                "prior_t_pre": queries * t_pre_tok,
                "params_active_b": active,
                # Parts of the prior, for the fitted roofline (recommender.model.roofline_fit).
                "t_mem_s": t_mem,
                "t_compute_s": t_comp,
                "t_comm_s": comm,
                # The KV-cache part of t_mem (attention reads every running sequence's cache each
                # step): its kernels reach another share of peak bandwidth than weight reads.
                "t_kv_s": per_stage * kv_tok * context / bytes_per_s,
                "t_floor_dec_s": np.maximum(t_weights, t_comp),
                "t_floor_pre_s": t_floor_pre,
                # A log-likelihood query's passes in a static batch of batch_size sequences: the
                # queries one pass holds, and the passes one after another a query waits for
                # (recommender.model.roofline_fit.prefill_prior).
                "prefill_queries": queries,
                "prefill_rounds": np.maximum(passes / np.maximum(batch_cfg, 1.0), 1.0),
                "fed_tokens": pass_tokens * passes,
                # The request's own prompt pass, spread over its output tokens, in step units:
                # batch-mates' prefills interleave with a request's decode steps, so a step
                # carries batch / output of them (read by the time roofline only; see
                # recommender.model.roofline_fit).
                "t_prefill_share_s": np.where(output > 0, t_pre_tok * prompt * batch / np.maximum(output, 1.0), 0.0),
                "power_w": power,
                "power_draw_w": power_draw,
                # Devices of a layer split that wait while another computes, and those of
                # pipeline stages past the layer count (layer_split.py).
                "waiting_devices": np.where(layer_split, devices_all - 1.0, empty_stage_devices),
                "batch_running": batch,
            },
        )
        return out
