"""``eai predict`` and ``recommender.rules.predict``: named configurations in, predictions out.

Resolution and refusal run on the shipped catalogs and decision flow; the CLI's output
shapes use the synthetic :class:`FormulaPredictor` (values known in closed form); one
test loads the shipped fitted predictor to check that a measured cell comes back as its
measurement, and one runs ``eai predict`` in a fresh process.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.errors import InvalidInputError, UnsupportedCombinationError
from recommender.model.api import CANDIDATE_COLUMNS, PREDICTION_COLUMNS
from recommender.rules.catalogs import Catalogs
from recommender.rules.flow import load_flow
from recommender.rules.predict import MAX_CONFIGURATIONS, TOKEN_COLUMNS, Asked, Grid, predict_configurations, resolve_configurations
from recommender.rules.synthetic import FormulaPredictor

ROOT = Path(__file__).resolve().parents[1]
EAI = str(ROOT / ".venv" / "bin" / "eai") if (ROOT / ".venv" / "bin" / "eai").exists() else "eai"
SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
LLAMA70 = "meta-llama/Llama-3.1-70B-Instruct"


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs.load()


@pytest.fixture(scope="module")
def flow():
    return load_flow()


@pytest.fixture(scope="module")
def formula(catalogs: Catalogs) -> FormulaPredictor:
    return FormulaPredictor(catalogs)


def _table(**cols: list) -> pd.DataFrame:
    return pd.DataFrame(cols)


# ----------------------------------------------------------------------------- the grid


def test_grid_spans_every_combination_once() -> None:
    g = Grid(platforms=["h100", "l40s"], models=[SMOL], quantizations=["bf16", "fp8"], tasks=["mmlu", "gsm8k", "arc_easy"], batch_sizes=[1, 8])
    frame = g.frame()
    assert g.size() == len(frame) == 2 * 1 * 2 * 3 * 2
    keys = frame[["platform", "quantization", "task", "batch_size"]].apply(tuple, axis=1)
    assert keys.is_unique
    assert set(frame["device_count"]) == {1} and set(frame["engine"]) == {""}


def test_grid_refuses_an_empty_list_and_an_oversized_grid() -> None:
    with pytest.raises(InvalidInputError, match="no quantization given"):
        Grid(platforms=["h100"], models=[SMOL], quantizations=[], tasks=["mmlu"]).frame()
    big = Grid(platforms=["h100"] * 10, models=[SMOL] * 10, quantizations=["bf16"] * 10, tasks=["mmlu"] * 10, batch_sizes=list(range(1, 301)))
    assert big.size() > MAX_CONFIGURATIONS
    with pytest.raises(InvalidInputError, match="more than"):
        big.frame()


# ----------------------------------------------------------------------- resolution


def test_aliases_resolve_and_the_native_engine_is_filled_in(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["H100 SXM", "h100"], model=[SMOL.lower(), SMOL], quantization=["bf16", "fp8"], task=["mmlu", "mmlu"])
    out = resolve_configurations(frame, catalogs, flow).candidates
    assert list(out.columns) == [*CANDIDATE_COLUMNS, *TOKEN_COLUMNS]
    assert out["platform"].astype(str).tolist() == ["h100-sxm5-80gb"] * 2
    assert out["model_id"].astype(str).tolist() == [SMOL] * 2
    # The first engine the flow lists for each quantization is its native one.
    assert out["engine"].astype(str).tolist() == [flow.engines["bf16"][0], flow.engines["fp8"][0]]
    assert out["device_count"].tolist() == [1, 1] and out["batch_size"].tolist() == [1, 1]


def test_a_given_engine_is_kept_and_a_release_applies_to_its_engine_only(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["h100", "h100"], model_id=[SMOL, SMOL], quantization=["bf16", "bf16"], task=["mmlu", "mmlu"], engine=["vllm", ""])
    out = resolve_configurations(frame, catalogs, flow, engine_versions={"vllm": "0.11.1"}).candidates
    assert out["engine"].astype(str).tolist() == ["vllm", "hf-transformers"]
    assert out["engine_version"].astype(str).tolist() == ["0.11.1", ""]


def test_unknown_names_say_where_and_suggest(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["h100", "h10"], model_id=[SMOL, SMOL], quantization=["bf16", "bf16"], task=["mmlu", "mmlu"])
    with pytest.raises(InvalidInputError, match=r"line 3, column 'platform': unknown platform 'h10'; did you mean 'h100-sxm5-80gb'"):
        resolve_configurations(frame, catalogs, flow, first_line=2)
    with pytest.raises(InvalidInputError, match=r"configuration 2, column 'platform'"):
        resolve_configurations(frame, catalogs, flow)
    bad_engine = _table(platform=["h100"], model_id=[SMOL], quantization=["bf16"], task=["mmlu"], engine=["vlm"])
    with pytest.raises(InvalidInputError, match="did you mean 'vllm'"):
        resolve_configurations(bad_engine, catalogs, flow)


@pytest.mark.parametrize(
    ("platform", "quant", "engine", "message"),
    [
        ("a100-sxm4-40gb", "fp8", "", r"'fp8' needs compute capability >= 8\.9; a100-sxm4-40gb has 8\.0"),
        ("cpu-amd-epyc-zen4", "fp8", "", r"'fp8' does not run on cpu-amd-epyc-zen4 \(cpu\)"),
        ("h100", "int8-bnb", "vllm", r"engine 'vllm' does not run 'int8-bnb'; it runs on hf-transformers"),
    ],
)
def test_combinations_that_cannot_run_are_refused(catalogs: Catalogs, flow, platform: str, quant: str, engine: str, message: str) -> None:
    frame = _table(platform=[platform], model_id=[SMOL], quantization=[quant], task=["mmlu"], engine=[engine])
    with pytest.raises(UnsupportedCombinationError, match=message):
        resolve_configurations(frame, catalogs, flow)


def test_skip_unsupported_leaves_out_only_what_cannot_run(catalogs: Catalogs, flow) -> None:
    frame = Grid(["h100", "v100-sxm2-32gb", "cpu-amd-epyc-zen4"], [SMOL], ["fp16", "bf16"], ["mmlu"]).frame()
    res = resolve_configurations(frame, catalogs, flow, skip_unsupported=True)
    kept = set(zip(res.candidates["platform"].astype(str), res.candidates["quantization"].astype(str), strict=True))
    # V100 (compute capability 7.0) has no bf16; every other pair runs.
    assert kept == {("h100-sxm5-80gb", "fp16"), ("h100-sxm5-80gb", "bf16"), ("v100-sxm2-32gb", "fp16"),
                    ("cpu-amd-epyc-zen4", "fp16"), ("cpu-amd-epyc-zen4", "bf16")}
    assert len(res.skipped) == 1 and "v100-sxm2-32gb" in res.skipped[0] and "(1 row)" in res.skipped[0]
    assert list(res.candidates.index) == [i for i in frame.index if (frame.loc[i, "platform"], frame.loc[i, "quantization"]) != ("v100-sxm2-32gb", "bf16")]
    with pytest.raises(UnsupportedCombinationError, match="v100-sxm2-32gb has 7.0"):
        resolve_configurations(frame, catalogs, flow)
    with pytest.raises(UnsupportedCombinationError, match="no configuration can run"):
        resolve_configurations(Grid(["v100-sxm2-32gb"], [SMOL], ["bf16"], ["mmlu"]).frame(), catalogs, flow, skip_unsupported=True)


def test_a_cpu_has_no_compute_capability_to_check(catalogs: Catalogs, flow) -> None:
    # bf16 needs compute capability 8.0 on a GPU; the Zen 4 CPU runs it (AVX512_BF16) and
    # the profiler measured it there.
    assert catalogs.resolve_quant("bf16").min_arch_generation is not None
    frame = _table(platform=["cpu-amd-epyc-zen4"], model_id=[SMOL], quantization=["bf16"], task=["mmlu"])
    assert resolve_configurations(frame, catalogs, flow).candidates["quantization"].astype(str).tolist() == ["bf16"]


@pytest.mark.parametrize("value", ["0", "-2", "1.5", "x"])
def test_counts_must_be_whole_numbers_of_at_least_one(catalogs: Catalogs, flow, value: str) -> None:
    frame = _table(platform=["h100"], model_id=[SMOL], quantization=["bf16"], task=["mmlu"], batch_size=[value])
    with pytest.raises(InvalidInputError, match=rf"column 'batch_size': '{value}' is not a whole number >= 1"):
        resolve_configurations(frame, catalogs, flow)


def test_a_missing_column_names_what_the_table_needs(catalogs: Catalogs, flow) -> None:
    with pytest.raises(InvalidInputError, match=r"lacks column\(s\) task"):
        resolve_configurations(_table(platform=["h100"], model_id=[SMOL], quantization=["bf16"]), catalogs, flow)


def test_a_malformed_release_is_refused(catalogs: Catalogs, flow) -> None:
    frame = _table(platform=["h100"], model_id=[SMOL], quantization=["bf16"], task=["mmlu"], engine=["vllm"], engine_version=["latest!"])
    with pytest.raises(InvalidInputError, match="'latest!' is not a version"):
        resolve_configurations(frame, catalogs, flow)


# ------------------------------------------------------------------------ prediction


def test_memory_fit_flags_a_model_too_large_for_the_device(catalogs: Catalogs, flow, formula: FormulaPredictor) -> None:
    frame = _table(platform=["rtx-4090", "h100", "h100"], model_id=[LLAMA70, LLAMA70, LLAMA70], quantization=["bf16"] * 3, task=["gsm8k"] * 3, device_count=[1, 1, 4])
    out = predict_configurations(resolve_configurations(frame, catalogs, flow).candidates, formula, catalogs, flow)
    # 70.6 B parameters at 2 bytes: 141 GB of weights alone, over one 24 GB or 80 GB card; over
    # four H100s each holds a quarter plus its KV cache and runtime overhead.
    assert out["fits_memory"].tolist() == [False, False, True]
    assert out["memory_gb_required"].iloc[0] > 141 / 1.0 and out["memory_gb_required"].iloc[2] < 80
    # bf16's native engine (HF transformers) allocates as it goes: all of the binary-GB memory.
    assert out["memory_gb_available"].tolist() == pytest.approx([24.0 * 2**30 / 1e9, 80.0 * 2**30 / 1e9, 80.0 * 2**30 / 1e9])
    for col in PREDICTION_COLUMNS:
        assert col in out.columns
    np.testing.assert_array_equal(out["device_count"], [1, 1, 4])


def test_a_measured_cell_returns_its_measurement(catalogs: Catalogs, flow) -> None:
    from recommender.model import load_predictor
    from recommender.table import load_table

    table = load_table(ROOT / "data" / "measured.csv")
    row = table[(table["model_id"] == SMOL) & (table["quantization"] == "bf16") & (table["workload"] == "mmlu")].iloc[0]
    frame = _table(platform=[row["platform"]], model_id=["smollm2-135m-instruct"], quantization=["bf16"], task=["mmlu"], batch_size=[int(row["batch_size"])])
    out = predict_configurations(resolve_configurations(frame, catalogs, flow).candidates, load_predictor(), catalogs, flow)
    assert out["status"].iloc[0] == "measured"
    assert out["energy_j_per_query"].iloc[0] == pytest.approx(float(row["energy_j_per_query"]), rel=1e-9)
    assert out["time_s_per_query"].iloc[0] == pytest.approx(float(row["time_s_per_query"]), rel=1e-9)
    assert out["accuracy"].iloc[0] == pytest.approx(float(row["accuracy"]), rel=1e-9)


# ---------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli_predictor(formula: FormulaPredictor) -> FormulaPredictor:
    return formula


def test_cli_json_has_one_record_per_configuration(run, formula: FormulaPredictor, catalogs: Catalogs, flow) -> None:
    args = ["predict", "-p", "h100", "-p", "l40s", "-m", SMOL, "-q", "bf16", "-t", "mmlu", "-t", "gsm8k", "-b", "1", "-b", "16", "--json"]
    code, out, err = run(args)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema_version"] == "1" and doc["data_hash"] == formula.data_hash
    recs = doc["predictions"]
    assert len(recs) == 2 * 2 * 2
    assert {(r["platform"], r["task"], r["batch_size"]) for r in recs} == {
        (p, t, b) for p in ("h100-sxm5-80gb", "l40s") for t in ("mmlu", "gsm8k") for b in (1, 16)
    }
    # The document carries the predictor's numbers, not re-derived ones.
    cand = resolve_configurations(Grid(["h100"], [SMOL], ["bf16"], ["gsm8k"], batch_sizes=[16]).frame(), catalogs, flow).candidates
    expected = formula.predict(cand).iloc[0]
    rec = next(r for r in recs if r["platform"] == "h100-sxm5-80gb" and r["task"] == "gsm8k" and r["batch_size"] == 16)
    assert rec["energy_j_per_query"]["value"] == pytest.approx(float(expected["energy_j_per_query"]))
    assert rec["energy_j_per_query"]["lo"] == pytest.approx(float(expected["energy_j_per_query_lo"]))
    assert rec["memory"]["fits"] is True and rec["engine"] == "hf-transformers"


def test_cli_csv_from_a_candidates_table_on_stdin(run) -> None:
    table = f"platform,model,quantization,task,batch_size,engine\nh100,{SMOL},bf16,mmlu,4,vllm\nrtx-4090,{LLAMA70},bf16,gsm8k,,\n"
    code, out, err = run(["predict", "--candidates", "-", "--csv"], stdin=table.encode())
    assert code == 0, err
    got = pd.read_csv(io.StringIO(out))
    assert len(got) == 2
    assert got["batch_size"].tolist() == [4, 1] and got["engine"].tolist() == ["vllm", "hf-transformers"]
    assert got["fits_memory"].tolist() == [True, False]


def test_cli_skip_unsupported_reports_on_stderr(run) -> None:
    code, out, err = run(["predict", "-p", "h100", "-p", "v100-sxm2-32gb", "-m", SMOL, "-q", "bf16", "-t", "mmlu", "--skip-unsupported", "--csv"])
    assert code == 0, err
    assert err.startswith("eai: skipped: 'bf16' needs compute capability") and len(err.splitlines()) == 1
    assert pd.read_csv(io.StringIO(out))["platform"].tolist() == ["h100-sxm5-80gb"]


def test_cli_table_shows_a_bounded_number_of_rows(run) -> None:
    batches = [str(b) for b in range(1, 61)]
    args = ["predict", "-p", "h100", "-p", "l40s", "-m", SMOL, "-q", "bf16", "-t", "mmlu", "-t", "gsm8k"]
    for b in batches:
        args += ["-b", b]
    code, out, err = run(args)
    assert code == 0, err
    assert "showing 200 of 240 configurations" in out
    code, out, err = run([*args, "--csv"])
    assert code == 0 and len(pd.read_csv(io.StringIO(out))) == 240


def test_cli_table_marks_what_does_not_fit(run) -> None:
    code, out, err = run(["predict", "-p", "rtx-4090", "-m", LLAMA70, "-q", "nf4-bnb", "-t", "gsm8k"])
    assert code == 0, err
    assert "over:" in out and "nf4-bnb (hf-transformers)" in out


@pytest.mark.parametrize(
    ("args", "stdin", "code", "fragment"),
    [
        (["predict", "-p", "h10", "-m", SMOL, "-q", "bf16", "-t", "mmlu"], None, 2, "did you mean 'h100-sxm5-80gb'"),
        (["predict", "-p", "a100-sxm4-40gb", "-m", SMOL, "-q", "fp8", "-t", "mmlu"], None, 7, "--skip-unsupported leaves such rows out"),
        (["predict", "-m", SMOL, "-q", "bf16", "-t", "mmlu"], None, 2, "no platform given"),
        (["predict", "--candidates", "-", "-p", "h100"], b"platform\n", 2, "not both"),
        (["predict", "--candidates", "-"], b"platform,model_id,quantization,task\nh100,x,bf16,mmlu\n", 2, "line 2, column 'model_id'"),
        (["predict", "--candidates", "-"], b"", 2, "not a readable CSV"),
        (["predict", "-p", "h100", "-m", SMOL, "-q", "bf16", "-t", "mmlu", "--json", "--csv"], None, 2, "not both"),
    ],
)
def test_cli_errors_are_one_line_with_their_exit_code(run, one_line_error, args: list[str], stdin: bytes | None, code: int, fragment: str) -> None:
    got, out, err = run(args, stdin)
    assert got == code
    assert fragment in one_line_error(err)
    assert out == ""


def test_cli_in_a_fresh_process_with_the_fitted_model() -> None:
    proc = subprocess.run(
        [EAI, "predict", "-p", "cpu-amd-epyc-zen4", "-m", "smollm2-135m-instruct", "-q", "bf16", "-t", "mmlu", "--json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stdout)["predictions"][0]
    assert rec["status"] == "measured" and rec["accuracy_status"] == "measured"
    assert rec["energy_j_per_query"]["value"] > 0
