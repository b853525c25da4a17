"""bench/readme_figures.py: README blocks are replaced in place, explanations shortened with a
count of what was left out, and a bench whose output lost the line it reads fails loudly."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rf():
    spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "bench" / "readme_figures.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_rewrite_replaces_only_named_blocks(rf) -> None:
    text = "a\n<!-- readme_figures:stands -->\nold\n<!-- /readme_figures -->\nb\n<!-- readme_figures:example-spec -->\nkeep\n<!-- /readme_figures -->\n"
    new = rf.rewrite(text, {"stands": "NEW\n"})
    assert "NEW\n<!-- /readme_figures -->" in new and "old" not in new and "keep" in new


def test_shorten_keeps_table_and_named_sections_and_counts_the_rest(rf) -> None:
    out = "\n".join(
        [
            "title", "#  a", "-  -", "1  x", "", "2  y",  # a table with a blank line between rows
            "", "Recommended: x", "  continued", "Path through the flow:", "  - one", "  - two",
            "Decided by:", "  - it", "Assumptions: many",
        ]
    )  # fmt: skip
    short = rf._shorten(out)
    assert "2  y" in short and "Recommended: x\n  continued" in short and "Decided by:\n  - it" in short
    assert "Path through the flow" not in short.split("[...")[0]
    assert "[... 4 more lines: Path through the flow, Assumptions]" in short


def test_bench_parsers_read_their_figures(rf) -> None:
    assert rf._regressor_rows("Goals\n  [met] LOMO energy, median APE % (<= 5): 4.8\n  [MISSED] EOR coverage %: 100\n") == [
        ("LOMO energy, median APE % (<= 5)", "4.8", "met"),
        ("EOR coverage %", "100", "missed"),
    ]
    rows = rf._speed_rows(
        "fit (whole table, 1061 rows, with interval calibration): 4.20 s\n"
        "predict 1,000,000 candidate rows: 1.65 s wall, 1.6 s CPU (best of 3; load average 2.0)\n"
        "goals: fit < 30 s met; predict 1M < 2 s met\n"
    )
    assert rows == [("fit the predictor < 30 s", "4.20 s", "met"), ("predict 1,000,000 candidates < 2 s", "1.65 s", "met")]
    assert rf._report_rows("median build time over 3 runs: 12.50 s (first run incl. imports: 14 s)")[0][2] == "missed"
    assert rf._evaluate_speed_rows("[met] `eai fit` < 30 s: 21.3 s\n[MISSED] `eai evaluate` (3 splits) < 60 s: 75.0 s\n") == [
        ("`eai fit` < 30 s", "21.3 s", "met"),
        ("`eai evaluate` (3 splits) < 60 s", "75.0 s", "missed"),
    ]
    anchor = rf._anchor_rows("  energy per query: without anchor   6.0 /  97.3   with anchor   3.3 /  97.7\n"
                             "  time   per query: without anchor   6.3 /  94.5   with anchor   6.9 /  98.3\n")
    assert [(m, v) for _, m, v in anchor] == [("3.3", "met"), ("6.9", "missed")]
    ((goal, measured, verdict),) = rf._gpu_holdout_rows("all 2 rows: worst ratio 2.51x (goal <= 2x), 1 outside their intervals: missed\n")
    assert "n=2" in goal and (measured, verdict) == ("2.51x, 1 outside", "missed")
    ((goal, measured, verdict),) = rf._answer_length_rows("all 104 pairs: task length 16.4 %, model-relative 17.0 %\n")
    assert (measured, verdict) == ("17.0", "missed") and "16.4, n=104" in goal


@pytest.mark.parametrize(
    "parser", ["_regressor_rows", "_answer_length_rows", "_anchor_rows", "_gpu_holdout_rows", "_speed_rows", "_evaluate_speed_rows", "_startup_rows", "_report_rows", "_monitor_rows"]
)
def test_a_bench_that_no_longer_prints_its_line_fails_loudly(rf, parser: str) -> None:
    with pytest.raises(rf.FigureError):
        getattr(rf, parser)("Traceback (most recent call last):\n  ...\n")


def test_every_block_is_in_exactly_one_kept_file_and_the_readme_keeps_its_own(rf) -> None:
    names = [m.group("name") for path in rf.FILES for m in rf.BLOCK.finditer(path.read_text(encoding="utf-8"))]
    assert sorted(names) == sorted(rf.PRODUCERS)
    readme = {m.group("name") for m in rf.BLOCK.finditer((ROOT / "README.md").read_text(encoding="utf-8"))}
    assert readme == {"example-flags", "stands"}


def test_shorten_keeps_only_the_sections_asked_for(rf) -> None:
    out = "t\n#  a\n\nRecommended: x\nDecided by:\n  - it\nConfidence: c\n  more\nRunner-up: y\n"
    short = rf._shorten(out, rf.README_SECTIONS)
    assert short.startswith("t\n#  a\n\nRecommended: x\nDecided by:\n  - it\n")
    assert short.endswith("[... 3 more lines: Confidence, Runner-up]")


def test_monitor_parser_reads_the_paired_slowdown_verdict(rf) -> None:
    text = (
        "  pure-Python loop (holds the GIL)\n"
        "        20 Hz: main-thread slowdown  +0.10% (95% CI -0.20 .. +0.40%); sampler thread CPU 0.050% of wall\n"
        "      1000 Hz: main-thread slowdown  +3.00% (95% CI +2.00 .. +4.00%); sampler thread CPU 1.0% of wall\n"
        "  numpy\n"
        "        20 Hz: main-thread slowdown  +0.30% (95% CI -0.10 .. +0.60%); sampler thread CPU 0.040% of wall\n"
        "PASS main-thread slowdown < 1% at 20 Hz on every workload (95% CI)\n"
    )
    ((goal, measured, verdict),) = rf._monitor_rows(text)
    assert "20 Hz" in goal and verdict == "met" and measured.startswith("+0.30 %")


def test_monitor_parser_keeps_the_bench_unreliable_flag(rf) -> None:
    line = "        20 Hz: thread CPU  1.210% of wall (max 1.549%), slowdown  +1.96% (paired median), 33 samples/window UNRELIABLE (plain runs spread 24%)\n"
    assert rf._monitor_rows(line)[0][2] == "unreliable (machine busy)"


def test_monitor_interval_is_the_signed_rank_one() -> None:
    # 1..10: 55 Walsh averages, centre 5.5; the exact signed-rank interval at 95 % drops the 8
    # lowest and highest (critical value 8 for n = 10), [3.0, 8.0]; the bench's normal
    # approximation gives the same count.
    spec = importlib.util.spec_from_file_location("monitor_overhead", ROOT / "bench" / "monitor_overhead.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.location_ci(list(range(1, 11))) == pytest.approx((5.5, 3.0, 8.0))
    # A shift moves all three; the interval is symmetric for symmetric data.
    centre, low, high = mod.location_ci([v + 2.0 for v in range(1, 11)])
    assert (centre, low, high) == pytest.approx((7.5, 5.0, 10.0))
