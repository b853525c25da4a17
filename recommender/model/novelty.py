"""What is unseen about a candidate, as reasons per row and as text.

The reasons (:data:`REASONS`) are set per component by
:meth:`recommender.model.component.ComponentModel.predict` against its training domain; each is
calibrated by its own held-out scheme. A query's reasons are those of the components that
make up at least :attr:`recommender.model.config.Tunables.prefill_share_for_reasons` of its
energy, decode bits low and prefill bits high in one integer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.component import REASONS, reason_text

__all__ = ["REASONS", "reason_text", "reasons_categorical", "with_label", "with_twins"]


def with_twins(reasons: pd.Categorical, twin_of: np.ndarray, extrapolated: np.ndarray) -> pd.Categorical:
    """``reasons`` plus ``twin:<platform>`` on extrapolated rows whose point came from a twin."""
    return with_label(reasons, twin_of, extrapolated, "twin:")


def with_label(reasons: pd.Categorical, values: np.ndarray, rows: np.ndarray, prefix: str) -> pd.Categorical:
    """``reasons`` plus ``<prefix><value>`` on ``rows`` whose ``values`` entry is not empty
    (``twin:a100-sxm4-40gb``, ``power-at:vllm@0.5``)."""
    rows = np.flatnonzero(rows & (values != ""))
    if not len(rows):
        return reasons
    # One label per distinct (reasons, value) pair, not per row. The values are coded on the
    # labelled rows alone (a few of a million), every other row at code 0, the empty value.
    codes_at, uniq_at = pd.factorize(values[rows])
    value_codes = np.zeros(len(values), dtype=np.int64)
    value_codes[rows] = codes_at + 1
    uniq_values = np.concatenate([np.array([""], dtype=object), np.asarray(uniq_at, dtype=object)])
    pair = np.asarray(reasons.codes, dtype=np.int64) * (len(uniq_values) + 1) + value_codes
    inverse, uniq = pd.factorize(pair)
    labels = []
    for p in uniq:
        r = str(reasons.categories[p // (len(uniq_values) + 1)])
        v = str(uniq_values[p % (len(uniq_values) + 1)])
        labels.append(";".join(x for x in (r, f"{prefix}{v}" if v else "") if x))
    return cats.from_table(np.asarray(inverse), labels)


def reasons_categorical(bits: np.ndarray) -> pd.Categorical:
    """Reason text per row from decode (low) and prefill (high) bit patterns."""
    # Bit patterns are small integers: a bincount finds the distinct ones without sorting.
    present = np.flatnonzero(np.bincount(bits, minlength=1)) if len(bits) else np.zeros(0, dtype=np.int64)
    lookup = np.zeros(int(present.max()) + 1 if len(present) else 1, dtype=np.int64)
    lookup[present] = np.arange(len(present))
    uniq, inverse = present, lookup[bits]
    n = len(REASONS)
    mask = (1 << n) - 1
    labels = []
    for b in uniq:
        dec = reason_text(np.array([b & mask]))[0]
        pre = reason_text(np.array([b >> n]), prefix="prefill:")[0]
        labels.append(";".join(x for x in (dec, pre) if x))
    return cats.from_table(inverse.ravel(), labels)


