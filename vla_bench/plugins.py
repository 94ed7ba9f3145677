"""Plugin modules a run config names (``plugins: [...]``), imported before the config is validated.

A plugin registers envs, policies, decoders, perturbations or suites when imported (e.g.
``decoders.add("margin", MarginDecoder)``), so a run can use them without a package or an entry point.
An entry is a module name (``my_pkg.decoders``) or a path to a ``.py`` file. Importing is idempotent:
the main process and every env worker import the same plugins, and a second import is a no-op.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Iterable


def resolve(entry: str, base: Path) -> str:
    """A ``.py`` path made absolute against ``base`` (the config's folder); a module name as is."""
    if entry.endswith(".py"):
        path = Path(entry)
        return str((path if path.is_absolute() else Path(base) / path).resolve())
    return entry


def load_plugin(entry: str) -> None:
    """Import one plugin (a module name or an absolute ``.py`` path), once per process."""
    if not entry.endswith(".py"):
        importlib.import_module(entry)
        return
    path = Path(entry)
    if not path.is_file():
        raise ImportError(f"plugin file {path} does not exist")
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() == path.resolve():
            return
        raise ImportError(f"plugin {path}: a different module named {name!r} is already imported "
                          f"({getattr(loaded, '__file__', None)})")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"plugin {path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def load_plugins(entries: Iterable[str]) -> None:
    for entry in entries:
        load_plugin(entry)
