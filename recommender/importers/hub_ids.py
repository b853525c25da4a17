"""Resolve the model ids of accuracy sources to catalog ids (rules documented in data/SOURCES.md).

Rules, in order:

1. **Catalog id or alias** (case-insensitive): the catalog's canonical id. Base and instruct
   variants are distinct catalog entries (``Qwen/Qwen2.5-7B`` vs ``Qwen/Qwen2.5-7B-Instruct``),
   so a base model's score never lands on its instruct variant or the reverse; renamed repos
   (``meta-llama/Meta-Llama-3.1-8B-Instruct``) are catalog aliases.
2. **Quantized repos** named by their format (``-GPTQ``, ``-AWQ``, ``-bnb-4bit``, ``-FP8``...):
   the format becomes the row's ``quantization`` and the 16-bit model it was made from (same
   repository name without the suffix, under any organization; the catalog first, then the
   source's own 16-bit ids, an unambiguous match only) becomes ``base_model`` and ``model_id``.
3. Otherwise the source's Hub id is kept as published (most leaderboard entries are community
   fine-tunes and merges that the catalog does not list; they still teach the accuracy model
   the cross-task structure).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

QUANT_SUFFIXES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"[-_.]GPTQ(?:[-_.]Int4)?(?:[-_.]\w+)?$", re.I), "gptq-int4", "GPTQ repo (4-bit, group 128 unless its card says otherwise)"),
    (re.compile(r"[-_.]AWQ$", re.I), "awq-int4", "AWQ repo (4-bit)"),
    (re.compile(r"[-_.]bnb[-_.]4bit$", re.I), "nf4-bnb", "bitsandbytes 4-bit repo (NF4, the quantizers' default for -bnb-4bit uploads)"),
    (re.compile(r"[-_.]FP8(?:[-_.]Dynamic)?$", re.I), "fp8", "FP8 repo"),
)
"""Repository-name suffix -> (quantization, note) for pre-quantized repos."""


@functools.lru_cache(maxsize=1)
def _name_index() -> dict[str, str]:
    from recommender.catalog.models import get_models

    return {name.lower(): spec.id for spec in get_models().values() for name in (spec.id, *spec.aliases)}


def catalog_id(hub_id: str) -> str | None:
    """The catalog id of ``hub_id`` (rule 1), or None when the catalog does not know it.

    A plain index lookup: :func:`resolve_model`'s did-you-mean search on every miss would cost
    seconds over a leaderboard's thousands of uncatalogued ids.
    """
    return _name_index().get(hub_id.strip().lower())


def quantized_format(hub_id: str) -> tuple[str, str, str] | None:
    """``(format, note, repo name without the suffix)`` for a pre-quantized repo, else None."""
    repo = hub_id.split("/")[-1]
    for pattern, fmt, note in QUANT_SUFFIXES:
        if pattern.search(repo):
            return fmt, note, pattern.sub("", repo)
    return None


class BaseIndex:
    """Finds the 16-bit model a quantized repo was made from, by repository name (rule 2)."""

    def __init__(self, hub_ids: Iterable[str]) -> None:
        from recommender.catalog.models import get_models

        self._by_repo: dict[str, set[str]] = {}
        for spec in get_models().values():
            for name in (spec.id, *spec.aliases):
                if "/" in name:
                    self._by_repo.setdefault(name.split("/")[-1].lower(), set()).add("catalog:" + spec.id)
        for hub in hub_ids:
            if quantized_format(hub) is None:
                self._by_repo.setdefault(hub.split("/")[-1].lower(), set()).add(hub)

    def base_of(self, repo_name: str) -> str | None:
        """The catalog id (preferred) or the unique source id with this repository name."""
        hits = self._by_repo.get(repo_name.lower(), set())
        catalog = sorted(h.removeprefix("catalog:") for h in hits if h.startswith("catalog:"))
        if len(catalog) == 1:
            return catalog[0]
        others = sorted(h for h in hits if not h.startswith("catalog:"))
        if not catalog and len(others) == 1:
            return catalog_id(others[0]) or others[0]
        return None


def resolve(hub_id: str, index: BaseIndex) -> tuple[str, str | None, str, str]:
    """``(model_id, quantization or None, base_model, note)`` of one source id.

    ``quantization`` is None when the id does not say (the caller takes the source's
    precision column); ``base_model`` is set for a quantized repo mapped to its 16-bit model.
    """
    known = catalog_id(hub_id)
    if known is not None:
        return known, None, "", ""
    fmt = quantized_format(hub_id)
    if fmt is not None:
        q, note, stripped = fmt
        base = index.base_of(stripped)
        if base is not None:
            return base, q, base, f"{note}; scored as {base} quantized"
        return hub_id, q, "", f"{note}; 16-bit base not found by repository name"
    return hub_id, None, "", ""
