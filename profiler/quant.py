"""Quantization registry: canonical names -> lazy loaders, with device checks before loading.

Every loader starts from an fp32-readable checkpoint (see :func:`profiler.models.fp32_checkpoint`)
and returns a model on the requested device:

=============  ==========================================================  ============
name           what happens                                                devices
=============  ==========================================================  ============
fp32           ``from_pretrained(dtype=float32)``                          cpu, cuda
fp16           ``from_pretrained(dtype=float16)``                          cpu*, cuda
bf16           ``from_pretrained(dtype=bfloat16)``                         cpu*, cuda
int8-bnb       bitsandbytes LLM.int8(), ``load_in_8bit``, threshold 6.0    cpu, cuda
int8-bnb-t0    same with ``llm_int8_threshold=0`` (no fp16 outlier path)   cpu, cuda
nf4-bnb        bitsandbytes 4-bit NF4 (``load_in_4bit``)                   cpu, cuda
fp4-bnb        bitsandbytes 4-bit FP4                                      cpu, cuda
dynamic-int8   ``torch.ao`` dynamic int8 of ``nn.Linear`` except lm_head    cpu
=============  ==========================================================  ============

``*``: only where a small probe matmul in that dtype runs on this CPU.

:func:`check_combination` raises :class:`UnsupportedCombinationError` naming the combination
and what would work, before any weights are read. Loaders are import strings resolved only
when used, so importing this module does not import torch.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recommender.errors import InvalidInputError, UnknownNameError, UnsupportedCombinationError

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True)
class QuantMethod:
    """One quantization method the profiler can load.

    Attributes:
        name: Canonical name (a ``recommender.table.schema.Quantization`` value).
        loader: ``"module:function"`` import string of ``fn(checkpoint, device) -> model``.
        devices: Device types it runs on (``cpu``, ``cuda``).
        requires: Python modules that must be importable.
        description: One line for listings and ``source_ref``.
        nominal_bits: Bits per weight of the quantized Linear layers.
    """

    name: str
    loader: str
    devices: frozenset[str]
    requires: tuple[str, ...] = field(default=())
    description: str = ""
    nominal_bits: int = 32


_BNB = ("bitsandbytes", "accelerate")

QUANT_METHODS: dict[str, QuantMethod] = {
    q.name: q
    for q in (
        QuantMethod("fp32", "profiler.quant:load_fp32", frozenset({"cpu", "cuda"}),
                    description="float32 weights and compute", nominal_bits=32),
        QuantMethod("fp16", "profiler.quant:load_fp16", frozenset({"cpu", "cuda"}),
                    description="float16 weights and compute", nominal_bits=16),
        QuantMethod("bf16", "profiler.quant:load_bf16", frozenset({"cpu", "cuda"}),
                    description="bfloat16 weights and compute", nominal_bits=16),
        QuantMethod("int8-bnb", "profiler.quant:load_int8_bnb", frozenset({"cpu", "cuda"}), _BNB,
                    "bitsandbytes LLM.int8() load_in_8bit, llm_int8_threshold=6.0", 8),
        QuantMethod("int8-bnb-t0", "profiler.quant:load_int8_bnb_t0", frozenset({"cpu", "cuda"}), _BNB,
                    "bitsandbytes load_in_8bit, llm_int8_threshold=0 (no outlier decomposition)", 8),
        QuantMethod("nf4-bnb", "profiler.quant:load_nf4_bnb", frozenset({"cpu", "cuda"}), _BNB,
                    "bitsandbytes load_in_4bit nf4", 4),
        QuantMethod("fp4-bnb", "profiler.quant:load_fp4_bnb", frozenset({"cpu", "cuda"}), _BNB,
                    "bitsandbytes load_in_4bit fp4", 4),
        QuantMethod("dynamic-int8", "profiler.quant:load_dynamic_int8", frozenset({"cpu"}), (),
                    "torch.ao dynamic int8 quantization of nn.Linear except lm_head (fp32 activations)", 8),
    )
}


def get_quant(name: str) -> QuantMethod:
    """Look up a quantization method by canonical name (case-insensitive).

    Raises:
        UnknownNameError: With close matches ("did you mean").
    """
    key = name.strip().lower()
    if key not in QUANT_METHODS:
        raise UnknownNameError("quantization", name, QUANT_METHODS)
    return QUANT_METHODS[key]


def parse_device(device: str) -> tuple[str, int | None]:
    """Split ``cpu`` / ``cuda`` / ``cuda:N`` into (type, index).

    Raises:
        InvalidInputError: For anything else.
    """
    d = device.strip().lower()
    if d == "cpu":
        return "cpu", None
    if d == "cuda":
        return "cuda", 0
    if d.startswith("cuda:") and d[5:].isdigit():
        return "cuda", int(d[5:])
    raise InvalidInputError(f"device {device!r} is not 'cpu', 'cuda' or 'cuda:N'")


def _cpu_dtype_works(dtype_name: str) -> bool:
    """Run a tiny matmul + softmax in ``dtype`` on the CPU; False if this build/CPU refuses."""
    import torch

    dtype = getattr(torch, dtype_name)
    try:
        a = torch.ones(4, 4, dtype=dtype)
        torch.softmax(a @ a, dim=-1)
    except (RuntimeError, TypeError, NotImplementedError):
        return False
    return True


def _alternatives(device_type: str) -> list[str]:
    return [n for n, q in QUANT_METHODS.items() if device_type in q.devices]


def check_combination(name: str, device: str) -> QuantMethod:
    """Verify that quantization ``name`` can run on ``device``, before anything is loaded.

    Args:
        name: Quantization name.
        device: ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        The quantization method.

    Raises:
        UnknownNameError: Unknown quantization name.
        InvalidInputError: Malformed device.
        UnsupportedCombinationError: The combination cannot run here; the message names it
            and what would work.
    """
    method = get_quant(name)
    device_type, index = parse_device(device)
    combo = f"{method.name} on {device}"
    if device_type not in method.devices:
        others = ", ".join(_alternatives(device_type))
        where = ", ".join(sorted(method.devices))
        raise UnsupportedCombinationError(
            f"{combo} is not supported: {method.name} runs on {where} only; "
            f"on {device_type} use one of: {others}"
        )
    missing = [m for m in method.requires if importlib.util.find_spec(m) is None]
    if missing:
        raise UnsupportedCombinationError(
            f"{combo} needs the Python package(s) {', '.join(missing)}; install them "
            f"('.venv/bin/pip install {' '.join(missing)}') or use fp32/fp16/bf16"
            + (" or dynamic-int8" if device_type == "cpu" else "")
        )
    if device_type == "cuda":
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index is None or index >= count:
            raise UnsupportedCombinationError(
                f"{combo}: no such CUDA device ({count} visible); use --device cpu with one of: "
                + ", ".join(_alternatives("cpu"))
            )
    if device_type == "cpu" and method.name in {"fp16", "bf16"}:
        dtype_name = "float16" if method.name == "fp16" else "bfloat16"
        if not _cpu_dtype_works(dtype_name):
            raise UnsupportedCombinationError(
                f"{combo}: this CPU/torch build cannot run {dtype_name} matmuls; use fp32, "
                "dynamic-int8 or a bitsandbytes quantization"
            )
    return method


def resolve_loader(method: QuantMethod) -> Callable[[str, str], Any]:
    """Import and return the loader function of ``method``."""
    module_name, func_name = method.loader.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def load_quantized(checkpoint: str, quant: str, device: str, device_count: int = 1) -> Any:
    """Check the combination, then load ``checkpoint`` quantized as ``quant`` onto ``device``.

    Args:
        checkpoint: Hugging Face id or local directory with fp32-readable weights.
        quant: Quantization name.
        device: ``cpu``, ``cuda`` or ``cuda:N`` (the first GPU of the deployment).
        device_count: GPUs to spread the model over with ``device_map="auto"``: the
            ``device_count`` CUDA ordinals from ``device``'s on. 1 places it on ``device``.

    Returns:
        A ``transformers`` causal LM in eval mode. Which GPUs really hold layers is in
        ``model.hf_device_map`` (see :func:`cuda_devices_of`).

    Raises:
        UnsupportedCombinationError: More than one device on a CPU, or fewer GPUs visible
            than asked for.
    """
    method = check_combination(quant, device)
    device_type, index = parse_device(device)
    if device_count < 1:
        raise InvalidInputError(f"device_count must be >= 1, got {device_count}")
    if device_count > 1:
        if device_type != "cuda" or method.name == "dynamic-int8":
            raise UnsupportedCombinationError(
                f"{method.name} on {device} x{device_count}: only CUDA deployments span several devices"
            )
        import torch

        visible = torch.cuda.device_count()
        first = index or 0
        if first + device_count > visible:
            raise UnsupportedCombinationError(
                f"{device_count} GPUs from cuda:{first} asked for, but only {visible} are visible"
            )
    loader = resolve_loader(method)
    model = loader(checkpoint, device, device_count) if device_count > 1 else loader(checkpoint, device)
    model.eval()
    return model


def placement(device: str, device_count: int = 1) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments that place a model.

    One device: ``device_map={"": device}``. Several GPUs: ``device_map="auto"`` with
    ``max_memory`` limited to the ``device_count`` ordinals from ``device`` on, so
    accelerate splits the layers over exactly those GPUs (and none other visible).
    """
    if device_count <= 1:
        return {"device_map": {"": device}}
    import torch

    _, index = parse_device(device)
    first = index or 0
    max_memory: dict[int | str, int] = {
        i: int(torch.cuda.get_device_properties(i).total_memory * 0.9) for i in range(first, first + device_count)
    }
    return {"device_map": "auto", "max_memory": max_memory}


def cuda_devices_of(model: Any, device: str) -> tuple[int, ...]:
    """CUDA ordinals holding ``model``'s layers (empty on CPU).

    Reads accelerate's ``hf_device_map`` where the model was dispatched over several
    devices; otherwise the device of its parameters.
    """
    device_map = getattr(model, "hf_device_map", None)
    if isinstance(device_map, dict) and device_map:
        ordinals: set[int] = set()
        for where in device_map.values():
            if isinstance(where, int):
                ordinals.add(where)
            elif isinstance(where, str) and where.startswith("cuda"):
                ordinals.add(parse_device(where)[1] or 0)
        return tuple(sorted(ordinals))
    device_type, index = parse_device(device)
    return () if device_type == "cpu" else (index or 0,)


# --------------------------------------------------------------------------- loaders


def _load_dtype(checkpoint: str, device: str, dtype: torch.dtype, device_count: int = 1) -> Any:
    from transformers import AutoModelForCausalLM

    if device_count <= 1:
        model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=dtype)
        return model.to(device)
    return AutoModelForCausalLM.from_pretrained(checkpoint, dtype=dtype, **placement(device, device_count))


def load_fp32(checkpoint: str, device: str, device_count: int = 1) -> Any:
    """fp32 weights on ``device`` (or ``device_count`` GPUs from it)."""
    import torch

    return _load_dtype(checkpoint, device, torch.float32, device_count)


def load_fp16(checkpoint: str, device: str, device_count: int = 1) -> Any:
    """fp16 weights on ``device`` (or ``device_count`` GPUs from it)."""
    import torch

    return _load_dtype(checkpoint, device, torch.float16, device_count)


def load_bf16(checkpoint: str, device: str, device_count: int = 1) -> Any:
    """bf16 weights on ``device`` (or ``device_count`` GPUs from it)."""
    import torch

    return _load_dtype(checkpoint, device, torch.bfloat16, device_count)


def _load_bnb(checkpoint: str, device: str, device_count: int = 1, **config: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    # Non-quantized parts (embeddings, norms, lm_head) stay in this dtype; on CPU fp32,
    # on CUDA fp16 (the usual bitsandbytes setting).
    dtype = torch.float32 if device == "cpu" else torch.float16
    if config.get("load_in_4bit"):
        config.setdefault("bnb_4bit_compute_dtype", dtype)
    model = AutoModelForCausalLM.from_pretrained(
        checkpoint,
        quantization_config=BitsAndBytesConfig(**config),
        dtype=dtype,
        **placement(device, device_count),
    )
    return model


def load_int8_bnb(checkpoint: str, device: str, device_count: int = 1) -> Any:
    """bitsandbytes LLM.int8() with outlier threshold 6.0."""
    return _load_bnb(checkpoint, device, device_count, load_in_8bit=True, llm_int8_threshold=6.0)


def load_int8_bnb_t0(checkpoint: str, device: str, device_count: int = 1) -> Any:
    """bitsandbytes int8 with outlier threshold 0 (every column int8)."""
    return _load_bnb(checkpoint, device, device_count, load_in_8bit=True, llm_int8_threshold=0.0)


def load_nf4_bnb(checkpoint: str, device: str, device_count: int = 1) -> Any:
    """bitsandbytes 4-bit NF4."""
    return _load_bnb(checkpoint, device, device_count, load_in_4bit=True, bnb_4bit_quant_type="nf4")


def load_fp4_bnb(checkpoint: str, device: str, device_count: int = 1) -> Any:
    """bitsandbytes 4-bit FP4."""
    return _load_bnb(checkpoint, device, device_count, load_in_4bit=True, bnb_4bit_quant_type="fp4")


def load_dynamic_int8(checkpoint: str, device: str) -> Any:
    """fp32 load, then ``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear`` (CPU)."""
    import warnings

    import torch

    model = load_fp32(checkpoint, "cpu")
    with warnings.catch_warnings():
        # torch.ao eager quantization is deprecated in favour of torchao; it still works.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        # lm_head is left in fp32, as bitsandbytes leaves it: it is tied to the input
        # embeddings, and replacing it breaks weight tying (lm-eval re-ties on wrap).
        targets = {
            name: torch.ao.quantization.default_dynamic_qconfig
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name != "lm_head"
        }
        quantized = torch.ao.quantization.quantize_dynamic(model, targets, dtype=torch.qint8)
    return quantized


# --------------------------------------------------------------------------- inspection


@dataclass(frozen=True)
class QuantSummary:
    """What a loaded model really holds.

    Attributes:
        linear_types: Qualified class name -> count, over Linear-like modules.
        weight_bytes: Bytes of parameters and buffers, with packed quantized weights
            counted at their stored size (int8 = 1 byte, 4-bit = 0.5 byte per weight).
    """

    linear_types: dict[str, int]
    weight_bytes: int


def quant_summary(model: Any) -> QuantSummary:
    """Inspect a model's Linear layer types and its weight memory."""
    import torch

    types: Counter[str] = Counter()
    total = 0
    seen: set[int] = set()
    for module in model.modules():
        cls = type(module)
        qual = f"{cls.__module__}.{cls.__qualname__}"
        if "Linear" in cls.__name__:
            types[qual] += 1
        if qual.startswith("torch.ao.nn.quantized.dynamic") and cls.__name__ == "Linear":
            # Packed int8 weights live outside parameters(); unpack to count them.
            weight, bias = module._packed_params._weight_bias()
            total += weight.numel() * weight.element_size()
            if bias is not None:
                total += bias.numel() * bias.element_size()
            continue
        for t in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
            if id(t) in seen or not isinstance(t, torch.Tensor):
                continue
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return QuantSummary(linear_types=dict(types), weight_bytes=total)
