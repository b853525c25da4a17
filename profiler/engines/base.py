"""Contract between the sweep and an inference engine.

An engine turns a resolved model source and a quantization name into an lm-eval language
model (``lm_eval.api.model.LM``) that also counts the tokens of the requests it serves
(:class:`profiler.evaluate.TokenCounts`), plus the facts a row needs about that
deployment: how many devices it really runs on, which ones, the engine's release, the
weights' stored size and provenance.

Engines import their libraries (torch, llama_cpp, vllm) lazily, inside ``load``; importing
this package never does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from profiler.models import ModelSource


@dataclass(frozen=True)
class EngineOptions:
    """Deployment settings every engine receives.

    Attributes:
        device: ``cpu``, ``cuda`` or ``cuda:N`` (first CUDA device of the deployment).
        device_count: Devices the deployment spans: GPUs for ``device_map="auto"`` (HF) or
            tensor parallelism (vLLM); 1 on CPU.
        batch_size: Requests per forward pass (HF), or the engine's concurrent sequence cap
            (vLLM ``max_num_seqs``; llama.cpp serves one sequence at a time and needs 1).
        threads: CPU threads for the engine (None: its default).
        max_gen_toks: Cap on generated tokens (None: lm-eval's task default).
        n_ctx: Context window the engine allocates, tokens (llama.cpp; None: 2048).
    """

    device: str = "cpu"
    device_count: int = 1
    batch_size: int = 1
    threads: int | None = None
    max_gen_toks: int | None = None
    n_ctx: int | None = None


@dataclass
class LoadedModel:
    """A model loaded by an engine, ready for lm-eval.

    Attributes:
        lm: lm-eval ``LM`` with ``counts`` (:class:`~profiler.evaluate.TokenCounts`),
            ``reset_counts()`` and an ``on_progress`` attribute.
        engine: Schema ``Engine`` literal that ran it.
        engine_version: The engine's release (``llama_cpp.__version__``, vLLM's or
            transformers' version).
        params: Parameter count (tied weights once).
        weights_gb: Stored size of the weights as loaded, GB (1e9 bytes).
        cuda_devices: CUDA ordinals (as this process numbers them) that hold the model;
            empty on CPU. ``len`` is the row's ``device_count`` on GPU.
        note: Provenance of the weights for ``source_ref`` (names re-quantizations).
        flags: Quality flags the load itself implies (e.g. ``requantized``).
        extra_ref: ``key=value`` entries for ``source_ref`` (e.g. ``gguf_type=Q8_0``).
        close: Frees the engine's memory/processes; called by ``unload``.
    """

    lm: Any
    engine: str
    engine_version: str
    params: int
    weights_gb: float
    cuda_devices: tuple[int, ...] = ()
    note: str = ""
    flags: tuple[str, ...] = ()
    extra_ref: tuple[str, ...] = ()
    close: Callable[[], None] = field(default=lambda: None)

    @property
    def device_count(self) -> int:
        """Devices that really ran the model (1 for a CPU)."""
        return max(1, len(self.cuda_devices))


@runtime_checkable
class Engine(Protocol):
    """One inference engine (HF transformers, llama.cpp, vLLM)."""

    name: str
    """Schema ``Engine`` literal (``hf-transformers``, ``llama.cpp``, ``vllm``)."""

    def quantizations(self) -> tuple[str, ...]:
        """Quantization names this engine can load."""
        ...

    def check(self, source: ModelSource, quant: str, options: EngineOptions) -> None:
        """Raise ``UnsupportedCombinationError``/``InvalidInputError`` before anything loads."""
        ...

    def load(self, source: ModelSource, quant: str, options: EngineOptions) -> LoadedModel:
        """Load ``source`` as ``quant`` and wrap it for lm-eval."""
        ...
