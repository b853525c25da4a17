"""Local lm-eval task YAMLs: rendered with absolute paths, loaded by lm-eval, docs as in the files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from recommender.errors import DataSourceError

from profiler.tasks import LOCAL_TASKS, default_data_root, lm_eval_task_name, mmlu_subjects, render_tasks

DATA = default_data_root()
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"offline task data not found at {DATA}")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return render_tasks(DATA, tmp_path_factory.mktemp("tasks"))


@pytest.fixture(scope="module")
def manager(rendered):  # noqa: ANN001, ANN201
    pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    # Only our directory: indexing lm-eval's ~10k built-in YAMLs is not what is tested here.
    return TaskManager(include_path=str(rendered.directory), include_defaults=False)


def _load(manager, name: str) -> dict:  # noqa: ANN001
    return manager.load([name])["tasks"]


def test_rendered_yamls_have_absolute_existing_paths(rendered) -> None:  # noqa: ANN001
    texts = {p.name: p.read_text(encoding="utf-8") for p in rendered.directory.glob("*.yaml")}
    assert {f"{t}.yaml" for t in LOCAL_TASKS.values() if t != "eai_mmlu"} <= set(texts)
    assert "_eai_mmlu.yaml" in texts
    for name, text in texts.items():
        assert "@DATA@" not in text, name
        for line in text.splitlines():
            if ".jsonl\"" in line or ".json\"" in line or ".csv\"" in line:
                path = Path(line.split('"')[1])
                assert path.is_absolute() and path.is_file(), (name, line)
    assert (rendered.directory / "utils.py").is_file()


def test_env_var_sets_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EAI_TASK_DATA", str(tmp_path))
    assert default_data_root() == tmp_path.resolve()
    with pytest.raises(DataSourceError, match="not found"):
        render_tasks(out_dir=tmp_path / "out")  # empty root: the data files are missing


def test_missing_root_is_data_source_error(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="EAI_TASK_DATA"):
        render_tasks(tmp_path / "nope", tmp_path / "out")


@pytest.mark.parametrize(
    ("workload", "split_file"),
    [
        ("arc_easy", "arc/arc_easy.test.first100.jsonl"),
        ("arc_challenge", "arc/arc_challenge.test.first100.jsonl"),
        ("gsm8k", "gsm8k/test.first100.jsonl"),
    ],
)
def test_jsonl_tasks_doc_count_and_target(manager, workload: str, split_file: str) -> None:  # noqa: ANN001
    tasks = _load(manager, lm_eval_task_name(workload))
    (task,) = tasks.values()
    docs = list(task.eval_docs)
    raw = [json.loads(line) for line in (DATA / split_file).read_text(encoding="utf-8").splitlines()]
    assert len(docs) == len(raw) == 100
    if workload.startswith("arc"):
        assert task.doc_to_text(docs[0]) == raw[0]["query"] + "\nAnswer:"
        assert task.doc_to_choice(docs[0]) == raw[0]["choices"]
        assert task.doc_to_target(docs[0]) == raw[0]["gold"]
    else:
        assert task.doc_to_text(docs[0]) == f"Question: {raw[0]['question']}\nAnswer:"
        assert task.config.num_fewshot == 5
        assert task.config.generation_kwargs["max_gen_toks"] == 256


def test_truthfulqa_mc2_choices_and_labels(manager) -> None:  # noqa: ANN001
    (task,) = _load(manager, "eai_truthfulqa_mc2").values()
    docs = list(task.eval_docs)
    raw = json.loads((DATA / "truthfulqa" / "v0" / "mc_task.first100.json").read_text(encoding="utf-8"))
    assert len(docs) == len(raw) == 100
    for doc, item in zip(docs, raw, strict=True):
        assert task.doc_to_choice(doc) == list(item["mc2_targets"])
        assert doc["mc2_labels"] == list(item["mc2_targets"].values())
    # The README's exception: a true answer listed after a false one keeps its label.
    canada = next(d for d in docs if d["question"].startswith("What proportion of Canadians are straight"))
    labels = canada["mc2_labels"]
    assert 1 in labels[labels.index(0):], labels
    assert task.doc_to_text(docs[0]).startswith("Q: What is human life expectancy")


def test_truthfulqa_mc2_metric_is_true_probability_mass() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("eai_task_utils", Path(render_tasks.__code__.co_filename).parent / "templates" / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    import math

    doc = {"mc2_labels": [1, 0, 1]}
    lls = [math.log(0.2), math.log(0.5), math.log(0.3)]
    out = utils.process_results_mc2(doc, [(ll, False) for ll in lls])
    assert out["acc"] == pytest.approx(0.5)


def test_mmlu_group_has_all_subjects_with_exact_csv_text(manager) -> None:  # noqa: ANN001
    subjects = mmlu_subjects(DATA)
    assert len(subjects) == 57
    loaded = manager.load(["eai_mmlu"])
    tasks = loaded["tasks"]
    assert len(tasks) == 57
    total = 0
    for name, task in tasks.items():
        docs = list(task.eval_docs)
        total += len(docs)
        assert len(list(task.fewshot_docs())) == 5, name
    assert total == 5700
    # Cell text survives unchanged (pandas would turn e.g. "0.50" into 0.5 without converters).
    subject = "high_school_mathematics"
    task = next(t for n, t in tasks.items() if n.endswith(subject))
    with (DATA / "mmlu" / "test" / f"{subject}_test.first100.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    docs = list(task.eval_docs)
    for doc, row in zip(docs, rows, strict=True):
        assert doc["question"] == row[0]
        assert doc["choices"] == row[1:5]
        assert doc["gold"] == "ABCD".index(row[5])
        assert task.doc_to_target(doc) == "ABCD".index(row[5])  # an int index, not a string
    assert task.doc_to_choice(docs[0]) == ["A", "B", "C", "D"]
    assert task.config.description.startswith("The following are multiple choice questions (with answers) about high school mathematics.")


def test_mmlu_limit_applies_per_subject(manager) -> None:  # noqa: ANN001
    pytest.importorskip("lm_eval")
    loaded = manager.load(["eai_mmlu"])
    counts = []
    for task in loaded["tasks"].values():
        task.build_all_requests(limit=2, rank=0, world_size=1)
        counts.append(len({inst.doc_id for inst in task.instances}))
    assert sum(counts) == 114


def test_unknown_workload_goes_to_lm_eval_as_is() -> None:
    assert lm_eval_task_name("hellaswag") == "hellaswag"
    assert lm_eval_task_name("arc_easy") == "eai_arc_easy"
    assert lm_eval_task_name("arc_easy", local=False) == "arc_easy"


def test_tasks_path_adds_user_yaml(tmp_path: Path) -> None:
    pytest.importorskip("lm_eval")
    from profiler.sweep import LmEvalRunner, SweepSpec

    data = tmp_path / "mini.jsonl"
    data.write_text("".join(json.dumps({"q": f"{i} + 1 =", "choices": [str(i + 1), str(i + 2)], "gold": 0}) + "\n" for i in range(4)))
    yamls = tmp_path / "yamls"
    yamls.mkdir()
    (yamls / "mini.yaml").write_text(
        "task: my_mini\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: \"{data}\"\noutput_type: multiple_choice\ntest_split: test\n"
        "doc_to_text: \"{{q}}\"\ndoc_to_choice: \"{{choices}}\"\ndoc_to_target: \"{{gold}}\"\n"
        "metric_list:\n  - metric: acc\n"
    )
    spec = SweepSpec(models=["m"], quants=["fp32"], tasks=["my_mini"], tasks_path=[str(yamls)])
    runner = LmEvalRunner(spec, platform="cpu-amd-epyc-zen4")
    tasks = runner.task_manager().load(["my_mini", "eai_arc_easy"])["tasks"]
    assert len(list(tasks["my_mini"].eval_docs)) == 4
    assert len(list(tasks["eai_arc_easy"].eval_docs)) == 100
