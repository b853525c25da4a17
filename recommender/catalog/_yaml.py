"""YAML loading for the catalogs: libyaml's C loader when present (about 10x faster than the
pure-Python one, which matters for ``eai recommend``'s start-up), the safe Python loader otherwise.
Both construct only plain Python types."""

from __future__ import annotations

from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(stream: Any) -> Any:
    """Parse YAML text or a file object into plain Python values (no arbitrary objects)."""
    return yaml.load(stream, Loader=_Loader)  # noqa: S506 - the loader is a *Safe* loader
