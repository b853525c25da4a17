"""Every switch and every hand-set constant of the energy/time pipeline, in one place.

A :class:`PipelineConfig` travels with a fitted predictor (it is part of the saved state), so a
loaded model predicts with the stages it was fitted with, and ``eai evaluate --without STAGE``
refits the whole pipeline with that stage switched off to reproduce an ablation.

Stages (see ``docs/model.md`` for the diagram and the evidence behind each):

Fit-time stages (they change what is fitted):

- ``fitted_roofline``: decode components regress on a roofline whose achieved bandwidth and
  throughput shares and per-layer cost per engine release are fitted
  (:mod:`recommender.model.roofline_fit`); off: the raw peak-figure roofline prior.
- ``sequence_cost``: the time and energy rooflines also fit a host cost per running sequence
  per step, per engine release (scheduling, sampling and detokenizing each sequence on the CPU: what
  vLLM 0.6.0's release overlapped with the GPU); needs ``fitted_roofline``.
- ``prompt_energy``: the energy roofline charges each query's prompt pass at its raw roofline
  cost (peak throughput at TDP, not fitted); needs ``fitted_roofline``.
- ``phase_power_cap``: the energy roofline is fitted after the time roofline, each phase's
  energy factor (weight reads, KV reads, compute, per-layer and per-sequence host costs) at most
  that phase's time factor and at least the idle share of it, so that no phase draws more than
  the board's limit nor less than an idle GPU; needs ``fitted_roofline``.
- ``layer_kernel_cost``: the time and energy rooflines also fit a per-layer cost per step for
  each quantization kernel path (the catalog's ``layer_kernel``: bitsandbytes' LLM.int8(), int8
  and 4-bit wrappers around every linear layer) on rows of engines that launch kernels from
  Python; off: that cost is folded into the engine's own per-layer cost; needs ``fitted_roofline``.
- ``smoother``: local residual smoother over models of the same layer design
  (:mod:`recommender.model.smoother`).
- ``blend``: geometric blend with roofline x constant for extrapolated rows, weighted per
  novelty by held-out residuals (:func:`recommender.model.component._blend_weights`).
- ``cpu_model``: CPU rows get their own roofline x constant model instead of bending the
  accelerator ridge.
- ``regime_widths``: per-engine (Mondrian) interval widths next to the pooled ones.
- ``campaign_scale``: every energy and time interval widened by what holding out each
  measurement campaign and refitting the whole pipeline showed
  (:mod:`recommender.model.calibrate`); a user's deployment is a campaign never seen.
- ``answer_length``: a candidate that states no output length takes its model's measured
  length on the task, or the task's scaled by the model's verbosity on the other tasks of the
  campaign that measured it (:mod:`recommender.model.answer_length`); off: the task's length.

Predict-time stages (they adjust per-component or per-query predictions, in this order):

- ``twins`` (:mod:`recommender.model.adjust.twins`)
- ``release_order`` (:mod:`recommender.model.adjust.release_order`)
- ``release_widening`` (:mod:`recommender.model.adjust.release_widening`)
- ``batch_floor`` (:mod:`recommender.model.adjust.batch_floor`): below its engine's smallest
  measured batch a decode step is no slower and no costlier than at that batch.
- ``anchor`` (:mod:`recommender.model.adjust.anchor`): a deployment measured at other batch
  sizes anchors the model to its measurements (ratio interpolated in log batch).
- ``sibling`` (:mod:`recommender.model.adjust.sibling`): a deployment never measured whose
  model, engine release, quantization, task and device count were measured on other platforms
  takes the model times their measured / model ratio (geometric mean over those platforms).
- ``release_power`` (:mod:`recommender.model.adjust.release_power`): a GPU asked at an engine
  release it never ran (measured under that engine at other releases, or a twin was) is predicted
  at the geometric middle of the model's energy and its time x the power the GPU draws at its
  own release; the energy interval spans both.
- ``measured`` (:mod:`recommender.model.adjust.measured`): measured cells return their
  measurement (cross-validation always switches it off).

Physical invariants (:mod:`recommender.model.invariants`) are not stages: they hold for every
prediction whatever is switched off.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from recommender.errors import UnknownNameError

StageName = Literal[
    "fitted_roofline",
    "sequence_cost",
    "prompt_energy",
    "phase_power_cap",
    "layer_kernel_cost",
    "smoother",
    "blend",
    "cpu_model",
    "regime_widths",
    "campaign_scale",
    "answer_length",
    "twins",
    "release_order",
    "release_widening",
    "batch_floor",
    "anchor",
    "sibling",
    "release_power",
    "measured",
]
STAGES: tuple[str, ...] = get_args(StageName)
"""Every switchable stage, fit-time ones first, then predict-time ones in their order."""

FIT_STAGES: tuple[str, ...] = (
    "fitted_roofline", "sequence_cost", "prompt_energy", "phase_power_cap", "layer_kernel_cost", "smoother", "blend", "cpu_model",
    "regime_widths", "campaign_scale", "answer_length",
)
PREDICT_STAGES: tuple[str, ...] = (
    "twins", "release_order", "release_widening", "batch_floor", "anchor", "sibling", "release_power", "measured",
)


class Tunables(BaseModel):
    """Hand-set constants of the stages, each with its source, read from the predictor's config. Values that are
    fitted live in the state; the fit's own constants (conformal level, fold caps, smoother
    bandwidths, the release prior) are documented next to their code (component.py,
    conformal.py, smoother.py, roofline_fit.py) and listed in docs/model.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    twin_tolerance_log: float = Field(
        0.15, gt=0.0,
        description=(
            "Largest |log ratio| of TDP and dense fp16 throughput for two platforms of one class and "
            "architecture generation (major compute capability and architecture name) to count as twins. Set so that the catalogued pairs running the same "
            "die at the same power (RTX 4090 / 4090 D: 450 vs 425 W, -12% tensor cores; A100 SXM 40/80 GB; "
            "H100 SXM / H200: same 989 TFLOPS and 700 W) pair up and no two generations do."
        ),
    )
    prefill_share_for_reasons: float = Field(
        0.2, gt=0.0, lt=1.0,
        description=(
            "A component's extrapolation reasons are reported where it makes up at least this share "
            "of a query's energy (a labelling threshold; it changes no number)."
        ),
    )


class PipelineConfig(BaseModel):
    """Which stages run and the constants they use.

    Attributes:
        without: Stages switched off (``eai evaluate --without STAGE``).
        tunables: Hand-set constants with their sources.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    without: frozenset[StageName] = frozenset()
    tunables: Tunables = Tunables()

    def on(self, stage: str) -> bool:
        """Whether ``stage`` runs (raises on a name that is not a stage)."""
        if stage not in STAGES:
            raise UnknownNameError("stage", stage, STAGES)
        return stage not in self.without

    def to_state(self) -> dict:
        """JSON-able form (stored with the fitted state)."""
        return {"without": sorted(self.without), "tunables": self.tunables.model_dump()}

    @classmethod
    def from_state(cls, state: dict | None) -> PipelineConfig:
        """Rebuild from :meth:`to_state` output (None: the default pipeline)."""
        return cls() if not state else cls.model_validate({"without": frozenset(state.get("without", ())), "tunables": state.get("tunables", {})})

    @classmethod
    def without_stages(cls, names: list[str] | tuple[str, ...]) -> PipelineConfig:
        """A config with ``names`` switched off; unknown names get a did-you-mean error."""
        for n in names:
            if n not in STAGES:
                raise UnknownNameError("stage", n, STAGES)
        return cls(without=frozenset(names))
