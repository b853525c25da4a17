"""Row schema of the measured table.

One row is one measured cell: platform x device count x engine x model x
quantization x batch size x workload/task. Units live in the field names.
Energy fields are *gross*: everything the meter saw over the window, idle power
included. No shipped row subtracts idle power (``idle_subtracted`` is false on every
one); the idle draw measured alongside is kept apart in ``idle_power_w``, so a net
figure can be derived, never mixed in silently.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

Quantization = Literal[
    "fp32",
    "fp16",
    "bf16",
    "fp8",
    "mxfp4",
    "awq-int4",
    "gptq-int4",
    "int8-bnb",
    "int8-bnb-t0",
    "nf4-bnb",
    "fp4-bnb",
    "dynamic-int8",
    "gguf-q4",
    "gguf-q8",
]
"""Canonical quantization names.

``int8-bnb`` is bitsandbytes LLM.int8() with the default outlier threshold 6.0;
``int8-bnb-t0`` is the same loader with ``llm_int8_threshold=0`` ("pure" int8).
"""

Engine = Literal["hf-transformers", "vllm", "fastchat", "llama.cpp", "tensorrt-llm", "sglang", "tgi", "lmdeploy", "deepspeed-mii"]
EnergyMethod = Literal["nvml-counter", "nvml-sampled", "rapl", "wall-meter", "estimated"]
EnergyScope = Literal["gpu", "cpu", "cpu+dram", "gpu+cpu", "system"]
ServingMode = Literal["offline", "online"]
"""How requests reached the engine.

``offline``: every request is available at the start (a static batch, lm-eval, or a
benchmark that submits all requests at time 0, i.e. request rate infinite), so the
engine runs as full as its batch limit allows. ``online``: requests arrive over time
(e.g. Poisson arrivals at a set rate), so the running batch follows the load.
"""

Source = Literal["mlenergy-v1", "mlenergy-v2", "mlenergy-v3", "quant-reports", "eai-profiler", "user"]

QUANTIZATIONS: tuple[str, ...] = get_args(Quantization)
ENGINES: tuple[str, ...] = get_args(Engine)
ENERGY_METHODS: tuple[str, ...] = get_args(EnergyMethod)
ENERGY_SCOPES: tuple[str, ...] = get_args(EnergyScope)
SOURCES: tuple[str, ...] = get_args(Source)
SERVING_MODES: tuple[str, ...] = get_args(ServingMode)


class MeasuredRow(BaseModel):
    """One measured cell of the table.

    Attributes:
        platform: Canonical platform id from the platform catalog (e.g. ``a100-sxm4-40gb``).
        device_count: Number of devices the measurement spans (energy is summed over them).
        pipeline_stages: Pipeline-parallel stages those devices form (``device_count`` =
            tensor-parallel degree x stages), where the source says; None: one stage.
        engine: Serving engine that ran the model.
        engine_version: The engine's release (``0.5.4``), where the source states it. Step
            times move with it (vLLM 0.5.4 in ML.ENERGY v2 vs 0.11.1 in v3), so the time
            model tells releases apart.
        model_id: Hugging Face style model id.
        params_total_b: Total parameters in billions.
        params_active_b: Parameters active per token in billions (MoE < total).
        quantization: Canonical quantization name of the weights.
        batch_size: Configured batch size (max concurrent sequences for servers).
        avg_batch_size: Mean number of running requests actually achieved, where known.
        workload: lm-eval task name or workload name (``sharegpt-chat``, ``gsm8k``...).
        query_count: Number of queries measured, where known.
        prompt_tokens_mean: Mean prompt tokens per query, where known.
        output_tokens_mean: Mean generated tokens per query, where known.
        output_tokens_dispersion: ``E[L^2] / E[L]^2`` of the queries' output lengths ``L``
            (1: every query generates the same count), where the source gives the
            distribution. Per-token figures average over decode steps, and a long answer
            holds more steps at a longer context, so the mean context a step reads is
            ``prompt + output_tokens_mean x dispersion / 2``, not ``prompt + mean / 2``.
        fed_tokens_mean: Token positions run through the model per query, all forward passes
            summed (multiple choice: one pass per distinct context + answer prefix), where
            known. It, not ``prompt_tokens_mean``, is what a log-likelihood query's compute scales with.
        accuracy: Task score in [0, 1] measured in the same run, where measured.
        accuracy_metric: lm-eval metric name of ``accuracy`` (``acc``, ``acc_norm``, ``exact_match``...).
        accuracy_stderr: Standard error of ``accuracy`` (same scale).
        accuracy_n: Number of scored samples behind ``accuracy``.
        serving_mode: ``offline`` (all requests available at start) or ``online`` (requests
            arrive over time), where the source says; see :data:`ServingMode`.
        energy_j_per_query: Gross energy per query in joules (summed over devices, idle
            power included unless ``idle_subtracted``).
        energy_j_per_output_token: Gross energy per generated token in joules.
        energy_gross_j_per_query: Energy per query before any idle subtraction, joules.
        idle_power_w: Idle power of the devices the energy covers, watts, summed over them,
            measured alongside (per model load), where measured. Kept apart, never
            subtracted from the energy fields.
        energy_spread_pct: Spread of repeated windows, (max - min) / median, percent.
        time_s_per_query: Wall time one query takes end to end, seconds.
        throughput_tokens_per_s: Output tokens per second of the whole system.
        power_w_mean: Mean power over the window, watts, summed over devices.
        memory_gb_peak: Peak device memory in GB (1e9 bytes).
        energy_method: How energy was obtained.
        energy_sample_hz: Sampling rate for ``nvml-sampled`` (Hz).
        energy_scope: What the energy covers.
        idle_subtracted: Whether idle power was subtracted from the energy fields (false on
            every shipped row: the table's energy is gross).
        repeats: Number of repeated measurement windows behind the energy figure.
        flags: Semicolon-separated quality flags (``high-spread``, ``short-window``, ``estimated``...).
        source: Short source tag.
        source_ref: Precise reference (file and row/key) of the source figure.
        measured_on: Date of measurement where known.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: str = Field(min_length=1)
    device_count: int = Field(ge=1, le=1024)
    pipeline_stages: int | None = Field(default=None, ge=1, le=1024)
    engine: Engine
    engine_version: str | None = Field(default=None, pattern=r"^[0-9]+(\.[0-9]+)*([.+-][0-9A-Za-z.+-]*)?$")
    model_id: str = Field(min_length=1)
    params_total_b: float = Field(gt=0, le=10_000)
    params_active_b: float = Field(gt=0, le=10_000)
    quantization: Quantization
    batch_size: int = Field(ge=1)
    avg_batch_size: float | None = Field(default=None, gt=0)
    workload: str = Field(min_length=1)
    query_count: int | None = Field(default=None, ge=1)
    prompt_tokens_mean: float | None = Field(default=None, ge=0)
    output_tokens_mean: float | None = Field(default=None, ge=0)
    output_tokens_dispersion: float | None = Field(default=None, ge=1)
    fed_tokens_mean: float | None = Field(default=None, ge=0)
    serving_mode: ServingMode | None = None
    accuracy: float | None = Field(default=None, ge=0, le=1)
    accuracy_metric: str | None = None
    accuracy_stderr: float | None = Field(default=None, ge=0, le=1)
    accuracy_n: int | None = Field(default=None, ge=1)
    energy_j_per_query: float | None = Field(default=None, gt=0)
    energy_j_per_output_token: float | None = Field(default=None, gt=0)
    energy_gross_j_per_query: float | None = Field(default=None, gt=0)
    idle_power_w: float | None = Field(default=None, ge=0)
    energy_spread_pct: float | None = Field(default=None, ge=0)
    time_s_per_query: float | None = Field(default=None, gt=0)
    throughput_tokens_per_s: float | None = Field(default=None, gt=0)
    power_w_mean: float | None = Field(default=None, gt=0)
    memory_gb_peak: float | None = Field(default=None, gt=0)
    energy_method: EnergyMethod
    energy_sample_hz: float | None = Field(default=None, gt=0)
    energy_scope: EnergyScope
    idle_subtracted: bool
    repeats: int | None = Field(default=None, ge=1)
    flags: str = ""
    source: Source
    source_ref: str = Field(min_length=1)
    measured_on: dt.date | None = None

    @model_validator(mode="after")
    def _cross_field(self) -> MeasuredRow:
        if self.params_active_b > self.params_total_b * 1.0001:
            raise ValueError(
                f"params_active_b ({self.params_active_b}) exceeds params_total_b ({self.params_total_b})"
            )
        if self.pipeline_stages is not None and self.device_count % self.pipeline_stages:
            raise ValueError(
                f"pipeline_stages ({self.pipeline_stages}) must divide device_count ({self.device_count}): "
                "each stage runs on the same number of devices"
            )
        if self.energy_method == "nvml-sampled" and self.energy_sample_hz is None:
            raise ValueError("energy_sample_hz is required when energy_method is 'nvml-sampled'")
        if self.accuracy is not None and not self.accuracy_metric:
            raise ValueError("accuracy_metric is required when accuracy is given")
        if self.energy_j_per_query is None and self.energy_j_per_output_token is None:
            raise ValueError("a row needs energy_j_per_query or energy_j_per_output_token")
        if self.energy_method == "estimated" and "estimated" not in self.flag_set:
            raise ValueError("rows with energy_method 'estimated' must carry the 'estimated' flag")
        return self

    @property
    def flag_set(self) -> frozenset[str]:
        """Quality flags as a set."""
        return frozenset(f for f in self.flags.split(";") if f)
