"""Stage ``answer_length``: a model's own answer length on a task, where the table shows it.

Energy and time per query scale with the tokens a query generates, and how many a model
writes on a task is a property of the model: on ML.ENERGY v3's LMArena chat prompts
Llama-3.1-8B-Instruct answers in 389 tokens (388-409 over platforms and batch sizes) where the
task's mean over every model measured on it is 641, reasoning models included. A candidate
that states no output length used to take the task's mean, so a terse model was charged for a
verbose one's answers (1.65x the energy per query it was measured at) and a ranking of models
on one task compared answer lengths nobody measured.

Where the row gives no ``output_tokens_mean``, the predictor now takes, in this order:

1. ``model``: the median output length of this model's measured rows on this task (the
   lengths of one model on one task in one campaign agree within a few per cent: median
   max/min 1.02-1.06 per campaign);
2. ``model-relative``: within the campaign that measured the task, the additive fit
   ``log L(model, task) = a(model) + b(task)`` over every model x task it measured: the
   model's verbosity ``a`` from its other tasks there, the task's ``b`` from the other models
   (ML.ENERGY v3: LMArena chat, GPQA; v1: its four ShareGPT variants);
3. ``task``: the task's catalogued length, as before.

Evidence (``python bench/answer_length.py``, each measured model x task pair held out with its
rows, 104 pairs): the held-out output length's median error falls from 16.4 % (the task's
length) to 8.0 % (per task 4.4-8.7 %, and 16.0 -> 16.9 % on ShareGPT instruct-concise).
Across campaigns a model's verbosity did not transfer (ML.ENERGY v1's FastChat ShareGPT runs to
v2's vLLM ones: 4 pairs, 27 -> 51 % in a first check with the task's mean as reference), which
is why only the task's own campaign lends it. Tasks whose every answer has one length (a
static batch generating N tokens, catalogued output dispersion 1) say nothing about a model's
verbosity and are left out of the fit. Cross-validation cannot show this stage: its held-out
rows state their own lengths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recommender.errors import ModelStateError
from recommender.model import cats

STAGE = "answer_length"

BASES: tuple[str, ...] = ("row", "model", "model-relative", "task")
"""Where a candidate's output length comes from (``output_tokens_basis``), best first."""


@dataclass(frozen=True)
class AnswerLengths:
    """Fitted answer lengths (stage ``answer_length``).

    Attributes:
        own: ``{(model_id, task): (output tokens per query, rows)}``: the median measured
            output length of a model on a task.
        verbosity: ``{(model_id, source): (log length offset, tasks)}``: ``a`` of the model in
            the campaign's additive fit ``log L(model, task) = a(model) + b(task)``.
        task_offset: ``{(task, source): (log length, models)}``: ``b`` of the task in that fit.
    """

    own: Mapping[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    verbosity: Mapping[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    task_offset: Mapping[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    _grids: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """:meth:`_grid` per pair of model and task level lists met (a frame's categories)."""

    def to_state(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            name: [[a, b, v, n] for (a, b), (v, n) in sorted(getattr(self, name).items())]
            for name in ("own", "verbosity", "task_offset")
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> AnswerLengths | None:
        """Rebuild from :meth:`to_state` output (None: the stage was off).

        Raises:
            ModelStateError: The state is malformed, a length is not a positive finite number
                or an offset is not finite.
        """
        if state is None:
            return None
        try:
            parts = {
                name: {(str(a), str(b)): (float(v), int(n)) for a, b, v, n in state[name]}
                for name in ("own", "verbosity", "task_offset")
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelStateError(f"answer-length state is malformed ({exc}); refit with 'eai fit'") from exc
        bad = [k for k, (v, _) in parts["own"].items() if not (np.isfinite(v) and v > 0)]
        bad += [k for name in ("verbosity", "task_offset") for k, (v, _) in parts[name].items() if not np.isfinite(v)]
        if bad:
            raise ModelStateError(f"answer-length state holds a non-finite or non-positive value at {bad[0]}; refit with 'eai fit'")
        return cls(**parts)

    def lengths(self, model_id: Any, task: Any, task_output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Output tokens per query and basis code for candidates that state none.

        Args:
            model_id, task: Per candidate (canonical task ids).
            task_output: Per candidate, the task's catalogued output length (NaN: none).

        Returns:
            ``(tokens, basis)``: tokens per query (``task_output`` where neither the model's
            own nor its relative length is known) and the index into :data:`BASES` (1, 2 or 3).
            Computed per distinct model x task, so a million rows cost a small table.
        """
        m_codes, models = cats.parts(model_id)
        t_codes, tasks = cats.parts(task)
        grid, code = self._grid(models, tasks)
        rows_m = np.where(m_codes < 0, len(models), m_codes)
        rows_t = np.where(t_codes < 0, len(tasks), t_codes)
        # One flat position per row for both tables (a 2-D index would be found twice).
        flat = rows_m.astype(np.int64) * (len(tasks) + 1) + rows_t  # codes may be int8/int16
        value, basis = grid.ravel()[flat], code.ravel()[flat]
        tokens = np.where(basis == BASES.index("task"), np.asarray(task_output, dtype=float), value)
        return tokens, basis.astype(np.int8)

    def _grid(self, models: np.ndarray, tasks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per model x task level (and a last row and column for missing values): the length
        and the basis code. Kept per pair of level lists: ~4,500 lookups for the catalog's
        models and tasks, which every prediction over them asks again. Read only: shared."""
        key = (tuple(str(m) for m in models), tuple(str(t) for t in tasks))
        if key in self._grids:
            return self._grids[key]
        homes: dict[str, list[str]] = {}
        for t, src in self.task_offset:
            homes.setdefault(t, []).append(src)
        grid = np.full((len(models) + 1, len(tasks) + 1), np.nan)
        code = np.full(grid.shape, BASES.index("task"), dtype=np.int8)
        for i, m in enumerate(models):
            for j, t in enumerate(tasks):
                hit = self.own.get((str(m), str(t)))
                if hit is not None:
                    grid[i, j], code[i, j] = hit[0], BASES.index("model")
                    continue
                logs = [
                    self.verbosity[(str(m), src)][0] + self.task_offset[(str(t), src)][0]
                    for src in homes.get(str(t), ()) if (str(m), src) in self.verbosity
                ]
                if logs:
                    grid[i, j], code[i, j] = float(np.exp(np.mean(logs))), BASES.index("model-relative")
        if len(self._grids) >= 64:  # a bound, not an eviction policy
            self._grids.clear()
        self._grids[key] = (grid, code)
        return grid, code


ITERATIONS = 100
"""Alternating least-squares sweeps of the additive fit (a campaign holds a few tasks and a few
dozen models: it settles to 1e-9 in far fewer)."""


def additive_fit(model: np.ndarray, task: np.ndarray, log_len: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """``log L = a(model) + b(task)`` by least squares on the observed pairs, ``a`` centred.

    Unbalanced (not every model ran every task), so neither a row nor a column mean is the
    answer; alternating least squares is exact for this two-way layout. Models and tasks
    that share no pair with the rest form their own connected part; centring each part's
    ``a`` is left out, since a model's length is read only as ``a + b`` within its part.
    """
    models, mi = np.unique(model, return_inverse=True)
    tasks, ti = np.unique(task, return_inverse=True)
    a = np.zeros(len(models))
    b = np.array([log_len[ti == j].mean() for j in range(len(tasks))])
    n_m = np.bincount(mi, minlength=len(models))
    n_t = np.bincount(ti, minlength=len(tasks))
    for _ in range(ITERATIONS):
        a = np.bincount(mi, weights=log_len - b[ti], minlength=len(models)) / n_m
        b = np.bincount(ti, weights=log_len - a[mi], minlength=len(tasks)) / n_t
    shift = a.mean()
    return dict(zip(models.tolist(), (a - shift).tolist())), dict(zip(tasks.tolist(), (b + shift).tolist()))


def fit_answer_lengths(model_id: Any, task: Any, source: Any, measured_output: np.ndarray, fixed_length: np.ndarray) -> AnswerLengths:
    """Answer lengths from measured generation rows.

    Args:
        model_id, task, source: Per measured row (canonical task ids; ``source`` is the campaign).
        measured_output: Per row, the output tokens per query it measured (NaN or <= 0: none,
            or a scored task with no generation).
        fixed_length: Per row, whether every answer of its task has one length (catalogued
            output dispersion 1): such tasks say nothing about a model's verbosity.

    Returns:
        The fitted :class:`AnswerLengths`: each model x task's median length, and per campaign
        the additive fit of the log medians of its variable-length tasks.
    """
    frame = pd.DataFrame({
        "model": np.asarray(cats.as_categorical(model_id).astype(str), dtype=object),
        "task": np.asarray(cats.as_categorical(task).astype(str), dtype=object),
        "source": np.asarray(cats.as_categorical(source).astype(str), dtype=object),
        "out": np.asarray(measured_output, dtype=float),
        "fixed": np.asarray(fixed_length, dtype=bool),
    })
    frame = frame[np.isfinite(frame["out"]) & (frame["out"] > 0)]
    if frame.empty:
        return AnswerLengths()
    own_g = frame.groupby(["model", "task"], sort=True)["out"].agg(["median", "size"])
    own = {(str(m), str(t)): (float(r["median"]), int(r["size"])) for (m, t), r in own_g.iterrows()}
    verbosity: dict[tuple[str, str], tuple[float, int]] = {}
    task_offset: dict[tuple[str, str], tuple[float, int]] = {}
    var = frame[~frame["fixed"]]
    for src, g in var.groupby("source", sort=True):
        med = g.groupby(["model", "task"], sort=True)["out"].median().reset_index()
        a, b = additive_fit(med["model"].to_numpy(dtype=object), med["task"].to_numpy(dtype=object), np.log(med["out"].to_numpy()))
        n_tasks = med.groupby("model").size()
        n_models = med.groupby("task").size()
        verbosity.update({(str(m), str(src)): (v, int(n_tasks[m])) for m, v in a.items()})
        task_offset.update({(str(t), str(src)): (v, int(n_models[t])) for t, v in b.items()})
    return AnswerLengths(own=own, verbosity=verbosity, task_offset=task_offset)
