"""Document processing for eai's local lm-eval task YAMLs (referenced with ``!function utils.*``).

lm-eval imports this file from the directory of the YAML that names it, so it is copied
next to the rendered YAMLs and must import nothing from eai.
"""

from __future__ import annotations

import math
from typing import Any

_LETTERS = ("A", "B", "C", "D")


def as_text(value: str) -> str:
    """CSV cell converter: keep every cell as the exact text in the file.

    Without it pandas turns cells such as ``0.50`` into floats (``0.5``) and ``None`` into
    NaN, changing option texts of the original MMLU CSVs.
    """
    return str(value)


def _mmlu_doc(doc: dict[str, Any]) -> dict[str, Any]:
    letter = str(doc["answer"]).strip().upper()
    if letter not in _LETTERS:
        raise ValueError(f"MMLU answer {doc['answer']!r} is not one of A-D (question {doc['question'][:60]!r})")
    # A new column name: datasets keeps an overwritten column's (string) type, and a
    # string target would be looked up among the letters instead of used as an index.
    return {
        "question": doc["question"],
        "choices": [doc[k] for k in _LETTERS],
        "gold": _LETTERS.index(letter),
    }


def process_mmlu_docs(dataset):  # noqa: ANN001, ANN201 - datasets.Dataset in, out
    """Map hendrycks CSV columns (question, A-D, answer letter) to question/choices/gold index."""
    return dataset.map(_mmlu_doc, remove_columns=list(dataset.column_names))


def _truthfulqa_doc(doc: dict[str, Any]) -> dict[str, Any]:
    targets = doc["mc2_targets"]
    if not isinstance(targets, dict) or not targets:
        raise ValueError(f"mc2_targets of {doc['question'][:60]!r} is not a non-empty dict")
    # JSON objects keep their order; true answers usually come first but not always, so the
    # labels travel with the choices and nothing relies on position.
    return {
        "question": doc["question"],
        "mc2_choices": [str(k) for k in targets],
        "mc2_labels": [int(v) for v in targets.values()],
    }


def process_truthfulqa_docs(dataset):  # noqa: ANN001, ANN201
    """Turn the original {answer: label} dict of ``mc2_targets`` into choices and labels."""
    return dataset.map(_truthfulqa_doc, remove_columns=list(dataset.column_names))


def process_results_mc2(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    """MC2: normalized probability mass on the true answers (as lm-eval's truthfulqa_mc2)."""
    lls = [ll for ll, _ in results]
    top = max(lls)
    probs = [math.exp(ll - top) for ll in lls]  # shift by the max: same ratios, no underflow
    total = sum(probs)
    true_mass = sum(p for p, label in zip(probs, doc["mc2_labels"], strict=True) if label == 1)
    return {"acc": true_mass / total}
