"""Engines: registry, llama.cpp adapter (fake shaped like llama_cpp.Llama), vLLM wrapper (fake
shaped like lm-eval's VLLM and vLLM's RequestOutput), re-quantization, multi-GPU placement."""

from __future__ import annotations

import ast
import ctypes
import importlib.util
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from profiler.engines import ENGINES, EngineOptions, canonical_engine, get_engine
from profiler.models import ModelSource
from recommender.errors import MeasurementError, UnknownNameError, UnsupportedCombinationError

VOCAB = 40
EOS = 0


def _tok(text: str) -> list[int]:
    # One token per character, 1..VOCAB-1 (0 is EOS).
    return [1 + (ord(c) % (VOCAB - 1)) for c in text]


class FakeLlama:
    """Shaped like ``llama_cpp.Llama`` as the adapter uses it: tokenize/detokenize (bytes),
    token_eos, n_ctx(), eval(tokens) appending after ``n_tokens`` and filling ``scores``.

    Logits at a position depend only on the token there: the next token is predicted to be
    ``(t * 7) % VOCAB`` with logit 5, every other token 0.
    """

    def __init__(self, n_ctx: int = 64) -> None:
        self._n_ctx = n_ctx
        self.n_tokens = 0
        self.scores = np.zeros((n_ctx, VOCAB), dtype=np.float32)
        self.evaluated = 0
        self.kv: list[int] = []

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return _tok(text.decode())

    def detokenize(self, tokens: list[int]) -> bytes:
        inv = {1 + (c % (VOCAB - 1)): chr(c) for c in range(32, 127)}
        return "".join(inv.get(t, "?") for t in tokens).encode()

    def token_eos(self) -> int:
        return EOS

    def n_ctx(self) -> int:
        return self._n_ctx

    def eval(self, tokens: list[int]) -> None:
        self.kv = self.kv[: self.n_tokens] + list(tokens)
        for i, t in enumerate(tokens):
            row = np.zeros(VOCAB, dtype=np.float32)
            row[(t * 7) % VOCAB] = 5.0
            self.scores[self.n_tokens + i] = row
        self.n_tokens += len(tokens)
        self.evaluated += len(tokens)


def _instance(kind: str, args: tuple, doc_id: int, task: str = "t") -> object:
    from lm_eval.api.instance import Instance

    return Instance(kind, {}, args, doc_id, (task, doc_id, 1))


def _expected_logprob(context: str, continuation: str) -> tuple[float, bool]:
    whole = _tok(context + continuation)
    n = len(_tok(continuation))
    lp_hit = 5.0 - math.log(math.exp(5.0) + VOCAB - 1)
    lp_miss = 0.0 - math.log(math.exp(5.0) + VOCAB - 1)
    total, greedy = 0.0, True
    for j in range(len(whole) - n, len(whole)):
        predicted = (whole[j - 1] * 7) % VOCAB
        total += lp_hit if predicted == whole[j] else lp_miss
        greedy = greedy and predicted == whole[j]
    return total, greedy


def test_registry_names_aliases_and_did_you_mean() -> None:
    assert set(ENGINES) == {"hf-transformers", "llama.cpp", "vllm"}
    assert canonical_engine("llamacpp") == "llama.cpp" and canonical_engine("HF") == "hf-transformers"
    with pytest.raises(UnknownNameError, match="did you mean 'llama.cpp'"):
        canonical_engine("llama.cp")
    assert get_engine("gguf").name == "llama.cpp"


def test_importing_engines_imports_no_engine_library() -> None:
    code = (
        "import sys\n"
        "import profiler.engines, profiler.engines.llamacpp, profiler.engines.vllm, profiler.engines.hf\n"
        "from profiler.engines import get_engine\n"
        "[get_engine(n) for n in ('hf-transformers', 'llama.cpp', 'vllm')]\n"
        "bad = [m for m in ('torch', 'llama_cpp', 'vllm', 'transformers', 'lm_eval') if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_llamacpp_loglikelihood_matches_logits_and_reuses_prefix() -> None:
    from profiler.engines.llamacpp import make_llamacpp_lm

    llm = FakeLlama()
    lm = make_llamacpp_lm(llm)
    reqs = [_instance("loglikelihood", ("abc", c), 0) for c in (" d", " e", " f")]
    reqs.append(_instance("loglikelihood", ("xyz", "w"), 1))
    out = lm.loglikelihood(reqs)
    for r, (lp, greedy) in zip(reqs, out, strict=True):
        exp_lp, exp_greedy = _expected_logprob(*r.args)
        assert lp == pytest.approx(exp_lp, abs=1e-5) and greedy == exp_greedy
    # "abc" (3 tokens) is evaluated once for its three choices: 3 + 2 + 2... fed < sum of lengths.
    total = sum(len(_tok(c + k)) for c, k in (r.args for r in reqs))
    assert lm.counts.fed == llm.evaluated < total
    assert lm.counts.queries == 2 and lm.counts.requests == 4
    assert lm.counts.prompt[("t", 0)] == 3 + 3 * 2  # context once + each choice


def test_llamacpp_greedy_generation_stops_at_until() -> None:
    from profiler.engines.llamacpp import make_llamacpp_lm

    llm = FakeLlama()
    lm = make_llamacpp_lm(llm, max_gen_toks=5)
    # Greedy chain from the last token follows t -> 7t mod 40; stop string never matches here.
    out = lm.generate_until([_instance("generate_until", ("ab", {"until": ["\n\n"]}), 0)])
    tokens = _tok("ab")
    expected = []
    for _ in range(5):
        nxt = (tokens[-1] * 7) % VOCAB
        if nxt == EOS:
            break
        expected.append(nxt)
        tokens.append(nxt)
    assert out == [llm.detokenize(expected).decode()]
    assert lm.counts.output[("t", 0)] == len(expected)
    with pytest.raises(MeasurementError, match="greedily"):
        lm.generate_until([_instance("generate_until", ("ab", {"until": [], "do_sample": True}), 1)])


def test_llamacpp_requantize_calls_llama_model_quantize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from profiler.engines.llamacpp import TARGETS, requantize

    monkeypatch.setenv("EAI_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "m.Q4_1.gguf"
    src.write_bytes(b"GGUF")

    class Params(ctypes.Structure):
        _fields_ = [("nthread", ctypes.c_int32), ("ftype", ctypes.c_int), ("allow_requantize", ctypes.c_bool)]

    calls = []

    def quantize(inp: bytes, out: bytes, params: object) -> int:
        p = ctypes.cast(params, ctypes.POINTER(Params)).contents
        calls.append((inp, p.ftype, p.allow_requantize))
        Path(out.decode()).write_bytes(b"GGUF-q8")
        return 0

    fake = types.SimpleNamespace(llama_model_quantize_default_params=Params, LLAMA_FTYPE_MOSTLY_Q8_0=7,
                                 llama_model_quantize=quantize)
    path = requantize(src, TARGETS["gguf-q8"], llama_cpp_module=fake)
    assert path.read_bytes() == b"GGUF-q8" and path.name == "m.Q4_1.requant-Q8_0.gguf"
    assert calls == [(str(src).encode(), 7, True)]
    assert requantize(src, TARGETS["gguf-q8"], llama_cpp_module=fake) == path and len(calls) == 1  # cached

    failing = types.SimpleNamespace(**{**vars(fake), "llama_model_quantize": lambda *a: 1})
    with pytest.raises(MeasurementError, match="return code 1"):
        requantize(src, TARGETS["fp16"], llama_cpp_module=types.SimpleNamespace(
            **{**vars(failing), "LLAMA_FTYPE_MOSTLY_F16": 1}))
    assert not list((tmp_path / "cache" / "models").glob("*F16*"))  # no partial file left


def test_llamacpp_check_refuses_before_loading() -> None:
    from profiler.engines.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine()
    hf = ModelSource("org/m", "hf", "org/m", None, "hub")
    gguf = ModelSource("org/m", "gguf", "/x", "m.gguf", "gguf")
    with pytest.raises(UnsupportedCombinationError, match="runs GGUF"):
        engine.check(hf, "gguf-q4", EngineOptions())
    with pytest.raises(UnsupportedCombinationError, match="cannot run quantization 'nf4-bnb'"):
        engine.check(gguf, "nf4-bnb", EngineOptions())
    with pytest.raises(UnsupportedCombinationError, match="batch_size 4"):
        engine.check(gguf, "gguf-q8", EngineOptions(batch_size=4))


def _fake_llama_cpp(gpu_offload: bool) -> types.SimpleNamespace:
    """A module shaped like ``llama_cpp``: records what ``Llama`` was built with."""
    built: list[dict] = []

    class Llama:
        def __init__(self, **kwargs: object) -> None:
            built.append(kwargs)
            self.model = object()

    return types.SimpleNamespace(
        Llama=Llama, built=built, LLAMA_SPLIT_MODE_NONE=0, llama_supports_gpu_offload=lambda: gpu_offload,
        llama_model_n_params=lambda model: 134_515_008,
        llama_cpp=types.SimpleNamespace(llama_model_default_params=lambda: types.SimpleNamespace()),
    )


def test_llamacpp_runs_on_one_gpu_only_with_a_build_that_offloads(tmp_path: Path) -> None:
    from profiler.engines.llamacpp import CUDA_BUILD_HINT, LlamaCppEngine

    gguf = ModelSource("org/m", "gguf", str(tmp_path), "m.gguf", "gguf")
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    cpu_build = LlamaCppEngine(module=_fake_llama_cpp(gpu_offload=False))
    with pytest.raises(UnsupportedCombinationError, match="without GPU offload") as err:
        cpu_build.check(gguf, "gguf-q4", EngineOptions(device="cuda"))
    assert CUDA_BUILD_HINT in str(err.value)
    cpu_build.check(gguf, "gguf-q4", EngineOptions(device="cpu"))  # the CPU needs no offload
    fake = _fake_llama_cpp(gpu_offload=True)
    engine = LlamaCppEngine(module=fake)
    with pytest.raises(UnsupportedCombinationError, match="device_count 2"):
        engine.check(gguf, "gguf-q4", EngineOptions(device="cuda", device_count=2))
    from recommender.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="'mps'"):
        engine.check(gguf, "gguf-q4", EngineOptions(device="mps"))

    engine.gguf_path = lambda source, quant, threads=None: (tmp_path / "m.gguf", "Q4_1", "as shipped")  # type: ignore[method-assign]
    on_gpu = engine.load(gguf, "gguf-q4", EngineOptions(device="cuda:1"))
    # Every layer on the GPU asked, none spread over the others; the meter reads that GPU.
    assert {k: fake.built[-1][k] for k in ("n_gpu_layers", "split_mode", "main_gpu")} == {
        "n_gpu_layers": -1, "split_mode": 0, "main_gpu": 1}
    assert on_gpu.cuda_devices == (1,) and on_gpu.device_count == 1 and "n_gpu_layers=all" in on_gpu.extra_ref
    on_cpu = engine.load(gguf, "gguf-q4", EngineOptions(device="cpu"))
    assert fake.built[-1]["n_gpu_layers"] == 0 and "main_gpu" not in fake.built[-1]
    assert on_cpu.cuda_devices == () and "n_gpu_layers=0" in on_cpu.extra_ref


# --- vLLM ----------------------------------------------------------------------------


class FakeVLLMBackend:
    """Shaped like ``lm_eval.models.vllm_causallms.VLLM``: its ``_model_generate`` takes token
    id lists and returns vLLM ``RequestOutput``-like objects (``.outputs[0].token_ids``)."""

    version = "0.0-fake"

    def __init__(self, pretrained: str, tensor_parallel_size: int = 1, batch_size: str | int = "auto",
                 max_gen_toks: int = 256, seed: int = 1234, dtype: str = "auto",
                 quantization: str | None = None, **kwargs: object) -> None:
        self.kwargs = {"pretrained": pretrained, "tensor_parallel_size": tensor_parallel_size,
                       "batch_size": batch_size, "dtype": dtype, "quantization": quantization, **kwargs}
        self.model = object()

    def tok_encode(self, text: str) -> list[int]:
        return _tok(text)

    def _model_generate(self, requests, generate=False, sampling_params=None):  # noqa: ANN001, ANN202
        n_out = 3 if generate else 0
        return [types.SimpleNamespace(outputs=[types.SimpleNamespace(token_ids=[1] * n_out)]) for _ in requests]

    def loglikelihood(self, requests, disable_tqdm: bool = False):  # noqa: ANN001, ANN201
        self._model_generate([_tok(r.args[0] + r.args[1]) for r in requests])
        return [(-1.0, False)] * len(requests)

    def generate_until(self, requests, disable_tqdm: bool = False):  # noqa: ANN001, ANN201
        self._model_generate([_tok(r.args[0]) for r in requests], generate=True)
        return ["abc"] * len(requests)


def test_vllm_engine_builds_lm_eval_backend_with_tp_and_max_num_seqs(monkeypatch: pytest.MonkeyPatch) -> None:
    import profiler.models as models

    from profiler.engines.vllm import VllmEngine

    monkeypatch.setattr(models, "fp32_checkpoint", lambda source: "/ckpt")
    monkeypatch.setattr(models, "count_parameters", lambda ckpt: 135_000_000)
    engine = VllmEngine(backend=FakeVLLMBackend)
    source = ModelSource("org/m", "hf", "org/m", None, "hub")
    loaded = engine.load(source, "bf16", EngineOptions(device="cuda", device_count=4, batch_size=128))
    args = loaded.lm.kwargs
    assert args["tensor_parallel_size"] == 4 and args["max_num_seqs"] == 128 and args["dtype"] == "bfloat16"
    assert args["batch_size"] == "auto" and args["pretrained"] == "/ckpt"
    assert loaded.cuda_devices == (0, 1, 2, 3) and loaded.device_count == 4
    assert loaded.engine == "vllm" and loaded.engine_version == "0.0-fake"
    # 135 M parameters at bf16's 2 stored bytes each (the quantization catalog's figure).
    assert loaded.weights_gb == pytest.approx(0.27)
    lm = loaded.lm
    lm.loglikelihood([_instance("loglikelihood", ("ab", "c"), 0), _instance("loglikelihood", ("ab", "d"), 0)])
    lm.generate_until([_instance("generate_until", ("xy", {"until": []}), 1)])
    assert lm.counts.fed == 3 + 3 + 2 + 3  # two scored prompts, one prompt + 3 generated
    assert lm.counts.output[("t", 1)] == 3 and lm.counts.queries == 2
    with pytest.raises(UnsupportedCombinationError, match="CUDA_VISIBLE_DEVICES"):
        engine.check(source, "fp16", EngineOptions(device="cuda:1"))
    with pytest.raises(UnsupportedCombinationError, match="runs on CUDA"):
        engine.check(source, "fp16", EngineOptions(device="cpu"))
    with pytest.raises(UnsupportedCombinationError, match="nf4-bnb"):
        engine.check(source, "nf4-bnb", EngineOptions(device="cuda"))


def test_vllm_engine_loads_awq_and_gptq_from_the_catalogued_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    import profiler.models as models

    from profiler.engines.vllm import VllmEngine

    monkeypatch.setattr(models, "fp32_checkpoint", lambda source: pytest.fail("AWQ must not load the 16-bit weights"))
    monkeypatch.setattr(models, "count_parameters", lambda ckpt: 7_615_616_512)
    engine = VllmEngine(backend=FakeVLLMBackend)
    assert {"awq-int4", "gptq-int4"} <= set(engine.quantizations())
    qwen = ModelSource("Qwen/Qwen2.5-7B-Instruct", "hf", "Qwen/Qwen2.5-7B-Instruct", None, "hub")
    loaded = engine.load(qwen, "awq-int4", EngineOptions(device="cuda", batch_size=64))
    args = loaded.lm.kwargs
    # vLLM reads the method from the checkpoint's quantization_config: no quantization argument.
    assert args["pretrained"] == "Qwen/Qwen2.5-7B-Instruct-AWQ" and args["dtype"] == "float16" and args["quantization"] is None
    assert "checkpoint=Qwen/Qwen2.5-7B-Instruct-AWQ" in loaded.extra_ref and "Qwen2.5-7B-Instruct-AWQ" in loaded.note
    # The unquantized architecture's parameters at AWQ's stored 0.5195 bytes each.
    assert loaded.weights_gb == pytest.approx(7.615616512 * 0.5195)
    gptq = engine.load(qwen, "gptq-int4", EngineOptions(device="cuda"))
    assert gptq.lm.kwargs["pretrained"] == "Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4"
    # A model whose entry names no such checkpoint, one outside the catalog, random weights.
    with pytest.raises(UnsupportedCombinationError, match=r"add 'checkpoints: \{awq-int4: ORG/NAME\}'"):
        engine.check(ModelSource("mistralai/Mistral-7B-Instruct-v0.2", "hf", "x", None, ""), "awq-int4", EngineOptions(device="cuda"))
    with pytest.raises(UnsupportedCombinationError, match="does not know 'org/unknown'"):
        engine.check(ModelSource("org/unknown", "hf", "org/unknown", None, ""), "gptq-int4", EngineOptions(device="cuda"))
    with pytest.raises(UnsupportedCombinationError, match="kind 'random'"):
        engine.check(ModelSource("Qwen/Qwen2.5-7B-Instruct", "random", "/arch", None, "random"), "awq-int4", EngineOptions(device="cuda"))


def test_vllm_model_args_are_accepted_by_lm_evals_real_vllm_backend() -> None:
    # lm-eval's VLLM cannot be imported without vllm; read its constructor from the source.
    from profiler.engines.vllm import PREQUANTIZED_ARGS, QUANT_ARGS, model_args

    spec = importlib.util.find_spec("lm_eval")
    assert spec is not None and spec.submodule_search_locations
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "vllm_causallms.py"
    tree = ast.parse(path.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "VLLM")
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    params = {a.arg for a in init.args.args + init.args.kwonlyargs}
    assert init.args.kwarg is not None  # the rest goes to vllm.LLM(**kwargs)
    source = init_source = ast.get_source_segment(path.read_text(), init) or ""
    assert '"max_num_seqs": kwargs.get("max_num_seqs"' in init_source  # lm-eval forwards it to LLM
    for quant in (*QUANT_ARGS, *PREQUANTIZED_ARGS):
        args = model_args(ModelSource("m", "hf", "m", None, ""), quant, EngineOptions(device="cuda"), "/ckpt")
        passthrough = set(args) - params
        assert passthrough <= {"max_num_seqs", "gpu_memory_utilization"}, passthrough
    assert {"tensor_parallel_size", "batch_size", "dtype", "quantization", "max_gen_toks", "seed"} <= params
    del source


# --- HF placement ------------------------------------------------------------------------


def test_cuda_devices_of_reads_accelerate_device_map() -> None:
    from profiler.quant import cuda_devices_of

    split = types.SimpleNamespace(hf_device_map={"model.embed_tokens": 0, "model.layers.0": 0,
                                                 "model.layers.1": 1, "lm_head": "cuda:2"})
    assert cuda_devices_of(split, "cuda") == (0, 1, 2)
    assert cuda_devices_of(types.SimpleNamespace(), "cuda:3") == (3,)
    assert cuda_devices_of(types.SimpleNamespace(), "cpu") == ()


# --- engines as a sweep dimension ----------------------------------------------------------


def test_sweep_spec_engines_canonical_and_unknown_engine_did_you_mean() -> None:
    from profiler.sweep import SweepSpec

    spec = SweepSpec(models=["m"], quants=["fp32"], tasks=["arc_easy"], engines=["hf", "llamacpp", "llama.cpp"])
    assert spec.engines == ["hf-transformers", "llama.cpp"]
    assert spec.repeats == 3 and spec.warmup == 1 and spec.device_count == 1
    with pytest.raises(UnknownNameError, match="did you mean 'vllm'"):
        SweepSpec(models=["m"], quants=["fp32"], tasks=["arc_easy"], engines=["vlm"])


def test_sweep_loads_each_model_engine_quant_once_and_keys_by_engine(tmp_path: Path) -> None:
    import datetime as dt

    from profiler.sweep import SweepSpec, completed_keys, run_sweep
    from recommender.table import MeasuredRow

    class Runner:
        platform = "cpu-amd-epyc-zen4"
        device_count = 1

        def __init__(self) -> None:
            self.loads: list[tuple[str, str, str]] = []
            self.current: tuple[str, str] | None = None

        def model_id(self, model: str) -> str:
            return f"org/{model}"

        def cell_settings(self, workload: str) -> tuple[str | None, int | None]:
            return "0", 1

        def check(self, model: str, quant: str, engine: str) -> None:
            if engine == "llama.cpp" and quant == "fp32":
                raise UnsupportedCombinationError("llama.cpp here runs gguf-q4 only")

        def load(self, model: str, quant: str, engine: str) -> None:
            self.loads.append((model, engine, quant))
            self.current = (engine, quant)

        def unload(self) -> None:
            self.current = None

        def measure(self, workload: str, limit: int | None, progress) -> MeasuredRow:  # noqa: ANN001
            assert self.current is not None
            engine, quant = self.current
            return MeasuredRow(
                platform=self.platform, device_count=1, engine=engine, model_id="org/m", params_total_b=0.1,
                params_active_b=0.1, quantization=quant, batch_size=1, workload=workload, query_count=2,
                accuracy=0.5, accuracy_metric="acc", accuracy_n=2, energy_j_per_query=1.0, time_s_per_query=0.1,
                energy_method="estimated", energy_scope="cpu", idle_subtracted=False, repeats=3, flags="estimated",
                source="eai-profiler", source_ref=f"eai profile; task={workload}; limit={limit}; fewshot=0; threads=1; date=x",
                measured_on=dt.date(2026, 1, 1),
            )

    spec = SweepSpec(models=["m"], quants=["fp32", "gguf-q4"], tasks=["arc_easy", "gsm8k"], limit=3,
                     engines=["hf-transformers", "llama.cpp"])
    out = tmp_path / "t.csv"
    runner = Runner()
    summary = run_sweep(spec, out, runner)
    # llama.cpp x fp32 is refused by check() before anything loads.
    assert runner.loads == [("m", "hf-transformers", "fp32"), ("m", "hf-transformers", "gguf-q4"),
                            ("m", "llama.cpp", "gguf-q4")]
    assert summary.written == 6 and len(summary.failed) == 2
    assert {k.engine for k in completed_keys(out)} == {"hf-transformers", "llama.cpp"}
    again = run_sweep(spec, out, Runner())
    assert again.written == 0 and again.skipped == 6


def test_a_gguf_file_is_profiled_as_the_model_it_is_named_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from profiler.engines.llamacpp import LlamaCppEngine
    from profiler.models import resolve_model_source
    from recommender.errors import DataSourceError, InvalidInputError

    gguf = tmp_path / "qwen2.5-1.5b-instruct-q8_0.gguf"
    gguf.write_bytes(b"GGUF")
    src = resolve_model_source(f"Qwen/Qwen2.5-1.5B-Instruct={gguf}")
    assert (src.model_id, src.kind, src.location, src.gguf_file) == ("Qwen/Qwen2.5-1.5B-Instruct", "gguf", str(tmp_path), gguf.name)
    # A header names a model only loosely: the id the rows join the catalog by must be given.
    with pytest.raises(InvalidInputError, match="org/name=FILE.gguf"):
        resolve_model_source(str(gguf))
    with pytest.raises(DataSourceError, match="does not exist"):
        resolve_model_source(f"Qwen/Qwen2.5-1.5B-Instruct={tmp_path / 'missing.gguf'}")
    # A file already of the type asked runs as shipped, not re-quantized onto itself.
    import profiler.engines.llamacpp as llamacpp

    engine = LlamaCppEngine(module=_fake_llama_cpp(gpu_offload=True))
    monkeypatch.setattr(llamacpp, "gguf_file_type", lambda path: "Q8_0")
    path, ftype, note = engine.gguf_path(src, "gguf-q8")
    loaded = engine.load(src, "gguf-q8", EngineOptions(device="cuda"))
    assert (path, ftype) == (gguf, "Q8_0") and "run as shipped" in note and "given as Qwen/Qwen2.5-1.5B-Instruct" in note
    assert "requantized" not in loaded.flags
