"""One registry mechanism for envs, policies, decoders, perturbations and suites.

Entries are lazy: a name maps to a ``"module:attr"`` string that is imported on first ``get``.
Packages add entries in two ways, both discovered on first use: one entry point per name in the group
``vla_bench.<kind>s``, or one *catalogue* in the group ``vla_bench.catalogues``: a mapping
``{"envs": {name: "module:attr"}, "suites": {...}, ...}`` kept beside the code it names (the in-tree
``envs`` and ``policies`` packages register this way, so the core names none of them). Nothing is
imported until a name is asked for. Duplicate names raise; unknown names raise with suggestions.
"""

from __future__ import annotations

import difflib
import importlib
from importlib import metadata
from typing import Callable, Generic, Iterable, Iterator, Mapping, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate registry name."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text.
        return str(self.args[0])


def did_you_mean(name: str, choices: Iterable[str], n: int = 1, cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` naming up to ``n`` close matches of ``name``, or ``""``: the one hint
    every unknown-name error (registries, config keys, task names) appends."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=cutoff)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


def import_string(target: str) -> object:
    """Import ``"package.module:attr.sub"`` and return the attribute."""
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"expected 'module:attr', got {target!r}")
    obj: object = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """A name -> object mapping with lazy imports and entry-point discovery."""

    def __init__(self, kind: str, entry_point_group: str | None = None,
                 builtin: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.group = entry_point_group or f"vla_bench.{kind}s"
        self.section = self.group.rpartition(".")[2]  # this registry's key in a catalogue
        self._entries: dict[str, str | T] = {}
        self._origin: dict[str, str] = {}
        self._discovered = False
        for name, target in (builtin or {}).items():  # the core's own entries; discovery stays lazy
            self._add(name, target, "vla_bench")

    def add(self, name: str, target: str | T, *, origin: str = "in-tree") -> None:
        """Register ``target`` (an object or a lazy ``"module:attr"`` string) under ``name``."""
        self._discover()
        self._add(name, target, origin)

    def _add(self, name: str, target: str | T, origin: str) -> None:
        if name in self._entries:
            raise RegistryError(
                f"duplicate {self.kind} name {name!r}: already registered by {self._origin[name]}, "
                f"registering again from {origin}"
            )
        self._entries[name] = target
        self._origin[name] = origin

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(obj: T) -> T:
            self.add(name, obj, origin=getattr(obj, "__module__", "runtime"))
            return obj

        return deco

    def get(self, name: str) -> T:
        self._discover()
        if name not in self._entries:
            hint = did_you_mean(name, self._entries, n=3, cutoff=0.5)
            raise RegistryError(
                f"unknown {self.kind} {name!r}{hint} (known: {', '.join(sorted(self._entries)) or 'none'})"
            )
        entry = self._entries[name]
        if isinstance(entry, str):
            try:
                entry = import_string(entry)  # type: ignore[assignment]
            except ImportError as exc:
                raise ImportError(
                    f"{self.kind} {name!r} ({entry}) cannot be imported: {exc}; is its extra installed?"
                ) from exc
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def target(self, name: str) -> str:
        """The registered import path (or object repr) without importing anything."""
        self._discover()
        entry = self._entries[name]
        return entry if isinstance(entry, str) else f"{getattr(entry, '__module__', '?')}:{getattr(entry, '__qualname__', entry)}"

    def origin(self, name: str) -> str:
        self._discover()
        return self._origin[name]

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for ep in metadata.entry_points(group=CATALOGUE_GROUP):
            entries = ep.load().get(self.section, {})
            for name, target in entries.items():
                self._add(name, target, f"catalogue {ep.value} ({_dist_name(ep)})")
        for ep in metadata.entry_points(group=self.group):
            self._add(ep.name, ep.value, f"entry point {ep.name} ({_dist_name(ep)})")


CATALOGUE_GROUP = "vla_bench.catalogues"


def _dist_name(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist else "unknown distribution"
