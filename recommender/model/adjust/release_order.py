"""Stage ``release_order``: a release newer (older) than every measured one of its engine is
predicted no slower (faster) than the newest (oldest) measured release.

The fitted roofline already places such a release's per-layer cost on the right side
(:func:`recommender.model.roofline_fit.unseen_release_log_c`), but the ridge gives a release it
never saw no offset of its own, the average of the measured ones, which can undo that placement
where the newest release ran faster than the average. Engines are not expected to get slower with
a newer release; the interval (``release-unseen``) keeps its width. Only rows of such releases
are predicted again, at their anchor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.model import cats
from recommender.model.adjust import twins
from recommender.model.component import take_rows
from recommender.model.prediction import PartPrediction, Parts
from recommender.model.roofline_fit import past_range_neighbour

if TYPE_CHECKING:
    from recommender.model.predictor import EaiPredictor

STAGE = "release_order"


def apply(model: EaiPredictor, parts: Parts, cf: pd.DataFrame, feats: Any, borrow_twins: bool = False) -> Parts:
    """Parts with the points of out-of-range releases held at their nearest measured release.

    ``borrow_twins``: the ``twins`` stage ran before this one, so the anchor release's figure
    is taken as it borrows (a platform never measured under the engine, at its twin's).
    """
    codes, levels = cats.parts(cf["engine_release"])
    measured = model.measured_releases()
    anchors: dict[int, tuple[str, bool]] = {}
    for i, level in enumerate(str(x) for x in levels):
        past = past_range_neighbour(level, measured)
        if past is not None:
            anchors[i] = past
    out = dict(parts)
    for i, (anchor, newer) in anchors.items():
        rows = np.flatnonzero(codes == i)
        if not len(rows):
            continue
        sub_cf = cf.iloc[rows].assign(engine_release=pd.Categorical([anchor] * len(rows)))
        sub_feats = take_rows(feats, rows)
        at_anchor: Parts = {}
        for name, comp in model.components.items():
            comp_feats = model.component_feats(name, sub_feats, sub_cf)
            if name not in out or comp_feats is sub_feats:
                continue
            p_, h_, b_ = comp.predict(comp_feats)
            at_anchor[name] = PartPrediction(point=p_, log_half=h_, reason_bits=b_)
        if borrow_twins:
            # A platform that borrows its twin's departure from physics does so at the anchor
            # release too, or the twin's figure at this release would undo the bound.
            at_anchor, _ = twins.borrow(model, at_anchor, sub_cf, sub_feats)
        for name, part in at_anchor.items():
            point = out[name].point.copy()
            point[rows] = np.minimum(point[rows], part.point) if newer else np.maximum(point[rows], part.point)
            out[name] = out[name].replace(point=point)
    return out
