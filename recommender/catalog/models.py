"""Model catalog: architecture and parameter counts of every model eai knows.

The entries live in ``data/models.yaml`` (one record per model, with the config.json URL
it was read from). :func:`resolve_model` accepts the canonical Hugging Face id or any alias
(ML.ENERGY v1 codenames such as ``metaai/llama-7B``, the quantization reports' short names,
renamed repositories), case-insensitively.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from recommender.catalog import _yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from recommender.catalog.types import ModelSpec
from recommender.errors import DataSourceError, UnknownNameError

MODELS_FILE = Path(__file__).resolve().parents[2] / "data" / "models.yaml"
"""The shipped model catalog."""


class _ModelRecord(ModelSpec):
    """A catalog file record: a :class:`ModelSpec` plus provenance notes kept in the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    params_note: str | None = None
    routing_note: str | None = None
    kv_note: str | None = None


class _ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[_ModelRecord]


def _load(path: Path) -> dict[str, ModelSpec]:
    if not path.is_file():
        raise DataSourceError(f"model catalog {str(path)!r} not found; restore data/models.yaml")
    try:
        raw = _yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = _ModelFile.model_validate(raw)
    except yaml.YAMLError as exc:
        raise DataSourceError(f"model catalog {str(path)!r} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise DataSourceError(f"model catalog {str(path)!r}: {loc}: {err['msg']}") from exc
    out: dict[str, ModelSpec] = {}
    names: dict[str, str] = {}
    for rec in parsed.models:
        spec = ModelSpec.model_validate(rec.model_dump(exclude={"params_note", "routing_note", "kv_note"}))
        if spec.params_active_b > spec.params_total_b:
            raise DataSourceError(f"model catalog: {spec.id}: params_active_b exceeds params_total_b")
        for name in (spec.id, *spec.aliases):
            key = name.lower()
            if key in names and names[key] != spec.id:
                raise DataSourceError(
                    f"model catalog: name {name!r} maps to both {names[key]!r} and {spec.id!r}"
                )
            names[key] = spec.id
        out[spec.id] = spec
    for spec in out.values():
        # A variant's lineage must point into the catalog, so base/instruct pairs stay linked.
        if spec.base_model is not None and spec.base_model not in out:
            raise DataSourceError(
                f"model catalog: {spec.id}: base_model {spec.base_model!r} is not a catalog id; add it or drop the field"
            )
        if spec.variant == "base" and spec.base_model is not None:
            raise DataSourceError(f"model catalog: {spec.id}: a base model cannot name a base_model")
    _check_checkpoint_formats(out)
    return out


def _check_checkpoint_formats(models: dict[str, ModelSpec]) -> None:
    """Every ``checkpoints`` key and ``weights_format`` must be a catalogued quantization (read
    only where one is given, so the quantization catalog is not loaded for a catalog without
    them)."""
    named = {q for spec in models.values() for q in (*spec.checkpoints, *([spec.weights_format] if spec.weights_format else []))}
    if not named:
        return
    from recommender.catalog.quant import get_quants

    known = get_quants()
    for spec in models.values():
        for quant in spec.checkpoints:
            if quant not in known:
                raise DataSourceError(
                    f"model catalog: {spec.id}: checkpoint format {quant!r} is not a catalogued quantization "
                    f"(data/quantizations.yaml names {', '.join(sorted(known))})"
                )
        if spec.weights_format is not None and spec.weights_format not in known:
            raise DataSourceError(
                f"model catalog: {spec.id}: weights_format {spec.weights_format!r} is not a catalogued quantization "
                f"(data/quantizations.yaml names {', '.join(sorted(known))})"
            )


def variant_of(model_id: str) -> tuple[str | None, str | None]:
    """``(variant, base_model)`` of a catalog model (None where the catalog does not say)."""
    spec = get_models()[model_id]
    return spec.variant, spec.base_model


@functools.lru_cache(maxsize=1)
def _catalog() -> tuple[dict[str, ModelSpec], dict[str, str]]:
    models = _load(MODELS_FILE)
    index: dict[str, str] = {}
    for spec in models.values():
        for name in (spec.id, *spec.aliases):
            index[name.lower()] = spec.id
    return models, index


def get_models() -> dict[str, ModelSpec]:
    """All catalog models keyed by canonical id (a fresh dict; the specs are frozen)."""
    return dict(_catalog()[0])


def resolve_model(name: str) -> ModelSpec:
    """Look a model up by canonical id or alias, case-insensitively.

    Args:
        name: Hugging Face id, ML.ENERGY codename or short name used in a data set.

    Returns:
        The model's catalog entry.

    Raises:
        UnknownNameError: ``name`` is neither an id nor an alias (message suggests close names).
    """
    models, index = _catalog()
    key = name.strip().lower()
    if key in index:
        return models[index[key]]
    from recommender.catalog.names import name_error, names_of, without_organization

    names = names_of((m.id, m.aliases) for m in models.values())
    found = without_organization(name, names)  # "Llama-3.1-8B-Instruct" without "meta-llama/"
    if found is not None:
        return models[found]
    raise name_error("model", name, names, hint="`eai models` lists them; add a new one to data/models.yaml")


def params_note(model_id: str) -> str | None:
    """Provenance note on a model's parameter count, where the catalog file has one."""
    raw = _yaml.safe_load(MODELS_FILE.read_text(encoding="utf-8"))
    for rec in raw["models"]:
        if rec["id"] == model_id:
            return rec.get("params_note")
    raise UnknownNameError("model", model_id, get_models(), hint="pass a canonical model id")
