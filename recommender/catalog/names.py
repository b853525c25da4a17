"""What a catalog says when a name does not resolve: ambiguous, or unknown with suggestions.

Every ``resolve_*`` function first looks the name up exactly (id or alias, case and
punctuation ignored). When that fails, :func:`name_error` decides what to tell the user:

- the name's words all appear in two or more entries (``A100``: three A100 variants;
  ``llama3.1-8b``: the base model and its instruct variant) -> :class:`AmbiguousNameError`
  listing them, so that eai never picks a variant silently;
- otherwise -> :class:`UnknownNameError` whose "did you mean" is ranked by what the user
  meant (:func:`recommender.errors.rank_suggestions`): same family, same version and size
  first, never a name that merely contains the word (``TinyLlama`` for ``llama``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from recommender.errors import AmbiguousNameError, UnknownNameError, full_matches


def names_of(entries: Iterable[tuple[str, Iterable[str]]]) -> dict[str, str]:
    """Every name (canonical id first, then aliases) -> canonical id.

    Args:
        entries: ``(canonical_id, other names)`` pairs, in catalog order.

    Returns:
        The mapping, in catalog order.
    """
    out: dict[str, str] = {}
    for canonical, others in entries:
        out.setdefault(canonical, canonical)
        for n in others:
            out.setdefault(n, canonical)
    return out


def without_organization(name: str, names: Mapping[str, str]) -> str | None:
    """The one canonical id whose name after the organization is ``name`` (any case).

    ``Llama-3.1-8B-Instruct`` -> ``meta-llama/Llama-3.1-8B-Instruct``: exact, not fuzzy, so
    it is resolved rather than suggested; None when no id, or two organizations' ids, match.

    Args:
        name: What the user typed (without a ``/``).
        names: Every name -> canonical id.

    Returns:
        The canonical id, or None.
    """
    if "/" in name:
        return None
    key = name.strip().lower()
    hits = {cid for n, cid in names.items() if "/" in n and n.rsplit("/", 1)[1].lower() == key}
    return hits.pop() if len(hits) == 1 else None


def name_error(kind: str, name: str, names: Mapping[str, str], hint: str = "") -> UnknownNameError:
    """The error for a name that matched no id or alias exactly.

    Args:
        kind: Catalog kind (``platform``, ``model``...).
        name: The name as the user typed it.
        names: Every name -> canonical id (:func:`names_of`).
        hint: Where the names are listed (``eai platforms lists them``).

    Returns:
        An :class:`AmbiguousNameError` when two or more entries contain every word of the
        name, else an :class:`UnknownNameError` with ranked suggestions; ready to raise.
    """
    matches = full_matches(name, names, versioned=kind == "model")
    if len(matches) >= 2:
        return AmbiguousNameError(kind, name, matches, hint=hint)
    return UnknownNameError(kind, name, names, hint=hint, canonical=names)
