"""Self-contained offline HTML reports.

Public API:

- :func:`build_report` (``build.py``): the study report (claims check, EOR heatmap,
  accuracy-vs-energy trade-off, decision flow and matrix, regressor validation,
  data provenance) as one HTML file with plotly.js inlined.
- :func:`render_recommendation_report` (``recommendation.py``): the same kind of page
  for one ``eai recommend`` result.

plotly is imported only when a report is built (it lives in the ``report`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recommender._lazy import lazy_getattr

if TYPE_CHECKING:  # pragma: no cover
    from recommender.report.build import BuildResult, build_report
    from recommender.report.recommendation import render_recommendation_report

_LAZY = {
    "build_report": "recommender.report.build",
    "BuildResult": "recommender.report.build",
    "render_recommendation_report": "recommender.report.recommendation",
}

__getattr__ = lazy_getattr(__name__, _LAZY)

__all__ = list(_LAZY)
