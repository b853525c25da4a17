"""The accuracy table: task scores from public leaderboards, without energy.

Leaderboards (Open LLM Leaderboard v1, ML.ENERGY v1 ``score.csv``) publish scores for
many models that were never energy-measured; they live in ``data/accuracy.csv``, one row
per model x task x source entry. Scores are fractions in [0, 1] (the sources' percentages
divided by 100). Loading validates every row and stops at the first bad one, naming the
file, line, column and value, like :mod:`recommender.table.io`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, get_args

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from recommender.errors import DataSourceError, TableValidationError
from recommender.table.io import _atomic_write, _format, decode_table_bytes
from recommender.table.schema import Quantization

AccuracyTask = Literal[
    "mmlu", "hellaswag", "arc_challenge", "truthfulqa_mc2", "winogrande", "gsm8k",
    "ifeval", "bbh", "math_lvl5", "gpqa_mc", "musr", "mmlu_pro",
]
"""Canonical task ids with scores: the Open LLM Leaderboard v1 six, then its v2 six (``gpqa_mc``
is the leaderboard's multiple-choice GPQA; ``gpqa`` names the mlenergy-v3 generation workload)."""
AccuracyMetric = Literal["acc", "acc_norm", "mc2", "exact_match", "strict_acc", "vendor-reported"]
"""lm-eval metric behind a score; ``vendor-reported`` marks a model card's own number (its
harness, shots and prompt are the vendor's, see the row's note)."""
AccuracySource = Literal[
    "open-llm-leaderboard-v1", "open-llm-leaderboard-v1-final", "open-llm-leaderboard-v2",
    "intel-autoround", "llm-stats-vendor-reported", "mlenergy-v1", "eai-profiler", "user",
]
AccuracyQuantization = Literal["autoround-int4", "rtn-int4", "gguf-q4_k_m", "gguf-q4_0", "unknown"]
"""Accuracy-only formats (evaluated in published pairs but not catalogued as a deployable
quantization), beside the table's :data:`Quantization` names."""

ACCURACY_TASKS: tuple[str, ...] = get_args(AccuracyTask)
ACCURACY_METRICS: tuple[str, ...] = get_args(AccuracyMetric)

DEFAULT_ACCURACY_TABLE = Path(__file__).resolve().parents[2] / "data" / "accuracy.csv"
"""The shipped accuracy table."""


class AccuracyRow(BaseModel):
    """One published task score.

    Attributes:
        model_id: Catalog model id where the catalog knows the model, else the source's Hub id.
        task: Canonical task id.
        accuracy: Score as a fraction in [0, 1].
        metric: lm-eval metric behind the score (``acc``, ``acc_norm``, ``mc2``).
        num_fewshot: Shots in the prompt.
        accuracy_stderr: Standard error of ``accuracy`` where the source gives it (same scale).
        quantization: Weight precision of the evaluated model, or ``unknown``.
        note: Free-text caveat (assumed precision, duplicate entry...).
        source: Short source tag.
        source_ref: Precise reference (file and row key).
        source_model: The model id exactly as the source wrote it (before catalog resolution).
        revision: Evaluated revision (Hub commit) where the source gives one.
        chat_template: Whether the harness applied the model's chat template (v2 only).
        base_model: For a quantized repo or a pair row: the 16-bit model its score is compared to.
        params_b: Parameter count the source states, billions (leaderboards: Hub metadata).
        architecture: ``config.json`` architecture the source states (``LlamaForCausalLM``...).
        model_type: The source's kind of entry (``pretrained``, ``chat``, ``fine-tuned``, ``merge``...).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_id: str = Field(min_length=1)
    task: AccuracyTask
    accuracy: float = Field(ge=0, le=1)
    metric: AccuracyMetric
    num_fewshot: int = Field(ge=0)
    accuracy_stderr: float | None = Field(default=None, ge=0, le=1)
    quantization: Quantization | AccuracyQuantization = "unknown"
    note: str = ""
    source: AccuracySource
    source_ref: str = Field(min_length=1)
    source_model: str = ""
    revision: str = ""
    chat_template: bool | None = None
    base_model: str = ""
    params_b: float | None = Field(default=None, gt=0)
    architecture: str = ""
    model_type: str = ""

    @model_validator(mode="after")
    def _metric_matches_task(self) -> AccuracyRow:
        if self.metric == "vendor-reported":
            return self
        if self.task == "truthfulqa_mc2" and self.metric != "mc2":
            raise ValueError(f"task 'truthfulqa_mc2' is scored with metric 'mc2', not {self.metric!r}")
        if self.task != "truthfulqa_mc2" and self.metric == "mc2":
            raise ValueError(f"metric 'mc2' belongs to truthfulqa_mc2, not {self.task!r}")
        return self


ACCURACY_COLUMNS: tuple[str, ...] = tuple(AccuracyRow.model_fields)
"""Column order of the accuracy CSV."""


def read_accuracy_rows(path: str | Path) -> list[AccuracyRow]:
    """Read and validate every row of an accuracy CSV.

    Raises:
        DataSourceError: The file is missing.
        TableValidationError: A row violates the schema (names line, column and value).
    """
    p = Path(path)
    if not p.is_file():
        raise DataSourceError(f"accuracy table {str(p)!r} not found; run 'eai data import'")
    reader = csv.DictReader(io.StringIO(decode_table_bytes(p.read_bytes(), str(p))))
    header = reader.fieldnames or []
    for name, f in AccuracyRow.model_fields.items():
        if f.is_required() and name not in header:
            raise TableValidationError(str(p), 1, name, "", "required column missing from header")
    rows: list[AccuracyRow] = []
    for record in reader:
        line = reader.line_num
        if None in record:
            raise TableValidationError(str(p), line, "(row)", record[None], "more cells than header columns")
        unknown = [k for k in record if k not in AccuracyRow.model_fields]
        if unknown:
            raise TableValidationError(str(p), line, unknown[0], record[unknown[0]], "column not in the schema")
        values: dict[str, object] = {k: v for k, v in record.items() if v != ""}
        try:
            rows.append(AccuracyRow.model_validate(values))
        except ValidationError as exc:
            err = exc.errors()[0]
            column = str(err["loc"][0]) if err["loc"] else "(row)"
            value = record.get(column, "") if err["loc"] else ""
            raise TableValidationError(str(p), line, column, value, err["msg"]) from exc
    return rows


def load_accuracy(path: str | Path = DEFAULT_ACCURACY_TABLE) -> pd.DataFrame:
    """Load and validate an accuracy table into a DataFrame (columns in schema order)."""
    rows = read_accuracy_rows(path)
    return pd.DataFrame([r.model_dump() for r in rows], columns=list(ACCURACY_COLUMNS))


def validate_accuracy_file(path: str | Path) -> int:
    """Validate an accuracy table file and return its row count (raises on the first bad row)."""
    return len(read_accuracy_rows(path))


def render_accuracy_csv(rows: Iterable[AccuracyRow]) -> str:
    """Serialize accuracy rows to CSV text deterministically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ACCURACY_COLUMNS)
    for r in rows:
        writer.writerow([_format(getattr(r, c)) for c in ACCURACY_COLUMNS])
    return buf.getvalue()


def write_accuracy(rows: Sequence[AccuracyRow], path: str | Path) -> None:
    """Write accuracy rows as CSV atomically (replaces the file)."""
    _atomic_write(Path(path), render_accuracy_csv(rows))
