"""The error hierarchy: one root, distinct exit codes, helpful messages."""

from __future__ import annotations

import pytest

from recommender import errors
from recommender.cli import main


def test_every_error_derives_from_root_and_codes_are_distinct_per_family() -> None:
    classes = [
        errors.InvalidInputError,
        errors.InfeasibleError,
        errors.TableValidationError,
        errors.DataSourceError,
        errors.ModelStateError,
        errors.UnsupportedCombinationError,
        errors.MeasurementError,
    ]
    assert all(issubclass(c, errors.EaiError) for c in classes)
    codes = [c.exit_code for c in classes]
    assert len(set(codes)) == len(codes)
    assert errors.SpecError.exit_code == 2
    assert errors.InfeasibleError.exit_code == 3


def test_unknown_name_suggests_close_matches() -> None:
    err = errors.UnknownNameError("platform", "a100-pcie", ["a100-pcie-40gb", "h100-sxm5-80gb", "l4"])
    assert "did you mean 'a100-pcie-40gb'" in str(err)
    assert err.suggestions == ["a100-pcie-40gb"]


def test_unknown_name_without_match_lists_known_names() -> None:
    err = errors.UnknownNameError("quantization", "zzz", ["fp16", "bf16"])
    assert "known: bf16, fp16" in str(err)


def test_table_validation_error_names_line_column_value() -> None:
    err = errors.TableValidationError("t.csv", 7, "batch_size", "-3", "must be >= 1")
    assert str(err) == "t.csv:7: column 'batch_size' value '-3': must be >= 1"
    assert err.exit_code == 4


def test_cli_usage_error_exit_code_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2


def test_cli_version() -> None:
    assert main(["version"]) == 0


# -- did-you-mean ranks by what the user meant; ambiguous names ask which -------------------

MODEL_NAMES = {
    "meta-llama/Llama-3.1-8B": "meta-llama/Llama-3.1-8B",
    "meta-llama/Llama-3.1-8B-Instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.1-70B-Instruct": "meta-llama/Llama-3.1-70B-Instruct",
    "meta-llama/Llama-3.2-1B": "meta-llama/Llama-3.2-1B",
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
    "huggyllama/llama-7b": "huggyllama/llama-7b",
    "Qwen/Qwen3-8B": "Qwen/Qwen3-8B",
}


def test_name_tokens_split_family_version_size() -> None:
    assert errors.name_tokens("meta-llama/Llama-3.1-8B-Instruct") == ["meta", "llama", "llama", "3.1", "8b", "instruct"]
    assert errors.name_tokens("llama3.1-8b") == ["llama", "3.1", "8b"]
    assert errors.name_tokens("qwen2.5-7b") == ["qwen", "2.5", "7b"]
    assert errors.name_tokens("A100-SXM4-40GB")[0] == "a100"  # short codes stay whole


@pytest.mark.parametrize(
    ("typed", "first"),
    [
        ("llama-3-8b", "meta-llama/Llama-3.1-8B"),  # version prefix, same size; not Qwen3-8B
        ("lama-3.1-70b", "meta-llama/Llama-3.1-70B-Instruct"),  # a typo in the family name
        ("tinyllama", "TinyLlama/TinyLlama-1.1B-Chat-v1.0"),
    ],
)
def test_suggestions_rank_family_version_and_size_first(typed: str, first: str) -> None:
    assert errors.rank_suggestions(typed, MODEL_NAMES)[0] == first


def test_llama31_8b_suggests_the_llama_31_8b_models_not_tinyllama() -> None:
    from recommender.catalog.names import name_error

    err = name_error("model", "llama3.1-8b", MODEL_NAMES)
    # base and instruct both contain every word: eai asks which, listing exactly those two
    assert isinstance(err, errors.AmbiguousNameError)
    assert err.suggestions == ["meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct"]
    assert "TinyLlama" not in str(err) and "70B" not in str(err)
    assert err.exit_code == 2


def test_a_model_name_without_a_version_is_not_a_newer_generation() -> None:
    from recommender.catalog.names import name_error

    names = {"tiiuae/Falcon3-7B-Base": "tiiuae/Falcon3-7B-Base", "tiiuae/Falcon3-7B-Instruct": "tiiuae/Falcon3-7B-Instruct"}
    # Falcon-7B (2023) is not a variant of Falcon3-7B (2024): unknown, with those suggested.
    err = name_error("model", "tiiuae/falcon-7b", names)
    assert not isinstance(err, errors.AmbiguousNameError)
    assert set(err.suggestions) == set(names)
    # The same name with the version asks which variant.
    assert isinstance(name_error("model", "tiiuae/falcon3-7b", names), errors.AmbiguousNameError)
    # GPU names split into numbers too ("SXM4"): no such rule for them.
    gpus = {"a100-sxm4-40gb": "a100-sxm4-40gb", "a100-pcie-40gb": "a100-pcie-40gb"}
    assert isinstance(name_error("platform", "A100", gpus), errors.AmbiguousNameError)


def test_one_full_match_is_a_suggestion_not_a_silent_pick() -> None:
    from recommender.catalog.names import name_error

    err = name_error("model", "llama3.1-8b-instr", MODEL_NAMES)
    assert not isinstance(err, errors.AmbiguousNameError)
    assert err.suggestions[0] == "meta-llama/Llama-3.1-8B-Instruct"


def test_suggestions_are_canonical_ids_each_once() -> None:
    got = errors.rank_suggestions("llama-3.1-8b-instruct-x", MODEL_NAMES)
    assert len(got) == len(set(got)) and set(got) <= set(MODEL_NAMES.values())


def test_shipped_catalog_llama31_8b_never_suggests_tinyllama() -> None:
    from recommender.catalog import resolve_model

    with pytest.raises(errors.UnknownNameError) as info:
        resolve_model("llama3.1-8b")
    assert "meta-llama/Llama-3.1-8B-Instruct" in info.value.suggestions
    assert not any("TinyLlama" in s for s in info.value.suggestions)


def test_shipped_catalog_a100_is_ambiguous() -> None:
    from recommender.catalog import resolve_platform

    with pytest.raises(errors.AmbiguousNameError) as info:
        resolve_platform("A100")
    assert set(info.value.suggestions) == {"a100-pcie-40gb", "a100-sxm4-40gb", "a100-sxm4-80gb"}
    assert resolve_platform("A100 PCIe").id == "a100-pcie-40gb"  # a named variant still resolves
    assert resolve_platform("H100").id == "h100-sxm5-80gb"  # one catalogued variant: no question


# -- failing writes: one line, exit status 9 ------------------------------------------------


def test_output_error_has_its_own_exit_code() -> None:
    codes = {c.exit_code for c in (errors.InvalidInputError, errors.InfeasibleError, errors.TableValidationError,
                                   errors.DataSourceError, errors.ModelStateError, errors.UnsupportedCombinationError,
                                   errors.MeasurementError)}  # fmt: skip
    assert errors.OutputError.exit_code not in codes
    assert str(errors.OutputError("/x", OSError(28, "No space left on device"))) == "cannot write /x: No space left on device"


@pytest.mark.parametrize("target", ["/dev/full", "/nonexistent-dir/schema.json"])
def test_schema_out_that_cannot_be_written_is_one_line(capsys: pytest.CaptureFixture[str], target: str) -> None:
    import os

    if target == "/dev/full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    code = main(["schema", "--out", target])
    _, err = capsys.readouterr()
    assert code == 10
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"eai: error: cannot write {target}: ")


def test_stdout_to_a_full_disk_is_one_line_in_a_fresh_process() -> None:
    import os
    import subprocess
    import sys

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "recommender.cli", "schema"], stdout=full, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 10
    assert proc.stderr.strip() == "eai: error: cannot write to standard output: No space left on device"


def test_a_model_name_without_its_organization_resolves_when_unique() -> None:
    from recommender.catalog import resolve_model
    from recommender.catalog.names import without_organization

    assert resolve_model("Llama-3.1-8B-Instruct").id == "meta-llama/Llama-3.1-8B-Instruct"
    two_orgs = {"a/Model-7B": "a/Model-7B", "b/Model-7B": "b/Model-7B"}
    assert without_organization("model-7b", two_orgs) is None  # two organizations: not a pick
