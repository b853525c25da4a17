"""The waiting devices of a layer split: what the devices a token is not in draw meanwhile.

HF transformers (``device_map``), FastChat (``--num-gpus``) and llama.cpp (``--split-mode
layer``) split a model by layers (:data:`recommender.model.physics.LAYER_SPLIT_ENGINES`): a token
passes the devices one after another, so one device computes while the others wait. The
features price the pass at one device's speed and power (``prior_*`` from ``power_draw_w``, a
hop per device boundary in ``t_comm_s``); this adds the waiting devices' draw, each at the least
a GPU holding a model draws (:data:`recommender.model.invariants.POWER_FLOOR_SHARE` of its
limit), over the query's latency shared by the queries in flight::

    E_wait = waiting devices x POWER_FLOOR_SHARE x TDP x T / queries in flight

The devices of pipeline stages past the model's layer count (a tensor-parallel engine's stages
place whole layers too) hold nothing and are charged the same way; the features run such a
pipeline as one of ``layers`` stages (test ``test_pipeline_stages_beyond_the_layers_add_power_not_speed``).

The interval ends take the time's ends (the two move together). Evidence: eai's H200 held
115-130 W with a model resident and idle, 0.16-0.19 of its 700 W (``data/measured.csv``,
``idle_power_w``), while serving at batch 1 drew 164-198 W under HF transformers; no shipped row
is a multi-device layer split, so no held-out figure moves. Charged before the invariants (the
bounds hold on the sum) and before stage ``anchor``, which scales the sum by the one-device
cells' measured / model ratio.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recommender.model import invariants
from recommender.model.prediction import QueryPrediction


def charge(q: QueryPrediction, cf: pd.DataFrame, feats: Any) -> QueryPrediction:
    """``q`` with the waiting devices' resident draw added to energy (point and ends).

    Args:
        q: Energy (J) and time (s) per query as composed from the parts.
        cf: Candidate frame of ``q``'s rows (``device_count``).
        feats: Their features (``waiting_devices``, ``power_w``, ``batch_running``).
    """
    waiting = np.asarray(feats["waiting_devices"], dtype=float)
    rows = np.flatnonzero(waiting > 0)
    if not len(rows):
        return q
    # The devices' limit per query in flight (invariants.power_limit_w), per device; a CPU's is
    # no limit (inf) and has no resident draw to charge.
    limit = invariants.power_limit_w(cf, feats)[rows] / np.maximum(cf["device_count"].to_numpy(dtype=float)[rows], 1.0)
    per_s = np.where(np.isfinite(limit), waiting[rows] * invariants.POWER_FLOOR_SHARE * limit, 0.0)
    e, e_lo, e_hi = (getattr(q, f).copy() for f in ("energy_j", "energy_lo_j", "energy_hi_j"))
    e[rows] += per_s * q.time_s[rows]
    e_lo[rows] += per_s * q.time_lo_s[rows]
    e_hi[rows] += per_s * q.time_hi_s[rows]
    return q.replace(energy_j=e, energy_lo_j=e_lo, energy_hi_j=e_hi)

