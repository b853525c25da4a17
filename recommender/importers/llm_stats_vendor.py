"""LLM-Stats: vendor-reported benchmark scores of open-weight models (model cards, papers).

Source: ``llm-stats-vendor-reported/scores.csv``. Only rows with a Hugging Face repo id
(``hf_repo_id``) and a benchmark the task catalog scores are used; every score keeps
``metric = vendor-reported`` and the vendor's own setting in ``note`` (``analysis_method``,
self-reported or third-party), because vendors' harnesses, shots and prompts differ from the
leaderboards' (Llama-3.1-8B-Instruct MMLU 0.694 "5-shot" vs the harness' log-likelihood score).
The accuracy model therefore keeps them in their own columns (``vendor:<task>``) and learns how
they relate to leaderboard scores; it never reads them as a leaderboard measurement.

Id rules (beside :mod:`recommender.importers.hub_ids`): the data set's README lists links
that are wrong; :data:`LINK_FIXES` replaces them by the model the row is about.
"""

from __future__ import annotations

from pathlib import Path

from recommender.importers.base import ImportResult, RowCollector, finite_float, read_csv_records, shared_ref, shots_in
from recommender.importers.hub_ids import catalog_id

NAME = "llm-stats-vendor-reported"
FOLDER = "llm-stats-vendor-reported"
FILE = "scores.csv"
DATASETS: dict[str, str] = {
    "mmlu": "mmlu",
    "mmlu-pro": "mmlu_pro",
    "gsm8k": "gsm8k",
    "arc-c": "arc_challenge",
    "hellaswag": "hellaswag",
    "truthfulqa": "truthfulqa_mc2",
    "winogrande": "winogrande",
    "ifeval": "ifeval",
    "bbh": "bbh",
    "big-bench hard": "bbh",
    "gpqa": "gpqa_mc",
}
"""Lower-cased ``dataset_name`` -> catalog task (other benchmarks are skipped with a reason)."""
LINK_FIXES: dict[str, str] = {
    "qwen/qwen2-72b-instruct": "Qwen/Qwen2-72B-Instruct",
    "qwen/qwen-2.5-coder-7b-instruct": "Qwen/Qwen2.5-Coder-7B-Instruct",
    "qwen/qwen-2.5-coder-32b-instruct": "Qwen/Qwen2.5-Coder-32B-Instruct",
    "deepseek/deepseek-r1-zero": "deepseek-ai/DeepSeek-R1-Zero",
}
"""``llmstats_id`` -> Hub id where ``hf_repo_id`` links another model (base for instruct...)."""


def import_rows(root: Path) -> ImportResult:
    """Read vendor-reported scores of open-weight models into accuracy rows."""
    out = RowCollector(NAME)
    records = read_csv_records(root, FOLDER, FILE)
    for line, rec in records:
        ref = shared_ref(FOLDER, FILE, f"L{line}:{rec['llmstats_id']}:{rec['dataset_name']}")
        hub = LINK_FIXES.get(rec["llmstats_id"], rec["hf_repo_id"])
        if not hub:
            out.skip(ref, "API-only model (no Hugging Face weights)")
            continue
        task = DATASETS.get(rec["dataset_name"].strip().lower())
        if task is None:
            out.skip(ref, f"benchmark {rec['dataset_name']!r} is not a catalogued task")
            continue
        try:
            score = finite_float(rec["score"])
            if not 0 <= score <= 1:
                raise ValueError
        except ValueError:
            out.skip(ref, f"score {rec['score']!r} is not a fraction")
            continue
        model_id = catalog_id(hub) or hub
        who = "self-reported" if rec["is_self_reported"] == "TRUE" else "third-party"
        out.add_accuracy(ref, lambda: {
            "model_id": model_id, "task": task, "accuracy": score, "metric": "vendor-reported",
            "num_fewshot": shots_in(rec["analysis_method"]), "quantization": "unknown",
            "note": f"vendor-reported ({who}): {rec['analysis_method'].strip() or 'setting not stated'}; {rec['source_link']}",
            "source": NAME, "source_ref": ref, "source_model": hub if hub != model_id else "",
            "params_b": (float(rec["param_count"]) / 1e9) if rec["param_count"] not in ("", "null") else None,
        })
    return out.result()
