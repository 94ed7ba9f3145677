"""One registry mechanism for envs, policies, decoders, perturbations and suites.

Entries are lazy: a name maps to a ``"module:attr"`` string that is imported on first ``get``.
Third-party packages add entries through the entry-point group ``vla_bench.<kind>``; nothing is
imported until a name is asked for. Duplicate names raise; unknown names raise with suggestions.
"""

from __future__ import annotations

import difflib
import importlib
from importlib import metadata
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate registry name."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text.
        return str(self.args[0])


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

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.group = entry_point_group or f"vla_bench.{kind}s"
        self._entries: dict[str, str | T] = {}
        self._origin: dict[str, str] = {}
        self._discovered = False

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
            close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
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
        for ep in metadata.entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            origin = f"entry point {ep.name} ({dist.name if dist else 'unknown distribution'})"
            self._add(ep.name, ep.value, origin)
