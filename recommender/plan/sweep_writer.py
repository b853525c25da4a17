"""Sweep files for the cells ``eai plan`` chose, in the format ``eai profile --sweep`` reads.

The profiler's sweep (``profiler/sweep.py``, ``SweepSpec``) is a cross product
``models x quants x tasks`` at one batch size on one device, and rejects unknown keys. A plan
picks individual configurations, so each (platform, devices, engine, batch, model,
quantization) group gets its own file: the first at the path given, the others next to it
with a numbered suffix (``sweep.yaml``, ``sweep.2.yaml``...). The engine is the file's
``engines`` entry; the platform and device count are stated in its header comment (the
profiler detects the platform from the device).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from recommender.errors import InvalidInputError
from recommender.plan.cost import CostConfig, sweep_limit
from recommender.plan.planner import PlannedCell


def _device(platform_class: str) -> str:
    return "cpu" if platform_class == "cpu" else "cuda"


def render(cell: PlannedCell, platform_class: str, config: CostConfig, note: str = "") -> str:
    """YAML text of one sweep file (models, quants, engines, tasks, per-task limits, batch, device, repeats)."""
    import yaml

    limits = {t.task: sweep_limit(t.task, t.queries, config) for t in cell.tasks}
    first = next(iter(limits.values()))
    doc = {
        "models": [cell.model_id],
        "quants": [cell.quantization],
        "engines": [cell.engine],
        "tasks": [t.task for t in cell.tasks],
        "limit": first,
        "task_limits": {k: v for k, v in limits.items() if v != first},
        "batch_size": cell.batch_size,
        "device": _device(platform_class),
        "repeats": config.repeats,
    }
    if not doc["task_limits"]:
        del doc["task_limits"]
    head = [
        f"# eai plan: measure {cell.label()}",
        f"# platform: {cell.platform}; engine: {cell.engine}; devices: {cell.device_count}; batch: {cell.batch_size}",
        f"# expected value {cell.value:.4f} (log units of the objective), about {cell.gpu_hours:.3g} GPU-hours",
        "# queries per task: " + ", ".join(f"{t.task} {t.queries} ({t.reason})" for t in cell.tasks),
    ]
    if cell.engine == "llama.cpp":
        # The profiler's llama.cpp reads a GGUF file, which no Hub id names: the user points at it.
        head.append(f"# llama.cpp runs a GGUF file: write the model as '{cell.model_id}=/path/to/file.gguf'"
                    + ("; on a GPU it needs llama-cpp-python built with CUDA" if doc["device"] == "cuda" else ""))
    if note:
        head.append(f"# {note}")
    return "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False)


def output_paths(out: Path, count: int) -> list[Path]:
    """``out`` then ``out.stem + '.2' + out.suffix``..."""
    paths = [out]
    for i in range(2, count + 1):
        paths.append(out.with_name(f"{out.stem}.{i}{out.suffix or '.yaml'}"))
    return paths


def write_sweeps(cells: Sequence[PlannedCell], platform_classes: dict[str, str], out: str | Path, config: CostConfig) -> list[Path]:
    """Write one sweep file per cell (see the module docstring); returns the paths.

    Raises:
        InvalidInputError: Nothing to write, or a file cannot be written.
    """
    if not cells:
        raise InvalidInputError("no cell to write: the plan chose none (see its notes)")
    paths = output_paths(Path(out), len(cells))
    for cell, path in zip(cells, paths):
        text = render(cell, platform_classes.get(cell.platform, "data-center"), config,
                      note=f"run: eai profile --sweep {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            raise InvalidInputError(f"cannot write sweep file {path}: {exc.strerror or exc}") from None
    return paths
