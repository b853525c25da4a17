"""Categorical helpers: string columns as (codes, few categories), never per-row strings.

pandas stores strings of a frame as Arrow strings; building or converting a million-row
string column costs about half a second. Candidate frames are therefore factorized once
into ``pd.Categorical`` and every lookup works on the (few) categories plus integer codes.
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
    if not all(isinstance(c, str) for c in cat.categories):
        cat = cat.rename_categories([str(c) for c in cat.categories])
    return cat


def parts(values: pd.Series | np.ndarray | pd.Categorical) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, categories)`` of ``values`` (categories as a numpy object array of str)."""
    cat = as_categorical(values)
    return np.asarray(cat.codes), np.asarray(cat.categories, dtype=object)


def isin(values: pd.Series | np.ndarray | pd.Categorical, allowed: Iterable[str]) -> np.ndarray:
    """Boolean mask: row's value is in ``allowed`` (missing values are not)."""
    codes, cats = parts(values)
    ok = np.append(np.isin(cats, list(allowed)), False)
    return ok[np.where(codes < 0, len(cats), codes)]


def lookup(values: pd.Series | np.ndarray | pd.Categorical, mapping: Mapping[str, float], default: float = 0.0) -> np.ndarray:
    """Per-row float ``mapping[value]`` (``default`` for values not in it and missing ones)."""
    codes, cats = parts(values)
    table = np.array([mapping.get(str(c), default) for c in cats] + [default], dtype=float)
    return table[np.where(codes < 0, len(cats), codes)]


def positions(values: pd.Series | np.ndarray | pd.Categorical, index: pd.Index) -> np.ndarray:
    """Position of each row's value in ``index`` (-1 where absent)."""
    codes, cats = parts(values)
    table = np.append(pd.Index(index).get_indexer(pd.Index(cats, dtype=object)), -1)
    return table[np.where(codes < 0, len(cats), codes)]


def from_table(codes: np.ndarray, labels: Iterable[str]) -> pd.Categorical:
    """Categorical of ``labels[codes]`` without materializing the strings per row."""
    lab = pd.Index([str(x) for x in labels], dtype=object)
    uniq, inverse = np.unique(lab, return_inverse=True)
    return pd.Categorical.from_codes(inverse[codes], categories=pd.Index(uniq, dtype=object))
