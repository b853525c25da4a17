"""Task catalog: ids, aliases, token profiles, and figures re-derived from the shared data."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

from recommender.catalog import get_tasks, resolve_task
from recommender.errors import DataSourceError, UnknownNameError

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
needs_data = pytest.mark.skipif(not DATASETS.is_dir(), reason="shared/datasets not present")

BENCHMARKS = ["mmlu", "hellaswag", "arc_challenge", "arc_easy", "truthfulqa_mc2", "gsm8k"]
WORKLOADS = [
    "sharegpt-chat", "sharegpt-chat-concise", "sharegpt-instruct", "sharegpt-instruct-concise",
    "sharegpt-chat-vllm", "humaneval-code", "lm-arena-chat", "gpqa", "sourcegraph-fim",
    "fixed-prompt-gen256",
]  # fmt: skip


def test_all_expected_ids_present_with_kinds() -> None:
    tasks = get_tasks()
    for tid in BENCHMARKS:
        assert tasks[tid].kind == "benchmark"
        assert tasks[tid].lm_eval_name == tid
    for tid in WORKLOADS:
        assert tasks[tid].kind == "workload"


def test_token_profiles_positive() -> None:
    for task in get_tasks().values():
        assert task.prompt_tokens_mean > 0, task.id
        assert task.source, task.id
        if task.output_type == "generate_until":
            assert task.output_tokens_mean > 0, task.id
        else:
            assert task.output_tokens_mean == 0 and task.choices_mean >= 2, task.id


def test_metrics_and_chance() -> None:
    tasks = get_tasks()
    assert tasks["hellaswag"].metric == "acc_norm"
    assert tasks["truthfulqa_mc2"].metric == "mc2"
    assert tasks["gsm8k"].metric == "exact_match" and tasks["gsm8k"].chance == 0.0
    assert tasks["mmlu"].chance == 0.25
    assert tasks["truthfulqa_mc2"].chance != 0.25


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("MMLU", "mmlu"),
        ("ARC", "arc_challenge"),
        ("ARC-Challenge", "arc_challenge"),
        ("arc easy", "arc_easy"),
        ("TruthfulQA", "truthfulqa_mc2"),
        ("HellaSwag", "hellaswag"),
        ("GSM8K", "gsm8k"),
        ("fixed-prompt-256", "fixed-prompt-gen256"),
        ("HumanEval+", "humaneval-code"),
        ("Sharegpt_Chat_VLLM", "sharegpt-chat-vllm"),
    ],
)
def test_alias_resolution(alias: str, expected: str) -> None:
    assert resolve_task(alias).id == expected


def test_did_you_mean() -> None:
    with pytest.raises(UnknownNameError) as info:
        resolve_task("gsm9k")
    assert info.value.suggestions == ["gsm8k"]
    assert info.value.exit_code == 2


@needs_data
def test_truthfulqa_chance_matches_local_items() -> None:
    items = json.loads((DATASETS / "tasks/truthfulqa/v0/mc_task.first100.json").read_text())
    chance = statistics.mean(sum(i["mc2_targets"].values()) / len(i["mc2_targets"]) for i in items)
    choices = statistics.mean(len(i["mc2_targets"]) for i in items)
    spec = resolve_task("truthfulqa_mc2")
    assert spec.chance == pytest.approx(chance, abs=1e-4)
    assert spec.choices_mean == pytest.approx(choices, abs=0.01)


@needs_data
def test_workload_output_means_match_energy_data() -> None:
    lengths: list[float] = []
    for path in (DATASETS / "mlenergy-v1").glob("*_chat_benchmark.csv"):
        with path.open() as fh:
            lengths += [float(r["response_length"]) for r in csv.DictReader(fh)]
    assert resolve_task("sharegpt-chat").output_tokens_mean == pytest.approx(
        statistics.mean(lengths), abs=0.1
    )
    rows = [
        json.loads(line)
        for line in (DATASETS / "mlenergy-v3/mlenergy_v3_llm_configurations.jsonl").open()
    ]
    gpqa = [r["avg_output_len"] for r in rows if r["task"] == "gpqa"]
    assert resolve_task("gpqa").output_tokens_mean == pytest.approx(statistics.mean(gpqa), abs=0.1)


def test_invalid_catalog_is_a_data_source_error(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("tasks:\n  - id: x\n    kind: benchmark\n    prompt_tokens_mean: -1\n")
    with pytest.raises(DataSourceError, match="invalid"):
        get_tasks(bad)
    missing_metric = tmp_path / "m.yaml"
    missing_metric.write_text(
        "tasks:\n  - id: x\n    kind: benchmark\n    prompt_tokens_mean: 1\n"
        "    output_tokens_mean: 0\n    source: s\n"
    )
    with pytest.raises(DataSourceError, match="lm_eval_name"):
        get_tasks(missing_metric)


def test_forward_passes_and_fed_tokens_follow_lm_eval() -> None:
    from recommender.catalog.types import TaskSpec

    tasks = get_tasks()
    # MMLU's answers " A".." D" are one token each: lm-eval scores all four from one pass of
    # the context; ARC's multi-token answers take a pass each, reading context + answer[:-1].
    assert tasks["mmlu"].passes() == 1.0
    assert tasks["mmlu"].fed_tokens() == pytest.approx(tasks["mmlu"].prompt_tokens_mean)
    arc = tasks["arc_challenge"]
    assert arc.passes() == arc.choices_mean == 4
    assert arc.fed_tokens() == pytest.approx(4 * (arc.prompt_tokens_mean + arc.continuation_tokens_mean - 1))
    assert tasks["gsm8k"].passes() == 1.0 and tasks["gsm8k"].fed_tokens() == tasks["gsm8k"].prompt_tokens_mean
    base = dict(id="t", kind="benchmark", output_type="multiple_choice", prompt_tokens_mean=100.0,
                output_tokens_mean=0.0, choices_mean=5.0, source="test")
    # Unknown answer length: a pass per choice, answers not counted; a stated count wins.
    assert TaskSpec(**base).passes() == 5.0 and TaskSpec(**base).fed_tokens() == 500.0
    assert TaskSpec(**base, continuation_tokens_mean=1, forward_passes_mean=2).passes() == 2.0


def test_the_flows_conversational_workloads_are_catalogued_workloads() -> None:
    # A misspelt id would leave base models serving that chat without a word.
    from recommender.rules.flow import load_flow

    tasks = get_tasks()
    names = load_flow().conversational_workloads
    assert names and all(n in tasks and tasks[n].kind == "workload" for n in names)
    assert "lm-arena-chat" in names and "humaneval-code" not in names
