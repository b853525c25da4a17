"""HF transformers engine: lm-eval's ``HFLM`` over a model from :mod:`profiler.quant`.

GGUF sources are dequantized to an fp32 checkpoint first (:func:`profiler.models.fp32_checkpoint`),
then loaded by the quantization's loader; with ``device_count`` > 1 the model is spread
over that many GPUs with ``device_map="auto"``, and the row's device count is the number
of GPUs accelerate really put layers on. ``random`` sources (``random:DIR``) are built from
their config with random weights on the device (fp32 / fp16 / bf16, one device) and flagged
``random-weights``.
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
        if source.kind == "random":
            from profiler.models import RANDOM_DTYPES
            from recommender.errors import UnsupportedCombinationError

            if quant not in RANDOM_DTYPES:
                raise UnsupportedCombinationError(
                    f"random weights run as {', '.join(RANDOM_DTYPES)}, not {quant!r}: a quantizer needs trained "
                    "weights; profile that quantization from a checkpoint"
                )
            if options.device_count > 1:
                raise UnsupportedCombinationError(
                    f"random weights are drawn on one device; device_count {options.device_count} needs a checkpoint"
                )
        if options.device_count > 1 and not options.device.startswith("cuda"):
            from recommender.errors import UnsupportedCombinationError

            raise UnsupportedCombinationError(
                f"device_count {options.device_count} needs CUDA devices; {options.device!r} is one device"
            )

    def load(self, source: ModelSource, quant: str, options: EngineOptions) -> LoadedModel:
        """Load through the quantization loader and wrap in a token-counting ``HFLM``."""
        from profiler.evaluate import make_lm
        from profiler.models import count_parameters, fp32_checkpoint, load_tokenizer, random_model
        from profiler.quant import cuda_devices_of, load_quantized, quant_summary

        if options.threads:
            import torch

            torch.set_num_threads(options.threads)
        checkpoint = fp32_checkpoint(source)
        if checkpoint not in self._params:
            self._params[checkpoint] = count_parameters(checkpoint)
        tokenizer = load_tokenizer(checkpoint)
        if source.kind == "random":
            self.check(source, quant, options)
            model = random_model(source, quant, options.device)
            _check_vocab(tokenizer, model.config.vocab_size, source)
        else:
            model = load_quantized(checkpoint, quant, options.device, options.device_count)
        devices = cuda_devices_of(model, options.device)
        lm = make_lm(model, tokenizer, batch_size=options.batch_size, count_generated_ids=source.kind == "random")
        return LoadedModel(
            lm=lm,
            engine=self.name,
            engine_version=version("transformers"),
            params=self._params[checkpoint],
            weights_gb=quant_summary(model).weight_bytes / 1e9,
            cuda_devices=devices,
            note=source.note,
            flags=("random-weights",) if source.kind == "random" else (),
        )


def _check_vocab(tokenizer: object, vocab_size: int, source: ModelSource) -> None:
    """Refuse a tokenizer whose ids do not fit the random model's embedding table."""
    from recommender.errors import DataSourceError

    ids = len(tokenizer)  # type: ignore[arg-type]
    if ids > vocab_size:
        raise DataSourceError(
            f"tokenizer in {source.location!r} has {ids} ids but the architecture's vocab_size is {vocab_size}; "
            "use a tokenizer with at most that many"
        )
