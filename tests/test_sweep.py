"""Sweep bookkeeping with a fake runner: resume, failures sidecar, interrupts, spec files, CLI."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from recommender.errors import InvalidInputError, UnknownNameError, UnsupportedCombinationError
from recommender.table import MeasuredRow
from recommender.table.io import read_rows

from profiler.sweep import (
    CellKey,
    SweepSpec,
    completed_keys,
    failures_path,
    load_sweep_file,
    parse_task_ints,
    ref_limit,
    row_key,
    run_sweep,
    split_list,
)


class FakeRunner:
    """Records calls; returns a valid row per cell; can fail or interrupt on demand."""

    platform = "cpu-amd-epyc-zen4"
    device_count = 1
    known_tasks = ("arc_easy", "gsm8k", "mmlu")

    def __init__(self, unsupported: set[str] = frozenset(), oom_tasks: set[str] = frozenset(),
                 interrupt_on: tuple[str, str] | None = None) -> None:
        self.unsupported = unsupported
        self.oom_tasks = oom_tasks
        self.interrupt_on = interrupt_on
        self.loads: list[tuple[str, str]] = []
        self.measured: list[tuple[str, str]] = []
        self.quant: str | None = None

    def model_id(self, model: str) -> str:
        return f"org/{model}"

    def cell_settings(self, workload: str) -> tuple[str | None, int | None]:
        if workload not in self.known_tasks:
            raise UnknownNameError("task", workload, self.known_tasks)
        return ("5" if workload == "gsm8k" else "0"), 1

    def check(self, model: str, quant: str, engine: str) -> None:
        if quant in self.unsupported:
            raise UnsupportedCombinationError(f"{quant} on cpu is not supported; use fp32")

    def load(self, model: str, quant: str, engine: str) -> None:
        self.loads.append((model, quant))
        self.quant = quant

    def unload(self) -> None:
        self.quant = None

    def measure(self, workload: str, limit: int | None, progress) -> MeasuredRow:  # noqa: ANN001
        assert self.quant is not None
        progress.update(0, 2)
        if (self.quant, workload) == self.interrupt_on:
            raise KeyboardInterrupt
        if workload in self.oom_tasks:
            raise RuntimeError("CPU out of memory: tried to allocate 2 GiB")
        progress.update(2, 2)
        self.measured.append((self.quant, workload))
        return MeasuredRow(
            platform=self.platform, device_count=1, engine="hf-transformers", model_id="org/m",
            params_total_b=0.1, params_active_b=0.1, quantization=self.quant, batch_size=1,  # noqa: E501
            workload=workload, query_count=2, accuracy=0.5, accuracy_metric="acc", accuracy_n=2,
            energy_j_per_query=1.0, time_s_per_query=0.1, energy_method="estimated",
            energy_scope="cpu", idle_subtracted=False, repeats=1, flags="estimated",
            source="eai-profiler",
            source_ref=(f"eai profile; task={workload}; limit={'all' if limit is None else limit}; "
                        f"fewshot={'5' if workload == 'gsm8k' else '0'}; threads=1; date=x"),
            measured_on=dt.date(2026, 1, 1),
        )


def _spec(**kw: object) -> SweepSpec:
    base = {"models": ["m"], "quants": ["fp32", "dynamic-int8"], "tasks": ["arc_easy", "gsm8k"], "limit": 3,
            "repeats": 1}  # the fake records 1 measured window
    base.update(kw)
    return SweepSpec.model_validate(base)


def test_each_model_quant_loaded_once_and_rows_written(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    runner = FakeRunner()
    summary = run_sweep(_spec(), out, runner)
    assert summary.written == 4 and summary.skipped == 0 and not summary.failed
    assert runner.loads == [("m", "fp32"), ("m", "dynamic-int8")]
    rows = read_rows(out)
    assert [(r.quantization, r.workload) for r in rows] == [
        ("fp32", "arc_easy"), ("fp32", "gsm8k"), ("dynamic-int8", "arc_easy"), ("dynamic-int8", "gsm8k")]


def test_rerun_resumes_and_skips_completed_cells(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    run_sweep(_spec(quants=["fp32"]), out, FakeRunner())
    runner = FakeRunner()
    summary = run_sweep(_spec(), out, runner)
    assert summary.skipped == 2 and summary.written == 2
    assert runner.loads == [("m", "dynamic-int8")]  # the finished model x quant is not even loaded
    again = FakeRunner()
    assert run_sweep(_spec(), out, again).written == 0
    assert again.loads == []
    assert len(read_rows(out)) == 4


def test_different_limit_is_a_different_cell(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    run_sweep(_spec(quants=["fp32"], tasks=["arc_easy"]), out, FakeRunner())
    summary = run_sweep(_spec(quants=["fp32"], tasks=["arc_easy"], limit=5), out, FakeRunner())
    assert summary.written == 1
    base = {"platform": "cpu-amd-epyc-zen4", "model_id": "org/m", "quantization": "fp32",
            "engine": "hf-transformers", "device_count": 1, "workload": "arc_easy", "batch_size": 1,
            "fewshot": "0", "repeats": 1, "threads": 1}
    assert completed_keys(out) == {CellKey(**base, limit=3), CellKey(**base, limit=5)}


def test_failed_cells_go_to_sidecar_and_sweep_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    runner = FakeRunner(unsupported={"dynamic-int8"}, oom_tasks={"gsm8k"})
    summary = run_sweep(_spec(quants=["dynamic-int8", "fp32"]), out, runner)
    assert summary.written == 1
    assert [(r.quantization, r.workload) for r in read_rows(out)] == [("fp32", "arc_easy")]
    assert ("m", "dynamic-int8") not in runner.loads  # unsupported: never loaded
    entries = [json.loads(line) for line in failures_path(out).read_text().splitlines()]
    assert {(e["quantization"], e["workload"], e["stage"]) for e in entries} == {
        ("dynamic-int8", "arc_easy", "check"), ("dynamic-int8", "gsm8k", "check"), ("fp32", "gsm8k", "measure")}
    oom = next(e for e in entries if e["stage"] == "measure")
    assert "out of memory" in oom["reason"] and oom["error"] == "RuntimeError"
    assert failures_path(out).name == "p.failures.jsonl"
    # Failed cells are retried on the next run (they are not "completed").
    retry = FakeRunner()
    assert run_sweep(_spec(quants=["dynamic-int8", "fp32"]), out, retry).written == 3


def test_interrupted_cell_leaves_no_partial_row(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    runner = FakeRunner(interrupt_on=("fp32", "gsm8k"))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(_spec(), out, runner)
    before = out.read_text(encoding="utf-8")
    rows = read_rows(out)  # still a valid table
    assert [(r.quantization, r.workload) for r in rows] == [("fp32", "arc_easy")]
    assert before.count("\n") == 2  # header + one complete row, nothing half-written
    assert not list(tmp_path.glob(".p.csv.*.tmp"))  # no temp file left behind
    assert not list(tmp_path.glob(".p.csv.claims*"))  # the interrupted run's claims are released
    assert runner.quant is None  # the model was unloaded on the way out
    resumed = FakeRunner()
    summary = run_sweep(_spec(), out, resumed)
    assert summary.skipped == 1 and summary.written == 3
    assert resumed.measured[0] == ("fp32", "gsm8k")


def test_task_limits_and_keys(tmp_path: Path) -> None:
    spec = _spec(task_limits={"gsm8k": 7})
    assert spec.limit_for("gsm8k") == 7 and spec.limit_for("arc_easy") == 3
    out = tmp_path / "p.csv"
    run_sweep(spec, out, FakeRunner())
    assert {row_key(r).limit for r in read_rows(out)} == {3, 7}


def test_ref_limit_parsing() -> None:
    assert ref_limit("eai profile --limit 5; task=x; limit=5; fewshot=0") == 5
    assert ref_limit("eai profile; limit=all; x=1") is None
    assert ref_limit("no limit here") is None


def test_sweep_file_yaml_json_and_overrides(tmp_path: Path) -> None:
    y = tmp_path / "s.yaml"
    y.write_text("models: [a]\nquants: [fp32, nf4-bnb]\ntasks: [mmlu]\nlimit: 4\ntask_limits: {mmlu: 2}\n")
    spec = load_sweep_file(y, repeats=3, limit=None)
    assert spec.quants == ["fp32", "nf4-bnb"] and spec.repeats == 3 and spec.limit == 4
    assert spec.limit_for("mmlu") == 2
    j = tmp_path / "s.json"
    j.write_text(json.dumps({"models": ["a"], "quants": ["fp32"], "tasks": ["gsm8k"], "device": "cpu"}))
    assert load_sweep_file(j).tasks == ["gsm8k"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("models: [a]\nquants: [fp32]\n", "tasks"),
        ("models: [a]\nquants: [fp32]\ntasks: [x]\nrepeats: 0\n", "repeats"),
        ("models: [a]\nquants: [fp32]\ntasks: [x]\nbogus: 1\n", "bogus"),
        ("- just a list\n", "mapping"),
        ("models: [a\n", "not valid"),
    ],
)
def test_bad_sweep_file(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    with pytest.raises(InvalidInputError, match=match):
        load_sweep_file(p)


def test_option_parsing_helpers() -> None:
    assert split_list(["fp32,nf4-bnb", "bf16"]) == ["fp32", "nf4-bnb", "bf16"]
    assert parse_task_ints(["mmlu=2,gsm8k=10"], "--task-limit") == {"mmlu": 2, "gsm8k": 10}
    with pytest.raises(InvalidInputError, match="TASK=N"):
        parse_task_ints(["mmlu:2"], "--task-limit")


def test_cli_unknown_quant_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from recommender.cli import main

    code = main(["profile", "--model", "smollm2-135m-gguf", "--quant", "nf4", "--task", "arc_easy"])
    assert code == 2
    assert "nf4-bnb" in capsys.readouterr().err


def test_cli_unsupported_combination_before_loading(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from recommender.cli import main

    out = tmp_path / "o.csv"
    code = main(["profile", "--model", "smollm2-135m-gguf", "--quant", "dynamic-int8", "--task", "arc_easy",
                 "--device", "cuda:0", "--out", str(out)])
    assert code == 7
    assert "dynamic-int8 on cuda:0" in capsys.readouterr().err
    assert not out.exists()


def test_cli_requires_model_quant_task(capsys: pytest.CaptureFixture[str]) -> None:
    from recommender.cli import main

    assert main(["profile", "--quant", "fp32"]) == 2
    assert "--model" in capsys.readouterr().err


def test_llamacpp_without_a_quant_runs_the_gguf_files_own_format(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import profiler.engines.llamacpp as llamacpp
    from recommender.cli import main
    from recommender.cli.profile_cmd import _gguf_quants
    from recommender.errors import InvalidInputError

    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    a.write_bytes(b"GGUF")
    b.write_bytes(b"GGUF")
    types = {"a.gguf": "Q4_K_M", "b.gguf": "Q4_0"}
    monkeypatch.setattr(llamacpp, "gguf_file_type", lambda path: types[path.name])
    models = [f"org/a={a}", f"org/b={b}"]
    assert _gguf_quants(models) == ["gguf-q4"]
    assert "running gguf-q4 (the GGUF file's own type (Q4_K_M))" in capsys.readouterr().err
    types["b.gguf"] = "Q8_0"
    with pytest.raises(InvalidInputError, match="several formats .*org/b=.*gguf-q8.*give --quant"):
        _gguf_quants(models)
    # Through the CLI: the cell runs at the header's format (the fake file then fails to load: exit 8,
    # the failure recorded under that format), not refused for a missing --quant.
    code = main(["profile", "--model", f"org/b={b}", "--engine", "llama.cpp", "--task", "arc_easy", "--device", "cpu",
                 "--out", str(tmp_path / "o.csv")])
    assert "running gguf-q8" in capsys.readouterr().err and code == 8
    failure = (tmp_path / "o.failures.jsonl").read_text()
    assert '"quantization": "gguf-q8"' in failure and '"stage": "load"' in failure


def test_token_counts_count_each_context_once_per_query() -> None:
    from profiler.evaluate import TokenCounts

    counts = TokenCounts()
    n = len  # one "token" per character, for the arithmetic
    for choice in ("ab", "cde"):  # two choices of one multiple-choice query share the prompt
        counts.add_context(("t", 0), "prompt", n)
        counts.prompt[("t", 0)] += n(choice)
    counts.add_context(("t", 1), "other", n)
    counts.output[("t", 1)] += 4
    counts.fed = 30
    assert counts.queries == 2
    assert counts.prompt == {("t", 0): 6 + 2 + 3, ("t", 1): 5}
    assert counts.prompt_mean() == pytest.approx(8.0)
    assert counts.output_mean() == pytest.approx(2.0)
    assert counts.fed_mean() == pytest.approx(15.0)


def test_detect_platform_maps_nvml_name_through_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    import profiler.hardware.nvml as nvml
    from profiler.sweep import detect_platform
    from recommender.catalog import resolve_platform

    class FakeNvml:
        def __init__(self, cuda_ordinal: int = 0) -> None:
            self.ordinal = cuda_ordinal

        def name(self) -> str:
            return "NVIDIA A100-PCIE-40GB"

    monkeypatch.setattr(nvml, "NvmlDevice", FakeNvml)
    assert detect_platform("cuda:1") == resolve_platform("NVIDIA A100-PCIE-40GB").id


def test_detect_platform_cpu_from_cpuinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    import profiler.environment as environment
    from profiler.sweep import detect_platform

    monkeypatch.setattr(environment, "cpu_model", lambda: "AMD EPYC")
    assert detect_platform("cpu") == "cpu-amd-epyc-zen4"


@pytest.mark.parametrize(
    "change",
    [{"batch_size": 2}, {"num_fewshot": {"arc_easy": 3}}, {"max_gen_toks": 64}, {"repeats": 3},
     {"threads": 2}, {"limit": 9}],
    ids=["batch", "fewshot", "gen-cap", "repeats", "threads", "limit"],
)
def test_every_setting_that_changes_a_result_is_in_the_resume_key(tmp_path: Path, change: dict) -> None:
    class SettingsRunner(FakeRunner):
        """Records the sweep's settings in its rows the way LmEvalRunner does."""

        def __init__(self, spec: SweepSpec) -> None:
            super().__init__()
            self.spec = spec

        def cell_settings(self, workload: str) -> tuple[str | None, int | None]:
            return str(self.spec.num_fewshot.get(workload, 0)), self.spec.threads or 1

        def measure(self, workload: str, limit: int | None, progress) -> MeasuredRow:  # noqa: ANN001
            row = super().measure(workload, limit, progress)
            s = self.spec
            ref = (f"eai profile; task={workload}; limit={limit}; fewshot={s.num_fewshot.get(workload, 0)}; "
                   + (f"max_gen_toks={s.max_gen_toks}; " if s.max_gen_toks else "")
                   + f"batch={s.batch_size}; threads={s.threads or 1}; repeats={s.repeats}")
            return row.model_copy(update={"source_ref": ref, "batch_size": s.batch_size, "repeats": s.repeats})

    out = tmp_path / "p.csv"
    base = _spec(quants=["fp32"], tasks=["arc_easy"])
    assert run_sweep(base, out, SettingsRunner(base)).written == 1
    assert run_sweep(base, out, SettingsRunner(base)).written == 0  # same settings: nothing appended
    other = _spec(quants=["fp32"], tasks=["arc_easy"], **change)
    assert run_sweep(other, out, SettingsRunner(other)).written == 1  # another setting: another cell
    assert run_sweep(other, out, SettingsRunner(other)).written == 0
    assert len(read_rows(out)) == 2


def test_unknown_task_fails_before_any_model_loads(tmp_path: Path) -> None:
    runner = FakeRunner()
    with pytest.raises(UnknownNameError, match="did you mean 'arc_easy'"):
        run_sweep(_spec(tasks=["arc_easy", "arc_esy"]), tmp_path / "p.csv", runner)
    assert runner.loads == [] and not (tmp_path / "p.csv").exists()


def test_out_naming_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="is a directory"):
        run_sweep(_spec(), tmp_path, FakeRunner())


def test_row_with_other_settings_than_planned_is_logged_not_written(tmp_path: Path) -> None:
    class Drifting(FakeRunner):
        def measure(self, workload: str, limit: int | None, progress) -> MeasuredRow:  # noqa: ANN001
            row = super().measure(workload, limit, progress)
            return row.model_copy(update={"source_ref": row.source_ref.replace("threads=1", "threads=7")})

    out = tmp_path / "p.csv"
    summary = run_sweep(_spec(quants=["fp32"], tasks=["arc_easy"]), out, Drifting())
    assert summary.written == 0 and summary.failed[0]["error"] == "MeasurementError"
    assert "differs from the planned cell" in summary.failed[0]["reason"]


def test_cli_out_directory_and_unknown_task_fail_before_loading(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from recommender.cli import main

    code = main(["profile", "--model", "smollm2-135m-gguf", "--quant", "fp32", "--task", "arc_easy",
                 "--out", str(tmp_path)])
    assert code == 2 and "is a directory" in capsys.readouterr().err
    started = time.perf_counter()
    code = main(["profile", "--model", "smollm2-135m-gguf", "--quant", "fp32", "--task", "arc_esy",
                 "--out", str(tmp_path / "o.csv"), "--platform", "cpu-amd-epyc-zen4"])
    err = capsys.readouterr().err
    assert code == 2 and "did you mean 'arc_easy'" in err
    assert not (tmp_path / "o.csv").exists()
    assert time.perf_counter() - started < 60  # no model load (the load alone took 14 s)


def test_cli_unknown_executor_and_stray_address(capsys: pytest.CaptureFixture[str]) -> None:
    from recommender.cli import main

    base = ["profile", "--model", "m", "--quant", "fp32", "--task", "arc_easy"]
    assert main([*base, "--executor", "rya"]) == 2
    assert "did you mean 'ray'" in capsys.readouterr().err
    assert main([*base, "--address", "auto"]) == 2
    assert "--executor ray" in capsys.readouterr().err


def test_unknown_model_name_stops_the_sweep_but_missing_weights_fail_only_their_cells(tmp_path: Path) -> None:
    from recommender.errors import DataSourceError

    class Models(FakeRunner):
        def model_id(self, model: str) -> str:
            if model == "smollm3":
                raise UnknownNameError("model", model, ["smollm2-135m-gguf"])
            if model == "broken":
                raise DataSourceError("model directory 'broken' has no config.json")
            return super().model_id(model)

    runner = Models()
    with pytest.raises(UnknownNameError, match="smollm3"):
        run_sweep(_spec(models=["m", "smollm3"]), tmp_path / "a.csv", runner)
    assert runner.loads == []
    summary = run_sweep(_spec(models=["broken", "m"], quants=["fp32"]), tmp_path / "b.csv", runner)
    assert summary.written == 2 and {f["stage"] for f in summary.failed} == {"resolve"} and len(summary.failed) == 2


def test_cli_ray_executor_without_ray_says_how_to_install(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from recommender.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    assert main(["profile", "--model", "m", "--quant", "fp32", "--task", "arc_easy", "--executor", "ray"]) == 2
    assert "eai[cluster]" in capsys.readouterr().err
