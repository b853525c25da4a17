"""Categorical helpers: string columns as (codes, few categories), never per-row strings.

pandas stores strings of a frame as Arrow strings; building or converting a million-row
string column costs about half a second. Candidate frames are therefore factorized once
into ``pd.Categorical`` and every lookup works on the (few) categories plus integer codes.

A per-category table is taken per row with ``np.take``, not indexed by the codes: numpy's
fancy indexing with the int8 codes of a Categorical cost twice as much (1.5 against 0.7 ms a
million rows); ``np.take`` reads code -1 (missing) as indexing does, the table's last entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd


def as_categorical(values: pd.Series | np.ndarray | pd.Categorical) -> pd.Categorical:
    """``values`` as a Categorical with string categories (one factorize pass)."""
    if isinstance(values, pd.Categorical):
        cat = values
    elif isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.array  # type: ignore[assignment]
    else:
        codes, uniq = pd.factorize(pd.Series(values) if isinstance(values, np.ndarray) else values)
        return pd.Categorical.from_codes(codes, categories=pd.Index(np.asarray(uniq, dtype=object).astype(str), dtype=object))
    # Whether every category is a string, from the categories' inferred type: pandas infers it
    # once per categories Index, which every Categorical taken from one column shares (a walk
    # over the categories took ~18 us a call for 150 models, ~1,500 calls per prediction).
    if len(cat.categories) and cat.categories.inferred_type != "string":
        cat = cat.rename_categories([str(c) for c in cat.categories])
    return cat


def parts(values: pd.Series | np.ndarray | pd.Categorical) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, categories)`` of ``values`` (categories as a numpy object array of str)."""
    cat = as_categorical(values)
    return np.asarray(cat.codes), np.asarray(cat.categories, dtype=object)


def level_index(values: pd.Series | np.ndarray | pd.Categorical) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, categories)``: per row, its category's position, with missing values at
    ``len(categories)``. A table of ``len(categories) + 1`` entries (the last for missing
    values) taken at ``rows`` gives one value per row."""
    codes, cats = parts(values)
    return np.where(codes < 0, len(cats), codes), cats


def among(labels: np.ndarray, allowed: Iterable[str]) -> np.ndarray:
    """Per label (a column's few categories), whether it is in ``allowed``: one set lookup per
    label, where ``np.isin`` sorts both sides on every call (tens of microseconds, hundreds of
    calls per prediction)."""
    known = set(allowed)
    return np.array([lab in known for lab in labels], dtype=bool)


def isin(values: pd.Series | np.ndarray | pd.Categorical, allowed: Iterable[str]) -> np.ndarray:
    """Boolean mask: row's value is in ``allowed`` (missing values are not)."""
    codes, cats = parts(values)
    # Missing values have code -1, which takes the table's last entry (False).
    return np.take(np.append(among(cats, allowed), False), codes)


def lookup(values: pd.Series | np.ndarray | pd.Categorical, mapping: Mapping[str, float], default: float = 0.0) -> np.ndarray:
    """Per-row float ``mapping[value]`` (``default`` for values not in it and missing ones)."""
    codes, cats = parts(values)
    return np.take(table_of(cats, mapping, default), codes)  # code -1 (missing) takes the last entry: default


def table_of(cats: Iterable[str], mapping: Mapping[str, float], default: float = 0.0) -> np.ndarray:
    """``mapping`` per category, plus ``default`` for missing values (see :func:`level_index`)."""
    return np.array([mapping.get(str(c), default) for c in cats] + [default], dtype=float)


def positions(values: pd.Series | np.ndarray | pd.Categorical, index: pd.Index) -> np.ndarray:
    """Position of each row's value in ``index`` (-1 where absent)."""
    codes, cats = parts(values)
    # An Index keeps the hash table get_indexer builds on it: a caller's own Index is searched as
    # it is (pd.Index of it would be a new one, its table built again on every call: ~0.1 ms for
    # a few thousand measured levels, some 200 calls a million-candidate prediction).
    target = index if isinstance(index, pd.Index) else pd.Index(index)
    return np.take(np.append(target.get_indexer(pd.Index(cats, dtype=object)), -1), codes)  # code -1 (missing): -1


def from_table(codes: np.ndarray, labels: Iterable[str]) -> pd.Categorical:
    """Categorical of ``labels[codes]`` without materializing the strings per row."""
    lab = pd.Index([str(x) for x in labels], dtype=object)
    uniq, inverse = np.unique(lab, return_inverse=True)
    return pd.Categorical.from_codes(np.take(inverse, codes), categories=pd.Index(uniq, dtype=object))
