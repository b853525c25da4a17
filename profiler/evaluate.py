"""Run lm-eval on an already-loaded model, counting the tokens of the real requests.

:class:`CountingHFLM` is lm-eval's ``HFLM`` with the request entry points wrapped. Per
document (query):

- prompt tokens = the tokens of each *distinct* request context of the query (the prompt,
  once) plus the tokens of every scored continuation (for multiple choice: all choices);
- output tokens = the tokens of the continuation the model generated (``generate_until``),
  as returned, i.e. cut at the first stop sequence;
- fed tokens (whole evaluation) = token positions actually run through the model
  (``_model_call`` / prompt of ``_model_generate``, padding included). With lm-eval's logits
  cache a multiple-choice query with one-token choices (MMLU) is one forward pass; with
  multi-token choices (ARC) each choice re-reads the context, so fed > prompt.

:func:`evaluate_loaded` runs the evaluation of tasks that were built beforehand, so that the
measurement window around it covers the model's work and scoring, not dataset loading.
"""

from __future__ import annotations

import math
import random
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from recommender.errors import MeasurementError

PREFERRED_METRICS: tuple[str, ...] = (
    "acc_norm,none",
    "acc,none",
    "exact_match,strict-match",
    "exact_match,flexible-extract",
    "exact_match,none",
)
"""Metric keys tried in order when a task has no explicit choice."""

TASK_METRICS: dict[str, str] = {
    # ARC and HellaSwag: length-normalized accuracy as on the Open LLM Leaderboard v1;
    # MMLU and TruthfulQA MC2: acc; GSM8K: strict "#### N" match.
    "eai_arc_easy": "acc_norm,none",
    "eai_arc_challenge": "acc_norm,none",
    "arc_easy": "acc_norm,none",
    "arc_challenge": "acc_norm,none",
    "hellaswag": "acc_norm,none",
    "eai_mmlu": "acc,none",
    "mmlu": "acc,none",
    "eai_truthfulqa_mc2": "acc,none",
    "truthfulqa_mc2": "acc,none",
    "eai_gsm8k": "exact_match,strict-match",
    "gsm8k": "exact_match,strict-match",
}


@dataclass
class TokenCounts:
    """Per-document token tallies of the requests one evaluation sent.

    Attributes:
        prompt: (task, doc_id) -> prompt tokens (distinct contexts once + scored continuations).
        output: (task, doc_id) -> tokens generated (the answer's tokens; for random weights the
            ids generated, as a per-call mean).
        contexts: (task, doc_id) -> distinct contexts already counted.
        fed: Token positions run through the model (padding included).
        requests: Number of requests seen.
    """

    prompt: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    output: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    contexts: dict[tuple[str, int], set[str]] = field(default_factory=lambda: defaultdict(set))
    fed: int = 0
    requests: int = 0

    def add_context(self, key: tuple[str, int], context: str, n_tokens: Callable[[str], int]) -> None:
        """Count ``context`` for query ``key`` unless that query already has it."""
        if context not in self.contexts[key]:
            self.contexts[key].add(context)
            self.prompt[key] += n_tokens(context)

    @property
    def queries(self) -> int:
        """Distinct documents seen."""
        return len(set(self.prompt) | set(self.output))

    def prompt_mean(self) -> float:
        """Mean prompt tokens per query."""
        n = self.queries
        return sum(self.prompt.values()) / n if n else 0.0

    def output_mean(self) -> float:
        """Mean generated tokens per query (0 for pure loglikelihood tasks)."""
        n = self.queries
        return sum(self.output.values()) / n if n else 0.0

    def fed_mean(self) -> float:
        """Mean token positions run through the model per query."""
        n = self.queries
        return self.fed / n if n else 0.0


def _hflm_class() -> type:
    from lm_eval.models.huggingface import HFLM

    class CountingHFLM(HFLM):
        """HFLM that tallies the tokens of the requests it serves and reports progress."""

        def __init__(self, *args: Any, count_generated_ids: bool = False, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.counts = TokenCounts()
            self.on_progress: Callable[[int, int], None] | None = None
            self._done = 0
            self._total = 0
            # Random weights emit ids the tokenizer may not have (a smaller vocabulary than the
            # architecture's) and that decode to nothing: count the ids generated instead of
            # re-encoding the returned text.
            self.count_generated_ids = count_generated_ids
            self._generated_ids = 0

        def reset_counts(self) -> None:
            self.counts = TokenCounts()
            self._done = 0
            self._total = 0

        def _start(self, n: int) -> None:
            self._total += n
            if self.on_progress:
                self.on_progress(self._done, self._total)

        def _advance(self, n: int) -> None:
            self._done = min(self._total, self._done + n)
            if self.on_progress:
                self.on_progress(self._done, self._total)

        def _model_call(self, inps, attn_mask=None, labels=None):  # noqa: ANN001, ANN202
            out = super()._model_call(inps, attn_mask=attn_mask, labels=labels)
            self.counts.fed += int(inps.numel())
            self._advance(int(inps.shape[0]))
            return out

        def _model_generate(self, context, max_length, stop, **generation_kwargs):  # noqa: ANN001, ANN202
            out = super()._model_generate(context, max_length, stop, **generation_kwargs)
            if self.count_generated_ids:
                # Rows that stopped early are padded to the batch's length afterwards.
                self._generated_ids += int((out[:, context.shape[1]:] != self.tokenizer.pad_token_id).sum())
            self.counts.fed += int(context.numel())
            self._advance(int(context.shape[0]))
            return out

        def _n_tokens(self, text: str) -> int:
            return len(self.tok_encode(text))

        def loglikelihood(self, requests, disable_tqdm: bool = False):  # noqa: ANN001, ANN201
            for r in requests:
                context, continuation = r.args[0], r.args[1]
                key = (r.task_name, r.doc_id)
                self.counts.add_context(key, context, self._n_tokens)
                self.counts.prompt[key] += len(self.tok_encode(continuation))
            self.counts.requests += len(requests)
            self._start(len(requests))
            out = super().loglikelihood(requests, disable_tqdm=True)
            self._done = self._total  # logits-cache groups serve several requests per call
            if self.on_progress:
                self.on_progress(self._done, self._total)
            return out

        def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):  # noqa: ANN001, ANN201
            for r in requests:
                self.counts.add_context((r.task_name, r.doc_id), r.args[0], self._n_tokens)
            self.counts.requests += len(requests)
            self._start(len(requests))
            out = super().loglikelihood_rolling(requests, disable_tqdm=True)
            self._done = self._total
            return out

        def generate_until(self, requests, disable_tqdm: bool = False):  # noqa: ANN001, ANN201
            self._start(len(requests))
            self._generated_ids = 0
            out = super().generate_until(requests, disable_tqdm=True)
            for r, text in zip(requests, out, strict=True):
                key = (r.task_name, r.doc_id)
                self.counts.add_context(key, r.args[0], self._n_tokens)
                if self.count_generated_ids:
                    # One generated row per request; rows are reordered inside lm-eval, so
                    # each request is given the mean (the total is exact).
                    self.counts.output[key] += self._generated_ids / max(1, len(requests))
                else:
                    # The continuation as returned (cut at the first stop sequence): the tokens
                    # this query's answer consists of.
                    self.counts.output[key] += len(self.tok_encode(text, add_special_tokens=False))
            self.counts.requests += len(requests)
            self._done = self._total
            return out

    return CountingHFLM


def make_lm(model: Any, tokenizer: Any, batch_size: int = 1, max_length: int | None = None,
            count_generated_ids: bool = False) -> Any:
    """Wrap a loaded ``transformers`` model in a token-counting lm-eval HFLM.

    Args:
        model: Loaded causal LM (already on its device, possibly quantized).
        tokenizer: Its tokenizer.
        batch_size: Requests per forward pass.
        max_length: Context length cap, tokens (model config when None).
        count_generated_ids: Count the ids each generation produced (random weights) instead
            of the tokens of the answer as returned.
    """
    cls = _hflm_class()
    return cls(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_length=max_length, backend="causal",
               count_generated_ids=count_generated_ids)


@dataclass(frozen=True)
class TaskScore:
    """Score of one workload from one evaluation.

    Attributes:
        task: lm-eval task or group name.
        metric: lm-eval metric key (``acc_norm,none``...).
        value: Score in [0, 1].
        stderr: Its standard error, or None where lm-eval gives none.
        n: Number of scored samples (summed over a group's subtasks).
    """

    task: str
    metric: str
    value: float
    stderr: float | None
    n: int


def load_task_dict(task: str, task_manager: Any, num_fewshot: int | None = None,
                   max_gen_toks: int | None = None, seed: int = 1234) -> dict[str, Any]:
    """Build lm-eval task objects (datasets loaded) before any measurement window.

    Args:
        task: lm-eval task or group name.
        task_manager: ``lm_eval.tasks.TaskManager`` that knows the task.
        num_fewshot: Overrides the YAML's shot count when given.
        max_gen_toks: Caps generated tokens of generative tasks when given.
        seed: Few-shot sampling seed (lm-eval's default 1234).
    """
    loaded = task_manager.load([task])
    for task_obj in loaded["tasks"].values():
        if max_gen_toks is not None and task_obj.get_config("output_type") == "generate_until":
            task_obj.set_config(key="generation_kwargs", value={"max_gen_toks": int(max_gen_toks)}, update=True)
        if num_fewshot is not None:
            task_obj.set_config(key="num_fewshot", value=int(num_fewshot))
        elif task_obj.get_config("num_fewshot") is None:
            task_obj.set_config(key="num_fewshot", value=0)
        task_obj.set_fewshot_seed(seed=seed)
    return loaded


def run_evaluation(lm: Any, task_dict: dict[str, Any], limit: int | None,
                   bootstrap_iters: int = 1000) -> dict[str, Any]:
    """Evaluate prepared tasks (what a measurement window wraps).

    Seeds are reset first (as ``simple_evaluate`` does), so repeated calls send the same
    requests; with greedy decoding they return the same scores.
    """
    import numpy as np
    import torch
    from lm_eval.evaluator import evaluate

    random.seed(0)
    np.random.seed(1234)
    torch.manual_seed(1234)
    lm.reset_counts()
    results = evaluate(lm=lm, task_dict=task_dict, limit=limit, bootstrap_iters=bootstrap_iters,
                       log_samples=False, verbosity="WARNING")
    if results is None:
        raise MeasurementError("lm-eval returned no results (non-zero rank?)")
    return results


def score_from_results(results: dict[str, Any], task: str, metric: str | None = None) -> TaskScore:
    """Pick the headline score of ``task`` out of lm-eval's results.

    Raises:
        MeasurementError: The task or metric is missing from the results.
    """
    table = results.get("results", {})
    if task not in table:
        raise MeasurementError(f"lm-eval results have no entry for task {task!r} (have: {sorted(table)[:5]})")
    entry = table[task]
    candidates = [metric] if metric else ([TASK_METRICS[task]] if task in TASK_METRICS else []) + list(PREFERRED_METRICS)
    chosen = next((m for m in candidates if m and m in entry and isinstance(entry[m], (int, float))), None)
    if chosen is None:
        raise MeasurementError(f"no known metric for task {task!r}; lm-eval reported {sorted(entry)}")
    value = float(entry[chosen])
    name, _, filt = chosen.partition(",")
    stderr_raw = entry.get(f"{name}_stderr,{filt}")
    stderr = float(stderr_raw) if isinstance(stderr_raw, (int, float)) and math.isfinite(stderr_raw) else None
    n_samples = results.get("n-samples", {})
    if task in n_samples:
        n = int(n_samples[task]["effective"])
    else:
        subtasks = results.get("group_subtasks", {}).get(task, [])
        n = sum(int(n_samples[s]["effective"]) for s in subtasks if s in n_samples)
    if n < 1:
        raise MeasurementError(f"task {task!r} scored no samples")
    return TaskScore(task=task, metric=chosen, value=value, stderr=stderr, n=n)


class PeakMemory:
    """Peak memory over a block: CPU process RSS (sampled) or CUDA max allocated.

    Use as a context manager; ``peak_bytes`` is set on exit.

    Args:
        device: ``cpu`` or ``cuda[:N]``.
        interval_s: RSS sampling period for CPU, seconds.
    """

    def __init__(self, device: str, interval_s: float = 0.05) -> None:
        self.device = device
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        import psutil

        proc = psutil.Process()
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, proc.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._thread = threading.Thread(target=self._sample, name="eai-rss", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.startswith("cuda"):
            import torch

            self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device))
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            import psutil

            self.peak_bytes = max(self.peak_bytes, psutil.Process().memory_info().rss)
