"""``eai verify``'s comparison: model-only prediction (the cell's rows left out), interval verdict, exit 9.

The measurement goes through a fake :class:`~recommender.plan.verify.Measurer`; the predictor
through a fake fit that records which table it was given (so no real refit runs here).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.errors import InvalidInputError, PredictionMissError
from recommender.plan.verify import Configuration, run_verification
from recommender.table import MeasuredRow, load_table, write_table


def _row(workload: str = "arc_easy", energy: float = 2.0, time: float = 0.5, accuracy: float = 0.4, quant: str = "bf16") -> MeasuredRow:
    return MeasuredRow(
        platform="cpu-amd-epyc-zen4", device_count=1, engine="hf-transformers", engine_version="5.23.0",
        model_id="HuggingFaceTB/SmolLM2-135M-Instruct", params_total_b=0.1345, params_active_b=0.1345,
        quantization=quant, batch_size=1, workload=workload, query_count=10, prompt_tokens_mean=45.0,
        output_tokens_mean=0.0, fed_tokens_mean=105.0, accuracy=accuracy, accuracy_metric="acc_norm,none",
        energy_j_per_query=energy, time_s_per_query=time, energy_method="estimated", energy_scope="cpu",
        idle_subtracted=False, repeats=1, flags="estimated", source="eai-profiler", source_ref="test; limit=10",
        measured_on=dt.date(2026, 12, 3),
    )


class FakeMeasurer:
    platform = "cpu-amd-epyc-zen4"
    engine = "hf-transformers"

    def __init__(self, rows):
        self.rows = rows
        self.calls = 0

    def model_id(self, model: str) -> str:
        return "HuggingFaceTB/SmolLM2-135M-Instruct"

    def measure(self, config):
        self.calls += 1
        return self.rows


class FakePredictor:
    """Predicts fixed values; remembers the rows it was asked about."""

    def __init__(self, energy=(1.0, 0.5, 2.5), time=(0.4, 0.2, 0.8), accuracy=(0.4, 0.3, 0.5)):
        self.v = {"energy_j_per_query": energy, "time_s_per_query": time, "accuracy": accuracy}
        self.asked = None

    def predict(self, cand: pd.DataFrame) -> pd.DataFrame:
        self.asked = cand.copy()
        out = {}
        for col, (p, lo, hi) in self.v.items():
            out[col], out[col + "_lo"], out[col + "_hi"] = [p] * len(cand), [lo] * len(cand), [hi] * len(cand)
        return pd.DataFrame(out, index=cand.index)


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "measured.csv"
    write_table([_row("arc_easy", energy=1.5), _row("arc_challenge"), _row("arc_easy", quant="fp32")], path)
    return path


CONFIG = Configuration(platform=None, device_count=1, engine="hf-transformers", model="smollm2-135m-gguf",
                       quantization="bf16", batch_size=1, tasks=("arc_easy",))


def test_prediction_is_fit_without_the_cells_rows(table: Path) -> None:
    seen = {}
    pred = FakePredictor()

    def fit(path: Path):
        seen["rows"] = load_table(path)
        return pred

    res = run_verification(CONFIG, FakeMeasurer([_row(energy=2.0)]), table_path=table, fit=fit)
    left = seen["rows"]
    # The bf16 arc_easy row is left out; the same model on another task or quantization stays.
    assert len(left) == 2
    assert not ((left["quantization"] == "bf16") & (left["workload"] == "arc_easy")).any()
    assert res.rows_left_out == 1 and res.refit
    # The cell is predicted with the measured run's token profile.
    assert pred.asked["fed_tokens_mean"].iloc[0] == 105.0
    energy = [c for c in res.checks if c.quantity == "energy"][0]
    assert (energy.measured, energy.predicted, energy.inside) == (2.0, 1.0, True)
    assert res.to_dict("energy")["inside"]


def test_outside_the_interval_is_reported_per_quantity(table: Path) -> None:
    res = run_verification(CONFIG, FakeMeasurer([_row(energy=3.0, time=0.5)]), table_path=table, fit=lambda p: FakePredictor())
    doc = res.to_dict("energy")
    assert not doc["inside"] and doc["outside"] == ["arc_easy energy"]
    assert res.to_dict("time")["inside"]
    assert not res.to_dict("all")["inside"]
    text = "\n".join(res.lines("energy"))
    assert "OUTSIDE" in text and "model-only" in text


def test_wrong_platform_or_engine_is_refused_before_measuring(table: Path) -> None:
    m = FakeMeasurer([_row()])
    other = Configuration(**{**CONFIG.__dict__, "platform": "a100-pcie-40gb"})
    with pytest.raises(InvalidInputError, match="a100-pcie-40gb"):
        run_verification(other, m, table_path=table, fit=lambda p: FakePredictor())
    vllm = Configuration(**{**CONFIG.__dict__, "engine": "vllm"})
    with pytest.raises(InvalidInputError, match="vllm"):
        run_verification(vllm, m, table_path=table, fit=lambda p: FakePredictor())
    assert m.calls == 0


def test_prediction_miss_has_its_own_exit_status() -> None:
    from recommender import errors

    codes = {c.exit_code for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.EaiError) and c is not PredictionMissError}
    assert PredictionMissError.exit_code not in codes
    assert PredictionMissError.exit_code == 9


def test_verify_cli_needs_a_spec_or_a_configuration(capsys, one_line_error) -> None:
    from recommender.cli import main

    code = main(["verify", "--model", "smollm2-135m-gguf"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "--quant" in one_line_error(err)
    assert np.isfinite(code)


@pytest.mark.parametrize(
    ("model", "platform", "quant"),
    [
        ("smollm2-135m-instruct", "cpu-amd-epyc-zen4", "bf16"),
        ("smollm2-135m-instruct", "v100-sxm2-32gb", "fp16"),  # no bf16 below compute capability 8.0
        ("openai/gpt-oss-20b", "h100", "mxfp4"),  # its weights as published
        ("someone/a-local-finetune", "h100", "bf16"),  # outside the catalog: 16-bit weights
    ],
)
def test_verify_without_a_quantization_measures_what_predict_asks_by_default(model: str, platform: str, quant: str) -> None:
    from recommender.cli.plan_cmd import _default_quantization

    got, why = _default_quantization(model, platform, "cpu", "hf-transformers")
    assert got == quant and why.startswith("default:")


def test_verify_with_llama_cpp_measures_the_gguf_files_own_format(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import profiler.engines.llamacpp as llamacpp
    from recommender.cli.plan_cmd import _default_quantization
    from recommender.errors import InvalidInputError

    gguf = tmp_path / "qwen.gguf"
    gguf.write_bytes(b"GGUF")
    for file_type, quant in (("Q4_K_M", "gguf-q4"), ("Q8_0", "gguf-q8"), ("F16", "fp16")):
        monkeypatch.setattr(llamacpp, "gguf_file_type", lambda path, t=file_type: t)
        assert _default_quantization(f"Qwen/Qwen2.5-1.5B-Instruct={gguf}", None, "cpu", "llama.cpp") == (
            quant, f"the GGUF file's own type ({file_type})")
    monkeypatch.setattr(llamacpp, "gguf_file_type", lambda path: "Q5_K_M")
    with pytest.raises(InvalidInputError, match="Q5_K_M file.*give --quant"):
        _default_quantization(f"Qwen/Qwen2.5-1.5B-Instruct={gguf}", None, "cpu", "llama.cpp")
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    with pytest.raises(InvalidInputError, match="runs a GGUF file"):
        _default_quantization(str(checkpoint), None, "cpu", "llama.cpp")
