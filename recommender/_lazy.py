"""Lazy package attributes: public names that import their module on first use.

Keeps ``import recommender.<package>`` cheap so ``eai recommend`` loads only what it calls.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` resolving ``table`` (name -> defining module) on demand.

    Args:
        package: The package's ``__name__`` (for the error message).
        table: Public attribute name -> dotted module that defines it.
    """

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
