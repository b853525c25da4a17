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
