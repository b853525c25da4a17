"""Self-reported bitsandbytes quantization energy measurements (RTX 5090, RTX 4090D, A800).

Source: ``quantization-energy-reports/quantization_energy_reports.csv`` (long format: one
metric per line). Lines are combined into one row per (source, GPU, model, quantization,
batch size). Conversions and decisions (README of the data set, "Known inconsistencies"):

- ``energy_j_per_output_token`` = ``energy_per_1k_tokens / 1000`` where the source's energy is
  ``avg_power / throughput`` (RTX 5090, A800: checked to agree within 1%). The RTX 4090D
  energies are idle-subtracted (``(avg_power - ~17.4 W) / throughput``); to keep one
  definition across the whole table they are recomputed as gross ``avg_power / throughput``
  (flag ``recomputed-gross``). Every row therefore has ``idle_subtracted = false``.
- ``power_w_mean`` = ``avg_power`` (mean NVML board power, polled at 10 Hz);
  ``throughput_tokens_per_s`` = ``throughput`` (summed over the batch).
- A800 batch sweep (256 in / 256 out tokens): ``energy_j_per_query`` = ``energy_per_request``,
  ``output_tokens_mean`` = 256, ``time_s_per_query`` = ``256 x batch / throughput`` (every
  query of a batch waits for the whole batch).
- Groups with only relative figures (``energy_change_vs_fp16``) are skipped, as are issue
  rows that duplicate a repository row with the same numbers (the repository gives sd and n).
- Quantization names: ``fp16``; ``int8_llmint8_default`` -> ``int8-bnb`` (threshold 6.0);
  ``int8_threshold0`` -> ``int8-bnb-t0``; ``nf4`` -> ``nf4-bnb``.
- Platforms: RTX 5090 -> ``rtx-5090``; RTX 4090D -> ``rtx-4090d``; A800 -> ``a800-sxm4-80gb``
  (80 GB stated; the SXM4 form factor is an assumption).
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

from recommender.catalog.models import resolve_model
from recommender.importers.base import ImportResult, RowCollector, require_folder, shared_ref

NAME = "quant-reports"
FOLDER = "quantization-energy-reports"
FILE = "quantization_energy_reports.csv"
SAMPLE_HZ = 10.0

PLATFORMS = {"RTX 5090": "rtx-5090", "RTX 4090D": "rtx-4090d", "A800": "a800-sxm4-80gb"}
QUANTS = {
    "fp16": "fp16",
    "int8_llmint8_default": "int8-bnb",
    "int8_threshold0": "int8-bnb-t0",
    "nf4": "nf4-bnb",
}
VARIANT_ASSUMED = frozenset({"A800"})
"""GPU names whose board variant is assumed (A800: 80 GB stated, SXM4 assumed)."""
IDLE_SUBTRACTED_GPUS = frozenset({"RTX 4090D"})
"""GPUs whose published energy is net of idle power (README: RTX 4090D)."""

SWEEP_TAG = "batch_size_experiment/"
A800_VALIDATION_TAG = "a800_metadata.json"
SWEEP_TOKENS = 256
"""Input and output tokens per query of the A800 batch sweep (sweep metadata)."""

# Checkpoints named by the sources where they disagree with the catalog's default alias.
MODEL_OVERRIDES: dict[tuple[str, str], str] = {
    (SWEEP_TAG, "Mistral-7B"): "mistralai/Mistral-7B-Instruct-v0.2",
    (A800_VALIDATION_TAG, "Mistral-7B"): "mistralai/Mistral-7B-Instruct-v0.3",
    ("bitsandbytes#1867", "Mistral-7B"): "mistralai/Mistral-7B-Instruct-v0.3",
    # The author's memo names no checkpoint for the RTX 4090D runs. These are the chat/instruct
    # checkpoints the catalog's short-name aliases pointed to before base and instruct models
    # became separate entries (issue 17); the rows keep the 'checkpoint-assumed' flag. The
    # architecture, and so the energy, is the same for either checkpoint.
    ("ecocompute-dynamic-eval", "Mistral-7B"): "mistralai/Mistral-7B-Instruct-v0.3",
    ("ecocompute-dynamic-eval", "Qwen2.5-7B"): "Qwen/Qwen2.5-7B-Instruct",
    ("ecocompute-dynamic-eval", "Yi-1.5-6B"): "01-ai/Yi-1.5-6B-Chat",
    ("bitsandbytes#1867", "Yi-1.5-6B"): "01-ai/Yi-1.5-6B-Chat",
    ("bitsandbytes#1867", "Qwen2.5-7B"): "Qwen/Qwen2.5-7B-Instruct",
    ("ecocompute-dynamic-eval", "Qwen2.5-3B"): "Qwen/Qwen2.5-3B-Instruct",
    ("bitsandbytes#1851", "Qwen2.5-3B"): "Qwen/Qwen2.5-3B-Instruct",
}
_N_RE = re.compile(r"\bn=(\d+)|mean of (\d+) runs")
_MISMATCH_TOLERANCE = 0.01


@dataclasses.dataclass
class _Group:
    source: str
    gpu: str
    model: str
    quant: str
    batch: int
    lines: list[int] = dataclasses.field(default_factory=list)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def is_issue(self) -> bool:
        return self.source.startswith("bitsandbytes-foundation/")

    def ref(self) -> str:
        first, last = self.lines[0], self.lines[-1]
        if self.lines == list(range(first, last + 1)):
            lines = f"L{first}" if first == last else f"L{first}-L{last}"
        else:
            lines = ",".join(f"L{n}" for n in self.lines)
        key = f"{lines}:{self.source}|{self.gpu}|{self.model}|{self.quant}|bs{self.batch}"
        return shared_ref(FOLDER, FILE, key)

    def repeats(self) -> int | None:
        for note in self.notes:
            m = _N_RE.search(note)
            if m:
                return int(m.group(1) or m.group(2))
        return None


def _read_groups(path: Path) -> list[_Group]:
    groups: dict[tuple[str, str, str, str, int], _Group] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for rec in reader:
            key = (rec["source"], rec["gpu"], rec["model"], rec["quantization"], int(rec["batch_size"]))
            g = groups.setdefault(key, _Group(*key))
            g.lines.append(reader.line_num)
            g.metrics[rec["metric"]] = float(rec["value"])
            g.notes.append(rec["note"])
    return list(groups.values())


def _model_id(g: _Group) -> str:
    for (tag, short), model_id in MODEL_OVERRIDES.items():
        if tag in g.source and short == g.model:
            return model_id
    return resolve_model(g.model).id


def _row(g: _Group) -> dict[str, object]:
    spec = resolve_model(_model_id(g))
    power_w = g.metrics["avg_power"]
    tput = g.metrics["throughput"]
    gross_j_per_token = power_w / tput
    flags = ["self-reported", "checkpoint-assumed"]
    if g.gpu in IDLE_SUBTRACTED_GPUS:
        # Published figure is idle-subtracted: recompute gross so every row means the same thing.
        j_per_token = gross_j_per_token
        flags.append("recomputed-gross")
    else:
        j_per_token = g.metrics["energy_per_1k_tokens"] / 1000.0
        if abs(j_per_token - gross_j_per_token) > _MISMATCH_TOLERANCE * gross_j_per_token:
            flags.append("energy-power-mismatch")
    if g.gpu in VARIANT_ASSUMED:
        flags.append("platform-variant-assumed")
    if any("batch size not stated" in n for n in g.notes):
        flags.append("batch-size-inferred")
    row: dict[str, object] = {
        "platform": PLATFORMS[g.gpu],
        "device_count": 1,
        "engine": "hf-transformers",
        "model_id": spec.id,
        "params_total_b": spec.params_total_b,
        "params_active_b": spec.params_active_b,
        "quantization": QUANTS[g.quant],
        "batch_size": g.batch,
        # README: prompts passed to one HF generate call per batch: a static batch.
        "serving_mode": "offline",
        "workload": "fixed-prompt-gen256",
        "energy_j_per_output_token": j_per_token,
        "throughput_tokens_per_s": tput,
        "power_w_mean": power_w,
        "energy_method": "nvml-sampled",
        "energy_sample_hz": SAMPLE_HZ,
        "energy_scope": "gpu",
        "idle_subtracted": False,
        "repeats": g.repeats(),
        "source": NAME,
        "source_ref": g.ref(),
    }
    if A800_VALIDATION_TAG in g.source:
        row["workload"] = "fixed-prompt-gen128"
    if SWEEP_TAG in g.source:
        row.update(
            workload="fixed-prompt-in256-gen256",
            prompt_tokens_mean=float(SWEEP_TOKENS),
            output_tokens_mean=float(SWEEP_TOKENS),
            energy_j_per_query=g.metrics["energy_per_request"],
            time_s_per_query=SWEEP_TOKENS * g.batch / tput,
        )
    row["flags"] = ";".join(flags)
    return row


def import_rows(root: Path) -> ImportResult:
    """Combine the long-format report into one energy row per measured configuration."""
    folder = require_folder(root, FOLDER)
    out = RowCollector(NAME)
    groups = _read_groups(folder / FILE)
    repo_keys = {
        (g.gpu, g.model, g.quant, g.batch)
        for g in groups
        if not g.is_issue and "energy_per_1k_tokens" in g.metrics
    }
    for g in groups:
        ref = g.ref()
        missing = [m for m in ("energy_per_1k_tokens", "avg_power", "throughput") if m not in g.metrics]
        if g.gpu not in PLATFORMS:
            out.skip(ref, f"unknown GPU {g.gpu!r}")
        elif g.quant not in QUANTS:
            out.skip(ref, f"unknown quantization {g.quant!r}")
        elif "energy_per_1k_tokens" not in g.metrics:
            out.skip(ref, "relative-only: no absolute energy (only " + ", ".join(sorted(g.metrics)) + ")")
        elif g.is_issue and (g.gpu, g.model, g.quant, g.batch) in repo_keys:
            out.skip(ref, "duplicate: same measurement is imported from the author's repository (with sd and n)")
        elif missing:
            out.skip(ref, f"incomplete: missing {', '.join(missing)}")
        else:
            out.add(ref, lambda g=g: _row(g))
    return out.result()
