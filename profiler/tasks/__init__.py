"""Local lm-eval task YAMLs over the offline benchmark files, rendered with absolute paths.

The YAMLs in ``templates/`` read the data sets in their original layouts (``dataset_path:
json`` / ``csv`` with ``dataset_kwargs.data_files``). Their data paths contain the
placeholder ``@DATA@``; :func:`render_tasks` writes copies with the absolute data root into
a directory given to lm-eval's ``TaskManager(include_path=...)``, so they work from any
checkout location. The data root is ``$EAI_TASK_DATA`` if set, else
``<checkout>/../shared/datasets/tasks``.

Short names used on the command line and in the table's ``workload`` column map to the
local tasks (``arc_easy`` -> ``eai_arc_easy``); any other name is passed to lm-eval as is.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from recommender.errors import DataSourceError

TEMPLATES = Path(__file__).resolve().parent / "templates"

LOCAL_TASKS: dict[str, str] = {
    "arc_easy": "eai_arc_easy",
    "arc_challenge": "eai_arc_challenge",
    "gsm8k": "eai_gsm8k",
    "truthfulqa_mc2": "eai_truthfulqa_mc2",
    "mmlu": "eai_mmlu",
}
"""Workload name -> local lm-eval task (or group) name."""

LOCAL_TASK_NOTES: dict[str, str] = {
    "arc_easy": "ARC-Easy test first100 (llm-foundry converted layout)",
    "arc_challenge": "ARC-Challenge test first100 (llm-foundry converted layout)",
    "gsm8k": "GSM8K test first100 (openai/grade-school-math); few-shot examples drawn from the same file",
    "truthfulqa_mc2": "TruthfulQA v0 (2021) MC JSON first100; fixed 6-QA primer in the prompt",
    "mmlu": "MMLU hendrycks/test CSVs first100 per subject, few-shot from dev, 57 subjects, size-weighted mean",
}

_PLACEHOLDER = "@DATA@"
_MMLU_TEMPLATE = "_eai_mmlu_template.yaml"


def default_data_root() -> Path:
    """``$EAI_TASK_DATA``, else ``../shared/datasets/tasks`` next to this checkout."""
    env = os.environ.get("EAI_TASK_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return (Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "tasks").resolve()


def mmlu_subjects(data_root: Path) -> list[str]:
    """Subjects that have both a test and a dev CSV under ``data_root/mmlu``."""
    test_dir = data_root / "mmlu" / "test"
    subjects = sorted(p.name.removesuffix("_test.first100.csv") for p in test_dir.glob("*_test.first100.csv"))
    return [s for s in subjects if (data_root / "mmlu" / "dev" / f"{s}_dev.csv").is_file()]


def _yaml_str(text: str) -> str:
    """Double-quoted YAML scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _mmlu_subject_yaml(subject: str, data_root: Path) -> str:
    test = data_root / "mmlu" / "test" / f"{subject}_test.first100.csv"
    dev = data_root / "mmlu" / "dev" / f"{subject}_dev.csv"
    pretty = subject.replace("_", " ")
    cols = ["question", "A", "B", "C", "D", "answer"]
    converters = "\n".join(f"    {c}: !function utils.as_text" for c in cols)
    return (
        f"include: _eai_mmlu_template_yaml\n"
        f"task: eai_mmlu_{subject}\n"
        f"task_alias: {subject}\n"
        f"description: {_yaml_str(f'The following are multiple choice questions (with answers) about {pretty}.' + chr(10) + chr(10))}\n"
        f"dataset_kwargs:\n"
        f"  data_files:\n"
        f"    test: {_yaml_str(str(test))}\n"
        f"    dev: {_yaml_str(str(dev))}\n"
        f"  column_names: [{', '.join(cols)}]\n"
        f"  keep_default_na: false\n"
        f"  na_filter: false\n"
        f"  converters:\n{converters}\n"
    )


@dataclass(frozen=True)
class RenderedTasks:
    """Rendered local tasks.

    Attributes:
        directory: Directory to pass to ``TaskManager(include_path=...)``.
        data_root: Absolute data root the YAMLs point at.
        tasks: lm-eval task/group names written.
    """

    directory: Path
    data_root: Path
    tasks: tuple[str, ...]


def render_tasks(data_root: Path | None = None, out_dir: Path | None = None) -> RenderedTasks:
    """Write the local task YAMLs with absolute data paths.

    Args:
        data_root: Offline task data root; :func:`default_data_root` when None.
        out_dir: Where to write; a fresh temporary directory when None.

    Returns:
        The rendered task directory and names.

    Raises:
        DataSourceError: The data root or one of the data files is missing.
    """
    root = (data_root or default_data_root()).resolve()
    if not root.is_dir():
        raise DataSourceError(
            f"task data root {str(root)!r} not found; set EAI_TASK_DATA to the folder holding "
            "gsm8k/, arc/, mmlu/, truthfulqa/"
        )
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="eai-tasks-"))
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATES / "utils.py", out / "utils.py")
    written: list[str] = []
    for template in sorted(TEMPLATES.glob("eai_*.yaml")):
        text = template.read_text(encoding="utf-8")
        for rel in re.findall(r'"@DATA@/([^"]+)"', text):
            if not (root / rel).is_file():
                raise DataSourceError(f"task data file {str(root / rel)!r} (for {template.name}) not found")
        (out / template.name).write_text(text.replace(_PLACEHOLDER, str(root)), encoding="utf-8")
        written.append(template.stem)
    subjects = mmlu_subjects(root)
    if not subjects:
        raise DataSourceError(f"no MMLU CSVs under {str(root / 'mmlu')!r}")
    # No .yaml suffix: lm-eval indexes every *.yaml, and the template alone is not a task.
    shutil.copyfile(TEMPLATES / _MMLU_TEMPLATE, out / "_eai_mmlu_template_yaml")
    for subject in subjects:
        (out / f"eai_mmlu_{subject}.yaml").write_text(_mmlu_subject_yaml(subject, root), encoding="utf-8")
    group = (
        "group: eai_mmlu\ntask:\n"
        + "".join(f"  - eai_mmlu_{s}\n" for s in subjects)
        + "aggregate_metric_list:\n  - metric: acc\n    aggregation: mean\n    weight_by_size: true\n"
        + "metadata:\n  version: 1.0\n"
    )
    (out / "_eai_mmlu.yaml").write_text(group, encoding="utf-8")
    written.append("eai_mmlu")
    return RenderedTasks(directory=out, data_root=root, tasks=tuple(written))


def lm_eval_task_name(workload: str, local: bool = True) -> str:
    """lm-eval task name for a workload: the local variant if one exists and ``local``."""
    if local and workload in LOCAL_TASKS:
        return LOCAL_TASKS[workload]
    return workload
