"""Features + scikit-learn regressor for energy, time and accuracy; ``api.py`` is the contract.

Public entry points (imported lazily so that ``import recommender.model`` stays light):

- :func:`load_predictor` (``store.py``): the fitted predictor for a table (refit/refuse when stale);
- :func:`fit_from_files`, :func:`save_predictor` (``store.py``): what ``eai fit`` does;
- :func:`evaluate_files`, :func:`load_evaluation` (``evaluate.py``): ``eai evaluate``.
"""

from __future__ import annotations

from recommender._lazy import lazy_getattr

_LAZY = {
    "load_predictor": "recommender.model.store",
    "fit_from_files": "recommender.model.store",
    "save_predictor": "recommender.model.store",
    "evaluate_files": "recommender.model.evaluate",
    "load_evaluation": "recommender.model.evaluate",
    "EaiPredictor": "recommender.model.predictor",
}

__getattr__ = lazy_getattr(__name__, _LAZY)

__all__ = list(_LAZY)
