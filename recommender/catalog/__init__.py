"""Catalogs: platforms, models, tasks/workloads and quantizations.

Public API (each ``resolve_*`` accepts canonical ids and aliases and raises
:class:`~recommender.errors.UnknownNameError` with "did you mean" otherwise):

- :func:`get_platforms`, :func:`resolve_platform` (``platforms.py``)
- :func:`get_models`, :func:`resolve_model` (``models.py``)
- :func:`get_tasks`, :func:`resolve_task` (``tasks.py``)
- :func:`get_quants`, :func:`resolve_quant` (``quant.py``)
- :func:`name_error`, :func:`names_of` (``names.py``): what a name that resolves to no
  entry gets: :class:`~recommender.errors.AmbiguousNameError` when its words all appear in
  several entries (``A100``), else "did you mean" ranked by family, version and size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recommender._lazy import lazy_getattr
from recommender.catalog.types import ModelSpec, Platform, PlatformClass, QuantSpec, TaskSpec

if TYPE_CHECKING:  # pragma: no cover
    from recommender.catalog.models import get_models, resolve_model
    from recommender.catalog.platforms import get_platforms, resolve_platform
    from recommender.catalog.quant import get_quants, resolve_quant
    from recommender.catalog.names import name_error, names_of
    from recommender.catalog.tasks import get_tasks, resolve_task

_LAZY = {
    "get_platforms": "recommender.catalog.platforms",
    "resolve_platform": "recommender.catalog.platforms",
    "get_models": "recommender.catalog.models",
    "resolve_model": "recommender.catalog.models",
    "get_tasks": "recommender.catalog.tasks",
    "resolve_task": "recommender.catalog.tasks",
    "get_quants": "recommender.catalog.quant",
    "resolve_quant": "recommender.catalog.quant",
    "name_error": "recommender.catalog.names",
    "names_of": "recommender.catalog.names",
}

__getattr__ = lazy_getattr(__name__, _LAZY)

__all__ = [
    "ModelSpec",
    "Platform",
    "PlatformClass",
    "QuantSpec",
    "TaskSpec",
    *_LAZY,
]
