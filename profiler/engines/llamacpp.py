"""llama.cpp engine: GGUF files run natively through ``llama-cpp-python``.

lm-eval reaches llama.cpp only through an HTTP server (its ``gguf`` model type posts to
``/v1/completions`` and scores from the top-10 logprobs it gets back, so a continuation
token outside the top 10 breaks its ``is_greedy``). Here the model is called in-process
instead: :class:`LlamaCppLM` is an lm-eval ``TemplateLM`` whose
``_loglikelihood_tokens`` reads the full logits of every position from the llama.cpp
context (``logits_all=True``) and whose ``generate_until`` decodes greedily token by token.
Requests that share a prefix (the choices of one multiple-choice question) reuse the KV
cache of that prefix, as a llama.cpp server with prompt caching would; ``counts.fed``
counts only the tokens really evaluated.

Quantizations (``gguf-q4`` is the file as shipped; the others are made from it, unless the
file already is of that type, as a Q8_0 download asked as ``gguf-q8``). A GGUF of any model is
given as ``org/name=FILE.gguf`` (:func:`profiler.models.resolve_model_source`); on ``cuda:N``
every layer runs on that GPU (:class:`LlamaCppEngine`).

=========  ======================================  ====================================
name       GGUF file type                          how
=========  ======================================  ====================================
gguf-q4    the source's own 4-bit type (Q4_0/Q4_1  as shipped, no conversion
           /Q4_K...)
gguf-q8    Q8_0                                    ``llama_model_quantize`` with
fp16       F16                                     ``allow_requantize``: a re-quantization
fp32       F32                                     of the 4-bit weights, never better
                                                   than the 4-bit source
=========  ======================================  ====================================

Re-quantized files are cached under ``$EAI_CACHE_DIR/models`` (written to a temporary
name, then renamed).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from profiler.engines.base import EngineOptions, LoadedModel
from profiler.models import ModelSource, cache_root
from recommender.errors import InvalidInputError, MeasurementError, UnsupportedCombinationError

DEFAULT_N_CTX = 2048
"""Context window allocated when the sweep does not set one, tokens.

With ``logits_all`` llama.cpp keeps n_ctx x vocabulary float32 logits (2048 x 49152 x 4 B =
0.4 GB for SmolLM2), so the window is not the model's trained 8192."""

DEFAULT_MAX_GEN_TOKS = 256
"""lm-eval's default generation cap when a task sets none, tokens."""


@dataclass(frozen=True)
class GgufTarget:
    """A GGUF file type the engine can run.

    Attributes:
        quant: Schema quantization name.
        ggml_type: llama.cpp's name of the file type (``Q8_0``...); None: as shipped.
        ftype_attr: ``llama_cpp`` constant of the ``LLAMA_FTYPE_*`` to quantize to.
    """

    quant: str
    ggml_type: str | None
    ftype_attr: str | None


TARGETS: dict[str, GgufTarget] = {
    "gguf-q4": GgufTarget("gguf-q4", None, None),
    "gguf-q8": GgufTarget("gguf-q8", "Q8_0", "LLAMA_FTYPE_MOSTLY_Q8_0"),
    "fp16": GgufTarget("fp16", "F16", "LLAMA_FTYPE_MOSTLY_F16"),
    "fp32": GgufTarget("fp32", "F32", "LLAMA_FTYPE_ALL_F32"),
}

FILE_TYPE_NAMES: dict[int, str] = {
    # llama.h enum llama_ftype (general.file_type in a GGUF header).
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
    16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16",
}


def gguf_file_type(path: Path) -> str:
    """llama.cpp file type of a GGUF (``Q4_1``...), read from its header with ``gguf``.

    Raises:
        InvalidInputError: Not a readable GGUF file.
    """
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        field = reader.fields["general.file_type"]
        code = int(field.parts[field.data[0]][0])
    except (OSError, KeyError, ValueError, IndexError) as exc:
        raise InvalidInputError(f"cannot read the file type of GGUF {str(path)!r}: {exc}") from exc
    return FILE_TYPE_NAMES.get(code, f"ftype{code}")


def quant_of_file_type(file_type: str) -> str | None:
    """The quantization name a GGUF file of ``file_type`` runs as shipped (``Q4_K_M`` ->
    ``gguf-q4``, ``Q8_0`` -> ``gguf-q8``, ``F16`` -> ``fp16``, ``F32`` -> ``fp32``); None for a
    type no target names (``Q5_K_M``, ``Q2_K``...)."""
    if file_type.startswith("Q4"):
        return "gguf-q4"
    return next((t.quant for t in TARGETS.values() if t.ggml_type == file_type), None)


def engine_version() -> str:
    """Installed llama-cpp-python release (it pins the llama.cpp commit it builds)."""
    try:
        return version("llama_cpp_python")
    except PackageNotFoundError:
        import llama_cpp

        return str(llama_cpp.__version__)


def requantize(source: Path, target: GgufTarget, threads: int | None = None,
               llama_cpp_module: Any = None) -> Path:
    """Write (once) ``source`` re-quantized to ``target`` and return the new file.

    Args:
        source: The GGUF as shipped.
        target: Type to produce.
        threads: Quantizer threads (None: llama.cpp's default).
        llama_cpp_module: The ``llama_cpp`` module (tests pass a fake).

    Raises:
        MeasurementError: llama.cpp's quantizer failed (its return code is named).
    """
    assert target.ggml_type is not None and target.ftype_attr is not None
    out_dir = cache_root() / "models"
    out = out_dir / f"{source.stem}.requant-{target.ggml_type}.gguf"
    if out.is_file():
        return out
    lc = llama_cpp_module
    if lc is None:
        import llama_cpp as lc
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out_dir)
    os.close(fd)
    try:
        params = lc.llama_model_quantize_default_params()
        params.ftype = getattr(lc, target.ftype_attr)
        # The source is already quantized: without this llama.cpp refuses to re-quantize.
        params.allow_requantize = True
        if threads:
            params.nthread = int(threads)
        rc = lc.llama_model_quantize(str(source).encode(), tmp_name.encode(), ctypes.byref(params))
        if rc != 0:
            raise MeasurementError(
                f"llama.cpp could not re-quantize {source.name} to {target.ggml_type} (return code {rc})"
            )
        os.replace(tmp_name, out)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return out


def _log_softmax_row(row: Any) -> Any:
    import numpy as np

    row = row.astype(np.float64)
    top = row.max()
    return row - (top + math.log(float(np.exp(row - top).sum())))


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _lm_class() -> type:
    from lm_eval.api.model import TemplateLM

    from profiler.evaluate import TokenCounts

    class LlamaCppLM(TemplateLM):
        """lm-eval language model over an in-process ``llama_cpp.Llama``.

        Args:
            llm: A ``llama_cpp.Llama`` built with ``logits_all=True``.
            max_gen_toks: Default generation cap when a request sets none.
        """

        def __init__(self, llm: Any, max_gen_toks: int = DEFAULT_MAX_GEN_TOKS) -> None:
            super().__init__()
            self.llm = llm
            self.max_gen_toks = int(max_gen_toks)
            self.counts = TokenCounts()
            self.on_progress: Callable[[int, int], None] | None = None
            self._done = 0
            self._total = 0
            self._evaluated: list[int] = []  # tokens whose KV the context holds

        # -- bookkeeping shared with CountingHFLM
        def reset_counts(self) -> None:
            self.counts = TokenCounts()
            self._done = 0
            self._total = 0

        def _progress(self, start: int = 0, advance: int = 0) -> None:
            self._total += start
            self._done = min(self._total, self._done + advance)
            if self.on_progress:
                self.on_progress(self._done, self._total)

        # -- TemplateLM
        @property
        def eot_token_id(self) -> int:
            return int(self.llm.token_eos())

        @property
        def max_length(self) -> int:
            return int(self.llm.n_ctx())

        def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
            # No BOS, as lm-eval's HFLM encodes SmolLM2 (its tokenizer adds none).
            return list(self.llm.tokenize(string.encode("utf-8"), add_bos=bool(add_special_tokens), special=True))

        def tok_decode(self, tokens: Sequence[int]) -> str:
            return self.llm.detokenize(list(tokens)).decode("utf-8", errors="ignore")

        def _eval(self, tokens: list[int]) -> None:
            """Bring the context to hold exactly ``tokens``, reusing the cached prefix."""
            keep = _common_prefix(self._evaluated, tokens)
            keep = min(keep, len(tokens) - 1)  # re-run >= 1 token so its logits are fresh
            self.llm.n_tokens = keep  # llama.cpp's eval drops KV entries past n_tokens
            self.llm.eval(tokens[keep:])
            self.counts.fed += len(tokens) - keep
            self._evaluated = list(tokens)

        def _logits(self, position: int) -> Any:
            return self.llm.scores[position]

        def _loglikelihood_tokens(self, requests: list[tuple[tuple[str, str], list[int], list[int]]],
                                  disable_tqdm: bool = False, **kwargs: Any) -> list[tuple[float, bool]]:
            n_ctx = self.max_length
            # Same-context requests next to each other: their shared prefix is evaluated once.
            order = sorted(range(len(requests)), key=lambda i: requests[i][1] + requests[i][2])
            results: list[tuple[float, bool] | None] = [None] * len(requests)
            self._progress(start=len(requests))
            for i in order:
                _, context_enc, continuation_enc = requests[i]
                whole = (context_enc + continuation_enc)[-n_ctx:]
                n_cont = len(continuation_enc)
                if n_cont == 0 or n_cont >= len(whole):
                    raise MeasurementError(
                        f"continuation of {n_cont} tokens does not fit a {n_ctx}-token llama.cpp context"
                    )
                self._eval(whole)
                logprob = 0.0
                greedy = True
                first = len(whole) - n_cont
                for j, token in enumerate(whole[first:]):
                    row = _log_softmax_row(self._logits(first - 1 + j))
                    logprob += float(row[token])
                    greedy = greedy and int(row.argmax()) == token
                results[i] = (logprob, greedy)
                self._progress(advance=1)
            return [r for r in results if r is not None]

        def loglikelihood(self, requests, disable_tqdm: bool = False):  # noqa: ANN001, ANN201
            for r in requests:
                context, continuation = r.args[0], r.args[1]
                key = (r.task_name, r.doc_id)
                self.counts.add_context(key, context, lambda s: len(self.tok_encode(s)))
                self.counts.prompt[key] += len(self.tok_encode(continuation))
            self.counts.requests += len(requests)
            return super().loglikelihood(requests, disable_tqdm=True)

        def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:  # noqa: ANN001
            n_ctx = self.max_length
            out: list[float] = []
            self._progress(start=len(requests))
            for r in requests:
                text = r.args[0]
                self.counts.add_context((r.task_name, r.doc_id), text, lambda s: len(self.tok_encode(s)))
                tokens = self.tok_encode(text)
                total = 0.0
                # Disjoint windows of n_ctx - 1 scored tokens, each conditioned on EOT + the
                # window before it (no overlap: a simpler, slightly pessimistic rolling score).
                for start in range(0, len(tokens), n_ctx - 1):
                    window = [self.eot_token_id, *tokens[start:start + n_ctx - 1]]
                    self._eval(window)
                    for j, token in enumerate(window[1:]):
                        total += float(_log_softmax_row(self._logits(j))[token])
                out.append(total)
                self._progress(advance=1)
            self.counts.requests += len(requests)
            return out

        def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:  # noqa: ANN001
            n_ctx = self.max_length
            out: list[str] = []
            self._progress(start=len(requests))
            for r in requests:
                context, gen_kwargs = r.args[0], dict(r.args[1])
                until = gen_kwargs.get("until") or []
                if isinstance(until, str):
                    until = [until]
                max_new = int(gen_kwargs.get("max_gen_toks", self.max_gen_toks))
                if gen_kwargs.get("do_sample") or float(gen_kwargs.get("temperature", 0.0) or 0.0) > 0:
                    raise MeasurementError("the llama.cpp adapter decodes greedily only (do_sample/temperature set)")
                prompt = self.tok_encode(context)[-(n_ctx - max_new):]
                self._eval(prompt)
                generated: list[int] = []
                text = ""
                for _ in range(max_new):
                    token = int(self._logits(len(self._evaluated) - 1).argmax())
                    if token == self.eot_token_id:
                        break
                    generated.append(token)
                    text = self.tok_decode(generated)
                    if any(s in text for s in until):
                        break
                    self._eval(self._evaluated + [token])
                for s in until:
                    cut = text.find(s)
                    if cut >= 0:
                        text = text[:cut]
                key = (r.task_name, r.doc_id)
                self.counts.add_context(key, context, lambda s: len(self.tok_encode(s)))
                self.counts.output[key] += len(self.tok_encode(text))
                self.counts.requests += 1
                out.append(text)
                self._progress(advance=1)
            return out

    return LlamaCppLM


def make_llamacpp_lm(llm: Any, max_gen_toks: int | None = None) -> Any:
    """Wrap a ``llama_cpp.Llama`` (built with ``logits_all=True``) for lm-eval."""
    cls = _lm_class()
    return cls(llm, max_gen_toks=max_gen_toks or DEFAULT_MAX_GEN_TOKS)


@contextlib.contextmanager
def _model_params_override(lc: Any, **fields: Any) -> Iterator[None]:
    """Set fields of the ``llama_model_params`` that ``llama_cpp.Llama`` builds internally.

    ``Llama(...)`` takes its model parameters from ``llama_model_default_params()`` and
    exposes no argument for ``use_extra_bufts``; the default is swapped for the duration
    of the constructor only.
    """
    original = lc.llama_model_default_params

    def patched() -> Any:
        params = original()
        for key, value in fields.items():
            setattr(params, key, value)
        return params

    lc.llama_model_default_params = patched
    try:
        yield
    finally:
        lc.llama_model_default_params = original


CUDA_BUILD_HINT = 'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python'
"""How to get a llama-cpp-python that offloads to CUDA GPUs (its README's CUDA install; the
PyPI source build is CPU-only unless CMake is told otherwise)."""


def _gpu_ordinal(device: str) -> int | None:
    """CUDA ordinal of ``cuda`` (0) / ``cuda:N``; None for ``cpu`` (:func:`profiler.quant.parse_device`)."""
    from profiler.quant import parse_device

    return parse_device(device)[1]


class LlamaCppEngine:
    """Runs GGUF files with llama.cpp on the CPU or on one CUDA GPU (``device_count`` 1).

    On ``cuda`` / ``cuda:N`` every layer is offloaded (``n_gpu_layers=-1``) to that one GPU
    (``split_mode`` none, ``main_gpu=N``), as the edge flow deploys llama.cpp on an RTX card
    or a Jetson; that needs a llama-cpp-python built with CUDA (:data:`CUDA_BUILD_HINT`).
    Every step reads its logits back, which waits for the GPU, so a measurement window ends
    with the work done.

    Args:
        extra_buffers: llama.cpp's "extra buffer types" (weights repacked for AMX / AVX-512
            kernels at load). Off by default: on a VM that advertises AMX without enabling
            it (this project's CPU machine: Intel Xeon, AMX flags in /proc/cpuinfo) the AMX
            kernels die on their first ``ldtilecfg`` with a general protection fault. Off,
            llama.cpp uses its ordinary AVX-512 kernels on the weights as stored. Recorded
            in ``source_ref`` (``extra_bufts=``).
        module: The ``llama_cpp`` module to run with (tests pass one shaped like it); None
            imports llama-cpp-python.
    """

    name = "llama.cpp"

    def __init__(self, extra_buffers: bool = False, module: Any = None) -> None:
        self.extra_buffers = extra_buffers
        self._module = module

    def _llama_cpp(self) -> Any:
        if self._module is None:
            import llama_cpp

            self._module = llama_cpp
        return self._module

    def quantizations(self) -> tuple[str, ...]:
        """Quantization names this engine runs (see module docstring)."""
        return tuple(TARGETS)

    def check(self, source: ModelSource, quant: str, options: EngineOptions) -> None:
        """Refuse what cannot run before anything loads.

        Raises:
            UnsupportedCombinationError: Not a GGUF source, unknown GGUF target, a batch size
                above 1, more than one GPU, or a GPU with a llama-cpp-python built without
                GPU offload.
        """
        if source.kind != "gguf":
            raise UnsupportedCombinationError(
                f"engine 'llama.cpp' runs GGUF files; model {source.model_id!r} is a transformers checkpoint "
                "(use engine 'hf-transformers', or a GGUF alias such as smollm2-135m-gguf)"
            )
        if quant not in TARGETS:
            raise UnsupportedCombinationError(
                f"engine 'llama.cpp' cannot run quantization {quant!r}; it runs {', '.join(TARGETS)}"
            )
        gpu = _gpu_ordinal(options.device)
        if options.batch_size != 1:
            raise UnsupportedCombinationError(
                f"engine 'llama.cpp' serves one sequence at a time in this adapter; batch_size {options.batch_size} "
                "must be 1"
            )
        if gpu is not None and options.device_count != 1:
            raise UnsupportedCombinationError(
                f"engine 'llama.cpp' is profiled on one GPU here; device_count {options.device_count} must be 1 "
                "(a layer split over GPUs is not measured)"
            )
        try:
            llama_cpp = self._llama_cpp()
        except ImportError as exc:
            raise UnsupportedCombinationError(
                "engine 'llama.cpp' needs llama-cpp-python: pip install 'eai[llamacpp]'"
            ) from exc
        if gpu is not None and not llama_cpp.llama_supports_gpu_offload():
            raise UnsupportedCombinationError(
                f"engine 'llama.cpp' on {options.device}: this llama-cpp-python was built without GPU offload "
                f"(CPU only); rebuild it with CUDA: {CUDA_BUILD_HINT}"
            )

    def gguf_path(self, source: ModelSource, quant: str, threads: int | None = None) -> tuple[Path, str, str]:
        """File to run for ``quant``, its file type and its provenance note."""
        assert source.gguf_file is not None
        shipped = Path(source.location) / source.gguf_file
        native = gguf_file_type(shipped)
        target = TARGETS[quant]
        origin = source.note.split(", dequantized")[0]
        if target.ggml_type is None:
            if not native.startswith("Q4"):
                raise UnsupportedCombinationError(
                    f"quantization 'gguf-q4' means the shipped 4-bit file, but {shipped.name} is {native}"
                )
            return shipped, native, f"{origin}, run as shipped ({native}) by llama.cpp"
        if native == target.ggml_type:  # a file already of the type asked (a Q8_0 download for gguf-q8)
            return shipped, native, f"{origin}, run as shipped ({native}) by llama.cpp"
        path = requantize(shipped, target, threads=threads)
        note = (f"{origin}, re-quantized {native} -> {target.ggml_type} by llama_model_quantize "
                f"(allow_requantize); accuracy bounded by the {native} source")
        return path, target.ggml_type, note

    def load(self, source: ModelSource, quant: str, options: EngineOptions) -> LoadedModel:
        """Open the GGUF for ``quant`` in a llama.cpp context with all logits kept."""
        self.check(source, quant, options)
        llama_cpp = self._llama_cpp()
        gpu = _gpu_ordinal(options.device)

        path, ggml_type, note = self.gguf_path(source, quant, options.threads)
        threads = options.threads or os.cpu_count() or 1
        # All layers on the one GPU asked (none: llama.cpp's default layer split would spread
        # them over every visible GPU, which the meter would not be reading).
        placement = ({"n_gpu_layers": -1, "split_mode": llama_cpp.LLAMA_SPLIT_MODE_NONE, "main_gpu": gpu}
                     if gpu is not None else {"n_gpu_layers": 0})
        with _model_params_override(llama_cpp.llama_cpp, use_extra_bufts=self.extra_buffers):
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=options.n_ctx or DEFAULT_N_CTX,
                n_threads=threads,
                n_threads_batch=threads,
                logits_all=True,
                verbose=False,
                seed=1234,
                **placement,
            )
        params = int(llama_cpp.llama_model_n_params(llm.model))
        # Re-quantized files live in eai's cache; a file run as shipped is the source's own.
        assert source.gguf_file is not None
        flags = () if path == Path(source.location) / source.gguf_file else ("requantized",)
        return LoadedModel(
            lm=make_llamacpp_lm(llm, options.max_gen_toks),
            engine=self.name,
            engine_version=engine_version(),
            params=params,
            weights_gb=path.stat().st_size / 1e9,
            cuda_devices=() if gpu is None else (gpu,),
            note=note,
            flags=flags,
            extra_ref=(f"gguf_type={ggml_type}", f"n_ctx={options.n_ctx or DEFAULT_N_CTX}",
                       f"extra_bufts={'on' if self.extra_buffers else 'off'}",
                       f"n_gpu_layers={'all' if gpu is not None else 0}"),
            close=llm.close if hasattr(llm, "close") else (lambda: None),
        )
