"""Contract between the regressor and its users (rules, CLI, report).

A :class:`Predictor` takes candidate configurations and returns point
predictions with 90% prediction intervals and a provenance status per row.
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np
import pandas as pd

CANDIDATE_COLUMNS: tuple[str, ...] = (
    "platform",
    "device_count",
    "engine",
    "model_id",
    "quantization",
    "batch_size",
    "task",
)
"""Columns a candidate frame must have (canonical ids; ``task`` is a task or workload id)."""

OPTIONAL_CANDIDATE_COLUMNS: tuple[str, ...] = (
    "engine_version",
    "prompt_tokens_mean",
    "output_tokens_mean",
    "output_tokens_dispersion",
    "choices_mean",
    "forward_passes_mean",
    "fed_tokens_mean",
    "serving_mode",
    "pipeline_stages",
    "avg_batch_size",
)
"""Columns a candidate frame may add: the engine's release (default: the newest measured one),
token-profile overrides of the task catalog (NaN keeps the catalog's value) and the serving
mode (``offline``: a static batch submitted at once; ``online``: requests arriving at a server;
missing or NaN: unstated), the pipeline-parallel stages the devices form (missing or NaN: one)
and ``avg_batch_size``, the requests the server ran at once on average (at most ``batch_size``;
missing or NaN: ``batch_size``): a decode step runs those, whatever the configured limit."""

TARGETS: tuple[str, ...] = ("energy_j_per_query", "time_s_per_query", "accuracy", "eor", "tweor")
"""Predicted quantities; each comes with ``<name>_lo`` and ``<name>_hi`` (90% interval).

Units: energy_j_per_query in J (gross: idle draw included, summed over devices); time_s_per_query in s;
accuracy in [0, 1]; eor = accuracy * 100 / (Wh per 1,000 queries);
tweor = eor / time_s_per_query.
"""

Status = Literal["measured", "interpolated", "extrapolated"]

PREDICTION_COLUMNS: tuple[str, ...] = (
    *[f"{t}{s}" for t in TARGETS for s in ("", "_lo", "_hi")],
    "status",  # Status of the energy/time prediction
    "accuracy_status",  # "measured", "imputed" (from the model's other scores) or "prior" (family/size only)
    "accuracy_basis",  # text: which scores / quantization evidence the accuracy comes from
    "extrapolated_reasons",  # ';'-joined, e.g. "platform-unseen;engine-unseen;size-outside"
    # The engine release the energy and time were predicted at ("vllm@0.11"; "" for an engine
    # whose rows state none) and why that one: RELEASE_BASES.
    "engine_release",
    "engine_release_basis",
    # Queries sharing the devices over one query's latency (a static batch's queries, a server's
    # running requests): mean power = energy x this / time, throughput = this / time.
    "queries_in_flight",
)


RELEASE_BASES: tuple[str, ...] = ("stated", "assumed", "nearest", "peer", "none")
"""Values of ``engine_release_basis``: ``stated`` the candidate's own ``engine_version``;
``assumed`` none stated, so the newest release its engine was measured at (the interval also
holds what its other measured releases predict); ``nearest`` a stated release never measured
that lies between measured ones, predicted at the nearer (interval as for ``assumed``);
``peer`` an engine never measured, read as its measured continuous-batching peer at that
peer's newest release; ``none`` read as its engine's rows that state no release (they may
have run any; where the engine was also measured at a stated release, the interval holds what
that one predicts)."""


class Predictor(Protocol):
    """A fitted predictor of energy, time and accuracy for candidate configurations."""

    data_hash: str
    """SHA-256 of the measured table the predictor was fit on."""

    def predict(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """Predict every target for each candidate row.

        Args:
            candidates: Frame with at least :data:`CANDIDATE_COLUMNS`.

        Returns:
            Frame indexed like ``candidates`` with :data:`PREDICTION_COLUMNS`.
        """
        ...


def efficiency_intervals(
    a: np.ndarray, a_lo: np.ndarray, a_hi: np.ndarray,
    e: np.ndarray, e_lo: np.ndarray, e_hi: np.ndarray,
    t: np.ndarray, t_lo: np.ndarray, t_hi: np.ndarray,
) -> dict[str, np.ndarray]:
    """EOR and TWEOR with their 90 % intervals from accuracy, energy (J) and time (s) per query
    and theirs (:func:`recommender.model.intervals.efficiency_intervals`): for a caller that
    takes accuracy and energy from different predictions (a benchmark's score, a served
    workload's energy)."""
    from recommender.model.intervals import efficiency_intervals as _efficiency

    return _efficiency(a, a_lo, a_hi, e, e_lo, e_hi, t, t_lo, t_hi)


SHARED_RELEASE_BASES: tuple[str, ...] = ("assumed", "nearest")
"""Bases of an engine release the user did not state or that was never measured: every
candidate of that engine runs the same unknown release, so the part of their intervals it sets
(stage ``release_widening``) moves them alike."""


def release_free_predictor(predictor: object) -> object | None:
    """The predictor without the interval widening of an assumed engine release (stage
    ``release_widening``), for comparing candidates that share that release: None where the
    predictor has no such stage (``for_release_comparison`` not offered) or it is off."""
    make = getattr(predictor, "for_release_comparison", None)
    return make() if callable(make) else None


def comparison_intervals(predictor: object, predictions: pd.DataFrame) -> dict[str, np.ndarray]:
    """Interval ends for comparing candidates with each other: the reported ones without the
    predictor's campaign scale, which moves every candidate of one deployment alike
    (:func:`recommender.model.calibrate.comparison_intervals`; a predictor without one: the
    reported ends).

    Returns:
        ``<target>_lo`` / ``<target>_hi`` for energy, time, EOR and TWEOR.
    """
    from recommender.model.calibrate import comparison_intervals as _compare

    return _compare(predictions, getattr(predictor, "campaign", None))
