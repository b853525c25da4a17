"""vLLM engine: lm-eval's own ``VLLM`` backend (``lm_eval.models.vllm_causallms``).

The model is built the way ``lm_eval --model vllm --model_args ...`` builds it, with:

- ``tensor_parallel_size`` = the deployment's ``device_count`` (vLLM starts one worker per
  GPU; the energy meter reads every one of them);
- ``max_num_seqs`` = the sweep's ``batch_size`` (vLLM's cap on concurrently scheduled
  sequences) and lm-eval ``batch_size="auto"``, so every request of a task is handed to
  vLLM at once and its scheduler batches them, as an offline deployment would;
- ``dtype`` / ``quantization`` from the quantization name; AWQ and GPTQ load the checkpoint
  the model catalog names for them (``checkpoints``), quantized offline by its publisher.

Token counting wraps the backend's ``_model_generate`` (token ids in, ``RequestOutput``
out), so fed and generated tokens are what vLLM really processed. vLLM is not importable
without a GPU; the tests drive the wrapper with fakes shaped like lm-eval's class and
vLLM's ``RequestOutput``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from profiler.engines.base import EngineOptions, LoadedModel
from profiler.models import ModelSource
from recommender.errors import UnsupportedCombinationError

QUANT_ARGS: dict[str, dict[str, Any]] = {
    # quantization name -> lm-eval VLLM keyword arguments (vLLM EngineArgs names).
    "fp16": {"dtype": "float16"},
    "bf16": {"dtype": "bfloat16"},
    "fp32": {"dtype": "float32"},
    "fp8": {"dtype": "auto", "quantization": "fp8"},
}
"""What each quantization means to vLLM. ``fp8`` is vLLM's dynamic FP8 weight quantization
(W8A8 on Hopper/Ada, weight-only FP8 Marlin on older GPUs)."""

PREQUANTIZED_ARGS: dict[str, dict[str, Any]] = {
    "awq-int4": {"dtype": "float16"},
    "gptq-int4": {"dtype": "float16"},
}
"""Quantizations vLLM loads from a checkpoint quantized offline (the catalog model's
``checkpoints``). No ``quantization`` argument: vLLM reads the method from the checkpoint's
``quantization_config`` and runs it with its Marlin kernels where the GPU has them (Ampere and
newer), its own AWQ / GPTQ kernels otherwise; activations are fp16 either way."""


def prequantized_checkpoint(model_id: str, quant: str) -> str:
    """Hugging Face id of the catalogued checkpoint of ``model_id`` quantized offline in ``quant``.

    Raises:
        UnsupportedCombinationError: The model is not catalogued, or its entry names no such
            checkpoint (the message says where to add one).
    """
    from recommender.catalog import resolve_model
    from recommender.errors import UnknownNameError

    try:
        spec = resolve_model(model_id)
    except UnknownNameError as exc:
        raise UnsupportedCombinationError(
            f"engine 'vllm' loads {quant} from a checkpoint quantized offline, found through the model catalog, "
            f"which does not know {model_id!r}: {exc}"
        ) from exc
    repo = spec.checkpoints.get(quant)
    if repo is None:
        have = f" (it names {', '.join(f'{q}: {r}' for q, r in spec.checkpoints.items())})" if spec.checkpoints else ""
        raise UnsupportedCombinationError(
            f"engine 'vllm' loads {quant} from a checkpoint quantized offline, and the catalog names none for "
            f"{spec.id!r}{have}; add 'checkpoints: {{{quant}: ORG/NAME}}' to its entry in data/models.yaml"
        )
    return repo


def model_args(source: ModelSource, quant: str, options: EngineOptions, pretrained: str,
               gpu_memory_utilization: float = 0.9) -> dict[str, Any]:
    """Keyword arguments for ``lm_eval.models.vllm_causallms.VLLM``.

    Names other than lm-eval's own parameters pass through its ``**kwargs`` into vLLM's
    ``LLM(...)`` (``max_num_seqs``, ``gpu_memory_utilization``, ``enforce_eager``).
    """
    args: dict[str, Any] = {
        "pretrained": pretrained,
        "tensor_parallel_size": int(options.device_count),
        "batch_size": "auto",
        "max_num_seqs": int(options.batch_size),
        "gpu_memory_utilization": float(gpu_memory_utilization),
        "seed": 1234,
    }
    if options.max_gen_toks:
        args["max_gen_toks"] = int(options.max_gen_toks)
    if source.kind == "random":
        # vLLM's own benchmarking loader: weights drawn at load, config and tokenizer read from the directory.
        args["load_format"] = "dummy"
    args.update(QUANT_ARGS[quant] if quant in QUANT_ARGS else PREQUANTIZED_ARGS[quant])
    return args


def counting_class(base: type) -> type:
    """Subclass of lm-eval's ``VLLM`` (or a fake of it) that tallies tokens and progress."""
    from profiler.evaluate import TokenCounts

    class CountingVLLM(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.counts = TokenCounts()
            self.on_progress: Callable[[int, int], None] | None = None

        def reset_counts(self) -> None:
            self.counts = TokenCounts()

        def _n_tokens(self, text: str) -> int:
            return len(self.tok_encode(text))

        def _model_generate(self, requests, generate=False, sampling_params=None):  # noqa: ANN001, ANN202
            outputs = super()._model_generate(requests, generate=generate, sampling_params=sampling_params)
            # Prompt positions vLLM ran (its prefix cache may skip some; vLLM does not
            # report that per request, so this is an upper bound) + generated tokens.
            self.counts.fed += sum(len(r) for r in requests)
            if generate:
                self.counts.fed += sum(len(o.outputs[0].token_ids) for o in outputs)
            if self.on_progress:
                self.on_progress(len(requests), len(requests))
            return outputs

        def loglikelihood(self, requests, disable_tqdm: bool = False):  # noqa: ANN001, ANN201
            for r in requests:
                context, continuation = r.args[0], r.args[1]
                key = (r.task_name, r.doc_id)
                self.counts.add_context(key, context, self._n_tokens)
                self.counts.prompt[key] += self._n_tokens(continuation)
            self.counts.requests += len(requests)
            return super().loglikelihood(requests, disable_tqdm=True)

        def generate_until(self, requests, disable_tqdm: bool = False):  # noqa: ANN001, ANN201
            out = super().generate_until(requests, disable_tqdm=True)
            for r, text in zip(requests, out, strict=True):
                key = (r.task_name, r.doc_id)
                self.counts.add_context(key, r.args[0], self._n_tokens)
                self.counts.output[key] += self._n_tokens(text)
            self.counts.requests += len(requests)
            return out

    return CountingVLLM


def vllm_version() -> str:
    """Installed vLLM release.

    Raises:
        UnsupportedCombinationError: vLLM is not installed.
    """
    try:
        return version("vllm")
    except PackageNotFoundError as exc:
        raise UnsupportedCombinationError(
            "engine 'vllm' needs vLLM on a CUDA machine: pip install 'eai[vllm]'"
        ) from exc


class VllmEngine:
    """lm-eval's vLLM backend with tensor parallelism over ``device_count`` GPUs.

    Args:
        backend: lm-eval's ``VLLM`` class (imported from ``lm_eval.models.vllm_causallms``
            when None; tests pass a fake).
        gpu_memory_utilization: Share of each GPU's memory vLLM may take.
    """

    name = "vllm"

    def __init__(self, backend: type | None = None, gpu_memory_utilization: float = 0.9) -> None:
        self._backend = backend
        self.gpu_memory_utilization = gpu_memory_utilization

    def quantizations(self) -> tuple[str, ...]:
        """Quantization names vLLM runs here (:data:`QUANT_ARGS`, and :data:`PREQUANTIZED_ARGS`
        for models whose catalog entry names such a checkpoint)."""
        return (*QUANT_ARGS, *PREQUANTIZED_ARGS)

    def check(self, source: ModelSource, quant: str, options: EngineOptions) -> None:
        """Refuse what vLLM cannot run, before loading.

        Raises:
            UnsupportedCombinationError: CPU device, unknown quantization, a first GPU other
                than the first visible one, a quantization done offline that the model has no
                catalogued checkpoint of (or a source that is not a Hugging Face checkpoint),
                or vLLM missing.
        """
        if not options.device.startswith("cuda"):
            raise UnsupportedCombinationError(
                f"engine 'vllm' runs on CUDA GPUs; device {options.device!r} is not one (use hf-transformers or llama.cpp)"
            )
        if quant not in self.quantizations():
            raise UnsupportedCombinationError(
                f"engine 'vllm' cannot run quantization {quant!r}; it runs {', '.join(self.quantizations())}"
            )
        if quant in PREQUANTIZED_ARGS:
            if source.kind != "hf":
                raise UnsupportedCombinationError(
                    f"engine 'vllm' loads {quant} from a checkpoint quantized offline; model source kind "
                    f"{source.kind!r} ({source.note}) is not one: name the catalogued model id"
                )
            prequantized_checkpoint(source.model_id, quant)
        if options.device not in ("cuda", "cuda:0"):
            raise UnsupportedCombinationError(
                f"vLLM places its {options.device_count} worker(s) on the first visible GPUs; instead of "
                f"{options.device!r} set CUDA_VISIBLE_DEVICES and use device 'cuda'"
            )
        if self._backend is None:
            vllm_version()

    def _backend_class(self) -> type:
        if self._backend is not None:
            return self._backend
        from lm_eval.models.vllm_causallms import VLLM

        return VLLM

    def load(self, source: ModelSource, quant: str, options: EngineOptions) -> LoadedModel:
        """Build lm-eval's VLLM with counting; its GPUs are ordinals 0..device_count-1."""
        self.check(source, quant, options)
        from profiler.models import count_parameters, fp32_checkpoint

        # AWQ / GPTQ: the publisher's calibrated checkpoint; the rest from the model's own weights.
        checkpoint = prequantized_checkpoint(source.model_id, quant) if quant in PREQUANTIZED_ARGS else None
        pretrained = checkpoint or fp32_checkpoint(source)
        cls = counting_class(self._backend_class())
        lm = cls(**model_args(source, quant, options, pretrained, self.gpu_memory_utilization))
        engine_version = vllm_version() if self._backend is None else getattr(self._backend, "version", "fake")

        def close() -> None:
            # vLLM keeps worker processes and GPU memory until its engine is deleted.
            model = getattr(lm, "model", None)
            if model is not None and hasattr(model, "llm_engine"):
                del model.llm_engine
            lm.model = None

        from recommender.catalog import get_quants

        # Stored bytes per weight as the quantization catalog states them (fp8: 1, bf16: 2...).
        bytes_per = get_quants()[quant].bytes_per_weight
        flags = ("random-weights",) if source.kind == "random" else ()
        params = count_parameters(pretrained)
        return LoadedModel(
            lm=lm,
            engine=self.name,
            engine_version=str(engine_version),
            params=params,
            weights_gb=params * bytes_per / 1e9,
            cuda_devices=tuple(range(options.device_count)),
            note=f"{source.note}; weights quantized offline: {checkpoint}" if checkpoint else source.note,
            extra_ref=(f"tensor_parallel_size={options.device_count}", f"max_num_seqs={options.batch_size}",
                       f"cuda_visible_devices={os.environ.get('CUDA_VISIBLE_DEVICES', 'all')}",
                       *((f"checkpoint={checkpoint}",) if checkpoint else ())),
            flags=flags,
            close=close,
        )
