"""HF transformers engine: lm-eval's ``HFLM`` over a model from :mod:`profiler.quant`.

GGUF sources are dequantized to an fp32 checkpoint first (:func:`profiler.models.fp32_checkpoint`),
then loaded by the quantization's loader; with ``device_count`` > 1 the model is spread
over that many GPUs with ``device_map="auto"``, and the row's device count is the number
of GPUs accelerate really put layers on.
"""

from __future__ import annotations

from importlib.metadata import version

from profiler.engines.base import EngineOptions, LoadedModel
from profiler.models import ModelSource


class HfEngine:
    """transformers + lm-eval ``HFLM`` (the profiler's original engine)."""

    name = "hf-transformers"

    def __init__(self) -> None:
        self._params: dict[str, int] = {}

    def quantizations(self) -> tuple[str, ...]:
        """Every quantization of :data:`profiler.quant.QUANT_METHODS`."""
        from profiler.quant import QUANT_METHODS

        return tuple(QUANT_METHODS)

    def check(self, source: ModelSource, quant: str, options: EngineOptions) -> None:
        """Quantization x device check of :func:`profiler.quant.check_combination`.

        Raises:
            UnsupportedCombinationError: The combination cannot run here.
        """
        from profiler.quant import check_combination

        check_combination(quant, options.device)
        if options.device_count > 1 and not options.device.startswith("cuda"):
            from recommender.errors import UnsupportedCombinationError

            raise UnsupportedCombinationError(
                f"device_count {options.device_count} needs CUDA devices; {options.device!r} is one device"
            )

    def load(self, source: ModelSource, quant: str, options: EngineOptions) -> LoadedModel:
        """Load through the quantization loader and wrap in a token-counting ``HFLM``."""
        from profiler.evaluate import make_lm
        from profiler.models import count_parameters, fp32_checkpoint, load_tokenizer
        from profiler.quant import cuda_devices_of, load_quantized, quant_summary

        if options.threads:
            import torch

            torch.set_num_threads(options.threads)
        checkpoint = fp32_checkpoint(source)
        if checkpoint not in self._params:
            self._params[checkpoint] = count_parameters(checkpoint)
        tokenizer = load_tokenizer(checkpoint)
        model = load_quantized(checkpoint, quant, options.device, options.device_count)
        devices = cuda_devices_of(model, options.device)
        lm = make_lm(model, tokenizer, batch_size=options.batch_size)
        return LoadedModel(
            lm=lm,
            engine=self.name,
            engine_version=version("transformers"),
            params=self._params[checkpoint],
            weights_gb=quant_summary(model).weight_bytes / 1e9,
            cuda_devices=devices,
            note=source.note,
        )
