"""Inference engines the profiler measures under, behind one registry.

=================  ===================================================  =================
name               how requests run                                     needs
=================  ===================================================  =================
hf-transformers    lm-eval ``HFLM`` on a transformers model             torch, transformers
                   (``device_map="auto"`` across ``device_count`` GPUs)
llama.cpp          GGUF through ``llama-cpp-python``; our lm-eval       llama_cpp
                   ``TemplateLM`` adapter (loglikelihood + greedy
                   generation on the llama.cpp context)
vllm               lm-eval's own ``VLLM`` backend (``max_num_seqs``,    vllm (GPU)
                   ``tensor_parallel_size``)
=================  ===================================================  =================

Names map to lazy ``module:class`` strings, so importing this package imports none of those
libraries; an unknown name gets "did you mean".
"""

from __future__ import annotations

import importlib
from typing import Any

from profiler.engines.base import Engine, EngineOptions, LoadedModel
from recommender.errors import UnknownNameError

ENGINES: dict[str, str] = {
    "hf-transformers": "profiler.engines.hf:HfEngine",
    "llama.cpp": "profiler.engines.llamacpp:LlamaCppEngine",
    "vllm": "profiler.engines.vllm:VllmEngine",
}
"""Engine name (schema ``Engine`` literal) -> lazy ``module:class``."""

ENGINE_ALIASES: dict[str, str] = {
    "hf": "hf-transformers",
    "transformers": "hf-transformers",
    "huggingface": "hf-transformers",
    "llamacpp": "llama.cpp",
    "llama-cpp": "llama.cpp",
    "llama_cpp": "llama.cpp",
    "gguf": "llama.cpp",
}


def canonical_engine(name: str) -> str:
    """Canonical engine name of ``name`` or an alias.

    Raises:
        UnknownNameError: Not an engine (with "did you mean").
    """
    key = name.strip()
    if key in ENGINES:
        return key
    lowered = key.lower()
    if lowered in ENGINES:
        return lowered
    if lowered in ENGINE_ALIASES:
        return ENGINE_ALIASES[lowered]
    raise UnknownNameError("engine", key, [*ENGINES, *ENGINE_ALIASES])


def get_engine(name: str, **kwargs: Any) -> Engine:
    """Build the engine ``name`` (imports its module, not its heavy library).

    Raises:
        UnknownNameError: Unknown engine name.
    """
    module_name, cls_name = ENGINES[canonical_engine(name)].split(":")
    engine: Engine = getattr(importlib.import_module(module_name), cls_name)(**kwargs)
    return engine


__all__ = ["ENGINES", "ENGINE_ALIASES", "Engine", "EngineOptions", "LoadedModel", "canonical_engine", "get_engine"]
