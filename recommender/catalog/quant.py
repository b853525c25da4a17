"""Quantization catalog: storage cost, compute precision and hardware support per scheme.

Entries live in ``data/quantizations.yaml``; each carries aliases (``"int8"`` ->
``int8-bnb``, ``"nf4"``/``"4bit"`` -> ``nf4-bnb``, ``"dynamic"`` -> ``dynamic-int8``...) and a
source for its bytes-per-weight figure. The catalog must list exactly the names of the
measured table's ``Quantization`` literal.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from recommender.catalog.platforms import build_alias_index, name_key, unknown_name_error
from recommender.catalog import _yaml
from recommender.catalog.types import QuantSpec
from recommender.errors import DataSourceError

QUANTS_PATH = Path(__file__).resolve().parents[2] / "data" / "quantizations.yaml"

# Catalog metadata kept beside QuantSpec (which forbids extra fields).
_META_KEYS = ("aliases", "source")


def _load(path: Path) -> list[dict[str, Any]]:
    import yaml

    try:
        with path.open(encoding="utf-8") as fh:
            data = _yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise DataSourceError(f"quantization catalog {path} is missing") from exc
    except yaml.YAMLError as exc:
        raise DataSourceError(f"quantization catalog {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("quantizations"), list):
        raise DataSourceError(f"{path}: expected a mapping with a 'quantizations' list")
    return data["quantizations"]


@functools.lru_cache(maxsize=4)
def _catalog(
    path: Path,
) -> tuple[dict[str, QuantSpec], dict[str, str], dict[str, tuple[str, ...]], dict[str, str]]:
    from recommender.table.schema import QUANTIZATIONS

    quants: dict[str, QuantSpec] = {}
    aliases: dict[str, tuple[str, ...]] = {}
    sources: dict[str, str] = {}
    for i, entry in enumerate(_load(path)):
        fields = {k: v for k, v in entry.items() if k not in _META_KEYS}
        try:
            spec = QuantSpec(**{**fields, "devices": tuple(fields.get("devices") or ())})
        except (TypeError, ValidationError) as exc:
            raise DataSourceError(f"{path}: quantization entry #{i + 1} is invalid: {exc}") from exc
        if spec.name in quants:
            raise DataSourceError(f"{path}: quantization {spec.name!r} appears twice")
        if not spec.devices or not set(spec.devices) <= {"cuda", "cpu"}:
            raise DataSourceError(
                f"{path}: quantization {spec.name!r} devices {spec.devices!r} must be a non-empty "
                "subset of cuda, cpu"
            )
        if not entry.get("source"):
            raise DataSourceError(f"{path}: quantization {spec.name!r} has no source")
        quants[spec.name] = spec
        aliases[spec.name] = tuple(entry.get("aliases") or ())
        sources[spec.name] = str(entry["source"])
    if path == QUANTS_PATH and set(quants) != set(QUANTIZATIONS):
        missing = sorted(set(QUANTIZATIONS) - set(quants))
        extra = sorted(set(quants) - set(QUANTIZATIONS))
        raise DataSourceError(
            f"{path} must list exactly the table's quantizations; missing {missing}, extra {extra}"
        )
    index = build_alias_index("quantization", aliases.items())
    return quants, index, aliases, sources


def get_quants(path: Path | None = None) -> dict[str, QuantSpec]:
    """All catalogued quantization schemes.

    Args:
        path: Catalog file; defaults to the shipped ``data/quantizations.yaml``.

    Returns:
        Canonical name -> :class:`QuantSpec` (a fresh dict each call).

    Raises:
        DataSourceError: The catalog is missing, malformed, or (for the shipped file) does not
            list exactly the measured table's quantization names.
    """
    return dict(_catalog(path or QUANTS_PATH)[0])


def quant_aliases(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Aliases of every quantization (canonical name -> alias strings)."""
    return dict(_catalog(path or QUANTS_PATH)[2])


def quant_sources(path: Path | None = None) -> dict[str, str]:
    """Where each quantization's bytes-per-weight and support figures come from."""
    return dict(_catalog(path or QUANTS_PATH)[3])


def resolve_quant(name: str, path: Path | None = None) -> QuantSpec:
    """Find a quantization by canonical name or alias.

    Args:
        name: Any spelling, e.g. ``"int8"``, ``"4bit"``, ``"bfloat16"``, ``"dynamic"``.
        path: Catalog file; defaults to the shipped one.

    Returns:
        The matching :class:`QuantSpec`.

    Raises:
        UnknownNameError: No quantization matches; the message suggests close names.
    """
    quants, index, _, _ = _catalog(path or QUANTS_PATH)
    key = name_key(name)
    if key in index:
        return quants[index[key]]
    raise unknown_name_error("quantization", name, index, hint="`eai quants` lists them")
