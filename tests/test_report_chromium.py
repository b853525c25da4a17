"""Open the report in headless Chromium: plots drawn, not blank, no console errors, no network.

``scripts/test.sh`` installs Debian's ``chromium``; this module is skipped only when no
Chromium binary exists (the install was impossible: no root/sudo or no package source).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_report_fixtures import FakePredictor, quant_table, scored_rows, write_rows

from recommender.report.browser import decode_png, find_chromium, png_variance
from recommender.report.claims import VERDICTS

pytest.importorskip("websocket", reason="websocket-client (test extra) drives Chromium over the DevTools protocol")

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed and scripts/test.sh could not install it (apt-get needs root or passwordless sudo)",
)

SECTIONS = ["claims", "heatmap", "tradeoff", "flow", "validation", "provenance"]


@pytest.fixture(scope="module")
def page_check(tmp_path_factory: pytest.TempPathFactory):
    from recommender.report.browser import check_page
    from recommender.report.build import build_report

    d = tmp_path_factory.mktemp("chromium")
    table = write_rows(d / "measured.csv", quant_table(-0.25, 6) + scored_rows())
    out = d / "report.html"
    build_report(out, table, predictor=FakePredictor(measured=("rtx-4090",)))
    return check_page(out, screenshot=True)


def test_no_console_errors_exceptions_or_network(page_check) -> None:
    assert page_check.console_errors == []
    assert page_check.exceptions == []
    assert page_check.external_requests == []


def test_every_plot_rendered_by_plotly(page_check) -> None:
    dom = page_check.dom
    assert dom["sections"] == SECTIONS
    assert dom["failed"] == "0"
    assert int(dom["drawn"]) == dom["plots"] >= 3
    # plotly creates .main-svg inside each plot it draws.
    assert dom["plotsWithSvg"] == dom["plotIds"]
    assert dom["mainSvg"] >= dom["plots"]
    assert dom["flowNodes"] >= 8
    # Every verdict the page shows is one the claims module can give (VERDICTS is its full set).
    assert dom["verdicts"] and set(dom["verdicts"]) <= set(VERDICTS)


def test_plots_are_not_blank(page_check) -> None:
    assert set(page_check.plot_variance) == set(page_check.dom["plotIds"])
    for pid, var in page_check.plot_variance.items():
        assert var > 50.0, f"{pid} looks blank (pixel variance {var:.1f})"


def test_full_page_screenshot_has_content(page_check) -> None:
    png = page_check.screenshot_png
    assert png is not None
    w, h, _, _ = decode_png(png)
    assert w == 1400 and h > 2000


def test_recommendation_page_renders(tmp_path: Path) -> None:
    import pandas as pd

    from recommender.report.browser import check_page
    from recommender.report.recommendation import render_recommendation_report

    ranked = pd.DataFrame(
        [
            {"rank": i + 1, "platform": p, "model_id": "m", "quantization": q, "accuracy": a, "accuracy_lo": a - 0.02, "accuracy_hi": a + 0.02, "energy_j_per_query": e, "status": s}
            for i, (p, q, a, e, s) in enumerate(
                [("a100-pcie-40gb", "int8-bnb", 0.6, 30.0, "measured"), ("rtx-4090", "fp16", 0.62, 45.0, "interpolated"), ("v100-sxm2-32gb", "fp16", 0.61, 70.0, "extrapolated")]
            )
        ]
    )
    out = render_recommendation_report((ranked, {"decided_by": ["objective: best EOR"]}), tmp_path / "rec.html")
    chk = check_page(out, screenshot=False)
    assert chk.console_errors == [] and chk.exceptions == [] and chk.external_requests == []
    assert chk.dom["plotsWithSvg"] == ["fig-rec-tradeoff"]
    assert chk.plot_variance["fig-rec-tradeoff"] > 50.0


def test_png_decoder_matches_known_image() -> None:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    # 2x2 RGB: row 0 filter Sub, row 1 filter Paeth.
    raw = bytes([1, 10, 20, 30, 5, 5, 5]) + bytes([4, 0, 0, 0, 0, 0, 0])
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    w, h, ch, px = decode_png(png)
    assert (w, h, ch) == (2, 2, 3)
    assert list(px) == [10, 20, 30, 15, 25, 35, 10, 20, 30, 15, 25, 35]
    assert png_variance(png) == pytest.approx(6.25)  # grey levels 20, 25, 20, 25


def test_checker_catches_errors_network_and_blank_plots(tmp_path: Path) -> None:
    """The checks above can fail: a broken figure, a thrown error and a remote image are all caught."""
    from recommender.report.browser import check_page
    from recommender.report.html import json_script, page

    body = (
        '<section id="s"><div class="plot" id="bad" data-fig="bad-json"></div>' + json_script("bad-json", "{not json")
        + '<img src="http://192.0.2.1/x.png" alt=""><script>throw new Error("boom")</script></section>'
    )
    out = tmp_path / "broken.html"
    out.write_text(page("broken", "", [], [body]), encoding="utf-8")
    chk = check_page(out, screenshot=False, timeout_s=30)
    assert chk.dom["failed"] == "1" and chk.dom["plotsWithSvg"] == []
    assert any("figure bad failed" in e for e in chk.console_errors)
    assert any("boom" in e for e in chk.exceptions)
    assert chk.external_requests == ["http://192.0.2.1/x.png"]
    assert chk.plot_variance["bad"] < 1.0
